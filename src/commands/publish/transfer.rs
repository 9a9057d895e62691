//! Moving blobs and manifests to the target: mounted within a registry, else copied, every
//! byte checked; at most POOL at once.

use super::*;

/// Moves every blob of `digests`' manifests into `target` (each blob once), then, with
/// `put_manifests`, the manifests themselves (those not already in `target`'s repository).
pub(super) async fn transfer<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    digests: &[Digest],
    put_manifests: bool,
    material: &Material,
    opts: &PublishOptions,
) -> Result<(Vec<BlobMove>, Summary), RegistryError> {
    let dry_run = opts.dry_run;
    // Each blob once, from the first manifest that names it, in manifest order; foreign
    // layers left out unless asked for.
    let mut seen = std::collections::BTreeSet::new();
    let mut wanted: Vec<(Digest, i64, Reference)> = Vec::new();
    let mut foreign = 0;
    for item in digests.iter().filter_map(|d| material.items.get(d)) {
        for (b, size, is_foreign) in &item.blobs {
            if !seen.insert(b.clone()) {
                continue;
            }
            if *is_foreign && !opts.allow_nondistributable {
                foreign += 1;
                continue;
            }
            wanted.push((b.clone(), *size, item.from.clone()));
        }
    }
    // The bar counts the bytes that cross registries (a mount moves none).
    let progress = opts.progress.as_ref();
    if let Some(p) = progress {
        let crossing: i64 = wanted
            .iter()
            .filter(|(_, _, from)| from.registry() != target.registry())
            .map(|(_, size, _)| (*size).max(0))
            .sum();
        if crossing > 0 && !dry_run {
            p.begin("copy", crossing as u64);
        }
    }
    let moves: Vec<BlobMove> =
        futures_util::stream::iter(wanted.into_iter().map(|(digest, size, from)| async move {
            let action = move_blob(reg, target, &digest, size, &from, material, opts).await?;
            Ok::<_, RegistryError>(BlobMove {
                digest,
                size,
                from: from.name(),
                action,
            })
        }))
        .buffered(crate::POOL)
        .try_collect()
        .await?;
    if let Some(p) = progress {
        p.end();
    }
    let mut summary = Summary {
        foreign_left_out: foreign,
        ..Summary::default()
    };
    for m in &moves {
        match m.action {
            Action::Present => summary.present += 1,
            Action::Mounted | Action::WouldMount => summary.mounted += 1,
            Action::Copied | Action::WouldCopy => {
                summary.copied += 1;
                summary.bytes_copied += m.size.max(0) as u64;
            }
        }
    }
    let to_put: Vec<(&Digest, &Item)> = digests
        .iter()
        .filter_map(|d| material.items.get(d).map(|i| (d, i)))
        .filter(|(_, i)| put_manifests && !i.from.same_repository(target))
        .collect();
    summary.manifests_pushed = to_put.len();
    if !dry_run {
        futures_util::stream::iter(to_put.into_iter().map(|(d, item)| async move {
            reg.put_manifest(&target.with_digest(d), item.bytes.clone(), &item.media_type)
                .await
        }))
        .buffer_unordered(crate::POOL)
        .try_collect::<Vec<_>>()
        .await?;
    }
    Ok((moves, summary))
}

/// One blob into `target`: nothing within one repository, a mount within one registry (a
/// refused mount falls back to a copy through the upload it opened), else HEAD and a copy.
pub(super) async fn move_blob<R: RegistryWrite>(
    reg: &R,
    target: &Reference,
    digest: &Digest,
    size: i64,
    from: &Reference,
    material: &Material,
    opts: &PublishOptions,
) -> Result<Action, RegistryError> {
    let (dry_run, progress) = (opts.dry_run, opts.progress.as_ref());
    if from.same_repository(target) {
        return Ok(Action::Present);
    }
    let same_registry = from.registry() == target.registry();
    if dry_run {
        return Ok(if same_registry {
            Action::WouldMount
        } else {
            Action::WouldCopy
        });
    }
    let location = if same_registry {
        match reg.mount_blob(target, digest, from).await? {
            Mount::Mounted => return Ok(Action::Mounted),
            Mount::Refused { location } => location,
        }
    } else {
        if reg.blob_exists(target, digest).await? {
            return Ok(Action::Present);
        }
        reg.start_upload(target).await?
    };
    match material.blobs.get(digest) {
        Some(bytes) => {
            reg.put_blob(target, &location, digest, bytes.clone())
                .await?
        }
        None => {
            let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
            let stream = reg.blob_stream(from, digest).await?;
            // Bytes copied between registries, for the progress bar.
            let stream: crate::registry::BlobStream = match progress {
                Some(p) => {
                    let p = p.clone();
                    Box::pin(futures_util::StreamExt::inspect(stream, move |c| {
                        if let Ok(b) = c {
                            p.add(b.len() as u64);
                        }
                    }))
                }
                None => stream,
            };
            let stream = hold_last(stream, failed.clone());
            let put = reg
                .put_blob_stream(target, &location, digest, size.max(0) as u64, stream)
                .await;
            // The source's failure (bytes that are not the digest, a stall) is the cause.
            if let Some(detail) = failed.lock().ok().and_then(|mut f| f.take()) {
                return Err(RegistryError::Other {
                    reference: from.with_digest(digest).to_string(),
                    detail: format!(
                        "copy from the source failed: {detail}; no manifest or tag was pushed"
                    ),
                });
            }
            put?
        }
    }
    Ok(Action::Copied)
}

/// Passes a blob stream on one chunk late, so the last chunk leaves only after the digest was
/// checked: a body that does not match its digest ends the upload before it is complete (the
/// target never receives a whole wrong blob). The source's error is kept in `failed`.
pub(super) fn hold_last(
    stream: crate::registry::BlobStream,
    failed: std::sync::Arc<std::sync::Mutex<Option<String>>>,
) -> crate::registry::BlobStream {
    let state = (stream, None::<Bytes>, false);
    futures_util::stream::unfold(state, move |(mut inner, mut pending, done)| {
        let failed = failed.clone();
        async move {
            if done {
                return None;
            }
            loop {
                match inner.next().await {
                    Some(Ok(c)) => match pending.replace(c) {
                        Some(prev) => return Some((Ok(prev), (inner, pending, false))),
                        None => continue,
                    },
                    Some(Err(e)) => {
                        if let Ok(mut f) = failed.lock() {
                            *f = Some(e.to_string());
                        }
                        return Some((Err(e), (inner, None, true)));
                    }
                    None => return pending.take().map(|p| (Ok(p), (inner, None, true))),
                }
            }
        }
    })
    .boxed()
}
