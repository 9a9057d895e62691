//! Pull policies, as pack names them (buildpacks/pack `pkg/image/pull_policy.go`).

use std::fmt;
use std::str::FromStr;

/// When runref may pull the run image into the daemon (and so contact its registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullPolicy {
    /// Never pull, never contact a registry.
    Never,
    /// Use a matching local image; pull only when there is none.
    IfNotPresent,
    /// Pull the target platform every time (daemon-only images excepted, see spec-notes.md).
    Always,
}

/// A policy as given, with how runref mapped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPolicy {
    pub policy: PullPolicy,
    /// The name given, when it was mapped (pack's interval policies act as if-not-present:
    /// runref keeps no record of pull times).
    pub interval: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pull policy {0:?}: use never, if-not-present or always (pack's hourly, daily, weekly and interval=<duration> are also accepted)")]
pub struct PolicyError(pub String);

impl FromStr for ParsedPolicy {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let plain = |policy| {
            Ok(ParsedPolicy {
                policy,
                interval: None,
            })
        };
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "never" => plain(PullPolicy::Never),
            // Empty (or blank) is unset, the default: a hook passing --pull-policy "$POLICY"
            // with the variable unset must not pull. pack maps empty to always; runref does
            // not follow it there (issue 19 newcomer pass, spec-notes).
            "if-not-present" | "ifnotpresent" | "missing" | "" => plain(PullPolicy::IfNotPresent),
            "always" => plain(PullPolicy::Always),
            "hourly" | "daily" | "weekly" => Ok(interval(&lower)),
            _ => match lower.strip_prefix("interval=") {
                Some(d) if valid_interval(d) => Ok(interval(&lower)),
                _ => Err(PolicyError(s.into())),
            },
        }
    }
}

/// pack's interval policies pull when the last pull is older than the interval. runref keeps
/// no record of pull times, so it treats them as if-not-present and says so.
fn interval(name: &str) -> ParsedPolicy {
    ParsedPolicy {
        policy: PullPolicy::IfNotPresent,
        interval: Some(name.to_string()),
    }
}

/// pack's `interval=` format: `<n>d`, `<n>h`, `<n>m` parts in that order, e.g. `1d2h3m`.
fn valid_interval(s: &str) -> bool {
    let mut rest = s;
    let mut any = false;
    for unit in ['d', 'h', 'm'] {
        if let Some(i) = rest.find(unit) {
            let (n, r) = rest.split_at(i);
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            rest = &r[1..];
            any = true;
        }
    }
    any && rest.is_empty()
}

impl fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PullPolicy::Never => "never",
            PullPolicy::IfNotPresent => "if-not-present",
            PullPolicy::Always => "always",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let p = |s: &str| s.parse::<ParsedPolicy>().map(|p| p.policy);
        assert_eq!(p("never"), Ok(PullPolicy::Never));
        assert_eq!(p("IF-NOT-PRESENT"), Ok(PullPolicy::IfNotPresent));
        assert_eq!(p("always"), Ok(PullPolicy::Always));
        assert_eq!(
            p(""),
            Ok(PullPolicy::IfNotPresent),
            "empty is unset: the default"
        );
        assert_eq!(p("  "), Ok(PullPolicy::IfNotPresent));
        assert_eq!(p("daily"), Ok(PullPolicy::IfNotPresent));
        assert_eq!(p("interval=1d2h3m"), Ok(PullPolicy::IfNotPresent));
        assert_eq!(p("interval=30m"), Ok(PullPolicy::IfNotPresent));
        assert!("daily".parse::<ParsedPolicy>().unwrap().interval.is_some());
        for bad in [
            "sometimes",
            "interval=",
            "interval=3x",
            "interval=m",
            "interval=2h1d",
        ] {
            let e = bad.parse::<ParsedPolicy>().unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}
