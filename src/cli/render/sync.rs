//! `runref sync`: a line per image, then the tags by outcome and the totals.

use super::*;

/// `index create` and `copy`.
/// One image of a sync in one line (the progress line on a terminal).
pub fn sync_line(r: &crate::commands::sync::ImageResult) -> String {
    use crate::commands::sync::Status;
    if let Some(e) = &r.error {
        return format!("{}: FAILED {}", r.source, clean(&e.to_string()));
    }
    let count = |s: Status| -> usize {
        r.results
            .iter()
            .filter(|x| x.status == s)
            .map(|x| x.tags.len())
            .sum()
    };
    let mut parts = Vec::new();
    for (s, word) in [
        (Status::Copied, "copied"),
        (Status::Present, "present"),
        (Status::WouldCopy, "would copy"),
        (Status::Failed, "FAILED"),
    ] {
        let n = count(s);
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    if let Some(w) = &r.warning {
        parts.push(clean(&w.to_string()));
    }
    format!("{} -> {}: {}", r.source, r.target, parts.join(", "))
}

/// `runref sync`: each image, its tags by outcome, the reasons of failures, the totals.
pub fn sync(out: &mut dyn Write, r: &crate::commands::sync::SyncReport) -> io::Result<()> {
    use crate::commands::sync::Status;
    let shard = r
        .shard
        .as_ref()
        .map(|s| {
            format!(
                " (shard {s}: {} of {} images)",
                r.images.len(),
                r.images_in_file
            )
        })
        .unwrap_or_default();
    let mode = if r.dry_run {
        " (dry run: nothing written)"
    } else {
        ""
    };
    writeln!(out, "sync {}{shard}{mode}", r.file)?;
    for i in &r.images {
        writeln!(out, "  {} -> {}", i.source, i.target)?;
        if let Some(e) = &i.error {
            writeln!(out, "    FAILED  {}", clean(&e.to_string()))?;
        }
        if let Some(w) = &i.warning {
            writeln!(out, "    warning: {}", clean(&w.to_string()))?;
        }
        for t in &i.results {
            let word = match t.status {
                Status::Copied => "copied ",
                Status::Present => "present",
                Status::WouldCopy => "would copy",
                Status::Failed => "FAILED ",
            };
            let digest = t
                .digest
                .as_ref()
                .or(t.source_digest.as_ref())
                .map(|d| format!("  {}", d.short()))
                .unwrap_or_default();
            let referrers = match t.referrers_carried {
                0 => String::new(),
                n => format!("  ({n} referrer(s) carried)"),
            };
            writeln!(out, "    {word} {}{digest}{referrers}", t.tags.join(", "))?;
            if let Some(why) = &t.reason {
                writeln!(out, "            {}", clean(&why.to_string()))?;
            }
            for p in &t.problems {
                writeln!(out, "            - {}", p)?;
            }
        }
    }
    let s = &r.summary;
    let mut tally = vec![];
    for (n, word) in [
        (s.copied, "copied"),
        (s.present, "present"),
        (s.would_copy, "would copy"),
        (s.failed, "failed"),
    ] {
        if n > 0 {
            tally.push(format!("{n} {word}"));
        }
    }
    writeln!(
        out,
        "summary: {} tag(s) of {} image(s): {}",
        s.tags,
        s.images,
        match tally.is_empty() {
            true => "none".to_string(),
            false => tally.join(", "),
        }
    )?;
    if r.rate_limit_pauses > 0 {
        writeln!(out, "rate limit: paused {} time(s)", r.rate_limit_pauses)?;
    }
    writeln!(out, "registry requests: {}", r.registry_requests)?;
    match r.complete {
        true => writeln!(
            out,
            "mirrored: every image{}",
            if r.dry_run { " planned" } else { "" }
        ),
        false => writeln!(
            out,
            "NOT mirrored: {} image(s) failed (above); run again to go on",
            s.images_failed
        ),
    }
}
