//! The leaf certificate profile (DESIGN.md, reference/fulcio.md §2).
//!
//! X.509 v3, empty subject, exactly one SAN (critical because the subject is empty), KeyUsage
//! digitalSignature (critical), EKU codeSigning (non-critical: sigstore-python's WebPKI policy
//! rejects a critical one), AKI = the issuer's SKI, SKI of the client key, and the Fulcio
//! extensions of the principal, all non-critical.

use std::time::Duration;

use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, ExtendedKeyUsagePurpose, IsCa,
    KeyUsagePurpose, OtherNameValue, PublicKeyData, SanType,
};
use time::OffsetDateTime;

use super::Error;
use super::extensions::OTHERNAME_SAN_OID;
use super::generate::random_serial;
use super::signer::key_identifier;
use crate::oidc::{Principal, SubjectAltName};

/// OID of SubjectKeyIdentifier.
const SUBJECT_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 14];

/// The parameters of a leaf for `principal` and the client key, valid from `now`.
pub fn leaf_params(
    principal: &Principal,
    client_key: &impl PublicKeyData,
    now: OffsetDateTime,
    validity: Duration,
) -> Result<CertificateParams, Error> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.not_before = now;
    params.not_after = now + validity;
    params.serial_number = Some(random_serial()?);
    params.is_ca = IsCa::NoCa;
    params.subject_alt_names = vec![san(&principal.san)?];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    params.use_authority_key_identifier_extension = true;

    let ski = key_identifier(client_key.der_bytes());
    let mut extensions = vec![CustomExtension::from_oid_content(
        SUBJECT_KEY_IDENTIFIER,
        yasna::construct_der(|w| w.write_bytes(&ski)),
    )];
    for (ext, value) in &principal.extensions {
        extensions.push(CustomExtension::from_oid_content(
            &ext.oid(),
            ext.encode(value),
        ));
    }
    params.custom_extensions = extensions;
    Ok(params)
}

fn san(san: &SubjectAltName) -> Result<SanType, Error> {
    let ia5 = |s: &str| {
        rcgen::string::Ia5String::try_from(s)
            .map_err(|_| Error::Profile(format!("`{s}` is not an IA5 string")))
    };
    Ok(match san {
        SubjectAltName::Email(email) => SanType::Rfc822Name(ia5(email)?),
        SubjectAltName::Uri(uri) => SanType::URI(ia5(uri)?),
        SubjectAltName::Username(name) => SanType::OtherName((
            OTHERNAME_SAN_OID.to_vec(),
            OtherNameValue::Utf8String(name.clone()),
        )),
    })
}
