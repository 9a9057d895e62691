//! podman's `registries.conf` (containers-registries.conf(5), version 2), as containers/image's
//! `sysregistriesv2` reads it: per name prefix, where reads go (mirrors first, then the
//! `location` that rewrites the prefix), which of those are insecure, and which names are
//! `blocked`. runref follows it when the daemon is podman (what podman pulls is what runref
//! reads) and in runs without a daemon when the file exists; the Engine's own configuration
//! wins when the daemon is Docker (spec-notes, "Registry hosts and TLS").
//!
//! Read: `--registries-conf FILE`, else `CONTAINERS_REGISTRIES_CONF`, else
//! `$XDG_CONFIG_HOME/containers/registries.conf` when it exists (rootless podman), else
//! `/etc/containers/registries.conf` and the drop-ins `/etc/containers/registries.conf.d/*.conf`
//! in name order, a later `[[registry]]` with the same prefix replacing an earlier one.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The largest registries.conf (or drop-in) read.
pub const MAX_CONF_BYTES: u64 = 1 << 20;
/// The most drop-ins read.
pub const MAX_DROP_INS: usize = 64;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct File {
    #[serde(default)]
    registry: Vec<Entry>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct Entry {
    prefix: Option<String>,
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    mirror: Vec<MirrorEntry>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct MirrorEntry {
    location: String,
    #[serde(default)]
    insecure: bool,
    /// `all` (default), `digest-only`, `tag-only`.
    pull_from_mirror: Option<String>,
}

/// One `[[registry]]`, with the file it came from.
#[derive(Debug, Clone)]
struct Rule {
    prefix: String,
    entry: Entry,
    file: PathBuf,
}

/// The registries.conf in force.
#[derive(Debug, Clone, Default)]
pub struct RegistriesConf {
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    rules: Vec<Rule>,
}

/// One place a read of a name can go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// `host[:port]`.
    pub host: String,
    /// The repository at that host (the prefix rewritten).
    pub repository: String,
    pub insecure: bool,
    pub mirror: bool,
}

/// What the file says of one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Reads go to these places, in order (mirrors first, the location last).
    To(Vec<Place>),
    /// `blocked = true`: no read may go there.
    Blocked { prefix: String, file: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error("cannot read {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("{path}: {detail}")]
    Parse { path: String, detail: String },
}

impl RegistriesConf {
    /// The file in force: `explicit` (`--registries-conf`), else the environment's, else the
    /// system's with its drop-ins. None when no file exists (an explicit one must).
    pub fn load(explicit: Option<&Path>) -> Result<Option<RegistriesConf>, ConfError> {
        if let Some(p) = explicit {
            return Ok(Some(Self::from_files(&[p.to_path_buf()])?));
        }
        if let Some(p) = std::env::var_os("CONTAINERS_REGISTRIES_CONF").filter(|v| !v.is_empty()) {
            return Ok(Some(Self::from_files(&[PathBuf::from(p)])?));
        }
        let user = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .map(|c| c.join("containers/registries.conf"));
        if let Some(u) = user.filter(|u| u.is_file() && !is_root()) {
            return Ok(Some(Self::from_files(&[u])?));
        }
        let system = PathBuf::from("/etc/containers/registries.conf");
        let mut files: Vec<PathBuf> = Vec::new();
        if system.is_file() {
            files.push(system);
        }
        files.extend(drop_ins(Path::new("/etc/containers/registries.conf.d"))?);
        if files.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self::from_files(&files)?))
    }

    /// Reads `files` in order; a later rule with the same prefix replaces an earlier one.
    pub fn from_files(files: &[PathBuf]) -> Result<RegistriesConf, ConfError> {
        let mut conf = RegistriesConf::default();
        for f in files {
            let text = read(f)?;
            conf.add(&text, f)?;
        }
        Ok(conf)
    }

    /// Adds one file's rules (`path` names it in errors).
    pub fn add(&mut self, text: &str, path: &Path) -> Result<(), ConfError> {
        let parse = |detail: String| ConfError::Parse {
            path: path.display().to_string(),
            detail,
        };
        let file: File = toml_edit::de::from_str(text).map_err(|e| parse(e.to_string()))?;
        for entry in file.registry {
            let prefix = entry
                .prefix
                .clone()
                .or_else(|| entry.location.clone())
                .filter(|p| !p.is_empty())
                .ok_or_else(|| parse("a [[registry]] has neither prefix nor location".into()))?;
            if entry.location.as_deref().is_some_and(|l| l.contains("://")) {
                return Err(parse(format!(
                    "location {:?} has a scheme; registries.conf names host[:port][/path]",
                    entry.location.as_deref().unwrap_or("")
                )));
            }
            self.rules.retain(|r| r.prefix != prefix);
            self.rules.push(Rule {
                prefix,
                entry,
                file: path.to_path_buf(),
            });
        }
        self.files.push(path.to_path_buf());
        Ok(())
    }

    /// Where reads of `name` (`host/repository`) go; None when no rule matches (the name's
    /// own registry, as without the file). `by_digest`: the reference names a digest (mirrors
    /// marked digest-only serve only those).
    pub fn route(&self, name: &str, by_digest: bool) -> Option<Route> {
        let (rule, len) = self
            .rules
            .iter()
            .filter_map(|r| matching_prefix(name, &r.prefix).map(|n| (r, n)))
            .max_by_key(|(_, n)| *n)?;
        let e = &rule.entry;
        if e.blocked {
            return Some(Route::Blocked {
                prefix: rule.prefix.clone(),
                file: rule.file.clone(),
            });
        }
        let rest = &name[len.min(name.len())..];
        // A wildcard prefix (`*.example.com`) keeps the name's own host.
        let location = match (&e.location, rule.prefix.starts_with("*.")) {
            (Some(l), false) if !l.is_empty() => format!("{l}{rest}"),
            _ => name.to_string(),
        };
        let mut places = Vec::new();
        for m in &e.mirror {
            let wanted = match m.pull_from_mirror.as_deref().unwrap_or("all") {
                "digest-only" => by_digest,
                "tag-only" => !by_digest,
                _ => !e.mirror_by_digest_only || by_digest,
            };
            if wanted {
                if let Some(p) = place(&format!("{}{rest}", m.location), m.insecure, true) {
                    places.push(p);
                }
            }
        }
        places.extend(place(&location, e.insecure, false));
        Some(Route::To(places))
    }
}

/// `host[:port]/repository` split into a place.
fn place(location: &str, insecure: bool, mirror: bool) -> Option<Place> {
    let (host, repository) = location.split_once('/')?;
    Some(Place {
        host: host.to_string(),
        repository: repository.trim_matches('/').to_string(),
        insecure,
        mirror,
    })
}

/// containers/image `refMatchingPrefix`: the prefix's length when `name` is the prefix or
/// continues it at a `/`, `:` or `@`; a `*.domain` prefix matches the host's subdomains.
fn matching_prefix(name: &str, prefix: &str) -> Option<usize> {
    if let Some(domain) = prefix.strip_prefix("*.") {
        let host = name.split('/').next().unwrap_or("");
        let bare = host.split(':').next().unwrap_or(host);
        return (bare.ends_with(&format!(".{domain}"))).then_some(host.len());
    }
    if name == prefix {
        return Some(prefix.len());
    }
    let next = name.strip_prefix(prefix)?.chars().next()?;
    matches!(next, '/' | ':' | '@').then_some(prefix.len())
}

fn drop_ins(dir: &Path) -> Result<Vec<PathBuf>, ConfError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(vec![]);
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf") && p.is_file())
        .collect();
    files.sort();
    if files.len() > MAX_DROP_INS {
        return Err(ConfError::Read {
            path: dir.display().to_string(),
            detail: format!("more than {MAX_DROP_INS} drop-ins"),
        });
    }
    Ok(files)
}

fn read(path: &Path) -> Result<String, ConfError> {
    let err = |detail: String| ConfError::Read {
        path: path.display().to_string(),
        detail,
    };
    let buf = crate::files::read_capped(path, MAX_CONF_BYTES).map_err(err)?;
    String::from_utf8(buf).map_err(|_| err("not UTF-8".into()))
}

fn is_root() -> bool {
    // The files of a rootless podman are the user's; root's are the system's.
    std::env::var("USER").is_ok_and(|u| u == "root")
        || std::env::var_os("HOME").is_some_and(|h| h == "/root")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = r#"
unqualified-search-registries = ["docker.io"]

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "127.0.0.1:5000"
insecure = true

[[registry]]
prefix = "example.com/foo"
location = "internal.example:5000/bar"
insecure = true
[[registry.mirror]]
location = "mirror.example/m"
pull-from-mirror = "digest-only"

[[registry]]
location = "blocked.example"
blocked = true

[[registry]]
prefix = "*.corp.example"
[[registry.mirror]]
location = "cache.corp.example"
"#;

    fn conf() -> RegistriesConf {
        let mut c = RegistriesConf::default();
        c.add(CONF, Path::new("/etc/containers/registries.conf"))
            .unwrap();
        c
    }

    fn p(host: &str, repository: &str, insecure: bool, mirror: bool) -> Place {
        Place {
            host: host.into(),
            repository: repository.into(),
            insecure,
            mirror,
        }
    }

    /// containers-registries.conf(5)'s examples and containers/image's prefix rule.
    #[test]
    fn names_are_routed_as_sysregistriesv2_routes_them() {
        let c = conf();
        assert_eq!(
            c.route("docker.io/library/busybox", false),
            Some(Route::To(vec![
                p("127.0.0.1:5000", "library/busybox", true, true),
                p("docker.io", "library/busybox", false, false),
            ]))
        );
        // The prefix rewritten to the location; the digest-only mirror only for digests.
        assert_eq!(
            c.route("example.com/foo/app", false),
            Some(Route::To(vec![p(
                "internal.example:5000",
                "bar/app",
                true,
                false
            )]))
        );
        assert_eq!(
            c.route("example.com/foo/app", true),
            Some(Route::To(vec![
                p("mirror.example", "m/app", false, true),
                p("internal.example:5000", "bar/app", true, false),
            ]))
        );
        // A prefix matches whole path components only.
        assert_eq!(c.route("example.com/foobar/app", false), None);
        assert!(matches!(
            c.route("blocked.example/x", false),
            Some(Route::Blocked { .. })
        ));
        // Wildcards match subdomains and keep the name's host.
        assert_eq!(
            c.route("reg.corp.example/team/app", false),
            Some(Route::To(vec![
                p("cache.corp.example", "team/app", false, true),
                p("reg.corp.example", "team/app", false, false),
            ]))
        );
        assert_eq!(c.route("ghcr.io/x/y", false), None);
    }

    #[test]
    fn a_later_file_replaces_a_rule_of_the_same_prefix() {
        let mut c = conf();
        c.add(
            "[[registry]]\nlocation = \"blocked.example\"\nblocked = false\n",
            Path::new("/etc/containers/registries.conf.d/50-unblock.conf"),
        )
        .unwrap();
        assert_eq!(
            c.route("blocked.example/x", false),
            Some(Route::To(vec![p("blocked.example", "x", false, false)]))
        );
    }

    #[test]
    fn bad_files_are_errors_naming_them() {
        let mut c = RegistriesConf::default();
        let path = Path::new("/x/registries.conf");
        for text in [
            "[[registry]\n",
            "[[registry]]\ninsecure = true\n",
            "[[registry]]\nlocation = \"https://r.example\"\n",
            "[[registry]]\nlocation = 5\n",
        ] {
            let e = c.add(text, path).unwrap_err().to_string();
            assert!(e.contains("/x/registries.conf"), "{text}: {e}");
        }
    }
}
