//! The `feegate` binary: all of it lives in the library.

fn main() -> std::process::ExitCode {
    feegate::cli::main()
}
