//! The reasons of inspect, verify and index create / copy in words.

use super::PlatformOr;
use crate::commands::assemble::LeftOutWhy;
use crate::commands::inspect::{SideMiss, Tie};
use crate::commands::publish::TagConflict;
use crate::commands::verify::NoExecutable;
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
