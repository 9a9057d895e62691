//! Manifests, indexes and image configs in the four media types registries serve, with
//! attestation detection and digest checks.
//!
//! These types are our own rather than oci-client's because we need annotations on index
//! entries, both OCI and Docker media types in one parse, and the raw bytes for digest checks.

use crate::model::digest::{Digest, DigestError};
use crate::model::platform::Platform;
use serde::Deserialize;
use std::collections::BTreeMap;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Every manifest type runref understands, sent together as the Accept header. Leaving out the
/// OCI index makes registries answer `MANIFEST_UNKNOWN ... accept header does not support OCI
/// indexes` (seed 003).
pub const ACCEPT: &[&str] = &[OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];
/// The image manifest types: what an index entry chosen for a platform must be.
pub const MANIFEST_TYPES: &[&str] = &[OCI_MANIFEST, DOCKER_MANIFEST];

/// BuildKit's annotation naming what an index entry is.
pub const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// BuildKit's annotation naming the manifest an attestation is about.
pub const ANNOTATION_REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
const ATTESTATION_MANIFEST: &str = "attestation-manifest";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("Docker schema 1 manifests are not supported (deprecated since 2017); re-push the image with a current Docker or buildx")]
    Schema1,
    #[error(
        "unsupported manifest media type {0:?} (expected an OCI or Docker v2 manifest or index)"
    )]
    UnsupportedMediaType(String),
    #[error("manifest has neither 'manifests' nor 'config': not an image manifest or index")]
    Unrecognised,
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// The platform object of an index entry.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct RawPlatform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        default,
        rename = "os.features",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
}

impl RawPlatform {
    pub fn normalized(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, self.variant.as_deref())
            .with_os_version(self.os_version.as_deref())
    }
}

/// A content descriptor (index entry, config or layer).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    /// Parsed as the manifest is: a manifest naming an invalid digest is not valid.
    pub digest: Digest,
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub platform: Option<RawPlatform>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Where a foreign / non-distributable layer may be fetched from (never by runref).
    #[serde(default)]
    pub urls: Vec<String>,
}

impl Descriptor {
    /// An attestation manifest (BuildKit provenance/SBOM), never a runnable image: marked by
    /// the `vnd.docker.reference.type` annotation or by the `unknown/unknown` platform.
    pub fn is_attestation(&self) -> bool {
        self.annotations
            .get(ANNOTATION_REFERENCE_TYPE)
            .is_some_and(|t| t == ATTESTATION_MANIFEST)
            || self
                .platform
                .as_ref()
                .is_some_and(|p| p.normalized().is_unknown())
    }

    /// For an attestation, the manifest it is about.
    pub fn attests(&self) -> Option<&str> {
        self.annotations
            .get(ANNOTATION_REFERENCE_DIGEST)
            .map(String::as_str)
    }

    /// The normalised platform, when the entry has one.
    pub fn platform(&self) -> Option<Platform> {
        self.platform.as_ref().map(RawPlatform::normalized)
    }

    /// True when the entry names an architecture that conventionally has a variant (arm,
    /// arm64) but the entry carries none (seed 002).
    pub fn lacks_variant(&self) -> bool {
        self.platform.as_ref().is_some_and(|p| {
            p.variant.as_deref().unwrap_or("").is_empty()
                && matches!(
                    p.architecture.to_ascii_lowercase().as_str(),
                    "arm" | "arm64" | "aarch64"
                )
        })
    }
}

/// An OCI index or Docker manifest list.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    #[serde(default)]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image manifest or Docker v2 manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    #[serde(default)]
    pub media_type: Option<String>,
    /// OCI 1.1: set on artifacts (signatures, SBOMs) pushed as image manifests.
    #[serde(default)]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The config media types of runnable images (OCI, Docker v2).
pub const IMAGE_CONFIG_TYPES: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

impl ImageManifest {
    /// The artifact type when this manifest is an artifact (a signature, SBOM or attestation
    /// pushed by cosign, oras, notation), not a runnable image: its `artifactType`, else a
    /// config whose media type is not an image config's (distribution-spec 1.1 "Guidelines
    /// for Artifact Usage"). A config without a media type is taken for an image's.
    pub fn artifact(&self) -> Option<&str> {
        let config = self.config.media_type.as_str();
        if let Some(t) = self.artifact_type.as_deref().filter(|t| !t.is_empty()) {
            return Some(t);
        }
        if !config.is_empty() && !IMAGE_CONFIG_TYPES.contains(&config) {
            return Some(config);
        }
        // cosign's `.sig` / `.att` manifests: an image config over layers that are no
        // filesystem (the simplesigning payload, a DSSE envelope): their type.
        let first = self.layers.first()?.media_type.as_str();
        let no_filesystem = self
            .layers
            .iter()
            .all(|l| l.media_type == first && !is_filesystem_layer(&l.media_type));
        (no_filesystem && !first.is_empty()).then_some(first)
    }
}

/// Whether an index entry of `media_type` may be a platform's image manifest (OCI or Docker
/// v2; an entry without a media type is read to find out): the one check, so a nested index
/// or an artifact is never taken for a platform's image by any command.
pub fn may_be_image_manifest(media_type: &str) -> bool {
    media_type.is_empty() || MANIFEST_TYPES.contains(&media_type)
}

/// The one wording of an entry that is not an image manifest.
pub fn not_an_image_manifest(media_type: &str) -> String {
    format!(
        "its media type is {media_type}, not an image manifest (nested indexes are not followed)"
    )
}

/// A layer type that holds a filesystem (OCI, Docker, foreign and non-distributable tars,
/// whatever the compression). A layer without a media type is taken for one.
pub fn is_filesystem_layer(media_type: &str) -> bool {
    media_type.is_empty()
        || media_type.contains(".tar")
        || media_type.contains(".rootfs.")
        || media_type.starts_with("application/vnd.docker.image.rootfs")
}

/// Either kind of manifest.
#[derive(Debug, Clone)]
// A handful of manifests are alive at once (POOL-bounded): boxing the image variant would buy
// nothing but an indirection at every match.
#[allow(clippy::large_enum_variant)]
pub enum Manifest {
    Index(Index),
    Image(ImageManifest),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: Option<i64>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
}

impl Manifest {
    /// Parses manifest bytes. `content_type` is the registry's Content-Type when known; the
    /// body's own `mediaType` wins, and without either the shape decides (OCI allows omitting
    /// `mediaType`).
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
        let probe: Probe = serde_json::from_slice(bytes)?;
        let media_type = probe
            .media_type
            .clone()
            .or_else(|| content_type.map(str::to_string));
        if probe.schema_version == Some(1)
            || matches!(
                media_type.as_deref(),
                Some(DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED)
            )
        {
            return Err(ManifestError::Schema1);
        }
        match media_type.as_deref() {
            Some(OCI_INDEX | DOCKER_LIST) => Ok(Manifest::Index(serde_json::from_slice(bytes)?)),
            Some(OCI_MANIFEST | DOCKER_MANIFEST) => {
                Ok(Manifest::Image(serde_json::from_slice(bytes)?))
            }
            Some(other) if !other.is_empty() && other != "application/json" => {
                Err(ManifestError::UnsupportedMediaType(other.into()))
            }
            _ if probe.manifests.is_some() => Ok(Manifest::Index(serde_json::from_slice(bytes)?)),
            _ if probe.config.is_some() => Ok(Manifest::Image(serde_json::from_slice(bytes)?)),
            _ => Err(ManifestError::Unrecognised),
        }
    }

    /// Parses bytes fetched for `expected`, checking them against the digest first.
    pub fn parse_verified(
        bytes: &[u8],
        expected: &Digest,
        content_type: Option<&str>,
    ) -> Result<Manifest, ManifestError> {
        expected.verify(bytes)?;
        Manifest::parse(bytes, content_type)
    }

    /// The media type, from the body or the kind.
    pub fn media_type(&self) -> &str {
        match self {
            Manifest::Index(i) => i.media_type.as_deref().unwrap_or(OCI_INDEX),
            Manifest::Image(m) => m.media_type.as_deref().unwrap_or(OCI_MANIFEST),
        }
    }
}

/// The parts of an image config runref reads.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default, rename = "os.version")]
    pub os_version: Option<String>,
    #[serde(default)]
    pub rootfs: RootFs,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, ManifestError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    pub fn platform(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, self.variant.as_deref())
            .with_os_version(self.os_version.as_deref())
    }
}

/// Referrers read per subject.
pub const MAX_REFERRERS_PER_SUBJECT: usize = 256;

/// A referrers index of `descriptors`, as the API answers one (what a client that lists
/// referrers itself, from pages or from a layout, hands to discovery).
pub fn referrers_index(descriptors: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": descriptors,
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:73809677ff2aff4bee611f1da7cdc9b8825c5729d2aab4c88b683cfa0e5fc7f0";
    const D2: &str = "sha256:f47cf60d8b8da4e0f5040071b78ddb41f0ae160da6b1be7ddcba03a5c0bf9b3d";

    #[test]
    fn artifacts_are_told_from_images() {
        let with = |artifact: &str, config: &str| {
            let m = format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",{artifact}"config":{{"mediaType":"{config}","digest":"{D1}","size":2}},"layers":[]}}"#
            );
            match Manifest::parse(m.as_bytes(), None).unwrap() {
                Manifest::Image(m) => m.artifact().map(str::to_string),
                Manifest::Index(_) => panic!("an image manifest"),
            }
        };
        let oci = "application/vnd.oci.image.config.v1+json";
        assert_eq!(with("", oci), None);
        assert_eq!(
            with("", "application/vnd.docker.container.image.v1+json"),
            None
        );
        assert_eq!(with("", ""), None, "no config type: taken for an image");
        // oras: artifactType over the empty config; cosign: its own config type.
        assert_eq!(
            with(
                r#""artifactType":"application/spdx+json","#,
                "application/vnd.oci.empty.v1+json"
            )
            .as_deref(),
            Some("application/spdx+json")
        );
        assert_eq!(
            with("", "application/vnd.dev.cosign.simplesigning.v1+json").as_deref(),
            Some("application/vnd.dev.cosign.simplesigning.v1+json")
        );
        // cosign's legacy .sig: an image config over a simplesigning layer.
        let sig = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{oci}","digest":"{D1}","size":2}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{D2}","size":3}}]}}"#
        );
        let Manifest::Image(m) = Manifest::parse(sig.as_bytes(), None).unwrap() else {
            panic!("an image manifest")
        };
        assert_eq!(
            m.artifact(),
            Some("application/vnd.dev.cosign.simplesigning.v1+json")
        );
        assert!(is_filesystem_layer(
            "application/vnd.oci.image.layer.v1.tar+zstd"
        ));
        assert!(is_filesystem_layer(
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        ));
        assert!(is_filesystem_layer(
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        ));
        assert!(!is_filesystem_layer(
            "application/vnd.dsse.envelope.v1+json"
        ));
    }

    fn seed003_index() -> String {
        // The index from seed 003: one amd64 image and its BuildKit attestation.
        format!(
            r#"{{"mediaType":"{OCI_INDEX}","schemaVersion":2,"manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{D1}","size":1817,"platform":{{"architecture":"amd64","os":"linux"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{D2}","size":567,
              "annotations":{{"vnd.docker.reference.digest":"{D1}","vnd.docker.reference.type":"attestation-manifest"}},
              "platform":{{"architecture":"unknown","os":"unknown"}}}}]}}"#
        )
    }

    /// Runnable entries for a platform (the selection itself is `view::RemoteView::entry_for`).
    fn matching(idx: &Index, p: &str) -> usize {
        let p: Platform = p.parse().unwrap();
        idx.manifests
            .iter()
            .filter(|d| !d.is_attestation())
            .filter(|d| d.platform().is_some_and(|x| x.matches(&p)))
            .count()
    }

    #[test]
    fn index_with_attestation() {
        let Manifest::Index(idx) = Manifest::parse(seed003_index().as_bytes(), None).unwrap()
        else {
            panic!("index expected")
        };
        assert_eq!(idx.manifests.len(), 2);
        assert!(!idx.manifests[0].is_attestation());
        assert!(idx.manifests[1].is_attestation());
        assert_eq!(idx.manifests[1].attests(), Some(D1));
        let runnable = idx.manifests.iter().filter(|d| !d.is_attestation()).count();
        assert_eq!(runnable, 1);
        assert_eq!(matching(&idx, "linux/amd64"), 1);
        assert_eq!(
            matching(&idx, "unknown/unknown"),
            0,
            "an attestation is never chosen for a platform"
        );
    }

    #[test]
    fn attestation_by_annotation_alone() {
        let j = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D2}","size":1,
            "annotations":{{"vnd.docker.reference.type":"attestation-manifest"}},
            "platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
        );
        let Manifest::Index(idx) = Manifest::parse(j.as_bytes(), None).unwrap() else {
            panic!()
        };
        assert!(idx.manifests[0].is_attestation());
        assert_eq!(matching(&idx, "linux/amd64"), 0);
    }

    #[test]
    fn docker_list_without_variant_matches_v8() {
        let j = format!(
            r#"{{"mediaType":"{DOCKER_LIST}","schemaVersion":2,"manifests":[
            {{"mediaType":"{DOCKER_MANIFEST}","digest":"{D1}","size":528,"platform":{{"architecture":"arm64","os":"linux"}}}}]}}"#
        );
        let m = Manifest::parse(j.as_bytes(), None).unwrap();
        assert_eq!(m.media_type(), DOCKER_LIST);
        let Manifest::Index(idx) = m else { panic!() };
        assert!(idx.manifests[0].lacks_variant());
        assert_eq!(matching(&idx, "linux/arm64/v8"), 1);
    }

    #[test]
    fn kinds_and_rejections() {
        let img = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":2}},"layers":[]}}"#
        );
        assert!(matches!(
            Manifest::parse(img.as_bytes(), None).unwrap(),
            Manifest::Image(_)
        ));
        let s1 = br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
        let e = Manifest::parse(s1, None).unwrap_err().to_string();
        assert!(e.contains("schema 1"), "{e}");
        let odd = br#"{"schemaVersion":2,"mediaType":"application/vnd.example+json"}"#;
        assert!(matches!(
            Manifest::parse(odd, None),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            Manifest::parse(br#"{"schemaVersion":2}"#, None),
            Err(ManifestError::Unrecognised)
        ));
        assert!(Manifest::parse(b"{not json", None).is_err());
    }

    #[test]
    fn verified_parse_rejects_lying_bytes() {
        let body = seed003_index();
        let right = Digest::of(body.as_bytes());
        assert!(Manifest::parse_verified(body.as_bytes(), &right, None).is_ok());
        let wrong: Digest = D1.parse().unwrap();
        assert!(matches!(
            Manifest::parse_verified(body.as_bytes(), &wrong, None),
            Err(ManifestError::Digest(DigestError::Mismatch { .. }))
        ));
    }

    #[test]
    fn config_platform_and_top_layer() {
        let c = ImageConfig::parse(
            br#"{"architecture":"arm64","os":"linux","variant":"v8","rootfs":{"type":"layers","diff_ids":["sha256:a","sha256:b"]}}"#,
        )
        .unwrap();
        assert_eq!(c.platform().to_string(), "linux/arm64");
    }
}
