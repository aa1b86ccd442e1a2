//! The `sigil` binary: parse the command line, run it, report. Everything else is in the
//! library (`sigil::cli` and below).

use std::process::ExitCode;

use clap::Parser;

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
