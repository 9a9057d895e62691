//! The daemon-side model: what a Docker Engine (classic or containerd image store) or podman
//! knows about local images, independent of how it was asked. The Engine API adapter
//! (`daemon.rs`) converts its answers into these types; the decision and the commands use
//! only these.

use crate::model::digest::{Digest, ImageId};
use crate::model::platform::Platform;
use crate::model::reference::Reference;

/// Which kind of image store answered; the decision depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// Docker Engine's graph-driver store: `Id` = config digest, RepoDigests = pulled digest.
    DockerClassic,
    /// Docker Engine's containerd image store: `Id` = digest of the pulled index/manifest.
    DockerContainerd,
    /// podman's compat API: `Id` = config digest, RepoDigests holds index and manifest digests.
    Podman,
}

/// Which engine answers the Engine API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    Docker,
    /// podman's Docker-compatible service.
    Podman,
}

/// A local image and its platform, as a message names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub image: ImageId,
    pub platform: Option<Platform>,
}

impl Held {
    pub fn of(img: &LocalImage) -> Held {
        Held {
            image: img.id.clone(),
            platform: img.platform.clone(),
        }
    }
}

/// Facts about the daemon itself.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DaemonInfo {
    pub engine: Engine,
    pub version: String,
    /// From the answers' `Api-Version` header (unix socket), else `/version` where it decides
    /// something (the containerd store over tcp/TLS); empty otherwise.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The daemon's own platform (`/info`): the default target. `None` when `/info` was not
    /// asked (the target was given and the answers' headers settled the rest).
    pub platform: Option<Platform>,
    /// `/info` says the Engine uses the containerd image store (snapshotter driver type).
    pub containerd_store: bool,
}

impl DaemonInfo {
    /// The one store detection: podman is its own store; a Docker Engine uses the containerd
    /// image store when `/info` says so (or, for a recorded answer without `/info`, when an
    /// image's inspect carries a `Descriptor`, API >= 1.48).
    pub fn store(&self, img: Option<&LocalImage>) -> StoreKind {
        match self.engine {
            Engine::Podman => StoreKind::Podman,
            Engine::Docker
                if self.containerd_store || img.is_some_and(|i| i.descriptor.is_some()) =>
            {
                StoreKind::DockerContainerd
            }
            Engine::Docker => StoreKind::DockerClassic,
        }
    }

    /// RepoDigests mean "pulled from or pushed to that repository" only on Docker's classic
    /// store. The containerd store and podman give every name of an image a RepoDigest (its own
    /// digest), a `docker load`ed never-pushed image included (measured on 28.5, 26.1, podman
    /// 4.3): there only the registry can say whether a name was ever pushed.
    pub fn repo_digests_mean_pulled(&self) -> bool {
        self.store(None) == StoreKind::DockerClassic
    }

    /// The daemon's platform from `/info`, else this machine's.
    pub fn platform_or_host(&self) -> Platform {
        self.platform.clone().unwrap_or_else(Platform::host)
    }

    /// The API version as (major, minor); (0, 0) when unreadable.
    pub fn api(&self) -> (u32, u32) {
        api_of(&self.api_version)
    }

    /// The daemon can make a single-platform record of a multi-platform image by itself:
    /// containerd store and API >= 1.48 (`GET /images/{id}/get?platform=`).
    pub fn can_materialize(&self) -> bool {
        self.engine == Engine::Docker && self.containerd_store && self.api() >= (1, 48)
    }
}

/// What every answer of the daemon says about it in its headers, with no question asked:
/// `Server` (`Docker/28.5.2 (linux)`, `Libpod/4.3.1 (linux)`) and `Api-Version` (measured on
/// Engine 20.10, 26.1, 28.5 and podman 4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub engine: Engine,
    pub version: String,
    pub api_version: String,
}

impl Answered {
    /// From the two headers; `None` for a server that is neither the Engine nor podman.
    pub fn from_headers(server: &str, api_version: &str) -> Option<Answered> {
        let (product, rest) = server.split_once('/')?;
        let engine = match product {
            "Docker" => Engine::Docker,
            "Libpod" => Engine::Podman,
            _ => return None,
        };
        let version = rest.split_whitespace().next()?.to_string();
        Some(Answered {
            engine,
            version,
            api_version: api_version.trim().to_string(),
        })
    }

    /// The daemon facts the decision uses, when these headers and the image found settle them
    /// without `/info`: podman is its own store; a Docker Engine's inspect carries a
    /// `Descriptor` exactly when it uses the containerd image store, from API 1.48 on (moby's
    /// API changelog, measured on 28.5). Below 1.48, or with nothing found, the store cannot be
    /// told from an answer: `None`, and `/info` is asked if the decision needs it.
    pub fn settle(&self, found: Option<&LocalImage>) -> Option<DaemonInfo> {
        let containerd_store = match (self.engine, found) {
            (Engine::Podman, _) => false,
            (Engine::Docker, Some(img)) if img.descriptor.is_some() => true,
            (Engine::Docker, Some(_)) if api_of(&self.api_version) >= (1, 48) => false,
            (Engine::Docker, _) => return None,
        };
        Some(DaemonInfo {
            engine: self.engine,
            version: self.version.clone(),
            api_version: self.api_version.clone(),
            platform: None,
            containerd_store,
        })
    }
}

/// `"1.48"` as (1, 48); (0, 0) when unreadable.
fn api_of(v: &str) -> (u32, u32) {
    let mut it = v.split('.').map(|n| n.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// A per-platform manifest the containerd store reports (`?manifests=1`, API >= 1.48).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LocalManifest {
    pub digest: Digest,
    pub platform: Option<Platform>,
    pub attestation: bool,
    pub available: bool,
}

/// What the daemon says about one image.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LocalImage {
    pub id: ImageId,
    pub repo_tags: Vec<String>,
    /// RepoDigests that parse as `name@sha256:...`.
    pub repo_digests: Vec<Reference>,
    pub platform: Option<Platform>,
    /// Last layer of `RootFS.Layers`: the run image's top layer.
    pub top_layer: Option<String>,
    /// Containerd store only: the descriptor of the pulled index or manifest.
    pub descriptor: Option<Digest>,
    /// Containerd store only, with `?manifests=1`.
    pub manifests: Vec<LocalManifest>,
}

impl LocalImage {
    /// True when the daemon records `digest` for this image in `repo` (RepoDigests).
    pub fn has_repo_digest(&self, repo: &Reference, digest: &Digest) -> bool {
        self.repo_digests
            .iter()
            .any(|r| r.same_repository(repo) && r.digest() == Some(digest))
    }

    /// True when the image has any RepoDigest in `repo`: it was pulled from or pushed to it.
    /// An image with none is daemon-only as far as the daemon knows (built or loaded, tagged).
    pub fn known_to_registry(&self, repo: &Reference) -> bool {
        self.repo_digests.iter().any(|r| r.same_repository(repo))
    }

    /// Is this image daemon-only in `repo` (built or loaded and tagged, never pushed or
    /// pulled), as far as the daemon can tell? On Docker's classic store: no RepoDigest in the
    /// repository. The containerd store and podman give every name a RepoDigest, so there the
    /// daemon cannot tell (`None`): the registry must say (reconcile and diagnose both ask it,
    /// one GET of the name, a 404 meaning never pushed).
    pub fn daemon_only(&self, repo: &Reference, info: &DaemonInfo) -> Option<bool> {
        info.repo_digests_mean_pulled()
            .then(|| !self.known_to_registry(repo))
    }

    /// True when a tag of this image is in `repo`.
    pub fn tagged_in(&self, repo: &Reference) -> bool {
        self.repo_tags
            .iter()
            .filter_map(|t| t.parse::<Reference>().ok())
            .any(|t| t.same_repository(repo))
    }

    /// Does the daemon hold content for `p`? The containerd store lists platforms per manifest
    /// (an index may hold several); the other stores hold one platform per image.
    pub fn provides(&self, p: &Platform) -> bool {
        if !self.manifests.is_empty() {
            return self
                .manifests
                .iter()
                .any(|m| !m.attestation && m.available && m.platform.as_ref() == Some(p));
        }
        self.platform.as_ref() == Some(p)
    }

    /// The platform a lookup of this image **without a platform** gives: what lifecycle's
    /// exporter gets (imgutil `local.FromBaseImage`, an inspect with no platform). Every store
    /// reports the platform it resolved in the inspect answer itself; on the containerd store
    /// that is the daemon's own platform whenever its content is present, so an index that
    /// [`provides`](Self::provides) the target may still resolve to another platform
    /// (measured on Engine 28.5 and 26.1, spec-notes).
    pub fn resolves_to(&self) -> Option<&Platform> {
        self.platform.as_ref()
    }

    /// The containerd store's manifest entry with `digest`, when reported.
    pub fn manifest(&self, digest: &Digest) -> Option<&LocalManifest> {
        self.manifests.iter().find(|m| &m.digest == digest)
    }
}

/// One local image as reports show it (inspect's daemon side, diagnose's local images).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DaemonSide {
    pub image_id: String,
    pub tags: Vec<String>,
    pub repo_digests: Vec<String>,
    /// What a lookup without platform resolves the image to (the exporter's lookup).
    pub platform: Option<Platform>,
    /// containerd store: the platforms whose content is present (`?manifests=1`).
    pub available: Vec<Platform>,
    pub store: StoreKind,
    pub top_layer: Option<String>,
}

impl DaemonSide {
    pub fn new(img: &LocalImage, info: &DaemonInfo) -> DaemonSide {
        DaemonSide {
            image_id: img.id.long(),
            tags: img.repo_tags.clone(),
            repo_digests: img.repo_digests.iter().map(|r| r.to_string()).collect(),
            platform: img.platform.clone(),
            available: img
                .manifests
                .iter()
                .filter(|m| m.available && !m.attestation)
                .filter_map(|m| m.platform.clone())
                .collect(),
            store: info.store(Some(img)),
            top_layer: img.top_layer.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(descriptor: bool) -> LocalImage {
        LocalImage {
            id: ImageId::parse(&format!("sha256:{}", "a".repeat(64))).unwrap(),
            repo_tags: vec![],
            repo_digests: vec![],
            platform: None,
            top_layer: None,
            descriptor: descriptor.then(|| format!("sha256:{}", "a".repeat(64)).parse().unwrap()),
            manifests: vec![],
        }
    }

    #[test]
    fn headers_name_the_engine() {
        // Recorded from Engine 20.10, 28.5 and podman 4.3 (test environment).
        let a = |s, v| Answered::from_headers(s, v);
        let docker = a("Docker/20.10.24+dfsg1 (linux)", "1.41").unwrap();
        assert_eq!(
            (
                docker.engine,
                docker.version.as_str(),
                docker.api_version.as_str()
            ),
            (Engine::Docker, "20.10.24+dfsg1", "1.41")
        );
        assert_eq!(
            a("Libpod/4.3.1 (linux)", "1.41").unwrap().engine,
            Engine::Podman
        );
        assert_eq!(a("nginx/1.25", "1.41"), None);
        assert_eq!(a("Docker", "1.41"), None);
        assert_eq!(a("Docker/", "1.41"), None);
    }

    #[test]
    fn only_what_an_answer_proves_settles_the_store() {
        let a = |s| Answered::from_headers(s, s.split(' ').nth(2).unwrap_or("")).unwrap();
        let store = |a: &Answered, img: Option<&LocalImage>| {
            a.settle(img).map(|i| (i.containerd_store, i.api_version))
        };
        let (v28, v26, v20, pod) = (
            a("Docker/28.5.2 (linux) 1.51"),
            a("Docker/26.1.5 (linux) 1.45"),
            a("Docker/20.10.24 (linux) 1.41"),
            a("Libpod/4.3.1 (linux) 1.41"),
        );
        // A Descriptor is shown by the containerd store only.
        assert_eq!(store(&v28, Some(&image(true))), Some((true, "1.51".into())));
        assert_eq!(store(&v26, Some(&image(true))), Some((true, "1.45".into())));
        // From API 1.48 its absence means the classic store; below, it proves nothing.
        assert_eq!(
            store(&v28, Some(&image(false))),
            Some((false, "1.51".into()))
        );
        assert_eq!(store(&v26, Some(&image(false))), None);
        assert_eq!(store(&v20, Some(&image(false))), None);
        // Nothing found: only podman is known (its own store).
        assert_eq!(store(&v28, None), None);
        assert_eq!(store(&pod, None), Some((false, "1.41".into())));
        assert_eq!(
            pod.settle(None).map(|i| i.store(None)),
            Some(StoreKind::Podman)
        );
        assert_eq!(v28.settle(Some(&image(false))).unwrap().platform, None);
    }
}
