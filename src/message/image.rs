//! The reasons of inspect, verify and index create / copy in words.

use super::PlatformOr;
use crate::assemble::LeftOutWhy;
use crate::inspect::Tie;
use crate::publish::TagConflict;
use crate::verify::NoExecutable;
use std::fmt;

/// An index entry's platform: `(no platform)` when it declares none.
struct EntryPlatform<'a>(Option<&'a crate::platform::Platform>);

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
