//! `runref inspect`: the daemon side, the registry side, their referrers, the link.

use super::*;

pub fn inspect(out: &mut dyn Write, r: &InspectReport) -> io::Result<()> {
    writeln!(out, "{}", r.image)?;
    match (&r.daemon, &r.daemon_error) {
        (Some(d), _) => daemon_side(out, d, r.docker_context.as_deref())?,
        (None, Some(e)) => writeln!(out, "├─ daemon: {e}")?,
        (None, None) => writeln!(out, "├─ daemon: not asked (--no-daemon)")?,
    }
    match (&r.registry, &r.registry_error) {
        (Some(v), _) => registry_side(out, r, v)?,
        (None, Some(e)) => writeln!(out, "├─ registry: {e}")?,
        (None, None) => writeln!(out, "├─ registry: not asked")?,
    }
    referrers(out, &r.referrers, r.referrers_error.as_deref())?;
    match &r.link {
        Some(l) => writeln!(
            out,
            "└─ link: {}{}",
            l.explanation,
            l.proof
                .map(|p| format!(" (proof: {})", p))
                .unwrap_or_default()
        ),
        None => writeln!(out, "└─ link: needs both sides"),
    }
}

/// inspect's daemon side.
pub(super) fn daemon_side(
    out: &mut dyn Write,
    d: &crate::model::local::DaemonSide,
    context: Option<&str>,
) -> io::Result<()> {
    let via = context
        .map(|c| format!(", Docker context {c}"))
        .unwrap_or_default();
    writeln!(out, "├─ daemon ({}{via})", d.store)?;
    writeln!(out, "│  ├─ id:           {}", d.image_id)?;
    let platform = d
        .platform
        .as_ref()
        .map_or("unknown".into(), |p| p.to_string());
    if d.available.is_empty() {
        writeln!(out, "│  ├─ platform:     {platform}")?;
    } else {
        writeln!(
            out,
            "│  ├─ platform:     {platform} (what a lookup without platform gives)"
        )?;
        let available: Vec<String> = d.available.iter().map(|p| p.to_string()).collect();
        writeln!(out, "│  ├─ available:    {}", available.join(", "))?;
    }
    writeln!(out, "│  ├─ tags:         {}", list(&d.tags))?;
    writeln!(out, "│  └─ repo digests: {}", list(&d.repo_digests))
}

/// inspect's registry side: the top, then each entry with its notes.
pub(super) fn registry_side(
    out: &mut dyn Write,
    r: &InspectReport,
    v: &crate::model::view::RemoteView,
) -> io::Result<()> {
    writeln!(out, "├─ registry: {}", v.reference)?;
    if let Some(t) = &v.resolved_from {
        writeln!(out, "│  ├─ resolved from: {t}")?;
    }
    for (registry, url) in mirrored(&r.registry_endpoints) {
        writeln!(out, "│  ├─ read through mirror: {url} (for {registry})")?;
    }
    writeln!(out, "│  ├─ media type: {}", v.media_type)?;
    let n = v.entries.len();
    for (i, e) in v.entries.iter().enumerate() {
        let branch = if i + 1 == n { "└─" } else { "├─" };
        let platform = e
            .platform
            .as_ref()
            .map_or("(none)".into(), |p| p.to_string());
        let marked = r
            .platform
            .as_ref()
            .is_some_and(|p| e.platform.as_ref().is_some_and(|q| p.matches(q)));
        let mut notes = vec![];
        if e.attestation {
            notes.push(format!(
                "attestation{}",
                e.attests
                    .as_ref()
                    .and_then(|d| d.parse::<crate::model::digest::Digest>().ok())
                    .map(|d| format!(" of {}", d.short()))
                    .unwrap_or_default()
            ));
        }
        if e.lacks_variant {
            notes.push("no variant in index".into());
        }
        if marked {
            notes.push("<- --platform".into());
        }
        if let Some(l) = &r.link {
            if l.entry.as_ref() == Some(&e.digest) {
                notes.push("<- local image".into());
            }
        }
        writeln!(
            out,
            "│  {branch} {:<16} {}  {:>6} B{}{}",
            if e.attestation {
                "unknown/unknown".to_string()
            } else {
                platform
            },
            e.digest.short(),
            e.size,
            e.config
                .as_ref()
                .map(|c| format!("  config {}", c.short()))
                .unwrap_or_default(),
            if notes.is_empty() {
                String::new()
            } else {
                format!("  [{}]", notes.join(", "))
            }
        )?;
        if let Some(err) = &e.error {
            writeln!(
                out,
                "│  {}    error: {err}",
                if i + 1 == n { " " } else { "│" }
            )?;
        }
    }
    Ok(())
}

/// Referrers under their subjects: artifact type, digest, size, creation time, and what else
/// people look for; a signature of an SBOM under the SBOM.
pub(super) fn referrers(
    out: &mut dyn Write,
    subjects: &[crate::registry::referrers::SubjectReferrers],
    error: Option<&str>,
) -> io::Result<()> {
    fn walk(
        out: &mut dyn Write,
        rs: &[crate::registry::referrers::Referrer],
        indent: usize,
    ) -> io::Result<()> {
        for r in rs {
            let short = r.digest.short();
            let created = r
                .annotations
                .get("org.opencontainers.image.created")
                .map(|c| format!("  created {}", clean(c)))
                .unwrap_or_default();
            writeln!(
                out,
                "│  {:indent$}<- {} {short} {} B{created}{}",
                "",
                clean(r.artifact_type.as_deref().unwrap_or("(no artifact type)")),
                r.size,
                match (&r.error, &r.names_other_subject) {
                    (Some(e), _) => format!("  (unreadable: {})", clean(e)),
                    (None, Some(o)) => format!(
                        "  (its manifest names another subject, {}: not counted)",
                        clean(o)
                    ),
                    (None, None) => String::new(),
                },
            )?;
            walk(out, &r.referrers, indent + 3)?;
        }
        Ok(())
    }
    if let Some(e) = error {
        writeln!(out, "├─ referrers: {e}")?;
    }
    for s in subjects {
        let short = s.subject.short();
        let via = match s.via {
            "referrers-api" => "the registry's referrers API",
            _ => "fallback tag",
        };
        writeln!(out, "├─ referrers of {short} (listed by {via}):")?;
        if let Some(e) = &s.listing_error {
            writeln!(out, "│  warning: {}", clean(e))?;
        }
        walk(out, &s.referrers, 0)?;
        for t in &s.cosign_tags {
            let short = t
                .digest
                .as_ref()
                .map_or("(unreadable)".to_string(), |d| d.short());
            writeln!(
                out,
                "│  <- {} {short}  (cosign tag {})",
                clean(
                    t.artifact_type
                        .as_deref()
                        .unwrap_or("(not a signature: an image or index)")
                ),
                clean(&t.tag),
            )?;
        }
    }
    Ok(())
}
