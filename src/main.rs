//! The `avfs` binary: all logic lives in the library's `cli` module (and, for
//! a run's init, which avfs starts as itself, in `proxy::init`).

fn main() -> std::process::ExitCode {
    if let Some(status) = avfs::proxy::init::run_if_init() {
        return std::process::ExitCode::from(status);
    }
    avfs::cli::main()
}
