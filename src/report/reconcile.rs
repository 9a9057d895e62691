//! `runref reconcile --format json`.

use crate::commands::reconcile::decide::{Mode, Reason};
use crate::commands::reconcile::why::FailReason;
use crate::commands::reconcile::{PlatformSource, Report};
use crate::model::local::StoreKind;
use crate::model::platform::Platform;
use crate::model::policy::PullPolicy;
use crate::registry::Endpoints;

#[derive(Debug, serde::Serialize)]
pub struct Json<'a> {
    pub file: &'a str,
    pub mode: Mode,
    pub pull_policy: PullPolicy,
    pub platform: Option<&'a Platform>,
    pub platform_source: Option<PlatformSource>,
    pub changed: bool,
    pub written: bool,
    pub before: &'a str,
    pub after: Option<&'a str>,
    pub decision: Option<Reason>,
    pub failure: Option<Failure>,
    pub local_image_id: Option<&'a str>,
    pub store: Option<StoreKind>,
    pub pulled: Option<&'a str>,
    pub materialized: Option<&'a str>,
    pub would_pull: Option<&'a str>,
    pub would_materialize: bool,
    pub registry_requests: usize,
    pub registry_http_fallbacks: usize,
    pub registry_cache_hits: usize,
    pub registry_endpoints: &'a Endpoints,
    pub docker_context: Option<&'a str>,
    pub warnings: Vec<String>,
    pub diff: Option<&'a str>,
}

#[derive(Debug, serde::Serialize)]
pub struct Failure {
    pub reason: FailReason,
    /// What happened, naming image and platform, and the next step.
    pub message: String,
}

impl<'a> From<&'a Report> for Json<'a> {
    fn from(r: &'a Report) -> Self {
        Json {
            file: &r.file,
            mode: r.mode,
            pull_policy: r.pull_policy,
            platform: r.platform.as_ref(),
            platform_source: r.platform_source,
            changed: r.changed,
            written: r.written,
            before: &r.before,
            after: r.after.as_deref(),
            decision: r.decision,
            failure: r.failure.as_ref().map(|f| Failure {
                reason: f.reason(),
                message: f.to_string(),
            }),
            local_image_id: r.local_image_id.as_deref(),
            store: r.store,
            pulled: r.pulled.as_deref(),
            materialized: r.materialized.as_deref(),
            would_pull: r.would_pull.as_deref(),
            would_materialize: r.would_materialize,
            registry_requests: r.registry_requests,
            registry_http_fallbacks: r.registry_http_fallbacks,
            registry_cache_hits: r.registry_cache_hits,
            registry_endpoints: &r.registry_endpoints,
            docker_context: r.docker_context.as_deref(),
            warnings: r.warnings.iter().map(ToString::to_string).collect(),
            diff: r.diff.as_deref(),
        }
    }
}
