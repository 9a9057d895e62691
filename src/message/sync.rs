//! sync's failures and warnings in words.

use crate::commands::publish::Carry;
use crate::commands::sync::{ImageFailure, ImageWarning, NotProven, TagFailure};
use std::fmt;

impl fmt::Display for ImageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageFailure::NoSuchRepository { source } => write!(
                f,
                "{source}: no such repository in the source registry (check the name)"
            ),
            ImageFailure::CannotList { detail } => write!(f, "cannot list its tags: {detail}"),
        }
    }
}

impl fmt::Display for ImageWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageWarning::NoTagPassed { listed } => {
                write!(f, "no tag passed the filters ({listed} listed)")
            }
        }
    }
}

impl fmt::Display for TagFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagFailure::Claimed { target, tag, other } => write!(
                f,
                "{target}:{tag} is also written by [[image]] {other}; give one of them another target"
            ),
            TagFailure::NoSuchTag { reference } => {
                write!(f, "{reference}: no such tag in the source")
            }
            TagFailure::Source { detail } | TagFailure::Copy { detail } => f.write_str(detail),
            TagFailure::DeadlinePassed => {
                f.write_str("not started: --deadline passed (run again to go on)")
            }
            TagFailure::RateLimitDeadline {
                registry,
                left,
                min,
                retry,
            } => write!(
                f,
                "not started: {registry} has {left} pulls left, below [ratelimit] min {min}, and waiting {} would pass --deadline",
                humantime::format_duration(*retry)
            ),
            TagFailure::RateLimitStayed {
                registry,
                min,
                waits,
            } => write!(
                f,
                "not started: {registry} stayed below [ratelimit] min {min} pulls after {waits} waits"
            ),
            TagFailure::Target { detail } => write!(f, "target: {detail}"),
            TagFailure::NotProven(n) => n.fmt(f),
        }
    }
}

impl fmt::Display for NotProven {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut command = format!("runref copy {} {}:{}", self.source, self.target, self.tag);
        if let Some(ps) = &self.platforms {
            let ps: Vec<String> = ps.iter().map(ToString::to_string).collect();
            command.push_str(&format!(" --platforms {}", ps.join(",")));
        }
        if self.content {
            command.push_str(" --content");
        }
        match &self.referrers {
            Carry::All => {}
            Carry::None => command.push_str(" --referrers none"),
            Carry::Types(ts) => command.push_str(&format!(" --referrers {}", ts.join(","))),
        }
        let details = format!("`{command}` shows them (it moves no tag either)");
        if let Some(n) = self.readback_problems {
            return write!(
                f,
                "the read-back found {n} problem(s) (below), so no tag moved; {details}"
            );
        }
        let mut why = Vec::new();
        if self.missing > 0 {
            why.push(format!(
                "{} carried referrer(s) not listed on the target",
                self.missing
            ));
        }
        if self.conflicts > 0 {
            why.push(format!(
                "{} cosign tag(s) on the target name other signatures (kept)",
                self.conflicts
            ));
        }
        match why.is_empty() {
            true => write!(f, "not proven, so no tag moved; {details}"),
            false => write!(
                f,
                "the image is proven and tagged, but {}; {details}",
                why.join(", ")
            ),
        }
    }
}
