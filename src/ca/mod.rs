//! The certificate authority: keys, chain, and issuance of short-lived leaves.
//!
//! Issuance is three steps so that the CT log fits between them: `prepare` fixes the leaf
//! (the profile) and renders its TBSCertificate once, `sign_precertificate` signs it with the
//! poison, and `sign_final` signs it with the SCT list. Both extensions are appended last
//! (`tbs`), so the final certificate's TBS without the SCT list is byte for byte the
//! precertificate's without the poison: what the SCT signed.

pub mod extensions;
pub mod generate;
pub mod pkcs11;
pub mod pop;
pub mod profile;
pub mod signer;
mod tbs;

use std::time::Duration;

use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509, X509StoreContext};
use rcgen::SigningKey;
use sigil_ctlog::ct::POISON_OID;
use sigil_ctlog::rfc6962::SCT_LIST_OID;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::config::{CaBackend, CaConfig};
use crate::oidc::Principal;
use pop::ClientKey;
use profile::LeafProfile;
use signer::{CaChain, CaKey};

/// CA failures. At start-up they stop the server; during a request they are bugs (500).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key could not be loaded or is of a refused type.
    #[error("CA key: {0}")]
    Key(String),
    /// The chain could not be loaded or does not fit the key.
    #[error("CA chain: {0}")]
    Chain(String),
    /// A value could not be placed in the certificate.
    #[error("certificate profile: {0}")]
    Profile(String),
    /// The system's random generator failed (serial numbers).
    #[error("the random generator failed")]
    Random,
    /// The start-up self-test failed.
    #[error("CA self-test: {0}")]
    SelfTest(String),
    /// rcgen could not build or sign a certificate.
    #[error("building the certificate: {0}")]
    Build(#[from] rcgen::Error),
    /// A certificate could not be assembled from its rendered parts.
    #[error("encoding the certificate: {0}")]
    Der(#[from] der::Error),
    /// OpenSSL failed.
    #[error("OpenSSL: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

/// A signed leaf and the chain that goes with it.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// DER of the leaf.
    pub der: Vec<u8>,
    /// The leaf as trimmed PEM; the CA chain that follows it is [`CaChain::pems`].
    pub leaf_pem: String,
    /// Serial number in hex, for audit lines.
    pub serial_hex: String,
}

/// A leaf whose every field is fixed, ready to be signed as precertificate and final: its
/// TBSCertificate without the poison or the SCT list.
pub struct LeafTemplate {
    tbs: Vec<u8>,
    serial_hex: String,
}

impl LeafTemplate {
    /// The TBSCertificate without the poison or the SCT list: what the precertificate's CT log
    /// entry carries (RFC 6962 §3.2), with no need to parse the precertificate back.
    pub fn tbs(&self) -> &[u8] {
        &self.tbs
    }
}

/// The CA: one signing key, its chain, and the leaf lifetime.
pub struct CertificateAuthority {
    key: CaKey,
    // What every leaf's TBSCertificate shares; each is rendered once and `key` signs it twice.
    profile: LeafProfile,
    // The poison extension.
    poison: Vec<u8>,
    chain: CaChain,
    validity: Duration,
    signs_in_microseconds: bool,
}

impl CertificateAuthority {
    /// Builds the CA from configuration, reading the passphrase variable if one is named.
    pub fn from_config(config: &CaConfig) -> Result<CertificateAuthority, Error> {
        match config.backend {
            CaBackend::Ephemeral => {
                let generated = generate::generate_ca(config.key_type, "sigil")?;
                let chain = CaChain::new(vec![generated.intermediate, generated.root])?;
                CertificateAuthority::new(generated.intermediate_key, chain, config.cert_validity)
            }
            CaBackend::File => {
                let (Some(chain_path), Some(key_path)) = (&config.chain, &config.key) else {
                    return Err(Error::Key("ca.chain and ca.key are required".into()));
                };
                let passphrase = secret("ca.key_passphrase_env", &config.key_passphrase_env)?;
                let key = CaKey::from_pem_file(key_path, passphrase.as_deref().map(str::as_bytes))?;
                let chain = CaChain::from_pem_file(chain_path)?;
                CertificateAuthority::new(key, chain, config.cert_validity)
            }
            CaBackend::Pkcs11 => {
                let (Some(chain_path), Some(module), Some(token_label), Some(key_label)) = (
                    &config.chain,
                    &config.pkcs11_module,
                    &config.pkcs11_token,
                    &config.pkcs11_key,
                ) else {
                    return Err(Error::Key(
                        "ca.chain, ca.pkcs11_module, ca.pkcs11_token and ca.pkcs11_key are \
                         required"
                            .into(),
                    ));
                };
                let pin = secret("ca.pkcs11_pin_env", &config.pkcs11_pin_env)?
                    .ok_or_else(|| Error::Key("ca.pkcs11_pin_env is required".into()))?;
                let chain = CaChain::from_pem_file(chain_path)?;
                let token = pkcs11::Pkcs11Key::open(&pkcs11::Pkcs11Settings {
                    module: module.clone(),
                    token_label: token_label.clone(),
                    key_label: key_label.clone(),
                    pin,
                })?;
                let key = CaKey::from_pkcs11(token, chain.issuing())?;
                CertificateAuthority::new(key, chain, config.cert_validity)
            }
        }
    }

    /// Checks that `key` and `chain` form a usable CA (Fulcio's `VerifyCertChain` rules), then
    /// issues and verifies one test certificate.
    pub fn new(
        key: CaKey,
        chain: CaChain,
        validity: Duration,
    ) -> Result<CertificateAuthority, Error> {
        let issuer_key_id = check_chain(&key, &chain)?;
        let profile = LeafProfile::new(
            key.signature_algorithm()?,
            chain.issuing().subject_name().to_der()?,
            &issuer_key_id,
        )?;
        let ca = CertificateAuthority {
            signs_in_microseconds: key.signs_in_microseconds(),
            key,
            profile,
            poison: tbs::extension(POISON_OID, true, &[0x05, 0x00])?,
            chain,
            validity,
        };
        ca.self_test()?;
        Ok(ca)
    }

    /// Whether a signature takes tens of microseconds (an in-memory ECDSA key) rather than
    /// milliseconds (RSA, or a round trip to a PKCS#11 token).
    pub fn signs_in_microseconds(&self) -> bool {
        self.signs_in_microseconds
    }

    /// The CA chain, issuing certificate first.
    pub fn chain(&self) -> &CaChain {
        &self.chain
    }

    /// Fixes everything about a leaf for `principal` over `key`: serial, validity, SAN,
    /// extensions. The precertificate and the final certificate are both signed from it, so
    /// their TBS differ only in the one extension each appends.
    pub fn prepare(&self, principal: &Principal, key: &ClientKey) -> Result<LeafTemplate, Error> {
        let serial = generate::random_serial()?;
        let now = OffsetDateTime::now_utc();
        let tbs = self.profile.tbs(
            &serial,
            now,
            now + self.validity,
            key.spki_der(),
            key.key_bits(),
            principal,
        )?;
        Ok(LeafTemplate {
            tbs,
            serial_hex: hex(&serial),
        })
    }

    /// Signs the precertificate (DER): the template plus the critical CT poison (RFC 6962
    /// §3.1).
    pub fn sign_precertificate(&self, leaf: &LeafTemplate) -> Result<Vec<u8>, Error> {
        self.sign(&tbs::with_extension(&leaf.tbs, &self.poison)?)
    }

    /// Signs the final certificate: the template plus, when given, the embedded SCT list
    /// extension (`extnValue` contents).
    pub fn sign_final(
        &self,
        leaf: &LeafTemplate,
        sct_list: Option<Vec<u8>>,
    ) -> Result<IssuedCertificate, Error> {
        let der = match sct_list {
            Some(list) => {
                let extension = tbs::extension(SCT_LIST_OID, false, &list)?;
                self.sign(&tbs::with_extension(&leaf.tbs, &extension)?)?
            }
            None => self.sign(&leaf.tbs)?,
        };
        let mut leaf_pem = crate::pki::certificate_pem(&der);
        leaf_pem.truncate(leaf_pem.trim_end().len());
        Ok(IssuedCertificate {
            der,
            leaf_pem,
            serial_hex: leaf.serial_hex.clone(),
        })
    }

    /// Signs a TBSCertificate with the CA key and wraps it as a Certificate. CPU-bound: with
    /// a slow key, call it off the async executor (see `signs_in_microseconds`).
    fn sign(&self, tbs: &[u8]) -> Result<Vec<u8>, Error> {
        let signature = self.key.sign(tbs)?;
        Ok(tbs::certificate(
            tbs,
            self.profile.signature_algorithm(),
            &signature,
        )?)
    }

    /// Issues a certificate to a throwaway key and verifies it the way a client would. This
    /// catches a key that does not sign what the chain expects, a profile the chain's
    /// constraints refuse, and an expired CA, before the first real request.
    fn self_test(&self) -> Result<(), Error> {
        let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)?;
        let throwaway = openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group)?)?;
        let key = ClientKey::from_pem_or_der(&throwaway.public_key_to_pem()?)
            .map_err(|e| Error::SelfTest(e.to_string()))?;
        let principal = Principal {
            challenge: "self-test@sigil.invalid".into(),
            san: crate::oidc::SubjectAltName::Email("self-test@sigil.invalid".into()),
            extensions: vec![(
                extensions::FulcioExt::Issuer,
                "https://sigil.invalid".into(),
            )],
            issuer_type: "email".into(),
        };
        let leaf = self.prepare(&principal, &key)?;
        // The CT log takes the CA's rendering of the precertificate's TBSCertificate without
        // the poison on trust; it must be what the log's own parser makes of it.
        let precert = self.sign_precertificate(&leaf)?;
        if sigil_ctlog::ct::tbs_without_poison(&precert)
            .ok()
            .as_deref()
            != Some(leaf.tbs())
        {
            return Err(Error::SelfTest(
                "the precertificate's TBSCertificate without the poison differs from the \
                 template's"
                    .into(),
            ));
        }
        let issued = self.sign_final(&leaf, None)?;
        let leaf = X509::from_der(&issued.der)?;
        let mid_validity = OffsetDateTime::now_utc().unix_timestamp() + 30;
        if let Err(reason) = verify_chain(&leaf, &self.chain, Some(mid_validity))? {
            return Err(Error::SelfTest(format!(
                "a test certificate does not verify against the configured root: {reason}"
            )));
        }
        Ok(())
    }
}

/// Verifies `leaf` up to the chain's root with OpenSSL; `Err(reason)` names what failed.
///
/// `at` is the verification time in Unix seconds, default now. The self-test passes a time
/// inside the leaf's validity: OpenSSL reads the kernel's coarse clock, which can lag the
/// clock that stamped `notBefore` by a few milliseconds across a second boundary.
fn verify_chain(
    leaf: &X509,
    chain: &CaChain,
    at: Option<i64>,
) -> Result<Result<(), String>, Error> {
    let mut store = X509StoreBuilder::new()?;
    if let Some(at) = at {
        let mut param = openssl::x509::verify::X509VerifyParam::new()?;
        param.set_time(at);
        store.set_param(&param)?;
    }
    store.add_cert(chain.root().clone())?;
    let store = store.build();
    let mut untrusted = Stack::new()?;
    for cert in &chain.certs()[..chain.certs().len() - 1] {
        untrusted.push(cert.clone())?;
    }
    let mut ctx = X509StoreContext::new()?;
    Ok(ctx.init(&store, leaf, &untrusted, |c| {
        Ok(if c.verify_cert()? {
            Ok(())
        } else {
            Err(c.error().error_string().to_owned())
        })
    })?)
}

/// A passphrase or PIN from the environment variable a setting names.
fn secret(key: &'static str, var: &Option<String>) -> Result<Option<String>, Error> {
    crate::config::secret_from_env(key, var.as_deref()).map_err(|e| Error::Key(e.to_string()))
}

/// Fulcio's chain rules: the issuing certificate is a CA with an SKI, has EKU codeSigning
/// when it is not the root, matches the key, and chains to the last certificate. Returns the
/// issuing certificate's key identifier, which every leaf names as its authority's.
fn check_chain(key: &CaKey, chain: &CaChain) -> Result<Vec<u8>, Error> {
    if !key.matches(chain.issuing())? {
        return Err(Error::Chain(
            "the first certificate of ca.chain is not the certificate of ca.key".into(),
        ));
    }
    let der = chain.issuing().to_der()?;
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|e| Error::Chain(format!("cannot parse the issuing certificate: {e}")))?;
    let is_ca = cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|bc| bc.value.ca);
    if !is_ca {
        return Err(Error::Chain(
            "the issuing certificate is not a CA (BasicConstraints)".into(),
        ));
    }
    let key_id = cert
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => {
                Some(id.0.to_vec())
            }
            _ => None,
        })
        .ok_or_else(|| {
            Error::Chain(
                "the issuing certificate has no SubjectKeyIdentifier; leaves need it for their \
                 AKI"
                .into(),
            )
        })?;
    if chain.certs().len() > 1 {
        let code_signing = cert
            .extended_key_usage()
            .ok()
            .flatten()
            .is_some_and(|eku| eku.value.code_signing);
        if !code_signing {
            return Err(Error::Chain(
                "an intermediate must have EKU codeSigning, or clients that chain EKUs reject \
                 every leaf"
                    .into(),
            ));
        }
    }
    if !cert.validity().is_valid() {
        return Err(Error::Chain(
            "the issuing certificate is not valid now".into(),
        ));
    }
    if chain.root().issued(chain.root()) != openssl::x509::X509VerifyResult::OK {
        return Err(Error::Chain(
            "the last certificate of ca.chain is not a self-signed root".into(),
        ));
    }
    if chain.certs().len() > 1 {
        if let Err(reason) = verify_chain(chain.issuing(), chain, None)? {
            return Err(Error::Chain(format!(
                "the chain does not verify up to its root: {reason}"
            )));
        }
    }
    Ok(key_id)
}

/// Lower-case hex. Every certificate's serial goes through it: one allocation, not one per
/// byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CaKeyType;

    #[test]
    fn hex_is_lower_case_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff, 0x10]), "000fa5ff10");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn ephemeral_cas_pass_their_self_test_every_time_even_concurrently() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    for kind in [CaKeyType::EcdsaP256, CaKeyType::EcdsaP384] {
                        for _ in 0..100 {
                            let config = CaConfig {
                                key_type: kind,
                                ..Default::default()
                            };
                            if let Err(e) = CertificateAuthority::from_config(&config) {
                                panic!("{kind:?}: {e}");
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
