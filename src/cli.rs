//! Command-line interface: argument definitions, dispatch, rendering and exit codes. The only
//! place that prints.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
runref reconciles that reference between the daemon and the registry, honouring pull policies.";

#[derive(Parser, Debug)]
#[command(name = "runref", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {}

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
    match cli.command {
        None => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            ExitCode::from(exit::USAGE)
        }
    }
}
