//! `runref diagnose`: will a daemon export find the run image? Looks it up exactly as the
//! exporter does (by `[run-image] reference`), explains a miss in the user's words, and ends
//! with the `runref reconcile` command that fixes it.

use crate::analyzed::AnalyzedFile;
use crate::daemon::{Daemon, DaemonError, LocalImage};
use crate::local::DaemonSide;
use crate::platform::Platform;
use crate::reference::{ImageRef, Reference};
use crate::registry::Registry;
use crate::resolve::{resolve, Depth};

/// The exporter's error when its daemon lookup finds nothing (lifecycle#1456).
pub const LIFECYCLE_ERROR: &str =
    "ERROR: failed to export: get run image top layer SHA: image has no layers";

/// Why the export will fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// A per-arch registry digest the daemon does not hold; a local image is that platform.
    PerArchDigestNotInDaemon,
    /// The run image is in the daemon only (never pushed) but the reference is a registry digest.
    DaemonOnlyImage,
    /// The run image is in the daemon, for another platform.
    WrongPlatform,
    /// The run image is not in the daemon at all.
    Absent,
    /// An image ID the daemon does not know; the containerd store uses other IDs.
    ContainerdIdForm,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TopLayer {
    /// `[metadata.run-image] top-layer`: the run image the previous app image was built on.
    pub recorded: String,
    pub local: Option<String>,
    pub same: bool,
}

/// The diagnosis. JSON field names are a contract (README).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DiagnoseReport {
    pub file: String,
    pub reference: String,
    pub platform: Option<Platform>,
    pub export_will_work: bool,
    /// The image the exporter would find.
    pub found: Option<DaemonSide>,
    pub cause: Option<Cause>,
    pub explanation: String,
    /// The lifecycle error the user sees for this cause.
    pub lifecycle_error: Option<&'static str>,
    /// Local images of the run image's repository.
    pub local_images: Vec<DaemonSide>,
    /// What the registry says the reference's digest is (unless --daemon-only).
    pub registry_platform: Option<Platform>,
    /// Why the registry could not say (unreachable, untrusted certificate, refused, ...).
    pub registry_error: Option<String>,
    pub top_layer: Option<TopLayer>,
    /// The command that fixes the case, when one does.
    pub fix: Option<String>,
    pub registry_requests: usize,
    /// Of those, HTTPS attempts an insecure host refused before plain HTTP answered (at most
    /// one per host; a registry's access log never sees them).
    pub registry_http_fallbacks: usize,
    /// Registry => the endpoint that answered (a mirror for Docker Hub names, when one did).
    pub registry_endpoints: crate::registry::Endpoints,
    /// The Docker context the daemon was reached through, when one was (set by the CLI).
    pub docker_context: Option<String>,
}

impl DiagnoseReport {
    pub fn exit_code(&self) -> u8 {
        if self.export_will_work {
            crate::exit::OK
        } else {
            crate::exit::FAILED
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error(transparent)]
    Analyzed(#[from] crate::analyzed::AnalyzedError),
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
}

fn fix(policy: &str, platform: Option<&Platform>, file: &str) -> String {
    let p = platform
        .map(|p| format!(" --platform {p}"))
        .unwrap_or_default();
    format!("runref reconcile --daemon --pull-policy {policy}{p} {file}")
}

/// Diagnoses `file` against `daemon`; asks the registry only when `registry` is given.
/// The name the daemon holds `img` under in `repo` (a tag there), for asking the registry.
fn local_name(img: &LocalImage, repo: &Reference) -> Option<Reference> {
    img.repo_tags
        .iter()
        .filter_map(|t| t.parse::<Reference>().ok())
        .find(|t| t.same_repository(repo))
}

pub async fn diagnose<D: Daemon, R: Registry>(
    file: &AnalyzedFile,
    platform: Option<Platform>,
    daemon: &D,
    registry: Option<&R>,
) -> Result<DiagnoseReport, DiagnoseError> {
    let view = file.view()?;
    let path = file.path().display().to_string();
    let run = view
        .run_image
        .ok_or_else(|| DiagnoseError::Input(format!("{path}: no [run-image] table")))?;
    let raw = run
        .reference
        .clone()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| DiagnoseError::Input(format!("{path}: [run-image] reference is empty")))?;
    let reference = ImageRef::parse(&raw)
        .map_err(|e| DiagnoseError::Input(format!("{path}: [run-image] reference: {e}")))?;
    let image_name: Option<Reference> = run.image.as_deref().and_then(|i| i.parse().ok());
    let given = platform.or_else(|| run.target.as_ref().and_then(|t| t.platform()));

    // Exactly the exporter's lookup: the reference string as written.
    let (info, found) = tokio::join!(daemon.info(), daemon.inspect(&raw));
    let info = info?;
    let found = found?;
    let mut report = DiagnoseReport {
        file: path.clone(),
        reference: raw.clone(),
        platform: given.clone(),
        export_will_work: false,
        found: None,
        cause: None,
        explanation: String::new(),
        lifecycle_error: None,
        local_images: vec![],
        registry_platform: None,
        top_layer: None,
        fix: None,
        registry_error: None,
        registry_requests: 0,
        registry_http_fallbacks: 0,
        registry_endpoints: Default::default(),
        docker_context: None,
    };
    let top_layer = |img: &LocalImage| {
        view.metadata_run_image
            .as_ref()
            .and_then(|m| m.top_layer.clone())
            .map(|recorded| TopLayer {
                same: img.top_layer.as_deref() == Some(recorded.as_str()),
                local: img.top_layer.clone(),
                recorded,
            })
    };

    if let Some(img) = found {
        report.top_layer = top_layer(&img);
        report.found = Some(DaemonSide::new(&img, &info));
        match &given {
            Some(p) if img.resolves_to() != Some(p) => {
                report.cause = Some(Cause::WrongPlatform);
                report.explanation = format!(
                    "the exporter finds {raw} as image {}, but it is for {}, not {p}: the app image would be built on the wrong platform's run image",
                    img.id,
                    img.platform.as_ref().map_or("an unknown platform".into(), |x| x.to_string())
                );
                report.fix = Some(fix("if-not-present", Some(p), &path));
            }
            _ => {
                report.export_will_work = true;
                report.explanation = format!(
                    "the exporter will find the run image: {raw} is image {} in the daemon",
                    img.id
                );
            }
        }
        return Ok(report);
    }

    // Not found: look at the repository's local images, and (unless told not to) ask the
    // registry what the digest is.
    let repo = match &reference {
        ImageRef::Name(n) => Some(n.clone()),
        ImageRef::Id(_) => image_name.clone(),
    };
    let locals = match &repo {
        Some(r) => daemon.images_of(r).await?,
        None => vec![],
    };
    report.local_images = locals.iter().map(|i| DaemonSide::new(i, &info)).collect();
    let digest = match &reference {
        ImageRef::Name(n) => n.digest().cloned(),
        ImageRef::Id(_) => None,
    };
    // The config the digest names, when it names one image: a local image with that ID is
    // this image, however it came into the daemon (a load keeps no RepoDigest).
    let mut registry_config = None;
    if let (Some(reg), Some(n), Some(_)) = (registry, &repo, &digest) {
        let p = given.clone().unwrap_or_else(|| info.platform_or_host());
        match resolve(reg, n, &Depth::Platform(p.clone())).await {
            // The digest's own platform: a single manifest's config, or the platform whose
            // entry it is when it named an index.
            Ok(view) => {
                report.registry_platform = match view.entries.as_slice() {
                    [single] if !view.is_index => {
                        registry_config = single.config.clone();
                        single.config_platform.clone()
                    }
                    _ => view.entry_for(&p).map(|_| p.clone()),
                }
            }
            // Not found is an answer (the digest is in no registry); anything else leaves the
            // platform unknown, and says why.
            Err(e) if e.is_not_found() => {}
            Err(e) => report.registry_error = Some(e.to_string()),
        }
        report.registry_requests = reg.requests();
        report.registry_http_fallbacks = reg.http_fallbacks();
        report.registry_endpoints = reg.endpoints();
    }
    // The platform the build targets: given, else what the restorer chose, else the daemon's.
    let target = given
        .clone()
        .or_else(|| report.registry_platform.clone())
        .unwrap_or_else(|| info.platform_or_host());
    report.platform = Some(target.clone());
    let mut for_target: Vec<&LocalImage> = locals.iter().filter(|i| i.provides(&target)).collect();
    // The image still tagged in the repository is the latest pull; older pulls keep digests only.
    if let Some(r) = &repo {
        for_target.sort_by_key(|i| !i.tagged_in(r));
    }
    let defaulted = given.is_none() && report.registry_platform.is_none();
    let hint = if defaulted {
        let why = match &report.registry_error {
            Some(_) => "the registry could not say which platform the digest is (below), so ",
            None => "",
        };
        format!(" ({why}{target} is only the daemon's platform; pass --platform if the build targets another)")
    } else {
        String::new()
    };
    let fix_platform = Some(&target);

    report.lifecycle_error = Some(LIFECYCLE_ERROR);
    match (&reference, digest) {
        (ImageRef::Name(n), Some(d)) if !for_target.is_empty() => {
            // The local image the digest's config names, when there is one.
            let img = for_target
                .iter()
                .find(|i| Some(i.id.digest()) == registry_config.as_ref())
                .copied()
                .unwrap_or(for_target[0]);
            // reconcile's rule (LocalImage::daemon_only): where every name has a RepoDigest
            // (containerd store, podman) the registry says, one GET of the image's name; a
            // 404 is never pushed. Without the registry (--daemon-only) it stays unknown.
            // The registry's manifest for the digest has this image's config: the same image
            // (reconcile proves it so), never daemon-only.
            let same_config = registry_config
                .as_ref()
                .is_some_and(|c| img.id.digest() == c);
            let daemon_only = !same_config
                && match img.daemon_only(n, &info) {
                    Some(only) => only,
                    None => match (registry, local_name(img, n)) {
                        (Some(reg), Some(name)) => {
                            let p = Depth::Platform(target.clone());
                            let asked = resolve(reg, &name, &p).await;
                            report.registry_requests = reg.requests();
                            report.registry_http_fallbacks = reg.http_fallbacks();
                            report.registry_endpoints = reg.endpoints();
                            matches!(asked, Err(e) if e.is_not_found())
                        }
                        _ => false,
                    },
                };
            if daemon_only {
                report.cause = Some(Cause::DaemonOnlyImage);
                report.explanation = format!(
                    "{} exists only in this daemon (image {}, never pushed or pulled), but the reference is the registry digest {d}: \
                     the restorer resolved it from the registry, where that name is not this image",
                    n.name(),
                    img.id
                );
                report.fix = Some(fix("never", fix_platform, &path));
            } else {
                report.cause = Some(Cause::PerArchDigestNotInDaemon);
                report.explanation = format!(
                    "the restorer wrote the per-architecture manifest digest {d}; the daemon holds the {target} run image as {} \
                     but knows it only by {} (lifecycle#1457)",
                    img.id,
                    if img.repo_digests.is_empty() {
                        "its tags".to_string()
                    } else {
                        img.repo_digests.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ")
                    }
                );
                report.fix = Some(fix("never", fix_platform, &path));
            }
        }
        (ImageRef::Id(_), _) if locals.iter().any(|i| i.descriptor.is_some()) => {
            report.cause = Some(Cause::ContainerdIdForm);
            report.explanation = format!(
                "the daemon has no image with ID {raw}; this daemon uses the containerd image store, whose image IDs are \
                 manifest/index digests, not config digests: the ID was probably written against another daemon"
            );
            report.fix = Some(fix("if-not-present", fix_platform, &path));
        }
        _ if !locals.is_empty() => {
            report.cause = Some(Cause::WrongPlatform);
            report.explanation = format!(
                "the daemon has no {target} image for {raw}; it has: {}{hint}",
                locals
                    .iter()
                    .map(|i| format!(
                        "{} ({})",
                        i.id,
                        i.platform.as_ref().map_or("?".into(), |p| p.to_string())
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            report.fix = Some(fix("if-not-present", fix_platform, &path));
        }
        _ => {
            report.cause = Some(Cause::Absent);
            report.explanation = format!("the run image {raw} is not in the daemon at all{hint}");
            report.fix = Some(fix("if-not-present", fix_platform, &path));
        }
    }
    Ok(report)
}
