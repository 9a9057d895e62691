//! Command-line interface: argument definitions, dispatch, rendering and exit codes. The only
//! place that prints.

use crate::analyzed::AnalyzedFile;
use crate::daemon::{DaemonTarget, EngineDaemon};
use crate::platform::Platform;
use crate::policy::ParsedPolicy;
use crate::reconcile::decide::{Mode, Reason};
use crate::reconcile::{self, Report};
use crate::registry::{OciRegistry, RegistryOptions};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Exit codes, documented in the README.
pub mod exit {
    /// Done: reconciled (changed or not), verified, export will work.
    pub const OK: u8 = 0;
    /// Cannot reconcile / verification mismatch / export will fail.
    pub const FAILED: u8 = 1;
    /// Invalid input or usage.
    pub const USAGE: u8 = 2;
    /// `reconcile --check` found a needed change.
    pub const CHANGE_NEEDED: u8 = 3;
}

const ABOUT: &str = "Registry-aware Docker daemon inspector for Cloud Native Buildpacks platforms";
const LONG_ABOUT: &str = "\
runref keeps analyzed.toml's run-image reference right for a daemon export.

At platform API 0.10/0.11 the lifecycle restorer writes the per-architecture manifest digest of a
multi-arch run image into analyzed.toml. A Docker daemon knows a pulled multi-arch image only by
its index digest and image ID, so the exporter fails with
  \"get run image top layer SHA: image has no layers\".
runref reconciles that reference between the daemon and the registry, honouring pull policies.

Exit codes: 0 done, 1 cannot reconcile / mismatch / export will fail, 2 invalid input or usage,
3 `reconcile --check` found a needed change.";

#[derive(Parser, Debug)]
#[command(name = "runref", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Make analyzed.toml's [run-image] reference right for the daemon (--daemon) or registry.
    #[command(long_about = RECONCILE_HELP)]
    Reconcile(ReconcileArgs),
}

const RECONCILE_HELP: &str = "\
Make analyzed.toml's [run-image] reference right for the daemon (--daemon) or the registry.

Daemon mode (--daemon, or CNB_USE_DAEMON=true) writes the daemon's image ID of the run image for
the target platform, the form lifecycle writes with -daemon at platform API 0.12+. A per-arch
digest the daemon does not hold is mapped to the local image, with proof where the daemon or the
registry gives one. A daemon-only image is never rewritten from a registry.

Registry mode writes repo@sha256:<manifest for the target platform>, never an attestation entry.

Target platform: --platform, else [run-image.target], else the daemon's platform (daemon mode) or
this machine's.

Pull policies: never (no registry contact at all), if-not-present (default; pull only when no
matching local image), always (pull, then check the pulled image against the registry).
pack's hourly/daily/weekly/interval=<d h m> act as if-not-present (runref keeps no pull times).

An unchanged decision leaves the file byte-identical. Writes are atomic.

Examples:
  runref reconcile --daemon --pull-policy never /layers/analyzed.toml
  runref reconcile --daemon --check --format json
  runref reconcile --dry-run --platform linux/arm64 analyzed.toml";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct ReconcileArgs {
    /// analyzed.toml to reconcile [default: $CNB_ANALYZED_PATH, else ./analyzed.toml]
    #[arg(value_name = "ANALYZED")]
    pub analyzed: Option<PathBuf>,
    /// The export goes to a daemon: write the daemon image ID (env CNB_USE_DAEMON)
    #[arg(long, env = "CNB_USE_DAEMON", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub daemon: bool,
    /// never | if-not-present | always (pack's hourly/daily/weekly/interval= accepted)
    #[arg(
        long,
        env = "RUNREF_PULL_POLICY",
        default_value = "if-not-present",
        value_name = "POLICY"
    )]
    pub pull_policy: ParsedPolicy,
    /// Target platform os/arch[/variant], e.g. linux/arm64/v8
    #[arg(long)]
    pub platform: Option<Platform>,
    /// Show the change as a diff; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Write nothing; exit 3 when a change is needed
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,
    #[command(flatten)]
    pub common: Common,
}

/// Options shared by the commands that reach a daemon or a registry.
#[derive(Args, Debug)]
pub struct Common {
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Registry host[:port] that speaks plain HTTP (loopback hosts always may); repeatable
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registry: Vec<String>,
    /// Docker daemon to use [default: $DOCKER_HOST, else unix:///var/run/docker.sock]
    #[arg(long, value_name = "URL")]
    pub docker_host: Option<String>,
    /// Seconds to wait for each registry request
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
}

impl Common {
    fn registry_options(&self) -> RegistryOptions {
        RegistryOptions {
            insecure: self.insecure_registry.clone(),
            timeout: Duration::from_secs(self.timeout.max(1)),
            ..Default::default()
        }
    }
}

/// Parses arguments, runs, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let Some(command) = cli.command else {
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return ExitCode::from(exit::USAGE);
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    ExitCode::from(rt.block_on(async {
        match command {
            Command::Reconcile(a) => run_reconcile(a).await,
        }
    }))
}

/// Prints an error before any report exists, in the requested format, and returns `code`.
fn report_error(format: Format, code: u8, message: &str) -> u8 {
    match format {
        Format::Json => println!(
            "{}",
            serde_json::json!({"error": message, "exit_code": code})
        ),
        Format::Text => eprintln!("error: {message}"),
    }
    code
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

async fn run_reconcile(a: ReconcileArgs) -> u8 {
    let format = a.common.format;
    let path = default_analyzed(a.analyzed);
    let mut file = match AnalyzedFile::load(&path) {
        Ok(f) => f,
        Err(e) => {
            let code = match e {
                crate::analyzed::AnalyzedError::Read { .. } => exit::USAGE,
                _ => exit::USAGE,
            };
            return report_error(format, code, &e.to_string());
        }
    };
    let mode = if a.daemon {
        Mode::Daemon
    } else {
        Mode::Registry
    };
    let opts = reconcile::Options {
        mode,
        policy: a.pull_policy,
        platform: a.platform,
        no_write: a.dry_run || a.check,
    };
    let hosts: Vec<String> = file
        .view()
        .ok()
        .and_then(|v| v.run_image)
        .into_iter()
        .flat_map(|r| [r.reference, r.image])
        .flatten()
        .filter_map(|s| s.parse::<crate::reference::Reference>().ok())
        .map(|r| r.registry().to_string())
        .collect();
    let host_refs: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let registry = match OciRegistry::new(a.common.registry_options(), &host_refs) {
        Ok(r) => r,
        Err(e) => return report_error(format, exit::FAILED, &e.to_string()),
    };
    let daemon = if mode == Mode::Daemon {
        match EngineDaemon::connect(&DaemonTarget::from_env(a.common.docker_host.as_deref())) {
            Ok(d) => Some(d),
            Err(e) => return report_error(format, exit::FAILED, &e.to_string()),
        }
    } else {
        None
    };
    let mut progress = progress_sink();
    let report =
        match reconcile::reconcile(&mut file, &opts, daemon.as_ref(), &registry, &mut progress)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let code = if e.is_input() {
                    exit::USAGE
                } else {
                    exit::FAILED
                };
                return report_error(format, code, &e.to_string());
            }
        };
    let code = if report.failure.is_some() {
        exit::FAILED
    } else if a.check && report.changed {
        exit::CHANGE_NEEDED
    } else {
        exit::OK
    };
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report)
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        ),
        Format::Text => print_reconcile(&report, a.dry_run, a.check),
    }
    code
}

/// One sentence per decision, for people.
pub fn explain(r: Reason) -> &'static str {
    match r {
        Reason::AlreadyDaemonId => "already the daemon's image ID of a matching image",
        Reason::DaemonHoldsReference => "the daemon holds the reference for the target platform",
        Reason::DaemonHoldsImageName => {
            "the daemon holds [run-image] image for the target platform"
        }
        Reason::ProvenByRepoDigests => {
            "the daemon records the per-arch digest for this image (RepoDigests)"
        }
        Reason::ProvenByContainerdManifests => {
            "the containerd image store lists the per-arch manifest for this image"
        }
        Reason::ProvenByConfigDigest => {
            "the registry's manifest for the digest has this image's config digest"
        }
        Reason::MatchedByRepositoryAndPlatform => {
            "matched by repository and platform (no proof available)"
        }
        Reason::Pulled => "pulled for the target platform",
        Reason::DaemonOnlyNotPulled => "daemon-only image used as is (not pulled)",
        Reason::ExtendKeepsRegistryDigest => "run image is extended: the registry digest is kept",
        Reason::RegistryResolved => "resolved to the registry manifest for the target platform",
        Reason::AlreadyPlatformDigest => "already the registry manifest for the target platform",
        Reason::KeptWithoutRegistry => "kept as is: pull policy never forbids asking the registry",
    }
}

fn print_reconcile(r: &Report, dry_run: bool, check: bool) {
    let platform = r
        .platform
        .as_ref()
        .map(|p| {
            let from = match r.platform_source {
                Some(reconcile::PlatformSource::Flag) => "--platform",
                Some(reconcile::PlatformSource::Target) => "[run-image.target]",
                Some(reconcile::PlatformSource::Daemon) => "the daemon",
                _ => "this machine",
            };
            format!("{p} (from {from})")
        })
        .unwrap_or_default();
    println!("{}: [run-image] reference", r.file);
    println!("  before:   {}", r.before);
    if let Some(after) = &r.after {
        println!("  after:    {after}");
    }
    println!("  platform: {platform}");
    let mode = if r.mode == Mode::Daemon {
        "daemon"
    } else {
        "registry"
    };
    println!("  mode:     {mode}, pull policy {}", r.pull_policy);
    if let Some(id) = &r.local_image_id {
        let store = r.store.map(|s| s.describe()).unwrap_or("daemon");
        println!("  image:    {id} in {store}");
    }
    if let Some(p) = &r.pulled {
        println!("  pulled:   {p}");
    }
    println!("  registry requests: {}", r.registry_requests);
    if let Some(d) = r.decision {
        println!("  decision: {}", explain(d));
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(f) = &r.failure {
        eprintln!("error: cannot reconcile {}: {}", r.file, f.message);
        return;
    }
    match (r.changed, r.written) {
        (false, _) => println!("unchanged: the file was not touched"),
        (true, true) => println!("written"),
        (true, false) => {
            if let Some(d) = &r.diff {
                print!("{d}");
            }
            if check {
                println!("a change is needed (--check: nothing written)");
            } else if dry_run {
                println!("--dry-run: nothing written");
            }
        }
    }
}
