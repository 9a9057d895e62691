//! The registry adapter against an in-process fake registry that misbehaves in ways the real
//! distribution registry will not: 5xx then success, 429 forever, bodies that lie about their
//! digest, truncated bodies, hangs, 404.

use runref::digest::Digest;
use runref::registry::{OciRegistry, Registry, RegistryError, RegistryOptions};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::fake_registry::{self, response, Reply};

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
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let addr = fake_registry::serve(move |req| {
        if req.path == "/v2/" {
            return Reply::Full(response("200 OK", &[], "{}"));
        }
        let k = c.fetch_add(1, Ordering::SeqCst);
        let digest = Digest::of(BODY.as_bytes()).to_string();
        let headers = [
            ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
            ("Docker-Content-Digest", digest.as_str()),
        ];
        match fault {
            Fault::ServerErrorThenOk(n) if k < n => {
                Reply::Full(response("500 Internal Server Error", &[], "oops"))
            }
            Fault::ServerErrorThenOk(_) => Reply::Full(response("200 OK", &headers, BODY)),
            Fault::TooManyRequests => Reply::Full(response("429 Too Many Requests", &[], "slow")),
            Fault::LyingBody => Reply::Full(response(
                "200 OK",
                &headers,
                &BODY.replace("\"layers\":[]", "\"layers\":[ ]"),
            )),
            Fault::Truncated => {
                let full = response("200 OK", &headers, BODY);
                Reply::Partial(full[..full.len() - BODY.len() + 40].to_string())
            }
            Fault::Hang => Reply::Hang,
            Fault::NotFound => Reply::Full(response(
                "404 Not Found",
                &[("Content-Type", "application/json")],
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
            )),
        }
    })
    .await;
    (addr, count)
}

fn client(addr: &str, timeout_ms: u64) -> OciRegistry {
    OciRegistry::new(
        RegistryOptions {
            insecure: vec![],
            timeout: Duration::from_millis(timeout_ms),
            attempts: 3,
            mirrors: vec![],
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

/// A token server whose bearer token holds a newline: oci-client 0.18 panics building the
/// `Authorization` header from it. runref contains that and answers with an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_is_not_a_header_value_is_an_error_not_a_panic() {
    let me: Arc<std::sync::OnceLock<String>> = Arc::default();
    let realm = me.clone();
    let addr = fake_registry::serve(move |req| {
        let host = realm.get().cloned().unwrap_or_default();
        if req.path.starts_with("/token") {
            return Reply::Full(response(
                "200 OK",
                &[("Content-Type", "application/json")],
                r#"{"token":"abc\ndef","expires_in":300}"#,
            ));
        }
        let challenge = format!(
            r#"Bearer realm="http://{host}/token",service="fake",scope="repository:run:pull""#
        );
        if req.authorization.is_none() {
            return Reply::Full(response(
                "401 Unauthorized",
                &[("WWW-Authenticate", &challenge)],
                "{}",
            ));
        }
        Reply::Full(response("200 OK", &[], BODY))
    })
    .await;
    me.set(addr.clone()).unwrap();
    let reg = client(&addr, 2000);
    let e = reg.manifest(&by_digest(&addr)).await.unwrap_err();
    assert!(e.to_string().contains("made the HTTP client fail"), "{e}");
    // The same for a blob stream.
    let r = by_digest(&addr);
    let e = match reg.blob_stream(&r, &Digest::of(b"x")).await {
        Ok(_) => panic!("no blob can be read with that token"),
        Err(e) => e,
    };
    assert!(e.to_string().contains("HTTP client"), "{e}");
}
