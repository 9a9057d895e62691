//! The registry's view of one image, the one model every command reads the registry through:
//! the top manifest and its entries (for a single manifest, one entry), each as far as it was
//! fetched ([`Depth`]). Pure data: no adapter.

use crate::model::digest::Digest;
use crate::model::manifest::{Descriptor, RawPlatform};
use crate::model::platform::Platform;
use crate::model::reference::Reference;

/// How much of the image to fetch.
#[derive(Debug, Clone, PartialEq)]
pub enum Depth {
    /// Which manifest is the platform's: the top manifest; for a single manifest also its
    /// config (the only place its platform is written). Registry-mode reconcile, diagnose.
    Platform(Platform),
    /// Which config the platform's manifest has (to compare with a daemon image ID): the top
    /// manifest; for an index also the chosen entry's manifest. No blob. Daemon-mode reconcile.
    Proof(Platform),
    /// Every runnable entry's manifest, concurrently, and their configs when `configs`; a
    /// single manifest's config always. With `only`, just the entries of those platforms
    /// (`verify --allow-extra`: the others are listed as the index has them). inspect, verify.
    Entries {
        configs: bool,
        only: Option<Vec<Platform>>,
    },
}

/// One index entry (or the single manifest of a non-index image).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RemoteEntry {
    pub digest: Digest,
    pub media_type: String,
    pub size: i64,
    /// The entry's platform as the index writes it (None for a single manifest).
    pub index_platform: Option<RawPlatform>,
    /// Normalised platform: the index's, else the config's.
    pub platform: Option<Platform>,
    pub attestation: bool,
    /// For an attestation: the manifest it is about.
    pub attests: Option<String>,
    /// arm/arm64 entry without a variant (seed 002).
    pub lacks_variant: bool,
    pub config: Option<Digest>,
    /// What the config declares, when configs were fetched.
    pub config_platform: Option<Platform>,
    #[serde(skip)]
    pub layers: Vec<Descriptor>,
    /// Why the entry's manifest or config could not be read.
    pub error: Option<String>,
}

/// The registry side of an image.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RemoteView {
    /// `name@digest` of what was fetched (the name as written).
    pub reference: Reference,
    /// The tag given, when the digest was resolved from a tag.
    pub resolved_from: Option<String>,
    pub digest: Digest,
    pub media_type: String,
    pub is_index: bool,
    pub entries: Vec<RemoteEntry>,
}

impl RemoteView {
    pub fn runnable(&self) -> impl Iterator<Item = &RemoteEntry> {
        self.entries.iter().filter(|e| !e.attestation)
    }

    /// The entry for `platform`: in an index the first runnable entry whose platform matches
    /// (containerd's order; attestations never), of several Windows builds that match the
    /// highest (containerd's comparer), for a single manifest the manifest itself, whatever
    /// its config says (the caller compares [`RemoteEntry::config_platform`]).
    pub fn entry_for(&self, platform: &Platform) -> Option<&RemoteEntry> {
        if !self.is_index {
            return self.entries.first();
        }
        let mut best: Option<&RemoteEntry> = None;
        for e in self.runnable() {
            let Some(p) = e.platform.as_ref().filter(|p| platform.matches(p)) else {
                continue;
            };
            if !crate::model::manifest::may_be_image_manifest(&e.media_type) {
                continue;
            }
            match best.and_then(|b| b.platform.as_ref()) {
                Some(q) if !Platform::better(p, q) => {}
                _ => best = Some(e),
            }
        }
        best
    }

    /// The platforms of the runnable entries, for messages.
    pub fn platforms(&self) -> Vec<String> {
        self.runnable()
            .filter_map(|e| e.platform.as_ref().map(Platform::to_string))
            .collect()
    }
}

impl RemoteEntry {
    /// An index entry as the index describes it (nothing of its own manifest fetched yet).
    pub fn from_descriptor(
        d: &Descriptor,
    ) -> Result<RemoteEntry, crate::model::manifest::ManifestError> {
        Ok(RemoteEntry {
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            size: d.size,
            index_platform: d.platform.clone(),
            platform: d.platform(),
            attestation: d.is_attestation(),
            attests: d.attests().map(str::to_string),
            lacks_variant: d.lacks_variant(),
            config: None,
            config_platform: None,
            layers: vec![],
            error: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::manifest::{OCI_INDEX, OCI_MANIFEST};

    fn entry(c: char, media_type: &str, platform: &str) -> RemoteEntry {
        let d: Digest = format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap();
        RemoteEntry {
            digest: d,
            media_type: media_type.into(),
            size: 1,
            index_platform: None,
            platform: Some(platform.parse().unwrap()),
            attestation: false,
            attests: None,
            lacks_variant: false,
            config: None,
            config_platform: None,
            layers: vec![],
            error: None,
        }
    }

    /// A nested index that claims the platform is never taken for its manifest (a 50-deep
    /// nesting once made runref write an index digest as the arm64 manifest).
    #[test]
    fn a_nested_index_is_never_the_platforms_manifest() {
        let view = |entries| {
            RemoteView {
            reference: "r.example/run@sha256:1111111111111111111111111111111111111111111111111111111111111111"
                .parse()
                .unwrap(),
            resolved_from: None,
            digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111"
                .parse()
                .unwrap(),
            media_type: OCI_INDEX.into(),
            is_index: true,
            entries,
        }
        };
        let p: Platform = "linux/arm64".parse().unwrap();
        let v = view(vec![entry('2', OCI_INDEX, "linux/arm64")]);
        assert!(v.entry_for(&p).is_none());
        let v = view(vec![
            entry('2', OCI_INDEX, "linux/arm64"),
            entry('3', OCI_MANIFEST, "linux/arm64"),
        ]);
        assert_eq!(v.entry_for(&p).unwrap().digest.hex(), "3".repeat(64));
    }
}
