//! Image references: the Docker reference grammar (distribution/reference) and the bare image
//! IDs lifecycle writes for daemon images.
//!
//! A [`Reference`] keeps the name the way it was written (`ubuntu`, `index.docker.io/x/y`), so
//! a rewrite of analyzed.toml keeps the user's spelling, and offers the normalised registry and
//! repository (`docker.io`, `library/ubuntu`) for lookups and comparisons.

use crate::model::digest::{Digest, DigestError, ImageId};
use std::fmt;
use std::str::FromStr;

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";
/// Host names that mean Docker Hub. distribution/reference normalises the first two; the third
/// is Docker Hub's API endpoint, which the Engine keeps as a host of its own in image names, so
/// runref treats it as Docker Hub for registry reads and matching but queries the daemon with
/// the name as written too.
/// Docker Hub's host names, the one list (credentials, matching, endpoints use it).
pub const DOCKER_HUB_HOSTS: &[&str] = &["docker.io", "index.docker.io", "registry-1.docker.io"];
/// distribution/reference >= v0.6.0: the repository path (not the registry) may have at most
/// this many characters; for a one-part Docker Hub name the implied `library/` counts.
const PATH_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// Why a reference could not be parsed. Every variant quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference {input:?}: {reason}")]
    Invalid { input: String, reason: String },
    #[error("invalid reference {input:?}: {source}")]
    Digest { input: String, source: DigestError },
}

fn invalid(input: &str, reason: impl Into<String>) -> ReferenceError {
    ReferenceError::Invalid {
        input: input.into(),
        reason: reason.into(),
    }
}

/// A parsed image name with optional tag and digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host as written, `None` when implicit (Docker Hub).
    domain: Option<String>,
    /// Repository path as written (no `library/` added).
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// The normalised registry host: `docker.io` for Docker Hub, whichever way it was written.
    pub fn registry(&self) -> &str {
        match self.domain.as_deref() {
            None => DOCKER_HUB,
            Some(d) if DOCKER_HUB_HOSTS.contains(&d) => DOCKER_HUB,
            Some(d) => d,
        }
    }

    /// True for Docker Hub names, however written (`ubuntu`, `docker.io/x/y`,
    /// `index.docker.io/library/ubuntu`, `registry-1.docker.io/x/y`).
    pub fn is_docker_hub(&self) -> bool {
        self.registry() == DOCKER_HUB
    }

    /// The name as the Engine shows and matches it (distribution/reference `FamiliarName`):
    /// Docker Hub names lose the registry and a `library/` prefix (`ubuntu`, `x/y`); other names
    /// keep their registry as written. The Engine's image-list `reference=` filter matches only
    /// this form (moby#34385, moby#47809).
    pub fn familiar_name(&self) -> String {
        if !self.is_docker_hub() {
            return self.name();
        }
        match self.path.strip_prefix("library/") {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.path.clone(),
        }
    }

    /// The normalised repository path: `library/ubuntu` for Docker Hub official images.
    pub fn repository(&self) -> String {
        if self.registry() == DOCKER_HUB && !self.path.contains('/') {
            format!("library/{}", self.path)
        } else {
            self.path.clone()
        }
    }

    /// The name as written, without tag or digest (`ubuntu`, `127.0.0.1:5000/run`).
    pub fn name(&self) -> String {
        match &self.domain {
            Some(d) => format!("{d}/{}", self.path),
            None => self.path.clone(),
        }
    }

    /// The fully normalised name: `docker.io/library/ubuntu`.
    pub fn canonical_name(&self) -> String {
        format!("{}/{}", self.registry(), self.repository())
    }

    /// True when both name the same repository after normalisation.
    pub fn same_repository(&self, other: &Reference) -> bool {
        self.canonical_name() == other.canonical_name()
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The names to ask a daemon for this image, in order: the normalised one (a pull of any
    /// Docker Hub spelling records `docker.io/...`, which both Engine and podman resolve), then
    /// the name as written when that differs (the Engine keeps `registry-1.docker.io/x/y` as a
    /// name of its own). Tag and digest as written.
    pub fn daemon_names(&self) -> Vec<String> {
        let suffix = |mut s: String| {
            if let Some(t) = &self.tag {
                s.push(':');
                s.push_str(t);
            }
            if let Some(d) = &self.digest {
                s.push('@');
                s.push_str(&d.to_string());
            }
            s
        };
        let written = self.to_string();
        if !self.is_docker_hub() {
            return vec![written];
        }
        let normalised = suffix(self.canonical_name());
        if normalised == written {
            vec![written]
        } else {
            vec![normalised, written]
        }
    }

    /// `name@digest` with the name as written and no tag: the form lifecycle writes.
    pub fn with_digest(&self, digest: &Digest) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest.clone()),
        }
    }

    /// `name:tag` with the name as written and no digest; the tag is checked against the
    /// grammar.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        let r: Reference = format!("{}:{tag}", self.name()).parse()?;
        match r.tag() {
            Some(t) if t == tag && r.digest.is_none() => Ok(r),
            _ => Err(invalid(
                tag,
                "not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})",
            )),
        }
    }

    /// The name alone (no tag, no digest).
    pub fn bare(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// Fully normalised form as distribution/reference's `ParseDockerRef` gives it:
    /// `docker.io/library/ubuntu:latest` when neither tag nor digest; a digest wins over a tag.
    pub fn canonical(&self) -> String {
        let name = self.canonical_name();
        match (&self.digest, &self.tag) {
            (Some(d), _) => format!("{name}@{d}"),
            (None, Some(t)) => format!("{name}:{t}"),
            (None, None) => format!("{name}:latest"),
        }
    }
}

/// The registry names that stand for OCI image layout directories (`oci:DIR`, skopeo's
/// syntax) inside a [`Reference`]: `layout-N.oci.invalid` (`.invalid` is reserved: never a real
/// host), repository `layout`; shown as `oci:DIR`.
const LAYOUT_SUFFIX: &str = ".oci.invalid";
static LAYOUTS: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

/// The directory a layout registry name stands for.
pub fn layout_dir(registry: &str) -> Option<std::path::PathBuf> {
    let n: usize = registry
        .strip_prefix("layout-")?
        .strip_suffix(LAYOUT_SUFFIX)?
        .parse()
        .ok()?;
    LAYOUTS.lock().ok()?.get(n).cloned()
}

impl Reference {
    /// An image location as `copy`, `index create`, `verify` and `inspect` take it: an OCI
    /// image layout `oci:DIR[:TAG][@DIGEST]` (skopeo's syntax; the tag is the root index's
    /// `org.opencontainers.image.ref.name`), else a registry reference.
    pub fn parse_location(input: &str) -> Result<Reference, ReferenceError> {
        let Some(rest) = input.strip_prefix("oci:") else {
            return input.parse();
        };
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => (
                r,
                Some(
                    d.parse::<Digest>()
                        .map_err(|source| ReferenceError::Digest {
                            input: input.into(),
                            source,
                        })?,
                ),
            ),
            None => (rest, None),
        };
        // containers/image splits at the first ':' (a layout path holds none).
        let (dir, tag) = match rest.split_once(':') {
            Some((d, t)) => (d, Some(t)),
            None => (rest, None),
        };
        if dir.is_empty() {
            return Err(invalid(input, "oci: needs a directory (oci:DIR[:TAG])"));
        }
        if let Some(t) = tag {
            check_tag(input, t)?;
        }
        let dir = std::path::absolute(dir).map_err(|e| invalid(input, e.to_string()))?;
        let n = {
            let mut all = LAYOUTS.lock().unwrap_or_else(|e| e.into_inner());
            match all.iter().position(|d| *d == dir) {
                Some(n) => n,
                None => {
                    all.push(dir);
                    all.len() - 1
                }
            }
        };
        Ok(Reference {
            domain: Some(format!("layout-{n}{LAYOUT_SUFFIX}")),
            path: "layout".into(),
            tag: tag.map(str::to_string),
            digest,
        })
    }
}

impl fmt::Display for Reference {
    /// As written: `name[:tag][@digest]`; an OCI layout as `oci:DIR[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.domain.as_deref().and_then(layout_dir) {
            Some(dir) => write!(f, "oci:{}", dir.display())?,
            None => f.write_str(&self.name())?,
        }
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn is_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
}

fn check_domain(input: &str, domain: &str) -> Result<(), ReferenceError> {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(invalid(input, "unterminated IPv6 address in registry host"));
        };
        // distribution/reference's grammar allows only hex digits and ':' inside the brackets
        // (no embedded IPv4, no zone).
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err(invalid(
                input,
                format!("registry host [{v6}] is not an IPv6 address"),
            ));
        }
        match after {
            "" => (None, None),
            p if p.starts_with(':') => (None, Some(&p[1..])),
            _ => return Err(invalid(input, "unexpected characters after IPv6 address")),
        }
    } else {
        match domain.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if let Some(h) = host {
        if !h.split('.').all(is_domain_component) {
            return Err(invalid(
                input,
                format!("registry host {h:?} is not a valid host name"),
            ));
        }
    }
    // The grammar's port is `[0-9]+`, unbounded: a port out of range fails at connect time.
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                input,
                format!("registry port {p:?} is not a port number"),
            ));
        }
    }
    Ok(())
}

/// True when `host` is a registry host by distribution/reference's domain grammar:
/// `localhost`, `[v6hex]`, dotted host-name components, each with an optional `:port`.
pub fn is_valid_registry_host(host: &str) -> bool {
    check_domain(host, host).is_ok()
}

/// `[a-z0-9]+(([_.]|__|[-]+)[a-z0-9]+)*`
fn check_path_component(input: &str, c: &str) -> Result<(), ReferenceError> {
    if c.is_empty() {
        return Err(invalid(
            input,
            "empty path component (double or trailing '/')",
        ));
    }
    if c.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(invalid(input, "repository name must be lowercase"));
    }
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err(invalid(
            input,
            format!("path component {c:?} must start and end with a letter or digit"),
        ));
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return Err(invalid(
                input,
                format!("path component {c:?} has an invalid separator {sep:?}"),
            ));
        }
    }
    Ok(())
}

/// `[\w][\w.-]{0,127}`
fn check_tag(input: &str, tag: &str) -> Result<(), ReferenceError> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = tag.as_bytes();
    if b.is_empty() {
        return Err(invalid(input, "empty tag after ':'"));
    }
    if b.len() > TAG_MAX {
        return Err(invalid(
            input,
            format!("tag is {} characters, at most {TAG_MAX} allowed", b.len()),
        ));
    }
    if !word(b[0]) || !b.iter().all(|x| word(*x) || *x == b'.' || *x == b'-') {
        return Err(invalid(
            input,
            format!("tag {tag:?} may hold only letters, digits, '_', '.', '-' and not start with '.' or '-'"),
        ));
    }
    Ok(())
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        if input.is_empty() {
            return Err(invalid(input, "empty reference"));
        }
        if input.trim() != input {
            return Err(invalid(input, "leading or trailing whitespace"));
        }
        if ImageId::looks_like(input) {
            return Err(invalid(
                input,
                "this is an image ID, not a name; 64-hex repository names are not allowed",
            ));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => {
                let digest = d
                    .parse::<Digest>()
                    .map_err(|source| ReferenceError::Digest {
                        input: input.into(),
                        source,
                    })?;
                (r, Some(digest))
            }
            None => (input, None),
        };
        // A ':' after the last '/' separates the tag; a ':' before it is a registry port.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => {
                let (n, t) = rest.split_at(last_slash + i);
                (n, Some(&t[1..]))
            }
            None => (rest, None),
        };
        if let Some(t) = tag {
            check_tag(input, t)?;
        }
        if name.is_empty() {
            return Err(invalid(input, "missing repository name"));
        }
        // distribution's splitDockerDomain: the first component is a registry when it holds
        // '.' or ':', is `localhost`, or has upper-case letters (so it cannot be a path).
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.starts_with('[')
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                (Some(first), rest)
            }
            _ => (None, name),
        };
        if let Some(d) = domain {
            check_domain(input, d)?;
        }
        for c in path.split('/') {
            check_path_component(input, c)?;
        }
        let reference = Reference {
            domain: domain.map(str::to_string),
            path: path.into(),
            tag: tag.map(str::to_string),
            digest,
        };
        let path_len = reference.repository().len();
        if path_len > PATH_MAX {
            return Err(invalid(
                input,
                format!("repository path is {path_len} characters, at most {PATH_MAX}"),
            ));
        }
        Ok(reference)
    }
}

/// What analyzed.toml's `[run-image] reference` can hold: a registry reference or, in a daemon
/// build, the daemon's image ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    Id(ImageId),
    Name(Reference),
}

impl ImageRef {
    pub fn parse(input: &str) -> Result<ImageRef, ReferenceError> {
        if ImageId::looks_like(input) {
            let id = ImageId::parse(input).map_err(|source| ReferenceError::Digest {
                input: input.into(),
                source,
            })?;
            return Ok(ImageRef::Id(id));
        }
        input.parse().map(ImageRef::Name)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Id(id) => id.fmt(f),
            ImageRef::Name(r) => r.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn ok(input: &str) -> Reference {
        input
            .parse()
            .unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
    }

    #[test]
    fn normalisation_table() {
        // input, registry, repository, tag, canonical
        let cases = [
            (
                "ubuntu",
                "docker.io",
                "library/ubuntu",
                None,
                "docker.io/library/ubuntu:latest",
            ),
            (
                "ubuntu:22.04",
                "docker.io",
                "library/ubuntu",
                Some("22.04"),
                "docker.io/library/ubuntu:22.04",
            ),
            (
                "paketobuildpacks/run",
                "docker.io",
                "paketobuildpacks/run",
                None,
                "docker.io/paketobuildpacks/run:latest",
            ),
            (
                "index.docker.io/library/ubuntu",
                "docker.io",
                "library/ubuntu",
                None,
                "docker.io/library/ubuntu:latest",
            ),
            (
                "index.docker.io/ubuntu",
                "docker.io",
                "library/ubuntu",
                None,
                "docker.io/library/ubuntu:latest",
            ),
            (
                "docker.io/ubuntu",
                "docker.io",
                "library/ubuntu",
                None,
                "docker.io/library/ubuntu:latest",
            ),
            (
                "localhost/run",
                "localhost",
                "run",
                None,
                "localhost/run:latest",
            ),
            (
                "localhost:5000/run:1",
                "localhost:5000",
                "run",
                Some("1"),
                "localhost:5000/run:1",
            ),
            (
                "127.0.0.1:5055/run:multi",
                "127.0.0.1:5055",
                "run",
                Some("multi"),
                "127.0.0.1:5055/run:multi",
            ),
            (
                "quay.io/stilettos/myrunimage:1.0",
                "quay.io",
                "stilettos/myrunimage",
                Some("1.0"),
                "quay.io/stilettos/myrunimage:1.0",
            ),
            (
                "[::1]:5000/a/b",
                "[::1]:5000",
                "a/b",
                None,
                "[::1]:5000/a/b:latest",
            ),
            ("[fe80::1]/a", "[fe80::1]", "a", None, "[fe80::1]/a:latest"),
            (
                "Registry.Example.com/a",
                "Registry.Example.com",
                "a",
                None,
                "Registry.Example.com/a:latest",
            ),
            (
                "a/b__c/d-e.f_g---h",
                "docker.io",
                "a/b__c/d-e.f_g---h",
                None,
                "docker.io/a/b__c/d-e.f_g---h:latest",
            ),
            (
                "my-host:5000/a/b:v1.2-rc_3",
                "my-host:5000",
                "a/b",
                Some("v1.2-rc_3"),
                "my-host:5000/a/b:v1.2-rc_3",
            ),
        ];
        for (input, registry, repo, tag, canonical) in cases {
            let r = ok(input);
            assert_eq!(r.registry(), registry, "{input}");
            assert_eq!(r.repository(), repo, "{input}");
            assert_eq!(r.tag(), tag, "{input}");
            assert_eq!(r.canonical(), canonical, "{input}");
            assert_eq!(
                r.to_string(),
                input,
                "display keeps the spelling of {input}"
            );
        }
    }

    #[test]
    fn digests() {
        let r = ok(&format!("127.0.0.1:5055/run@sha256:{HEX}"));
        assert_eq!(r.digest().unwrap().hex(), HEX);
        assert_eq!(r.tag(), None);
        let r = ok(&format!("ubuntu:22.04@sha256:{HEX}"));
        assert_eq!(r.tag(), Some("22.04"));
        assert_eq!(
            r.canonical(),
            format!("docker.io/library/ubuntu@sha256:{HEX}"),
            "a digest pins the content: the tag is dropped, as ParseDockerRef does"
        );
        let d: Digest = format!("sha256:{HEX}").parse().unwrap();
        assert_eq!(
            ok("index.docker.io/x/run:1").with_digest(&d).to_string(),
            format!("index.docker.io/x/run@sha256:{HEX}"),
            "with_digest keeps the written name and drops the tag"
        );
    }

    #[test]
    fn rejects_with_a_reason() {
        let tag129 = format!("a:{}", "t".repeat(129));
        let tag128 = format!("a:{}", "t".repeat(128));
        ok(&tag128);
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "empty"),
            ("Ubuntu".into(), "lowercase"),
            ("docker.io/Library/ubuntu".into(), "lowercase"),
            ("a/".into(), "empty path component"),
            ("a//b".into(), "empty path component"),
            ("a:".into(), "empty tag"),
            ("a:.x".into(), "tag"),
            (tag129, "at most 128"),
            ("a-/b".into(), "start and end"),
            ("a/b.-c".into(), "separator"),
            ("a@sha256:abc".into(), "64"),
            (format!("a@sha512:{HEX}"), "only sha256"),
            ("host:9x/a".into(), "port"),
            ("host:/a".into(), "port"),
            ("-host.com/a".into(), "host name"),
            ("[::1/a".into(), "IPv6"),
            ("[zz::1]/a".into(), "IPv6"),
            (HEX.into(), "image ID"),
            (" a".into(), "whitespace"),
        ];
        for (input, want) in cases {
            let err = input
                .parse::<Reference>()
                .expect_err(&format!("{input:?} must be rejected"))
                .to_string();
            assert!(err.contains(want), "{input:?}: {err}");
            assert!(
                err.contains(&format!("{input:?}")),
                "error quotes the input: {err}"
            );
        }
    }

    #[test]
    fn docker_hub_spellings_share_one_familiar_name() {
        // written, familiar (what the Engine shows and its `reference=` filter matches)
        let cases = [
            (
                "paketobuildpacks/run-jammy-base",
                "paketobuildpacks/run-jammy-base",
            ),
            (
                "docker.io/paketobuildpacks/run-jammy-base",
                "paketobuildpacks/run-jammy-base",
            ),
            (
                "index.docker.io/paketobuildpacks/run-jammy-base",
                "paketobuildpacks/run-jammy-base",
            ),
            (
                "registry-1.docker.io/paketobuildpacks/run-jammy-base",
                "paketobuildpacks/run-jammy-base",
            ),
            ("ubuntu", "ubuntu"),
            ("library/ubuntu", "ubuntu"),
            ("docker.io/ubuntu", "ubuntu"),
            ("index.docker.io/library/ubuntu", "ubuntu"),
            ("docker.io/library/foo/bar", "library/foo/bar"),
            (
                "127.0.0.1:5000/library/ubuntu",
                "127.0.0.1:5000/library/ubuntu",
            ),
            ("quay.io/x/y", "quay.io/x/y"),
        ];
        for (written, familiar) in cases {
            let r = ok(&format!("{written}:1"));
            assert_eq!(r.familiar_name(), familiar, "{written}");
            assert_eq!(
                r.is_docker_hub(),
                !familiar.contains(':') && !familiar.contains('.')
            );
        }
        assert!(ok("index.docker.io/library/ubuntu").same_repository(&ok("ubuntu")));
        assert_eq!(
            ok("registry-1.docker.io/x/y:1").daemon_names(),
            ["docker.io/x/y:1", "registry-1.docker.io/x/y:1"]
        );
        assert_eq!(
            ok("ubuntu").daemon_names(),
            ["docker.io/library/ubuntu", "ubuntu"]
        );
        assert_eq!(ok("docker.io/x/y:1").daemon_names(), ["docker.io/x/y:1"]);
        assert_eq!(ok("127.0.0.1:5/r:1").daemon_names(), ["127.0.0.1:5/r:1"]);
        assert!(ok("registry-1.docker.io/x/y").same_repository(&ok("docker.io/x/y")));
    }

    #[test]
    fn port_versus_tag() {
        let r = ok("host:5000/a");
        assert_eq!((r.registry(), r.tag()), ("host:5000", None));
        // No '.', ':' or `localhost` in the first component: a Docker Hub path, not a host.
        let r = ok("host/a:5000");
        assert_eq!(
            (r.registry(), r.repository().as_str(), r.tag()),
            ("docker.io", "host/a", Some("5000"))
        );
        let r = ok("host.lan/a:5000");
        assert_eq!((r.registry(), r.tag()), ("host.lan", Some("5000")));
        let r = ok("a:5000");
        assert_eq!((r.registry(), r.tag()), ("docker.io", Some("5000")));
    }

    #[test]
    fn image_refs() {
        assert!(matches!(ImageRef::parse(HEX), Ok(ImageRef::Id(_))));
        assert!(matches!(
            ImageRef::parse(&format!("sha256:{HEX}")),
            Ok(ImageRef::Id(_))
        ));
        assert!(matches!(ImageRef::parse("run:1"), Ok(ImageRef::Name(_))));
        assert_eq!(ImageRef::parse(HEX).unwrap().to_string(), HEX);
    }

    #[test]
    fn hub_repository() {
        let r = ok("ubuntu");
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "library/ubuntu");
    }
}
