//! The words. The domain returns typed reasons, warnings and causes; this layer turns them into
//! the text a user reads (the CLI's renderers put it on the page). Nothing here decides.

pub mod diagnose;
pub mod image;
pub mod reconcile;
pub mod sync;

use crate::model::local::StoreKind;
use crate::model::platform::Platform;
use crate::model::proof::Proof;
use std::fmt;

/// A platform that may be unknown, printed one way everywhere: `linux/arm64/v8` or
/// `unknown platform`.
pub struct PlatformOr<'a>(pub Option<&'a Platform>);

impl fmt::Display for PlatformOr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, "{p}"),
            None => f.write_str("unknown platform"),
        }
    }
}

impl fmt::Display for crate::model::local::Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.image, PlatformOr(self.platform.as_ref()))
    }
}

/// `items` joined with `, `.
pub(crate) fn list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The daemon's image store.
impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreKind::DockerClassic => "Docker Engine (classic image store)",
            StoreKind::DockerContainerd => "Docker Engine (containerd image store)",
            StoreKind::Podman => "podman (Docker-compatible API)",
        })
    }
}

/// How a local image was tied to a registry manifest.
impl fmt::Display for Proof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proof::ConfigDigestIsImageId => "config digest = image ID",
            Proof::RepoDigests => "RepoDigests",
            Proof::ContainerdManifests => "containerd manifests",
        })
    }
}
