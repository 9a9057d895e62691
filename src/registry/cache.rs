//! An on-disk cache of manifests (issue 11): what a digest names never changes, so a manifest
//! read once by digest need not cross the wire again. Used by `reconcile` only, the hook that
//! runs on every build (its `if-not-present` proof is a manifest GET by digest, and on Docker
//! Hub every manifest GET counts against the pull rate limit). `verify`, `inspect`, `diagnose`
//! and the read-back of `index create`/`copy` always ask the registry, since they report what
//! the registry holds now.
//!
//! Entries are named by their digest, written atomically (temp file in the directory, fsync,
//! rename), checked against their digest on every read (a damaged or oversized entry is removed
//! and the manifest fetched again), and the directory is kept under [`MAX_BYTES`], oldest read
//! first out. A cache that cannot be read or written is no cache: never an error.

use crate::model::digest::Digest;
use crate::model::manifest::{ImageConfig, Manifest};
use crate::model::reference::Reference;
use crate::registry::{BlobStream, Counters, Fetched, Registry, RegistryError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The directory's size bound; trimmed to three quarters of it when passed.
pub const MAX_BYTES: u64 = 64 << 20;
/// No manifest runref accepts is larger (the manifest read bound's default).
/// A cached entry is a manifest: the one manifest bound (`RUNREF_MAX_MANIFEST_BYTES`, 4 MiB).
fn max_entry() -> u64 {
    crate::registry::wire::Limits::default().manifest
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl DiskCache {
    /// Opens (creating, owner-only) `dir`; `None` when it cannot be made.
    pub fn open(dir: &Path) -> Option<DiskCache> {
        std::fs::create_dir_all(dir).ok()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        Some(DiskCache {
            dir: dir.to_path_buf(),
            max_bytes: MAX_BYTES,
        })
    }

    /// `$XDG_CACHE_HOME/runref/manifests`, else `$HOME/.cache/runref/manifests`.
    pub fn default_dir() -> Option<PathBuf> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        env("XDG_CACHE_HOME")
            .or_else(|| env("HOME").map(|h| h.join(".cache")))
            .map(|c| c.join("runref").join("manifests"))
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.to_string().replace(':', "-"))
    }

    /// The bytes stored for `digest`, if they are whole and hash to it.
    pub fn get(&self, digest: &Digest) -> Option<Vec<u8>> {
        let path = self.path(digest);
        let file = std::fs::File::open(&path).ok()?;
        if file.metadata().ok()?.len() > max_entry() {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(&file, max_entry() + 1), &mut bytes)
            .ok()?;
        if digest.verify(&bytes).is_err() {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        // Read recently: trimmed last.
        let _ = file.set_modified(std::time::SystemTime::now());
        Some(bytes)
    }

    /// Stores `bytes` as `digest` (the caller checked they hash to it).
    pub fn put(&self, digest: &Digest, bytes: &[u8]) {
        if bytes.len() as u64 > max_entry() {
            return;
        }
        let Ok(mut tmp) = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.dir)
        else {
            return;
        };
        if tmp.write_all(bytes).is_err() || tmp.as_file().sync_all().is_err() {
            return;
        }
        if tmp.persist(self.path(digest)).is_ok() {
            self.trim();
        }
    }

    /// Over the bound: the least recently read entries go until three quarters are left.
    fn trim(&self) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries: Vec<(std::time::SystemTime, u64, PathBuf)> = dir
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with(".tmp-"))
            .filter_map(|e| {
                let m = e.metadata().ok().filter(|m| m.is_file())?;
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        if total <= self.max_bytes {
            return;
        }
        entries.sort();
        for (_, len, path) in entries {
            if total <= self.max_bytes / 4 * 3 {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

/// A registry whose manifest reads go through a [`DiskCache`] first. Reads by tag always reach
/// the registry (a tag moves); what they bring is stored by its digest.
pub struct Cached<'a, R> {
    inner: &'a R,
    cache: Option<DiskCache>,
    hits: AtomicUsize,
}

impl<'a, R: Registry> Cached<'a, R> {
    /// `cache: None` passes everything through.
    pub fn new(inner: &'a R, cache: Option<DiskCache>) -> Self {
        Cached {
            inner,
            cache,
            hits: AtomicUsize::new(0),
        }
    }
}

impl<R: Registry> Registry for Cached<'_, R> {
    async fn manifest(&self, reference: &Reference) -> Result<Fetched, RegistryError> {
        let Some(cache) = &self.cache else {
            return self.inner.manifest(reference).await;
        };
        if let Some(digest) = reference.digest() {
            // `get` checked the bytes against the digest already.
            let stored = cache.get(digest);
            if let Some(manifest) = stored
                .as_deref()
                .and_then(|b| Manifest::parse(b, None).ok())
            {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Fetched {
                    digest: digest.clone(),
                    manifest,
                    bytes: stored.unwrap_or_default(),
                });
            }
        }
        let fetched = self.inner.manifest(reference).await?;
        cache.put(&fetched.digest, &fetched.bytes);
        Ok(fetched)
    }

    async fn config(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<ImageConfig, RegistryError> {
        self.inner.config(repo, digest).await
    }

    async fn blob_stream(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<BlobStream, RegistryError> {
        self.inner.blob_stream(repo, digest).await
    }

    async fn referrers_api(
        &self,
        repo: &crate::model::reference::Reference,
        subject: &crate::model::digest::Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        self.inner.referrers_api(repo, subject, artifact_type).await
    }

    async fn tags(
        &self,
        repo: &crate::model::reference::Reference,
    ) -> Result<Vec<String>, RegistryError> {
        self.inner.tags(repo).await
    }

    fn limits(&self) -> crate::registry::wire::Limits {
        self.inner.limits()
    }
}

impl<R: Registry> Counters for Cached<'_, R> {
    fn requests(&self) -> usize {
        self.inner.requests()
    }
    fn http_fallbacks(&self) -> usize {
        self.inner.http_fallbacks()
    }
    fn rate_remaining(&self, registry: &str) -> Option<u64> {
        self.inner.rate_remaining(registry)
    }
    fn cache_hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }
    fn endpoints(&self) -> crate::registry::Endpoints {
        self.inner.endpoints()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_checked_bounded_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = DiskCache::open(dir.path()).unwrap();
        let body = br#"{"schemaVersion":2}"#;
        let d = Digest::of(body);
        assert_eq!(c.get(&d), None);
        c.put(&d, body);
        assert_eq!(c.get(&d).as_deref(), Some(&body[..]));
        // A damaged entry is not served, and is removed.
        std::fs::write(c.path(&d), b"not those bytes").unwrap();
        assert_eq!(c.get(&d), None);
        assert!(!c.path(&d).exists());
        // An oversized one likewise, without reading it whole.
        std::fs::write(c.path(&d), vec![b' '; (max_entry() + 1) as usize]).unwrap();
        assert_eq!(c.get(&d), None);
        assert!(!c.path(&d).exists());
        // Past the bound the least recently read go first.
        c.max_bytes = 3000;
        let blobs: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 1000]).collect();
        for (i, b) in blobs.iter().enumerate() {
            c.put(&Digest::of(b), b);
            let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(i as u64);
            let f = std::fs::File::options()
                .write(true)
                .open(c.path(&Digest::of(b)))
                .unwrap();
            f.set_modified(t).unwrap();
        }
        let kept: Vec<bool> = blobs
            .iter()
            .map(|b| c.path(&Digest::of(b)).exists())
            .collect();
        assert_eq!(
            kept,
            [false, false, true, true],
            "trimmed to 3/4 of the bound"
        );
        let temps = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .count();
        assert_eq!(temps, 0, "no temp file left behind");
    }
}
