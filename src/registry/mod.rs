//! The registry side: manifests by tag or digest (all four media types at once, bytes verified
//! against the digest), config blobs, layer streams, read through Docker Hub mirrors where
//! configured; HTTPS first everywhere, plain HTTP only after an insecure host (loopback,
//! `--insecure-registry`, the daemon's) refused it (`hosts`). The HTTP exchange itself (auth,
//! retries, bounds, deadlines, the request count) is `wire`.

mod auth;
pub mod cache;
pub mod conf;
pub mod hosts;
mod push;
pub mod referrers;
pub mod resolve;
pub mod session;
pub mod wire;

use crate::mirror::Mirror;
use crate::model::digest::Digest;
use crate::model::manifest::{ImageConfig, Manifest, ManifestError, ACCEPT};
use crate::model::reference::Reference;
use reqwest::{Method, StatusCode};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;
use wire::{Call, Limits, Wire, WireOptions};

mod error;
pub use error::{BlobStream, RegistryError};
pub use push::{Mount, RegistryWrite};
use wire::Scope;

/// A manifest or index as fetched, verified against its digest.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub digest: Digest,
    pub manifest: Manifest,
    pub bytes: Vec<u8>,
}

/// The registry operations runref needs.
#[allow(async_fn_in_trait)]
pub trait Registry: Counters {
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
    /// A foreign / non-distributable layer from one of its `urls` (`--allow-nondistributable`
    /// only), as a stream verified against `digest`. Sources without HTTP cannot.
    async fn url_stream(&self, url: &str, digest: &Digest) -> Result<BlobStream, RegistryError> {
        let _ = digest;
        Err(RegistryError::Other {
            reference: url.to_string(),
            detail: "this source cannot fetch a layer from its urls".into(),
        })
    }
    /// The OCI 1.1 referrers API's index of the manifests whose `subject` is `subject`; None
    /// where the registry has no such API (it answered 404), or the source has no API.
    async fn referrers_api(
        &self,
        repo: &Reference,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let _ = (repo, subject, artifact_type);
        Ok(None)
    }
    /// The repository's tags (bounded; none where the source lists none); `NotFound` when the
    /// registry has no such repository.
    async fn tags(&self, repo: &Reference) -> Result<Vec<String>, RegistryError> {
        let _ = repo;
        Ok(vec![])
    }
    /// The byte bounds of what this source sends (a client's own, `RUNREF_MAX_*` by default).
    fn limits(&self) -> Limits {
        Limits::default()
    }
}

/// What a registry source counts of its exchange: requests, fallbacks, cache hits, the
/// endpoints that answered, the rate limit it was told. Apart from [`Registry`]'s reads.
pub trait Counters {
    /// HTTP requests sent so far, every kind (token requests, retries and redirects included).
    fn requests(&self) -> usize;
    /// Of [`Counters::requests`], the HTTPS attempts insecure hosts refused before plain HTTP
    /// answered: at most one per host and run.
    fn http_fallbacks(&self) -> usize {
        0
    }
    /// The pulls `registry` said are left (Docker Hub's `ratelimit-remaining`), when it said.
    fn rate_remaining(&self, registry: &str) -> Option<u64> {
        let _ = registry;
        None
    }
    /// Manifests served from the on-disk cache instead (no request sent).
    fn cache_hits(&self) -> usize {
        0
    }
    /// For each registry read, the endpoint that answered last (`docker.io` =>
    /// `http://127.0.0.1:5000` when a mirror did).
    fn endpoints(&self) -> Endpoints {
        Endpoints::new()
    }
}

/// Which endpoint answered a registry's reads: its URL, and whether it is a mirror (a Docker
/// Hub mirror) or the registry itself. Kept typed so no renderer guesses from the URL (it said
/// "docker.io read through mirror https://registry-1.docker.io" when Docker Hub answered).
/// JSON: the URL alone (the `registry_endpoints` contract).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnsweredBy {
    pub url: String,
    pub mirror: bool,
}

impl serde::Serialize for AnsweredBy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.url)
    }
}

/// Registry => the endpoint that answered last.
pub type Endpoints = BTreeMap<String, AnsweredBy>;

/// Pages of a paginated list (tags, referrers) followed.
const MAX_PAGES: usize = 10;
/// Tags of a repository read.
const MAX_TAGS: usize = 10_000;

/// The next page of a paginated answer: `Link: </v2/...?last=x>; rel="next"` (a path on the
/// same registry; other forms end the list).
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let v = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    let (target, params) = v.split_once(';')?;
    if !params.contains("rel=\"next\"") {
        return None;
    }
    let t = target.trim().strip_prefix('<')?.strip_suffix('>')?;
    t.starts_with("/v2/").then(|| t.to_string())
}

/// Registry client options.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// `host[:port]` names and CIDRs tried over HTTPS without verification, then plain HTTP
    /// (loopback hosts always are), as Docker's `insecure-registries`.
    pub insecure: Vec<String>,
    /// `host[:port]` reached over plain HTTP only, never HTTPS (oras `--plain-http`, regclient
    /// `tls = "disabled"`).
    pub plain_http: Vec<String>,
    /// `--cert-dir`: CA roots (`*.crt`) and a client certificate (`*.cert` + `*.key`) for every
    /// host, instead of the certs.d directories.
    pub cert_dir: Option<std::path::PathBuf>,
    /// podman's registries.conf, when one is in force (see [`conf`]); followed unless the
    /// gate set with [`HttpRegistry::with_conf_gate`] says otherwise.
    pub registries_conf: Option<conf::RegistriesConf>,
    pub timeout: Duration,
    /// Attempts per request on 429/5xx/timeouts (>= 1).
    pub attempts: u32,
    /// Docker Hub mirrors to read through first (`--registry-mirror`), before the daemon's.
    pub mirrors: Vec<Mirror>,
    /// The run's overall deadline (`--deadline`).
    pub deadline: Option<Instant>,
    pub limits: Limits,
    /// `--debug`: every request as one line.
    pub trace: Option<crate::trace::Trace>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure: vec![],
            plain_http: vec![],
            cert_dir: None,
            registries_conf: None,
            timeout: Duration::from_secs(30),
            attempts: 3,
            mirrors: vec![],
            deadline: None,
            limits: Limits::default(),
            trace: None,
        }
    }
}

/// Where the daemon's own mirrors come from: asked at most once, and only when a Docker Hub name
/// is first read (so a run that needs no registry costs the daemon nothing more).
pub type MirrorSource = Pin<Box<dyn Future<Output = Vec<String>> + Send>>;

/// Docker Hub's own endpoint (what the Engine pulls from).
const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";

/// The real registry client.
pub struct HttpRegistry {
    /// The layered exchange: transport (counted, bounded) <- auth <- session.
    wire: session::Session,
    opts: RegistryOptions,
    daemon_mirrors: Mutex<Option<MirrorSource>>,
    /// The daemon's insecure registries, asked at most once, when a host not already insecure
    /// is first read (what the daemon pulls without verification, runref reads so too).
    daemon_insecure: Mutex<Option<MirrorSource>>,
    insecure: tokio::sync::OnceCell<Vec<String>>,
    /// Whether registries.conf is followed: asked at most once (is the daemon podman?), when
    /// a name the file routes is first read.
    conf_gate: Mutex<Option<Pin<Box<dyn Future<Output = bool> + Send>>>>,
    conf_applies: tokio::sync::OnceCell<bool>,
    /// Registries that answered 404 to the referrers API this run (the tag schema is used).
    no_referrers_api: Mutex<std::collections::HashSet<String>>,
    /// Registries that answered the referrers API (no probe needed any more).
    referrers_api: Mutex<std::collections::HashSet<String>>,
    /// Held by a registry's first referrers request until it is known whether the registry
    /// has the API, so concurrent first requests (sync's images) do not each pay the 404.
    referrers_probe:
        Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    hub: tokio::sync::OnceCell<Vec<Mirror>>,
    answered: Mutex<Endpoints>,
}

/// One place a read can go: the registry itself or one of its mirrors.
struct Endpoint {
    /// For credentials: the registry's name (`docker.io`) or the mirror's host.
    host: String,
    url: String,
    mirror: bool,
    /// The repository there, when registries.conf rewrote the name (else the reference's).
    repository: Option<String>,
}

impl Endpoint {
    /// The one constructor: `host` (for credentials) at `url`, a mirror or the registry.
    fn new(host: String, url: String, mirror: bool) -> Endpoint {
        Endpoint {
            host,
            url,
            mirror,
            repository: None,
        }
    }

    /// Where registries.conf rewrote the repository to.
    fn rewritten(self, repository: String) -> Endpoint {
        Endpoint {
            repository: Some(repository),
            ..self
        }
    }

    fn repo<'a>(&'a self, own: &'a str) -> &'a str {
        self.repository.as_deref().unwrap_or(own)
    }
}

/// Installs the ring TLS provider once; reqwest panics without a process-wide provider.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl HttpRegistry {
    /// A client over `opts`; each host's TLS configuration is read at its first request.
    pub fn new(opts: RegistryOptions) -> Result<HttpRegistry, RegistryError> {
        install_tls_provider();
        let wire = Wire::new(WireOptions {
            timeout: opts.timeout,
            attempts: opts.attempts,
            deadline: opts.deadline,
            limits: opts.limits,
            trace: opts.trace.clone(),
            hosts: hosts::HostSources {
                cert_dir: opts.cert_dir.clone(),
                roots: hosts::HostSources::system_roots(),
                insecure: opts.insecure.clone(),
            },
        })?;
        Ok(HttpRegistry {
            wire: session::Session::new(wire),
            opts,
            daemon_mirrors: Mutex::new(None),
            daemon_insecure: Mutex::new(None),
            insecure: tokio::sync::OnceCell::new(),
            conf_gate: Mutex::new(None),
            conf_applies: tokio::sync::OnceCell::new(),
            no_referrers_api: Mutex::new(std::collections::HashSet::new()),
            referrers_api: Mutex::new(std::collections::HashSet::new()),
            referrers_probe: Mutex::new(std::collections::HashMap::new()),
            hub: tokio::sync::OnceCell::new(),
            answered: Mutex::new(BTreeMap::new()),
        })
    }

    /// registries.conf is followed only when `gate` yields true (asked once, when a name the
    /// file routes is first read): the daemon is podman.
    pub fn with_conf_gate(self, gate: Pin<Box<dyn Future<Output = bool> + Send>>) -> HttpRegistry {
        if let Ok(mut g) = self.conf_gate.lock() {
            *g = Some(gate);
        }
        self
    }

    /// Where registries.conf sends reads of `reference`, when it is followed and routes it.
    async fn route(&self, reference: &Reference) -> Option<conf::Route> {
        let conf = self.opts.registries_conf.as_ref()?;
        let name = format!("{}/{}", reference.registry(), reference.repository());
        let route = conf.route(&name, reference.digest().is_some())?;
        let applies = self
            .conf_applies
            .get_or_init(|| async {
                let gate = self.conf_gate.lock().ok().and_then(|mut g| g.take());
                match gate {
                    Some(g) => g.await,
                    None => true,
                }
            })
            .await;
        applies.then_some(route)
    }

    /// Also reaches the registries `source` yields (the daemon's insecure ones) as insecure.
    pub fn with_daemon_insecure(self, source: MirrorSource) -> HttpRegistry {
        if let Ok(mut m) = self.daemon_insecure.lock() {
            *m = Some(source);
        }
        self
    }

    /// Tells the wire that `host` is insecure when the daemon says so (asked once per run,
    /// and only for a host not insecure already).
    async fn learn_insecure(&self, host: &str) {
        if hosts::is_insecure(host, &self.opts.insecure) {
            return;
        }
        let listed = self
            .insecure
            .get_or_init(|| async {
                let source = self.daemon_insecure.lock().ok().and_then(|mut m| m.take());
                match source {
                    Some(f) => f.await,
                    None => vec![],
                }
            })
            .await;
        if hosts::is_insecure(host, listed) {
            self.wire.add_insecure(host);
        }
    }

    /// Also reads Docker Hub names through the mirrors `source` yields (the daemon's own).
    pub fn with_daemon_mirrors(self, source: MirrorSource) -> HttpRegistry {
        if let Ok(mut m) = self.daemon_mirrors.lock() {
            *m = Some(source);
        }
        self
    }

    /// `http` for the hosts told to speak plain HTTP only, else `https` (an insecure host
    /// falls back to HTTP in the wire, once per run).
    fn scheme(&self, host: &str) -> &'static str {
        match self.opts.plain_http.iter().any(|h| h == host) {
            true => "http",
            false => "https",
        }
    }

    async fn hub(&self) -> &[Mirror] {
        self.hub
            .get_or_init(|| async {
                let source = self.daemon_mirrors.lock().ok().and_then(|mut m| m.take());
                let from_daemon = match source {
                    Some(f) => f.await,
                    None => vec![],
                };
                crate::mirror::merge(&self.opts.mirrors, &from_daemon)
            })
            .await
    }

    /// The URL of a registry host: Docker Hub's API endpoint for `docker.io`, else the host
    /// with its scheme (plain HTTP only where it is insecure and answers so).
    fn url_of(&self, host: &str) -> String {
        match host {
            crate::model::reference::DOCKER_HUB => format!("https://{DOCKER_HUB_ENDPOINT}"),
            h => format!("{}://{h}", self.scheme(h)),
        }
    }

    /// Where reads of `reference` go, in order: for Docker Hub names the mirrors (the one that
    /// answered last first), then Docker Hub; for any other name its registry.
    async fn places(&self, reference: &Reference) -> Result<Vec<Endpoint>, RegistryError> {
        let registry = reference.registry().to_string();
        match self.route(reference).await {
            Some(conf::Route::Blocked { prefix, file }) => {
                return Err(RegistryError::Blocked {
                    reference: reference.to_string(),
                    prefix,
                    file: file.display().to_string(),
                })
            }
            Some(conf::Route::To(places)) => {
                return Ok(places
                    .into_iter()
                    .map(|p| {
                        if p.insecure {
                            self.wire.add_insecure(&p.host);
                        }
                        let url = self.url_of(&p.host);
                        Endpoint::new(p.host, url, p.mirror).rewritten(p.repository)
                    })
                    .collect())
            }
            None => {}
        }
        if !reference.is_docker_hub() {
            self.learn_insecure(&registry).await;
            return Ok(vec![Endpoint::new(
                registry.clone(),
                self.url_of(&registry),
                false,
            )]);
        }
        let mut out: Vec<Endpoint> = self
            .hub()
            .await
            .iter()
            .map(|m| {
                let url = match m.http {
                    true => format!("http://{}", m.host),
                    false => self.url_of(&m.host),
                };
                Endpoint::new(m.host.clone(), url, true)
            })
            .collect();
        out.push(Endpoint::new(
            registry.clone(),
            self.url_of(&registry),
            false,
        ));
        let last = self
            .answered
            .lock()
            .ok()
            .and_then(|a| a.get(&registry).map(|b| b.url.clone()));
        if let Some(i) =
            last.and_then(|l| out.iter().position(|e| self.wire.effective(&e.url) == l))
        {
            let e = out.remove(i);
            out.insert(0, e);
        }
        Ok(out)
    }

    /// Runs `op` at each endpoint of `reference` until one answers. A mirror's failure of any
    /// kind falls through to the next endpoint, as the Engine's pulls do; the registry's own
    /// answer is final, and carries what the mirrors said.
    async fn across<T>(
        &self,
        reference: &Reference,
        op: impl AsyncFn(&Endpoint) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut tried: Vec<String> = Vec::new();
        for ep in self.places(reference).await? {
            match op(&ep).await {
                Ok(v) => {
                    if let Ok(mut a) = self.answered.lock() {
                        let by = AnsweredBy {
                            url: self.wire.effective(&ep.url),
                            mirror: ep.mirror,
                        };
                        a.insert(reference.registry().to_string(), by);
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

    /// A paginated list: GETs `first` (a `/v2/{repo}/...` path, `{repo}` the endpoint's
    /// repository) and the pages its `Link: <...>; rel="next"` headers name, at most
    /// `MAX_PAGES`, each page's JSON given to `take` until it says enough. False when the
    /// first page is a 404 (no such list).
    async fn paged(
        &self,
        repo: &Reference,
        subject: &Reference,
        first: String,
        accept: Option<&str>,
        what: &'static str,
        mut take: impl FnMut(&reqwest::header::HeaderMap, serde_json::Value) -> bool,
    ) -> Result<bool, RegistryError> {
        let repository = repo.repository();
        let limit = self.wire.limits().manifest;
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(tail) = next.take() {
            pages += 1;
            let page = self
                .across(repo, async |ep| {
                    let r = ep.repo(&repository);
                    let path = tail.replace("{repo}", r);
                    let call = self.get(ep, subject, r, path, accept.map(str::to_string));
                    let (status, headers, body) = self.wire.fetch(&call, limit, what).await?;
                    match status {
                        StatusCode::NOT_FOUND => Ok(None),
                        s if s.is_success() => Ok(Some((headers, body))),
                        s => Err(refusal(&call, s, &body)),
                    }
                })
                .await?;
            let Some((headers, body)) = page else {
                return Ok(pages > 1);
            };
            let more = take(&headers, serde_json::from_slice(&body).unwrap_or_default());
            if more && pages < MAX_PAGES {
                next = next_link(&headers)
                    .map(|n| n.replacen(&format!("/v2/{repository}/"), "/v2/{repo}/", 1));
            }
        }
        Ok(true)
    }

    /// A GET of `/v2/<repository>/<kind>/<tail>` at `ep`.
    fn get<'a>(
        &self,
        ep: &'a Endpoint,
        reference: &'a Reference,
        repo: &'a str,
        path: String,
        accept: Option<String>,
    ) -> Call<'a> {
        Call {
            base: &ep.url,
            host: &ep.host,
            repo,
            method: Method::GET,
            path,
            accept,
            body: None,
            scope: Scope::Pull,
            from: None,
            subject: reference.to_string(),
            registry: reference.registry(),
        }
    }
}

/// The error for an answer that is not a success.
/// The one mapping of a refused HTTP answer to a [`RegistryError`], for reads and writes
/// alike (it was written twice): 404 on a read is `NotFound`; 401/403 `Unauthorized`; anything
/// else `Server`, with the registry's own error text. A write names its method and path (query
/// cut: upload locations carry state).
pub(crate) fn refusal(call: &Call<'_>, status: StatusCode, body: &[u8]) -> RegistryError {
    let detail = wire::envelope_text(status, body);
    let write = !matches!(call.method, reqwest::Method::GET | reqwest::Method::HEAD);
    let path = call
        .path
        .split_once('?')
        .map_or(call.path.as_str(), |(p, _)| p);
    match status {
        StatusCode::NOT_FOUND if !write => RegistryError::NotFound {
            reference: call.subject.clone(),
        },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => RegistryError::Unauthorized {
            reference: call.subject.clone(),
            registry: call.registry.to_string(),
            detail: match write {
                true => format!(
                    "HTTP {} on {} {path}: {detail}",
                    status.as_u16(),
                    call.method
                ),
                false => format!("HTTP {}: {detail}", status.as_u16()),
            },
        },
        s => RegistryError::Server {
            reference: call.subject.clone(),
            status: s.as_u16(),
            attempts: 1,
            detail: match write {
                true => format!("{} {path}: {detail}", call.method),
                false => detail,
            },
        },
    }
}

/// The manifest path's last part: the digest when there is one (no tag race), else the tag.
fn manifest_tail(reference: &Reference) -> String {
    match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    }
}

fn first_line(e: &RegistryError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

impl Registry for HttpRegistry {
    async fn manifest(&self, reference: &Reference) -> Result<Fetched, RegistryError> {
        let repo = reference.repository();
        let limit = self.wire.limits().manifest;
        let (bytes, header) = self
            .across(reference, async |ep| {
                let repo = ep.repo(&repo);
                let path = format!("/v2/{repo}/manifests/{}", manifest_tail(reference));
                let call = self.get(ep, reference, repo, path, Some(ACCEPT.join(", ")));
                let (status, headers, body) = self.wire.fetch(&call, limit, "manifest").await?;
                if !status.is_success() {
                    return Err(refusal(&call, status, &body));
                }
                let header = headers
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                Ok((body, header))
            })
            .await?;
        let bad = |source| RegistryError::Manifest {
            reference: reference.to_string(),
            source,
        };
        // By digest: the bytes must hash to it. By tag: to the digest the registry reports,
        // or (no header) the digest of what was sent.
        let digest: Digest = match (reference.digest(), header) {
            (Some(d), _) => d.clone(),
            (None, Some(h)) => h.parse().map_err(|e| bad(ManifestError::Digest(e)))?,
            (None, None) => Digest::of(&bytes),
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
        let subject = repo.with_digest(digest);
        let repository = repo.repository();
        let limit = self.wire.limits().config;
        let bytes = self
            .across(repo, async |ep| {
                let repository = ep.repo(&repository);
                let path = format!("/v2/{repository}/blobs/{digest}");
                let call = self.get(ep, &subject, repository, path, None);
                let (status, _, body) = self.wire.fetch(&call, limit, "config").await?;
                if !status.is_success() {
                    return Err(refusal(&call, status, &body));
                }
                Ok(body)
            })
            .await?;
        let bad = |source| RegistryError::Manifest {
            reference: subject.to_string(),
            source,
        };
        digest
            .verify(&bytes)
            .map_err(|e| bad(ManifestError::Digest(e)))?;
        ImageConfig::parse(&bytes).map_err(bad)
    }

    async fn referrers_api(
        &self,
        repo: &Reference,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let registry = repo.registry().to_string();
        let absent = || {
            self.no_referrers_api
                .lock()
                .is_ok_and(|n| n.contains(&registry))
        };
        let present = self
            .referrers_api
            .lock()
            .is_ok_and(|n| n.contains(&registry));
        let _probing = match present || absent() {
            true => None,
            false => {
                let lock = self
                    .referrers_probe
                    .lock()
                    .map(|mut m| m.entry(registry.clone()).or_default().clone())
                    .ok();
                match lock {
                    Some(l) => Some(l.lock_owned().await),
                    None => None,
                }
            }
        };
        if absent() {
            return Ok(None);
        }
        let mut manifests: Vec<serde_json::Value> = Vec::new();
        let mut first = format!("/v2/{{repo}}/referrers/{subject}");
        if let Some(t) = artifact_type {
            first.push('?');
            first.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("artifactType", t)
                    .finish(),
            );
        }
        let accept = Some("application/vnd.oci.image.index.v1+json");
        let answered = self
            .paged(
                repo,
                &repo.with_digest(subject),
                first,
                accept,
                "referrers index",
                |headers, v| {
                    // A registry that ignored the filter says so by not naming it in
                    // OCI-Filters-Applied: the listing is filtered here instead.
                    let applied = headers
                        .get_all("oci-filters-applied")
                        .iter()
                        .filter_map(|h| h.to_str().ok())
                        .flat_map(|h| h.split(','))
                        .any(|f| f.trim() == "artifactType");
                    let page = v["manifests"].as_array().cloned().unwrap_or_default();
                    manifests.extend(page.into_iter().filter(|d| {
                        applied
                            || artifact_type.is_none_or(|t| d["artifactType"].as_str() == Some(t))
                    }));
                    manifests.len() < crate::model::manifest::MAX_REFERRERS_PER_SUBJECT
                },
            )
            .await?;
        if !answered {
            if let Ok(mut n) = self.no_referrers_api.lock() {
                n.insert(registry);
            }
            return Ok(None);
        }
        if let Ok(mut n) = self.referrers_api.lock() {
            n.insert(registry);
        }
        Ok(Some(crate::model::manifest::referrers_index(manifests)))
    }

    async fn tags(&self, repo: &Reference) -> Result<Vec<String>, RegistryError> {
        let mut tags = Vec::new();
        let first = "/v2/{repo}/tags/list?n=1000".to_string();
        let listed = self
            .paged(repo, repo, first, None, "tag list", |_, v| {
                tags.extend(
                    v["tags"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|t| t.as_str().map(str::to_string)),
                );
                tags.len() < MAX_TAGS
            })
            .await?;
        // A 404 for the list: no such repository (distribution's NAME_UNKNOWN).
        if !listed {
            return Err(RegistryError::NotFound {
                reference: repo.bare().to_string(),
            });
        }
        Ok(tags)
    }

    fn limits(&self) -> Limits {
        self.wire.limits()
    }

    /// One GET of an http(s) URL, no registry credentials sent (the URL is not the
    /// registry's), counted and traced like every request; verified as any blob.
    async fn url_stream(&self, url: &str, digest: &Digest) -> Result<BlobStream, RegistryError> {
        let resp = self.wire.get_url(url).await?;
        Ok(wire::verified_stream(
            resp,
            digest.clone(),
            self.wire.timeout(),
            self.wire.deadline(),
        ))
    }

    /// Streamed: each chunk must come within `--timeout` of the last and all before the run's
    /// deadline; the bytes are hashed as they pass and a mismatch ends the stream in an error.
    async fn blob_stream(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<BlobStream, RegistryError> {
        let subject = repo.with_digest(digest);
        let repository = repo.repository();
        let resp = self
            .across(repo, async |ep| {
                let repository = ep.repo(&repository);
                let path = format!("/v2/{repository}/blobs/{digest}");
                let call = self.get(ep, &subject, repository, path, None);
                let resp = self.wire.open(&call).await?;
                if !resp.status().is_success() {
                    let status = resp.status();
                    let until = Instant::now() + self.wire.timeout();
                    let body = wire::read_bounded(resp, wire::MAX_ERROR_BYTES, until)
                        .await
                        .unwrap_or_default();
                    return Err(refusal(&call, status, &body));
                }
                Ok(resp)
            })
            .await?;
        Ok(wire::verified_stream(
            resp,
            digest.clone(),
            self.wire.timeout(),
            self.wire.deadline(),
        ))
    }
}

impl Counters for HttpRegistry {
    fn requests(&self) -> usize {
        self.wire.requests()
    }
    fn http_fallbacks(&self) -> usize {
        self.wire.http_fallbacks()
    }
    fn rate_remaining(&self, registry: &str) -> Option<u64> {
        self.wire.rate_remaining(registry)
    }
    fn endpoints(&self) -> Endpoints {
        self.answered.lock().map(|a| a.clone()).unwrap_or_default()
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
            assert!(hosts::is_loopback(h), "{h}");
        }
        for h in [
            "docker.io",
            "10.0.0.1:5000",
            "quay.io",
            "[fe80::1]:5000",
            "localhost.example.com",
        ] {
            assert!(!hosts::is_loopback(h), "{h}");
        }
    }
}
