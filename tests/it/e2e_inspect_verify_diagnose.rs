//! `runref inspect`, `verify` and `diagnose` against the real dockerd and registry.

use crate::support::fixture::{
    build_index, docker_archive, elf, push, push_new, unique, ImageSpec, IndexSpec,
};
use crate::support::*;
use serde_json::Value;

fn run_json(args: &[&str]) -> (i32, Value) {
    let o = runref(&Env::get().docker_host, args);
    (o.status.code().unwrap(), json_of(&o))
}

fn entry<'a>(v: &'a Value, digest: &str) -> &'a Value {
    v["registry"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["digest"] == digest)
        .unwrap_or_else(|| panic!("no entry {digest} in {v}"))
}

// --- inspect ---------------------------------------------------------------------------------

#[test]
fn inspect_links_the_local_image_to_its_index_entry() {
    let env = Env::get();
    let (repo, b) = push_new(
        "insp",
        IndexSpec::new("insp", &["linux/amd64", "linux/arm64/v8"]).with_attestations(),
    );
    pull(&env.docker(), &format!("{repo}:v1"), "linux/arm64");
    let arm = b.image("linux/arm64/v8");
    let (code, v) = run_json(&["inspect", &format!("{repo}:v1"), "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(v["daemon"]["image_id"], arm.config_digest.to_string());
    assert_eq!(v["daemon"]["store"], "docker-classic");
    assert_eq!(v["registry"]["digest"], b.index_digest.to_string());
    assert_eq!(v["registry"]["resolved_from"], format!("{repo}:v1"));
    assert_eq!(v["registry"]["entries"].as_array().unwrap().len(), 4);
    for (att, img) in b.attestation_digests.iter().zip(&b.images) {
        let e = entry(&v, &att.to_string());
        assert_eq!(e["attestation"], true);
        assert_eq!(e["attests"], img.manifest_digest.to_string());
    }
    let e = entry(&v, &arm.manifest_digest.to_string());
    assert_eq!(
        e["config"],
        arm.config_digest.to_string(),
        "config digest per runnable entry"
    );
    assert_eq!(v["link"]["entry"], arm.manifest_digest.to_string());
    assert_eq!(v["link"]["proof"], "config-digest-is-image-id");
    assert_eq!(v["link"]["daemon_knows_top_digest"], true);
    // The text view is a tree that marks the local entry and the attestations.
    let o = runref(&env.docker_host, &["inspect", &format!("{repo}:v1")]);
    let t = stdout(&o);
    assert!(
        t.contains("<- local image") && t.contains("attestation of") && t.contains("└─ link:"),
        "{t}"
    );
}

#[test]
fn inspect_flags_entries_without_variant_in_a_docker_list() {
    let mut spec = IndexSpec::new("inspv", &["linux/amd64", "linux/arm64/v8"]).docker();
    spec.images[1].entry_without_variant = true;
    let (repo, b) = push_new("inspv", spec);
    let (code, v) = run_json(&[
        "inspect",
        "--no-daemon",
        &format!("{repo}:v1"),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(v["daemon"], Value::Null);
    assert_eq!(
        v["registry"]["media_type"],
        runref::model::manifest::DOCKER_LIST
    );
    assert_eq!(
        entry(&v, &b.image("linux/arm64/v8").manifest_digest.to_string())["lacks_variant"],
        true
    );
    assert_eq!(
        entry(&v, &b.image("linux/amd64").manifest_digest.to_string())["lacks_variant"],
        false
    );
}

#[test]
fn inspect_a_daemon_only_image() {
    let env = Env::get();
    let name = format!("{}/{}:1.0", env.registry, unique("inspdonly"));
    let (archive, img) = docker_archive(&ImageSpec::new("linux/amd64"), &unique("x"), &[&name]);
    load(&env.docker(), archive);
    let (code, v) = run_json(&["inspect", &name, "--format", "json"]);
    assert_eq!(code, 0, "one side is enough");
    assert_eq!(v["daemon"]["image_id"], img.config_digest.to_string());
    assert_eq!(v["daemon"]["repo_digests"].as_array().unwrap().len(), 0);
    assert!(
        v["registry_error"].as_str().unwrap().contains("not found"),
        "{v}"
    );
    let (code, _) = run_json(&[
        "inspect",
        "--no-daemon",
        &format!("{}/nothing-here:1", env.registry),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "neither side");
}

// --- verify ----------------------------------------------------------------------------------

#[test]
fn verify_passes_by_digest_with_attestations_and_normalised_variants() {
    let (repo, b) = push_new(
        "ver",
        IndexSpec::new("ver", &["linux/amd64", "linux/arm64/v8"]).with_attestations(),
    );
    let r = format!("{repo}@{}", b.index_digest);
    let (code, v) = run_json(&[
        "verify",
        &r,
        "--platforms",
        "linux/amd64,linux/arm64",
        "--content",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verified"], true);
    assert_eq!(v["verified_digest"], r);
    assert_eq!(v["resolved_from"], Value::Null);
    assert_eq!(v["attestations_ignored"], 2);
    for p in v["platforms"].as_array().unwrap() {
        assert_eq!(p["content"]["verdict"], "proven", "{p}");
    }
    // Missing and unexpected platforms are each listed.
    let (code, v) = run_json(&[
        "verify",
        &r,
        "--platforms",
        "linux/amd64,linux/s390x",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let kinds: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["missing", "unexpected"], "{v}");
    let (code, _) = run_json(&[
        "verify",
        &r,
        "--platforms",
        "linux/amd64",
        "--allow-extra",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
}

#[test]
fn verify_catches_a_config_that_claims_another_arch() {
    let mut spec = IndexSpec::new("verlie", &["linux/amd64", "linux/arm64"]);
    spec.images[1].config_platform = Some("linux/amd64".into());
    let (repo, b) = push_new("verlie", spec);
    let (code, v) = run_json(&[
        "verify",
        &format!("{repo}@{}", b.index_digest),
        "--platforms",
        "linux/amd64,linux/arm64",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let p = &v["problems"][0];
    assert_eq!(p["kind"], "config-disagrees");
    assert_eq!(
        p["digest"],
        b.image("linux/arm64").manifest_digest.to_string()
    );
    assert_eq!(
        (p["index_platform"].as_str(), p["config_platform"].as_str()),
        (Some("linux/arm64"), Some("linux/amd64"))
    );
}

#[test]
fn verify_content_catches_binaries_of_another_machine_and_unproven_platforms() {
    let mut spec = IndexSpec::new("verelf", &["linux/amd64", "linux/arm64", "linux/s390x"]);
    spec.images[1].elf_machine = Some(elf::X86_64); // claims arm64, holds x86-64 executables
    spec.images[2].no_elf = true;
    let (repo, b) = push_new("verelf", spec);
    let r = format!("{repo}@{}", b.index_digest);
    let (code, v) = run_json(&[
        "verify",
        &r,
        "--platforms",
        "linux/amd64,linux/arm64,linux/s390x",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "without --content only metadata is checked: {v}");
    let (code, v) = run_json(&[
        "verify",
        &r,
        "--platforms",
        "linux/amd64,linux/arm64,linux/s390x",
        "--content",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let problems = v["problems"].as_array().unwrap();
    let bad = problems
        .iter()
        .find(|p| p["kind"] == "content-disagrees")
        .expect("content mismatch listed");
    assert_eq!(bad["platform"], "linux/arm64");
    assert_eq!(bad["files"][0]["path"], "bin/app");
    assert_eq!(bad["files"][0]["arch"], "amd64");
    let unproven = problems
        .iter()
        .find(|p| p["kind"] == "unproven")
        .expect("unproven listed");
    assert_eq!(unproven["platform"], "linux/s390x");
    let o = runref(
        &Env::get().docker_host,
        &[
            "verify",
            &r,
            "--platforms",
            "linux/amd64,linux/arm64,linux/s390x",
            "--content",
        ],
    );
    assert!(stdout(&o).contains("/bin/app is amd64"), "{}", stdout(&o));
}

#[test]
fn verify_a_docker_list_without_variants() {
    let mut spec = IndexSpec::new("verdl", &["linux/amd64", "linux/arm64/v8"]).docker();
    spec.images[1].entry_without_variant = true;
    let (repo, b) = push_new("verdl", spec);
    let (code, v) = run_json(&[
        "verify",
        &format!("{repo}@{}", b.index_digest),
        "--platforms",
        "linux/amd64,linux/arm64/v8",
        "--content",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{v}");
}

#[test]
fn verify_reports_the_digest_it_checked_when_the_tag_moves() {
    let env = Env::get();
    let repo = format!("{}/{}", env.registry, unique("vermove"));
    let first = build_index(
        &IndexSpec::new("move1", &["linux/amd64", "linux/arm64"]),
        "t",
    );
    push(&first, "t", &format!("{repo}:t"));
    let (code, v) = run_json(&[
        "verify",
        &format!("{repo}:t"),
        "--platforms",
        "linux/amd64,linux/arm64",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        v["verified_digest"],
        format!("{repo}@{}", first.index_digest)
    );
    assert_eq!(v["resolved_from"], format!("{repo}:t"));
    // The tag moves to an amd64-only image (the seed-000 race).
    let second = build_index(&IndexSpec::new("move2", &["linux/amd64"]), "t");
    push(&second, "t", &format!("{repo}:t"));
    let (code, v) = run_json(&[
        "verify",
        &format!("{repo}@{}", first.index_digest),
        "--platforms",
        "linux/amd64,linux/arm64",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "the digest still names what was pushed first");
    assert_eq!(
        v["verified_digest"],
        format!("{repo}@{}", first.index_digest)
    );
    let (code, v) = run_json(&[
        "verify",
        &format!("{repo}:t"),
        "--platforms",
        "linux/amd64,linux/arm64",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        v["verified_digest"],
        format!("{repo}@{}", second.index_digest)
    );
}

#[test]
fn verify_reads_buildx_metadata_and_rejects_bad_input() {
    let (repo, b) = push_new("vermeta", IndexSpec::new("vermeta", &["linux/amd64"]));
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("metadata.json");
    std::fs::write(
        &meta,
        format!(
            r#"{{"containerimage.digest":"{}","image.name":"{repo}:v1,{repo}:latest"}}"#,
            b.index_digest
        ),
    )
    .unwrap();
    let (code, v) = run_json(&[
        "verify",
        "--metadata-file",
        meta.to_str().unwrap(),
        "--platforms",
        "linux/amd64",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verified_digest"], format!("{repo}@{}", b.index_digest));
    let o = runref(
        &Env::get().docker_host,
        &["verify", &format!("{repo}:v1"), "--platforms", "linx"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("os/arch"), "{}", stderr(&o));
    std::fs::write(&meta, "{}").unwrap();
    let o = runref(
        &Env::get().docker_host,
        &["verify", "--metadata-file", meta.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("containerimage.digest"));
}

// --- diagnose --------------------------------------------------------------------------------

fn analyzed(reference: &str, top_layer: &str) -> (tempfile::TempDir, String) {
    let (dir, p) = analyzed_file(&format!("[run-image]\n  reference = \"{reference}\"\n\n[metadata]\n  [metadata.run-image]\n    top-layer = \"{top_layer}\"\n"));
    (dir, p.to_str().unwrap().to_string())
}

#[test]
fn diagnose_the_restorer_digest_then_fix_it() {
    let env = Env::get();
    let (repo, b) = push_new(
        "diag",
        IndexSpec::new("diag", &["linux/amd64", "linux/arm64/v8"]).with_attestations(),
    );
    pull(&env.docker(), &format!("{repo}:v1"), "linux/arm64");
    let arm = b.image("linux/arm64/v8");
    let (_d, path) = analyzed(
        &format!("{repo}@{}", arm.manifest_digest),
        &arm.diff_id.to_string(),
    );
    let (code, v) = run_json(&["diagnose", &path, "--format", "json"]);
    assert_eq!(code, 1);
    assert_eq!(v["export_will_work"], false);
    assert_eq!(v["cause"], "per-arch-digest-not-in-daemon");
    assert_eq!(
        v["lifecycle_error"],
        "ERROR: failed to export: get run image top layer SHA: image has no layers"
    );
    assert_eq!(
        v["registry_platform"], "linux/arm64",
        "the restorer's choice, from the registry"
    );
    assert!(v["explanation"]
        .as_str()
        .unwrap()
        .contains(arm.config_digest.hex()));
    let fix = v["fix"].as_str().unwrap().to_string();
    assert_eq!(
        fix,
        format!("runref reconcile --daemon --pull-policy never --platform linux/arm64 {path}")
    );
    // --daemon-only asks no registry.
    let before = env.registry_requests(&repo);
    let (code, v) = run_json(&[
        "diagnose",
        &path,
        "--daemon-only",
        "--platform",
        "linux/arm64",
        "--format",
        "json",
    ]);
    assert_eq!(
        (code, v["cause"].as_str()),
        (1, Some("per-arch-digest-not-in-daemon"))
    );
    assert_eq!(env.registry_requests(&repo), before);
    // The printed fix works, and then the export will find the run image.
    let args: Vec<&str> = fix.split(' ').skip(1).collect();
    let o = runref(&env.docker_host, &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (code, v) = run_json(&["diagnose", &path, "--format", "json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["export_will_work"], true);
    assert_eq!(v["top_layer"]["same"], true);
    assert_eq!(v["top_layer"]["local"], arm.diff_id.to_string());
}

#[test]
fn diagnose_absent_wrong_platform_and_daemon_only() {
    let env = Env::get();
    // Absent.
    let (_d, path) = analyzed(
        &format!(
            "{}/{}@sha256:{}",
            env.registry,
            unique("gone"),
            "a".repeat(64)
        ),
        "sha256:00",
    );
    let (code, v) = run_json(&["diagnose", &path, "--daemon-only", "--format", "json"]);
    assert_eq!((code, v["cause"].as_str()), (1, Some("absent")), "{v}");
    assert!(v["fix"]
        .as_str()
        .unwrap()
        .contains("--pull-policy if-not-present"));
    // Wrong platform present.
    let (repo, b) = push_new(
        "diagwp",
        IndexSpec::new("diagwp", &["linux/amd64", "linux/arm64"]),
    );
    pull(&env.docker(), &format!("{repo}:v1"), "linux/amd64");
    let (_d2, path) = analyzed(
        &format!("{repo}@{}", b.image("linux/arm64").manifest_digest),
        "sha256:00",
    );
    let (code, v) = run_json(&["diagnose", &path, "--format", "json"]);
    assert_eq!(
        (code, v["cause"].as_str()),
        (1, Some("wrong-platform")),
        "{v}"
    );
    assert!(v["explanation"].as_str().unwrap().contains("linux/amd64"));
    // Daemon-only image with a registry digest in its name.
    let name = format!("{}/{}", env.registry, unique("diagdonly"));
    let (archive, img) = docker_archive(
        &ImageSpec::new("linux/amd64"),
        &unique("y"),
        &[&format!("{name}:1.0")],
    );
    load(&env.docker(), archive);
    let (_d3, path) = analyzed(&format!("{name}@sha256:{}", "b".repeat(64)), "sha256:00");
    let (code, v) = run_json(&[
        "diagnose",
        &path,
        "--platform",
        "linux/amd64",
        "--format",
        "json",
    ]);
    assert_eq!(
        (code, v["cause"].as_str()),
        (1, Some("daemon-only-image")),
        "{v}"
    );
    assert!(v["explanation"]
        .as_str()
        .unwrap()
        .contains(img.config_digest.hex()));
    assert!(v["fix"].as_str().unwrap().contains("--pull-policy never"));
}

// --- request counts (issue 11) -----------------------------------------------------------------

/// `registry_requests` is what the registry's access log saw, request for request, and runref
/// never probes `/v2/`: verify costs the index, the expected entries and their configs (and
/// layers with --content); --allow-extra reads only the expected platforms.
#[test]
fn every_registry_request_is_counted_and_none_is_a_probe() {
    let env = Env::get();
    let (repo, b) = push_new(
        "count",
        IndexSpec::new("count", &["linux/amd64", "linux/arm64/v8"]).with_attestations(),
    );
    let r = format!("{repo}@{}", b.index_digest);
    let cases: &[(&[&str], u64)] = &[
        // index + 2 manifests + 2 configs
        (&["verify", &r, "--platforms", "linux/amd64,linux/arm64"], 5),
        // + one layer each
        (
            &[
                "verify",
                &r,
                "--platforms",
                "linux/amd64,linux/arm64",
                "--content",
            ],
            7,
        ),
        // index + the one expected manifest + its config
        (
            &["verify", &r, "--platforms", "linux/amd64", "--allow-extra"],
            3,
        ),
        // by tag: the same, the tag read once
        (
            &[
                "verify",
                &format!("{repo}:v1"),
                "--platforms",
                "linux/amd64",
                "--allow-extra",
            ],
            3,
        ),
    ];
    for (args, want) in cases {
        let before = env.registry_requests(&repo);
        let mut a = args.to_vec();
        a.extend(["--format", "json"]);
        let (code, v) = run_json(&a);
        assert_eq!(code, 0, "{args:?}: {v}");
        assert_eq!(registry_saw(&v), *want, "{args:?}: {v}");
        assert_eq!(
            (env.registry_requests(&repo) - before) as u64,
            *want,
            "{args:?}: the access log"
        );
    }
    // inspect: whatever it reads, the figure is the wire's.
    let before = env.registry_requests(&repo);
    let (code, v) = run_json(&["inspect", &r, "--no-daemon", "--format", "json"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        registry_saw(&v),
        (env.registry_requests(&repo) - before) as u64,
        "{v}"
    );
    let log = std::fs::read_to_string(&env.registry_log).unwrap();
    let probes = log
        .lines()
        .filter(|l| l.contains("\"GET /v2/ HTTP/1.1\"") && l.contains("runref/"))
        .count();
    assert_eq!(probes, 0, "runref sent a /v2/ probe");
}

/// An image loaded into the daemon (a tag, no RepoDigest) whose content is also in the
/// registry: the restorer's per-arch digest names a manifest with this image's config, so it
/// is not daemon-only (a newcomer got "exists only in this daemon"); reconcile proves it by the
/// config, and diagnose now says what reconcile does.
#[test]
fn diagnose_a_loaded_image_whose_content_the_registry_has() {
    let env = Env::get();
    let repo = format!("{}/{}", env.registry, unique("diag-loaded"));
    let spec = ImageSpec::new("linux/amd64");
    let salt = unique("loaded");
    let built = crate::support::fixture::build_single(&spec, &salt, "v1");
    push(&built, "v1", &format!("{repo}:v1"));
    let (archive, loaded) = docker_archive(&spec, &salt, &[&format!("{repo}:v1")]);
    assert_eq!(
        loaded.config_digest, built.images[0].config_digest,
        "the same image"
    );
    load(&connect(&env.docker_host), archive);
    let (_d, path) = analyzed_file(&format!(
        "[run-image]\n  reference = \"{repo}@{}\"\n",
        built.index_digest
    ));
    let p = path.to_str().unwrap();
    let (code, j) = run_json(&[
        "diagnose",
        p,
        "--platform",
        "linux/amd64",
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{j}");
    assert_eq!(j["cause"], "per-arch-digest-not-in-daemon", "{j}");
    let (code, r) = run_json(&[
        "reconcile",
        p,
        "--daemon",
        "--platform",
        "linux/amd64",
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["after"], loaded.config_digest.hex(), "{r}");
}
