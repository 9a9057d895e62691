//! `runref inspect`: the daemon's view and the registry's view of one image side by side, and
//! the link between them (which index entry the local image is, and how that was proven).

use crate::daemon::Daemon;
use crate::model::digest::Digest;
use crate::model::local::DaemonSide;
use crate::model::local::LocalImage;
use crate::model::platform::Platform;
use crate::model::proof::{prove, Proof};
use crate::model::reference::{ImageRef, Reference};
use crate::model::view::Depth;
use crate::model::view::RemoteView;
use crate::registry::resolve::resolve;
use crate::registry::Registry;

/// The link between the two sides.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Link {
    /// The index entry (or single manifest) the local image is; null when unproven.
    pub entry: Option<Digest>,
    pub platform: Option<Platform>,
    pub proof: Option<Proof>,
    /// Whether the daemon records the top (index) digest for this image.
    pub daemon_knows_top_digest: bool,
    #[serde(serialize_with = "crate::model::json::as_text")]
    pub explanation: Tie,
}

/// How the local image is tied to the registry's image (worded by [`crate::message`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Tie {
    /// The local image is the index (containerd store); the exporter's lookup gives this entry.
    IndexItself {
        platform: Option<Platform>,
        entry: Digest,
    },
    /// The local image is this entry.
    Entry {
        platform: Option<Platform>,
        entry: Digest,
    },
    /// The daemon records the registry digest, but no entry's config is the local image.
    RecordedButNoConfig,
    /// No entry matches the local image.
    NoEntry,
}

/// Why a side of inspect has nothing to show.
#[derive(Debug, Clone, PartialEq)]
pub enum SideMiss {
    /// The daemon or registry failed (its error's words).
    Failed(String),
    /// The daemon has no such image.
    NoImage { image: String },
    /// The daemon has no image whose ID starts with the short ID given.
    NoIdPrefix { prefix: String },
    /// A short image ID is never asked of a registry.
    ShortId { prefix: String },
    /// The local image has no registry digest (daemon-only).
    DaemonOnly,
    /// The subject is an OCI layout: no daemon is asked.
    Layout,
}

/// The inspect result. JSON field names are a contract (README).
#[derive(Debug, Clone, serde::Serialize)]
pub struct InspectReport {
    pub image: String,
    pub platform: Option<Platform>,
    pub daemon: Option<DaemonSide>,
    #[serde(serialize_with = "crate::model::json::as_text_opt")]
    pub daemon_error: Option<SideMiss>,
    pub registry: Option<RemoteView>,
    #[serde(serialize_with = "crate::model::json::as_text_opt")]
    pub registry_error: Option<SideMiss>,
    pub link: Option<Link>,
    /// Signatures, SBOMs and attestations attached by subject to the index and its entries
    /// (only subjects that have any; `--no-referrers` asks none).
    pub referrers: Vec<crate::registry::referrers::SubjectReferrers>,
    pub referrers_error: Option<String>,
    pub registry_requests: usize,
    /// Of those, HTTPS attempts an insecure host refused before plain HTTP answered (at most
    /// one per host; a registry's access log never sees them).
    pub registry_http_fallbacks: usize,
    /// Registry => the endpoint that answered (a mirror for Docker Hub names, when one did).
    pub registry_endpoints: crate::registry::Endpoints,
    /// The Docker context the daemon was reached through, when one was (set by the CLI).
    pub docker_context: Option<String>,
}

impl InspectReport {
    /// 0 when at least one side was found, else 1.
    pub fn exit_code(&self) -> u8 {
        if self.daemon.is_none() && self.registry.is_none() {
            crate::exit::FAILED
        } else {
            crate::exit::OK
        }
    }
}

/// Ties `img` to an entry of `view`, with the strongest proof available.
pub fn link(img: &LocalImage, repo: &Reference, view: &RemoteView) -> Link {
    let knows_top =
        img.has_repo_digest(repo, &view.digest) || img.descriptor.as_ref() == Some(&view.digest);
    // containerd store: the local image is the index itself; the entry that matters is the one
    // a lookup without platform (the exporter's) resolves it to.
    let is_the_index =
        img.id.digest() == &view.digest || img.descriptor.as_ref() == Some(&view.digest);
    if view.is_index && is_the_index {
        if let Some(e) = img.resolves_to().and_then(|p| view.entry_for(p)) {
            return Link {
                entry: Some(e.digest.clone()),
                platform: e.platform.clone(),
                proof: Some(Proof::ContainerdManifests),
                daemon_knows_top_digest: true,
                explanation: Tie::IndexItself {
                    platform: e.platform.clone(),
                    entry: e.digest.clone(),
                },
            };
        }
    }
    for e in view.runnable() {
        let proof = prove(img, repo, &e.digest, e.config.as_ref(), None);
        if let Some(proof) = proof {
            return Link {
                entry: Some(e.digest.clone()),
                platform: e.platform.clone(),
                proof: Some(proof),
                daemon_knows_top_digest: knows_top,
                explanation: Tie::Entry {
                    platform: e.platform.clone(),
                    entry: e.digest.clone(),
                },
            };
        }
    }
    Link {
        entry: None,
        platform: None,
        proof: None,
        daemon_knows_top_digest: knows_top,
        explanation: match knows_top {
            true => Tie::RecordedButNoConfig,
            false => Tie::NoEntry,
        },
    }
}

/// The text of a bare name that could be a short image ID: 4 to 63 lower-case hex characters.
fn short_id(image: &ImageRef) -> Option<String> {
    let ImageRef::Name(n) = image else {
        return None;
    };
    let text = n.to_string();
    let hex = text
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (hex && (4..64).contains(&text.len())).then_some(text)
}

/// Inspects `image` in the daemon (unless `daemon` is None) and the registry, concurrently.
pub async fn inspect<D: Daemon, R: Registry>(
    image: &ImageRef,
    platform: Option<&Platform>,
    daemon: Option<&D>,
    reg: &R,
) -> InspectReport {
    // A short image ID (`docker images` shows 12 hex characters) is never a registry name:
    // the daemon is asked first, and an image whose ID starts with it is inspected as that ID.
    // One the daemon does not hold (or a daemon that does not answer) is not sent to Docker Hub
    // as `library/<hex>:latest` either: name it `docker.io/library/<x>`, or use --no-daemon.
    let by_id;
    let image = match (short_id(image), daemon) {
        (Some(prefix), Some(d)) => match d.inspect(&prefix).await {
            Ok(Some(img)) if img.id.digest().hex().starts_with(&prefix) => {
                by_id = ImageRef::Id(img.id);
                &by_id
            }
            Ok(Some(_)) => image,
            answer => {
                return InspectReport {
                    daemon_error: Some(match answer {
                        Err(e) => SideMiss::Failed(e.to_string()),
                        _ => SideMiss::NoIdPrefix {
                            prefix: prefix.clone(),
                        },
                    }),
                    registry_error: Some(SideMiss::ShortId { prefix }),
                    ..InspectReport::new(image, platform).counted(reg)
                }
            }
        },
        _ => image,
    };
    let daemon_side = async {
        match daemon {
            None => None,
            Some(d) => Some(tokio::join!(
                d.info(),
                crate::daemon::lookup::find_full(d, image)
            )),
        }
    };
    let registry_ref = match image {
        ImageRef::Name(n) => Some(n.clone()),
        ImageRef::Id(_) => None,
    };
    let entries = Depth::Entries {
        configs: false,
        only: None,
    };
    let registry_side = async {
        match &registry_ref {
            Some(r) => Some(resolve(reg, r, &entries).await),
            None => None,
        }
    };
    let (d, mut r) = tokio::join!(daemon_side, registry_side);

    let mut report = InspectReport::new(image, platform);
    let mut local = None;
    match d {
        None => {}
        Some((Ok(info), Ok(Some(img)))) => {
            report.daemon = Some(DaemonSide::new(&img, &info));
            local = Some(img);
        }
        Some((_, Ok(None))) => {
            report.daemon_error = Some(SideMiss::NoImage {
                image: image.to_string(),
            })
        }
        Some((Err(e), _)) | Some((_, Err(e))) => {
            report.daemon_error = Some(SideMiss::Failed(e.to_string()))
        }
    }
    // Given an ID, the registry side is the repository the daemon pulled it from.
    let mut repo = registry_ref.clone();
    if r.is_none() {
        if let Some(rd) = local.as_ref().and_then(|l| l.repo_digests.first()) {
            repo = Some(rd.clone());
            r = Some(resolve(reg, rd, &entries).await);
        } else if local.is_some() {
            report.registry_error = Some(SideMiss::DaemonOnly);
        }
    }
    match r {
        Some(Ok(v)) => report.registry = Some(v),
        Some(Err(e)) => report.registry_error = Some(SideMiss::Failed(e.to_string())),
        None => {}
    }
    if let (Some(img), Some(view), Some(repo)) = (&local, &report.registry, &repo) {
        report.link = Some(link(img, repo, view));
    }
    report.counted(reg)
}

impl InspectReport {
    /// Nothing known yet of either side.
    fn new(image: &ImageRef, platform: Option<&Platform>) -> InspectReport {
        InspectReport {
            image: image.to_string(),
            platform: platform.cloned(),
            daemon: None,
            daemon_error: None,
            registry: None,
            registry_error: None,
            link: None,
            referrers: vec![],
            referrers_error: None,
            registry_requests: 0,
            registry_http_fallbacks: 0,
            registry_endpoints: Default::default(),
            docker_context: None,
        }
    }

    /// With the registry's counts so far.
    fn counted<R: Registry>(self, reg: &R) -> InspectReport {
        InspectReport {
            registry_requests: reg.requests(),
            registry_http_fallbacks: reg.http_fallbacks(),
            registry_endpoints: reg.endpoints(),
            ..self
        }
    }
}

/// Adds the referrers of the registry side's index and of each image entry (BuildKit's
/// attestation entries are inside the index already), read in `name`'s repository.
pub async fn add_referrers<R: Registry>(report: &mut InspectReport, reg: &R, name: &Reference) {
    let Some(view) = &report.registry else {
        return;
    };
    let mut subjects = vec![view.digest.clone()];
    if view.is_index {
        subjects.extend(
            view.entries
                .iter()
                .filter(|e| !e.attestation)
                .map(|e| e.digest.clone()),
        );
    }
    let mut discovery = crate::registry::referrers::Discovery::new(reg, name);
    for subject in &subjects {
        match discovery.of(subject).await {
            Ok(r) if !r.is_empty() => report.referrers.push(r),
            Ok(_) => {}
            Err(e) => {
                report.referrers_error = Some(e.to_string());
                break;
            }
        }
    }
    report.registry_requests = reg.requests();
    report.registry_http_fallbacks = reg.http_fallbacks();
    report.registry_endpoints = reg.endpoints();
}
