//! Proving the result and moving tags: pushed by digest, read back through verify, tags last;
//! a re-run that finds its work done costs only HEADs.

use super::*;

/// The tags to push: TARGET's own, then `--tag`s in order (each once), each checked.
pub(super) fn tags_of(target: &Reference, extra: &[String]) -> Result<Vec<String>, PublishError> {
    let mut out: Vec<String> = Vec::new();
    for t in target
        .tag()
        .map(str::to_string)
        .into_iter()
        .chain(extra.iter().cloned())
    {
        target
            .with_tag(&t)
            .map_err(|e| PublishError::Input(format!("--tag {t}: {e}")))?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Pushes the top manifest by digest (no tag moves).
pub(super) async fn push_digest<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    bytes: &Bytes,
    media_type: &str,
) -> Result<Digest, PublishError> {
    let digest = Digest::of(bytes);
    reg.put_manifest(&target.with_digest(&digest), bytes.clone(), media_type)
        .await?;
    Ok(digest)
}

/// Moves each tag, in order, to the manifest already pushed by digest.
pub(super) async fn push_tags<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    bytes: &Bytes,
    media_type: &str,
    tags: &[String],
) -> Result<(), PublishError> {
    for t in tags {
        let tagged = target
            .with_tag(t)
            .map_err(|e| PublishError::Input(e.to_string()))?;
        reg.put_manifest(&tagged, bytes.clone(), media_type).await?;
    }
    Ok(())
}

/// Reads the result back by digest and proves it: exactly `expected` (no duplicates, no
/// extra), each descriptor matching its config, every attestation's subject inside.
pub(super) async fn read_back<R: Registry>(
    reg: &R,
    at: &Reference,
    expected: Vec<Platform>,
    opts: &PublishOptions,
) -> Result<Readback, RegistryError> {
    let opts = VerifyOptions {
        expected: expected.clone(),
        allow_extra: false,
        content: opts.verify_content,
        allow_nondistributable: opts.allow_nondistributable,
        progress: opts.progress.clone(),
        required_referrers: vec![],
    };
    let r = crate::commands::verify::verify(reg, at, &opts).await?;
    Ok(Readback {
        verified: r.verified,
        platforms: expected,
        content: opts.content,
        problems: r.problems,
    })
}

/// A re-run that finds its work done costs only HEADs (issue 24: it cost 59 requests, every
/// blob mounted and every manifest pushed again, where crane needs a few): the source's digest
/// (a HEAD of its tag; none when given by digest), then each tag of the target. When every
/// tag already names the source's digest the copy is done: tags move only after a read-back
/// proved the result, so a tag there is proof (a copy with no tag has nothing to show that,
/// and runs in full). Anything else, or a registry that does not say a digest, runs in full.
pub(super) async fn up_to_date<R: RegistryWrite>(
    reg: &R,
    src: &Reference,
    target: &Reference,
    tags: &[String],
) -> Result<Option<PublishReport>, PublishError> {
    if tags.is_empty() {
        return Ok(None);
    }
    let source_digest = match src.digest() {
        Some(d) => d.clone(),
        None => match reg.manifest_head(src, false).await? {
            Some((d, _)) => d,
            None => return Ok(None),
        },
    };
    let bare = target.bare();
    let Some(media_type) = tags_at(reg, &bare, tags, &source_digest).await? else {
        return Ok(None);
    };
    Ok(Some(up_to_date_report(
        reg,
        src,
        &bare,
        tags,
        (&source_digest, media_type),
        &source_digest,
    )))
}

/// Whether every tag of `bare` names `digest` now (one HEAD each, stopping at the first that
/// does not): the media type the registry gave for it when all do.
pub(super) async fn tags_at<R: RegistryWrite>(
    reg: &R,
    bare: &Reference,
    tags: &[String],
    digest: &Digest,
) -> Result<Option<String>, PublishError> {
    let mut media_type = String::new();
    for t in tags {
        let tagged = bare
            .with_tag(t)
            .map_err(|e| PublishError::Input(e.to_string()))?;
        match reg.manifest_head(&tagged, true).await? {
            Some((d, m)) if &d == digest => media_type = m,
            _ => return Ok(None),
        }
    }
    Ok(Some(media_type))
}

/// The report of a copy whose every tag already names its result `digest`.
pub(super) fn up_to_date_report<R: Registry>(
    reg: &R,
    src: &Reference,
    bare: &Reference,
    tags: &[String],
    (digest, media_type): (&Digest, String),
    source_digest: &Digest,
) -> PublishReport {
    PublishReport {
        command: "copy",
        target: bare.to_string(),
        digest: digest.clone(),
        reference: bare.with_digest(digest).to_string(),
        media_type,
        tags: tags.to_vec(),
        tags_moved: false,
        up_to_date: true,
        dry_run: false,
        pushed: false,
        source_digest: Some(source_digest.clone()),
        digest_preserved: Some(digest == source_digest),
        sources: vec![SourceMap {
            name: src.to_string(),
            digest: source_digest.clone(),
            entries: vec![],
        }],
        entries: vec![],
        left_out: vec![],
        attestations_dropped: 0,
        blobs: vec![],
        summary: Summary::default(),
        index: None,
        readback: None,
        referrers: None,
        referrers_error: None,
        verified: true,
        registry_requests: reg.requests(),
        registry_http_fallbacks: reg.http_fallbacks(),
    }
}

/// An up-to-date copy under `--content`: the target's content is read and proven again by
/// digest, whatever put it there (a tag pushed by another tool passed unread: newcomer pass).
pub(super) async fn reprove<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    mut done: PublishReport,
    opts: &PublishOptions,
) -> Result<PublishReport, PublishError> {
    if opts.verify_content {
        let at = target.bare().with_digest(&done.digest);
        let rb = read_back(reg, &at, vec![], opts).await?;
        done.verified = rb.verified;
        done.readback = Some(rb);
        done.registry_requests = reg.requests();
        done.registry_http_fallbacks = reg.http_fallbacks();
    }
    Ok(done)
}

/// The end of both commands: with --dry-run the plan (and, with `show_index`, the index's exact
/// bytes); else the top manifest pushed by digest, then the tags, and read back through verify.
pub(super) async fn conclude<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    mut report: PublishReport,
    top: &Bytes,
    expected: Vec<Platform>,
    show_index: bool,
    opts: &PublishOptions,
) -> Result<PublishReport, PublishError> {
    // A single manifest is the top itself: its one PUT is a manifest pushed.
    if crate::model::manifest::MANIFEST_TYPES.contains(&report.media_type.as_str()) {
        report.summary.manifests_pushed += 1;
    }
    if opts.dry_run {
        if show_index {
            report.index = raw_json(top);
        }
        report.verified = true;
    } else {
        // No tag ever points at unproven content: the result is pushed by digest, read back
        // and proven (its content too, with --content), and only then tagged.
        let pushed = push_digest(reg, target, top, &report.media_type).await?;
        report.pushed = true;
        let rb = read_back(reg, &target.with_digest(&pushed), expected, opts).await?;
        report.verified = rb.verified;
        report.readback = Some(rb);
        if report.verified {
            push_tags(reg, target, top, &report.media_type, &report.tags).await?;
            report.tags_moved = true;
        }
    }
    report.registry_requests = reg.requests();
    report.registry_http_fallbacks = reg.http_fallbacks();
    Ok(report)
}

/// Bytes we serialised ourselves, embedded verbatim in the report.
pub(super) fn raw_json(bytes: &[u8]) -> Option<Box<serde_json::value::RawValue>> {
    let text = String::from_utf8(bytes.to_vec()).ok()?;
    serde_json::value::RawValue::from_string(text).ok()
}
