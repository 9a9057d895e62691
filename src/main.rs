//! The `runref` binary: the library's command line, with process-level failures (no runtime,
//! no way to write output) reported through anyhow's context chain.

fn main() -> std::process::ExitCode {
    // A panic inside the registry client is contained and reported as an error (registry.rs);
    // anything else is a bug and keeps Rust's message.
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !runref::registry::is_contained_panic(info.location()) {
            default(info);
        }
    }));
    match runref::cli::run() {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(runref::exit::FAILED)
        }
    }
}
