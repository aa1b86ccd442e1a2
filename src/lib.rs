//! sigil: a private Sigstore in one binary.
//!
//! This crate holds the keyless code-signing CA (Fulcio-compatible API), OIDC verification,
//! the HTTP API and the CLI's commands. The Merkle-log engine lives in `sigil-ctlog`.

#![forbid(unsafe_code)]

pub mod ca;
pub mod cli;
pub mod client;
pub mod config;
pub mod dev_idp;
pub mod error;
pub mod issuance;
pub mod keyfile;
pub mod keygen;
pub mod limits;
pub mod loadtest;
pub mod metrics;
pub mod oidc;
pub mod pki;
pub mod public_key;
pub mod rekor;
pub mod routes;
pub mod scheduling;
pub mod startup;
pub mod telemetry;
pub mod trust;
pub mod worker_load;
