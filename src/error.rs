//! The API's one error type, and the only place errors become HTTP responses.
//!
//! Every handler returns `Result<_, ApiError>`. Client mistakes answer 4xx with a message that
//! says what to fix and never echoes a secret; dependency outages answer 503 with
//! `Retry-After`; anything else is a bug and answers an opaque 500 while the cause chain goes
//! to the log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use sigil_ctlog::ct::CtError;
use sigil_ctlog::log::LogError;
use sigil_ctlog::store::StoreError;

use crate::ca;
use crate::ca::pop::KeyError;
use crate::oidc;
use crate::rekor::RekorError;

/// Seconds a client should wait before retrying after a 503.
const RETRY_AFTER_SECONDS: u32 = 5;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: bad JSON, bad base64, missing or conflicting fields.
    #[error("{0}")]
    BadRequest(String),
    /// The body exceeds `server.max_body_bytes`.
    #[error("the request body exceeds the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// The client sent its body too slowly.
    #[error("the request body did not arrive within {} s", .0.as_secs())]
    RequestTimeout(std::time::Duration),
    /// The client or identity exceeded its rate limit.
    #[error(transparent)]
    RateLimited(#[from] crate::limits::RateLimited),
    /// No identity token was sent.
    #[error(
        "no identity token: send `Authorization: Bearer <token>` or credentials.oidcIdentityToken"
    )]
    MissingToken,
    /// The identity token was refused.
    #[error(transparent)]
    Token(#[from] oidc::Error),
    /// The public key or its proof of possession was refused.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The CA failed: a bug or a broken key, never the client's fault.
    #[error(transparent)]
    Ca(#[from] ca::Error),
    /// A CT submission was refused, or the CT log failed.
    #[error(transparent)]
    Ct(#[from] CtError),
    /// A log read or write failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A Rekor entry was refused, is a duplicate, or the log failed.
    #[error(transparent)]
    Rekor(#[from] RekorError),
    /// An OAuth 2.0 protocol error of the dev issuer (RFC 6749 §5.2, RFC 8628 §3.5).
    #[error("{error}: {description}")]
    OAuth {
        /// The OAuth error code, e.g. `invalid_grant`, `authorization_pending`.
        error: &'static str,
        /// What happened.
        description: String,
    },
    /// No such route.
    #[error("no such endpoint: {0}")]
    NotFound(String),
    /// A bug; the string is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A short, fixed label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::MissingToken => "missing_token",
            ApiError::Token(e) => e.kind(),
            ApiError::Key(_) => "key",
            ApiError::Ca(_) => "ca",
            ApiError::Ct(CtError::Log(e)) | ApiError::Log(e) => log_kind(e),
            ApiError::Ct(_) => "ct_submission",
            ApiError::Rekor(RekorError::Log(e)) => log_kind(e),
            ApiError::Rekor(RekorError::Entry(_)) => "rekor_entry",
            ApiError::Rekor(RekorError::Duplicate { .. }) => "rekor_duplicate",
            ApiError::OAuth { .. } => "oauth",
            ApiError::NotFound(_) => "not_found",
            ApiError::Internal(_) => "internal",
        }
    }
}

/// A full pool or an unreachable database is an outage the client can wait out (503); stored
/// data that contradicts itself or a failing key is a bug (500).
fn log_status(e: &LogError) -> StatusCode {
    match e {
        LogError::PoolFull | LogError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        LogError::Store(
            StoreError::Database(_)
            | StoreError::Sqlite(_)
            | StoreError::Conflict
            | StoreError::IndexBehind(_),
        ) => StatusCode::SERVICE_UNAVAILABLE,
        LogError::OutOfRange(_) => StatusCode::BAD_REQUEST,
        LogError::NotFound => StatusCode::NOT_FOUND,
        LogError::Duplicate(_) => StatusCode::CONFLICT,
        LogError::Sign(_) | LogError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn log_kind(e: &LogError) -> &'static str {
    match e {
        LogError::PoolFull => "log_pool_full",
        LogError::Unavailable(_) | LogError::Store(_) => "log_unavailable",
        LogError::OutOfRange(_) => "log_out_of_range",
        LogError::NotFound => "log_not_found",
        LogError::Duplicate(_) => "log_duplicate",
        LogError::Sign(_) => "log_sign",
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: u16,
    message: &'a str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Key(_) | ApiError::OAuth { .. } => {
                StatusCode::BAD_REQUEST
            }
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MissingToken => StatusCode::UNAUTHORIZED,
            ApiError::Token(e) => match e {
                oidc::Error::UnknownIssuer(_)
                | oidc::Error::EmailNotVerified
                | oidc::Error::IdentityNotAllowed(_) => StatusCode::FORBIDDEN,
                oidc::Error::IssuerUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            },
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Ct(CtError::Log(e)) | ApiError::Log(e) => log_status(e),
            ApiError::Ct(_) => StatusCode::BAD_REQUEST,
            ApiError::Rekor(RekorError::Log(e)) => log_status(e),
            ApiError::Rekor(RekorError::Entry(_)) => StatusCode::BAD_REQUEST,
            ApiError::Rekor(RekorError::Duplicate { .. }) => StatusCode::CONFLICT,
            ApiError::Ca(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let message = if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = ?self, kind = self.kind(), "request failed with an internal error");
            "internal error".to_owned()
        } else {
            tracing::info!(status = status.as_u16(), kind = self.kind(), error = %self, "request refused");
            self.to_string()
        };
        let mut response = HttpResponse::build(status);
        // Rekor answers a duplicate with the existing entry's location.
        if let ApiError::Rekor(RekorError::Duplicate { uuid, .. }) = self {
            response.insert_header(("Location", format!("/api/v1/log/entries/{uuid}")));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", RETRY_AFTER_SECONDS.to_string()));
        }
        if let ApiError::RateLimited(limited) = self {
            let seconds = crate::limits::retry_after_seconds(limited.retry_after);
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        // OAuth clients read `error`; the usual fields ride along.
        if let ApiError::OAuth { error, description } = self {
            return response.json(serde_json::json!({
                "error": error,
                "error_description": description,
                "code": status.as_u16(),
                "message": message,
            }));
        }
        response.json(ErrorBody {
            code: status.as_u16(),
            message: &message,
        })
    }
}
