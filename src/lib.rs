//! runref: reconcile, inspect, verify and diagnose run images between a Docker (or podman)
//! daemon and a registry, for Cloud Native Buildpacks platforms.
//!
//! The vocabulary ([`digest`], [`reference`](mod@reference), [`platform`], [`manifest`],
//! [`analyzed`]) parses once at the edge; the model ([`local`], [`view`], [`proof`]) holds what
//! daemon and registry know; the adapters ([`daemon`], [`registry`], [`layout`]) gather facts;
//! the pure decision ([`reconcile::decide`]) turns facts into decisions; the commands act on
//! them and [`cli`] renders their reports. README "Architecture" has the map.

/// How many registry fetches or daemon inspections one command has in flight at most (index
/// entries, local images, layer scans): memory and file descriptors stay flat whatever the count.
pub const POOL: usize = 8;

pub mod analyzed;
pub mod archive;
pub mod assemble;
pub mod cache;
pub mod cli;
pub mod credentials;
pub mod daemon;
pub mod diagnose;
pub mod digest;
pub mod elf;
pub mod exit;
pub mod files;
pub mod inspect;
pub mod layer;
pub mod layout;
pub mod local;
pub mod manifest;
pub mod message;
pub mod mirror;
pub mod platform;
pub mod policy;
pub mod progress;
pub mod proof;
pub mod publish;
pub mod reconcile;
pub mod reference;
pub mod referrers;
pub mod registry;
pub mod report;
pub mod resolve;
pub mod sync;
pub mod trace;
pub mod verify;
pub mod view;
