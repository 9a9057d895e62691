//! An OCI image layout on disk as a [`Registry`]: `index.json`, `oci-layout` and
//! `blobs/sha256/<hex>`, one repository (the repository part of a reference is not looked at).
//! Tags are the root index's `org.opencontainers.image.ref.name` annotations. Every blob read is
//! checked against its digest, as from a registry. The fast tests read the fixture builder's
//! layouts through it; it can become a user-facing `oci:` source.

use crate::model::digest::Digest;
use crate::model::manifest::{ImageConfig, Manifest, ManifestError};
use crate::model::reference::Reference;
use crate::registry::{BlobStream, Counters, Fetched, Registry, RegistryError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Chunk size of blob streams.
const CHUNK: usize = 64 * 1024;

/// A registry backed by one OCI image layout directory.
pub struct LayoutRegistry {
    root: PathBuf,
    reads: AtomicUsize,
    /// index.json is rewritten whole: one writer at a time.
    index_lock: std::sync::Mutex<()>,
}

impl LayoutRegistry {
    /// Opens `root`; it must hold an `oci-layout` file.
    pub fn open(root: impl AsRef<Path>) -> Result<LayoutRegistry, RegistryError> {
        let root = root.as_ref().to_path_buf();
        if !root.join("oci-layout").is_file() {
            return Err(RegistryError::Other {
                reference: root.display().to_string(),
                detail: "not an OCI image layout (no oci-layout file)".into(),
            });
        }
        Ok(LayoutRegistry {
            root,
            reads: AtomicUsize::new(0),
            index_lock: std::sync::Mutex::new(()),
        })
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    fn read_blob(&self, reference: &Reference, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let bytes = std::fs::read(self.blob_path(digest)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RegistryError::NotFound {
                reference: reference.with_digest(digest).to_string(),
            },
            _ => RegistryError::Other {
                reference: reference.with_digest(digest).to_string(),
                detail: e.to_string(),
            },
        })?;
        digest.verify(&bytes).map_err(|e| RegistryError::Manifest {
            reference: reference.with_digest(digest).to_string(),
            source: ManifestError::Digest(e),
        })?;
        Ok(bytes)
    }

    /// The digest a tag names in the root index.
    /// The digest `reference` names: its digest, its tag, or with neither the layout's one
    /// image (skopeo's rule for `oci:DIR`; referrers listed beside it, as oras lists them,
    /// do not count); several are refused, naming their tags.
    fn digest_of(&self, reference: &Reference) -> Result<Digest, RegistryError> {
        if let Some(d) = reference.digest() {
            return Ok(d.clone());
        }
        if let Some(t) = reference.tag() {
            return self.tag_digest(reference, t);
        }
        let text = std::fs::read(self.root.join("index.json")).unwrap_or_default();
        let index: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
        let entries = index["manifests"].as_array().cloned().unwrap_or_default();
        let mut images: Vec<&str> = entries
            .iter()
            .filter(|m| m["artifactType"].is_null())
            .filter_map(|m| m["digest"].as_str())
            .collect();
        images.sort();
        images.dedup();
        match images.as_slice() {
            [one] => one.parse().map_err(|_| RegistryError::Other {
                reference: reference.to_string(),
                detail: "index.json: an entry without a valid digest".into(),
            }),
            [] => Err(RegistryError::NotFound {
                reference: reference.to_string(),
            }),
            _ => Err(RegistryError::Other {
                reference: reference.to_string(),
                detail: format!(
                    "the layout holds {} images (tags: {}): give oci:DIR:TAG",
                    images.len(),
                    self.tag_names().join(", ")
                ),
            }),
        }
    }

    fn tag_digest(&self, reference: &Reference, tag: &str) -> Result<Digest, RegistryError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let other = |detail: String| RegistryError::Other {
            reference: reference.to_string(),
            detail,
        };
        let text = std::fs::read(self.root.join("index.json"))
            .map_err(|e| other(format!("index.json: {e}")))?;
        let index: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| other(format!("index.json: {e}")))?;
        index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["annotations"][REF_NAME].as_str() == Some(tag))
            .and_then(|m| m["digest"].as_str())
            .ok_or_else(|| RegistryError::NotFound {
                reference: reference.to_string(),
            })?
            .parse()
            .map_err(|e| other(format!("index.json: {e}")))
    }
}

impl Registry for LayoutRegistry {
    async fn manifest(&self, reference: &Reference) -> Result<Fetched, RegistryError> {
        let digest = self.digest_of(reference)?;
        let bytes = self.read_blob(reference, &digest)?;
        let manifest = Manifest::parse_verified(&bytes, &digest, None).map_err(|source| {
            RegistryError::Manifest {
                reference: reference.to_string(),
                source,
            }
        })?;
        Ok(Fetched {
            digest,
            manifest,
            bytes,
        })
    }

    async fn config(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<ImageConfig, RegistryError> {
        let bytes = self.read_blob(repo, digest)?;
        ImageConfig::parse(&bytes).map_err(|source| RegistryError::Manifest {
            reference: repo.with_digest(digest).to_string(),
            source,
        })
    }

    /// Reads the blob in chunks; the digest is checked as the stream ends.
    async fn blob_stream(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<BlobStream, RegistryError> {
        use futures_util::StreamExt;
        use sha2::Digest as _;
        use tokio::io::AsyncReadExt;
        self.reads.fetch_add(1, Ordering::Relaxed);
        let name = repo.with_digest(digest).to_string();
        let file = tokio::fs::File::open(self.blob_path(digest))
            .await
            .map_err(|_| RegistryError::NotFound { reference: name })?;
        let want = digest.clone();
        let state = Some((file, sha2::Sha256::new()));
        let stream = futures_util::stream::unfold(state, move |state| {
            let want = want.clone();
            async move {
                let (mut file, mut hasher) = state?;
                let mut buf = vec![0u8; CHUNK];
                match file.read(&mut buf).await {
                    Ok(0) => {
                        let got = hex::encode(hasher.finalize());
                        (got != want.hex()).then(|| {
                            let e = std::io::Error::other(format!(
                                "blob {want} does not hash to its digest (sha256:{got})"
                            ));
                            (Err(e), None)
                        })
                    }
                    Ok(n) => {
                        buf.truncate(n);
                        hasher.update(&buf);
                        Some((Ok(bytes::Bytes::from(buf)), Some((file, hasher))))
                    }
                    Err(e) => Some((Err(e), None)),
                }
            }
        });
        Ok(stream.boxed())
    }

    async fn tags(&self, _repo: &Reference) -> Result<Vec<String>, RegistryError> {
        Ok(self.tag_names())
    }

    /// A layout lists referrers in index.json beside the images (as oras writes them): the
    /// entries whose manifest's `subject` is `subject`, as the API would answer (and filtered
    /// by `artifact_type`).
    async fn referrers_api(
        &self,
        repo: &Reference,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let text = std::fs::read(self.root.join("index.json")).unwrap_or_default();
        let index: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
        let mut found = Vec::new();
        for e in index["manifests"].as_array().into_iter().flatten() {
            let Some(d) = e["digest"].as_str().and_then(|d| d.parse::<Digest>().ok()) else {
                continue;
            };
            let Ok(bytes) = self.read_blob(repo, &d) else {
                continue;
            };
            let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            if m["subject"]["digest"].as_str() != Some(&subject.to_string()) {
                continue;
            }
            let kind = crate::registry::referrers::artifact_type(&m)
                .unwrap_or_default()
                .to_string();
            if artifact_type.is_some_and(|t| t != kind) {
                continue;
            }
            let mut desc = serde_json::json!({
                "mediaType": m["mediaType"].as_str().unwrap_or("application/vnd.oci.image.manifest.v1+json"),
                "digest": d.to_string(),
                "size": bytes.len(),
                "artifactType": kind,
            });
            if let Some(a) = m.get("annotations") {
                desc["annotations"] = a.clone();
            }
            if !found
                .iter()
                .any(|x: &serde_json::Value| x["digest"] == desc["digest"])
            {
                found.push(desc);
            }
        }
        Ok(Some(crate::model::manifest::referrers_index(found)))
    }
}

impl Counters for LayoutRegistry {
    fn requests(&self) -> usize {
        self.reads.load(Ordering::Relaxed)
    }
}

// The write side: `copy` and `index create` into `oci:DIR[:TAG]` (issue 23). Blobs are
// written to a temporary file in `blobs/sha256`, checked against their digest, then renamed
// into place (a partial write never has a blob's name); a tag is the root index's
// `org.opencontainers.image.ref.name`, one entry per tag, and `index.json` is replaced whole
// (written beside it, then renamed).
impl LayoutRegistry {
    /// Whether a copy may write into `root`, with nothing made: a layout, an empty directory,
    /// or none yet (a dry run asks it, so it predicts the refusal the copy would meet).
    pub fn may_write(root: &Path) -> Result<(), RegistryError> {
        if root.join("oci-layout").is_file() || !root.is_dir() {
            return Ok(());
        }
        let other = |detail: String| RegistryError::Other {
            reference: format!("oci:{}", root.display()),
            detail,
        };
        match std::fs::read_dir(root).map_err(|e| other(e.to_string()))?.next() {
            None => Ok(()),
            Some(_) => Err(other(
                "the directory is not empty and is not an OCI image layout (no oci-layout file): give a new or empty directory".into(),
            )),
        }
    }

    /// Opens `root`, making an empty layout there when it has none (a new directory, or an
    /// empty one).
    pub fn open_or_create(root: impl AsRef<Path>) -> Result<LayoutRegistry, RegistryError> {
        let root = root.as_ref().to_path_buf();
        LayoutRegistry::may_write(&root)?;
        if !root.join("oci-layout").is_file() {
            let other = |detail: String| RegistryError::Other {
                reference: format!("oci:{}", root.display()),
                detail,
            };
            std::fs::create_dir_all(root.join("blobs/sha256")).map_err(|e| other(e.to_string()))?;
            std::fs::write(
                root.join("oci-layout"),
                br#"{"imageLayoutVersion":"1.0.0"}"#,
            )
            .map_err(|e| other(e.to_string()))?;
            std::fs::write(
                root.join("index.json"),
                br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
            )
            .map_err(|e| other(e.to_string()))?;
        }
        LayoutRegistry::open(root)
    }

    fn write_error(&self, detail: impl std::fmt::Display) -> RegistryError {
        RegistryError::Other {
            reference: format!("oci:{}", self.root.display()),
            detail: detail.to_string(),
        }
    }

    /// Writes `bytes` as the blob `digest` (checked first).
    fn put_bytes(&self, digest: &Digest, bytes: &[u8]) -> Result<(), RegistryError> {
        digest.verify(bytes).map_err(|e| self.write_error(e))?;
        let dir = self.root.join("blobs/sha256");
        std::fs::create_dir_all(&dir).map_err(|e| self.write_error(e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| self.write_error(e))?;
        std::io::Write::write_all(&mut tmp, bytes).map_err(|e| self.write_error(e))?;
        tmp.persist(self.blob_path(digest))
            .map_err(|e| self.write_error(e))?;
        Ok(())
    }

    /// Points `tag` at the manifest `digest` in index.json (replacing the entry that had it).
    fn set_tag(
        &self,
        tag: &str,
        digest: &Digest,
        media_type: &str,
        size: usize,
    ) -> Result<(), RegistryError> {
        self.edit_index(|list| {
            list.retain(|m| m["annotations"][REF_NAME].as_str() != Some(tag));
            list.push(serde_json::json!({
                "mediaType": media_type,
                "digest": digest.to_string(),
                "size": size,
                "annotations": {REF_NAME: tag},
            }));
        })
    }

    /// Rewrites index.json's manifests with `edit`, whole (written beside it, renamed), one
    /// writer at a time.
    fn edit_index(
        &self,
        edit: impl FnOnce(&mut Vec<serde_json::Value>),
    ) -> Result<(), RegistryError> {
        let _held = self.index_lock.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.root.join("index.json");
        let text =
            std::fs::read(&path).map_err(|e| self.write_error(format!("index.json: {e}")))?;
        let mut index: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| self.write_error(format!("index.json: {e}")))?;
        let list = index["manifests"]
            .as_array_mut()
            .ok_or_else(|| self.write_error("index.json has no manifests list"))?;
        edit(list);
        let bytes = serde_json::to_vec(&index).map_err(|e| self.write_error(e))?;
        let mut tmp =
            tempfile::NamedTempFile::new_in(&self.root).map_err(|e| self.write_error(e))?;
        std::io::Write::write_all(&mut tmp, &bytes).map_err(|e| self.write_error(e))?;
        tmp.persist(&path).map_err(|e| self.write_error(e))?;
        Ok(())
    }

    /// Adds an untagged entry for `digest` to index.json (once).
    fn list_untagged(
        &self,
        digest: &Digest,
        media_type: &str,
        size: usize,
        artifact_type: &str,
    ) -> Result<(), RegistryError> {
        self.edit_index(|list| {
            if !list
                .iter()
                .any(|m| m["digest"].as_str() == Some(&digest.to_string()))
            {
                list.push(serde_json::json!({
                    "mediaType": media_type,
                    "digest": digest.to_string(),
                    "size": size,
                    "artifactType": artifact_type,
                }));
            }
        })
    }

    /// The tags of the root index.
    fn tag_names(&self) -> Vec<String> {
        let Ok(text) = std::fs::read(self.root.join("index.json")) else {
            return vec![];
        };
        let index: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
        index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["annotations"][REF_NAME].as_str().map(str::to_string))
            .collect()
    }
}

impl crate::registry::RegistryWrite for LayoutRegistry {
    async fn blob_exists(&self, _repo: &Reference, digest: &Digest) -> Result<bool, RegistryError> {
        Ok(self.blob_path(digest).is_file())
    }

    /// A layout has no other repository to mount from: always an upload.
    async fn mount_blob(
        &self,
        _target: &Reference,
        _digest: &Digest,
        _from: &Reference,
    ) -> Result<crate::registry::Mount, RegistryError> {
        Ok(crate::registry::Mount::Refused {
            location: "layout".into(),
        })
    }

    async fn start_upload(&self, _target: &Reference) -> Result<String, RegistryError> {
        Ok("layout".into())
    }

    async fn put_blob(
        &self,
        _target: &Reference,
        _location: &str,
        digest: &Digest,
        bytes: bytes::Bytes,
    ) -> Result<(), RegistryError> {
        self.put_bytes(digest, &bytes)
    }

    /// Streams into a temporary file beside the blobs, hashing as it goes; renamed into place
    /// only when the bytes are `size` long and hash to `digest`.
    async fn put_blob_stream(
        &self,
        _target: &Reference,
        _location: &str,
        digest: &Digest,
        size: u64,
        mut stream: BlobStream,
    ) -> Result<(), RegistryError> {
        use futures_util::StreamExt;
        use sha2::Digest as _;
        use std::io::Write as _;
        let dir = self.root.join("blobs/sha256");
        std::fs::create_dir_all(&dir).map_err(|e| self.write_error(e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| self.write_error(e))?;
        let (mut hasher, mut n) = (sha2::Sha256::new(), 0u64);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.write_error(e))?;
            n += chunk.len() as u64;
            if n > size {
                return Err(
                    self.write_error(format!("blob {digest} is longer than its {size} bytes"))
                );
            }
            hasher.update(&chunk);
            tmp.write_all(&chunk).map_err(|e| self.write_error(e))?;
        }
        let got = hex::encode(hasher.finalize());
        if got != digest.hex() || n != size {
            return Err(self.write_error(format!(
                "blob {digest}: {n} bytes hashing to sha256:{got}, not its digest and {size} bytes"
            )));
        }
        tmp.persist(self.blob_path(digest))
            .map_err(|e| self.write_error(e))?;
        Ok(())
    }

    async fn manifest_head(
        &self,
        reference: &Reference,
        _write: bool,
    ) -> Result<Option<(Digest, String)>, RegistryError> {
        let digest = match self.digest_of(reference) {
            Ok(d) => d,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        match std::fs::read(self.blob_path(&digest)) {
            Ok(bytes) => {
                let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                let media_type = v["mediaType"].as_str().unwrap_or_default().to_string();
                Ok(Some((digest, media_type)))
            }
            Err(_) => Ok(None),
        }
    }

    async fn put_manifest(
        &self,
        target: &Reference,
        bytes: bytes::Bytes,
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        let digest = Digest::of(&bytes);
        if let Some(want) = target.digest() {
            if *want != digest {
                return Err(
                    self.write_error(format!("manifest bytes hash to {digest}, not {want}"))
                );
            }
        }
        self.put_bytes(&digest, &bytes)?;
        if let (None, Some(tag)) = (target.digest(), target.tag()) {
            self.set_tag(tag, &digest, media_type, bytes.len())?;
        } else if let Some(kind) = referrer_type(&bytes) {
            // A referrer is listed beside its subject, untagged (as oras writes it), so the
            // layout's own listing finds it.
            self.list_untagged(&digest, media_type, bytes.len(), &kind)?;
        }
        Ok(digest)
    }
}

/// The artifact type of a manifest that names a `subject` (a referrer), else None.
fn referrer_type(bytes: &[u8]) -> Option<String> {
    let m: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    m.get("subject")?;
    Some(
        crate::registry::referrers::artifact_type(&m)
            .unwrap_or("application/vnd.oci.empty.v1+json")
            .to_string(),
    )
}

/// A registry client that sends `oci:DIR` references (see [`crate::model::reference::layout_dir`])
/// to the layout directory they name and every other reference to `remote`. Layouts are
/// opened at their first use, made when first written. `requests()` counts only what went
/// over the wire (a layout read is not a registry request).
pub struct Routed<'a, R> {
    remote: &'a R,
    layouts: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<LayoutRegistry>>>,
}

impl<'a, R> Routed<'a, R> {
    pub fn new(remote: &'a R) -> Routed<'a, R> {
        Routed {
            remote,
            layouts: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The layout `reference` names, if it names one (`write`: made when missing).
    fn layout(
        &self,
        reference: &Reference,
        write: bool,
    ) -> Option<Result<std::sync::Arc<LayoutRegistry>, RegistryError>> {
        let registry = reference.registry();
        let dir = crate::model::reference::layout_dir(registry)?;
        let mut open = self.layouts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = open.get(registry) {
            return Some(Ok(l.clone()));
        }
        let made = match write {
            true => LayoutRegistry::open_or_create(&dir),
            false => LayoutRegistry::open(&dir).map_err(|e| match e {
                RegistryError::Other { detail, .. } => RegistryError::Other {
                    reference: reference.to_string(),
                    detail: format!("{} is {detail}", dir.display()),
                },
                e => e,
            }),
        };
        Some(made.map(|l| {
            let l = std::sync::Arc::new(l);
            open.insert(registry.to_string(), l.clone());
            l
        }))
    }
}

/// Runs `$call` on the layout `$reference` names, else on the remote registry.
macro_rules! route {
    ($self:ident, $reference:expr, $write:expr, |$r:ident| $call:expr) => {
        match $self.layout($reference, $write) {
            Some(layout) => {
                let $r = &*layout?;
                $call.await
            }
            None => {
                let $r = $self.remote;
                $call.await
            }
        }
    };
}

impl<R: crate::registry::RegistryWrite> Registry for Routed<'_, R> {
    async fn manifest(&self, reference: &Reference) -> Result<Fetched, RegistryError> {
        route!(self, reference, false, |r| r.manifest(reference))
    }
    async fn config(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<ImageConfig, RegistryError> {
        route!(self, repo, false, |r| r.config(repo, digest))
    }
    async fn blob_stream(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<BlobStream, RegistryError> {
        route!(self, repo, false, |r| r.blob_stream(repo, digest))
    }
    async fn url_stream(&self, url: &str, digest: &Digest) -> Result<BlobStream, RegistryError> {
        self.remote.url_stream(url, digest).await
    }
    async fn referrers_api(
        &self,
        repo: &Reference,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        route!(self, repo, false, |r| r.referrers_api(
            repo,
            subject,
            artifact_type
        ))
    }
    async fn tags(&self, repo: &Reference) -> Result<Vec<String>, RegistryError> {
        route!(self, repo, false, |r| r.tags(repo))
    }
    fn limits(&self) -> crate::registry::wire::Limits {
        self.remote.limits()
    }
}

impl<R: crate::registry::RegistryWrite> Counters for Routed<'_, R> {
    fn requests(&self) -> usize {
        self.remote.requests()
    }
    fn http_fallbacks(&self) -> usize {
        self.remote.http_fallbacks()
    }
    fn rate_remaining(&self, registry: &str) -> Option<u64> {
        self.remote.rate_remaining(registry)
    }
    fn endpoints(&self) -> crate::registry::Endpoints {
        self.remote.endpoints()
    }
}

impl<R: crate::registry::RegistryWrite> crate::registry::RegistryWrite for Routed<'_, R> {
    async fn blob_exists(&self, repo: &Reference, digest: &Digest) -> Result<bool, RegistryError> {
        route!(self, repo, true, |r| r.blob_exists(repo, digest))
    }
    async fn mount_blob(
        &self,
        target: &Reference,
        digest: &Digest,
        from: &Reference,
    ) -> Result<crate::registry::Mount, RegistryError> {
        route!(self, target, true, |r| r.mount_blob(target, digest, from))
    }
    async fn start_upload(&self, target: &Reference) -> Result<String, RegistryError> {
        route!(self, target, true, |r| r.start_upload(target))
    }
    async fn put_blob(
        &self,
        target: &Reference,
        location: &str,
        digest: &Digest,
        bytes: bytes::Bytes,
    ) -> Result<(), RegistryError> {
        route!(self, target, true, |r| r
            .put_blob(target, location, digest, bytes))
    }
    async fn put_blob_stream(
        &self,
        target: &Reference,
        location: &str,
        digest: &Digest,
        size: u64,
        stream: BlobStream,
    ) -> Result<(), RegistryError> {
        route!(self, target, true, |r| r
            .put_blob_stream(target, location, digest, size, stream))
    }
    async fn manifest_head(
        &self,
        reference: &Reference,
        write: bool,
    ) -> Result<Option<(Digest, String)>, RegistryError> {
        // A target layout that does not exist yet has nothing: not made by a HEAD.
        if crate::model::reference::layout_dir(reference.registry())
            .is_some_and(|d| !d.join("oci-layout").is_file())
        {
            return Ok(None);
        }
        route!(self, reference, false, |r| r
            .manifest_head(reference, write))
    }
    async fn put_manifest(
        &self,
        target: &Reference,
        bytes: bytes::Bytes,
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        route!(self, target, true, |r| r
            .put_manifest(target, bytes, media_type))
    }
}
