//! The sync file (TOML): what to mirror where. Read once, checked whole before any request:
//! unknown keys, bad references, patterns and ranges are errors naming the file and the
//! `[[image]]` (README "Sync file").

use crate::commands::publish::Carry;
use crate::model::platform::Platform;
use crate::model::reference::Reference;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// Largest sync file read (a file of 10,000 images is about 1 MiB).
pub const MAX_FILE_BYTES: u64 = 8 << 20;
/// Images per file.
pub const MAX_IMAGES: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum SyncFileError {
    #[error("{path}: {detail}")]
    Read { path: String, detail: String },
    #[error("{path}: {detail}")]
    Parse { path: String, detail: String },
    #[error("{path}: [[image]] {index} ({source_name}): {detail}")]
    Image {
        path: String,
        index: usize,
        source_name: String,
        detail: String,
    },
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFile {
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    ratelimit: Option<RawRateLimit>,
    #[serde(default)]
    image: Vec<RawImage>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDefaults {
    target: Option<String>,
    platforms: Option<Vec<String>>,
    referrers: Option<String>,
    verify_content: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRateLimit {
    min: u64,
    #[serde(default)]
    retry: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawImage {
    source: String,
    target: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
    semver: Option<String>,
    newest: Option<usize>,
    platforms: Option<Vec<String>>,
    referrers: Option<String>,
    verify_content: Option<bool>,
}

/// Which tags of a repository an image takes.
#[derive(Debug, Clone)]
pub struct TagRule {
    /// Named tags, always taken (each must exist).
    pub exact: Vec<String>,
    /// Regexes a listed tag must match whole (any of them); none: every tag.
    pub allow: Vec<regex::Regex>,
    /// Regexes a listed tag must not match whole.
    pub deny: Vec<regex::Regex>,
    pub semver: Option<semver::VersionReq>,
    /// Of the listed tags that pass, the N highest versions.
    pub newest: Option<usize>,
}

impl TagRule {
    /// True when the tag list must be read: anything beyond named tags.
    pub fn lists(&self) -> bool {
        self.exact.is_empty()
            || !self.allow.is_empty()
            || !self.deny.is_empty()
            || self.semver.is_some()
            || self.newest.is_some()
    }
}

/// One `[[image]]`, defaults applied.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// Its place in the file (1-based), for messages.
    pub index: usize,
    /// The repository (no tag, no digest).
    pub source: Reference,
    /// The target repository.
    pub target: Reference,
    pub tags: TagRule,
    pub platforms: Option<Vec<Platform>>,
    pub referrers: Carry,
    pub verify_content: bool,
}

/// Docker Hub's `ratelimit-remaining`: below `min` pulls left, wait `retry` and ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub min: u64,
    pub retry: Duration,
}

#[derive(Debug, Clone)]
pub struct SyncFile {
    pub images: Vec<ImageSpec>,
    pub ratelimit: Option<RateLimit>,
}

impl SyncFile {
    /// Reads and checks `path` (bounded: [`MAX_FILE_BYTES`]).
    pub fn read(path: &Path) -> Result<SyncFile, SyncFileError> {
        let shown = path.display().to_string();
        let bytes =
            crate::files::read_capped(path, MAX_FILE_BYTES).map_err(|e| SyncFileError::Read {
                path: shown.clone(),
                detail: e.to_string(),
            })?;
        let text = String::from_utf8(bytes).map_err(|_| SyncFileError::Read {
            path: shown.clone(),
            detail: "not UTF-8 text".into(),
        })?;
        SyncFile::parse(&text, &shown)
    }

    /// Parses the text of a sync file (`path` names it in errors).
    pub fn parse(text: &str, path: &str) -> Result<SyncFile, SyncFileError> {
        let parse = |detail: String| SyncFileError::Parse {
            path: path.to_string(),
            detail,
        };
        let raw: RawFile = toml_edit::de::from_str(text).map_err(|e| parse(e.to_string()))?;
        if raw.image.is_empty() {
            return Err(parse(
                "no [[image]]: give at least one (source = \"registry/repository\")".into(),
            ));
        }
        if raw.image.len() > MAX_IMAGES {
            return Err(parse(format!("more than {MAX_IMAGES} [[image]] entries")));
        }
        let ratelimit = match raw.ratelimit {
            None => None,
            Some(r) => Some(RateLimit {
                min: r.min,
                retry: match r.retry.as_deref() {
                    None => Duration::from_secs(60),
                    Some(t) => crate::model::given::parse_duration(t)
                        .map_err(|e| parse(format!("[ratelimit] retry = {t:?}: {e}")))?,
                },
            }),
        };
        let d = &raw.defaults;
        let mut images = Vec::with_capacity(raw.image.len());
        // Named target tags: two images writing one would flip it on every run.
        let mut written: std::collections::HashMap<String, usize> = Default::default();
        for (i, img) in raw.image.iter().enumerate() {
            let bad = |detail: String| SyncFileError::Image {
                path: path.to_string(),
                index: i + 1,
                source_name: img.source.clone(),
                detail,
            };
            let spec = image(img, d, i + 1).map_err(bad)?;
            for t in &spec.tags.exact {
                let key = format!("{}:{t}", spec.target.canonical_name());
                if let Some(other) = written.insert(key.clone(), i + 1) {
                    return Err(bad(format!(
                        "writes {}:{t}, as [[image]] {other} does; give one of them another target",
                        spec.target
                    )));
                }
            }
            images.push(spec);
        }
        Ok(SyncFile { images, ratelimit })
    }
}

fn image(img: &RawImage, d: &RawDefaults, index: usize) -> Result<ImageSpec, String> {
    let named: Reference = img.source.parse().map_err(|e| format!("source: {e}"))?;
    if named.digest().is_some() {
        return Err("source names a digest; a sync source is a repository (and tags)".into());
    }
    let mut exact: Vec<String> = Vec::new();
    for t in &img.tags {
        if !exact.contains(t) {
            exact.push(t.clone());
        }
    }
    if let Some(t) = named.tag() {
        if !exact.iter().any(|x| x == t) {
            exact.insert(0, t.to_string());
        }
    }
    // `name:latest` written with no tag parses with the default tag only when spelled; a bare
    // repository with no tags and no filter means every tag (skopeo's `name: []`).
    let source = named.bare();
    for t in &exact {
        source
            .with_tag(t)
            .map_err(|e| format!("tags: {t:?}: {e}"))?;
    }
    let regexes = |what: &str, list: &[String]| -> Result<Vec<regex::Regex>, String> {
        list.iter()
            .map(|p| {
                regex::RegexBuilder::new(&format!("^(?:{p})$"))
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("{what}: {p:?}: {e}"))
            })
            .collect()
    };
    let semver = match &img.semver {
        None => None,
        Some(r) => Some(semver::VersionReq::parse(r).map_err(|e| format!("semver = {r:?}: {e}"))?),
    };
    if img.newest == Some(0) {
        return Err("newest = 0 takes no tag; give 1 or more, or leave it out".into());
    }
    let template = img
        .target
        .as_deref()
        .or(d.target.as_deref())
        .ok_or("no target: give target = \"registry/repository\" here or in [defaults] (templates: {registry}, {repository}, {name})")?;
    let target_text = expand(template, &source);
    let target: Reference = target_text
        .parse()
        .map_err(|e| format!("target {target_text:?}: {e}"))?;
    if target.canonical_name() == source.canonical_name() {
        return Err(format!(
            "target {target_text:?} is the source repository itself: nothing to mirror"
        ));
    }
    if target.tag().is_some() || target.digest().is_some() {
        return Err(format!(
            "target {target_text:?} names a tag or digest; a sync target is a repository (each tag keeps its name)"
        ));
    }
    let platforms = match img.platforms.as_ref().or(d.platforms.as_ref()) {
        None => None,
        Some(ps) if ps.is_empty() => None,
        Some(ps) => Some(
            ps.iter()
                .map(|p| {
                    p.parse::<Platform>()
                        .map_err(|e| format!("platforms: {p:?}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let referrers = match img.referrers.as_deref().or(d.referrers.as_deref()) {
        None => Carry::All,
        Some(r) => r.parse().map_err(|e| format!("referrers = {r:?}: {e}"))?,
    };
    Ok(ImageSpec {
        index,
        target,
        tags: TagRule {
            exact,
            allow: regexes("allow", &img.allow)?,
            deny: regexes("deny", &img.deny)?,
            semver,
            newest: img.newest,
        },
        source,
        platforms,
        referrers,
        verify_content: img.verify_content.or(d.verify_content).unwrap_or(false),
    })
}

/// A target template with `{registry}`, `{repository}` and `{name}` (the repository's last
/// part) of `source` filled in.
pub fn expand(template: &str, source: &Reference) -> String {
    let repository = source.repository();
    let name = repository
        .rsplit('/')
        .next()
        .unwrap_or(&repository)
        .to_string();
    template
        .replace("{registry}", source.registry())
        .replace("{repository}", &repository)
        .replace("{name}", &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[defaults]
target = "mirror.example.com/{repository}"
platforms = ["linux/amd64", "linux/arm64"]

[ratelimit]
min = 10
retry = "30s"

[[image]]
source = "docker.io/library/busybox:1.36"
tags = ["latest"]

[[image]]
source = "ghcr.io/org/app"
allow = ['v1\.\d+\.\d+']
deny = ['.*-rc\d*']
semver = ">=1.2.0, <2"
newest = 3
target = "mirror.example.com/apps/{name}"
referrers = "none"
platforms = []
"#;

    #[test]
    fn a_file_reads_with_defaults_and_templates() {
        let f = SyncFile::parse(FILE, "sync.toml").unwrap();
        assert_eq!(
            f.ratelimit,
            Some(RateLimit {
                min: 10,
                retry: Duration::from_secs(30)
            })
        );
        let [a, b] = f.images.as_slice() else {
            panic!("two images")
        };
        assert_eq!(a.tags.exact, ["1.36", "latest"]);
        assert!(!a.tags.lists(), "named tags only: no tag list read");
        assert_eq!(a.target.to_string(), "mirror.example.com/library/busybox");
        assert_eq!(a.platforms.as_ref().map(Vec::len), Some(2));
        assert_eq!(a.referrers, Carry::All);
        assert!(b.tags.lists());
        assert_eq!(b.target.to_string(), "mirror.example.com/apps/app");
        assert_eq!(b.platforms, None, "[] is every platform");
        assert_eq!(b.referrers, Carry::None);
        assert!(b.tags.allow[0].is_match("v1.2.3"));
        assert!(!b.tags.allow[0].is_match("v1.2.3-x"), "anchored whole");
    }

    #[test]
    fn mistakes_name_the_file_and_the_image() {
        for (text, wanted) in [
            ("", "no [[image]]"),
            ("[[image]]\nsource = \"a/b\"\n", "[[image]] 1 (a/b): no target"),
            (
                "[[image]]\nsource = \"a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000\"\ntarget = \"m/b\"\n",
                "names a digest",
            ),
            ("[[image]]\nsource = \"a/b\"\ntarget = \"m/b:v1\"\n", "names a tag"),
            ("[[image]]\nsource = \"a/b\"\ntarget = \"m/b\"\nallow = ['(']\n", "allow: \"(\""),
            ("[[image]]\nsource = \"a/b\"\ntarget = \"m/b\"\nsemver = \"nope\"\n", "semver = \"nope\""),
            ("[[image]]\nsource = \"a/b\"\ntarget = \"m/b\"\nnewest = 0\n", "newest = 0"),
            ("[[image]]\nsource = \"a/b\"\ntarget = \"m/b\"\ntag = [\"x\"]\n", "unknown field"),
            ("[[image]]\nsource = \"a/b\"\ntarget = \"m/b\"\nreferrers = \"all,x\"\n", "referrers"),
            ("[ratelimit]\nmin = 1\nretry = \"soon\"\n[[image]]\nsource = \"a/b\"\ntarget = \"m/b\"\n", "retry"),
            ("[[image]]\nsource = \"a/b\"\ntarget = \"a/b\"\n", "the source repository itself"),
            (
                "[defaults]\ntarget = \"m/x\"\n[[image]]\nsource = \"a/b:1\"\n[[image]]\nsource = \"c/d\"\ntags = [\"1\"]\n",
                "[[image]] 2 (c/d): writes m/x:1, as [[image]] 1 does",
            ),
        ] {
            let e = SyncFile::parse(text, "s.toml").unwrap_err().to_string();
            assert!(e.starts_with("s.toml: "), "{e}");
            assert!(e.contains(wanted), "{text:?}: {e}");
        }
    }
}
