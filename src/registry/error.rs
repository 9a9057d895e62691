//! The registry side's error, and what every layer shares with it: the bottom of the
//! registry side (the transport below, the client above, both import it; it imports neither).

use crate::model::manifest::ManifestError;

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
    #[error("{reference}: blocked by {file} ([[registry]] {prefix:?} has blocked = true), as podman would refuse it; change that entry or give another file with --registries-conf")]
    Blocked {
        reference: String,
        prefix: String,
        file: String,
    },
    #[error("{detail}; fix the helper or its entry in the Docker config (DOCKER_CONFIG)")]
    Credentials { registry: String, detail: String },
    #[error(
        "{reference}: the registry sent a {what} larger than {limit} bytes; refused{}",
        raise_hint(what)
    )]
    TooLarge {
        reference: String,
        what: &'static str,
        limit: u64,
    },
    #[error("{reference}: the run's --deadline passed before the registry answered")]
    Deadline { reference: String },
    #[error("{reference}: the registry asks to retry after {after_secs}s, beyond the {budget_secs}s left of the run's --deadline; retry later or raise --deadline\n  last answer: {source}")]
    RetryLater {
        reference: String,
        after_secs: u64,
        budget_secs: u64,
        source: Box<RegistryError>,
    },
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

/// A registry's text, trimmed to 200 bytes for a message.
pub(super) fn truncate(s: &str) -> String {
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

/// How to raise a byte bound, named in its error.
fn raise_hint(what: &str) -> &'static str {
    match what {
        "manifest" => " (raise with RUNREF_MAX_MANIFEST_BYTES)",
        "config" => " (raise with RUNREF_MAX_CONFIG_BYTES)",
        _ => "",
    }
}
