//! The sigil client as a library: what `sigil sign` does, usable from other Rust programs.
//!
//! `TrustMaterial` is what a deployment publishes (`client_trust_config.json`); `sign` runs the
//! keyless flow against it and writes Sigstore bundles v0.3.

pub mod bundle;
pub mod login;
pub mod sign;
pub mod token;
pub mod trust;
pub mod verify;

/// Why a client operation failed; each message names the step and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The trust configuration could not be read or lacks a needed service or key.
    #[error("trust configuration: {0}")]
    Trust(String),
    /// A server could not be reached or answered an error.
    #[error("{service}: {message}")]
    Service {
        /// Which step (`certificate authority`, `transparency log`, …).
        service: &'static str,
        /// What happened, including the server's own message when it sent one.
        message: String,
    },
    /// The certificate's embedded SCT does not verify with any trusted CT log key.
    #[error("the certificate's SCT does not verify: {0}")]
    Sct(String),
    /// No identity token was available.
    #[error(
        "no identity token: pass --identity-token, set SIGIL_IDENTITY_TOKEN, run in GitHub Actions (id-token: write), GitLab CI (SIGSTORE_ID_TOKEN) or Buildkite, use --dev against a dev server, or sign in interactively (at a terminal, or with --oauth-flow browser|device)"
    )]
    NoToken,
    /// The interactive sign-in failed.
    #[error("sign-in: {0}")]
    Login(String),
    /// A local file could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
    /// A cryptographic operation failed locally.
    #[error("local crypto: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}
