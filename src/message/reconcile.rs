//! reconcile's warnings and failures in words.

use super::{list, PlatformOr};
use crate::commands::reconcile::decide::Reason;
use crate::commands::reconcile::why::{Failure, NextPull, Target, Unproven, Warning};
use std::fmt;

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::IntervalPolicy { name } => write!(
                f,
                "pull policy {name} acts as if-not-present: runref keeps no record of when an image was last pulled"
            ),
            Warning::Extend => f.write_str(
                "extend = true: the extender pulls the run image from its registry, so the reference stays a registry digest (not a daemon image ID)",
            ),
            Warning::KeptUnchecked { reference, platform } => write!(
                f,
                "pull policy never: {reference} kept without asking the registry whether it is the {platform} manifest"
            ),
            Warning::PushedUnknown { name, detail } => write!(
                f,
                "pull policy always: the registry could not say whether {name} was ever pushed ({detail}); \
                 the local image is used"
            ),
            Warning::DaemonOnlyNotPulled { name } => write!(
                f,
                "pull policy always: {name} was not pulled because the daemon holds it as a daemon-only image \
                 (no digest from any registry); a pull would replace it with whatever the registry has"
            ),
            Warning::NothingToPull { reference } => write!(
                f,
                "pull policy always: nothing to pull, [run-image] holds only the image ID {reference}"
            ),
            Warning::RegistryCannotTell { reference, detail } => write!(
                f,
                "the registry could not tell which local image {reference} is ({detail}); using repository and platform"
            ),
            Warning::IgnoredUntagged { repo, images } => write!(
                f,
                "ignored {} untagged image(s) of {repo} left by earlier pulls: {}",
                images.len(),
                list(images)
            ),
            Warning::MatchedOnly {
                image,
                reference,
                next,
            } => {
                let next = match next {
                    Unproven::RegistryFailed => "rerun when the registry answers to check it",
                    Unproven::PolicyNever => {
                        "use --pull-policy if-not-present to check it against the registry"
                    }
                    Unproven::RegistryCannot => "the registry could not prove it either",
                };
                write!(
                    f,
                    "matched by repository and platform only: the daemon cannot show that image {image} is {reference} \
                     (it records only the index digest); {next}"
                )
            }
            Warning::PulledUnchecked { detail } => write!(
                f,
                "pulled, but could not check it against the registry: {detail}"
            ),
            Warning::TargetDefaulted {
                reference,
                platform,
                detail,
            } => write!(
                f,
                "the registry could not say which platform {reference} is ({detail}); the target is {platform}, the default"
            ),
            Warning::PullUnchecked { reference, detail } => write!(
                f,
                "the registry could not say which platform {reference} is ({detail}); a pull by that digest may bring another platform"
            ),
            Warning::UntaggedRecord { id } => write!(
                f,
                "the single-platform record {id} is untagged: `docker image prune -a` before the export removes it; \
                 run runref right before the export (it makes it again, no registry) or keep it with `docker tag {id} <name>`"
            ),
        }
    }
}

/// `; <p> is only the default …` when the platform was defaulted and the daemon holds another
/// one (`hint`), then `; <next step>`.
struct Advice<'a>(&'a Target, bool);

impl fmt::Display for Advice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (t, hint) = (self.0, self.1);
        let p = &t.platform;
        if t.defaulted && hint {
            write!(
                f,
                "; {p} is only the default (the daemon's platform): if the build targets another platform, pass --platform"
            )?;
        }
        f.write_str("; ")?;
        match &t.next {
            NextPull::OtherPlatformsManifest { reference, is } => write!(
                f,
                "[run-image] reference {reference} is the {is} manifest, not {p}: pass --platform {is} if the build targets {is}, \
                 or set [run-image] reference (or [run-image] image) to the {p} run image"
            ),
            NextPull::LoadOrPull => f.write_str("load or pull the run image for that platform"),
            NextPull::LearnPlatform { reference } => write!(
                f,
                "without the registry runref cannot tell which platform {reference} is: run with --pull-policy if-not-present \
                 so it reads the reference's platform from the registry"
            ),
            NextPull::Pull { reference, never } => {
                write!(f, "pull it with `docker pull --platform {p} {reference}`")?;
                match never {
                    true => f.write_str(" or run with --pull-policy if-not-present"),
                    false => f.write_str(
                        "; runref's own pull did not bring it: check the registry and the daemon's log",
                    ),
                }
            }
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::WrongPlatformLookup {
                platform: p,
                image,
                resolves_to,
                detail,
                pull,
            } => {
                let got = match resolves_to {
                    Some(q) => q.to_string(),
                    None => "an unknown platform".into(),
                };
                let why = detail.as_ref().map(|e| format!(" ({e})")).unwrap_or_default();
                write!(
                    f,
                    "the daemon holds {p} content in image {image}, but a lookup without a platform (the exporter's) \
                     resolves it to {got}: the app would be built on the wrong run image{why}; "
                )?;
                match pull {
                    Some(r) => write!(
                        f,
                        "pull {r} so the daemon holds a single-platform image for {p} (or run with --pull-policy if-not-present), \
                         or remove the {got} content"
                    ),
                    None => write!(
                        f,
                        "pull the run image's {p} manifest by digest so the daemon holds a single-platform image, \
                         or remove the {got} content"
                    ),
                }
            }
            Failure::NeedsRegistryName { reference } => write!(
                f,
                "[run-image] reference is the daemon image ID {reference} and [run-image] image is not set: \
                 there is no registry name to resolve; set [run-image] image or run with --daemon"
            ),
            Failure::RegistryForbidden { name, platform } => write!(
                f,
                "resolving {name} to a {platform} manifest digest needs the registry, and pull policy never forbids contacting it; \
                 use --pull-policy if-not-present"
            ),
            Failure::RegistryFailed {
                reference,
                platform,
                detail,
            } => write!(f, "cannot resolve {reference} for {platform}: {detail}"),
            Failure::NoEntry {
                reference,
                platform,
                has,
            } => write!(
                f,
                "{reference} has no image for {platform} (it has: {}; attestation entries are never runnable); \
                 pass --platform with one of those, or use a run image built for {platform}",
                if has.is_empty() { "none".into() } else { has.join(", ") }
            ),
            Failure::SinglePlatform {
                reference,
                is,
                platform,
            } => write!(
                f,
                "{reference} is a single-platform image for {is}, not {platform}; pick the run image for {platform} or pass --platform {is}"
            ),
            Failure::PullFailed {
                detail,
                usable,
                daemon_trust,
            } => {
                write!(f, "{detail}\n  ")?;
                match usable {
                    Some(h) => write!(
                        f,
                        "check the registry and credentials, or run with --pull-policy never to use the image the daemon has ({}, {})",
                        h.image,
                        PlatformOr(h.platform.as_ref())
                    )?,
                    None => f.write_str(
                        "check the registry and credentials (the daemon holds no image of it to use instead)",
                    )?,
                }
                if *daemon_trust {
                    f.write_str(
                        "\n  the daemon itself could not verify the registry: it reads the CA from /etc/docker/certs.d/HOST:PORT/ca.crt \
                         (podman: /etc/containers/certs.d too), or lists the registry in its insecure-registries (podman: insecure = true \
                         in registries.conf); runref's --cert-dir and --insecure-registry do not reach the daemon",
                    )?;
                }
                Ok(())
            }
            Failure::PulledNotShown { pulled, platform } => write!(
                f,
                "pulled {} for {platform}, but the daemon does not show it afterwards; inspect the daemon with `runref inspect`",
                pulled.as_ref().map(|r| r.to_string()).unwrap_or_default()
            ),
            Failure::PulledOtherPlatform { held, platform } => write!(
                f,
                "pulled for {platform}, but the daemon holds {} for {} (Docker can ignore --platform when the tag is already present, moby#40520); \
                 remove the local image and run again",
                held.image,
                PlatformOr(held.platform.as_ref())
            ),
            Failure::PulledNotEntry {
                image,
                reference,
                platform,
                entry,
            } => write!(
                f,
                "after pulling, the daemon's image {image} is not the registry's {platform} entry of {reference} ({}); \
                 the tag may have moved during the pull; run again",
                entry.as_ref().map_or("none".into(), |d| d.to_string())
            ),
            Failure::WrongPlatformInDaemon {
                reference,
                held,
                target,
            } => write!(
                f,
                "the daemon holds {reference} as image {} for {}, not {}{}",
                held.image,
                PlatformOr(held.platform.as_ref()),
                target.platform,
                Advice(target, true)
            ),
            Failure::OtherPlatformsInDaemon {
                repo,
                others,
                target,
            } => write!(
                f,
                "the daemon has no {} image of {repo}; it has: {}{}",
                target.platform,
                list(others),
                Advice(target, true)
            ),
            Failure::NotInDaemon {
                reference,
                image,
                target,
            } => write!(
                f,
                "the daemon does not have the run image {reference}{}{}",
                image.as_ref().map(|i| format!(" (image {i})")).unwrap_or_default(),
                // Nothing of it in the daemon: no other platform to point at.
                Advice(target, false)
            ),
            Failure::UnprovenDefault {
                repo,
                candidates,
                others,
                reference,
                platform: p,
            } => {
                let also = match others.is_empty() {
                    true => String::new(),
                    false => format!(" and for other platforms too ({})", list(others)),
                };
                write!(
                    f,
                    "the daemon holds {repo} for {p} ({}){also}, but nothing shows that {reference} is the {p} image: {p} is \
                     only the default (the daemon's platform) and the reference's own platform cannot be told \
                     without the registry; pass --platform with the build's target, or run with --pull-policy \
                     if-not-present so runref reads the reference's platform from the registry",
                    list(candidates)
                )
            }
            Failure::Ambiguous {
                repo,
                candidates,
                reference,
                platform,
            } => write!(
                f,
                "{} local images of {repo} are for {platform} ({}) and none can be proven to be {reference}; \
                 remove the stale ones or set [run-image] reference to one image ID",
                candidates.len(),
                list(candidates)
            ),
            Failure::Unsettled { need } => write!(
                f,
                "internal: the decision did not settle (last need: {need}); please report this"
            ),
        }
    }
}

/// Why the reference is what it is now, as the decision line says it.
impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::AlreadyDaemonId => "already the daemon's image ID of a matching image",
            Reason::DaemonHoldsReference => {
                "the daemon holds the reference for the target platform"
            }
            Reason::DaemonHoldsImageName => {
                "the daemon holds [run-image] image for the target platform"
            }
            Reason::ProvenByRepoDigests => {
                "the daemon records the per-arch digest for this image (RepoDigests)"
            }
            Reason::ProvenByContainerdManifests => {
                "the containerd image store lists the per-arch manifest for this image"
            }
            Reason::ProvenByConfigDigest => {
                "the registry's manifest for the digest has this image's config digest"
            }
            Reason::MatchedByRepositoryAndPlatform => {
                "matched by repository and platform (no proof available)"
            }
            Reason::Pulled => "pulled for the target platform",
            Reason::DaemonOnlyNotPulled => "daemon-only image used as is (not pulled)",
            Reason::ExtendKeepsRegistryDigest => {
                "run image is extended: the registry digest is kept"
            }
            Reason::RegistryResolved => "resolved to the registry manifest for the target platform",
            Reason::AlreadyPlatformDigest => {
                "already the registry manifest for the target platform"
            }
            Reason::KeptWithoutRegistry => {
                "kept as is: pull policy never forbids asking the registry"
            }
        })
    }
}
