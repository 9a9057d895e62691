//! The one registry resolver: fetches an image into a [`RemoteView`] as deep as the question
//! needs ([`Depth`]), every manifest checked against its digest by the registry adapter.
//! reconcile, inspect, verify and diagnose all read the registry through [`resolve`].

use crate::model::manifest::Manifest;
use crate::model::reference::Reference;
use crate::model::view::Depth;
use crate::model::view::{RemoteEntry, RemoteView};
use crate::registry::{Registry, RegistryError};

/// Fetches `reference` (by digest when it has one: no tag race) to `depth`. Failures of an
/// entry's own manifest or config are kept in that entry ([`RemoteEntry::error`]); a failure
/// of the top manifest is the error.
pub async fn resolve<R: Registry>(
    reg: &R,
    reference: &Reference,
    depth: &Depth,
) -> Result<RemoteView, RegistryError> {
    let top = reg.manifest(reference).await?;
    let resolved_from = match reference.digest() {
        Some(_) => None,
        None => Some(reference.to_string()),
    };
    let media_type = top.manifest.media_type().to_string();
    let mut view = RemoteView {
        reference: reference.with_digest(&top.digest),
        resolved_from,
        digest: top.digest.clone(),
        media_type: media_type.clone(),
        is_index: false,
        entries: vec![],
    };
    match &top.manifest {
        Manifest::Index(idx) => {
            view.is_index = true;
            view.entries = idx
                .manifests
                .iter()
                .map(RemoteEntry::from_descriptor)
                .collect::<Result<_, _>>()
                .map_err(|e| RegistryError::Manifest {
                    reference: view.reference.to_string(),
                    source: e,
                })?;
            match depth {
                Depth::Platform(_) => {}
                Depth::Proof(p) => {
                    let chosen = view.entry_for(p).map(|e| e.digest.clone());
                    if let Some(e) = view
                        .entries
                        .iter_mut()
                        .find(|e| Some(&e.digest) == chosen.as_ref())
                    {
                        complete(reg, reference, e, false).await;
                    }
                }
                Depth::Entries { configs, only } => {
                    // At most POOL entries in flight, in index order.
                    use futures_util::StreamExt;
                    let entries = std::mem::take(&mut view.entries);
                    view.entries =
                        futures_util::stream::iter(entries.into_iter().map(|mut e| async move {
                            let wanted = only.as_ref().is_none_or(|o| {
                                e.platform
                                    .as_ref()
                                    .is_some_and(|p| o.iter().any(|w| w.matches(p)))
                            });
                            if wanted {
                                complete(reg, reference, &mut e, *configs).await;
                            }
                            e
                        }))
                        .buffered(crate::POOL)
                        .collect()
                        .await;
                }
            }
        }
        Manifest::Image(m) => {
            let mut e = RemoteEntry {
                digest: top.digest.clone(),
                media_type,
                size: top.bytes.len() as i64,
                index_platform: None,
                platform: None,
                attestation: false,
                attests: None,
                lacks_variant: false,
                config: Some(m.config.digest.clone()),
                config_platform: None,
                layers: m.layers.clone(),
                error: None,
            };
            if let Some(t) = m.artifact() {
                // A signature or SBOM has no platform; its config is not an image's.
                e.error = Some(format!(
                    "an artifact of type {t} (a signature, SBOM or attestation attached by subject), not a runnable image"
                ));
            } else if !matches!(depth, Depth::Proof(_)) {
                fill_config(reg, reference, &mut e).await;
                e.platform = e.config_platform.clone();
            }
            view.entries = vec![e];
        }
    }
    Ok(view)
}

/// Fills an index entry from its manifest (and its config when `configs`). The entry must be
/// an image manifest: a nested index is never taken for the platform's manifest.
async fn complete<R: Registry>(reg: &R, repo: &Reference, e: &mut RemoteEntry, configs: bool) {
    if e.attestation {
        return;
    }
    if !crate::model::manifest::may_be_image_manifest(&e.media_type) {
        e.error = Some(crate::model::manifest::not_an_image_manifest(&e.media_type));
        return;
    }
    match reg.manifest(&repo.with_digest(&e.digest)).await {
        Ok(f) => match f.manifest {
            Manifest::Image(m) if m.artifact().is_some() => {
                e.error = Some(format!(
                    "entry is an artifact of type {}, not a runnable image",
                    m.artifact().unwrap_or_default()
                ));
                return;
            }
            Manifest::Image(m) => {
                e.config = Some(m.config.digest.clone());
                e.layers = m.layers;
            }
            Manifest::Index(_) => {
                e.error =
                    Some("entry is itself an index (nested indexes are not supported)".into());
                return;
            }
        },
        Err(err) => {
            e.error = Some(err.to_string());
            return;
        }
    }
    if configs {
        fill_config(reg, repo, e).await;
    }
}

async fn fill_config<R: Registry>(reg: &R, repo: &Reference, e: &mut RemoteEntry) {
    if let Some(c) = e.config.clone() {
        match reg.config(repo, &c).await {
            Ok(cfg) => e.config_platform = Some(cfg.platform()),
            Err(err) => e.error = Some(err.to_string()),
        }
    }
}
