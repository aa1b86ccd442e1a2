//! Whole-flow tests: the real server on 127.0.0.1:0, real HTTP, a real OIDC issuer on
//! loopback. One test binary, one link step.

// Test code: a failed unwrap is a failed assertion, and case tables are plain tuples.
#![allow(clippy::unwrap_used, clippy::type_complexity)]

mod abuse;
mod ambient;
mod audit;
mod cli;
mod corpus;
mod crash;
mod ct;
mod deploy;
mod fulcio_info;
mod helpers;
mod hostile;
mod loadtest;
mod login;
mod monitor;
mod oidc;
mod pkcs11;
mod rejections;
mod rekor;
mod signing_cert;
mod sigstore_python;
mod verify;
