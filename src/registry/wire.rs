//! The registry's HTTP exchange: one connection pool, every request counted as the wire sees it
//! (token requests and redirects included), the registry's 401 challenge answered on the first
//! real request (no `/v2/` probe), bounded retries that honour `Retry-After`, a deadline per
//! request that covers connect, headers and body, an overall deadline, and bodies read against a
//! byte bound while they stream.
//!
//! Why not oci-client's transport: it probes `/v2/` before every anonymous request, reads whole
//! bodies without a bound, hides `Retry-After`, and panics on a token that is not a header
//! value (spec-notes, "Registry client").

use super::error::{truncate, BlobStream, RegistryError};
use super::hosts::{HostConfig, HostSources};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Byte bounds on what the registry sends, checked while the body streams.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Manifest or index (containerd's bound: 4 MiB); `RUNREF_MAX_MANIFEST_BYTES`.
    pub manifest: u64,
    /// Image config blob; `RUNREF_MAX_CONFIG_BYTES`.
    pub config: u64,
    /// Token server answer.
    pub token: u64,
}

pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
pub const MAX_CONFIG_BYTES: u64 = 8 << 20;
pub const MAX_TOKEN_BYTES: u64 = 1 << 20;
/// How much of an error body is read for its message.
pub(super) const MAX_ERROR_BYTES: u64 = 64 << 10;
/// The longest `Retry-After` honoured when no overall deadline is set.
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

impl Default for Limits {
    fn default() -> Self {
        let env = |k: &str, d: u64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(d)
        };
        Limits {
            manifest: env("RUNREF_MAX_MANIFEST_BYTES", MAX_MANIFEST_BYTES),
            config: env("RUNREF_MAX_CONFIG_BYTES", MAX_CONFIG_BYTES),
            token: MAX_TOKEN_BYTES,
        }
    }
}

/// Options of the exchange.
#[derive(Debug, Clone)]
pub struct WireOptions {
    /// Per request: connect, headers and (for bounded reads) the whole body; for a layer
    /// stream, the longest silence between two chunks.
    pub timeout: Duration,
    /// Attempts per request on 429/5xx/timeouts/broken bodies (>= 1).
    pub attempts: u32,
    /// The run's overall deadline: no request starts, and no wait lasts, past it.
    pub deadline: Option<Instant>,
    pub limits: Limits,
    /// `--debug`: every request as one line.
    pub trace: Option<crate::trace::Trace>,
    /// Where each host's scheme rule, CA roots and client certificate come from.
    pub hosts: HostSources,
}

/// One request: where, what, and how it is shown in errors.
pub struct Call<'a> {
    /// `http://host:port` or `https://host`.
    pub base: &'a str,
    /// The endpoint's host, for credentials.
    pub host: &'a str,
    /// The repository (auth scope).
    pub repo: &'a str,
    pub method: Method,
    /// From `/v2/...`.
    pub path: String,
    pub accept: Option<String>,
    pub body: Option<(Bytes, String)>,
    pub scope: Scope,
    /// For a cross-repository mount: the repository the blob comes from (pull scope).
    pub from: Option<&'a str>,
    /// The reference shown in errors.
    pub subject: String,
    /// The registry shown in errors.
    pub registry: &'a str,
}

/// What one attempt decided.
pub enum Step<T> {
    Done(T),
    Retry {
        error: RegistryError,
        after: Option<Duration>,
    },
}

/// Whose permission a request needs (the token scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Pull,
    Push,
}

/// The bottom layer: a connection pool per host configuration, every request counted (redirect
/// hops and the HTTPS attempt an insecure host refused included), each bounded by its timeout
/// and the run's deadline, traced under `--debug`. It knows nothing of authorization:
/// [`super::auth`] builds on it, [`super::session`] on both.
pub struct Wire {
    /// Builds every request, and sends those of hosts with nothing beyond the system's trust.
    client: reqwest::Client,
    opts: WireOptions,
    requests: Arc<AtomicUsize>,
    /// `host[:port]` => how it is reached, resolved at its first request.
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    /// HTTPS attempts an insecure host refused before plain HTTP answered.
    fallbacks: AtomicUsize,
    /// Registry => the pulls its last `ratelimit-remaining` header said are left.
    rate: Mutex<HashMap<String, u64>>,
}

/// One host as the run reaches it.
struct Host {
    config: HostConfig,
    client: reqwest::Client,
    /// For an insecure host: the scheme that answered (None until one did).
    scheme: Mutex<Option<&'static str>>,
    /// Held by the first request to an insecure host until its scheme is known, so concurrent
    /// first requests do not each pay the HTTPS attempt.
    probe: tokio::sync::Mutex<()>,
}

impl Wire {
    pub fn new(opts: WireOptions) -> Result<Wire, RegistryError> {
        let requests = Arc::new(AtomicUsize::new(0));
        let client = build_client(&opts, &requests, &HostConfig::default()).map_err(|e| {
            RegistryError::Other {
                reference: String::new(),
                detail: format!("cannot build the registry client: {e}"),
            }
        })?;
        Ok(Wire {
            client,
            opts,
            requests,
            hosts: Mutex::new(HashMap::new()),
            fallbacks: AtomicUsize::new(0),
            rate: Mutex::new(HashMap::new()),
        })
    }

    /// Marks `host` insecure for the rest of the run (the daemon lists it so), unless it was
    /// already reached.
    pub fn add_insecure(&self, host: &str) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if !hosts.contains_key(host) && !self.opts.hosts.insecure.iter().any(|h| h == host) {
            let mut sources = self.opts.hosts.clone();
            sources.insecure.push(host.to_string());
            if let Ok(h) = self.make_host(host, &sources) {
                hosts.insert(host.to_string(), Arc::new(h));
            }
        }
    }

    /// `base` (`https://host[:port]`) with the scheme its host answered on.
    pub fn effective(&self, base: &str) -> String {
        let Ok(url) = url::Url::parse(base) else {
            return base.to_string();
        };
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let http = hosts
            .get(&host_key(&url))
            .is_some_and(|h| *h.scheme.lock().unwrap_or_else(|e| e.into_inner()) == Some("http"));
        match (http, base.strip_prefix("https://")) {
            (true, Some(rest)) => format!("http://{rest}"),
            _ => base.to_string(),
        }
    }

    /// HTTPS attempts that insecure hosts refused before plain HTTP answered (each counted in
    /// [`Wire::requests`], none in a registry's access log).
    pub fn http_fallbacks(&self) -> usize {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// How `key` (`host[:port]`) is reached; resolved once per run.
    fn host(&self, key: &str, call: &Call<'_>) -> Result<Arc<Host>, RegistryError> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = hosts.get(key) {
            return Ok(h.clone());
        }
        let h = Arc::new(self.make_host(key, &self.opts.hosts).map_err(|detail| {
            RegistryError::Unreachable {
                registry: call.registry.to_string(),
                detail: format!("{key}: {detail}"),
                hint: String::new(),
            }
        })?);
        hosts.insert(key.to_string(), h.clone());
        Ok(h)
    }

    fn make_host(&self, key: &str, sources: &HostSources) -> Result<Host, String> {
        let config = super::hosts::resolve(key, sources).map_err(|e| e.to_string())?;
        let client = match config.is_plain() {
            true => self.client.clone(),
            false => build_client(&self.opts, &self.requests, &config)?,
        };
        Ok(Host {
            config,
            client,
            scheme: Mutex::new(None),
            probe: tokio::sync::Mutex::new(()),
        })
    }

    /// Requests sent so far, every kind.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// The pulls `registry` said are left, by the last `ratelimit-remaining` it sent (Docker
    /// Hub: `100;w=21600`); None when it never sent one.
    pub fn rate_remaining(&self, registry: &str) -> Option<u64> {
        let rate = self.rate.lock().unwrap_or_else(|e| e.into_inner());
        rate.get(registry).copied()
    }

    pub fn limits(&self) -> Limits {
        self.opts.limits
    }

    pub fn timeout(&self) -> Duration {
        self.opts.timeout
    }

    /// The end of this request's time: its own timeout or the run's deadline, whichever first.
    pub(super) fn until(&self) -> Instant {
        let own = Instant::now() + self.opts.timeout;
        match self.opts.deadline {
            Some(d) if d < own => d,
            _ => own,
        }
    }

    pub(super) fn past_deadline(&self, call: &Call<'_>) -> Option<RegistryError> {
        match self.opts.deadline {
            Some(d) if Instant::now() >= d => Some(RegistryError::Deadline {
                reference: call.subject.clone(),
            }),
            _ => None,
        }
    }

    /// Sends one HTTP request within `until`, counted, through its host's configuration: an
    /// insecure host is tried over HTTPS without verification and, when that connection fails,
    /// over plain HTTP; the scheme that answered is kept for the rest of the run.
    pub(super) async fn raw(
        &self,
        req: reqwest::RequestBuilder,
        until: Instant,
        call: &Call<'_>,
    ) -> Result<Step<reqwest::Response>, RegistryError> {
        let (_, request) = req.build_split();
        let mut request =
            request.map_err(|e| unreachable(call.registry, &e, &HostConfig::default()))?;
        let key = host_key(request.url());
        let host = self.host(&key, call)?;
        let may_fall_back = host.config.insecure && request.url().scheme() == "https";
        let known = || *host.scheme.lock().unwrap_or_else(|e| e.into_inner());
        let _probing = match may_fall_back && known().is_none() {
            true => Some(host.probe.lock().await),
            false => None,
        };
        let known = known();
        if may_fall_back && known == Some("http") {
            let _ = request.url_mut().set_scheme("http");
        }
        let second = match may_fall_back && known.is_none() {
            true => request.try_clone(),
            false => None,
        };
        let mut answer = self.send(&host.client, request, until).await;
        if let Some(mut second) = second {
            let refused = matches!(&answer, Ok(Err(e)) if e.is_connect());
            let scheme = if refused { "http" } else { "https" };
            if refused || matches!(&answer, Ok(Ok(_))) {
                *host.scheme.lock().unwrap_or_else(|e| e.into_inner()) = Some(scheme);
            }
            if refused {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                if let Some(t) = &self.opts.trace {
                    t.line(&format!(
                        "registry {key}: the HTTPS connection failed (insecure host); plain HTTP from now on"
                    ));
                }
                let _ = second.url_mut().set_scheme("http");
                // Its own time: the HTTPS attempt may have used all of the first one's.
                answer = self.send(&host.client, second, self.until()).await;
            }
        }
        self.answer(answer, call, &host.config)
    }

    /// One request on the wire: counted, bounded by `until`, traced under `--debug`.
    async fn send(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        until: Instant,
    ) -> Result<Result<reqwest::Response, reqwest::Error>, tokio::time::error::Elapsed> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let Some(trace) = &self.opts.trace else {
            return tokio::time::timeout_at(until, client.execute(request)).await;
        };
        let (method, url) = (request.method().to_string(), request.url().to_string());
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout_at(until, client.execute(request)).await;
        let (status, bytes) = match &answer {
            Ok(Ok(r)) => (Some(r.status().as_u16()), r.content_length()),
            _ => (None, None),
        };
        let note = match &answer {
            Err(_) => " (timed out)".to_string(),
            Ok(Err(e)) => format!(" ({})", error_chain(e)),
            Ok(Ok(_)) => String::new(),
        };
        trace.request(&crate::trace::Seen {
            kind: "registry",
            method: &method,
            url: &url,
            status,
            bytes,
            took: started.elapsed(),
            note: &note,
        });
        answer
    }

    /// What a sent request's outcome means: an answer, a retry, or an error.
    fn answer(
        &self,
        answer: Result<Result<reqwest::Response, reqwest::Error>, tokio::time::error::Elapsed>,
        call: &Call<'_>,
        host: &HostConfig,
    ) -> Result<Step<reqwest::Response>, RegistryError> {
        match answer {
            Err(_) => Ok(Step::Retry {
                error: self.timed_out(call),
                after: None,
            }),
            Ok(Err(e)) if e.is_timeout() => Ok(Step::Retry {
                error: self.timed_out(call),
                after: None,
            }),
            Ok(Err(e)) => {
                let error = unreachable(call.registry, &e, host);
                if e.is_connect() || e.is_builder() || e.is_redirect() {
                    Err(error)
                } else {
                    // A connection reset mid-exchange: worth another attempt.
                    Ok(Step::Retry { error, after: None })
                }
            }
            Ok(Ok(r)) => {
                if let Some(left) = rate_remaining(r.headers()) {
                    let mut rate = self.rate.lock().unwrap_or_else(|e| e.into_inner());
                    rate.insert(call.registry.to_string(), left);
                }
                Ok(Step::Done(r))
            }
        }
    }

    pub(super) fn timed_out(&self, call: &Call<'_>) -> RegistryError {
        // A request cut by the run's deadline says so, not the per-request timeout it did not
        // reach (a newcomer saw "did not answer within 30s" from a run of 1 s).
        if let Some(e) = self.past_deadline(call) {
            return e;
        }
        RegistryError::Timeout {
            reference: call.subject.clone(),
            secs: self.opts.timeout.as_secs(),
            attempts: 1,
        }
    }

    /// A GET of a foreign layer's URL (http or https only): no authorization, one attempt,
    /// counted and traced; a non-2xx answer is an error naming the URL.
    pub async fn get_url(&self, url: &str) -> Result<reqwest::Response, RegistryError> {
        let other = |detail: String| RegistryError::Other {
            reference: crate::trace::redact(url),
            detail,
        };
        let parsed = url::Url::parse(url).map_err(|e| other(format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(other("only http and https layer URLs are fetched".into()));
        }
        let call = Call {
            base: "",
            host: parsed.host_str().unwrap_or(""),
            repo: "",
            method: Method::GET,
            path: String::new(),
            accept: None,
            body: None,
            scope: Scope::Pull,
            from: None,
            subject: crate::trace::redact(url),
            registry: parsed.host_str().unwrap_or(""),
        };
        if let Some(e) = self.past_deadline(&call) {
            return Err(e);
        }
        let req = self.client.get(parsed.clone());
        match self.raw(req, self.until(), &call).await? {
            Step::Done(r) if r.status().is_success() => Ok(r),
            Step::Done(r) => Err(other(format!("answered HTTP {}", r.status()))),
            Step::Retry { error, .. } => Err(error),
        }
    }

    /// The run's deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.opts.deadline
    }

    /// Attempts per request.
    pub(super) fn attempts(&self) -> u32 {
        self.opts.attempts.max(1)
    }

    /// The `--debug` sink, when tracing.
    pub(super) fn trace(&self) -> Option<&crate::trace::Trace> {
        self.opts.trace.as_ref()
    }

    pub(super) fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

pub(super) fn with_attempts(e: RegistryError, n: u32) -> RegistryError {
    match e {
        RegistryError::Server {
            reference,
            status,
            detail,
            ..
        } => RegistryError::Server {
            reference,
            status,
            attempts: n,
            detail,
        },
        RegistryError::Timeout {
            reference, secs, ..
        } => RegistryError::Timeout {
            reference,
            secs,
            attempts: n,
        },
        e => e,
    }
}

/// A token exchange failure another attempt may fix: the token server timed out or answered
/// 429/5xx. The request is then retried whole, like any other transient failure.
pub(super) fn transient(e: &RegistryError) -> bool {
    match e {
        RegistryError::Timeout { .. } => true,
        RegistryError::Server { status, .. } => {
            StatusCode::from_u16(*status).is_ok_and(retryable_status)
        }
        _ => false,
    }
}

pub(super) fn retryable_status(s: StatusCode) -> bool {
    s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error()
}

/// Docker Hub's `ratelimit-remaining: 76;w=21600` (pulls left in the window) as 76.
fn rate_remaining(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let v = headers.get("ratelimit-remaining")?.to_str().ok()?;
    v.split(';').next()?.trim().parse().ok()
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

pub(super) enum Read {
    TooLarge,
    Timeout,
    Broken(String),
}

/// Reads the body chunk by chunk, refusing it as soon as it passes `limit` (a Content-Length
/// over the limit is refused before any byte is read).
pub(super) async fn read_bounded(
    mut resp: reqwest::Response,
    limit: u64,
    until: Instant,
) -> Result<Bytes, Read> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(Read::TooLarge);
    }
    let mut buf = Vec::new();
    loop {
        match tokio::time::timeout_at(until, resp.chunk()).await {
            Err(_) => return Err(Read::Timeout),
            Ok(Err(e)) if e.is_timeout() => return Err(Read::Timeout),
            Ok(Err(e)) => return Err(Read::Broken(error_chain(&e))),
            Ok(Ok(None)) => return Ok(Bytes::from(buf)),
            Ok(Ok(Some(c))) => {
                if buf.len() as u64 + c.len() as u64 > limit {
                    return Err(Read::TooLarge);
                }
                buf.extend_from_slice(&c);
            }
        }
    }
}

/// The registry's error message, read within a small bound.
pub(super) async fn error_text(resp: reqwest::Response, until: Instant) -> String {
    let status = resp.status();
    let body = read_bounded(resp, MAX_ERROR_BYTES, until)
        .await
        .unwrap_or_default();
    envelope_text(status, &body)
}

/// The distribution error envelope's codes and messages (oci-client's types), else the start
/// of the body, else the status's reason.
pub fn envelope_text(status: StatusCode, body: &[u8]) -> String {
    match serde_json::from_slice::<oci_client::errors::OciEnvelope>(body) {
        Ok(env) if !env.errors.is_empty() => truncate(
            &env.errors
                .iter()
                .map(|e| {
                    let code = serde_json::to_value(&e.code)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    format!("{code}: {}", e.message)
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => {
            let text = truncate(&String::from_utf8_lossy(body));
            if text.is_empty() {
                status.canonical_reason().unwrap_or("").to_string()
            } else {
                text
            }
        }
    }
}

/// A blob's body as a stream that is hashed as it passes (a mismatch ends it in an error),
/// where each chunk must come within `idle` of the last and all before `deadline`.
pub fn verified_stream(
    resp: reqwest::Response,
    expected: crate::model::digest::Digest,
    idle: Duration,
    deadline: Option<Instant>,
) -> BlobStream {
    use futures_util::StreamExt;
    use sha2::Digest as _;
    struct State {
        body: futures_util::stream::BoxStream<'static, reqwest::Result<Bytes>>,
        hasher: sha2::Sha256,
        expected: crate::model::digest::Digest,
        done: bool,
    }
    let io = |kind, msg: String| std::io::Error::new(kind, msg);
    let state = State {
        body: resp.bytes_stream().boxed(),
        hasher: sha2::Sha256::new(),
        expected,
        done: false,
    };
    futures_util::stream::unfold(state, move |mut st| async move {
        if st.done {
            return None;
        }
        let mut until = Instant::now() + idle;
        if let Some(d) = deadline {
            until = until.min(d);
        }
        let item = match tokio::time::timeout_at(until, st.body.next()).await {
            Err(_) => {
                st.done = true;
                Err(io(
                    std::io::ErrorKind::TimedOut,
                    match deadline {
                        Some(d) if Instant::now() >= d => {
                            "the run's --deadline passed while the blob was read".to_string()
                        }
                        _ => format!(
                            "no data from the registry for {}s (--timeout)",
                            idle.as_secs()
                        ),
                    },
                ))
            }
            Ok(None) => {
                st.done = true;
                let actual = hex::encode(std::mem::take(&mut st.hasher).finalize());
                if actual == st.expected.hex() {
                    return None;
                }
                Err(io(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "content does not match its digest: expected {}, got sha256:{actual}",
                        st.expected
                    ),
                ))
            }
            Ok(Some(Ok(c))) => {
                st.hasher.update(&c);
                Ok(c)
            }
            Ok(Some(Err(e))) => {
                st.done = true;
                Err(io(std::io::ErrorKind::Other, error_chain(&e)))
            }
        };
        Some((item, st))
    })
    .boxed()
}

pub(super) fn unreachable(registry: &str, e: &reqwest::Error, host: &HostConfig) -> RegistryError {
    let detail = error_chain(e);
    RegistryError::Unreachable {
        registry: registry.to_string(),
        hint: tls_hint(registry, &detail, host),
        detail,
    }
}

/// What to do about a failed connection, from the TLS verifier's or the server's reason.
fn tls_hint(registry: &str, detail: &str, host: &HostConfig) -> String {
    let has = |words: &[&str]| words.iter().any(|w| detail.contains(w));
    let looked_in = || {
        host.looked_in
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if has(&[
        "InvalidContentType",
        "invalid HTTP version",
        "record overflow",
        "wrong version number",
        "CorruptMessage",
    ]) {
        if host.insecure {
            return String::new();
        }
        return format!(
            "\n  the registry seems to speak plain HTTP; if you trust it, add --insecure-registry {registry}"
        );
    }
    if has(&[
        "UnknownIssuer",
        "unknown issuer",
        "self-signed",
        "SelfSigned",
    ]) {
        if let Some(dir) = &host.cert_dir {
            return format!(
                "\n  the certificate of {registry} is signed by a CA this run does not trust: --cert-dir {} replaces the certs.d directories and holds no *.crt of that CA; put it there, or drop --cert-dir to use /etc/docker/certs.d/{registry}/ca.crt; to skip verification of a registry you trust, add --insecure-registry {registry}",
                dir.display()
            );
        }
        return format!(
            "\n  the certificate of {registry} is signed by a CA this machine does not trust: put that CA in /etc/docker/certs.d/{registry}/ca.crt (where Docker and podman read it too) or in a directory given with --cert-dir; to skip verification of a registry you trust, add --insecure-registry {registry}"
        );
    }
    if has(&["xpired", "not valid yet", "NotValidYet"]) {
        return format!(
            "\n  the certificate of {registry} has expired or is not valid yet: renew it on the registry, and check this machine's clock"
        );
    }
    if has(&["not valid for name", "NotValidForName"]) {
        return format!(
            "\n  the certificate of {registry} is not issued for that name: use a name the certificate lists, or reissue it with this one"
        );
    }
    if has(&[
        "CertificateRequired",
        "BadCertificate",
        "UnknownCA",
        "HandshakeFailure",
        "AccessDenied",
    ]) {
        return match &host.identity {
            Some(id) => format!(
                "\n  {registry} refused the client certificate {} (key {}): check that its CA is one the registry trusts",
                id.cert.display(),
                id.key.display()
            ),
            None => format!(
                "\n  {registry} asks for a client certificate: runref looked for a *.cert with its *.key in {}; put them there or give their directory with --cert-dir",
                looked_in()
            ),
        };
    }
    // TLS 1.3: a registry that wants a client certificate accepts the handshake, then closes
    // the connection at the first request.
    if host.identity.is_none()
        && !host.insecure
        && has(&[
            "connection closed",
            "channel closed",
            "Canceled",
            "broken pipe",
            "stream closed",
            "connection reset",
        ])
    {
        return format!(
            "\n  {registry} closed the connection after the TLS handshake, as a registry that asks for a client certificate does: runref found none in {}; put a *.cert with its *.key there, or give their directory with --cert-dir",
            looked_in()
        );
    }
    String::new()
}

/// The `host[:port]` a URL names, as image references write it.
fn host_key(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// A client for one host configuration: its CA roots added to the system's, its client
/// certificate, no verification for an insecure host; redirect hops counted and traced.
fn build_client(
    opts: &WireOptions,
    requests: &Arc<AtomicUsize>,
    config: &HostConfig,
) -> Result<reqwest::Client, String> {
    let hops = requests.clone();
    let trace = opts.trace.clone();
    // Each redirect hop is one more request on the wire; reqwest drops credentials when a
    // redirect leaves the host.
    let redirect = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            attempt.error("more than 5 redirects")
        } else {
            hops.fetch_add(1, Ordering::Relaxed);
            if let Some(t) = &trace {
                t.line(&format!(
                    "registry redirect ({}) -> {}",
                    attempt.status(),
                    crate::trace::redact(attempt.url().as_str())
                ));
            }
            attempt.follow()
        }
    });
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("runref/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
        .redirect(redirect);
    let mut roots = Vec::new();
    for (path, pem) in &config.roots {
        let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
            format!(
                "{}: not a PEM certificate: {}",
                path.display(),
                error_chain(&e)
            )
        })?;
        if certs.is_empty() {
            return Err(format!("{}: holds no PEM certificate", path.display()));
        }
        roots.extend(certs);
    }
    if !roots.is_empty() {
        builder = builder.tls_certs_merge(roots);
    }
    if let Some(id) = &config.identity {
        let identity = reqwest::Identity::from_pem(&id.pem).map_err(|e| {
            format!(
                "client certificate {} with key {}: not a PEM certificate and key ({})",
                id.cert.display(),
                id.key.display(),
                error_chain(&e)
            )
        })?;
        builder = builder.identity(identity);
    }
    if config.insecure {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| error_chain(&e))
}

pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// A header value built from what a server sent; never a panic.
pub(super) fn header_value(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The verifier's and the server's reasons, as rustls 0.23 words them, to the advice.
    #[test]
    fn tls_failures_say_what_to_do() {
        let secure = HostConfig {
            looked_in: vec![PathBuf::from("/etc/docker/certs.d/r.example:5000")],
            ..HostConfig::default()
        };
        let with_id = HostConfig {
            identity: Some(super::super::hosts::Identity {
                cert: PathBuf::from("/d/client.cert"),
                key: PathBuf::from("/d/client.key"),
                pem: vec![],
            }),
            ..HostConfig::default()
        };
        let insecure = HostConfig {
            insecure: true,
            ..HostConfig::default()
        };
        let r = "r.example:5000";
        for (detail, host, want) in [
            (
                "client error (Connect): invalid peer certificate: UnknownIssuer",
                &secure,
                "/etc/docker/certs.d/r.example:5000/ca.crt",
            ),
            (
                "invalid peer certificate: certificate expired: verification time 1, but certificate is not valid after 0",
                &secure,
                "has expired",
            ),
            (
                "invalid peer certificate: certificate not valid for name \"10.0.0.1\"; certificate is only valid for DnsName(\"r.example\")",
                &secure,
                "not issued for that name",
            ),
            (
                "received fatal alert: CertificateRequired",
                &secure,
                "looked for a *.cert with its *.key in /etc/docker/certs.d/r.example:5000",
            ),
            (
                "received fatal alert: UnknownCA",
                &with_id,
                "refused the client certificate /d/client.cert",
            ),
            (
                "client error (Canceled): operation was canceled: connection closed",
                &secure,
                "closed the connection after the TLS handshake",
            ),
            (
                "received corrupt message of type InvalidContentType",
                &secure,
                "--insecure-registry r.example:5000",
            ),
            (
                "client error (SendRequest): channel closed",
                &secure,
                "closed the connection after the TLS handshake",
            ),
            (
                "client error (SendRequest): connection error: stream closed because of a broken pipe",
                &secure,
                "closed the connection after the TLS handshake",
            ),
        ] {
            let hint = tls_hint(r, detail, host);
            assert!(hint.contains(want), "{detail}: {hint}");
        }
        // An insecure host's HTTPS refusal is the fallback, not advice.
        assert_eq!(
            tls_hint(
                r,
                "received corrupt message of type InvalidContentType",
                &insecure
            ),
            ""
        );
    }

    #[test]
    fn host_keys_as_references_write_them() {
        for (url, key) in [
            ("https://r.example:5000/v2/", "r.example:5000"),
            ("https://r.example/v2/", "r.example"),
            ("http://127.0.0.1:80/v2/", "127.0.0.1"),
            ("https://[::1]:5000/v2/", "[::1]:5000"),
        ] {
            assert_eq!(host_key(&url::Url::parse(url).unwrap()), key, "{url}");
        }
    }
}
