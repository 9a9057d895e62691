//! How one registry `host[:port]` is reached: its scheme rule, the CA roots added for it, the
//! client certificate it is shown. Resolved once per host for the run, from the places Docker
//! and containers/image read (spec-notes, "Registry hosts and TLS"):
//!
//! - `--cert-dir DIR`: the files themselves, for every host (podman's and skopeo's `--cert-dir`);
//! - else `<root>/<host[:port]>/` under each certs.d root that has one, in this order:
//!   `/etc/docker/certs.d` (the Engine), `$XDG_CONFIG_HOME/docker/certs.d` (rootless Docker),
//!   `/etc/containers/certs.d` and `$XDG_CONFIG_HOME/containers/certs.d` (containers/image).
//!
//! In a directory, `*.crt` are CA roots added to the system's, `*.cert` with the `*.key` of the
//! same name a client certificate (moby `ReadCertsDirectory`: a `.cert` without its `.key`, or a
//! `.key` without its `.cert`, is an error naming both paths). Files are read in name order;
//! the first pair is the identity. Insecure hosts (loopback names and addresses,
//! `--insecure-registry`, the daemon's insecure registries and CIDRs) are tried over HTTPS
//! without verification, then over plain HTTP; every other host is HTTPS, verified, only.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The most entries of one certificate directory looked at (`/etc/ssl/certs` holds ~300).
pub const MAX_CERT_FILES: usize = 1024;
/// The largest certificate or key file read.
pub const MAX_CERT_BYTES: u64 = 1 << 20;

/// Where host configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct HostSources {
    /// `--cert-dir`: used for every host, instead of the certs.d roots.
    pub cert_dir: Option<PathBuf>,
    /// certs.d roots, in the order they are read.
    pub roots: Vec<PathBuf>,
    /// `host[:port]` names (exact) and CIDRs (`10.0.0.0/8`) treated as insecure.
    pub insecure: Vec<String>,
}

impl HostSources {
    /// The certs.d roots Docker and containers/image read on this machine.
    pub fn system_roots() -> Vec<PathBuf> {
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
        let mut roots = vec![PathBuf::from("/etc/docker/certs.d")];
        if let Some(c) = &config {
            roots.push(c.join("docker/certs.d"));
        }
        roots.push(PathBuf::from("/etc/containers/certs.d"));
        if let Some(c) = &config {
            roots.push(c.join("containers/certs.d"));
        }
        roots
    }
}

/// A client certificate and its key.
#[derive(Debug, Clone)]
pub struct Identity {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Certificate then key, PEM.
    pub pem: Vec<u8>,
}

/// What runref does for one host.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// HTTPS without verification first, then plain HTTP.
    pub insecure: bool,
    /// CA roots added to the system's: (file, PEM).
    pub roots: Vec<(PathBuf, Vec<u8>)>,
    pub identity: Option<Identity>,
    /// The directories that were looked in, for errors.
    pub looked_in: Vec<PathBuf>,
    /// `--cert-dir`, when it replaced the certs.d directories.
    pub cert_dir: Option<PathBuf>,
}

impl HostConfig {
    /// Nothing beyond the system's trust: the shared client serves it.
    pub fn is_plain(&self) -> bool {
        !self.insecure && self.roots.is_empty() && self.identity.is_none()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HostError {
    #[error("missing key {key} for client certificate {cert} (CA certificates must use the extension .crt)")]
    MissingKey { cert: String, key: String },
    #[error("missing client certificate {cert} for key {key}")]
    MissingCert { cert: String, key: String },
    #[error("cannot read {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("{path}: more than {MAX_CERT_FILES} entries; runref reads at most that many")]
    TooMany { path: String },
}

/// The configuration of `host` (`name[:port]`, as in an image reference).
pub fn resolve(host: &str, sources: &HostSources) -> Result<HostConfig, HostError> {
    let mut config = HostConfig {
        insecure: is_insecure(host, &sources.insecure),
        cert_dir: sources.cert_dir.clone(),
        ..HostConfig::default()
    };
    let dirs: Vec<PathBuf> = match &sources.cert_dir {
        Some(d) => vec![d.clone()],
        None => sources.roots.iter().map(|r| r.join(host)).collect(),
    };
    for dir in dirs {
        config.looked_in.push(dir.clone());
        read_dir(&dir, &mut config)?;
    }
    Ok(config)
}

/// True for loopback names and addresses, and for hosts the insecure list names or whose
/// literal address one of its CIDRs holds.
pub fn is_insecure(host: &str, insecure: &[String]) -> bool {
    if is_loopback(host) {
        return true;
    }
    let ip = strip_port(host)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    insecure.iter().any(|entry| match entry.split_once('/') {
        Some((net, bits)) => match (ip, net.parse::<IpAddr>(), bits.parse::<u8>()) {
            (Some(ip), Ok(net), Ok(bits)) => in_cidr(ip, net, bits),
            _ => false,
        },
        None => entry.eq_ignore_ascii_case(host),
    })
}

fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && h.ends_with(']') => h,
        _ => host,
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn read_dir(dir: &Path, config: &mut HostConfig) -> Result<(), HostError> {
    let show = |p: &Path| p.display().to_string();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(()),
        Err(e) => {
            return Err(HostError::Read {
                path: show(dir),
                detail: e.to_string(),
            })
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| HostError::Read {
            path: show(dir),
            detail: e.to_string(),
        })?;
        if names.len() == MAX_CERT_FILES {
            return Err(HostError::TooMany { path: show(dir) });
        }
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    let has = |n: &str| names.iter().any(|x| x == n);
    for name in &names {
        let path = dir.join(name);
        if name.ends_with(".crt") {
            config.roots.push((path.clone(), read(&path)?));
        } else if let Some(base) = name.strip_suffix(".cert") {
            let key = dir.join(format!("{base}.key"));
            if !has(&format!("{base}.key")) {
                return Err(HostError::MissingKey {
                    cert: show(&path),
                    key: show(&key),
                });
            }
            if config.identity.is_none() {
                let mut pem = read(&path)?;
                pem.push(b'\n');
                pem.extend(read(&key)?);
                config.identity = Some(Identity {
                    cert: path.clone(),
                    key,
                    pem,
                });
            }
        } else if let Some(base) = name.strip_suffix(".key") {
            if !has(&format!("{base}.cert")) {
                return Err(HostError::MissingCert {
                    cert: show(&dir.join(format!("{base}.cert"))),
                    key: show(&path),
                });
            }
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, HostError> {
    crate::files::read_capped(path, MAX_CERT_BYTES).map_err(|detail| HostError::Read {
        path: path.display().to_string(),
        detail,
    })
}

/// True for `localhost`, 127.0.0.0/8 and `[::1]`, with or without a port.
pub fn is_loopback(host: &str) -> bool {
    let h = match host.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || host.starts_with('[') => {
            if p.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() && !h.ends_with(':') {
                h
            } else {
                host
            }
        }
        _ => host,
    };
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
        || h.parse::<std::net::Ipv6Addr>()
            .is_ok_and(|a| a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_hosts_as_docker_lists_them() {
        let list = vec![
            "myregistry:5000".to_string(),
            "10.0.0.0/8".to_string(),
            "fd00::/8".to_string(),
        ];
        for (host, want) in [
            ("localhost:5000", true),
            ("127.0.0.2", true),
            ("[::1]:5000", true),
            ("myregistry:5000", true),
            ("myregistry", false),
            ("myregistry:5001", false),
            ("10.1.2.3:5000", true),
            ("10.1.2.3", true),
            ("11.1.2.3", false),
            ("[fd00::2]:5000", true),
            ("registry.example.com", false),
            ("ghcr.io", false),
        ] {
            assert_eq!(is_insecure(host, &list), want, "{host}");
        }
    }

    #[test]
    fn certs_directories_as_moby_reads_them() {
        let root = tempfile::tempdir().unwrap();
        let host = root.path().join("reg.example:5000");
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("ca.crt"), "CA").unwrap();
        std::fs::write(host.join("client.cert"), "CERT").unwrap();
        std::fs::write(host.join("client.key"), "KEY").unwrap();
        let sources = HostSources {
            roots: vec![root.path().join("absent"), root.path().to_path_buf()],
            ..Default::default()
        };
        let c = resolve("reg.example:5000", &sources).unwrap();
        assert!(!c.insecure);
        assert_eq!(c.roots.len(), 1);
        let id = c.identity.unwrap();
        assert_eq!(id.pem, b"CERT\nKEY");
        assert_eq!(c.looked_in.len(), 2);
        // Another host has nothing.
        assert!(resolve("other:5000", &sources).unwrap().is_plain());

        std::fs::remove_file(host.join("client.key")).unwrap();
        let e = resolve("reg.example:5000", &sources).unwrap_err();
        assert!(matches!(e, HostError::MissingKey { .. }), "{e}");
        assert!(e.to_string().contains("client.key") && e.to_string().contains("client.cert"));
        std::fs::remove_file(host.join("client.cert")).unwrap();
        std::fs::write(host.join("lonely.key"), "KEY").unwrap();
        let e = resolve("reg.example:5000", &sources).unwrap_err();
        assert!(matches!(e, HostError::MissingCert { .. }), "{e}");

        // --cert-dir holds the files themselves, for every host.
        let only = HostSources {
            cert_dir: Some(host.clone()),
            roots: vec![root.path().to_path_buf()],
            ..Default::default()
        };
        std::fs::remove_file(host.join("lonely.key")).unwrap();
        assert_eq!(resolve("any.host", &only).unwrap().roots.len(), 1);
    }

    #[test]
    fn certificate_files_are_bounded() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("h");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("big.crt"), vec![b'x'; MAX_CERT_BYTES as usize + 1]).unwrap();
        let sources = HostSources {
            roots: vec![root.path().to_path_buf()],
            ..Default::default()
        };
        assert!(matches!(
            resolve("h", &sources),
            Err(HostError::Read { .. })
        ));
        std::fs::remove_file(dir.join("big.crt")).unwrap();
        for i in 0..=MAX_CERT_FILES {
            std::fs::write(dir.join(format!("{i}.txt")), "").unwrap();
        }
        assert!(matches!(
            resolve("h", &sources),
            Err(HostError::TooMany { .. })
        ));
    }
}
