//! `POST /api/v2/signingCert` and the legacy `POST /api/v1/signingCert`.
//!
//! Both follow Fulcio's order: authenticate the token, then parse the key, then check the
//! proof of possession, then issue. An invalid token therefore fails before any key error.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use super::ct::add_chain_response;
use super::{bearer_token, decode_base64, parse_json, read_body};
use crate::ca::pop::{self, ClientKey};
use crate::error::ApiError;
use crate::issuance::{self, Issued};
use crate::oidc::Principal;
use crate::startup::AppState;

/// Fulcio v2 `CreateSigningCertificateRequest`. Unknown fields are ignored, as grpc-gateway
/// does; `algorithm` is ignored because the key itself says what it is.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequestV2 {
    #[serde(default)]
    credentials: Option<Credentials>,
    #[serde(default)]
    public_key_request: Option<PublicKeyRequest>,
    #[serde(default)]
    certificate_signing_request: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    #[serde(default)]
    oidc_identity_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyRequest {
    #[serde(default)]
    public_key: Option<PublicKey>,
    #[serde(default)]
    proof_of_possession: Option<String>,
}

#[derive(Deserialize)]
struct PublicKey {
    #[serde(default)]
    content: Option<String>,
}

/// Legacy v1 request: `publicKey.content` is base64 of a PEM or DER key, and
/// `signedEmailAddress` is the proof of possession.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequestV1 {
    #[serde(default)]
    public_key: Option<PublicKey>,
    #[serde(default)]
    signed_email_address: Option<String>,
    #[serde(default)]
    certificate_signing_request: Option<String>,
}

/// How the requester proves it holds the private key.
enum KeyProof {
    /// A PKCS#10 request (PEM or DER); its self-signature is the proof.
    Csr(Vec<u8>),
    /// A public key and a signature over the principal's challenge.
    Signed { key: Vec<u8>, proof: Vec<u8> },
}

#[derive(Serialize)]
struct Chain<'a> {
    certificates: PemChain<'a>,
}

/// The leaf's PEM, then the CA chain's, whose JSON strings the CA escaped once.
struct PemChain<'a> {
    leaf: &'a str,
    ca: &'a [Box<RawValue>],
}

impl Serialize for PemChain<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(1 + self.ca.len()))?;
        seq.serialize_element(self.leaf)?;
        for pem in self.ca {
            seq.serialize_element(pem)?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct ChainHolder<'a> {
    chain: Chain<'a>,
}

/// Fulcio v2 `SigningCertificate`: the embedded form, or the detached form whose
/// `signedCertificateTimestamp` is base64 of the JSON `AddChainResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum SigningCertificate<'a> {
    SignedCertificateEmbeddedSct(ChainHolder<'a>),
    SignedCertificateDetachedSct {
        chain: Chain<'a>,
        #[serde(rename = "signedCertificateTimestamp")]
        signed_certificate_timestamp: String,
    },
}

/// `POST /api/v2/signingCert`.
pub async fn create_v2(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, &state, state.config.server.max_body_bytes).await?;
    let request: CreateRequestV2 = parse_json(&body)?;
    let proof = match (
        request.certificate_signing_request,
        request.public_key_request,
    ) {
        (Some(csr), None) => KeyProof::Csr(decode_base64("certificateSigningRequest", &csr)?),
        (None, Some(pkr)) => {
            let content = pkr.public_key.and_then(|k| k.content).ok_or_else(|| {
                ApiError::BadRequest("publicKeyRequest.publicKey.content is required".into())
            })?;
            let proof = pkr.proof_of_possession.ok_or_else(|| {
                ApiError::BadRequest("publicKeyRequest.proofOfPossession is required".into())
            })?;
            KeyProof::Signed {
                key: content.into_bytes(),
                proof: decode_base64("publicKeyRequest.proofOfPossession", &proof)?,
            }
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "send either certificateSigningRequest or publicKeyRequest, not both".into(),
            ));
        }
        (None, None) => {
            return Err(ApiError::BadRequest(
                "certificateSigningRequest or publicKeyRequest is required".into(),
            ));
        }
    };
    // The body's token wins over the header, as in Fulcio.
    let token = request
        .credentials
        .and_then(|c| c.oidc_identity_token)
        .filter(|t| !t.is_empty());
    let token = match token.as_deref() {
        Some(t) => t,
        None => bearer_token(&req).ok_or(ApiError::MissingToken)?,
    };
    let issued = issue(&state, token, proof).await?;
    let chain = Chain {
        certificates: PemChain {
            leaf: &issued.certificate.leaf_pem,
            ca: state.ca.chain().pems_json(),
        },
    };
    Ok(HttpResponse::Ok().json(match &issued.detached_sct {
        None => SigningCertificate::SignedCertificateEmbeddedSct(ChainHolder { chain }),
        Some(sct) => SigningCertificate::SignedCertificateDetachedSct {
            chain,
            signed_certificate_timestamp: STANDARD.encode(add_chain_response(sct).to_string()),
        },
    }))
}

/// `POST /api/v1/signingCert` (deprecated in Fulcio, still used by cosign v2): 201 with the PEM
/// chain. The token is read only from the `Authorization` header.
pub async fn create_v1(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, &state, state.config.server.max_body_bytes).await?;
    let request: CreateRequestV1 = parse_json(&body)?;
    let proof = match (request.certificate_signing_request, request.public_key) {
        (Some(csr), None) => KeyProof::Csr(decode_base64("certificateSigningRequest", &csr)?),
        (None, Some(key)) => {
            let content = key
                .content
                .ok_or_else(|| ApiError::BadRequest("publicKey.content is required".into()))?;
            let proof = request.signed_email_address.ok_or_else(|| {
                ApiError::BadRequest("signedEmailAddress is required with publicKey".into())
            })?;
            KeyProof::Signed {
                key: decode_base64("publicKey.content", &content)?,
                proof: decode_base64("signedEmailAddress", &proof)?,
            }
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "send either certificateSigningRequest or publicKey, not both".into(),
            ));
        }
        (None, None) => {
            return Err(ApiError::BadRequest(
                "certificateSigningRequest or publicKey is required".into(),
            ));
        }
    };
    let token = bearer_token(&req).ok_or(ApiError::MissingToken)?;
    let issued = issue(&state, token, proof).await?;
    let mut response = HttpResponse::Created();
    response.content_type("application/pem-certificate-chain");
    // Fulcio's legacy API carries a detached SCT in this header, and none when embedded.
    if let Some(sct) = &issued.detached_sct {
        response.insert_header(("SCT", STANDARD.encode(add_chain_response(sct).to_string())));
    }
    Ok(response.body(
        state
            .ca
            .chain()
            .pem_document(Some(&issued.certificate.leaf_pem)),
    ))
}

/// The shared data path: token → principal → key and proof → certificate.
async fn issue(state: &AppState, token: &str, proof: KeyProof) -> Result<Issued, ApiError> {
    let principal = state.auth.authenticate(token).await?;
    state
        .limits
        .charge_identity(principal.issuer(), principal.identity())?;
    let key = match proof {
        KeyProof::Csr(csr) => pop::key_from_csr(&csr)?,
        KeyProof::Signed { key, proof } => {
            let key = ClientKey::from_pem_or_der(&key)?;
            key.verify_proof(&principal.challenge, &proof)?;
            key
        }
    };
    let issued = issuance::issue(state, &principal, &key).await?;
    state
        .metrics
        .certificates_issued
        .with_label_values(&[&principal.issuer_type])
        .inc();
    audit(&principal, &issued);
    Ok(issued)
}

/// One JSON audit line per certificate: who, by which issuer, which serial, which CT log entry.
/// Never the token.
fn audit(principal: &Principal, issued: &Issued) {
    tracing::info!(
        target: "sigil::audit",
        event = "certificate_issued",
        identity = %principal.identity(),
        issuer = %principal.issuer(),
        issuer_type = %principal.issuer_type,
        serial = %issued.certificate.serial_hex,
        ct_index = issued.ct_index,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pre_escaped_chain_serializes_as_a_plain_string_array() {
        let pems = [
            "-----BEGIN CERTIFICATE-----\nTElBRg==\n-----END CERTIFICATE-----",
            "-----BEGIN CERTIFICATE-----\nSU5URVI=\n-----END CERTIFICATE-----",
            "-----BEGIN CERTIFICATE-----\nUk9PVA==\n-----END CERTIFICATE-----",
        ];
        let ca: Vec<Box<RawValue>> = pems[1..]
            .iter()
            .map(|pem| serde_json::value::to_raw_value(pem).unwrap())
            .collect();
        let chain = Chain {
            certificates: PemChain {
                leaf: pems[0],
                ca: &ca,
            },
        };
        assert_eq!(
            serde_json::to_string(&chain).unwrap(),
            serde_json::json!({ "certificates": pems }).to_string()
        );
    }
}
