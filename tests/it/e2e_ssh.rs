//! `ssh://` daemon hosts (issue 23) through a real sshd the environment starts on loopback
//! (Debian's openssh-server, a key it makes, the client settings in ssh_config.d), whose key
//! may only run `docker system dial-stdio` against dockerd 20.10: what runref asks there is
//! the docker CLI's command, or the sshd refuses it. inspect and reconcile see over ssh what
//! they see on the socket; a Docker context made by the real docker CLI with an ssh endpoint
//! works; a user ssh cannot log in as fails saying what ssh said.

use crate::support::fixture::{docker_archive, unique, ImageSpec};
use crate::support::*;

#[test]
fn an_ssh_host_is_the_daemon_behind_it() {
    let env = Env::get();
    let ssh = env.ssh_host.as_str();
    let image = format!("{}/{}:1.0", env.registry, unique("ssh"));
    let (archive, built) = docker_archive(&ImageSpec::new("linux/amd64"), &unique("s"), &[&image]);
    load(&connect(&env.docker_host), archive);
    let id = built.config_digest.hex().to_string();

    // inspect: the same image, found through ssh.
    let inspect = |host: &str| {
        let (o, j) = runref_json(host, &["inspect", &image, "--no-referrers"]);
        assert_eq!(o.status.code(), Some(0), "{j}");
        j
    };
    let over_ssh = inspect(ssh);
    let on_socket = inspect(&env.docker_host);
    assert_eq!(
        over_ssh["daemon"]["image_id"],
        on_socket["daemon"]["image_id"]
    );
    assert_eq!(over_ssh["daemon"]["store"], "docker-classic", "{over_ssh}");

    // reconcile --daemon, pull policy never: the image ID, written.
    let (_d, path) = analyzed_file(&format!("[run-image]\n  reference = \"{image}\"\n"));
    let p = path.to_str().unwrap();
    let (o, j) = runref_json(
        ssh,
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
    assert_eq!(o.status.code(), Some(0), "{j}\n{}", stderr(&o));
    assert_eq!(j["after"], id.as_str(), "{j}");
    assert!(std::fs::read_to_string(&path).unwrap().contains(&id));

    // A context made by the docker CLI with an ssh endpoint.
    let config = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(&env.docker_cli)
        .env("DOCKER_CONFIG", config.path())
        .args([
            "context",
            "create",
            "remote",
            "--docker",
            &format!("host={ssh}"),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let cfg = config.path().to_str().unwrap();
    let o = runref_with(
        "",
        &[("DOCKER_CONFIG", cfg), ("DOCKER_HOST", "")],
        &[
            "inspect",
            &image,
            "--no-referrers",
            "--context",
            "remote",
            "--format",
            "json",
        ],
    );
    let j = json_of(&o);
    assert_eq!(j["docker_context"], "remote", "{j}");
    assert_eq!(
        j["daemon"]["image_id"], on_socket["daemon"]["image_id"],
        "{j}"
    );

    // A user ssh cannot log in as: what ssh said, and what to check.
    let bad = ssh.replacen("ssh://", "ssh://nobody@", 1);
    let o = runref(
        &bad,
        &["reconcile", p, "--daemon", "--pull-policy", "never"],
    );
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("Permission denied (publickey)"), "{e}");
    assert!(
        e.contains("ssh -o BatchMode=yes HOST docker version"),
        "{e}"
    );
}
