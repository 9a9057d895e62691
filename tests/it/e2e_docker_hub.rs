//! Docker Hub names as lifecycle and users write them (`index.docker.io/org/repo`,
//! `docker.io/...`, familiar `org/repo`, `index.docker.io/library/x`), on every engine of the
//! test environment. The engines pull Docker Hub names through the test registry as their mirror
//! (scripts/test-env), so they record real docker.io RepoDigests without internet.
//!
//! One scenario list, one engine list: each spelling must reconcile to the same image ID on
//! each engine, with no registry request under `never`; diagnose must agree.

use crate::support::engines::ENGINES;
use crate::support::fixture::{build_index, push, unique, BuiltIndex, IndexSpec};
use crate::support::*;
use serde_json::Value;

/// A run image pushed to the test registry under a Docker Hub path.
struct HubImage {
    /// The repository path in the registry (`org/repo` or `library/x`).
    path: String,
    /// The name as people write it (`org/repo`, `x`).
    familiar: String,
    built: BuiltIndex,
}

impl HubImage {
    fn push(path: String, familiar: String) -> HubImage {
        let env = Env::get();
        let built = build_index(
            &IndexSpec::new("hub", &["linux/amd64", "linux/arm64/v8"]).with_attestations(),
            "v1",
        );
        push(&built, "v1", &format!("{}/{path}:v1", env.registry));
        HubImage {
            path,
            familiar,
            built,
        }
    }

    /// An organisation's image, as Paketo's run images are.
    fn org() -> HubImage {
        let org = unique("paketo");
        HubImage::push(
            format!("{org}/run-jammy-base"),
            format!("{org}/run-jammy-base"),
        )
    }

    /// An official image (`library/x`), whose familiar name has no slash.
    fn official() -> HubImage {
        let name = unique("ubuntu");
        HubImage::push(format!("library/{name}"), name)
    }

    /// Every spelling of this image's name: familiar, docker.io, index.docker.io, and for
    /// official images the `library/` forms.
    fn spellings(&self) -> Vec<String> {
        let mut s = vec![
            self.familiar.clone(),
            format!("docker.io/{}", self.familiar),
            format!("index.docker.io/{}", self.path),
            format!("registry-1.docker.io/{}", self.path),
        ];
        if self.path.starts_with("library/") {
            s.push(self.path.clone());
            s.push(format!("docker.io/{}", self.path));
            s.push(format!("index.docker.io/{}", self.familiar));
        }
        s
    }

    /// Requests for this repository in the registry's access log.
    fn requests(&self) -> usize {
        let env = Env::get();
        env.registry_requests(&format!("{}/{}", env.registry, self.path))
    }
}

fn restorer_file(reference: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    analyzed_file(&format!(
        "[run-image]\n  reference = \"{reference}\"\n\n[metadata]\n  [metadata.run-image]\n    top-layer = \"sha256:00\"\n"
    ))
}

fn run_json(host: &str, args: &[&str]) -> (std::process::Output, Value) {
    let o = runref(host, args);
    let j = json_of(&o);
    (o, j)
}

fn mirror_url() -> String {
    format!("http://{}", Env::get().registry)
}

fn every_spelling_reconciles_on_every_engine(image: HubImage) {
    let env = Env::get();
    let arm = image.built.image("linux/arm64/v8");
    for engine in ENGINES {
        let host = engine.host(env);
        pull(
            &connect(host),
            &format!("{}:v1", engine.hub_pull_name(&image.familiar)),
            "linux/arm64",
        );
        // The image ID each store gives the run image: the config digest, or on the
        // containerd store the pulled index (only arm64 is present, so it resolves to arm64).
        let id = if engine.id_is_index {
            image.built.index_digest.hex().to_string()
        } else {
            arm.config_digest.hex().to_string()
        };
        for spelling in image.spellings() {
            let what = format!("{} on {}", spelling, engine.name);
            let reference = format!("{spelling}@{}", arm.manifest_digest);

            // diagnose before: lifecycle#1457 (the per-arch digest is unknown to the daemon),
            // except on podman, which records it.
            let (_d, path) = restorer_file(&reference);
            let p = path.to_str().unwrap();
            let (o, j) = run_json(
                host,
                &[
                    "diagnose",
                    p,
                    "--platform",
                    "linux/arm64",
                    "--format",
                    "json",
                ],
            );
            // podman 5.8 resolves the per-arch digest too, but no longer under the
            // `registry-1.docker.io` spelling: there the exporter's lookup fails, and says so.
            let resolves = engine.holds_per_arch_digest
                && (engine.registry1_is_hub || !spelling.starts_with("registry-1.docker.io/"));
            if resolves {
                assert_eq!(j["export_will_work"], true, "{what}: {j}");
                assert_eq!(o.status.code(), Some(0), "{what}");
            } else {
                assert_eq!(j["export_will_work"], false, "{what}: {j}");
                assert_eq!(j["cause"], "per-arch-digest-not-in-daemon", "{what}: {j}");
                assert!(
                    j["explanation"]
                        .as_str()
                        .unwrap()
                        .contains("lifecycle#1457"),
                    "{what}: {j}"
                );
            }

            // inspect by tag: the daemon side, the registry side through the mirror, linked.
            let tagged = format!("{spelling}:v1");
            let (o, j) = run_json(
                host,
                &[
                    "inspect",
                    &tagged,
                    "--platform",
                    "linux/arm64",
                    "--format",
                    "json",
                ],
            );
            assert_eq!(o.status.code(), Some(0), "{what}: {}", stderr(&o));
            assert_eq!(
                j["daemon"]["image_id"],
                format!("sha256:{id}"),
                "{what}: {j}"
            );
            assert_eq!(j["daemon"]["store"], engine.store, "{what}");
            let proof = if engine.id_is_index {
                "containerd-manifests"
            } else {
                "config-digest-is-image-id"
            };
            assert_eq!(j["link"]["proof"], proof, "{what}: {j}");
            assert_eq!(
                j["link"]["entry"],
                arm.manifest_digest.to_string(),
                "{what}"
            );
            assert_eq!(j["registry_endpoints"]["docker.io"], mirror_url(), "{what}");

            // never: the same image ID, no registry request at all.
            let before = image.requests();
            let (o, j) = run_json(
                host,
                &[
                    "reconcile",
                    p,
                    "--daemon",
                    "--pull-policy",
                    "never",
                    "--platform",
                    "linux/arm64",
                    "--format",
                    "json",
                ],
            );
            assert_eq!(o.status.code(), Some(0), "{what}: {}", stderr(&o));
            assert_eq!(j["after"], id.as_str(), "{what}: {j}");
            assert_eq!(j["store"], engine.store_unasked_json(), "{what}: {j}");
            assert_eq!(j["registry_requests"], 0, "{what}");
            assert_eq!(image.requests(), before, "{what}: never asks no registry");
            let (o, j) = run_json(host, &["diagnose", p, "--format", "json"]);
            assert_eq!(j["export_will_work"], true, "{what}: after reconcile: {j}");
            assert_eq!(o.status.code(), Some(0));

            // if-not-present: the same image ID, proven; the registry only where the daemon
            // alone cannot prove it, and then through the daemon's mirror.
            let (_d, path) = restorer_file(&reference);
            let p = path.to_str().unwrap();
            let before = image.requests();
            let (o, j) = run_json(
                host,
                &[
                    "reconcile",
                    p,
                    "--daemon",
                    "--platform",
                    "linux/arm64",
                    "--format",
                    "json",
                ],
            );
            assert_eq!(o.status.code(), Some(0), "{what}: {}", stderr(&o));
            assert_eq!(j["after"], id.as_str(), "{what}: {j}");
            assert_ne!(
                j["decision"], "matched-by-repository-and-platform",
                "{what}: {j}"
            );
            let asks = !engine.holds_per_arch_digest && !engine.lists_manifests;
            let want = usize::from(asks);
            assert_eq!(registry_saw(&j) as usize, want, "{what}: {j}");
            assert_eq!(image.requests() - before, want, "{what}: access log");
            if asks {
                assert_eq!(j["registry_endpoints"]["docker.io"], mirror_url(), "{what}");
            }
        }
    }
}

#[test]
fn organisation_image_every_spelling_every_engine() {
    every_spelling_reconciles_on_every_engine(HubImage::org());
}

#[test]
fn official_image_every_spelling_every_engine() {
    every_spelling_reconciles_on_every_engine(HubImage::official());
}

/// Registry mode reads through `--registry-mirror` and keeps the file's spelling.
#[test]
fn registry_mode_reads_through_the_mirror_and_keeps_the_spelling() {
    let image = HubImage::official();
    let arm = image.built.image("linux/arm64/v8");
    let env = Env::get();
    for spelling in image.spellings() {
        let (_d, path) = restorer_file(&format!("{spelling}:v1"));
        let before = image.requests();
        let mirror = mirror_url();
        let (o, j) = run_json(
            "unix:///nonexistent.sock",
            &[
                "reconcile",
                path.to_str().unwrap(),
                "--platform",
                "linux/arm64",
                "--registry-mirror",
                &mirror,
                "--format",
                "json",
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{spelling}: {}", stderr(&o));
        assert_eq!(
            j["after"],
            format!("{spelling}@{}", arm.manifest_digest),
            "the written name keeps its spelling"
        );
        assert_eq!(j["decision"], "registry-resolved");
        assert_eq!(j["registry_endpoints"]["docker.io"], mirror);
        assert_eq!(registry_saw(&j) as usize, image.requests() - before);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&format!("\"{spelling}@{}\"", arm.manifest_digest)));
    }
    let _ = env;
}

/// verify of a Docker Hub name through `RUNREF_REGISTRY_MIRRORS`; a dead mirror first falls
/// through to the next, as the Engine's pulls do.
#[test]
fn verify_reads_through_the_mirror_list() {
    let image = HubImage::org();
    let reference = format!(
        "index.docker.io/{}@{}",
        image.path, image.built.index_digest
    );
    let mirrors = format!("http://127.0.0.1:1,{}", mirror_url());
    let o = runref_with(
        "unix:///nonexistent.sock",
        &[("RUNREF_REGISTRY_MIRRORS", mirrors.as_str())],
        &[
            "verify",
            &reference,
            "--platforms",
            "linux/amd64,linux/arm64",
            "--format",
            "json",
        ],
    );
    let j = json_of(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(j["verified"], true, "{j}");
    assert_eq!(j["registry_endpoints"]["docker.io"], mirror_url());
    // Text names the mirror that answered.
    let o = runref_with(
        "unix:///nonexistent.sock",
        &[("RUNREF_REGISTRY_MIRRORS", mirrors.as_str())],
        &["verify", &reference],
    );
    assert!(
        stdout(&o).contains(&format!("docker.io read through mirror {}", mirror_url())),
        "{}",
        stdout(&o)
    );
}
