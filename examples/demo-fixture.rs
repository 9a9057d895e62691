//! Used by scripts/demo: builds a multi-arch run image (linux/amd64, linux/arm64/v8, BuildKit
//! attestations) with the test fixture builder, pushes it to REGISTRY/REPO:TAG, and prints the
//! digests as shell assignments.
//!
//! usage: cargo run --example demo-fixture -- 127.0.0.1:5000/demo/run:jammy

#[path = "../tests/it/support/mod.rs"]
#[allow(dead_code)]
mod support;
use support::fixture::{build_index, push, IndexSpec};

fn main() {
    let dest = std::env::args()
        .nth(1)
        .expect("usage: demo-fixture HOST:PORT/REPO:TAG");
    let tag = dest.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
    let spec = IndexSpec::new("demo", &["linux/amd64", "linux/arm64/v8"]).with_attestations();
    let built = build_index(&spec, tag);
    push(&built, tag, &dest);
    let arm = built.image("linux/arm64/v8");
    println!("INDEX_DIGEST={}", built.index_digest);
    println!("ARM64_MANIFEST={}", arm.manifest_digest);
    println!("ARM64_CONFIG={}", arm.config_digest);
    println!(
        "AMD64_MANIFEST={}",
        built.image("linux/amd64").manifest_digest
    );
}
