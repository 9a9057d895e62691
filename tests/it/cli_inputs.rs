//! Inputs as people type them (issue 19), against the real binary, no daemon or registry:
//! durations, daemon hosts that cannot work, help that names only what a command does, and
//! Ctrl-C.

use crate::support::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::time::Duration;

fn digest_file() -> (tempfile::TempDir, std::path::PathBuf) {
    analyzed_file(&format!(
        "[run-image]\n  reference = \"127.0.0.1:1/run@sha256:{}\"\n",
        "2".repeat(64)
    ))
}

/// Item 9: `5s`, `1.5`, `2m`, `1m30s`, `500ms` are accepted; 0 and nonsense are usage
/// errors (exit 2) that say what to type.
#[test]
fn durations_are_accepted_as_people_type_them() {
    let (_d, path) = digest_file();
    let p = path.to_str().unwrap();
    for ok in ["5s", "1.5", "2m", "1m30s", "500ms", "30"] {
        for flag in ["--timeout", "--deadline"] {
            let o = runref(
                "unix:///nonexistent.sock",
                &[
                    "reconcile",
                    p,
                    "--pull-policy",
                    "never",
                    flag,
                    ok,
                    "--check",
                ],
            );
            assert_ne!(o.status.code(), Some(2), "{flag} {ok}: {}", stderr(&o));
        }
    }
    for bad in ["0", "0s", "0.0", "soon", "inf", "1000000h"] {
        let o = runref(
            "unix:///nonexistent.sock",
            &["reconcile", p, "--timeout", bad],
        );
        assert_eq!(o.status.code(), Some(2), "--timeout {bad}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(!e.contains("invalid digit"), "{e}");
        assert!(
            e.contains("more than 0")
                || e.contains("give seconds")
                || e.contains("7 days")
                || e.contains("not a number"),
            "--timeout {bad}: {e}"
        );
    }
}

/// Daemon hosts that cannot work say why: a refused tcp port says "Connection refused"; an
/// ssh:// host that ssh cannot reach says what ssh said and what runref runs there (never "is
/// it running?"); an ssh:// host with a path is refused as the docker CLI refuses it.
#[test]
fn daemon_connection_errors_name_the_cause() {
    let (_d, path) = digest_file();
    let p = path.to_str().unwrap();
    let o = runref(
        "tcp://127.0.0.1:1",
        &[
            "reconcile",
            p,
            "--daemon",
            "--pull-policy",
            "never",
            "--platform",
            "linux/amd64",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).to_lowercase().contains("connection refused"),
        "{}",
        stderr(&o)
    );
    let o = runref(
        "ssh://builder@build-host",
        &["reconcile", p, "--daemon", "--pull-policy", "never"],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("ssh: ") && e.contains("build-host") && e.contains("docker system dial-stdio"),
        "{e}"
    );
    assert!(!e.contains("is it running"), "{e}");
    let o = runref(
        "ssh://builder@build-host/var/run/docker.sock",
        &["reconcile", p, "--daemon", "--pull-policy", "never"],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("an ssh host has no path"), "{e}");
}

/// Help names only what the command does: verify, index create and copy never pull or
/// export; copy's example does not wrap mid-flag; one flag name for the content proof.
#[test]
fn help_texts_name_only_what_each_command_does() {
    for cmd in [&["verify"][..], &["copy"], &["index", "create"]] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let o = runref("unix:///nonexistent.sock", &args);
        let h = stdout(&o);
        assert!(o.status.success(), "{h}");
        assert!(!h.contains("pulls and platform exports"), "{cmd:?}: {h}");
        assert!(h.contains("--timeout <DURATION>"), "{cmd:?}: {h}");
        assert!(h.contains("--content"), "{cmd:?}: {h}");
        assert!(!h.contains("--verify-content"), "{cmd:?}: one name: {h}");
    }
    let o = runref("unix:///nonexistent.sock", &["reconcile", "--help"]);
    assert!(stdout(&o).contains("pulls and platform exports have 600s"));
    // The alias still works for scripts written against the old name.
    let o = runref(
        "unix:///nonexistent.sock",
        &[
            "copy",
            "a.invalid/x:1",
            "b.invalid/y:1",
            "--verify-content",
            "--dry-run",
            "--timeout",
            "1",
        ],
    );
    assert_ne!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// Ctrl-C (SIGINT) while runref waits on a daemon: one line saying nothing was changed, exit
/// 130, the file untouched.
#[test]
fn ctrl_c_says_what_was_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut c in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = c.read(&mut buf);
            let _ = c.flush();
            held.push(c);
        }
    });
    let (_d, path) = digest_file();
    let before = std::fs::read(&path).unwrap();
    let child = std::process::Command::new(runref_bin())
        .args([
            "reconcile",
            path.to_str().unwrap(),
            "--daemon",
            "--pull-policy",
            "never",
            "--platform",
            "linux/amd64",
        ])
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .env("RUNREF_NO_CACHE", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{e}");
    assert!(e.contains("interrupted; nothing was changed"), "{e}");
    assert_eq!(e.lines().count(), 1, "one line: {e}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// A usage error under `--format json` is the documented `{"error", "exit_code"}` object, not
/// clap's text (newcomer pass).
#[test]
fn usage_errors_under_format_json_are_json() {
    let (_d, path) = digest_file();
    let o = runref(
        "unix:///nonexistent.sock",
        &[
            "reconcile",
            path.to_str().unwrap(),
            "--platform",
            "bo/gu/s/x",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let j = json_of(&o);
    assert_eq!(j["exit_code"], 2, "{j}");
    assert!(j["error"].as_str().unwrap().contains("--platform"), "{j}");
}

const SUBCOMMANDS: &[&str] = &[
    "reconcile",
    "inspect",
    "verify",
    "diagnose",
    "index",
    "copy",
    "completions",
    "man",
];

/// Issue 23: completions for bash, zsh and fish from the clap definitions; the bash script
/// parses (`bash -n`) and every script names every subcommand.
#[test]
fn completions_parse_and_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = runref("unix:///nonexistent.sock", &["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completions lack {sub}");
        }
        if shell == "bash" {
            let dir = tempfile::tempdir().unwrap();
            let f = dir.path().join("runref.bash");
            std::fs::write(&f, &script).unwrap();
            let check = std::process::Command::new("bash")
                .arg("-n")
                .arg(&f)
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
    let o = runref("unix:///nonexistent.sock", &["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Issue 23: `runref man` is a man page groff renders without errors, with a section for
/// every subcommand (index create included) and the environment list.
#[test]
fn the_man_page_renders_and_covers_every_subcommand() {
    let o = runref("unix:///nonexistent.sock", &["man"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = stdout(&o);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("runref.1");
    std::fs::write(&f, &page).unwrap();
    let r = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&f)
        .output()
        .expect("groff (groff-base; scripts/test-env installs it)");
    assert!(
        r.status.success() && r.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    for sub in [
        "RECONCILE",
        "INSPECT",
        "VERIFY",
        "DIAGNOSE",
        "INDEX CREATE",
        "COPY",
    ] {
        assert!(
            page.contains(&format!(".SH \"RUNREF {sub}\"")),
            "no section for {sub}"
        );
    }
    assert!(page.contains("RUNREF_INSECURE_REGISTRIES"));
}

/// Issue 23: RUNREF_INSECURE_REGISTRIES is --insecure-registry (comma-separated), and every
/// variable runref reads is listed in --help.
#[test]
fn every_variable_is_in_the_help() {
    let o = runref("unix:///nonexistent.sock", &["--help"]);
    let h = stdout(&o);
    for v in [
        "CNB_USE_DAEMON",
        "CNB_ANALYZED_PATH",
        "RUNREF_PULL_POLICY",
        "RUNREF_REGISTRY_MIRRORS",
        "RUNREF_INSECURE_REGISTRIES",
        "RUNREF_CACHE_DIR",
        "RUNREF_NO_CACHE",
        "RUNREF_LAYER_PARALLELISM",
        "RUNREF_MAX_MANIFEST_BYTES",
        "RUNREF_MAX_CONFIG_BYTES",
        "RUNREF_MAX_ANALYZED_BYTES",
        "RUNREF_MAX_ZSTD_WINDOW",
        "DOCKER_HOST",
    ] {
        assert!(h.contains(v), "--help lacks {v}");
    }
    let o = runref("unix:///nonexistent.sock", &["verify", "--help"]);
    assert!(
        stdout(&o).contains("RUNREF_INSECURE_REGISTRIES"),
        "{}",
        stdout(&o)
    );
}

/// A dry run into a directory that is neither a layout nor empty refuses what the copy would
/// (a newcomer's dry run said "would push", the copy then failed), before any source is read.
#[test]
fn a_dry_run_into_a_foreign_directory_is_refused_as_the_copy_is() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let target = format!("oci:{}:v1", dir.path().display());
    for dry in [true, false] {
        let mut args = vec!["copy", "127.0.0.1:1/run:v1", target.as_str()];
        if dry {
            args.push("--dry-run");
        }
        let o = runref("unix:///nonexistent.sock", &args);
        assert_eq!(o.status.code(), Some(1), "dry {dry}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("not empty and is not an OCI image layout"),
            "dry {dry}: {}",
            stderr(&o)
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing written"
    );
}
