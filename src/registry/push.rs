//! The registry's write side, for `index create` and `copy`: blob existence (HEAD), a
//! cross-repository mount (one POST), an upload (POST, then one PUT of the whole blob, bytes or
//! a digest-checked stream), and a manifest PUT whose answer must name the digest of the bytes
//! sent. Writes always go to the registry itself, never to a mirror.

use super::wire::Call;
use super::{BlobStream, Endpoint, HttpRegistry, RegistryError, Scope};
use crate::model::digest::Digest;
use crate::model::reference::Reference;
use bytes::Bytes;
use reqwest::{Method, StatusCode};

/// What a mount answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// 201: the blob is now in the target repository.
    Mounted,
    /// 202: the registry refused to mount and opened an upload here instead.
    Refused { location: String },
}

/// The registry operations `index create` and `copy` add to the reads of [`super::Registry`].
#[allow(async_fn_in_trait)]
pub trait RegistryWrite: super::Registry {
    /// True when `repo` already has the blob (HEAD, one request).
    async fn blob_exists(&self, repo: &Reference, digest: &Digest) -> Result<bool, RegistryError>;
    /// Mounts the blob from another repository of the same registry (one request).
    async fn mount_blob(
        &self,
        target: &Reference,
        digest: &Digest,
        from: &Reference,
    ) -> Result<Mount, RegistryError>;
    /// Opens an upload; returns its location.
    async fn start_upload(&self, target: &Reference) -> Result<String, RegistryError>;
    /// Finishes an upload with the whole blob in one PUT.
    async fn put_blob(
        &self,
        target: &Reference,
        location: &str,
        digest: &Digest,
        bytes: Bytes,
    ) -> Result<(), RegistryError>;
    /// Finishes an upload with a stream of `size` bytes (one attempt: a stream is not replayed).
    async fn put_blob_stream(
        &self,
        target: &Reference,
        location: &str,
        digest: &Digest,
        size: u64,
        stream: BlobStream,
    ) -> Result<(), RegistryError>;
    /// The digest (and media type) a manifest reference (tag or digest) names now, by one HEAD
    /// at the registry itself: `None` when it is not there, or when the registry does not say
    /// (no `Docker-Content-Digest`). `write` asks with push scope (a target), else pull.
    async fn manifest_head(
        &self,
        reference: &Reference,
        write: bool,
    ) -> Result<Option<(Digest, String)>, RegistryError>;
    /// Puts a manifest or index under `target`'s tag or digest; returns the digest the
    /// registry stored, which must be the digest of `bytes`.
    async fn put_manifest(
        &self,
        target: &Reference,
        bytes: Bytes,
        media_type: &str,
    ) -> Result<Digest, RegistryError>;
}

/// An upload location (absolute or relative to `base`) as (base, path with query) plus
/// `digest=` appended.
fn upload_target(base: &str, location: &str, digest: &Digest) -> Result<(String, String), String> {
    let base_url = reqwest::Url::parse(base).map_err(|e| format!("{base}: {e}"))?;
    let url = base_url
        .join(location)
        .map_err(|e| format!("upload location {location:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("upload location {location:?} is not http(s)"));
    }
    let origin = url.origin().ascii_serialization();
    let mut path = url.path().to_string();
    let digest_pair = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("digest", &digest.to_string())
        .finish();
    match url.query() {
        Some(q) if !q.is_empty() => path.push_str(&format!("?{q}&{digest_pair}")),
        _ => path.push_str(&format!("?{digest_pair}")),
    }
    Ok((origin, path))
}

impl HttpRegistry {
    /// The registry itself (never a mirror): where writes go.
    fn origin(&self, reference: &Reference) -> Endpoint {
        let registry = reference.registry().to_string();
        let url = self.url_of(&registry);
        Endpoint::new(registry, url, false)
    }

    /// A push-scoped call at the registry itself.
    fn write_call<'a>(
        &self,
        ep: &'a Endpoint,
        subject: &'a Reference,
        repo: &'a str,
        method: Method,
        path: String,
    ) -> Call<'a> {
        Call {
            base: &ep.url,
            host: &ep.host,
            repo,
            method,
            path,
            accept: None,
            body: None,
            scope: Scope::Push,
            from: None,
            subject: subject.to_string(),
            registry: subject.registry(),
        }
    }

    /// Where an upload's final PUT goes: the endpoint of its location, the blob's reference,
    /// the repository, and the location's path with `digest=` added.
    fn upload_parts(
        &self,
        target: &Reference,
        location: &str,
        digest: &Digest,
    ) -> Result<(Endpoint, Reference, String, String), RegistryError> {
        let ep = self.origin(target);
        let subject = target.with_digest(digest);
        let (base, path) =
            upload_target(&ep.url, location, digest).map_err(|detail| RegistryError::Other {
                reference: subject.to_string(),
                detail,
            })?;
        let ep = Endpoint::new(ep.host, base, false);
        Ok((ep, subject, target.repository(), path))
    }

    /// Sends `call` (with retries) and returns status, headers and a bounded body.
    async fn send(
        &self,
        call: &Call<'_>,
    ) -> Result<(StatusCode, reqwest::header::HeaderMap, Bytes), RegistryError> {
        self.wire
            .fetch(call, super::wire::MAX_ERROR_BYTES, "response")
            .await
    }
}

fn location_of(
    headers: &reqwest::header::HeaderMap,
    call: &Call<'_>,
) -> Result<String, RegistryError> {
    headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .ok_or_else(|| RegistryError::Other {
            reference: call.subject.clone(),
            detail: "the registry opened an upload without a Location".into(),
        })
}

impl RegistryWrite for HttpRegistry {
    async fn manifest_head(
        &self,
        reference: &Reference,
        write: bool,
    ) -> Result<Option<(Digest, String)>, RegistryError> {
        let ep = self.origin(reference);
        let repository = reference.repository();
        let path = format!(
            "/v2/{repository}/manifests/{}",
            super::manifest_tail(reference)
        );
        let mut call = self.write_call(&ep, reference, &repository, Method::HEAD, path);
        call.accept = Some(super::ACCEPT.join(", "));
        if !write {
            call.scope = Scope::Pull;
        }
        let (status, headers, body) = self.send(&call).await?;
        match status {
            s if s.is_success() => {
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                let media_type = header("content-type")
                    .map(|t| t.split(';').next().unwrap_or(t).trim().to_string())
                    .unwrap_or_default();
                Ok(header("docker-content-digest")
                    .and_then(|v| v.parse().ok())
                    .map(|d| (d, media_type)))
            }
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(super::refusal(&call, s, &body)),
        }
    }

    async fn blob_exists(&self, repo: &Reference, digest: &Digest) -> Result<bool, RegistryError> {
        let ep = self.origin(repo);
        let subject = repo.with_digest(digest);
        let repository = repo.repository();
        let path = format!("/v2/{repository}/blobs/{digest}");
        let call = self.write_call(&ep, &subject, &repository, Method::HEAD, path);
        let (status, _, body) = self.send(&call).await?;
        match status {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(super::refusal(&call, s, &body)),
        }
    }

    async fn mount_blob(
        &self,
        target: &Reference,
        digest: &Digest,
        from: &Reference,
    ) -> Result<Mount, RegistryError> {
        let ep = self.origin(target);
        let subject = target.with_digest(digest);
        let repository = target.repository();
        let from_repo = from.repository();
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("mount", &digest.to_string())
            .append_pair("from", &from_repo)
            .finish();
        let path = format!("/v2/{repository}/blobs/uploads/?{query}");
        let mut call = self.write_call(&ep, &subject, &repository, Method::POST, path);
        call.from = Some(&from_repo);
        let (status, headers, body) = self.send(&call).await?;
        match status {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => Ok(Mount::Refused {
                location: location_of(&headers, &call)?,
            }),
            s => Err(super::refusal(&call, s, &body)),
        }
    }

    async fn start_upload(&self, target: &Reference) -> Result<String, RegistryError> {
        let ep = self.origin(target);
        let repository = target.repository();
        let path = format!("/v2/{repository}/blobs/uploads/");
        let call = self.write_call(&ep, target, &repository, Method::POST, path);
        let (status, headers, body) = self.send(&call).await?;
        match status {
            StatusCode::ACCEPTED => location_of(&headers, &call),
            s => Err(super::refusal(&call, s, &body)),
        }
    }

    async fn put_blob(
        &self,
        target: &Reference,
        location: &str,
        digest: &Digest,
        bytes: Bytes,
    ) -> Result<(), RegistryError> {
        let (ep, subject, repository, path) = self.upload_parts(target, location, digest)?;
        let mut call = self.write_call(&ep, &subject, &repository, Method::PUT, path);
        call.body = Some((bytes, "application/octet-stream".into()));
        let (status, _, body) = self.send(&call).await?;
        match status {
            s if s.is_success() => Ok(()),
            s => Err(super::refusal(&call, s, &body)),
        }
    }

    async fn put_blob_stream(
        &self,
        target: &Reference,
        location: &str,
        digest: &Digest,
        size: u64,
        stream: BlobStream,
    ) -> Result<(), RegistryError> {
        let (ep, subject, repository, path) = self.upload_parts(target, location, digest)?;
        let call = self.write_call(&ep, &subject, &repository, Method::PUT, path);
        let resp = self
            .wire
            .send_stream(
                &call,
                reqwest::Body::wrap_stream(stream),
                size,
                "application/octet-stream",
            )
            .await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let until = tokio::time::Instant::now() + self.wire.timeout();
        let body = super::wire::read_bounded(resp, super::wire::MAX_ERROR_BYTES, until)
            .await
            .unwrap_or_default();
        Err(super::refusal(&call, status, &body))
    }

    async fn put_manifest(
        &self,
        target: &Reference,
        bytes: Bytes,
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        let ep = self.origin(target);
        let repository = target.repository();
        let sent = Digest::of(&bytes);
        let path = format!(
            "/v2/{repository}/manifests/{}",
            super::manifest_tail(target)
        );
        let mut call = self.write_call(&ep, target, &repository, Method::PUT, path);
        call.body = Some((bytes, media_type.to_string()));
        let (status, headers, body) = self.send(&call).await?;
        if !status.is_success() {
            return Err(super::refusal(&call, status, &body));
        }
        let stored = headers
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        match stored {
            Some(d) if d != sent => Err(RegistryError::Other {
                reference: target.to_string(),
                detail: format!(
                    "the registry stored the manifest as {d}, not as {sent} (the digest of the bytes sent)"
                ),
            }),
            _ => Ok(sent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_locations() {
        let d: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let (b, p) = upload_target(
            "http://127.0.0.1:5000",
            "/v2/x/blobs/uploads/u1?_state=abc",
            &d,
        )
        .unwrap();
        assert_eq!(b, "http://127.0.0.1:5000");
        assert_eq!(
            p,
            format!(
                "/v2/x/blobs/uploads/u1?_state=abc&digest=sha256%3A{}",
                "a".repeat(64)
            )
        );
        let (b, p) =
            upload_target("https://r.example", "https://storage.example:8443/up/1", &d).unwrap();
        assert_eq!(b, "https://storage.example:8443");
        assert!(p.starts_with("/up/1?digest="), "{p}");
        assert!(upload_target("https://r.example", "ftp://x/y", &d).is_err());
    }
}
