fn main() -> std::process::ExitCode {
    lambada::cli::main()
}
