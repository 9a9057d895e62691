//! `runref reconcile`: the decision and what it rests on.

use super::*;

/// How reconcile was asked to run, for the closing line of its text.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReconcileView {
    pub dry_run: bool,
    pub check: bool,
}

pub fn reconcile(
    out: &mut dyn Write,
    err: &mut dyn Write,
    r: &Report,
    view: ReconcileView,
) -> io::Result<()> {
    let platform = r
        .platform
        .as_ref()
        .map(|p| {
            let from = match r.platform_source {
                Some(PlatformSource::Flag) => "--platform",
                Some(PlatformSource::Target) => "[run-image.target]",
                Some(PlatformSource::Reference) => {
                    "the reference, which names that platform's image"
                }
                Some(PlatformSource::Daemon) => "the daemon",
                _ => "this machine",
            };
            format!("{p} (from {from})")
        })
        .unwrap_or_default();
    writeln!(out, "{}: [run-image] reference", r.file)?;
    if let Some(c) = &r.docker_context {
        writeln!(out, "  daemon:   Docker context {c}")?;
    }
    writeln!(out, "  before:   {}", r.before)?;
    if let Some(after) = &r.after {
        writeln!(out, "  after:    {after}")?;
    }
    writeln!(out, "  platform: {platform}")?;
    match (r.mode, r.pull_policy) {
        (Mode::Daemon, p) => writeln!(out, "  mode:     daemon, pull policy {p}")?,
        // Registry mode never pulls: the policy only says whether the registry may be read.
        (Mode::Registry, PullPolicy::Never) => writeln!(
            out,
            "  mode:     registry, no registry contact (pull policy never)"
        )?,
        (Mode::Registry, _) => writeln!(out, "  mode:     registry (nothing is pulled)")?,
    }
    if let Some(id) = &r.local_image_id {
        let store = r.store.map_or("the daemon".to_string(), |s| s.to_string());
        writeln!(out, "  image:    {id} in {store}")?;
    }
    if let Some(p) = &r.pulled {
        writeln!(out, "  pulled:   {p}")?;
    }
    if let Some(m) = &r.materialized {
        writeln!(
            out,
            "  made:     single-platform image record {m} (no registry contact)"
        )?;
    }
    if r.would_materialize {
        writeln!(
            out,
            "  would make a single-platform image record for the target (nothing made)"
        )?;
    }
    if let Some(p) = &r.would_pull {
        writeln!(out, "  would pull: {p} (nothing pulled)")?;
    }
    match r.registry_cache_hits {
        0 => writeln!(out, "  registry requests: {}", r.registry_requests)?,
        n => writeln!(
            out,
            "  registry requests: {} ({n} manifest{} from the cache)",
            r.registry_requests,
            if n == 1 { "" } else { "s" }
        )?,
    }
    mirrors(out, &r.registry_endpoints)?;
    if let Some(d) = r.decision {
        writeln!(out, "  decision: {}", d)?;
    }
    for w in &r.warnings {
        writeln!(err, "warning: {w}")?;
    }
    if let Some(f) = &r.failure {
        writeln!(err, "error: cannot reconcile {}: {f}", r.file)?;
        return Ok(());
    }
    match (r.changed, r.written) {
        (false, _) => writeln!(out, "unchanged: the file was not touched")?,
        (true, true) => writeln!(out, "written")?,
        (true, false) => {
            if let Some(d) = &r.diff {
                write!(out, "{d}")?;
            }
            if view.check {
                writeln!(out, "a change is needed (--check: nothing written)")?;
            } else if view.dry_run {
                writeln!(out, "--dry-run: nothing written")?;
            }
        }
    }
    Ok(())
}
