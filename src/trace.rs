//! `--debug`'s request trace: every registry and daemon request as one line (method, URL,
//! status, bytes, time), retries and redirects marked. The library never prints: the CLI hands
//! the transports a [`Trace`] sink. Credentials never reach it: only the method, the URL (with
//! upload state tokens cut out) and the answer's status and length are given.

use std::sync::Arc;
use std::time::Duration;

/// Where trace lines go (the CLI: stderr).
#[derive(Clone)]
pub struct Trace(Arc<dyn Fn(&str) + Send + Sync>);

impl Trace {
    pub fn new(sink: impl Fn(&str) + Send + Sync + 'static) -> Trace {
        Trace(Arc::new(sink))
    }

    pub fn line(&self, text: &str) {
        (self.0)(text)
    }

    /// One answered request: `registry GET https://r/v2/x/manifests/v1 -> 200, 1234 B, 12 ms`.
    pub fn request(&self, r: &Seen<'_>) {
        let status = r.status.map_or("no answer".to_string(), |s| s.to_string());
        let bytes = r.bytes.map_or(String::new(), |b| format!(", {b} B"));
        self.line(&format!(
            "{} {} {} -> {status}{bytes}, {} ms{}",
            r.kind,
            r.method,
            redact(r.url),
            r.took.as_millis(),
            r.note
        ));
    }
}

/// What the wire saw of one request.
pub struct Seen<'a> {
    /// `registry` or `daemon`.
    pub kind: &'a str,
    pub method: &'a str,
    pub url: &'a str,
    /// None when no answer came (a timeout, a refused connection: `note` says which).
    pub status: Option<u16>,
    /// The answer's Content-Length, when it gave one.
    pub bytes: Option<u64>,
    pub took: Duration,
    pub note: &'a str,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trace")
    }
}

/// A URL without the values of query parameters that carry state or secrets
/// (distribution's `_state` upload token, any `token`, `access_token`, `password`).
pub fn redact(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let kept: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _))
                if [
                    "_state",
                    "token",
                    "access_token",
                    "password",
                    "refresh_token",
                ]
                .contains(&k.to_ascii_lowercase().as_str()) =>
            {
                format!("{k}=<redacted>")
            }
            _ => kv.to_string(),
        })
        .collect();
    format!("{base}?{}", kept.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_urls_are_cut() {
        assert_eq!(
            redact("http://r/v2/x/blobs/uploads/u?_state=abc&digest=sha256:1"),
            "http://r/v2/x/blobs/uploads/u?_state=<redacted>&digest=sha256:1"
        );
        assert_eq!(
            redact("https://auth/token?service=s&access_token=t"),
            "https://auth/token?service=s&access_token=<redacted>"
        );
        assert_eq!(redact("http://r/v2/"), "http://r/v2/");
    }
}
