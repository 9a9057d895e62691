//! What sync says beside its statuses, as data. The words are in [`crate::message::sync`].

use crate::commands::publish::Carry;
use crate::model::platform::Platform;
use crate::model::reference::Reference;
use std::time::Duration;

/// Why nothing of an image could be done.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageFailure {
    /// The source repository does not exist.
    NoSuchRepository { source: Reference },
    /// Its tag list could not be read (and the file filters tags).
    CannotList { detail: String },
}

/// Something to know about an image that is not a failure.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageWarning {
    /// No listed tag passed the filters.
    NoTagPassed { listed: usize },
}

/// Why some tags of an image failed.
#[derive(Debug, Clone, PartialEq)]
pub enum TagFailure {
    /// Another `[[image]]` of the file writes the same target tag.
    Claimed {
        target: Reference,
        tag: String,
        other: usize,
    },
    /// The source has no such tag.
    NoSuchTag { reference: Reference },
    /// The source could not be asked (the registry's or the parser's words).
    Source { detail: String },
    /// `--deadline` passed before the copy started.
    DeadlinePassed,
    /// Waiting for the rate limit would pass `--deadline`.
    RateLimitDeadline {
        registry: String,
        left: u64,
        min: u64,
        retry: Duration,
    },
    /// The rate limit stayed below `min` for every wait.
    RateLimitStayed {
        registry: String,
        min: u64,
        waits: usize,
    },
    /// The copy failed (its error's words).
    Copy { detail: String },
    /// A dry run could not read the target.
    Target { detail: String },
    /// The copy ran but its result is not proven.
    NotProven(NotProven),
}

/// A copy whose result was not proven, with what reproduces it.
#[derive(Debug, Clone, PartialEq)]
pub struct NotProven {
    pub source: String,
    pub target: String,
    pub tag: String,
    pub platforms: Option<Vec<Platform>>,
    pub content: bool,
    pub referrers: Carry,
    /// The read-back found this many problems (listed in the result).
    pub readback_problems: Option<usize>,
    /// Carried referrers not listed on the target.
    pub missing: usize,
    /// cosign tags on the target naming other signatures.
    pub conflicts: usize,
}
