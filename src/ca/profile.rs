//! The leaf certificate profile (DESIGN.md, reference/fulcio.md §2), written as DER.
//!
//! X.509 v3, empty subject, exactly one SAN (critical because the subject is empty), KeyUsage
//! digitalSignature (critical), EKU codeSigning (non-critical: sigstore-python's WebPKI policy
//! rejects a critical one), AKI = the issuer's SKI, SKI of the client key, and the Fulcio
//! extensions of the principal, all non-critical.
//!
//! Everything that depends only on the CA is encoded once, when the CA starts; a leaf adds its
//! serial, validity, key, SAN and Fulcio extensions. Building each leaf through rcgen's general
//! certificate writer cost 4.6 µs of every issuance (`cargo bench --bench issuance prepare`);
//! the fields and their order are rcgen's, which the tests below check byte for byte.

use der::asn1::{
    BitStringRef, GeneralizedTime, Ia5StringRef, ObjectIdentifier, OctetStringRef, UintRef,
    UtcTime, Utf8StringRef,
};
use der::{Encode, Tag, TagNumber};
use time::OffsetDateTime;

use super::Error;
use super::extensions::OTHERNAME_SAN_OID;
use super::signer::key_identifier;
use super::tbs::{extension, tlv};
use crate::oidc::{Principal, SubjectAltName};

const SUBJECT_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const AUTHORITY_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");

/// `[n] IMPLICIT` or `EXPLICIT` context-specific tags of GeneralName and its parts.
const fn context(number: u8, constructed: bool) -> Tag {
    Tag::ContextSpecific {
        constructed,
        number: TagNumber::new(number),
    }
}

/// The parts of every leaf's TBSCertificate that the CA alone decides, already DER.
pub struct LeafProfile {
    /// `[0] EXPLICIT` version v3.
    version: Vec<u8>,
    /// The TBSCertificate's `signature` AlgorithmIdentifier, which the Certificate repeats
    /// around the signature.
    signature_algorithm: Vec<u8>,
    /// The issuing certificate's subject, byte for byte.
    issuer: Vec<u8>,
    /// The empty subject.
    subject: Vec<u8>,
    /// AuthorityKeyIdentifier, from the issuing certificate's SubjectKeyIdentifier.
    authority_key_identifier: Vec<u8>,
    /// KeyUsage digitalSignature, critical.
    key_usage: Vec<u8>,
    /// ExtendedKeyUsage codeSigning.
    extended_key_usage: Vec<u8>,
}

impl LeafProfile {
    /// The profile of leaves signed with `signature_algorithm` by the holder of a certificate
    /// whose subject is `issuer` (DER Name) and whose key identifier is `issuer_key_id`.
    pub fn new(
        signature_algorithm: Vec<u8>,
        issuer: Vec<u8>,
        issuer_key_id: &[u8],
    ) -> der::Result<LeafProfile> {
        let key_id = OctetStringRef::new(issuer_key_id)?;
        let aki = tlv(
            Tag::Sequence,
            &[&tlv(context(0, false), &[key_id.as_bytes()])?],
        )?;
        // digitalSignature is bit 0: one byte with seven unused bits.
        let digital_signature = BitStringRef::new(7, &[0x80])?.to_der()?;
        let code_signing = tlv(Tag::Sequence, &[&CODE_SIGNING.to_der()?])?;
        Ok(LeafProfile {
            version: tlv(context(0, true), &[&2u8.to_der()?])?,
            signature_algorithm,
            issuer,
            subject: tlv(Tag::Sequence, &[])?,
            authority_key_identifier: extension(AUTHORITY_KEY_IDENTIFIER, false, &aki)?,
            key_usage: extension(KEY_USAGE, true, &digital_signature)?,
            extended_key_usage: extension(EXTENDED_KEY_USAGE, false, &code_signing)?,
        })
    }

    /// The DER AlgorithmIdentifier of the leaves' signatures.
    pub fn signature_algorithm(&self) -> &[u8] {
        &self.signature_algorithm
    }

    /// The TBSCertificate of a leaf for `principal` over `spki` (a DER SubjectPublicKeyInfo
    /// whose subjectPublicKey is `key_bits`), valid from `not_before` to `not_after`, without
    /// the poison or the SCT list.
    pub fn tbs(
        &self,
        serial: &[u8],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        spki: &[u8],
        key_bits: &[u8],
        principal: &Principal,
    ) -> Result<Vec<u8>, Error> {
        let serial = UintRef::new(serial)?.to_der()?;
        let validity = tlv(Tag::Sequence, &[&time(not_before)?, &time(not_after)?])?;

        let san = extension(SUBJECT_ALT_NAME, true, &subject_alt_name(&principal.san)?)?;
        let ski = OctetStringRef::new(&key_identifier(key_bits))?.to_der()?;
        let ski = extension(SUBJECT_KEY_IDENTIFIER, false, &ski)?;
        let fulcio = principal
            .extensions
            .iter()
            .map(|(ext, value)| extension(ext.object_id(), false, &ext.encode(value)?))
            .collect::<der::Result<Vec<_>>>()?;
        let mut extensions: Vec<&[u8]> = vec![
            &self.authority_key_identifier,
            &san,
            &self.key_usage,
            &self.extended_key_usage,
            &ski,
        ];
        extensions.extend(fulcio.iter().map(Vec::as_slice));
        let extensions = tlv(context(3, true), &[&tlv(Tag::Sequence, &extensions)?])?;

        Ok(tlv(
            Tag::Sequence,
            &[
                &self.version,
                &serial,
                &self.signature_algorithm,
                &self.issuer,
                &validity,
                &self.subject,
                spki,
                &extensions,
            ],
        )?)
    }
}

/// RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, whole seconds.
fn time(at: OffsetDateTime) -> Result<Vec<u8>, Error> {
    let since_epoch = u64::try_from(at.unix_timestamp())
        .map(std::time::Duration::from_secs)
        .map_err(|_| Error::Profile(format!("{at} is before 1970")))?;
    Ok(if at.year() < 2050 {
        UtcTime::from_unix_duration(since_epoch)?.to_der()?
    } else {
        GeneralizedTime::from_unix_duration(since_epoch)?.to_der()?
    })
}

/// `GeneralNames` holding the one name of the principal.
fn subject_alt_name(san: &SubjectAltName) -> Result<Vec<u8>, Error> {
    fn ia5(s: &str) -> Result<Ia5StringRef<'_>, Error> {
        Ia5StringRef::new(s).map_err(|_| Error::Profile(format!("`{s}` is not an IA5 string")))
    }
    let name = match san {
        // rfc822Name [1] and uniformResourceIdentifier [6], IMPLICIT IA5String.
        SubjectAltName::Email(email) => tlv(context(1, false), &[ia5(email)?.as_bytes()])?,
        SubjectAltName::Uri(uri) => tlv(context(6, false), &[ia5(uri)?.as_bytes()])?,
        // otherName [0] IMPLICIT { type-id, value [0] EXPLICIT UTF8String }.
        SubjectAltName::Username(name) => {
            let value = tlv(context(0, true), &[&Utf8StringRef::new(name)?.to_der()?])?;
            tlv(context(0, true), &[&OTHERNAME_SAN_OID.to_der()?, &value])?
        }
    };
    Ok(tlv(Tag::Sequence, &[&name])?)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::time::Duration;

    use rcgen::{
        CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, OtherNameValue, PublicKeyData,
        SanType, SerialNumber,
    };

    use super::*;
    use crate::ca::extensions::FulcioExt;
    use crate::ca::tbs::signature_algorithm;
    use crate::ca::tbs::tests::Fixed;

    /// rcgen's rendering of the same leaf, with the parameters sigil gave rcgen before it wrote
    /// leaves itself.
    fn rcgen_tbs(
        issuer: &Issuer<'_, Fixed>,
        serial: &[u8],
        not_before: OffsetDateTime,
        validity: Duration,
        client: &KeyPair,
        principal: &Principal,
    ) -> Vec<u8> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.not_before = not_before;
        params.not_after = not_before + validity;
        params.serial_number = Some(SerialNumber::from_slice(serial));
        params.is_ca = IsCa::NoCa;
        let ia5 = |s: &str| rcgen::string::Ia5String::try_from(s).unwrap();
        params.subject_alt_names = vec![match &principal.san {
            SubjectAltName::Email(email) => SanType::Rfc822Name(ia5(email)),
            SubjectAltName::Uri(uri) => SanType::URI(ia5(uri)),
            SubjectAltName::Username(name) => SanType::OtherName((
                vec![1, 3, 6, 1, 4, 1, 57264, 1, 7],
                OtherNameValue::Utf8String(name.clone()),
            )),
        }];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        params.use_authority_key_identifier_extension = true;
        let ski = key_identifier(client.der_bytes());
        let mut extensions = vec![CustomExtension::from_oid_content(
            &[2, 5, 29, 14],
            [&[0x04, 20][..], &ski].concat(),
        )];
        for (ext, value) in &principal.extensions {
            let arcs: Vec<u64> = ext.object_id().arcs().map(u64::from).collect();
            let value = ext.encode(value).unwrap();
            extensions.push(CustomExtension::from_oid_content(&arcs, value));
        }
        params.custom_extensions = extensions;
        params.signed_by(client, issuer).unwrap();
        issuer.key().signed.take()
    }

    fn principal(san: SubjectAltName) -> Principal {
        Principal {
            challenge: "c".into(),
            san,
            extensions: vec![
                (FulcioExt::Issuer, "https://issuer.example".into()),
                (FulcioExt::GithubWorkflowRef, "refs/heads/main".into()),
                (FulcioExt::IssuerV2, "https://issuer.example".into()),
                (
                    FulcioExt::SourceRepositoryUri,
                    "https://example.com/ünïcode".into(),
                ),
            ],
            issuer_type: "email".into(),
        }
    }

    #[test]
    fn leaves_are_rcgens_byte_for_byte() {
        // A CA certificate with a subject of two attributes and a key identifier of its own.
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let mut ca = CertificateParams::new(vec![]).unwrap();
        ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::OrganizationName, "sigil");
        ca.distinguished_name
            .push(DnType::CommonName, "sigil intermediate");
        ca.key_identifier_method = KeyIdMethod::PreSpecified(vec![0x5a; 20]);
        let ca_der = ca.self_signed(&ca_key).unwrap().der().to_vec();
        let issuer = Issuer::from_ca_cert_der(
            &ca_der.clone().into(),
            Fixed {
                public: ca_key.der_bytes().to_vec(),
                signed: RefCell::new(Vec::new()),
            },
        )
        .unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(&ca_der).unwrap();

        let client = KeyPair::generate().unwrap();
        let spki = client.subject_public_key_info();
        let mut serial = [0x4b; 20];
        serial[19] = 0x01;
        let ten_minutes = Duration::from_secs(600);
        for san in [
            SubjectAltName::Email("alice@example.com".into()),
            SubjectAltName::Uri(
                "https://github.com/o/r/.github/workflows/w.yml@refs/heads/main".into(),
            ),
            SubjectAltName::Username("bob".into()),
        ] {
            let principal = principal(san);
            // Today, and a leaf whose validity crosses into 2050 (UTCTime, then GeneralizedTime).
            for not_before in [
                OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap(),
                OffsetDateTime::from_unix_timestamp(2_524_607_700).unwrap(),
            ] {
                let expected = rcgen_tbs(
                    &issuer,
                    &serial,
                    not_before,
                    ten_minutes,
                    &client,
                    &principal,
                );
                let profile = LeafProfile::new(
                    signature_algorithm(&expected).unwrap(),
                    parsed.subject().as_raw().to_vec(),
                    &[0x5a; 20],
                )
                .unwrap();
                let tbs = profile
                    .tbs(
                        &serial,
                        not_before,
                        not_before + ten_minutes,
                        &spki,
                        client.der_bytes(),
                        &principal,
                    )
                    .unwrap();
                assert_eq!(tbs, expected, "{:?} from {not_before}", principal.san);
            }
        }
    }

    #[test]
    fn a_name_outside_ia5_is_refused() {
        assert!(matches!(
            subject_alt_name(&SubjectAltName::Email("ålice@example.com".into())),
            Err(Error::Profile(_))
        ));
    }
}
