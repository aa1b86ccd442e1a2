//! Logging: JSON lines on stderr, filtered by `RUST_LOG` (default `info`).

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Call once, first thing in `main`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false);
    // Every certificate gets an audit line from a request worker. Written through
    // `io::stderr()`, each line holds the process's stderr lock across its `write`, and the
    // kernel preempts a thread most often as a system call returns: under P-384 issuance a
    // worker preempted there left the other asleep on the lock about twenty times a second.
    // A duplicate of the descriptor writes each line (formatted whole beforehand) in one
    // unlocked `write`, which the kernel keeps whole: a file serializes writes at its offset,
    // and a pipe does not split a write of up to 4 KiB.
    match io::stderr().as_fd().try_clone_to_owned() {
        Ok(stderr) => subscriber.with_writer(Arc::new(File::from(stderr))).init(),
        Err(_) => subscriber.with_writer(io::stderr).init(),
    }
}
