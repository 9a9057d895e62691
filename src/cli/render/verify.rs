//! `runref verify`: each platform, each problem, the verdict.

use super::*;

pub fn verify(out: &mut dyn Write, r: &VerifyReport) -> io::Result<()> {
    writeln!(out, "image: {}", r.verified_digest)?;
    if let Some(t) = &r.resolved_from {
        writeln!(
            out,
            "  (resolved once from {t}; the tag may move, this digest will not)"
        )?;
    }
    writeln!(out, "media type: {}", r.media_type)?;
    mirrors(out, &r.registry_endpoints)?;
    // Windows platforms carry os.version: the column is as wide as the widest.
    let width = column_width(r.platforms.iter().map(|p| p.platform.as_ref()));
    for p in &r.platforms {
        let windows = p.platform.as_ref().is_some_and(|x| x.os() == "windows");
        writeln!(
            out,
            "  {:<width$} {}  config says {}{}",
            p.platform
                .as_ref()
                .map_or("(none)".into(), |x| x.to_string()),
            p.digest.short(),
            p.config_platform
                .as_ref()
                .map_or("?".into(), |x| x.to_string()),
            p.content
                .as_ref()
                .map(|c| {
                    let found = match (windows, c.elf_files, c.pe_files) {
                        (true, 0, pe) => format!("{pe} PE"),
                        (_, elf, 0) => format!("{elf} ELF"),
                        (_, elf, pe) => format!("{elf} ELF + {pe} PE"),
                    };
                    let foreign = match c.foreign_layers {
                        0 => String::new(),
                        n => format!(", {n} foreign not read"),
                    };
                    format!(
                        "  content: {} ({found} executables in {} layers{foreign})",
                        c.verdict, c.layers
                    )
                })
                .unwrap_or_default()
        )?;
    }
    if r.attestations_ignored > 0 {
        writeln!(
            out,
            "  ({} attestation manifests ignored)",
            r.attestations_ignored
        )?;
    }
    for p in &r.problems {
        writeln!(out, "MISMATCH {}", p)?;
    }
    // Say what was checked: the expected set, or (without --platforms) only that each entry's
    // config agrees with it.
    let content = r.platforms.iter().any(|p| p.content.is_some());
    let checked = match (r.expected.is_empty(), content) {
        (true, false) => "each entry's config agrees with its platform (no --platforms given: any set passes)".to_string(),
        (true, true) => "each entry's config and executables agree with its platform (no --platforms given: any set passes)".to_string(),
        (false, c) => format!(
            "exactly {} ({}), configs{} agree",
            r.expected.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "),
            if r.allow_extra { "others allowed" } else { "no others" },
            if c { " and executables" } else { "" }
        ),
    };
    for s in &r.referrers {
        // The subject's own referrers: what --require-referrer counts.
        let types = s.direct_types();
        let short = s.subject.short();
        if !types.is_empty() || !s.cosign_tags.is_empty() {
            let tags = s
                .cosign_tags
                .iter()
                .map(|t| format!("cosign tag {}", t.tag));
            let all: Vec<String> = types.iter().map(|t| clean(t)).chain(tags).collect();
            writeln!(out, "  referrers of {short}: {}", all.join(", "))?;
        }
    }
    if r.verified && !r.required_referrers.is_empty() {
        let types: Vec<String> = r.required_referrers.iter().map(|t| clean(t)).collect();
        writeln!(
            out,
            "verified: {checked}; required referrers found: {}",
            types.join(", ")
        )
    } else if r.verified {
        writeln!(out, "verified: {checked}")
    } else {
        writeln!(out, "NOT verified: {} problem(s) above", r.problems.len())
    }
}
