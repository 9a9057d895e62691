//! Credentials from the Docker config reach the registry, and never appear in output. Its own
//! test binary: it sets DOCKER_CONFIG for the process.

use runref::model::digest::Digest;
use runref::registry::{HttpRegistry, Registry, RegistryOptions};
use std::sync::{Arc, Mutex};

use crate::support::fake_registry::{self, response, Reply};

const BODY: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
const SECRET: &str = "s3cr3t-Pa55";

/// A registry that wants HTTP Basic `runref:s3cr3t-Pa55`; records Authorization headers.
async fn serve() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let addr = fake_registry::serve(move |req| {
        if let Some(a) = &req.authorization {
            s.lock().unwrap().push(a.clone());
        }
        // base64("runref:s3cr3t-Pa55")
        if req.authorization.as_deref() == Some("Basic cnVucmVmOnMzY3IzdC1QYTU1") {
            let digest = Digest::of(BODY.as_bytes()).to_string();
            let headers = [
                ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
                ("Docker-Content-Digest", digest.as_str()),
            ];
            Reply::Full(response("200 OK", &headers, BODY))
        } else {
            Reply::Full(response(
                "401 Unauthorized",
                &[
                    ("WWW-Authenticate", "Basic realm=\"test\""),
                    ("Content-Type", "application/json"),
                ],
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            ))
        }
    })
    .await;
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_config_credentials_are_used_and_never_printed() {
    let (addr, seen) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"auths":{{"{addr}":{{"auth":"cnVucmVmOnMzY3IzdC1QYTU1"}}}}}}"#),
    )
    .unwrap();
    std::env::set_var("DOCKER_CONFIG", dir.path());
    let r: runref::model::reference::Reference =
        format!("{addr}/run@{}", Digest::of(BODY.as_bytes()))
            .parse()
            .unwrap();

    let reg = HttpRegistry::new(RegistryOptions {
        plain_http: vec![addr.clone()],
        ..RegistryOptions::default()
    })
    .unwrap();
    let f = reg.manifest(&r).await.expect("authenticated fetch");
    assert_eq!(f.digest, Digest::of(BODY.as_bytes()));
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .any(|a| a == "Basic cnVucmVmOnMzY3IzdC1QYTU1"));

    // Wrong credentials: a clear error that names the registry and never the secret.
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"auths":{{"{addr}":{{"auth":"cnVucmVmOndyb25nLXMzY3IzdC1QYTU1"}}}}}}"#),
    )
    .unwrap();
    let reg = HttpRegistry::new(RegistryOptions {
        plain_http: vec![addr.clone()],
        ..RegistryOptions::default()
    })
    .unwrap();
    let e = reg.manifest(&r).await.unwrap_err().to_string();
    assert!(e.contains("docker login"), "{e}");
    assert!(
        !e.contains(SECRET) && !e.contains("wrong-s3cr3t"),
        "credentials leaked: {e}"
    );
    // And through the CLI, text and JSON.
    // Off the runtime thread: the fake registry runs on it.
    // --debug's request trace too (issue 23): every request, no credential.
    let (r2, cfg) = (r.to_string(), dir.path().to_path_buf());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_runref"))
            .args(["verify", &r2, "--format", "json", "--debug"])
            .env("DOCKER_CONFIG", cfg)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let trace = String::from_utf8_lossy(&out.stderr);
    assert!(
        trace.contains("debug: registry GET http://") && trace.contains("-> 401"),
        "the trace shows each request: {trace}"
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        !all.contains("s3cr3t") && !all.contains("cnVucmVm"),
        "credentials leaked: {all}"
    );
}

/// Runs `runref verify` against a registry that challenges, with the Docker config naming the
/// credential helper `name` whose script is `script`. Returns the output, the time taken and
/// the registry's address.
fn verify_with_helper(
    name: &str,
    script: &str,
    extra: &[&str],
) -> (std::process::Output, std::time::Duration, String) {
    use std::os::unix::fs::PermissionsExt;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, _) = rt.block_on(serve());
    let dir = tempfile::tempdir().unwrap();
    let helper = dir.path().join(format!("docker-credential-{name}"));
    std::fs::write(&helper, script).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"credHelpers": {{"{addr}": "{name}"}}}}"#),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let image = format!("{addr}/run@sha256:{}", "2".repeat(64));
    let mut args = vec!["verify", image.as_str()];
    args.extend(extra);
    let start = std::time::Instant::now();
    let o = crate::support::runref_with(
        "unix:///nonexistent.sock",
        &[
            ("DOCKER_CONFIG", dir.path().to_str().unwrap()),
            ("PATH", &path),
        ],
        &args,
    );
    (o, start.elapsed(), addr)
}

/// A credential helper that never answers (asked when the registry challenges): runref ends
/// within its --timeout, says which registry's helper hung, and does not wait for the helper.
#[test]
fn a_hanging_credential_helper_ends_within_the_timeout() {
    let (o, took, addr) = verify_with_helper("hang", "#!/bin/sh\nsleep 60\n", &["--timeout", "1"]);
    assert!(took < std::time::Duration::from_secs(6), "took {took:?}");
    assert_eq!(o.status.code(), Some(1));
    let e = crate::support::stderr(&o);
    assert!(
        e.contains(&format!(
            "credential helper for {addr} did not answer within 1s"
        )),
        "{e}"
    );
}

/// A credential helper that prints without end is stopped at 1 MiB: an error naming the helper,
/// quickly, with memory bounded.
#[test]
fn a_credential_helper_printing_without_end_is_stopped_at_the_bound() {
    let (o, took, _) = verify_with_helper("flood", "#!/bin/sh\nexec yes 0123456789abcdef\n", &[]);
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    assert_eq!(o.status.code(), Some(1));
    let e = crate::support::stderr(&o);
    assert!(
        e.contains("docker-credential-flood printed more than 1 MiB"),
        "{e}"
    );
}
