//! `ssh://[user@]host[:port]` daemon hosts (issue 23), as the docker CLI reaches them: the
//! system's `ssh` runs `docker system dial-stdio` on the host, and the Engine API speaks over
//! its stdin and stdout (docker/cli `cli/connhelper/ssh`). One ssh process per connection;
//! idle connections are kept, so a run's requests share one. `-o BatchMode=yes`: ssh never
//! waits at a password or host-key prompt (no input has no bound); what ssh says on failure is
//! kept and shown with the error.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// Where an `ssh://` host points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshDest {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl std::str::FromStr for SshDest {
    type Err = String;
    /// `ssh://[user@]host[:port]`; as the docker CLI, no path and no password.
    fn from_str(s: &str) -> Result<SshDest, String> {
        let rest = s
            .get(..6)
            .filter(|p| p.eq_ignore_ascii_case("ssh://"))
            .map(|_| &s[6..])
            .ok_or_else(|| "not an ssh:// host".to_string())?;
        if let Some((_, path)) = rest.split_once('/') {
            if !path.is_empty() {
                return Err(
                    "an ssh host has no path (ssh://[user@]host[:port]); the remote socket is the remote docker's own"
                        .to_string(),
                );
            }
        }
        let rest = rest.trim_end_matches('/');
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => {
                if u.contains(':') {
                    return Err(
                        "a password in the URL is not accepted; use an ssh key or agent"
                            .to_string(),
                    );
                }
                if u.is_empty() {
                    return Err("an empty user before @: give user@host, or just host".into());
                }
                (Some(u.to_string()), h)
            }
            None => (None, rest),
        };
        // `[v6]:port`, `[v6]`, `host:port` or `host`.
        let (host, port_text) = match hostport.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((h, "")) => (h, None),
                Some((h, p)) => (h, Some(p.strip_prefix(':').unwrap_or(p))),
                None => return Err("unclosed [ in the host".into()),
            },
            None => match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            },
        };
        let port = match port_text {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("port {p:?} is not 1-65535"))?,
            ),
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || "-._:".contains(c);
        if host.is_empty() || host.starts_with('-') || !host.chars().all(valid) {
            return Err(format!("{host:?} is not a host name or address"));
        }
        if user
            .as_deref()
            .is_some_and(|u| u.starts_with('-') || u.chars().any(|c| c.is_whitespace()))
        {
            return Err("not a user name".into());
        }
        Ok(SshDest {
            user,
            host: host.to_string(),
            port,
        })
    }
}

impl SshDest {
    /// The arguments of `ssh` (docker/cli's, plus BatchMode): options, `--`, the host, and
    /// the remote command.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = ["-o", "ConnectTimeout=30", "-o", "BatchMode=yes", "-T"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if let Some(u) = &self.user {
            a.extend(["-l".into(), u.clone()]);
        }
        if let Some(p) = self.port {
            a.extend(["-p".into(), p.to_string()]);
        }
        a.extend(["--".into(), self.host.clone()]);
        a.extend(["docker", "system", "dial-stdio"].map(String::from));
        a
    }
}

/// What the last ssh process wrote to stderr (bounded), once it ended.
#[derive(Debug, Default)]
pub struct SshSaid(Mutex<Option<String>>);

impl SshSaid {
    /// ssh's last words, waiting up to `wait` for a process that is still ending.
    pub async fn wait(&self, wait: std::time::Duration) -> Option<String> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            if let Some(s) = self.0.lock().ok().and_then(|g| g.clone()) {
                return Some(s).filter(|s| !s.trim().is_empty());
            }
            if tokio::time::Instant::now() >= until {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Opens connections by starting ssh.
#[derive(Clone)]
pub struct SshConnector {
    args: Arc<Vec<String>>,
    said: Arc<SshSaid>,
}

impl SshConnector {
    pub fn new(dest: &SshDest, said: Arc<SshSaid>) -> SshConnector {
        SshConnector {
            args: Arc::new(dest.args()),
            said,
        }
    }
}

impl tower_service::Service<http::Uri> for SshConnector {
    type Response = SshStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<SshStream>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let (args, said) = (self.args.clone(), self.said.clone());
        Box::pin(async move {
            if let Ok(mut g) = said.0.lock() {
                *g = None;
            }
            let mut child = tokio::process::Command::new("ssh")
                .args(args.iter())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| io::Error::new(e.kind(), format!("cannot run ssh: {e}")))?;
            let (Some(stdin), Some(stdout), Some(stderr)) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take())
            else {
                return Err(io::Error::other("ssh started without its pipes"));
            };
            tokio::spawn(async move {
                let mut text = String::new();
                let _ = stderr.take(16 << 10).read_to_string(&mut text).await;
                if let Ok(mut g) = said.0.lock() {
                    *g = Some(text);
                }
            });
            Ok(SshStream {
                io: hyper_util::rt::TokioIo::new(Duplex { stdin, stdout }),
                _child: child,
            })
        })
    }
}

/// ssh's stdout to read, its stdin to write.
struct Duplex {
    stdin: tokio::process::ChildStdin,
    stdout: tokio::process::ChildStdout,
}

impl AsyncRead for Duplex {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for Duplex {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stdin).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdin).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stdin).poll_shutdown(cx)
    }
}

/// One connection: an ssh process, ended when the connection is dropped.
pub struct SshStream {
    io: hyper_util::rt::TokioIo<Duplex>,
    _child: tokio::process::Child,
}

impl hyper::rt::Read for SshStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for SshStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl hyper_util::client::legacy::connect::Connection for SshStream {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_hosts_are_read_as_the_docker_cli_reads_them() {
        let d: SshDest = "ssh://alice@build.example.com:2222".parse().unwrap();
        assert_eq!(
            d,
            SshDest {
                user: Some("alice".into()),
                host: "build.example.com".into(),
                port: Some(2222)
            }
        );
        assert_eq!(
            d.args(),
            [
                "-o",
                "ConnectTimeout=30",
                "-o",
                "BatchMode=yes",
                "-T",
                "-l",
                "alice",
                "-p",
                "2222",
                "--",
                "build.example.com",
                "docker",
                "system",
                "dial-stdio"
            ]
        );
        let bare: SshDest = "SSH://10.0.0.5".parse().unwrap();
        assert_eq!((bare.user, bare.port), (None, None));
        let v6: SshDest = "ssh://[::1]:2200".parse().unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", Some(2200)));
        for bad in [
            "ssh://host/var/run/docker.sock",
            "ssh://u:secret@host",
            "ssh://host:0",
            "ssh://host:x",
            "ssh://-oProxyCommand=evil",
            "ssh://",
            "ssh://-l@host",
            "ssh://@host",
        ] {
            assert!(bad.parse::<SshDest>().is_err(), "{bad}");
        }
    }
}
