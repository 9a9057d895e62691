//! `index create` and `copy`: the plan, the transfer, the read-back, the referrers.

use super::*;

pub fn publish(out: &mut dyn Write, r: &PublishReport) -> io::Result<()> {
    if r.up_to_date {
        return up_to_date(out, r);
    }
    let kind = if r.media_type == crate::model::manifest::DOCKER_LIST {
        "Docker manifest list"
    } else if r.media_type == crate::model::manifest::OCI_INDEX {
        "OCI index"
    } else {
        "single manifest"
    };
    let verb = if r.dry_run { "would push" } else { "pushed" };
    writeln!(out, "{}: {verb} {} ({kind})", r.command, r.reference)?;
    if let (Some(src), Some(same)) = (&r.source_digest, r.digest_preserved) {
        if same {
            writeln!(
                out,
                "  byte-identical copy: the source's digest {src} is kept"
            )?;
        } else {
            writeln!(
                out,
                "  a new index of the chosen entries (source digest {src})"
            )?;
        }
    }
    if !r.tags.is_empty() {
        let tags = match (r.dry_run, r.tags_moved) {
            (true, _) => "would push in this order, after the read-back proves the result",
            (false, true) => "pushed in this order, after the read-back proved the result",
            (false, false) => {
                "NOT moved: the result was not proven; the target holds it by digest only"
            }
        };
        writeln!(out, "  tags ({tags}): {}", r.tags.join(", "))?;
    }
    planned_entries(out, r)?;
    transferred(out, r)?;
    if let Some(index) = &r.index {
        let text = index.get();
        writeln!(out, "index ({} bytes, {}):\n{text}", text.len(), r.digest)?;
    }
    if let Some(rb) = &r.readback {
        readback(out, r, rb)?;
    }
    carried(out, r)?;
    writeln!(out, "registry requests: {}", r.registry_requests)
}

/// A re-run that found its work done.
pub(super) fn up_to_date(out: &mut dyn Write, r: &PublishReport) -> io::Result<()> {
    writeln!(
        out,
        "{}: up to date: {} already holds the image {} under {} (nothing of the image written)",
        r.command,
        r.target,
        r.digest.short(),
        r.tags.join(", ")
    )?;
    if let Some(rb) = &r.readback {
        for p in &rb.problems {
            writeln!(out, "MISMATCH {}", p)?;
        }
        writeln!(
            out,
            "{}",
            if rb.verified {
                "its configs and executables proven again by digest"
            } else {
                "NOT verified: the target's content (the source's digest) is not what its platforms claim"
            }
        )?;
    }
    carried(out, r)?;
    writeln!(out, "registry requests: {}", r.registry_requests)
}

/// The entries of the result, and those left out.
pub(super) fn planned_entries(out: &mut dyn Write, r: &PublishReport) -> io::Result<()> {
    let width = column_width(r.entries.iter().map(|e| e.platform.as_ref()));
    writeln!(out, "  {:<width$} {:<19} SOURCE", "PLATFORM", "DIGEST")?;
    for e in &r.entries {
        let platform = match (&e.platform, e.attestation) {
            (_, true) => "attestation".to_string(),
            (Some(p), _) => p.to_string(),
            (None, _) => "?".to_string(),
        };
        let mut note = e.source_name.clone();
        if let Some(a) = &e.attests {
            note.push_str(&format!(" (attests {})", a.get(..19).unwrap_or(a)));
        }
        if e.variant_filled {
            note.push_str(" (variant filled from the config)");
        }
        writeln!(out, "  {platform:<width$} {:<19} {note}", e.digest.short())?;
    }
    for l in &r.left_out {
        writeln!(
            out,
            "  left out: {} {} from {} ({})",
            l.platform,
            l.digest.short(),
            l.source,
            l.why
        )?;
    }
    if r.attestations_dropped > 0 {
        writeln!(out, "  attestations left out: {}", r.attestations_dropped)?;
    }
    Ok(())
}

/// Blobs mounted, copied, already there; manifests pushed; foreign layers left out.
pub(super) fn transferred(out: &mut dyn Write, r: &PublishReport) -> io::Result<()> {
    let s = &r.summary;
    let (mounted, copied) = if r.dry_run {
        ("to mount", "to copy unless present")
    } else {
        ("mounted", "copied")
    };
    let manifests = if r.dry_run { "to push" } else { "pushed" };
    writeln!(
        out,
        "  blobs: {} {mounted}, {} {copied} ({}), {} already there; manifests {manifests}: {}",
        s.mounted,
        s.copied,
        bytes_text(s.bytes_copied),
        s.present,
        s.manifests_pushed
    )?;
    if s.foreign_left_out > 0 {
        writeln!(
            out,
            "  foreign layers left out: {} (not the registry's to give; the manifests keep their URLs, \
             as crane and skopeo; --allow-nondistributable copies them)",
            s.foreign_left_out
        )?;
    }
    Ok(())
}

/// The read-back's verdict on what was pushed.
pub(super) fn readback(
    out: &mut dyn Write,
    r: &PublishReport,
    rb: &crate::commands::publish::Readback,
) -> io::Result<()> {
    for p in &rb.problems {
        writeln!(out, "MISMATCH {}", p)?;
    }
    let platforms: Vec<String> = rb.platforms.iter().map(|p| p.to_string()).collect();
    let single = crate::model::manifest::MANIFEST_TYPES.contains(&r.media_type.as_str());
    let content_only = rb.problems.iter().all(|p| {
        matches!(
            p,
            Problem::ContentDisagrees { .. }
                | Problem::Unproven { .. }
                | Problem::Unreadable { .. }
        )
    });
    match (rb.verified, single) {
        (true, true) => writeln!(
            out,
            "verified by digest: the manifest ({}), its config{}{}",
            r.digest.short(),
            if rb.content { " and executables agree" } else { " agrees" },
            if r.entries.iter().any(|e| e.platform.is_some()) { "" } else { " (no platform declared)" }
        ),
        (true, false) => writeln!(
            out,
            "verified by digest: {} ({}), no duplicates, configs{} agree{}",
            if platforms.is_empty() { "the manifest".to_string() } else { platforms.join(", ") },
            r.digest.short(),
            if rb.content { " and executables" } else { "" },
            if r.entries.iter().any(|e| e.attestation) { ", attestations point inside" } else { "" }
        ),
        // The push matched the plan byte for byte; what is wrong is the source's content.
        (false, _) if content_only && !rb.problems.is_empty() => writeln!(
            out,
            "NOT verified: the source's content could not be proven (above: executables of another machine, \
             none found, or layers that do not read as their media type says; the push matched the plan); \
             no tag was moved"
        ),
        (false, _) => writeln!(
            out,
            "NOT verified: the pushed result is not what was planned; no tag was moved"
        ),
    }
}

/// copy's referrers: how many went, how the target lists them, what did not arrive.
pub(super) fn carried(out: &mut dyn Write, r: &PublishReport) -> io::Result<()> {
    if r.digest_preserved == Some(false) {
        writeln!(
            out,
            "note: a platform subset is a new index; referrers of the source index itself (signatures, SBOMs of the whole) do not apply to it and are not carried"
        )?;
    }
    if let Some(e) = &r.referrers_error {
        writeln!(
            out,
            "MISMATCH referrers not carried: {}; the image is proven and tagged (run again, or --referrers none)",
            clean(e)
        )?;
    }
    let Some(c) = &r.referrers else {
        return match r.verified || r.dry_run {
            true => writeln!(out, "referrers: not carried (--referrers none)"),
            false => Ok(()),
        };
    };
    if c.referrers == 0 && c.cosign_tags == 0 {
        return writeln!(
            out,
            "referrers: none to carry (none attached to the copied index and entries{})",
            match c.source.is_empty() {
                true => "",
                false => " of the chosen types",
            }
        );
    }
    let all = c.referrers + c.cosign_tags;
    let new = all
        .saturating_sub(c.already_there)
        .saturating_sub(c.conflicts.len());
    let verb = if r.dry_run { "would carry" } else { "carried" };
    writeln!(
        out,
        "referrers {verb}: {new} of {all} ({} referrer manifest(s) attached by subject, {} cosign tag(s)){}{}",
        c.referrers,
        c.cosign_tags,
        match c.already_there {
            0 => String::new(),
            n => format!("; {n} already on the target"),
        },
        match (c.target_via, r.dry_run) {
            (Some("tag-schema"), false) => format!(
                "; listed on the target by fallback tag ({} written)",
                c.fallback_tags_written
            ),
            (Some("tag-schema"), true) => "; the target would list them by fallback tag".into(),
            (Some(_), _) => "; listed on the target by its referrers API".into(),
            (None, _) => String::new(),
        }
    )?;
    for m in &c.missing {
        writeln!(
            out,
            "MISMATCH referrer {m} was pushed but the target does not list it"
        )?;
    }
    for m in &c.conflicts {
        writeln!(out, "MISMATCH {}", clean(&m.to_string()))?;
    }
    for m in &c.unreadable {
        writeln!(
            out,
            "warning: the source lists referrer {m} but no longer has it; left out"
        )?;
    }
    for m in &c.foreign {
        writeln!(
            out,
            "warning: the source lists {m} as a referrer but its manifest names another subject; left out"
        )?;
    }
    Ok(())
}
