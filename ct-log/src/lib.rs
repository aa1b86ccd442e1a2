//! sigil-ctlog: the Merkle-log engine behind sigil's Certificate Transparency log and its
//! Rekor-compatible log.
//!
//! So far this crate holds the RFC 6962 hashing that every other part of the engine builds
//! on. No HTTP, no database: functions over bytes.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod rfc6962;
