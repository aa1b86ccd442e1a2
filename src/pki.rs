//! Certificate path validation (RFC 5280, by rustls-webpki over aws-lc-rs), shared by the
//! verifier (leaf and TSA chains) and the Rekor log (entry certificates), and the one PEM form
//! that sigil writes certificates in.

use std::borrow::Cow;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};

/// Every certificate signature algorithm a Sigstore chain may use.
static ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ECDSA_P521_SHA256,
    webpki::aws_lc_rs::ECDSA_P521_SHA384,
    webpki::aws_lc_rs::ECDSA_P521_SHA512,
    webpki::aws_lc_rs::ED25519,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// A certificate as PEM the way OpenSSL, Fulcio and rcgen write it: 64-column lines and LF line
/// endings on every platform, with the final newline.
pub fn certificate_pem(der: &[u8]) -> String {
    let lf = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new("CERTIFICATE", der), lf)
}

/// The DER that `bytes` holds, given as PEM or as DER (Fulcio's and Rekor's order): the contents
/// of its first PEM block when `wanted` accepts that block's label, `bytes` itself when it is
/// not PEM, and `None` for PEM of another kind.
pub fn der_from_pem_or_der(bytes: &[u8], wanted: impl Fn(&str) -> bool) -> Option<Cow<'_, [u8]>> {
    match x509_parser::pem::parse_x509_pem(bytes) {
        Ok((_, pem)) if wanted(&pem.label) => Some(Cow::Owned(pem.contents)),
        Ok(_) => None,
        Err(_) => Some(Cow::Borrowed(bytes)),
    }
}

/// Extended key usage codeSigning (1.3.6.1.5.5.7.3.3), DER value bytes.
pub const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// Extended key usage timeStamping (1.3.6.1.5.5.7.3.8), DER value bytes.
pub const EKU_TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// Verifies `leaf` up to the last certificate of `chain` (the trust anchor) at `time` for the
/// extended key usage `eku`, the others serving as intermediates (RFC 5280 path validation by
/// rustls-webpki); returns the SPKI of the certificate that issued `leaf`.
pub fn chain_to(
    leaf: &[u8],
    chain: &[Vec<u8>],
    time: i64,
    eku: &'static [u8],
) -> Result<Vec<u8>, String> {
    let Some((root, intermediates)) = chain.split_last() else {
        return Err("the authority has no certificates".into());
    };
    let root = CertificateDer::from(root.as_slice());
    let anchor = webpki::anchor_from_trusted_cert(&root).map_err(|e| format!("its root: {e}"))?;
    let intermediates: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let leaf = CertificateDer::from(leaf);
    let end_entity = webpki::EndEntityCert::try_from(&leaf).map_err(|e| e.to_string())?;
    let time = UnixTime::since_unix_epoch(Duration::from_secs(
        u64::try_from(time).map_err(|_| "a time before 1970")?,
    ));
    let anchors = [anchor];
    let path = end_entity
        .verify_for_usage(
            ALGORITHMS,
            &anchors,
            &intermediates,
            time,
            webpki::KeyUsage::required(eku),
            None,
            None,
        )
        .map_err(|e| e.to_string())?;
    match path.intermediate_certificates().next() {
        Some(issuer) => Ok(issuer.subject_public_key_info().to_vec()),
        // The anchor keeps its SPKI without the outer SEQUENCE.
        None => der::asn1::AnyRef::new(
            der::Tag::Sequence,
            path.anchor().subject_public_key_info.as_ref(),
        )
        .and_then(|spki| der::Encode::to_der(&spki))
        .map_err(|e| e.to_string()),
    }
}
