//! The `oauth-harness` binary: all behaviour lives in the library (`cli::main`).

fn main() -> std::process::ExitCode {
    oauth_harness::cli::main()
}
