//! A daemon reached over tcp with TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), as the docker CLI
//! reaches a remote engine: dockerd's --tlsverify listener from scripts/test-env.

use crate::support::fixture::{docker_archive, unique, ImageSpec};
use crate::support::*;

#[test]
fn reconcile_over_tls_and_a_clear_error_without_it() {
    let env = Env::get();
    let name = format!("{}/{}:1", env.registry, unique("tls"));
    let (archive, img) = docker_archive(&ImageSpec::new("linux/amd64"), &unique("tls"), &[&name]);
    load(&env.docker(), archive);
    let (_dir, path) = analyzed_file(&format!("[run-image]\n  reference = \"{name}\"\n"));
    let certs = env.docker_cert_path.to_str().unwrap();

    let o = runref_with(
        &env.docker_tls_host,
        &[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", certs)],
        &[
            "reconcile",
            path.to_str().unwrap(),
            "--daemon",
            "--pull-policy",
            "never",
            "--platform",
            "linux/amd64",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json_of(&o);
    assert_eq!(v["after"], img.config_digest.hex());

    // Plain HTTP to the TLS port: exit 1 with a message naming the host and the next step.
    let o = runref(
        &env.docker_tls_host,
        &[
            "reconcile",
            path.to_str().unwrap(),
            "--daemon",
            "--pull-policy",
            "never",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains(&env.docker_tls_host) && e.contains("DOCKER_TLS_VERIFY=1"),
        "{e}"
    );
}
