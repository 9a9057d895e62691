//! Platforms (`os/arch[/variant][:os.version]`), normalised and matched the way containerd's
//! `platforms` package does, so `linux/arm64/v8` matches an index entry `linux/arm64` and
//! `aarch64` is `arm64`. Values are lower-cased first. Windows `os.version`
//! (`10.0.20348.2849`) is part of a platform's identity (two Windows builds are two platforms)
//! and matched as containerd's Windows matcher does ([`Platform::matches`]).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {input:?}: {reason}")]
pub struct PlatformError {
    pub input: String,
    pub reason: &'static str,
}

/// A normalised platform. Construct with [`Platform::new`] or parse; fields are normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    os: String,
    arch: String,
    variant: Option<String>,
    /// Windows `os.version` (`major.minor.build[.revision]`), when known.
    os_version: Option<String>,
}

fn normalize_os(os: &str) -> String {
    match os.to_ascii_lowercase().as_str() {
        "macos" => "darwin".into(),
        other => other.into(),
    }
}

/// containerd `normalizeArch`: returns (arch, variant) with variant "" meaning none.
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.to_ascii_lowercase();
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let v = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64".into(), v)
        }
        "aarch64" | "arm64" => {
            let v = match variant.as_str() {
                "8" | "v8" | "v8.0" => String::new(),
                "9" | "9.0" | "v9.0" => "v9".into(),
                _ => variant,
            };
            ("arm64".into(), v)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".into(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".into(), v)
        }
        _ => (arch, variant),
    }
}

impl Platform {
    /// A normalised platform from raw parts, as found in configs, index entries and daemons.
    pub fn new(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        let (arch, variant) = normalize_arch(arch, variant.unwrap_or(""));
        Platform {
            os: normalize_os(os),
            arch,
            variant: (!variant.is_empty()).then_some(variant),
            os_version: None,
        }
    }

    /// The same platform with `os.version` (an empty one is none).
    pub fn with_os_version(mut self, v: Option<&str>) -> Platform {
        self.os_version = v
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        self
    }

    pub fn os_version(&self) -> Option<&str> {
        self.os_version.as_deref()
    }

    /// The same platform without `os.version`.
    pub fn base(&self) -> Platform {
        Platform {
            os_version: None,
            ..self.clone()
        }
    }

    /// Does `candidate` (an index entry's or config's platform) satisfy this wanted platform?
    /// os, architecture and variant equal after normalisation (containerd's exact matcher);
    /// `os.version` as containerd's Windows matcher: either side without one matches; else
    /// major.minor must be equal and, below Windows Server 2022 (build 20348), the build too;
    /// from 2022 on, a build from 20348 up to the wanted one (the stable ABI). The revision
    /// never decides a match (see [`Platform::better`]).
    pub fn matches(&self, candidate: &Platform) -> bool {
        if (&self.os, &self.arch, &self.variant)
            != (&candidate.os, &candidate.arch, &candidate.variant)
        {
            return false;
        }
        match (&self.os_version, &candidate.os_version) {
            (Some(want), Some(have)) => windows_compatible(want, have),
            _ => true,
        }
    }

    /// Do an index entry's and its config's platforms say the same? os, architecture and
    /// variant equal, and `os.version` equal where both write one.
    pub fn agrees_with(&self, config: &Platform) -> bool {
        (&self.os, &self.arch, &self.variant) == (&config.os, &config.arch, &config.variant)
            && match (&self.os_version, &config.os_version) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    /// Of two candidates that both match, is `a` preferred over `b`? The higher os.version
    /// (build, then revision) first, as containerd's Windows comparer and regclient prefer
    /// the latest revision.
    pub fn better(a: &Platform, b: &Platform) -> bool {
        windows_version(a.os_version()) > windows_version(b.os_version())
    }

    pub fn os(&self) -> &str {
        &self.os
    }
    pub fn arch(&self) -> &str {
        &self.arch
    }
    pub fn variant(&self) -> Option<&str> {
        self.variant.as_deref()
    }

    /// `unknown/unknown`, which BuildKit gives attestation manifests.
    pub fn is_unknown(&self) -> bool {
        self.os == "unknown" && self.arch == "unknown"
    }

    /// The platform of the machine runref runs on (the daemon's platform is preferred).
    pub fn host() -> Platform {
        Platform::new(std::env::consts::OS, host_arch(), None)
    }
}

/// The Go/OCI name of the architecture runref was built for. Rust's names differ from Go's for
/// some (`x86` = `386`, `powerpc64` = `ppc64`/`ppc64le`, `loongarch64` = `loong64`, `mips64` =
/// `mips64`/`mips64le`); the rest normalise through [`normalize_arch`].
fn host_arch() -> &'static str {
    let little = cfg!(target_endian = "little");
    match std::env::consts::ARCH {
        "x86" => "386",
        "powerpc64" if little => "ppc64le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        "loongarch64" => "loong64",
        "mips64" if little => "mips64le",
        "mips" if little => "mipsle",
        "sparc64" => "sparc64",
        other => other,
    }
}

/// `major.minor.build.revision` as numbers (missing parts 0), for ordering; None when absent
/// or not numeric.
pub fn windows_version(v: Option<&str>) -> Option<(u32, u32, u32, u32)> {
    let mut it = v?.split('.').map(|p| p.parse::<u32>().ok());
    let mut next = || it.next().unwrap_or(Some(0));
    Some((next()?, next()?, next()?, next()?))
}

/// containerd `checkWindowsHostAndContainerCompat`: can a host (the wanted version) run a
/// container image of `ctr`'s version? Unparseable versions compare as text.
pub fn windows_compatible(host: &str, ctr: &str) -> bool {
    /// Windows Server 2022: the first stable-ABI LTSC release.
    const LTSC2022: u32 = 20348;
    match (windows_version(Some(host)), windows_version(Some(ctr))) {
        (Some((hmaj, hmin, hb, _)), Some((cmaj, cmin, cb, _))) => {
            if (hmaj, hmin) != (cmaj, cmin) {
                false
            } else if hb < LTSC2022 {
                hb == cb
            } else {
                (LTSC2022..=hb).contains(&cb)
            }
        }
        _ => host == ctr,
    }
}

/// containerd `isKnownOS`: a one-part selector that names one of these is an OS.
const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "windows",
    "zos",
];

/// containerd `isKnownArch` (after normalisation): a one-part selector naming one of these is
/// an architecture.
const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "ppc64",
    "ppc64le",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason| PlatformError {
            input: input.into(),
            reason,
        };
        // crane's syntax: os/arch[/variant][:os.version] (Windows: windows/amd64:10.0.20348).
        let (input, os_version) = match input.split_once(':') {
            Some((p, v)) => {
                let parts: Vec<&str> = v.split('.').collect();
                let numeric = parts.iter().all(|x| {
                    !x.is_empty() && x.len() <= 10 && x.bytes().all(|b| b.is_ascii_digit())
                });
                if !numeric || !(2..=4).contains(&parts.len()) {
                    return Err(err(
                        "os.version after ':' is major.minor[.build[.revision]], e.g. windows/amd64:10.0.20348",
                    ));
                }
                if !p.to_ascii_lowercase().starts_with("windows/") {
                    return Err(err(
                        "os.version is matched for Windows platforms only, e.g. windows/amd64:10.0.20348",
                    ));
                }
                (p, Some(v))
            }
            None => (input, None),
        };
        let parsed = parse_parts(input).map_err(err)?;
        Ok(parsed.with_os_version(os_version))
    }
}

fn parse_parts(input: &str) -> Result<Platform, &'static str> {
    {
        let err = |reason| reason;
        let parts: Vec<&str> = input.split('/').collect();
        let ok_part = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        if !parts.iter().all(ok_part) {
            return Err(err(
                "each part must be non-empty letters, digits, '_', '-' or '.'",
            ));
        }
        match parts.as_slice() {
            // containerd: one part is an OS (with the host's architecture) when it names a known
            // OS, else an architecture (with the host's OS) when it names a known one.
            [one] => {
                let os = normalize_os(one);
                if KNOWN_OS.contains(&os.as_str()) {
                    let host = Platform::host();
                    return Ok(Platform { os, ..host });
                }
                let p = Platform::new(std::env::consts::OS, one, None);
                if KNOWN_ARCH.contains(&p.arch.as_str()) {
                    Ok(p)
                } else {
                    Err(err(
                        "unknown operating system or architecture; expected os/arch[/variant] \
                         (linux/arm64/v8), an OS (linux) or an architecture (arm64)",
                    ))
                }
            }
            [os, arch] => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] => Ok(Platform::new(os, arch, Some(variant))),
            _ => Err(err(
                "expected os/arch[/variant][:os.version], os or arch, e.g. linux/arm64/v8",
            )),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        if let Some(v) = &self.os_version {
            write!(f, ":{v}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn normalisation_table() {
        let cases = [
            ("linux/amd64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("linux/x86-64", "linux/amd64"),
            ("linux/amd64/v1", "linux/amd64"),
            ("linux/amd64/v3", "linux/amd64/v3"),
            ("linux/aarch64", "linux/arm64"),
            ("linux/arm64/v8", "linux/arm64"),
            ("linux/arm64/8", "linux/arm64"),
            ("linux/arm64/v8.0", "linux/arm64"),
            ("linux/arm64/v9", "linux/arm64/v9"),
            ("linux/arm64/9", "linux/arm64/v9"),
            ("linux/arm64/9.0", "linux/arm64/v9"),
            ("linux/arm64/v9.0", "linux/arm64/v9"),
            ("linux/arm64/v9.2", "linux/arm64/v9.2"),
            ("linux/armhf", "linux/arm/v7"),
            ("linux/armel", "linux/arm/v6"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/arm/7", "linux/arm/v7"),
            ("linux/arm/6", "linux/arm/v6"),
            ("linux/arm/5", "linux/arm/v5"),
            ("linux/arm/8", "linux/arm/v8"),
            ("linux/i386", "linux/386"),
            ("Linux/ARM64", "linux/arm64"),
            ("macos/arm64", "darwin/arm64"),
            ("linux/s390x", "linux/s390x"),
            ("linux/ppc64le", "linux/ppc64le"),
            ("unknown/unknown", "unknown/unknown"),
        ];
        for (input, want) in cases {
            assert_eq!(p(input).to_string(), want, "{input}");
        }
    }

    #[test]
    fn matching() {
        assert!(p("linux/arm64/v8").matches(&Platform::new("linux", "arm64", None)));
        assert!(p("linux/arm/v7").matches(&Platform::new("linux", "arm", None)));
        assert!(!p("linux/arm/v6").matches(&Platform::new("linux", "arm", None)));
        assert!(!p("linux/amd64").matches(&p("linux/arm64")));
        assert!(!p("linux/amd64").matches(&p("windows/amd64")));
        assert!(p("unknown/unknown").is_unknown());
    }

    #[test]
    fn host_uses_go_names() {
        let h = Platform::host();
        assert!(KNOWN_ARCH.contains(&h.arch()), "{h}");
        assert!(KNOWN_OS.contains(&h.os()), "{h}");
    }

    #[test]
    fn one_part_selectors() {
        let host = Platform::host();
        assert_eq!(
            p("linux"),
            Platform {
                os: "linux".into(),
                ..host.clone()
            }
        );
        assert_eq!(p("arm64").to_string(), format!("{}/arm64", host.os()));
        assert_eq!(p("armhf").to_string(), format!("{}/arm/v7", host.os()));
    }

    #[test]
    fn rejects() {
        for bad in [
            "linx",
            "",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "linux/am d64",
        ] {
            let e = bad.parse::<Platform>().unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}
