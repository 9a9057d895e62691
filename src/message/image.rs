//! The reasons of inspect, verify and index create / copy in words.

use super::PlatformOr;
use crate::commands::assemble::LeftOutWhy;
use crate::commands::inspect::{SideMiss, Tie};
use crate::commands::publish::TagConflict;
use crate::commands::verify::{NoExecutable, Problem};
use std::fmt;

/// An index entry's platform: `(no platform)` when it declares none.
struct EntryPlatform<'a>(Option<&'a crate::model::platform::Platform>);

impl fmt::Display for EntryPlatform<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => PlatformOr(self.0).fmt(f),
            None => f.write_str("(no platform)"),
        }
    }
}

impl fmt::Display for Tie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tie::IndexItself { platform, entry } => write!(
                f,
                "the local image is the index itself; a lookup without platform gives its {} entry {entry}",
                EntryPlatform(platform.as_ref())
            ),
            Tie::Entry { platform, entry } => write!(
                f,
                "the local image is the {} entry {entry}",
                EntryPlatform(platform.as_ref())
            ),
            Tie::RecordedButNoConfig => f.write_str(
                "the daemon records the registry digest, but no entry's config matches the local image ID \
                 (containerd store without per-platform data?)",
            ),
            Tie::NoEntry => f.write_str(
                "no registry entry matches the local image: a different build, or a daemon-only image",
            ),
        }
    }
}

impl fmt::Display for LeftOutWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeftOutWhy::SameManifestAs(s) => write!(f, "same manifest as {s}"),
            LeftOutWhy::ReplacedBy(s) => write!(f, "replaced by {s}"),
        }
    }
}

impl fmt::Display for NoExecutable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.windows {
            true => f.write_str("no PE executable (.exe, .dll, .sys) in its layers")?,
            false => f.write_str("no ELF executable in its layers")?,
        }
        match self.foreign_unread {
            0 => Ok(()),
            n => write!(
                f,
                "; {n} foreign layer(s) were not read (they are not the registry's to give; \
                 --allow-nondistributable reads them from the registry)"
            ),
        }
    }
}

impl fmt::Display for TagConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: the target's tag names {} (its own signatures), not the source's {}; kept, the source's not carried",
            self.reference, self.have, self.source
        )
    }
}

impl fmt::Display for SideMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SideMiss::Failed(e) => f.write_str(e),
            SideMiss::NoImage { image } => write!(f, "the daemon has no image {image}"),
            SideMiss::NoIdPrefix { prefix } => {
                write!(f, "the daemon has no image whose ID starts with {prefix}")
            }
            SideMiss::ShortId { prefix } => write!(
                f,
                "{prefix} looks like a short image ID, which is never looked up in a registry; \
                 for a registry name write it in full (docker.io/library/{prefix}) or use --no-daemon"
            ),
            SideMiss::DaemonOnly => {
                f.write_str("the daemon records no registry digest for this image (daemon-only)")
            }
            SideMiss::Layout => {
                f.write_str("not asked: an OCI layout is a directory, not a daemon's image")
            }
        }
    }
}

/// What verify found wrong, in one line.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Problem::Missing { platform, other_builds } if !other_builds.is_empty() => format!(
                "{platform}: no image of a matching Windows build (there: {}; builds match as containerd's Windows matcher)",
                other_builds.join(", ")
            ),
            Problem::Missing { platform, .. } => format!("{platform}: no runnable image for this platform"),
            Problem::Duplicate { platform, digests } => format!(
                "{platform}: {} runnable entries ({})",
                digests.len(),
                digests.iter().map(|d| d.short()).collect::<Vec<_>>().join(", ")
            ),
            Problem::ReferrerMissing { subject, platform, artifact_type } => format!(
                "{}: no referrer of type {artifact_type} names {}{}; attach one (cosign sign, oras attach) or drop --require-referrer",
                platform.as_ref().map_or("the image".into(), |p| p.to_string()),
                subject.short(),
                if platform.is_some() { " (nor the index)" } else { "" }
            ),
            Problem::Unexpected { platform, digest } => {
                format!("{platform}: not expected ({}); use --allow-extra to accept it", digest.short())
            }
            Problem::ConfigDisagrees { digest, index_platform, config_platform } => format!(
                "{index_platform}: the index says {index_platform} but the config of {} says {config_platform}",
                digest.short()
            ),
            Problem::ContentDisagrees { platform, digest, files } => format!(
                "{platform} ({}): executables built for another machine: {}",
                digest.short(),
                files
                    .iter()
                    .take(5)
                    .map(|f| format!("/{} is {}", f.path.trim_start_matches('/'), f.describe()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Problem::Unproven { platform, digest, reason } => format!(
                "{platform}: {reason} ({}); the architecture cannot be proven from content",
                digest.short()
            ),
            Problem::AttestationOutside { digest, attests } => format!(
                "attestation {} is about {attests}, which is not an entry of the index",
                digest.short()
            ),
            Problem::Unreadable { digest, platform: Some(p), error } => {
                format!("{p} ({}): {error}", digest.short())
            }
            Problem::Unreadable { digest, error, .. } => format!("{}: {error}", digest.short()),
        };
        f.write_str(&text)
    }
}
