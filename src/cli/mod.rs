//! The command line: arguments ([`args`]), dispatch, the daemon and registry built once per run,
//! and output through the renderers ([`render`]). Each command returns a report that knows its
//! exit code; this module only chooses the format and the stream.

pub mod args;
pub mod render;

use crate::exit;
use args::*;

use crate::analyzed::AnalyzedFile;
use crate::commands::reconcile::decide::Mode;
use crate::daemon::{Daemon, DaemonTarget, EngineDaemon};
use crate::model::reference::{ImageRef, Reference};
use crate::registry::cache::{Cached, DiskCache};
use crate::registry::conf::RegistriesConf;
use crate::registry::HttpRegistry;
use anyhow::Context as _;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Parses arguments, runs the command and returns its exit code. Errors are only those of the
/// process itself (no runtime); everything about images and files is a report or a message.
pub fn run() -> anyhow::Result<u8> {
    use clap::Parser;
    forget_empty_env();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        // A usage error under `--format json` is JSON too (README: `{"error", "exit_code"}`),
        // so a platform parsing runref's output gets one shape whatever went wrong.
        Err(e) if e.use_stderr() && json_asked() => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid usage");
            let message = first.strip_prefix("error: ").unwrap_or(first);
            return fail(Format::Json, exit::USAGE, message);
        }
        Err(e) => {
            let _ = e.print();
            return Ok(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let Some(command) = cli.command else {
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return Ok(exit::USAGE);
    };
    match &command {
        Command::Completions { shell } => return completions(*shell),
        Command::Man => return man(),
        _ => {}
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (format, deadline) = (command.common().format, command.common().deadline());
    let is_sync = matches!(command, Command::Sync(_));
    // index create, copy and sync reach no daemon: nothing there to finish.
    let is_publish = matches!(
        command,
        Command::Sync(_) | Command::Copy(_) | Command::Index(_)
    );
    let unchanged = what_stays(&command);
    let code = rt.block_on(async {
        let work = async {
            match command {
                Command::Reconcile(a) => run_reconcile(a).await,
                Command::Inspect(a) => run_inspect(a).await,
                Command::Verify(a) => run_verify(a).await,
                Command::Diagnose(a) => run_diagnose(a).await,
                Command::Index(IndexCommand::Create(a)) => run_index_create(a).await,
                Command::Copy(a) => run_copy(a).await,
                Command::Sync(a) => run_sync(a).await,
                Command::Completions { .. } | Command::Man => Ok(exit::OK),
            }
        };
        // Files are written without an await in between, so stopping here never leaves one
        // half-done: it is either written whole or not at all.
        // sync stops starting copies at the deadline and reports what it did: the report
        // gets a moment past it to be written.
        let grace = match is_sync {
            true => std::time::Duration::from_secs(10),
            false => std::time::Duration::ZERO,
        };
        let bounded = tokio::time::timeout(deadline + grace, work);
        let interrupted = tokio::signal::ctrl_c();
        tokio::select! {
            done = bounded => match done {
                Ok(code) => code,
                Err(_) => fail(
                    format,
                    exit::FAILED,
                    &format!(
                        "runref did not finish within --deadline {} and stopped; {unchanged}. \
                         Check the registry and the daemon, or raise --deadline",
                        humantime::format_duration(deadline)
                    ),
                ),
            },
            // Ctrl-C (SIGINT): one line saying what was left as it was, exit 130 as shells do.
            _ = interrupted => fail(
                format,
                exit::INTERRUPTED,
                &match is_publish {
                    true => format!("interrupted; {unchanged}"),
                    false => format!("interrupted; {unchanged} (a pull or export the daemon already started may still finish there)"),
                },
            ),
        }
    });
    // A credential helper that hung holds a blocking thread; the answer is given, so runref
    // does not wait for it.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    code
}

/// What a command stopped early (deadline, Ctrl-C) leaves as it was.
fn what_stays(command: &Command) -> &'static str {
    match command {
        Command::Index(_) | Command::Copy(_) => {
            "a tag moves only once the read-back proved its result, so any tag already moved \
             names proven content (blobs and manifests already pushed stay; a rerun finds them)"
        }
        Command::Sync(_) => {
            "images already copied stay copied, no tag names unproven content; a rerun goes on"
        }
        _ => "nothing was changed",
    }
}

/// `runref completions SHELL`.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "runref", &mut out);
    emit(|o, _| o.write_all(&out))?;
    Ok(exit::OK)
}

/// `runref man`.
fn man() -> anyhow::Result<u8> {
    use clap::CommandFactory;
    let mut out = Vec::new();
    man_page(Cli::command(), &mut out).context("cannot render the man page")?;
    // roff input is ASCII: other characters (the help's "…") as \[uXXXX] escapes.
    let text = String::from_utf8_lossy(&out);
    let ascii: String = text
        .chars()
        .map(|c| match c.is_ascii() {
            true => c.to_string(),
            false => format!("\\[u{:04X}]", c as u32),
        })
        .collect();
    emit(|o, _| o.write_all(ascii.as_bytes()))?;
    Ok(exit::OK)
}

/// runref(1) with a section per subcommand (`index create` included), from the same clap
/// definitions the parser uses.
fn man_page(cmd: clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    clap_mangen::Man::new(cmd.clone()).render(out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        for leaf in std::iter::once(sub).chain(sub.get_subcommands()) {
            if leaf.get_name() == "help" {
                continue;
            }
            let name = if std::ptr::eq(leaf, sub) {
                sub.get_name().to_string()
            } else {
                format!("{} {}", sub.get_name(), leaf.get_name())
            };
            writeln!(out, ".SH \"RUNREF {}\"", name.to_uppercase())?;
            let about = leaf
                .get_long_about()
                .or(leaf.get_about())
                .map(|a| a.to_string())
                .unwrap_or_default();
            for line in about.lines() {
                // roff: a leading dot or quote starts a request; escape backslashes.
                let line = line.replace('\\', "\\e");
                let line = if line.starts_with('.') || line.starts_with('\'') {
                    format!("\\&{line}")
                } else {
                    line
                };
                writeln!(
                    out,
                    "{}",
                    if line.is_empty() {
                        ".PP".to_string()
                    } else {
                        line
                    }
                )?;
            }
            writeln!(
                out,
                ".PP\nOptions: {}",
                leaf.get_arguments()
                    .filter(|a| !a.is_hide_set())
                    .filter_map(|a| a.get_long().map(|l| format!("\\-\\-{l}")))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
    }
    Ok(())
}

/// `--format json` (or `--format=json`) among the raw arguments, for errors clap raises
/// before any format is known.
fn json_asked() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || args.iter().any(|a| a == "--format=json")
}

/// The variable families runref reads (its own, lifecycle's, the docker CLI's).
const ENV_PREFIXES: &[&str] = &["RUNREF_", "CNB_", "DOCKER_", "SSL_CERT_"];

/// Every variable runref reads means "unset" when empty, as lifecycle reads `CNB_USE_DAEMON`
/// (an empty one was "invalid value '' for '--daemon'", a flag the user never passed). Called
/// before the runtime starts, while the process has one thread.
fn forget_empty_env() {
    for (k, v) in std::env::vars_os() {
        let family = k
            .to_str()
            .is_some_and(|k| ENV_PREFIXES.iter().any(|p| k.starts_with(p)));
        if family && v.is_empty() {
            std::env::remove_var(&k);
        }
    }
}

/// Writes with `f` to stdout (and stderr); a reader that went away (`| head`) ends the output
/// quietly, without changing the exit code.
fn emit(
    f: impl FnOnce(&mut dyn Write, &mut dyn Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    match f(&mut out, &mut err).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write the output"),
    }
}

/// A report in the chosen format, text to stdout (warnings to stderr); returns `code`.
fn output<T: serde::Serialize>(
    format: Format,
    report: &T,
    text: impl FnOnce(&mut dyn Write, &mut dyn Write, &T) -> std::io::Result<()>,
    code: u8,
) -> anyhow::Result<u8> {
    output_as(format, report, report, text, code)
}

/// [`output`] of a report whose JSON is a contract type of [`crate::report`] built from it.
fn output_as<T, J: serde::Serialize>(
    format: Format,
    report: &T,
    json: &J,
    text: impl FnOnce(&mut dyn Write, &mut dyn Write, &T) -> std::io::Result<()>,
    code: u8,
) -> anyhow::Result<u8> {
    emit(|out, err| match format {
        Format::Json => render::json(out, json),
        Format::Text => text(out, err, report),
    })?;
    Ok(code)
}

/// An error before any report exists, in the requested format; returns `code`.
fn fail(format: Format, code: u8, message: &str) -> anyhow::Result<u8> {
    emit(|out, err| match format {
        Format::Json => render::json(
            out,
            &serde_json::json!({"error": message, "exit_code": code}),
        ),
        Format::Text => writeln!(err, "error: {message}"),
    })?;
    Ok(code)
}

/// A progress bar on stderr (indicatif), when stderr is a terminal, the output is text and
/// CI is not set: never in JSON, never in a pipe or a log.
fn meter(format: Format) -> Option<crate::progress::Progress> {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    if format != Format::Text || ci || !std::io::stderr().is_terminal() {
        return None;
    }
    Some(crate::progress::Progress(std::sync::Arc::new(
        Bar::default(),
    )))
}

/// indicatif's bar behind [`crate::progress::Meter`].
#[derive(Default)]
struct Bar(std::sync::Mutex<Option<indicatif::ProgressBar>>);

impl crate::progress::Meter for Bar {
    fn begin(&self, what: &str, total: u64) {
        let pb = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "  {msg:8} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        ) {
            pb.set_style(style);
        }
        pb.set_message(what.to_string());
        pb.tick();
        if let Ok(mut b) = self.0.lock() {
            *b = Some(pb);
        }
    }
    fn add(&self, n: u64) {
        if let Ok(b) = self.0.lock() {
            if let Some(pb) = b.as_ref() {
                pb.inc(n);
            }
        }
    }
    fn end(&self) {
        if let Ok(mut b) = self.0.lock() {
            if let Some(pb) = b.take() {
                pb.finish_and_clear();
            }
        }
    }
}

/// Progress lines for long pulls: shown on a terminal, silent otherwise.
fn progress_sink() -> impl FnMut(&str) + Send {
    let tty = std::io::stderr().is_terminal();
    move |line: &str| {
        if tty {
            eprintln!("  {line}");
        }
    }
}

fn default_analyzed(given: Option<PathBuf>) -> PathBuf {
    given
        .or_else(|| {
            std::env::var_os("CNB_ANALYZED_PATH")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("analyzed.toml"))
}

/// The daemon and registry of one run, built once from the common options.
struct Context {
    daemon: Option<EngineDaemon>,
    registry: HttpRegistry,
    /// The Docker context the daemon came from, when one did (shown in reports).
    docker_context: Option<String>,
}

/// How a command uses the daemon.
#[derive(Clone, Copy)]
enum Use<'a> {
    /// Not at all.
    None,
    /// It cannot work without one.
    Required(&'a DaemonHost),
    /// When reachable; otherwise the command goes on with the registry and says why.
    IfReachable(&'a DaemonHost),
}

impl Context {
    /// Connects to the daemon when `daemon` (lazily: the first request opens it) and builds
    /// the registry client; with a daemon, Docker Hub names are also read through
    /// the daemon's own mirrors (asked only if a Docker Hub name is read).
    /// Also returns why an `IfReachable` daemon could not be had.
    fn new(common: &Common, daemon: Use) -> Result<(Context, Option<String>), String> {
        let (host, context) = match &daemon {
            Use::Required(h) | Use::IfReachable(h) => {
                (h.docker_host.as_deref(), h.context.as_deref())
            }
            Use::None => (None, None),
        };
        let mut target = match daemon {
            Use::None => DaemonTarget::from_env(None),
            _ => DaemonTarget::resolve(host, context).map_err(|e| e.to_string())?,
        };
        let docker_context = target.context.clone();
        target.trace = common.trace();
        target.timeout = common.timeout;
        let connect = || EngineDaemon::connect(&target);
        let (daemon, unreachable) = match daemon {
            Use::None => (None, None),
            Use::Required(_) => (Some(connect().map_err(|e| e.to_string())?), None),
            Use::IfReachable(_) => match connect() {
                Ok(d) => (Some(d), None),
                Err(e) => (None, Some(e.to_string())),
            },
        };
        let mut opts = common.registry_options();
        opts.registries_conf =
            RegistriesConf::load(common.registries_conf.as_deref()).map_err(|e| e.to_string())?;
        let mut registry = HttpRegistry::new(opts).map_err(|e| e.to_string())?;
        if let Some(d) = &daemon {
            let (m, i) = (d.clone(), d.clone());
            registry = registry
                .with_daemon_mirrors(Box::pin(async move {
                    m.registry_mirrors().await.unwrap_or_default()
                }))
                .with_daemon_insecure(Box::pin(async move {
                    i.insecure_registries().await.unwrap_or_default()
                }));
            // The system's registries.conf is podman's: followed when the daemon is podman
            // (its /info, asked only when a name the file routes is read); a file given with
            // --registries-conf is followed whatever the daemon.
            if common.registries_conf.is_none() {
                let p = d.clone();
                registry = registry.with_conf_gate(Box::pin(async move {
                    p.info()
                        .await
                        .is_ok_and(|i| i.engine == crate::model::local::Engine::Podman)
                }));
            }
        }
        Ok((
            Context {
                daemon,
                registry,
                docker_context,
            },
            unreachable,
        ))
    }
}

async fn run_reconcile(a: ReconcileArgs) -> anyhow::Result<u8> {
    let format = a.common.format;
    let path = default_analyzed(a.analyzed);
    let mut file = match AnalyzedFile::load(&path) {
        Ok(f) => f,
        // Unreadable or malformed input: usage error, nothing touched.
        Err(e) => return fail(format, exit::USAGE, &e.to_string()),
    };
    let mode = if a.daemon {
        Mode::Daemon
    } else {
        Mode::Registry
    };
    let daemon = if mode == Mode::Daemon {
        Use::Required(&a.host)
    } else {
        Use::None
    };
    let ctx = match Context::new(&a.common, daemon) {
        Ok((c, _)) => c,
        Err(e) => return fail(format, exit::FAILED, &e),
    };
    let opts = crate::commands::reconcile::Options {
        mode,
        policy: a.pull_policy,
        platform: a.platform,
        no_write: a.dry_run || a.check,
        check: a.check,
    };
    let cache = match (a.no_cache, a.cache_dir.or_else(DiskCache::default_dir)) {
        (false, Some(dir)) => DiskCache::open(&dir),
        _ => None,
    };
    let registry = Cached::new(&ctx.registry, cache);
    let mut progress = progress_sink();
    let report = crate::commands::reconcile::reconcile(
        &mut file,
        &opts,
        ctx.daemon.as_ref(),
        &registry,
        &mut progress,
    )
    .await;
    match report {
        Ok(mut r) => {
            r.docker_context = ctx.docker_context.clone();
            let view = render::ReconcileView {
                dry_run: a.dry_run,
                check: a.check,
            };
            output_as(
                format,
                &r,
                &crate::report::reconcile::Json::from(&r),
                |out, err, r| render::reconcile(out, err, r, view),
                r.exit_code(),
            )
        }
        Err(e) => {
            let code = if e.is_input() {
                exit::USAGE
            } else {
                exit::FAILED
            };
            fail(format, code, &e.to_string())
        }
    }
}

async fn run_inspect(a: InspectArgs) -> anyhow::Result<u8> {
    let format = a.common.format;
    let parsed = match a.image.starts_with("oci:") {
        true => Reference::parse_location(&a.image).map(ImageRef::Name),
        false => ImageRef::parse(&a.image),
    };
    let image = match parsed {
        Ok(i) => i,
        Err(e) => return fail(format, exit::USAGE, &e.to_string()),
    };
    // An OCI layout is a directory, never a daemon's image.
    let daemon = if a.no_daemon || a.image.starts_with("oci:") {
        Use::None
    } else {
        Use::IfReachable(&a.host)
    };
    let (ctx, unreachable) = match Context::new(&a.common, daemon) {
        Ok(c) => c,
        Err(e) => return fail(format, exit::FAILED, &e),
    };
    let registry = crate::layout::Routed::new(&ctx.registry);
    let mut r = crate::commands::inspect::inspect(
        &image,
        a.platform.as_ref(),
        ctx.daemon.as_ref(),
        &registry,
    )
    .await;
    if let (ImageRef::Name(name), false) = (&image, a.no_referrers) {
        crate::commands::inspect::add_referrers(&mut r, &registry, name).await;
    }
    if let Some(u) = unreachable {
        r.daemon_error = Some(crate::commands::inspect::SideMiss::Failed(u));
    }
    if a.image.starts_with("oci:") {
        r.daemon_error = Some(crate::commands::inspect::SideMiss::Layout);
    }
    r.docker_context = ctx.docker_context.clone();
    output(
        format,
        &r,
        |out, _, r| render::inspect(out, r),
        r.exit_code(),
    )
}

async fn run_verify(a: VerifyArgs) -> anyhow::Result<u8> {
    let format = a.common.format;
    let reference: Reference = match (&a.image, &a.metadata_file) {
        (Some(i), _) => match Reference::parse_location(i) {
            Ok(r) => r,
            Err(e) => return fail(format, exit::USAGE, &e.to_string()),
        },
        (None, Some(f)) => {
            let text = match std::fs::read_to_string(f) {
                Ok(t) => t,
                Err(e) => {
                    return fail(
                        format,
                        exit::USAGE,
                        &format!("cannot read {}: {e}", f.display()),
                    )
                }
            };
            match crate::commands::verify::reference_from_metadata(&text) {
                Ok(r) => r,
                Err(e) => return fail(format, exit::USAGE, &format!("{}: {e}", f.display())),
            }
        }
        (None, None) => return fail(format, exit::USAGE, "give IMAGE@DIGEST or --metadata-file"),
    };
    let ctx = match Context::new(&a.common, Use::None) {
        Ok((c, _)) => c,
        Err(e) => return fail(format, exit::FAILED, &e),
    };
    let opts = crate::commands::verify::VerifyOptions {
        expected: a.platforms,
        allow_extra: a.allow_extra,
        content: a.content,
        allow_nondistributable: a.allow_nondistributable,
        progress: meter(format),
        required_referrers: a.require_referrer,
    };
    let registry = crate::layout::Routed::new(&ctx.registry);
    match crate::commands::verify::verify(&registry, &reference, &opts).await {
        Ok(r) => output(
            format,
            &r,
            |out, _, r| render::verify(out, r),
            r.exit_code(),
        ),
        Err(e) => fail(format, exit::FAILED, &e.to_string()),
    }
}

async fn run_diagnose(a: DiagnoseArgs) -> anyhow::Result<u8> {
    let format = a.common.format;
    let path = default_analyzed(a.analyzed);
    let file = match AnalyzedFile::load(&path) {
        Ok(f) => f,
        Err(e) => return fail(format, exit::USAGE, &e.to_string()),
    };
    let ctx = match Context::new(&a.common, Use::Required(&a.host)) {
        Ok((c, _)) => c,
        Err(e) => return fail(format, exit::FAILED, &e),
    };
    let Some(daemon) = &ctx.daemon else {
        return fail(format, exit::FAILED, "diagnose needs a daemon");
    };
    let registry = if a.daemon_only {
        None
    } else {
        Some(&ctx.registry)
    };
    match crate::commands::diagnose::diagnose(&file, a.platform, daemon, registry).await {
        Ok(mut r) => {
            r.docker_context = ctx.docker_context.clone();
            output_as(
                format,
                &r,
                &crate::report::diagnose::Json::from(&r),
                |out, _, r| render::diagnose(out, r),
                r.exit_code(),
            )
        }
        Err(e @ crate::commands::diagnose::DiagnoseError::Daemon(_)) => {
            fail(format, exit::FAILED, &e.to_string())
        }
        Err(e) => fail(format, exit::USAGE, &e.to_string()),
    }
}

fn publish_options(
    p: &PublishArgs,
    replace: bool,
    format: Format,
) -> crate::commands::publish::PublishOptions {
    crate::commands::publish::PublishOptions {
        attestations: p.attestations.into(),
        platforms: (!p.platforms.is_empty()).then(|| p.platforms.clone()),
        replace,
        tags: p.tags.clone(),
        dry_run: p.dry_run,
        verify_content: p.verify_content,
        allow_nondistributable: p.allow_nondistributable,
        progress: meter(format),
        referrers: crate::commands::publish::Carry::None,
        source_tags: None,
    }
}

async fn run_sync(a: SyncArgs) -> anyhow::Result<u8> {
    let format = a.common.format;
    let file = match crate::commands::sync::SyncFile::read(&a.file) {
        Ok(f) => f,
        Err(e) => return fail(format, exit::USAGE, &e.to_string()),
    };
    let ctx = match Context::new(&a.common, Use::None) {
        Ok((c, _)) => c,
        Err(e) => return fail(format, exit::FAILED, &e),
    };
    let total = match a.shard {
        Some(s) => file
            .images
            .iter()
            .filter(|i| s.takes(&i.source.canonical_name()))
            .count(),
        None => file.images.len(),
    };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let on_image: Option<crate::commands::sync::OnImage> = meter(format).map(|_| {
        let done = done.clone();
        let tell: crate::commands::sync::OnImage =
            std::sync::Arc::new(move |r: &crate::commands::sync::ImageResult| {
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                eprintln!("[{n}/{total}] {}", render::sync_line(r));
            });
        tell
    });
    let opts = crate::commands::sync::SyncOptions {
        jobs: a.jobs.into(),
        dry_run: a.dry_run,
        shard: a.shard,
        deadline: Some(tokio::time::Instant::now() + a.common.deadline()),
        on_image,
        progress: None,
    };
    let path = a.file.display().to_string();
    let r = crate::commands::sync::sync(&ctx.registry, &file, &path, &opts).await;
    output_as(
        format,
        &r,
        &crate::report::sync::Json::from(&r),
        |out, _, r| render::sync(out, r),
        r.exit_code(),
    )
}

/// The report of `index create` or `copy`, or its error with the right exit code.
fn publish_outcome(
    format: Format,
    result: Result<crate::commands::publish::PublishReport, crate::commands::publish::PublishError>,
) -> anyhow::Result<u8> {
    match result {
        Ok(r) => output(
            format,
            &r,
            |out, _, r| render::publish(out, r),
            r.exit_code(),
        ),
        Err(e) if e.is_input() => fail(format, exit::USAGE, &e.to_string()),
        Err(e) => fail(format, exit::FAILED, &e.to_string()),
    }
}

/// An OCI layout lists its images by tag: a target layout without one would hold an image
/// nothing names (a newcomer's untagged copy "succeeded" into an empty index.json).
fn layout_needs_tag(target: &Reference, tagged: bool) -> Result<(), String> {
    match crate::model::reference::layout_dir(target.registry()).is_some() && !tagged {
        true => Err(format!(
            "TARGET {target}: an OCI layout lists images by tag: give oci:DIR:TAG (or --tag TAG)"
        )),
        false => Ok(()),
    }
}

/// A layout target must be a layout, an empty directory or a new one: checked before anything
/// is read, so a dry run refuses what the copy would.
fn layout_writable(target: &Reference) -> Result<(), String> {
    match crate::model::reference::layout_dir(target.registry()) {
        Some(dir) => crate::layout::LayoutRegistry::may_write(&dir).map_err(|e| e.to_string()),
        None => Ok(()),
    }
}

/// The names of `index create` / `copy`, parsed once: the target and the sources.
type PublishNames = (Reference, Vec<Reference>);

fn publish_names(target: &str, sources: &[String]) -> Result<PublishNames, String> {
    let t = Reference::parse_location(target).map_err(|e| format!("TARGET: {e}"))?;
    let srcs = sources
        .iter()
        .map(|s| Reference::parse_location(s).map_err(|e| format!("SOURCE: {e}")))
        .collect::<Result<Vec<Reference>, String>>()?;
    Ok((t, srcs))
}

async fn run_index_create(a: IndexCreateArgs) -> anyhow::Result<u8> {
    let format = a.common.format;
    let (target, sources) = match publish_names(&a.target, &a.sources) {
        Ok(n) => n,
        Err(e) => return fail(format, exit::USAGE, &e),
    };
    let ctx = match Context::new(&a.common, Use::None) {
        Ok((c, _)) => c,
        Err(e) => return fail(format, exit::FAILED, &e),
    };
    let mut opts = publish_options(&a.publish, a.replace, format);
    opts.referrers = a.referrers.clone();
    if let Err(e) = layout_needs_tag(&target, target.tag().is_some() || !opts.tags.is_empty()) {
        return fail(format, exit::USAGE, &e);
    }
    if let Err(e) = layout_writable(&target) {
        return fail(format, exit::FAILED, &e);
    }
    let registry = crate::layout::Routed::new(&ctx.registry);
    let r = crate::commands::publish::create(&registry, &target, &sources, &opts).await;
    publish_outcome(format, r)
}

async fn run_copy(a: CopyArgs) -> anyhow::Result<u8> {
    let format = a.common.format;
    let (target, sources) = match publish_names(&a.target, std::slice::from_ref(&a.source)) {
        Ok(n) => n,
        Err(e) => return fail(format, exit::USAGE, &e),
    };
    let ctx = match Context::new(&a.common, Use::None) {
        Ok((c, _)) => c,
        Err(e) => return fail(format, exit::FAILED, &e),
    };
    let mut opts = publish_options(&a.publish, false, format);
    opts.referrers = a.referrers.clone();
    let tagged = target.tag().or(sources[0].tag()).is_some() || !opts.tags.is_empty();
    if let Err(e) = layout_needs_tag(&target, tagged) {
        return fail(format, exit::USAGE, &e);
    }
    if let Err(e) = layout_writable(&target) {
        return fail(format, exit::FAILED, &e);
    }
    let registry = crate::layout::Routed::new(&ctx.registry);
    let r = crate::commands::publish::copy(&registry, &sources[0], &target, &opts).await;
    publish_outcome(format, r)
}
