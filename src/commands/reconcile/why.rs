//! What reconcile says beside its decision, as data: a [`Warning`] (the decision stands, with
//! something the user should know) and a [`Failure`] (no decision). The words are in
//! [`crate::message::reconcile`]; tests match variants and fields, golden files pin the text.

use crate::model::digest::{Digest, ImageId};
use crate::model::local::Held;
use crate::model::platform::Platform;
use crate::model::reference::{ImageRef, Reference};

/// A warning: the decision stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Warning {
    /// pack's interval policy (`hourly`, `interval=…`) acts as if-not-present.
    IntervalPolicy { name: String },
    /// `extend = true`: the reference stays a registry digest.
    Extend,
    /// Registry mode under `never`: the digest kept without asking the registry.
    KeptUnchecked {
        reference: Reference,
        platform: Platform,
    },
    /// `always`: the registry could not say whether the name was ever pushed.
    PushedUnknown { name: Reference, detail: String },
    /// `always`: a daemon-only image is not pulled.
    DaemonOnlyNotPulled { name: Reference },
    /// `always` with only an image ID in the file: nothing to pull.
    NothingToPull { reference: ImageRef },
    /// The registry could not tell which local image the digest is.
    RegistryCannotTell {
        reference: Reference,
        detail: String,
    },
    /// Untagged images of the repository left by earlier pulls were ignored.
    IgnoredUntagged { repo: String, images: Vec<ImageId> },
    /// Only repository and platform tie the image to the reference.
    MatchedOnly {
        image: ImageId,
        reference: Reference,
        next: Unproven,
    },
    /// Pulled, but the registry could not be asked to check it.
    PulledUnchecked { detail: String },
    /// The registry could not say which platform the reference is: the default was taken.
    TargetDefaulted {
        reference: ImageRef,
        platform: Platform,
        detail: String,
    },
    /// Before a pull by the reference's digest, the registry could not say which platform that
    /// digest is: the pull may bring another platform (checked after it).
    PullUnchecked {
        reference: Reference,
        detail: String,
    },
    /// The single-platform record made for the target has no tag.
    UntaggedRecord { id: String },
}

/// What would prove a match made by repository and platform only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unproven {
    /// The registry was asked and failed: run again once it answers.
    RegistryFailed,
    /// `never` forbade asking the registry.
    PolicyNever,
    /// The registry was asked and could not prove it either.
    RegistryCannot,
}

/// The target platform of a daemon miss, and the next step that can work.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub platform: Platform,
    /// The platform is only the default (the daemon's).
    pub defaulted: bool,
    pub next: NextPull,
}

/// How to get the run image for the target into the daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum NextPull {
    /// The reference is another platform's manifest: a pull by it cannot bring the target.
    OtherPlatformsManifest { reference: Reference, is: Platform },
    /// No registry name to pull.
    LoadOrPull,
    /// The reference's platform is unknown without the registry (`never`, no target given).
    LearnPlatform { reference: ImageRef },
    /// `docker pull --platform`; `never` names the policy that would pull, otherwise runref's
    /// own pull did not bring it.
    Pull { reference: Reference, never: bool },
}

/// Why reconciling is impossible.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The daemon holds the target's content, but the exporter's lookup resolves the image to
    /// another platform (containerd store).
    WrongPlatformLookup {
        platform: Platform,
        image: ImageId,
        resolves_to: Option<Platform>,
        /// Why making a single-platform record failed, when it was tried.
        detail: Option<String>,
        /// The per-arch reference whose pull would make one, when the store holds it.
        pull: Option<Reference>,
    },
    /// Registry mode with only an image ID and no `[run-image] image`.
    NeedsRegistryName { reference: ImageRef },
    /// Registry mode under `never` with a reference that needs resolving.
    RegistryForbidden { name: Reference, platform: Platform },
    /// The registry read failed.
    RegistryFailed {
        reference: Reference,
        platform: Platform,
        detail: String,
    },
    /// The image has no entry for the platform.
    NoEntry {
        reference: Reference,
        platform: Platform,
        /// The platforms it has.
        has: Vec<String>,
    },
    /// A single-platform image of another platform.
    SinglePlatform {
        reference: Reference,
        is: Platform,
        platform: Platform,
    },
    /// The pull failed.
    PullFailed {
        detail: String,
        /// A local image the daemon has instead (named unless the policy is `never`).
        usable: Option<Held>,
        /// The daemon could not verify the registry's certificate (its trust, not runref's).
        daemon_trust: bool,
    },
    /// Pulled, but the daemon does not show the image afterwards.
    PulledNotShown {
        pulled: Option<Reference>,
        platform: Platform,
    },
    /// Pulled for the platform, but the daemon holds another one (moby#40520).
    PulledOtherPlatform { held: Held, platform: Platform },
    /// Pulled, but the image is not the registry's entry for the platform.
    PulledNotEntry {
        image: ImageId,
        reference: Reference,
        platform: Platform,
        entry: Option<Digest>,
    },
    /// The daemon resolves the reference to another platform's image.
    WrongPlatformInDaemon {
        reference: ImageRef,
        held: Held,
        target: Target,
    },
    /// The daemon has images of the repository, none for the platform.
    OtherPlatformsInDaemon {
        repo: String,
        others: Vec<Held>,
        target: Target,
    },
    /// The daemon has no image of the run image.
    NotInDaemon {
        reference: ImageRef,
        image: Option<Reference>,
        target: Target,
    },
    /// Images for a defaulted platform, but nothing proves the reference is that platform.
    UnprovenDefault {
        repo: String,
        candidates: Vec<ImageId>,
        /// Images of the repository for other platforms.
        others: Vec<Held>,
        reference: Reference,
        platform: Platform,
    },
    /// Several local images for the platform, none proven.
    Ambiguous {
        repo: String,
        candidates: Vec<ImageId>,
        reference: Reference,
        platform: Platform,
    },
    /// The decision loop ended without settling (a bug).
    Unsettled { need: String },
}

/// The failure's kind, as the JSON report names it (`failure.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailReason {
    NotInDaemon,
    WrongPlatformInDaemon,
    Ambiguous,
    PullFailed,
    PulledWrongImage,
    RegistryFailed,
    NoEntryForPlatform,
    NeedsRegistryName,
    RegistryForbidden,
    /// The daemon holds the target's content, but a lookup without a platform (the
    /// exporter's) resolves the image to another platform (containerd image store).
    WrongPlatformLookup,
}

impl Failure {
    pub fn reason(&self) -> FailReason {
        match self {
            Failure::WrongPlatformLookup { .. } => FailReason::WrongPlatformLookup,
            Failure::NeedsRegistryName { .. } => FailReason::NeedsRegistryName,
            Failure::RegistryForbidden { .. } => FailReason::RegistryForbidden,
            Failure::RegistryFailed { .. } | Failure::Unsettled { .. } => {
                FailReason::RegistryFailed
            }
            Failure::NoEntry { .. } | Failure::SinglePlatform { .. } => {
                FailReason::NoEntryForPlatform
            }
            Failure::PullFailed { .. } => FailReason::PullFailed,
            Failure::PulledNotShown { .. }
            | Failure::PulledOtherPlatform { .. }
            | Failure::PulledNotEntry { .. } => FailReason::PulledWrongImage,
            Failure::WrongPlatformInDaemon { .. } | Failure::OtherPlatformsInDaemon { .. } => {
                FailReason::WrongPlatformInDaemon
            }
            Failure::NotInDaemon { .. } => FailReason::NotInDaemon,
            Failure::UnprovenDefault { .. } | Failure::Ambiguous { .. } => FailReason::Ambiguous,
        }
    }
}
