//! Smoke test of the real environment and the facts runref is built on
//! (../shared/notes/domain.md, "What daemons report"): a multi-arch OCI index with attestations
//! pushed to the real registry, one platform pulled into dockerd and into podman.

use crate::support::fixture::{build_index, push, IndexSpec};
use crate::support::*;

#[test]
fn daemons_know_a_pulled_platform_by_index_digest_not_manifest_digest() {
    let env = Env::get();
    let repo = env.repo("smoke");
    let spec = IndexSpec::new("smoke", &["linux/amd64", "linux/arm64/v8"]).with_attestations();
    let built = build_index(&spec, "multi");
    push(&built, "multi", &format!("{repo}:multi"));
    let arm = built.image("linux/arm64/v8");
    let index_ref = format!("{repo}@{}", built.index_digest);
    let arm_ref = format!("{repo}@{}", arm.manifest_digest);

    // dockerd (classic store): Id = config digest, RepoDigests = the index digest only.
    let docker = env.docker();
    pull(&docker, &format!("{repo}:multi"), "linux/arm64");
    let i = inspect(&docker, &format!("{repo}:multi")).expect("pulled image is present");
    assert_eq!(
        i.id.as_deref(),
        Some(arm.config_digest.to_string().as_str())
    );
    assert_eq!(
        i.repo_digests.clone().unwrap_or_default(),
        vec![index_ref.clone()]
    );
    assert_eq!(i.architecture.as_deref(), Some("arm64"));
    assert_eq!(i.variant.as_deref(), Some("v8"));
    assert!(
        inspect(&docker, &arm_ref).is_none(),
        "dockerd does not know the per-arch manifest digest: the root of lifecycle#1457"
    );

    // podman: same Id, RepoDigests holds both the index and the arm64 manifest digest.
    let podman = env.podman();
    pull(&podman, &format!("{repo}:multi"), "linux/arm64");
    let p = inspect(&podman, &format!("{repo}:multi")).expect("pulled into podman");
    assert_eq!(
        p.id.as_deref(),
        Some(arm.config_digest.to_string().as_str()),
        "podman compat Id = config digest, with prefix"
    );
    let mut digests = p.repo_digests.clone().unwrap_or_default();
    digests.sort();
    let mut want = vec![index_ref, arm_ref];
    want.sort();
    assert_eq!(digests, want);
    assert_eq!(p.architecture.as_deref(), Some("arm64"));
}
