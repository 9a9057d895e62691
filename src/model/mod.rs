//! The vocabulary and the model: parsed once at the edge (digests, references, platforms,
//! manifests, layer media types, ELF/PE headers), and what daemon and registry know (local
//! images, registry views, proofs tying one to the other). No I/O.

pub mod digest;
pub mod elf;
pub mod given;
pub mod json;
pub mod layer;
pub mod local;
pub mod manifest;
pub mod platform;
pub mod policy;
pub mod proof;
pub mod reference;
pub mod view;
