//! Peak memory and open files of the runref process at the sizes issue 10 names: a
//! 10,000-entry index through `verify`, and a daemon holding 50,000 images of one repository
//! through reconcile's per-arch path. Bounds (not timings): under 200 MB resident and under 256
//! open files, sampled from /proc while the process runs.

use crate::support::fake_registry::{self, response, Reply};
use crate::support::*;
use runref::model::digest::Digest;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::time::Duration;

const MAX_RSS_KB: u64 = 200 * 1024;
const MAX_FDS: usize = 256;

/// Runs runref with `args`, sampling its peak resident memory (VmHWM) and open files.
fn measured(docker_host: &str, args: &[&str]) -> (std::process::Output, u64, usize) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_runref"))
        .args(args)
        .env("DOCKER_HOST", docker_host)
        .env_remove("DOCKER_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (mut rss, mut fds) = (0u64, 0usize);
    let sampler = std::thread::spawn(move || loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if status.is_empty() || status.contains("State:\tZ") {
            return (rss, fds);
        }
        if let Some(kb) = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
        {
            rss = rss.max(kb);
        }
        if let Ok(d) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
            fds = fds.max(d.count());
        }
        std::thread::sleep(Duration::from_millis(5));
    });
    let out = child.wait_with_output().unwrap();
    let (rss, fds) = sampler.join().unwrap();
    (out, rss, fds)
}

const CONFIG: &str =
    r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_of_a_10000_entry_index_stays_flat() {
    let config = Digest::of(CONFIG.as_bytes());
    let mut blobs: HashMap<String, (String, &'static str)> = HashMap::new();
    let mut entries = Vec::new();
    for i in 0..10_000 {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{}}},"layers":[],"annotations":{{"n":"{i}"}}}}"#,
            CONFIG.len()
        );
        let d = Digest::of(m.as_bytes());
        entries.push(format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":{},"platform":{{"os":"linux","architecture":"amd64"}}}}"#,
            m.len()
        ));
        blobs.insert(
            format!("/v2/big/manifests/{d}"),
            (m, "application/vnd.oci.image.manifest.v1+json"),
        );
    }
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        entries.join(",")
    );
    let index_digest = Digest::of(index.as_bytes());
    blobs.insert(
        format!("/v2/big/manifests/{index_digest}"),
        (index, "application/vnd.oci.image.index.v1+json"),
    );
    blobs.insert(
        format!("/v2/big/blobs/{config}"),
        (CONFIG.to_string(), "application/octet-stream"),
    );
    let blobs = Arc::new(blobs);
    let addr = fake_registry::serve(move |req| match blobs.get(&req.path) {
        Some((body, ct)) => Reply::Full(response("200 OK", &[("Content-Type", ct)], body)),
        None => Reply::Full(response("404 Not Found", &[], "")),
    })
    .await;
    let r = format!("{addr}/big@{index_digest}");
    let (o, rss, fds) = tokio::task::spawn_blocking(move || {
        measured(
            "unix:///nonexistent.sock",
            &["verify", &r, "--format", "json"],
        )
    })
    .await
    .unwrap();
    let j = json_of(&o);
    assert_eq!(registry_saw(&j), 1 + 10_000 + 10_000, "{}", stderr(&o));
    eprintln!("10,000 entries: peak RSS {rss} kB, {fds} open files");
    assert!(rss < MAX_RSS_KB, "peak RSS {rss} kB");
    assert!(fds < MAX_FDS, "{fds} open files");
}

/// An Engine API on a unix socket holding `n` images tagged in one repository, none of them
/// the digest asked for: reconcile's per-arch path must look through them all.
fn many_images_daemon(n: usize) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let id = |i: usize| format!("sha256:{i:064x}");
    let list: Arc<String> = Arc::new(format!(
        "[{}]",
        (0..n)
            .map(|i| format!(
                r#"{{"Id":"{}","ParentId":"","RepoTags":["127.0.0.1:1/run:t{i}"],"RepoDigests":[],"Created":0,"Size":1,"SharedSize":0,"Labels":{{}},"Containers":0}}"#,
                id(i)
            ))
            .collect::<Vec<_>>()
            .join(",")
    ));
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let list = list.clone();
            std::thread::spawn(move || {
                let mut c = conn;
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match c.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(k) => {
                                buf.extend_from_slice(&chunk[..k]);
                                continue;
                            }
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    buf.drain(..end + 4);
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    let path = path.split('?').next().unwrap_or("");
                    let path = path
                        .strip_prefix("/v1.")
                        .and_then(|p| p.split_once('/').map(|(_, r)| format!("/{r}")))
                        .unwrap_or_else(|| path.to_string());
                    let (status, body) = if path == "/_ping" {
                        ("200 OK", "OK".to_string())
                    } else if path == "/version" {
                        ("200 OK", r#"{"Version":"20.10.24","ApiVersion":"1.41","Os":"linux","Arch":"amd64"}"#.to_string())
                    } else if path == "/info" {
                        ("200 OK", r#"{"Driver":"overlay2","DriverStatus":[],"OSType":"linux","Architecture":"x86_64","ServerVersion":"20.10.24"}"#.to_string())
                    } else if path == "/images/json" {
                        ("200 OK", (*list).clone())
                    } else if let Some(name) = path
                        .strip_prefix("/images/")
                        .and_then(|p| p.strip_suffix("/json"))
                        .filter(|n| n.starts_with("sha256"))
                    {
                        (
                            "200 OK",
                            format!(
                                r#"{{"Id":"{name}","RepoTags":[],"RepoDigests":[],"Os":"linux","Architecture":"amd64","RootFS":{{"Type":"layers","Layers":["sha256:{:064x}"]}}}}"#,
                                1
                            ),
                        )
                    } else {
                        (
                            "404 Not Found",
                            r#"{"message":"No such image"}"#.to_string(),
                        )
                    };
                    let r = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if c.write_all(r.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (dir, format!("unix://{}", path.display()))
}

#[test]
fn reconcile_with_50000_local_images_stays_flat() {
    let (_d, host) = many_images_daemon(50_000);
    let (_f, path) = analyzed_file(
        "[run-image]\n  reference = \"127.0.0.1:1/run@sha256:2222222222222222222222222222222222222222222222222222222222222222\"\n",
    );
    let before = std::fs::read(&path).unwrap();
    let (o, rss, fds) = measured(
        &host,
        &[
            "reconcile",
            path.to_str().unwrap(),
            "--daemon",
            "--pull-policy",
            "never",
            "--format",
            "json",
        ],
    );
    eprintln!(
        "50,000 images: peak RSS {rss} kB, {fds} open files; {}",
        stdout(&o)
    );
    assert!(o.status.code().is_some(), "no crash: {}", stderr(&o));
    assert_ne!(o.status.code(), Some(101), "no panic: {}", stderr(&o));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "nothing decided, nothing written"
    );
    assert!(rss < MAX_RSS_KB, "peak RSS {rss} kB");
    assert!(fds < MAX_FDS, "{fds} open files");
}
