//! `runref diagnose`: will a daemon export find the run image? Looks it up exactly as the
//! exporter does (by `[run-image] reference`), explains a miss in the user's words, and ends
//! with the `runref reconcile` command that fixes it.

use crate::analyzed::AnalyzedFile;
use crate::daemon::{Daemon, DaemonError};
use crate::model::digest::{Digest, ImageId};
use crate::model::local::LocalImage;
use crate::model::local::{DaemonInfo, DaemonSide, Held};
use crate::model::platform::Platform;
use crate::model::reference::{ImageRef, Reference};
use crate::model::view::Depth;
use crate::registry::resolve::resolve;
use crate::registry::Registry;

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

/// The diagnosis (JSON: [`crate::report::diagnose`]).
#[derive(Debug, Clone)]
pub struct DiagnoseReport {
    pub file: String,
    pub reference: String,
    pub platform: Option<Platform>,
    pub export_will_work: bool,
    /// The image the exporter would find.
    pub found: Option<DaemonSide>,
    pub cause: Option<Cause>,
    /// The case with the facts it names (worded by [`crate::message::diagnose`]).
    pub finding: Finding,
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

/// What the diagnosis found: the case, and the facts its explanation names.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// The exporter's lookup finds the run image for the target.
    Works { reference: String, image: ImageId },
    /// The lookup finds an image, of another platform.
    FoundWrongPlatform {
        reference: String,
        held: Held,
        target: Platform,
    },
    /// A never-pushed image named by a registry digest.
    DaemonOnly {
        repo: String,
        image: ImageId,
        digest: Digest,
        target: Platform,
    },
    /// The per-arch digest the restorer wrote; the daemon knows the image by other names.
    PerArchDigest {
        digest: Digest,
        target: Platform,
        image: ImageId,
        /// Its RepoDigests (empty: only its tags).
        known_by: Vec<Reference>,
    },
    /// An image ID of the classic form on the containerd store.
    ContainerdId { reference: String, target: Platform },
    /// Images of the repository, none for the target.
    WrongPlatform {
        reference: String,
        target: Platform,
        locals: Vec<Held>,
        guess: Option<Guess>,
    },
    /// No image of the run image at all.
    Absent {
        reference: String,
        target: Platform,
        guess: Option<Guess>,
    },
}

/// The target is only the daemon's platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guess {
    /// The registry could not say which platform the digest is.
    pub registry_failed: bool,
}

impl Finding {
    pub fn cause(&self) -> Option<Cause> {
        match self {
            Finding::Works { .. } => None,
            Finding::FoundWrongPlatform { .. } | Finding::WrongPlatform { .. } => {
                Some(Cause::WrongPlatform)
            }
            Finding::DaemonOnly { .. } => Some(Cause::DaemonOnlyImage),
            Finding::PerArchDigest { .. } => Some(Cause::PerArchDigestNotInDaemon),
            Finding::ContainerdId { .. } => Some(Cause::ContainerdIdForm),
            Finding::Absent { .. } => Some(Cause::Absent),
        }
    }

    /// The `runref reconcile` that fixes the case: the pull policy and the target.
    fn fix(&self) -> Option<(&'static str, &Platform)> {
        match self {
            Finding::Works { .. } => None,
            Finding::DaemonOnly { target, .. } | Finding::PerArchDigest { target, .. } => {
                Some(("never", target))
            }
            Finding::FoundWrongPlatform { target, .. }
            | Finding::ContainerdId { target, .. }
            | Finding::WrongPlatform { target, .. }
            | Finding::Absent { target, .. } => Some(("if-not-present", target)),
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

fn fix(policy: &str, platform: &Platform, file: &str) -> String {
    format!("runref reconcile --daemon --pull-policy {policy} --platform {platform} {file}")
}

/// The name the daemon holds `img` under in `repo` (a tag there), for asking the registry.
fn local_name(img: &LocalImage, repo: &Reference) -> Option<Reference> {
    img.repo_tags
        .iter()
        .filter_map(|t| t.parse::<Reference>().ok())
        .find(|t| t.same_repository(repo))
}

/// `[run-image]` as the exporter reads it: the reference string as written, parsed, and the
/// image name.
fn run_image(
    view: &crate::analyzed::Analyzed,
    path: &str,
) -> Result<(String, ImageRef, Option<Reference>), DiagnoseError> {
    let run = view
        .run_image
        .as_ref()
        .ok_or_else(|| DiagnoseError::Input(format!("{path}: no [run-image] table")))?;
    let raw = run
        .reference
        .clone()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| DiagnoseError::Input(format!("{path}: [run-image] reference is empty")))?;
    let reference = ImageRef::parse(&raw)
        .map_err(|e| DiagnoseError::Input(format!("{path}: [run-image] reference: {e}")))?;
    let image = run.image.as_deref().and_then(|i| i.parse().ok());
    Ok((raw, reference, image))
}

/// The exporter's lookup found `img`: right when it resolves to the target (or no target
/// was given).
fn found(raw: &str, img: &LocalImage, given: Option<&Platform>) -> Finding {
    match given {
        Some(p) if img.resolves_to() != Some(p) => Finding::FoundWrongPlatform {
            reference: raw.to_string(),
            held: Held::of(img),
            target: p.clone(),
        },
        _ => Finding::Works {
            reference: raw.to_string(),
            image: img.id.clone(),
        },
    }
}

/// What the registry says about the reference's digest.
#[derive(Default)]
struct Asked {
    /// The digest's own platform.
    platform: Option<Platform>,
    /// The config it names, when it names one image.
    config: Option<Digest>,
    error: Option<String>,
}

async fn ask_registry<R: Registry>(reg: &R, n: &Reference, p: &Platform) -> Asked {
    match resolve(reg, n, &Depth::Platform(p.clone())).await {
        // The digest's own platform: a single manifest's config, or the platform whose entry
        // it is when it named an index.
        Ok(view) => match view.entries.as_slice() {
            [single] if !view.is_index => Asked {
                platform: single.config_platform.clone(),
                config: single.config.clone(),
                error: None,
            },
            _ => Asked {
                platform: view.entry_for(p).map(|_| p.clone()),
                ..Asked::default()
            },
        },
        // Not found is an answer (the digest is in no registry); anything else leaves the
        // platform unknown, and says why.
        Err(e) if e.is_not_found() => Asked::default(),
        Err(e) => Asked {
            error: Some(e.to_string()),
            ..Asked::default()
        },
    }
}

/// The local image the digest should have been: the one whose ID is the config the digest
/// names (a load keeps no RepoDigest, it is still this image), else the one still tagged in
/// the repository (the latest pull; older pulls keep digests only), else the first.
fn candidate<'a>(
    locals: &'a [LocalImage],
    target: &Platform,
    repo: Option<&Reference>,
    config: Option<&Digest>,
) -> Option<&'a LocalImage> {
    let mut for_target: Vec<&LocalImage> = locals.iter().filter(|i| i.provides(target)).collect();
    if let Some(r) = repo {
        for_target.sort_by_key(|i| !i.tagged_in(r));
    }
    for_target
        .iter()
        .find(|i| Some(i.id.digest()) == config)
        .or(for_target.first())
        .copied()
}

/// What a miss is, from the facts (pure). `daemon_only` is reconcile's rule
/// ([`LocalImage::daemon_only`]) as answered for the candidate, the registry asked where the
/// daemon cannot say.
struct Miss<'a> {
    raw: &'a str,
    reference: &'a ImageRef,
    target: Platform,
    guess: Option<Guess>,
    locals: &'a [LocalImage],
    candidate: Option<&'a LocalImage>,
    daemon_only: bool,
}

fn miss(m: Miss) -> Finding {
    let digest = match m.reference {
        ImageRef::Name(n) => n.digest().map(|d| (n, d)),
        ImageRef::Id(_) => None,
    };
    match (digest, m.candidate) {
        (Some((n, d)), Some(img)) if m.daemon_only => Finding::DaemonOnly {
            repo: n.name(),
            image: img.id.clone(),
            digest: d.clone(),
            target: m.target,
        },
        (Some((_, d)), Some(img)) => Finding::PerArchDigest {
            digest: d.clone(),
            target: m.target,
            image: img.id.clone(),
            known_by: img.repo_digests.clone(),
        },
        _ if matches!(m.reference, ImageRef::Id(_))
            && m.locals.iter().any(|i| i.descriptor.is_some()) =>
        {
            Finding::ContainerdId {
                reference: m.raw.to_string(),
                target: m.target,
            }
        }
        _ if !m.locals.is_empty() => Finding::WrongPlatform {
            reference: m.raw.to_string(),
            target: m.target,
            locals: m.locals.iter().map(Held::of).collect(),
            guess: m.guess,
        },
        _ => Finding::Absent {
            reference: m.raw.to_string(),
            target: m.target,
            guess: m.guess,
        },
    }
}

/// Is `img` a daemon-only image of `n`? reconcile's rule ([`LocalImage::daemon_only`]): where
/// every name has a RepoDigest (containerd store, podman) the registry says, by one GET of
/// the image's name (a 404 is never pushed); without the registry it stays unknown (no). An
/// image whose config the registry's manifest for the digest names is that image, never
/// daemon-only (reconcile proves it so).
async fn daemon_only<R: Registry>(
    img: &LocalImage,
    n: &Reference,
    info: &DaemonInfo,
    registry: Option<&R>,
    config: Option<&Digest>,
    target: &Platform,
) -> bool {
    if config.is_some_and(|c| img.id.digest() == c) {
        return false;
    }
    if let Some(only) = img.daemon_only(n, info) {
        return only;
    }
    match (registry, local_name(img, n)) {
        (Some(reg), Some(name)) => {
            let asked = resolve(reg, &name, &Depth::Platform(target.clone())).await;
            matches!(asked, Err(e) if e.is_not_found())
        }
        _ => false,
    }
}

/// Diagnoses `file` against `daemon`; asks the registry only when `registry` is given.
pub async fn diagnose<D: Daemon, R: Registry>(
    file: &AnalyzedFile,
    platform: Option<Platform>,
    daemon: &D,
    registry: Option<&R>,
) -> Result<DiagnoseReport, DiagnoseError> {
    let view = file.view()?;
    let path = file.path().display().to_string();
    let (raw, reference, image_name) = run_image(&view, &path)?;
    let given = platform.or_else(|| view.run_image.as_ref()?.target.as_ref()?.platform());

    // Exactly the exporter's lookup: the reference string as written.
    let (info, found_image) = tokio::join!(daemon.info(), daemon.inspect(&raw));
    let info = info?;
    let mut report = DiagnoseReport::new(&path, &raw, given.clone(), &info);
    if let Some(img) = found_image? {
        report.top_layer = view
            .metadata_run_image
            .as_ref()
            .and_then(|m| m.top_layer.clone())
            .map(|recorded| TopLayer {
                same: img.top_layer.as_deref() == Some(recorded.as_str()),
                local: img.top_layer.clone(),
                recorded,
            });
        report.found = Some(DaemonSide::new(&img, &info));
        report.settle(found(&raw, &img, given.as_ref()), &path);
        return Ok(report);
    }
    // Not found: the repository's local images, and (unless told not to) the registry's word
    // on what the digest is.
    let repo = match &reference {
        ImageRef::Name(n) => Some(n.clone()),
        ImageRef::Id(_) => image_name.clone(),
    };
    let locals = match &repo {
        Some(r) => daemon.images_of(r).await?,
        None => vec![],
    };
    report.local_images = locals.iter().map(|i| DaemonSide::new(i, &info)).collect();
    let has_digest = matches!(&reference, ImageRef::Name(n) if n.digest().is_some());
    let asked = match (registry, &repo) {
        (Some(reg), Some(n)) if has_digest => {
            let p = given.clone().unwrap_or_else(|| info.platform_or_host());
            ask_registry(reg, n, &p).await
        }
        _ => Asked::default(),
    };
    // The platform the build targets: given, else what the restorer chose, else the daemon's.
    let target = given
        .clone()
        .or_else(|| asked.platform.clone())
        .unwrap_or_else(|| info.platform_or_host());
    let guess = (given.is_none() && asked.platform.is_none()).then_some(Guess {
        registry_failed: asked.error.is_some(),
    });
    let candidate = candidate(&locals, &target, repo.as_ref(), asked.config.as_ref());
    let only = match (&reference, candidate) {
        (ImageRef::Name(n), Some(img)) if has_digest => {
            daemon_only(img, n, &info, registry, asked.config.as_ref(), &target).await
        }
        _ => false,
    };
    report.platform = Some(target.clone());
    report.registry_platform = asked.platform;
    report.registry_error = asked.error;
    if let Some(reg) = registry {
        report.registry_requests = reg.requests();
        report.registry_http_fallbacks = reg.http_fallbacks();
        report.registry_endpoints = reg.endpoints();
    }
    report.lifecycle_error = Some(LIFECYCLE_ERROR);
    let finding = miss(Miss {
        raw: &raw,
        reference: &reference,
        target,
        guess,
        locals: &locals,
        candidate,
        daemon_only: only,
    });
    report.settle(finding, &path);
    Ok(report)
}

impl DiagnoseReport {
    /// Nothing found yet.
    fn new(path: &str, raw: &str, given: Option<Platform>, info: &DaemonInfo) -> DiagnoseReport {
        DiagnoseReport {
            file: path.to_string(),
            reference: raw.to_string(),
            platform: given,
            export_will_work: false,
            found: None,
            cause: None,
            finding: Finding::Absent {
                reference: raw.to_string(),
                target: info.platform_or_host(),
                guess: None,
            },
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
        }
    }

    fn settle(&mut self, finding: Finding, path: &str) {
        self.export_will_work = matches!(finding, Finding::Works { .. });
        self.cause = finding.cause();
        self.fix = finding.fix().map(|(policy, p)| fix(policy, p, path));
        self.finding = finding;
    }
}
