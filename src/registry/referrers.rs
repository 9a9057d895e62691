//! Referrers: signatures, SBOMs and attestations attached to an image from outside, by
//! `subject` (OCI distribution-spec 1.1 "Listing Referrers" and "Referrers Tag Schema"), and
//! cosign's older digest tags (`sha256-<hex>.sig`, `.att`, `.sbom`).
//!
//! Discovery order, per repository and run (spec-notes, "Referrers"): the referrers API
//! (`GET /v2/<name>/referrers/<digest>`) on the first subject; a 404 means the registry has
//! none, remembered for the run, and the tag schema is used instead: the repository's tag list,
//! read once, says which subjects have a fallback tag `sha256-<hex>` (an index of referrer
//! descriptors) and which have cosign tags, so a subject without referrers costs nothing more.
//! Each referrer's manifest is read (digest checked) for its artifact type (`artifactType`, else
//! its config's media type: cosign writes the config's type into the fallback index), its
//! annotations, and its own referrers (signatures of SBOMs), to a bounded depth, loops cut.

use crate::model::digest::Digest;
use crate::model::manifest::MAX_REFERRERS_PER_SUBJECT;
use crate::model::reference::Reference;
use crate::registry::{Registry, RegistryError};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Referrers of referrers, levels below the image.
pub const MAX_DEPTH: usize = 3;
/// Referrers read per run.
pub const MAX_TOTAL: usize = 1024;

/// The annotations shown: what people look for (creation time, sigstore and notary markers).
fn kept(key: &str) -> bool {
    key == "org.opencontainers.image.created"
        || key.starts_with("dev.sigstore.")
        || key.starts_with("io.cncf.notary.")
}

/// One referrer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Referrer {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// The manifest's `artifactType`, else its config's media type, else the descriptor's.
    pub artifact_type: Option<String>,
    pub annotations: BTreeMap<String, String>,
    /// Its own referrers (a signature of an SBOM).
    pub referrers: Vec<Referrer>,
    /// Why its manifest could not be read (the descriptor is shown as listed).
    pub error: Option<String>,
    /// The other subject its manifest names (listed here by mistake: a fallback index is
    /// written by clients): not counted, not carried.
    pub names_other_subject: Option<String>,
}

/// A cosign digest tag (`sha256-<hex>.sig`, `.att`, `.sbom`) and the manifest it names.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CosignTag {
    pub tag: String,
    pub digest: Option<Digest>,
    /// What its manifest holds, read from it (not from the tag's name): its layers' media
    /// type (`application/vnd.dev.cosign.simplesigning.v1+json` for `.sig`,
    /// `application/vnd.dsse.envelope.v1+json` for `.att`); None for a runnable image or an
    /// index (a tag that names one is not a signature).
    pub artifact_type: Option<String>,
}

/// The referrers of one subject.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SubjectReferrers {
    pub subject: Digest,
    /// `referrers-api` or `tag-schema`.
    pub via: &'static str,
    pub referrers: Vec<Referrer>,
    pub cosign_tags: Vec<CosignTag>,
    /// Why its listing was ignored (a fallback tag that is not an index of referrers).
    pub listing_error: Option<String>,
}

impl SubjectReferrers {
    /// The artifact types of the subject's own referrers (not of referrers of referrers: a
    /// signature of the SBOM does not sign the image), those whose manifest could be read.
    pub fn direct_types(&self) -> Vec<&str> {
        self.referrers
            .iter()
            .filter(|r| r.error.is_none() && r.names_other_subject.is_none())
            .filter_map(|r| r.artifact_type.as_deref())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.referrers.is_empty() && self.cosign_tags.is_empty()
    }
}

/// A listed descriptor, before its manifest is read.
struct Listed {
    digest: Digest,
    media_type: String,
    size: u64,
    artifact_type: Option<String>,
    annotations: BTreeMap<String, String>,
}

/// Discovery in one repository for one run: the API's presence and the tag list are learnt
/// once.
pub struct Discovery<'a, R: Registry> {
    reg: &'a R,
    repo: &'a Reference,
    api: Option<bool>,
    tags: Option<Arc<HashSet<String>>>,
    /// The subjects above the level being read (a referrer naming one of them is a loop).
    path: Vec<Digest>,
    /// Subject => why its fallback tag lists nothing (not an index of referrers).
    listing_errors: BTreeMap<String, String>,
    total: usize,
    /// Every referrer manifest read (digest => bytes, media type), for a copy to carry.
    pub manifests: BTreeMap<Digest, (Vec<u8>, String)>,
    /// Each subject's listing as read (the API's answer or the fallback tag's index).
    pub listings: BTreeMap<Digest, Vec<u8>>,
    /// Listings only: no referrer manifest is read (artifact types as listed). What a copy
    /// that carries every referrer needs to compare source and target.
    pub shallow: bool,
    /// Only the subjects' own referrers of this artifact type (their referrers all): sent to
    /// the API as `artifactType` (filtered here where the registry does not apply it), and
    /// applied to fallback listings.
    pub filter: Option<String>,
}

impl<'a, R: Registry> Discovery<'a, R> {
    pub fn new(reg: &'a R, repo: &'a Reference) -> Self {
        Discovery {
            reg,
            repo,
            api: None,
            tags: None,
            path: Vec::new(),
            listing_errors: BTreeMap::new(),
            total: 0,
            manifests: BTreeMap::new(),
            listings: BTreeMap::new(),
            shallow: false,
            filter: None,
        }
    }

    /// The referrers of `subject`, and its cosign tags.
    pub async fn of(&mut self, subject: &Digest) -> Result<SubjectReferrers, RegistryError> {
        self.path = vec![subject.clone()];
        let referrers = self.level(subject, 0).await?;
        let listing_error = self.listing_errors.get(&subject.to_string()).cloned();
        let present: Vec<String> = {
            let tags = self.tags().await?;
            ["sig", "att", "sbom"]
                .iter()
                .map(|suffix| format!("sha256-{}.{suffix}", subject.hex()))
                .filter(|t| tags.contains(t))
                .collect()
        };
        let mut cosign_tags = Vec::new();
        for tag in present {
            let (mut digest, mut artifact_type) = (None, None);
            if let Ok(r) = self.repo.with_tag(&tag) {
                if let Ok(f) = self.reg.manifest(&r).await {
                    if let crate::model::manifest::Manifest::Image(m) = &f.manifest {
                        artifact_type = m.artifact().map(str::to_string);
                    }
                    let media_type = f.manifest.media_type().to_string();
                    self.manifests
                        .insert(f.digest.clone(), (f.bytes.clone(), media_type));
                    digest = Some(f.digest.clone());
                }
            }
            cosign_tags.push(CosignTag {
                tag,
                digest,
                artifact_type,
            });
        }
        Ok(SubjectReferrers {
            subject: subject.clone(),
            via: if self.api == Some(true) {
                "referrers-api"
            } else {
                "tag-schema"
            },
            referrers,
            cosign_tags,
            listing_error,
        })
    }

    /// Whether the registry answered the referrers API (None until a subject was asked).
    pub fn has_api(&self) -> Option<bool> {
        self.api
    }

    /// The repository's tags (read once per discovery).
    pub async fn tag_set(&mut self) -> Result<Arc<HashSet<String>>, RegistryError> {
        Ok(self.tags().await?.clone())
    }

    /// The repository's tags as the caller read them already (not read again).
    pub fn preset_tags(&mut self, tags: Arc<HashSet<String>>) {
        self.tags = Some(tags);
    }

    async fn tags(&mut self) -> Result<&Arc<HashSet<String>>, RegistryError> {
        if self.tags.is_none() {
            let listed: HashSet<String> = match self.reg.tags(self.repo).await {
                Ok(t) => t.into_iter().collect(),
                Err(e) if e.is_not_found() => HashSet::new(),
                Err(e) => return Err(e),
            };
            self.tags = Some(Arc::new(listed));
        }
        Ok(self.tags.as_ref().expect("just set"))
    }

    /// The referrers of `subject` at `depth`, each read, their own below them.
    fn level<'b>(
        &'b mut self,
        subject: &'b Digest,
        depth: usize,
    ) -> futures_util::future::LocalBoxFuture<'b, Result<Vec<Referrer>, RegistryError>>
    where
        'a: 'b,
    {
        Box::pin(async move {
            let filter = match depth {
                0 => self.filter.clone(),
                _ => None,
            };
            let listed = self.list(subject, filter.as_deref()).await?;
            let mut out = Vec::new();
            for l in listed.into_iter().take(MAX_REFERRERS_PER_SUBJECT) {
                // A loop (a referrer naming itself or an ancestor) and the run's bound end
                // here; the same referrer under two subjects is listed under both.
                if self.path.contains(&l.digest) || self.total >= MAX_TOTAL {
                    continue;
                }
                self.total += 1;
                let mut r = Referrer {
                    digest: l.digest.clone(),
                    media_type: l.media_type,
                    size: l.size,
                    artifact_type: l.artifact_type,
                    annotations: l.annotations,
                    referrers: vec![],
                    error: None,
                    names_other_subject: None,
                };
                let read = match self.shallow {
                    true => None,
                    false => Some(self.reg.manifest(&self.repo.with_digest(&l.digest)).await),
                };
                match read {
                    None => {}
                    Some(Ok(f)) => {
                        let v: serde_json::Value =
                            serde_json::from_slice(&f.bytes).unwrap_or_default();
                        let media_type =
                            v["mediaType"].as_str().unwrap_or(&r.media_type).to_string();
                        self.manifests
                            .insert(l.digest.clone(), (f.bytes.clone(), media_type));
                        if let Some(t) = artifact_type(&v) {
                            r.artifact_type = Some(t.to_string());
                        }
                        r.annotations.extend(annotations(&v["annotations"]));
                        r.names_other_subject = foreign(&v, subject);
                    }
                    Some(Err(e)) => r.error = Some(e.to_string()),
                }
                if depth + 1 < MAX_DEPTH {
                    self.path.push(l.digest.clone());
                    let below = self.level(&l.digest, depth + 1).await;
                    self.path.pop();
                    r.referrers = below?;
                }
                out.push(r);
            }
            Ok(out)
        })
    }

    /// The descriptors that name `subject`: the API, else the fallback tag's index.
    async fn list(
        &mut self,
        subject: &Digest,
        filter: Option<&str>,
    ) -> Result<Vec<Listed>, RegistryError> {
        if self.api != Some(false) {
            match self.reg.referrers_api(self.repo, subject, filter).await? {
                Some(bytes) => {
                    self.api = Some(true);
                    let l = listed(&bytes);
                    self.listings.insert(subject.clone(), bytes);
                    return Ok(l);
                }
                None => self.api = Some(false),
            }
        }
        let tag = format!("sha256-{}", subject.hex());
        if !self.tags().await?.contains(&tag) {
            return Ok(vec![]);
        }
        let Some(r) = self.repo.with_tag(&tag).ok() else {
            return Ok(vec![]);
        };
        match self.reg.manifest(&r).await {
            // A fallback tag that is not a referrers index (junk, or an image) lists nothing:
            // said, and the rest goes on (a client wrote it, not the registry).
            Ok(f) if !matches!(f.manifest, crate::model::manifest::Manifest::Index(_)) => {
                self.listing_errors.insert(
                    subject.to_string(),
                    format!("its fallback tag {tag} is an image manifest, not an index of referrers: ignored"),
                );
                Ok(vec![])
            }
            Err(RegistryError::Manifest { source, .. }) => {
                self.listing_errors.insert(
                    subject.to_string(),
                    format!(
                        "its fallback tag {tag} is not an index of referrers ({source}): ignored"
                    ),
                );
                Ok(vec![])
            }
            Ok(f) => {
                let mut l = listed(&f.bytes);
                self.listings.insert(subject.clone(), f.bytes);
                if let Some(t) = filter {
                    // An entry listed without a type (cosign's) is decided by its manifest.
                    l.retain(|x| x.artifact_type.as_deref().is_none_or(|a| a == t));
                }
                Ok(l)
            }
            Err(e) if e.is_not_found() => Ok(vec![]),
            Err(e) => Err(e),
        }
    }
}

/// A referrer manifest's artifact type: its `artifactType`, else its config's media type
/// (cosign's signatures), never the empty descriptor's.
pub fn artifact_type(manifest: &serde_json::Value) -> Option<&str> {
    manifest["artifactType"]
        .as_str()
        .or_else(|| manifest["config"]["mediaType"].as_str())
        .filter(|t| *t != EMPTY && !t.is_empty())
}

/// The other subject a manifest listed under `subject` names, when it names another (a
/// fallback index is written by clients, and may list anything).
pub fn foreign(manifest: &serde_json::Value, subject: &Digest) -> Option<String> {
    let named = manifest["subject"]["digest"].as_str()?;
    (named != subject.to_string()).then(|| named.to_string())
}

/// The OCI empty descriptor's media type: no artifact type of its own.
const EMPTY: &str = "application/vnd.oci.empty.v1+json";

fn annotations(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| kept(k))
        .filter_map(|(k, v)| {
            v.as_str()
                .map(|s| (k.clone(), s.chars().take(200).collect()))
        })
        .collect()
}

/// The descriptors of a referrers index (API answer or fallback tag), bounded.
fn listed(bytes: &[u8]) -> Vec<Listed> {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    v["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .take(MAX_REFERRERS_PER_SUBJECT)
        .filter_map(|d| {
            Some(Listed {
                digest: d["digest"].as_str()?.parse().ok()?,
                media_type: d["mediaType"].as_str().unwrap_or("").to_string(),
                size: d["size"].as_u64().unwrap_or(0),
                artifact_type: d["artifactType"]
                    .as_str()
                    .filter(|t| *t != EMPTY)
                    .map(str::to_string),
                annotations: annotations(&d["annotations"]),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_are_read_as_listed_and_bounded() {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": format!("sha256:{}", "a".repeat(64)), "size": 875,
                 "artifactType": "application/vnd.oci.empty.v1+json"},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": format!("sha256:{}", "b".repeat(64)), "size": 718,
                 "annotations": {"org.opencontainers.image.created": "2026-12-01T23:09:24Z", "x": "y"},
                 "artifactType": "application/spdx+json"},
                {"digest": "not a digest"}
            ]
        });
        let l = listed(index.to_string().as_bytes());
        assert_eq!(l.len(), 2);
        // cosign's fallback entry carries the empty config type: no artifact type of its own.
        assert_eq!(l[0].artifact_type, None);
        assert_eq!(l[1].artifact_type.as_deref(), Some("application/spdx+json"));
        assert_eq!(
            l[1].annotations.len(),
            1,
            "only the annotations people look for"
        );
        let many = serde_json::json!({"manifests": (0..1000).map(|i| serde_json::json!({
            "digest": format!("sha256:{:064x}", i), "size": 1})).collect::<Vec<_>>()});
        assert_eq!(
            listed(many.to_string().as_bytes()).len(),
            MAX_REFERRERS_PER_SUBJECT
        );
        assert!(listed(b"not json").is_empty());
    }
}
