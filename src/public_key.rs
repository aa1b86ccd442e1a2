//! Public keys and signature checks, on aws-lc-rs, for the verifier and for the Rekor log's
//! admission of entries. Both are mostly signature checks, and aws-lc's P-384 (the Sigstore CA
//! curve) is several times faster than OpenSSL 3.0's generic one; parsing a key here also
//! skips OpenSSL 3's decoder lookups, whose global locks serialized concurrent requests.

use aws_lc_rs::digest::{Digest, SHA256};
use aws_lc_rs::signature::{self, ParsedPublicKey, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

/// The key types whose signatures sigil checks, each with its usual hash: Fulcio's default
/// client key allowlist (`ca::pop` adds its size rules), and what logs and DSSE envelopes sign
/// with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA P-256, SHA-256.
    EcdsaP256,
    /// ECDSA P-384, SHA-384.
    EcdsaP384,
    /// ECDSA P-521, SHA-512.
    EcdsaP521,
    /// RSA, PKCS#1 v1.5 with SHA-256.
    Rsa,
    /// Ed25519 over the raw message.
    Ed25519,
}

impl KeyKind {
    /// The algorithm of the key's usual signatures (see [`PublicKey::verify`]).
    pub fn algorithm(self) -> &'static dyn VerificationAlgorithm {
        match self {
            KeyKind::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
            KeyKind::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1,
            KeyKind::EcdsaP521 => &signature::ECDSA_P521_SHA512_ASN1,
            KeyKind::Rsa => &signature::RSA_PKCS1_2048_8192_SHA256,
            KeyKind::Ed25519 => &signature::ED25519,
        }
    }
}

/// A public key from a DER SubjectPublicKeyInfo, parsed once for its usual signatures: a
/// trusted log's key checks a SET, a checkpoint and an SCT in every bundle verified.
#[derive(Debug, Clone)]
pub struct PublicKey {
    kind: KeyKind,
    /// The subjectPublicKey bits (an EC point, an Ed25519 key, or a PKCS#1 RSA key), parsed
    /// for [`KeyKind::algorithm`].
    key: ParsedPublicKey,
}

impl PublicKey {
    /// `None` for a malformed SPKI or key, or an unsupported key type.
    pub fn from_spki(der: &[u8]) -> Option<PublicKey> {
        let (_, spki) = SubjectPublicKeyInfo::from_der(der).ok()?;
        let algorithm = &spki.algorithm.algorithm;
        let kind = if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
            match spki.algorithm.parameters.as_ref()?.as_oid().ok()? {
                curve if curve == OID_EC_P256 => KeyKind::EcdsaP256,
                curve if curve == OID_NIST_EC_P384 => KeyKind::EcdsaP384,
                curve if curve == OID_NIST_EC_P521 => KeyKind::EcdsaP521,
                _ => return None,
            }
        } else if *algorithm == OID_SIG_ED25519 {
            KeyKind::Ed25519
        } else if *algorithm == OID_PKCS1_RSAENCRYPTION {
            KeyKind::Rsa
        } else {
            return None;
        };
        let key = ParsedPublicKey::new(kind.algorithm(), &spki.subject_public_key.data).ok()?;
        Some(PublicKey { kind, key })
    }

    /// A signature over `message` with the key's usual hash: SHA-256 for P-256 and RSA
    /// (PKCS#1 v1.5), SHA-384 for P-384, SHA-512 for P-521, none for Ed25519. This is how logs
    /// sign SETs, checkpoints and SCTs, and how DSSE envelopes are signed.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        self.key.verify_sig(message, sig).is_ok()
    }

    /// A signature over a SHA-256 digest, as a `hashedrekord` signs an artifact whatever the
    /// key's curve.
    pub fn verify_prehashed(&self, digest: &[u8; 32], sig: &[u8]) -> bool {
        let Ok(digest) = Digest::import_less_safe(digest, &SHA256) else {
            return false;
        };
        // P-256 and RSA keys sign SHA-256 as usual; a larger curve's key is parsed again for it.
        let other: &'static dyn VerificationAlgorithm = match self.kind {
            KeyKind::EcdsaP256 | KeyKind::Rsa => {
                return self.key.verify_digest_sig(&digest, sig).is_ok();
            }
            KeyKind::EcdsaP384 => &signature::ECDSA_P384_SHA256_ASN1,
            KeyKind::EcdsaP521 => &signature::ECDSA_P521_SHA256_ASN1,
            KeyKind::Ed25519 => return false,
        };
        UnparsedPublicKey::new(other, self.key.as_ref())
            .verify_digest(&digest, sig)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;

    /// Signatures made by OpenSSL (the signing side) verify here, and only the right ones.
    #[test]
    fn openssl_signatures_verify_with_the_matching_hash_only() {
        for (nid, digest) in [
            (Nid::X9_62_PRIME256V1, MessageDigest::sha256()),
            (Nid::SECP384R1, MessageDigest::sha384()),
            (Nid::SECP521R1, MessageDigest::sha512()),
        ] {
            let key = PKey::from_ec_key(
                EcKey::generate(&EcGroup::from_curve_name(nid).unwrap()).unwrap(),
            )
            .unwrap();
            let public = PublicKey::from_spki(&key.public_key_to_der().unwrap()).unwrap();
            let mut signer = openssl::sign::Signer::new(digest, &key).unwrap();
            let sig = signer.sign_oneshot_to_vec(b"message").unwrap();
            assert!(public.verify(b"message", &sig));
            assert!(!public.verify(b"massage", &sig));

            let prehash = openssl::sha::sha256(b"artifact");
            let ecdsa = openssl::ecdsa::EcdsaSig::sign(&prehash, &key.ec_key().unwrap())
                .unwrap()
                .to_der()
                .unwrap();
            assert!(public.verify_prehashed(&prehash, &ecdsa));
            assert!(!public.verify_prehashed(&openssl::sha::sha256(b"other"), &ecdsa));
        }
        let ed = PKey::generate_ed25519().unwrap();
        let public = PublicKey::from_spki(&ed.public_key_to_der().unwrap()).unwrap();
        let sig = openssl::sign::Signer::new_without_digest(&ed)
            .unwrap()
            .sign_oneshot_to_vec(b"note")
            .unwrap();
        assert!(public.verify(b"note", &sig));
        assert!(!public.verify(b"nope", &sig));
        assert!(PublicKey::from_spki(b"not a key").is_none());
    }

    /// A key is parsed when it is read, so a point off its curve is refused there rather than
    /// failing every signature later.
    #[test]
    fn a_point_off_the_curve_is_not_a_key() {
        let key =
            EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap();
        let mut spki = PKey::from_ec_key(key).unwrap().public_key_to_der().unwrap();
        assert!(PublicKey::from_spki(&spki).is_some());
        // The last byte of the uncompressed point is the low byte of y.
        *spki.last_mut().unwrap() ^= 1;
        assert!(PublicKey::from_spki(&spki).is_none());
    }
}
