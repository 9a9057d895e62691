//! What the pre-export hook asks the daemon, counted on the wire (issue 11): a proxy socket in
//! front of each real engine records every request line runref sends, so the count is what the
//! daemon saw, not what runref says it sent.

use crate::support::engines::ENGINES;
use crate::support::fixture::{docker_archive, unique, ImageSpec};
use crate::support::*;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex};

/// A unix socket forwarding to `upstream` (a `unix://` host), keeping what clients sent.
struct Proxy {
    _dir: tempfile::TempDir,
    host: String,
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Proxy {
    fn new(upstream: &str) -> Proxy {
        let upstream = upstream.trim_start_matches("unix://").to_string();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("proxy.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let sent: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let log = sent.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(daemon) = UnixStream::connect(&upstream) else {
                    continue;
                };
                let conn = {
                    let mut l = log.lock().unwrap();
                    l.push(Vec::new());
                    l.len() - 1
                };
                let (mut from_daemon, mut to_client) = (daemon.try_clone().unwrap(), client);
                let mut from_client = to_client.try_clone().unwrap();
                let mut to_daemon = daemon;
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_daemon, &mut to_client);
                    let _ = to_client.shutdown(std::net::Shutdown::Both);
                });
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = from_client.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        // Logged before it is forwarded: complete once the answer came back.
                        log.lock().unwrap()[conn].extend_from_slice(&buf[..n]);
                        if to_daemon.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to_daemon.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Proxy {
            host: format!("unix://{}", path.display()),
            _dir: dir,
            sent,
        }
    }

    /// Request lines (`GET /path`) in the order sent, and how many connections carried them.
    fn requests(&self) -> (Vec<String>, usize) {
        let log = self.sent.lock().unwrap();
        let lines = log
            .iter()
            .flat_map(|c| {
                String::from_utf8_lossy(c)
                    .split("\r\n")
                    .filter(|l| l.ends_with(" HTTP/1.1"))
                    .map(|l| l.trim_end_matches(" HTTP/1.1").to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        (lines, log.len())
    }

    fn clear(&self) {
        self.sent.lock().unwrap().clear();
    }
}

/// The hook's common case on every engine: the file already holds the run image's ID and the
/// target is given (the lifecycle writes `[run-image.target]`). Exactly one daemon request,
/// the exporter's own lookup, and no `/info` or `/version`. Without a target the daemon's own
/// platform is needed: `/info` beside the lookup, two requests, still no `/version` (the API
/// level comes from the answers' `Api-Version` header).
#[test]
fn the_common_hook_case_is_one_daemon_request_on_every_engine() {
    let env = Env::get();
    for engine in ENGINES {
        let host = engine.host(env);
        let name = format!("{}/{}:1.0", env.registry, unique("hook"));
        let (archive, _) = docker_archive(&ImageSpec::new("linux/arm64"), &unique("h"), &[&name]);
        load(&connect(host), archive);
        let id = inspect(&connect(host), &name).expect("loaded").id.unwrap();
        let hex = id.trim_start_matches("sha256:");
        let proxy = Proxy::new(host);
        let what = engine.name;
        let hook = |path: &std::path::Path| {
            let p = path.to_str().unwrap();
            runref_json(
                &proxy.host,
                &["reconcile", p, "--daemon", "--pull-policy", "never"],
            )
        };

        let (_d, path) = analyzed_file(&format!(
            "[run-image]\n  reference = \"{hex}\"\n  image = \"{name}\"\n\n[run-image.target]\n  os = \"linux\"\n  arch = \"arm64\"\n"
        ));
        let before = std::fs::read(&path).unwrap();
        let (o, j) = hook(&path);
        assert_eq!(o.status.code(), Some(0), "{what}: {}", stderr(&o));
        assert_eq!(j["decision"], "already-daemon-id", "{what}: {j}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "{what}: byte-identical"
        );
        let (lines, _) = proxy.requests();
        // The file names the tag too: it is looked up beside the ID (the decision needs it
        // only when the ID is not found), so two inspections, at once.
        assert_eq!(lines.len(), 2, "{what}: {lines:?}");
        assert!(
            lines.iter().all(|l| l.starts_with("GET /images/")),
            "{what}: only the lookups: {lines:?}"
        );
        assert_eq!(j["store"], engine.store_unasked_json(), "{what}: {j}");

        // Only the ID: one request.
        let (_d, path) = analyzed_file(&format!(
            "[run-image]\n  reference = \"{hex}\"\n\n[run-image.target]\n  os = \"linux\"\n  arch = \"arm64\"\n"
        ));
        proxy.clear();
        let (o, _) = hook(&path);
        assert_eq!(o.status.code(), Some(0), "{what}: {}", stderr(&o));
        let (lines, conns) = proxy.requests();
        assert_eq!(
            lines,
            [format!("GET /images/sha256:{hex}/json?manifests=1")],
            "{what}"
        );
        assert_eq!(conns, 1, "{what}");

        // No target: the daemon's platform from /info, beside the lookup; never /version.
        let (_d, path) = analyzed_file(&format!("[run-image]\n  reference = \"{hex}\"\n"));
        proxy.clear();
        let (o, j) = hook(&path);
        let (lines, _) = proxy.requests();
        assert_eq!(lines.len(), 2, "{what}: {lines:?}");
        assert!(
            lines.contains(&"GET /info".to_string()),
            "{what}: {lines:?}"
        );
        assert!(
            !lines.iter().any(|l| l.contains("/version")),
            "{what}: {lines:?}"
        );
        assert_eq!(j["store"], engine.store, "{what}: {j}");
        // The test machine's daemons are amd64, but the ID names the arm64 image, and that
        // is the target (issue 19: the reference's own platform before the daemon's).
        assert_eq!(j["platform_source"], "reference", "{what}: {j}");
        assert_eq!(j["platform"], "linux/arm64", "{what}: {j}");
        assert_eq!(o.status.code(), Some(0), "{what}: {j}");
    }
}
