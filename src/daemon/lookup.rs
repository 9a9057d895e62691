//! Lookups built on the [`Daemon`] calls: the same for every daemon, so they are functions,
//! not trait defaults an adapter could override.

use super::{Daemon, DaemonError};
use crate::model::local::LocalImage;
use crate::model::reference::ImageRef;

/// Inspects an image ID, or a name by each of its [`crate::model::reference::Reference::daemon_names`]
/// until one is found.
pub async fn find<D: Daemon>(d: &D, image: &ImageRef) -> Result<Option<LocalImage>, DaemonError> {
    let names = match image {
        ImageRef::Id(id) => vec![id.long()],
        ImageRef::Name(n) => n.daemon_names(),
    };
    for name in names {
        if let Some(found) = d.inspect(&name).await? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// `img` with the containerd store's per-platform manifests, asked by its ID when the answer
/// that gave it lacks them (the Engine's own answers carry them already).
pub async fn with_manifests<D: Daemon>(d: &D, img: LocalImage) -> Result<LocalImage, DaemonError> {
    if img.descriptor.is_none() || !img.manifests.is_empty() {
        return Ok(img);
    }
    Ok(d.inspect_manifests(&img.id.long()).await?.unwrap_or(img))
}

/// [`find`], then [`with_manifests`].
pub async fn find_full<D: Daemon>(
    d: &D,
    image: &ImageRef,
) -> Result<Option<LocalImage>, DaemonError> {
    match find(d, image).await? {
        Some(img) => Ok(Some(with_manifests(d, img).await?)),
        None => Ok(None),
    }
}
