//! Daemons that misbehave in ways a real one will not on demand, on a unix socket in process:
//! every wait ends within its bound with a message naming the daemon, and nothing is written.

use crate::support::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

/// A daemon socket whose connections get `answer` (after reading the request head), then are
/// held open without another byte, until the test process ends.
fn hung_daemon(answer: &'static [u8]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            let mut c = conn;
            let mut buf = [0u8; 4096];
            let _ = c.set_read_timeout(Some(Duration::from_millis(500)));
            let _ = c.read(&mut buf);
            let _ = c.write_all(answer);
            held.push(c);
        }
    });
    (dir, format!("unix://{}", path.display()))
}

fn reconcile_within(host: &str, bound: Duration) -> (std::process::Output, Duration) {
    let (_d, path) = analyzed_file(
        "[run-image]\n  reference = \"127.0.0.1:1/run@sha256:2222222222222222222222222222222222222222222222222222222222222222\"\n",
    );
    let before = std::fs::read(&path).unwrap();
    let start = Instant::now();
    let o = runref(
        host,
        &[
            "reconcile",
            path.to_str().unwrap(),
            "--daemon",
            "--pull-policy",
            "never",
            "--timeout",
            "1",
        ],
    );
    let took = start.elapsed();
    assert!(took < bound, "took {took:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "file untouched");
    (o, took)
}

#[test]
fn a_daemon_that_never_answers_ends_within_the_timeout() {
    let (_d, host) = hung_daemon(b"");
    let (o, _) = reconcile_within(&host, Duration::from_secs(8));
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("did not answer") && e.contains("within 1s"),
        "{e}"
    );
    assert!(
        e.contains(host.trim_start_matches("unix://")),
        "names the daemon: {e}"
    );
}

#[test]
fn a_daemon_that_sends_headers_then_nothing_ends_within_the_timeout() {
    let (_d, host) = hung_daemon(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"Id\":",
    );
    let (o, _) = reconcile_within(&host, Duration::from_secs(8));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("within 1s"), "{}", stderr(&o));
}
