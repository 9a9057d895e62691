//! The one proof that a local image is a given registry manifest. reconcile, inspect and
//! diagnose all ask [`prove`], so they cannot disagree about what a local image is.

use crate::model::digest::Digest;
use crate::model::local::LocalImage;
use crate::model::platform::Platform;
use crate::model::reference::Reference;

/// How a local image was tied to a registry manifest, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proof {
    /// Classic store and podman: the image ID is the manifest's config digest.
    ConfigDigestIsImageId,
    /// The daemon records the manifest's digest in RepoDigests (podman records per-arch ones).
    RepoDigests,
    /// The containerd store lists the manifest as available content of the image (or the
    /// image is that manifest).
    ContainerdManifests,
}

/// Proves that `img` is the manifest `entry` of `repo`. `config` is the manifest's config
/// digest when it was fetched; `platform`, when given, must be the containerd manifest's.
pub fn prove(
    img: &LocalImage,
    repo: &Reference,
    entry: &Digest,
    config: Option<&Digest>,
    platform: Option<&Platform>,
) -> Option<Proof> {
    if config == Some(img.id.digest()) {
        return Some(Proof::ConfigDigestIsImageId);
    }
    if img.has_repo_digest(repo, entry) {
        return Some(Proof::RepoDigests);
    }
    let listed = img
        .manifest(entry)
        .is_some_and(|m| m.available && platform.is_none_or(|p| m.platform.as_ref() == Some(p)));
    if listed || img.descriptor.as_ref() == Some(entry) {
        return Some(Proof::ContainerdManifests);
    }
    None
}
