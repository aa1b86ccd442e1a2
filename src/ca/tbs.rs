//! The two certificates of an issuance from one rendering of its TBSCertificate.
//!
//! `profile` renders a leaf's TBSCertificate once, without the poison or the SCT list. The
//! precertificate and the final certificate differ from it only by the one extension each
//! appends last (RFC 6962 §3.1, §3.3), so both are that rendering with an extension added,
//! signed, and wrapped as a Certificate. The `der` crate reads and writes every header here;
//! this module only moves whole TLVs.

use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode, Header, Length, Reader, SliceReader, Tag, TagNumber, Tagged};

/// `[3] EXPLICIT Extensions`, the last field of a v3 TBSCertificate (RFC 5280 §4.1).
const EXTENSIONS: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber::N3,
};

/// `Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }`.
pub fn extension(oid: ObjectIdentifier, critical: bool, value: &[u8]) -> der::Result<Vec<u8>> {
    let id = oid.to_der()?;
    // DER leaves a DEFAULT value out (X.690 §11.5).
    let critical = if critical { true.to_der()? } else { Vec::new() };
    let value = OctetStringRef::new(value)?.to_der()?;
    tlv(Tag::Sequence, &[&id, &critical, &value])
}

/// `tbs` with `extension` appended to its extensions (which it gains if it had none).
pub fn with_extension(tbs: &[u8], extension: &[u8]) -> der::Result<Vec<u8>> {
    let fields = fields(tbs)?;
    let (before, existing) = match fields.split_last() {
        Some((last, before)) if AnyRef::from_der(last)?.tag() == EXTENSIONS => {
            let sequence = AnyRef::from_der(AnyRef::from_der(last)?.value())?;
            sequence.tag().assert_eq(Tag::Sequence)?;
            (before, sequence.value())
        }
        _ => (&fields[..], &[][..]),
    };
    let extensions = tlv(EXTENSIONS, &[&tlv(Tag::Sequence, &[existing, extension])?])?;
    let mut parts = before.to_vec();
    parts.push(&extensions);
    tlv(Tag::Sequence, &parts)
}

/// The TBSCertificate's `signature` field: the AlgorithmIdentifier that the Certificate
/// repeats around the signature (RFC 5280 §4.1.1.2).
#[cfg(test)]
pub fn signature_algorithm(tbs: &[u8]) -> der::Result<Vec<u8>> {
    let fields = fields(tbs)?;
    // The version, `[0] EXPLICIT`, is absent from a v1 certificate.
    let skip = match fields.first() {
        Some(first) if AnyRef::from_der(first)?.tag().is_context_specific() => 2,
        _ => 1,
    };
    fields
        .get(skip)
        .map(|field| field.to_vec())
        .ok_or_else(|| Tag::Sequence.value_error())
}

/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }`.
pub fn certificate(tbs: &[u8], algorithm: &[u8], signature: &[u8]) -> der::Result<Vec<u8>> {
    let signature = BitStringRef::from_bytes(signature)?.to_der()?;
    tlv(Tag::Sequence, &[tbs, algorithm, &signature])
}

/// The fields of a TBSCertificate, each as its whole DER TLV.
fn fields(tbs: &[u8]) -> der::Result<Vec<&[u8]>> {
    let mut reader = SliceReader::new(tbs)?;
    let header = Header::decode(&mut reader)?;
    header.tag.assert_eq(Tag::Sequence)?;
    if header.length != reader.remaining_len() {
        return Err(der::ErrorKind::TrailingData {
            decoded: reader.position(),
            remaining: reader.remaining_len(),
        }
        .into());
    }
    let mut fields = Vec::with_capacity(8);
    while !reader.is_finished() {
        let start = usize::try_from(reader.position())?;
        reader.decode::<AnyRef<'_>>()?;
        fields.push(&tbs[start..usize::try_from(reader.position())?]);
    }
    Ok(fields)
}

/// A TLV whose value is `parts`, each already DER.
pub fn tlv(tag: Tag, parts: &[&[u8]]) -> der::Result<Vec<u8>> {
    let length = parts.iter().try_fold(Length::ZERO, |sum, part| {
        sum + Length::try_from(part.len())?
    })?;
    let mut out = Vec::with_capacity(usize::try_from(length)? + 6);
    Header::new(tag, length)?.encode_to_vec(&mut out)?;
    for part in parts {
        out.extend_from_slice(part);
    }
    Ok(out)
}

#[cfg(test)]
pub(super) mod tests {
    use std::cell::RefCell;

    use rcgen::{
        CertificateParams, CustomExtension, Issuer, KeyPair, PublicKeyData, SignatureAlgorithm,
        SigningKey,
    };

    use super::*;

    /// A P-384 CA key for rcgen with a fixed signature that keeps what it signed, so that
    /// rcgen's certificates can be compared with sigil's byte for byte.
    pub(in crate::ca) struct Fixed {
        pub public: Vec<u8>,
        pub signed: RefCell<Vec<u8>>,
    }

    const SIGNATURE: &[u8] = &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02];

    impl PublicKeyData for Fixed {
        fn der_bytes(&self) -> &[u8] {
            &self.public
        }
        fn algorithm(&self) -> &'static SignatureAlgorithm {
            &rcgen::PKCS_ECDSA_P384_SHA384
        }
    }

    impl SigningKey for Fixed {
        fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
            *self.signed.borrow_mut() = msg.to_vec();
            Ok(SIGNATURE.to_vec())
        }
    }

    /// rcgen's TBSCertificate of one leaf, then its TBSCertificate and whole certificate of
    /// the same leaf with `extension` last.
    fn rendered(extension: CustomExtension) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let public = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
            .expect("key")
            .der_bytes()
            .to_vec();
        let mut ca = CertificateParams::new(vec![]).expect("params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let signed = RefCell::new(Vec::new());
        let issuer = Issuer::new(ca, Fixed { public, signed });
        let mut params = CertificateParams::new(vec!["leaf.example".to_owned()]).expect("params");
        let key = KeyPair::generate().expect("key");
        params.signed_by(&key, &issuer).expect("rendered");
        let plain = issuer.key().signed.take();
        params.custom_extensions.push(extension);
        let certificate = params.signed_by(&key, &issuer).expect("rendered");
        (
            plain,
            issuer.key().signed.take(),
            certificate.der().to_vec(),
        )
    }

    #[test]
    fn an_appended_extension_is_what_rcgen_renders_with_it_last() {
        let value = [0x04, 0x03, 0x01, 0x02, 0x03];
        let (plain, with_it, rcgen_certificate) = rendered(CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2],
            value.to_vec(),
        ));
        let sct_list =
            extension(sigil_ctlog::rfc6962::SCT_LIST_OID, false, &value).expect("extension");
        let appended = with_extension(&plain, &sct_list).expect("appended");
        assert_eq!(appended, with_it);

        // The same TBSCertificate, wrapped here, is rcgen's certificate.
        let algorithm = signature_algorithm(&appended).expect("algorithm");
        assert_eq!(
            certificate(&appended, &algorithm, SIGNATURE).expect("certificate"),
            rcgen_certificate
        );
    }

    #[test]
    fn a_critical_extension_carries_its_flag() {
        let mut critical =
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 11129, 2, 4, 3], vec![5, 0]);
        critical.set_criticality(true);
        let (plain, with_it, _) = rendered(critical);
        let poison = extension(sigil_ctlog::ct::POISON_OID, true, &[0x05, 0x00]).expect("poison");
        assert_eq!(with_extension(&plain, &poison).expect("appended"), with_it);
    }

    #[test]
    fn a_tbs_without_extensions_gains_them() {
        // TBSCertificate (v1, no extensions): version absent, serial 1, then four placeholders.
        let fields: [&[u8]; 6] = [
            &[0x02, 0x01, 0x01],
            &[0x30, 0x00],
            &[0x30, 0x00],
            &[0x30, 0x00],
            &[0x30, 0x00],
            &[0x30, 0x00],
        ];
        let tbs = tlv(Tag::Sequence, &fields).expect("tbs");
        let ext = extension(ObjectIdentifier::new_unwrap("1.2.3"), false, &[0x05, 0x00])
            .expect("extension");
        let appended = with_extension(&tbs, &ext).expect("appended");
        let mut expected = fields.to_vec();
        let wrapped = tlv(EXTENSIONS, &[&tlv(Tag::Sequence, &[&ext]).expect("seq")]).expect("[3]");
        expected.push(&wrapped);
        assert_eq!(appended, tlv(Tag::Sequence, &expected).expect("tbs"));
        assert_eq!(signature_algorithm(&tbs).expect("algorithm"), [0x30, 0x00]);
    }

    #[test]
    fn malformed_input_is_refused() {
        let ext = extension(ObjectIdentifier::new_unwrap("1.2.3"), false, &[]).expect("extension");
        for bad in [
            &[][..],
            &[0x30, 0x05, 0x02, 0x01][..],
            &[0x04, 0x00][..],
            &[0x30, 0x00, 0x00][..],
        ] {
            assert!(with_extension(bad, &ext).is_err(), "{bad:02x?}");
        }
    }
}
