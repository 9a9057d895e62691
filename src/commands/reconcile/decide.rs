//! The decision: facts in, next step out. Pure: no I/O, no clock, testable without a daemon.
//!
//! [`decide`] is called repeatedly by the driver. Each call either asks for one more fact
//! ([`Step::Need`]) or ends with an [`Outcome`] or a [`Failure`]. A fact is asked for at most
//! once, so the loop always ends. The table it implements is in spec-notes.md.

use super::why::{Failure, NextPull, Target, Unproven, Warning};
use crate::model::digest::{Digest, ImageId};
use crate::model::local::Held;
use crate::model::local::{DaemonInfo, LocalImage};
use crate::model::platform::Platform;
use crate::model::policy::PullPolicy;
use crate::model::proof::{prove, Proof};
use crate::model::reference::{ImageRef, Reference};
use crate::model::view::{Depth, RemoteView};

/// Where the run image is exported to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The export goes to a daemon: the reference must be something the daemon holds.
    Daemon,
    /// The export goes to a registry: the reference must be `repo@<per-platform manifest>`.
    Registry,
}

/// What the decision is about.
#[derive(Debug, Clone)]
pub struct Input {
    pub mode: Mode,
    pub policy: PullPolicy,
    pub platform: Platform,
    /// `[run-image] reference` as it is now.
    pub reference: ImageRef,
    /// `[run-image] image`, when the platform API writes it.
    pub image: Option<Reference>,
    /// `[run-image] extend`.
    pub extend: bool,
    /// The platform was given (`--platform` or `[run-image.target]`) or proven by the
    /// reference itself, not defaulted.
    pub platform_given: bool,
    /// The platform the reference's digest is proven to be (see [`super::target`]), when known.
    /// A pull by that digest can never bring another platform.
    pub reference_platform: Option<Platform>,
}

impl Input {
    /// The registry name of the run image: `image` when set, else the reference's name.
    pub fn name(&self) -> Option<&Reference> {
        match (&self.image, &self.reference) {
            (Some(i), _) => Some(i),
            (None, ImageRef::Name(r)) => Some(r),
            (None, ImageRef::Id(_)) => None,
        }
    }

    fn reference_digest(&self) -> Option<&Digest> {
        match &self.reference {
            ImageRef::Name(r) => r.digest(),
            ImageRef::Id(_) => None,
        }
    }

    /// The reference is proven to be another platform's manifest than the target.
    fn reference_contradicts(&self) -> Option<&Platform> {
        self.reference_platform
            .as_ref()
            .filter(|q| *q != &self.platform)
    }
}

/// A daemon lookup.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Lookup {
    #[default]
    NotAsked,
    Absent,
    Found(Box<LocalImage>),
}

impl Lookup {
    pub fn found(&self) -> Option<&LocalImage> {
        match self {
            Lookup::Found(i) => Some(i),
            _ => None,
        }
    }
}

/// A failed registry lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteFailure {
    pub not_found: bool,
    /// The registry's error, in the adapter's words (a fact the failure quotes).
    pub detail: String,
}

/// Everything gathered so far.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The daemon itself (daemon mode): store, API level, platform.
    pub daemon: Option<DaemonInfo>,
    /// The daemon's answer for `[run-image] reference`.
    pub by_reference: Lookup,
    /// The daemon's answer for `[run-image] image`.
    pub by_image: Lookup,
    /// Local images of the run image's repository (`None`: not asked).
    pub repo_images: Option<Vec<LocalImage>>,
    pub remote: Option<Result<RemoteView, RemoteFailure>>,
    pub pulled: Option<Result<(), String>>,
    /// The single-platform record made of a multi-platform image (containerd store).
    pub materialized: Option<Result<LocalImage, String>>,
}

/// A fact the decision needs next.
#[derive(Debug, Clone, PartialEq)]
pub enum Need {
    /// Ask the daemon about itself (`/info`): a rule depends on its store or API level, and
    /// the answers so far did not settle them.
    DaemonInfo,
    /// Inspect every local image of this repository.
    RepoImages(Reference),
    /// Resolve this reference in the registry, as deep as `depth`.
    Remote { reference: Reference, depth: Depth },
    /// Pull this reference for the target platform, then inspect again.
    Pull(Reference),
    /// Make a single-platform image record of `image` for `platform`, whose ID will be
    /// `manifest` (containerd store, API >= 1.48; no registry contact).
    Materialize {
        image: ImageId,
        platform: Platform,
        manifest: Digest,
    },
}

/// Why the reference is what it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// The reference is the daemon image ID of a matching image already.
    AlreadyDaemonId,
    /// The daemon resolves the reference itself (tag, or a digest it recorded).
    DaemonHoldsReference,
    /// Found by `[run-image] image`.
    DaemonHoldsImageName,
    /// The per-arch digest is in the local image's RepoDigests (podman).
    ProvenByRepoDigests,
    /// The containerd store lists the per-arch manifest for the local image.
    ProvenByContainerdManifests,
    /// The registry's manifest for the digest has the local image's config digest.
    ProvenByConfigDigest,
    /// Only repository and platform match: no proof available without the registry.
    MatchedByRepositoryAndPlatform,
    /// Pulled for the target platform, then used.
    Pulled,
    /// `always` on an image the daemon only knows locally: not pulled, used as is.
    DaemonOnlyNotPulled,
    /// `extend = true`: the extender needs a registry digest, kept.
    ExtendKeepsRegistryDigest,
    /// Registry mode: resolved to the target platform's manifest.
    RegistryResolved,
    /// Registry mode: the reference is already the target platform's manifest.
    AlreadyPlatformDigest,
    /// Registry mode under `never`: kept without contacting the registry.
    KeptWithoutRegistry,
}

/// How the local image was tied to the reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The new `[run-image] reference`; equal to the old one when nothing changes.
    pub reference: String,
    pub reason: Reason,
    pub local_image: Option<LocalImage>,
    pub warnings: Vec<Warning>,
}

/// The next step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Need(Need),
    Done(Outcome),
    Fail(Box<Failure>),
}

fn fail(f: Failure) -> Step {
    Step::Fail(Box::new(f))
}

fn done(
    reference: String,
    reason: Reason,
    img: Option<&LocalImage>,
    warnings: Vec<Warning>,
) -> Step {
    Step::Done(Outcome {
        reference,
        reason,
        local_image: img.cloned(),
        warnings,
    })
}

fn held(img: &LocalImage) -> Held {
    Held::of(img)
}

/// Decides the next step.
pub fn decide(inp: &Input, f: &Facts) -> Step {
    if inp.extend && inp.mode == Mode::Daemon {
        return decide_extend(inp, f);
    }
    match inp.mode {
        Mode::Daemon => exporter_finds_target(inp, f, decide_daemon(inp, f)),
        Mode::Registry => decide_registry(inp, f, Vec::new()),
    }
}

/// The last rule of daemon mode: the written reference is right only if the exporter's own
/// lookup (an inspect without platform) gives the target platform. On the classic store and
/// podman an image has one platform; on the containerd store an index that holds the target
/// can still resolve to the daemon's own platform. Then a single-platform record of the target
/// is made: by the daemon itself where it can (no registry), else by pulling the per-arch
/// digest where the policy allows; otherwise the case fails, naming what the lookup gives.
fn exporter_finds_target(inp: &Input, f: &Facts, step: Step) -> Step {
    let Step::Done(o) = &step else { return step };
    let Some(img) = &o.local_image else {
        return step;
    };
    let p = &inp.platform;
    if img.resolves_to() == Some(p) {
        return step;
    }
    // The target's own manifest, when the store holds its content.
    let target = img
        .manifests
        .iter()
        .find(|m| !m.attestation && m.available && m.platform.as_ref() == Some(p));
    if let Some(m) = target {
        match &f.materialized {
            Some(Ok(new)) if new.resolves_to() == Some(p) => {
                return done(new.id.to_string(), o.reason, Some(new), o.warnings.clone());
            }
            None if f.daemon.is_none() => return Step::Need(Need::DaemonInfo),
            None if f.daemon.as_ref().is_some_and(DaemonInfo::can_materialize) => {
                return Step::Need(Need::Materialize {
                    image: img.id.clone(),
                    platform: p.clone(),
                    manifest: m.digest.clone(),
                });
            }
            _ => {}
        }
        // The daemon cannot (API < 1.48) or did not: a pull by the per-arch digest makes a
        // separate image whose ID is that digest, when the file names it and the policy allows.
        let may_pull = inp.policy != PullPolicy::Never && f.pulled.is_none();
        if let (true, Some(n), Some(d)) = (may_pull, inp.name(), inp.reference_digest()) {
            if d == &m.digest {
                return Step::Need(Need::Pull(n.with_digest(d)));
            }
        }
    }
    fail(Failure::WrongPlatformLookup {
        platform: p.clone(),
        image: img.id.clone(),
        resolves_to: img.resolves_to().cloned(),
        detail: match &f.materialized {
            Some(Err(e)) => Some(e.clone()),
            _ => None,
        },
        pull: inp
            .name()
            .zip(target)
            .map(|(n, m)| n.with_digest(&m.digest)),
    })
}

fn decide_extend(inp: &Input, f: &Facts) -> Step {
    match &inp.reference {
        ImageRef::Name(r) if r.digest().is_some() => done(
            r.to_string(),
            Reason::ExtendKeepsRegistryDigest,
            None,
            vec![Warning::Extend],
        ),
        _ => decide_registry(inp, f, vec![Warning::Extend]),
    }
}

fn decide_registry(inp: &Input, f: &Facts, mut warnings: Vec<Warning>) -> Step {
    let Some(name) = inp.name() else {
        return fail(Failure::NeedsRegistryName {
            reference: inp.reference.clone(),
        });
    };
    if inp.policy == PullPolicy::Never {
        return match &inp.reference {
            ImageRef::Name(r) if r.digest().is_some() => {
                warnings.push(Warning::KeptUnchecked {
                    reference: r.clone(),
                    platform: inp.platform.clone(),
                });
                done(r.to_string(), Reason::KeptWithoutRegistry, None, warnings)
            }
            _ => fail(Failure::RegistryForbidden {
                name: name.clone(),
                platform: inp.platform.clone(),
            }),
        };
    }
    // Fetch by digest when the reference has one in the same repository: no tag race.
    let target = match &inp.reference {
        ImageRef::Name(r) if r.digest().is_some() && r.same_repository(name) => r.clone(),
        _ => name.clone(),
    };
    let remote = match &f.remote {
        None => {
            return Step::Need(Need::Remote {
                reference: target,
                depth: Depth::Platform(inp.platform.clone()),
            })
        }
        Some(Err(e)) => {
            return fail(Failure::RegistryFailed {
                reference: target,
                platform: inp.platform.clone(),
                detail: e.detail.clone(),
            })
        }
        Some(Ok(r)) => r,
    };
    let Some(entry) = remote.entry_for(&inp.platform) else {
        return no_entry(inp, remote);
    };
    if let Some(cp) = entry.config_platform.as_ref().filter(|_| !remote.is_index) {
        if !inp.platform.matches(cp) {
            return fail(Failure::SinglePlatform {
                reference: remote.reference.clone(),
                is: cp.clone(),
                platform: inp.platform.clone(),
            });
        }
    }
    let new = name.with_digest(&entry.digest).to_string();
    let reason = if inp.reference.to_string() == new {
        Reason::AlreadyPlatformDigest
    } else {
        Reason::RegistryResolved
    };
    done(new, reason, None, warnings)
}

fn no_entry(inp: &Input, remote: &RemoteView) -> Step {
    fail(Failure::NoEntry {
        reference: remote.reference.clone(),
        platform: inp.platform.clone(),
        has: remote.platforms(),
    })
}

fn decide_daemon(inp: &Input, f: &Facts) -> Step {
    let name = inp.name();
    let local = f.by_reference.found().or(f.by_image.found());

    // `always`: pull first, except for daemon-only images (never rewritten from a registry).
    let mut warnings = Vec::new();
    if inp.policy == PullPolicy::Always && f.pulled.is_none() {
        if let (Some(img), Some(n)) = (local, name) {
            // Where every name gets a RepoDigest (containerd store, podman), only the registry
            // can say the name was never pushed: ask it once (always may contact it).
            let Some(info) = &f.daemon else {
                return Step::Need(Need::DaemonInfo);
            };
            let daemon_only = match (&f.remote, img.daemon_only(n, info)) {
                (_, Some(only)) => only,
                (None, None) => {
                    return Step::Need(Need::Remote {
                        reference: n.clone(),
                        depth: Depth::Platform(inp.platform.clone()),
                    })
                }
                (Some(Err(e)), None) if e.not_found => true,
                // It cannot say (unreachable, refused): a pull would fail the same way, so
                // the local image is used, and the warning says why.
                (Some(Err(e)), None) => {
                    warnings.push(Warning::PushedUnknown {
                        name: n.clone(),
                        detail: e.detail.clone(),
                    });
                    true
                }
                (Some(Ok(_)), None) => false,
            };
            if daemon_only {
                warnings.push(Warning::DaemonOnlyNotPulled { name: n.clone() });
                return resolve_local(inp, f, Reason::DaemonOnlyNotPulled, warnings);
            }
        }
        return match pull_reference(inp) {
            Some(r) => Step::Need(Need::Pull(r)),
            None => match local {
                Some(_) => {
                    warnings.push(Warning::NothingToPull {
                        reference: inp.reference.clone(),
                    });
                    resolve_local(inp, f, Reason::AlreadyDaemonId, warnings)
                }
                None => not_in_daemon(inp, f),
            },
        };
    }
    if let Some(Err(e)) = &f.pulled {
        // `never` is advice only when the daemon has an image of the run image to use.
        let has = f.by_reference.found().or(f.by_image.found()).or(f
            .repo_images
            .iter()
            .flatten()
            .next());
        // The daemon verifies the registry with its own trust, not runref's.
        let tls = [
            "x509",
            "certificate",
            "tls:",
            "http: server gave HTTP response to HTTPS",
        ];
        return fail(Failure::PullFailed {
            detail: e.clone(),
            usable: has.filter(|_| inp.policy != PullPolicy::Never).map(held),
            daemon_trust: tls.iter().any(|w| e.contains(w)),
        });
    }
    if inp.policy == PullPolicy::Always {
        if let Some(Ok(())) = &f.pulled {
            return verify_pulled(inp, f);
        }
    }
    resolve_local(inp, f, Reason::DaemonHoldsReference, warnings)
}

/// What to pull: the reference itself when it is a name (by digest when it has one, so the
/// daemon records that digest), else `[run-image] image`.
/// Never by a digest proven to be another platform's manifest: that pull cannot bring the
/// target (the tag in `[run-image] image` can).
fn pull_reference(inp: &Input) -> Option<Reference> {
    match &inp.reference {
        ImageRef::Name(_) if inp.reference_contradicts().is_some() => inp.image.clone(),
        ImageRef::Name(r) => Some(r.clone()),
        ImageRef::Id(_) => inp.image.clone(),
    }
}

/// After `always` pulled: the local image must be the registry's entry for the platform.
fn verify_pulled(inp: &Input, f: &Facts) -> Step {
    let p = &inp.platform;
    let Some(img) = f.by_reference.found().or(f.by_image.found()) else {
        return fail(Failure::PulledNotShown {
            pulled: pull_reference(inp),
            platform: p.clone(),
        });
    };
    if !img.provides(p) {
        return fail(Failure::PulledOtherPlatform {
            held: held(img),
            platform: p.clone(),
        });
    }
    let n = inp.name().cloned();
    // Check against the registry, by the index digest the daemon recorded (no tag race).
    let recorded = n.as_ref().and_then(|n| {
        img.repo_digests
            .iter()
            .find(|r| r.same_repository(n))
            .cloned()
    });
    let target = match (inp.reference_digest(), &recorded, &n) {
        (Some(_), _, _) => pull_reference(inp),
        (None, Some(r), _) => Some(r.clone()),
        (None, None, n) => n.clone(),
    };
    let Some(target) = target else {
        return done(img.id.to_string(), Reason::Pulled, Some(img), vec![]);
    };
    let remote = match &f.remote {
        None => {
            return Step::Need(Need::Remote {
                reference: target,
                depth: Depth::Proof(p.clone()),
            })
        }
        Some(Err(e)) => {
            return done(
                img.id.to_string(),
                Reason::Pulled,
                Some(img),
                vec![Warning::PulledUnchecked {
                    detail: e.detail.clone(),
                }],
            )
        }
        Some(Ok(r)) => r,
    };
    match proof(img, inp, remote) {
        Some(_) => done(img.id.to_string(), Reason::Pulled, Some(img), vec![]),
        None => fail(Failure::PulledNotEntry {
            image: img.id.clone(),
            reference: remote.reference.clone(),
            platform: p.clone(),
            entry: remote.entry_for(p).map(|e| e.digest.clone()),
        }),
    }
}

/// Proof that `img` is the registry's entry for the platform.
fn proof(img: &LocalImage, inp: &Input, remote: &RemoteView) -> Option<Reason> {
    let entry = remote.entry_for(&inp.platform)?;
    let repo = inp.name()?;
    // The local image is this index (containerd store) and the index's entry for the
    // platform is the digest the file names.
    if remote.is_index
        && &remote.digest == img.id.digest()
        && inp.reference_digest().is_none_or(|d| d == &entry.digest)
    {
        return Some(Reason::ProvenByContainerdManifests);
    }
    prove(img, repo, &entry.digest, entry.config.as_ref(), None).map(Reason::from)
}

impl From<Proof> for Reason {
    fn from(p: Proof) -> Reason {
        match p {
            Proof::ConfigDigestIsImageId => Reason::ProvenByConfigDigest,
            Proof::RepoDigests => Reason::ProvenByRepoDigests,
            Proof::ContainerdManifests => Reason::ProvenByContainerdManifests,
        }
    }
}

/// What the rules of [`resolve_local`] share.
struct Ctx<'a> {
    inp: &'a Input,
    f: &'a Facts,
    p: &'a Platform,
    /// The policy allows a pull and none happened yet.
    may_pull: bool,
}

/// A rule for a per-arch digest the daemon does not resolve itself: given the repository,
/// the digest and the local images of that repository for the platform, settle the case or
/// pass (None) to the next rule.
type DigestRule = fn(&Ctx, &Reference, &Digest, &[&LocalImage], &mut Vec<Warning>) -> Option<Step>;

/// The rules for a digest, in the order of the spec-notes table: proofs from the daemon alone
/// first, then from the registry, then the repository-and-platform fallback (always settles).
const DIGEST_RULES: &[DigestRule] = &[
    |ctx, n, d, m, w| daemon_proof(ctx, n, d, m, w, Proof::RepoDigests),
    |ctx, n, d, m, w| daemon_proof(ctx, n, d, m, w, Proof::ContainerdManifests),
    rule_registry_config_digest,
    rule_repository_and_platform,
];

/// Never / if-not-present, or always without a pull: find the local image for the platform.
fn resolve_local(inp: &Input, f: &Facts, found_reason: Reason, mut warnings: Vec<Warning>) -> Step {
    let ctx = Ctx {
        inp,
        f,
        p: &inp.platform,
        may_pull: inp.policy != PullPolicy::Never && f.pulled.is_none(),
    };
    if let Some(step) = rule_direct(&ctx, found_reason, &mut warnings) {
        return step;
    }
    if let (Some(d), Some(n)) = (inp.reference_digest(), inp.name()) {
        let Some(images) = &f.repo_images else {
            if let Some(step) = narrowest_first(&ctx, n, d, &warnings) {
                return step;
            }
            return Step::Need(Need::RepoImages(n.clone()));
        };
        let matching: Vec<&LocalImage> = images.iter().filter(|i| i.provides(ctx.p)).collect();
        for rule in DIGEST_RULES {
            if let Some(step) = rule(&ctx, n, d, &matching, &mut warnings) {
                return step;
            }
        }
    }
    rule_absent(&ctx)
}

/// Before any image list (whose cost grows with the daemon, issue 11): the `[run-image] image`
/// tag, already inspected, when it is tagged in the repository and provides the platform. The
/// restorer resolved the digest from that tag, and a list would prefer this tagged candidate
/// too. The rules run on it alone; a decision or a registry question is taken, a failure
/// falls back to the list (where the rules see every candidate).
fn narrowest_first(ctx: &Ctx, n: &Reference, d: &Digest, warnings: &[Warning]) -> Option<Step> {
    // A defaulted target needs every candidate (another platform's image is a reason to stop).
    if !ctx.inp.platform_given {
        return None;
    }
    let img = ctx
        .f
        .by_image
        .found()
        .filter(|i| i.provides(ctx.p) && i.tagged_in(n))?;
    let mut w = warnings.to_vec();
    for rule in DIGEST_RULES {
        match rule(ctx, n, d, &[img], &mut w) {
            Some(step @ (Step::Done(_) | Step::Need(_))) => return Some(step),
            Some(Step::Fail(_)) => return None,
            None => {}
        }
    }
    None
}

/// The daemon resolves the reference (or, without a digest, `[run-image] image`) itself.
fn rule_direct(ctx: &Ctx, found_reason: Reason, warnings: &mut Vec<Warning>) -> Option<Step> {
    let (inp, f, p) = (ctx.inp, ctx.f, ctx.p);
    let (img, mut reason) = match (f.by_reference.found(), f.by_image.found()) {
        (Some(i), _) => (i, found_reason),
        (None, Some(i)) if inp.reference_digest().is_none() => (
            i,
            if found_reason == Reason::DaemonHoldsReference {
                Reason::DaemonHoldsImageName
            } else {
                found_reason
            },
        ),
        _ => return None,
    };
    if img.provides(p) {
        if matches!(inp.reference, ImageRef::Id(ref id) if id == &img.id)
            && reason == Reason::DaemonHoldsReference
        {
            reason = Reason::AlreadyDaemonId;
        }
        if f.pulled.is_some() {
            reason = Reason::Pulled;
        }
        return Some(done(
            img.id.to_string(),
            reason,
            Some(img),
            std::mem::take(warnings),
        ));
    }
    if ctx.may_pull {
        if let Some(r) = pull_reference(inp) {
            return Some(Step::Need(Need::Pull(r)));
        }
    }
    Some(fail(Failure::WrongPlatformInDaemon {
        reference: inp.reference.clone(),
        held: held(img),
        target: target(inp),
    }))
}

/// The daemon records the digest in RepoDigests (podman), or the containerd store lists it as
/// available content for the platform (`kind`): proofs without the registry.
fn daemon_proof(
    ctx: &Ctx,
    n: &Reference,
    d: &Digest,
    matching: &[&LocalImage],
    warnings: &mut Vec<Warning>,
    kind: Proof,
) -> Option<Step> {
    let img = matching
        .iter()
        .find(|i| prove(i, n, d, None, Some(ctx.p)) == Some(kind))?;
    Some(done(
        img.id.to_string(),
        kind.into(),
        Some(img),
        std::mem::take(warnings),
    ))
}

/// The registry's manifest for the digest names the local image's config (classic store:
/// image ID = config digest). Asks the registry unless the policy forbids it; a mismatch is
/// pulled by digest where the policy allows; a registry failure passes with a warning.
fn rule_registry_config_digest(
    ctx: &Ctx,
    n: &Reference,
    d: &Digest,
    matching: &[&LocalImage],
    warnings: &mut Vec<Warning>,
) -> Option<Step> {
    let (inp, f) = (ctx.inp, ctx.f);
    if inp.policy != PullPolicy::Never && !matching.is_empty() && f.remote.is_none() {
        // containerd store: the local image is the index it was pulled as; one GET of that
        // index by its digest shows whether it lists the per-arch digest for the platform.
        // Elsewhere the per-arch manifest names its config, which is the local image ID.
        // An image whose ID is also a recorded digest of the repository is such an index only
        // on the containerd store (a classic or podman ID is a config digest, never a manifest's
        // digest): only then does the store matter, and `/info` is asked if not known.
        let index = match matching
            .iter()
            .find(|i| i.has_repo_digest(n, i.id.digest()))
        {
            None => None,
            Some(i) => match &f.daemon {
                None => return Some(Step::Need(Need::DaemonInfo)),
                Some(info) => Some(i).filter(|_| info.containerd_store),
            },
        };
        return Some(Step::Need(match index {
            Some(i) => Need::Remote {
                reference: n.with_digest(i.id.digest()),
                depth: Depth::Platform(ctx.p.clone()),
            },
            None => Need::Remote {
                reference: n.with_digest(d),
                depth: Depth::Proof(ctx.p.clone()),
            },
        }));
    }
    match &f.remote {
        Some(Ok(remote)) => {
            if let Some((img, why)) = matching
                .iter()
                .find_map(|i| proof(i, inp, remote).map(|why| (i, why)))
            {
                return Some(done(
                    img.id.to_string(),
                    why,
                    Some(img),
                    std::mem::take(warnings),
                ));
            }
            if ctx.may_pull && inp.reference_contradicts().is_none() {
                return Some(Step::Need(Need::Pull(n.with_digest(d))));
            }
        }
        Some(Err(e)) => warnings.push(Warning::RegistryCannotTell {
            reference: n.with_digest(d),
            detail: e.detail.clone(),
        }),
        None => {}
    }
    if f.pulled.is_none()
        && matching.is_empty()
        && ctx.may_pull
        && inp.reference_contradicts().is_none()
    {
        return Some(Step::Need(Need::Pull(n.with_digest(d))));
    }
    None
}

/// Only repository and platform match: one candidate is used with a warning (the one still
/// tagged when earlier pulls left others), several fail as ambiguous, none pass on.
fn rule_repository_and_platform(
    ctx: &Ctx,
    n: &Reference,
    d: &Digest,
    matching: &[&LocalImage],
    warnings: &mut Vec<Warning>,
) -> Option<Step> {
    let (inp, f, p) = (ctx.inp, ctx.f, ctx.p);
    // Docker moves a tag to the latest pull; an image known only by an old RepoDigest is
    // a superseded pull. Prefer the tagged candidates when that leaves one.
    let tagged: Vec<&LocalImage> = matching
        .iter()
        .copied()
        .filter(|i| i.tagged_in(n))
        .collect();
    let matching: Vec<&LocalImage> = if tagged.len() == 1 && matching.len() > 1 {
        warnings.push(Warning::IgnoredUntagged {
            repo: n.name(),
            images: matching
                .iter()
                .filter(|i| !i.tagged_in(n))
                .map(|i| i.id.clone())
                .collect(),
        });
        tagged
    } else {
        matching.to_vec()
    };
    // The target is only the daemon's platform (nothing proved the reference's platform):
    // matching by repository and a guessed platform is two guesses, and a cross-arch build
    // gets the wrong run image with exit 0 (a newcomer got the amd64 image written for an
    // arm64 reference; podman 5.8 even drops the names of the arm64 image when amd64 is pulled
    // last, so the daemon shows only amd64). Refused with what works.
    if !inp.platform_given && !matching.is_empty() {
        return Some(fail(Failure::UnprovenDefault {
            repo: n.name(),
            candidates: matching.iter().map(|i| i.id.clone()).collect(),
            others: f
                .repo_images
                .iter()
                .flatten()
                .filter(|i| !i.provides(p) && i.platform.is_some())
                .map(held)
                .collect(),
            reference: n.with_digest(d),
            platform: p.clone(),
        }));
    }
    match matching.as_slice() {
        [img] => {
            // Advise what would give the proof: under never, the policy that may ask the
            // registry; when the registry was asked and failed, trying again once it answers.
            let next = match &f.remote {
                Some(Err(_)) => Unproven::RegistryFailed,
                _ if inp.policy == PullPolicy::Never => Unproven::PolicyNever,
                _ => Unproven::RegistryCannot,
            };
            warnings.push(Warning::MatchedOnly {
                image: img.id.clone(),
                reference: n.with_digest(d),
                next,
            });
            Some(done(
                img.id.to_string(),
                Reason::MatchedByRepositoryAndPlatform,
                Some(img),
                std::mem::take(warnings),
            ))
        }
        [] => None,
        many => Some(fail(Failure::Ambiguous {
            repo: n.name(),
            candidates: many.iter().map(|i| i.id.clone()).collect(),
            reference: n.with_digest(d),
            platform: p.clone(),
        })),
    }
}

/// Not there at all: pull where the policy allows, else say what the daemon has.
fn rule_absent(ctx: &Ctx) -> Step {
    if ctx.may_pull {
        if let Some(r) = pull_reference(ctx.inp) {
            return Step::Need(Need::Pull(r));
        }
    }
    not_in_daemon(ctx.inp, ctx.f)
}

/// The next step for a missing image: advice that can work. A pull by a digest proven to be
/// another platform's manifest cannot; a digest whose platform is unknown (no target given,
/// `never`) is only a guess, so the way to learn it comes first; the policy that would pull is
/// named only when it is not the policy in use (a pull that did not bring the image needs a
/// look at the daemon and registry instead).
fn next_pull(inp: &Input) -> NextPull {
    if let (Some(q), ImageRef::Name(r)) = (inp.reference_contradicts(), &inp.reference) {
        return NextPull::OtherPlatformsManifest {
            reference: r.clone(),
            is: q.clone(),
        };
    }
    let Some(n) = inp.name() else {
        return NextPull::LoadOrPull;
    };
    if !inp.platform_given && inp.reference_digest().is_some() && inp.policy == PullPolicy::Never {
        return NextPull::LearnPlatform {
            reference: inp.reference.clone(),
        };
    }
    NextPull::Pull {
        reference: pull_reference(inp).unwrap_or_else(|| n.clone()),
        never: inp.policy == PullPolicy::Never,
    }
}

/// The target of a daemon miss, with the next step.
fn target(inp: &Input) -> Target {
    Target {
        platform: inp.platform.clone(),
        defaulted: !inp.platform_given,
        next: next_pull(inp),
    }
}

fn not_in_daemon(inp: &Input, f: &Facts) -> Step {
    let others: Vec<Held> = f.repo_images.iter().flatten().map(held).collect();
    if !others.is_empty() {
        return fail(Failure::OtherPlatformsInDaemon {
            repo: inp.name().map(|n| n.name()).unwrap_or_default(),
            others,
            target: target(inp),
        });
    }
    fail(Failure::NotInDaemon {
        reference: inp.reference.clone(),
        image: inp.image.clone(),
        target: target(inp),
    })
}
