//! Platforms (`os/arch[/variant]`), normalised and matched the way containerd's `platforms`
//! package does, so `linux/arm64/v8` matches an index entry `linux/arm64` and `aarch64` is
//! `arm64`. Values are lower-cased first.

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
        }
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

    /// containerd's exact matcher on normalised values.
    pub fn matches(&self, other: &Platform) -> bool {
        self == other
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
                "expected os/arch[/variant], os or arch, e.g. linux/arm64/v8",
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
