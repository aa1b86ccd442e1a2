//! A log's signing key: ECDSA P-256 (the default) or RSA, with SHA-256. Keys are loaded with
//! OpenSSL; P-256 signatures, one per SCT and per tree head, are made with aws-lc-rs, which
//! signs without OpenSSL 3.0's per-call algorithm fetches.

use std::path::Path;

use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Private, Public};

use crate::rfc6962::{Hash, SIG_ALG_ECDSA, SIG_ALG_RSA, digitally_signed, sha256};

/// Why a key could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or parsed.
    #[error("log key {path}: {problem}")]
    Load {
        /// The file.
        path: String,
        /// What went wrong (never key material).
        problem: String,
    },
    /// OpenSSL failed.
    #[error(transparent)]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

/// A log's private key, its SPKI and its log ID.
pub struct LogKey {
    pkey: PKey<Private>,
    /// The same key for aws-lc-rs, when it is P-256.
    p256: Option<aws_lc_rs::signature::EcdsaKeyPair>,
    spki: Vec<u8>,
    log_id: Hash,
    sig_alg: u8,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKey")
            .field("log_id", &self.log_id)
            .finish_non_exhaustive()
    }
}

impl LogKey {
    /// A fresh ECDSA P-256 key (development only: a restart makes a new log identity).
    pub fn generate_p256() -> Result<LogKey, KeyError> {
        let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)?;
        LogKey::new(PKey::from_ec_key(openssl::ec::EcKey::generate(&group)?)?)
    }

    /// Reads a PKCS#8 PEM key, decrypting it when a passphrase is given.
    pub fn from_pem_file(path: &Path, passphrase: Option<&[u8]>) -> Result<LogKey, KeyError> {
        let problem = |problem: &str| KeyError::Load {
            path: path.display().to_string(),
            problem: problem.to_owned(),
        };
        let pem = std::fs::read(path).map_err(|e| problem(&e.to_string()))?;
        let pkey = match passphrase {
            Some(p) => PKey::private_key_from_pem_passphrase(&pem, p),
            None => PKey::private_key_from_pem(&pem),
        }
        .map_err(|_| problem("not a PKCS#8 PEM private key, or the passphrase is wrong"))?;
        LogKey::new(pkey).map_err(|e| problem(&e.to_string()))
    }

    fn new(pkey: PKey<Private>) -> Result<LogKey, KeyError> {
        let sig_alg = match pkey.id() {
            Id::EC => SIG_ALG_ECDSA,
            Id::RSA => SIG_ALG_RSA,
            _ => {
                return Err(KeyError::Load {
                    path: String::new(),
                    problem: "log keys must be ECDSA or RSA (RFC 6962 SCTs)".into(),
                });
            }
        };
        let spki = pkey.public_key_to_der()?;
        let log_id = sha256(&spki);
        let is_p256 = pkey.ec_key().ok().and_then(|ec| ec.group().curve_name())
            == Some(openssl::nid::Nid::X9_62_PRIME256V1);
        let p256 = if is_p256 {
            let pkcs8 = pkey.private_key_to_pkcs8()?;
            aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                &pkcs8,
            )
            .ok()
        } else {
            None
        };
        Ok(LogKey {
            pkey,
            p256,
            spki,
            log_id,
            sig_alg,
        })
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo: the RFC 6962 log ID, and Rekor's.
    pub fn log_id(&self) -> &Hash {
        &self.log_id
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The public key as PEM.
    pub fn public_pem(&self) -> Result<String, KeyError> {
        Ok(String::from_utf8_lossy(&self.pkey.public_key_to_pem()?).into_owned())
    }

    /// A SHA-256 signature over `message` (DER ECDSA or PKCS#1 v1.5).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        if let Some(key) = &self.p256 {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            if let Ok(signature) = key.sign(&rng, message) {
                return Ok(signature.as_ref().to_vec());
            }
        }
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &self.pkey)?;
        Ok(signer.sign_oneshot_to_vec(message)?)
    }

    /// The TLS `DigitallySigned` of `message`, as SCTs and STHs carry it.
    pub fn digitally_sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        Ok(digitally_signed(self.sig_alg, &self.sign(message)?))
    }
}

/// Verifies a SHA-256 signature (DER ECDSA or PKCS#1 v1.5) over `message` with a DER SPKI.
pub fn verify(spki: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let check = || -> Option<bool> {
        let key: PKey<Public> = PKey::public_key_from_der(spki).ok()?;
        let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), &key).ok()?;
        verifier.verify_oneshot(signature, message).ok()
    };
    check().unwrap_or(false)
}

/// Verifies a TLS `DigitallySigned` (SHA-256) over `message` with a DER SPKI.
pub fn verify_digitally_signed(spki: &[u8], message: &[u8], signed: &[u8]) -> bool {
    if signed.len() < 4 || signed[0] != 4 {
        return false;
    }
    let len = u16::from_be_bytes([signed[2], signed[3]]) as usize;
    signed.len() == 4 + len && verify(spki, message, &signed[4..])
}
