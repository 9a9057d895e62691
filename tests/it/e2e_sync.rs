//! `runref sync` (issue 24) between two real registries: the plain one as source, the
//! private-CA TLS one as target. 50 images x 3 tags (two digests each) synced; a re-run costs
//! only HEADs (and, carrying referrers, one tag list per image), asserted from both access
//! logs; a moved source tag is copied, an image deleted on the target restored, shards 1..4
//! cover the file exactly once, an unreachable source fails that image only. A 429 storm and
//! Docker Hub's `ratelimit-remaining` come from an in-process source (no real registry sends
//! them on demand).

use crate::support::fixture::{build_index, build_single, push, unique, ImageSpec, IndexSpec};
use crate::support::*;
use std::path::{Path, PathBuf};

const NO_DAEMON: &str = "unix:///nonexistent.sock";
const IMAGES: usize = 50;

/// `METHOD PATH` of each request in `log` whose path starts with `/v2/<prefix>`.
fn requests_in(log: &Path, prefix: &str) -> Vec<String> {
    let needle = format!(" /v2/{prefix}");
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" HTTP/") && l.contains(&needle))
        .filter_map(|l| {
            let start = l.find('"')? + 1;
            let rest = &l[start..];
            let end = rest.find(" HTTP/")?;
            Some(rest[..end].to_string())
        })
        .collect()
}

fn tls_log() -> PathBuf {
    Env::get().registry_log.with_file_name("registry-tls.log")
}

fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn crane(args: &[&str]) {
    let o = peer("crane", args, &[]);
    assert!(o.status.success(), "crane {args:?}: {}", stderr(&o));
}

fn sync(args: &[&str]) -> (std::process::Output, serde_json::Value) {
    let mut a = vec!["sync"];
    a.extend_from_slice(args);
    runref_json(NO_DAEMON, &a)
}

/// The result of `image` (1-based index in the file) for the tags `tags`.
fn result<'a>(j: &'a serde_json::Value, image: usize, tag: &str) -> &'a serde_json::Value {
    let img = j["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["index"] == image)
        .unwrap_or_else(|| panic!("image {image} in {j}"));
    img["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tags"].as_array().unwrap().iter().any(|t| t == tag))
        .unwrap_or_else(|| panic!("tag {tag} of image {image}: {img}"))
}

#[test]
fn fifty_images_sync_rerun_with_heads_and_repair_what_changed() {
    let env = Env::get();
    let prefix = unique("sync-src");
    let mirror = unique("sync-mirror");
    let tls = format!("{}:{}", env.tls_name, env.tls_port);
    // Two images, A (1.0) and B (1.1 and latest), in each of 50 repositories (crane copies
    // within the registry: blobs mounted).
    let a = build_index(
        &IndexSpec::new("sync-a", &["linux/amd64", "linux/arm64"]),
        "v1",
    );
    let b = build_index(&IndexSpec::new("sync-b", &["linux/amd64"]), "v1");
    let seed = format!("{}/{prefix}/seed", env.registry);
    push(&a, "v1", &format!("{seed}:a"));
    push(&b, "v1", &format!("{seed}:b"));
    let all: Vec<usize> = (0..IMAGES).collect();
    std::thread::scope(|s| {
        for chunk in all.chunks(IMAGES / 8 + 1) {
            let seed = &seed;
            let prefix = &prefix;
            s.spawn(move || {
                for i in chunk {
                    let repo = format!("{}/{prefix}/app{i}", env.registry);
                    crane(&[
                        "copy",
                        "--insecure",
                        &format!("{seed}:a"),
                        &format!("{repo}:1.0"),
                    ]);
                    crane(&[
                        "copy",
                        "--insecure",
                        &format!("{seed}:b"),
                        &format!("{repo}:1.1"),
                    ]);
                    crane(&["tag", "--insecure", &format!("{repo}:1.1"), "latest"]);
                }
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let file = |referrers: &str| {
        let mut t = format!(
            "[defaults]\ntarget = \"{tls}/{mirror}/{{name}}\"\nreferrers = \"{referrers}\"\n"
        );
        for i in 0..IMAGES {
            t.push_str(&format!(
                "\n[[image]]\nsource = \"{}/{prefix}/app{i}\"\ntags = [\"1.0\", \"1.1\", \"latest\"]\n",
                env.registry
            ));
        }
        t
    };
    let carrying = write_file(dir.path(), "sync.toml", &file("all"));
    let plain = write_file(dir.path(), "plain.toml", &file("none"));

    let (o, j) = sync(&[&carrying, "--jobs", "8"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(j["summary"]["copied"], 150, "{}", j["summary"]);
    assert_eq!(j["complete"], true);
    // Two digests per image: 1.1 and latest went in one copy.
    let r = result(&j, 7, "latest");
    assert_eq!(r["tags"], serde_json::json!(["1.1", "latest"]), "{r}");
    assert_eq!(r["digest"], b.index_digest.to_string());
    assert_eq!(result(&j, 7, "1.0")["digest"], a.index_digest.to_string());
    let o = peer(
        "crane",
        &["digest", &format!("{tls}/{mirror}/app49:1.0")],
        &[(
            "SSL_CERT_FILE",
            env.registry_pki.join("ca.crt").to_str().unwrap(),
        )],
    );
    assert_eq!(
        stdout(&o).trim(),
        a.index_digest.to_string(),
        "{}",
        stderr(&o)
    );

    // Re-run, carrying referrers (the default): per image one tag list (which shows no
    // referrer tag), one HEAD per tag at the source and at the target, and the referrers
    // API's 404 once for the source registry. Nothing else, nothing written.
    let (s0, t0) = (
        requests_in(&env.registry_log, &prefix).len(),
        requests_in(&tls_log(), &mirror).len(),
    );
    let (o, j) = sync(&[&carrying]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(j["summary"]["present"], 150, "{}", j["summary"]);
    let s = &requests_in(&env.registry_log, &prefix)[s0..];
    let t = &requests_in(&tls_log(), &mirror)[t0..];
    let count = |lines: &[String], what: &str| lines.iter().filter(|l| l.contains(what)).count();
    assert_eq!(count(s, "HEAD "), 150, "{s:?}");
    assert_eq!(count(s, "/tags/list"), IMAGES, "{s:?}");
    assert_eq!(count(s, "/referrers/"), 1, "{s:?}");
    assert_eq!(s.len(), 150 + IMAGES + 1, "{s:?}");
    assert!(t.iter().all(|l| l.starts_with("HEAD ")), "{t:?}");
    assert_eq!(t.len(), 150, "{t:?}");
    assert_eq!(registry_saw(&j), (150 + IMAGES + 1 + 150) as u64);

    // Without referrers: HEADs only, one per tag on each side.
    let (s0, t0) = (
        requests_in(&env.registry_log, &prefix).len(),
        requests_in(&tls_log(), &mirror).len(),
    );
    let (o, j) = sync(&[&plain]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = &requests_in(&env.registry_log, &prefix)[s0..];
    let t = &requests_in(&tls_log(), &mirror)[t0..];
    assert!(
        s.iter().chain(t).all(|l| l.starts_with("HEAD ")),
        "{s:?} {t:?}"
    );
    assert_eq!((s.len(), t.len()), (150, 150));
    assert_eq!(registry_saw(&j), 300);

    // A source tag moved (app0:latest now names A) and an image deleted on the target
    // (app1's B): both found and copied again, nothing else.
    crane(&[
        "tag",
        "--insecure",
        &format!("{}/{prefix}/app0@{}", env.registry, a.index_digest),
        "latest",
    ]);
    let url = format!(
        "https://{tls}/v2/{mirror}/app1/manifests/{}",
        b.index_digest
    );
    assert_eq!(http_delete(&url), "202", "registry DELETE");
    let (o, j) = sync(&[&plain]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(j["summary"]["copied"], 2 + 2, "{}", j["summary"]);
    let moved = result(&j, 1, "latest");
    assert_eq!(
        moved["tags"],
        serde_json::json!(["1.0", "latest"]),
        "{moved}"
    );
    assert_eq!(moved["status"], "copied");
    assert_eq!(result(&j, 1, "1.1")["status"], "present");
    assert_eq!(result(&j, 2, "latest")["status"], "copied", "restored");
    assert_eq!(result(&j, 2, "1.0")["status"], "present");

    // Shards 1..4 of the file: every image in exactly one, and a dry run writes nothing.
    let t0 = requests_in(&tls_log(), &mirror).len();
    let mut seen: Vec<String> = Vec::new();
    for k in 1..=4 {
        let (o, j) = sync(&[&plain, "--dry-run", "--shard", &format!("{k}/4")]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(j["shard"], format!("{k}/4"));
        assert_eq!(
            j["summary"]["present"], j["summary"]["tags"],
            "{}",
            j["summary"]
        );
        for i in j["images"].as_array().unwrap() {
            seen.push(i["source"].as_str().unwrap().to_string());
        }
    }
    let t = &requests_in(&tls_log(), &mirror)[t0..];
    assert!(t.iter().all(|l| l.starts_with("HEAD ")), "{t:?}");
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!((seen.len(), distinct.len()), (IMAGES, IMAGES));

    // An unreachable source fails its image only; the exit code says not everything is there.
    let mixed = write_file(
        dir.path(),
        "mixed.toml",
        &format!(
            "[defaults]\ntarget = \"{tls}/{mirror}/{{name}}\"\n\n[[image]]\nsource = \"127.0.0.1:1/gone/app\"\ntags = [\"1\"]\n\n[[image]]\nsource = \"{}/{prefix}/app3\"\ntags = [\"1.0\"]\n",
            env.registry
        ),
    );
    let (o, j) = sync(&[&mixed, "--timeout", "5"]);
    assert_eq!(o.status.code(), Some(1), "{j}");
    assert_eq!(j["complete"], false);
    assert_eq!(result(&j, 1, "1")["status"], "failed");
    assert!(
        result(&j, 1, "1")["reason"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:1"),
        "{j}"
    );
    assert_eq!(result(&j, 2, "1.0")["status"], "present");
    assert_eq!(j["summary"]["images_failed"], 1);
    // The text names the failed image and what to do.
    let o = runref(NO_DAEMON, &["sync", &mixed, "--timeout", "5"]);
    let text = stdout(&o);
    assert!(
        text.contains("FAILED") && text.contains("run again"),
        "{text}"
    );
    assert!(!stderr(&o).contains("[1/2]"), "piped: no progress line");
    // On a terminal (a pseudo-terminal by `script`), a line per image as it finishes.
    let cmd = format!(
        "{} sync {mixed} --timeout 5 --jobs 1",
        runref_bin().display()
    );
    let tty = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env_remove("CI")
        .env("DOCKER_HOST", NO_DAEMON)
        .output()
        .expect("script (util-linux) runs");
    let seen = String::from_utf8_lossy(&tty.stdout);
    assert!(
        seen.contains("[1/2] 127.0.0.1:1/gone/app -> ")
            && seen.contains(": 1 FAILED")
            && seen.contains("[2/2] "),
        "{seen}"
    );
}

/// What a newcomer's file got wrong, run against the real registries: a source repository
/// that does not exist fails its image (it passed as "no tag passed the filters"); two images
/// whose filters choose one target tag: one of them fails, naming the other; a dry run of a
/// platform subset already mirrored says present (it said "would copy": the source's digest is
/// not the subset's).
#[test]
fn a_missing_repository_a_shared_target_tag_and_a_subset_dry_run() {
    let env = Env::get();
    let tls = format!("{}:{}", env.tls_name, env.tls_port);
    let prefix = unique("sync-more");
    let mirror = unique("sync-more-mirror");
    let spec = IndexSpec::new("sync-more", &["linux/amd64", "linux/arm64"]);
    let a = build_index(&spec, "v1");
    for repo in ["one", "two", "three"] {
        push(&a, "v1", &format!("{}/{prefix}/{repo}:1.1", env.registry));
    }
    let dir = tempfile::tempdir().unwrap();
    let r = &env.registry;
    let file = write_file(
        dir.path(),
        "more.toml",
        &format!(
            "[[image]]\nsource = \"{r}/{prefix}/typo\"\ntarget = \"{tls}/{mirror}/typo\"\n\n\
             [[image]]\nsource = \"{r}/{prefix}/one\"\nallow = ['1\\.1']\ntarget = \"{tls}/{mirror}/clash\"\n\n\
             [[image]]\nsource = \"{r}/{prefix}/two\"\nallow = ['1\\.1']\ntarget = \"{tls}/{mirror}/clash\"\n\n\
             [[image]]\nsource = \"{r}/{prefix}/three\"\ntags = [\"1.1\"]\nplatforms = [\"linux/arm64\"]\ntarget = \"{tls}/{mirror}/subset\"\n"
        ),
    );
    let (o, j) = sync(&[&file]);
    assert_eq!(o.status.code(), Some(1), "{j}");
    let images = j["images"].as_array().unwrap();
    let typo = images[0]["error"].as_str().unwrap_or("");
    assert!(typo.contains("no such repository"), "{j}");
    let clashes: Vec<&str> = images[1..3]
        .iter()
        .flat_map(|i| i["results"].as_array().unwrap())
        .filter_map(|r| r["reason"].as_str())
        .collect();
    assert_eq!(clashes.len(), 1, "{j}");
    assert!(clashes[0].contains("is also written by [[image]]"), "{j}");
    assert_eq!(result(&j, 4, "1.1")["status"], "copied", "{j}");
    let subset = result(&j, 4, "1.1")["digest"].clone();
    assert_ne!(subset, a.index_digest.to_string(), "a new index");
    // Dry run: the subset is there (planned from the source, compared by HEAD), nothing written.
    let t0 = requests_in(&tls_log(), &mirror).len();
    let (_, j) = sync(&[&file, "--dry-run"]);
    assert_eq!(result(&j, 4, "1.1")["status"], "present", "{j}");
    assert_eq!(result(&j, 4, "1.1")["digest"], subset, "{j}");
    let t = &requests_in(&tls_log(), &mirror)[t0..];
    assert!(t.iter().all(|l| l.starts_with("HEAD ")), "{t:?}");
}

/// A source that answers 429 (Retry-After: 1) to the first two requests and says, by
/// `ratelimit-remaining`, that no pulls are left until its third manifest request: the sync
/// waits both out (one `[ratelimit]` pause) and the image arrives, proven.
#[test]
fn a_429_storm_and_a_spent_rate_limit_are_waited_out() {
    use crate::support::fake_registry::{self, head, Reply};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let env = Env::get();
    let built = build_single(&ImageSpec::new("linux/amd64"), "sync-429", "v1");
    let blobs = built.layout.join("blobs/sha256");
    let top = built.index_digest.to_string();
    let wanted = top.clone();
    let manifest = built.index.clone();
    let (seen, refused, spent) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (count, storm, rate) = (seen.clone(), refused.clone(), spent.clone());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(fake_registry::serve(move |req| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        if n < 2 {
            storm.fetch_add(1, Ordering::SeqCst);
            return Reply::Full(fake_registry::response(
                "429 Too Many Requests",
                &[("Retry-After", "1"), ("Content-Type", "application/json")],
                r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#,
            ));
        }
        let p = req.path.as_str();
        let is_head = req.method == "HEAD";
        let send = |ct: &str, extra: &[(&str, &str)], body: Vec<u8>| {
            let mut h = vec![("Content-Type", ct)];
            h.extend_from_slice(extra);
            match is_head {
                true => Reply::Full(head("200 OK", &h, body.len())),
                false => Reply::Bytes(head("200 OK", &h, body.len()), body),
            }
        };
        if p == "/v2/r/manifests/v1" || p == format!("/v2/r/manifests/{top}") {
            let left = match rate.fetch_add(1, Ordering::SeqCst) {
                0 => "0;w=21600",
                _ => "100;w=21600",
            };
            return send(
                "application/vnd.oci.image.manifest.v1+json",
                &[
                    ("Docker-Content-Digest", &top),
                    ("ratelimit-remaining", left),
                ],
                manifest.clone(),
            );
        }
        if let Some(d) = p.strip_prefix("/v2/r/blobs/sha256:") {
            if let Ok(bytes) = std::fs::read(blobs.join(d)) {
                return send("application/octet-stream", &[], bytes);
            }
        }
        if p.starts_with("/v2/r/tags/list") {
            return send(
                "application/json",
                &[],
                br#"{"name":"r","tags":["v1"]}"#.to_vec(),
            );
        }
        Reply::Full(fake_registry::response(
            "404 Not Found",
            &[("Content-Type", "application/json")],
            r#"{"errors":[{"code":"NOT_FOUND","message":"unknown"}]}"#,
        ))
    }));
    let target = format!("{}/{}", env.registry, unique("sync-429"));
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "sync.toml",
        &format!(
            "[ratelimit]\nmin = 1\nretry = \"1s\"\n\n[[image]]\nsource = \"{addr}/r\"\ntags = [\"v1\"]\ntarget = \"{target}\"\nreferrers = \"none\"\n"
        ),
    );
    let (o, j) = sync(&[&file]);
    assert_eq!(o.status.code(), Some(0), "{j}\n{}", stderr(&o));
    assert_eq!(refused.load(Ordering::SeqCst), 2, "the storm was met");
    assert_eq!(j["rate_limit_pauses"], 1, "{j}");
    assert_eq!(result(&j, 1, "v1")["status"], "copied", "{j}");
    assert_eq!(result(&j, 1, "v1")["digest"], wanted);
    // Every request is counted: what the fake and the target's access log saw, and the
    // HTTPS attempt each plain-HTTP host refused.
    let target_saw = requests_in(&env.registry_log, target.split_once('/').unwrap().1).len();
    assert_eq!(j["registry_http_fallbacks"], 2, "{j}");
    assert_eq!(
        j["registry_requests"].as_u64().unwrap() as usize,
        seen.load(Ordering::SeqCst) + target_saw + 2,
        "{j}"
    );
    drop(rt);
}
