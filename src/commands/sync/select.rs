//! Pure choices of a sync: which listed tags an image takes, and which images a shard runs.

use super::file::TagRule;
use sha2::{Digest as _, Sha256};

/// The tags `rule` takes from `listed` (the repository's tag list; empty when not read):
/// the named ones first, in the file's order, then the listed ones that pass allow, deny and
/// semver, in the list's order (or, with `newest`, the N highest versions, highest first).
/// Referrer tags (`sha256-<hex>`, cosign's `.sig`/`.att`/`.sbom`) are never taken: a copy
/// carries them with their subject.
pub fn tags(rule: &TagRule, listed: &[String]) -> Vec<String> {
    let mut out = rule.exact.clone();
    if !rule.lists() {
        return out;
    }
    let passing: Vec<&String> = listed
        .iter()
        .filter(|t| !t.starts_with("sha256-"))
        .filter(|t| rule.allow.is_empty() || rule.allow.iter().any(|r| r.is_match(t)))
        .filter(|t| !rule.deny.iter().any(|r| r.is_match(t)))
        .filter(|t| {
            rule.semver
                .as_ref()
                .is_none_or(|req| version(t).is_some_and(|v| req.matches(&v)))
        })
        .collect();
    let chosen: Vec<&String> = match rule.newest {
        None => passing,
        Some(n) => {
            // Releases only: a pre-release (`1.4-rc1`) is not among the newest.
            let mut versioned: Vec<(semver::Version, &String)> = passing
                .into_iter()
                .filter_map(|t| version(t).map(|v| (v, t)))
                .filter(|(v, _)| v.pre.is_empty())
                .collect();
            // Highest first; equal versions (`1.2` and `v1.2.0`) by name, for a stable order.
            versioned.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
            versioned.into_iter().take(n).map(|(_, t)| t).collect()
        }
    };
    for t in chosen {
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    out
}

/// A tag read as a version: semver, a leading `v` allowed, and `1` or `1.2` taken as `1.0.0`
/// and `1.2.0` (image tags rarely spell all three parts). None for anything else.
pub fn version(tag: &str) -> Option<semver::Version> {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    if let Ok(v) = semver::Version::parse(t) {
        return Some(v);
    }
    // The numeric core may be short; what follows (`-rc1`, `+build`) is kept.
    let cut = t.find(['-', '+']).unwrap_or(t.len());
    let (core, rest) = t.split_at(cut);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 2
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let padded = match parts.len() {
        1 => format!("{}.0.0{rest}", parts[0]),
        _ => format!("{}.{}.0{rest}", parts[0], parts[1]),
    };
    semver::Version::parse(&padded).ok()
}

/// `--shard K/N`: the K-th of N disjoint parts (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: u64,
    pub n: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: give K/N, e.g. 2/4 (the second of four runners)"))?;
        let num = |x: &str| {
            x.trim()
                .parse::<u64>()
                .map_err(|_| format!("{s:?}: K and N are whole numbers"))
        };
        let (k, n) = (num(k)?, num(n)?);
        if n == 0 || n > 10_000 || k == 0 || k > n {
            return Err(format!("{s:?}: K must be 1..=N and N 1..=10000"));
        }
        Ok(Shard { k, n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

impl Shard {
    /// Whether the image whose source is `name` (its canonical repository name) belongs to
    /// this shard: the first 8 bytes of SHA-256 of the name, big-endian, modulo N, plus one.
    /// Stable across runs, machines and versions (spec-notes, "sync").
    pub fn takes(&self, name: &str) -> bool {
        shard_of(name, self.n) == self.k
    }
}

/// The shard (1..=n) of `name`.
pub fn shard_of(name: &str, n: u64) -> u64 {
    let h = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h[..8]);
    u64::from_be_bytes(first) % n + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        exact: &[&str],
        allow: &[&str],
        deny: &[&str],
        semver: Option<&str>,
        newest: Option<usize>,
    ) -> TagRule {
        let re = |ps: &[&str]| {
            ps.iter()
                .map(|p| regex::Regex::new(&format!("^(?:{p})$")).unwrap())
                .collect()
        };
        TagRule {
            exact: exact.iter().map(|s| s.to_string()).collect(),
            allow: re(allow),
            deny: re(deny),
            semver: semver.map(|s| semver::VersionReq::parse(s).unwrap()),
            newest,
        }
    }

    #[test]
    fn tags_are_chosen_as_the_file_says() {
        let listed: Vec<String> = [
            "latest",
            "1.0",
            "1.2.0",
            "v1.3.1",
            "1.4-rc1",
            "2.0.0",
            "edge",
            "sha256-abc",
            "sha256-abc.sig",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let t = |r: TagRule| tags(&r, &listed);
        assert_eq!(
            t(rule(&["latest"], &[], &[], None, None)),
            ["latest"],
            "named only"
        );
        assert_eq!(
            t(rule(&[], &[], &[], None, None)).len(),
            7,
            "every tag but referrer tags"
        );
        assert_eq!(
            t(rule(&[], &[r"\d.*"], &[r".*-rc\d*"], None, None)),
            ["1.0", "1.2.0", "2.0.0"]
        );
        assert_eq!(
            t(rule(&[], &[], &[], Some(">=1.2, <2"), None)),
            ["1.2.0", "v1.3.1"]
        );
        assert_eq!(
            t(rule(&["edge"], &[], &[], None, Some(2))),
            ["edge", "2.0.0", "v1.3.1"],
            "named first, then the two highest"
        );
    }

    #[test]
    fn versions_are_read_leniently() {
        assert_eq!(version("1.2").unwrap().to_string(), "1.2.0");
        assert_eq!(version("v3").unwrap().to_string(), "3.0.0");
        assert_eq!(version("1.4-rc1").unwrap().to_string(), "1.4.0-rc1");
        for t in ["latest", "1.2.3.4", "1..2", "", "v", "1.x"] {
            assert!(version(t).is_none(), "{t}");
        }
    }

    /// The shards (of 4) of app0..app7, computed apart from this code (Python's hashlib).
    const PINNED: [u64; 8] = [1, 2, 2, 1, 4, 1, 4, 4];

    #[test]
    fn shards_cover_every_name_exactly_once() {
        let names: Vec<String> = (0..200)
            .map(|i| format!("registry.example.com/team/app{i}"))
            .collect();
        for n in 1..=4 {
            let shards: Vec<Shard> = (1..=n).map(|k| Shard { k, n }).collect();
            for name in &names {
                assert_eq!(
                    shards.iter().filter(|s| s.takes(name)).count(),
                    1,
                    "{name} in {n}"
                );
            }
        }
        // Fixed: the rule never changes between versions (a CI matrix of old and new runref).
        let pinned: Vec<u64> = names[..8].iter().map(|n| shard_of(n, 4)).collect();
        assert_eq!(pinned, PINNED);
        for bad in ["0/4", "5/4", "1/0", "x/2", "3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard { k: 2, n: 4 });
    }
}
