//! `runref sync --format json`.

use crate::commands::sync::{ImageResult, Status, SyncReport, SyncSummary, TagsResult};
use crate::commands::verify::Problem;
use crate::model::digest::Digest;

#[derive(Debug, serde::Serialize)]
pub struct Json<'a> {
    pub command: &'static str,
    pub file: &'a str,
    pub shard: Option<&'a str>,
    pub dry_run: bool,
    pub images_in_file: usize,
    pub images: Vec<Image<'a>>,
    pub summary: &'a SyncSummary,
    pub complete: bool,
    pub rate_limit_pauses: usize,
    pub registry_requests: usize,
    pub registry_http_fallbacks: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct Image<'a> {
    pub index: usize,
    pub source: &'a str,
    pub target: &'a str,
    pub tags: &'a [String],
    pub results: Vec<Tags<'a>>,
    pub error: Option<String>,
    pub warning: Option<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct Tags<'a> {
    pub tags: &'a [String],
    pub source_digest: Option<&'a Digest>,
    pub digest: Option<&'a Digest>,
    pub status: Status,
    pub reason: Option<String>,
    pub problems: &'a [Problem],
    pub referrers_carried: usize,
}

impl<'a> From<&'a SyncReport> for Json<'a> {
    fn from(r: &'a SyncReport) -> Self {
        Json {
            command: r.command,
            file: &r.file,
            shard: r.shard.as_deref(),
            dry_run: r.dry_run,
            images_in_file: r.images_in_file,
            images: r.images.iter().map(Image::from).collect(),
            summary: &r.summary,
            complete: r.complete,
            rate_limit_pauses: r.rate_limit_pauses,
            registry_requests: r.registry_requests,
            registry_http_fallbacks: r.registry_http_fallbacks,
        }
    }
}

impl<'a> From<&'a ImageResult> for Image<'a> {
    fn from(i: &'a ImageResult) -> Self {
        Image {
            index: i.index,
            source: &i.source,
            target: &i.target,
            tags: &i.tags,
            results: i.results.iter().map(Tags::from).collect(),
            error: i.error.as_ref().map(ToString::to_string),
            warning: i.warning.as_ref().map(ToString::to_string),
        }
    }
}

impl<'a> From<&'a TagsResult> for Tags<'a> {
    fn from(t: &'a TagsResult) -> Self {
        Tags {
            tags: &t.tags,
            source_digest: t.source_digest.as_ref(),
            digest: t.digest.as_ref(),
            status: t.status,
            reason: t.reason.as_ref().map(ToString::to_string),
            problems: &t.problems,
            referrers_carried: t.referrers_carried,
        }
    }
}
