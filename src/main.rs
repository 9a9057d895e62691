fn main() -> std::process::ExitCode {
    runref::cli::main()
}
