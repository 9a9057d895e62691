//! `runref index create` and `runref copy`: read the sources (every manifest checked against its
//! digest), decide the new index ([`crate::commands::assemble`]) or keep the source's own bytes (a full
//! copy), move what the target lacks (a cross-repository mount, one request per blob, within a
//! registry; a digest-checked stream between registries; nothing read twice), push by digest,
//! then each tag in order, and read the result back by digest through `verify`.

use crate::commands::assemble::{
    self, Attestations, ConfigPlatform, PlanError, Planned, Source, SourceEntry,
};
use crate::commands::verify::{Problem, VerifyOptions};
use crate::model::digest::Digest;
use crate::model::manifest::{Descriptor, ImageConfig, Manifest};
use crate::model::platform::Platform;
use crate::model::reference::Reference;
use crate::registry::{Mount, Registry, RegistryError, RegistryWrite};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use std::collections::BTreeMap;

mod carry;
mod prove;
mod read;
mod transfer;
pub use carry::{Carried, Carry, TagConflict};
use prove::{conclude, reprove, tags_at, tags_of, up_to_date, up_to_date_report};
use read::{as_planned, read_source, Item, Material, Read};
use transfer::transfer;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Bad arguments (exit 2).
    #[error("{0}")]
    Input(String),
    #[error("cannot create the index: {0}")]
    Plan(Box<PlanError>),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl From<PlanError> for PublishError {
    fn from(e: PlanError) -> Self {
        PublishError::Plan(Box::new(e))
    }
}

impl PublishError {
    pub fn is_input(&self) -> bool {
        matches!(self, PublishError::Input(_))
    }
}

/// Options shared by both commands.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    pub attestations: Attestations,
    pub platforms: Option<Vec<Platform>>,
    pub replace: bool,
    /// Tags pushed after the digest, in this order.
    pub tags: Vec<String>,
    pub dry_run: bool,
    /// Also run verify's ELF check on the result.
    pub verify_content: bool,
    /// Copy foreign / non-distributable layers too (default: left out, as crane and skopeo).
    pub allow_nondistributable: bool,
    /// Bytes copied and scanned, for a progress bar.
    pub progress: Option<crate::progress::Progress>,
    /// copy: which referrers (signatures, SBOMs attached by subject) go along.
    pub referrers: Carry,
    /// The source repository's tag list when the caller has read it already (sync): referrer
    /// discovery by the tag schema uses it instead of reading it again.
    pub source_tags: Option<std::sync::Arc<std::collections::HashSet<String>>>,
}

/// How a blob reached the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Already in the target repository (same repository, or found by HEAD): no transfer.
    Present,
    /// Mounted from another repository of the same registry: one request.
    Mounted,
    /// Copied (another registry, or the registry refused the mount).
    Copied,
    /// `--dry-run`: would be mounted.
    WouldMount,
    /// `--dry-run`: would be copied unless the target already has it.
    WouldCopy,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BlobMove {
    pub digest: Digest,
    pub size: i64,
    pub from: String,
    pub action: Action,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub mounted: usize,
    pub copied: usize,
    pub present: usize,
    pub bytes_copied: u64,
    pub manifests_pushed: usize,
    /// Foreign / non-distributable layers left out (as crane and skopeo; the manifests still
    /// name them, and their URLs, so a client fetches them from there).
    pub foreign_left_out: usize,
}

/// A source and the entries it gave, by digest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceMap {
    pub name: String,
    pub digest: Digest,
    pub entries: Vec<Digest>,
}

/// What the read-back found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Readback {
    pub verified: bool,
    pub platforms: Vec<Platform>,
    /// The executables were proven too (`--content`).
    pub content: bool,
    pub problems: Vec<Problem>,
}

/// The result of `index create` or `copy`. JSON field names are a contract (README).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublishReport {
    /// `index create` or `copy`.
    pub command: &'static str,
    /// The target repository as given (no tag).
    pub target: String,
    pub digest: Digest,
    /// `target@digest`.
    pub reference: String,
    pub media_type: String,
    /// Tags to push, in order: pushed only after the read-back proved the result
    /// (`tags_moved`).
    pub tags: Vec<String>,
    /// The tags were moved to the result (never before it was proven).
    pub tags_moved: bool,
    /// copy: every tag already named the source's digest (proven when it was copied):
    /// nothing was read or written beyond the HEADs that showed it.
    pub up_to_date: bool,
    pub dry_run: bool,
    pub pushed: bool,
    /// copy: the source's digest, and whether the target has the same one.
    pub source_digest: Option<Digest>,
    pub digest_preserved: Option<bool>,
    pub sources: Vec<SourceMap>,
    pub entries: Vec<Planned>,
    pub left_out: Vec<assemble::LeftOut>,
    pub attestations_dropped: usize,
    pub blobs: Vec<BlobMove>,
    pub summary: Summary,
    /// --dry-run: the index that would be pushed, its exact bytes.
    pub index: Option<Box<serde_json::value::RawValue>>,
    pub readback: Option<Readback>,
    /// copy: the referrers carried (null when none were looked for).
    pub referrers: Option<Carried>,
    /// Why the referrers could not be carried (the image itself is proven and tagged).
    pub referrers_error: Option<String>,
    /// Pushed and proven by the read-back (a dry run: the plan is sound).
    pub verified: bool,
    pub registry_requests: usize,
    /// Of those, HTTPS attempts an insecure host refused before plain HTTP answered (at most
    /// one per host; a registry's access log never sees them).
    pub registry_http_fallbacks: usize,
}

impl PublishReport {
    pub fn exit_code(&self) -> u8 {
        if self.verified {
            crate::exit::OK
        } else {
            crate::exit::FAILED
        }
    }
}

/// `runref index create TARGET SOURCE...`.
pub async fn create<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    sources: &[Reference],
    opts: &PublishOptions,
) -> Result<PublishReport, PublishError> {
    let mut report = create_index(reg, target, sources, opts).await?;
    if (report.verified || opts.dry_run) && opts.referrers != Carry::None {
        // The new index has no referrers yet; each entry keeps its digest, and its own.
        let mut all = Carried::default();
        for (i, src) in sources.iter().enumerate() {
            let subjects: Vec<Digest> = report
                .entries
                .iter()
                .filter(|e| e.source == i && !e.attestation)
                .map(|e| e.digest.clone())
                .collect();
            if subjects.is_empty() {
                continue;
            }
            match carry::carry(reg, src, &target.bare(), &subjects, &opts.referrers, opts).await {
                Ok(c) => all.add(c),
                Err(e) => report.referrers_error = Some(e.to_string()),
            }
        }
        with_carried(&mut report, all, reg);
    }
    Ok(report)
}

/// The referrers a copy or index create carried go into its report; one that did not arrive,
/// or a target tag that kept its own signatures, makes the result not verified.
fn with_carried<R: Registry>(report: &mut PublishReport, carried: Carried, reg: &R) {
    if !carried.missing.is_empty()
        || !carried.conflicts.is_empty()
        || report.referrers_error.is_some()
    {
        report.verified = false;
    }
    report.referrers = Some(carried);
    report.registry_requests = reg.requests();
    report.registry_http_fallbacks = reg.http_fallbacks();
}

/// The index itself: planned from the sources, pushed by digest, read back, tagged.
async fn create_index<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    sources: &[Reference],
    opts: &PublishOptions,
) -> Result<PublishReport, PublishError> {
    if target.digest().is_some() {
        return Err(PublishError::Input(format!(
            "TARGET {target}: give a repository (and tag), not a digest: the digest is the result"
        )));
    }
    let tags = tags_of(target, &opts.tags)?;
    let material = tokio::sync::Mutex::new(Material::default());
    // Shown as written (a Reference displays the name, tag and digest as given).
    let names: Vec<String> = sources.iter().map(Reference::to_string).collect();
    let reads: Vec<Read> = futures_util::stream::iter(
        sources
            .iter()
            .zip(&names)
            .map(|(r, name)| read_source(reg, name, r, true, &material)),
    )
    .buffered(crate::POOL)
    .try_collect()
    .await?;
    let plan_sources: Vec<Source> = reads.iter().map(|r| r.source.clone()).collect();
    let plan = assemble::plan(
        &plan_sources,
        &assemble::PlanOptions {
            attestations: opts.attestations,
            platforms: opts.platforms.clone(),
            replace: opts.replace,
        },
    )?;
    let index = Bytes::from(plan.index_bytes());
    let digests: Vec<Digest> = plan.entries.iter().map(|e| e.digest.clone()).collect();
    let material = material.into_inner();
    let source_maps = source_maps(&reads, &plan);
    // A re-run: the planned index is known once the sources are read; when every tag already
    // names it, nothing is mounted or pushed again (issue 24; a newcomer counted 8 writes).
    let planned = Digest::of(&index);
    let up_to_date = !opts.dry_run
        && !opts.allow_nondistributable
        && !tags.is_empty()
        && tags_at(reg, &target.bare(), &tags, &planned)
            .await?
            .is_some();
    let (blobs, summary) = match up_to_date {
        true => (vec![], Summary::default()),
        false => transfer(reg, &target.bare(), &digests, true, &material, opts).await?,
    };
    let report = PublishReport {
        command: "index create",
        media_type: plan.media_type.to_string(),
        tags: tags.clone(),
        up_to_date,
        source_digest: None,
        digest_preserved: None,
        sources: source_maps,
        entries: plan.entries.clone(),
        left_out: plan.left_out.clone(),
        attestations_dropped: plan.attestations_dropped,
        blobs,
        summary,
        verified: up_to_date,
        registry_requests: reg.requests(),
        registry_http_fallbacks: reg.http_fallbacks(),
        ..copy_report(target, &planned, &planned, opts)
    };
    if up_to_date {
        return reprove(reg, target, report, opts).await;
    }
    conclude(
        reg,
        &target.bare(),
        report,
        &index,
        plan.platforms(),
        true,
        opts,
    )
    .await
}

/// Which entries of the plan came from which source, and each source's digest.
fn source_maps(reads: &[Read], plan: &assemble::Plan) -> Vec<SourceMap> {
    reads
        .iter()
        .enumerate()
        .map(|(i, r)| SourceMap {
            name: r.source.name.clone(),
            digest: r
                .source
                .reference
                .digest()
                .cloned()
                .unwrap_or_else(|| Digest::of(&r.top)),
            entries: plan
                .entries
                .iter()
                .filter(|e| e.source == i)
                .map(|e| e.digest.clone())
                .collect(),
        })
        .collect()
}

/// `runref copy SOURCE TARGET`: all platforms (and attestations kept) is a byte-identical copy,
/// the index digest preserved; a subset is a new index of those entries.
pub async fn copy<R: RegistryWrite>(
    reg: &R,
    src: &Reference,
    target: &Reference,
    opts: &PublishOptions,
) -> Result<PublishReport, PublishError> {
    let mut report = copy_image(reg, src, target, opts).await?;
    if (report.verified || opts.dry_run) && opts.referrers != Carry::None {
        // The index's own referrers where its digest is kept; each kept entry's always.
        let mut subjects = Vec::new();
        if report.digest_preserved == Some(true) || report.up_to_date {
            subjects.push(report.digest.clone());
        }
        for e in report.entries.iter().filter(|e| !e.attestation) {
            if !subjects.contains(&e.digest) {
                subjects.push(e.digest.clone());
            }
        }
        // A re-run found the digest there without reading the source. A source that lists
        // no referrer at all (no referrers API, and no `sha256-` tag in its tag list) has
        // nothing to carry, and nothing more is read. Otherwise its entries (whose
        // signatures may be new) are one GET of the target's index away.
        if report.up_to_date && report.entries.is_empty() {
            if !carry::may_have_referrers(reg, src, &report.digest, opts).await? {
                with_carried(&mut report, Carried::default(), reg);
                return Ok(report);
            }
            let f = reg
                .manifest(&target.bare().with_digest(&report.digest))
                .await?;
            if let Manifest::Index(ix) = &f.manifest {
                for d in ix.manifests.iter().filter(|d| !d.is_attestation()) {
                    subjects.push(d.digest.clone());
                }
            }
        }
        match carry::carry(reg, src, &target.bare(), &subjects, &opts.referrers, opts).await {
            Ok(carried) => with_carried(&mut report, carried, reg),
            Err(e) => {
                report.referrers_error = Some(e.to_string());
                with_carried(&mut report, Carried::default(), reg);
            }
        }
    }
    Ok(report)
}

/// The image itself: planned, pushed by digest, read back, tagged.
async fn copy_image<R: RegistryWrite>(
    reg: &R,
    src: &Reference,
    target: &Reference,
    opts: &PublishOptions,
) -> Result<PublishReport, PublishError> {
    if target.digest().is_some() {
        return Err(PublishError::Input(format!(
            "TARGET {target}: give a repository (and tag), not a digest: a full copy keeps the source's digest"
        )));
    }
    let source = src.to_string();
    let source = source.as_str();
    // TARGET's tag, else the source's.
    let own = target
        .tag()
        .or(src.tag())
        .map(|t| vec![t.to_string()])
        .unwrap_or_default();
    let extra: Vec<String> = own.into_iter().chain(opts.tags.iter().cloned()).collect();
    let tags = tags_of(&target.bare(), &extra)?;
    let subset = opts.platforms.is_some() || opts.attestations == Attestations::Drop;
    if !subset && !opts.dry_run && !opts.allow_nondistributable {
        if let Some(done) = up_to_date(reg, src, target, &tags).await? {
            return reprove(reg, target, done, opts).await;
        }
    }
    let material = tokio::sync::Mutex::new(Material::default());
    let read = read_source(reg, source, src, subset, &material).await?;
    let material = material.into_inner();
    let source_digest = read
        .source
        .reference
        .digest()
        .cloned()
        .unwrap_or_else(|| Digest::of(&read.top));
    let full = is_full(&read, subset, opts);
    check_source(&read, source, full, opts)?;
    let NewTop {
        top,
        media_type,
        entries,
        left_out,
        dropped,
        expected,
    } = new_top(&read, source, full, opts)?;
    // A subset's result is a new index, known only once planned: when every tag already names
    // it, the sources were read (manifests and configs) and nothing more is (issue 24: a
    // `--platforms` re-run cost 29 requests, every blob mounted and manifest pushed again).
    let planned = Digest::of(&top);
    if !full && !opts.dry_run && !opts.allow_nondistributable && !tags.is_empty() {
        let bare = target.bare();
        if let Some(media_type) = tags_at(reg, &bare, &tags, &planned).await? {
            let done = up_to_date_report(
                reg,
                src,
                &bare,
                &tags,
                (&planned, media_type),
                &source_digest,
            );
            return reprove(reg, target, done, opts).await;
        }
    }
    let digests: Vec<Digest> = if read.is_index {
        entries.iter().map(|e| e.digest.clone()).collect()
    } else {
        vec![source_digest.clone()]
    };
    // A single manifest is the top itself: pushed once, by push_top.
    let (blobs, summary) = transfer(
        reg,
        &target.bare(),
        &digests,
        read.is_index,
        &material,
        opts,
    )
    .await?;
    let digest = Digest::of(&top);
    let report = PublishReport {
        media_type,
        tags: tags.clone(),
        sources: vec![SourceMap {
            name: source.to_string(),
            digest: source_digest.clone(),
            entries: entries.iter().map(|e| e.digest.clone()).collect(),
        }],
        entries,
        left_out,
        attestations_dropped: dropped,
        blobs,
        summary,
        ..copy_report(target, &digest, &source_digest, opts)
    };
    let expected = if read.is_index { expected } else { vec![] };
    conclude(reg, &target.bare(), report, &top, expected, !full, opts).await
}

/// A full copy keeps the source's digest: a single manifest, or an index copied whole (no
/// platform asked, or attestations dropped from an index that has none).
fn is_full(read: &Read, subset: bool, opts: &PublishOptions) -> bool {
    let has_attestations = read
        .source
        .entries
        .iter()
        .any(|e| e.descriptor.is_attestation());
    !read.is_index || !subset || (opts.platforms.is_none() && !has_attestations)
}

/// What a copy refuses before writing: an index copied whole with an entry that is not an
/// image manifest, a single manifest of another platform than `--platforms` asks.
fn check_source(
    read: &Read,
    source: &str,
    full: bool,
    opts: &PublishOptions,
) -> Result<(), PublishError> {
    if full && read.is_index {
        if let Some(e) = read
            .source
            .entries
            .iter()
            .find(|e| !crate::model::manifest::may_be_image_manifest(&e.descriptor.media_type))
        {
            return Err(PublishError::Input(format!(
                "{source}: entry {}: {}",
                e.descriptor.digest,
                crate::model::manifest::not_an_image_manifest(&e.descriptor.media_type)
            )));
        }
    }
    if let (false, Some(only)) = (read.is_index, &opts.platforms) {
        let have = read.source.entries.first().and_then(|e| e.config.as_ref());
        if let Some(c) = have.filter(|c| !only.contains(&c.platform())) {
            return Err(PlanError::Missing {
                platform: only[0].clone(),
                have: c.platform().to_string(),
            }
            .into());
        }
    }
    Ok(())
}

/// The top manifest a copy pushes, and what it holds.
struct NewTop {
    top: Bytes,
    media_type: String,
    entries: Vec<Planned>,
    left_out: Vec<assemble::LeftOut>,
    dropped: usize,
    /// The platforms the read-back expects.
    expected: Vec<Platform>,
}

/// The source's own top (a full copy), else the planned subset index.
fn new_top(
    read: &Read,
    source: &str,
    full: bool,
    opts: &PublishOptions,
) -> Result<NewTop, PublishError> {
    if full {
        let entries: Vec<Planned> = read
            .source
            .entries
            .iter()
            .filter_map(|e| as_planned(e, source, read.is_index))
            .collect();
        let expected = entries
            .iter()
            .filter(|e| !e.attestation)
            .filter_map(|e| e.platform.clone())
            .collect();
        return Ok(NewTop {
            top: read.top.clone(),
            media_type: read.top_media_type.clone(),
            entries,
            left_out: vec![],
            dropped: 0,
            expected,
        });
    }
    let plan = assemble::plan(
        std::slice::from_ref(&read.source),
        &assemble::PlanOptions {
            attestations: opts.attestations,
            platforms: opts.platforms.clone(),
            replace: false,
        },
    )?;
    Ok(NewTop {
        top: Bytes::from(plan.index_bytes()),
        media_type: plan.media_type.to_string(),
        expected: plan.platforms(),
        entries: plan.entries,
        left_out: plan.left_out,
        dropped: plan.attestations_dropped,
    })
}

/// A report before anything is pushed or proven (a copy's; index create's with its own
/// fields over it).
fn copy_report(
    target: &Reference,
    digest: &Digest,
    source_digest: &Digest,
    opts: &PublishOptions,
) -> PublishReport {
    PublishReport {
        command: "copy",
        target: target.bare().to_string(),
        digest: digest.clone(),
        reference: target.with_digest(digest).to_string(),
        media_type: String::new(),
        tags: vec![],
        tags_moved: false,
        up_to_date: false,
        dry_run: opts.dry_run,
        pushed: false,
        source_digest: Some(source_digest.clone()),
        digest_preserved: Some(digest == source_digest),
        sources: vec![],
        entries: vec![],
        left_out: vec![],
        attestations_dropped: 0,
        blobs: vec![],
        summary: Default::default(),
        index: None,
        readback: None,
        referrers: None,
        referrers_error: None,
        verified: false,
        registry_requests: 0,
        registry_http_fallbacks: 0,
    }
}
