//! The reconcile decision table, without any daemon or registry: recorded daemon answers in,
//! steps out. Each case also asserts which facts were asked for, so "no registry contact under
//! never" is checked on the decision itself.

use runref::commands::reconcile::decide::*;
use runref::commands::reconcile::why::*;
use runref::model::digest::Digest;
use runref::model::local::LocalImage;
use runref::model::manifest::Manifest;
use runref::model::policy::PullPolicy;
use runref::model::reference::{ImageRef, Reference};
use runref::model::view::{RemoteEntry, RemoteView};

const REPO: &str = "127.0.0.1:5055/run";

fn d(c: char) -> Digest {
    format!("sha256:{}", c.to_string().repeat(64))
        .parse()
        .unwrap()
}

use crate::support::fake_daemon::{containerd_recorded as containerd, image};

fn input(mode: Mode, policy: PullPolicy, platform: &str, reference: &str) -> Input {
    Input {
        mode,
        policy,
        platform: platform.parse().unwrap(),
        reference: ImageRef::parse(reference).unwrap(),
        image: None,
        extend: false,
        platform_given: true,
        reference_platform: None,
    }
}

/// What the world holds, for answering needs.
#[derive(Default, Clone)]
struct World {
    by_reference: Option<LocalImage>,
    by_image: Option<LocalImage>,
    repo: Vec<LocalImage>,
    remote: Option<Result<RemoteView, RemoteFailure>>,
    pull: Option<Result<(), String>>,
    /// What the daemon holds after a pull.
    after_pull: Option<LocalImage>,
    /// The daemon itself, when a case depends on its store or API level.
    daemon: Option<runref::model::local::DaemonInfo>,
    /// The record a materialization makes.
    materialize: Option<Result<LocalImage, String>>,
}

/// Runs the decision loop, answering needs from `w`. Returns the final step and the needs.
fn run(inp: &Input, w: &World) -> (Step, Vec<Need>) {
    let look = |i: &Option<LocalImage>| match i {
        Some(i) => Lookup::Found(Box::new(i.clone())),
        None => Lookup::Absent,
    };
    let mut f = Facts {
        daemon: w.daemon.clone(),
        by_reference: look(&w.by_reference),
        by_image: if inp.image.is_some() {
            look(&w.by_image)
        } else {
            Lookup::NotAsked
        },
        ..Default::default()
    };
    let mut needs = vec![];
    for _ in 0..10 {
        let step = decide(inp, &f);
        let Step::Need(n) = &step else {
            return (step, needs);
        };
        needs.push(n.clone());
        match n {
            // Unscripted: the classic store of Engine 20.10.
            Need::DaemonInfo => {
                f.daemon = Some(w.daemon.clone().unwrap_or_else(classic_daemon));
            }
            Need::RepoImages(_) => f.repo_images = Some(w.repo.clone()),
            Need::Materialize { .. } => {
                f.materialized = Some(
                    w.materialize
                        .clone()
                        .expect("materialize asked but none scripted"),
                )
            }
            Need::Remote { .. } => {
                f.remote = Some(w.remote.clone().expect("remote asked but none scripted"))
            }
            Need::Pull(_) => {
                f.pulled = Some(w.pull.clone().expect("pull asked but none scripted"));
                if let Some(a) = &w.after_pull {
                    f.by_reference = Lookup::Found(Box::new(a.clone()));
                }
                f.repo_images = None;
                f.remote = None;
            }
        }
    }
    panic!("decision did not settle: {needs:?}");
}

fn outcome(s: Step) -> Outcome {
    match s {
        Step::Done(o) => o,
        other => panic!("expected Done, got {other:?}"),
    }
}

fn failure(s: Step) -> Failure {
    match s {
        Step::Fail(f) => *f,
        other => panic!("expected Fail, got {other:?}"),
    }
}

fn no_registry(needs: &[Need]) {
    assert!(
        !needs
            .iter()
            .any(|n| matches!(n, Need::Remote { .. } | Need::Pull(_))),
        "no registry contact allowed: {needs:?}"
    );
}

/// The registry's view of a single per-arch manifest whose config is `config`.
fn remote_entry(entry: &Digest, config: &Digest) -> RemoteView {
    RemoteView {
        reference: format!("{REPO}@{entry}").parse().unwrap(),
        resolved_from: None,
        digest: entry.clone(),
        media_type: runref::model::manifest::OCI_MANIFEST.into(),
        is_index: false,
        entries: vec![RemoteEntry {
            digest: entry.clone(),
            media_type: runref::model::manifest::OCI_MANIFEST.into(),
            size: 1,
            index_platform: None,
            platform: None,
            attestation: false,
            attests: None,
            lacks_variant: false,
            config: Some(config.clone()),
            config_platform: None,
            layers: vec![],
            error: None,
        }],
    }
}

fn per_arch(c: char) -> String {
    format!("{REPO}@{}", d(c))
}

// --- daemon mode -----------------------------------------------------------------------------

#[test]
fn never_classic_per_arch_digest_matches_by_repository_with_warning() {
    let inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/arm64/v8",
        &per_arch('3'),
    );
    let local = image(
        &d('c'),
        "linux/arm64/v8",
        &[&format!("{REPO}:multi")],
        &[per_arch('1')],
    );
    let w = World {
        repo: vec![local.clone()],
        ..Default::default()
    };
    let (step, needs) = run(&inp, &w);
    no_registry(&needs);
    let o = outcome(step);
    assert_eq!(o.reason, Reason::MatchedByRepositoryAndPlatform);
    assert_eq!(o.reference, "c".repeat(64));
    assert!(
        matches!(
            &o.warnings[0],
            Warning::MatchedOnly {
                next: Unproven::PolicyNever,
                ..
            }
        ),
        "{:?}",
        o.warnings
    );
}

/// A defaulted target (no --platform, no [run-image.target], nothing proved the reference's
/// platform): under never the repository-and-platform match would be two guesses (a newcomer
/// got amd64 written for an arm64 reference): refused with what works, whatever is local.
#[test]
fn never_with_a_defaulted_target_and_other_platforms_local_is_ambiguous() {
    let mut inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/amd64",
        &per_arch('3'),
    );
    inp.platform_given = false;
    let amd = image(
        &d('a'),
        "linux/amd64",
        &[&format!("{REPO}:multi")],
        &[per_arch('1')],
    );
    let arm = image(&d('b'), "linux/arm64", &[], &[per_arch('1')]);
    let w = World {
        repo: vec![amd.clone(), arm],
        ..Default::default()
    };
    let (step, needs) = run(&inp, &w);
    no_registry(&needs);
    let f = failure(step);
    assert_eq!(f.reason(), FailReason::Ambiguous);
    assert!(matches!(f, Failure::UnprovenDefault { .. }), "{f:?}");
    let text = f.to_string();
    assert!(
        text.contains("pass --platform") && text.contains("if-not-present"),
        "{text}"
    );
    // Only the daemon's platform local: still a guess about the reference (podman 5.8 drops
    // the other platform's names), refused the same way; a given target keeps the warned match.
    let w = World {
        repo: vec![amd],
        ..Default::default()
    };
    let (step, _) = run(&inp, &w);
    assert_eq!(failure(step).reason(), FailReason::Ambiguous);
    inp.platform_given = true;
    let (step, _) = run(&inp, &w);
    assert_eq!(outcome(step).reason, Reason::MatchedByRepositoryAndPlatform);
}

#[test]
fn never_podman_per_arch_digest_is_proven_by_repo_digests() {
    let inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/arm64",
        &per_arch('3'),
    );
    let local = image(&d('c'), "linux/arm64", &[], &[per_arch('1'), per_arch('3')]);
    let w = World {
        repo: vec![local],
        ..Default::default()
    };
    let (step, needs) = run(&inp, &w);
    no_registry(&needs);
    assert_eq!(outcome(step).reason, Reason::ProvenByRepoDigests);
}

/// The containerd store with both platforms' content present on an amd64 daemon: the index
/// holds arm64, but the exporter's lookup (no platform) resolves it to amd64. Writing the
/// index ID would build on the wrong run image: refused, whichever proof found the image.
#[test]
fn containerd_index_resolving_to_another_platform_is_never_written() {
    let mut local = containerd();
    for m in local.manifests.iter_mut() {
        m.available = true;
    }
    local.platform = Some("linux/amd64".parse().unwrap());
    let inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/arm64/v8",
        &per_arch('3'),
    );
    let w = World {
        repo: vec![local.clone()],
        ..Default::default()
    };
    let (step, needs) = run(&inp, &w);
    no_registry(&needs);
    let f = failure(step);
    assert_eq!(f.reason(), FailReason::WrongPlatformLookup);
    let Failure::WrongPlatformLookup {
        resolves_to, pull, ..
    } = &f
    else {
        panic!("{f:?}")
    };
    assert_eq!(
        resolves_to.as_ref().map(|p| p.to_string()).as_deref(),
        Some("linux/amd64")
    );
    assert_eq!(
        pull.as_ref().map(|r| r.to_string()),
        Some(per_arch('3')),
        "names what to pull: {f:?}"
    );
    // The same index found directly by its tag.
    let inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/arm64/v8",
        &format!("{REPO}:multi"),
    );
    let w = World {
        by_reference: Some(local),
        ..Default::default()
    };
    assert_eq!(
        failure(run(&inp, &w).0).reason(),
        FailReason::WrongPlatformLookup
    );
}

/// Engine 20.10, classic store.
fn classic_daemon() -> runref::model::local::DaemonInfo {
    runref::model::local::DaemonInfo {
        engine: runref::model::local::Engine::Docker,
        version: "20.10.24".into(),
        api_version: "1.41".into(),
        platform: Some("linux/amd64".parse().unwrap()),
        containerd_store: false,
    }
}

/// An Engine with the containerd store at `api`.
fn containerd_daemon(api: &str) -> runref::model::local::DaemonInfo {
    runref::model::local::DaemonInfo {
        engine: runref::model::local::Engine::Docker,
        version: "28.5.2".into(),
        api_version: api.into(),
        platform: Some("linux/amd64".parse().unwrap()),
        containerd_store: true,
    }
}

/// The same index on an Engine that can export one platform (API >= 1.48): a single-platform
/// record is made, with no registry contact, under every policy, and its ID is written.
#[test]
fn containerd_index_of_both_platforms_is_materialized_without_the_registry() {
    let mut local = containerd();
    for m in local.manifests.iter_mut() {
        m.available = true;
    }
    local.platform = Some("linux/amd64".parse().unwrap());
    let record = image(&d('3'), "linux/arm64/v8", &[], &[]);
    for policy in [PullPolicy::Never, PullPolicy::IfNotPresent] {
        let inp = input(Mode::Daemon, policy, "linux/arm64/v8", &per_arch('3'));
        let w = World {
            repo: vec![local.clone()],
            daemon: Some(containerd_daemon("1.51")),
            materialize: Some(Ok(record.clone())),
            ..Default::default()
        };
        let (step, needs) = run(&inp, &w);
        no_registry(&needs);
        assert!(
            matches!(&needs.last(), Some(Need::Materialize { manifest, .. }) if manifest == &d('3')),
            "{needs:?}"
        );
        assert_eq!(outcome(step).reference, "3".repeat(64), "the record's ID");
    }
    // Below API 1.48 the daemon cannot: if-not-present pulls the per-arch digest, never fails.
    let w = World {
        repo: vec![local.clone()],
        daemon: Some(containerd_daemon("1.45")),
        pull: Some(Ok(())),
        after_pull: Some(record.clone()),
        ..Default::default()
    };
    let inp = input(
        Mode::Daemon,
        PullPolicy::IfNotPresent,
        "linux/arm64/v8",
        &per_arch('3'),
    );
    let (step, needs) = run(&inp, &w);
    assert!(
        needs.contains(&Need::Pull(per_arch('3').parse().unwrap())),
        "{needs:?}"
    );
    assert_eq!(outcome(step).reference, "3".repeat(64));
    let inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/arm64/v8",
        &per_arch('3'),
    );
    assert_eq!(
        failure(run(&inp, &w).0).reason(),
        FailReason::WrongPlatformLookup
    );
}

#[test]
fn never_containerd_per_arch_digest_is_proven_by_manifests() {
    let local = containerd();
    assert_eq!(
        local.descriptor,
        Some(d('1')),
        "containerd store: Id/Descriptor = index digest"
    );
    assert_eq!(local.manifests.len(), 4);
    assert!(local.manifests.iter().filter(|m| m.attestation).count() == 2);
    let inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/arm64/v8",
        &per_arch('3'),
    );
    let w = World {
        repo: vec![local.clone()],
        ..Default::default()
    };
    let (step, needs) = run(&inp, &w);
    no_registry(&needs);
    let o = outcome(step);
    assert_eq!(o.reason, Reason::ProvenByContainerdManifests);
    assert_eq!(
        o.reference,
        "1".repeat(64),
        "the containerd store's image ID is the index digest"
    );
}

#[test]
fn never_containerd_entry_not_available_is_wrong_platform() {
    // amd64 entry (2…) is listed but not pulled: not this image for amd64.
    let inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/amd64",
        &per_arch('2'),
    );
    let w = World {
        repo: vec![containerd()],
        ..Default::default()
    };
    let (step, needs) = run(&inp, &w);
    no_registry(&needs);
    assert_eq!(failure(step).reason(), FailReason::WrongPlatformInDaemon);
}

#[test]
fn if_not_present_classic_is_proven_by_the_registry_config_digest() {
    let inp = input(
        Mode::Daemon,
        PullPolicy::IfNotPresent,
        "linux/arm64",
        &per_arch('3'),
    );
    let local = image(&d('c'), "linux/arm64", &[], &[per_arch('1')]);
    let w = World {
        repo: vec![local],
        remote: Some(Ok(remote_entry(&d('3'), &d('c')))),
        ..Default::default()
    };
    let (step, needs) = run(&inp, &w);
    assert_eq!(
        needs
            .iter()
            .filter(|n| matches!(n, Need::Remote { .. }))
            .count(),
        1
    );
    assert!(!needs.iter().any(|n| matches!(n, Need::Pull(_))));
    // A config-digest ID is never a recorded manifest digest: the store does not matter.
    assert!(!needs.contains(&Need::DaemonInfo), "{needs:?}");
    assert_eq!(outcome(step).reason, Reason::ProvenByConfigDigest);
}

#[test]
fn if_not_present_classic_other_config_pulls_the_digest() {
    let inp = input(
        Mode::Daemon,
        PullPolicy::IfNotPresent,
        "linux/arm64",
        &per_arch('3'),
    );
    let stale = image(&d('b'), "linux/arm64", &[], &[per_arch('1')]);
    let fresh = image(&d('c'), "linux/arm64", &[], &[per_arch('3')]);
    let w = World {
        repo: vec![stale],
        remote: Some(Ok(remote_entry(&d('3'), &d('c')))),
        pull: Some(Ok(())),
        after_pull: Some(fresh),
        ..Default::default()
    };
    let (step, needs) = run(&inp, &w);
    assert!(
        needs.contains(&Need::Pull(per_arch('3').parse().unwrap())),
        "{needs:?}"
    );
    let o = outcome(step);
    assert_eq!((o.reason, o.reference), (Reason::Pulled, "c".repeat(64)));
}

#[test]
fn if_not_present_registry_unavailable_falls_back_with_warning() {
    let inp = input(
        Mode::Daemon,
        PullPolicy::IfNotPresent,
        "linux/arm64",
        &per_arch('3'),
    );
    let local = image(&d('c'), "linux/arm64", &[&format!("{REPO}:1")], &[]);
    let w = World {
        repo: vec![local],
        remote: Some(Err(RemoteFailure {
            not_found: false,
            detail: "connection refused".into(),
        })),
        ..Default::default()
    };
    let (step, _) = run(&inp, &w);
    let o = outcome(step);
    assert_eq!(o.reason, Reason::MatchedByRepositoryAndPlatform);
    assert!(o.warnings.iter().any(
        |w| matches!(w, Warning::RegistryCannotTell { detail, .. } if detail.contains("connection refused"))
    ));
}

#[test]
fn never_nothing_local_fails_with_the_pull_command() {
    let inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/arm64",
        &per_arch('3'),
    );
    let (step, needs) = run(&inp, &World::default());
    no_registry(&needs);
    let f = failure(step);
    assert_eq!(f.reason(), FailReason::NotInDaemon);
    let Failure::NotInDaemon { target, .. } = &f else {
        panic!("{f:?}")
    };
    assert!(
        matches!(&target.next, NextPull::Pull { reference, never: true } if reference.to_string() == per_arch('3')),
        "{f:?}"
    );
    assert!(
        f.to_string().contains(&format!(
            "docker pull --platform linux/arm64 {}",
            per_arch('3')
        )),
        "{f}"
    );
}

/// Nothing of the run image in the daemon: the "only the default" hint points at another
/// platform the daemon holds, so it is not given here, defaulted target or not (a newcomer
/// pass found it added to every such failure by the typed rewrite, an image ID included).
#[test]
fn nothing_in_the_daemon_says_so_without_the_default_platform_hint() {
    let id = "a".repeat(64);
    let mut inp = input(Mode::Daemon, PullPolicy::Never, "linux/amd64", &id);
    inp.platform_given = false;
    let f = failure(run(&inp, &World::default()).0);
    assert_eq!(
        f.to_string(),
        format!("the daemon does not have the run image {id}; load or pull the run image for that platform")
    );
    // With images of other platforms it is named, as before.
    let w = World {
        repo: vec![image(&d('b'), "linux/arm64", &[&format!("{REPO}:1")], &[])],
        ..Default::default()
    };
    let mut inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/amd64",
        &per_arch('3'),
    );
    inp.platform_given = false;
    let f = failure(run(&inp, &w).0).to_string();
    assert!(f.contains("linux/amd64 is only the default"), "{f}");
}

#[test]
fn image_id_already_right_is_unchanged() {
    let id = "c".repeat(64);
    let inp = input(Mode::Daemon, PullPolicy::Never, "linux/amd64", &id);
    let w = World {
        by_reference: Some(image(&d('c'), "linux/amd64", &[], &[])),
        ..Default::default()
    };
    let (step, needs) = run(&inp, &w);
    assert!(needs.is_empty());
    let o = outcome(step);
    assert_eq!((o.reason, o.reference), (Reason::AlreadyDaemonId, id));
}

#[test]
fn image_id_of_the_wrong_platform_fails() {
    let inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/arm64",
        &"c".repeat(64),
    );
    let w = World {
        by_reference: Some(image(&d('c'), "linux/amd64", &[], &[])),
        ..Default::default()
    };
    let f = failure(run(&inp, &w).0);
    assert_eq!(f.reason(), FailReason::WrongPlatformInDaemon);
    assert!(
        matches!(&f, Failure::WrongPlatformInDaemon { held, .. } if held.platform.as_ref().map(|p| p.to_string()).as_deref() == Some("linux/amd64")),
        "{f:?}"
    );
}

#[test]
fn two_unprovable_candidates_are_ambiguous() {
    let inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/arm64",
        &per_arch('3'),
    );
    let a = image(&d('a'), "linux/arm64", &[&format!("{REPO}:1")], &[]);
    let b = image(&d('b'), "linux/arm64", &[&format!("{REPO}:2")], &[]);
    let w = World {
        repo: vec![a, b],
        ..Default::default()
    };
    let f = failure(run(&inp, &w).0);
    assert_eq!(f.reason(), FailReason::Ambiguous);
    let Failure::Ambiguous { candidates, .. } = &f else {
        panic!("{f:?}")
    };
    let ids: Vec<String> = candidates.iter().map(|i| i.to_string()).collect();
    assert!(
        ids.contains(&"a".repeat(64)) && ids.contains(&"b".repeat(64)),
        "{ids:?}"
    );
}

#[test]
fn a_tagged_candidate_beats_a_superseded_untagged_pull() {
    let inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/arm64",
        &per_arch('3'),
    );
    let old = image(&d('a'), "linux/arm64", &[], &[per_arch('7')]);
    let new = image(
        &d('b'),
        "linux/arm64",
        &[&format!("{REPO}:jammy")],
        &[per_arch('8')],
    );
    let w = World {
        repo: vec![old, new],
        ..Default::default()
    };
    let o = outcome(run(&inp, &w).0);
    assert_eq!(
        (o.reason, o.reference),
        (Reason::MatchedByRepositoryAndPlatform, "b".repeat(64))
    );
    assert!(o.warnings.iter().any(|w| matches!(
        w,
        Warning::IgnoredUntagged { images, .. } if images.iter().any(|i| i.to_string() == "a".repeat(64))
    )));
}

#[test]
fn always_does_not_pull_a_daemon_only_image() {
    let name = "quay.io/stilettos/myrunimage:1.0";
    let inp = input(Mode::Daemon, PullPolicy::Always, "linux/amd64", name);
    let w = World {
        by_reference: Some(image(&d('c'), "linux/amd64", &[name], &[])),
        ..Default::default()
    };
    let (step, needs) = run(&inp, &w);
    no_registry(&needs);
    let o = outcome(step);
    assert_eq!(o.reason, Reason::DaemonOnlyNotPulled);
    assert!(
        matches!(&o.warnings[0], Warning::DaemonOnlyNotPulled { .. }),
        "{:?}",
        o.warnings
    );
}

#[test]
fn always_pulls_a_registry_image_then_checks_it() {
    let tag = format!("{REPO}:multi");
    let inp = input(Mode::Daemon, PullPolicy::Always, "linux/arm64", &tag);
    let before = image(&d('b'), "linux/arm64", &[&tag], &[per_arch('1')]);
    let after = image(&d('c'), "linux/arm64", &[&tag], &[per_arch('9')]);
    let w = World {
        by_reference: Some(before),
        pull: Some(Ok(())),
        after_pull: Some(after),
        remote: Some(Ok(remote_entry(&d('3'), &d('c')))),
        ..Default::default()
    };
    let (step, needs) = run(&inp, &w);
    // Whether RepoDigests mean "pulled" depends on the store: the daemon is asked first.
    assert_eq!(needs[0], Need::DaemonInfo);
    assert_eq!(needs[1], Need::Pull(tag.parse().unwrap()));
    // The check fetches by the digest the daemon recorded, not the (movable) tag.
    assert!(
        matches!(&needs[2], Need::Remote { reference, .. } if reference.to_string() == per_arch('9')),
        "{needs:?}"
    );
    assert_eq!(outcome(step).reason, Reason::Pulled);
}

#[test]
fn always_pull_that_kept_another_platform_fails() {
    let tag = format!("{REPO}:multi");
    let inp = input(Mode::Daemon, PullPolicy::Always, "linux/arm64", &tag);
    let w = World {
        by_reference: Some(image(&d('b'), "linux/amd64", &[&tag], &[per_arch('1')])),
        pull: Some(Ok(())),
        after_pull: Some(image(&d('b'), "linux/amd64", &[&tag], &[per_arch('1')])),
        ..Default::default()
    };
    let f = failure(run(&inp, &w).0);
    assert_eq!(f.reason(), FailReason::PulledWrongImage);
    assert!(matches!(f, Failure::PulledOtherPlatform { .. }), "{f:?}");
    assert!(f.to_string().contains("moby#40520"));
}

#[test]
fn always_pull_failure_fails() {
    let inp = input(
        Mode::Daemon,
        PullPolicy::Always,
        "linux/arm64",
        &format!("{REPO}:multi"),
    );
    let w = World {
        pull: Some(Err("manifest unknown".into())),
        ..Default::default()
    };
    let f = failure(run(&inp, &w).0);
    assert_eq!(f.reason(), FailReason::PullFailed);
    assert!(
        matches!(&f, Failure::PullFailed { detail, daemon_trust: false, .. } if detail == "manifest unknown"),
        "{f:?}"
    );
    assert!(!f.to_string().contains("certs.d"), "{f}");
    // The daemon's own trust failed (runref's --cert-dir does not reach it): said so.
    let w = World {
        pull: Some(Err(
            "Get \"https://r.example:5000/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority".into(),
        )),
        ..Default::default()
    };
    let f = failure(run(&inp, &w).0);
    assert!(
        matches!(
            f,
            Failure::PullFailed {
                daemon_trust: true,
                ..
            }
        ),
        "{f:?}"
    );
    let text = f.to_string();
    assert!(
        text.contains("the daemon itself could not verify")
            && text.contains("/etc/docker/certs.d/HOST:PORT/ca.crt"),
        "{text}"
    );
}

#[test]
fn lookup_by_image_name_when_reference_is_unknown_id() {
    let mut inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/arm64",
        &"e".repeat(64),
    );
    inp.image = Some(format!("{REPO}:jammy").parse().unwrap());
    let w = World {
        by_image: Some(image(&d('c'), "linux/arm64", &[], &[])),
        ..Default::default()
    };
    let o = outcome(run(&inp, &w).0);
    assert_eq!(
        (o.reason, o.reference),
        (Reason::DaemonHoldsImageName, "c".repeat(64))
    );
}

#[test]
fn tag_present_locally_needs_nothing_else() {
    let tag = format!("{REPO}:1");
    let inp = input(Mode::Daemon, PullPolicy::IfNotPresent, "linux/amd64", &tag);
    let w = World {
        by_reference: Some(image(&d('c'), "linux/amd64", &[&tag], &[])),
        ..Default::default()
    };
    let (step, needs) = run(&inp, &w);
    assert!(needs.is_empty());
    assert_eq!(outcome(step).reason, Reason::DaemonHoldsReference);
}

#[test]
fn extend_keeps_a_digest_and_never_cannot_resolve_a_tag() {
    let mut inp = input(
        Mode::Daemon,
        PullPolicy::IfNotPresent,
        "linux/amd64",
        &per_arch('3'),
    );
    inp.extend = true;
    let o = outcome(run(&inp, &World::default()).0);
    assert_eq!(
        (o.reason, o.reference),
        (Reason::ExtendKeepsRegistryDigest, per_arch('3'))
    );
    let mut inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/amd64",
        &format!("{REPO}:1"),
    );
    inp.extend = true;
    assert_eq!(
        failure(run(&inp, &World::default()).0).reason(),
        FailReason::RegistryForbidden
    );
}

// --- registry mode ---------------------------------------------------------------------------

fn index_remote(platforms: &[(&str, char)], attest: bool) -> RemoteView {
    let mut entries: Vec<serde_json::Value> = platforms
        .iter()
        .map(|(p, c)| {
            let parts: Vec<&str> = p.split('/').collect();
            serde_json::json!({"mediaType": runref::model::manifest::OCI_MANIFEST, "digest": d(*c).to_string(), "size": 1,
                "platform": {"os": parts[0], "architecture": parts[1]}})
        })
        .collect();
    if attest {
        entries.insert(0, serde_json::json!({"mediaType": runref::model::manifest::OCI_MANIFEST, "digest": d('f').to_string(), "size": 1,
            "annotations": {"vnd.docker.reference.type": "attestation-manifest"}, "platform": {"os": "linux", "architecture": "arm64"}}));
    }
    let body =
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": entries})).unwrap();
    let Manifest::Index(idx) = Manifest::parse(&body, None).unwrap() else {
        panic!()
    };
    RemoteView {
        reference: format!("{REPO}@{}", d('1')).parse().unwrap(),
        resolved_from: None,
        digest: d('1'),
        media_type: runref::model::manifest::OCI_INDEX.into(),
        is_index: true,
        entries: idx
            .manifests
            .iter()
            .map(|m| RemoteEntry::from_descriptor(m).unwrap())
            .collect(),
    }
}

#[test]
fn registry_mode_resolves_the_index_entry_never_the_attestation() {
    let inp = input(
        Mode::Registry,
        PullPolicy::IfNotPresent,
        "linux/arm64/v8",
        &format!("{REPO}:multi"),
    );
    let w = World {
        remote: Some(Ok(index_remote(
            &[("linux/amd64", '2'), ("linux/arm64", '3')],
            true,
        ))),
        ..Default::default()
    };
    let (step, needs) = run(&inp, &w);
    assert!(
        matches!(&needs[0], Need::Remote { reference, .. } if reference.to_string() == format!("{REPO}:multi"))
    );
    let o = outcome(step);
    assert_eq!(
        (o.reason, o.reference),
        (Reason::RegistryResolved, per_arch('3'))
    );
}

#[test]
fn registry_mode_already_right_and_missing_platform() {
    let inp = input(
        Mode::Registry,
        PullPolicy::IfNotPresent,
        "linux/arm64",
        &per_arch('3'),
    );
    let mut r = remote_entry(&d('3'), &d('c'));
    r.entries[0].config_platform = Some("linux/arm64".parse().unwrap());
    let o = outcome(
        run(
            &inp,
            &World {
                remote: Some(Ok(r.clone())),
                ..Default::default()
            },
        )
        .0,
    );
    assert_eq!(
        (o.reason, o.reference),
        (Reason::AlreadyPlatformDigest, per_arch('3'))
    );
    r.entries[0].config_platform = Some("linux/amd64".parse().unwrap());
    let f = failure(
        run(
            &inp,
            &World {
                remote: Some(Ok(r)),
                ..Default::default()
            },
        )
        .0,
    );
    assert_eq!(f.reason(), FailReason::NoEntryForPlatform);
    let inp = input(
        Mode::Registry,
        PullPolicy::IfNotPresent,
        "linux/s390x",
        &format!("{REPO}:multi"),
    );
    let w = World {
        remote: Some(Ok(index_remote(&[("linux/amd64", '2')], true))),
        ..Default::default()
    };
    let f = failure(run(&inp, &w).0);
    assert!(
        matches!(&f, Failure::NoEntry { has, .. } if has == &["linux/amd64".to_string()]),
        "{f:?}"
    );
    assert!(f.to_string().contains("it has: linux/amd64"), "{f}");
}

#[test]
fn registry_mode_never_and_ids() {
    let inp = input(
        Mode::Registry,
        PullPolicy::Never,
        "linux/arm64",
        &per_arch('3'),
    );
    let (step, needs) = run(&inp, &World::default());
    no_registry(&needs);
    assert_eq!(outcome(step).reason, Reason::KeptWithoutRegistry);
    let inp = input(
        Mode::Registry,
        PullPolicy::Never,
        "linux/arm64",
        &format!("{REPO}:1"),
    );
    assert_eq!(
        failure(run(&inp, &World::default()).0).reason(),
        FailReason::RegistryForbidden
    );
    let inp = input(
        Mode::Registry,
        PullPolicy::IfNotPresent,
        "linux/arm64",
        &"c".repeat(64),
    );
    assert_eq!(
        failure(run(&inp, &World::default()).0).reason(),
        FailReason::NeedsRegistryName
    );
}

#[test]
fn registry_failure_is_reported() {
    let inp = input(
        Mode::Registry,
        PullPolicy::Always,
        "linux/arm64",
        &format!("{REPO}:1"),
    );
    let w = World {
        remote: Some(Err(RemoteFailure {
            not_found: true,
            detail: "manifest unknown".into(),
        })),
        ..Default::default()
    };
    let f = failure(run(&inp, &w).0);
    assert_eq!(f.reason(), FailReason::RegistryFailed);
    assert!(
        matches!(&f, Failure::RegistryFailed { reference, detail, .. } if detail == "manifest unknown" && reference.to_string().starts_with(REPO)),
        "{f:?}"
    );
}

#[test]
fn reference_helpers_used_by_the_table() {
    let r: Reference = REPO.parse().unwrap();
    assert!(image(&d('c'), "linux/arm64", &[], &[per_arch('1')]).known_to_registry(&r));
    assert!(!image(&d('c'), "linux/arm64", &[&format!("{REPO}:1")], &[]).known_to_registry(&r));
}

/// always, containerd store: RepoDigests prove nothing, so the registry is asked whether the
/// name was ever pushed. 404 or no answer => the local image, never a pull; found => a pull.
#[test]
fn always_on_the_containerd_store_asks_the_registry_before_pulling() {
    let local = image(
        &d('5'),
        "linux/arm64",
        &["127.0.0.1:5055/run:1.0"],
        &[format!("{REPO}@{}", d('5'))],
    );
    let inp = input(
        Mode::Daemon,
        PullPolicy::Always,
        "linux/arm64",
        &format!("{REPO}:1.0"),
    );
    let base = World {
        by_reference: Some(local.clone()),
        daemon: Some(containerd_daemon("1.51")),
        ..Default::default()
    };
    for (not_found, note) in [(true, false), (false, true)] {
        let w = World {
            remote: Some(Err(RemoteFailure {
                not_found,
                detail: "connection refused".into(),
            })),
            ..base.clone()
        };
        let (step, needs) = run(&inp, &w);
        assert!(
            matches!(needs.as_slice(), [Need::Remote { .. }]),
            "{needs:?}"
        );
        let o = outcome(step);
        assert_eq!(o.reason, Reason::DaemonOnlyNotPulled);
        assert_eq!(o.reference, "5".repeat(64));
        assert_eq!(
            o.warnings.iter().any(|w| matches!(
                w,
                Warning::PushedUnknown { detail, .. } if detail.contains("connection refused")
            )),
            note,
            "{:?}",
            o.warnings
        );
    }
    let w = World {
        remote: Some(Ok(remote_entry(&d('5'), &d('c')))),
        pull: Some(Err("the fake daemon does not pull".into())),
        ..base
    };
    let (step, needs) = run(&inp, &w);
    assert!(
        needs.iter().any(|n| matches!(n, Need::Pull(_))),
        "{needs:?}"
    );
    assert_eq!(failure(step).reason(), FailReason::PullFailed);
}

/// A pull that reports success but leaves nothing: the message does not advise the policy
/// already in use.
#[test]
fn a_pull_that_brings_nothing_does_not_advise_the_policy_in_use() {
    let inp = input(
        Mode::Daemon,
        PullPolicy::IfNotPresent,
        "linux/arm64",
        &per_arch('3'),
    );
    let w = World {
        pull: Some(Ok(())),
        ..Default::default()
    };
    let f = failure(run(&inp, &w).0);
    assert_eq!(f.reason(), FailReason::NotInDaemon);
    assert!(
        matches!(&f, Failure::NotInDaemon { target, .. } if matches!(target.next, NextPull::Pull { never: false, .. })),
        "{f:?}"
    );
    let text = f.to_string();
    assert!(!text.contains("--pull-policy if-not-present"), "{text}");
    assert!(text.contains("did not bring it"), "{text}");
    let never = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/arm64",
        &per_arch('3'),
    );
    let f = failure(run(&never, &World::default()).0);
    assert!(
        matches!(&f, Failure::NotInDaemon { target, .. } if matches!(target.next, NextPull::Pull { never: true, .. })),
        "{f:?}"
    );
    assert!(
        f.to_string().contains("--pull-policy if-not-present"),
        "{f}"
    );
}

// --- narrowest question first (issue 11) -------------------------------------------------------

/// The `[run-image] image` tag, tagged in the repository and of the platform, settles the
/// per-arch case without listing the daemon's images: under never by repository and platform,
/// under if-not-present by the registry's config digest; a stale tag falls back to the list.
#[test]
fn the_image_tag_is_asked_before_any_list() {
    let tag = format!("{REPO}:multi");
    let tagged = image(&d('c'), "linux/arm64", &[&tag], &[per_arch('1')]);
    let mut inp = input(
        Mode::Daemon,
        PullPolicy::Never,
        "linux/arm64",
        &per_arch('3'),
    );
    inp.image = Some(tag.parse().unwrap());
    let w = World {
        by_image: Some(tagged.clone()),
        repo: vec![tagged.clone()],
        ..Default::default()
    };
    let (step, needs) = run(&inp, &w);
    assert!(
        !needs.iter().any(|n| matches!(n, Need::RepoImages(_))),
        "{needs:?}"
    );
    no_registry(&needs);
    assert_eq!(outcome(step).reason, Reason::MatchedByRepositoryAndPlatform);

    inp.policy = PullPolicy::IfNotPresent;
    let w = World {
        remote: Some(Ok(remote_entry(&d('3'), &d('c')))),
        ..w
    };
    let (step, needs) = run(&inp, &w);
    assert!(
        !needs.iter().any(|n| matches!(n, Need::RepoImages(_))),
        "{needs:?}"
    );
    assert_eq!(outcome(step).reason, Reason::ProvenByConfigDigest);

    // The tag holds another platform: the list is asked, and finds the arm64 image.
    let amd = image(&d('a'), "linux/amd64", &[&tag], &[]);
    let arm = image(&d('c'), "linux/arm64", &[], &[per_arch('1')]);
    inp.policy = PullPolicy::Never;
    let w = World {
        by_image: Some(amd),
        repo: vec![arm],
        ..Default::default()
    };
    let (step, needs) = run(&inp, &w);
    assert!(
        needs.iter().any(|n| matches!(n, Need::RepoImages(_))),
        "{needs:?}"
    );
    assert_eq!(outcome(step).reference, "c".repeat(64));
}
