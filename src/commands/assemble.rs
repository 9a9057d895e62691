//! The pure core of `index create` and `copy` with a platform subset: from the entries of the
//! sources (each runnable entry with what its config declares) it decides the new index's
//! entries, their descriptors and the index bytes, or refuses. No adapter: facts in, plan out.
//!
//! Rules (spec-notes, "index create and copy"):
//! - a runnable entry's platform is its config's (os, architecture, variant, os.version),
//!   normalised as containerd does; a descriptor that disagrees with its config is refused; a
//!   descriptor without a variant is filled from the config (seed 002);
//! - two entries for one platform: the same digest is kept once; different digests are refused,
//!   naming both sources, unless `replace` (the later source wins);
//! - `keep` keeps an attestation exactly when the entry it attests is kept; `drop` removes all;
//! - an OCI index unless every entry is a Docker v2 manifest without annotations (then a Docker
//!   manifest list, as `docker manifest create` makes).

use crate::model::digest::Digest;
use crate::model::manifest::{
    Descriptor, ImageConfig, RawPlatform, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX,
};
use crate::model::platform::Platform;
use crate::model::reference::Reference;
use std::collections::BTreeMap;

/// What to do with attestation manifests (BuildKit provenance and SBOM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Attestations {
    /// Keep each attestation whose subject is kept.
    #[default]
    Keep,
    /// Leave every attestation out.
    Drop,
}

/// One entry of a source: the descriptor as the source's index wrote it (for a single
/// manifest, one made from the manifest), and for a runnable entry its config's platform.
#[derive(Debug, Clone)]
pub struct SourceEntry {
    pub descriptor: Descriptor,
    pub config: Option<ConfigPlatform>,
}

/// What a config declares about its platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigPlatform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub os_version: Option<String>,
}

impl From<&ImageConfig> for ConfigPlatform {
    fn from(c: &ImageConfig) -> Self {
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        ConfigPlatform {
            os: c.os.clone(),
            architecture: c.architecture.clone(),
            variant: nonempty(&c.variant),
            os_version: nonempty(&c.os_version),
        }
    }
}

impl ConfigPlatform {
    pub fn platform(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, self.variant.as_deref())
    }
}

/// A source image as read: the name the user gave and its entries in order.
#[derive(Debug, Clone)]
pub struct Source {
    /// As given (`reg/app-amd64:v1`), for messages.
    pub name: String,
    /// `name@digest` of what was read.
    pub reference: Reference,
    pub entries: Vec<SourceEntry>,
}

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub attestations: Attestations,
    /// Only these platforms (each must be found).
    pub platforms: Option<Vec<Platform>>,
    /// A later source's entry replaces an earlier one's for the same platform.
    pub replace: bool,
}

/// One entry of the new index.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Planned {
    pub platform: Option<Platform>,
    pub digest: Digest,
    pub media_type: String,
    pub size: i64,
    /// Index of the source in the order given.
    #[serde(skip)]
    pub source: usize,
    /// The source's name as given.
    pub source_name: String,
    pub attestation: bool,
    pub attests: Option<String>,
    /// The descriptor had no variant; the config's was written.
    pub variant_filled: bool,
    /// The platform object written, as in the index.
    pub index_platform: Option<RawPlatform>,
    #[serde(skip)]
    pub annotations: BTreeMap<String, String>,
}

/// An entry left out because a later source had the same platform (`replace`), or because it
/// was the same manifest as one already kept.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LeftOut {
    pub platform: Platform,
    pub digest: Digest,
    pub source: String,
    #[serde(serialize_with = "crate::model::json::as_text")]
    pub why: LeftOutWhy,
}

/// Why an entry was left out of the new index.
#[derive(Debug, Clone, PartialEq)]
pub enum LeftOutWhy {
    /// The same manifest as the entry of this source, already kept.
    SameManifestAs(String),
    /// A later source of the same platform replaced it (`--replace`).
    ReplacedBy(String),
}

/// The new index, decided.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub media_type: &'static str,
    pub entries: Vec<Planned>,
    pub left_out: Vec<LeftOut>,
    pub attestations_dropped: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("two different images for {platform}: {first_digest} from {first} and {second_digest} from {second}; keep one source per platform, or pass --replace to let the later source win")]
    Conflict {
        platform: String,
        first: String,
        first_digest: Digest,
        second: String,
        second_digest: Digest,
    },
    #[error("{source_name}: entry {digest} claims {index_platform} but its config declares {config_platform}; rebuild or re-tag that image (the index and the image disagree)")]
    Disagrees {
        source_name: String,
        digest: Digest,
        index_platform: String,
        config_platform: String,
    },
    #[error(
        "{source_name}: entry {digest}: {}",
        crate::model::manifest::not_an_image_manifest(media_type)
    )]
    NotAnImage {
        source_name: String,
        digest: Digest,
        media_type: String,
    },
    #[error("{source_name}: entry {digest} has an invalid digest or no config was read")]
    Incomplete { source_name: String, digest: Digest },
    #[error("--platforms {platform}: no source has it (sources have {have})")]
    Missing { platform: Platform, have: String },
    #[error("no runnable image in the sources")]
    Empty,
}

/// The platform written for a runnable entry, and whether its variant was filled in.
fn written_platform(d: &Descriptor, c: &ConfigPlatform) -> (RawPlatform, bool) {
    let norm = c.platform();
    let given = d.platform.as_ref();
    let given_variant = given
        .and_then(|p| p.variant.clone())
        .filter(|v| !v.is_empty());
    let variant = c.variant.clone().or(given_variant.clone());
    let filled = given.is_some() && given_variant.is_none() && variant.is_some();
    (
        RawPlatform {
            os: norm.os().to_string(),
            architecture: norm.arch().to_string(),
            variant,
            os_version: c
                .os_version
                .clone()
                .or_else(|| given.and_then(|p| p.os_version.clone())),
            os_features: given.and_then(|p| p.os_features.clone()),
        },
        filled,
    )
}

/// Whether a descriptor's platform agrees with its config: os and architecture after
/// normalisation, and the variant when the descriptor has one.
fn agrees(d: &RawPlatform, c: &ConfigPlatform) -> bool {
    let has_variant = d.variant.as_deref().is_some_and(|v| !v.is_empty());
    if has_variant {
        d.normalized() == c.platform()
    } else {
        let dp = Platform::new(&d.os, &d.architecture, None);
        let cp = c.platform();
        dp.os() == cp.os() && dp.arch() == cp.arch()
    }
}

/// Decides the new index from `sources` in order.
pub fn plan(sources: &[Source], opts: &PlanOptions) -> Result<Plan, PlanError> {
    let mut kept = Kept::default();
    for (si, src) in sources.iter().enumerate() {
        for e in src
            .entries
            .iter()
            .filter(|e| !e.descriptor.is_attestation())
        {
            if let Some((planned, os_version)) = runnable(si, src, e, opts)? {
                kept.add(planned, os_version, &src.name, opts.replace)?;
            }
        }
    }
    let Kept {
        entries: mut kept,
        left_out,
        ..
    } = kept;
    if let Some(only) = &opts.platforms {
        every_asked(only, &kept, sources)?;
    }
    if kept.is_empty() {
        return Err(PlanError::Empty);
    }
    let (attestations, attestations_dropped) = attestations(sources, &kept, opts.attestations);
    kept.extend(attestations);
    let docker = kept
        .iter()
        .all(|k| k.media_type == DOCKER_MANIFEST && k.annotations.is_empty());
    Ok(Plan {
        media_type: if docker { DOCKER_LIST } else { OCI_INDEX },
        entries: kept,
        left_out,
        attestations_dropped,
    })
}

/// A runnable entry of source `si` as the new index lists it, with its `os.version`; None
/// when `--platforms` does not ask for it. Refused: not an image manifest, no config read,
/// an index platform its config contradicts.
fn runnable(
    si: usize,
    src: &Source,
    e: &SourceEntry,
    opts: &PlanOptions,
) -> Result<Option<(Planned, Option<String>)>, PlanError> {
    let d = &e.descriptor;
    let digest = d.digest.clone();
    if !crate::model::manifest::may_be_image_manifest(&d.media_type) {
        return Err(PlanError::NotAnImage {
            source_name: src.name.clone(),
            digest,
            media_type: d.media_type.clone(),
        });
    }
    let Some(config) = &e.config else {
        return Err(PlanError::Incomplete {
            source_name: src.name.clone(),
            digest,
        });
    };
    if let Some(p) = &d.platform {
        if !agrees(p, config) {
            return Err(PlanError::Disagrees {
                source_name: src.name.clone(),
                digest,
                index_platform: p.normalized().to_string(),
                config_platform: config.platform().to_string(),
            });
        }
    }
    let platform = config.platform();
    if opts
        .platforms
        .as_ref()
        .is_some_and(|only| !only.iter().any(|w| w.matches(&platform)))
    {
        return Ok(None);
    }
    let (raw, variant_filled) = written_platform(d, config);
    let planned = Planned {
        platform: Some(platform),
        digest,
        media_type: d.media_type.clone(),
        size: d.size,
        source: si,
        source_name: src.name.clone(),
        attestation: false,
        attests: None,
        variant_filled,
        index_platform: Some(raw),
        annotations: d.annotations.clone(),
    };
    Ok(Some((planned, config.os_version.clone())))
}

/// The runnable entries kept so far, one per platform (and `os.version`).
#[derive(Default)]
struct Kept {
    entries: Vec<Planned>,
    /// (platform, os.version) => position in `entries`.
    by_platform: BTreeMap<(Platform, Option<String>), usize>,
    left_out: Vec<LeftOut>,
}

impl Kept {
    /// Keeps `planned` of source `name` unless its platform is taken: by the same manifest
    /// (left out), or by another one (replaced with `replace`, else a conflict).
    fn add(
        &mut self,
        planned: Planned,
        os_version: Option<String>,
        name: &str,
        replace: bool,
    ) -> Result<(), PlanError> {
        let Some(platform) = planned.platform.clone() else {
            return Ok(());
        };
        let key = (platform.clone(), os_version);
        let Some(i) = self.by_platform.get(&key).copied() else {
            self.by_platform.insert(key, self.entries.len());
            self.entries.push(planned);
            return Ok(());
        };
        let first = &self.entries[i];
        if first.digest == planned.digest {
            self.left_out.push(LeftOut {
                platform,
                digest: planned.digest,
                source: name.to_string(),
                why: LeftOutWhy::SameManifestAs(first.source_name.clone()),
            });
        } else if replace {
            let old = std::mem::replace(&mut self.entries[i], planned);
            self.left_out.push(LeftOut {
                platform,
                digest: old.digest,
                source: old.source_name,
                why: LeftOutWhy::ReplacedBy(name.to_string()),
            });
        } else {
            return Err(PlanError::Conflict {
                platform: platform.to_string(),
                first: first.source_name.clone(),
                first_digest: first.digest.clone(),
                second: name.to_string(),
                second_digest: planned.digest,
            });
        }
        Ok(())
    }
}

/// Every platform `--platforms` asks for is kept.
fn every_asked(only: &[Platform], kept: &[Planned], sources: &[Source]) -> Result<(), PlanError> {
    for p in only {
        if !kept
            .iter()
            .any(|k| k.platform.as_ref().is_some_and(|q| p.matches(q)))
        {
            let have: Vec<String> = sources
                .iter()
                .flat_map(|s| &s.entries)
                .filter_map(|e| e.config.as_ref().map(|c| c.platform().to_string()))
                .collect();
            return Err(PlanError::Missing {
                platform: p.clone(),
                have: if have.is_empty() {
                    "none".into()
                } else {
                    have.join(", ")
                },
            });
        }
    }
    Ok(())
}

/// The attestations kept (`keep`: each whose subject was kept, once), and how many dropped.
fn attestations(sources: &[Source], kept: &[Planned], mode: Attestations) -> (Vec<Planned>, usize) {
    let mut dropped = 0;
    let mut out: Vec<Planned> = Vec::new();
    for (si, src) in sources.iter().enumerate() {
        for d in src
            .entries
            .iter()
            .map(|e| &e.descriptor)
            .filter(|d| d.is_attestation())
        {
            let subject = d.attests().and_then(|a| a.parse::<Digest>().ok());
            let subject_kept = kept.iter().any(|k| Some(&k.digest) == subject.as_ref());
            let seen = out.iter().any(|a| a.digest == d.digest);
            match (mode, subject_kept) {
                (Attestations::Keep, true) if !seen => out.push(Planned {
                    platform: d.platform(),
                    digest: d.digest.clone(),
                    media_type: d.media_type.clone(),
                    size: d.size,
                    source: si,
                    source_name: src.name.clone(),
                    attestation: true,
                    attests: d.attests().map(str::to_string),
                    variant_filled: false,
                    index_platform: d.platform.clone(),
                    annotations: d.annotations.clone(),
                }),
                (Attestations::Keep, true) => {}
                _ => dropped += 1,
            }
        }
    }
    (out, dropped)
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct OutDescriptor<'a> {
    media_type: &'a str,
    digest: String,
    size: i64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<&'a RawPlatform>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct OutIndex<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: Vec<OutDescriptor<'a>>,
}

impl Plan {
    /// The index as pushed (compact JSON; its digest is the new index's digest).
    pub fn index_bytes(&self) -> Vec<u8> {
        let out = OutIndex {
            schema_version: 2,
            media_type: self.media_type,
            manifests: self
                .entries
                .iter()
                .map(|e| OutDescriptor {
                    media_type: if e.media_type.is_empty() {
                        crate::model::manifest::OCI_MANIFEST
                    } else {
                        &e.media_type
                    },
                    digest: e.digest.to_string(),
                    size: e.size,
                    annotations: &e.annotations,
                    platform: e.index_platform.as_ref(),
                })
                .collect(),
        };
        serde_json::to_vec(&out).unwrap_or_default()
    }

    /// The runnable platforms, in index order.
    pub fn platforms(&self) -> Vec<Platform> {
        self.entries
            .iter()
            .filter(|e| !e.attestation)
            .filter_map(|e| e.platform.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::manifest::{Manifest, OCI_MANIFEST};

    fn dg(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn desc(c: char, mt: &str, platform: Option<(&str, &str, Option<&str>)>) -> Descriptor {
        Descriptor {
            media_type: mt.into(),
            digest: dg(c).parse().unwrap(),
            size: 100,
            platform: platform.map(|(os, arch, v)| RawPlatform {
                os: os.into(),
                architecture: arch.into(),
                variant: v.map(str::to_string),
                os_version: None,
                os_features: None,
            }),
            annotations: BTreeMap::new(),
            urls: vec![],
        }
    }

    fn cfg(arch: &str, variant: Option<&str>) -> Option<ConfigPlatform> {
        Some(ConfigPlatform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(str::to_string),
            os_version: None,
        })
    }

    fn attestation(c: char, subject: char) -> SourceEntry {
        let mut d = desc(c, OCI_MANIFEST, Some(("unknown", "unknown", None)));
        d.annotations.insert(
            "vnd.docker.reference.type".into(),
            "attestation-manifest".into(),
        );
        d.annotations
            .insert("vnd.docker.reference.digest".into(), dg(subject));
        SourceEntry {
            descriptor: d,
            config: None,
        }
    }

    fn source(name: &str, entries: Vec<SourceEntry>) -> Source {
        Source {
            name: name.into(),
            reference: format!("r.example/{name}@{}", dg('f')).parse().unwrap(),
            entries,
        }
    }

    fn single(name: &str, c: char, mt: &str, arch: &str, v: Option<&str>) -> Source {
        source(
            name,
            vec![SourceEntry {
                descriptor: desc(c, mt, None),
                config: cfg(arch, v),
            }],
        )
    }

    #[test]
    fn two_single_images_make_a_docker_list_or_an_oci_index() {
        let p = plan(
            &[
                single("a", '1', DOCKER_MANIFEST, "amd64", None),
                single("b", '2', DOCKER_MANIFEST, "arm64", Some("v8")),
            ],
            &PlanOptions::default(),
        )
        .unwrap();
        assert_eq!(p.media_type, DOCKER_LIST);
        let idx = p.index_bytes();
        let Manifest::Index(parsed) = Manifest::parse(&idx, None).unwrap() else {
            panic!()
        };
        assert_eq!(parsed.manifests.len(), 2);
        assert_eq!(
            parsed.manifests[1]
                .platform
                .as_ref()
                .unwrap()
                .variant
                .as_deref(),
            Some("v8"),
            "the variant comes from the config"
        );
        let p = plan(
            &[
                single("a", '1', OCI_MANIFEST, "amd64", None),
                single("b", '2', DOCKER_MANIFEST, "arm64", None),
            ],
            &PlanOptions::default(),
        )
        .unwrap();
        assert_eq!(p.media_type, OCI_INDEX);
    }

    #[test]
    fn attestations_follow_their_subject() {
        let a = source(
            "a",
            vec![
                SourceEntry {
                    descriptor: desc('1', OCI_MANIFEST, Some(("linux", "amd64", None))),
                    config: cfg("amd64", None),
                },
                attestation('3', '1'),
            ],
        );
        let b = source(
            "b",
            vec![
                SourceEntry {
                    descriptor: desc('2', OCI_MANIFEST, Some(("linux", "arm64", None))),
                    config: cfg("arm64", Some("v8")),
                },
                attestation('4', '2'),
                // An attestation whose subject is not in any source.
                attestation('5', '9'),
            ],
        );
        let p = plan(&[a.clone(), b.clone()], &PlanOptions::default()).unwrap();
        let digests: Vec<String> = p.entries.iter().map(|e| e.digest.to_string()).collect();
        assert_eq!(digests, [dg('1'), dg('2'), dg('3'), dg('4')]);
        assert_eq!(p.attestations_dropped, 1);
        assert!(
            p.entries[1].variant_filled,
            "arm64 gains v8 from its config"
        );
        // Only amd64: arm64's attestation goes with it.
        let only = PlanOptions {
            platforms: Some(vec!["linux/amd64".parse().unwrap()]),
            ..Default::default()
        };
        let p = plan(&[a.clone(), b.clone()], &only).unwrap();
        let digests: Vec<String> = p.entries.iter().map(|e| e.digest.to_string()).collect();
        assert_eq!(digests, [dg('1'), dg('3')]);
        let drop = PlanOptions {
            attestations: Attestations::Drop,
            ..Default::default()
        };
        let p = plan(&[a, b], &drop).unwrap();
        assert_eq!(p.entries.len(), 2);
        assert_eq!(p.attestations_dropped, 3);
    }

    #[test]
    fn a_second_image_for_a_platform_is_refused_unless_replace() {
        let sources = [
            single("a", '1', OCI_MANIFEST, "amd64", None),
            single("b", '2', OCI_MANIFEST, "x86_64", None),
        ];
        let e = plan(&sources, &PlanOptions::default()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("linux/amd64") && text.contains(" from a ") && text.contains(" from b"),
            "{text}"
        );
        let p = plan(
            &sources,
            &PlanOptions {
                replace: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(p.entries.len(), 1);
        assert_eq!(p.entries[0].digest.to_string(), dg('2'));
        assert_eq!(p.left_out[0].why, LeftOutWhy::ReplacedBy("b".into()));
        // The same manifest twice is one entry.
        let same = [
            single("a", '1', OCI_MANIFEST, "amd64", None),
            single("c", '1', OCI_MANIFEST, "amd64", None),
        ];
        let p = plan(&same, &PlanOptions::default()).unwrap();
        assert_eq!(p.entries.len(), 1);
        assert!(matches!(p.left_out[0].why, LeftOutWhy::SameManifestAs(_)));
    }

    #[test]
    fn descriptor_and_config_must_agree() {
        let lying = source(
            "a",
            vec![SourceEntry {
                descriptor: desc('1', OCI_MANIFEST, Some(("linux", "arm64", None))),
                config: cfg("amd64", None),
            }],
        );
        let e = plan(&[lying], &PlanOptions::default()).unwrap_err();
        assert!(matches!(e, PlanError::Disagrees { .. }), "{e}");
        // arm without a variant, config arm/v6: filled, not refused (seed 002).
        let armv6 = source(
            "a",
            vec![SourceEntry {
                descriptor: desc('1', OCI_MANIFEST, Some(("linux", "arm", None))),
                config: cfg("arm", Some("v6")),
            }],
        );
        let p = plan(&[armv6], &PlanOptions::default()).unwrap();
        assert_eq!(p.platforms()[0].to_string(), "linux/arm/v6");
        // Both with variants that differ: refused.
        let v7v6 = source(
            "a",
            vec![SourceEntry {
                descriptor: desc('1', OCI_MANIFEST, Some(("linux", "arm", Some("v7")))),
                config: cfg("arm", Some("v6")),
            }],
        );
        assert!(plan(&[v7v6], &PlanOptions::default()).is_err());
    }

    #[test]
    fn missing_platform_and_nested_index_are_refused() {
        let only = PlanOptions {
            platforms: Some(vec!["linux/s390x".parse().unwrap()]),
            ..Default::default()
        };
        let e = plan(&[single("a", '1', OCI_MANIFEST, "amd64", None)], &only).unwrap_err();
        assert!(e.to_string().contains("linux/amd64"), "{e}");
        let nested = source(
            "n",
            vec![SourceEntry {
                descriptor: desc('1', OCI_INDEX, Some(("linux", "amd64", None))),
                config: None,
            }],
        );
        assert!(matches!(
            plan(&[nested], &PlanOptions::default()),
            Err(PlanError::NotAnImage { .. })
        ));
    }
}
