//! `copy` and `index create` in process (issue 18, item 7): OCI layouts as source and target
//! through the same publish code the registry path runs (plan, transfer, read-back, tags
//! last), with golden text; the refusals, the dry run (nothing written) and the re-run (up to
//! date, nothing written) asserted without any daemon or registry.

use crate::support::fixture::{build_index, BuiltIndex, IndexSpec};
use runref::cli::render;
use runref::commands::publish::{Carry, PublishOptions};
use runref::layout::{LayoutRegistry, Routed};
use runref::model::reference::Reference;

fn fixed(salt: &str, platforms: &[&str]) -> BuiltIndex {
    build_index(&IndexSpec::fixed(salt, platforms).with_attestations(), "v1")
}

fn at(dir: &std::path::Path, tag: &str) -> Reference {
    Reference::parse_location(&format!("oci:{}:{tag}", dir.display())).unwrap()
}

fn golden_text(case: &str, text: String, dirs: &[&std::path::Path]) {
    let mut t = text;
    for (i, d) in dirs.iter().enumerate() {
        t = t.replace(&d.display().to_string(), &format!("<dir{i}>"));
    }
    crate::golden::golden(case, &t);
}

fn opts() -> PublishOptions {
    PublishOptions {
        referrers: Carry::None,
        ..PublishOptions::default()
    }
}

#[tokio::test]
async fn copy_into_a_layout_is_planned_proven_and_idempotent() {
    let b = fixed("inproc-copy", &["linux/amd64", "linux/arm64/v8"]);
    let out = tempfile::tempdir().unwrap();
    let target_dir = out.path().join("mirror");
    // The source layout is the fixture's; Routed sends both sides to their layouts.
    let remote = LayoutRegistry::open(&b.layout).unwrap();
    let reg = Routed::new(&remote);
    let (src, target) = (at(&b.layout, "v1"), at(&target_dir, "v1"));

    let dry = PublishOptions {
        dry_run: true,
        ..opts()
    };
    let r = runref::commands::publish::copy(&reg, &src, &target, &dry)
        .await
        .unwrap();
    assert!(r.dry_run && !r.pushed);
    assert!(!target_dir.exists(), "a dry run writes nothing");

    let r = runref::commands::publish::copy(&reg, &src, &target, &opts())
        .await
        .unwrap();
    assert!(r.verified && r.tags_moved, "{r:?}");
    assert_eq!(r.digest, b.index_digest, "a full copy keeps the digest");
    let mut text = Vec::new();
    render::publish(&mut text, &r).unwrap();
    golden_text(
        "copy-layout",
        String::from_utf8(text).unwrap(),
        &[&b.layout, &target_dir],
    );

    let again = runref::commands::publish::copy(&reg, &src, &target, &opts())
        .await
        .unwrap();
    assert!(
        again.up_to_date && again.verified && !again.pushed,
        "{again:?}"
    );
    assert_eq!(again.summary.manifests_pushed, 0);
}

#[tokio::test]
async fn index_create_refuses_two_images_of_one_platform_unless_replace() {
    let a = fixed("inproc-a", &["linux/amd64", "linux/arm64/v8"]);
    let b = fixed("inproc-b", &["linux/arm64/v8"]);
    let out = tempfile::tempdir().unwrap();
    let target_dir = out.path().join("made");
    let remote = LayoutRegistry::open(&a.layout).unwrap();
    let reg = Routed::new(&remote);
    let sources = [at(&a.layout, "v1"), at(&b.layout, "v1")];
    let target = at(&target_dir, "multi");

    let refused = runref::commands::publish::create(&reg, &target, &sources, &opts()).await;
    let e = refused.expect_err("two arm64 images");
    assert!(e.to_string().contains("linux/arm64"), "{e}");
    assert!(
        !target_dir.join("index.json").exists() || {
            let idx = std::fs::read_to_string(target_dir.join("index.json")).unwrap();
            !idx.contains("multi")
        },
        "no tag on a refusal"
    );

    let replace = PublishOptions {
        replace: true,
        ..opts()
    };
    let r = runref::commands::publish::create(&reg, &target, &sources, &replace)
        .await
        .unwrap();
    assert!(r.verified, "{r:?}");
    let arm = r
        .entries
        .iter()
        .find(|e| {
            e.platform
                .as_ref()
                .is_some_and(|p| p.to_string().starts_with("linux/arm64") && !e.attestation)
        })
        .unwrap();
    assert_eq!(
        arm.digest,
        b.image("linux/arm64/v8").manifest_digest,
        "the later source wins"
    );
    let mut text = Vec::new();
    render::publish(&mut text, &r).unwrap();
    golden_text(
        "index-create-layout",
        String::from_utf8(text).unwrap(),
        &[&a.layout, &b.layout, &target_dir],
    );
    // The tag names the result, read back through the layout.
    let tagged = runref::registry::Registry::manifest(&reg, &target)
        .await
        .unwrap();
    assert_eq!(tagged.digest, r.digest);
}
