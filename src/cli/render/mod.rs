//! Renderers: every report as text for people or JSON for machines, written to any `Write`.
//! The page (its lines, labels and order) is laid out here, a module per command; the words of
//! the reports' typed reasons, warnings, failures, stores and proofs come from
//! [`crate::message`]. Text goes to `out`, warnings and errors to `err`.

use crate::commands::diagnose::DiagnoseReport;
use crate::commands::inspect::InspectReport;
use crate::commands::publish::PublishReport;
use crate::commands::reconcile::decide::Mode;
use crate::commands::reconcile::{PlatformSource, Report};
use crate::commands::verify::{Problem, VerifyReport};
use crate::model::policy::PullPolicy;
use crate::registry::Endpoints;
use std::io::{self, Write};

mod diagnose;
mod inspect;
mod publish;
mod reconcile;
mod sync;
mod verify;
pub use diagnose::diagnose;
pub use inspect::inspect;
pub use publish::publish;
pub use reconcile::{reconcile, ReconcileView};
pub use sync::{sync, sync_line};
pub use verify::verify;

/// A report as pretty JSON, one object, newline-terminated.
pub fn json<T: serde::Serialize>(out: &mut dyn Write, v: &T) -> io::Result<()> {
    // Serialised whole first: an I/O error (a closed pipe) then keeps its kind.
    let text = serde_json::to_string_pretty(v).map_err(io::Error::other)?;
    writeln!(out, "{text}")
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

/// The registries a mirror answered for, with the mirror's URL.
fn mirrored(endpoints: &Endpoints) -> impl Iterator<Item = (&String, &String)> {
    endpoints
        .iter()
        .filter(|(_, by)| by.mirror)
        .map(|(registry, by)| (registry, &by.url))
}

/// A line per registry that a mirror answered for (`docker.io` read through a mirror).
fn mirrors(out: &mut dyn Write, endpoints: &Endpoints) -> io::Result<()> {
    for (registry, url) in mirrored(endpoints) {
        writeln!(out, "  {registry} read through mirror {url}")?;
    }
    Ok(())
}

fn bytes_text(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / (1 << 10) as f64),
        n => format!("{n} B"),
    }
}

/// The PLATFORM column: as wide as the widest platform (Windows ones carry os.version), at
/// least 16.
fn column_width<'a>(
    platforms: impl Iterator<Item = Option<&'a crate::model::platform::Platform>>,
) -> usize {
    platforms
        .flatten()
        .map(|p| p.to_string().len())
        .max()
        .unwrap_or(0)
        .max(16)
}

/// Text from a registry, safe for a terminal: control characters (ESC, newlines) are shown
/// escaped, so a registry cannot clear the screen or forge a line of output.
fn clean(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c.is_control() {
            true => c.escape_default().collect::<Vec<_>>(),
            false => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    /// A registry's text cannot drive the terminal: ESC and newlines are shown escaped
    /// (the newcomer pass forged a "verified" line through an artifactType).
    #[test]
    fn registry_text_is_shown_with_control_characters_escaped() {
        let forged = "application/spdx+json\u{1b}[31m\nverified: fake";
        let shown = clean(forged);
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\n'),
            "{shown}"
        );
        assert!(shown.starts_with("application/spdx+json\\u{1b}"), "{shown}");
    }

    use super::*;
    use crate::registry::AnsweredBy;

    /// Docker Hub answering itself is not "read through mirror https://registry-1.docker.io"
    /// (issue 18: the kind was guessed from the URL text).
    #[test]
    fn only_a_mirror_is_called_one() {
        let mut e = Endpoints::new();
        e.insert(
            "docker.io".into(),
            AnsweredBy {
                url: "https://registry-1.docker.io".into(),
                mirror: false,
            },
        );
        e.insert(
            "quay.io".into(),
            AnsweredBy {
                url: "https://quay.io".into(),
                mirror: false,
            },
        );
        let mut out = Vec::new();
        mirrors(&mut out, &e).unwrap();
        assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
        e.insert(
            "docker.io".into(),
            AnsweredBy {
                url: "http://10.0.0.5:5000".into(),
                mirror: true,
            },
        );
        let mut out = Vec::new();
        mirrors(&mut out, &e).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            "  docker.io read through mirror http://10.0.0.5:5000\n"
        );
    }
}
