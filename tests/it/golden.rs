//! Every command's text output, rendered from its report and compared whole with
//! `testdata/golden/<case>.txt` (stdout, then stderr after a marker line). Fixtures use fixed
//! salts, so digests are the same on every run. After an intended change of wording:
//! `UPDATE_GOLDEN=1 cargo test --test it golden` and review the diff.

use crate::support::fake_daemon::{image, FakeDaemon};
use crate::support::fixture::{build_index, BuiltIndex, IndexSpec};
use runref::analyzed::AnalyzedFile;
use runref::cli::render;
use runref::commands::reconcile::decide::Mode;
use runref::commands::reconcile::{reconcile, Options};
use runref::layout::LayoutRegistry;
use runref::model::reference::{ImageRef, Reference};
use std::io::Write;

const REPO: &str = "registry.example/run";

pub(crate) fn golden(case: &str, actual: &str) {
    let path = format!("{}/testdata/golden/{case}.txt", env!("CARGO_MANIFEST_DIR"));
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(std::path::Path::new(&path).parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{path} is missing: run with UPDATE_GOLDEN=1 and review it"));
    assert!(
        actual == want,
        "text output of {case} changed (if intended: UPDATE_GOLDEN=1, then review the diff)\n\
         --- want\n{want}--- got\n{actual}"
    );
}

fn text(f: impl FnOnce(&mut dyn Write, &mut dyn Write) -> std::io::Result<()>) -> String {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    f(&mut out, &mut err).unwrap();
    format!(
        "{}--- stderr ---\n{}",
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap()
    )
}

/// linux/amd64 + linux/arm64/v8 with BuildKit attestations, the same bytes every run.
fn fixed() -> BuiltIndex {
    build_index(
        &IndexSpec::fixed("golden", &["linux/amd64", "linux/arm64/v8"]).with_attestations(),
        "v1",
    )
}

/// The daemon after `docker pull --platform linux/arm64 REPO:v1` on Engine 20.10.
fn pulled_arm64(b: &BuiltIndex) -> FakeDaemon {
    let arm = b.image("linux/arm64/v8");
    FakeDaemon::docker(vec![image(
        &arm.config_digest,
        "linux/arm64/v8",
        &[&format!("{REPO}:v1")],
        &[format!("{REPO}@{}", b.index_digest)],
    )])
}

fn restorer_file(dir: &std::path::Path, reference: &str) -> AnalyzedFile {
    let path = dir.join("analyzed.toml");
    std::fs::write(
        &path,
        format!("[run-image]\n  reference = \"{reference}\"\n"),
    )
    .unwrap();
    AnalyzedFile::load(&path).unwrap()
}

async fn render_reconcile(
    b: &BuiltIndex,
    daemon: Option<&FakeDaemon>,
    reference: &str,
    mode: Mode,
    policy: &str,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut file = restorer_file(dir.path(), reference);
    let opts = Options {
        mode,
        policy: policy.parse().unwrap(),
        platform: Some("linux/arm64".parse().unwrap()),
        no_write: true,
        check: false,
    };
    let reg = LayoutRegistry::open(&b.layout).unwrap();
    let r = reconcile(&mut file, &opts, daemon, &reg, &mut |_| {})
        .await
        .unwrap();
    let view = render::ReconcileView {
        dry_run: true,
        check: false,
    };
    text(|out, err| render::reconcile(out, err, &r, view))
        .replace(&dir.path().display().to_string(), "<dir>")
}

#[tokio::test]
async fn reconcile_text() {
    let b = fixed();
    let arm = b.image("linux/arm64/v8");
    let per_arch = format!("{REPO}@{}", arm.manifest_digest);
    let d = pulled_arm64(&b);
    golden(
        "reconcile-daemon-never",
        &render_reconcile(&b, Some(&d), &per_arch, Mode::Daemon, "never").await,
    );
    golden(
        "reconcile-daemon-proven",
        &render_reconcile(&b, Some(&d), &per_arch, Mode::Daemon, "if-not-present").await,
    );
    golden(
        "reconcile-registry",
        &render_reconcile(
            &b,
            None,
            &format!("{REPO}:v1"),
            Mode::Registry,
            "if-not-present",
        )
        .await,
    );
    let empty = FakeDaemon::docker(vec![]);
    golden(
        "reconcile-not-in-daemon",
        &render_reconcile(&b, Some(&empty), &per_arch, Mode::Daemon, "never").await,
    );
}

#[tokio::test]
async fn inspect_text() {
    let b = fixed();
    let reg = LayoutRegistry::open(&b.layout).unwrap();
    let image = ImageRef::Name(format!("{REPO}:v1").parse().unwrap());
    let r = runref::commands::inspect::inspect(
        &image,
        Some(&"linux/arm64".parse().unwrap()),
        Some(&pulled_arm64(&b)),
        &reg,
    )
    .await;
    golden("inspect", &text(|out, _| render::inspect(out, &r)));
}

#[tokio::test]
async fn verify_text() {
    let b = fixed();
    let by_digest: Reference = format!("{REPO}@{}", b.index_digest).parse().unwrap();
    let opts = |platforms: &[&str]| runref::commands::verify::VerifyOptions {
        expected: platforms.iter().map(|p| p.parse().unwrap()).collect(),
        allow_extra: false,
        content: true,
        allow_nondistributable: false,
        progress: None,
        required_referrers: vec![],
    };
    let reg = LayoutRegistry::open(&b.layout).unwrap();
    let ok =
        runref::commands::verify::verify(&reg, &by_digest, &opts(&["linux/amd64", "linux/arm64"]))
            .await
            .unwrap();
    golden("verify", &text(|out, _| render::verify(out, &ok)));
    let bad =
        runref::commands::verify::verify(&reg, &by_digest, &opts(&["linux/amd64", "linux/s390x"]))
            .await
            .unwrap();
    golden("verify-mismatch", &text(|out, _| render::verify(out, &bad)));
}

#[tokio::test]
async fn diagnose_text() {
    let b = fixed();
    let arm = b.image("linux/arm64/v8");
    let dir = tempfile::tempdir().unwrap();
    let file = restorer_file(dir.path(), &format!("{REPO}@{}", arm.manifest_digest));
    let reg = LayoutRegistry::open(&b.layout).unwrap();
    let r = runref::commands::diagnose::diagnose(&file, None, &pulled_arm64(&b), Some(&reg))
        .await
        .unwrap();
    golden(
        "diagnose",
        &text(|out, _| render::diagnose(out, &r))
            .replace(&dir.path().display().to_string(), "<dir>"),
    );
}
