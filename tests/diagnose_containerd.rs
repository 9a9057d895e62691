//! diagnose against a containerd-image-store daemon, from the recorded Engine API answer in
//! testdata/daemon (the store cannot run on this machine kind).

use runref::analyzed::AnalyzedFile;
use runref::daemon::{local_image, Daemon, DaemonError, DaemonInfo, Engine, LocalImage};
use runref::platform::Platform;
use runref::reference::Reference;
use runref::registry::OciRegistry;

struct Recorded(LocalImage);

impl Daemon for Recorded {
    async fn info(&self) -> Result<DaemonInfo, DaemonError> {
        Ok(DaemonInfo {
            engine: Engine::Docker,
            version: "28.0.0".into(),
            api_version: "1.48".into(),
            platform: "linux/amd64".parse().unwrap(),
        })
    }
    async fn inspect(&self, name: &str) -> Result<Option<LocalImage>, DaemonError> {
        Ok(
            (name == self.0.id.long() || self.0.repo_tags.iter().any(|t| t == name))
                .then(|| self.0.clone()),
        )
    }
    async fn inspect_manifests(&self, name: &str) -> Result<Option<LocalImage>, DaemonError> {
        self.inspect(name).await
    }
    async fn images_of(&self, _repo: &Reference) -> Result<Vec<LocalImage>, DaemonError> {
        Ok(vec![self.0.clone()])
    }
    async fn pull(
        &self,
        _: &Reference,
        _: &Platform,
        _: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), DaemonError> {
        unreachable!("diagnose never pulls")
    }
}

fn recorded() -> LocalImage {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/daemon/containerd-inspect-manifests.json"
    ))
    .unwrap();
    local_image(&serde_json::from_str(&text).unwrap()).unwrap()
}

#[tokio::test]
async fn a_config_digest_id_on_the_containerd_store_is_explained() {
    let text = format!(
        "[run-image]\n  reference = \"{}\"\n  image = \"127.0.0.1:5055/run:multi\"\n",
        "c".repeat(64)
    );
    let file = AnalyzedFile::parse(std::path::Path::new("analyzed.toml"), text).unwrap();
    let r = runref::diagnose::diagnose(
        &file,
        Some("linux/arm64".parse().unwrap()),
        &Recorded(recorded()),
        None::<&OciRegistry>,
    )
    .await
    .unwrap();
    assert!(!r.export_will_work);
    assert_eq!(r.cause, Some(runref::diagnose::Cause::ContainerdIdForm));
    assert!(
        r.explanation.contains("containerd image store"),
        "{}",
        r.explanation
    );
    assert_eq!(r.fix.as_deref(), Some("runref reconcile --daemon --pull-policy if-not-present --platform linux/arm64 analyzed.toml"));
}

#[tokio::test]
async fn the_containerd_index_id_is_found_for_an_available_platform_only() {
    let file = |id: &str| {
        AnalyzedFile::parse(
            std::path::Path::new("a.toml"),
            format!("[run-image]\n  reference = \"{id}\"\n"),
        )
        .unwrap()
    };
    let d = Recorded(recorded());
    let id = "1".repeat(64);
    let ok = runref::diagnose::diagnose(
        &file(&format!("sha256:{id}")),
        Some("linux/arm64/v8".parse().unwrap()),
        &d,
        None::<&OciRegistry>,
    )
    .await
    .unwrap();
    assert!(ok.export_will_work, "{}", ok.explanation);
    let wrong = runref::diagnose::diagnose(
        &file(&format!("sha256:{id}")),
        Some("linux/amd64".parse().unwrap()),
        &d,
        None::<&OciRegistry>,
    )
    .await
    .unwrap();
    assert!(
        !wrong.export_will_work,
        "amd64 is listed but not available locally"
    );
    assert_eq!(wrong.cause, Some(runref::diagnose::Cause::WrongPlatform));
}
