//! OCI image layouts (issue 23) as `copy` and `index create` source and target and as the
//! subject of `verify` and `inspect`: `oci:DIR[:TAG]`, skopeo's syntax. What runref writes,
//! skopeo and crane read, and the other way round, digests kept; a copy into a layout run
//! again writes nothing.

use crate::support::fixture::{push_new, unique, IndexSpec};
use crate::support::*;

const NO_DAEMON: &str = "unix:///nonexistent.sock";

fn ok(o: std::process::Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}\n{}", stdout(&o), stderr(&o));
    stdout(&o)
}

fn skopeo(args: &[&str]) -> String {
    let o = std::process::Command::new("skopeo")
        .args(args)
        .output()
        .unwrap();
    ok(o, "skopeo")
}

#[test]
fn layouts_written_and_read_by_runref_skopeo_and_crane() {
    let env = Env::get();
    let (src, built) = push_new(
        "layout",
        IndexSpec::new("layout", &["linux/amd64", "linux/arm64"]).with_attestations(),
    );
    let index = built.index_digest.to_string();
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name).display().to_string();

    // runref writes a layout; skopeo and crane read it, digest kept.
    let mine = at("mine");
    let (o, j) = runref_json(
        NO_DAEMON,
        &["copy", &format!("{src}:v1"), &format!("oci:{mine}:v1")],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["digest"], index.as_str(), "{j}");
    assert_eq!(j["digest_preserved"], true);
    assert_eq!(j["reference"], format!("oci:{mine}@{index}"), "{j}");
    let raw = skopeo(&["inspect", "--raw", &format!("oci:{mine}:v1")]);
    assert_eq!(
        runref::model::digest::Digest::of(raw.as_bytes()).to_string(),
        index
    );
    let pushed = format!("{}/{}:v1", env.registry, unique("layout-crane"));
    ok(
        peer("crane", &["push", "--insecure", &mine, &pushed], &[]),
        "crane push",
    );
    let digest = ok(
        peer("crane", &["digest", "--insecure", &pushed], &[]),
        "crane digest",
    );
    assert_eq!(digest.trim(), index);
    // Again: the tag names the digest already; nothing written.
    let (o, j) = runref_json(
        NO_DAEMON,
        &["copy", &format!("{src}:v1"), &format!("oci:{mine}:v1")],
    );
    assert_eq!(
        (o.status.code(), j["up_to_date"].as_bool()),
        (Some(0), Some(true)),
        "{j}"
    );

    // skopeo writes a layout; runref verifies it and copies it out, digest kept.
    let theirs = at("theirs");
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        &format!("docker://{src}:v1"),
        &format!("oci:{theirs}:v1"),
    ]);
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "verify",
            &format!("oci:{theirs}:v1"),
            "--platforms",
            "linux/amd64,linux/arm64",
            "--content",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    let out = format!("{}/{}:v1", env.registry, unique("layout-out"));
    let (o, j) = runref_json(NO_DAEMON, &["copy", &format!("oci:{theirs}:v1"), &out]);
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["digest"], index.as_str(), "{j}");

    // crane writes a layout without tags: oci:DIR names its one image (skopeo's rule).
    let craned = at("craned");
    ok(
        peer(
            "crane",
            &[
                "pull",
                "--insecure",
                "--format",
                "oci",
                &format!("{src}:v1"),
                &craned,
            ],
            &[],
        ),
        "crane pull",
    );
    let (o, j) = runref_json(
        NO_DAEMON,
        &["inspect", &format!("oci:{craned}"), "--no-referrers"],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["registry"]["digest"], index.as_str(), "{j}");
    assert!(
        j["daemon"].is_null(),
        "a layout is never a daemon's image: {j}"
    );

    // index create into a layout, from a layout and a registry (the arm64 image given twice:
    // the later wins); skopeo reads the result, digest as runref made it.
    let arm = format!("{src}@{}", built.image("linux/arm64").manifest_digest);
    let made = at("made");
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "index",
            "create",
            &format!("oci:{made}:multi"),
            &format!("oci:{theirs}:v1"),
            &arm,
            "--replace",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    let raw = skopeo(&["inspect", "--raw", &format!("oci:{made}:multi")]);
    assert_eq!(
        runref::model::digest::Digest::of(raw.as_bytes()).to_string(),
        j["digest"].as_str().unwrap()
    );
    let listed: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        listed["manifests"].as_array().unwrap().len(),
        j["entries"].as_array().unwrap().len(),
        "{listed}"
    );

    // A layout target needs a tag: an untagged manifest would be listed nowhere.
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "copy",
            &format!("{src}@{index}"),
            &format!("oci:{}", at("untagged")),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{j}");
    assert!(
        j["error"].as_str().unwrap_or("").contains("oci:DIR:TAG"),
        "{j}"
    );
    // Two tags of two images, and no tag given: refused, naming them (skopeo refuses too).
    let (o, _) = runref_json(NO_DAEMON, &["copy", &arm, &format!("oci:{mine}:arm")]);
    assert_eq!(o.status.code(), Some(0));
    let (o, j) = runref_json(
        NO_DAEMON,
        &["inspect", &format!("oci:{mine}"), "--no-referrers"],
    );
    assert_eq!(o.status.code(), Some(1), "{j}");
    let why = j["registry_error"].as_str().unwrap_or("");
    assert!(why.contains("v1") && why.contains("arm"), "{j}");

    // oras lists a referrer inside a layout (an untagged index.json entry naming its subject):
    // runref sees it, requires it, and carries it out.
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("sbom.json"), "{}").unwrap();
    let o = std::process::Command::new(env.peers_bin.join("oras"))
        .current_dir(work.path())
        .args([
            "attach",
            "--oci-layout",
            &format!("{theirs}:v1"),
            "--artifact-type",
        ])
        .args(["application/spdx+json", "sbom.json:application/spdx+json"])
        .output()
        .unwrap();
    ok(o, "oras attach --oci-layout");
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "verify",
            &format!("oci:{theirs}:v1"),
            "--require-referrer",
            "application/spdx+json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    let out2 = format!("{}/{}:v1", env.registry, unique("layout-sbom"));
    let (o, j) = runref_json(NO_DAEMON, &["copy", &format!("oci:{theirs}:v1"), &out2]);
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["referrers"]["referrers"], 1, "the SBOM goes too: {j}");

    // A directory that holds something else is never written into.
    let other = at("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(format!("{other}/notes.txt"), "mine").unwrap();
    let (o, j) = runref_json(
        NO_DAEMON,
        &["copy", &format!("{src}:v1"), &format!("oci:{other}:v1")],
    );
    assert_eq!(o.status.code(), Some(1), "{j}");
    assert!(
        j["error"]
            .as_str()
            .unwrap_or("")
            .contains("not an OCI image layout"),
        "{j}"
    );
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);
}
