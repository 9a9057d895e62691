//! diagnose against a containerd-image-store daemon, from the recorded Engine API answer in
//! testdata/daemon (the store cannot run on this machine kind).

use runref::analyzed::AnalyzedFile;
use runref::registry::HttpRegistry;

use crate::support::fake_daemon::{containerd_recorded as recorded, FakeDaemon};

/// The recorded containerd-store image on an Engine of API 1.48.
fn recorded_daemon(img: runref::model::local::LocalImage) -> FakeDaemon {
    let mut d = FakeDaemon::docker(vec![img]);
    d.info.version = "28.0.0".into();
    d.info.api_version = "1.48".into();
    d
}

#[tokio::test]
async fn a_config_digest_id_on_the_containerd_store_is_explained() {
    let text = format!(
        "[run-image]\n  reference = \"{}\"\n  image = \"127.0.0.1:5055/run:multi\"\n",
        "c".repeat(64)
    );
    let file = AnalyzedFile::parse(std::path::Path::new("analyzed.toml"), text).unwrap();
    let r = runref::commands::diagnose::diagnose(
        &file,
        Some("linux/arm64".parse().unwrap()),
        &recorded_daemon(recorded()),
        None::<&HttpRegistry>,
    )
    .await
    .unwrap();
    assert!(!r.export_will_work);
    assert_eq!(
        r.cause,
        Some(runref::commands::diagnose::Cause::ContainerdIdForm)
    );
    assert!(
        matches!(&r.finding, runref::commands::diagnose::Finding::ContainerdId { target, .. } if target.to_string() == "linux/arm64"),
        "{:?}",
        r.finding
    );
    assert!(r.finding.to_string().contains("containerd image store"));
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
    let d = recorded_daemon(recorded());
    let id = "1".repeat(64);
    let ok = runref::commands::diagnose::diagnose(
        &file(&format!("sha256:{id}")),
        Some("linux/arm64/v8".parse().unwrap()),
        &d,
        None::<&HttpRegistry>,
    )
    .await
    .unwrap();
    assert!(ok.export_will_work, "{}", ok.finding);
    let wrong = runref::commands::diagnose::diagnose(
        &file(&format!("sha256:{id}")),
        Some("linux/amd64".parse().unwrap()),
        &d,
        None::<&HttpRegistry>,
    )
    .await
    .unwrap();
    assert!(
        !wrong.export_will_work,
        "amd64 is listed but not available locally"
    );
    assert_eq!(
        wrong.cause,
        Some(runref::commands::diagnose::Cause::WrongPlatform)
    );
}
