//! runref: reconcile, inspect, verify and diagnose run images between a Docker (or podman)
//! daemon and a registry, for Cloud Native Buildpacks platforms.
//!
//! In layers, each using only the layers listed before it:
//! - [`model`]: the vocabulary, parsed once at the edge (digests, references, platforms,
//!   manifests), and what daemon and registry know (local images, registry views, proofs);
//! - the adapters gather facts: [`daemon`], [`registry`] (transport, auth, endpoints, reads and
//!   writes, the cache, views and referrers built on them), [`layout`], [`analyzed`] (the file);
//! - [`commands`]: gather, decide (pure: [`commands::reconcile::decide`],
//!   [`commands::diagnose`]'s classification, [`commands::assemble::plan`]), act, report;
//! - [`message`] words the reports' typed reasons, [`report`] is the JSON contract, and
//!   [`cli`] puts them on the page.
//!
//! README "Architecture" has the map.

/// How many registry fetches or daemon inspections one command has in flight at most (index
/// entries, local images, layer scans): memory and file descriptors stay flat whatever the count.
pub const POOL: usize = 8;

pub mod analyzed;
pub mod archive;
pub mod cli;
pub mod commands;
pub mod credentials;
pub mod daemon;
pub mod exit;
pub mod files;
pub mod layout;
pub mod message;
pub mod mirror;
pub mod model;
pub mod progress;
pub mod registry;
pub mod report;
pub mod trace;
