//! An OCI image layout on disk as a [`Registry`]: `index.json`, `oci-layout` and
//! `blobs/sha256/<hex>`, one repository (the repository part of a reference is not looked at).
//! Tags are the root index's `org.opencontainers.image.ref.name` annotations. Every blob read is
//! checked against its digest, as from a registry. The fast tests read the fixture builder's
//! layouts through it; it can become a user-facing `oci:` source.

use crate::digest::Digest;
use crate::manifest::{ImageConfig, Manifest, ManifestError};
use crate::reference::Reference;
use crate::registry::{BlobStream, Fetched, Registry, RegistryError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Chunk size of blob streams.
const CHUNK: usize = 64 * 1024;

/// A registry backed by one OCI image layout directory.
pub struct LayoutRegistry {
    root: PathBuf,
    reads: AtomicUsize,
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
        let digest = match reference.digest() {
            Some(d) => d.clone(),
            None => self.tag_digest(reference, reference.tag().unwrap_or("latest"))?,
        };
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

    fn requests(&self) -> usize {
        self.reads.load(Ordering::Relaxed)
    }
}
