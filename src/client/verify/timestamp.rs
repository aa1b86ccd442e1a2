//! RFC 3161 signed timestamps: a trusted timestamp authority's statement that a signature
//! existed at `genTime`. The DER is parsed by the RustCrypto `cms` and `x509-tsp` crates; the
//! signature and the TSA's chain are checked with OpenSSL.

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::asn1::OctetStringRef;
use der::oid::ObjectIdentifier;
use der::oid::db::rfc5911::{ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use der::{Decode, Encode};
use openssl::hash::{MessageDigest, hash};
use openssl::x509::X509;
use openssl::x509::X509PurposeId;
use x509_tsp::{TimeStampResp, TstInfo};

use super::certificate::chain_to;
use super::{VerifyError, fail};
use crate::client::trust::TrustedAuthority;

const CHECK: &str = "timestamp";
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// Verifies one `signedTimestamp` (a DER `TimeStampResp`) over `signature`; returns its time in
/// Unix seconds.
pub(super) fn verify(
    response: &[u8],
    signature: &[u8],
    authorities: &[TrustedAuthority],
) -> Result<i64, VerifyError> {
    let bad = |what: &str| -> VerifyError {
        VerifyError {
            check: CHECK,
            reason: what.to_owned(),
        }
    };
    let response =
        TimeStampResp::from_der(response).map_err(|e| bad(&format!("not a TimeStampResp: {e}")))?;
    if (response.status.status as u8) > 1 {
        return fail(CHECK, "the authority did not grant the timestamp");
    }
    let token = response
        .time_stamp_token
        .ok_or_else(|| bad("the response carries no token"))?;
    let signed = signed_data(&token).ok_or_else(|| bad("the token is not CMS SignedData"))?;
    if signed.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return fail(CHECK, "the token does not carry a TSTInfo");
    }
    let content = signed
        .encap_content_info
        .econtent
        .as_ref()
        .and_then(|c| c.decode_as::<OctetStringRef>().ok())
        .ok_or_else(|| bad("the token's content is missing"))?
        .as_bytes();
    let info = TstInfo::from_der(content).map_err(|e| bad(&format!("malformed TSTInfo: {e}")))?;

    // The timestamp must be over this bundle's signature.
    let imprint_digest = digest_for(&info.message_imprint.hash_algorithm.oid)
        .ok_or_else(|| bad("unsupported message imprint hash"))?;
    let expected = hash(imprint_digest, signature).map_err(|e| bad(&e.to_string()))?;
    if info.message_imprint.hashed_message.as_bytes() != &expected[..] {
        return fail(CHECK, "the timestamp is not over this bundle's signature");
    }
    let time = info.gen_time.to_unix_duration().as_secs() as i64;

    // One signer whose signed attributes bind the TSTInfo, signed by a trusted TSA at `time`.
    let [signer] = signed.signer_infos.0.as_slice() else {
        return fail(CHECK, "the token must have exactly one signer");
    };
    let attributes = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| bad("the signer has no signed attributes"))?;
    let attribute = |oid: ObjectIdentifier| {
        attributes
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.iter().next())
    };
    let content_digest =
        digest_for(&signer.digest_alg.oid).ok_or_else(|| bad("unsupported digest algorithm"))?;
    let expected = hash(content_digest, content).map_err(|e| bad(&e.to_string()))?;
    let digest_ok = attribute(ID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetStringRef>().ok())
        .is_some_and(|d| d.as_bytes() == &expected[..]);
    let type_ok = attribute(ID_CONTENT_TYPE).and_then(|v| v.decode_as::<ObjectIdentifier>().ok())
        == Some(ID_CT_TST_INFO);
    if !digest_ok || !type_ok {
        return fail(
            CHECK,
            "the signed attributes do not bind the token's TSTInfo",
        );
    }
    let signed_bytes = attributes.to_der().map_err(|e| bad(&e.to_string()))?;
    let signature_digest = match digest_for(&signer.signature_algorithm.oid) {
        Some(d) => Some(d),
        None if is_bare_key_algorithm(&signer.signature_algorithm.oid) => Some(content_digest),
        None => None,
    };

    let embedded: Vec<X509> = signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c) => c.to_der().ok(),
            _ => None,
        })
        .filter_map(|der| X509::from_der(&der).ok())
        .collect();
    let mut reason = "no trusted timestamp authority was valid at the timestamp's time".to_owned();
    for authority in authorities.iter().filter(|a| a.valid.contains(time)) {
        let chain: Vec<X509> = authority
            .chain
            .iter()
            .filter_map(|d| X509::from_der(d).ok())
            .collect();
        reason = "the token's signature does not verify with a trusted authority's key".into();
        let signers = embedded.iter().chain(&chain).filter(|c| {
            signed_by(
                c,
                signature_digest,
                &signed_bytes,
                signer.signature.as_bytes(),
            )
        });
        for candidate in signers {
            match chain_to(candidate, &chain, time, Some(X509PurposeId::TIMESTAMP_SIGN)) {
                Ok(_) => return Ok(time),
                Err(e) => {
                    reason = format!(
                        "the signing certificate does not chain to a trusted authority: {e}"
                    )
                }
            }
        }
    }
    fail(CHECK, reason)
}

fn signed_data(token: &ContentInfo) -> Option<SignedData> {
    if token.content_type != ID_SIGNED_DATA {
        return None;
    }
    token.content.decode_as::<SignedData>().ok()
}

fn signed_by(cert: &X509, digest: Option<MessageDigest>, message: &[u8], signature: &[u8]) -> bool {
    let check = || -> Result<bool, openssl::error::ErrorStack> {
        let key = cert.public_key()?;
        let mut verifier = match digest {
            Some(d) => openssl::sign::Verifier::new(d, &key)?,
            None => openssl::sign::Verifier::new_without_digest(&key)?,
        };
        verifier.verify_oneshot(signature, message)
    };
    check().unwrap_or(false)
}

/// The hash of a digest or signature algorithm OID (`None` for Ed25519 and unknown ones).
fn digest_for(oid: &ObjectIdentifier) -> Option<MessageDigest> {
    Some(match oid.to_string().as_str() {
        "2.16.840.1.101.3.4.2.1" | "1.2.840.10045.4.3.2" | "1.2.840.113549.1.1.11" => {
            MessageDigest::sha256()
        }
        "2.16.840.1.101.3.4.2.2" | "1.2.840.10045.4.3.3" | "1.2.840.113549.1.1.12" => {
            MessageDigest::sha384()
        }
        "2.16.840.1.101.3.4.2.3" | "1.2.840.10045.4.3.4" | "1.2.840.113549.1.1.13" => {
            MessageDigest::sha512()
        }
        _ => return None,
    })
}

/// id-ecPublicKey and rsaEncryption name a key type, not a hash; some TSAs put them in
/// `signatureAlgorithm` and mean "with the digest algorithm".
fn is_bare_key_algorithm(oid: &ObjectIdentifier) -> bool {
    matches!(
        oid.to_string().as_str(),
        "1.2.840.10045.2.1" | "1.2.840.113549.1.1.1"
    )
}
