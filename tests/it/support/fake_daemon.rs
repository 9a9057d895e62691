//! A daemon made of recorded answers, for the fast tests: images in Engine API form converted
//! by the real adapter code (`runref::daemon::local_image`), looked up as a daemon would.

use runref::daemon::{local_image, Daemon, DaemonError};
use runref::model::digest::Digest;
use runref::model::local::{DaemonInfo, Engine, LocalImage};
use runref::model::platform::Platform;
use runref::model::reference::Reference;

/// An image as the classic store or podman reports it: `Id` = config digest, one platform.
pub fn image(id: &Digest, platform: &str, tags: &[&str], digests: &[String]) -> LocalImage {
    let p: Vec<&str> = platform.split('/').collect();
    let j = serde_json::json!({
        "Id": id.to_string(), "RepoTags": tags, "RepoDigests": digests,
        "Os": p[0], "Architecture": p[1], "Variant": p.get(2),
        "RootFS": {"Type": "layers", "Layers": ["sha256:aa"]},
    });
    local_image(&serde_json::from_value(j).unwrap()).unwrap()
}

/// The recorded containerd-store answer (`?manifests=1`, API 1.48 schema) in testdata/daemon.
pub fn containerd_recorded() -> LocalImage {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/daemon/containerd-inspect-manifests.json"
    ))
    .unwrap();
    local_image(&serde_json::from_str(&text).unwrap()).unwrap()
}

pub struct FakeDaemon {
    pub info: DaemonInfo,
    pub images: Vec<LocalImage>,
}

impl FakeDaemon {
    /// A Docker Engine on linux/amd64 (API 1.41, classic store unless an image says otherwise).
    pub fn docker(images: Vec<LocalImage>) -> FakeDaemon {
        FakeDaemon {
            info: DaemonInfo {
                engine: Engine::Docker,
                version: "20.10.24".into(),
                api_version: "1.41".into(),
                platform: Some("linux/amd64".parse().unwrap()),
                containerd_store: false,
            },
            images,
        }
    }
}

impl Daemon for FakeDaemon {
    async fn info(&self) -> Result<DaemonInfo, DaemonError> {
        Ok(self.info.clone())
    }

    /// By ID (long or bare hex), tag, or recorded digest, names compared normalised.
    async fn inspect(&self, name: &str) -> Result<Option<LocalImage>, DaemonError> {
        let wanted: Option<Reference> = name.parse().ok();
        let same = |s: &String| {
            s == name
                || wanted.as_ref().is_some_and(|w| {
                    s.parse::<Reference>()
                        .is_ok_and(|r| r.canonical() == w.canonical())
                })
        };
        Ok(self
            .images
            .iter()
            .find(|i| {
                i.id.long() == name
                    || i.id.digest().hex() == name
                    || i.repo_tags.iter().any(same)
                    || i.repo_digests.iter().any(|d| same(&d.to_string()))
            })
            .cloned())
    }

    async fn inspect_manifests(&self, name: &str) -> Result<Option<LocalImage>, DaemonError> {
        self.inspect(name).await
    }

    async fn images_of(&self, repo: &Reference) -> Result<Vec<LocalImage>, DaemonError> {
        Ok(self
            .images
            .iter()
            .filter(|i| i.tagged_in(repo) || i.known_to_registry(repo))
            .cloned()
            .collect())
    }

    async fn pull(
        &self,
        image: &Reference,
        platform: &Platform,
        _: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), DaemonError> {
        Err(DaemonError::Pull {
            host: "fake".into(),
            image: image.to_string(),
            platform: platform.to_string(),
            detail: "the fake daemon does not pull".into(),
        })
    }
}
