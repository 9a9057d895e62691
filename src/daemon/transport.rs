//! The Engine API over a unix socket (or an ssh connection): bollard's requests and answers on a hyper client of our
//! own, so that what bollard hides is kept: the `Server` and `Api-Version` headers every answer
//! carries (no `/version` call to learn the API level). Idle
//! connections are kept, so requests one after another share one connection.

use crate::model::local::Answered;
use bollard::{BollardRequest, Docker};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// What the daemon's answers said, shared by every clone of the client.
#[derive(Debug, Default)]
pub struct Heard {
    answered: OnceLock<Answered>,
}

impl Heard {
    /// The first answer's `Server` and `Api-Version`, once one came.
    pub fn answered(&self) -> Option<Answered> {
        self.answered.get().cloned()
    }

    fn note(&self, headers: &http::HeaderMap) {
        if self.answered.get().is_some() {
            return;
        }
        let text = |k: &str| headers.get(k).and_then(|v| v.to_str().ok());
        if let (Some(server), Some(api)) = (text("server"), text("api-version")) {
            if let Some(a) = Answered::from_headers(server, api) {
                let _ = self.answered.set(a);
            }
        }
    }
}

/// The body type of bollard's requests (its name is private to bollard).
trait BodyOf {
    type Body;
}
impl<B> BodyOf for http::Request<B> {
    type Body = B;
}
type Body = <BollardRequest as BodyOf>::Body;

/// A bollard client on the socket at `path`, recording into `heard`.
pub fn unix(
    path: &Path,
    timeout_secs: u64,
    heard: Arc<Heard>,
    trace: Option<crate::trace::Trace>,
) -> Result<Docker, String> {
    if !path.exists() {
        return Err(format!("no socket at {}", path.display()));
    }
    let client: hyper_util::client::legacy::Client<hyperlocal::UnixConnector, Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyperlocal::UnixConnector);
    let socket: PathBuf = path.to_path_buf();
    let shown = format!("unix://{}", path.display());
    let uri = move |pq: &str| -> http::Uri { hyperlocal::Uri::new(&socket, pq).into() };
    over(client, uri, shown, None, timeout_secs, heard, trace)
}

/// A bollard client for `ssh://` host `dest`: each connection is an ssh process running
/// `docker system dial-stdio` there ([`super::ssh`]).
pub fn ssh(
    dest: &super::ssh::SshDest,
    shown: &str,
    timeout_secs: u64,
    heard: Arc<Heard>,
    trace: Option<crate::trace::Trace>,
) -> Result<Docker, String> {
    let said = Arc::new(super::ssh::SshSaid::default());
    let connector = super::ssh::SshConnector::new(dest, said.clone());
    let client: hyper_util::client::legacy::Client<super::ssh::SshConnector, Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector);
    let uri = |pq: &str| -> http::Uri {
        format!("http://docker{pq}")
            .parse()
            .unwrap_or_else(|_| http::Uri::from_static("http://docker/"))
    };
    over(
        client,
        uri,
        shown.to_string(),
        Some(said),
        timeout_secs,
        heard,
        trace,
    )
}

/// bollard's requests on `client`, each URI made by `uri` from its path and query, traced as
/// `shown` + path, every answer's headers noted in `heard`. With `said`, a failed exchange
/// carries what ssh said.
fn over<C>(
    client: hyper_util::client::legacy::Client<C, Body>,
    uri: impl Fn(&str) -> http::Uri + Clone + Send + Sync + 'static,
    shown: String,
    said: Option<Arc<super::ssh::SshSaid>>,
    timeout_secs: u64,
    heard: Arc<Heard>,
    trace: Option<crate::trace::Trace>,
) -> Result<Docker, String>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let transport = move |req: BollardRequest| {
        let client = client.clone();
        let heard = heard.clone();
        let uri = uri.clone();
        let shown = shown.clone();
        let said = said.clone();
        let trace = trace.clone();
        async move {
            let (mut parts, body) = req.into_parts();
            let pq = parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string();
            let method = parts.method.to_string();
            parts.uri = uri(&pq);
            let started = std::time::Instant::now();
            let res = client.request(http::Request::from_parts(parts, body)).await;
            let res = match (res, &said) {
                (Ok(r), _) => Ok(r),
                (Err(e), Some(said)) => match said.wait(std::time::Duration::from_secs(2)).await {
                    // hyper's own words ("client error (SendRequest)") say nothing here.
                    Some(words) => Err(bollard::errors::Error::IOError {
                        err: std::io::Error::other({
                            let last = words.trim().lines().last().unwrap_or_default();
                            match last.starts_with("ssh: ") {
                                true => last.to_string(),
                                false => format!("ssh: {last}"),
                            }
                        }),
                    }),
                    None => Err(bollard::errors::Error::from(e)),
                },
                (Err(e), None) => Err(bollard::errors::Error::from(e)),
            };
            if let Some(t) = &trace {
                let (status, bytes) = match &res {
                    Ok(r) => (
                        Some(r.status().as_u16()),
                        r.headers()
                            .get(http::header::CONTENT_LENGTH)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse().ok()),
                    ),
                    Err(_) => (None, None),
                };
                let url = format!("{shown}{pq}");
                t.request(&crate::trace::Seen {
                    kind: "daemon",
                    method: &method,
                    url: &url,
                    status,
                    bytes,
                    took: started.elapsed(),
                    note: "",
                });
            }
            let res = res?;
            heard.note(res.headers());
            Ok(res)
        }
    };
    // The address is a placeholder: the transport puts the socket into every URI itself.
    Docker::connect_with_custom_transport(
        transport,
        Some("http://docker"),
        timeout_secs,
        bollard::API_DEFAULT_VERSION,
    )
    .map_err(|e| e.to_string())
}
