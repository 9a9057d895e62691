//! Registry mirrors: where reads of Docker Hub names go before Docker Hub itself.
//!
//! A daemon pulls Docker Hub names through its configured mirrors (`registry-mirrors`, podman's
//! `registries.conf`), first that answers, then Docker Hub (moby `registry/service.go`: any
//! error from a mirror falls through to the next endpoint). runref reads the registry for the
//! same images, so it goes the same way: `--registry-mirror` / `RUNREF_REGISTRY_MIRRORS` first,
//! then the daemon's own mirrors from `/info`, then Docker Hub. Mirrors serve only Docker Hub
//! names, as the Engine's do.

use crate::model::reference::is_valid_registry_host;
use std::fmt;
use std::str::FromStr;

/// One mirror endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// `host[:port]`, as requests name the registry.
    pub host: String,
    /// The URL said `http://`: plain HTTP even for a non-loopback host.
    pub http: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid registry mirror {input:?}: {reason} (expected http://HOST[:PORT] or https://HOST[:PORT])")]
pub struct MirrorError {
    pub input: String,
    pub reason: &'static str,
}

impl FromStr for Mirror {
    type Err = MirrorError;

    /// `http://host:port`, `https://host`, or a bare `host[:port]` (HTTPS; an insecure host,
    /// loopback or `--insecure-registry`, falls back to HTTP); one trailing `/` is allowed, a
    /// path is not (the Engine refuses mirror paths too).
    fn from_str(input: &str) -> Result<Mirror, MirrorError> {
        let err = |reason| MirrorError {
            input: input.into(),
            reason,
        };
        let trimmed = input.trim();
        let (rest, http) = if let Some(r) = trimmed.strip_prefix("http://") {
            (r, true)
        } else if let Some(r) = trimmed.strip_prefix("https://") {
            (r, false)
        } else if trimmed.contains("://") {
            return Err(err("only http and https mirrors are supported"));
        } else {
            (trimmed, false)
        };
        let host = rest.strip_suffix('/').unwrap_or(rest);
        if host.contains(['/', '?', '#', '@']) {
            return Err(err("a mirror is a host, without path, query or user"));
        }
        if !is_valid_registry_host(host) {
            return Err(err("not a registry host name"));
        }
        Ok(Mirror {
            host: host.to_string(),
            http,
        })
    }
}

impl fmt::Display for Mirror {
    /// As a URL: `http://127.0.0.1:5000`, `https://mirror.gcr.io`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.http { "http" } else { "https" };
        write!(f, "{scheme}://{}", self.host)
    }
}

/// Parses mirrors from several sources in order, dropping repeats (same host) and, from sources
/// runref does not control (the daemon's `/info`), entries that do not parse.
pub fn merge(explicit: &[Mirror], from_daemon: &[String]) -> Vec<Mirror> {
    let mut out: Vec<Mirror> = Vec::new();
    let parsed = from_daemon.iter().filter_map(|s| s.parse::<Mirror>().ok());
    for m in explicit.iter().cloned().chain(parsed) {
        if !out.iter().any(|o| o.host == m.host) {
            out.push(m);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_engine_and_podman_spellings() {
        let cases = [
            ("http://127.0.0.1:5000/", "127.0.0.1:5000", true),
            ("https://mirror.gcr.io", "mirror.gcr.io", false),
            ("mirror.example.com:5000", "mirror.example.com:5000", false),
            ("127.0.0.1:5000", "127.0.0.1:5000", false),
            ("http://[::1]:5000", "[::1]:5000", true),
        ];
        for (input, host, http) in cases {
            let m: Mirror = input.parse().unwrap();
            assert_eq!((m.host.as_str(), m.http), (host, http), "{input}");
        }
        assert_eq!(
            "http://127.0.0.1:5000/"
                .parse::<Mirror>()
                .unwrap()
                .to_string(),
            "http://127.0.0.1:5000"
        );
    }

    #[test]
    fn refuses_what_is_not_a_host() {
        for bad in [
            "",
            "ftp://x.io",
            "https://x.io/path",
            "https://user@x.io",
            "https://x.io?q",
            "http://-x.io",
        ] {
            let e = bad.parse::<Mirror>().unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn explicit_first_then_daemon_without_repeats() {
        let explicit = vec!["http://a.io".parse().unwrap()];
        let daemon = vec![
            "https://a.io/".to_string(),
            "http://b.io:5000/".into(),
            "not a mirror".into(),
        ];
        let m = merge(&explicit, &daemon);
        let hosts: Vec<_> = m.iter().map(|m| m.to_string()).collect();
        assert_eq!(hosts, ["http://a.io", "http://b.io:5000"]);
    }
}
