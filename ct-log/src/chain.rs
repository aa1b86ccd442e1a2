//! The chain check of a CT submission (RFC 6962 §3.1): every certificate is signed by the next
//! one, and the last is an accepted root or is signed by one. Validity periods, key usages and
//! name constraints are not checked: a log records what was issued, including what a relying
//! party would reject.
//!
//! Certificates are parsed by x509-parser and signatures checked by aws-lc-rs. OpenSSL 3.0 did
//! this before; its certificate and key decoders take global read locks, and with both cores
//! busy that lock traffic was a sixth of the server's CPU time under `add-chain` load.

use std::sync::RwLock;

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA,
    OID_PKCS1_SHA512WITHRSA, OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384,
    OID_SIG_ECDSA_WITH_SHA512, OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;

use crate::ct::CtError;

/// Largest chain accepted.
const MAX_CHAIN: usize = 10;

/// Most CA certificates remembered as signed by an accepted root.
const MAX_REMEMBERED: usize = 64;

/// The accepted roots (DER), and the CA certificates each was found to have signed.
///
/// A CA's intermediates are few and arrive with nearly every submission, so each one's signature
/// by its root is checked once and remembered; a leaf's signature is checked every time. Only a
/// root's valid signature over a CA certificate puts one here, so submissions cannot fill it.
#[derive(Debug)]
pub struct Roots {
    ders: Vec<Vec<u8>>,
    /// (index of the root in `ders`, DER of a CA certificate it signed).
    signed: RwLock<Vec<(usize, Vec<u8>)>>,
}

impl Roots {
    /// Accepts chains to `ders`.
    pub fn new(ders: Vec<Vec<u8>>) -> Roots {
        Roots {
            ders,
            signed: RwLock::default(),
        }
    }

    /// The accepted roots, DER.
    pub fn ders(&self) -> &[Vec<u8>] {
        &self.ders
    }

    fn remembered(&self, root: usize, cert: &[u8]) -> bool {
        let signed = self
            .signed
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        signed.iter().any(|(r, der)| *r == root && der == cert)
    }

    /// `signed_by`, answered from memory for a CA certificate this root signed before.
    fn signed_by_root(
        &self,
        root: usize,
        (cert_der, cert): (&[u8], &X509Certificate<'_>),
        issuer: &X509Certificate<'_>,
    ) -> bool {
        if self.remembered(root, cert_der) {
            return true;
        }
        if !signed_by(cert, issuer) {
            return false;
        }
        if cert.is_ca() {
            let mut signed = self.signed.write().unwrap_or_else(|p| p.into_inner());
            if signed.len() < MAX_REMEMBERED
                && !signed.iter().any(|(r, d)| *r == root && d == cert_der)
            {
                signed.push((root, cert_der.to_vec()));
            }
        }
        true
    }
}

/// Parses a submitted `chain` (DER, leaf first), checks every link's signature, and returns
/// the chain with the accepted root appended if the chain stops below it.
pub fn validate_chain(chain: &[Vec<u8>], roots: &Roots) -> Result<Vec<Vec<u8>>, CtError> {
    if chain.is_empty() || chain.len() > MAX_CHAIN {
        return Err(CtError::InvalidChain(format!(
            "a chain has 1 to {MAX_CHAIN} certificates"
        )));
    }
    let certs = chain
        .iter()
        .enumerate()
        .map(|(i, der)| match X509Certificate::from_der(der) {
            Ok(([], cert)) => Ok(cert),
            _ => Err(CtError::InvalidChain(format!(
                "certificate {i} is not DER X.509"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (i, pair) in certs.windows(2).enumerate() {
        let signed = match roots.ders.iter().position(|r| *r == chain[i + 1]) {
            Some(root) => roots.signed_by_root(root, (&chain[i], &pair[0]), &pair[1]),
            None => signed_by(&pair[0], &pair[1]),
        };
        if !signed {
            return Err(CtError::InvalidChain(format!(
                "certificate {i} is not signed by certificate {}",
                i + 1
            )));
        }
    }
    let mut validated = chain.to_vec();
    let (Some(last), Some(last_der)) = (certs.last(), chain.last()) else {
        return Err(CtError::InvalidChain("the chain is empty".into()));
    };
    if !roots.ders.contains(last_der) {
        let root = (0..roots.ders.len())
            .find(|&r| roots.remembered(r, last_der))
            .or_else(|| {
                (0..roots.ders.len()).find(|&r| {
                    X509Certificate::from_der(&roots.ders[r])
                        .is_ok_and(|(_, root)| roots.signed_by_root(r, (last_der, last), &root))
                })
            })
            .ok_or(CtError::UnknownRoot)?;
        validated.push(roots.ders[root].clone());
    }
    Ok(validated)
}

/// Whether `issuer` issued `cert`: the names chain and `cert`'s signature verifies with
/// `issuer`'s key.
fn signed_by(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    cert.issuer().as_raw() == issuer.subject().as_raw()
        && algorithm(cert, issuer).is_some_and(|algorithm| {
            UnparsedPublicKey::new(algorithm, &issuer.public_key().subject_public_key.data)
                .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
                .is_ok()
        })
}

/// The aws-lc-rs algorithm for `cert`'s signature under `issuer`'s key: ECDSA on P-256, P-384
/// or P-521 with SHA-256/384/512, RSA PKCS#1 v1.5 with SHA-256/384/512, or Ed25519. SHA-1 and
/// RSA-PSS are not accepted.
fn algorithm(
    cert: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
) -> Option<&'static dyn VerificationAlgorithm> {
    let signature_oid = &cert.signature_algorithm.algorithm;
    let key = &issuer.public_key().algorithm;
    if key.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = key.parameters.as_ref()?.as_oid().ok()?;
        let hash = [
            &OID_SIG_ECDSA_WITH_SHA256,
            &OID_SIG_ECDSA_WITH_SHA384,
            &OID_SIG_ECDSA_WITH_SHA512,
        ]
        .iter()
        .position(|oid| *oid == signature_oid)?;
        let by_hash: [&'static dyn VerificationAlgorithm; 3] = if curve == OID_EC_P256 {
            [
                &signature::ECDSA_P256_SHA256_ASN1,
                &signature::ECDSA_P256_SHA384_ASN1,
                &signature::ECDSA_P256_SHA512_ASN1,
            ]
        } else if curve == OID_NIST_EC_P384 {
            [
                &signature::ECDSA_P384_SHA256_ASN1,
                &signature::ECDSA_P384_SHA384_ASN1,
                &signature::ECDSA_P384_SHA512_ASN1,
            ]
        } else if curve == OID_NIST_EC_P521 {
            [
                &signature::ECDSA_P521_SHA256_ASN1,
                &signature::ECDSA_P521_SHA384_ASN1,
                &signature::ECDSA_P521_SHA512_ASN1,
            ]
        } else {
            return None;
        };
        Some(by_hash[hash])
    } else if key.algorithm == OID_PKCS1_RSAENCRYPTION {
        let algorithm: &'static dyn VerificationAlgorithm =
            if *signature_oid == OID_PKCS1_SHA256WITHRSA {
                &signature::RSA_PKCS1_2048_8192_SHA256
            } else if *signature_oid == OID_PKCS1_SHA384WITHRSA {
                &signature::RSA_PKCS1_2048_8192_SHA384
            } else if *signature_oid == OID_PKCS1_SHA512WITHRSA {
                &signature::RSA_PKCS1_2048_8192_SHA512
            } else {
                return None;
            };
        Some(algorithm)
    } else if key.algorithm == OID_SIG_ED25519 && *signature_oid == OID_SIG_ED25519 {
        Some(&signature::ED25519)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    // Test code: a failed unwrap is a failed assertion.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use openssl::hash::MessageDigest;
    use openssl::pkey::{PKey, Private};
    use openssl::x509::{X509, X509NameBuilder};

    use super::*;

    fn ec(nid: openssl::nid::Nid) -> PKey<Private> {
        let group = openssl::ec::EcGroup::from_curve_name(nid).unwrap();
        PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap()
    }

    /// A certificate for `key` named `subject`, issued by `issuer` (name and key), DER.
    fn cert(
        subject: &str,
        key: &PKey<Private>,
        issuer: (&str, &PKey<Private>),
        digest: Option<MessageDigest>,
    ) -> Vec<u8> {
        issued(subject, key, issuer, digest, false)
    }

    /// `cert`, with BasicConstraints CA:TRUE when `ca`.
    fn issued(
        subject: &str,
        key: &PKey<Private>,
        issuer: (&str, &PKey<Private>),
        digest: Option<MessageDigest>,
        ca: bool,
    ) -> Vec<u8> {
        let name = |cn: &str| {
            let mut n = X509NameBuilder::new().unwrap();
            n.append_entry_by_text("CN", cn).unwrap();
            n.build()
        };
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name(subject)).unwrap();
        b.set_issuer_name(&name(issuer.0)).unwrap();
        b.set_pubkey(key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        if ca {
            let constraints = openssl::x509::extension::BasicConstraints::new()
                .critical()
                .ca()
                .build()
                .unwrap();
            b.append_extension(constraints).unwrap();
        }
        b.sign(issuer.1, digest.unwrap_or_else(MessageDigest::null))
            .unwrap();
        b.build().to_der().unwrap()
    }

    #[test]
    fn every_supported_issuer_key_verifies_and_the_root_is_appended() {
        let rsa = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let issuers: [(PKey<Private>, Option<MessageDigest>); 5] = [
            (
                ec(openssl::nid::Nid::X9_62_PRIME256V1),
                Some(MessageDigest::sha256()),
            ),
            (
                ec(openssl::nid::Nid::SECP384R1),
                Some(MessageDigest::sha384()),
            ),
            (
                ec(openssl::nid::Nid::SECP521R1),
                Some(MessageDigest::sha512()),
            ),
            (rsa, Some(MessageDigest::sha256())),
            (PKey::generate_ed25519().unwrap(), None),
        ];
        let leaf_key = ec(openssl::nid::Nid::X9_62_PRIME256V1);
        for (key, digest) in &issuers {
            let root = cert("root", key, ("root", key), *digest);
            let leaf = cert("leaf", &leaf_key, ("root", key), *digest);
            let roots = Roots::new(vec![root.clone()]);
            assert_eq!(
                validate_chain(std::slice::from_ref(&leaf), &roots).unwrap(),
                vec![leaf.clone(), root.clone()],
                "the root is appended"
            );
            assert_eq!(
                validate_chain(&[leaf.clone(), root.clone()], &roots).unwrap(),
                vec![leaf, root],
                "a chain ending at the root is kept as sent"
            );
        }
    }

    #[test]
    fn a_matching_name_with_another_key_or_a_weak_hash_is_refused() {
        let key = ec(openssl::nid::Nid::X9_62_PRIME256V1);
        let impostor = ec(openssl::nid::Nid::X9_62_PRIME256V1);
        let root = cert("root", &key, ("root", &key), Some(MessageDigest::sha256()));
        let roots = Roots::new(vec![root.clone()]);
        let forged = cert(
            "leaf",
            &impostor,
            ("root", &impostor),
            Some(MessageDigest::sha256()),
        );
        assert!(matches!(
            validate_chain(&[forged.clone(), root.clone()], &roots),
            Err(CtError::InvalidChain(m)) if m.contains("not signed by")
        ));
        assert!(matches!(
            validate_chain(&[forged], &roots),
            Err(CtError::UnknownRoot)
        ));
        let sha1 = cert(
            "leaf",
            &impostor,
            ("root", &key),
            Some(MessageDigest::sha1()),
        );
        assert!(validate_chain(&[sha1, root], &roots).is_err());
        let mut trailing = cert(
            "leaf",
            &impostor,
            ("root", &key),
            Some(MessageDigest::sha256()),
        );
        trailing.push(0);
        assert!(matches!(
            validate_chain(&[trailing], &roots),
            Err(CtError::InvalidChain(m)) if m.contains("not DER")
        ));
    }

    #[test]
    fn a_root_signed_intermediate_is_remembered_and_a_leaf_is_not() {
        let sha256 = Some(MessageDigest::sha256());
        let (root_key, ca_key) = (
            ec(openssl::nid::Nid::X9_62_PRIME256V1),
            ec(openssl::nid::Nid::X9_62_PRIME256V1),
        );
        let root = issued("root", &root_key, ("root", &root_key), sha256, true);
        let intermediate = issued("ca", &ca_key, ("root", &root_key), sha256, true);
        let leaf = cert(
            "leaf",
            &ec(openssl::nid::Nid::X9_62_PRIME256V1),
            ("ca", &ca_key),
            sha256,
        );
        let roots = Roots::new(vec![root.clone()]);
        assert!(!roots.remembered(0, &intermediate));
        validate_chain(&[leaf.clone(), intermediate.clone()], &roots).expect("below the root");
        assert!(
            roots.remembered(0, &intermediate),
            "the root's signature is remembered"
        );
        validate_chain(&[leaf.clone(), intermediate.clone(), root.clone()], &roots)
            .expect("to the root");
        // A certificate the root signed that is not a CA is checked every time.
        let direct = cert("direct", &ca_key, ("root", &root_key), sha256);
        validate_chain(&[direct.clone(), root.clone()], &roots).expect("signed by the root");
        assert!(!roots.remembered(0, &direct));
        // An intermediate with the same names under another key never enters, however often.
        let impostor = ec(openssl::nid::Nid::X9_62_PRIME256V1);
        let forged = issued("ca", &ca_key, ("root", &impostor), sha256, true);
        for _ in 0..2 {
            assert!(validate_chain(&[forged.clone(), root.clone()], &roots).is_err());
            assert!(matches!(
                validate_chain(std::slice::from_ref(&forged), &roots),
                Err(CtError::UnknownRoot)
            ));
            assert!(!roots.remembered(0, &forged));
        }
    }
}
