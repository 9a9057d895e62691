//! Shared support for end-to-end tests: the real environment started by `scripts/test-env`,
//! daemon helpers (load, pull, tag, remove) and the registry access log.

pub mod engines;
pub mod fake_daemon;
pub mod fake_registry;
pub mod fixture;

use bollard::Docker;
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The real environment: dockerd, podman's compat API and a distribution registry.
#[derive(Clone, Debug)]
pub struct Env {
    pub docker_host: String,
    pub podman_host: String,
    /// podman 5.8 (Debian sid), API 1.44.
    pub podman5_host: String,
    pub registry: String,
    pub registry_log: PathBuf,
    /// dockerd's tcp listener with --tlsverify, and the client certificates for it.
    pub docker_tls_host: String,
    pub docker_cert_path: PathBuf,
    /// Docker Engine 28.5 and 26.1 with the containerd image store.
    pub docker28_host: String,
    pub docker26_host: String,
    /// docker CLI 28 and the DOCKER_CONFIG holding its buildx plugin.
    pub docker_cli: PathBuf,
    pub docker_config: PathBuf,
    /// Debian's busybox-static per Debian architecture: `<dir>/<arch>/x/bin/busybox`.
    pub busybox_dir: PathBuf,
    /// Registries with TLS from a private CA, reached under `tls_name` (a hosts entry naming
    /// `tls_address`, this machine's non-loopback address): "tls" on `tls_port`, "mtls" (a
    /// client certificate required) on `mtls_port`; the CA and client pair in `registry_pki`
    /// (`ca.crt`, `client.cert`, `client.key`), also in /etc/docker/certs.d/NAME:PORT/.
    pub tls_name: String,
    pub tls_address: String,
    pub tls_port: String,
    pub mtls_port: String,
    pub registry_pki: PathBuf,
    /// `ssh://NAME` of the environment's sshd (its key runs `docker system dial-stdio` against
    /// dockerd 20.10 only).
    pub ssh_host: String,
    /// crane, oras, cosign and notation from Debian sid.
    pub peers_bin: PathBuf,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Env {
    /// The environment from `RUNREF_TEST_*` variables, or from `scripts/test-env env` when it
    /// is up. A missing environment fails the test, in CI and out: an end-to-end test that
    /// quietly passes without a daemon proves nothing.
    pub fn get() -> &'static Env {
        static ENV: OnceLock<Env> = OnceLock::new();
        ENV.get_or_init(|| {
            let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            let mut vars = std::collections::HashMap::new();
            for k in [
                "RUNREF_TEST_DOCKER_HOST",
                "RUNREF_TEST_PODMAN_HOST",
                "RUNREF_TEST_PODMAN5_HOST",
                "RUNREF_TEST_REGISTRY",
                "RUNREF_TEST_REGISTRY_LOG",
                "RUNREF_TEST_DOCKER_TLS_HOST",
                "RUNREF_TEST_DOCKER_CERT_PATH",
                "RUNREF_TEST_DOCKER28_HOST",
                "RUNREF_TEST_DOCKER26_HOST",
                "RUNREF_TEST_DOCKER_CLI",
                "RUNREF_TEST_DOCKER_CONFIG",
                "RUNREF_TEST_BUSYBOX_DIR",
                "RUNREF_TEST_TLS_NAME",
                "RUNREF_TEST_TLS_ADDRESS",
                "RUNREF_TEST_TLS_PORT",
                "RUNREF_TEST_MTLS_PORT",
                "RUNREF_TEST_REGISTRY_PKI",
                "RUNREF_TEST_PEERS_BIN",
                "RUNREF_TEST_SSH_HOST",
            ] {
                if let Some(v) = var(k) {
                    vars.insert(k.to_string(), v);
                }
            }
            if vars.len() < 19 {
                let out = Command::new("bash")
                    .arg(repo_root().join("scripts/test-env"))
                    .arg("env")
                    .output()
                    .expect("bash runs");
                if !out.status.success() {
                    panic!(
                        "the test environment is not up (CI={}): run `scripts/test` (or \
                         `scripts/test-env up`) first.\n{}",
                        var("CI").unwrap_or_default(),
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                for line in String::from_utf8_lossy(&out.stdout).lines() {
                    if let Some((k, v)) = line.trim_start_matches("export ").split_once('=') {
                        vars.entry(k.to_string())
                            .or_insert_with(|| v.trim_matches('\'').to_string());
                    }
                }
            }
            let get = |k: &str| {
                vars.get(k)
                    .cloned()
                    .unwrap_or_else(|| panic!("{k} missing"))
            };
            Env {
                docker_host: get("RUNREF_TEST_DOCKER_HOST"),
                podman_host: get("RUNREF_TEST_PODMAN_HOST"),
                podman5_host: get("RUNREF_TEST_PODMAN5_HOST"),
                registry: get("RUNREF_TEST_REGISTRY"),
                registry_log: get("RUNREF_TEST_REGISTRY_LOG").into(),
                docker_tls_host: get("RUNREF_TEST_DOCKER_TLS_HOST"),
                docker_cert_path: get("RUNREF_TEST_DOCKER_CERT_PATH").into(),
                docker28_host: get("RUNREF_TEST_DOCKER28_HOST"),
                docker26_host: get("RUNREF_TEST_DOCKER26_HOST"),
                docker_cli: get("RUNREF_TEST_DOCKER_CLI").into(),
                docker_config: get("RUNREF_TEST_DOCKER_CONFIG").into(),
                busybox_dir: get("RUNREF_TEST_BUSYBOX_DIR").into(),
                tls_name: get("RUNREF_TEST_TLS_NAME"),
                tls_address: get("RUNREF_TEST_TLS_ADDRESS"),
                tls_port: get("RUNREF_TEST_TLS_PORT"),
                mtls_port: get("RUNREF_TEST_MTLS_PORT"),
                registry_pki: get("RUNREF_TEST_REGISTRY_PKI").into(),
                ssh_host: get("RUNREF_TEST_SSH_HOST"),
                peers_bin: get("RUNREF_TEST_PEERS_BIN").into(),
            }
        })
    }

    pub fn docker(&self) -> Docker {
        connect(&self.docker_host)
    }

    pub fn podman(&self) -> Docker {
        connect(&self.podman_host)
    }

    /// A repository name unique to one test (tests share the registry and daemons).
    pub fn repo(&self, name: &str) -> String {
        format!("{}/{}-{}", self.registry, name, std::process::id())
    }

    /// Registry requests logged so far that touch `repo` (`host:port/path`).
    pub fn registry_requests(&self, repo: &str) -> usize {
        let path = repo.split_once('/').map_or(repo, |(_, p)| p);
        let needle = format!("/v2/{path}/");
        std::fs::read_to_string(&self.registry_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("HTTP/1.1\"") && l.contains(&needle))
            .count()
    }
}

pub fn connect(host: &str) -> Docker {
    let path = host.strip_prefix("unix://").unwrap_or(host);
    Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION).expect("daemon socket")
}

/// A tokio runtime for a synchronous test.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `docker load` of an archive (works on dockerd and podman's compat API).
pub fn load(docker: &Docker, archive: Vec<u8>) {
    rt().block_on(async {
        let opts = bollard::query_parameters::ImportImageOptionsBuilder::default()
            .quiet(true)
            .build();
        let body = bollard::body_full(archive.into());
        let mut s = docker.import_image(opts, body, None);
        while let Some(item) = s.next().await {
            let info = item.expect("docker load");
            if let Some(e) = info.error_detail {
                panic!("docker load failed: {e:?}");
            }
        }
    })
}

/// `docker pull --platform P image` through the Engine API.
pub fn pull(docker: &Docker, image: &str, platform: &str) {
    rt().block_on(async {
        let opts = bollard::query_parameters::CreateImageOptionsBuilder::default()
            .from_image(image)
            .platform(platform)
            .build();
        let mut s = docker.create_image(Some(opts), None, None);
        while let Some(item) = s.next().await {
            let info = item.unwrap_or_else(|e| panic!("pull {image} ({platform}): {e}"));
            if let Some(e) = info.error_detail {
                panic!("pull {image} failed: {e:?}");
            }
        }
    })
}

pub fn inspect(docker: &Docker, name: &str) -> Option<bollard::models::ImageInspect> {
    rt().block_on(async {
        match docker.inspect_image(name).await {
            Ok(i) => Some(i),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => None,
            Err(e) => panic!("inspect {name}: {e}"),
        }
    })
}

/// What the exporter's lookups of `reference` give, asked of the daemon directly, as
/// `os/arch[/variant]`, normalised. Both lifecycle lookups (imgutil `local/new.go`): up to
/// lifecycle 0.21.8 one inspect without platform; from 0.21.9, on a daemon of API >= 1.49, also
/// an inspect with the requested platform (falling back to the first answer on 404). The
/// second is asked with the platform the first gave, which is the target wherever a test
/// passes; when the two disagree the answer says so, and the test's comparison fails.
pub fn exporter_lookup(host: &str, reference: &str) -> Option<String> {
    let i = inspect(&connect(host), reference)?;
    let p = runref::model::platform::Platform::new(
        i.os.as_deref().unwrap_or(""),
        i.architecture.as_deref().unwrap_or(""),
        i.variant.as_deref(),
    );
    let Some(sock) = host.strip_prefix("unix://") else {
        return Some(p.to_string());
    };
    let curl = |url: String| {
        let o = Command::new("curl")
            .args(["-s", "--unix-socket", sock])
            .arg(url)
            .output()
            .expect("curl runs");
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap_or_default()
    };
    let api = curl("http://x/version".into())["ApiVersion"]
        .as_str()
        .unwrap_or("0.0")
        .to_string();
    let (major, minor) = api.split_once('.').unwrap_or(("0", "0"));
    let at_least_149 = (
        major.parse::<u32>().unwrap_or(0),
        minor.parse::<u32>().unwrap_or(0),
    ) >= (1, 49);
    if !at_least_149 {
        return Some(p.to_string());
    }
    let mut want = serde_json::json!({"os": p.os(), "architecture": p.arch()});
    if let Some(v) = p.variant() {
        want["variant"] = v.into();
    }
    let q: String = url::form_urlencoded::byte_serialize(want.to_string().as_bytes()).collect();
    let j = curl(format!(
        "http://x/v1.49/images/{reference}/json?platform={q}"
    ));
    if j.get("Id").is_none() {
        // 404: lifecycle falls back to the first answer.
        return Some(p.to_string());
    }
    let second = runref::model::platform::Platform::new(
        j["Os"].as_str().unwrap_or(""),
        j["Architecture"].as_str().unwrap_or(""),
        j["Variant"].as_str(),
    );
    if second == p {
        Some(p.to_string())
    } else {
        Some(format!("{p} without a platform, {second} with it"))
    }
}

/// Path of the built runref binary.
pub fn runref_bin() -> PathBuf {
    // Set for integration tests; the demo example that shares this module does not run it.
    option_env!("CARGO_BIN_EXE_runref")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/debug/runref"))
}

/// Runs the runref binary with `args` against `docker_host`.
pub fn runref(docker_host: &str, args: &[&str]) -> std::process::Output {
    runref_with(docker_host, &[], args)
}

/// As [`runref`], with extra environment variables.
pub fn runref_with(
    docker_host: &str,
    envs: &[(&str, &str)],
    args: &[&str],
) -> std::process::Output {
    Command::new(runref_bin())
        .args(args)
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env("DOCKER_HOST", docker_host)
        .env_remove("CNB_ANALYZED_PATH")
        .env_remove("CNB_USE_DAEMON")
        .env_remove("RUNREF_PULL_POLICY")
        .env("DOCKER_CONFIG", empty_docker_config())
        .env("NO_COLOR", "1")
        // Each run asks the registry (request counts are asserted); cache tests turn it on.
        .env("RUNREF_NO_CACHE", "1")
        .env_remove("RUNREF_CACHE_DIR")
        // Last, so they win over the defaults above.
        .envs(envs.iter().copied())
        .output()
        .expect("runref runs")
}

fn empty_docker_config() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// The command's stdout as JSON; the panic shows both streams.
pub fn json_of(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(o), stderr(o)))
}

/// Runs runref with `args` plus `--format json` against `docker_host`: output and JSON.
pub fn runref_json(docker_host: &str, args: &[&str]) -> (std::process::Output, serde_json::Value) {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    let o = runref(docker_host, &a);
    let j = json_of(&o);
    (o, j)
}

/// Writes `text` as analyzed.toml in a new temp dir (kept alive by the returned guard).
pub fn analyzed_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("analyzed.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The requests a registry saw, from a JSON report: `registry_requests` less the HTTPS
/// attempts the plain-HTTP loopback registry refused before HTTP answered
/// (`registry_http_fallbacks`: at most one per host and run, and these runs read one host).
pub fn registry_saw(j: &serde_json::Value) -> u64 {
    let all = j["registry_requests"].as_u64().expect("registry_requests");
    let fallbacks = j["registry_http_fallbacks"].as_u64().unwrap_or(0);
    assert!(
        fallbacks <= 1,
        "more than one HTTPS attempt for one host: {j}"
    );
    all - fallbacks
}

/// `DELETE url` with curl (the environment's CA trusted, for the TLS registries): the status.
pub fn http_delete(url: &str) -> String {
    let o = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "DELETE",
            "--cacert",
        ])
        .arg(Env::get().registry_pki.join("ca.crt"))
        .arg(url)
        .output()
        .expect("curl runs");
    stdout(&o)
}

/// Runs a peer tool from Debian sid (`crane`, `oras`, `cosign`, `notation`) with `envs`.
pub fn peer(tool: &str, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    Command::new(Env::get().peers_bin.join(tool))
        .args(args)
        .envs(envs.iter().copied())
        .env("DOCKER_CONFIG", empty_docker_config())
        .output()
        .unwrap_or_else(|e| panic!("{tool} runs: {e}"))
}
