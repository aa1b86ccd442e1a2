//! The dev issuer's interactive sign-in: the authorization code grant with PKCE (RFC 6749 §4.1,
//! RFC 7636) for a loopback redirect (RFC 8252), and the device authorization grant (RFC 8628).
//!
//! "Signing in" means approving a form that names the identity to certify; there are no
//! passwords because the dev issuer certifies whatever it is asked to. What the flows do
//! enforce is the protocol — one-time codes bound to the redirect URI and the PKCE challenge,
//! pending and denied device grants — so that clients are tested against real behaviour.

use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::{AUDIENCE, DEFAULT_EMAIL, DevIdp, TokenRequest, dev_idp};
use crate::error::ApiError;
use crate::startup::AppState;

/// How long a code, device grant or user code lives.
pub(super) const GRANT_TTL: Duration = Duration::from_secs(600);
/// The polling interval devices are told to keep.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The device code grant type (RFC 8628 §3.4).
pub(super) const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// An issued authorization code, waiting to be exchanged.
#[derive(Clone)]
pub(super) struct CodeGrant {
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    email: String,
}

/// Where a device grant stands.
#[derive(Clone)]
pub(super) enum DeviceStatus {
    Pending,
    Approved(String),
    Denied,
}

#[derive(Clone)]
pub(super) struct DeviceGrant {
    status: DeviceStatus,
    last_poll: Option<Instant>,
}

/// Pending grants, each dropped when used or after `GRANT_TTL`.
pub(super) struct Grants {
    codes: moka::sync::Cache<String, CodeGrant>,
    devices: moka::sync::Cache<String, DeviceGrant>,
    user_codes: moka::sync::Cache<String, String>,
}

impl Grants {
    pub(super) fn new() -> Grants {
        Grants {
            codes: expiring(),
            devices: expiring(),
            user_codes: expiring(),
        }
    }
}

fn expiring<V: Clone + Send + Sync + 'static>() -> moka::sync::Cache<String, V> {
    moka::sync::Cache::builder().time_to_live(GRANT_TTL).build()
}

fn random_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// `XXXX-XXXX` from consonants only, so that no word and no ambiguous glyph appears (RFC 8628
/// §6.1).
fn user_code() -> Result<String, ApiError> {
    const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    let mut bytes = [0u8; 8];
    openssl::rand::rand_bytes(&mut bytes).map_err(|e| ApiError::Internal(e.to_string()))?;
    let letters: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    Ok(format!("{}-{}", &letters[..4], &letters[4..]))
}

fn oauth(error: &'static str, description: impl Into<String>) -> ApiError {
    ApiError::OAuth {
        error,
        description: description.into(),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><h1>{title}</h1><p>Development only: this issuer certifies whatever identity \
             is entered below.</p>{body}</body></html>"
        ))
}

/// An authorization request, as the query of `GET /authorize` or the form of its approval.
#[derive(Debug, Deserialize)]
pub struct AuthorizeRequest {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    /// The identity to certify (the approval form).
    email: Option<String>,
    /// `approve` or `deny` (the approval form).
    decision: Option<String>,
}

impl AuthorizeRequest {
    /// Checks what a client must send; returns the loopback redirect URI. Nothing is redirected
    /// before the redirect URI itself is known to be a loopback one.
    fn validate(&self) -> Result<Url, ApiError> {
        let bad = |m: &str| Err(ApiError::BadRequest(m.to_owned()));
        if self.client_id.as_deref() != Some(AUDIENCE) {
            return bad("client_id must be `sigstore`");
        }
        let Some(redirect) = self
            .redirect_uri
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
        else {
            return bad("redirect_uri is missing or not a URL");
        };
        let loopback = matches!(
            redirect.host_str(),
            Some("localhost" | "127.0.0.1" | "[::1]")
        );
        if redirect.scheme() != "http" || !loopback {
            return bad(
                "redirect_uri must be an http://localhost, 127.0.0.1 or [::1] loopback URI",
            );
        }
        if self.response_type.as_deref() != Some("code") {
            return bad("response_type must be `code`");
        }
        if self.code_challenge_method.as_deref() != Some("S256") {
            return bad("PKCE is required: code_challenge_method must be `S256`");
        }
        let challenge_ok = self
            .code_challenge
            .as_deref()
            .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
            .is_some_and(|c| c.len() == 32);
        if !challenge_ok {
            return bad("code_challenge must be the base64url SHA-256 of the code verifier");
        }
        Ok(redirect)
    }

    fn hidden_fields(&self) -> String {
        [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
        ]
        .iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
        .map(|(name, v)| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(v)
            )
        })
        .collect()
    }
}

/// `GET /dev/oidc/authorize`: the sign-in page.
pub(super) async fn authorize_page(
    state: web::Data<AppState>,
    request: web::Query<AuthorizeRequest>,
) -> Result<HttpResponse, ApiError> {
    let idp = dev_idp(&state)?;
    let redirect = request.validate()?;
    Ok(page(
        "Sign in to the sigil dev issuer",
        &format!(
            "<form method=\"post\" action=\"{action}\">{hidden}\
             <label>Email <input name=\"email\" value=\"{email}\"></label> \
             <button name=\"decision\" value=\"approve\">Sign in</button> \
             <button name=\"decision\" value=\"deny\">Deny</button></form>\
             <p>You will be sent back to {redirect}.</p>",
            action = escape(&format!("{}/authorize", idp.issuer)),
            hidden = request.hidden_fields(),
            email = DEFAULT_EMAIL,
            redirect = escape(redirect.as_str()),
        ),
    ))
}

/// `POST /dev/oidc/authorize`: the approval; redirects back with a code or `access_denied`.
pub(super) async fn authorize(
    state: web::Data<AppState>,
    form: web::Form<AuthorizeRequest>,
) -> Result<HttpResponse, ApiError> {
    let idp = dev_idp(&state)?;
    let mut redirect = form.validate()?;
    {
        let mut query = redirect.query_pairs_mut();
        if form.decision.as_deref() == Some("approve") {
            let code = random_token()?;
            idp.grants.codes.insert(
                code.clone(),
                CodeGrant {
                    redirect_uri: form.redirect_uri.clone().unwrap_or_default(),
                    code_challenge: form.code_challenge.clone().unwrap_or_default(),
                    nonce: form.nonce.clone(),
                    email: email_or_default(form.email.as_deref())?,
                },
            );
            query.append_pair("code", &code);
        } else {
            query.append_pair("error", "access_denied");
        }
        if let Some(s) = &form.state {
            query.append_pair("state", s);
        }
    }
    Ok(HttpResponse::Found()
        .insert_header(("Location", redirect.as_str()))
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}

fn email_or_default(email: Option<&str>) -> Result<String, ApiError> {
    match email.map(str::trim).filter(|e| !e.is_empty()) {
        None => Ok(DEFAULT_EMAIL.to_owned()),
        Some(e) if e.contains('@') && e.len() <= 254 => Ok(e.to_owned()),
        Some(_) => Err(ApiError::BadRequest(
            "email must be an address like someone@example.com".into(),
        )),
    }
}

/// The token endpoint's `authorization_code` grant: the code once, with its redirect URI and
/// the verifier whose SHA-256 is the challenge.
pub(super) fn exchange_code(idp: &DevIdp, request: &TokenRequest) -> Result<String, ApiError> {
    let code = request.code.as_deref().unwrap_or_default();
    let Some(grant) = idp.grants.codes.remove(code) else {
        return Err(oauth(
            "invalid_grant",
            "the code is unknown, expired or already used",
        ));
    };
    if request.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return Err(oauth(
            "invalid_grant",
            "redirect_uri differs from the authorization request's",
        ));
    }
    let verifier = request.code_verifier.as_deref().unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes()));
    if verifier.len() < 43 || challenge != grant.code_challenge {
        return Err(oauth(
            "invalid_grant",
            "the code_verifier does not match the code_challenge",
        ));
    }
    idp.mint(&grant.email, None, None, None, grant.nonce.as_deref(), None)
}

/// `POST /dev/oidc/device`: starts a device authorization.
pub(super) async fn device_authorization(
    state: web::Data<AppState>,
    form: web::Form<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let idp = dev_idp(&state)?;
    if form.client_id.as_deref() != Some(AUDIENCE) {
        return Err(oauth("invalid_client", "client_id must be `sigstore`"));
    }
    let (device_code, user_code) = (random_token()?, user_code()?);
    idp.grants.devices.insert(
        device_code.clone(),
        DeviceGrant {
            status: DeviceStatus::Pending,
            last_poll: None,
        },
    );
    idp.grants
        .user_codes
        .insert(user_code.clone(), device_code.clone());
    let verify = format!("{}/device/verify", idp.issuer);
    Ok(HttpResponse::Ok().json(json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verify,
        "verification_uri_complete": format!("{verify}?user_code={user_code}"),
        "expires_in": GRANT_TTL.as_secs(),
        "interval": POLL_INTERVAL.as_secs(),
    })))
}

/// What the device verification page takes.
#[derive(Debug, Deserialize)]
pub struct DeviceVerification {
    user_code: Option<String>,
    email: Option<String>,
    decision: Option<String>,
}

/// `GET /dev/oidc/device/verify`: the page where the user enters the code.
pub(super) async fn device_page(
    state: web::Data<AppState>,
    query: web::Query<DeviceVerification>,
) -> Result<HttpResponse, ApiError> {
    let idp = dev_idp(&state)?;
    Ok(page(
        "Sign in a device to the sigil dev issuer",
        &format!(
            "<form method=\"post\" action=\"{action}\">\
             <label>Code <input name=\"user_code\" value=\"{code}\"></label> \
             <label>Email <input name=\"email\" value=\"{DEFAULT_EMAIL}\"></label> \
             <button name=\"decision\" value=\"approve\">Sign in</button> \
             <button name=\"decision\" value=\"deny\">Deny</button></form>",
            action = escape(&format!("{}/device/verify", idp.issuer)),
            code = escape(query.user_code.as_deref().unwrap_or_default()),
        ),
    ))
}

/// `POST /dev/oidc/device/verify`: approves or denies the device grant the code names.
pub(super) async fn device_verify(
    state: web::Data<AppState>,
    form: web::Form<DeviceVerification>,
) -> Result<HttpResponse, ApiError> {
    let idp = dev_idp(&state)?;
    let code = form
        .user_code
        .as_deref()
        .unwrap_or_default()
        .trim()
        .to_ascii_uppercase();
    let Some(device_code) = idp.grants.user_codes.remove(&code) else {
        return Err(ApiError::BadRequest(
            "unknown or expired code: start the sign-in again on the device".into(),
        ));
    };
    let status = if form.decision.as_deref() == Some("approve") {
        DeviceStatus::Approved(email_or_default(form.email.as_deref())?)
    } else {
        DeviceStatus::Denied
    };
    if let Some(mut grant) = idp.grants.devices.get(&device_code) {
        grant.status = status;
        idp.grants.devices.insert(device_code, grant);
    }
    Ok(page(
        "Done",
        "<p>You can close this window and return to your device.</p>",
    ))
}

/// The token endpoint's device code grant: pending, slow down, denied, or the token.
pub(super) fn poll_device(idp: &DevIdp, request: &TokenRequest) -> Result<String, ApiError> {
    let device_code = request.device_code.as_deref().unwrap_or_default();
    let Some(mut grant) = idp.grants.devices.get(device_code) else {
        return Err(oauth(
            "expired_token",
            "the device code is unknown or expired: start again",
        ));
    };
    match grant.status {
        DeviceStatus::Pending => {
            let now = Instant::now();
            let too_fast = grant
                .last_poll
                .is_some_and(|t| now.duration_since(t) < POLL_INTERVAL / 2);
            grant.last_poll = Some(now);
            idp.grants.devices.insert(device_code.to_owned(), grant);
            if too_fast {
                Err(oauth("slow_down", "poll less often"))
            } else {
                Err(oauth(
                    "authorization_pending",
                    "the user has not approved the device yet",
                ))
            }
        }
        DeviceStatus::Denied => {
            idp.grants.devices.remove(device_code);
            Err(oauth("access_denied", "the user denied the sign-in"))
        }
        DeviceStatus::Approved(email) => {
            idp.grants.devices.remove(device_code);
            idp.mint(&email, None, None, None, None, None)
        }
    }
}
