//! What a first-time user hit (issue 19), each reproduced against the real registry and
//! engines, each asserting the fixed behaviour. The cross-arch default (item 1) runs over
//! every engine in `e2e_matrix`.

use crate::support::engines::ENGINES;
use crate::support::fixture::{
    build_single, docker_archive, elf_for, push, push_new, unique, ImageSpec, IndexSpec,
};
use crate::support::*;

const NO_DAEMON: &str = "unix:///nonexistent.sock";

/// HTTP status of a manifest HEAD on the test registry (`host/path:tag` or `@digest`).
fn manifest_status(reference: &str) -> String {
    let (repo, at) = match reference.split_once('@') {
        Some((r, d)) => (r, d.to_string()),
        None => {
            let (r, t) = reference.rsplit_once(':').unwrap();
            (r, t.to_string())
        }
    };
    let (host, path) = repo.split_once('/').unwrap();
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-I", "-H"])
        .arg(format!(
            "Accept: {}, {}, {}",
            runref::model::manifest::OCI_INDEX,
            runref::model::manifest::OCI_MANIFEST,
            runref::model::manifest::DOCKER_MANIFEST
        ))
        .arg(format!("http://{host}/v2/{path}/manifests/{at}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Item 2: an index whose arm64 entry holds an amd64 executable. `copy --content` pushes
/// the result by digest, proves it, finds the lie and moves no tag; the message blames the
/// source's content (naming the entry and the executable), not the push.
#[test]
fn copy_content_is_proven_before_any_tag_moves() {
    let env = Env::get();
    let mut spec = IndexSpec::new("xlie", &["linux/amd64", "linux/arm64"]);
    spec.images[1].elf_machine = Some(elf_for("amd64"));
    let (src, built) = push_new("first-run-lie", spec);
    let target = format!("{}/{}", env.registry, unique("first-run-lie-copy"));
    let o = runref(
        NO_DAEMON,
        &[
            "copy",
            &format!("{src}:v1"),
            &format!("{target}:v1"),
            "--content",
        ],
    );
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}\n{}", stderr(&o));
    assert_eq!(
        manifest_status(&format!("{target}:v1")),
        "404",
        "the tag must not point at unproven content"
    );
    // The content was pushed by digest (a rerun finds it), only the tag waits for proof.
    assert_eq!(
        manifest_status(&format!("{target}@{}", built.index_digest)),
        "200"
    );
    let arm = built.image("linux/arm64").manifest_digest.short();
    assert!(
        text.contains(&format!(
            "linux/arm64 ({arm}): executables built for another machine"
        )),
        "names the entry: {text}"
    );
    assert!(
        text.contains("/bin/app is amd64"),
        "names the executable: {text}"
    );
    assert!(
        text.contains("the source's content could not be proven")
            && text.contains("no tag was moved")
            && !text.contains("not what was planned"),
        "{text}"
    );
    assert!(text.contains("NOT moved"), "{text}");
    // JSON says the same.
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "copy",
            &format!("{src}:v1"),
            &format!("{target}:v1"),
            "--content",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(j["tags_moved"], false, "{j}");
    assert_eq!(j["pushed"], true);
    // A target tag already naming the lie (put there by another tool, or a plain copy):
    // `copy --content` reads and proves it again instead of calling it up to date.
    let plain = format!("{}/{}", env.registry, unique("first-run-lie-plain"));
    let (o, _) = runref_json(
        NO_DAEMON,
        &["copy", &format!("{src}:v1"), &format!("{plain}:v1")],
    );
    assert_eq!(o.status.code(), Some(0));
    let (o, j) = runref_json(
        NO_DAEMON,
        &[
            "copy",
            &format!("{src}:v1"),
            &format!("{plain}:v1"),
            "--content",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{j}");
    assert_eq!(
        (j["up_to_date"].as_bool(), j["verified"].as_bool()),
        (Some(true), Some(false)),
        "{j}"
    );
    // The honest source copies and tags.
    let (good, _) = push_new(
        "first-run-good",
        IndexSpec::new("xgood", &["linux/amd64", "linux/arm64"]),
    );
    let t2 = format!("{}/{}", env.registry, unique("first-run-good-copy"));
    let (o, j) = runref_json(
        NO_DAEMON,
        &["copy", &format!("{good}:v1"), &t2, "--content"],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    assert_eq!(j["tags_moved"], true);
    assert_eq!(manifest_status(&format!("{t2}:v1")), "200");
}

/// Item 3: a single-manifest copy's summary names its platform (from the config), counts
/// its one manifest PUT, and does not claim attestations "point inside" an index it lacks.
#[test]
fn a_single_manifest_copy_is_summarised_as_one() {
    let env = Env::get();
    let repo = format!("{}/{}", env.registry, unique("first-run-single"));
    let built = build_single(&ImageSpec::new("linux/amd64"), &unique("single"), "v1");
    push(&built, "v1", &format!("{repo}:v1"));
    let target = format!("{}/{}", env.registry, unique("first-run-single-copy"));
    let o = runref(NO_DAEMON, &["copy", &format!("{repo}:v1"), &target]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}\n{}", stderr(&o));
    assert!(text.contains("  linux/amd64 "), "platform shown: {text}");
    assert!(!text.contains("  ? "), "{text}");
    assert!(text.contains("manifests pushed: 1"), "{text}");
    assert!(!text.contains("attestations point inside"), "{text}");
    let fresh = format!("{}/{}", env.registry, unique("first-run-single-copy2"));
    let (_, j) = runref_json(NO_DAEMON, &["copy", &format!("{repo}:v1"), &fresh]);
    assert_eq!(j["entries"][0]["platform"], "linux/amd64", "{j}");
    assert_eq!(j["summary"]["manifests_pushed"], 1, "{j}");
    // Run again: up to date, two HEADs, and (referrers carried by default) the API's 404 and
    // the tag list, which has no `sha256-` tag: nothing else is read.
    let (_, j) = runref_json(NO_DAEMON, &["copy", &format!("{repo}:v1"), &fresh]);
    assert_eq!(
        (j["up_to_date"].as_bool(), Some(registry_saw(&j))),
        (Some(true), Some(2 + 2)),
        "{j}"
    );
    assert_eq!(j["referrers"]["referrers"], 0, "{j}");
    let (_, j) = runref_json(
        NO_DAEMON,
        &["copy", &format!("{repo}:v1"), &fresh, "--referrers", "none"],
    );
    assert_eq!(
        (j["up_to_date"].as_bool(), Some(registry_saw(&j))),
        (Some(true), Some(2)),
        "{j}"
    );
}

/// Item 4: a pull that fails is not reported as a pull, and `never` is not advised when the
/// daemon holds nothing to use instead; messages say "the daemon", not "Docker", on podman.
#[test]
fn a_failed_pull_is_reported_as_a_failure_only() {
    let env = Env::get();
    let missing = format!(
        "{}/{}@sha256:{}",
        env.registry,
        unique("first-run-never-pushed"),
        "7".repeat(64)
    );
    for engine in ENGINES {
        let (_d, path) = analyzed_file(&format!("[run-image]\n  reference = \"{missing}\"\n"));
        let (o, j) = runref_json(
            engine.host(env),
            &[
                "reconcile",
                path.to_str().unwrap(),
                "--daemon",
                "--platform",
                "linux/amd64",
            ],
        );
        let what = engine.name;
        assert_eq!(o.status.code(), Some(1), "{what}: {j}");
        assert_eq!(j["failure"]["reason"], "pull-failed", "{what}: {j}");
        assert!(
            j["pulled"].is_null(),
            "{what}: a failed pull is no pull: {j}"
        );
        let m = j["failure"]["message"].as_str().unwrap();
        assert!(!m.contains("--pull-policy never"), "{what}: {m}");
        assert!(m.contains("holds no image of it"), "{what}: {m}");
        assert!(
            !m.contains("Docker stream error") && !m.contains("Docker daemon"),
            "{what}: {m}"
        );
    }
}

/// Item 5: every variable runref reads means "unset" when empty (lifecycle reads
/// CNB_USE_DAEMON so): an empty CNB_USE_DAEMON is registry mode, an empty RUNREF_PULL_POLICY
/// the default policy, never "invalid value '' for '--daemon'".
#[test]
fn empty_environment_variables_are_unset() {
    let (_d, path) = analyzed_file(&format!(
        "[run-image]\n  reference = \"{}/run@sha256:{}\"\n",
        "registry.invalid",
        "1".repeat(64)
    ));
    let o = runref_with(
        NO_DAEMON,
        &[
            ("CNB_USE_DAEMON", ""),
            ("RUNREF_PULL_POLICY", ""),
            ("RUNREF_REGISTRY_MIRRORS", ""),
            ("RUNREF_CACHE_DIR", ""),
            ("RUNREF_NO_CACHE", ""),
            ("DOCKER_HOST", ""),
        ],
        &[
            "reconcile",
            path.to_str().unwrap(),
            "--platform",
            "linux/amd64",
            "--pull-policy",
            "never",
            "--format",
            "json",
        ],
    );
    let j = json_of(&o);
    assert_eq!(o.status.code(), Some(0), "{j}\n{}", stderr(&o));
    assert_eq!(j["mode"], "registry", "{j}");
    // Without the flag, the empty variable is the default policy, not pack's empty = always.
    let o = runref_with(
        NO_DAEMON,
        &[("CNB_USE_DAEMON", ""), ("RUNREF_PULL_POLICY", "")],
        &[
            "reconcile",
            path.to_str().unwrap(),
            "--check",
            "--format",
            "json",
        ],
    );
    let j = json_of(&o);
    assert_eq!(j["pull_policy"], "if-not-present", "{j}");
    assert!(!stderr(&o).contains("invalid value"), "{}", stderr(&o));
}

/// Item 6: a short image ID (as `docker images` shows it) is inspected in the daemon and is
/// never asked of a registry as `docker.io/library/<id>:latest`.
#[test]
fn inspect_of_a_short_image_id_never_asks_a_registry_for_it() {
    let env = Env::get();
    let name = format!("{}/{}:1.0", env.registry, unique("first-run-short-id"));
    let (archive, _) = docker_archive(&ImageSpec::new("linux/amd64"), &unique("s"), &[&name]);
    load(&connect(&env.docker_host), archive);
    let id = inspect(&connect(&env.docker_host), &name)
        .unwrap()
        .id
        .unwrap();
    let short = &id.trim_start_matches("sha256:")[..12];
    let (o, j) = runref_json(&env.docker_host, &["inspect", short]);
    assert_eq!(o.status.code(), Some(0), "{j}\n{}", stderr(&o));
    assert_eq!(j["daemon"]["image_id"], id.as_str(), "{j}");
    assert_eq!(j["registry_requests"], 0, "{j}");
    let err = j["registry_error"].as_str().unwrap_or_default();
    assert!(!err.contains("docker.io") && !err.contains(short), "{j}");
    // One the daemon does not hold is not asked of Docker Hub either (no internet contact).
    let (o, j) = runref_json(&env.docker_host, &["inspect", "0123456789ab"]);
    assert_eq!(o.status.code(), Some(1), "{j}");
    assert_eq!(j["registry_requests"], 0, "{j}");
    assert!(
        j["registry_error"]
            .as_str()
            .unwrap()
            .contains("never looked up in a registry"),
        "{j}"
    );
}

/// Item 8: a read-only analyzed.toml in a writable directory is refused (not replaced
/// through the directory), untouched, the message naming the file (not a temp file) and the
/// value it would have written; a file of another owner that the user may write keeps its
/// owner and group.
#[test]
fn a_file_its_user_cannot_write_is_refused_and_owners_are_kept() {
    let env = Env::get();
    let (repo, built) = push_new("first-run-ro", IndexSpec::new("ro", &["linux/amd64"]));
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let path = dir.path().join("analyzed.toml");
    let text = format!("[run-image]\n  reference = \"{repo}:v1\"\n");
    std::fs::write(&path, &text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    // As nobody (uid 65534), the user a platform's build step may run as.
    let as_nobody = |path: &std::path::Path| {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(runref_bin())
            .args([
                "reconcile",
                path.to_str().unwrap(),
                "--platform",
                "linux/amd64",
            ])
            .env("RUNREF_NO_CACHE", "1")
            .env("HOME", "/nonexistent")
            .output()
            .expect("setpriv (util-linux) runs")
    };
    let o = as_nobody(&path);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{}\n{err}", stdout(&o));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "untouched");
    assert!(
        err.contains(&format!("cannot write {}", path.display())),
        "{err}"
    );
    assert!(
        !err.contains(".runref-"),
        "names the file, not the temp file: {err}"
    );
    assert!(
        err.contains("Permission denied") && err.contains("mode 0444"),
        "{err}"
    );
    let want = format!("{repo}@{}", built.image("linux/amd64").manifest_digest);
    assert!(
        err.contains(&want),
        "the value it would have written: {err}"
    );
    // A file owned by another user and group (mode 0666): written, owner and group kept.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::os::unix::fs::chown(&path, Some(4242), Some(4243)).unwrap();
    let o = as_nobody(&path);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let m = std::fs::metadata(&path).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (4242, 4243, 0o666));
    assert!(std::fs::read_to_string(&path).unwrap().contains(&want));
    let _ = env;
}

/// Issue 23: `--debug` traces every request the wire saw: as many registry lines as
/// `registry_requests` (the access log's count), and the daemon's requests on its socket;
/// stdout (the JSON) unchanged.
#[test]
fn debug_traces_every_request() {
    let env = Env::get();
    let (repo, _) = push_new(
        "first-run-debug",
        IndexSpec::new("dbg", &["linux/amd64", "linux/arm64"]),
    );
    let o = runref(
        NO_DAEMON,
        &[
            "verify",
            &format!("{repo}:v1"),
            "--format",
            "json",
            "--debug",
        ],
    );
    let j = json_of(&o);
    let trace = stderr(&o);
    let lines = trace
        .lines()
        .filter(|l| l.starts_with("debug: registry GET") || l.starts_with("debug: registry HEAD"))
        .count();
    // Every attempt is a line, the HTTPS one the plain loopback registry refused included,
    // and that fallback is said once.
    assert_eq!(
        lines as u64,
        j["registry_requests"].as_u64().unwrap(),
        "{trace}"
    );
    assert_eq!(j["registry_http_fallbacks"], 1, "{j}");
    assert_eq!(
        trace.matches("plain HTTP from now on").count(),
        1,
        "{trace}"
    );
    let plain = runref(
        NO_DAEMON,
        &["verify", &format!("{repo}:v1"), "--format", "json"],
    );
    assert!(stderr(&plain).is_empty(), "no trace without --debug");
    let (_d, path) = analyzed_file(&format!("[run-image]\n  reference = \"{repo}:v1\"\n"));
    let o = runref(
        &env.docker_host,
        &[
            "reconcile",
            path.to_str().unwrap(),
            "--daemon",
            "--dry-run",
            "--platform",
            "linux/amd64",
            "--debug",
        ],
    );
    assert!(
        stderr(&o).contains("debug: daemon GET unix://"),
        "{}",
        stderr(&o)
    );
}

/// Issue 23: progress on a terminal only. Under a pseudo-terminal (`script`) `verify --content`
/// draws a bar on stderr (bytes, rate) and clears it; piped, or with `--format json`, or under
/// CI, nothing but the report is written.
#[test]
fn progress_is_drawn_on_a_terminal_only() {
    let (repo, _) = push_new(
        "first-run-progress",
        IndexSpec::new("prog", &["linux/amd64"]),
    );
    let cmd = format!("{} verify --content {repo}:v1", runref_bin().display());
    let tty = |extra: &str, ci: Option<&str>| {
        let mut c = std::process::Command::new("script");
        c.args(["-q", "-e", "-c", &format!("{cmd} {extra}"), "/dev/null"]);
        match ci {
            Some(v) => c.env("CI", v),
            None => c.env_remove("CI"),
        };
        let o = c.output().expect("script (util-linux) runs");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let drawn = tty("", None);
    assert!(drawn.contains("layers") && drawn.contains("B/"), "{drawn}");
    assert!(drawn.contains("\u{1b}[2K"), "the bar is cleared: {drawn:?}");
    assert!(!tty("", Some("true")).contains("B/s"), "not under CI");
    assert!(!tty("--format json", None).contains("B/s"), "not with JSON");
    let piped = runref(NO_DAEMON, &["verify", "--content", &format!("{repo}:v1")]);
    assert!(
        stderr(&piped).is_empty() && !stdout(&piped).contains("B/s"),
        "not in a pipe"
    );
}
