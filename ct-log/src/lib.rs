//! sigil-ctlog: the Merkle-log engine behind sigil's Certificate Transparency log and its
//! Rekor-compatible log.
//!
//! The spec core (`rfc6962`, `merkle`, `tile`, `note`) is bytes in, bytes out: no HTTP, no
//! database. `store` persists a log, `sequencer` turns pending entries into durable, signed
//! tree heads, and `log` ties them together behind one handle per log.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod chain;
pub mod ct;
pub mod key;
pub mod linger;
pub mod log;
pub mod merkle;
pub mod note;
pub mod rfc6962;
pub mod store;
mod stored_chain;
pub mod tile;
