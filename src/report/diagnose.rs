//! `runref diagnose --format json`.

use crate::commands::diagnose::{Cause, DiagnoseReport, TopLayer};
use crate::model::local::DaemonSide;
use crate::model::platform::Platform;
use crate::registry::Endpoints;

#[derive(Debug, serde::Serialize)]
pub struct Json<'a> {
    pub file: &'a str,
    pub reference: &'a str,
    pub platform: Option<&'a Platform>,
    pub export_will_work: bool,
    pub found: Option<&'a DaemonSide>,
    pub cause: Option<Cause>,
    pub explanation: String,
    pub lifecycle_error: Option<&'static str>,
    pub local_images: &'a [DaemonSide],
    pub registry_platform: Option<&'a Platform>,
    pub registry_error: Option<&'a str>,
    pub top_layer: Option<&'a TopLayer>,
    pub fix: Option<&'a str>,
    pub registry_requests: usize,
    pub registry_http_fallbacks: usize,
    pub registry_endpoints: &'a Endpoints,
    pub docker_context: Option<&'a str>,
}

impl<'a> From<&'a DiagnoseReport> for Json<'a> {
    fn from(r: &'a DiagnoseReport) -> Self {
        Json {
            file: &r.file,
            reference: &r.reference,
            platform: r.platform.as_ref(),
            export_will_work: r.export_will_work,
            found: r.found.as_ref(),
            cause: r.cause,
            explanation: r.finding.to_string(),
            lifecycle_error: r.lifecycle_error,
            local_images: &r.local_images,
            registry_platform: r.registry_platform.as_ref(),
            registry_error: r.registry_error.as_deref(),
            top_layer: r.top_layer.as_ref(),
            fix: r.fix.as_deref(),
            registry_requests: r.registry_requests,
            registry_http_fallbacks: r.registry_http_fallbacks,
            registry_endpoints: &r.registry_endpoints,
            docker_context: r.docker_context.as_deref(),
        }
    }
}
