//! Command-line interface: argument definitions, dispatch, rendering and exit codes. The only
//! place that prints.

use crate::analyzed::AnalyzedFile;
use crate::daemon::{Daemon, DaemonTarget, EngineDaemon};
use crate::mirror::Mirror;
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
    /// Show an image as the daemon and the registry see it, and which index entry is local.
    #[command(long_about = INSPECT_HELP)]
    Inspect(InspectArgs),
    /// Prove by digest which platforms a pushed image has (optionally from its executables).
    #[command(long_about = VERIFY_HELP)]
    Verify(VerifyArgs),
    /// Explain whether a daemon export will find the run image, and how to fix it.
    #[command(long_about = DIAGNOSE_HELP)]
    Diagnose(DiagnoseArgs),
}

const INSPECT_HELP: &str = "\
Show an image as the daemon and the registry see it, side by side, and the link between them.

daemon:   image ID, tags, RepoDigests, platform, which image store answered.
registry: top digest and media type; every index entry with platform, digest and size;
          attestation entries marked with the entry they attest; entries lacking a variant
          flagged; the config digest of each runnable entry (fetched concurrently).
link:     which index entry the local image is, and the proof (config digest = image ID,
          RepoDigests, containerd manifests), or that it cannot be proven.

Works with only one side (a daemon-only image, a registry-only image, --no-daemon). OCI
indexes and attestations are shown, never an error.

Examples:
  runref inspect 127.0.0.1:5000/run:jammy
  runref inspect --no-daemon --format json registry.example.com/base/run:jammy";

const VERIFY_HELP: &str = "\
Prove, by digest, which platforms a pushed image has: the non-racy check after a multi-platform
push. A tag is resolved once and the digest it resolved to is what is verified and reported.

Passes when every --platforms entry has exactly one runnable entry (attestations ignored,
variants normalised: linux/arm64 = linux/arm64/v8), no other platform is present (unless
--allow-extra), and each entry's config declares the entry's os/architecture/variant.
--content also streams every layer and checks the ELF machine type of the executables against
the claimed architecture, without running anything (works for FROM scratch images); a platform
with no ELF executable is reported as unproven, which fails verification.

Exit codes: 0 verified, 1 mismatch (each listed) or registry failure, 2 invalid input.

Examples:
  runref verify reg.example.com/app@sha256:… --platforms linux/amd64,linux/arm64
  runref verify --metadata-file buildx-metadata.json --platforms linux/amd64,linux/arm64 --content";

const DIAGNOSE_HELP: &str = "\
Explain whether a daemon export will find the run image. Looks it up exactly as the lifecycle
exporter does (by [run-image] reference) and, when it will not, says why: a per-arch digest the
daemon does not hold (and which local image is that platform), the image absent, another
platform present, a daemon-only image with a registry digest, or a containerd-store ID form.
Quotes the lifecycle error you would see and ends with the runref reconcile command that fixes it.
Compares [metadata.run-image] top-layer with the local run image's top layer.

Without --daemon-only it asks the registry which platform the reference's digest is.

Exit codes: 0 the export will work, 1 it will fail, 2 invalid input.";

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Image: name[:tag][@digest], or a daemon image ID
    pub image: String,
    /// Mark the entry for this platform
    #[arg(long)]
    pub platform: Option<Platform>,
    /// Registry side only
    #[arg(long)]
    pub no_daemon: bool,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Image, by digest (name@sha256:…); a tag is resolved once
    #[arg(required_unless_present = "metadata_file")]
    pub image: Option<String>,
    /// Expected platforms, comma-separated: linux/amd64,linux/arm64
    #[arg(long, value_delimiter = ',')]
    pub platforms: Vec<Platform>,
    /// Accept platforms beyond --platforms
    #[arg(long)]
    pub allow_extra: bool,
    /// Also check the executables' ELF machine type in every layer
    #[arg(long)]
    pub content: bool,
    /// buildx --metadata-file JSON (containerimage.digest, image.name)
    #[arg(long, conflicts_with = "image")]
    pub metadata_file: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct DiagnoseArgs {
    /// analyzed.toml [default: $CNB_ANALYZED_PATH, else ./analyzed.toml]
    pub analyzed: Option<PathBuf>,
    /// Target platform [default: [run-image.target], else the restorer's choice, else the daemon's]
    #[arg(long)]
    pub platform: Option<Platform>,
    /// Ask only the daemon, never the registry
    #[arg(long)]
    pub daemon_only: bool,
    #[command(flatten)]
    pub common: Common,
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
    /// Read Docker Hub names through this mirror first (http://HOST[:PORT] or https://HOST),
    /// before the daemon's own mirrors and Docker Hub; repeatable or comma-separated
    #[arg(
        long = "registry-mirror",
        env = "RUNREF_REGISTRY_MIRRORS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub registry_mirror: Vec<Mirror>,
}

impl Common {
    fn registry_options(&self) -> RegistryOptions {
        RegistryOptions {
            insecure: self.insecure_registry.clone(),
            timeout: Duration::from_secs(self.timeout.max(1)),
            mirrors: self.registry_mirror.clone(),
            ..Default::default()
        }
    }

    /// The registry client; with a daemon, Docker Hub names are also read through the daemon's
    /// own mirrors (asked only if a Docker Hub name is read).
    fn registry(
        &self,
        hosts: &[&str],
        daemon: Option<&EngineDaemon>,
    ) -> Result<OciRegistry, crate::registry::RegistryError> {
        let reg = OciRegistry::new(self.registry_options(), hosts)?;
        Ok(match daemon {
            Some(d) => {
                let d = d.clone();
                reg.with_daemon_mirrors(Box::pin(async move {
                    d.registry_mirrors().await.unwrap_or_default()
                }))
            }
            None => reg,
        })
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
            Command::Inspect(a) => run_inspect(a).await,
            Command::Verify(a) => run_verify(a).await,
            Command::Diagnose(a) => run_diagnose(a).await,
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
        // Unreadable or malformed input: usage error, nothing touched.
        Err(e) => return report_error(format, exit::USAGE, &e.to_string()),
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
    let daemon = if mode == Mode::Daemon {
        match EngineDaemon::connect(&DaemonTarget::from_env(a.common.docker_host.as_deref())) {
            Ok(d) => Some(d),
            Err(e) => return report_error(format, exit::FAILED, &e.to_string()),
        }
    } else {
        None
    };
    let registry = match a.common.registry(&host_refs, daemon.as_ref()) {
        Ok(r) => r,
        Err(e) => return report_error(format, exit::FAILED, &e.to_string()),
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
        let store = r.store.map(store_name).unwrap_or("daemon");
        println!("  image:    {id} in {store}");
    }
    if let Some(p) = &r.pulled {
        println!("  pulled:   {p}");
    }
    println!("  registry requests: {}", r.registry_requests);
    print_mirrors(&r.registry_endpoints);
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

/// The registries a mirror answered for, with the mirror's URL.
fn mirrored(
    endpoints: &std::collections::BTreeMap<String, String>,
) -> impl Iterator<Item = (&String, &String)> {
    endpoints
        .iter()
        .filter(|(registry, url)| !url.ends_with(&format!("://{registry}")))
}

/// A line per registry that a mirror answered for (`docker.io` read through a mirror).
fn print_mirrors(endpoints: &std::collections::BTreeMap<String, String>) {
    for (registry, url) in mirrored(endpoints) {
        println!("  {registry} read through mirror {url}");
    }
}

fn store_name(s: crate::local::StoreKind) -> &'static str {
    use crate::local::StoreKind;
    match s {
        StoreKind::DockerClassic => "Docker Engine (classic image store)",
        StoreKind::DockerContainerd => "Docker Engine (containerd image store)",
        StoreKind::Podman => "podman (Docker-compatible API)",
    }
}

fn print_json<T: serde::Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    );
}

fn connect_daemon(common: &Common) -> Result<EngineDaemon, crate::daemon::DaemonError> {
    EngineDaemon::connect(&DaemonTarget::from_env(common.docker_host.as_deref()))
}

async fn run_inspect(a: InspectArgs) -> u8 {
    let format = a.common.format;
    let image = match crate::reference::ImageRef::parse(&a.image) {
        Ok(i) => i,
        Err(e) => return report_error(format, exit::USAGE, &e.to_string()),
    };
    let host = match &image {
        crate::reference::ImageRef::Name(n) => vec![n.registry().to_string()],
        _ => vec![],
    };
    let hosts: Vec<&str> = host.iter().map(String::as_str).collect();
    let daemon = if a.no_daemon {
        None
    } else {
        match connect_daemon(&a.common) {
            Ok(d) => Some(d),
            Err(e) => return report_error(format, exit::FAILED, &e.to_string()),
        }
    };
    let reg = match a.common.registry(&hosts, daemon.as_ref()) {
        Ok(r) => r,
        Err(e) => return report_error(format, exit::FAILED, &e.to_string()),
    };
    let r = crate::inspect::inspect(&image, a.platform.as_ref(), daemon.as_ref(), &reg).await;
    match format {
        Format::Json => print_json(&r),
        Format::Text => print_inspect(&r),
    }
    if r.daemon.is_none() && r.registry.is_none() {
        exit::FAILED
    } else {
        exit::OK
    }
}

fn print_inspect(r: &crate::inspect::InspectReport) {
    println!("{}", r.image);
    match (&r.daemon, &r.daemon_error) {
        (Some(d), _) => {
            println!("├─ daemon ({})", store_name(d.store));
            println!("│  ├─ id:           {}", d.image_id);
            println!(
                "│  ├─ platform:     {}",
                d.platform
                    .as_ref()
                    .map_or("unknown".into(), |p| p.to_string())
            );
            println!("│  ├─ tags:         {}", list(&d.tags));
            println!("│  └─ repo digests: {}", list(&d.repo_digests));
        }
        (None, Some(e)) => println!("├─ daemon: {e}"),
        (None, None) => println!("├─ daemon: not asked (--no-daemon)"),
    }
    match (&r.registry, &r.registry_error) {
        (Some(v), _) => {
            println!("├─ registry: {}", v.reference);
            if let Some(t) = &v.resolved_from {
                println!("│  ├─ resolved from: {t}");
            }
            for (registry, url) in mirrored(&r.registry_endpoints) {
                println!("│  ├─ read through mirror: {url} (for {registry})");
            }
            println!("│  ├─ media type: {}", v.media_type);
            let n = v.entries.len();
            for (i, e) in v.entries.iter().enumerate() {
                let branch = if i + 1 == n { "└─" } else { "├─" };
                let platform = e
                    .platform
                    .as_ref()
                    .map_or("(none)".into(), |p| p.to_string());
                let marked = r
                    .platform
                    .as_ref()
                    .is_some_and(|p| e.platform.as_ref() == Some(p));
                let mut notes = vec![];
                if e.attestation {
                    notes.push(format!(
                        "attestation{}",
                        e.attests
                            .as_ref()
                            .and_then(|d| d.parse::<crate::digest::Digest>().ok())
                            .map(|d| format!(" of {}", d.short()))
                            .unwrap_or_default()
                    ));
                }
                if e.lacks_variant {
                    notes.push("no variant in index".into());
                }
                if marked {
                    notes.push("<- --platform".into());
                }
                if let Some(l) = &r.link {
                    if l.entry.as_ref() == Some(&e.digest) {
                        notes.push("<- local image".into());
                    }
                }
                println!(
                    "│  {branch} {:<16} {}  {:>6} B{}{}",
                    if e.attestation {
                        "unknown/unknown".to_string()
                    } else {
                        platform
                    },
                    e.digest.short(),
                    e.size,
                    e.config
                        .as_ref()
                        .map(|c| format!("  config {}", c.short()))
                        .unwrap_or_default(),
                    if notes.is_empty() {
                        String::new()
                    } else {
                        format!("  [{}]", notes.join(", "))
                    }
                );
                if let Some(err) = &e.error {
                    println!("│  {}    error: {err}", if i + 1 == n { " " } else { "│" });
                }
            }
        }
        (None, Some(e)) => println!("├─ registry: {e}"),
        (None, None) => println!("├─ registry: not asked"),
    }
    match &r.link {
        Some(l) => println!(
            "└─ link: {}{}",
            l.explanation,
            l.proof
                .map(|p| format!(" (proof: {})", proof_name(p)))
                .unwrap_or_default()
        ),
        None => println!("└─ link: needs both sides"),
    }
}

fn proof_name(p: crate::proof::Proof) -> &'static str {
    match p {
        crate::proof::Proof::ConfigDigestIsImageId => "config digest = image ID",
        crate::proof::Proof::RepoDigests => "RepoDigests",
        crate::proof::Proof::ContainerdManifests => "containerd manifests",
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

async fn run_verify(a: VerifyArgs) -> u8 {
    let format = a.common.format;
    let reference: crate::reference::Reference = match (&a.image, &a.metadata_file) {
        (Some(i), _) => match i.parse() {
            Ok(r) => r,
            Err(e) => return report_error(format, exit::USAGE, &e.to_string()),
        },
        (None, Some(f)) => {
            let text = match std::fs::read_to_string(f) {
                Ok(t) => t,
                Err(e) => {
                    return report_error(
                        format,
                        exit::USAGE,
                        &format!("cannot read {}: {e}", f.display()),
                    )
                }
            };
            match crate::verify::reference_from_metadata(&text) {
                Ok(r) => r,
                Err(e) => {
                    return report_error(format, exit::USAGE, &format!("{}: {e}", f.display()))
                }
            }
        }
        (None, None) => {
            return report_error(format, exit::USAGE, "give IMAGE@DIGEST or --metadata-file")
        }
    };
    let reg = match a.common.registry(&[reference.registry()], None) {
        Ok(r) => r,
        Err(e) => return report_error(format, exit::FAILED, &e.to_string()),
    };
    let opts = crate::verify::VerifyOptions {
        expected: a.platforms,
        allow_extra: a.allow_extra,
        content: a.content,
    };
    let r = match crate::verify::verify(&reg, &reference, &opts).await {
        Ok(r) => r,
        Err(e) => return report_error(format, exit::FAILED, &e.to_string()),
    };
    match format {
        Format::Json => print_json(&r),
        Format::Text => {
            println!("verified digest: {}", r.verified_digest);
            if let Some(t) = &r.resolved_from {
                println!("  (resolved once from {t}; the tag may move, this digest will not)");
            }
            println!("media type: {}", r.media_type);
            print_mirrors(&r.registry_endpoints);
            for p in &r.platforms {
                println!(
                    "  {:<16} {}  config says {}{}",
                    p.platform
                        .as_ref()
                        .map_or("(none)".into(), |x| x.to_string()),
                    p.digest.short(),
                    p.config_platform
                        .as_ref()
                        .map_or("?".into(), |x| x.to_string()),
                    p.content
                        .as_ref()
                        .map(|c| format!(
                            "  content: {} ({} ELF executables in {} layers)",
                            c.verdict, c.elf_files, c.layers
                        ))
                        .unwrap_or_default()
                );
            }
            if r.attestations_ignored > 0 {
                println!(
                    "  ({} attestation manifests ignored)",
                    r.attestations_ignored
                );
            }
            for p in &r.problems {
                println!("MISMATCH {}", crate::verify::describe(p));
            }
            println!(
                "{}",
                if r.verified {
                    "verified"
                } else {
                    "NOT verified"
                }
            );
        }
    }
    if r.verified {
        exit::OK
    } else {
        exit::FAILED
    }
}

async fn run_diagnose(a: DiagnoseArgs) -> u8 {
    let format = a.common.format;
    let path = default_analyzed(a.analyzed);
    let file = match AnalyzedFile::load(&path) {
        Ok(f) => f,
        Err(e) => return report_error(format, exit::USAGE, &e.to_string()),
    };
    let daemon = match connect_daemon(&a.common) {
        Ok(d) => d,
        Err(e) => return report_error(format, exit::FAILED, &e.to_string()),
    };
    let hosts: Vec<String> = file
        .view()
        .ok()
        .and_then(|v| v.run_image)
        .and_then(|r| r.reference)
        .and_then(|r| r.parse::<crate::reference::Reference>().ok())
        .map(|r| r.registry().to_string())
        .into_iter()
        .collect();
    let host_refs: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let reg = match a.common.registry(&host_refs, Some(&daemon)) {
        Ok(r) => r,
        Err(e) => return report_error(format, exit::FAILED, &e.to_string()),
    };
    let registry = if a.daemon_only { None } else { Some(&reg) };
    let r = match crate::diagnose::diagnose(&file, a.platform, &daemon, registry).await {
        Ok(r) => r,
        Err(e @ crate::diagnose::DiagnoseError::Daemon(_)) => {
            return report_error(format, exit::FAILED, &e.to_string())
        }
        Err(e) => return report_error(format, exit::USAGE, &e.to_string()),
    };
    match format {
        Format::Json => print_json(&r),
        Format::Text => {
            println!("{}: [run-image] reference = {}", r.file, r.reference);
            if let Some(p) = &r.platform {
                println!("  platform: {p}");
            }
            print_mirrors(&r.registry_endpoints);
            println!(
                "  export: {}",
                if r.export_will_work {
                    "will find the run image"
                } else {
                    "WILL FAIL"
                }
            );
            println!("  {}", r.explanation);
            if !r.export_will_work {
                if let Some(e) = r.lifecycle_error {
                    println!("  lifecycle reports: {e}");
                }
                for i in &r.local_images {
                    println!(
                        "  local: {} {} tags={} digests={}",
                        i.image_id,
                        i.platform.as_ref().map_or("?".into(), |p| p.to_string()),
                        list(&i.tags),
                        list(&i.repo_digests)
                    );
                }
                if let Some(p) = &r.registry_platform {
                    println!("  registry: the reference's digest is the {p} image");
                }
            }
            if let Some(t) = &r.top_layer {
                println!(
                    "  top layer: [metadata.run-image] {} local {} ({})",
                    t.recorded,
                    t.local.as_deref().unwrap_or("?"),
                    if t.same {
                        "same run image as the previous build"
                    } else {
                        "the run image changed since the previous build"
                    }
                );
            }
            if let Some(f) = &r.fix {
                println!("fix: {f}");
            }
        }
    }
    if r.export_will_work {
        exit::OK
    } else {
        exit::FAILED
    }
}
