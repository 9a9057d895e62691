//! `runref verify`: prove, by digest, which platforms a pushed image really has (seed 000).
//!
//! Only digests are fetched: a tag is resolved once and the digest it resolved to is what is
//! verified and reported. Every expected platform needs exactly one runnable entry
//! (attestations ignored, variants normalised); each entry's config must declare the entry's
//! platform; with `--content` the executables inside must be built for it.

use crate::model::digest::Digest;
use crate::model::elf::{scan_layer, ElfFile};
use crate::model::platform::Platform;
use crate::model::reference::Reference;
use crate::model::view::Depth;
use crate::model::view::{RemoteEntry, RemoteView};
use crate::registry::resolve::resolve;
use crate::registry::{Registry, RegistryError};
use futures_util::StreamExt;

#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    pub expected: Vec<Platform>,
    pub allow_extra: bool,
    pub content: bool,
    /// Also read foreign / non-distributable layers (from the registry); by default they are
    /// counted and left unread, as crane and skopeo leave them uncopied.
    pub allow_nondistributable: bool,
    /// Bytes of layers scanned, for a progress bar.
    pub progress: Option<crate::progress::Progress>,
    /// `--require-referrer`: artifact types that must be attached by subject, to the index or
    /// else to every verified platform's manifest.
    pub required_referrers: Vec<String>,
}

/// What the content check of an entry read, when it found no executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoExecutable {
    /// A Windows entry (PE executables looked for, not ELF).
    pub windows: bool,
    /// Foreign (non-distributable) layers not read.
    pub foreign_unread: usize,
}

/// A reason verification failed. JSON: `{"kind": "...", ...}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Problem {
    /// An expected platform has no runnable entry. `other_builds`: entries of the same
    /// os/arch whose Windows os.version does not match (the reason, when that is it).
    Missing {
        platform: Platform,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        other_builds: Vec<String>,
    },
    /// An expected platform has several runnable entries.
    Duplicate {
        platform: Platform,
        digests: Vec<Digest>,
    },
    /// A platform that was not expected (without --allow-extra).
    Unexpected { platform: String, digest: Digest },
    /// The config declares another platform than the index entry.
    ConfigDisagrees {
        digest: Digest,
        index_platform: String,
        config_platform: String,
    },
    /// Executables of another machine type than the claimed architecture.
    ContentDisagrees {
        platform: String,
        digest: Digest,
        files: Vec<ElfFile>,
    },
    /// No executable found (ELF, or PE on Windows): the architecture could not be proven from
    /// content. `reason` says what was (not) read.
    Unproven {
        platform: String,
        digest: Digest,
        #[serde(serialize_with = "crate::model::json::as_text")]
        reason: NoExecutable,
    },
    /// An attestation whose subject (`vnd.docker.reference.digest`) is not an entry of the index.
    AttestationOutside { digest: Digest, attests: String },
    /// `--require-referrer`: no referrer of that artifact type names the subject (neither the
    /// index nor this platform's manifest).
    ReferrerMissing {
        subject: Digest,
        #[serde(skip_serializing_if = "Option::is_none")]
        platform: Option<Platform>,
        artifact_type: String,
    },
    /// A manifest, config or layer could not be read; `platform` is the entry's, when known.
    Unreadable {
        digest: Digest,
        #[serde(skip_serializing_if = "Option::is_none")]
        platform: Option<Platform>,
        error: String,
    },
}

/// What `--content` found for one platform.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ContentResult {
    pub layers: usize,
    /// Foreign / non-distributable layers not read (Windows base layers; see
    /// `--allow-nondistributable`).
    pub foreign_layers: usize,
    pub elf_files: usize,
    /// PE executables (Windows `.exe`, `.dll`, `.sys`).
    pub pe_files: usize,
    /// `proven`, `mismatch` or `unproven`.
    pub verdict: &'static str,
    /// Up to 20 sample files, for the report.
    pub sample: Vec<ElfFile>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PlatformResult {
    pub platform: Option<Platform>,
    pub digest: Digest,
    pub config: Option<Digest>,
    pub config_platform: Option<Platform>,
    pub content: Option<ContentResult>,
}

/// The verification result. JSON field names are a contract (README).
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    /// `name@digest` that was verified.
    pub verified_digest: String,
    /// The tag given, when it was resolved to `verified_digest`.
    pub resolved_from: Option<String>,
    pub media_type: String,
    pub verified: bool,
    pub expected: Vec<Platform>,
    pub platforms: Vec<PlatformResult>,
    pub attestations_ignored: usize,
    pub problems: Vec<Problem>,
    /// `--allow-extra`: platforms beyond `expected` were accepted (text only).
    #[serde(skip)]
    pub allow_extra: bool,
    /// With `--require-referrer`: the referrers read, per subject.
    pub referrers: Vec<crate::registry::referrers::SubjectReferrers>,
    /// The artifact types `--require-referrer` asked for.
    pub required_referrers: Vec<String>,
    pub registry_requests: usize,
    /// Of those, HTTPS attempts an insecure host refused before plain HTTP answered (at most
    /// one per host; a registry's access log never sees them).
    pub registry_http_fallbacks: usize,
    /// Registry => the endpoint that answered (a mirror for Docker Hub names, when one did).
    pub registry_endpoints: crate::registry::Endpoints,
}

impl VerifyReport {
    pub fn exit_code(&self) -> u8 {
        if self.verified {
            crate::exit::OK
        } else {
            crate::exit::FAILED
        }
    }
}

/// Reads buildx's `--metadata-file` JSON: `image.name` (first of a comma list) and
/// `containerimage.digest`.
pub fn reference_from_metadata(text: &str) -> Result<Reference, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let digest = v["containerimage.digest"].as_str().ok_or(
        "no \"containerimage.digest\" (was the image pushed? buildx writes it only with --push)",
    )?;
    let name = v["image.name"]
        .as_str()
        .ok_or("no \"image.name\"")?
        .split(',')
        .next()
        .unwrap_or("")
        .trim();
    let r: Reference = name.parse().map_err(|e| format!("image.name: {e}"))?;
    let d: Digest = digest
        .parse()
        .map_err(|e| format!("containerimage.digest: {e}"))?;
    Ok(r.with_digest(&d))
}

/// The pure part: expected platforms and config agreement, from a fetched view.
pub fn check_platforms(view: &RemoteView, opts: &VerifyOptions) -> Vec<Problem> {
    let mut problems = Vec::new();
    let runnable: Vec<&RemoteEntry> = view.runnable().collect();
    for want in &opts.expected {
        let hits: Vec<&&RemoteEntry> = runnable
            .iter()
            .filter(|e| e.platform.as_ref().is_some_and(|p| want.matches(p)))
            .collect();
        // Two entries of one platform identity are a duplicate; two Windows builds of one
        // architecture (ltsc2019 and ltsc2022) are two platforms, both wanted.
        let mut identities: Vec<&Platform> =
            hits.iter().filter_map(|e| e.platform.as_ref()).collect();
        identities.sort();
        let duplicated = identities.windows(2).any(|w| w[0] == w[1]);
        match hits.len() {
            0 => problems.push(Problem::Missing {
                platform: want.clone(),
                other_builds: runnable
                    .iter()
                    .filter_map(|e| e.platform.as_ref())
                    .filter(|p| want.os_version().is_some() && want.base().matches(p))
                    .map(|p| p.to_string())
                    .collect(),
            }),
            _ if duplicated => problems.push(Problem::Duplicate {
                platform: want.clone(),
                digests: hits.iter().map(|e| e.digest.clone()).collect(),
            }),
            _ => {}
        }
    }
    for a in view.entries.iter().filter(|e| e.attestation) {
        if let Some(subject) = &a.attests {
            if !runnable.iter().any(|e| e.digest.to_string() == *subject) {
                problems.push(Problem::AttestationOutside {
                    digest: a.digest.clone(),
                    attests: subject.clone(),
                });
            }
        }
    }
    for e in &runnable {
        if let Some(err) = &e.error {
            problems.push(Problem::Unreadable {
                digest: e.digest.clone(),
                platform: e.platform.clone(),
                error: err.clone(),
            });
        }
        let expected = e
            .platform
            .as_ref()
            .is_some_and(|p| opts.expected.iter().any(|w| w.matches(p)));
        if !opts.allow_extra && !opts.expected.is_empty() && !expected {
            problems.push(Problem::Unexpected {
                platform: e.platform.as_ref().map_or("none".into(), |p| p.to_string()),
                digest: e.digest.clone(),
            });
        }
        if let (Some(ip), Some(cp)) = (&e.platform, &e.config_platform) {
            if !ip.agrees_with(cp) {
                problems.push(Problem::ConfigDisagrees {
                    digest: e.digest.clone(),
                    index_platform: ip.to_string(),
                    config_platform: cp.to_string(),
                });
            }
        }
    }
    problems
}

/// What the scan of one entry's layers found.
struct Scan {
    files: Vec<ElfFile>,
    /// Foreign layers left unread.
    foreign: usize,
}

/// Streams every layer of `entry` through the executable scanner, up to [`layer_parallelism`]
/// layers at once (each decompressed on a blocking thread of its own, at most 4 chunks in
/// flight per layer), results in layer order. Foreign layers are skipped unless
/// `nondistributable`; an unknown layer media type is an error naming it.
async fn scan_entry<R: Registry>(
    reg: &R,
    repo: &Reference,
    entry: &RemoteEntry,
    nondistributable: bool,
    progress: Option<&crate::progress::Progress>,
) -> Result<Scan, String> {
    let mut read = Vec::new();
    let mut foreign = 0;
    for l in &entry.layers {
        let kind = crate::model::layer::kind(&l.media_type)
            .map_err(|e| format!("layer {}: {e}", l.digest))?;
        if kind.foreign && !nondistributable {
            foreign += 1;
        } else {
            read.push((l, kind.compression));
        }
    }
    let scans: Vec<Result<Vec<ElfFile>, String>> = futures_util::stream::iter(
        read.into_iter()
            .map(|(l, c)| scan_one_layer(reg, repo, l, c, progress)),
    )
    .buffered(layer_parallelism())
    .collect()
    .await;
    let mut files = Vec::new();
    for s in scans {
        files.extend(s?);
    }
    Ok(Scan { files, foreign })
}

/// Layers decompressed at once per entry: the cores available (gzip is CPU-bound), or
/// `RUNREF_LAYER_PARALLELISM` (1 = one after another).
pub fn layer_parallelism() -> usize {
    std::env::var("RUNREF_LAYER_PARALLELISM")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

async fn scan_one_layer<R: Registry>(
    reg: &R,
    repo: &Reference,
    layer: &crate::model::manifest::Descriptor,
    compression: crate::model::layer::Compression,
    progress: Option<&crate::progress::Progress>,
) -> Result<Vec<ElfFile>, String> {
    let digest = layer.digest.clone();
    let foreign = crate::model::layer::is_foreign(&layer.media_type);
    let mut stream = match reg.blob_stream(repo, &digest).await {
        Ok(s) => s,
        // A foreign layer (only read with --allow-nondistributable): from the registry when
        // it has it, else from its urls in order, each verified against the digest.
        Err(e) if foreign && e.is_not_found() => {
            let mut tried = vec![];
            let mut got = None;
            for url in &layer.urls {
                match reg.url_stream(url, &digest).await {
                    Ok(s) => {
                        got = Some(s);
                        break;
                    }
                    Err(e) => tried.push(format!("{}: {}", crate::trace::redact(url), e)),
                }
            }
            got.ok_or_else(|| {
                format!(
                    "foreign layer {digest} is neither in the registry nor at its urls ({})",
                    if tried.is_empty() {
                        "it names none".to_string()
                    } else {
                        tried.join("; ")
                    }
                )
            })?
        }
        Err(e) => return Err(e.to_string()),
    };
    // A bounded async channel: the network side awaits room (no blocking thread per chunk),
    // the scanner's blocking thread waits for chunks.
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    // The scanner stops where the tar ends; whatever follows (a tar's zero padding, a
    // compressor's trailer) is still read, so the stream reaches its digest check and the
    // sender never finds the channel closed (issue 21: uncompressed layers failed "stream
    // ended with an error" when the tar's end fell before the last chunk).
    let scanner = tokio::task::spawn_blocking(move || {
        let mut r = ChannelReader::new(rx);
        let found = scan_layer(&mut r, compression)?;
        std::io::copy(&mut r, &mut std::io::sink())?;
        Ok::<_, std::io::Error>(found)
    });
    let mut stream_err = None;
    while let Some(chunk) = stream.next().await {
        if let (Some(p), Ok(c)) = (progress, &chunk) {
            p.add(c.len() as u64);
        }
        let failed = chunk.as_ref().err().map(|e| e.to_string());
        let sent = tx.send(chunk).await.is_ok();
        if let Some(e) = failed {
            stream_err = Some(format!("layer {digest}: {e}"));
            break;
        }
        if !sent {
            stream_err = Some(format!(
                "layer {digest}: the scanner stopped reading before the layer's end"
            ));
            break;
        }
    }
    drop(tx);
    let scanned = scanner
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("layer {digest}: {e}"));
    // The scanner's own error first: it stops reading when the bytes are not what the media
    // type says (a zstd frame labelled gzip, a window over the bound), and then the sender
    // only sees the channel close ("stream ended with an error" hid the reason: newcomer pass).
    match (scanned, stream_err) {
        (Err(e), _) => Err(e),
        (Ok(_), Some(e)) => Err(e),
        (Ok(found), None) => Ok(found),
    }
}

/// A `Read` over chunks arriving on a bounded channel (read on a blocking thread).
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    cur: bytes::Bytes,
}

impl ChannelReader {
    fn new(rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>) -> Self {
        ChannelReader {
            rx,
            cur: bytes::Bytes::new(),
        }
    }
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

fn content_verdict(entry: &RemoteEntry, scan: Scan) -> (ContentResult, Option<Problem>) {
    let Scan { files, foreign } = scan;
    let claimed = entry.platform.as_ref().map(|p| p.arch().to_string());
    let wrong: Vec<ElfFile> = files
        .iter()
        .filter(|f| f.arch.map(str::to_string) != claimed)
        .cloned()
        .collect();
    let platform = entry
        .platform
        .as_ref()
        .map_or("none".into(), |p| p.to_string());
    let windows = entry.platform.as_ref().is_some_and(|p| p.os() == "windows");
    let (verdict, problem) = if files.is_empty() {
        let reason = NoExecutable {
            windows,
            foreign_unread: foreign,
        };
        (
            "unproven",
            Some(Problem::Unproven {
                platform,
                digest: entry.digest.clone(),
                reason,
            }),
        )
    } else if !wrong.is_empty() {
        (
            "mismatch",
            Some(Problem::ContentDisagrees {
                platform,
                digest: entry.digest.clone(),
                files: wrong.into_iter().take(20).collect(),
            }),
        )
    } else {
        ("proven", None)
    };
    let pe_files = files.iter().filter(|f| f.format == "pe").count();
    (
        ContentResult {
            layers: entry.layers.len(),
            foreign_layers: foreign,
            elf_files: files.len() - pe_files,
            pe_files,
            verdict,
            sample: files.into_iter().take(20).collect(),
        },
        problem,
    )
}

/// Verifies `reference` (by digest; a tag is resolved once).
pub async fn verify<R: Registry>(
    reg: &R,
    reference: &Reference,
    opts: &VerifyOptions,
) -> Result<VerifyReport, RegistryError> {
    // With --allow-extra only the expected platforms are read: the others are accepted anyway.
    let only = (opts.allow_extra && !opts.expected.is_empty()).then(|| opts.expected.clone());
    let depth = Depth::Entries {
        configs: true,
        only: only.clone(),
    };
    let view = resolve(reg, reference, &depth).await?;
    let mut problems = check_platforms(&view, opts);
    let mut platforms: Vec<PlatformResult> = view
        .runnable()
        .map(|e| PlatformResult {
            platform: e.platform.clone(),
            digest: e.digest.clone(),
            config: e.config.clone(),
            config_platform: e.config_platform.clone(),
            content: None,
        })
        .collect();
    if opts.content {
        let checked = |p: Option<&Platform>| {
            only.as_ref()
                .is_none_or(|o| p.is_some_and(|p| o.iter().any(|w| w.matches(p))))
        };
        let runnable: Vec<&RemoteEntry> = view
            .runnable()
            .filter(|e| checked(e.platform.as_ref()))
            .collect();
        let results = platforms
            .iter_mut()
            .filter(|r| checked(r.platform.as_ref()));
        let found = contents(reg, reference, &runnable, opts).await;
        for ((content, p), result) in found.into_iter().zip(results) {
            result.content = content;
            problems.extend(p);
        }
    }
    let referrers = match opts.required_referrers.is_empty() {
        true => vec![],
        false => {
            // With --allow-extra, the platforms asked for; the extra ones need nothing.
            let asked = |p: &Option<Platform>| {
                opts.expected.is_empty()
                    || p.as_ref()
                        .is_some_and(|p| opts.expected.iter().any(|e| e.matches(p)))
            };
            let subjects: Vec<(Digest, Option<Platform>)> = platforms
                .iter()
                .filter(|p| p.digest != view.digest && asked(&p.platform))
                .map(|p| (p.digest.clone(), p.platform.clone()))
                .collect();
            required(
                reg,
                reference,
                &view.digest,
                &subjects,
                &opts.required_referrers,
                &mut problems,
            )
            .await
        }
    };
    Ok(VerifyReport {
        verified_digest: view.reference.to_string(),
        resolved_from: view.resolved_from.clone(),
        media_type: view.media_type.clone(),
        verified: problems.is_empty(),
        expected: opts.expected.clone(),
        platforms,
        attestations_ignored: view.entries.iter().filter(|e| e.attestation).count(),
        problems,
        allow_extra: opts.allow_extra,
        referrers,
        required_referrers: opts.required_referrers.clone(),
        registry_requests: reg.requests(),
        registry_http_fallbacks: reg.http_fallbacks(),
        registry_endpoints: reg.endpoints(),
    })
}

/// The content check of each entry (at most [`crate::POOL`] at once, a progress meter over
/// the layers' bytes): its result and problems, in the entries' order.
async fn contents<R: Registry>(
    reg: &R,
    reference: &Reference,
    entries: &[&RemoteEntry],
    opts: &VerifyOptions,
) -> Vec<(Option<ContentResult>, Vec<Problem>)> {
    let progress = opts.progress.as_ref();
    if let Some(p) = progress {
        let total: i64 = entries
            .iter()
            .flat_map(|e| &e.layers)
            .filter(|l| {
                opts.allow_nondistributable || !crate::model::layer::is_foreign(&l.media_type)
            })
            .map(|l| l.size.max(0))
            .sum();
        p.begin("layers", total as u64);
    }
    let scans: Vec<_> = futures_util::stream::iter(
        entries
            .iter()
            .map(|e| scan_entry(reg, reference, e, opts.allow_nondistributable, progress)),
    )
    .buffered(crate::POOL)
    .collect()
    .await;
    if let Some(p) = progress {
        p.end();
    }
    entries
        .iter()
        .zip(scans)
        .map(|(entry, scan)| match scan {
            Ok(scan) => {
                let (c, p) = content_verdict(entry, scan);
                (Some(c), p.into_iter().collect())
            }
            Err(error) => (
                None,
                vec![Problem::Unreadable {
                    digest: entry.digest.clone(),
                    platform: entry.platform.clone(),
                    error,
                }],
            ),
        })
        .collect()
}

/// `--require-referrer`: each type must name the index (`top`), else every platform manifest
/// of `entries`; what is missing becomes a problem. Returns the referrers read.
async fn required<R: Registry>(
    reg: &R,
    reference: &Reference,
    top: &Digest,
    entries: &[(Digest, Option<Platform>)],
    types: &[String],
    problems: &mut Vec<Problem>,
) -> Vec<crate::registry::referrers::SubjectReferrers> {
    let mut discovery = crate::registry::referrers::Discovery::new(reg, reference);
    let mut found = Vec::new();
    // Only the subject's own referrers count, and only those whose manifest was read: a
    // signature of the SBOM does not sign the image, and a listed manifest that is gone signs
    // nothing (both found by the newcomer pass).
    let has = |s: &crate::registry::referrers::SubjectReferrers, t: &str| {
        s.direct_types().contains(&t)
            || s.cosign_tags
                .iter()
                .any(|c| c.artifact_type.as_deref() == Some(t))
    };
    let index = match discovery.of(top).await {
        Ok(r) => r,
        Err(e) => {
            problems.push(Problem::Unreadable {
                digest: top.clone(),
                platform: None,
                error: format!("its referrers: {e}"),
            });
            return found;
        }
    };
    let missing: Vec<&String> = types.iter().filter(|t| !has(&index, t)).collect();
    found.push(index);
    if missing.is_empty() {
        return found;
    }
    if entries.is_empty() {
        for t in missing {
            problems.push(Problem::ReferrerMissing {
                subject: top.clone(),
                platform: None,
                artifact_type: t.clone(),
            });
        }
        return found;
    }
    for (digest, platform) in entries {
        match discovery.of(digest).await {
            Ok(r) => {
                for t in &missing {
                    if !has(&r, t) {
                        problems.push(Problem::ReferrerMissing {
                            subject: digest.clone(),
                            platform: platform.clone(),
                            artifact_type: t.to_string(),
                        });
                    }
                }
                found.push(r);
            }
            Err(e) => problems.push(Problem::Unreadable {
                digest: digest.clone(),
                platform: platform.clone(),
                error: format!("its referrers: {e}"),
            }),
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildx_metadata() {
        let j = r#"{"buildx.build.ref":"x","containerimage.digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","image.name":"reg.example.com/app:1,reg.example.com/app:latest"}"#;
        let r = reference_from_metadata(j).unwrap();
        assert_eq!(
            r.to_string(),
            "reg.example.com/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        );
        assert!(reference_from_metadata(r#"{"image.name":"a"}"#)
            .unwrap_err()
            .contains("containerimage.digest"));
    }
}
