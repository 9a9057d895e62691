//! Command-line arguments: clap definitions and the help texts that teach each command.
// Doc comments here are `--help` text (`name[:tag]`), not rustdoc links.
#![allow(rustdoc::broken_intra_doc_links)]

use crate::commands::assemble::Attestations;
use crate::mirror::Mirror;
use crate::model::given::{parse_artifact_type, parse_duration};
use crate::model::platform::Platform;
use crate::model::policy::ParsedPolicy;
use crate::registry::RegistryOptions;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

const ABOUT: &str = "Registry-aware Docker daemon inspector for Cloud Native Buildpacks platforms";
const LONG_ABOUT: &str = "\
runref keeps analyzed.toml's run-image reference right for a daemon export.

At platform API 0.10/0.11 the lifecycle restorer writes the per-architecture manifest digest of a
multi-arch run image into analyzed.toml. A Docker daemon knows a pulled multi-arch image only by
its index digest and image ID, so the exporter fails with
  \"get run image top layer SHA: image has no layers\".
runref reconciles that reference between the daemon and the registry, honouring pull policies.
It also inspects an image in the daemon and the registry side by side, verifies the platforms of
a pushed image by digest, diagnoses failed daemon exports, assembles multi-arch indexes from
per-arch images (index create) and mirrors images (copy, or many from one file: sync), proving
each result by digest.

Exit codes: 0 done, 1 cannot reconcile / mismatch / export will fail / not pushed or not
verified / not every image synced, 2 invalid input or usage, 3 `reconcile --check` found a needed change, 130 interrupted
(Ctrl-C; nothing is left half-done).

Environment (an empty variable is unset):
  CNB_USE_DAEMON             reconcile --daemon (true/1/yes), as lifecycle reads it
  CNB_ANALYZED_PATH          the analyzed.toml of reconcile and diagnose, when none is given
  RUNREF_PULL_POLICY         reconcile --pull-policy
  RUNREF_REGISTRY_MIRRORS    --registry-mirror (comma-separated)
  RUNREF_INSECURE_REGISTRIES --insecure-registry (comma-separated)
  RUNREF_CERT_DIR            --cert-dir
  RUNREF_SYNC_SHARD          sync --shard (K/N)
  RUNREF_CACHE_DIR           reconcile --cache-dir (else $XDG_CACHE_HOME/runref/manifests)
  RUNREF_NO_CACHE            reconcile --no-cache
  RUNREF_LAYER_PARALLELISM   layers decompressed at once per entry (default: the cores)
  RUNREF_MAX_MANIFEST_BYTES  largest manifest or index read (4 MiB)
  RUNREF_MAX_CONFIG_BYTES    largest image config read (8 MiB)
  RUNREF_MAX_ANALYZED_BYTES  largest analyzed.toml read (16 MiB)
  RUNREF_MAX_ZSTD_WINDOW     largest zstd window a layer may ask for (128 MiB)
  DOCKER_HOST, DOCKER_CONTEXT, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_CONFIG
                             as the docker CLI reads them (contexts included)
  SSL_CERT_FILE, SSL_CERT_DIR
                             the system's CA roots, as OpenSSL-based tools read them
  CONTAINERS_REGISTRIES_CONF podman's registries.conf (--registries-conf), as podman reads it";

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
    /// Multi-arch indexes: `index create` assembles one from per-arch images and proves it.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Mirror an image (all platforms, or some) into another repository or registry, proven by digest.
    #[command(long_about = COPY_HELP)]
    Copy(CopyArgs),
    /// Mirror many images from one file (TOML), each copied and proven as `copy` does; a
    /// re-run that finds them there costs HEADs.
    #[command(long_about = SYNC_HELP)]
    Sync(SyncArgs),
    /// Print a shell completion script: `runref completions bash > /etc/bash_completion.d/runref`
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `runref man > /usr/local/share/man/man1/runref.1`
    Man,
}

#[derive(Subcommand, Debug)]
pub enum IndexCommand {
    /// Assemble a multi-arch index from images and indexes (attestations kept), push it by
    /// digest then by tag, and verify it by digest.
    #[command(long_about = INDEX_CREATE_HELP)]
    Create(IndexCreateArgs),
}

/// The options of the commands that reach nothing (completions, man page): their defaults.
static NO_COMMON: std::sync::LazyLock<Common> = std::sync::LazyLock::new(|| Common {
    format: Format::Text,
    insecure_registry: vec![],
    cert_dir: None,
    registries_conf: None,
    timeout: Duration::from_secs(30),
    deadline: Duration::from_secs(900),
    registry_mirror: vec![],
    debug: false,
});

impl Command {
    pub fn common(&self) -> &Common {
        match self {
            Command::Reconcile(a) => &a.common,
            Command::Inspect(a) => &a.common,
            Command::Verify(a) => &a.common,
            Command::Diagnose(a) => &a.common,
            Command::Index(IndexCommand::Create(a)) => &a.common,
            Command::Copy(a) => &a.common,
            Command::Sync(a) => &a.common,
            Command::Completions { .. } | Command::Man => &NO_COMMON,
        }
    }
}

const INSPECT_HELP: &str = "\
Show an image as the daemon and the registry see it, side by side, and the link between them.

daemon:   image ID, tags, RepoDigests, the platform a lookup without platform gives (what the
          lifecycle exporter gets), which image store answered; on Docker's containerd image
          store also the platforms whose content is present.
registry: top digest and media type; every index entry with platform, digest and size;
          attestation entries marked with the entry they attest; entries lacking a variant
          flagged; the config digest of each runnable entry (fetched concurrently).
link:     which index entry the local image is, and the proof (config digest = image ID,
          RepoDigests, containerd manifests), or that it cannot be proven.

Works with only one side (a daemon-only image, a registry-only image, --no-daemon, a daemon
that cannot be reached). OCI indexes and attestations are shown, never an error. Docker Hub
names are read through the same mirrors as the daemon's pulls (see reconcile --help).

Examples:
  runref inspect 127.0.0.1:5000/run:jammy
  runref inspect --no-daemon --format json registry.example.com/base/run:jammy";

const VERIFY_HELP: &str = "\
Prove, by digest, which platforms a pushed image has: the non-racy check after a multi-platform
push. A tag is resolved once and the digest it resolved to is what is verified and reported.

Passes when every --platforms entry has exactly one runnable entry (attestations ignored,
variants normalised: linux/arm64 = linux/arm64/v8), no other platform is present (unless
--allow-extra), and each entry's config declares the entry's os/architecture/variant.
--content also streams every layer and checks the machine type of the executables against the
claimed architecture, without running anything (works for FROM scratch images): ELF files with an
execute bit; on Windows, PE images (.exe, .dll, .sys under Files/). A platform with no executable
is reported as unproven, which fails verification.

Layers: tar, tar+gzip (eStargz too), tar+zstd (zstd:chunked too; windows up to 128 MiB,
RUNREF_MAX_ZSTD_WINDOW), Docker's gzip layers. Foreign / non-distributable layers (Windows base
layers) are counted and never fetched unless --allow-nondistributable (then from the registry,
else from their urls: http/https, no registry credentials, verified against the digest);
any other layer type is an error naming it.

Platforms: os/arch[/variant][:os.version], e.g. linux/arm64/v8 or windows/amd64:10.0.20348
(crane's syntax). An os.version matches as containerd's Windows matcher: same major.minor, below
Windows Server 2022 the same build, from 2022 (build 20348) on a build from 20348 up to the one
given; the revision never decides.

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
    /// Image: name[:tag][@digest], a daemon image ID, or an OCI layout oci:DIR[:TAG]
    pub image: String,
    /// Mark the entry for this platform
    #[arg(long)]
    pub platform: Option<Platform>,
    /// Registry side only
    #[arg(long)]
    pub no_daemon: bool,
    /// Do not look for referrers (signatures, SBOMs attached by subject; cosign's tags)
    #[arg(long)]
    pub no_referrers: bool,
    #[command(flatten)]
    pub host: DaemonHost,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Image, by digest (name@sha256:…; an OCI layout oci:DIR[:TAG]); a tag is resolved once
    #[arg(required_unless_present = "metadata_file")]
    pub image: Option<String>,
    /// Expected platforms, comma-separated: linux/amd64,linux/arm64
    #[arg(long, value_delimiter = ',')]
    pub platforms: Vec<Platform>,
    /// Accept platforms beyond --platforms
    #[arg(long)]
    pub allow_extra: bool,
    /// Also check the executables' machine type in every layer (ELF; PE on Windows)
    #[arg(long)]
    pub content: bool,
    /// Also read foreign / non-distributable layers (Windows base layers): from the registry,
    /// else from their urls; by default they are counted and left unread
    #[arg(long)]
    pub allow_nondistributable: bool,
    /// Require a referrer of this artifact type (an SBOM: application/spdx+json; a cosign
    /// bundle: application/vnd.dev.sigstore.bundle.v0.3+json; a cosign .sig tag:
    /// application/vnd.dev.cosign.simplesigning.v1+json; a cosign .att tag:
    /// application/vnd.dsse.envelope.v1+json) on the index, else on every platform asked for;
    /// repeatable or comma-separated
    #[arg(long, value_name = "TYPE", value_delimiter = ',', value_parser = parse_artifact_type)]
    pub require_referrer: Vec<String>,
    /// buildx --metadata-file JSON (containerimage.digest, image.name)
    #[arg(long, conflicts_with = "image")]
    pub metadata_file: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

const INDEX_CREATE_HELP: &str = "\
Assemble one multi-arch index from per-arch images and indexes, push it, and prove it by digest.

A SOURCE is an image or an index (BuildKit attestations included), by tag or digest, in any
repository of any registry. Runnable entries are flattened into one index:
  - each entry's platform is its config's (os, architecture, variant, os.version), normalised
    as containerd does; an index entry that disagrees with its config is refused, naming both;
    an entry without a variant (arm64, arm) gets the config's (v8, v7);
  - two different images for one platform are refused, naming both sources (imagetools keeps
    both); --replace lets the later SOURCE win; the same image twice is kept once;
  - --attestations keep (default) keeps an attestation exactly when the entry it attests is
    kept; drop leaves them all out.
Blobs and manifests from other repositories of the target's registry are mounted (one request
per blob; copied when the registry refuses), from other registries copied, every byte checked
against its digest; nothing is read twice. The index is pushed by digest, then TARGET's tag and
each --tag in the order given (1, 1.2, 1.2.3, latest), then read back by digest and verified:
exactly the planned platforms, no duplicates, each entry's config agreeing, every attestation's
subject inside the index. A failure before the tags leaves every tag where it was.

Exit codes: 0 pushed and verified (or --dry-run planned), 1 refused, registry failure or not
verified, 2 invalid input.

Examples:
  runref index create reg.example.com/app:1.2.3 reg.example.com/app-amd64:1.2.3 \\
      reg.example.com/app-arm64:1.2.3 --tag 1.2 --tag 1 --tag latest
  runref index create reg.example.com/app:1 reg.example.com/ci/app@sha256:… --dry-run --format json
  runref index create reg.example.com/app:1 old-index:1 new-arm64:1 --replace";

const COPY_HELP: &str = "\
Mirror an image into another repository or registry and prove the copy by digest.

All platforms (attestations kept): a byte-identical copy, the index digest preserved (the output
says so). --platforms or --attestations drop: a new index of those entries (attestations of kept
entries stay under keep). Blobs are mounted within one registry (one request per blob), copied
between registries (streamed, digest-checked, never held whole in memory); the target is read
back by digest and verified; --content also checks the executables of every platform against
its architecture (as runref verify --content: \"is this binary really x86-64?\").

TARGET's tag, else the SOURCE's tag, then each --tag, is pushed only after the result, pushed by
digest, was read back and proven: no tag ever points at unproven content.

Exit codes: 0 copied and verified, 1 registry failure or not verified, 2 invalid input.

Examples:
  runref copy docker.io/library/busybox:1.36 registry.example.com/mirror/busybox:1.36
  runref copy ghcr.io/org/tool:2 reg.example.com/tools/tool:2 \\
      --platforms linux/amd64,linux/arm64 --content";

const SYNC_HELP: &str = "\
Mirror many images from one TOML file (README \"Sync: many images from one file\": sources, tags by name, regex,
semver range or newest N, targets by template, platforms, referrers, content checks).

Per image: its tag list when tags are filtered (or referrers are carried), one HEAD per chosen
tag for its digest, then one copy per digest with every tag that names it. Each copy is runref
copy's, read-back proof included: tags move last, so a sync stopped anywhere is resumed by
running it again, and no tag ever names an unproven digest. A tag the target already has at the
source's digest costs one HEAD and nothing is written. --jobs bounds the requests in flight.
[ratelimit] min/retry pauses while Docker Hub's ratelimit-remaining is below min; 429 answers
are retried after their Retry-After within --deadline.

--shard K/N runs the K-th of N disjoint parts (a stable hash of each source name): N runners of a
CI matrix or a Kubernetes Indexed Job (--shard $((JOB_COMPLETION_INDEX+1))/N) cover the file once,
with no coordinator.

Exit codes: 0 every image of this shard mirrored (or, --dry-run, planned), 1 some image failed
(the report says which and why), 2 invalid file or arguments, 130 interrupted (what was copied
stays, proven; run again to go on).

Examples:
  runref sync mirror.toml
  runref sync mirror.toml --dry-run --format json
  runref sync mirror.toml --shard 2/4 --jobs 8 --deadline 1h";

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// The sync file (TOML)
    pub file: PathBuf,
    /// Requests (tag lists, HEADs, copies) in flight at once
    #[arg(long, default_value = "4", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// HEADs only: say what is present and what would be copied; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Run only the K-th of N parts of the file's images (1-based; a stable hash of each
    /// source name decides)
    #[arg(long, value_name = "K/N", env = "RUNREF_SYNC_SHARD")]
    pub shard: Option<crate::commands::sync::Shard>,
    #[command(flatten)]
    pub common: Common,
}

/// `--attestations`, as clap parses it (the planner's [`Attestations`] knows no clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AttestationsArg {
    /// Keep each attestation whose subject is kept.
    Keep,
    /// Leave every attestation out.
    Drop,
}

impl From<AttestationsArg> for Attestations {
    fn from(a: AttestationsArg) -> Attestations {
        match a {
            AttestationsArg::Keep => Attestations::Keep,
            AttestationsArg::Drop => Attestations::Drop,
        }
    }
}

/// Options of `index create` and `copy` beyond their names.
#[derive(Args, Debug)]
pub struct PublishArgs {
    /// Only these platforms, comma-separated (each must be found)
    #[arg(long, value_delimiter = ',')]
    pub platforms: Vec<Platform>,
    /// keep: attestations of kept entries stay; drop: none
    #[arg(long, value_enum, default_value = "keep")]
    pub attestations: AttestationsArg,
    /// Also tag the result with TAG (repeatable; pushed in the order given)
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Read the sources and print the plan (index JSON, blobs to mount or copy); push nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also prove every platform's executables against its architecture (as verify
    /// --content) before any tag moves
    #[arg(long = "content", alias = "verify-content")]
    pub verify_content: bool,
    /// Also copy (and with --content read) foreign / non-distributable layers; by default they
    /// are left out, as crane and skopeo leave them, and the manifests still name them
    #[arg(long)]
    pub allow_nondistributable: bool,
}

#[derive(Args, Debug)]
pub struct IndexCreateArgs {
    /// The index to push: name[:tag], or an OCI layout oci:DIR[:TAG] (made when missing)
    pub target: String,
    /// Images or indexes to take the entries from: name[:tag][@digest] or oci:DIR[:TAG]
    #[arg(required = true, num_args = 1..)]
    pub sources: Vec<String>,
    /// For two images of one platform, the later SOURCE wins (else refused)
    #[arg(long)]
    pub replace: bool,
    /// Referrers of the entries to carry (signatures, SBOMs attached by subject, cosign's
    /// tags): all, none, or artifact types TYPE[,TYPE...]
    #[arg(long, default_value = "all", value_name = "all|none|TYPES")]
    pub referrers: crate::commands::publish::Carry,
    #[command(flatten)]
    pub publish: PublishArgs,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Image or index to copy: name[:tag][@digest], or an OCI layout oci:DIR[:TAG]
    pub source: String,
    /// Where to: name[:tag], or an OCI layout oci:DIR[:TAG] (made when missing)
    pub target: String,
    /// Referrers to carry (signatures, SBOMs, attestations attached by subject, and cosign's
    /// .sig/.att/.sbom tags): all, none, or artifact types TYPE[,TYPE...]
    #[arg(long, default_value = "all", value_name = "all|none|TYPES")]
    pub referrers: crate::commands::publish::Carry,
    #[command(flatten)]
    pub publish: PublishArgs,
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
    pub host: DaemonHost,
    #[command(flatten)]
    pub common: Common,
}

const RECONCILE_HELP: &str = "\
Make analyzed.toml's [run-image] reference right for the daemon (--daemon) or the registry.

Daemon mode (--daemon, or CNB_USE_DAEMON=true) writes the daemon's image ID of the run image for
the target platform, the form lifecycle writes with -daemon at platform API 0.12+. A per-arch
digest the daemon does not hold is mapped to the local image, with proof where the daemon or the
registry gives one. A daemon-only image is never rewritten from a registry. The written ID is
always one the exporter's own lookup (an inspect without platform) finds as the target
platform: on Docker's containerd image store, where an index holding the target can resolve to
the daemon's own platform, runref makes a single-platform image record of the target (Engine
API 1.48+: exported and loaded back, no registry contact) or pulls its per-arch digest where
the policy allows, or fails saying what the lookup would give.

Registry mode writes repo@sha256:<manifest for the target platform>, never an attestation entry.

Target platform: --platform, else [run-image.target], else the platform the reference itself is
(a per-arch manifest digest, as the 0.10/0.11 restorer writes: the daemon's answers prove it, or
one registry read where the policy allows), else the daemon's platform (daemon mode) or this
machine's. A pull by a digest proven to be another platform's manifest is never made.

Waits: --timeout for each daemon query and registry request; pulls and platform exports have 600s;
--deadline for the whole run.

Pull policies: never (no registry contact at all), if-not-present (default; pull only when no
matching local image), always (pull, then check the pulled image against the registry).
pack's hourly/daily/weekly/interval=<d h m> act as if-not-present (runref keeps no pull times).

Docker Hub names (index.docker.io/org/repo, docker.io/..., org/repo, ubuntu) are read through
--registry-mirror / RUNREF_REGISTRY_MIRRORS, then the daemon's own registry-mirrors, then
Docker Hub.

--dry-run and --check change nothing anywhere: no pull, no load, no write; they say what would
be done (a diff, would_pull, would_materialize). An unchanged decision leaves the file
byte-identical; a change touches only that value's bytes. Writes are atomic (a symlinked file's
target is replaced, the link stays).

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
    /// Keep manifests read by digest here and never ask for them again (content a digest names
    /// does not change) [default: $XDG_CACHE_HOME/runref/manifests, else
    /// ~/.cache/runref/manifests]
    #[arg(long, env = "RUNREF_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Ask the registry for every manifest; read and keep nothing on disk
    #[arg(
        long,
        env = "RUNREF_NO_CACHE",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub no_cache: bool,
    #[command(flatten)]
    pub host: DaemonHost,
    #[command(flatten)]
    pub common: Common,
}

/// The daemon option, on the commands that ask a daemon (not verify, index create, copy).
#[derive(Args, Debug)]
pub struct DaemonHost {
    /// Docker daemon to use: unix://PATH, ssh://[user@]host[:port] (through the system's ssh),
    /// tcp://, https:// [default: $DOCKER_HOST, else the Docker context, else
    /// unix:///var/run/docker.sock]
    #[arg(long, value_name = "URL")]
    pub docker_host: Option<String>,
    /// Docker context to use (as `docker --context`) [default: $DOCKER_CONTEXT, else the
    /// config's currentContext; DOCKER_HOST wins over both, as in the docker CLI]
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

/// Options shared by the commands that reach a daemon or a registry.
#[derive(Args, Debug)]
pub struct Common {
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Registry host[:port] or CIDR to reach without TLS verification, then over plain HTTP
    /// when it has no HTTPS (as Docker's insecure-registries; loopback hosts always are);
    /// repeatable or comma-separated
    #[arg(
        long = "insecure-registry",
        env = "RUNREF_INSECURE_REGISTRIES",
        value_delimiter = ',',
        value_name = "HOST[:PORT]",
        value_parser = parse_insecure
    )]
    pub insecure_registry: Vec<String>,
    /// Directory of CA certificates (*.crt) and a client certificate (*.cert with its *.key)
    /// for every registry of the run, instead of /etc/docker/certs.d/HOST[:PORT],
    /// ~/.config/docker/certs.d, /etc/containers/certs.d and ~/.config/containers/certs.d
    #[arg(long, env = "RUNREF_CERT_DIR", value_name = "DIR", value_parser = parse_cert_dir)]
    pub cert_dir: Option<std::path::PathBuf>,
    /// podman's registries.conf to follow (mirrors, prefix rewrites, insecure, blocked), even
    /// with a Docker daemon [default: $CONTAINERS_REGISTRIES_CONF, else
    /// /etc/containers/registries.conf and registries.conf.d/, followed when the daemon is
    /// podman or there is none]
    #[arg(long, value_name = "FILE")]
    pub registries_conf: Option<std::path::PathBuf>,
    /// How long to wait for each request, its body included: seconds (30, 1.5) or a duration
    /// (5s, 2m, 1m30s)
    #[arg(long, default_value = "30", value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Duration,
    /// How long the whole run may take (seconds or 5m, 1h); past it runref stops with exit 1
    /// and changes nothing. A registry's Retry-After longer than what is left fails at once,
    /// saying when to retry
    #[arg(long, default_value = "900", value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Duration,
    /// Read Docker Hub names through this mirror first (http://HOST[:PORT] or https://HOST),
    /// before the daemon's own mirrors and Docker Hub; repeatable or comma-separated
    #[arg(
        long = "registry-mirror",
        env = "RUNREF_REGISTRY_MIRRORS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub registry_mirror: Vec<Mirror>,
    /// Print every registry and daemon request to stderr (method, URL, status, bytes, time;
    /// retries and redirects marked; credentials never)
    #[arg(long)]
    pub debug: bool,
}

/// An `--insecure-registry` entry as dockerd accepts one: `host[:port]` (no scheme, no path) or
/// a CIDR; dockerd refuses `http://...` too, and a value copied from daemon.json is where that
/// mistake is made.
pub fn parse_insecure(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.contains("://") {
        return Err("give HOST[:PORT] without a scheme (as dockerd's insecure-registries)".into());
    }
    if let Some((net, bits)) = t.split_once('/') {
        let max = match net.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) => 32,
            Ok(std::net::IpAddr::V6(_)) => 128,
            Err(_) => {
                return Err("a CIDR is ADDRESS/BITS (10.0.0.0/8); a path is not allowed".into())
            }
        };
        return match bits.parse::<u8>() {
            Ok(b) if b <= max => Ok(t.to_string()),
            _ => Err(format!("the prefix length must be 0 to {max}")),
        };
    }
    if !crate::model::reference::is_valid_registry_host(t) {
        return Err("not a registry HOST[:PORT]".into());
    }
    Ok(t.to_string())
}

/// `--cert-dir` must be a directory: a file or a missing path would be read as "no
/// certificates" and the advice would send the user back to the flag they gave.
pub fn parse_cert_dir(text: &str) -> Result<std::path::PathBuf, String> {
    let p = std::path::PathBuf::from(text);
    match std::fs::metadata(&p) {
        Ok(m) if m.is_dir() => Ok(p),
        Ok(_) => Err(format!("{text} is not a directory")),
        Err(e) => Err(format!("{text}: {e}")),
    }
}

impl Common {
    /// `--debug`'s sink: stderr, a line at a time.
    pub fn trace(&self) -> Option<crate::trace::Trace> {
        self.debug
            .then(|| crate::trace::Trace::new(|line| eprintln!("debug: {line}")))
    }

    /// The run's overall bound.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    pub fn registry_options(&self) -> RegistryOptions {
        RegistryOptions {
            insecure: self.insecure_registry.clone(),
            cert_dir: self.cert_dir.clone(),
            timeout: self.timeout,
            mirrors: self.registry_mirror.clone(),
            deadline: Some(tokio::time::Instant::now() + self.deadline()),
            trace: self.trace(),
            ..Default::default()
        }
    }
}
