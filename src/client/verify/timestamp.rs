//! RFC 3161 signed timestamps: a trusted timestamp authority's statement that a signature
//! existed at `genTime`. The DER is parsed by the RustCrypto `cms` and `x509-tsp` crates; the
//! signature and the TSA's chain are checked with OpenSSL.

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::asn1::OctetStringRef;
use der::oid::ObjectIdentifier;
use der::oid::db::rfc5911::{ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use der::{Decode, Encode};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm};
use x509_tsp::{TimeStampResp, TstInfo};

use super::{VerifyError, fail};
use crate::client::trust::TrustedAuthority;
use crate::pki::{EKU_TIME_STAMPING, chain_to};

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
    let imprint_hash = Hash::named(&info.message_imprint.hash_algorithm.oid)
        .ok_or_else(|| bad("unsupported message imprint hash"))?;
    if info.message_imprint.hashed_message.as_bytes() != imprint_hash.digest(signature).as_ref() {
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
    let content_hash =
        Hash::named(&signer.digest_alg.oid).ok_or_else(|| bad("unsupported digest algorithm"))?;
    let expected = content_hash.digest(content);
    let digest_ok = attribute(ID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetStringRef>().ok())
        .is_some_and(|d| d.as_bytes() == expected.as_ref());
    let type_ok = attribute(ID_CONTENT_TYPE).and_then(|v| v.decode_as::<ObjectIdentifier>().ok())
        == Some(ID_CT_TST_INFO);
    if !digest_ok || !type_ok {
        return fail(
            CHECK,
            "the signed attributes do not bind the token's TSTInfo",
        );
    }
    let signed_bytes = attributes.to_der().map_err(|e| bad(&e.to_string()))?;
    let algorithms = signature_algorithms(&signer.signature_algorithm.oid, content_hash)
        .ok_or_else(|| bad("unsupported signature algorithm"))?;
    let signed_by = |cert: &[u8]| {
        let cert = CertificateDer::from(cert);
        webpki::EndEntityCert::try_from(&cert).is_ok_and(|ee| {
            algorithms.iter().any(|alg| {
                ee.verify_signature(*alg, &signed_bytes, signer.signature.as_bytes())
                    .is_ok()
            })
        })
    };

    let embedded: Vec<Vec<u8>> = signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            cms::cert::CertificateChoices::Certificate(c) => c.to_der().ok(),
            _ => None,
        })
        .collect();
    let mut reason = "no trusted timestamp authority was valid at the timestamp's time".to_owned();
    for authority in authorities.iter().filter(|a| a.valid.contains(time)) {
        reason = "the token's signature does not verify with a trusted authority's key".into();
        for candidate in embedded.iter().chain(authority.chain.certificates()) {
            if !signed_by(candidate) {
                continue;
            }
            match chain_to(candidate, &authority.chain, time, EKU_TIME_STAMPING) {
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

/// The hashes a timestamp may use, named by a digest OID or a signature-with-hash OID.
#[derive(Debug, Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn named(oid: &ObjectIdentifier) -> Option<Hash> {
        Some(match oid.to_string().as_str() {
            "2.16.840.1.101.3.4.2.1" | "1.2.840.10045.4.3.2" | "1.2.840.113549.1.1.11" => {
                Hash::Sha256
            }
            "2.16.840.1.101.3.4.2.2" | "1.2.840.10045.4.3.3" | "1.2.840.113549.1.1.12" => {
                Hash::Sha384
            }
            "2.16.840.1.101.3.4.2.3" | "1.2.840.10045.4.3.4" | "1.2.840.113549.1.1.13" => {
                Hash::Sha512
            }
            _ => return None,
        })
    }

    fn digest(self, data: &[u8]) -> aws_lc_rs::digest::Digest {
        let algorithm = match self {
            Hash::Sha256 => &aws_lc_rs::digest::SHA256,
            Hash::Sha384 => &aws_lc_rs::digest::SHA384,
            Hash::Sha512 => &aws_lc_rs::digest::SHA512,
        };
        aws_lc_rs::digest::digest(algorithm, data)
    }
}

/// The webpki algorithms a CMS signer's `signatureAlgorithm` may mean; the certificate's key
/// picks among them.
fn signature_algorithms(
    signature: &ObjectIdentifier,
    digest: Hash,
) -> Option<&'static [&'static dyn SignatureVerificationAlgorithm]> {
    use webpki::aws_lc_rs as alg;
    static SHA256: &[&dyn SignatureVerificationAlgorithm] = &[
        alg::ECDSA_P256_SHA256,
        alg::ECDSA_P384_SHA256,
        alg::ECDSA_P521_SHA256,
        alg::RSA_PKCS1_2048_8192_SHA256,
    ];
    static SHA384: &[&dyn SignatureVerificationAlgorithm] = &[
        alg::ECDSA_P256_SHA384,
        alg::ECDSA_P384_SHA384,
        alg::ECDSA_P521_SHA384,
        alg::RSA_PKCS1_2048_8192_SHA384,
    ];
    static SHA512: &[&dyn SignatureVerificationAlgorithm] = &[
        alg::ECDSA_P256_SHA512,
        alg::ECDSA_P384_SHA512,
        alg::ECDSA_P521_SHA512,
        alg::RSA_PKCS1_2048_8192_SHA512,
    ];
    static ED25519: &[&dyn SignatureVerificationAlgorithm] = &[alg::ED25519];
    let by_hash = |hash| match hash {
        Hash::Sha256 => SHA256,
        Hash::Sha384 => SHA384,
        Hash::Sha512 => SHA512,
    };
    match signature.to_string().as_str() {
        "1.3.101.112" => Some(ED25519),
        // id-ecPublicKey and rsaEncryption name a key type, not a hash; some TSAs put them in
        // `signatureAlgorithm` and mean "with the digest algorithm".
        "1.2.840.10045.2.1" | "1.2.840.113549.1.1.1" => Some(by_hash(digest)),
        _ => Hash::named(signature).map(by_hash),
    }
}
