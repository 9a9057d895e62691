//! Private registries as Docker and podman reach them (issue 20), against the real TLS
//! registries of `scripts/test-env`: a private CA whose certificate sits in
//! `/etc/docker/certs.d/NAME:PORT/`, a registry that asks for a client certificate, a TLS
//! registry on a loopback port, and the plain-HTTP loopback registry reached after one HTTPS
//! attempt. The daemons pull from the same registries with the same certs.d; skopeo, which
//! reads the same directories, is the peer whose answers runref's must equal.

use crate::support::engines::ENGINES;
use crate::support::fixture::{push_new, unique, IndexSpec};
use crate::support::*;
use std::process::Command;

fn tls(env: &Env) -> String {
    format!("{}:{}", env.tls_name, env.tls_port)
}

fn mtls(env: &Env) -> String {
    format!("{}:{}", env.tls_name, env.mtls_port)
}

/// Requests in a TLS registry's access log that touch `path`.
fn tls_log_requests(env: &Env, registry: &str, path: &str) -> usize {
    let log = std::path::Path::new(&env.registry_log).with_file_name(format!("{registry}.log"));
    let needle = format!("/v2/{path}/");
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&needle) && l.contains("HTTP/"))
        .count()
}

/// The digest skopeo (containers/image, reading the same certs.d) sees for `image`.
fn skopeo_digest(image: &str, extra: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .args(extra)
        .arg(format!("docker://{image}"))
        .output()
        .expect("skopeo runs");
    assert!(
        out.status.success(),
        "skopeo inspect {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&out.stdout))
    )
}

fn runref_plain(args: &[&str]) -> std::process::Output {
    runref("unix:///nonexistent.sock", args)
}

/// `verify` of one amd64 image with `--cert-dir dir` (replacing certs.d).
fn verify_with_cert_dir(image: &str, dir: &str) -> std::process::Output {
    runref_plain(&[
        "verify",
        image,
        "--platforms",
        "linux/amd64",
        "--cert-dir",
        dir,
    ])
}

/// A directory holding exactly `files` from the environment's PKI.
fn cert_dir(env: &Env, files: &[&str]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for f in files {
        std::fs::copy(env.registry_pki.join(f), d.path().join(f)).unwrap();
    }
    d
}

#[test]
fn private_ca_registries_are_reached_with_the_daemons_certs_d() {
    let env = Env::get();
    let (src, built) = push_new(
        "tlssrc",
        IndexSpec::new("tlssrc", &["linux/amd64", "linux/arm64"]).with_attestations(),
    );
    let name = unique("tls");
    let target = format!("{}/{name}:v1", tls(env));

    // copy into the private-CA registry: its CA is found in /etc/docker/certs.d/NAME:PORT.
    let o = runref_plain(&["copy", &format!("{src}:v1"), &target, "--format", "json"]);
    let j = json_of(&o);
    assert_eq!(o.status.code(), Some(0), "{j}\n{}", stderr(&o));
    assert_eq!(j["digest"], built.index_digest.to_string(), "{j}");
    // The source is the plain loopback registry: one HTTPS attempt, then HTTP for the run.
    assert_eq!(j["registry_http_fallbacks"], 1, "{j}");
    // skopeo, reading the same certs.d, sees the same digest; so does crane (go-containerregistry
    // reads no certs.d: the CA goes in SSL_CERT_FILE, as Go's TLS reads it).
    assert_eq!(skopeo_digest(&target, &[]), built.index_digest.to_string());
    let ca = env.registry_pki.join("ca.crt");
    let o = peer(
        "crane",
        &["digest", &target],
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
    );
    assert!(o.status.success(), "crane: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), built.index_digest.to_string(), "crane");

    // verify by name: no fallback (the registry speaks HTTPS), every request in its log.
    let path = name.clone();
    let before = tls_log_requests(env, "registry-tls", &path);
    let o = runref_plain(&[
        "verify",
        &target,
        "--platforms",
        "linux/amd64,linux/arm64",
        "--format",
        "json",
    ]);
    let v = json_of(&o);
    assert_eq!(o.status.code(), Some(0), "{v}");
    assert_eq!(v["registry_http_fallbacks"], 0, "{v}");
    assert_eq!(
        v["registry_requests"].as_u64().unwrap() as usize,
        tls_log_requests(env, "registry-tls", &path) - before,
        "every request is one the registry logged: {v}"
    );

    // The tutorials' TLS registry on a loopback port: HTTPS first (unverified, as Docker does
    // for 127.0.0.0/8), so no "HTTP request to an HTTPS server".
    let loopback = format!("127.0.0.1:{}/{name}:v1", env.tls_port);
    let o = runref_plain(&[
        "verify",
        &loopback,
        "--platforms",
        "linux/amd64,linux/arm64",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // A CA this run does not trust (--cert-dir replaces certs.d): refused, with where to put
    // the CA and the insecure alternative.
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_str().unwrap();
    let o = verify_with_cert_dir(&target, dir);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains(&format!("/etc/docker/certs.d/{}/ca.crt", tls(env)))
            && e.contains(&format!("--insecure-registry {}", tls(env)))
            && e.contains("does not trust"),
        "{e}"
    );
    // ... which --insecure-registry lifts (no verification), as Docker's insecure-registries.
    let o = runref_plain(&[
        "verify",
        &target,
        "--platforms",
        "linux/amd64",
        "--allow-extra",
        "--cert-dir",
        dir,
        "--insecure-registry",
        &tls(env),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // The right CA, the wrong name: the certificate does not list this machine's address.
    let ca = cert_dir(env, &["ca.crt"]);
    let by_address = format!("{}:{}/{name}:v1", env.tls_address, env.tls_port);
    let o = runref_plain(&[
        "verify",
        &by_address,
        "--platforms",
        "linux/amd64",
        "--cert-dir",
        ca.path().to_str().unwrap(),
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("not issued for that name"), "{e}");
}

#[test]
fn a_registry_that_asks_for_a_client_certificate() {
    let env = Env::get();
    let (src, built) = push_new("mtlssrc", IndexSpec::new("mtlssrc", &["linux/amd64"]));
    let name = unique("mtls");
    let target = format!("{}/{name}:v1", mtls(env));
    // The client pair sits beside the CA in certs.d: copy and verify pass.
    let o = runref_plain(&["copy", &format!("{src}:v1"), &target]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = runref_plain(&["verify", &target, "--platforms", "linux/amd64"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        skopeo_digest(&target, &[]),
        built.index_digest.to_string(),
        "skopeo, with the same certs.d"
    );

    // Only the CA: the registry closes the connection; runref says where it looked.
    let ca = cert_dir(env, &["ca.crt"]);
    let dir = ca.path().to_str().unwrap();
    let o = verify_with_cert_dir(&target, dir);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("client certificate") && e.contains(dir), "{e}");

    // A .cert without its .key is an error naming both (moby's rule), before any request.
    let lonely = cert_dir(env, &["ca.crt", "client.cert"]);
    let dir = lonely.path().to_str().unwrap();
    let o = verify_with_cert_dir(&target, dir);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains(&format!("{dir}/client.cert")) && e.contains(&format!("{dir}/client.key")),
        "{e}"
    );
}

/// index create pushes into the private-CA registry from per-arch images of the plain one.
#[test]
fn index_create_pushes_to_a_private_ca_registry() {
    let env = Env::get();
    let (src, built) = push_new(
        "tlsjoin",
        IndexSpec::new("tlsjoin", &["linux/amd64", "linux/arm64"]),
    );
    let target = format!("{}/{}:v1", tls(env), unique("tlsjoined"));
    let amd = format!("{src}@{}", built.image("linux/amd64").manifest_digest);
    let arm = format!("{src}@{}", built.image("linux/arm64").manifest_digest);
    let o = runref_plain(&["index", "create", &target, &amd, &arm, "--format", "json"]);
    let j = json_of(&o);
    assert_eq!(o.status.code(), Some(0), "{j}\n{}", stderr(&o));
    let digest = j["digest"].as_str().unwrap().to_string();
    assert_eq!(skopeo_digest(&target, &[]), digest);
}

/// reconcile end to end against the private-CA registry: each daemon pulls the per-arch digest
/// with the certs.d CA (if-not-present), then `always` pulls by tag and runref checks the
/// result against the same registry.
#[test]
fn reconcile_against_a_private_ca_registry_on_every_engine() {
    let env = Env::get();
    for engine in ENGINES {
        let host = engine.host(env);
        let (src, built) = push_new(
            "tlsrec",
            IndexSpec::new("tlsrec", &["linux/amd64", "linux/arm64"]).with_attestations(),
        );
        let repo = format!("{}/{}", tls(env), unique("tlsrec"));
        let o = runref_plain(&["copy", &format!("{src}:v1"), &format!("{repo}:v1")]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let arm = built.image("linux/arm64");
        let per_arch = format!("{repo}@{}", arm.manifest_digest);
        // Each policy pulls (the daemon with the certs.d CA) and writes an image the
        // exporter's lookup finds as arm64.
        for (reference, policy) in [
            (per_arch, "if-not-present"),
            (format!("{repo}:v1"), "always"),
        ] {
            let what = format!("{} {policy}", engine.name);
            let (_d, path) =
                analyzed_file(&format!("[run-image]\n  reference = \"{reference}\"\n"));
            let args = [
                "reconcile",
                path.to_str().unwrap(),
                "--daemon",
                "--platform",
                "linux/arm64",
                "--pull-policy",
                policy,
            ];
            let (o, j) = runref_json(host, &args);
            assert_eq!(o.status.code(), Some(0), "{what}: {j}\n{}", stderr(&o));
            assert_eq!(j["decision"], "pulled", "{what}: {j}");
            assert_eq!(j["registry_http_fallbacks"], 0, "{what}: {j}");
            let written = j["after"].as_str().unwrap().to_string();
            assert_eq!(
                exporter_lookup(host, &written).as_deref(),
                Some("linux/arm64"),
                "{what}"
            );
        }
    }
}

/// The daemon's own insecure registries (`/info`) are the daemon's word for how to reach a
/// host: dockerd 20.10 of the environment lists the private-CA registry in its
/// insecure-registries, so `inspect` with that daemon reads the registry side without
/// verification even when runref itself trusts no CA (`--cert-dir` empty); with Engine 28.5,
/// which does not list it, the registry side is refused with the certificate advice.
#[test]
fn the_daemons_insecure_registries_are_honoured() {
    let env = Env::get();
    let (src, built) = push_new(
        "tlsinsecure",
        IndexSpec::new("tlsinsecure", &["linux/amd64"]),
    );
    let repo = format!("{}/{}", tls(env), unique("tlsinsecure"));
    let image = format!("{repo}:v1");
    let o = runref_plain(&["copy", &format!("{src}:v1"), &image]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_str().unwrap();
    let (o, j) = runref_json(&env.docker_host, &["inspect", &image, "--cert-dir", dir]);
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert!(
        j["registry_error"].is_null(),
        "20.10 lists it insecure: {j}"
    );
    assert!(j["registry"]["reference"].is_string(), "{j}");
    let (_, j) = runref_json(&env.docker28_host, &["inspect", &image, "--cert-dir", dir]);
    assert!(
        j["registry_error"]
            .as_str()
            .unwrap_or("")
            .contains("does not trust"),
        "28.5 does not list it: {j}"
    );
    // diagnose says the registry could not be read, instead of a silent default platform.
    let per_arch = format!("{repo}@{}", built.image("linux/amd64").manifest_digest);
    let (_d, path) = analyzed_file(&format!("[run-image]\n  reference = \"{per_arch}\"\n"));
    let (_, j) = runref_json(
        &env.docker28_host,
        &["diagnose", path.to_str().unwrap(), "--cert-dir", dir],
    );
    assert!(
        j["registry_error"]
            .as_str()
            .unwrap_or("")
            .contains("does not trust"),
        "diagnose: {j}"
    );
}

/// A copy into an HTTPS registry that already holds a large blob: the blob's HEAD over HTTP/2
/// carries the blob's Content-Length (1 MB here), which is not a body to bound (it was read
/// as one and refused: "the registry sent a response larger than 65536 bytes", found by the
/// newcomer pass; HTTP/1.1 hid it).
#[test]
fn a_large_blob_already_in_an_https_registry_is_found_by_its_head() {
    use crate::support::fixture::{build_single, push, ImageSpec, LayerCompression};
    let env = Env::get();
    let mut spec = ImageSpec::new("linux/amd64").compressed(LayerCompression::Uncompressed);
    spec.trailing_zeros = 1 << 20;
    let built = build_single(&spec, &unique("big"), "v1");
    let src = format!("{}/{}", env.registry, unique("tlsbig"));
    push(&built, "v1", &format!("{src}:v1"));
    let target = format!("{}/{}", tls(env), unique("tlsbig"));
    for tag in ["v1", "v2"] {
        let o = runref_plain(&[
            "copy",
            &format!("{src}:v1"),
            &format!("{target}:{tag}"),
            "--format",
            "json",
        ]);
        let j = json_of(&o);
        assert_eq!(o.status.code(), Some(0), "{tag}: {j}\n{}", stderr(&o));
    }
    // The second run found the tag's digest there: its HEADs only, nothing written.
    let o = runref_plain(&[
        "copy",
        &format!("{src}:v1"),
        &format!("{target}:v3"),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// podman's registries.conf (issue 20, item 3): a prefix rewritten to another location, a
/// mirror read first (insecure, plain HTTP), a blocked registry; followed without a daemon and
/// with podman, ignored with the Engine (its own configuration wins), `--registries-conf`
/// followed whatever the daemon.
#[test]
fn registries_conf_rewrites_mirrors_and_blocks_as_podman_does() {
    let env = Env::get();
    let (src, _) = push_new("conf", IndexSpec::new("conf", &["linux/amd64"]));
    let path = src.split_once('/').unwrap().1.to_string();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let f = dir.path().join(name);
        std::fs::write(&f, text).unwrap();
        f.to_str().unwrap().to_string()
    };
    let verify = |image: &str, envs: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec![
            "verify",
            image,
            "--platforms",
            "linux/amd64",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let o = runref_with("unix:///nonexistent.sock", envs, &args);
        let j = json_of(&o);
        (o, j)
    };

    // A prefix rewritten to the plain registry: the name resolves nowhere else.
    let rewrite = write(
        "rewrite.conf",
        format!(
            "[[registry]]\nprefix = \"rewrite.runref.test\"\nlocation = \"{}\"\n",
            env.registry
        ),
    );
    let image = format!("rewrite.runref.test/{path}:v1");
    let (o, j) = verify(&image, &[], &["--registries-conf", &rewrite]);
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(
        j["registry_endpoints"]["rewrite.runref.test"],
        format!("http://{}", env.registry),
        "{j}"
    );
    // CONTAINERS_REGISTRIES_CONF is podman's own variable: the same without the flag.
    let (o, j) = verify(&image, &[("CONTAINERS_REGISTRIES_CONF", &rewrite)], &[]);
    assert_eq!(o.status.code(), Some(0), "{j}");

    // A mirror first: the image is only in the (plain, insecure) mirror, not at the location.
    let mirrored = write(
        "mirror.conf",
        format!(
            "[[registry]]\nlocation = \"{}\"\n[[registry.mirror]]\nlocation = \"{}\"\ninsecure = true\n",
            tls(env),
            env.registry
        ),
    );
    let image = format!("{}/{path}:v1", tls(env));
    let (o, j) = verify(&image, &[], &["--registries-conf", &mirrored]);
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(
        j["registry_endpoints"][tls(env)],
        format!("http://{}", env.registry),
        "read through the mirror: {j}"
    );

    // blocked: refused before any request, naming the file.
    let blocked = write(
        "blocked.conf",
        format!(
            "[[registry]]\nlocation = \"{}\"\nblocked = true\n",
            tls(env)
        ),
    );
    let before = tls_log_requests(env, "registry-tls", &path);
    let (o, j) = verify(&image, &[], &["--registries-conf", &blocked]);
    assert_eq!(o.status.code(), Some(1), "{j}");
    assert!(
        j.to_string().contains(&format!("blocked by {blocked}")),
        "{j}"
    );
    assert_eq!(
        tls_log_requests(env, "registry-tls", &path),
        before,
        "blocked: no request"
    );

    // The system's file is podman's: with podman as the daemon it is followed (blocked), with
    // the Engine it is not (the Engine's own configuration decides what it pulls).
    let inspect = |host: &str| {
        let o = runref_with(
            host,
            &[("CONTAINERS_REGISTRIES_CONF", &blocked)],
            &[
                "inspect",
                &format!("{}/{}:v1", tls(env), unique("nothere")),
                "--format",
                "json",
            ],
        );
        json_of(&o)
    };
    let j = inspect(&env.podman_host);
    assert!(
        j["registry_error"]
            .as_str()
            .unwrap_or("")
            .contains("blocked by"),
        "podman: {j}"
    );
    let j = inspect(&env.docker_host);
    assert!(
        !j["registry_error"]
            .as_str()
            .unwrap_or("")
            .contains("blocked by"),
        "the Engine: {j}"
    );

    // A file that does not parse is an error naming it.
    let bad = write("bad.conf", "[[registry]\n".into());
    let (o, j) = verify(&image, &[], &["--registries-conf", &bad]);
    assert_ne!(o.status.code(), Some(0), "{j}");
    assert!(j.to_string().contains("bad.conf"), "{j}");
}
