//! Real BuildKit images: `docker buildx build` (docker driver, Engine 28.5) of `FROM scratch` +
//! `COPY` of Debian's static busybox for six architectures, with `--provenance=mode=max`
//! attestations and `--metadata-file`, pushed to the test registry. Built once per test run.

use crate::support::engines::ENGINES;
use crate::support::fixture::unique;
use crate::support::*;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Debian architecture, the directory buildx's TARGETARCH+TARGETVARIANT names, the platform.
const ARCHES: &[(&str, &str, &str)] = &[
    ("amd64", "amd64", "linux/amd64"),
    ("arm64", "arm64", "linux/arm64"),
    ("armhf", "armv7", "linux/arm/v7"),
    ("ppc64el", "ppc64le", "linux/ppc64le"),
    ("s390x", "s390x", "linux/s390x"),
    ("i386", "386", "linux/386"),
];

struct Built {
    /// `host:port/repo` (no tag).
    repo: String,
    metadata: PathBuf,
    index_digest: String,
    _dir: tempfile::TempDir,
}

fn built() -> &'static Built {
    static B: OnceLock<Built> = OnceLock::new();
    B.get_or_init(|| build(None))
}

/// The same six-architecture image with BuildKit's layer compression (`zstd`, `estargz`,
/// `uncompressed`), each built once per test run (issue 21).
fn built_with(compression: &'static str) -> &'static Built {
    static B: OnceLock<std::sync::Mutex<Vec<(&'static str, &'static Built)>>> = OnceLock::new();
    let all = B.get_or_init(Default::default);
    let mut all = all.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, b)) = all.iter().find(|(c, _)| *c == compression) {
        return b;
    }
    let b: &'static Built = Box::leak(Box::new(build(Some(compression))));
    all.push((compression, b));
    b
}

fn build(compression: Option<&str>) -> Built {
    let env = Env::get();
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    for (deb, target, _) in ARCHES {
        let d = ctx.join("bin").join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(
            env.busybox_dir.join(deb).join("x/bin/busybox"),
            d.join("busybox"),
        )
        .unwrap_or_else(|e| panic!("busybox-static:{deb} (scripts/test-env fetches it): {e}"));
    }
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nARG TARGETARCH\nARG TARGETVARIANT\nCOPY bin/${TARGETARCH}${TARGETVARIANT}/busybox /bin/busybox\n",
    )
    .unwrap();
    let repo = format!(
        "{}/{}",
        env.registry,
        unique(&format!(
            "buildkit{}",
            compression.map_or(String::new(), |c| format!("-{c}"))
        ))
    );
    let metadata = dir.path().join("metadata.json");
    let platforms: Vec<&str> = ARCHES.iter().map(|a| a.2).collect();
    let mut cmd = std::process::Command::new(&env.docker_cli);
    cmd.env("DOCKER_CONFIG", &env.docker_config)
        .env("DOCKER_HOST", &env.docker28_host)
        .args(["buildx", "build", "--platform", &platforms.join(",")])
        .args(["--provenance=mode=max", "--metadata-file"])
        .arg(&metadata);
    match compression {
        None => cmd.args(["--push", "-t", &format!("{repo}:v1")]),
        Some(c) => cmd.arg("--output").arg(format!(
            "type=image,name={repo}:v1,push=true,compression={c},force-compression=true,registry.insecure=true"
        )),
    };
    let out = cmd.arg(&ctx).output().expect("docker buildx runs");
    assert!(
        out.status.success(),
        "buildx build ({compression:?}) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: Value = serde_json::from_slice(&std::fs::read(&metadata).unwrap()).unwrap();
    Built {
        repo,
        index_digest: m["containerimage.digest"].as_str().unwrap().to_string(),
        metadata,
        _dir: dir,
    }
}

/// `runref index create TARGET PARTS... --content`, its output and JSON.
fn join_with_content(target: &str, parts: &[String]) -> (std::process::Output, Value) {
    let mut args = vec!["index", "create", target];
    args.extend(parts.iter().map(String::as_str));
    args.push("--content");
    runref_json("unix:///nonexistent.sock", &args)
}

/// The layer media types of one platform's manifest, read with curl (not runref).
fn layer_types(repo: &str, index_digest: &str, platform: &str) -> Vec<String> {
    let get = |r: &str| -> Value {
        let (host, path) = repo.split_once('/').unwrap();
        let out = std::process::Command::new("curl")
            .args([
                "-sf",
                "-H",
                &format!(
                    "Accept: {}, {}",
                    runref::model::manifest::OCI_INDEX,
                    runref::model::manifest::OCI_MANIFEST
                ),
            ])
            .arg(format!("http://{host}/v2/{path}/manifests/{r}"))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let index = get(index_digest);
    let (os, rest) = platform.split_once('/').unwrap();
    let arch = rest.split('/').next().unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["os"] == os && m["platform"]["architecture"] == arch)
        .unwrap();
    let m = get(entry["digest"].as_str().unwrap());
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap().to_string())
        .collect()
}

/// Issue 21: BuildKit's zstd and uncompressed layers, six real architectures each (estargz:
/// Debian sid's BuildKit in Engine 28.5.2 panics, "footer buffer = 48, not 51", and takes
/// dockerd down; it is tested with a layer of the same shape in `inproc`):
/// `verify --content` proves every platform (busybox's ELF machine), a full `copy` keeps the
/// digest (and proves content before tagging), `index create` joins zstd sources. The
/// uncompressed image is verified 50 times in a row: its old failure depended on chunking.
#[test]
fn zstd_and_uncompressed_layers_are_proven_copied_and_joined() {
    let env = Env::get();
    let all: Vec<&str> = ARCHES.iter().map(|a| a.2).collect();
    for (compression, media_type) in [
        ("zstd", "application/vnd.oci.image.layer.v1.tar+zstd"),
        ("uncompressed", "application/vnd.oci.image.layer.v1.tar"),
    ] {
        let b = built_with(compression);
        assert_eq!(
            layer_types(&b.repo, &b.index_digest, "linux/arm64"),
            [media_type],
            "{compression}: buildx wrote these layers"
        );
        let at = format!("{}@{}", b.repo, b.index_digest);
        let runs = if compression == "uncompressed" { 50 } else { 1 };
        for run in 0..runs {
            let (o, j) = runref_json(
                "unix:///nonexistent.sock",
                &["verify", &at, "--platforms", &all.join(","), "--content"],
            );
            assert_eq!(o.status.code(), Some(0), "{compression} run {run}: {j}");
            for p in j["platforms"].as_array().unwrap() {
                assert_eq!(
                    p["content"]["verdict"], "proven",
                    "{compression} run {run}: {p}"
                );
            }
        }
        let target = format!(
            "{}/{}",
            env.registry,
            unique(&format!("copy-{compression}"))
        );
        let (o, j) = runref_json(
            "unix:///nonexistent.sock",
            &["copy", &at, &format!("{target}:v1"), "--content"],
        );
        assert_eq!(o.status.code(), Some(0), "{compression}: {j}");
        assert_eq!(j["digest_preserved"], true, "{compression}: {j}");
        assert_eq!(j["tags_moved"], true, "{compression}: {j}");
    }
    // index create joins zstd sources (two platforms split off by copy, then joined).
    let z = built_with("zstd");
    let mut parts = vec![];
    for p in ["linux/amd64", "linux/arm64"] {
        let part = format!("{}/{}", env.registry, unique("zstd-part"));
        let (o, j) = runref_json(
            "unix:///nonexistent.sock",
            &[
                "copy",
                &format!("{}@{}", z.repo, z.index_digest),
                &format!("{part}:v1"),
                "--platforms",
                p,
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{j}");
        parts.push(format!("{part}:v1"));
    }
    let (o, j) = join_with_content(
        &format!("{}/{}:v1", env.registry, unique("zstd-joined")),
        &parts,
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["readback"]["content"], true, "{j}");
}

#[test]
fn verify_proves_six_architectures_from_the_buildx_metadata() {
    let b = built();
    let all: Vec<&str> = ARCHES.iter().map(|a| a.2).collect();
    let (o, j) = runref_json(
        "unix:///nonexistent.sock",
        &[
            "verify",
            "--metadata-file",
            b.metadata.to_str().unwrap(),
            "--platforms",
            &all.join(","),
            "--content",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["verified"], true);
    assert_eq!(
        j["verified_digest"],
        format!("{}@{}", b.repo, b.index_digest)
    );
    assert_eq!(
        j["attestations_ignored"], 6,
        "one provenance attestation per platform"
    );
    for p in j["platforms"].as_array().unwrap() {
        assert_eq!(p["content"]["verdict"], "proven", "{p}");
        assert_eq!(p["platform"], p["config_platform"], "{p}");
    }
    // Two expected platforms only: the other four are reported, each by name.
    let (o, j) = runref_json(
        "unix:///nonexistent.sock",
        &[
            "verify",
            &format!("{}@{}", b.repo, b.index_digest),
            "--platforms",
            "linux/amd64,linux/arm64",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let unexpected = j["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "unexpected")
        .count();
    assert_eq!(unexpected, 4, "{j}");
}

#[test]
fn inspect_shows_every_attestation_with_its_subject() {
    let b = built();
    let (o, j) = runref_json(
        "unix:///nonexistent.sock",
        &["inspect", "--no-daemon", &format!("{}:v1", b.repo)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let entries = j["registry"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 12);
    let runnable: Vec<&str> = entries
        .iter()
        .filter(|e| e["attestation"] == false)
        .map(|e| e["digest"].as_str().unwrap())
        .collect();
    assert_eq!(runnable.len(), 6);
    for a in entries.iter().filter(|e| e["attestation"] == true) {
        assert_eq!(a["platform"], "unknown/unknown");
        assert!(runnable.contains(&a["attests"].as_str().unwrap()), "{a}");
    }
    // No daemon reachable (and not told --no-daemon): the registry side, the daemon's error,
    // exit 0.
    let (o, j) = runref_json(
        "unix:///nonexistent.sock",
        &["inspect", &format!("{}:v1", b.repo)],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert!(j["daemon"].is_null());
    assert!(
        j["daemon_error"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{j}"
    );
    assert_eq!(j["registry"]["entries"].as_array().unwrap().len(), 12);
}

/// The BuildKit image's arm64 entry, pulled on every engine: reconcile under never writes a
/// reference the exporter finds as arm64, and diagnose agrees.
#[test]
fn buildkit_image_reconciles_on_every_engine() {
    let b = built();
    let (_, view) = runref_json(
        "unix:///nonexistent.sock",
        &[
            "inspect",
            "--no-daemon",
            &format!("{}@{}", b.repo, b.index_digest),
        ],
    );
    let arm = view["registry"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["platform"] == "linux/arm64")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let env = Env::get();
    for engine in ENGINES {
        let host = engine.host(env);
        pull(&connect(host), &format!("{}:v1", b.repo), "linux/arm64");
        let (_d, path) = analyzed_file(&format!(
            "[run-image]\n  reference = \"{}@{arm}\"\n",
            b.repo
        ));
        let p = path.to_str().unwrap();
        let (o, j) = runref_json(
            host,
            &[
                "reconcile",
                p,
                "--daemon",
                "--pull-policy",
                "never",
                "--platform",
                "linux/arm64",
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}: {}", engine.name, stderr(&o));
        let written = j["after"].as_str().unwrap();
        assert_eq!(
            exporter_lookup(host, written).as_deref(),
            Some("linux/arm64"),
            "{}: {j}",
            engine.name
        );
        let (o, j) = runref_json(host, &["diagnose", p, "--platform", "linux/arm64"]);
        assert_eq!(j["export_will_work"], true, "{}: {j}", engine.name);
        assert_eq!(o.status.code(), Some(0));
    }
}

/// Real BuildKit content through copy and index create: the six-architecture image split into
/// two per-arch images (each with its provenance attestation), then put back together. The
/// result has exactly the original entries for those platforms, attestations pointing inside,
/// and busybox proven by content.
#[test]
fn buildkit_image_split_by_copy_and_joined_by_index_create() {
    let b = built();
    let env = Env::get();
    let source = format!("{}@{}", b.repo, b.index_digest);
    let mut parts = Vec::new();
    for p in ["linux/arm/v7", "linux/s390x"] {
        let part = format!("{}/{}:v1", env.registry, unique("buildkit-part"));
        let (o, j) = runref_json(
            "unix:///nonexistent.sock",
            &["copy", &source, &part, "--platforms", p, "--content"],
        );
        assert_eq!(o.status.code(), Some(0), "{j}\n{}", stderr(&o));
        assert_eq!(
            j["entries"].as_array().unwrap().len(),
            2,
            "image + attestation: {j}"
        );
        parts.push(part);
    }
    let joined = format!("{}/{}:v1", env.registry, unique("buildkit-joined"));
    let (o, j) = join_with_content(&joined, &parts);
    assert_eq!(o.status.code(), Some(0), "{j}\n{}", stderr(&o));
    assert_eq!(j["verified"], true);
    let (_, original) = runref_json(
        "unix:///nonexistent.sock",
        &["inspect", "--no-daemon", &source],
    );
    let (_, result) = runref_json(
        "unix:///nonexistent.sock",
        &["inspect", "--no-daemon", j["reference"].as_str().unwrap()],
    );
    let digests = |v: &Value, keep: &dyn Fn(&Value) -> bool| {
        let mut d: Vec<String> = v["registry"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| keep(e))
            .map(|e| e["digest"].as_str().unwrap().to_string())
            .collect();
        d.sort();
        d
    };
    let wanted: Vec<String> = digests(&original, &|e| {
        e["platform"] == "linux/arm/v7" || e["platform"] == "linux/s390x"
    });
    let attests: Vec<String> = digests(&original, &|e| {
        e["attestation"] == true
            && wanted
                .iter()
                .any(|w| e["attests"].as_str() == Some(w.as_str()))
    });
    let mut all = [wanted.clone(), attests].concat();
    all.sort();
    assert_eq!(digests(&result, &|_| true), all, "{result}");
}
