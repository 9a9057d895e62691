//! The exchange above the transport and auth: a call authorized (the 401 challenge answered
//! once), retried on 429/5xx/timeouts within its attempts and the run's deadline, its body
//! read within its bound. The layers: [`super::wire`] (counted, bounded sends) <-
//! [`super::auth`] (credentials, tokens) <- this <- the registry client.

use super::auth::Auth;
use super::error::RegistryError;
use super::wire::{
    error_text, read_bounded, retry_after, retryable_status, transient, with_attempts, Call, Read,
    Step, Wire, MAX_RETRY_AFTER,
};
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use std::time::Duration;
use tokio::time::Instant;

/// A transport with its authorization state.
pub struct Session {
    wire: Wire,
    auth: Auth,
}

impl Session {
    pub fn new(wire: Wire) -> Session {
        Session {
            wire,
            auth: Auth::default(),
        }
    }

    /// Requests sent so far, every kind.
    pub fn requests(&self) -> usize {
        self.wire.requests()
    }

    /// `base` with the scheme its host answered on (after an HTTPS-to-HTTP fallback).
    pub fn effective(&self, base: &str) -> String {
        self.wire.effective(base)
    }

    /// Marks `host` insecure for the rest of the run (unless it was reached already).
    pub fn add_insecure(&self, host: &str) {
        self.wire.add_insecure(host)
    }

    /// HTTPS attempts insecure hosts refused before plain HTTP answered.
    pub fn http_fallbacks(&self) -> usize {
        self.wire.http_fallbacks()
    }

    pub fn rate_remaining(&self, registry: &str) -> Option<u64> {
        self.wire.rate_remaining(registry)
    }

    pub fn limits(&self) -> super::wire::Limits {
        self.wire.limits()
    }

    pub fn timeout(&self) -> Duration {
        self.wire.timeout()
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.wire.deadline()
    }

    /// A foreign layer's URL: no authorization (see [`Wire::get_url`]).
    pub async fn get_url(&self, url: &str) -> Result<reqwest::Response, RegistryError> {
        self.wire.get_url(url).await
    }

    /// One request with its authorization; a 401 is answered once (challenge => token or
    /// Basic) and the request sent again.
    async fn authorized(
        &self,
        call: &Call<'_>,
        until: Instant,
    ) -> Result<Step<reqwest::Response>, RegistryError> {
        let mut header = match self.auth.header(&self.wire, call, until).await {
            Err(e) if transient(&e) => {
                return Ok(Step::Retry {
                    error: e,
                    after: None,
                })
            }
            other => other?,
        };
        for round in 0..2 {
            let url = format!("{}{}", call.base, call.path);
            let mut req = self.wire.client().request(call.method.clone(), &url);
            if let Some(a) = &call.accept {
                req = req.header(reqwest::header::ACCEPT, a);
            }
            if let Some((body, ct)) = &call.body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, ct)
                    .body(body.clone());
            }
            if let Some(h) = &header {
                req = req.header(reqwest::header::AUTHORIZATION, h.clone());
            }
            let resp = match self.wire.raw(req, until, call).await? {
                Step::Done(r) => r,
                retry => return Ok(retry),
            };
            if resp.status() != StatusCode::UNAUTHORIZED || round == 1 {
                return Ok(Step::Done(resp));
            }
            let challenge = resp
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .cloned();
            let answer = match self
                .auth
                .answer(&self.wire, call, challenge.as_ref(), until)
                .await
            {
                Err(e) if transient(&e) => {
                    return Ok(Step::Retry {
                        error: e,
                        after: None,
                    })
                }
                other => other?,
            };
            match answer {
                Some(h) if Some(&h) != header.as_ref() => header = Some(h),
                // Nothing new to offer: the 401 stands.
                _ => return Ok(Step::Done(resp)),
            }
        }
        unreachable!("the loop returns in its second round")
    }

    /// Runs `call` until `finish` accepts an answer: retries on 429/5xx, timeouts and broken
    /// bodies with backoff or the server's `Retry-After`, within the attempts and the deadline.
    pub async fn exchange<T>(
        &self,
        call: &Call<'_>,
        finish: impl AsyncFn(reqwest::Response, Instant) -> Result<Step<T>, RegistryError>,
    ) -> Result<T, RegistryError> {
        let attempts = self.wire.attempts();
        let mut last = None;
        for n in 1..=attempts {
            if let Some(e) = self.wire.past_deadline(call) {
                return Err(last.unwrap_or(e));
            }
            let until = self.wire.until();
            let step = match self.authorized(call, until).await? {
                Step::Done(resp) => match retryable_status(resp.status()) {
                    true => {
                        let after = retry_after(resp.headers());
                        let status = resp.status().as_u16();
                        let detail = error_text(resp, until).await;
                        Step::Retry {
                            error: RegistryError::Server {
                                reference: call.subject.clone(),
                                status,
                                attempts: n,
                                detail,
                            },
                            after,
                        }
                    }
                    false => finish(resp, until).await?,
                },
                Step::Retry { error, after } => Step::Retry { error, after },
            };
            let (error, after) = match step {
                Step::Done(v) => return Ok(v),
                Step::Retry { error, after } => (with_attempts(error, n), after),
            };
            if n == attempts {
                last = Some(error);
                break;
            }
            let wait = after.unwrap_or(Duration::from_millis(200 * (1 << (n - 1))));
            let budget = match self.wire.deadline() {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => MAX_RETRY_AFTER,
            };
            if wait > budget && after.is_none() {
                // Our own backoff would pass the deadline: the last failure is the answer.
                return Err(error);
            }
            if wait > budget {
                return Err(RegistryError::RetryLater {
                    reference: call.subject.clone(),
                    after_secs: wait.as_secs(),
                    budget_secs: budget.as_secs(),
                    source: Box::new(error),
                });
            }
            if let Some(t) = self.wire.trace() {
                t.line(&format!(
                    "registry retry {} of {attempts} in {} ms: {}",
                    n + 1,
                    wait.as_millis(),
                    error.to_string().lines().next().unwrap_or_default()
                ));
            }
            tokio::time::sleep(wait).await;
            last = Some(error);
        }
        Err(last.unwrap_or_else(|| RegistryError::Other {
            reference: call.subject.clone(),
            detail: "no attempt made".into(),
        }))
    }

    /// A whole body of at most `limit` bytes (`what` names the bound in the error).
    pub async fn fetch(
        &self,
        call: &Call<'_>,
        limit: u64,
        what: &'static str,
    ) -> Result<(StatusCode, HeaderMap, Bytes), RegistryError> {
        self.exchange(call, async |resp, until| {
            let (status, headers) = (resp.status(), resp.headers().clone());
            // A HEAD has no body: its Content-Length is the GET's (a 1 MB blob's), not a bound.
            if call.method == reqwest::Method::HEAD {
                return Ok(Step::Done((status, headers, Bytes::new())));
            }
            match read_bounded(resp, limit, until).await {
                Ok(body) => Ok(Step::Done((status, headers, body))),
                Err(Read::TooLarge) => Err(RegistryError::TooLarge {
                    reference: call.subject.clone(),
                    what,
                    limit,
                }),
                Err(Read::Timeout) => Ok(Step::Retry {
                    error: self.wire.timed_out(call),
                    after: None,
                }),
                Err(Read::Broken(detail)) => Ok(Step::Retry {
                    error: RegistryError::Unreachable {
                        registry: call.registry.to_string(),
                        detail,
                        hint: String::new(),
                    },
                    after: None,
                }),
            }
        })
        .await
    }

    /// The answer's headers; the body is left to stream.
    pub async fn open(&self, call: &Call<'_>) -> Result<reqwest::Response, RegistryError> {
        self.exchange(call, async |resp, _| Ok(Step::Done(resp)))
            .await
    }

    /// Sends `call` once with a streamed body of `len` bytes (a blob upload): no retry, since
    /// the stream cannot be replayed; the authorization must already be known (the upload's
    /// POST took the challenge). Bounded by the run's deadline; the source stream bounds its
    /// own silences.
    pub async fn send_stream(
        &self,
        call: &Call<'_>,
        body: reqwest::Body,
        len: u64,
        content_type: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        if let Some(e) = self.wire.past_deadline(call) {
            return Err(e);
        }
        let until = self
            .wire
            .deadline()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let header = self.auth.header(&self.wire, call, until).await?;
        let url = format!("{}{}", call.base, call.path);
        let mut req = self
            .wire
            .client()
            .request(call.method.clone(), &url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body);
        if let Some(h) = header {
            req = req.header(reqwest::header::AUTHORIZATION, h);
        }
        match self.wire.raw(req, until, call).await? {
            Step::Done(r) => Ok(r),
            Step::Retry { error, .. } => Err(error),
        }
    }
}
