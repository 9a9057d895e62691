//! The registry adapter against an in-process fake registry that misbehaves in ways the real
//! distribution registry will not: 5xx then success, 429 forever, bodies that lie about their
//! digest, truncated bodies, hangs, 404.

use runref::model::digest::Digest;
use runref::registry::{Counters, HttpRegistry, Registry, RegistryError, RegistryOptions};
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

/// Serves `fault` on a loopback port; counts every request (a `/v2/` probe would fail the
/// test: runref sends none).
async fn serve(fault: Fault) -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let addr = fake_registry::serve(move |req| {
        assert_ne!(req.path, "/v2/", "no probe before a request");
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

fn client(addr: &str, timeout_ms: u64) -> HttpRegistry {
    HttpRegistry::new(RegistryOptions {
        plain_http: vec![addr.to_string()],
        timeout: Duration::from_millis(timeout_ms),
        attempts: 3,
        ..RegistryOptions::default()
    })
    .unwrap()
}

/// A client with a per-request `timeout` and a run deadline `deadline` from now.
fn client_within(addr: &str, timeout: Duration, deadline: Duration) -> HttpRegistry {
    HttpRegistry::new(RegistryOptions {
        plain_http: vec![addr.to_string()],
        timeout,
        deadline: Some(tokio::time::Instant::now() + deadline),
        ..RegistryOptions::default()
    })
    .unwrap()
}

fn by_digest(addr: &str) -> runref::model::reference::Reference {
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

/// A registry behind a Bearer challenge whose token server (on the same port) answers `token`.
/// Counts every request; records the paths.
async fn bearer_registry(token: &'static str) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let me: Arc<std::sync::OnceLock<String>> = Arc::default();
    let seen: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let (realm, log) = (me.clone(), seen.clone());
    let addr = fake_registry::serve(move |req| {
        log.lock().unwrap().push(req.path.clone());
        let host = realm.get().cloned().unwrap_or_default();
        if req.path.starts_with("/token") {
            return Reply::Full(response(
                "200 OK",
                &[("Content-Type", "application/json")],
                token,
            ));
        }
        let challenge = format!(r#"Bearer realm="http://{host}/token",service="fake""#);
        if req.authorization.is_none() {
            return Reply::Full(response(
                "401 Unauthorized",
                &[("WWW-Authenticate", &challenge)],
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            ));
        }
        let digest = Digest::of(BODY.as_bytes()).to_string();
        Reply::Full(response(
            "200 OK",
            &[("Docker-Content-Digest", digest.as_str())],
            BODY,
        ))
    })
    .await;
    me.set(addr.clone()).unwrap();
    (addr, seen)
}

/// A token holding a newline cannot be an HTTP header value: an error naming that, no panic
/// (oci-client 0.18 panicked here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_is_not_a_header_value_is_an_error_not_a_panic() {
    let (addr, seen) = bearer_registry(r#"{"token":"abc\ndef","expires_in":300}"#).await;
    let reg = client(&addr, 2000);
    let e = reg.manifest(&by_digest(&addr)).await.unwrap_err();
    assert!(
        e.to_string().contains("not a valid HTTP header value"),
        "{e}"
    );
    let r = by_digest(&addr);
    let e = match reg.blob_stream(&r, &Digest::of(b"x")).await {
        Ok(_) => panic!("no blob can be read with that token"),
        Err(e) => e,
    };
    assert!(
        e.to_string().contains("not a valid HTTP header value"),
        "{e}"
    );
    assert_eq!(
        reg.requests(),
        seen.lock().unwrap().len(),
        "every request counted"
    );
}

/// A token server that fails for a moment (503, or no answer within `--timeout`) is asked
/// again like any transient failure; one that keeps failing ends after the attempts, naming
/// the token server. Every request counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_server_that_fails_for_a_moment_is_asked_again() {
    for hang in [false, true] {
        let me: Arc<std::sync::OnceLock<String>> = Arc::default();
        let seen: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let (realm, log) = (me.clone(), seen.clone());
        let addr = fake_registry::serve(move |req| {
            let n = {
                let mut l = log.lock().unwrap();
                l.push(req.path.clone());
                l.iter().filter(|p| p.starts_with("/token")).count()
            };
            let host = realm.get().cloned().unwrap_or_default();
            if req.path.starts_with("/token") {
                if n == 1 || req.path.contains("down") {
                    return match hang {
                        true => Reply::Hang,
                        false => Reply::Full(response("503 Service Unavailable", &[], "busy")),
                    };
                }
                return Reply::Full(response("200 OK", &[], r#"{"token":"t"}"#));
            }
            if req.authorization.is_none() {
                let c = format!(r#"Bearer realm="http://{host}/token",service="fake""#);
                return Reply::Full(response(
                    "401 Unauthorized",
                    &[("WWW-Authenticate", &c)],
                    "",
                ));
            }
            let digest = Digest::of(BODY.as_bytes()).to_string();
            Reply::Full(response(
                "200 OK",
                &[("Docker-Content-Digest", digest.as_str())],
                BODY,
            ))
        })
        .await;
        me.set(addr.clone()).unwrap();
        let reg = client(&addr, 500);
        reg.manifest(&by_digest(&addr)).await.unwrap();
        let paths = seen.lock().unwrap().clone();
        assert_eq!(
            paths.iter().filter(|p| p.starts_with("/token")).count(),
            2,
            "hang {hang}: {paths:?}"
        );
        assert_eq!(reg.requests(), paths.len(), "every request counted");

        let down: runref::model::reference::Reference =
            format!("{addr}/down@{}", Digest::of(BODY.as_bytes()))
                .parse()
                .unwrap();
        let e = reg.manifest(&down).await.unwrap_err();
        let text = e.to_string();
        match hang {
            true => assert!(matches!(e, RegistryError::Timeout { .. }), "{e}"),
            false => assert!(text.contains("token server") && text.contains("503"), "{e}"),
        }
        assert!(
            text.contains("3 attempts") || text.contains("attempt"),
            "{text}"
        );
        assert_eq!(
            reg.requests(),
            seen.lock().unwrap().len(),
            "every request counted"
        );
    }
}

/// The challenge is taken by the first real request (no `/v2/` probe); the token is kept per
/// repository; `requests()` is what the server saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_request_takes_the_challenge_and_tokens_are_kept() {
    let (addr, seen) = bearer_registry(r#"{"token":"t0k3n"}"#).await;
    let reg = client(&addr, 2000);
    reg.manifest(&by_digest(&addr)).await.unwrap();
    assert_eq!(
        reg.requests(),
        3,
        "401, token, GET: {:?}",
        seen.lock().unwrap()
    );
    reg.manifest(&by_digest(&addr)).await.unwrap();
    assert_eq!(reg.requests(), 4, "the token is kept for the repository");
    let other: runref::model::reference::Reference =
        format!("{addr}/other@{}", Digest::of(BODY.as_bytes()))
            .parse()
            .unwrap();
    reg.manifest(&other).await.unwrap();
    assert_eq!(
        reg.requests(),
        6,
        "another repository: its token, then the GET, no 401"
    );
    let paths = seen.lock().unwrap().clone();
    assert_eq!(paths.len(), 6);
    assert!(!paths.iter().any(|p| p == "/v2/"), "{paths:?}");
}

/// A manifest over the bound is refused from its Content-Length or while streaming, never
/// buffered whole; the error names the bound's variable.
#[tokio::test]
async fn a_manifest_over_the_bound_is_refused_while_streaming() {
    let digest = Digest::of(b"x").to_string();
    let addr = fake_registry::serve(move |req| {
        let endless = req.path.contains("endless");
        let head = if endless {
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_string()
        } else {
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 100 << 20)
        };
        let _ = &digest;
        Reply::Stream {
            head,
            chunk: vec![b' '; 64 << 10],
            every: Duration::ZERO,
            total: if endless { usize::MAX } else { 100 << 20 },
        }
    })
    .await;
    let reg = client(&addr, 5000);
    for repo in ["sized", "endless"] {
        let r: runref::model::reference::Reference = format!("{addr}/{repo}:v1").parse().unwrap();
        let start = std::time::Instant::now();
        let e = reg.manifest(&r).await.unwrap_err();
        assert!(
            matches!(
                e,
                RegistryError::TooLarge {
                    what: "manifest",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("RUNREF_MAX_MANIFEST_BYTES"), "{e}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{repo}: {:?}",
            start.elapsed()
        );
    }
}

/// `Retry-After` longer than what is left of the run's deadline fails at once, saying when;
/// a short one is waited for.
#[tokio::test]
async fn retry_after_is_honoured_within_the_budget() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let addr = fake_registry::serve(move |req| {
        let k = c.fetch_add(1, Ordering::SeqCst);
        if req.path.contains("/long/") {
            return Reply::Full(response(
                "429 Too Many Requests",
                &[("Retry-After", "3600")],
                "",
            ));
        }
        if k == 1 {
            return Reply::Full(response(
                "503 Service Unavailable",
                &[("Retry-After", "1")],
                "",
            ));
        }
        let digest = Digest::of(BODY.as_bytes()).to_string();
        Reply::Full(response(
            "200 OK",
            &[("Docker-Content-Digest", digest.as_str())],
            BODY,
        ))
    })
    .await;
    let reg = client_within(&addr, Duration::from_secs(5), Duration::from_secs(30));
    let start = std::time::Instant::now();
    let r: runref::model::reference::Reference = format!("{addr}/long:v1").parse().unwrap();
    let e = reg.manifest(&r).await.unwrap_err();
    assert!(
        matches!(
            e,
            RegistryError::RetryLater {
                after_secs: 3600,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("retry after 3600s"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(count.load(Ordering::SeqCst), 1);

    let start = std::time::Instant::now();
    let r: runref::model::reference::Reference = format!("{addr}/short:v1").parse().unwrap();
    reg.manifest(&r).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

/// A token answer over 1 MiB is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_answer_over_the_bound_is_refused() {
    let big: &'static str =
        Box::leak(format!(r#"{{"token":"{}"}}"#, "a".repeat(2 << 20)).into_boxed_str());
    let (addr, _) = bearer_registry(big).await;
    let reg = client(&addr, 5000);
    let e = reg.manifest(&by_digest(&addr)).await.unwrap_err();
    assert!(
        matches!(
            e,
            RegistryError::TooLarge {
                what: "token answer",
                ..
            }
        ),
        "{e}"
    );
}

/// A layer sent a byte at a time ends at the run's deadline; one that stalls ends after
/// `--timeout` of silence; a redirect to storage is followed and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_stalled_blobs_end_within_their_bounds() {
    use futures_util::StreamExt;
    let addr = fake_registry::serve(move |req| {
        if req.path.contains("/redirect/") && !req.path.starts_with("/storage") {
            return Reply::Full(response(
                "307 Temporary Redirect",
                &[("Location", "/storage/x")],
                "",
            ));
        }
        if req.path.starts_with("/storage") {
            return Reply::Full(response("200 OK", &[], "x"));
        }
        let every = if req.path.contains("/slow/") {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(60)
        };
        Reply::Stream {
            head: "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".into(),
            chunk: vec![b'x'],
            every,
            total: 100000,
        }
    })
    .await;
    let reg = client_within(
        &addr,
        Duration::from_millis(700),
        Duration::from_millis(2500),
    );
    let drain = async |repo: &str, digest: Digest| -> Result<usize, String> {
        let r: runref::model::reference::Reference = format!("{addr}/{repo}:v1").parse().unwrap();
        let mut s = reg
            .blob_stream(&r, &digest)
            .await
            .map_err(|e| e.to_string())?;
        let mut n = 0;
        while let Some(c) = s.next().await {
            n += c.map_err(|e| e.to_string())?.len();
        }
        Ok(n)
    };
    assert_eq!(drain("redirect", Digest::of(b"x")).await, Ok(1));
    assert_eq!(reg.requests(), 2, "the redirect hop is a request too");
    let start = std::time::Instant::now();
    let e = drain("stall", Digest::of(b"x")).await.unwrap_err();
    assert!(e.contains("no data from the registry"), "{e}");
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    let e = drain("slow", Digest::of(b"x")).await.unwrap_err();
    assert!(e.contains("--deadline"), "{e}");
    assert!(
        start.elapsed() < Duration::from_millis(3500),
        "{:?}",
        start.elapsed()
    );
}
