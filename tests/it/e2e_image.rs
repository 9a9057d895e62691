//! The runref image (issue 23): `scripts/image` puts the static binary (built by
//! scripts/test before the tests) on `FROM scratch` with CA roots and pushes it with buildx;
//! runref proves it by digest with `verify --content` (its one executable is x86-64), and it
//! runs as a platform runs it between restorer and exporter: its own filesystem as the root,
//! the daemon socket and an analyzed.toml mounted in. This machine's engines cannot start
//! containers (runc fails to create the task), so a chroot into the image's filesystem, with
//! the socket and the layers directory bind-mounted, stands in for `docker run`.

use crate::support::fixture::{docker_archive, unique, ImageSpec};
use crate::support::*;

const NO_DAEMON: &str = "unix:///nonexistent.sock";

/// Unmounts what a test bind-mounted, whatever happens.
struct Mounted(Vec<std::path::PathBuf>);

impl Drop for Mounted {
    fn drop(&mut self) {
        for m in self.0.iter().rev() {
            let _ = std::process::Command::new("umount").arg(m).status();
        }
    }
}

#[test]
fn the_runref_image_is_proven_and_runs_as_a_platform_runs_it() {
    let env = Env::get();
    let bin = std::env::var("RUNREF_TEST_STATIC_BIN")
        .expect("RUNREF_TEST_STATIC_BIN: scripts/test builds the static binary; run scripts/test");
    let image = format!("{}/{}:test", env.registry, unique("runref-image"));
    let o = std::process::Command::new(repo_root().join("scripts/image"))
        .arg(&image)
        .env("RUNREF_STATIC_BIN", &bin)
        .env("DOCKER", &env.docker_cli)
        .env("DOCKER_HOST", &env.docker28_host)
        .env("DOCKER_CONFIG", &env.docker_config)
        .output()
        .unwrap();
    assert!(o.status.success(), "scripts/image: {}", stderr(&o));

    let (o, j) = runref_json(
        NO_DAEMON,
        &["verify", &image, "--platforms", "linux/amd64", "--content"],
    );
    assert_eq!(o.status.code(), Some(0), "{j}");
    let content = &j["platforms"][0]["content"];
    assert_eq!(content["elf_files"], 1, "{j}");
    assert_eq!(content["sample"][0]["path"], "runref", "{j}");
    assert_eq!(content["sample"][0]["arch"], "amd64", "{j}");

    // The image's filesystem as a root of its own.
    let root = tempfile::tempdir().unwrap();
    let export = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} export --insecure {image} - | tar -x -C {}",
            env.peers_bin.join("crane").display(),
            root.path().display()
        ))
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", stderr(&export));
    assert!(root
        .path()
        .join("etc/ssl/certs/ca-certificates.crt")
        .is_file());
    // A run image in the daemon, and the restorer's analyzed.toml naming it.
    let run = format!("{}/{}:1.0", env.registry, unique("image-run"));
    let (archive, built) = docker_archive(&ImageSpec::new("linux/amd64"), &unique("i"), &[&run]);
    load(&connect(&env.docker_host), archive);
    let layers = tempfile::tempdir().unwrap();
    let analyzed = layers.path().join("analyzed.toml");
    std::fs::write(&analyzed, format!("[run-image]\n  reference = \"{run}\"\n")).unwrap();
    let socket = env.docker_host.trim_start_matches("unix://");
    let (in_socket, in_layers) = (root.path().join("docker.sock"), root.path().join("layers"));
    std::fs::write(&in_socket, b"").unwrap();
    std::fs::create_dir(&in_layers).unwrap();
    let mut mounted = Mounted(vec![]);
    for (from, to) in [
        (std::path::Path::new(socket), &in_socket),
        (layers.path(), &in_layers),
    ] {
        let m = std::process::Command::new("mount")
            .arg("--bind")
            .arg(from)
            .arg(to)
            .output()
            .unwrap();
        assert!(m.status.success(), "mount --bind: {}", stderr(&m));
        mounted.0.push(to.clone());
    }
    let o = std::process::Command::new("/usr/sbin/chroot")
        .arg(root.path())
        .args([
            "/runref",
            "reconcile",
            "--daemon",
            "--pull-policy",
            "never",
            "--platform",
            "linux/amd64",
            "--docker-host",
            "unix:///docker.sock",
            "/layers/analyzed.toml",
        ])
        .env_clear()
        .output()
        .unwrap();
    drop(mounted);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let written = std::fs::read_to_string(&analyzed).unwrap();
    assert!(written.contains(built.config_digest.hex()), "{written}");
}
