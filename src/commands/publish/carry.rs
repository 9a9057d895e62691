//! `copy` carries referrers (issue 22): the signatures, SBOMs and attestations attached by
//! subject to the copied index and entries, their own referrers, and cosign's digest tags.
//! A full copy keeps the digest, so a signature stays valid on the target.
//!
//! Each referrer manifest goes to the target by digest with its blobs (mounted within a
//! registry, else copied). Where the target has the referrers API it indexes them itself;
//! otherwise the fallback tag `sha256-<hex>` is written: the source's listing as it is where
//! the target has none (the same bytes, so the same digest), else merged with the target's,
//! whose entries are all kept (distribution-spec 1.1, "Pushing Manifests with Subject").
//! cosign's `.sig` / `.att` / `.sbom` tags are pushed as tags. The read-back lists the target's
//! referrers again and names any that did not arrive.

use super::{transfer, Item, Material, PublishOptions};
use crate::model::digest::Digest;
use crate::model::reference::Reference;
use crate::registry::referrers::{Discovery, SubjectReferrers};
use crate::registry::{RegistryError, RegistryWrite};
use bytes::Bytes;

/// Which referrers a copy carries (`--referrers`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Carry {
    /// Every referrer and cosign tag (the default).
    #[default]
    All,
    None,
    /// Referrers of these artifact types (with their own referrers); cosign tags when
    /// `application/vnd.dev.cosign.simplesigning.v1+json` (`.sig`) is among them.
    Types(Vec<String>),
}

impl std::str::FromStr for Carry {
    type Err = String;
    fn from_str(s: &str) -> Result<Carry, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "all" => return Ok(Carry::All),
            "none" => return Ok(Carry::None),
            _ => {}
        }
        let types: Vec<String> = s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect();
        if types.is_empty() {
            return Err("give all, none, or artifact types (TYPE[,TYPE...])".into());
        }
        for t in &types {
            if t.eq_ignore_ascii_case("all") || t.eq_ignore_ascii_case("none") {
                return Err(format!("{t} stands alone; it cannot be listed with types"));
            }
            crate::model::given::parse_artifact_type(t).map_err(|e| format!("{t}: {e}"))?;
        }
        Ok(Carry::Types(types))
    }
}

/// Whether `src`'s repository may hold referrers of `index` or its entries: false only when
/// the registry has no referrers API, `index` has none, and the repository's tag list has no
/// `sha256-` tag at all (no fallback listing or cosign tag of any subject). Costs the API's
/// answer for `index` (a 404 once per registry and run) and the tag list (none when given).
pub async fn may_have_referrers<R: RegistryWrite>(
    reg: &R,
    src: &Reference,
    index: &Digest,
    opts: &PublishOptions,
) -> Result<bool, RegistryError> {
    if opts.referrers == Carry::None {
        return Ok(false);
    }
    let mut d = Discovery::new(reg, src);
    d.shallow = true;
    if let Some(tags) = &opts.source_tags {
        d.preset_tags(tags.clone());
    }
    let found = d.of(index).await?;
    if d.has_api() == Some(true) || !found.is_empty() {
        return Ok(true);
    }
    Ok(d.tag_set().await?.iter().any(|t| t.starts_with("sha256-")))
}

/// What was carried. JSON: `referrers` of the copy report.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Carried {
    /// Referrer manifests carried (their own referrers included).
    pub referrers: usize,
    pub cosign_tags: usize,
    /// How the target lists them: `referrers-api`, or `tag-schema` (fallback tags written).
    pub target_via: Option<&'static str>,
    pub fallback_tags_written: usize,
    /// Of those, already listed on the target (a re-run): not carried again.
    pub already_there: usize,
    /// Carried referrers the read-back did not find listed on the target.
    pub missing: Vec<Digest>,
    /// Listed on the source but gone from it (a dangling listing entry): left out.
    pub unreadable: Vec<Digest>,
    /// cosign tags the target has with other content: kept, the source's not carried.
    #[serde(serialize_with = "crate::model::json::as_texts")]
    pub conflicts: Vec<TagConflict>,
    /// Listed on the source under a subject their manifest does not name: left out.
    pub foreign: Vec<Digest>,
    /// Per subject, what the source has.
    pub source: Vec<SubjectReferrers>,
}

impl Carried {
    /// Adds what another source's carry did (index create: one per source).
    pub fn add(&mut self, c: Carried) {
        self.referrers += c.referrers;
        self.cosign_tags += c.cosign_tags;
        self.already_there += c.already_there;
        self.fallback_tags_written += c.fallback_tags_written;
        self.target_via = self.target_via.or(c.target_via);
        self.missing.extend(c.missing);
        self.unreadable.extend(c.unreadable);
        self.conflicts.extend(c.conflicts);
        self.foreign.extend(c.foreign);
        self.source.extend(c.source);
    }
}

/// A cosign tag the target has with other content: its own signatures, kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagConflict {
    /// The target's tagged reference.
    pub reference: String,
    /// The tag.
    pub tag: String,
    /// What the target's tag names.
    pub have: Digest,
    /// What the source's tag names (not carried).
    pub source: Digest,
}

/// Carries the referrers of `subjects` from `src`'s repository to `target`'s: what the source
/// lists, what of it is chosen ([`chosen`]), what the target lists already, the rest read,
/// checked ([`place`]) and sent ([`transfer`]), cosign's tags and the fallback listings
/// written, then the read-back.
pub async fn carry<R: RegistryWrite>(
    reg: &R,
    src: &Reference,
    target: &Reference,
    subjects: &[Digest],
    which: &Carry,
    opts: &PublishOptions,
) -> Result<Carried, RegistryError> {
    let mut out = Carried::default();
    if *which == Carry::None || src.same_repository(target) {
        return Ok(out);
    }
    let mut found = Discovery::new(reg, src);
    if let Some(tags) = &opts.source_tags {
        found.preset_tags(tags.clone());
    }
    // Every referrer goes: the listings decide, manifests are read only for what is carried.
    found.shallow = *which == Carry::All;
    // One type: the registry filters the listing (the API's `artifactType`).
    if let Carry::Types(ts) = which {
        if let [t] = ts.as_slice() {
            found.filter = Some(t.clone());
        }
    }
    for s in subjects {
        let r = found.of(s).await?;
        if !r.is_empty() {
            out.source.push(r);
        }
    }
    let Chosen { digests, tags } = chosen(&out.source, which);
    if digests.is_empty() {
        return Ok(out);
    }
    // What the target lists already (a re-run): those are not carried again.
    // The top subjects only: their referrers' own come along in the walk (a nested subject
    // asked first would be "seen" and hide itself from its parent's listing).
    let subjects_listed: Vec<Digest> = out.source.iter().map(|s| s.subject.clone()).collect();
    let listed = listed_on(reg, target, &subjects_listed).await?;
    // How the target lists referrers: learnt by that comparison, not asked again.
    out.target_via = Some(if listed.api {
        "referrers-api"
    } else {
        "tag-schema"
    });
    let tag_digests: Vec<&Digest> = tags.iter().map(|(_, d)| d).collect();
    let todo: Vec<Digest> = digests
        .iter()
        .filter(|d| !listed.digests.contains(d))
        .cloned()
        .collect();
    out.referrers = digests.iter().filter(|d| !tag_digests.contains(d)).count();
    out.cosign_tags = tags.len();
    out.already_there = digests.len() - todo.len();
    if todo.is_empty() {
        return Ok(out);
    }
    // A listed manifest the source no longer has is left out, and said (it signs nothing).
    let mut gone = read_manifests(reg, src, &todo, &mut found.manifests).await?;
    let misplaced = place(&mut out, &found.manifests, &mut gone);
    out.referrers -= gone
        .iter()
        .filter(|d| todo.contains(d) && !tag_digests.contains(d))
        .count();
    let todo: Vec<Digest> = todo.into_iter().filter(|d| !gone.contains(d)).collect();
    let material = material(src, &todo, &found.manifests);
    let carried: Vec<Digest> = digests.into_iter().filter(|d| !gone.contains(d)).collect();
    let moved: Vec<Digest> = material.items.keys().cloned().collect();
    transfer(reg, target, &moved, true, &material, opts).await?;
    if opts.dry_run {
        return Ok(out);
    }
    let pushed: Vec<(String, Digest)> = tags
        .iter()
        .filter(|(_, d)| todo.contains(d))
        .cloned()
        .collect();
    out.conflicts = push_cosign_tags(reg, target, &pushed, &material).await?;
    // Listing on the target: the API indexes pushed subjects itself; else the fallback tags.
    if !listed.api {
        let listings = Listings {
            source: &found.listings,
            carried: &carried,
            misplaced: &misplaced,
            target_tags: &listed.tags,
        };
        out.fallback_tags_written = write_listings(reg, target, listings).await?;
    }
    // Read-back: every carried referrer is listed on the target (the listings read anew).
    let listed = listed_on(reg, target, &subjects_listed).await?.digests;
    let conflicted: Vec<Digest> = tags
        .iter()
        .filter(|(tag, _)| out.conflicts.iter().any(|c| &c.tag == tag))
        .map(|(_, d)| d.clone())
        .collect();
    out.missing = carried
        .iter()
        .filter(|d| !listed.contains(d) && !conflicted.contains(d))
        .cloned()
        .collect();
    Ok(out)
}

/// The manifests to carry: each chosen referrer with its own referrers, and the manifests
/// cosign's tags name (with their tags).
struct Chosen {
    digests: Vec<Digest>,
    tags: Vec<(String, Digest)>,
}

fn chosen(source: &[SubjectReferrers], which: &Carry) -> Chosen {
    let wanted = |t: Option<&str>| match which {
        Carry::Types(ts) => t.is_some_and(|t| ts.iter().any(|x| x == t)),
        _ => true,
    };
    let tags_wanted = match which {
        Carry::Types(ts) => ts
            .iter()
            .any(|t| t == "application/vnd.dev.cosign.simplesigning.v1+json"),
        _ => true,
    };
    fn collect(
        rs: &[crate::registry::referrers::Referrer],
        all: bool,
        want: &dyn Fn(Option<&str>) -> bool,
        out: &mut Vec<Digest>,
    ) {
        for r in rs {
            if all || want(r.artifact_type.as_deref()) {
                out.push(r.digest.clone());
                collect(&r.referrers, true, want, out);
            }
        }
    }
    let mut digests: Vec<Digest> = Vec::new();
    let mut tags: Vec<(String, Digest)> = Vec::new();
    for s in source {
        collect(&s.referrers, false, &wanted, &mut digests);
        if tags_wanted {
            for t in &s.cosign_tags {
                if let Some(d) = t.digest.clone() {
                    digests.push(d.clone());
                    tags.push((t.tag.clone(), d));
                }
            }
        }
    }
    let mut once = std::collections::HashSet::new();
    digests.retain(|d| once.insert(d.clone()));
    Chosen { digests, tags }
}

/// Manifests read so far, by digest: bytes and media type.
type Manifests = std::collections::BTreeMap<Digest, (Vec<u8>, String)>;

/// Reads the manifests of `todo` the listings did not bring; those the source no longer has
/// are returned.
async fn read_manifests<R: RegistryWrite>(
    reg: &R,
    src: &Reference,
    todo: &[Digest],
    manifests: &mut Manifests,
) -> Result<Vec<Digest>, RegistryError> {
    let mut gone = Vec::new();
    for d in todo {
        if let std::collections::btree_map::Entry::Vacant(slot) = manifests.entry(d.clone()) {
            match reg.manifest(&src.with_digest(d)).await {
                Ok(f) => {
                    let media_type = f.manifest.media_type().to_string();
                    slot.insert((f.bytes, media_type));
                }
                Err(e) if e.is_not_found() => gone.push(d.clone()),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(gone)
}

/// What the listings left open, from the manifests now read: each referrer's own type, and
/// entries whose manifest names another subject. Such an entry is left out of that subject's
/// listing only: the same manifest listed under its own subject still goes (a misplaced entry
/// must not hide a real one: newcomer pass). Entries misplaced everywhere are `foreign` and
/// join `gone`; `unreadable` is the rest of `gone`. Returns the misplaced (subject, entry)
/// pairs.
fn place(
    out: &mut Carried,
    manifests: &Manifests,
    gone: &mut Vec<Digest>,
) -> std::collections::HashSet<(Digest, Digest)> {
    let mut misplaced: std::collections::HashSet<(Digest, Digest)> = Default::default();
    let mut placed: std::collections::HashSet<Digest> = Default::default();
    for s in &mut out.source {
        let subject = s.subject.clone();
        under(&mut s.referrers, &subject, &mut |parent, r| {
            let Some((bytes, _)) = manifests.get(&r.digest) else {
                placed.insert(r.digest.clone());
                return;
            };
            let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
            if r.artifact_type.is_none() {
                r.artifact_type = crate::registry::referrers::artifact_type(&v).map(str::to_string);
            }
            let other = crate::registry::referrers::foreign(&v, parent);
            match other {
                Some(other) => {
                    r.names_other_subject = Some(other);
                    misplaced.insert((parent.clone(), r.digest.clone()));
                }
                None => {
                    placed.insert(r.digest.clone());
                }
            }
        });
    }
    for (_, d) in &misplaced {
        if !placed.contains(d) && !out.foreign.contains(d) {
            out.foreign.push(d.clone());
            gone.push(d.clone());
        }
    }
    out.unreadable = gone
        .iter()
        .filter(|d| !out.foreign.contains(d))
        .cloned()
        .collect();
    misplaced
}

/// The manifests of `todo` with the blobs they name, ready for [`transfer`].
fn material(src: &Reference, todo: &[Digest], manifests: &Manifests) -> Material {
    let mut material = Material::default();
    for d in todo {
        let Some((bytes, media_type)) = manifests.get(d) else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
        let blobs = std::iter::once(&v["config"])
            .chain(v["layers"].as_array().into_iter().flatten())
            .filter_map(|b| {
                Some((
                    b["digest"].as_str()?.parse().ok()?,
                    b["size"].as_i64().unwrap_or(0),
                    false,
                ))
            })
            .collect();
        material.items.insert(
            d.clone(),
            Item {
                bytes: Bytes::from(bytes.clone()),
                media_type: media_type.clone(),
                from: src.with_digest(d),
                blobs,
            },
        );
    }
    material
}

/// Pushes cosign's tags. A tag the target has with other content holds the target's own
/// signatures: never overwritten (the source's are then not carried, and said).
async fn push_cosign_tags<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    tags: &[(String, Digest)],
    material: &Material,
) -> Result<Vec<TagConflict>, RegistryError> {
    let mut conflicts = Vec::new();
    for (tag, d) in tags {
        if let (Ok(t), Some(item)) = (target.with_tag(tag), material.items.get(d)) {
            match reg.manifest_head(&t, true).await? {
                Some((have, _)) if &have != d => {
                    conflicts.push(TagConflict {
                        reference: t.to_string(),
                        tag: tag.clone(),
                        have,
                        source: d.clone(),
                    });
                    continue;
                }
                _ => {}
            }
            reg.put_manifest(&t, item.bytes.clone(), &item.media_type)
                .await?;
        }
    }
    Ok(conflicts)
}

/// The source's fallback listings and what of them was carried.
struct Listings<'a> {
    /// Subject => the source's listing bytes (every listing read, an SBOM's own included).
    source: &'a std::collections::BTreeMap<Digest, Vec<u8>>,
    carried: &'a [Digest],
    misplaced: &'a std::collections::HashSet<(Digest, Digest)>,
    target_tags: &'a std::collections::HashSet<String>,
}

/// Writes the target's fallback tags: each source listing with only what was carried in it,
/// merged with the target's own where it has one. Returns how many were written.
async fn write_listings<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    l: Listings<'_>,
) -> Result<usize, RegistryError> {
    let mut written = 0;
    for (subject, listing) in l.source {
        let Ok(tag) = target.with_tag(&format!("sha256-{}", subject.hex())) else {
            continue;
        };
        let here: Vec<Digest> = l
            .carried
            .iter()
            .filter(|d| !l.misplaced.contains(&((*subject).clone(), (*d).clone())))
            .cloned()
            .collect();
        let Some(ours) = only(listing, &here) else {
            continue;
        };
        // The target's tag list (read for the comparison) says whether there is one.
        let present = tag.tag().is_some_and(|t| l.target_tags.contains(t));
        let bytes = match present {
            false => Some(ours),
            true => match reg.manifest(&tag).await {
                Ok(have) => merge(&have.bytes, &ours),
                Err(e) if e.is_not_found() => Some(ours),
                Err(e) => return Err(e),
            },
        };
        if let Some(b) = bytes {
            reg.put_manifest(
                &tag,
                Bytes::from(b),
                "application/vnd.oci.image.index.v1+json",
            )
            .await?;
            written += 1;
        }
    }
    Ok(written)
}

/// Calls `f` on every referrer under `rs` with the digest of the subject it was listed under.
fn under(
    rs: &mut [crate::registry::referrers::Referrer],
    parent: &Digest,
    f: &mut dyn FnMut(&Digest, &mut crate::registry::referrers::Referrer),
) {
    for r in rs {
        f(parent, r);
        let d = r.digest.clone();
        under(&mut r.referrers, &d, f);
    }
}

/// What the target lists for the source's subjects.
struct Listed {
    /// Their referrers (recursively) and cosign tags' manifests.
    digests: Vec<Digest>,
    /// The target repository's tags.
    tags: std::sync::Arc<std::collections::HashSet<String>>,
    /// The target has the referrers API.
    api: bool,
}

/// Every digest the target lists for `subjects` (their referrers, recursively, and cosign
/// tags), from the listings alone.
async fn listed_on<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    subjects: &[Digest],
) -> Result<Listed, RegistryError> {
    let mut d = Discovery::new(reg, target);
    d.shallow = true;
    let mut digests = Vec::new();
    fn all(rs: &[crate::registry::referrers::Referrer], out: &mut Vec<Digest>) {
        for r in rs {
            out.push(r.digest.clone());
            all(&r.referrers, out);
        }
    }
    for s in subjects {
        let r = d.of(s).await?;
        all(&r.referrers, &mut digests);
        digests.extend(r.cosign_tags.iter().filter_map(|t| t.digest.clone()));
    }
    Ok(Listed {
        api: d.has_api() == Some(true),
        tags: d.tag_set().await?,
        digests,
    })
}

/// `listing` with only the entries `carried` names: the same bytes when it names only those
/// (so a fallback index copied whole keeps its digest); None when it names none.
fn only(listing: &[u8], carried: &[Digest]) -> Option<Vec<u8>> {
    let mut v: serde_json::Value = serde_json::from_slice(listing).ok()?;
    let list = v.get_mut("manifests")?.as_array_mut()?;
    let before = list.len();
    list.retain(|d| {
        d["digest"]
            .as_str()
            .and_then(|x| x.parse::<Digest>().ok())
            .is_some_and(|x| carried.contains(&x))
    });
    match list.len() {
        0 => None,
        n if n == before => Some(listing.to_vec()),
        _ => serde_json::to_vec(&v).ok(),
    }
}

/// The target's fallback index with the source's entries it lacks added (every entry of the
/// target's kept, in its order); None when it already lists them all.
fn merge(have: &[u8], ours: &[u8]) -> Option<Vec<u8>> {
    let mut have: serde_json::Value = serde_json::from_slice(have).ok()?;
    let ours: serde_json::Value = serde_json::from_slice(ours).ok()?;
    let list = have.get_mut("manifests")?.as_array_mut()?;
    let mut added = false;
    for d in ours["manifests"].as_array().into_iter().flatten() {
        if !list.iter().any(|x| x["digest"] == d["digest"]) {
            list.push(d.clone());
            added = true;
        }
    }
    added.then(|| serde_json::to_vec(&have).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fallback_index_keeps_the_targets_entries() {
        let have = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:aa","size":1}]}"#;
        let ours =
            br#"{"manifests":[{"digest":"sha256:aa","size":1},{"digest":"sha256:bb","size":2}]}"#;
        let m: serde_json::Value = serde_json::from_slice(&merge(have, ours).unwrap()).unwrap();
        let digests: Vec<&str> = m["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["digest"].as_str().unwrap())
            .collect();
        assert_eq!(digests, ["sha256:aa", "sha256:bb"]);
        assert!(
            merge(have, have).is_none(),
            "nothing to add: nothing written"
        );
        assert_eq!("none".parse::<Carry>().unwrap(), Carry::None);
        assert_eq!(
            "application/spdx+json".parse::<Carry>().unwrap(),
            Carry::Types(vec!["application/spdx+json".into()])
        );
    }
}
