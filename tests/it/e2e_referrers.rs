//! Referrers (issue 22) with the real clients from Debian sid against the real registry
//! (distribution 2.8: no referrers API, so cosign and oras use the tag schema): cosign signs in
//! both its formats (a sigstore bundle as a referrer of the index, the legacy `.sig` tag of an
//! entry), oras attaches an SBOM and a signature of that SBOM. runref inspect shows them,
//! verify can require them, copy carries them (within a registry and to the private-CA one),
//! and on each mirror `cosign verify` and `oras discover` give what they give on the source;
//! crane's copy of the same image, beside it, drops them.

use crate::support::fixture::{push_new, unique, IndexSpec};
use crate::support::*;

const NO_DAEMON: &str = "unix:///nonexistent.sock";
const SBOM: &str = "application/spdx+json";
const SBOM_SIG: &str = "application/vnd.example.sbom-signature";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

pub(crate) struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    pub(crate) fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let o = std::process::Command::new(Env::get().peers_bin.join("cosign"))
            .args(["generate-key-pair"])
            .current_dir(dir.path())
            .env("COSIGN_PASSWORD", "")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "cosign generate-key-pair: {}",
            stderr(&o)
        );
        Keys { dir }
    }
    fn key(&self) -> String {
        self.dir
            .path()
            .join("cosign.key")
            .to_str()
            .unwrap()
            .to_string()
    }
    fn public(&self) -> String {
        self.dir
            .path()
            .join("cosign.pub")
            .to_str()
            .unwrap()
            .to_string()
    }
}

pub(crate) fn ok(o: std::process::Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}\n{}", stdout(&o), stderr(&o));
    stdout(&o)
}

pub(crate) fn sign(keys: &Keys, image: &str, bundle: bool) {
    let fmt = format!("--new-bundle-format={bundle}");
    let o = peer(
        "cosign",
        &[
            "sign",
            "--key",
            &keys.key(),
            "--use-signing-config=false",
            "--tlog-upload=false",
            &fmt,
            "--allow-http-registry",
            "--allow-insecure-registry",
            "-y",
            image,
        ],
        &[("COSIGN_PASSWORD", "")],
    );
    ok(o, "cosign sign");
}

/// `cosign verify --key` of `image`: true when a signature verifies.
fn cosign_verifies(keys: &Keys, image: &str, envs: &[(&str, &str)]) -> bool {
    peer(
        "cosign",
        &[
            "verify",
            "--key",
            &keys.public(),
            "--insecure-ignore-tlog",
            "--allow-http-registry",
            "--allow-insecure-registry",
            image,
        ],
        envs,
    )
    .status
    .success()
}

/// Attaches `file` of `artifact_type` to `subject` with oras; returns the referrer's digest.
pub(crate) fn attach(subject: &str, artifact_type: &str, plain: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("file.json");
    std::fs::write(&f, format!("{{\"kind\":\"{artifact_type}\"}}")).unwrap();
    let mut args = vec![
        "attach",
        "--artifact-type",
        artifact_type,
        "--format",
        "json",
    ];
    if plain {
        args.push("--plain-http");
    }
    args.push(subject);
    let spec = format!("file.json:{artifact_type}");
    args.push(&spec);
    let out = std::process::Command::new(Env::get().peers_bin.join("oras"))
        .args(&args)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_str(&ok(out, "oras attach")).unwrap();
    j["digest"].as_str().unwrap().to_string()
}

/// `curl -sf ARGS`: its output (the test fails on an HTTP error).
fn curl(args: &[&str]) -> String {
    let o = std::process::Command::new("curl")
        .args(["-sf"])
        .args(args)
        .output()
        .unwrap();
    ok(o, "curl")
}

/// PUTs `body` as a manifest of `media_type` at `http://REGISTRY/v2/PATH/manifests/TAIL`.
fn put_manifest(repo: &str, tail: &str, media_type: &str, body: &str) {
    let (registry, path) = repo.split_once('/').unwrap();
    let content_type = format!("Content-Type: {media_type}");
    let url = format!("http://{registry}/v2/{path}/manifests/{tail}");
    curl(&[
        "-X",
        "PUT",
        "-H",
        &content_type,
        "--data-binary",
        body,
        &url,
    ]);
}

/// `runref verify IMAGE --platforms linux/amd64,linux/arm64 --require-referrer TYPE`, JSON.
fn require(image: &str, artifact_type: &str) -> (std::process::Output, serde_json::Value) {
    let args = [
        "verify",
        image,
        "--platforms",
        "linux/amd64,linux/arm64",
        "--require-referrer",
        artifact_type,
    ];
    runref_json(NO_DAEMON, &args)
}

/// `runref copy SRC:v1 DST:v1 --referrers WHICH`, JSON.
fn copy_referrers(src: &str, dst: &str, which: &str) -> (std::process::Output, serde_json::Value) {
    let (s, d) = (format!("{src}:v1"), format!("{dst}:v1"));
    runref_json(NO_DAEMON, &["copy", &s, &d, "--referrers", which])
}

/// Every referrer digest `oras discover` lists for `image`, recursively.
fn oras_discover(image: &str, plain: bool, envs: &[(&str, &str)]) -> Vec<String> {
    let mut args = vec!["discover", "--format", "json"];
    if plain {
        args.push("--plain-http");
    }
    args.push(image);
    let j: serde_json::Value =
        serde_json::from_str(&ok(peer("oras", &args, envs), "oras discover")).unwrap();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        for r in v["referrers"].as_array().into_iter().flatten() {
            out.push(r["digest"].as_str().unwrap_or("").to_string());
            walk(r, out);
        }
    }
    let mut out = Vec::new();
    walk(&j, &mut out);
    out.sort();
    out
}

#[test]
fn copy_carries_what_cosign_and_oras_attached() {
    let env = Env::get();
    let keys = Keys::new();
    let (src, built) = push_new(
        "signed",
        IndexSpec::new("signed", &["linux/amd64", "linux/arm64"]).with_attestations(),
    );
    let index = format!("{src}@{}", built.index_digest);
    let amd = format!("{src}@{}", built.image("linux/amd64").manifest_digest);
    sign(&keys, &index, true);
    sign(&keys, &amd, false);
    let sbom = attach(&index, SBOM, true);
    let sbom_sig = attach(&format!("{src}@{sbom}"), SBOM_SIG, true);
    let on_source = oras_discover(&index, true, &[]);
    assert_eq!(
        on_source.len(),
        3,
        "bundle, SBOM, its signature: {on_source:?}"
    );

    // inspect shows them under the index, the SBOM's signature under the SBOM, and the
    // entry's cosign tag.
    let (o, j) = runref_json(NO_DAEMON, &["inspect", &format!("{src}:v1"), "--no-daemon"]);
    assert_eq!(o.status.code(), Some(0), "{j}");
    let refs = j["referrers"].to_string();
    for want in [
        SBOM,
        SBOM_SIG,
        BUNDLE,
        sbom.as_str(),
        sbom_sig.as_str(),
        ".sig",
    ] {
        assert!(refs.contains(want), "{want} in {refs}");
    }
    let text = stdout(&runref(
        NO_DAEMON,
        &["inspect", &format!("{src}:v1"), "--no-daemon"],
    ));
    assert!(
        text.contains("referrers of") && text.contains("cosign tag"),
        "{text}"
    );

    // verify --require-referrer: present on the index passes; a type nobody attached fails
    // with referrer-missing for each platform.
    let (o, j) = require(&index, SBOM);
    assert_eq!(o.status.code(), Some(0), "{j}");
    let (o, j) = require(&index, "application/vnd.in-toto+json");
    assert_eq!(o.status.code(), Some(1), "{j}");
    let kinds: Vec<&str> = j["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["referrer-missing", "referrer-missing"], "{j}");
    // The SBOM's signature names the SBOM, not the image: it does not satisfy a requirement
    // on the image (the newcomer pass found it counted).
    let (o, j) = require(&index, SBOM_SIG);
    assert_eq!(o.status.code(), Some(1), "{j}");
    // A type is a media type: a typo is a usage error, not a silent mismatch.
    let o = runref(NO_DAEMON, &["verify", &index, "--require-referrer", "spdx"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // copy within the registry and to the private-CA registry: cosign and oras see on each
    // mirror what they see on the source.
    let ca = env.registry_pki.join("ca.crt");
    let tls_env = [("SSL_CERT_FILE", ca.to_str().unwrap())];
    let mirrors = [
        (
            format!("{}/{}", env.registry, unique("signed-mirror")),
            true,
            &[][..],
        ),
        (
            format!(
                "{}:{}/{}",
                env.tls_name,
                env.tls_port,
                unique("signed-mirror")
            ),
            false,
            &tls_env[..],
        ),
    ];
    for (mirror, plain, envs) in &mirrors {
        let (o, j) = runref_json(
            NO_DAEMON,
            &["copy", &format!("{src}:v1"), &format!("{mirror}:v1")],
        );
        assert_eq!(o.status.code(), Some(0), "{mirror}: {j}");
        assert_eq!(j["referrers"]["referrers"], 3, "{j}");
        assert_eq!(j["referrers"]["cosign_tags"], 1, "{j}");
        assert_eq!(
            j["referrers"]["missing"].as_array().unwrap().len(),
            0,
            "{j}"
        );
        let at = format!("{mirror}@{}", built.index_digest);
        assert!(
            cosign_verifies(&keys, &at, envs),
            "cosign verify of the bundle on {mirror}"
        );
        let amd_at = format!("{mirror}@{}", built.image("linux/amd64").manifest_digest);
        assert!(
            cosign_verifies(&keys, &amd_at, envs),
            "cosign verify of the .sig tag on {mirror}"
        );
        assert_eq!(
            oras_discover(&at, *plain, envs),
            on_source,
            "oras discover on {mirror}"
        );
    }

    // Again: everything is there, nothing written (the fallback index already lists them).
    let (o, j) = copy_referrers(&src, &mirrors[0].0, "all");
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["referrers"]["fallback_tags_written"], 0, "{j}");
    assert_eq!(
        j["referrers"]["already_there"], 4,
        "3 referrers and the .sig: {j}"
    );
    let puts = j["registry_requests"].as_u64().unwrap();
    assert!(
        puts < 20,
        "a re-run reads listings, not every referrer again: {j}"
    );

    // The target signs the entry itself (cosign appends to its .sig): a copy run again never
    // overwrites the target's tag, says so, and exits 1.
    let mirror_amd = format!(
        "{}@{}",
        mirrors[0].0,
        built.image("linux/amd64").manifest_digest
    );
    let other = Keys::new();
    sign(&other, &mirror_amd, false);
    let tag = format!(
        "{}:sha256-{}.sig",
        mirrors[0].0,
        built.image("linux/amd64").manifest_digest.hex()
    );
    let before = ok(
        peer("crane", &["digest", "--insecure", &tag], &[]),
        "crane digest",
    );
    let (o, j) = copy_referrers(&src, &mirrors[0].0, "all");
    assert_eq!(o.status.code(), Some(1), "{j}");
    assert_eq!(
        j["referrers"]["conflicts"].as_array().unwrap().len(),
        1,
        "{j}"
    );
    let after = ok(
        peer("crane", &["digest", "--insecure", &tag], &[]),
        "crane digest",
    );
    assert_eq!(before, after, "the target's .sig is kept");
    assert!(
        cosign_verifies(&other, &mirror_amd, &[]),
        "the target's own signature"
    );

    // --referrers none carries none; crane's copy, the peer, drops them too.
    let bare = format!("{}/{}", env.registry, unique("unsigned-mirror"));
    let (o, j) = copy_referrers(&src, &bare, "none");
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert!(!cosign_verifies(
        &keys,
        &format!("{bare}@{}", built.index_digest),
        &[]
    ));
    let craned = format!("{}/{}", env.registry, unique("craned"));
    ok(
        peer(
            "crane",
            &[
                "copy",
                "--insecure",
                &format!("{src}:v1"),
                &format!("{craned}:v1"),
            ],
            &[],
        ),
        "crane copy",
    );
    assert!(
        oras_discover(&format!("{craned}@{}", built.index_digest), true, &[]).is_empty(),
        "crane copy drops the referrers"
    );

    // A platform subset (a new index) and index create keep the entries' digests, so the
    // entry's signature goes along; the old index's referrers do not (another digest).
    let amd_digest = built.image("linux/amd64").manifest_digest.to_string();
    let sub = format!("{}/{}", env.registry, unique("signed-subset"));
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "copy",
            &format!("{src}:v1"),
            &format!("{sub}:v1"),
            "--platforms",
            "linux/amd64",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["referrers"]["cosign_tags"], 1, "{j}");
    assert!(
        cosign_verifies(&keys, &format!("{sub}@{amd_digest}"), &[]),
        "subset"
    );
    let joined = format!("{}/{}", env.registry, unique("signed-joined"));
    let arm = format!("{src}@{}", built.image("linux/arm64").manifest_digest);
    let (o, j) = runref_json(
        NO_DAEMON,
        &["index", "create", &format!("{joined}:v1"), &amd, &arm],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["referrers"]["cosign_tags"], 1, "{j}");
    assert!(
        cosign_verifies(&keys, &format!("{joined}@{amd_digest}"), &[]),
        "index create"
    );

    // --referrers TYPE: only SBOMs (with their own signature).
    let sboms = format!("{}/{}", env.registry, unique("sbom-mirror"));
    let (o, j) = copy_referrers(&src, &sboms, SBOM);
    assert_eq!(o.status.code(), Some(0), "{j}");
    let mut want = vec![sbom.clone(), sbom_sig.clone()];
    want.sort();
    assert_eq!(
        oras_discover(&format!("{sboms}@{}", built.index_digest), true, &[]),
        want
    );
}

/// notation 1.3 (a test key and certificate it makes, in its own config directory): its
/// signature, a referrer by the tag schema on distribution 2.8, survives `runref copy`, and
/// `notation verify` passes on the mirror as on the source.
#[test]
fn a_notation_signature_survives_a_copy() {
    let env = Env::get();
    let cfg = tempfile::tempdir().unwrap();
    let xdg = [("XDG_CONFIG_HOME", cfg.path().to_str().unwrap())];
    ok(
        peer(
            "notation",
            &["cert", "generate-test", "--default", "runref-test"],
            &xdg,
        ),
        "notation cert generate-test",
    );
    std::fs::write(
        cfg.path().join("notation/trustpolicy.json"),
        r#"{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:runref-test"],"trustedIdentities":["*"]}]}"#,
    )
    .unwrap();
    let (src, built) = push_new(
        "notary",
        IndexSpec::new("notary", &["linux/amd64", "linux/arm64"]),
    );
    let at = |repo: &str| format!("{repo}@{}", built.index_digest);
    ok(
        peer(
            "notation",
            &["sign", "--insecure-registry", &at(&src)],
            &xdg,
        ),
        "notation sign",
    );
    let verify = |repo: &str| {
        peer(
            "notation",
            &["verify", "--insecure-registry", &at(repo)],
            &xdg,
        )
        .status
        .success()
    };
    assert!(verify(&src), "on the source");
    let mirror = format!("{}/{}", env.registry, unique("notary-mirror"));
    let (o, j) = runref_json(
        NO_DAEMON,
        &["copy", &format!("{src}:v1"), &format!("{mirror}:v1")],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["referrers"]["referrers"], 1, "{j}");
    assert!(verify(&mirror), "notation verify on the mirror: {j}");
    // inspect names it by its artifact type.
    let (_, j) = runref_json(
        NO_DAEMON,
        &["inspect", &format!("{mirror}:v1"), "--no-daemon"],
    );
    assert!(
        j["referrers"]
            .to_string()
            .contains("application/vnd.cncf.notary.signature"),
        "{j}"
    );
}

/// A fallback index that lists a manifest the registry no longer has (deleted after `oras
/// attach`): inspect shows it unreadable, verify does not count it, copy leaves it out with a
/// warning and carries the rest (found by the newcomer pass: copy failed after the tag moved).
/// A fallback index is written by clients and may list anything: an entry whose manifest
/// names another subject (another image's referrer, listed here by hand) neither satisfies
/// `--require-referrer` nor is carried; a referrer inspected by itself is an artifact, not an
/// image.
#[test]
fn a_dangling_or_foreign_referrer_is_left_out() {
    let env = Env::get();
    let (src, built) = push_new("dangling", IndexSpec::new("dangling", &["linux/amd64"]));
    let index = format!("{src}@{}", built.index_digest);
    let sbom = attach(&index, SBOM, true);
    let gone = attach(&index, "application/vnd.example.gone", true);
    let path = src.split_once('/').unwrap().1;
    // Another image's referrer, added to this index's fallback listing.
    let (other, other_built) = push_new("foreign", IndexSpec::new("foreign", &["linux/amd64"]));
    let foreign = attach(
        &format!("{other}@{}", other_built.index_digest),
        "application/vnd.example.foreign",
        true,
    );
    let base = format!("http://{}/v2/{path}/manifests", env.registry);
    let fallback = format!("{base}/sha256-{}", built.index_digest.hex());
    let index_type = "application/vnd.oci.image.index.v1+json";
    let accept = format!("Accept: {index_type}");
    let mut listing: serde_json::Value =
        serde_json::from_str(&curl(&["-H", &accept, &fallback])).unwrap();
    let other_path = other.split_once('/').unwrap().1;
    let foreign_bytes = curl(&[
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        &format!(
            "http://{}/v2/{other_path}/manifests/{foreign}",
            env.registry
        ),
    ]);
    // The manifest itself in this repository (its blobs mounted), so only its subject tells
    // it apart.
    let m: serde_json::Value = serde_json::from_str(&foreign_bytes).unwrap();
    for b in std::iter::once(&m["config"]).chain(m["layers"].as_array().unwrap()) {
        let d = b["digest"].as_str().unwrap();
        curl(&[
            "-X",
            "POST",
            &format!(
                "http://{}/v2/{path}/blobs/uploads/?mount={d}&from={other_path}",
                env.registry
            ),
        ]);
    }
    let content_type = "Content-Type: application/vnd.oci.image.manifest.v1+json";
    curl(&[
        "-X",
        "PUT",
        "-H",
        content_type,
        "--data-binary",
        &foreign_bytes,
        &format!("{base}/{foreign}"),
    ]);
    listing["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": foreign,
            "size": foreign_bytes.len(),
            "artifactType": "application/vnd.example.foreign",
        }));
    let content_type = format!("Content-Type: {index_type}");
    curl(&[
        "-X",
        "PUT",
        "-H",
        &content_type,
        "--data-binary",
        &listing.to_string(),
        &fallback,
    ]);
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "verify",
            &index,
            "--require-referrer",
            "application/vnd.example.foreign",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "a referrer of another image signs nothing here: {j}"
    );
    let (_, j) = runref_json(NO_DAEMON, &["inspect", &index]);
    let listed = j["referrers"][0]["referrers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let entry = listed.iter().find(|r| r["digest"] == foreign.as_str());
    assert_eq!(
        entry.map(|r| r["names_other_subject"].clone()),
        Some(serde_json::json!(other_built.index_digest.to_string())),
        "{j}"
    );
    let (o, j) = runref_json(NO_DAEMON, &["inspect", &format!("{src}@{sbom}")]);
    assert_eq!(o.status.code(), Some(0), "{j}");
    let why = j["registry"]["entries"][0]["error"].as_str().unwrap_or("");
    assert!(
        why.contains("an artifact of type application/spdx+json"),
        "an SBOM is not a runnable image: {j}"
    );
    assert!(j["registry"]["entries"][0]["platform"].is_null(), "{j}");
    let url = format!("http://{}/v2/{path}/manifests/{gone}", env.registry);
    assert_eq!(http_delete(&url), "202", "registry DELETE");
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "verify",
            &index,
            "--require-referrer",
            "application/vnd.example.gone",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "a gone referrer signs nothing: {j}"
    );
    let mirror = format!("{}/{}", env.registry, unique("dangling-mirror"));
    let (o, j) = runref_json(
        NO_DAEMON,
        &["copy", &format!("{src}:v1"), &format!("{mirror}:v1")],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(
        j["referrers"]["unreadable"],
        serde_json::json!([gone]),
        "{j}"
    );
    assert_eq!(
        j["referrers"]["foreign"],
        serde_json::json!([foreign]),
        "{j}"
    );
    assert_eq!(j["referrers"]["referrers"], 1, "the SBOM alone: {j}");
    let listed = oras_discover(&format!("{mirror}@{}", built.index_digest), true, &[]);
    assert_eq!(listed, [sbom], "the SBOM, not the gone or foreign one");
}

/// A copy onto a target that has the referrers API (an in-process registry that stores what is
/// pushed and indexes manifests by `subject`, as distribution-spec 1.1 says; distribution 2.8
/// has no API): the source's referrers (the real registry, tag schema, real cosign and oras)
/// arrive, the target lists them through its API, and no fallback tag is written.
#[test]
fn a_target_with_the_referrers_api_lists_what_was_carried() {
    use crate::support::fake_registry::{self, response, Reply};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let keys = Keys::new();
    let (src, built) = push_new("to-api", IndexSpec::new("to-api", &["linux/amd64"]));
    let index = format!("{src}@{}", built.index_digest);
    sign(&keys, &index, true);
    let sbom = attach(&index, SBOM, true);

    #[derive(Default)]
    struct Store {
        manifests: HashMap<String, (String, String)>,
        tags: HashMap<String, String>,
        blobs: HashMap<String, Vec<u8>>,
        uploads: usize,
        fallback_tags: usize,
    }
    let store = Arc::new(Mutex::new(Store::default()));
    // Its own worker thread: the fake serves while the CLI runs.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let s = store.clone();
    let addr = rt.block_on(fake_registry::serve(move |req| {
        let mut st = s.lock().unwrap();
        let (m, p) = (req.method.as_str(), req.path.as_str());
        let not_found = || {
            Reply::Full(response(
                "404 Not Found",
                &[("Content-Type", "application/json")],
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}"#,
            ))
        };
        let tail = p.strip_prefix("/v2/r/").unwrap_or("");
        if let Some(rest) = tail.strip_prefix("manifests/") {
            let key = st.tags.get(rest).cloned().unwrap_or_else(|| rest.to_string());
            return match m {
                "PUT" => {
                    let body = String::from_utf8_lossy(&req.body).to_string();
                    let digest = runref::model::digest::Digest::of(&req.body).to_string();
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                    let mt = v["mediaType"].as_str().unwrap_or("").to_string();
                    if !rest.starts_with("sha256:") {
                        if rest.starts_with("sha256-") {
                            st.fallback_tags += 1;
                        }
                        st.tags.insert(rest.to_string(), digest.clone());
                    }
                    st.manifests.insert(digest.clone(), (body, mt));
                    Reply::Full(response("201 Created", &[("Docker-Content-Digest", &digest)], ""))
                }
                _ => match st.manifests.get(&key) {
                    Some((body, mt)) => {
                        let body = if m == "HEAD" { "" } else { body.as_str() };
                        let h = [("Content-Type", mt.as_str()), ("Docker-Content-Digest", key.as_str())];
                        Reply::Full(response("200 OK", &h, body))
                    }
                    None => not_found(),
                },
            };
        }
        if let Some(subject) = tail.strip_prefix("referrers/") {
            let subject = subject.split('?').next().unwrap_or("");
            let listed: Vec<serde_json::Value> = st
                .manifests
                .iter()
                .filter_map(|(d, (body, mt))| {
                    let v: serde_json::Value = serde_json::from_str(body).ok()?;
                    (v["subject"]["digest"].as_str()? == subject).then(|| {
                        serde_json::json!({"mediaType": mt, "digest": d, "size": body.len(),
                            "artifactType": v["artifactType"].as_str().or(v["config"]["mediaType"].as_str())})
                    })
                })
                .collect();
            let body = serde_json::json!({"schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": listed});
            let h = [("Content-Type", "application/vnd.oci.image.index.v1+json")];
            return Reply::Full(response("200 OK", &h, &body.to_string()));
        }
        if tail.starts_with("tags/list") {
            let tags: Vec<&String> = st.tags.keys().collect();
            let body = serde_json::json!({"name": "r", "tags": tags}).to_string();
            return Reply::Full(response("200 OK", &[("Content-Type", "application/json")], &body));
        }
        if tail.starts_with("blobs/uploads/") {
            return match m {
                "POST" => {
                    st.uploads += 1;
                    let loc = format!("/v2/r/blobs/uploads/u{}", st.uploads);
                    Reply::Full(response("202 Accepted", &[("Location", &loc)], ""))
                }
                _ => {
                    let digest = p
                        .split("digest=")
                        .nth(1)
                        .unwrap_or("")
                        .replace("%3A", ":");
                    st.blobs.insert(digest.clone(), req.body.clone());
                    Reply::Full(response("201 Created", &[("Docker-Content-Digest", &digest)], ""))
                }
            };
        }
        if let Some(d) = tail.strip_prefix("blobs/") {
            return match st.blobs.get(d) {
                Some(_) if m == "HEAD" => Reply::Full(response("200 OK", &[], "")),
                Some(b) => Reply::Full(response("200 OK", &[], &String::from_utf8_lossy(b))),
                None => not_found(),
            };
        }
        not_found()
    }));
    let target = format!("{addr}/r:v1");
    let (o, j) = runref_json(NO_DAEMON, &["copy", &format!("{src}:v1"), &target]);
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["referrers"]["target_via"], "referrers-api", "{j}");
    assert_eq!(j["referrers"]["referrers"], 2, "{j}");
    assert_eq!(j["referrers"]["fallback_tags_written"], 0, "{j}");
    assert_eq!(
        j["referrers"]["missing"].as_array().unwrap().len(),
        0,
        "{j}"
    );
    let st = store.lock().unwrap();
    assert_eq!(st.fallback_tags, 0, "the API target gets no fallback tag");
    assert!(
        st.manifests.contains_key(&sbom),
        "the SBOM is on the target"
    );
    drop(rt);
}

/// Hostile or mistaken listings written by clients (newcomer pass): a fallback tag that is
/// junk, or an image, lists nothing and is said, and the copy goes on (it failed after its
/// tag had moved); an entry's SBOM listed by mistake under the index too stays the entry's
/// (it was hidden from its real subject and left behind); a cosign `.sig` tag naming a
/// runnable image is no signature; `--allow-extra` platforms need no referrers; a legacy
/// cosign signature inspected by itself is an artifact.
#[test]
fn misplaced_or_junk_listings_hide_nothing_and_prove_nothing() {
    let keys = Keys::new();
    let (src, built) = push_new(
        "hostile",
        IndexSpec::new("hostile", &["linux/amd64", "linux/arm64"]),
    );
    let index = format!("{src}@{}", built.index_digest);
    let arm = built.image("linux/arm64");
    let arm_at = format!("{src}@{}", arm.manifest_digest);
    let arm_sbom = attach(&arm_at, SBOM, true);
    attach(&index, BUNDLE, true);
    // The arm64 SBOM listed under the index as well.
    let index_type = "application/vnd.oci.image.index.v1+json";
    let (registry, path) = src.split_once('/').unwrap();
    let fallback_tag = format!("sha256-{}", built.index_digest.hex());
    let url = format!("http://{registry}/v2/{path}/manifests/{fallback_tag}");
    let mut listing: serde_json::Value =
        serde_json::from_str(&curl(&["-H", &format!("Accept: {index_type}"), &url])).unwrap();
    let arm_listing: serde_json::Value = serde_json::from_str(&curl(&[
        "-H",
        &format!("Accept: {index_type}"),
        &format!(
            "http://{registry}/v2/{path}/manifests/sha256-{}",
            arm.manifest_digest.hex()
        ),
    ]))
    .unwrap();
    listing["manifests"]
        .as_array_mut()
        .unwrap()
        .push(arm_listing["manifests"][0].clone());
    put_manifest(&src, &fallback_tag, index_type, &listing.to_string());
    // A `.sig` tag of the amd64 entry that names a runnable image, not a signature.
    let amd = built.image("linux/amd64");
    let bogus_sig = format!("sha256-{}.sig", amd.manifest_digest.hex());
    put_manifest(
        &src,
        &bogus_sig,
        "application/vnd.oci.image.manifest.v1+json",
        std::str::from_utf8(&arm.manifest).unwrap(),
    );
    let simplesigning = "application/vnd.dev.cosign.simplesigning.v1+json";
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "verify",
            &format!("{src}@{}", amd.manifest_digest),
            "--require-referrer",
            simplesigning,
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "an image under a .sig tag signs nothing: {j}"
    );
    // --allow-extra: only arm64 (asked for) needs its SBOM; amd64 has none.
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "verify",
            &index,
            "--platforms",
            "linux/arm64",
            "--allow-extra",
            "--require-referrer",
            SBOM,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    let mirror = format!("{}/{}", Env::get().registry, unique("hostile-mirror"));
    let (o, j) = runref_json(
        NO_DAEMON,
        &["copy", &format!("{src}:v1"), &format!("{mirror}:v1")],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["referrers"]["foreign"], serde_json::json!([]), "{j}");
    let on_arm = oras_discover(&format!("{mirror}@{}", arm.manifest_digest), true, &[]);
    assert_eq!(
        on_arm,
        std::slice::from_ref(&arm_sbom),
        "the arm64 SBOM stays arm64's on the mirror"
    );
    let on_index = oras_discover(&format!("{mirror}@{}", built.index_digest), true, &[]);
    assert!(
        !on_index.contains(&arm_sbom),
        "not under the index: {on_index:?}"
    );
    // Junk at a fallback tag: said, nothing else lost.
    let (other, other_built) = push_new("junk", IndexSpec::new("junk", &["linux/amd64"]));
    let other_index = format!("{other}@{}", other_built.index_digest);
    sign(&keys, &other_index, false);
    put_manifest(
        &other,
        &format!("sha256-{}", other_built.index_digest.hex()),
        index_type,
        r#"{"schemaVersion":2,"junk":true}"#,
    );
    let junk_mirror = format!("{}/{}", Env::get().registry, unique("junk-mirror"));
    let (o, j) = runref_json(
        NO_DAEMON,
        &["copy", &format!("{other}:v1"), &format!("{junk_mirror}:v1")],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    let why = j["referrers"]["source"][0]["listing_error"]
        .as_str()
        .unwrap_or("");
    assert!(why.contains("not an index of referrers"), "{j}");
    assert_eq!(j["referrers"]["cosign_tags"], 1, "the .sig still goes: {j}");
    assert!(cosign_verifies(
        &keys,
        &format!("{junk_mirror}@{}", other_built.index_digest),
        &[]
    ));
    // The legacy signature itself is an artifact, not an image.
    let sig = j["referrers"]["source"][0]["cosign_tags"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, i) = runref_json(NO_DAEMON, &["inspect", &format!("{other}@{sig}")]);
    let e = i["registry"]["entries"][0]["error"].as_str().unwrap_or("");
    assert!(e.contains(simplesigning), "{i}");
    assert_eq!(
        j["referrers"]["source"][0]["cosign_tags"][0]["artifact_type"], simplesigning,
        "{j}"
    );
}
