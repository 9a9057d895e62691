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
pub use carry::{Carried, Carry, TagConflict};

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

/// A manifest to put in the target: its exact bytes and what it needs.
#[derive(Debug, Clone)]
struct Item {
    bytes: Bytes,
    media_type: String,
    /// The source repository (name@digest of the manifest).
    from: Reference,
    /// Config and layers: (digest, size, foreign / non-distributable).
    blobs: Vec<(Digest, i64, bool)>,
}

/// What was read of the sources: manifests by digest, and blobs already in memory (configs).
#[derive(Debug, Default)]
struct Material {
    items: BTreeMap<Digest, Item>,
    blobs: BTreeMap<Digest, Bytes>,
}

fn bad_manifest(
    reference: &Reference,
    source: crate::model::manifest::ManifestError,
) -> RegistryError {
    RegistryError::Manifest {
        reference: reference.to_string(),
        source,
    }
}

/// Reads a small blob (a config) whole, within `limit` bytes, digest-checked by the stream.
async fn read_small<R: Registry>(
    reg: &R,
    repo: &Reference,
    digest: &Digest,
    limit: u64,
) -> Result<Bytes, RegistryError> {
    let subject = repo.with_digest(digest);
    let stream = reg.blob_stream(repo, digest).await?;
    let mut buf = Vec::new();
    let mut stream = stream.map_err(|e| RegistryError::Other {
        reference: subject.to_string(),
        detail: e.to_string(),
    });
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if buf.len() as u64 + chunk.len() as u64 > limit {
            return Err(RegistryError::TooLarge {
                reference: subject.to_string(),
                what: "config",
                limit,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// The blobs of an image manifest, config first.
fn blobs_of(m: &crate::model::manifest::ImageManifest) -> Vec<(Digest, i64, bool)> {
    let mut out = vec![(m.config.digest.clone(), m.config.size, false)];
    for l in &m.layers {
        out.push((
            l.digest.clone(),
            l.size,
            crate::model::layer::is_foreign(&l.media_type),
        ));
    }
    out
}

/// One image manifest read into `material`; with `config`, its config read and parsed.
async fn read_image<R: Registry>(
    reg: &R,
    repo: &Reference,
    digest: &Digest,
    prefetched: Option<(Bytes, crate::model::manifest::ImageManifest)>,
    config: bool,
) -> Result<(Item, Option<(Digest, Bytes, ImageConfig)>), RegistryError> {
    let at = repo.with_digest(digest);
    let (bytes, m) = match prefetched {
        Some(p) => p,
        None => {
            let f = reg.manifest(&at).await?;
            match f.manifest {
                Manifest::Image(m) => (Bytes::from(f.bytes), m),
                Manifest::Index(_) => {
                    return Err(RegistryError::Other {
                        reference: at.to_string(),
                        detail: "entry is itself an index (nested indexes are not flattened)"
                            .into(),
                    })
                }
            }
        }
    };
    let blobs = blobs_of(&m);
    let media_type = m
        .media_type
        .clone()
        .unwrap_or_else(|| crate::model::manifest::OCI_MANIFEST.to_string());
    let cfg = if config {
        let cd = m.config.digest.clone();
        let limit = reg.limits().config;
        let raw = read_small(reg, repo, &cd, limit).await?;
        let parsed = ImageConfig::parse(&raw).map_err(|e| bad_manifest(&at, e))?;
        Some((cd, raw, parsed))
    } else {
        None
    };
    Ok((
        Item {
            bytes,
            media_type,
            from: at,
            blobs,
        },
        cfg,
    ))
}

/// A source read: its entries for the planner, its top manifest's bytes and media type.
struct Read {
    source: Source,
    top: Bytes,
    top_media_type: String,
    is_index: bool,
}

/// Reads one source: the top manifest, every entry's manifest, and (with `configs`) every
/// runnable entry's config; at most POOL requests in flight.
async fn read_source<R: Registry>(
    reg: &R,
    name: &str,
    reference: &Reference,
    configs: bool,
    material: &tokio::sync::Mutex<Material>,
) -> Result<Read, RegistryError> {
    let top = reg.manifest(reference).await?;
    let at = reference.with_digest(&top.digest);
    let media_type = top.manifest.media_type().to_string();
    let is_index = matches!(top.manifest, Manifest::Index(_));
    let top_bytes = Bytes::from(top.bytes.clone());
    let descriptors: Vec<(
        Descriptor,
        Option<(Bytes, crate::model::manifest::ImageManifest)>,
    )> = match top.manifest {
        Manifest::Image(m) => vec![(
            Descriptor {
                media_type: media_type.clone(),
                digest: top.digest.clone(),
                size: top.bytes.len() as i64,
                platform: None,
                annotations: BTreeMap::new(),
                urls: vec![],
            },
            Some((top_bytes.clone(), m)),
        )],
        Manifest::Index(idx) => idx.manifests.into_iter().map(|d| (d, None)).collect(),
    };
    let reads = futures_util::stream::iter(descriptors.into_iter().map(|(d, pre)| async move {
        let digest = d.digest.clone();
        if !crate::model::manifest::may_be_image_manifest(&d.media_type) {
            // The planner refuses it with the source's name; nothing to read.
            return Ok::<_, RegistryError>((
                SourceEntry {
                    descriptor: d,
                    config: None,
                },
                None,
                None,
            ));
        }
        let runnable = !d.is_attestation();
        // A single manifest's config is the only place its platform is written (the summary
        // shows it; the transfer then sends the config from memory).
        let wanted = (configs || !is_index) && runnable;
        let (item, cfg) = read_image(reg, reference, &digest, pre, wanted).await?;
        let config = cfg.as_ref().map(|(_, _, c)| ConfigPlatform::from(c));
        Ok((
            SourceEntry {
                descriptor: d,
                config,
            },
            Some((digest, item)),
            cfg.map(|(cd, raw, _)| (cd, raw)),
        ))
    }))
    .buffered(crate::POOL)
    .try_collect::<Vec<_>>()
    .await?;
    let mut entries = Vec::new();
    let mut m = material.lock().await;
    for (entry, item, cfg) in reads {
        entries.push(entry);
        if let Some((d, item)) = item {
            m.items.entry(d).or_insert(item);
        }
        if let Some((cd, raw)) = cfg {
            m.blobs.entry(cd).or_insert(raw);
        }
    }
    Ok(Read {
        source: Source {
            name: name.to_string(),
            reference: at,
            entries,
        },
        top: top_bytes,
        top_media_type: media_type,
        is_index,
    })
}

/// Moves every blob of `digests`' manifests into `target` (each blob once), then, with
/// `put_manifests`, the manifests themselves (those not already in `target`'s repository).
async fn transfer<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    digests: &[Digest],
    put_manifests: bool,
    material: &Material,
    opts: &PublishOptions,
) -> Result<(Vec<BlobMove>, Summary), RegistryError> {
    let dry_run = opts.dry_run;
    // Each blob once, from the first manifest that names it, in manifest order; foreign
    // layers left out unless asked for.
    let mut seen = std::collections::BTreeSet::new();
    let mut wanted: Vec<(Digest, i64, Reference)> = Vec::new();
    let mut foreign = 0;
    for item in digests.iter().filter_map(|d| material.items.get(d)) {
        for (b, size, is_foreign) in &item.blobs {
            if !seen.insert(b.clone()) {
                continue;
            }
            if *is_foreign && !opts.allow_nondistributable {
                foreign += 1;
                continue;
            }
            wanted.push((b.clone(), *size, item.from.clone()));
        }
    }
    // The bar counts the bytes that cross registries (a mount moves none).
    let progress = opts.progress.as_ref();
    if let Some(p) = progress {
        let crossing: i64 = wanted
            .iter()
            .filter(|(_, _, from)| from.registry() != target.registry())
            .map(|(_, size, _)| (*size).max(0))
            .sum();
        if crossing > 0 && !dry_run {
            p.begin("copy", crossing as u64);
        }
    }
    let moves: Vec<BlobMove> =
        futures_util::stream::iter(wanted.into_iter().map(|(digest, size, from)| async move {
            let action = move_blob(reg, target, &digest, size, &from, material, opts).await?;
            Ok::<_, RegistryError>(BlobMove {
                digest,
                size,
                from: from.name(),
                action,
            })
        }))
        .buffered(crate::POOL)
        .try_collect()
        .await?;
    if let Some(p) = progress {
        p.end();
    }
    let mut summary = Summary {
        foreign_left_out: foreign,
        ..Summary::default()
    };
    for m in &moves {
        match m.action {
            Action::Present => summary.present += 1,
            Action::Mounted | Action::WouldMount => summary.mounted += 1,
            Action::Copied | Action::WouldCopy => {
                summary.copied += 1;
                summary.bytes_copied += m.size.max(0) as u64;
            }
        }
    }
    let to_put: Vec<(&Digest, &Item)> = digests
        .iter()
        .filter_map(|d| material.items.get(d).map(|i| (d, i)))
        .filter(|(_, i)| put_manifests && !i.from.same_repository(target))
        .collect();
    summary.manifests_pushed = to_put.len();
    if !dry_run {
        futures_util::stream::iter(to_put.into_iter().map(|(d, item)| async move {
            reg.put_manifest(&target.with_digest(d), item.bytes.clone(), &item.media_type)
                .await
        }))
        .buffer_unordered(crate::POOL)
        .try_collect::<Vec<_>>()
        .await?;
    }
    Ok((moves, summary))
}

/// One blob into `target`: nothing within one repository, a mount within one registry (a
/// refused mount falls back to a copy through the upload it opened), else HEAD and a copy.
async fn move_blob<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    digest: &Digest,
    size: i64,
    from: &Reference,
    material: &Material,
    opts: &PublishOptions,
) -> Result<Action, RegistryError> {
    let (dry_run, progress) = (opts.dry_run, opts.progress.as_ref());
    if from.same_repository(target) {
        return Ok(Action::Present);
    }
    let same_registry = from.registry() == target.registry();
    if dry_run {
        return Ok(if same_registry {
            Action::WouldMount
        } else {
            Action::WouldCopy
        });
    }
    let location = if same_registry {
        match reg.mount_blob(target, digest, from).await? {
            Mount::Mounted => return Ok(Action::Mounted),
            Mount::Refused { location } => location,
        }
    } else {
        if reg.blob_exists(target, digest).await? {
            return Ok(Action::Present);
        }
        reg.start_upload(target).await?
    };
    match material.blobs.get(digest) {
        Some(bytes) => {
            reg.put_blob(target, &location, digest, bytes.clone())
                .await?
        }
        None => {
            let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
            let stream = reg.blob_stream(from, digest).await?;
            // Bytes copied between registries, for the progress bar.
            let stream: crate::registry::BlobStream = match progress {
                Some(p) => {
                    let p = p.clone();
                    Box::pin(futures_util::StreamExt::inspect(stream, move |c| {
                        if let Ok(b) = c {
                            p.add(b.len() as u64);
                        }
                    }))
                }
                None => stream,
            };
            let stream = hold_last(stream, failed.clone());
            let put = reg
                .put_blob_stream(target, &location, digest, size.max(0) as u64, stream)
                .await;
            // The source's failure (bytes that are not the digest, a stall) is the cause.
            if let Some(detail) = failed.lock().ok().and_then(|mut f| f.take()) {
                return Err(RegistryError::Other {
                    reference: from.with_digest(digest).to_string(),
                    detail: format!(
                        "copy from the source failed: {detail}; no manifest or tag was pushed"
                    ),
                });
            }
            put?
        }
    }
    Ok(Action::Copied)
}

/// Passes a blob stream on one chunk late, so the last chunk leaves only after the digest was
/// checked: a body that does not match its digest ends the upload before it is complete (the
/// target never receives a whole wrong blob). The source's error is kept in `failed`.
fn hold_last(
    stream: crate::registry::BlobStream,
    failed: std::sync::Arc<std::sync::Mutex<Option<String>>>,
) -> crate::registry::BlobStream {
    let state = (stream, None::<Bytes>, false);
    futures_util::stream::unfold(state, move |(mut inner, mut pending, done)| {
        let failed = failed.clone();
        async move {
            if done {
                return None;
            }
            loop {
                match inner.next().await {
                    Some(Ok(c)) => match pending.replace(c) {
                        Some(prev) => return Some((Ok(prev), (inner, pending, false))),
                        None => continue,
                    },
                    Some(Err(e)) => {
                        if let Ok(mut f) = failed.lock() {
                            *f = Some(e.to_string());
                        }
                        return Some((Err(e), (inner, None, true)));
                    }
                    None => return pending.take().map(|p| (Ok(p), (inner, None, true))),
                }
            }
        }
    })
    .boxed()
}

/// The tags to push: TARGET's own, then `--tag`s in order (each once), each checked.
fn tags_of(target: &Reference, extra: &[String]) -> Result<Vec<String>, PublishError> {
    let mut out: Vec<String> = Vec::new();
    for t in target
        .tag()
        .map(str::to_string)
        .into_iter()
        .chain(extra.iter().cloned())
    {
        target
            .with_tag(&t)
            .map_err(|e| PublishError::Input(format!("--tag {t}: {e}")))?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Pushes the top manifest by digest (no tag moves).
async fn push_digest<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    bytes: &Bytes,
    media_type: &str,
) -> Result<Digest, PublishError> {
    let digest = Digest::of(bytes);
    reg.put_manifest(&target.with_digest(&digest), bytes.clone(), media_type)
        .await?;
    Ok(digest)
}

/// Moves each tag, in order, to the manifest already pushed by digest.
async fn push_tags<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    bytes: &Bytes,
    media_type: &str,
    tags: &[String],
) -> Result<(), PublishError> {
    for t in tags {
        let tagged = target
            .with_tag(t)
            .map_err(|e| PublishError::Input(e.to_string()))?;
        reg.put_manifest(&tagged, bytes.clone(), media_type).await?;
    }
    Ok(())
}

/// Reads the result back by digest and proves it: exactly `expected` (no duplicates, no
/// extra), each descriptor matching its config, every attestation's subject inside.
async fn read_back<R: Registry>(
    reg: &R,
    at: &Reference,
    expected: Vec<Platform>,
    opts: &PublishOptions,
) -> Result<Readback, RegistryError> {
    let opts = VerifyOptions {
        expected: expected.clone(),
        allow_extra: false,
        content: opts.verify_content,
        allow_nondistributable: opts.allow_nondistributable,
        progress: opts.progress.clone(),
        required_referrers: vec![],
    };
    let r = crate::commands::verify::verify(reg, at, &opts).await?;
    Ok(Readback {
        verified: r.verified,
        platforms: expected,
        content: opts.content,
        problems: r.problems,
    })
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

/// A re-run that finds its work done costs only HEADs (issue 24: it cost 59 requests, every
/// blob mounted and every manifest pushed again, where crane needs a few): the source's digest
/// (a HEAD of its tag; none when given by digest), then each tag of the target. When every
/// tag already names the source's digest the copy is done: tags move only after a read-back
/// proved the result, so a tag there is proof (a copy with no tag has nothing to show that,
/// and runs in full). Anything else, or a registry that does not say a digest, runs in full.
async fn up_to_date<R: RegistryWrite>(
    reg: &R,
    src: &Reference,
    target: &Reference,
    tags: &[String],
) -> Result<Option<PublishReport>, PublishError> {
    if tags.is_empty() {
        return Ok(None);
    }
    let source_digest = match src.digest() {
        Some(d) => d.clone(),
        None => match reg.manifest_head(src, false).await? {
            Some((d, _)) => d,
            None => return Ok(None),
        },
    };
    let bare = target.bare();
    let Some(media_type) = tags_at(reg, &bare, tags, &source_digest).await? else {
        return Ok(None);
    };
    Ok(Some(up_to_date_report(
        reg,
        src,
        &bare,
        tags,
        (&source_digest, media_type),
        &source_digest,
    )))
}

/// Whether every tag of `bare` names `digest` now (one HEAD each, stopping at the first that
/// does not): the media type the registry gave for it when all do.
async fn tags_at<R: RegistryWrite>(
    reg: &R,
    bare: &Reference,
    tags: &[String],
    digest: &Digest,
) -> Result<Option<String>, PublishError> {
    let mut media_type = String::new();
    for t in tags {
        let tagged = bare
            .with_tag(t)
            .map_err(|e| PublishError::Input(e.to_string()))?;
        match reg.manifest_head(&tagged, true).await? {
            Some((d, m)) if &d == digest => media_type = m,
            _ => return Ok(None),
        }
    }
    Ok(Some(media_type))
}

/// The report of a copy whose every tag already names its result `digest`.
fn up_to_date_report<R: Registry>(
    reg: &R,
    src: &Reference,
    bare: &Reference,
    tags: &[String],
    (digest, media_type): (&Digest, String),
    source_digest: &Digest,
) -> PublishReport {
    PublishReport {
        command: "copy",
        target: bare.to_string(),
        digest: digest.clone(),
        reference: bare.with_digest(digest).to_string(),
        media_type,
        tags: tags.to_vec(),
        tags_moved: false,
        up_to_date: true,
        dry_run: false,
        pushed: false,
        source_digest: Some(source_digest.clone()),
        digest_preserved: Some(digest == source_digest),
        sources: vec![SourceMap {
            name: src.to_string(),
            digest: source_digest.clone(),
            entries: vec![],
        }],
        entries: vec![],
        left_out: vec![],
        attestations_dropped: 0,
        blobs: vec![],
        summary: Summary::default(),
        index: None,
        readback: None,
        referrers: None,
        referrers_error: None,
        verified: true,
        registry_requests: reg.requests(),
        registry_http_fallbacks: reg.http_fallbacks(),
    }
}

/// An up-to-date copy under `--content`: the target's content is read and proven again by
/// digest, whatever put it there (a tag pushed by another tool passed unread: newcomer pass).
async fn reprove<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    mut done: PublishReport,
    opts: &PublishOptions,
) -> Result<PublishReport, PublishError> {
    if opts.verify_content {
        let at = target.bare().with_digest(&done.digest);
        let rb = read_back(reg, &at, vec![], opts).await?;
        done.verified = rb.verified;
        done.readback = Some(rb);
        done.registry_requests = reg.requests();
        done.registry_http_fallbacks = reg.http_fallbacks();
    }
    Ok(done)
}

/// The end of both commands: with --dry-run the plan (and, with `show_index`, the index's exact
/// bytes); else the top manifest pushed by digest, then the tags, and read back through verify.
async fn conclude<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    mut report: PublishReport,
    top: &Bytes,
    expected: Vec<Platform>,
    show_index: bool,
    opts: &PublishOptions,
) -> Result<PublishReport, PublishError> {
    // A single manifest is the top itself: its one PUT is a manifest pushed.
    if crate::model::manifest::MANIFEST_TYPES.contains(&report.media_type.as_str()) {
        report.summary.manifests_pushed += 1;
    }
    if opts.dry_run {
        if show_index {
            report.index = raw_json(top);
        }
        report.verified = true;
    } else {
        // No tag ever points at unproven content: the result is pushed by digest, read back
        // and proven (its content too, with --content), and only then tagged.
        let pushed = push_digest(reg, target, top, &report.media_type).await?;
        report.pushed = true;
        let rb = read_back(reg, &target.with_digest(&pushed), expected, opts).await?;
        report.verified = rb.verified;
        report.readback = Some(rb);
        if report.verified {
            push_tags(reg, target, top, &report.media_type, &report.tags).await?;
            report.tags_moved = true;
        }
    }
    report.registry_requests = reg.requests();
    report.registry_http_fallbacks = reg.http_fallbacks();
    Ok(report)
}

/// An entry of a full copy, as the source describes it (a single manifest: its config's
/// platform).
fn as_planned(e: &SourceEntry, source: &str, is_index: bool) -> Option<Planned> {
    let d = &e.descriptor;
    Some(Planned {
        platform: if is_index {
            d.platform()
        } else {
            e.config.as_ref().map(|c| c.platform())
        },
        digest: d.digest.clone(),
        media_type: d.media_type.clone(),
        size: d.size,
        source: 0,
        source_name: source.to_string(),
        attestation: d.is_attestation(),
        attests: d.attests().map(str::to_string),
        variant_filled: false,
        index_platform: d.platform.clone(),
        annotations: d.annotations.clone(),
    })
}

/// Bytes we serialised ourselves, embedded verbatim in the report.
fn raw_json(bytes: &[u8]) -> Option<Box<serde_json::value::RawValue>> {
    let text = String::from_utf8(bytes.to_vec()).ok()?;
    serde_json::value::RawValue::from_string(text).ok()
}
