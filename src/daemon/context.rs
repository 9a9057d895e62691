//! Docker contexts, resolved as the docker CLI resolves them (docker/cli `cli/command/cli.go`
//! `resolveContextName`, `context/store`): where people on Docker Desktop, colima, rootless
//! Docker or podman machine reach their daemon (issue 23).
//!
//! Order: `--docker-host` (a host given) > `--context` > `DOCKER_HOST` > `DOCKER_CONTEXT` >
//! `currentContext` in `$DOCKER_CONFIG/config.json` > the default socket. `--docker-host` with
//! `--context` is a conflict, as in the CLI. A context's endpoint is
//! `$DOCKER_CONFIG/contexts/meta/<sha256 of its name>/meta.json` (`Endpoints.docker.Host`,
//! `SkipTLSVerify`); its TLS material `contexts/tls/<sha256>/docker/{ca,cert,key}.pem`.

use sha2::Digest as _;
use std::path::{Path, PathBuf};

/// The largest meta.json or config.json read (the CLI's files are a few hundred bytes).
const MAX_FILE: u64 = 1024 * 1024;

/// Where the daemon endpoint came from, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub host: String,
    /// The context used, when one was (never `default`).
    pub context: Option<String>,
    /// The context's TLS directory (ca.pem, cert.pem, key.pem), when it has one.
    pub tls_dir: Option<PathBuf>,
}

/// Why a context cannot be used; each names the context and the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error("--docker-host and --context conflict: give one (the docker CLI refuses both too)")]
    Conflict,
    #[error("Docker context {name:?} not found: no {path} (list them with `docker context ls`)")]
    NotFound { name: String, path: String },
    #[error("Docker context {name:?}: {path}: {why}")]
    Invalid {
        name: String,
        path: String,
        why: String,
    },
}

/// `$DOCKER_CONFIG`, else `~/.docker`.
pub fn config_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".docker")))
}

/// Resolves the daemon endpoint; `Ok(None)` means the default socket.
pub fn resolve(
    host_flag: Option<&str>,
    context_flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Resolved>, ContextError> {
    let plain = |h: &str| {
        Some(Resolved {
            host: h.to_string(),
            context: None,
            tls_dir: None,
        })
    };
    let context_flag = context_flag.filter(|c| !c.is_empty());
    match (host_flag, context_flag) {
        (Some(_), Some(_)) => return Err(ContextError::Conflict),
        (Some(h), None) => return Ok(plain(h)),
        (None, Some(c)) => return endpoint(c, env),
        (None, None) => {}
    }
    if let Some(h) = env("DOCKER_HOST") {
        return Ok(plain(&h));
    }
    if let Some(c) = env("DOCKER_CONTEXT") {
        return endpoint(&c, env);
    }
    let Some(dir) = config_dir(env) else {
        return Ok(None);
    };
    match current_context(&dir.join("config.json")) {
        Some(c) => endpoint(&c, env),
        None => Ok(None),
    }
}

/// `currentContext` of a Docker config file, when set (an unreadable file is no context: the
/// docker CLI warns and goes on).
fn current_context(path: &Path) -> Option<String> {
    let text = read_bounded(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("currentContext")?
        .as_str()
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE)
        .read_to_string(&mut s)?;
    Ok(s)
}

/// The docker endpoint of context `name` (`default` is the default socket).
fn endpoint(
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Resolved>, ContextError> {
    if name == "default" {
        return Ok(None);
    }
    let id = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    let dir = config_dir(env).unwrap_or_default().join("contexts");
    let meta = dir.join("meta").join(&id).join("meta.json");
    let invalid = |why: String| ContextError::Invalid {
        name: name.into(),
        path: meta.display().to_string(),
        why,
    };
    let text = match read_bounded(&meta) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ContextError::NotFound {
                name: name.into(),
                path: meta.display().to_string(),
            })
        }
        Err(e) => return Err(invalid(e.to_string())),
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let docker = &v["Endpoints"]["docker"];
    let host = docker["Host"]
        .as_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("no Endpoints.docker.Host".into()))?;
    let tls = dir.join("tls").join(&id).join("docker");
    let has_tls = tls.join("ca.pem").exists() || tls.join("cert.pem").exists();
    Ok(Some(Resolved {
        host: host.to_string(),
        context: Some(name.to_string()),
        tls_dir: has_tls.then_some(tls),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| m.get(k).cloned()
    }

    /// A context store laid out as `docker context create` writes it.
    fn store(dir: &Path, name: &str, host: &str) {
        let id = hex::encode(sha2::Sha256::digest(name.as_bytes()));
        let meta = dir.join("contexts/meta").join(id);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            format!(r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#),
        )
        .unwrap();
    }

    #[test]
    fn the_docker_clis_order() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().to_str().unwrap();
        store(d.path(), "desk", "unix:///desk.sock");
        store(d.path(), "other", "tcp://10.0.0.9:2375");
        std::fs::write(d.path().join("config.json"), r#"{"currentContext":"desk"}"#).unwrap();
        let host = |r: Result<Option<Resolved>, ContextError>| r.unwrap().map(|r| r.host);
        let e = env_of(&[("DOCKER_CONFIG", cfg)]);
        assert_eq!(
            host(resolve(None, None, &e)).as_deref(),
            Some("unix:///desk.sock")
        );
        let e = env_of(&[("DOCKER_CONFIG", cfg), ("DOCKER_CONTEXT", "other")]);
        assert_eq!(
            host(resolve(None, None, &e)).as_deref(),
            Some("tcp://10.0.0.9:2375")
        );
        let e = env_of(&[
            ("DOCKER_CONFIG", cfg),
            ("DOCKER_CONTEXT", "other"),
            ("DOCKER_HOST", "unix:///env.sock"),
        ]);
        assert_eq!(
            host(resolve(None, None, &e)).as_deref(),
            Some("unix:///env.sock")
        );
        assert_eq!(
            host(resolve(None, Some("desk"), &e)).as_deref(),
            Some("unix:///desk.sock"),
            "--context beats DOCKER_HOST"
        );
        assert_eq!(
            host(resolve(Some("unix:///f.sock"), None, &e)).as_deref(),
            Some("unix:///f.sock")
        );
        assert_eq!(
            resolve(Some("x"), Some("desk"), &e),
            Err(ContextError::Conflict)
        );
        assert_eq!(host(resolve(None, Some("default"), &e)), None);
        let missing = resolve(None, Some("nope"), &e).unwrap_err().to_string();
        assert!(
            missing.contains("\"nope\" not found") && missing.contains("docker context ls"),
            "{missing}"
        );
        let none = env_of(&[("DOCKER_CONFIG", "/nonexistent")]);
        assert_eq!(host(resolve(None, None, &none)), None);
    }
}
