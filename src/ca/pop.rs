//! The requester's public key and its proof of possession.
//!
//! Two forms, as Fulcio: a PKCS#10 CSR whose self-signature is the proof (its subject and
//! extensions are ignored), or a SubjectPublicKeyInfo plus a signature over the principal's
//! challenge (`email` or `sub`) made with the key's default hash. Key and hash pairs follow
//! Fulcio's default `--client-signing-algorithms`.
//!
//! Parsing is x509-parser's and the signature checks are aws-lc-rs's: this runs once per
//! issuance, and OpenSSL 3.0's key decoders and encoders cost more than the check itself.

use aws_lc_rs::signature::UnparsedPublicKey;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA,
    OID_PKCS1_SHA512WITHRSA, OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384,
    OID_SIG_ECDSA_WITH_SHA512, OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::pki::der_from_pem_or_der;
use crate::public_key::KeyKind;

/// Why a key or its proof was refused. Every variant is the client's to fix.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The CSR is not a PKCS#10 request in PEM or DER.
    #[error("the certificate signing request could not be parsed: {0}")]
    BadCsr(String),
    /// The public key is not a PEM or DER SubjectPublicKeyInfo.
    #[error("the public key could not be parsed: {0}")]
    BadPublicKey(String),
    /// A key type or size outside the allowed list.
    #[error("the public key is insecure or unsupported: {0}")]
    Insecure(String),
    /// The CSR is signed with a hash this key type may not use.
    #[error("signing algorithm not permitted: {0}")]
    AlgorithmNotPermitted(String),
    /// The CSR self-signature or the proof of possession does not verify.
    #[error("the signature in the request could not be verified: {0}")]
    BadSignature(String),
}

/// A client public key that passed the key policy.
pub struct ClientKey {
    spki_der: Vec<u8>,
    /// The subjectPublicKey bits (EC point, PKCS#1 RSA key or Ed25519 key).
    key_bits: Vec<u8>,
    kind: KeyKind,
}

/// The bit length of a big-endian unsigned integer.
fn bit_length(be: &[u8]) -> usize {
    let significant: &[u8] = match be.iter().position(|b| *b != 0) {
        Some(i) => &be[i..],
        None => &[],
    };
    significant.first().map_or(0, |top| {
        significant.len() * 8 - top.leading_zeros() as usize
    })
}

impl ClientKey {
    /// Parses `content` as a PEM `PUBLIC KEY`, or, failing that, as DER (Fulcio's order).
    pub fn from_pem_or_der(content: &[u8]) -> Result<ClientKey, KeyError> {
        let bad = || KeyError::BadPublicKey("expected a PEM or DER SubjectPublicKeyInfo".into());
        let der = der_from_pem_or_der(content, |label| label == "PUBLIC KEY").ok_or_else(bad)?;
        ClientKey::from_spki(&der).map_err(|e| match e {
            KeyError::BadPublicKey(_) => bad(),
            other => other,
        })
    }

    /// Checks a DER SubjectPublicKeyInfo against the key policy.
    fn from_spki(der: &[u8]) -> Result<ClientKey, KeyError> {
        let bad = |m: &str| KeyError::BadPublicKey(m.to_owned());
        let (rest, spki) =
            SubjectPublicKeyInfo::from_der(der).map_err(|_| bad("not a SubjectPublicKeyInfo"))?;
        if !rest.is_empty() {
            return Err(bad("trailing bytes after the SubjectPublicKeyInfo"));
        }
        let algorithm = &spki.algorithm.algorithm;
        let kind = if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            match curve {
                Some(c) if c == OID_EC_P256 => KeyKind::EcdsaP256,
                Some(c) if c == OID_NIST_EC_P384 => KeyKind::EcdsaP384,
                Some(c) if c == OID_NIST_EC_P521 => KeyKind::EcdsaP521,
                _ => {
                    return Err(KeyError::Insecure(
                        "ECDSA keys must be on P-256, P-384 or P-521".into(),
                    ));
                }
            }
        } else if *algorithm == OID_PKCS1_RSAENCRYPTION {
            let Ok(PublicKey::RSA(rsa)) = spki.parsed() else {
                return Err(bad("malformed RSA public key"));
            };
            let bits = bit_length(rsa.modulus);
            if ![2048, 3072, 4096].contains(&bits) {
                return Err(KeyError::Insecure(format!(
                    "RSA keys must have 2048, 3072 or 4096 bits, this one has {bits}"
                )));
            }
            if rsa.try_exponent().ok() != Some(65537) {
                return Err(KeyError::Insecure(
                    "RSA public exponent must be 65537".into(),
                ));
            }
            KeyKind::Rsa
        } else if *algorithm == OID_SIG_ED25519 {
            KeyKind::Ed25519
        } else {
            return Err(KeyError::Insecure(
                "only ECDSA (P-256/384/521), RSA and Ed25519 keys are accepted".into(),
            ));
        };
        Ok(ClientKey {
            spki_der: spki.raw.to_vec(),
            key_bits: spki.subject_public_key.data.to_vec(),
            kind,
        })
    }

    /// The DER SubjectPublicKeyInfo, as it will appear in the certificate.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The subjectPublicKey bits, whose SHA-1 is the certificate's key identifier.
    pub fn key_bits(&self) -> &[u8] {
        &self.key_bits
    }

    /// Whether `signature` over `message` verifies with this key and its default hash.
    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(self.kind.algorithm(), &self.key_bits)
            .verify(message, signature)
            .is_ok()
    }

    /// Checks a `publicKeyRequest` proof: `signature` over the raw bytes of `challenge`.
    pub fn verify_proof(&self, challenge: &str, signature: &[u8]) -> Result<(), KeyError> {
        if self.verifies(challenge.as_bytes(), signature) {
            Ok(())
        } else {
            Err(KeyError::BadSignature(
                "the proof of possession must sign the token's email (email issuers) or sub \
                 claim with the key's default hash"
                    .into(),
            ))
        }
    }
}

/// Parses a CSR (PEM, or DER), checks its self-signature and algorithm, and returns its key.
pub fn key_from_csr(csr: &[u8]) -> Result<ClientKey, KeyError> {
    let bad = || KeyError::BadCsr("expected a PEM or DER PKCS#10 request".into());
    let der =
        der_from_pem_or_der(csr, |label| label.ends_with("CERTIFICATE REQUEST")).ok_or_else(bad)?;
    let (rest, parsed) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&der)
            .map_err(|_| bad())?;
    if !rest.is_empty() {
        return Err(bad());
    }
    let key = ClientKey::from_spki(parsed.certification_request_info.subject_pki.raw).map_err(
        |e| match e {
            KeyError::BadPublicKey(_) => KeyError::BadCsr("its public key cannot be read".into()),
            other => other,
        },
    )?;
    let alg = &parsed.signature_algorithm.algorithm;
    let permitted = match key.kind {
        KeyKind::EcdsaP256 => *alg == OID_SIG_ECDSA_WITH_SHA256,
        KeyKind::EcdsaP384 => *alg == OID_SIG_ECDSA_WITH_SHA384,
        KeyKind::EcdsaP521 => *alg == OID_SIG_ECDSA_WITH_SHA512,
        KeyKind::Rsa => *alg == OID_PKCS1_SHA256WITHRSA,
        KeyKind::Ed25519 => *alg == OID_SIG_ED25519,
    };
    if !permitted {
        let known = [
            (&OID_PKCS1_SHA384WITHRSA, "sha384WithRSA"),
            (&OID_PKCS1_SHA512WITHRSA, "sha512WithRSA"),
            (&OID_SIG_ECDSA_WITH_SHA256, "ecdsa-with-SHA256"),
            (&OID_SIG_ECDSA_WITH_SHA384, "ecdsa-with-SHA384"),
            (&OID_SIG_ECDSA_WITH_SHA512, "ecdsa-with-SHA512"),
        ];
        let name = known
            .iter()
            .find(|(oid, _)| *oid == alg)
            .map(|(_, n)| n.to_string())
            .unwrap_or_else(|| alg.to_id_string());
        return Err(KeyError::AlgorithmNotPermitted(format!(
            "{:?} key with {name}",
            key.kind
        )));
    }
    let tbs = parsed.certification_request_info.raw;
    if !key.verifies(tbs, &parsed.signature_value.data) {
        return Err(KeyError::BadSignature(
            "the CSR is not signed by the key it contains".into(),
        ));
    }
    Ok(key)
}
