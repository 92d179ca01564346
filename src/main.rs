fn main() -> std::process::ExitCode {
    monbridge::cli::main()
}
