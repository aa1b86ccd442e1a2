//! The `sigil` binary: parse the command line, run it, report. Everything else is in the
//! library (`sigil::cli` and below).

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's allocator: a request allocates and frees many small buffers on
/// whichever worker thread runs it, and glibc's arenas spent 7% of the server's CPU on that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match sigil::cli::run(sigil::cli::Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sigil: {message}");
            ExitCode::FAILURE
        }
    }
}
