//! `runref sync FILE` (issue 24): many images mirrored from one file, each through the same
//! `copy` (its read-back proof included, tags last), so a sync stopped anywhere is resumed
//! by running it again and no tag ever names an unproven digest.
//!
//! Per image: the source's tag list when the file filters tags (or referrers are carried:
//! it says which subjects have fallback tags), one HEAD per chosen tag for its digest, then
//! one copy per distinct digest with all the tags that name it. A copy whose every target tag
//! already names that digest is `present` after one HEAD per tag. Every request (tag lists,
//! HEADs, copies) waits for one of `--jobs` permits.

mod file;
mod select;
mod why;

pub use file::{ImageSpec, RateLimit, SyncFile, SyncFileError};
pub use select::Shard;
pub use why::{ImageFailure, ImageWarning, NotProven, TagFailure};

use crate::commands::publish::{Carry, PublishOptions};
use crate::model::digest::Digest;
use crate::model::reference::Reference;
use crate::registry::RegistryWrite;
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Rate-limit waits before one copy gives up (each `[ratelimit] retry` long).
const MAX_PAUSES: usize = 100;

/// Told each image as it finishes.
pub type OnImage = Arc<dyn Fn(&ImageResult) + Send + Sync>;

/// How a sync runs.
#[derive(Clone, Default)]
pub struct SyncOptions {
    /// Requests (tag lists, HEADs, copies) in flight at once; at least 1.
    pub jobs: usize,
    /// HEADs only: what is present and what would be copied; nothing written.
    pub dry_run: bool,
    pub shard: Option<Shard>,
    /// No copy starts past it (those not started are failed, saying so).
    pub deadline: Option<Instant>,
    /// Told each image as it finishes (a line per image on a terminal).
    pub on_image: Option<OnImage>,
    /// Bytes copied, for a progress bar.
    pub progress: Option<crate::progress::Progress>,
}

/// What became of some tags of one image (all that name one digest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Copied and proven by the read-back; the tags moved.
    Copied,
    /// Every target tag already named the digest: nothing written.
    Present,
    /// `--dry-run`: the target's tags do not all name it yet.
    WouldCopy,
    Failed,
}

/// Tags of one image that name one source digest, and what became of them.
#[derive(Debug, Clone)]
pub struct TagsResult {
    pub tags: Vec<String>,
    /// The source's digest (None when the tag could not be resolved).
    pub source_digest: Option<Digest>,
    /// What the target's tags name now (a platform subset is a new index).
    pub digest: Option<Digest>,
    pub status: Status,
    pub reason: Option<TagFailure>,
    /// What the copy's read-back found wrong (verify's problems), when it did.
    pub problems: Vec<crate::commands::verify::Problem>,
    /// Referrer manifests and cosign tags carried with it.
    pub referrers_carried: usize,
}

/// One `[[image]]` of the file.
#[derive(Debug, Clone)]
pub struct ImageResult {
    /// Its place in the file (1-based).
    pub index: usize,
    pub source: String,
    pub target: String,
    /// The tags chosen.
    pub tags: Vec<String>,
    pub results: Vec<TagsResult>,
    /// Why nothing of it could be done (its tag list could not be read).
    pub error: Option<ImageFailure>,
    /// Something to know that is not a failure (no listed tag passed the filters).
    pub warning: Option<ImageWarning>,
}

impl TagsResult {
    /// `tag` failed before any copy: nothing resolved.
    fn failed(tag: String, reason: TagFailure) -> TagsResult {
        TagsResult {
            tags: vec![tag],
            source_digest: None,
            digest: None,
            status: Status::Failed,
            reason: Some(reason),
            problems: vec![],
            referrers_carried: 0,
        }
    }
}

impl ImageResult {
    /// Mirrored: no error and every tag copied or present (or, dry run, planned).
    pub fn complete(&self) -> bool {
        self.error.is_none() && self.results.iter().all(|r| r.status != Status::Failed)
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SyncSummary {
    pub images: usize,
    pub images_failed: usize,
    pub tags: usize,
    pub copied: usize,
    pub present: usize,
    pub would_copy: usize,
    pub failed: usize,
}

/// The sync report (JSON: [`crate::report::sync`]).
#[derive(Debug, Clone)]
pub struct SyncReport {
    pub command: &'static str,
    pub file: String,
    pub shard: Option<String>,
    pub dry_run: bool,
    /// Images in the file (before `--shard`).
    pub images_in_file: usize,
    pub images: Vec<ImageResult>,
    pub summary: SyncSummary,
    /// Every image of this shard mirrored.
    pub complete: bool,
    /// Waits for a registry's rate limit (`[ratelimit]`).
    pub rate_limit_pauses: usize,
    pub registry_requests: usize,
    pub registry_http_fallbacks: usize,
}

impl SyncReport {
    pub fn exit_code(&self) -> u8 {
        match self.complete {
            true => crate::exit::OK,
            false => crate::exit::FAILED,
        }
    }
}

/// The shared state of one run.
struct Run<'a, R> {
    reg: &'a R,
    opts: &'a SyncOptions,
    ratelimit: Option<RateLimit>,
    permits: Semaphore,
    pauses: AtomicUsize,
    /// One copy at a time per target repository (see [`Run::repository_lock`]).
    repositories: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// `target:tag` => the image (file index) that writes it.
    claims: std::sync::Mutex<HashMap<String, usize>>,
}

/// Runs `file` (the images of `opts.shard`).
pub async fn sync<R: RegistryWrite>(
    reg: &R,
    file: &SyncFile,
    path: &str,
    opts: &SyncOptions,
) -> SyncReport {
    let jobs = opts.jobs.max(1);
    let run = Run {
        reg,
        opts,
        ratelimit: file.ratelimit,
        permits: Semaphore::new(jobs),
        pauses: AtomicUsize::new(0),
        repositories: std::sync::Mutex::new(HashMap::new()),
        claims: std::sync::Mutex::new(HashMap::new()),
    };
    let chosen: Vec<&ImageSpec> = file
        .images
        .iter()
        .filter(|i| {
            opts.shard
                .is_none_or(|s| s.takes(&i.source.canonical_name()))
        })
        .collect();
    let images: Vec<ImageResult> = futures_util::stream::iter(chosen.into_iter().map(|img| {
        let run = &run;
        async move {
            let r = run.image(img).await;
            if let Some(tell) = &run.opts.on_image {
                tell(&r);
            }
            r
        }
    }))
    .buffered(jobs)
    .collect()
    .await;
    let mut summary = SyncSummary {
        images: images.len(),
        images_failed: images.iter().filter(|i| !i.complete()).count(),
        ..SyncSummary::default()
    };
    for r in images.iter().flat_map(|i| &i.results) {
        let n = r.tags.len();
        summary.tags += n;
        match r.status {
            Status::Copied => summary.copied += n,
            Status::Present => summary.present += n,
            Status::WouldCopy => summary.would_copy += n,
            Status::Failed => summary.failed += n,
        }
    }
    SyncReport {
        command: "sync",
        file: path.to_string(),
        shard: opts.shard.map(|s| s.to_string()),
        dry_run: opts.dry_run,
        images_in_file: file.images.len(),
        complete: summary.images_failed == 0,
        summary,
        images,
        rate_limit_pauses: run.pauses.load(Ordering::Relaxed),
        registry_requests: reg.requests(),
        registry_http_fallbacks: reg.http_fallbacks(),
    }
}

impl<R: RegistryWrite> Run<'_, R> {
    /// Records that `img` writes `tag` of its target; the other image's index when one does.
    fn claim(&self, img: &ImageSpec, tag: &str) -> Result<(), usize> {
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        let key = format!("{}:{tag}", img.target.canonical_name());
        match claims.get(&key) {
            Some(&other) if other != img.index => Err(other),
            _ => {
                claims.insert(key, img.index);
                Ok(())
            }
        }
    }

    /// The lock of a target repository. Two copies into one repository at once (two digests
    /// of an image sharing blobs) made distribution 2.8 refuse manifests: concurrent uploads
    /// of one blob rewrite its link file in place, and a manifest PUT reading it meanwhile
    /// fails with DIGEST_INVALID and MANIFEST_BLOB_UNKNOWN (measured: 5 of 150 tags, --jobs 8).
    fn repository_lock(&self, target: &Reference) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.repositories.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(target.canonical_name()).or_default().clone()
    }

    async fn permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.permits
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }

    /// One image: its tags chosen ([`Run::list`], [`select::tags`], [`Run::claim`]), each
    /// tag's digest by HEAD, then one copy per digest with all the tags that name it.
    async fn image(&self, img: &ImageSpec) -> ImageResult {
        let mut out = ImageResult {
            index: img.index,
            source: img.source.to_string(),
            target: img.target.to_string(),
            tags: vec![],
            results: vec![],
            error: None,
            warning: None,
        };
        let listed = match self.list(img).await {
            Ok(l) => l,
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        };
        out.tags = select::tags(&img.tags, listed.as_deref().unwrap_or(&[]));
        // A target tag another image of the file writes too would flip between them on every
        // run: the later claim fails (named tags are checked when the file is read).
        let mut claimed = Vec::new();
        out.tags.retain(|t| match self.claim(img, t) {
            Ok(()) => true,
            Err(other) => {
                claimed.push((t.clone(), other));
                false
            }
        });
        for (tag, other) in claimed {
            let reason = TagFailure::Claimed {
                target: img.target.clone(),
                tag: tag.clone(),
                other,
            };
            out.results.push(TagsResult::failed(tag, reason));
        }
        if out.tags.is_empty() {
            // Every chosen tag is another image's (said per tag above), or none passed.
            if out.results.is_empty() {
                out.warning = Some(ImageWarning::NoTagPassed {
                    listed: listed.as_ref().map_or(0, Vec::len),
                });
            }
            return out;
        }
        let source_tags = listed.map(|l| Arc::new(l.into_iter().collect::<HashSet<String>>()));
        let (groups, failed) = self.group_by_digest(img, &out.tags).await;
        out.results.extend(failed);
        let jobs = self.opts.jobs.max(1);
        let copies: Vec<TagsResult> = futures_util::stream::iter(groups.into_iter().map(|g| {
            let source_tags = source_tags.clone();
            async move {
                let lock = self.repository_lock(&img.target);
                let _held = match self.opts.dry_run {
                    true => None,
                    false => Some(lock.lock().await),
                };
                let _p = self.permit().await;
                self.copy(img, g.0, g.1, source_tags).await
            }
        }))
        .buffered(jobs)
        .collect()
        .await;
        out.results.extend(copies);
        out
    }

    /// The source's tag list, when the file filters tags or referrers are carried (it says
    /// which subjects have fallback or cosign tags without asking each); None when not asked,
    /// or when it cannot be read and only named tags are wanted (the copies find the
    /// referrers themselves).
    async fn list(&self, img: &ImageSpec) -> Result<Option<Vec<String>>, ImageFailure> {
        if !img.tags.lists() && img.referrers == Carry::None {
            return Ok(None);
        }
        let _p = self.permit().await;
        match self.reg.tags(&img.source).await {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.is_not_found() => Err(ImageFailure::NoSuchRepository {
                source: img.source.clone(),
            }),
            Err(e) if img.tags.lists() => Err(ImageFailure::CannotList {
                detail: e.to_string(),
            }),
            Err(_) => Ok(None),
        }
    }

    /// Each tag's digest, by HEAD (no pull counted against a rate limit), grouped: the tags
    /// naming one digest together, in the order first seen; the tags that failed apart.
    async fn group_by_digest(
        &self,
        img: &ImageSpec,
        tags: &[String],
    ) -> (Vec<(Digest, Vec<String>)>, Vec<TagsResult>) {
        let heads: Vec<(String, Result<Digest, TagFailure>)> =
            futures_util::stream::iter(tags.iter().map(|t| async move {
                let _p = self.permit().await;
                (t.clone(), self.digest_of(&img.source, t).await)
            }))
            .buffered(self.opts.jobs.max(1))
            .collect()
            .await;
        let mut groups: Vec<(Digest, Vec<String>)> = Vec::new();
        let mut failed = Vec::new();
        for (tag, head) in heads {
            match head {
                Ok(d) => match groups.iter_mut().find(|(g, _)| *g == d) {
                    Some((_, tags)) => tags.push(tag),
                    None => groups.push((d, vec![tag])),
                },
                Err(reason) => failed.push(TagsResult::failed(tag, reason)),
            }
        }
        (groups, failed)
    }

    /// The digest `source:tag` names, by HEAD; a registry that does not say it is read.
    async fn digest_of(&self, source: &Reference, tag: &str) -> Result<Digest, TagFailure> {
        let detail = |e: &dyn std::fmt::Display| TagFailure::Source {
            detail: e.to_string(),
        };
        let r = source.with_tag(tag).map_err(|e| detail(&e))?;
        match self.reg.manifest_head(&r, false).await {
            Ok(Some((d, _))) => Ok(d),
            Ok(None) => match self.reg.manifest(&r).await {
                Ok(f) => Ok(f.digest),
                Err(e) if e.is_not_found() => Err(TagFailure::NoSuchTag { reference: r }),
                Err(e) => Err(detail(&e)),
            },
            Err(e) => Err(detail(&e)),
        }
    }

    async fn copy(
        &self,
        img: &ImageSpec,
        digest: Digest,
        tags: Vec<String>,
        source_tags: Option<Arc<HashSet<String>>>,
    ) -> TagsResult {
        let mut out = TagsResult {
            tags: tags.clone(),
            source_digest: Some(digest.clone()),
            digest: None,
            status: Status::Failed,
            reason: None,
            problems: vec![],
            referrers_carried: 0,
        };
        if self.opts.dry_run {
            return self.plan(img, &digest, out).await;
        }
        if self.opts.deadline.is_some_and(|d| Instant::now() >= d) {
            out.reason = Some(TagFailure::DeadlinePassed);
            return out;
        }
        let first = img
            .source
            .with_tag(&tags[0])
            .unwrap_or_else(|_| img.source.clone());
        if let Err(why) = self.under_rate_limit(&first).await {
            out.reason = Some(why);
            return out;
        }
        let opts = PublishOptions {
            platforms: img.platforms.clone(),
            tags,
            verify_content: img.verify_content,
            referrers: img.referrers.clone(),
            source_tags,
            progress: self.opts.progress.clone(),
            ..PublishOptions::default()
        };
        let src = img.source.with_digest(&digest);
        match crate::commands::publish::copy(self.reg, &src, &img.target, &opts).await {
            Ok(r) => {
                out.digest = Some(r.digest.clone());
                out.referrers_carried = r.referrers.as_ref().map_or(0, |c| {
                    (c.referrers + c.cosign_tags).saturating_sub(c.already_there)
                });
                if r.verified {
                    out.status = match r.up_to_date {
                        true => Status::Present,
                        false => Status::Copied,
                    };
                } else {
                    out.reason = Some(TagFailure::NotProven(not_proven(&r, img)));
                    if let Some(rb) = &r.readback {
                        out.problems = rb.problems.clone();
                    }
                }
            }
            Err(e) => {
                out.reason = Some(TagFailure::Copy {
                    detail: e.to_string(),
                })
            }
        }
        out
    }

    /// Dry run: present when every target tag names what the copy would push (one HEAD each):
    /// the source digest, or for a platform subset the new index, planned by copy's own dry
    /// run from the source (its manifests and configs read; nothing written).
    async fn plan(&self, img: &ImageSpec, digest: &Digest, mut out: TagsResult) -> TagsResult {
        let mut digest = digest.clone();
        if img.platforms.is_some() {
            let opts = PublishOptions {
                platforms: img.platforms.clone(),
                tags: out.tags.clone(),
                dry_run: true,
                referrers: Carry::None,
                ..PublishOptions::default()
            };
            let src = img.source.with_digest(&digest);
            match crate::commands::publish::copy(self.reg, &src, &img.target, &opts).await {
                Ok(r) => digest = r.digest,
                Err(e) => {
                    out.reason = Some(TagFailure::Copy {
                        detail: e.to_string(),
                    });
                    return out;
                }
            }
        }
        let digest = &digest;
        out.status = Status::Present;
        for t in &out.tags {
            let Ok(tagged) = img.target.with_tag(t) else {
                continue;
            };
            match self.reg.manifest_head(&tagged, false).await {
                Ok(Some((d, _))) if &d == digest => {}
                Ok(_) => {
                    out.status = Status::WouldCopy;
                    break;
                }
                Err(e) => {
                    out.status = Status::Failed;
                    out.reason = Some(TagFailure::Target {
                        detail: e.to_string(),
                    });
                    break;
                }
            }
        }
        if out.status == Status::Present {
            out.digest = Some(digest.clone());
        }
        out
    }

    /// Waits while the source registry says fewer pulls are left than `[ratelimit] min`,
    /// `retry` at a time, asking again by a HEAD of `probe` (a HEAD is not a pull).
    async fn under_rate_limit(&self, probe: &Reference) -> Result<(), TagFailure> {
        let Some(rl) = self.ratelimit else {
            return Ok(());
        };
        let registry = probe.registry();
        for _ in 0..MAX_PAUSES {
            let left = match self.reg.rate_remaining(registry) {
                Some(left) if left < rl.min => left,
                _ => return Ok(()),
            };
            if self
                .opts
                .deadline
                .is_some_and(|d| Instant::now() + rl.retry > d)
            {
                return Err(TagFailure::RateLimitDeadline {
                    registry: registry.to_string(),
                    left,
                    min: rl.min,
                    retry: rl.retry,
                });
            }
            self.pauses.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(rl.retry).await;
            let _ = self.reg.manifest_head(probe, false).await;
        }
        Err(TagFailure::RateLimitStayed {
            registry: registry.to_string(),
            min: rl.min,
            waits: MAX_PAUSES,
        })
    }
}

/// Why a copy's result was not proven, with the copy that shows it.
fn not_proven(r: &crate::commands::publish::PublishReport, img: &ImageSpec) -> NotProven {
    let carried = r.referrers.as_ref();
    NotProven {
        source: r
            .sources
            .first()
            .map_or("SOURCE".into(), |s| s.name.clone()),
        target: r.target.clone(),
        tag: r.tags.first().map_or("TAG".into(), String::clone),
        platforms: img.platforms.clone(),
        content: img.verify_content,
        referrers: img.referrers.clone(),
        readback_problems: r
            .readback
            .as_ref()
            .filter(|rb| !rb.verified)
            .map(|rb| rb.problems.len()),
        missing: carried.map_or(0, |c| c.missing.len()),
        conflicts: carried.map_or(0, |c| c.conflicts.len()),
    }
}
