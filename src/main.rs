//! The `runref` binary: the library's command line, with process-level failures (no runtime,
//! no way to write output) reported through anyhow's context chain.

fn main() -> std::process::ExitCode {
    match runref::cli::run() {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(runref::exit::FAILED)
        }
    }
}
