//! Any bytes as a manifest, index or config: never panics; an index's entries can be read and
//! matched to a platform without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use runref::model::manifest::{ImageConfig, Manifest};

fuzz_target!(|data: &[u8]| {
    if let Ok(Manifest::Index(idx)) = Manifest::parse(data, None) {
        for d in idx.manifests.iter().filter(|d| !d.is_attestation()) {
            let _ = d.digest.short();
        }
        for d in &idx.manifests {
            let _ = (d.platform(), d.is_attestation(), d.attests(), d.lacks_variant());
        }
    }
    if let Ok(c) = ImageConfig::parse(data) {
        let _ = c.platform();
    }
});
