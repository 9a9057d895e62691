//! Reading a source: its top manifest, every entry's manifest and config, the bytes kept for
//! the push (`Material`).

use super::*;

/// A manifest to put in the target: its exact bytes and what it needs.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) bytes: Bytes,
    pub(super) media_type: String,
    /// The source repository (name@digest of the manifest).
    pub(super) from: Reference,
    /// Config and layers: (digest, size, foreign / non-distributable).
    pub(super) blobs: Vec<(Digest, i64, bool)>,
}

/// What was read of the sources: manifests by digest, and blobs already in memory (configs).
#[derive(Debug, Default)]
pub(super) struct Material {
    pub(super) items: BTreeMap<Digest, Item>,
    pub(super) blobs: BTreeMap<Digest, Bytes>,
}

pub(super) fn bad_manifest(
    reference: &Reference,
    source: crate::model::manifest::ManifestError,
) -> RegistryError {
    RegistryError::Manifest {
        reference: reference.to_string(),
        source,
    }
}

/// Reads a small blob (a config) whole, within `limit` bytes, digest-checked by the stream.
pub(super) async fn read_small<R: Registry>(
    reg: &R,
    repo: &Reference,
    digest: &Digest,
    limit: u64,
) -> Result<Bytes, RegistryError> {
    let subject = repo.with_digest(digest);
    let stream = reg.blob_stream(repo, digest).await?;
    let mut buf = Vec::new();
    let mut stream = stream.map_err(|e| RegistryError::Other {
        reference: subject.to_string(),
        detail: e.to_string(),
    });
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if buf.len() as u64 + chunk.len() as u64 > limit {
            return Err(RegistryError::TooLarge {
                reference: subject.to_string(),
                what: "config",
                limit,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// The blobs of an image manifest, config first.
pub(super) fn blobs_of(m: &crate::model::manifest::ImageManifest) -> Vec<(Digest, i64, bool)> {
    let mut out = vec![(m.config.digest.clone(), m.config.size, false)];
    for l in &m.layers {
        out.push((
            l.digest.clone(),
            l.size,
            crate::model::layer::is_foreign(&l.media_type),
        ));
    }
    out
}

/// One image manifest read into `material`; with `config`, its config read and parsed.
pub(super) async fn read_image<R: Registry>(
    reg: &R,
    repo: &Reference,
    digest: &Digest,
    prefetched: Option<(Bytes, crate::model::manifest::ImageManifest)>,
    config: bool,
) -> Result<(Item, Option<(Digest, Bytes, ImageConfig)>), RegistryError> {
    let at = repo.with_digest(digest);
    let (bytes, m) = match prefetched {
        Some(p) => p,
        None => {
            let f = reg.manifest(&at).await?;
            match f.manifest {
                Manifest::Image(m) => (Bytes::from(f.bytes), m),
                Manifest::Index(_) => {
                    return Err(RegistryError::Other {
                        reference: at.to_string(),
                        detail: "entry is itself an index (nested indexes are not flattened)"
                            .into(),
                    })
                }
            }
        }
    };
    let blobs = blobs_of(&m);
    let media_type = m
        .media_type
        .clone()
        .unwrap_or_else(|| crate::model::manifest::OCI_MANIFEST.to_string());
    let cfg = if config {
        let cd = m.config.digest.clone();
        let limit = reg.limits().config;
        let raw = read_small(reg, repo, &cd, limit).await?;
        let parsed = ImageConfig::parse(&raw).map_err(|e| bad_manifest(&at, e))?;
        Some((cd, raw, parsed))
    } else {
        None
    };
    Ok((
        Item {
            bytes,
            media_type,
            from: at,
            blobs,
        },
        cfg,
    ))
}

/// A source read: its entries for the planner, its top manifest's bytes and media type.
pub(super) struct Read {
    pub(super) source: Source,
    pub(super) top: Bytes,
    pub(super) top_media_type: String,
    pub(super) is_index: bool,
}

/// Reads one source: the top manifest, every entry's manifest, and (with `configs`) every
/// runnable entry's config; at most POOL requests in flight.
pub(super) async fn read_source<R: Registry>(
    reg: &R,
    name: &str,
    reference: &Reference,
    configs: bool,
    material: &tokio::sync::Mutex<Material>,
) -> Result<Read, RegistryError> {
    let top = reg.manifest(reference).await?;
    let at = reference.with_digest(&top.digest);
    let media_type = top.manifest.media_type().to_string();
    let is_index = matches!(top.manifest, Manifest::Index(_));
    let top_bytes = Bytes::from(top.bytes.clone());
    let descriptors: Vec<(
        Descriptor,
        Option<(Bytes, crate::model::manifest::ImageManifest)>,
    )> = match top.manifest {
        Manifest::Image(m) => vec![(
            Descriptor {
                media_type: media_type.clone(),
                digest: top.digest.clone(),
                size: top.bytes.len() as i64,
                platform: None,
                annotations: BTreeMap::new(),
                urls: vec![],
            },
            Some((top_bytes.clone(), m)),
        )],
        Manifest::Index(idx) => idx.manifests.into_iter().map(|d| (d, None)).collect(),
    };
    let reads = futures_util::stream::iter(descriptors.into_iter().map(|(d, pre)| async move {
        let digest = d.digest.clone();
        if !crate::model::manifest::may_be_image_manifest(&d.media_type) {
            // The planner refuses it with the source's name; nothing to read.
            return Ok::<_, RegistryError>((
                SourceEntry {
                    descriptor: d,
                    config: None,
                },
                None,
                None,
            ));
        }
        let runnable = !d.is_attestation();
        // A single manifest's config is the only place its platform is written (the summary
        // shows it; the transfer then sends the config from memory).
        let wanted = (configs || !is_index) && runnable;
        let (item, cfg) = read_image(reg, reference, &digest, pre, wanted).await?;
        let config = cfg.as_ref().map(|(_, _, c)| ConfigPlatform::from(c));
        Ok((
            SourceEntry {
                descriptor: d,
                config,
            },
            Some((digest, item)),
            cfg.map(|(cd, raw, _)| (cd, raw)),
        ))
    }))
    .buffered(crate::POOL)
    .try_collect::<Vec<_>>()
    .await?;
    let mut entries = Vec::new();
    let mut m = material.lock().await;
    for (entry, item, cfg) in reads {
        entries.push(entry);
        if let Some((d, item)) = item {
            m.items.entry(d).or_insert(item);
        }
        if let Some((cd, raw)) = cfg {
            m.blobs.entry(cd).or_insert(raw);
        }
    }
    Ok(Read {
        source: Source {
            name: name.to_string(),
            reference: at,
            entries,
        },
        top: top_bytes,
        top_media_type: media_type,
        is_index,
    })
}

/// An entry of a full copy, as the source describes it (a single manifest: its config's
/// platform).
pub(super) fn as_planned(e: &SourceEntry, source: &str, is_index: bool) -> Option<Planned> {
    let d = &e.descriptor;
    Some(Planned {
        platform: if is_index {
            d.platform()
        } else {
            e.config.as_ref().map(|c| c.platform())
        },
        digest: d.digest.clone(),
        media_type: d.media_type.clone(),
        size: d.size,
        source: 0,
        source_name: source.to_string(),
        attestation: d.is_attestation(),
        attests: d.attests().map(str::to_string),
        variant_filled: false,
        index_platform: d.platform.clone(),
        annotations: d.annotations.clone(),
    })
}
