//! The daemon-mode scenarios on every engine (support/engines.rs): one scenario list, one
//! engine list, the expected differences as fields. Each scenario checks the rule that makes a
//! written reference right: the exporter's own lookup (inspect without platform) gives the
//! target platform, so diagnose agrees with reconcile afterwards.

use crate::support::engines::{Engine, ENGINES};
use crate::support::fixture::{docker_archive, push_new, unique, BuiltIndex, ImageSpec, IndexSpec};
use crate::support::*;
use serde_json::Value;

fn restorer_file(reference: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    analyzed_file(&format!("[run-image]\n  reference = \"{reference}\"\n"))
}

fn reconcile(host: &str, path: &std::path::Path, extra: &[&str]) -> (std::process::Output, Value) {
    let mut args = vec![
        "reconcile",
        path.to_str().unwrap(),
        "--daemon",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let o = runref(host, &args);
    let j = json_of(&o);
    (o, j)
}

/// Which image each engine's reconcile writes when both platforms were pulled and the target
/// is arm64.
fn both_platforms_id(engine: &Engine, built: &BuiltIndex) -> String {
    let arm = built.image("linux/arm64/v8");
    if engine.id_is_index {
        // containerd store: the single-platform record (made or pulled) has the manifest's ID.
        arm.manifest_digest.hex().to_string()
    } else {
        arm.config_digest.hex().to_string()
    }
}

/// Both platforms pulled (amd64 last, as on an amd64 builder), target arm64: on the containerd
/// store the index now resolves to amd64, and writing its ID would build on the wrong run
/// image. Each engine must end with a reference the exporter finds as arm64.
#[test]
fn both_platforms_present_the_written_reference_is_the_targets() {
    let env = Env::get();
    for engine in ENGINES {
        let host = engine.host(env);
        let (repo, built) = push_new(
            "both",
            IndexSpec::new("both", &["linux/amd64", "linux/arm64/v8"]).with_attestations(),
        );
        let arm = built.image("linux/arm64/v8");
        pull(&connect(host), &format!("{repo}:v1"), "linux/arm64");
        pull(&connect(host), &format!("{repo}:v1"), "linux/amd64");
        let what = engine.name;
        let per_arch = format!("{repo}@{}", arm.manifest_digest);
        let want = both_platforms_id(engine, &built);

        // --dry-run changes nothing anywhere: no pull, no load, no write. (What a pull or a
        // load would add: an image with the per-arch digest as ID, or named by it.)
        let (_d, path) = restorer_file(&per_arch);
        let added = |host: &str| {
            let d = connect(host);
            (
                inspect(&d, &arm.manifest_digest.to_string()).map(|i| i.id),
                inspect(&d, &per_arch).map(|i| i.id),
            )
        };
        let before_images = added(host);
        let before_text = std::fs::read_to_string(&path).unwrap();
        let (o, j) = reconcile(host, &path, &["--platform", "linux/arm64", "--dry-run"]);
        assert_eq!(o.status.code(), Some(0), "{what}: {}", stderr(&o));
        assert_eq!(
            added(host),
            before_images,
            "{what}: --dry-run touched the daemon"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            before_text,
            "{what}"
        );
        assert!(
            j["pulled"].is_null() && j["materialized"].is_null(),
            "{what}: {j}"
        );
        if engine.lists_manifests {
            assert_eq!(j["would_materialize"], true, "{what}: {j}");
            assert_eq!(j["after"], want.as_str(), "{what}: the predicted ID");
        }
        // --check: a change is needed on every engine (exit 3), and nothing is made or written.
        let (o, j) = reconcile(host, &path, &["--platform", "linux/arm64", "--check"]);
        assert_eq!(o.status.code(), Some(3), "{what}: {j}");
        assert_eq!(
            added(host),
            before_images,
            "{what}: --check touched the daemon"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            before_text,
            "{what}"
        );

        // never: the containerd store without platform export cannot make the record.
        let (_d, path) = restorer_file(&per_arch);
        let wire_before = env.registry_requests(&repo);
        let (o, j) = reconcile(
            host,
            &path,
            &["--platform", "linux/arm64", "--pull-policy", "never"],
        );
        if engine.id_is_index && !engine.lists_manifests {
            assert_eq!(o.status.code(), Some(1), "{what}: {j}");
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                before_text,
                "{what}"
            );
            assert!(
                j["failure"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("linux/amd64"),
                "{j}"
            );
        } else if engine.forgets_replaced_pulls {
            // podman 5.8: the amd64 pull took the arm64 image's names; under never the daemon
            // alone cannot show it, so runref refuses (nothing written, no registry contact).
            assert_eq!(o.status.code(), Some(1), "{what}: {j}");
            assert_eq!(
                std::fs::read_to_string(&path).unwrap(),
                before_text,
                "{what}"
            );
            assert_eq!(j["registry_requests"], 0, "{what}");
        } else {
            assert_eq!(o.status.code(), Some(0), "{what}: {}", stderr(&o));
            assert_eq!(j["after"], want.as_str(), "{what}: {j}");
            assert_eq!(j["registry_requests"], 0, "{what}");
            assert_eq!(
                env.registry_requests(&repo),
                wire_before,
                "{what}: never, the access log saw nothing (materializing included)"
            );
            if engine.lists_manifests {
                assert_eq!(j["materialized"], want.as_str(), "{what}: {j}");
                // The record is untagged: how a prune loses it, and how to keep it, is said.
                let w = j["warnings"].to_string();
                assert!(
                    w.contains("is untagged") && w.contains("docker image prune"),
                    "{what}: {j}"
                );
            }
        }

        // if-not-present settles every engine on a reference the exporter finds as arm64.
        let (_d, path) = restorer_file(&per_arch);
        let (o, j) = reconcile(host, &path, &["--platform", "linux/arm64"]);
        assert_eq!(o.status.code(), Some(0), "{what}: {}", stderr(&o));
        assert_eq!(j["after"], want.as_str(), "{what}: {j}");
        assert_eq!(
            exporter_lookup(host, &want).as_deref(),
            Some("linux/arm64"),
            "{what}: the exporter's lookup of the written ID"
        );
        let (o, j) = runref_json(
            host,
            &[
                "diagnose",
                path.to_str().unwrap(),
                "--platform",
                "linux/arm64",
            ],
        );
        assert_eq!(j["export_will_work"], true, "{what}: diagnose agrees: {j}");
        assert_eq!(o.status.code(), Some(0));
    }
}

/// A daemon-only image (built or loaded, tagged for a registry, never pushed) under `always`:
/// never pulled, never rewritten from a registry, on every engine.
#[test]
fn daemon_only_image_is_used_as_is_on_every_engine() {
    let env = Env::get();
    for engine in ENGINES {
        let host = engine.host(env);
        let name = format!("{}/{}:1.0", env.registry, unique("daemon-only"));
        let (archive, _) = docker_archive(&ImageSpec::new("linux/arm64"), &unique("d"), &[&name]);
        load(&connect(host), archive);
        let id = inspect(&connect(host), &name).expect("loaded").id.unwrap();
        let (_d, path) = restorer_file(&name);
        let repo = name.rsplit_once(':').unwrap().0;
        let before = env.registry_requests(repo);
        let (o, j) = reconcile(
            host,
            &path,
            &["--platform", "linux/arm64", "--pull-policy", "always"],
        );
        assert_eq!(o.status.code(), Some(0), "{}: {}", engine.name, stderr(&o));
        assert_eq!(
            j["decision"], "daemon-only-not-pulled",
            "{}: {j}",
            engine.name
        );
        assert_eq!(
            j["after"],
            id.trim_start_matches("sha256:"),
            "{}",
            engine.name
        );
        assert_eq!(j["store"], engine.store, "{}", engine.name);
        // Only where the daemon cannot tell: one GET of the tag, answered 404.
        let asked = usize::from(engine.repo_digests_synthesized);
        assert_eq!(
            env.registry_requests(repo) - before,
            asked,
            "{}",
            engine.name
        );
        assert_eq!(registry_saw(&j) as usize, asked, "{}", engine.name);
        let (_, j) = runref_json(
            host,
            &[
                "diagnose",
                path.to_str().unwrap(),
                "--platform",
                "linux/arm64",
            ],
        );
        assert_eq!(j["export_will_work"], true, "{}: {j}", engine.name);
    }
}

/// Nothing local, if-not-present: the per-arch digest is pulled (so the daemon records it), and
/// the written ID is what the exporter finds as arm64.
#[test]
fn nothing_local_if_not_present_pulls_the_per_arch_digest_on_every_engine() {
    let env = Env::get();
    for engine in ENGINES {
        let host = engine.host(env);
        let (repo, built) = push_new(
            "pullme",
            IndexSpec::new("pullme", &["linux/amd64", "linux/arm64"]).with_attestations(),
        );
        let arm = built.image("linux/arm64");
        let per_arch = format!("{repo}@{}", arm.manifest_digest);
        let (_d, path) = restorer_file(&per_arch);
        let (o, j) = reconcile(host, &path, &["--platform", "linux/arm64"]);
        assert_eq!(o.status.code(), Some(0), "{}: {}", engine.name, stderr(&o));
        assert_eq!(j["decision"], "pulled", "{}: {j}", engine.name);
        assert_eq!(j["pulled"], per_arch.as_str(), "{}", engine.name);
        // A pull by a manifest digest: the containerd store's image is that manifest.
        let want = if engine.id_is_index {
            arm.manifest_digest.hex()
        } else {
            arm.config_digest.hex()
        };
        assert_eq!(j["after"], want, "{}: {j}", engine.name);
        assert_eq!(exporter_lookup(host, want).as_deref(), Some("linux/arm64"));
    }
}

/// always, by tag: pulled, then checked against the registry by the digest the daemon recorded
/// (no tag race): the index and the platform's manifest, two requests on every engine.
#[test]
fn always_pulls_and_checks_against_the_registry_on_every_engine() {
    let env = Env::get();
    for engine in ENGINES {
        let host = engine.host(env);
        let (repo, built) = push_new(
            "always",
            IndexSpec::new("always", &["linux/amd64", "linux/arm64/v8"]).with_attestations(),
        );
        let arm = built.image("linux/arm64/v8");
        let (_d, path) = restorer_file(&format!("{repo}:v1"));
        let before = env.registry_requests(&repo);
        let (o, j) = reconcile(
            host,
            &path,
            &["--pull-policy", "always", "--platform", "linux/arm64/v8"],
        );
        assert_eq!(o.status.code(), Some(0), "{}: {}", engine.name, stderr(&o));
        assert_eq!(j["decision"], "pulled", "{}: {j}", engine.name);
        let want = if engine.id_is_index {
            built.index_digest.hex()
        } else {
            arm.config_digest.hex()
        };
        assert_eq!(j["after"], want, "{}: {j}", engine.name);
        // The check reads the index by the recorded digest and the platform's manifest (2).
        // podman records the index and the per-arch digest in no fixed order; checked by the
        // per-arch one, its manifest alone names the config (1). Both prove the image.
        let checks = registry_saw(&j);
        if engine.holds_per_arch_digest {
            assert!(matches!(checks, 1 | 2), "{}: {j}", engine.name);
        } else {
            assert_eq!(checks, 2, "{}: {j}", engine.name);
        }
        assert!(
            env.registry_requests(&repo) > before,
            "{}: the pull",
            engine.name
        );
        assert_eq!(exporter_lookup(host, want).as_deref(), Some("linux/arm64"));
    }
}

/// Only the other platform local: reconcile fails naming what is there (the file untouched),
/// diagnose says the export would use the wrong platform; nothing local at all is `absent`.
/// inspect of a daemon-only image shows the daemon side and the registry's 404, exit 0.
#[test]
fn wrong_platform_absent_and_daemon_only_are_explained_on_every_engine() {
    let env = Env::get();
    for engine in ENGINES {
        let host = engine.host(env);
        let what = engine.name;
        let (repo, built) = push_new(
            "wrongp",
            IndexSpec::new("wrongp", &["linux/amd64", "linux/arm64"]).with_attestations(),
        );
        let arm = built.image("linux/arm64");
        let per_arch = format!("{repo}@{}", arm.manifest_digest);

        // Nothing local yet: absent.
        let (_d, path) = restorer_file(&per_arch);
        let p = path.to_str().unwrap();
        let (o, j) = runref_json(
            host,
            &["diagnose", p, "--platform", "linux/arm64", "--daemon-only"],
        );
        assert_eq!(o.status.code(), Some(1), "{what}: {j}");
        assert_eq!(j["cause"], "absent", "{what}: {j}");

        // Only amd64 local.
        pull(&connect(host), &format!("{repo}:v1"), "linux/amd64");
        let before = std::fs::read_to_string(&path).unwrap();
        let (o, j) = reconcile(
            host,
            &path,
            &["--platform", "linux/arm64", "--pull-policy", "never"],
        );
        assert_eq!(o.status.code(), Some(1), "{what}: {j}");
        assert_eq!(
            j["failure"]["reason"], "wrong-platform-in-daemon",
            "{what}: {j}"
        );
        let msg = j["failure"]["message"].as_str().unwrap();
        assert!(
            msg.contains("linux/amd64"),
            "{what}: names what is there: {msg}"
        );
        assert!(
            msg.contains("docker pull --platform linux/arm64"),
            "{what}: the fix: {msg}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            before,
            "{what}: untouched"
        );
        let (o, j) = runref_json(
            host,
            &["diagnose", p, "--platform", "linux/arm64", "--daemon-only"],
        );
        assert_eq!(o.status.code(), Some(1), "{what}: {j}");
        assert_eq!(j["cause"], "wrong-platform", "{what}: {j}");

        // A daemon-only image: inspect shows it, and that the registry does not have it.
        let name = format!("{}/{}:1.0", env.registry, unique("only"));
        let (archive, _) = docker_archive(&ImageSpec::new("linux/arm64"), &unique("o"), &[&name]);
        load(&connect(host), archive);
        let (o, j) = runref_json(host, &["inspect", &name]);
        assert_eq!(o.status.code(), Some(0), "{what}: {j}");
        assert_eq!(j["daemon"]["platform"], "linux/arm64", "{what}: {j}");
        assert_eq!(j["daemon"]["store"], engine.store, "{what}");
        assert!(j["registry"].is_null(), "{what}: {j}");
        assert!(
            j["registry_error"].as_str().unwrap().contains("not found"),
            "{what}: {j}"
        );

        // diagnose of a registry digest naming it: daemon-only on every engine (issue 18: on
        // the containerd store and podman, whose loaded images get a RepoDigest, it was
        // explained as lifecycle#1457), and reconcile agrees (its `always` rule, the same).
        let repo_only = name.rsplit_once(':').unwrap().0;
        let (_d, path) = restorer_file(&format!("{repo_only}@sha256:{}", "b".repeat(64)));
        let p = path.to_str().unwrap();
        let (o, j) = runref_json(host, &["diagnose", p, "--platform", "linux/arm64"]);
        assert_eq!(o.status.code(), Some(1), "{what}: {j}");
        assert_eq!(j["cause"], "daemon-only-image", "{what}: {j}");
        let (_d, path) = restorer_file(&name);
        let (o, j) = reconcile(
            host,
            &path,
            &["--platform", "linux/arm64", "--pull-policy", "always"],
        );
        assert_eq!(o.status.code(), Some(0), "{what}: {j}");
        assert_eq!(j["decision"], "daemon-only-not-pulled", "{what}: {j}");
    }
}

/// Issue 19 item 1, the mission's core case: a platform API 0.11 analyzed.toml (no
/// `[run-image.target]`) whose reference is the arm64 manifest the restorer chose, on these
/// amd64 daemons holding the arm64 image pulled by tag, and no `--platform`. The reference's
/// own platform is the target (`platform_source: reference`) wherever the daemon or, where the
/// policy allows, the registry proves it; no pull is ever made for amd64; `--dry-run` shows
/// the same decision; under `never` where only the registry could tell, the failure advises
/// what works (`--platform`, `if-not-present`), not a pull by the arm64 digest "for amd64".
#[test]
fn the_references_own_platform_is_the_target_when_none_is_given() {
    let env = Env::get();
    for engine in ENGINES {
        let host = engine.host(env);
        let what = engine.name;
        let (repo, built) = push_new(
            "xarch",
            IndexSpec::new("xarch", &["linux/amd64", "linux/arm64/v8"]).with_attestations(),
        );
        pull(&connect(host), &format!("{repo}:v1"), "linux/arm64");
        let arm = built.image("linux/arm64/v8");
        let per_arch = format!("{repo}@{}", arm.manifest_digest);
        let want = if engine.id_is_index {
            built.index_digest.hex().to_string()
        } else {
            arm.config_digest.hex().to_string()
        };
        // The daemon proves the reference without the registry: podman records the per-arch
        // digest; the containerd store of API >= 1.48 lists it among the index's manifests.
        let daemon_proves = engine.holds_per_arch_digest || engine.lists_manifests;
        let amd_pulled = |host: &str| {
            inspect(&connect(host), &format!("{repo}:v1"))
                .and_then(|i| i.architecture)
                .unwrap_or_default()
        };

        for extra in [&["--dry-run"][..], &[], &["--pull-policy", "never"]] {
            let (_d, path) = restorer_file(&per_arch);
            let before = std::fs::read_to_string(&path).unwrap();
            let wire = env.registry_requests(&repo);
            let (o, j) = reconcile(host, &path, extra);
            let never = extra.contains(&"never");
            let how = format!("{what} {extra:?}");
            assert!(
                j["pulled"].is_null() && j["would_pull"].is_null(),
                "{how}: {j}"
            );
            assert_eq!(amd_pulled(host), "arm64", "{how}: nothing pulled for amd64");
            if never && !daemon_proves {
                assert_eq!(o.status.code(), Some(1), "{how}: {j}");
                assert_eq!(j["platform_source"], "daemon", "{how}: {j}");
                let m = j["failure"]["message"].as_str().unwrap();
                assert!(
                    m.contains("pass --platform") && m.contains("--pull-policy if-not-present"),
                    "{how}: advice that works: {m}"
                );
                assert!(
                    !m.contains("docker pull --platform linux/amd64"),
                    "{how}: {m}"
                );
                assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
            } else {
                assert_eq!(o.status.code(), Some(0), "{how}: {j}\n{}", stderr(&o));
                assert_eq!(j["platform"], "linux/arm64", "{how}: {j}");
                assert_eq!(j["platform_source"], "reference", "{how}: {j}");
                assert_eq!(j["after"], want.as_str(), "{how}: {j}");
                assert_eq!(
                    exporter_lookup(host, &want).as_deref(),
                    Some("linux/arm64"),
                    "{how}: the exporter's lookup of the written ID"
                );
            }
            if never || daemon_proves {
                assert_eq!(j["registry_requests"], 0, "{how}: {j}");
                assert_eq!(env.registry_requests(&repo), wire, "{how}: access log");
            }
            if extra.contains(&"--dry-run") {
                assert_eq!(std::fs::read_to_string(&path).unwrap(), before, "{how}");
            }
        }

        // A given target that the reference contradicts: no pull by the arm64 digest "for
        // amd64" (the registry, or the daemon, says what the digest is first).
        let (_d, path) = restorer_file(&per_arch);
        let (o, j) = reconcile(host, &path, &["--platform", "linux/amd64"]);
        assert_eq!(o.status.code(), Some(1), "{what}: {j}");
        assert!(j["pulled"].is_null(), "{what}: {j}");
        assert_eq!(amd_pulled(host), "arm64", "{what}");
        let m = j["failure"]["message"].as_str().unwrap();
        assert!(
            m.contains("is the linux/arm64 manifest, not linux/amd64") || m.contains("holds no"),
            "{what}: {m}"
        );

        // Both platforms local (amd64 pulled last, as on an amd64 builder), never, no target:
        // where the daemon proves the reference it is arm64; elsewhere runref refuses to match a
        // guessed platform (it wrote the amd64 image before: found by a newcomer).
        pull(&connect(host), &format!("{repo}:v1"), "linux/amd64");
        let (_d, path) = restorer_file(&per_arch);
        let before = std::fs::read_to_string(&path).unwrap();
        let (o, j) = reconcile(host, &path, &["--pull-policy", "never"]);
        if daemon_proves && !engine.forgets_replaced_pulls {
            assert_eq!(o.status.code(), Some(0), "{what}: {j}");
            assert_eq!(j["platform"], "linux/arm64", "{what}: {j}");
            let after = j["after"].as_str().unwrap().to_string();
            assert_eq!(
                exporter_lookup(host, &after).as_deref(),
                Some("linux/arm64"),
                "{what}: the exporter's lookup of the written ID"
            );
        } else {
            assert_eq!(o.status.code(), Some(1), "{what}: {j}");
            assert_eq!(j["failure"]["reason"], "ambiguous", "{what}: {j}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), before, "{what}");
        }
    }
}
