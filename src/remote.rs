//! The registry's view of one image: the top manifest and, for an index, every entry with its
//! manifest (and optionally config) fetched concurrently. Shared by `inspect` and `verify`.

use crate::digest::Digest;
use crate::manifest::{Descriptor, Manifest, RawPlatform};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::registry::{Registry, RegistryError};

/// One index entry (or the single manifest of a non-index image).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RemoteEntry {
    pub digest: Digest,
    pub media_type: String,
    pub size: i64,
    /// The entry's platform as the index writes it (None for a single manifest).
    pub index_platform: Option<RawPlatform>,
    /// Normalised platform: the index's, else the config's.
    pub platform: Option<Platform>,
    pub attestation: bool,
    /// For an attestation: the manifest it is about.
    pub attests: Option<String>,
    /// arm/arm64 entry without a variant (seed 002).
    pub lacks_variant: bool,
    pub config: Option<Digest>,
    /// What the config declares, when configs were fetched.
    pub config_platform: Option<Platform>,
    #[serde(skip)]
    pub layers: Vec<Descriptor>,
    /// Why the entry's manifest or config could not be read.
    pub error: Option<String>,
}

/// The registry side of an image.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RemoteView {
    /// `name@digest` of what was fetched.
    pub reference: String,
    /// The tag given, when the digest was resolved from a tag.
    pub resolved_from: Option<String>,
    pub digest: Digest,
    pub media_type: String,
    pub is_index: bool,
    pub entries: Vec<RemoteEntry>,
}

impl RemoteView {
    pub fn runnable(&self) -> impl Iterator<Item = &RemoteEntry> {
        self.entries.iter().filter(|e| !e.attestation)
    }
}

fn entry_from(d: &Descriptor) -> Result<RemoteEntry, RegistryError> {
    Ok(RemoteEntry {
        digest: d.digest().map_err(|e| RegistryError::Other {
            reference: d.digest.clone(),
            detail: e.to_string(),
        })?,
        media_type: d.media_type.clone(),
        size: d.size,
        index_platform: d.platform.clone(),
        platform: d.platform(),
        attestation: d.is_attestation(),
        attests: d.attests().map(str::to_string),
        lacks_variant: d.lacks_variant(),
        config: None,
        config_platform: None,
        layers: vec![],
        error: None,
    })
}

/// Fills an entry from its manifest (and config when `configs`).
async fn complete<R: Registry>(
    reg: &R,
    repo: &Reference,
    mut e: RemoteEntry,
    configs: bool,
) -> RemoteEntry {
    if e.attestation {
        return e;
    }
    match reg.manifest(&repo.with_digest(&e.digest)).await {
        Ok(f) => match f.manifest {
            Manifest::Image(m) => {
                e.config = m.config.digest().ok();
                e.layers = m.layers;
            }
            Manifest::Index(_) => {
                e.error = Some("entry is itself an index (nested indexes are not supported)".into())
            }
        },
        Err(err) => e.error = Some(err.to_string()),
    }
    if configs {
        if let Some(c) = e.config.clone() {
            match reg.config(repo, &c).await {
                Ok(cfg) => e.config_platform = Some(cfg.platform()),
                Err(err) => e.error = Some(err.to_string()),
            }
        }
    }
    e
}

/// Fetches `reference` (by digest when it has one) and every runnable entry concurrently.
pub async fn remote_view<R: Registry>(
    reg: &R,
    reference: &Reference,
    configs: bool,
) -> Result<RemoteView, RegistryError> {
    let top = reg.manifest(reference).await?;
    let resolved_from = match reference.digest() {
        Some(_) => None,
        None => Some(reference.to_string()),
    };
    let media_type = top.manifest.media_type().to_string();
    let fetched = reference.with_digest(&top.digest);
    let (is_index, entries) = match &top.manifest {
        Manifest::Index(idx) => {
            let base: Vec<RemoteEntry> = idx
                .manifests
                .iter()
                .map(entry_from)
                .collect::<Result<_, _>>()?;
            let done = futures_util::future::join_all(
                base.into_iter()
                    .map(|e| complete(reg, reference, e, configs)),
            )
            .await;
            (true, done)
        }
        Manifest::Image(m) => {
            let mut e = RemoteEntry {
                digest: top.digest.clone(),
                media_type: media_type.clone(),
                size: top.bytes.len() as i64,
                index_platform: None,
                platform: None,
                attestation: false,
                attests: None,
                lacks_variant: false,
                config: m.config.digest().ok(),
                config_platform: None,
                layers: m.layers.clone(),
                error: None,
            };
            // A single manifest's platform is only in its config.
            if let Some(c) = e.config.clone() {
                match reg.config(reference, &c).await {
                    Ok(cfg) => {
                        e.config_platform = Some(cfg.platform());
                        e.platform = e.config_platform.clone();
                    }
                    Err(err) => e.error = Some(err.to_string()),
                }
            }
            (false, vec![e])
        }
    };
    Ok(RemoteView {
        reference: fetched.to_string(),
        resolved_from,
        digest: top.digest,
        media_type,
        is_index,
        entries,
    })
}
