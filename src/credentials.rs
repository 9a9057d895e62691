//! Registry credentials from the Docker config, shared by both adapters: the daemon passes them
//! with its pulls, the registry client answers challenges with them.
//!
//! Read as the Docker CLI does (`DOCKER_CONFIG` or `~/.docker/config.json`): `credHelpers` for
//! the registry, then `auths` (identity token, `auth`, username/password), then `credsStore`.
//! Every input is bounded: the config file ([`MAX_CONFIG_BYTES`]), the helper's output
//! ([`MAX_HELPER_OUTPUT`]) and its time (the caller's deadline; the helper is killed after it).

use base64::Engine as _;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How long a credential helper may take when nothing else says (daemon pulls).
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest Docker config file read.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;
/// The most a credential helper may print.
pub const MAX_HELPER_OUTPUT: u64 = 1 << 20;

/// A registry credential. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq)]
pub enum Credential {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`docker login` to a registry that issues them).
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credential::IdentityToken(_) => write!(f, "IdentityToken(<redacted>)"),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: HashMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: String,
}

/// The key Docker uses for a registry: Docker Hub's is its v1 URL.
fn server_key(registry: &str) -> String {
    if registry == crate::model::reference::DOCKER_HUB {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    }
}

/// A config key as a registry host: `https://host/v1/` => `host`; Docker Hub's aliases as one.
fn key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .map(|s| s.split('/').next().unwrap_or(s))
        .unwrap_or(key);
    // Docker Hub's credentials are kept under its legacy index name, whichever alias is read.
    if crate::model::reference::DOCKER_HUB_HOSTS.contains(&k) {
        "index.docker.io"
    } else {
        k
    }
}

fn config_path() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .map(|d| d.join("config.json"))
}

fn read_config() -> Result<DockerConfig, String> {
    let Some(path) = config_path() else {
        return Ok(DockerConfig::default());
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DockerConfig::default()),
        Err(e) => {
            return Err(format!(
                "cannot read the Docker config {}: {e}",
                path.display()
            ))
        }
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_CONFIG_BYTES + 1),
        &mut bytes,
    )
    .map_err(|e| format!("cannot read the Docker config {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(format!(
            "the Docker config {} is larger than {} MiB",
            path.display(),
            MAX_CONFIG_BYTES >> 20
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "the Docker config {} is not valid JSON: {e}",
            path.display()
        )
    })
}

/// What the config holds for `registry`, before any helper runs.
enum Source {
    Helper(String),
    Found(Credential),
    None,
}

fn source(conf: &DockerConfig, registry: &str) -> Result<Source, String> {
    let key = server_key(registry);
    if let Some(h) = conf
        .cred_helpers
        .get(&key)
        .or_else(|| conf.cred_helpers.get(registry))
        .filter(|h| !h.is_empty())
    {
        return Ok(Source::Helper(h.clone()));
    }
    let entry = conf.auths.get(&key).or_else(|| {
        conf.auths
            .iter()
            .find(|(k, _)| key_host(k) == key_host(&key))
            .map(|(_, v)| v)
    });
    if let Some(e) = entry {
        if let Some(t) = e.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Source::Found(Credential::IdentityToken(t.clone())));
        }
        if let Some(a) = e.auth.as_ref().filter(|a| !a.is_empty()) {
            let engine = base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
            );
            let bad = || {
                format!("the Docker config's `auth` for {registry} is not base64 of user:password")
            };
            let decoded = engine.decode(a.trim()).map_err(|_| bad())?;
            let text = String::from_utf8(decoded).map_err(|_| bad())?;
            let (u, p) = text.split_once(':').ok_or_else(bad)?;
            return Ok(Source::Found(Credential::Basic {
                username: u.to_string(),
                password: p.to_string(),
            }));
        }
        if let (Some(u), Some(p)) = (&e.username, &e.password) {
            return Ok(Source::Found(Credential::Basic {
                username: u.clone(),
                password: p.clone(),
            }));
        }
    }
    Ok(match conf.creds_store.as_ref().filter(|s| !s.is_empty()) {
        Some(s) => Source::Helper(s.clone()),
        None => Source::None,
    })
}

/// Credentials for `registry`, or `Ok(None)` when none are configured (or the helper has none).
/// A helper that does not answer within `deadline` is killed and is an error naming the
/// registry; one that prints more than [`MAX_HELPER_OUTPUT`] is an error too. Never logged.
pub async fn docker_credentials(
    registry: &str,
    deadline: Duration,
) -> Result<Option<Credential>, String> {
    let conf = read_config()?;
    let helper = match source(&conf, registry)? {
        Source::Found(c) => return Ok(Some(c)),
        Source::None => return Ok(None),
        Source::Helper(h) => h,
    };
    let answer = tokio::time::timeout(deadline, run_helper(&helper, &server_key(registry)))
        .await
        .map_err(|_| {
            format!(
                "the Docker config's credential helper for {registry} did not answer within {}s",
                deadline.as_secs()
            )
        })??;
    Ok(answer.map(|a| {
        if a.username == "<token>" {
            Credential::IdentityToken(a.secret)
        } else {
            Credential::Basic {
                username: a.username,
                password: a.secret,
            }
        }
    }))
}

/// `docker-credential-<helper> get` with the server on stdin; killed when dropped.
async fn run_helper(helper: &str, server: &str) -> Result<Option<HelperAnswer>, String> {
    let name = format!("docker-credential-{helper}");
    let mut child = tokio::process::Command::new(&name)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run the credential helper {name}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        // A helper that does not read its input still gets to answer.
        let _ = stdin.write_all(server.as_bytes()).await;
    }
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout
            .take(MAX_HELPER_OUTPUT + 1)
            .read_to_end(&mut out)
            .await
            .map_err(|e| format!("cannot read the credential helper {name}: {e}"))?;
    }
    if out.len() as u64 > MAX_HELPER_OUTPUT {
        return Err(format!(
            "the credential helper {name} printed more than {} MiB; it was stopped",
            MAX_HELPER_OUTPUT >> 20
        ));
    }
    let status = child
        .wait()
        .await
        .map_err(|e| format!("the credential helper {name} failed: {e}"))?;
    if !status.success() {
        // "credentials not found in native keychain" and the like: no credentials.
        return Ok(None);
    }
    serde_json::from_slice(&out).map(Some).map_err(|_| {
        format!("the credential helper {name} printed something other than its JSON answer")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(json: &str) -> DockerConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn lookup_order_and_forms() {
        let c = conf(
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"r.example:5000":{"username":"a","password":"b"},"t.example":{"identitytoken":"tok"}},
                "credHelpers":{"h.example":"x"},"credsStore":"desktop"}"#,
        );
        let basic = |u: &str, p: &str| Credential::Basic {
            username: u.into(),
            password: p.into(),
        };
        assert!(
            matches!(source(&c, "docker.io").unwrap(), Source::Found(x) if x == basic("u", "p"))
        );
        assert!(
            matches!(source(&c, "r.example:5000").unwrap(), Source::Found(x) if x == basic("a", "b"))
        );
        assert!(
            matches!(source(&c, "t.example").unwrap(), Source::Found(Credential::IdentityToken(t)) if t == "tok")
        );
        assert!(matches!(source(&c, "h.example").unwrap(), Source::Helper(h) if h == "x"));
        assert!(
            matches!(source(&c, "other.example").unwrap(), Source::Helper(h) if h == "desktop")
        );
        assert!(matches!(source(&conf("{}"), "x").unwrap(), Source::None));
        assert!(source(&conf(r#"{"auths":{"x":{"auth":"!!"}}}"#), "x").is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Credential::Basic {
            username: "u".into(),
            password: "s3cr3t".into(),
        };
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert!(!format!("{:?}", Credential::IdentityToken("s3cr3t".into())).contains("s3cr3t"));
    }
}
