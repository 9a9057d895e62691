//! resolve, inspect and verify in process: the fixture builder's OCI layouts served by
//! `LayoutRegistry`, the daemon side by `FakeDaemon`. No docker, no network; each read counted.

use crate::support::fake_daemon::{image, FakeDaemon};
use crate::support::fixture::{
    build_index, build_single, elf, pe, BuiltIndex, ImageSpec, IndexSpec, LayerCompression,
};
use runref::commands::verify::{verify, Problem, VerifyOptions};
use runref::daemon::EngineDaemon;
use runref::layout::LayoutRegistry;
use runref::model::platform::Platform;
use runref::model::proof::Proof;
use runref::model::reference::{ImageRef, Reference};
use runref::model::view::Depth;
use runref::registry::resolve::resolve;
use runref::registry::{Counters, Registry};

const REPO: &str = "registry.example/run";

fn p(s: &str) -> Platform {
    s.parse().unwrap()
}

fn multi() -> BuiltIndex {
    build_index(
        &IndexSpec::new("inproc", &["linux/amd64", "linux/arm64/v8"]).with_attestations(),
        "v1",
    )
}

fn tagged() -> Reference {
    format!("{REPO}:v1").parse().unwrap()
}

fn layout(b: &BuiltIndex) -> LayoutRegistry {
    LayoutRegistry::open(&b.layout).unwrap()
}

#[tokio::test]
async fn resolve_fetches_only_what_the_depth_needs() {
    let b = multi();
    let arm = b.image("linux/arm64/v8");

    let reg = layout(&b);
    let v = resolve(&reg, &tagged(), &Depth::Platform(p("linux/arm64")))
        .await
        .unwrap();
    assert_eq!(reg.requests(), 2, "tag lookup + index");
    assert_eq!(v.digest, b.index_digest);
    assert_eq!(v.resolved_from.as_deref(), Some("registry.example/run:v1"));
    let e = v.entry_for(&p("linux/arm64")).unwrap();
    assert_eq!(e.digest, arm.manifest_digest);
    assert_eq!(e.config, None, "Platform depth reads no entry manifest");
    assert!(v.entry_for(&p("linux/s390x")).is_none());

    let reg = layout(&b);
    let v = resolve(&reg, &tagged(), &Depth::Proof(p("linux/arm64")))
        .await
        .unwrap();
    assert_eq!(reg.requests(), 3, "+ the chosen entry's manifest");
    assert_eq!(
        v.entry_for(&p("linux/arm64")).unwrap().config.as_ref(),
        Some(&arm.config_digest)
    );
    assert_eq!(v.entry_for(&p("linux/amd64")).unwrap().config, None);

    let reg = layout(&b);
    let v = resolve(
        &reg,
        &tagged(),
        &Depth::Entries {
            configs: true,
            only: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        reg.requests(),
        2 + 2 + 2,
        "+ two manifests and two configs, no attestation"
    );
    assert_eq!(v.entries.len(), 4);
    assert_eq!(v.runnable().count(), 2);
    for e in v.runnable() {
        assert_eq!(e.config_platform, e.platform, "{}", e.digest);
    }
    assert!(v
        .entries
        .iter()
        .filter(|e| e.attestation)
        .all(|e| e.config.is_none()));
}

#[tokio::test]
async fn a_single_manifest_gets_its_platform_from_its_config() {
    let b = build_single(&ImageSpec::new("linux/arm64"), "single", "v1");
    let reg = layout(&b);
    let v = resolve(&reg, &tagged(), &Depth::Platform(p("linux/amd64")))
        .await
        .unwrap();
    assert!(!v.is_index);
    let e = v
        .entry_for(&p("linux/amd64"))
        .expect("a single manifest is its own entry");
    assert_eq!(
        e.config_platform,
        Some(p("linux/arm64")),
        "the caller compares"
    );
    assert_eq!(e.layers[0].digest, b.images[0].layer_digest);
    let reg = layout(&b);
    resolve(&reg, &tagged(), &Depth::Proof(p("linux/arm64")))
        .await
        .unwrap();
    assert_eq!(reg.requests(), 2, "Proof depth reads no config blob");
}

#[tokio::test]
async fn a_blob_that_lies_about_its_digest_is_refused() {
    let b = multi();
    let arm = b.image("linux/arm64/v8");
    let path = b
        .layout
        .join("blobs/sha256")
        .join(arm.manifest_digest.hex());
    std::fs::write(&path, b"{\"schemaVersion\":2}").unwrap();
    let reg = layout(&b);
    let e = reg
        .manifest(&tagged().with_digest(&arm.manifest_digest))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("digest"), "{e}");
    // Through the resolver the failure stays with its entry.
    let v = resolve(
        &reg,
        &tagged(),
        &Depth::Entries {
            configs: false,
            only: None,
        },
    )
    .await
    .unwrap();
    let bad = v
        .entries
        .iter()
        .find(|e| e.digest == arm.manifest_digest)
        .unwrap();
    assert!(bad.error.is_some());
}

#[tokio::test]
async fn inspect_links_the_local_image_by_config_digest() {
    let b = multi();
    let arm = b.image("linux/arm64/v8");
    let local = image(
        &arm.config_digest,
        "linux/arm64/v8",
        &["registry.example/run:v1"],
        &[format!("{REPO}@{}", b.index_digest)],
    );
    let daemon = FakeDaemon::docker(vec![local]);
    let reg = layout(&b);
    let r = runref::commands::inspect::inspect(
        &ImageRef::Name(tagged()),
        Some(&p("linux/arm64")),
        Some(&daemon),
        &reg,
    )
    .await;
    assert_eq!(r.exit_code(), 0);
    let link = r.link.expect("both sides");
    assert_eq!(link.entry, Some(arm.manifest_digest.clone()));
    assert_eq!(link.proof, Some(Proof::ConfigDigestIsImageId));
    assert!(link.daemon_knows_top_digest);
    let view = r.registry.unwrap();
    assert_eq!(view.entries.iter().filter(|e| e.attestation).count(), 2);

    // Registry side only.
    let reg = layout(&b);
    let r = runref::commands::inspect::inspect(
        &ImageRef::Name(tagged()),
        None,
        None::<&EngineDaemon>,
        &reg,
    )
    .await;
    assert!(r.daemon.is_none() && r.link.is_none() && r.registry.is_some());
    assert_eq!(r.exit_code(), 0);
}

fn opts(platforms: &[&str], content: bool) -> VerifyOptions {
    VerifyOptions {
        expected: platforms.iter().map(|s| p(s)).collect(),
        allow_extra: false,
        content,
        allow_nondistributable: false,
        progress: None,
        required_referrers: vec![],
    }
}

#[tokio::test]
async fn verify_proves_platforms_and_content_in_process() {
    let b = multi();
    let by_digest = tagged().with_digest(&b.index_digest);
    let reg = layout(&b);
    let r = verify(
        &reg,
        &by_digest,
        &opts(&["linux/amd64", "linux/arm64/v8"], true),
    )
    .await
    .unwrap();
    assert!(r.verified, "{:?}", r.problems);
    assert_eq!(r.exit_code(), 0);
    assert_eq!(r.attestations_ignored, 2);
    for pr in &r.platforms {
        assert_eq!(pr.content.as_ref().unwrap().verdict, "proven");
    }

    let r = verify(
        &layout(&b),
        &by_digest,
        &opts(&["linux/amd64", "linux/s390x"], false),
    )
    .await
    .unwrap();
    assert!(!r.verified);
    assert_eq!(r.exit_code(), 1);
    assert!(r
        .problems
        .iter()
        .any(|x| matches!(x, Problem::Missing { .. })));
    assert!(r
        .problems
        .iter()
        .any(|x| matches!(x, Problem::Unexpected { .. })));
}

#[tokio::test]
async fn verify_catches_a_lying_config_and_foreign_binaries() {
    let mut lying = ImageSpec::new("linux/arm64");
    lying.config_platform = Some("linux/amd64".into());
    let mut foreign = ImageSpec::new("linux/s390x");
    foreign.elf_machine = Some(elf::X86_64);
    let b = build_index(
        &IndexSpec {
            images: vec![ImageSpec::new("linux/amd64"), lying, foreign],
            ..IndexSpec::new("liar", &[])
        },
        "v1",
    );
    let by_digest = tagged().with_digest(&b.index_digest);
    let r = verify(
        &layout(&b),
        &by_digest,
        &opts(&["linux/amd64", "linux/arm64", "linux/s390x"], true),
    )
    .await
    .unwrap();
    assert!(!r.verified);
    assert!(
        r.problems
            .iter()
            .any(|x| matches!(x, Problem::ConfigDisagrees { .. })),
        "{:?}",
        r.problems
    );
    assert!(
        r.problems
            .iter()
            .any(|x| matches!(x, Problem::ContentDisagrees { .. })),
        "{:?}",
        r.problems
    );
}

/// A registry that counts how many manifest fetches are in flight at once.
struct Gauge {
    inner: LayoutRegistry,
    now: std::sync::atomic::AtomicUsize,
    max: std::sync::atomic::AtomicUsize,
}

impl Registry for Gauge {
    async fn manifest(
        &self,
        r: &Reference,
    ) -> Result<runref::registry::Fetched, runref::registry::RegistryError> {
        use std::sync::atomic::Ordering::SeqCst;
        let n = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(n, SeqCst);
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        let out = self.inner.manifest(r).await;
        self.now.fetch_sub(1, SeqCst);
        out
    }
    async fn config(
        &self,
        r: &Reference,
        d: &runref::model::digest::Digest,
    ) -> Result<runref::model::manifest::ImageConfig, runref::registry::RegistryError> {
        self.inner.config(r, d).await
    }
    async fn blob_stream(
        &self,
        r: &Reference,
        d: &runref::model::digest::Digest,
    ) -> Result<runref::registry::BlobStream, runref::registry::RegistryError> {
        self.inner.blob_stream(r, d).await
    }
}

impl Counters for Gauge {
    fn requests(&self) -> usize {
        self.inner.requests()
    }
}

/// 2,000 index entries: fetched at most `runref::POOL` at a time, all of them, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_entries_are_fetched_through_a_bounded_pool() {
    let b = build_index(&IndexSpec::new("pool", &["linux/amd64"]), "v1");
    let entry =
        serde_json::from_slice::<serde_json::Value>(&b.index).unwrap()["manifests"][0].clone();
    let big = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": runref::model::manifest::OCI_INDEX,
        "manifests": vec![entry; 2000],
    });
    let bytes = serde_json::to_vec(&big).unwrap();
    let digest = runref::model::digest::Digest::of(&bytes);
    std::fs::write(b.layout.join("blobs/sha256").join(digest.hex()), &bytes).unwrap();
    let reg = Gauge {
        inner: layout(&b),
        now: 0.into(),
        max: 0.into(),
    };
    let v = resolve(
        &reg,
        &tagged().with_digest(&digest),
        &Depth::Entries {
            configs: false,
            only: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(v.entries.len(), 2000);
    assert!(v
        .entries
        .iter()
        .all(|e| e.config.is_some() && e.error.is_none()));
    let max = reg.max.load(std::sync::atomic::Ordering::SeqCst);
    assert!(max <= runref::POOL && max > 1, "max in flight {max}");
}

/// `--allow-extra` reads only the expected platforms: the index, then the expected entry's
/// manifest, config and layer (4 reads), where all platforms would cost 1 + 3 + 3 = 7.
#[tokio::test]
async fn verify_allow_extra_reads_only_the_expected_platforms() {
    let b = multi();
    let by_digest = tagged().with_digest(&b.index_digest);
    let mut o = opts(&["linux/amd64"], true);
    o.allow_extra = true;
    let reg = layout(&b);
    let r = verify(&reg, &by_digest, &o).await.unwrap();
    assert!(r.verified, "{:?}", r.problems);
    assert_eq!(reg.requests(), 4);
    let amd = r
        .platforms
        .iter()
        .find(|r| r.platform == Some(p("linux/amd64")))
        .unwrap();
    assert_eq!(amd.content.as_ref().unwrap().verdict, "proven");
    let arm = r
        .platforms
        .iter()
        .find(|r| r.platform == Some(p("linux/arm64")))
        .unwrap();
    assert!(
        arm.config.is_none() && arm.content.is_none(),
        "not read: {:?}",
        arm.config
    );
    // Without --allow-extra every platform is read (and the extra one is a mismatch).
    let reg = layout(&b);
    let r = verify(&reg, &by_digest, &opts(&["linux/amd64"], true))
        .await
        .unwrap();
    assert!(!r.verified);
    assert_eq!(reg.requests(), 7);
}

/// Builds an index of `images` and verifies it in process with `--content` for `platforms`.
async fn verify_images(
    salt: &str,
    images: Vec<ImageSpec>,
    platforms: &[&str],
) -> (BuiltIndex, runref::commands::verify::VerifyReport) {
    let b = build_index(
        &IndexSpec {
            images,
            ..IndexSpec::new(salt, &[])
        },
        "v1",
    );
    let r = verify(
        &layout(&b),
        &tagged().with_digest(&b.index_digest),
        &opts(platforms, true),
    )
    .await
    .unwrap();
    (b, r)
}

/// Issue 21: every layer type people publish. An uncompressed tar whose end-of-archive falls
/// chunks before the blob's end (GNU tar pads to 10 KiB records; 200 KiB here, over three of
/// the layout's 64 KiB chunks) failed "stream ended with an error": the scanner stopped at the
/// tar's end, the rest never reached the digest check. zstd and uncompressed layers prove their
/// platform like gzip ones; run many times, since chunking decided the old failure.
#[tokio::test]
async fn uncompressed_and_zstd_layers_prove_their_platforms() {
    let mut plain = ImageSpec::new("linux/amd64").compressed(LayerCompression::Uncompressed);
    plain.trailing_zeros = 200 * 1024;
    let zstd = ImageSpec::new("linux/arm64").compressed(LayerCompression::Zstd);
    let mut lying = ImageSpec::new("linux/s390x").compressed(LayerCompression::Zstd);
    lying.elf_machine = Some(elf::X86_64);
    let estargz = ImageSpec::new("linux/ppc64le").compressed(LayerCompression::Estargz);
    let b = build_index(
        &IndexSpec {
            images: vec![plain, zstd, lying, estargz],
            ..IndexSpec::new("layer-types", &[])
        },
        "v1",
    );
    let by_digest = tagged().with_digest(&b.index_digest);
    for run in 0..50 {
        let r = verify(
            &layout(&b),
            &by_digest,
            &opts(
                &["linux/amd64", "linux/arm64", "linux/s390x", "linux/ppc64le"],
                true,
            ),
        )
        .await
        .unwrap();
        assert_eq!(r.problems.len(), 1, "run {run}: {:?}", r.problems);
        assert!(
            matches!(&r.problems[0], Problem::ContentDisagrees { platform, .. } if platform == "linux/s390x"),
            "run {run}: {:?}",
            r.problems
        );
        let verdicts: Vec<_> = r
            .platforms
            .iter()
            .map(|p| p.content.as_ref().unwrap().verdict)
            .collect();
        assert_eq!(
            verdicts,
            ["proven", "proven", "mismatch", "proven"],
            "run {run}"
        );
    }
}

/// Windows entries: the PE machine of `Files/**.exe` proves or contradicts `windows/<arch>`;
/// `os.version` is kept; a layer with no executable is unproven with its reason.
#[tokio::test]
async fn windows_entries_are_proven_by_their_pe_executables() {
    let amd = ImageSpec::windows("windows/amd64", "10.0.20348.2849");
    let mut lie = ImageSpec::windows("windows/arm64", "10.0.20348.2849");
    lie.pe_machine = Some(pe::AMD64);
    let mut empty = ImageSpec::windows("windows/386", "10.0.17763.6532");
    empty.no_elf = true;
    empty.foreign_base = true;
    let (b, r) = verify_images(
        "windows",
        vec![amd, lie, empty],
        &["windows/amd64", "windows/arm64", "windows/386"],
    )
    .await;
    let by_digest = tagged().with_digest(&b.index_digest);
    let verdicts: Vec<_> = r
        .platforms
        .iter()
        .map(|p| p.content.as_ref().unwrap().verdict)
        .collect();
    assert_eq!(
        verdicts,
        ["proven", "mismatch", "unproven"],
        "{:?}",
        r.problems
    );
    assert_eq!(r.platforms[0].content.as_ref().unwrap().pe_files, 1);
    assert!(r.problems.iter().any(|x| matches!(x,
        Problem::ContentDisagrees { platform, files, .. }
            if platform.starts_with("windows/arm64:10.0.20348") && files[0].path.ends_with("app.exe") && files[0].arch == Some("amd64"))));
    assert!(r.problems.iter().any(|x| matches!(x,
        Problem::Unproven { platform, reason, .. }
            if platform.starts_with("windows/386")
                && *reason == runref::commands::verify::NoExecutable { windows: true, foreign_unread: 1 })));
    // The foreign layer is in no registry: it was never asked for (a fetch would 404).
    let c = r.platforms[2].content.as_ref().unwrap();
    assert_eq!((c.layers, c.foreign_layers), (2, 1));
    // Asked to read it, runref asks the registry, which does not have it: said, not hidden.
    let mut o = opts(&["windows/amd64", "windows/arm64", "windows/386"], true);
    o.allow_nondistributable = true;
    let r = verify(&layout(&b), &by_digest, &o).await.unwrap();
    assert!(
        r.problems
            .iter()
            .any(|x| matches!(x, Problem::Unreadable { .. })),
        "{:?}",
        r.problems
    );
}

/// A layer whose bytes are not what its media type says (zstd labelled gzip) is unreadable with
/// the decoder's own reason, not "stream ended with an error" (newcomer pass).
#[tokio::test]
async fn a_mislabelled_layer_says_why() {
    let mut lie = ImageSpec::new("linux/amd64").compressed(LayerCompression::Zstd);
    lie.layer_media_type = Some("application/vnd.oci.image.layer.v1.tar+gzip");
    let (_, r) = verify_images("mislabel", vec![lie], &["linux/amd64"]).await;
    let e = match &r.problems[..] {
        [Problem::Unreadable { error, .. }] => error.clone(),
        other => panic!("{other:?}"),
    };
    assert!(!e.contains("stream ended") && e.contains("gzip"), "{e}");
}

/// Before pulling by the reference's digest, runref asks the registry which platform it is; a
/// registry that cannot answer (refused, not a 404) is said, not passed over in silence (a
/// newcomer saw a DNS failure leave `warnings: []` beside `would_pull`).
#[tokio::test]
async fn an_unanswered_platform_check_before_a_pull_is_a_warning() {
    use runref::commands::reconcile::decide::Mode;
    use runref::commands::reconcile::why::Warning;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("analyzed.toml");
    let reference = format!("127.0.0.1:1/run@sha256:{}", "4".repeat(64));
    std::fs::write(
        &path,
        format!("[run-image]\n  reference = \"{reference}\"\n"),
    )
    .unwrap();
    let opts = runref::commands::reconcile::Options {
        mode: Mode::Daemon,
        policy: "if-not-present".parse().unwrap(),
        platform: Some("linux/arm64".parse().unwrap()),
        no_write: true,
        check: false,
    };
    // A registry that refuses every connection, asked once per question.
    let refusing = || {
        runref::registry::HttpRegistry::new(runref::registry::RegistryOptions {
            attempts: 1,
            ..runref::registry::RegistryOptions::default()
        })
        .unwrap()
    };
    let run = |opts: runref::commands::reconcile::Options| {
        let path = path.clone();
        let daemon = FakeDaemon::docker(vec![]);
        async move {
            let mut file = runref::analyzed::AnalyzedFile::load(&path).unwrap();
            runref::commands::reconcile::reconcile(
                &mut file,
                &opts,
                Some(&daemon),
                &refusing(),
                &mut |_| {},
            )
            .await
            .unwrap()
        }
    };
    let r = run(opts.clone()).await;
    assert_eq!(r.would_pull.as_deref(), Some(reference.as_str()));
    assert!(
        r.warnings.iter().any(|w| matches!(w, Warning::PullUnchecked { reference: x, .. } if x.to_string() == reference)),
        "{:?}",
        r.warnings
    );
    let once = r.registry_requests;
    // With the target defaulted the registry was asked for it already and did not answer:
    // said once, and not asked again before the pull.
    let opts = runref::commands::reconcile::Options {
        platform: None,
        ..opts
    };
    let r = run(opts).await;
    assert_eq!(r.would_pull.as_deref(), Some(reference.as_str()));
    assert!(
        matches!(r.warnings.as_slice(), [Warning::TargetDefaulted { .. }]),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.registry_requests, once, "asked once");
}
