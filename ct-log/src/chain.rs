//! The chain check of a CT submission (RFC 6962 §3.1): every certificate is signed by the next
//! one, and the last is an accepted root or is signed by one. Validity periods, key usages and
//! name constraints are not checked: a log records what was issued, including what a relying
//! party would reject.
//!
//! Certificates are parsed by x509-parser and signatures checked by aws-lc-rs. OpenSSL 3.0 did
//! this before; its certificate and key decoders take global read locks, and with both cores
//! busy that lock traffic was a sixth of the server's CPU time under `add-chain` load.

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

/// Parses a submitted `chain` (DER, leaf first), checks every link's signature, and returns
/// the chain with the accepted root from `roots` (DER) appended if the chain stops below it.
pub fn validate_chain(chain: &[Vec<u8>], roots: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, CtError> {
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
        if !signed_by(&pair[0], &pair[1]) {
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
    if !roots.contains(last_der) {
        let root = roots
            .iter()
            .find(|root| {
                X509Certificate::from_der(root).is_ok_and(|(_, root)| signed_by(last, &root))
            })
            .ok_or(CtError::UnknownRoot)?;
        validated.push(root.clone());
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
            let roots = vec![root.clone()];
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
        let roots = vec![root.clone()];
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
}
