//! The registry's HTTP exchange: one connection pool, every request counted as the wire sees it
//! (token requests and redirects included), the registry's 401 challenge answered on the first
//! real request (no `/v2/` probe), bounded retries that honour `Retry-After`, a deadline per
//! request that covers connect, headers and body, an overall deadline, and bodies read against a
//! byte bound while they stream.
//!
//! Why not oci-client's transport: it probes `/v2/` before every anonymous request, reads whole
//! bodies without a bound, hides `Retry-After`, and panics on a token that is not a header
//! value (spec-notes, "Registry client").

use super::RegistryError;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
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

/// The bottom layer: one connection pool, every request counted (redirect hops included),
/// each bounded by its timeout and the run's deadline, traced under `--debug`. It knows
/// nothing of authorization: [`super::auth`] builds on it, [`super::session`] on both.
pub struct Wire {
    client: reqwest::Client,
    opts: WireOptions,
    requests: Arc<AtomicUsize>,
}

impl Wire {
    pub fn new(opts: WireOptions) -> Result<Wire, RegistryError> {
        let requests = Arc::new(AtomicUsize::new(0));
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
        let client = reqwest::Client::builder()
            .user_agent(concat!("runref/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
            .redirect(redirect)
            .build()
            .map_err(|e| RegistryError::Other {
                reference: String::new(),
                detail: format!("cannot build the registry client: {e}"),
            })?;
        Ok(Wire {
            client,
            opts,
            requests,
        })
    }

    /// Requests sent so far, every kind.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
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

    /// Sends one HTTP request within `until`, counted.
    pub(super) async fn raw(
        &self,
        req: reqwest::RequestBuilder,
        until: Instant,
        call: &Call<'_>,
    ) -> Result<Step<reqwest::Response>, RegistryError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let Some(trace) = &self.opts.trace else {
            return self.answer(tokio::time::timeout_at(until, req.send()).await, call);
        };
        let (client, request) = req.build_split();
        let request = request.map_err(|e| unreachable(call.registry, &e))?;
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
        self.answer(answer, call)
    }

    /// What a sent request's outcome means: an answer, a retry, or an error.
    fn answer(
        &self,
        answer: Result<Result<reqwest::Response, reqwest::Error>, tokio::time::error::Elapsed>,
        call: &Call<'_>,
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
                let error = unreachable(call.registry, &e);
                if e.is_connect() || e.is_builder() || e.is_redirect() {
                    Err(error)
                } else {
                    // A connection reset mid-exchange: worth another attempt.
                    Ok(Step::Retry { error, after: None })
                }
            }
            Ok(Ok(r)) => Ok(Step::Done(r)),
        }
    }

    pub(super) fn timed_out(&self, call: &Call<'_>) -> RegistryError {
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
            scope: super::Scope::Pull,
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
        Ok(env) if !env.errors.is_empty() => super::truncate(
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
            let text = super::truncate(&String::from_utf8_lossy(body));
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
    expected: crate::digest::Digest,
    idle: Duration,
    deadline: Option<Instant>,
) -> super::BlobStream {
    use futures_util::StreamExt;
    use sha2::Digest as _;
    struct State {
        body: futures_util::stream::BoxStream<'static, reqwest::Result<Bytes>>,
        hasher: sha2::Sha256,
        expected: crate::digest::Digest,
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

pub(super) fn unreachable(registry: &str, e: &reqwest::Error) -> RegistryError {
    let detail = error_chain(e);
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
    RegistryError::Unreachable {
        registry: registry.to_string(),
        detail,
        hint,
    }
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
