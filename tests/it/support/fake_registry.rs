//! An in-process fake registry for faults a real one will not produce. A handler maps each
//! request to a reply; the server runs on the caller's tokio runtime on a loopback port and
//! accepts a bounded number of connections.

use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the fake registry saw.
pub struct Req {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    /// The body, read whole by its Content-Length (small bodies only: at most 1 MiB).
    pub body: Vec<u8>,
}

/// What it does about it.
pub enum Reply {
    /// A whole raw HTTP response; the connection stays open for the next request.
    Full(String),
    /// The same for a binary body (a blob): the head's text, then the body bytes.
    Bytes(String, Vec<u8>),
    /// Write these bytes, then close the connection (a truncated body).
    Partial(String),
    /// Read the request and never answer.
    Hang,
    /// Write `head`, then `chunk` every `every` until `total` bytes of body were written or the
    /// reader goes away (endless and slow bodies).
    Stream {
        head: String,
        chunk: Vec<u8>,
        every: std::time::Duration,
        total: usize,
    },
}

/// `HTTP/1.1 <status>` with headers and body, Content-Length set.
pub fn response(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut r = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    r
}

/// The head of a response whose body is `len` bytes, Content-Length set (for [`Reply::Bytes`],
/// and for a HEAD answer, which has the length of the body it does not send).
pub fn head(status: &str, headers: &[(&str, &str)], len: usize) -> String {
    let mut r = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str(&format!("Content-Length: {len}\r\n\r\n"));
    r
}

/// Serves `handler` on 127.0.0.1; returns `host:port`.
pub async fn serve<F>(handler: F) -> String
where
    F: Fn(&Req) -> Reply + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        for _ in 0..4096 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let mut pending: Vec<u8> = Vec::new();
                let mut buf = vec![0u8; 8192];
                loop {
                    // One request: its head, then as many body bytes as its Content-Length says.
                    let head_end = loop {
                        // A TLS handshake record (a client trying HTTPS first): answered as Go's
                        // net/http answers one on a plain listener, 400 and close.
                        if pending.first() == Some(&0x16) {
                            let _ = sock
                                .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                                .await;
                            return;
                        }
                        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                        }
                    };
                    let text = String::from_utf8_lossy(&pending[..head_end]).to_string();
                    let header = |name: &str| {
                        text.lines()
                            .find(|l| l.to_ascii_lowercase().starts_with(name))
                            .map(|l| l.split_once(':').unwrap().1.trim().to_string())
                    };
                    let len: usize = header("content-length:")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0)
                        .min(1 << 20);
                    while pending.len() < head_end + len {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = pending[head_end..head_end + len].to_vec();
                    pending.drain(..head_end + len);
                    let mut words = text.split_whitespace();
                    let req = Req {
                        method: words.next().unwrap_or("").to_string(),
                        path: words.next().unwrap_or("").to_string(),
                        authorization: header("authorization:"),
                        body,
                    };
                    match handler(&req) {
                        Reply::Full(r) => {
                            if sock.write_all(r.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        Reply::Bytes(head, body) => {
                            if sock.write_all(head.as_bytes()).await.is_err()
                                || sock.write_all(&body).await.is_err()
                            {
                                return;
                            }
                        }
                        Reply::Partial(r) => {
                            let _ = sock.write_all(r.as_bytes()).await;
                            return;
                        }
                        Reply::Stream {
                            head,
                            chunk,
                            every,
                            total,
                        } => {
                            if sock.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            let mut sent = 0;
                            while sent < total {
                                let n = chunk.len().min(total - sent);
                                if sock.write_all(&chunk[..n]).await.is_err() {
                                    return;
                                }
                                sent += n;
                                if !every.is_zero() {
                                    tokio::time::sleep(every).await;
                                }
                            }
                            return;
                        }
                        Reply::Hang => {
                            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}
