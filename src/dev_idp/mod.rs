//! The development OIDC issuer, mounted at `/dev/oidc` only by `sigil serve --dev`.
//!
//! It holds an ES256 and an RS256 key generated at start-up, publishes discovery and JWKS like
//! any IdP, and mints email-type identity tokens for whatever identity the caller asks for. That is only
//! safe because it never exists outside development: the CA trusts it because `--dev` added it
//! to the issuer pool, and it verifies its tokens over HTTP like those of any other issuer.
//!
//! Tokens come straight from `GET|POST /dev/oidc/token` (scripts, `sigil sign --dev`), or
//! through the interactive grants a real IdP offers (`grants`), so that `sigil sign`'s browser
//! and device logins are tested end to end.

mod grants;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::error::ApiError;
use crate::oidc::issuers::{IssuerKind, IssuerSettings};
use crate::startup::AppState;

/// Where the dev issuer lives, below the server's public URL.
pub const PATH: &str = "/dev/oidc";
/// The audience of its tokens and the client ID the CA expects, as Sigstore's.
pub const AUDIENCE: &str = "sigstore";
/// The identity minted when the caller names none.
pub const DEFAULT_EMAIL: &str = "dev@sigil.localhost";
/// Longest token lifetime the endpoint will mint.
const MAX_TTL: Duration = Duration::from_secs(3600);

/// One signing key of the dev issuer.
struct DevKey {
    alg: Algorithm,
    kid: String,
    key: EncodingKey,
    jwk: Value,
}

/// The dev issuer's keys and URLs.
pub struct DevIdp {
    issuer: String,
    /// ES256 (the default) and RS256, the algorithm most production IdPs use.
    keys: Vec<DevKey>,
    grants: grants::Grants,
}

impl DevIdp {
    /// A dev issuer under `public_url`, with a fresh key.
    pub fn new(public_url: &Url) -> Result<DevIdp, openssl::error::ErrorStack> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let ec = EcKey::generate(&group)?;
        let mut ctx = BigNumContext::new()?;
        let mut x = openssl::bn::BigNum::new()?;
        let mut y = openssl::bn::BigNum::new()?;
        ec.public_key()
            .affine_coordinates(&group, &mut x, &mut y, &mut ctx)?;
        let pem = openssl::pkey::PKey::from_ec_key(ec)?.private_key_to_pem_pkcs8()?;
        let key = EncodingKey::from_ec_pem(&pem)
            .expect("OpenSSL's PKCS#8 PEM of a P-256 key is accepted by jsonwebtoken");
        let x = URL_SAFE_NO_PAD.encode(x.to_vec_padded(32)?);
        let y = URL_SAFE_NO_PAD.encode(y.to_vec_padded(32)?);
        let kid = crate::ca::hex(&openssl::sha::sha256(format!("{x}{y}").as_bytes())[..8]);
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"});
        let es256 = DevKey {
            alg: Algorithm::ES256,
            kid,
            key,
            jwk,
        };
        Ok(DevIdp {
            issuer: format!("{}{}", public_url.as_str().trim_end_matches('/'), PATH),
            keys: vec![es256, rs256_key()?],
            grants: grants::Grants::new(),
        })
    }

    /// The issuer URL (`iss` of its tokens).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Its entry in the CA's issuer pool: an email issuer with client ID `sigstore`.
    pub fn issuer_settings(&self, fetch_timeout: Duration) -> reqwest::Result<IssuerSettings> {
        Ok(IssuerSettings {
            url: self.issuer.clone(),
            wildcard: false,
            client_id: AUDIENCE.to_owned(),
            type_name: "email".to_owned(),
            kind: IssuerKind::Email {
                issuer_claim: None,
                skip_email_verification: false,
            },
            subject_domain: None,
            http: reqwest::Client::builder()
                .timeout(fetch_timeout)
                .pool_max_idle_per_host(0)
                .build()?,
        })
    }

    /// Mints a signed identity token for `email` (subject, audience and lifetime default to
    /// the email, `sigstore` and 10 minutes; `nonce` is echoed for the authorization code
    /// grant), signed with the `alg` key (default ES256).
    fn mint(
        &self,
        email: &str,
        sub: Option<&str>,
        audience: Option<&str>,
        ttl: Option<u64>,
        nonce: Option<&str>,
        alg: Option<&str>,
    ) -> Result<String, ApiError> {
        let signer = match alg {
            None => &self.keys[0],
            Some(alg) => self
                .keys
                .iter()
                .find(|k| format!("{:?}", k.alg) == alg)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "alg `{alg}`: the dev issuer signs ES256 or RS256"
                    ))
                })?,
        };
        let ttl = Duration::from_secs(ttl.unwrap_or(600)).min(MAX_TTL);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .as_secs();
        let mut claims = json!({
            "iss": self.issuer,
            "sub": sub.unwrap_or(email),
            "aud": audience.unwrap_or(AUDIENCE),
            "email": email,
            "email_verified": true,
            "iat": now,
            "nbf": now,
            "exp": now + ttl.as_secs(),
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        let mut header = Header::new(signer.alg);
        header.kid = Some(signer.kid.clone());
        jsonwebtoken::encode(&header, &claims, &signer.key)
            .map_err(|e| ApiError::Internal(format!("signing a dev token: {e}")))
    }
}

/// A fresh RSA 2048 key for RS256 tokens, with its JWK.
fn rs256_key() -> Result<DevKey, openssl::error::ErrorStack> {
    let rsa = openssl::rsa::Rsa::generate(2048)?;
    let n = URL_SAFE_NO_PAD.encode(rsa.n().to_vec());
    let e = URL_SAFE_NO_PAD.encode(rsa.e().to_vec());
    let pem = openssl::pkey::PKey::from_rsa(rsa)?.private_key_to_pem_pkcs8()?;
    let key = EncodingKey::from_rsa_pem(&pem)
        .expect("OpenSSL's PKCS#8 PEM of an RSA key is accepted by jsonwebtoken");
    let kid = crate::ca::hex(&openssl::sha::sha256(n.as_bytes())[..8]);
    let jwk = json!({"kty": "RSA", "n": n, "e": e, "kid": kid, "alg": "RS256", "use": "sig"});
    Ok(DevKey {
        alg: Algorithm::RS256,
        kid,
        key,
        jwk,
    })
}

/// What the token endpoint accepts (query string or form body): with no `grant_type`, a token
/// for the named identity; otherwise an OAuth grant.
#[derive(Debug, Default, Deserialize)]
pub struct TokenRequest {
    /// `authorization_code`, the device code grant, or absent.
    pub grant_type: Option<String>,
    /// The authorization code.
    pub code: Option<String>,
    /// The PKCE verifier of the authorization code.
    pub code_verifier: Option<String>,
    /// The redirect URI the code was issued for.
    pub redirect_uri: Option<String>,
    /// The client: `sigstore`.
    pub client_id: Option<String>,
    /// The device code being polled.
    pub device_code: Option<String>,
    /// The email to certify; default `dev@sigil.localhost`.
    pub email: Option<String>,
    /// The subject; default the email.
    pub sub: Option<String>,
    /// The audience; default `sigstore`.
    pub audience: Option<String>,
    /// Lifetime in seconds; default 600, at most 3600.
    pub ttl: Option<u64>,
    /// Signature algorithm: `ES256` (default) or `RS256`.
    pub alg: Option<String>,
}

/// Mounts the dev issuer's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/dev/oidc/.well-known/openid-configuration",
        web::get().to(discovery),
    )
    .route("/dev/oidc/jwks", web::get().to(jwks))
    .route("/dev/oidc/token", web::get().to(token_from_query))
    .route("/dev/oidc/token", web::post().to(token_from_form))
    .route("/dev/oidc/authorize", web::get().to(grants::authorize_page))
    .route("/dev/oidc/authorize", web::post().to(grants::authorize))
    .route(
        "/dev/oidc/device",
        web::post().to(grants::device_authorization),
    )
    .route(
        "/dev/oidc/device/verify",
        web::get().to(grants::device_page),
    )
    .route(
        "/dev/oidc/device/verify",
        web::post().to(grants::device_verify),
    );
}

fn dev_idp(state: &AppState) -> Result<&DevIdp, ApiError> {
    state
        .dev_idp
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("the dev issuer runs only with --dev".into()))
}

async fn discovery(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let idp = dev_idp(&state)?;
    Ok(HttpResponse::Ok().json(json!({
        "issuer": idp.issuer,
        "jwks_uri": format!("{}/jwks", idp.issuer),
        "token_endpoint": format!("{}/token", idp.issuer),
        "authorization_endpoint": format!("{}/authorize", idp.issuer),
        "device_authorization_endpoint": format!("{}/device", idp.issuer),
        "grant_types_supported": ["authorization_code", grants::DEVICE_GRANT],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email"],
        "response_types_supported": ["code", "id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "email", "email_verified", "nonce"],
    })))
}

async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let idp = dev_idp(&state)?;
    let keys: Vec<&Value> = idp.keys.iter().map(|k| &k.jwk).collect();
    Ok(HttpResponse::Ok().json(json!({ "keys": keys })))
}

fn token_response(idp: &DevIdp, request: &TokenRequest) -> Result<HttpResponse, ApiError> {
    let token = match request.grant_type.as_deref() {
        None => idp.mint(
            request.email.as_deref().unwrap_or(DEFAULT_EMAIL),
            request.sub.as_deref(),
            request.audience.as_deref(),
            request.ttl,
            None,
            request.alg.as_deref(),
        )?,
        Some("authorization_code") => grants::exchange_code(idp, request)?,
        Some(grants::DEVICE_GRANT) => grants::poll_device(idp, request)?,
        Some(other) => {
            return Err(ApiError::OAuth {
                error: "unsupported_grant_type",
                description: format!("grant_type `{other}` is not supported"),
            });
        }
    };
    let ttl = request.ttl.unwrap_or(600).min(MAX_TTL.as_secs());
    Ok(HttpResponse::Ok().json(json!({
        "access_token": token,
        "id_token": token,
        "token_type": "Bearer",
        "expires_in": ttl,
    })))
}

async fn token_from_query(
    state: web::Data<AppState>,
    query: web::Query<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    token_response(dev_idp(&state)?, &query)
}

async fn token_from_form(
    state: web::Data<AppState>,
    form: web::Form<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    token_response(dev_idp(&state)?, &form)
}
