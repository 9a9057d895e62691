//! The daemon side: what a Docker Engine (classic or containerd image store) or podman's
//! Docker-compatible API knows about local images, and pulling one platform.
//!
//! [`Daemon`] is the seam: the real adapter [`EngineDaemon`] speaks the Engine API through
//! bollard; tests feed recorded answers through the same [`local_image`].

use crate::model::digest::{Digest, ImageId};
use crate::model::local::{DaemonInfo, Engine, LocalImage, LocalManifest};
use crate::model::platform::Platform;
use crate::model::reference::Reference;
use bollard::models::ImageInspect;
use bollard::Docker;
use futures_util::StreamExt;
use std::path::PathBuf;
use std::time::Duration;

pub mod context;
pub mod lookup;
pub mod ssh;
mod transport;
use crate::model::local::Answered;

/// Converts the Engine API's image inspect answer. `None` when it has no parseable `Id`.
pub fn local_image(i: &ImageInspect) -> Option<LocalImage> {
    let id = ImageId::parse(i.id.as_deref()?).ok()?;
    let platform = match (i.os.as_deref(), i.architecture.as_deref()) {
        (Some(os), Some(arch)) if !os.is_empty() && !arch.is_empty() => {
            Some(Platform::new(os, arch, i.variant.as_deref()))
        }
        _ => None,
    };
    let manifests = i
        .manifests
        .iter()
        .flatten()
        .filter_map(|m| {
            let digest = m.descriptor.digest.as_deref()?.parse().ok()?;
            let attestation = matches!(
                m.kind,
                Some(bollard::models::ImageManifestSummaryKindEnum::ATTESTATION)
            );
            let platform = m
                .image_data
                .as_ref()
                .map(|d| &d.platform)
                .or(m.descriptor.platform.as_ref())
                .and_then(|p| {
                    Some(Platform::new(
                        p.os.as_deref()?,
                        p.architecture.as_deref()?,
                        p.variant.as_deref(),
                    ))
                });
            Some(LocalManifest {
                digest,
                platform,
                attestation,
                available: m.available,
            })
        })
        .collect();
    Some(LocalImage {
        id,
        repo_tags: i.repo_tags.clone().unwrap_or_default(),
        repo_digests: i
            .repo_digests
            .iter()
            .flatten()
            .filter_map(|d| d.parse::<Reference>().ok())
            .filter(|r| r.digest().is_some())
            .collect(),
        platform,
        top_layer: i
            .root_fs
            .as_ref()
            .and_then(|r| r.layers.as_ref())
            .and_then(|l| l.last().cloned()),
        descriptor: i
            .descriptor
            .as_ref()
            .and_then(|d| d.digest.as_deref())
            .and_then(|d| d.parse().ok()),
        manifests,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(
        "cannot connect to the daemon at {host}: {detail}\n  {}",
        connect_hint(host, detail)
    )]
    Connect { host: String, detail: String },
    #[error("{detail}")]
    Context { detail: String },
    #[error("cannot reach a daemon at {host}: {scheme}:// hosts are not supported (use unix://, ssh://, tcp://, http:// or https://){hint}")]
    Unsupported {
        host: String,
        scheme: String,
        hint: String,
    },
    #[error("the daemon at {host} expects TLS: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the directory holding ca.pem, cert.pem and key.pem")]
    TlsRequired { host: String },
    #[error("the daemon at {host} did not answer {op} within {secs}s: is it hung or overloaded? (--timeout raises the limit)")]
    Timeout { host: String, op: String, secs: u64 },
    #[error("the daemon at {host}: {op} failed: {detail}")]
    Api {
        host: String,
        op: String,
        detail: String,
    },
    #[error("the daemon at {host} could not make a {platform} image record of {image}: {detail}")]
    Materialize {
        host: String,
        image: String,
        platform: String,
        detail: String,
    },
    #[error("the daemon at {host} could not pull {image} for {platform}: {detail}")]
    Pull {
        host: String,
        image: String,
        platform: String,
        detail: String,
    },
}

/// The daemon operations runref needs: Engine calls only (lookups built on them are in
/// [`lookup`]).
#[allow(async_fn_in_trait)]
pub trait Daemon {
    /// Engine, version, API version, platform, store (`/info`).
    async fn info(&self) -> Result<DaemonInfo, DaemonError>;
    /// What the answers so far said about the daemon in their headers, without asking;
    /// `None` before any answer or where the transport does not show headers.
    fn answered(&self) -> Option<Answered> {
        None
    }
    /// `/info` as already answered for another question (the registry's mirrors and insecure
    /// hosts), with nothing asked; `None` when it was not asked yet.
    fn known_info(&self) -> Option<DaemonInfo> {
        None
    }
    /// Inspect by name, `name@digest` or ID; `None` when the daemon has no such image.
    async fn inspect(&self, name: &str) -> Result<Option<LocalImage>, DaemonError>;
    /// Inspect asking the containerd store for per-platform manifests (API >= 1.48).
    async fn inspect_manifests(&self, name: &str) -> Result<Option<LocalImage>, DaemonError>;
    /// Every local image tagged in, or pulled from, `repo`, inspected.
    async fn images_of(&self, repo: &Reference) -> Result<Vec<LocalImage>, DaemonError>;
    /// The Docker Hub mirrors the daemon pulls through (`/info`), as URLs; none by default.
    async fn registry_mirrors(&self) -> Result<Vec<String>, DaemonError> {
        Ok(vec![])
    }
    /// The registries the daemon reaches without TLS verification (`/info`: index entries
    /// marked not secure, and the insecure CIDRs); none by default.
    async fn insecure_registries(&self) -> Result<Vec<String>, DaemonError> {
        Ok(vec![])
    }
    /// Makes a single-platform image record for `platform` out of the multi-platform image
    /// `image`, without registry contact (containerd store, API >= 1.48): export that platform,
    /// check the archive holds exactly `manifest`, load it. Returns the new image's ID, which is
    /// `manifest`'s digest.
    async fn materialize(
        &self,
        image: &ImageId,
        platform: &Platform,
        manifest: &Digest,
    ) -> Result<ImageId, DaemonError> {
        let _ = manifest;
        Err(DaemonError::Materialize {
            host: "daemon".into(),
            image: image.to_string(),
            platform: platform.to_string(),
            detail: "this daemon cannot export one platform".into(),
        })
    }
    /// Pull `image` for `platform`; `progress` receives human-readable status lines.
    async fn pull(
        &self,
        image: &Reference,
        platform: &Platform,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), DaemonError>;
}

/// podman's compat /info says ProductLicense "Apache-2.0"; the Engine leaves it empty
/// (measured on 20.10, 26.1, 28.5 and podman 4.3).
fn is_podman(i: &bollard::models::SystemInfo) -> bool {
    i.product_license
        .as_deref()
        .is_some_and(|l| l.starts_with("Apache"))
}

/// What `/info` (and the API level) say of the daemon.
fn info_of(i: &bollard::models::SystemInfo, api_version: String) -> DaemonInfo {
    DaemonInfo {
        engine: if is_podman(i) {
            Engine::Podman
        } else {
            Engine::Docker
        },
        version: i.server_version.clone().unwrap_or_default(),
        api_version,
        platform: Some(Platform::new(
            i.os_type.as_deref().unwrap_or("linux"),
            i.architecture.as_deref().unwrap_or(std::env::consts::ARCH),
            None,
        )),
        containerd_store: uses_containerd_store(i),
    }
}

/// A credential in bollard's form, for the daemon's pulls.
fn docker_credentials(
    c: &crate::credentials::Credential,
    registry: &str,
) -> bollard::auth::DockerCredentials {
    use crate::credentials::Credential;
    let mut out = bollard::auth::DockerCredentials {
        serveraddress: Some(registry.to_string()),
        ..Default::default()
    };
    match c {
        Credential::Basic { username, password } => {
            out.username = Some(username.clone());
            out.password = Some(password.clone());
        }
        Credential::IdentityToken(t) => out.identitytoken = Some(t.clone()),
    }
    out
}

/// How to reach the daemon.
#[derive(Debug, Clone)]
pub struct DaemonTarget {
    /// `unix:///path`, `tcp://host:port`, `http://…`, `https://…`.
    pub host: String,
    /// `DOCKER_TLS_VERIFY` set: use TLS with the certificates in `cert_path`.
    pub tls: bool,
    /// `DOCKER_CERT_PATH`, else `~/.docker`.
    pub cert_path: Option<PathBuf>,
    /// Deadline of each query (inspect, list, version, info): headers and body.
    pub timeout: Duration,
    /// Deadline of a transfer (a pull, a platform export and load), progress shown meanwhile.
    pub transfer_timeout: Duration,
    /// The Docker context the host came from, when one did.
    pub context: Option<String>,
    /// `--debug`: every request on a unix socket as one line (tcp/TLS hosts go through
    /// bollard's own transport, which shows nothing).
    pub trace: Option<crate::trace::Trace>,
}

/// The socket a daemon listens on when nothing else is said.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// A query's deadline unless `--timeout` says otherwise: a daemon that answers at all answers
/// an inspect in milliseconds.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// A pull's or an export's deadline.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

impl DaemonTarget {
    /// From `--docker-host`, else `DOCKER_HOST`, else the default socket; TLS from the
    /// `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH` variables, as the docker CLI reads them.
    pub fn from_env(flag: Option<&str>) -> DaemonTarget {
        Self::resolve(flag, None).unwrap_or_else(|_| Self::at(flag.unwrap_or(DEFAULT_HOST)))
    }

    /// A target at `host` with the `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH` TLS settings.
    fn at(host: &str) -> DaemonTarget {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        DaemonTarget {
            host: host.to_string(),
            tls: env("DOCKER_TLS_VERIFY").is_some_and(|v| v != "0"),
            cert_path: env("DOCKER_CERT_PATH").map(PathBuf::from),
            timeout: QUERY_TIMEOUT,
            transfer_timeout: TRANSFER_TIMEOUT,
            context: None,
            trace: None,
        }
    }

    /// As the docker CLI resolves it ([`context::resolve`]): `--docker-host`, `--context`,
    /// `DOCKER_HOST`, `DOCKER_CONTEXT`, the config's `currentContext`, the default socket. A
    /// context with TLS material uses it (its `ca.pem`, `cert.pem`, `key.pem`).
    pub fn resolve(host: Option<&str>, context: Option<&str>) -> Result<DaemonTarget, DaemonError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let found = context::resolve(host, context, &env).map_err(|e| DaemonError::Context {
            detail: e.to_string(),
        })?;
        Ok(match found {
            None => Self::at(DEFAULT_HOST),
            Some(r) => {
                let mut t = Self::at(&r.host);
                if r.context.is_some() {
                    // A context carries its own TLS: DOCKER_TLS_VERIFY/DOCKER_CERT_PATH are
                    // the default context's.
                    t.tls = r.tls_dir.is_some();
                    t.cert_path = r.tls_dir;
                }
                t.context = r.context;
                t
            }
        })
    }
}

/// The real daemon, through bollard. Cloning shares the connection pool.
#[derive(Clone)]
pub struct EngineDaemon {
    docker: Docker,
    /// The same client, its image inspections asking `manifests=1` (the containerd store's
    /// per-platform manifests, API >= 1.48; older APIs and podman ignore it).
    inspector: Docker,
    /// The answers' headers and the request count (unix sockets).
    heard: Option<std::sync::Arc<transport::Heard>>,
    info: std::sync::Arc<tokio::sync::OnceCell<bollard::models::SystemInfo>>,
    host: String,
    timeout: Duration,
    transfer_timeout: Duration,
}

impl EngineDaemon {
    /// Connects (lazily: the first request opens the connection).
    pub fn connect(t: &DaemonTarget) -> Result<EngineDaemon, DaemonError> {
        let err = |e: bollard::errors::Error| DaemonError::Connect {
            host: t.host.clone(),
            detail: detail(&e),
        };
        let v = bollard::API_DEFAULT_VERSION;
        let socket = t
            .host
            .strip_prefix("unix://")
            .or(Some(t.host.as_str()).filter(|h| h.starts_with('/')));
        let mut heard = None;
        let cannot = |detail: String| DaemonError::Connect {
            host: t.host.clone(),
            detail,
        };
        // Our own clients (unix socket, ssh) keep what the answers' headers say.
        let mut hearing = || {
            let h = std::sync::Arc::new(transport::Heard::default());
            heard = Some(h.clone());
            h
        };
        let secs = t.transfer_timeout.as_secs();
        let docker = if let Some(path) = socket {
            transport::unix(path.as_ref(), secs, hearing(), t.trace.clone()).map_err(cannot)?
        } else if t
            .host
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("ssh://"))
        {
            let dest: ssh::SshDest = t.host.parse().map_err(cannot)?;
            transport::ssh(&dest, &t.host, secs, hearing(), t.trace.clone()).map_err(cannot)?
        } else if t.tls || t.host.starts_with("https://") {
            let dir = t
                .cert_path
                .clone()
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
                .unwrap_or_default();
            Docker::connect_with_ssl(
                &t.host,
                &dir.join("key.pem"),
                &dir.join("cert.pem"),
                &dir.join("ca.pem"),
                t.transfer_timeout.as_secs(),
                v,
            )
            .map_err(err)?
        } else if t.host.starts_with("tcp://") || t.host.starts_with("http://") {
            Docker::connect_with_http(&t.host, t.transfer_timeout.as_secs(), v).map_err(err)?
        } else {
            let scheme = t.host.split_once("://").map_or("", |(s, _)| s).to_string();
            return Err(DaemonError::Unsupported {
                host: t.host.clone(),
                scheme,
                hint: String::new(),
            });
        };
        Ok(EngineDaemon {
            inspector: with_query(&docker, "/json", "manifests=1".into()),
            docker,
            heard,
            info: Default::default(),
            host: t.host.clone(),
            timeout: t.timeout,
            transfer_timeout: t.transfer_timeout,
        })
    }

    /// [`Daemon::materialize`] without its deadline.
    async fn export_and_load(
        &self,
        image: &ImageId,
        platform: &Platform,
        manifest: &Digest,
    ) -> Result<ImageId, DaemonError> {
        let err = |detail: String| DaemonError::Materialize {
            host: self.host.clone(),
            image: image.to_string(),
            platform: platform.to_string(),
            detail,
        };
        // Export by ID (never by name: the archive then carries no name to re-tag), one
        // platform only (API >= 1.48; older APIs ignore the parameter, which the check below
        // catches), to a temp file: memory stays flat whatever the image's size.
        let query = format!("platform={}", percent_encode(&platform_json(platform)));
        let docker = with_query(&self.docker, "/get", query);
        let mut export = docker.export_image(&image.long());
        let tmp = tempfile::NamedTempFile::new().map_err(|e| err(format!("temp file: {e}")))?;
        let mut file = tokio::fs::File::from_std(tmp.reopen().map_err(|e| err(e.to_string()))?);
        let mut bytes = 0u64;
        while let Some(chunk) = export.next().await {
            let chunk = chunk.map_err(|e| err(format!("export: {e}")))?;
            bytes += chunk.len() as u64;
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                .await
                .map_err(|e| err(format!("temp file: {e}")))?;
        }
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(|e| err(format!("temp file: {e}")))?;
        let path = tmp.path().to_path_buf();
        let want = manifest.clone();
        tokio::task::spawn_blocking(move || crate::archive::check_single_platform(&path, &want))
            .await
            .map_err(|e| err(e.to_string()))?
            .map_err(|e| err(format!("the exported archive ({bytes} bytes) {e}")))?;
        let file = tokio::fs::File::open(tmp.path())
            .await
            .map_err(|e| err(e.to_string()))?;
        let opts = bollard::query_parameters::ImportImageOptionsBuilder::default()
            .quiet(true)
            .build();
        let body = crate::archive::chunks(file);
        let mut load = self.docker.import_image_stream(opts, body, None);
        let mut loaded = None;
        while let Some(item) = load.next().await {
            let info = item.map_err(|e| err(format!("load: {e}")))?;
            if let Some(e) = info.error_detail.and_then(|d| d.message) {
                return Err(err(format!("load: {e}")));
            }
            if let Some(id) = info
                .stream
                .as_deref()
                .and_then(|s| s.trim().strip_prefix("Loaded image ID: "))
            {
                loaded = ImageId::parse(id.trim()).ok();
            }
        }
        loaded.ok_or_else(|| err("load reported no image ID".into()))
    }

    /// `/info`, asked once per run (the store and the mirrors both come from it).
    async fn system_info(&self) -> Result<&bollard::models::SystemInfo, DaemonError> {
        self.info
            .get_or_try_init(|| {
                self.bounded("info", async {
                    self.docker
                        .info()
                        .await
                        .map_err(|e| self.api_err("info", e))
                })
            })
            .await
    }

    /// Runs a query with its deadline (connect, headers and body alike).
    async fn bounded<T>(
        &self,
        op: &str,
        fut: impl std::future::Future<Output = Result<T, DaemonError>>,
    ) -> Result<T, DaemonError> {
        tokio::time::timeout(self.timeout, fut)
            .await
            .unwrap_or_else(|_| {
                Err(DaemonError::Timeout {
                    host: self.host.clone(),
                    op: op.to_string(),
                    secs: self.timeout.as_secs(),
                })
            })
    }

    fn api_err(&self, op: impl Into<String>, e: bollard::errors::Error) -> DaemonError {
        use bollard::errors::Error as E;
        match e {
            E::HyperLegacyError { .. } | E::IOError { .. } | E::RequestTimeoutError => {
                DaemonError::Connect {
                    host: self.host.clone(),
                    detail: detail(&e),
                }
            }
            E::DockerResponseServerError { message, .. }
                if message.contains("HTTP request to an HTTPS server") =>
            {
                DaemonError::TlsRequired {
                    host: self.host.clone(),
                }
            }
            e => DaemonError::Api {
                host: self.host.clone(),
                op: op.into(),
                detail: detail(&e),
            },
        }
    }

    async fn inspect_with(
        &self,
        docker: &Docker,
        name: &str,
    ) -> Result<Option<LocalImage>, DaemonError> {
        let answer = tokio::time::timeout(self.timeout, docker.inspect_image(name)).await;
        let Ok(answer) = answer else {
            return Err(DaemonError::Timeout {
                host: self.host.clone(),
                op: format!("inspect {name}"),
                secs: self.timeout.as_secs(),
            });
        };
        match answer {
            Ok(i) => Ok(local_image(&i)),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            // podman answers 500 "image not known" / 400 for some digest forms.
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("image not known")
                    || message.contains("No such image")
                    || message.contains("not found") =>
            {
                Ok(None)
            }
            Err(e) => Err(self.api_err(format!("inspect {name}"), e)),
        }
    }
}

impl Daemon for EngineDaemon {
    fn answered(&self) -> Option<Answered> {
        self.heard.as_ref().and_then(|h| h.answered())
    }

    /// One `/info` (kept for the mirrors): platform, store, engine and version. The API level
    /// comes from the answers' `Api-Version` header; only where no header is seen (tcp, TLS)
    /// is `/version` (6-8 ms on Engine 20.10, 365 ms on podman 4.3, measured) asked, and only
    /// on the containerd store, where the API level decides whether a platform can be exported.
    fn known_info(&self) -> Option<DaemonInfo> {
        let i = self.info.get()?;
        let api_version = match self.answered() {
            Some(a) => a.api_version,
            // Where the API level needs /version (the containerd store without headers), it
            // is not known without asking.
            None if uses_containerd_store(i) && !is_podman(i) => return None,
            None => String::new(),
        };
        Some(info_of(i, api_version))
    }

    async fn info(&self) -> Result<DaemonInfo, DaemonError> {
        let i = self.system_info().await?;
        let containerd_store = uses_containerd_store(i);
        let podman = is_podman(i);
        let heard = self.answered().map(|a| a.api_version);
        let api_version = if let Some(v) = heard {
            v
        } else if containerd_store && !podman {
            let v = self
                .bounded("version", async {
                    self.docker
                        .version()
                        .await
                        .map_err(|e| self.api_err("version", e))
                })
                .await?;
            v.api_version.unwrap_or_default()
        } else {
            String::new()
        };
        Ok(info_of(i, api_version))
    }

    async fn inspect(&self, name: &str) -> Result<Option<LocalImage>, DaemonError> {
        self.inspect_with(&self.inspector, name).await
    }

    async fn registry_mirrors(&self) -> Result<Vec<String>, DaemonError> {
        Ok(self
            .system_info()
            .await?
            .registry_config
            .as_ref()
            .map(mirrors_of)
            .unwrap_or_default())
    }

    async fn insecure_registries(&self) -> Result<Vec<String>, DaemonError> {
        Ok(self
            .system_info()
            .await?
            .registry_config
            .as_ref()
            .map(insecure_of)
            .unwrap_or_default())
    }

    /// Every inspection asks `manifests=1` already.
    async fn inspect_manifests(&self, name: &str) -> Result<Option<LocalImage>, DaemonError> {
        self.inspect(name).await
    }

    async fn materialize(
        &self,
        image: &ImageId,
        platform: &Platform,
        manifest: &Digest,
    ) -> Result<ImageId, DaemonError> {
        let work = self.export_and_load(image, platform, manifest);
        tokio::time::timeout(self.transfer_timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(DaemonError::Materialize {
                    host: self.host.clone(),
                    image: image.to_string(),
                    platform: platform.to_string(),
                    detail: format!("not done within {}s", self.transfer_timeout.as_secs()),
                })
            })
    }

    async fn images_of(&self, repo: &Reference) -> Result<Vec<LocalImage>, DaemonError> {
        // Only IDs are taken from the list (each image is inspected), so no `digests=true`:
        // podman 4.3 answers that with 200 and an empty body once some image in its store
        // cannot be described (seen in the test environment after a day of tests).
        let names = list_filter_names(repo);
        let mut filters = std::collections::HashMap::new();
        filters.insert("reference".to_string(), names);
        let opts = bollard::query_parameters::ListImagesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let op = format!("list images of {}", repo.name());
        let list = self
            .bounded(&op, async {
                self.docker
                    .list_images(Some(opts))
                    .await
                    .map_err(|e| self.api_err(op.clone(), e))
            })
            .await?;
        // At most POOL inspections at once: file descriptors stay flat however many images.
        let inspected: Vec<_> =
            futures_util::stream::iter(list.iter().map(|s| self.inspect(&s.id)))
                .buffered(crate::POOL)
                .collect()
                .await;
        let mut out = Vec::new();
        for i in inspected {
            if let Some(img) = i? {
                if img.tagged_in(repo) || img.known_to_registry(repo) {
                    out.push(img);
                }
            }
        }
        Ok(out)
    }

    async fn pull(
        &self,
        image: &Reference,
        platform: &Platform,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), DaemonError> {
        let err = |detail: String| DaemonError::Pull {
            host: self.host.clone(),
            image: image.to_string(),
            platform: platform.to_string(),
            detail,
        };
        let opts = bollard::query_parameters::CreateImageOptionsBuilder::default()
            .from_image(&image.to_string())
            .platform(&platform.to_string())
            .build();
        let creds = crate::credentials::docker_credentials(
            image.registry(),
            crate::credentials::HELPER_TIMEOUT,
        )
        .await
        .map_err(err)?
        .map(|c| docker_credentials(&c, image.registry()));
        let mut stream = self.docker.create_image(Some(opts), None, creds);
        let deadline = tokio::time::Instant::now() + self.transfer_timeout;
        loop {
            let next = tokio::time::timeout_at(deadline, stream.next()).await;
            let Ok(next) = next else {
                return Err(err(format!(
                    "not done within {}s (the daemon may still finish it)",
                    self.transfer_timeout.as_secs()
                )));
            };
            let Some(item) = next else { break };
            let info = item.map_err(|e| err(detail(&e)))?;
            if let Some(e) = info.error_detail.and_then(|d| d.message) {
                return Err(err(e));
            }
            let bytes = info
                .progress_detail
                .as_ref()
                .and_then(|p| Some((p.current?, p.total?)));
            let line = match (&info.id, &info.status, bytes) {
                (Some(id), Some(s), Some((cur, total))) if total > 0 => {
                    format!("{id}: {s} {}/{} MB", cur / 1_000_000, total / 1_000_000)
                }
                (Some(id), Some(s), _) => format!("{id}: {s}"),
                (None, Some(s), _) => s.clone(),
                _ => continue,
            };
            progress(&line);
        }
        Ok(())
    }
}

/// The next step for a connection that failed: a socket the user may not open is not a daemon
/// that is down (a newcomer running as nobody got "is it running?").
fn connect_hint(host: &str, detail: &str) -> &'static str {
    if detail.starts_with("ssh: ") || detail.contains("cannot run ssh") {
        "runref runs `ssh HOST docker system dial-stdio` as the docker CLI does, without prompts: \
         check that `ssh -o BatchMode=yes HOST docker version` works (a key or agent, the host \
         key known, docker installed there)"
    } else if host
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("ssh://"))
    {
        "give the host as ssh://[user@]host[:port], as the docker CLI takes it"
    } else if detail.contains("Permission denied") {
        "runref's user may not open that socket: add the user to the docker group (or run as \
         root), or point runref at a socket it may use with --docker-host or DOCKER_HOST"
    } else {
        "is it running? point runref at it with --docker-host or DOCKER_HOST"
    }
}

/// A bollard error as a person reads it: the daemon's own message without bollard's wrapper
/// ("Docker stream error", "Docker responded with status code"), and the causes a transport
/// error hides (`Connection refused (os error 111)` under hyper's "client error (Connect)").
pub fn detail(e: &bollard::errors::Error) -> String {
    use bollard::errors::Error as E;
    match e {
        E::DockerStreamError { error } => return error.clone(),
        E::DockerResponseServerError { message, .. } => return message.clone(),
        _ => {}
    }
    // bollard's own wrapper names its transport ("Error in the hyper legacy client: ..."):
    // jargon to a user; what follows it is the cause.
    let mut text = e.to_string();
    if let Some(rest) = text.strip_prefix("Error in the hyper legacy client: ") {
        text = rest.to_string();
    }
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text = format!("{text}: {c_text}");
        }
        cause = c.source();
    }
    text
}

/// Docker Hub mirrors from `/info`: the Engine lists them in `RegistryConfig.Mirrors` as URLs;
/// podman in `IndexConfigs["docker.io"].Mirrors` as bare hosts, whose own `IndexConfigs` entry
/// says whether they are `Secure` (HTTPS) or not.
/// The daemon's insecure registries: `IndexConfigs` entries with `Secure: false` (its
/// `insecure-registries` names) and `InsecureRegistryCIDRs`.
pub fn insecure_of(c: &bollard::models::RegistryServiceConfig) -> Vec<String> {
    let names = c
        .index_configs
        .iter()
        .flatten()
        .filter(|(_, i)| i.secure == Some(false))
        .map(|(name, _)| name.clone());
    names
        .chain(c.insecure_registry_cidrs.iter().flatten().cloned())
        .collect()
}

pub fn mirrors_of(c: &bollard::models::RegistryServiceConfig) -> Vec<String> {
    let index = c.index_configs.as_ref();
    let secure = |host: &str| {
        index
            .and_then(|i| i.get(host))
            .and_then(|i| i.secure)
            .unwrap_or(true)
    };
    let hub = index
        .and_then(|i| i.get(crate::model::reference::DOCKER_HUB))
        .and_then(|i| i.mirrors.clone())
        .unwrap_or_default();
    c.mirrors
        .iter()
        .flatten()
        .cloned()
        .chain(hub.into_iter().map(|m| {
            if m.contains("://") || secure(&m) {
                m
            } else {
                format!("http://{m}")
            }
        }))
        .collect()
}

/// The `reference=` filter values that find `repo` on every engine, most specific first. The
/// Engine matches the pattern against familiar names only (`ubuntu`, `x/y`: moby#34385,
/// moby#47809), so `docker.io/...` or `index.docker.io/...` match nothing there; podman matches
/// full names (`docker.io/library/ubuntu`). The name as written is asked too: the Engine keeps
/// `registry-1.docker.io/x/y` as a name of its own. Several values are OR-ed by both engines.
pub fn list_filter_names(repo: &Reference) -> Vec<String> {
    let mut names = vec![repo.familiar_name()];
    for n in [repo.name(), repo.canonical_name()] {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names
}

/// A client whose image requests ending in `suffix` (`/json`, `/get`) carry `query` too;
/// bollard has no option for the Engine's newer query parameters.
fn with_query(docker: &Docker, suffix: &'static str, query: String) -> Docker {
    docker.clone().with_request_modifier(move |mut req| {
        let uri = req.uri().clone();
        if uri.path().starts_with("/images/") && uri.path().ends_with(suffix) {
            let pq = match uri.query() {
                Some(q) => format!("{}?{q}&{query}", uri.path()),
                None => format!("{}?{query}", uri.path()),
            };
            let mut parts = uri.into_parts();
            if let Ok(p) = pq.parse() {
                parts.path_and_query = Some(p);
            }
            if let Ok(u) = http::Uri::from_parts(parts) {
                *req.uri_mut() = u;
            }
        }
        req
    })
}

/// The OCI platform JSON the Engine's `platform=` parameter takes.
fn platform_json(p: &Platform) -> String {
    let mut v = serde_json::json!({"os": p.os(), "architecture": p.arch()});
    if let Some(variant) = p.variant() {
        v["variant"] = variant.into();
    }
    v.to_string()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `/info` `DriverStatus` has `driver-type = io.containerd.snapshotter.v1` when the Engine
/// uses the containerd image store (Engine 26.1 and 28.5 measured; below API 1.48 the only way
/// to tell, as inspect has no `Descriptor` there).
pub fn uses_containerd_store(info: &bollard::models::SystemInfo) -> bool {
    info.driver_status.iter().flatten().any(|kv| {
        kv.first().is_some_and(|k| k == "driver-type")
            && kv
                .get(1)
                .is_some_and(|v| v == "io.containerd.snapshotter.v1")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::local::StoreKind;

    #[test]
    fn mirrors_from_engine_and_podman_info() {
        // Recorded from dockerd 20.10 --registry-mirror and podman 4.3 with a registries.conf
        // mirror for docker.io (scripts/test-env).
        let engine: bollard::models::RegistryServiceConfig = serde_json::from_str(
            r#"{"IndexConfigs":{"docker.io":{"Name":"docker.io","Mirrors":["http://127.0.0.1:58995/"],"Secure":true,"Official":true}},"Mirrors":["http://127.0.0.1:58995/"]}"#,
        )
        .unwrap();
        assert_eq!(
            mirrors_of(&engine),
            ["http://127.0.0.1:58995/", "http://127.0.0.1:58995/"],
            "repeats are merged later, by host"
        );
        let podman: bollard::models::RegistryServiceConfig = serde_json::from_str(
            r#"{"IndexConfigs":{"127.0.0.1:58995":{"Name":"127.0.0.1:58995","Mirrors":[],"Secure":false,"Official":false},"docker.io":{"Name":"docker.io","Mirrors":["127.0.0.1:58995","mirror.example.com"],"Secure":true,"Official":false}},"Mirrors":[]}"#,
        )
        .unwrap();
        assert_eq!(
            mirrors_of(&podman),
            ["http://127.0.0.1:58995", "mirror.example.com"]
        );
    }

    #[test]
    fn list_filters_lead_with_the_familiar_name() {
        let f = |s: &str| list_filter_names(&s.parse().unwrap());
        assert_eq!(
            f("index.docker.io/library/ubuntu"),
            [
                "ubuntu",
                "index.docker.io/library/ubuntu",
                "docker.io/library/ubuntu"
            ]
        );
        assert_eq!(f("x/y"), ["x/y", "docker.io/x/y"]);
        assert_eq!(f("docker.io/x/y"), ["x/y", "docker.io/x/y"]);
        assert_eq!(
            f("registry-1.docker.io/x/y"),
            ["x/y", "registry-1.docker.io/x/y", "docker.io/x/y"]
        );
        assert_eq!(f("127.0.0.1:5000/run"), ["127.0.0.1:5000/run"]);
    }

    const CFG: &str = "sha256:6e40bda2fe332404fdc6c50f32dcbf27266ee331ff3df716559d212d8783889b";
    const IDX: &str = "sha256:0c9df8617ad384d812a08d0a2e4ed21d91febbe1bb382e85b31d886c6559176e";

    #[test]
    fn converts_classic_answer() {
        let j = format!(
            r#"{{"Id":"{CFG}","RepoTags":["127.0.0.1:5055/run:multi"],"RepoDigests":["127.0.0.1:5055/run@{IDX}"],
            "Architecture":"arm64","Variant":"v8","Os":"linux","RootFS":{{"Type":"layers","Layers":["sha256:aa","sha256:bb"]}}}}"#
        );
        let i: ImageInspect = serde_json::from_str(&j).unwrap();
        let l = local_image(&i).unwrap();
        assert_eq!(l.id.long(), CFG);
        assert_eq!(l.platform.as_ref().unwrap().to_string(), "linux/arm64");
        assert_eq!(l.top_layer.as_deref(), Some("sha256:bb"));
        let repo: Reference = "127.0.0.1:5055/run".parse().unwrap();
        assert!(l.has_repo_digest(&repo, &IDX.parse().unwrap()));
        assert!(l.known_to_registry(&repo));
        assert!(l.tagged_in(&repo));
        let info = DaemonInfo {
            engine: Engine::Docker,
            version: "20.10".into(),
            api_version: "1.41".into(),
            platform: Some("linux/amd64".parse().unwrap()),
            containerd_store: false,
        };
        assert_eq!(info.store(Some(&l)), StoreKind::DockerClassic);
    }
}
