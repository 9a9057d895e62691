//! Credentials from the Docker config reach the registry, and never appear in output. Its own
//! test binary: it sets DOCKER_CONFIG for the process.

use runref::digest::Digest;
use runref::registry::{OciRegistry, Registry, RegistryOptions};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BODY: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
const SECRET: &str = "s3cr3t-Pa55";

/// A registry that wants HTTP Basic `runref:s3cr3t-Pa55`; records Authorization headers.
async fn serve() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    tokio::spawn(async move {
        for _ in 0..32 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                loop {
                    let n = match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let auth = req
                        .lines()
                        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                        .map(|l| l.split_once(':').unwrap().1.trim().to_string());
                    if let Some(a) = &auth {
                        s.lock().unwrap().push(a.clone());
                    }
                    // base64("runref:s3cr3t-Pa55")
                    let ok = auth.as_deref() == Some("Basic cnVuLXJlZjpzM2NyM3QtUGE1NQ==")
                        || auth.as_deref() == Some("Basic cnVucmVmOnMzY3IzdC1QYTU1");
                    let resp = if ok {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: {}\r\nContent-Length: {}\r\n\r\n{BODY}",
                            Digest::of(BODY.as_bytes()),
                            BODY.len()
                        )
                    } else {
                        let b = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
                        format!("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}", b.len())
                    };
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
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
    let r: runref::reference::Reference = format!("{addr}/run@{}", Digest::of(BODY.as_bytes()))
        .parse()
        .unwrap();

    let reg = OciRegistry::new(RegistryOptions::default(), &[&addr]).unwrap();
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
    let reg = OciRegistry::new(RegistryOptions::default(), &[&addr]).unwrap();
    let e = reg.manifest(&r).await.unwrap_err().to_string();
    assert!(e.contains("docker login"), "{e}");
    assert!(
        !e.contains(SECRET) && !e.contains("wrong-s3cr3t"),
        "credentials leaked: {e}"
    );
    // And through the CLI, text and JSON.
    // Off the runtime thread: the fake registry runs on it.
    let (r2, cfg) = (r.to_string(), dir.path().to_path_buf());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_runref"))
            .args(["verify", &r2, "--format", "json"])
            .env("DOCKER_CONFIG", cfg)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
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
