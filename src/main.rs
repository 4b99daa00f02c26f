fn main() -> std::process::ExitCode {
    tenantgate::cli::main()
}
