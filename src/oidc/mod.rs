//! OIDC: who is asking for a certificate.
//!
//! The data path is `Authenticator::authenticate`: token shape guard → issuer lookup →
//! discovery + JWKS (cached) → signature and claims → the principal of the issuer's type.
//! Every issuer, including `sigil serve --dev`'s own, goes through the same path.

pub mod issuers;
pub mod jwks;
pub mod jws;
pub mod principal;
pub mod template;
pub mod token;

use std::time::Duration;

pub use issuers::{IssuerPool, ResolvedIssuer};
pub use principal::{Principal, SubjectAltName};

use crate::metrics::Metrics;

/// Why a token did not yield a principal.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The token is not a compact JWS of sane size.
    #[error("the identity token is malformed: {0}")]
    Malformed(String),
    /// The `alg` is not an asymmetric signature algorithm we accept.
    #[error(
        "the identity token uses algorithm `{0}`; only RS*, PS*, ES256, ES384 and EdDSA are accepted"
    )]
    UnsupportedAlgorithm(String),
    /// No configured issuer matches `iss`.
    #[error("the identity token's issuer `{0}` is not trusted by this server")]
    UnknownIssuer(String),
    /// The issuer publishes no key that could have signed the token.
    #[error("the identity token's signing key ({0}) is not in the issuer's JWKS")]
    UnknownKey(String),
    /// The signature does not verify.
    #[error("the identity token's signature does not verify")]
    BadSignature,
    /// `exp` has passed.
    #[error("the identity token has expired")]
    Expired,
    /// `nbf` or `iat` is in the future.
    #[error("the identity token is not valid yet (nbf or iat in the future)")]
    NotYetValid,
    /// `aud` does not contain the issuer's client ID.
    #[error("the identity token's audience does not include `{0}`")]
    WrongAudience(String),
    /// A claim the issuer type needs is absent or has the wrong type.
    #[error("the identity token lacks the claim `{0}` (or it has the wrong type)")]
    MissingClaim(String),
    /// An email issuer's token without `email_verified: true`.
    #[error("the identity token's email address is not verified (email_verified is not true)")]
    EmailNotVerified,
    /// The identity breaks the issuer's rules (subject domain, trust domain, templates).
    #[error("the identity is not allowed: {0}")]
    IdentityNotAllowed(String),
    /// The issuer's discovery document or JWKS could not be fetched or used.
    #[error("the identity token's issuer could not be reached: {0}")]
    IssuerUnavailable(String),
}

impl Error {
    /// A short, fixed label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Malformed(_) => "malformed",
            Error::UnsupportedAlgorithm(_) => "algorithm",
            Error::UnknownIssuer(_) => "unknown_issuer",
            Error::UnknownKey(_) => "unknown_key",
            Error::BadSignature => "signature",
            Error::Expired => "expired",
            Error::NotYetValid => "not_yet_valid",
            Error::WrongAudience(_) => "audience",
            Error::MissingClaim(_) => "missing_claim",
            Error::EmailNotVerified => "email_not_verified",
            Error::IdentityNotAllowed(_) => "identity_not_allowed",
            Error::IssuerUnavailable(_) => "issuer_unavailable",
        }
    }
}

/// Turns identity tokens into principals.
pub struct Authenticator {
    issuers: IssuerPool,
    keys: jwks::KeyCache,
    leeway: Duration,
    metrics: Metrics,
}

impl Authenticator {
    /// Builds the authenticator over a loaded issuer pool.
    pub fn new(
        issuers: IssuerPool,
        cache_ttl: Duration,
        refresh_interval: Duration,
        leeway: Duration,
        metrics: Metrics,
    ) -> Authenticator {
        Authenticator {
            issuers,
            keys: jwks::KeyCache::new(cache_ttl, refresh_interval, metrics.clone()),
            leeway,
            metrics,
        }
    }

    /// The configured issuers.
    pub fn issuers(&self) -> &IssuerPool {
        &self.issuers
    }

    /// Verifies `token` and derives the principal it certifies.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, Error> {
        let result = async {
            let verified = token::verify(token, &self.issuers, &self.keys, self.leeway).await?;
            Principal::from_token(&verified)
        }
        .await;
        if let Err(e) = &result {
            self.metrics
                .token_rejections
                .with_label_values(&[e.kind()])
                .inc();
        }
        result
    }
}
