//! Fulcio's read-only endpoints: trust bundle, root certificate, configuration.

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use crate::startup::AppState;

#[derive(Serialize)]
struct CertificateChain<'a> {
    certificates: &'a [String],
}

#[derive(Serialize)]
struct TrustBundle<'a> {
    chains: Vec<CertificateChain<'a>>,
}

/// `GET /api/v2/trustBundle`: the CA chain, from the issuing certificate to the root.
pub async fn trust_bundle(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(TrustBundle {
        chains: vec![CertificateChain {
            certificates: state.ca.chain().pems(),
        }],
    })
}

/// `GET /api/v1/rootCert`: every certificate of the trust bundle as one PEM document.
pub async fn root_cert(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/pem-certificate-chain")
        .body(state.ca.chain().pem_document(None))
}

/// One issuer as grpc-gateway renders Fulcio's `OIDCIssuer`: unpopulated strings are present
/// and empty, and exactly one of `issuerUrl` / `wildcardIssuerUrl` is set.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OidcIssuer<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wildcard_issuer_url: Option<&'a str>,
    audience: &'a str,
    challenge_claim: &'a str,
    spiffe_trust_domain: &'a str,
    issuer_type: &'a str,
    subject_domain: &'a str,
    skip_email_verification: bool,
}

/// `GET /api/v2/configuration`: the trusted issuers.
pub async fn configuration(state: web::Data<AppState>) -> HttpResponse {
    use crate::oidc::issuers::IssuerKind;
    let issuers: Vec<OidcIssuer<'_>> = state
        .auth
        .issuers()
        .all()
        .map(|issuer| OidcIssuer {
            issuer_url: (!issuer.wildcard).then_some(issuer.url.as_str()),
            wildcard_issuer_url: issuer.wildcard.then_some(issuer.url.as_str()),
            audience: &issuer.client_id,
            challenge_claim: issuer.kind.challenge_claim(),
            spiffe_trust_domain: match &issuer.kind {
                IssuerKind::Spiffe { trust_domain } => trust_domain,
                _ => "",
            },
            issuer_type: &issuer.type_name,
            subject_domain: issuer.subject_domain.as_deref().unwrap_or(""),
            skip_email_verification: matches!(
                issuer.kind,
                IssuerKind::Email {
                    skip_email_verification: true,
                    ..
                }
            ),
        })
        .collect();
    // Beside Fulcio's `issuers`: the CT log that certificates are logged to, so an operator
    // can pin its ID (SHA-256 of the key's SubjectPublicKeyInfo) before trusting it.
    let key = state.ct.key();
    let ct_log = serde_json::json!({
        "baseUrl": format!("{}/ct", state.public_url.as_str().trim_end_matches('/')),
        "origin": state.ct.origin(),
        "logId": STANDARD.encode(key.log_id()),
        "publicKey": STANDARD.encode(key.spki_der()),
        "sct": match state.config.ct_log.sct {
            crate::config::SctMode::Embedded => "embedded",
            crate::config::SctMode::Detached => "detached",
        },
    });
    HttpResponse::Ok().json(serde_json::json!({ "issuers": issuers, "ctLog": ct_log }))
}
