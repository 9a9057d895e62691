//! `runref reconcile` against the real dockerd, podman and registry (scripts/test-env).

use crate::support::fixture::{docker_archive, push_new, unique, ImageSpec, IndexSpec};
use crate::support::*;
use runref::model::digest::Digest;
use serde_json::Value;

/// The analyzed.toml a 0.11 restorer writes: the per-arch digest from the registry.
fn restorer_file(reference: &str) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let text = format!(
        "[image]\n  reference = \"\"\n\n[run-image]\n  reference = \"{reference}\"\n\n[metadata]\n  [metadata.run-image]\n    top-layer = \"sha256:00\"\n"
    );
    let (dir, path) = analyzed_file(&text);
    (dir, path, text)
}

fn reconcile(host: &str, path: &std::path::Path, extra: &[&str]) -> (std::process::Output, Value) {
    let mut args = vec!["reconcile", path.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    let o = runref(host, &args);
    let j = json_of(&o);
    (o, j)
}

fn changed_lines(a: &str, b: &str) -> usize {
    assert_eq!(a.lines().count(), b.lines().count());
    a.lines().zip(b.lines()).filter(|(x, y)| x != y).count()
}

#[test]
fn never_maps_the_restorer_digest_to_the_local_image_without_registry_contact() {
    let env = Env::get();
    let (repo, built) = push_new(
        "never",
        IndexSpec::new("never", &["linux/amd64", "linux/arm64/v8"]).with_attestations(),
    );
    let arm = built.image("linux/arm64/v8");
    pull(&env.docker(), &format!("{repo}:v1"), "linux/arm64");
    let (_d, path, before) = restorer_file(&format!("{repo}@{}", arm.manifest_digest));
    let requests_before = env.registry_requests(&repo);

    let (o, j) = reconcile(
        &env.docker_host,
        &path,
        &[
            "--daemon",
            "--pull-policy",
            "never",
            "--platform",
            "linux/arm64/v8",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        j["after"],
        arm.config_digest.hex(),
        "lifecycle's ID form: no sha256: prefix"
    );
    assert_eq!(j["decision"], "matched-by-repository-and-platform");
    // Target given, never: no rule needed `/info`, and API 1.41 answers cannot show the store.
    assert_eq!(j["store"], serde_json::Value::Null);
    assert_eq!(j["registry_requests"], 0);
    assert!(j["warnings"][0]
        .as_str()
        .unwrap()
        .contains("repository and platform"));
    assert_eq!(
        env.registry_requests(&repo),
        requests_before,
        "never: no registry request at all"
    );
    let after = std::fs::read_to_string(&path).unwrap();
    assert_eq!(changed_lines(&before, &after), 1);
    assert!(after.contains(&format!("reference = \"{}\"", arm.config_digest.hex())));

    // Idempotent: the second run changes nothing and leaves the bytes and mtime alone.
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let (o, j) = reconcile(
        &env.docker_host,
        &path,
        &[
            "--daemon",
            "--pull-policy",
            "never",
            "--platform",
            "linux/arm64",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(j["changed"], false);
    assert_eq!(j["decision"], "already-daemon-id");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
}

#[test]
fn if_not_present_proves_the_match_with_one_manifest_request() {
    let env = Env::get();
    let (repo, built) = push_new(
        "inp",
        IndexSpec::new("inp", &["linux/amd64", "linux/arm64"]).with_attestations(),
    );
    let arm = built.image("linux/arm64");
    pull(&env.docker(), &format!("{repo}:v1"), "linux/arm64");
    let (_d, path, _) = restorer_file(&format!("{repo}@{}", arm.manifest_digest));
    let before = env.registry_requests(&repo);
    let (o, j) = reconcile(
        &env.docker_host,
        &path,
        &["--daemon", "--platform", "linux/arm64"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(j["decision"], "proven-by-config-digest");
    assert_eq!(j["after"], arm.config_digest.hex());
    assert_eq!(registry_saw(&j), 1);
    assert_eq!(
        env.registry_requests(&repo) - before,
        1,
        "one GET of the per-arch manifest by digest"
    );
    assert_eq!(j["warnings"].as_array().unwrap().len(), 0);
}

/// With the manifest cache on (`--cache-dir`), the hook's proof is read from disk from the
/// second build on: no request reaches the registry (its access log says so), the decision is
/// the same. A damaged entry is not trusted: the manifest is fetched again and stored whole.
#[test]
fn the_manifest_cache_spares_the_second_builds_request() {
    let env = Env::get();
    let (repo, built) = push_new(
        "cache",
        IndexSpec::new("cache", &["linux/amd64", "linux/arm64"]).with_attestations(),
    );
    let arm = built.image("linux/arm64");
    pull(&env.docker(), &format!("{repo}:v1"), "linux/arm64");
    let (_d, path, text) = restorer_file(&format!("{repo}@{}", arm.manifest_digest));
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().to_str().unwrap();
    let run = || {
        let before = env.registry_requests(&repo);
        let o = runref_with(
            &env.docker_host,
            &[("RUNREF_NO_CACHE", "0"), ("RUNREF_CACHE_DIR", dir)],
            &[
                "reconcile",
                path.to_str().unwrap(),
                "--daemon",
                "--platform",
                "linux/arm64",
                "--dry-run",
                "--format",
                "json",
            ],
        );
        let j = json_of(&o);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(j["decision"], "proven-by-config-digest", "{j}");
        assert_eq!(j["after"], arm.config_digest.hex());
        let wire = env.registry_requests(&repo) - before;
        assert_eq!(
            registry_saw(&j) as usize,
            wire,
            "the count is what the registry saw"
        );
        (wire, j["registry_cache_hits"].as_u64().unwrap())
    };
    assert_eq!(run(), (1, 0), "first build: one GET, kept");
    let entry = cache
        .path()
        .join(arm.manifest_digest.to_string().replace(':', "-"));
    assert!(entry.exists(), "stored under its digest");
    assert_eq!(run(), (0, 1), "second build: from the cache, no request");
    std::fs::write(&entry, b"{}").unwrap();
    assert_eq!(run(), (1, 0), "a damaged entry: fetched again");
    assert_eq!(
        Digest::of(&std::fs::read(&entry).unwrap()),
        arm.manifest_digest,
        "and stored whole"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "--dry-run");
}

#[test]
fn podman_proves_the_match_by_repo_digests() {
    let env = Env::get();
    let (repo, built) = push_new(
        "podman",
        IndexSpec::new("podman", &["linux/amd64", "linux/arm64/v8"]).with_attestations(),
    );
    let arm = built.image("linux/arm64/v8");
    pull(&env.podman(), &format!("{repo}:v1"), "linux/arm64");
    let (_d, path, _) = restorer_file(&format!("{repo}@{}", arm.manifest_digest));
    let before = env.registry_requests(&repo);
    let (o, j) = reconcile(
        &env.podman_host,
        &path,
        &[
            "--daemon",
            "--pull-policy",
            "never",
            "--platform",
            "linux/arm64",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(j["store"], "podman");
    assert_eq!(j["after"], arm.config_digest.hex());
    assert!(
        ["proven-by-repo-digests", "daemon-holds-reference"]
            .contains(&j["decision"].as_str().unwrap()),
        "{j}"
    );
    assert_eq!(env.registry_requests(&repo), before);
}

#[test]
fn daemon_only_image_is_never_rewritten_from_a_registry() {
    let env = Env::get();
    // Tagged for a registry that does not answer (port 1 on loopback), never pushed.
    let name = format!("127.0.0.1:1/{}:1.0", unique("daemononly"));
    let (archive, img) = docker_archive(
        &ImageSpec::new("linux/arm64/v8"),
        &unique("donly"),
        &[&name],
    );
    load(&env.docker(), archive);
    for policy in ["never", "if-not-present", "always"] {
        let (_d, path, before) = restorer_file(&name);
        let (o, j) = reconcile(
            &env.docker_host,
            &path,
            &[
                "--daemon",
                "--pull-policy",
                policy,
                "--platform",
                "linux/arm64",
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{policy}: {}", stderr(&o));
        assert_eq!(j["after"], img.config_digest.hex(), "{policy}");
        assert_eq!(j["registry_requests"], 0, "{policy}");
        assert_eq!(j["pulled"], Value::Null, "{policy}: no pull");
        if policy == "always" {
            assert_eq!(j["decision"], "daemon-only-not-pulled");
            assert!(j["warnings"][0].as_str().unwrap().contains("daemon-only"));
        } else {
            assert_eq!(j["decision"], "daemon-holds-reference");
        }
        assert_eq!(
            changed_lines(&before, &std::fs::read_to_string(&path).unwrap()),
            1
        );
    }
}

#[test]
fn registry_mode_resolves_a_docker_list_without_variants() {
    let env = Env::get();
    let mut spec =
        IndexSpec::new("dlist", &["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]).docker();
    for s in &mut spec.images {
        s.entry_without_variant = true;
    }
    let (repo, built) = push_new("dlist", spec);
    let (_d, path, _) = restorer_file(&format!("{repo}:v1"));
    for (platform, want) in [
        ("linux/arm64/v8", "linux/arm64/v8"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/amd64", "linux/amd64"),
    ] {
        let (o, j) = reconcile(
            &env.docker_host,
            &path,
            &["--platform", platform, "--dry-run"],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(
            j["after"],
            format!("{repo}@{}", built.image(want).manifest_digest),
            "{platform}"
        );
        assert_eq!(j["decision"], "registry-resolved");
    }
}

#[test]
fn registry_mode_never_chooses_an_attestation() {
    let env = Env::get();
    let (repo, built) = push_new(
        "attest",
        IndexSpec::new("attest", &["linux/amd64"]).with_attestations(),
    );
    let (_d, path, before) = restorer_file(&format!("{repo}@{}", built.index_digest));
    let (o, j) = reconcile(&env.docker_host, &path, &["--platform", "unknown/unknown"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(j["failure"]["reason"], "no-entry-for-platform");
    assert!(j["failure"]["message"]
        .as_str()
        .unwrap()
        .contains("it has: linux/amd64"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    // And for the real platform: the index digest is replaced by the amd64 manifest.
    let (o, j) = reconcile(&env.docker_host, &path, &["--platform", "linux/amd64"]);
    assert_eq!(o.status.code(), Some(0));
    let amd = built.image("linux/amd64").manifest_digest.clone();
    assert_eq!(j["after"], format!("{repo}@{amd}"));
    assert!(!built.attestation_digests.contains(&amd));
    // Already right: unchanged on the next run.
    let (_, j) = reconcile(&env.docker_host, &path, &["--platform", "linux/amd64"]);
    assert_eq!(j["decision"], "already-platform-digest");
    assert_eq!(j["changed"], false);
}

#[test]
fn dry_run_and_check_write_nothing() {
    let env = Env::get();
    let (repo, built) = push_new(
        "dry",
        IndexSpec::new("dry", &["linux/amd64", "linux/arm64"]),
    );
    pull(&env.docker(), &format!("{repo}:v1"), "linux/arm64");
    let arm = built.image("linux/arm64");
    let (_d, path, before) = restorer_file(&format!("{repo}@{}", arm.manifest_digest));
    let o = runref(
        &env.docker_host,
        &[
            "reconcile",
            path.to_str().unwrap(),
            "--daemon",
            "--pull-policy",
            "never",
            "--platform",
            "linux/arm64",
            "--dry-run",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("+  reference = \"{}\"", arm.config_digest.hex())),
        "{out}"
    );
    assert!(out.contains("-  reference = "), "{out}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    let o = runref(
        &env.docker_host,
        &[
            "reconcile",
            path.to_str().unwrap(),
            "--daemon",
            "--pull-policy",
            "never",
            "--platform",
            "linux/arm64",
            "--check",
        ],
    );
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
}

#[test]
fn malformed_file_is_left_untouched_with_line_and_column() {
    let env = Env::get();
    let text = "[run-image]\n  reference = \"a\n";
    let (dir, path) = analyzed_file(text);
    for format in ["text", "json"] {
        let o = runref(
            &env.docker_host,
            &[
                "reconcile",
                path.to_str().unwrap(),
                "--daemon",
                "--format",
                format,
            ],
        );
        assert_eq!(o.status.code(), Some(2));
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(all.contains(&format!("{}:2:", path.display())), "{all}");
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    let o = runref(
        &env.docker_host,
        &[
            "reconcile",
            dir.path().join("missing.toml").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.toml"));
}

#[test]
fn extend_keeps_the_registry_digest() {
    let env = Env::get();
    let d: Digest = Digest::of(b"x");
    let text = format!(
        "[run-image]\n  reference = \"{}/run@{d}\"\n  extend = true\n",
        env.registry
    );
    let (_dir, path) = analyzed_file(&text);
    let (o, j) = reconcile(
        &env.docker_host,
        &path,
        &["--daemon", "--pull-policy", "never"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(j["decision"], "extend-keeps-registry-digest");
    assert_eq!(j["changed"], false);
    assert!(j["warnings"][0].as_str().unwrap().contains("extend"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}
