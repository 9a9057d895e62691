//! `runref diagnose`: will the export find the run image, and the fix.

use super::*;

pub fn diagnose(out: &mut dyn Write, r: &DiagnoseReport) -> io::Result<()> {
    writeln!(out, "{}: [run-image] reference = {}", r.file, r.reference)?;
    if let Some(c) = &r.docker_context {
        writeln!(out, "  daemon:   Docker context {c}")?;
    }
    if let Some(p) = &r.platform {
        writeln!(out, "  platform: {p}")?;
    }
    mirrors(out, &r.registry_endpoints)?;
    if let Some(e) = &r.registry_error {
        writeln!(out, "  registry: {e}")?;
    }
    writeln!(
        out,
        "  export: {}",
        if r.export_will_work {
            "will find the run image"
        } else {
            "WILL FAIL"
        }
    )?;
    writeln!(out, "  {}", r.finding)?;
    if !r.export_will_work {
        if let Some(e) = r.lifecycle_error {
            writeln!(out, "  lifecycle reports: {e}")?;
        }
        for i in &r.local_images {
            writeln!(
                out,
                "  local: {} {} tags={} digests={}",
                i.image_id,
                i.platform.as_ref().map_or("?".into(), |p| p.to_string()),
                list(&i.tags),
                list(&i.repo_digests)
            )?;
        }
        if let Some(p) = &r.registry_platform {
            writeln!(out, "  registry: the reference's digest is the {p} image")?;
        }
    }
    if let Some(t) = &r.top_layer {
        writeln!(
            out,
            "  top layer: [metadata.run-image] {} local {} ({})",
            t.recorded,
            t.local.as_deref().unwrap_or("?"),
            if t.same {
                "same run image as the previous build"
            } else {
                "the run image changed since the previous build"
            }
        )?;
    }
    if let Some(f) = &r.fix {
        writeln!(out, "fix: {f}")?;
    }
    Ok(())
}
