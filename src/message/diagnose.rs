//! diagnose's findings in words.

use super::list;
use crate::commands::diagnose::{Finding, Guess};
use crate::model::platform::Platform;
use std::fmt;

/// ` (… is only the daemon's platform; pass --platform …)` when the target was a guess.
struct Hint<'a>(Option<Guess>, &'a Platform);

impl fmt::Display for Hint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(g) = self.0 else { return Ok(()) };
        let why = match g.registry_failed {
            true => "the registry could not say which platform the digest is (below), so ",
            false => "",
        };
        write!(
            f,
            " ({why}{} is only the daemon's platform; pass --platform if the build targets another)",
            self.1
        )
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Works { reference, image } => write!(
                f,
                "the exporter will find the run image: {reference} is image {image} in the daemon"
            ),
            Finding::FoundWrongPlatform {
                reference,
                held,
                target,
            } => write!(
                f,
                "the exporter finds {reference} as image {}, but it is for {}, not {target}: \
                 the app image would be built on the wrong platform's run image",
                held.image,
                match &held.platform {
                    Some(p) => p.to_string(),
                    None => "an unknown platform".into(),
                }
            ),
            Finding::DaemonOnly {
                repo,
                image,
                digest,
                ..
            } => write!(
                f,
                "{repo} exists only in this daemon (image {image}, never pushed or pulled), but the reference is the registry digest {digest}: \
                 the restorer resolved it from the registry, where that name is not this image"
            ),
            Finding::PerArchDigest {
                digest,
                target,
                image,
                known_by,
            } => write!(
                f,
                "the restorer wrote the per-architecture manifest digest {digest}; the daemon holds the {target} run image as {image} \
                 but knows it only by {} (lifecycle#1457)",
                match known_by.is_empty() {
                    true => "its tags".to_string(),
                    false => list(known_by),
                }
            ),
            Finding::ContainerdId { reference, .. } => write!(
                f,
                "the daemon has no image with ID {reference}; this daemon uses the containerd image store, whose image IDs are \
                 manifest/index digests, not config digests: the ID was probably written against another daemon"
            ),
            Finding::WrongPlatform {
                reference,
                target,
                locals,
                guess,
            } => write!(
                f,
                "the daemon has no {target} image for {reference}; it has: {}{}",
                list(locals),
                Hint(*guess, target)
            ),
            Finding::Absent {
                reference,
                target,
                guess,
            } => write!(
                f,
                "the run image {reference} is not in the daemon at all{}",
                Hint(*guess, target)
            ),
        }
    }
}
