//! The registry side, through oci-client: manifests by tag or digest (all four media types at
//! once, bytes verified against the digest), config blobs, layer streams; credentials from the
//! Docker config; plain HTTP only for loopback hosts or `--insecure-registry`; a timeout on
//! every request and bounded retries on 429/5xx; a count of the requests made.

use crate::digest::Digest;
use crate::manifest::{ImageConfig, Manifest, ManifestError, ACCEPT};
use crate::mirror::Mirror;
use crate::reference::Reference;
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{reference}: not found in the registry (manifest unknown)")]
    NotFound { reference: String },
    #[error("{reference}: the registry refused access ({detail}); log in with `docker login {registry}` or check DOCKER_CONFIG")]
    Unauthorized {
        reference: String,
        registry: String,
        detail: String,
    },
    #[error("cannot reach registry {registry}: {detail}{hint}")]
    Unreachable {
        registry: String,
        detail: String,
        hint: String,
    },
    #[error("{reference}: registry did not answer within {secs}s (after {attempts} attempts)")]
    Timeout {
        reference: String,
        secs: u64,
        attempts: u32,
    },
    #[error("{reference}: registry answered HTTP {status} (after {attempts} attempts): {detail}")]
    Server {
        reference: String,
        status: u16,
        attempts: u32,
        detail: String,
    },
    #[error("{reference}: {source}")]
    Manifest {
        reference: String,
        source: ManifestError,
    },
    #[error("{reference}: {detail}")]
    Other { reference: String, detail: String },
    #[error("{detail}; fix the helper or its entry in the Docker config (DOCKER_CONFIG)")]
    Credentials { registry: String, detail: String },
    /// Docker Hub's answer after every mirror failed; the mirrors' failures are kept.
    #[error("{source}\n  mirrors tried first: {tried}")]
    AfterMirrors {
        tried: String,
        source: Box<RegistryError>,
    },
}

impl RegistryError {
    /// True when the registry said the content does not exist (as opposed to failing).
    pub fn is_not_found(&self) -> bool {
        match self {
            RegistryError::NotFound { .. } => true,
            RegistryError::AfterMirrors { source, .. } => source.is_not_found(),
            _ => false,
        }
    }
}

/// A blob's bytes in chunks.
pub type BlobStream = futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>;

/// A manifest or index as fetched, verified against its digest.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub digest: Digest,
    pub manifest: Manifest,
    pub bytes: Vec<u8>,
}

/// The registry operations runref needs.
#[allow(async_fn_in_trait)]
pub trait Registry {
    /// Manifest or index by tag or digest. By digest, the bytes must hash to it; by tag, the
    /// bytes must hash to the digest the registry reports.
    async fn manifest(&self, reference: &Reference) -> Result<Fetched, RegistryError>;
    /// An image config blob, verified against `digest`.
    async fn config(&self, repo: &Reference, digest: &Digest)
        -> Result<ImageConfig, RegistryError>;
    /// A blob as a stream of chunks, for bounded-memory reads of layers; a body that does not
    /// hash to `digest` ends the stream in an error.
    async fn blob_stream(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<BlobStream, RegistryError>;
    /// Requests made so far (manifest and blob fetches, retries included; auth pings excluded).
    fn requests(&self) -> usize;
    /// For each registry read, the endpoint that answered last (`docker.io` =>
    /// `http://127.0.0.1:5000` when a mirror did).
    fn endpoints(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}

/// Registry client options.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// `host[:port]` that speak plain HTTP (loopback hosts always may).
    pub insecure: Vec<String>,
    pub timeout: Duration,
    /// Attempts per request on 429/5xx/timeouts (>= 1).
    pub attempts: u32,
    /// Docker Hub mirrors to read through first (`--registry-mirror`), before the daemon's.
    pub mirrors: Vec<Mirror>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure: vec![],
            timeout: Duration::from_secs(30),
            attempts: 3,
            mirrors: vec![],
        }
    }
}

/// True for `localhost`, 127.0.0.0/8 and `[::1]`, with or without a port.
pub fn is_loopback(host: &str) -> bool {
    let h = match host.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || host.starts_with('[') => {
            if p.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() && !h.ends_with(':') {
                h
            } else {
                host
            }
        }
        _ => host,
    };
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
        || h.parse::<std::net::Ipv6Addr>()
            .is_ok_and(|a| a.is_loopback())
}

/// Where the daemon's own mirrors come from: asked at most once, and only when a Docker Hub name
/// is first read (so a run that needs no registry costs the daemon nothing more).
pub type MirrorSource = Pin<Box<dyn Future<Output = Vec<String>> + Send>>;

/// The real registry client.
pub struct OciRegistry {
    client: oci_client::Client,
    opts: RegistryOptions,
    requests: AtomicUsize,
    auth: Mutex<HashMap<String, RegistryAuth>>,
    daemon_mirrors: Mutex<Option<MirrorSource>>,
    hub: tokio::sync::OnceCell<Hub>,
    answered: Mutex<BTreeMap<String, String>>,
}

/// Docker Hub's mirrors, resolved, with a client that may speak plain HTTP to those that do.
struct Hub {
    mirrors: Vec<Mirror>,
    client: Option<oci_client::Client>,
}

/// One place a read can go: the registry itself or one of its mirrors.
struct Endpoint<'a> {
    host: String,
    url: String,
    client: &'a oci_client::Client,
    mirror: bool,
}

/// Installs the ring TLS provider once; reqwest panics without a process-wide provider.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl OciRegistry {
    /// A client that may use plain HTTP for `hosts` that are loopback or listed as insecure.
    pub fn new(opts: RegistryOptions, hosts: &[&str]) -> Result<OciRegistry, RegistryError> {
        install_tls_provider();
        let http: Vec<String> = hosts
            .iter()
            .filter(|h| is_loopback(h) || opts.insecure.iter().any(|i| i == *h))
            .map(|h| h.to_string())
            .chain(opts.insecure.iter().cloned())
            .collect();
        let client = Self::client(&opts, http)?;
        Ok(OciRegistry {
            client,
            opts,
            requests: AtomicUsize::new(0),
            auth: Mutex::new(HashMap::new()),
            daemon_mirrors: Mutex::new(None),
            hub: tokio::sync::OnceCell::new(),
            answered: Mutex::new(BTreeMap::new()),
        })
    }

    /// Also reads Docker Hub names through the mirrors `source` yields (the daemon's own).
    pub fn with_daemon_mirrors(self, source: MirrorSource) -> OciRegistry {
        if let Ok(mut m) = self.daemon_mirrors.lock() {
            *m = Some(source);
        }
        self
    }

    fn client(
        opts: &RegistryOptions,
        http: Vec<String>,
    ) -> Result<oci_client::Client, RegistryError> {
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(http),
            platform_resolver: None,
            connect_timeout: Some(opts.timeout.min(Duration::from_secs(10))),
            read_timeout: Some(opts.timeout),
            user_agent: concat!("runref/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        oci_client::Client::try_from(config).map_err(|e| RegistryError::Other {
            reference: String::new(),
            detail: format!("cannot build the registry client: {e}"),
        })
    }

    fn speaks_http(&self, host: &str) -> bool {
        is_loopback(host) || self.opts.insecure.iter().any(|i| i == host)
    }

    async fn hub(&self) -> &Hub {
        self.hub
            .get_or_init(|| async {
                let source = self.daemon_mirrors.lock().ok().and_then(|mut m| m.take());
                let from_daemon = match source {
                    Some(f) => f.await,
                    None => vec![],
                };
                let mirrors = crate::mirror::merge(&self.opts.mirrors, &from_daemon);
                let http: Vec<String> = mirrors
                    .iter()
                    .filter(|m| m.http || self.speaks_http(&m.host))
                    .map(|m| m.host.clone())
                    .collect();
                // A client that cannot be built leaves Docker Hub itself, never a wrong answer.
                let client = match mirrors.is_empty() {
                    true => None,
                    false => Self::client(&self.opts, http).ok(),
                };
                Hub { mirrors, client }
            })
            .await
    }

    /// Where reads of `reference` go, in order: for Docker Hub names the mirrors (the one that
    /// answered last first), then Docker Hub; for any other name its registry.
    async fn endpoints(&self, reference: &Reference) -> Vec<Endpoint<'_>> {
        let registry = reference.registry().to_string();
        let scheme = |http: bool| if http { "http" } else { "https" };
        let own = Endpoint {
            url: format!("{}://{registry}", scheme(self.speaks_http(&registry))),
            host: registry.clone(),
            client: &self.client,
            mirror: false,
        };
        if !reference.is_docker_hub() {
            return vec![own];
        }
        let hub = self.hub().await;
        let mut out: Vec<Endpoint> = match &hub.client {
            Some(client) => hub
                .mirrors
                .iter()
                .map(|m| Endpoint {
                    host: m.host.clone(),
                    url: format!(
                        "{}://{}",
                        scheme(m.http || self.speaks_http(&m.host)),
                        m.host
                    ),
                    client,
                    mirror: true,
                })
                .collect(),
            None => vec![],
        };
        out.push(own);
        let last = self
            .answered
            .lock()
            .ok()
            .and_then(|a| a.get(&registry).cloned());
        if let Some(i) = last.and_then(|l| out.iter().position(|e| e.url == l)) {
            let e = out.remove(i);
            out.insert(0, e);
        }
        out
    }

    /// Runs `op` at each endpoint of `reference` until one answers. A mirror's failure of any
    /// kind falls through to the next endpoint, as the Engine's pulls do; the registry's own
    /// answer is final, and carries what the mirrors said.
    async fn across<T>(
        &self,
        reference: &Reference,
        op: impl AsyncFn(&Endpoint<'_>) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut tried: Vec<String> = Vec::new();
        for ep in self.endpoints(reference).await {
            match op(&ep).await {
                Ok(v) => {
                    if let Ok(mut a) = self.answered.lock() {
                        a.insert(reference.registry().to_string(), ep.url.clone());
                    }
                    return Ok(v);
                }
                Err(e) if ep.mirror => tried.push(format!("{}: {}", ep.url, first_line(&e))),
                Err(e) if tried.is_empty() => return Err(e),
                Err(e) => {
                    return Err(RegistryError::AfterMirrors {
                        tried: tried.join("; "),
                        source: Box::new(e),
                    })
                }
            }
        }
        Err(RegistryError::Other {
            reference: reference.to_string(),
            detail: "no registry endpoint to ask".into(),
        })
    }

    async fn auth_for(&self, registry: &str) -> Result<RegistryAuth, RegistryError> {
        if let Some(a) = self.auth.lock().ok().and_then(|m| m.get(registry).cloned()) {
            return Ok(a);
        }
        let found = crate::credentials::docker_credentials(registry, self.opts.timeout)
            .await
            .map_err(|detail| RegistryError::Credentials {
                registry: registry.to_string(),
                detail,
            })?;
        let auth = match found {
            Some(c) => match (c.username, c.password, c.identitytoken) {
                (Some(u), Some(p), _) => RegistryAuth::Basic(u, p),
                _ => RegistryAuth::Anonymous,
            },
            None => RegistryAuth::Anonymous,
        };
        if let Ok(mut m) = self.auth.lock() {
            m.insert(registry.to_string(), auth.clone());
        }
        Ok(auth)
    }

    fn classify(&self, reference: &Reference, e: OciDistributionError) -> Attempt {
        let r = reference.to_string();
        let registry = reference.registry().to_string();
        match e {
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<String> = envelope
                    .errors
                    .iter()
                    .map(|x| format!("{:?}", x.code))
                    .collect();
                let msg = envelope
                    .errors
                    .iter()
                    .map(|x| x.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                if codes
                    .iter()
                    .any(|c| c.contains("Unknown") || c == "NotFound")
                {
                    Attempt::Final(RegistryError::NotFound { reference: r })
                } else if codes.iter().any(|c| c == "Unauthorized" || c == "Denied") {
                    Attempt::Final(RegistryError::Unauthorized {
                        reference: r,
                        registry,
                        detail: msg,
                    })
                } else if codes.iter().any(|c| c == "Toomanyrequests") {
                    Attempt::Retry(RegistryError::Server {
                        reference: r,
                        status: 429,
                        attempts: 0,
                        detail: msg,
                    })
                } else {
                    Attempt::Final(RegistryError::Other {
                        reference: r,
                        detail: msg,
                    })
                }
            }
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => {
                Attempt::Final(RegistryError::Unauthorized {
                    reference: r,
                    registry,
                    detail: "HTTP 401".into(),
                })
            }
            OciDistributionError::ServerError { code, message, .. } => {
                let err = RegistryError::Server {
                    reference: r,
                    status: code,
                    attempts: 0,
                    detail: truncate(&message),
                };
                if code == 404 {
                    Attempt::Final(RegistryError::NotFound {
                        reference: reference.to_string(),
                    })
                } else if code == 429 || code >= 500 {
                    Attempt::Retry(err)
                } else {
                    Attempt::Final(err)
                }
            }
            OciDistributionError::DigestError(d) => Attempt::Final(RegistryError::Manifest {
                reference: r,
                source: ManifestError::Json(serde::de::Error::custom(format!(
                    "content does not match its digest: {d}"
                ))),
            }),
            OciDistributionError::RequestError(e) => {
                let detail = error_chain(&e);
                let hint = if detail.contains("InvalidContentType")
                    || detail.contains("invalid HTTP version")
                    || detail.contains("record overflow")
                    || detail.contains("wrong version number")
                    || detail.contains("CorruptMessage")
                {
                    format!(
                        "\n  the registry seems to speak plain HTTP; if you trust it, add --insecure-registry {registry}"
                    )
                } else {
                    String::new()
                };
                let unreachable = RegistryError::Unreachable {
                    registry,
                    detail,
                    hint,
                };
                if e.is_timeout() || e.is_body() || e.is_decode() {
                    Attempt::Retry(unreachable)
                } else {
                    Attempt::Final(unreachable)
                }
            }
            other => Attempt::Final(RegistryError::Other {
                reference: r,
                detail: other.to_string(),
            }),
        }
    }

    /// Runs `op` with a timeout and bounded retries with backoff on retryable failures.
    async fn with_retries<T, F, Fut>(
        &self,
        reference: &Reference,
        mut op: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, OciDistributionError>>,
    {
        let attempts = self.opts.attempts.max(1);
        let mut last = None;
        for n in 1..=attempts {
            self.requests.fetch_add(1, Ordering::Relaxed);
            match tokio::time::timeout(self.opts.timeout, op()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => match self.classify(reference, e) {
                    Attempt::Final(e) => return Err(e),
                    Attempt::Retry(e) => last = Some(e),
                },
                Err(_) => {
                    last = Some(RegistryError::Timeout {
                        reference: reference.to_string(),
                        secs: self.opts.timeout.as_secs(),
                        attempts: n,
                    })
                }
            }
            if n < attempts {
                tokio::time::sleep(Duration::from_millis(200 * (1 << (n - 1)))).await;
            }
        }
        Err(match last {
            Some(RegistryError::Server {
                reference,
                status,
                detail,
                ..
            }) => RegistryError::Server {
                reference,
                status,
                attempts,
                detail,
            },
            Some(RegistryError::Timeout {
                reference, secs, ..
            }) => RegistryError::Timeout {
                reference,
                secs,
                attempts,
            },
            Some(e) => e,
            None => RegistryError::Other {
                reference: reference.to_string(),
                detail: "no attempt made".into(),
            },
        })
    }
}

enum Attempt {
    Final(RegistryError),
    Retry(RegistryError),
}

fn truncate(s: &str) -> String {
    let s = s.trim();
    if s.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        format!("{}…", &s[..cut])
    } else {
        s.to_string()
    }
}

/// Runs one oci-client call in a task of its own, so that a panic inside it (oci-client 0.18
/// unwraps `Authorization: Bearer <token>` built from the token server's answer, which panics
/// on a token with a newline) becomes an error with a message instead of ending runref.
async fn contained<T: Send + 'static>(
    call: impl std::future::Future<Output = Result<T, OciDistributionError>> + Send + 'static,
) -> Result<T, OciDistributionError> {
    match tokio::spawn(call).await {
        Ok(r) => r,
        Err(e) => Err(OciDistributionError::GenericError(Some(format!(
            "the registry's answer made the HTTP client fail ({}); it was not used",
            if e.is_panic() {
                "a malformed value, e.g. a token that is not a valid HTTP header"
            } else {
                "cancelled"
            }
        )))),
    }
}

/// True for a panic raised inside oci-client: `contained` reports it as an error, so the
/// process's panic hook need not print it.
pub fn is_contained_panic(location: Option<&std::panic::Location<'_>>) -> bool {
    location.is_some_and(|l| l.file().contains("oci-client"))
}

fn first_line(e: &RegistryError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl Registry for OciRegistry {
    async fn manifest(&self, reference: &Reference) -> Result<Fetched, RegistryError> {
        let (bytes, digest) = self
            .across(reference, async |ep| {
                let r = reference.to_oci_at(&ep.host);
                let auth = self.auth_for(&ep.host).await?;
                self.with_retries(reference, || {
                    let (client, r, auth) = (ep.client.clone(), r.clone(), auth.clone());
                    contained(async move { client.pull_manifest_raw(&r, &auth, ACCEPT).await })
                })
                .await
            })
            .await?;
        let bad = |source| RegistryError::Manifest {
            reference: reference.to_string(),
            source,
        };
        // oci-client checked the body against the reference's digest or the header; check
        // again here against the digest we will report, whatever the registry sent.
        let digest: Digest = match reference.digest() {
            Some(d) => d.clone(),
            None => digest.parse().map_err(|e| bad(ManifestError::Digest(e)))?,
        };
        let manifest = Manifest::parse_verified(&bytes, &digest, None).map_err(bad)?;
        Ok(Fetched {
            digest,
            manifest,
            bytes: bytes.to_vec(),
        })
    }

    async fn config(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<ImageConfig, RegistryError> {
        let bad = |source| RegistryError::Manifest {
            reference: repo.with_digest(digest).to_string(),
            source,
        };
        let attempts = self.opts.attempts.max(1);
        let mut buf = Vec::new();
        for n in 1..=attempts {
            buf.clear();
            let read = async {
                let mut s = self.blob_stream(repo, digest).await?;
                while let Some(chunk) = s.next().await {
                    buf.extend_from_slice(&chunk.map_err(|e| RegistryError::Other {
                        reference: repo.with_digest(digest).to_string(),
                        detail: e.to_string(),
                    })?);
                }
                Ok::<(), RegistryError>(())
            };
            match tokio::time::timeout(self.opts.timeout, read).await {
                Ok(Ok(())) => break,
                Ok(Err(RegistryError::Server { status, .. }))
                    if (status >= 500 || status == 429) && n < attempts => {}
                Ok(Err(e)) => return Err(e),
                Err(_) if n < attempts => {}
                Err(_) => {
                    return Err(RegistryError::Timeout {
                        reference: repo.with_digest(digest).to_string(),
                        secs: self.opts.timeout.as_secs(),
                        attempts: n,
                    })
                }
            }
            tokio::time::sleep(Duration::from_millis(200 * (1 << (n - 1)))).await;
        }
        digest
            .verify(&buf)
            .map_err(|e| bad(ManifestError::Digest(e)))?;
        ImageConfig::parse(&buf).map_err(bad)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    fn endpoints(&self) -> BTreeMap<String, String> {
        self.answered.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// oci-client checks the digest as the stream ends.
    async fn blob_stream(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<BlobStream, RegistryError> {
        self.across(repo, async |ep| {
            let r = repo.with_digest(digest).to_oci_at(&ep.host);
            let auth = self.auth_for(&ep.host).await?;
            ep.client
                .store_auth_if_needed(r.resolve_registry(), &auth)
                .await;
            let desc = oci_client::manifest::OciDescriptor {
                digest: digest.to_string(),
                ..Default::default()
            };
            self.requests.fetch_add(1, Ordering::Relaxed);
            let client = ep.client.clone();
            let pull = contained(async move { client.pull_blob_stream(&r, &desc).await });
            let s = tokio::time::timeout(self.opts.timeout, pull)
                .await
                .map_err(|_| RegistryError::Timeout {
                    reference: repo.with_digest(digest).to_string(),
                    secs: self.opts.timeout.as_secs(),
                    attempts: 1,
                })?
                .map_err(|e| match self.classify(repo, e) {
                    Attempt::Final(e) | Attempt::Retry(e) => e,
                })?;
            Ok(s.stream)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.0.0.1:5055",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:5000",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "docker.io",
            "10.0.0.1:5000",
            "quay.io",
            "[fe80::1]:5000",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
