//! The CA's signing key and certificate chain, from one of the backends.
//!
//! Keys are loaded and stored with OpenSSL; ECDSA signatures, two per issuance, are made with
//! aws-lc-rs, which signs without OpenSSL 3.0's per-call algorithm fetches (RSA keys sign with
//! OpenSSL). A key in a PKCS#11 token signs inside the token. Leaves are written by
//! `profile`; rcgen builds the CA certificates of `generate` and calls back into [`CaKey`] for
//! their signature.

use std::path::Path;

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{HasPublic, Id, PKey, PKeyRef, Private};
use openssl::x509::X509;
use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};
use serde_json::value::RawValue;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::Error;
use super::pkcs11::Pkcs11Key;
use crate::config::CaKeyType;

/// A CA private key that rcgen can sign with.
pub struct CaKey {
    store: KeyStore,
    /// The subjectPublicKey bits (EC point or PKCS#1 RSA key), computed once.
    public_bits: Vec<u8>,
    algorithm: &'static SignatureAlgorithm,
    digest: MessageDigest,
}

/// Where the private key lives.
enum KeyStore {
    /// In this process's memory.
    Software {
        pkey: PKey<Private>,
        /// The same key for aws-lc-rs, when it is ECDSA.
        ecdsa: Option<aws_lc_rs::signature::EcdsaKeyPair>,
    },
    /// Inside a PKCS#11 token; it never leaves it.
    Pkcs11(Pkcs11Key),
}

impl std::fmt::Debug for CaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("CaKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl CaKey {
    /// Generates a fresh key of `kind`.
    pub fn generate(kind: CaKeyType) -> Result<CaKey, Error> {
        let pkey = match kind {
            CaKeyType::EcdsaP256 | CaKeyType::EcdsaP384 => {
                let nid = if kind == CaKeyType::EcdsaP256 {
                    Nid::X9_62_PRIME256V1
                } else {
                    Nid::SECP384R1
                };
                let group = openssl::ec::EcGroup::from_curve_name(nid)?;
                PKey::from_ec_key(openssl::ec::EcKey::generate(&group)?)?
            }
            CaKeyType::Rsa3072 => PKey::from_rsa(openssl::rsa::Rsa::generate(3072)?)?,
        };
        CaKey::from_pkey(pkey)
    }

    /// Reads a PKCS#8 PEM key, decrypting it with `passphrase` when given.
    pub fn from_pem_file(path: &Path, passphrase: Option<&[u8]>) -> Result<CaKey, Error> {
        let pem =
            std::fs::read(path).map_err(|e| Error::Key(format!("{}: {e}", path.display())))?;
        let pkey = match passphrase {
            Some(p) => PKey::private_key_from_pem_passphrase(&pem, p),
            None => PKey::private_key_from_pem(&pem),
        }
        .map_err(|_| {
            Error::Key(format!(
                "{}: not a PKCS#8 PEM private key, or the passphrase is wrong",
                path.display()
            ))
        })?;
        CaKey::from_pkey(pkey)
    }

    /// Wraps an OpenSSL key, refusing key types that Sigstore clients reject for CAs.
    pub fn from_pkey(pkey: PKey<Private>) -> Result<CaKey, Error> {
        let (public_bits, algorithm, digest) = public_parts(&pkey)?;
        let signing = if *algorithm == rcgen::PKCS_ECDSA_P256_SHA256 {
            Some(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING)
        } else if *algorithm == rcgen::PKCS_ECDSA_P384_SHA384 {
            Some(&aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING)
        } else {
            None
        };
        let ecdsa = match signing {
            Some(alg) => Some(
                aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(alg, &pkey.private_key_to_pkcs8()?)
                    .map_err(|e| Error::Key(format!("the ECDSA key is not usable: {e}")))?,
            ),
            None => None,
        };
        Ok(CaKey {
            store: KeyStore::Software { pkey, ecdsa },
            public_bits,
            algorithm,
            digest,
        })
    }

    /// A key held in a PKCS#11 token, whose public half is that of `certificate` (the token's
    /// key is checked against it by the CA's self-test signature).
    pub fn from_pkcs11(key: Pkcs11Key, certificate: &X509) -> Result<CaKey, Error> {
        let (public_bits, algorithm, digest) = public_parts(&*certificate.public_key()?)?;
        Ok(CaKey {
            store: KeyStore::Pkcs11(key),
            public_bits,
            algorithm,
            digest,
        })
    }

    /// The key identifier (SHA-1 of the subjectPublicKey bits, RFC 5280 §4.2.1.2 method 1).
    pub fn key_identifier(&self) -> Vec<u8> {
        key_identifier(&self.public_bits)
    }

    /// The DER AlgorithmIdentifier of this key's signatures, which a certificate names twice:
    /// ECDSA's without parameters (RFC 5758 §3.2), RSA's with NULL ones (RFC 4055 §5).
    pub fn signature_algorithm(&self) -> Result<Vec<u8>, Error> {
        use der::Encode;
        use der::asn1::{Null, ObjectIdentifier};
        const ECDSA_WITH_SHA256: ObjectIdentifier =
            ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
        const ECDSA_WITH_SHA384: ObjectIdentifier =
            ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
        const SHA256_WITH_RSA: ObjectIdentifier =
            ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
        let (oid, null) = if *self.algorithm == rcgen::PKCS_ECDSA_P256_SHA256 {
            (ECDSA_WITH_SHA256, false)
        } else if *self.algorithm == rcgen::PKCS_ECDSA_P384_SHA384 {
            (ECDSA_WITH_SHA384, false)
        } else if *self.algorithm == rcgen::PKCS_RSA_SHA256 {
            (SHA256_WITH_RSA, true)
        } else {
            return Err(Error::Key(
                "the CA key's signature algorithm is not supported".into(),
            ));
        };
        let oid = oid.to_der()?;
        let null = if null { Null.to_der()? } else { Vec::new() };
        Ok(super::tbs::tlv(der::Tag::Sequence, &[&oid, &null])?)
    }

    /// The private key as PKCS#8 PEM, encrypted with `passphrase` when given. A key inside a
    /// token cannot be exported.
    pub fn to_pkcs8_pem(&self, passphrase: Option<&[u8]>) -> Result<Vec<u8>, Error> {
        let KeyStore::Software { pkey, .. } = &self.store else {
            return Err(Error::Key("a PKCS#11 key cannot be exported".into()));
        };
        Ok(match passphrase {
            Some(p) => {
                pkey.private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_256_cbc(), p)?
            }
            None => pkey.private_key_to_pem_pkcs8()?,
        })
    }

    /// Whether this key signs in tens of microseconds: ECDSA held in memory.
    pub fn signs_in_microseconds(&self) -> bool {
        matches!(self.store, KeyStore::Software { ecdsa: Some(_), .. })
    }

    /// Whether `cert` certifies this key.
    pub fn matches(&self, cert: &X509) -> Result<bool, Error> {
        Ok(public_parts(&*cert.public_key()?)?.0 == self.public_bits)
    }
}

/// The subjectPublicKey bits of a CA key, and how it signs. Refuses keys Sigstore clients
/// reject.
fn public_parts<T: HasPublic>(
    pkey: &PKeyRef<T>,
) -> Result<(Vec<u8>, &'static SignatureAlgorithm, MessageDigest), Error> {
    Ok(match pkey.id() {
        Id::EC => {
            let ec = pkey.ec_key()?;
            let group = ec.group();
            let mut ctx = openssl::bn::BigNumContext::new()?;
            let bits = ec.public_key().to_bytes(
                group,
                openssl::ec::PointConversionForm::UNCOMPRESSED,
                &mut ctx,
            )?;
            match group.curve_name() {
                Some(Nid::X9_62_PRIME256V1) => (
                    bits,
                    &rcgen::PKCS_ECDSA_P256_SHA256,
                    MessageDigest::sha256(),
                ),
                Some(Nid::SECP384R1) => (
                    bits,
                    &rcgen::PKCS_ECDSA_P384_SHA384,
                    MessageDigest::sha384(),
                ),
                _ => {
                    return Err(Error::Key("CA ECDSA keys must be on P-256 or P-384".into()));
                }
            }
        }
        Id::RSA => {
            let rsa = pkey.rsa()?;
            if rsa.size() * 8 < 2048 {
                return Err(Error::Key(
                    "CA RSA keys must have at least 2048 bits".into(),
                ));
            }
            (
                rsa.public_key_to_der_pkcs1()?,
                &rcgen::PKCS_RSA_SHA256,
                MessageDigest::sha256(),
            )
        }
        Id::ED25519 => {
            return Err(Error::Key(
                "Ed25519 CA keys are rejected by Sigstore clients (sigstore-python requires an \
                     ECDSA or RSA issuer); use ECDSA P-256/P-384 or RSA"
                    .into(),
            ));
        }
        other => return Err(Error::Key(format!("unsupported CA key type {other:?}"))),
    })
}

/// RFC 5280 §4.2.1.2 method (1) over raw subjectPublicKey bits. Every leaf needs one; aws-lc-rs
/// hashes without OpenSSL 3.0's per-call algorithm fetch.
pub fn key_identifier(public_bits: &[u8]) -> Vec<u8> {
    use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
    digest(&SHA1_FOR_LEGACY_USE_ONLY, public_bits)
        .as_ref()
        .to_vec()
}

impl PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public_bits
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}

impl SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match &self.store {
            KeyStore::Software {
                ecdsa: Some(key), ..
            } => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                key.sign(&rng, msg)
                    .map(|s| s.as_ref().to_vec())
                    .map_err(|_| rcgen::Error::RemoteKeyError)
            }
            KeyStore::Software { pkey, ecdsa: None } => {
                let sign = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
                    let mut signer = openssl::sign::Signer::new(self.digest, pkey)?;
                    signer.update(msg)?;
                    signer.sign_to_vec()
                };
                sign().map_err(|_| rcgen::Error::RemoteKeyError)
            }
            KeyStore::Pkcs11(key) => key.sign(self.digest, msg).map_err(|e| {
                tracing::error!(error = %e, "the PKCS#11 token refused to sign");
                rcgen::Error::RemoteKeyError
            }),
        }
    }
}

/// The CA chain: the issuing certificate first, the root last.
pub struct CaChain {
    certs: Vec<X509>,
    ders: Vec<Vec<u8>>,
    pems: Vec<String>,
    /// `pems` as JSON strings: every signingCert response carries them, and escaping their
    /// line breaks anew for each one was the largest part of serializing it.
    pems_json: Vec<Box<RawValue>>,
    issuer_key_hash: [u8; 32],
}

impl CaChain {
    /// Wraps certificates ordered issuing-first.
    pub fn new(certs: Vec<X509>) -> Result<CaChain, Error> {
        if certs.is_empty() {
            return Err(Error::Chain("the CA chain is empty".into()));
        }
        let pems = certs
            .iter()
            .map(|c| {
                let pem = c.to_pem()?;
                Ok(String::from_utf8_lossy(&pem).trim_end().to_owned())
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let pems_json = pems
            .iter()
            .map(serde_json::value::to_raw_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Chain(format!("encoding the chain as JSON: {e}")))?;
        let ders = certs
            .iter()
            .map(|c| c.to_der())
            .collect::<Result<Vec<_>, _>>()?;
        let issuing = X509Certificate::from_der(&ders[0])
            .map_err(|e| Error::Chain(format!("the issuing certificate: {e}")))?
            .1;
        let issuer_key_hash = sigil_ctlog::rfc6962::sha256(issuing.tbs_certificate.subject_pki.raw);
        Ok(CaChain {
            certs,
            ders,
            pems,
            pems_json,
            issuer_key_hash,
        })
    }

    /// Reads a PEM chain file.
    pub fn from_pem_file(path: &Path) -> Result<CaChain, Error> {
        let pem =
            std::fs::read(path).map_err(|e| Error::Chain(format!("{}: {e}", path.display())))?;
        let certs = X509::stack_from_pem(&pem).map_err(|_| {
            Error::Chain(format!("{}: not a PEM certificate chain", path.display()))
        })?;
        CaChain::new(certs)
    }

    /// The certificate whose key signs leaves.
    pub fn issuing(&self) -> &X509 {
        &self.certs[0]
    }

    /// The trust anchor.
    pub fn root(&self) -> &X509 {
        self.certs.last().expect("a chain is never empty")
    }

    /// All certificates, issuing first.
    pub fn certs(&self) -> &[X509] {
        &self.certs
    }

    /// All certificates as DER, issuing first (encoded once: issuance logs them every time).
    pub fn ders(&self) -> &[Vec<u8>] {
        &self.ders
    }

    /// SHA-256 of the issuing certificate's SubjectPublicKeyInfo: the `issuer_key_hash` of
    /// every precertificate log entry (RFC 6962 §3.2).
    pub fn issuer_key_hash(&self) -> &[u8; 32] {
        &self.issuer_key_hash
    }

    /// All certificates as PEM with trailing whitespace trimmed (Fulcio's form), issuing first.
    pub fn pems(&self) -> &[String] {
        &self.pems
    }

    /// A PEM document of `leaf` (when given) and then the chain, one LF between certificates
    /// and after the last, as Fulcio's v1 API serves it.
    pub fn pem_document(&self, leaf: Option<&str>) -> String {
        let mut document = String::new();
        for pem in leaf.into_iter().chain(self.pems.iter().map(String::as_str)) {
            document.push_str(pem);
            document.push('\n');
        }
        document
    }

    /// [`Self::pems`] as JSON string literals, escaped once.
    pub fn pems_json(&self) -> &[Box<RawValue>] {
        &self.pems_json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_identifiers_are_sha1_of_the_key_bits() {
        // FIPS 180-2, appendix A.1.
        assert_eq!(
            crate::ca::hex(&key_identifier(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn signature_algorithms_are_what_rcgen_writes_for_the_key() {
        for kind in [
            CaKeyType::EcdsaP256,
            CaKeyType::EcdsaP384,
            CaKeyType::Rsa3072,
        ] {
            let key = CaKey::generate(kind).unwrap();
            let certificate = rcgen::CertificateParams::default()
                .self_signed(&key)
                .unwrap();
            let (_, parsed) = x509_parser::parse_x509_certificate(certificate.der()).unwrap();
            assert_eq!(
                key.signature_algorithm().unwrap(),
                crate::ca::tbs::signature_algorithm(parsed.tbs_certificate.as_ref()).unwrap(),
                "{kind:?}"
            );
        }
    }
}
