//! The requester's public key and its proof of possession.
//!
//! Two forms, as Fulcio: a PKCS#10 CSR whose self-signature is the proof (its subject and
//! extensions are ignored), or a SubjectPublicKeyInfo plus a signature over the principal's
//! challenge (`email` or `sub`) made with the key's default hash. Key and hash pairs follow
//! Fulcio's default `--client-signing-algorithms`.

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::sign::Verifier;
use openssl::x509::X509Req;
use x509_parser::oid_registry::{
    OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA,
    OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ECDSA_WITH_SHA512,
    OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;

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

/// The kinds of client keys allowed (Fulcio's default allowlist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKeyKind {
    /// ECDSA P-256, SHA-256.
    EcdsaP256,
    /// ECDSA P-384, SHA-384.
    EcdsaP384,
    /// ECDSA P-521, SHA-512.
    EcdsaP521,
    /// RSA 2048, 3072 or 4096 bits, PKCS#1 v1.5 with SHA-256.
    Rsa,
    /// Ed25519 over the raw message.
    Ed25519,
}

impl ClientKeyKind {
    /// The hash this key type signs with; `None` for Ed25519, which hashes internally.
    fn digest(self) -> Option<MessageDigest> {
        match self {
            ClientKeyKind::EcdsaP256 | ClientKeyKind::Rsa => Some(MessageDigest::sha256()),
            ClientKeyKind::EcdsaP384 => Some(MessageDigest::sha384()),
            ClientKeyKind::EcdsaP521 => Some(MessageDigest::sha512()),
            ClientKeyKind::Ed25519 => None,
        }
    }
}

/// A client public key that passed the key policy.
pub struct ClientKey {
    pkey: PKey<Public>,
    spki_der: Vec<u8>,
    kind: ClientKeyKind,
}

impl ClientKey {
    /// Parses `content` as a PEM `PUBLIC KEY`, or, failing that, as DER (Fulcio's order).
    pub fn from_pem_or_der(content: &[u8]) -> Result<ClientKey, KeyError> {
        let pkey = PKey::public_key_from_pem(content)
            .or_else(|_| PKey::public_key_from_der(content))
            .map_err(|_| {
                KeyError::BadPublicKey("expected a PEM or DER SubjectPublicKeyInfo".into())
            })?;
        ClientKey::new(pkey)
    }

    fn new(pkey: PKey<Public>) -> Result<ClientKey, KeyError> {
        let kind = match pkey.id() {
            Id::EC => {
                let ec = pkey
                    .ec_key()
                    .map_err(|e| KeyError::BadPublicKey(e.to_string()))?;
                match ec.group().curve_name() {
                    Some(Nid::X9_62_PRIME256V1) => ClientKeyKind::EcdsaP256,
                    Some(Nid::SECP384R1) => ClientKeyKind::EcdsaP384,
                    Some(Nid::SECP521R1) => ClientKeyKind::EcdsaP521,
                    _ => {
                        return Err(KeyError::Insecure(
                            "ECDSA keys must be on P-256, P-384 or P-521".into(),
                        ));
                    }
                }
            }
            Id::RSA => {
                let rsa = pkey
                    .rsa()
                    .map_err(|e| KeyError::BadPublicKey(e.to_string()))?;
                let bits = rsa.n().num_bits();
                if ![2048, 3072, 4096].contains(&bits) {
                    return Err(KeyError::Insecure(format!(
                        "RSA keys must have 2048, 3072 or 4096 bits, this one has {bits}"
                    )));
                }
                if rsa.e().to_dec_str().map(|e| e.to_string()).ok().as_deref() != Some("65537") {
                    return Err(KeyError::Insecure(
                        "RSA public exponent must be 65537".into(),
                    ));
                }
                ClientKeyKind::Rsa
            }
            Id::ED25519 => ClientKeyKind::Ed25519,
            _ => {
                return Err(KeyError::Insecure(
                    "only ECDSA (P-256/384/521), RSA and Ed25519 keys are accepted".into(),
                ));
            }
        };
        let spki_der = pkey
            .public_key_to_der()
            .map_err(|e| KeyError::BadPublicKey(e.to_string()))?;
        Ok(ClientKey {
            pkey,
            spki_der,
            kind,
        })
    }

    /// The DER SubjectPublicKeyInfo, as it will appear in the certificate.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Checks a `publicKeyRequest` proof: `signature` over the raw bytes of `challenge`.
    pub fn verify_proof(&self, challenge: &str, signature: &[u8]) -> Result<(), KeyError> {
        let verified = match self.kind.digest() {
            Some(digest) => Verifier::new(digest, &self.pkey)
                .and_then(|mut v| v.verify_oneshot(signature, challenge.as_bytes())),
            None => Verifier::new_without_digest(&self.pkey)
                .and_then(|mut v| v.verify_oneshot(signature, challenge.as_bytes())),
        }
        .unwrap_or(false);
        if verified {
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
    let req = X509Req::from_pem(csr)
        .or_else(|_| X509Req::from_der(csr))
        .map_err(|_| KeyError::BadCsr("expected a PEM or DER PKCS#10 request".into()))?;
    let pkey = req
        .public_key()
        .map_err(|_| KeyError::BadCsr("its public key cannot be read".into()))?;
    let key = ClientKey::new(pkey)?;

    let der = req.to_der().map_err(|e| KeyError::BadCsr(e.to_string()))?;
    let (_, parsed) = x509_parser::certification_request::X509CertificationRequest::from_der(&der)
        .map_err(|e| KeyError::BadCsr(e.to_string()))?;
    let alg = &parsed.signature_algorithm.algorithm;
    let permitted = match key.kind {
        ClientKeyKind::EcdsaP256 => *alg == OID_SIG_ECDSA_WITH_SHA256,
        ClientKeyKind::EcdsaP384 => *alg == OID_SIG_ECDSA_WITH_SHA384,
        ClientKeyKind::EcdsaP521 => *alg == OID_SIG_ECDSA_WITH_SHA512,
        ClientKeyKind::Rsa => *alg == OID_PKCS1_SHA256WITHRSA,
        ClientKeyKind::Ed25519 => *alg == OID_SIG_ED25519,
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
    if !req.verify(&key.pkey).unwrap_or(false) {
        return Err(KeyError::BadSignature(
            "the CSR is not signed by the key it contains".into(),
        ));
    }
    Ok(key)
}
