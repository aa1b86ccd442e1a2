//! Generation of a root and an intermediate CA, for the ephemeral backend and for
//! `sigil keys generate`.
//!
//! The profile follows Fulcio's certificate specification: both certificates have a critical
//! BasicConstraints CA:TRUE, a critical KeyUsage keyCertSign + cRLSign, a random positive
//! 160-bit serial and an SKI; the intermediate adds EKU codeSigning (clients chain EKUs) and
//! pathlen 0, and its AKI is the root's SKI.

use std::time::Duration;

use openssl::x509::X509;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyUsagePurpose,
};
use time::OffsetDateTime;

use super::Error;
use super::signer::CaKey;
use crate::config::CaKeyType;

/// A freshly generated two-level CA.
pub struct GeneratedCa {
    /// The root's key; `keys generate` writes it so an operator can store it offline.
    pub root_key: CaKey,
    /// The self-signed root.
    pub root: X509,
    /// The key that signs leaves.
    pub intermediate_key: CaKey,
    /// The issuing certificate.
    pub intermediate: X509,
}

const ROOT_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
const INTERMEDIATE_LIFETIME: Duration = Duration::from_secs(5 * 365 * 24 * 3600);
/// Back-dating of CA certificates, so that clients with a slightly slow clock accept them.
const BACKDATE: Duration = Duration::from_secs(3600);

/// A random positive serial of at most 20 bytes (RFC 5280 §4.1.2.2). From aws-lc's generator:
/// OpenSSL 3.0's `RAND_bytes` takes provider locks and looks up parameters on every call, which
/// cost 11 µs per leaf under issuance load.
pub fn random_serial() -> Result<[u8; 20], Error> {
    let mut serial = [0u8; 20];
    aws_lc_rs::rand::fill(&mut serial).map_err(|_| Error::Random)?;
    // Clear the top bit so the DER INTEGER stays positive in 20 bytes; set the next one so
    // the serial is never shorter than 20 bytes.
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(serial)
}

fn ca_params(
    key: &CaKey,
    common_name: &str,
    organization: &str,
    lifetime: Duration,
) -> Result<CertificateParams, Error> {
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, organization);
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.not_before = now - BACKDATE;
    params.not_after = now + lifetime;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&random_serial()?));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.key_identifier_method = KeyIdMethod::PreSpecified(key.key_identifier());
    Ok(params)
}

fn to_x509(der: &[u8]) -> Result<X509, Error> {
    Ok(X509::from_der(der)?)
}

/// Generates a root and an intermediate of `kind`, named after `organization`.
pub fn generate_ca(kind: CaKeyType, organization: &str) -> Result<GeneratedCa, Error> {
    let root_key = CaKey::generate(kind)?;
    let mut root_params = ca_params(
        &root_key,
        &format!("{organization}-root"),
        organization,
        ROOT_LIFETIME,
    )?;
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root = root_params.self_signed(&root_key)?;

    let intermediate_key = CaKey::generate(kind)?;
    let mut params = ca_params(
        &intermediate_key,
        &format!("{organization}-intermediate"),
        organization,
        INTERMEDIATE_LIFETIME,
    )?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    params.use_authority_key_identifier_extension = true;
    let issuer = Issuer::new(root_params, &root_key);
    let intermediate = params.signed_by(&intermediate_key, &issuer)?;

    Ok(GeneratedCa {
        root: to_x509(root.der())?,
        intermediate: to_x509(intermediate.der())?,
        root_key,
        intermediate_key,
    })
}
