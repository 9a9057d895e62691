//! The registry adapter against an in-process fake registry that misbehaves in ways the real
//! distribution registry will not: 5xx then success, 429 forever, bodies that lie about their
//! digest, truncated bodies, hangs, 404.

use runref::digest::Digest;
use runref::registry::{OciRegistry, Registry, RegistryError, RegistryOptions};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Copy)]
enum Fault {
    /// 500 for the first N manifest requests, then the real body.
    ServerErrorThenOk(usize),
    TooManyRequests,
    /// A body other than the one whose digest the header claims.
    LyingBody,
    /// Content-Length larger than what is sent, then close.
    Truncated,
    /// Accept, read, never answer.
    Hang,
    NotFound,
}

const BODY: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

/// Serves `fault` on a loopback port; counts manifest requests (pings excluded).
async fn serve(fault: Fault) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        // Bounded: a test makes a handful of connections.
        for _ in 0..64 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let c = c.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                loop {
                    let n = match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let req = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
                    if path == "/v2/" {
                        let _ = sock
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                            .await;
                        continue;
                    }
                    let k = c.fetch_add(1, Ordering::SeqCst);
                    let digest = Digest::of(BODY.as_bytes());
                    let ok = |body: &str| {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: {digest}\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    };
                    let resp = match fault {
                        Fault::ServerErrorThenOk(n) if k < n => {
                            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops"
                                .to_string()
                        }
                        Fault::ServerErrorThenOk(_) => ok(BODY),
                        Fault::TooManyRequests => {
                            "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 4\r\n\r\nslow"
                                .to_string()
                        }
                        Fault::LyingBody => ok(&BODY.replace("\"layers\":[]", "\"layers\":[ ]")),
                        Fault::Truncated => {
                            let head = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: {digest}\r\nContent-Length: {}\r\n\r\n",
                                BODY.len()
                            );
                            let _ = sock.write_all(head.as_bytes()).await;
                            let _ = sock.write_all(&BODY.as_bytes()[..40]).await;
                            return;
                        }
                        Fault::Hang => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                        Fault::NotFound => {
                            let b = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
                            format!("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}", b.len())
                        }
                    };
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, count)
}

fn client(addr: &str, timeout_ms: u64) -> OciRegistry {
    OciRegistry::new(
        RegistryOptions {
            insecure: vec![],
            timeout: Duration::from_millis(timeout_ms),
            attempts: 3,
        },
        &[addr],
    )
    .unwrap()
}

fn by_digest(addr: &str) -> runref::reference::Reference {
    format!("{addr}/run@{}", Digest::of(BODY.as_bytes()))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let (addr, count) = serve(Fault::ServerErrorThenOk(2)).await;
    let reg = client(&addr, 5000);
    let f = reg.manifest(&by_digest(&addr)).await.unwrap();
    assert_eq!(f.digest, Digest::of(BODY.as_bytes()));
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert_eq!(reg.requests(), 3);
}

#[tokio::test]
async fn too_many_requests_gives_up_after_the_bound() {
    let (addr, count) = serve(Fault::TooManyRequests).await;
    let reg = client(&addr, 5000);
    let e = reg.manifest(&by_digest(&addr)).await.unwrap_err();
    assert!(
        matches!(
            e,
            RegistryError::Server {
                status: 429,
                attempts: 3,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 3, "bounded retries");
    assert!(e.to_string().contains("429"));
}

#[tokio::test]
async fn a_body_that_lies_about_its_digest_is_rejected() {
    let (addr, _) = serve(Fault::LyingBody).await;
    let reg = client(&addr, 5000);
    let e = reg
        .manifest(&by_digest(&addr))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.to_lowercase().contains("digest"), "{e}");
    // By tag too: the header's digest must match the bytes.
    let e = reg
        .manifest(&format!("{addr}/run:v1").parse().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.to_lowercase().contains("digest"), "{e}");
}

#[tokio::test]
async fn a_truncated_body_is_an_error() {
    let (addr, _) = serve(Fault::Truncated).await;
    let reg = client(&addr, 5000);
    assert!(reg.manifest(&by_digest(&addr)).await.is_err());
}

#[tokio::test]
async fn a_hang_times_out_within_the_bound() {
    let (addr, count) = serve(Fault::Hang).await;
    let reg = client(&addr, 300);
    let start = std::time::Instant::now();
    let e = reg.manifest(&by_digest(&addr)).await.unwrap_err();
    assert!(
        matches!(
            e,
            RegistryError::Timeout { attempts: 3, .. } | RegistryError::Unreachable { .. }
        ),
        "{e}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(count.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn not_found_is_final_and_not_retried() {
    let (addr, count) = serve(Fault::NotFound).await;
    let reg = client(&addr, 5000);
    let e = reg.manifest(&by_digest(&addr)).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}
