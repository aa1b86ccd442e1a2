//! The signing certificate: its chain to a trusted authority at a signed time, its key usage,
//! and the identity it states.

use x509_parser::der_parser::asn1_rs::{Any, Utf8String};
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

use super::{Policy, VerifyError, fail};
use crate::ca::extensions::FulcioExt;
use crate::client::trust::TrustedAuthority;
use crate::pki::{EKU_CODE_SIGNING, chain_to};
use crate::public_key::PublicKey;

/// What verification reads from the leaf certificate.
pub(super) struct Leaf {
    pub der: Vec<u8>,
    pub key: PublicKey,
    not_before: i64,
    not_after: i64,
    digital_signature: bool,
    code_signing: bool,
    sans: Vec<String>,
    issuer: String,
    /// GitHub workflow claims (1.3.6.1.4.1.57264.1.2–.6, raw UTF-8) by the OID's last arc.
    claims: Vec<(u64, String)>,
}

impl Leaf {
    pub(super) fn parse(der: Vec<u8>) -> Result<Leaf, VerifyError> {
        let Ok((_, cert)) = X509Certificate::from_der(&der) else {
            return fail("bundle", "the certificate is not DER X.509");
        };
        let Some(key) = PublicKey::from_spki(cert.public_key().raw) else {
            return fail(
                "bundle",
                "the certificate's key is not a well-formed key of a supported type",
            );
        };
        let (mut digital_signature, mut code_signing) = (false, false);
        let (mut sans, mut issuer_v1, mut issuer_v2) = (Vec::new(), None, None);
        let mut claims = Vec::new();
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::KeyUsage(ku) => digital_signature = ku.digital_signature(),
                ParsedExtension::ExtendedKeyUsage(eku) => code_signing = eku.code_signing,
                ParsedExtension::SubjectAlternativeName(san) => {
                    sans.extend(san.general_names.iter().filter_map(san_text))
                }
                _ => match FulcioExt::from_oid_bytes(ext.oid.as_bytes()) {
                    Some(FulcioExt::Issuer) => {
                        issuer_v1 = String::from_utf8(ext.value.to_vec()).ok()
                    }
                    Some(FulcioExt::IssuerV2) => {
                        issuer_v2 = Utf8String::from_der(ext.value)
                            .ok()
                            .map(|(_, s)| s.string())
                    }
                    Some(
                        claim @ (FulcioExt::GithubWorkflowTrigger
                        | FulcioExt::GithubWorkflowSha
                        | FulcioExt::GithubWorkflowName
                        | FulcioExt::GithubWorkflowRepository
                        | FulcioExt::GithubWorkflowRef),
                    ) => {
                        if let Ok(value) = String::from_utf8(ext.value.to_vec()) {
                            claims.push((claim.arc(), value));
                        }
                    }
                    _ => {}
                },
            }
        }
        let validity = cert.validity();
        Ok(Leaf {
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            key,
            der,
            digital_signature,
            code_signing,
            sans,
            issuer: issuer_v2.or(issuer_v1).unwrap_or_default(),
            claims,
        })
    }

    /// The certificate was valid at `time`.
    pub(super) fn check_time(&self, time: i64) -> Result<(), VerifyError> {
        if time < self.not_before || time > self.not_after {
            return fail(
                "signed time",
                format!(
                    "the signed time {time} is outside the certificate's validity ({} to {})",
                    self.not_before, self.not_after
                ),
            );
        }
        Ok(())
    }

    /// Chains to a certificate authority trusted at `time`; returns the issuing certificate's
    /// SPKI.
    pub(super) fn chain(
        &self,
        authorities: &[TrustedAuthority],
        time: i64,
    ) -> Result<Vec<u8>, VerifyError> {
        let mut reason = "no trusted certificate authority was valid at the signed time".into();
        for authority in authorities.iter().filter(|a| a.valid.contains(time)) {
            match chain_to(&self.der, &authority.chain, time, EKU_CODE_SIGNING) {
                Ok(issuer) => return Ok(issuer),
                Err(e) => reason = e,
            }
        }
        fail(
            "certificate chain",
            format!("the certificate does not chain to a trusted CA at the signed time ({reason})"),
        )
    }

    /// Key usage and the identity policy.
    pub(super) fn check_policy(&self, policy: &Policy) -> Result<(), VerifyError> {
        if !self.digital_signature || !self.code_signing {
            return fail(
                "key usage",
                "the certificate is not for digitalSignature with EKU codeSigning",
            );
        }
        if !self.sans.iter().any(|san| policy.identity.matches(san)) {
            return fail(
                "identity",
                format!(
                    "expected {}, the certificate is for {:?}",
                    policy.identity, self.sans
                ),
            );
        }
        if !policy.issuer.matches(&self.issuer) {
            return fail(
                "issuer",
                format!(
                    "expected {}, the certificate's OIDC issuer is `{}`",
                    policy.issuer, self.issuer
                ),
            );
        }
        for (arc, expected) in &policy.claims {
            let found = self
                .claims
                .iter()
                .find(|(a, _)| a == arc)
                .map(|(_, v)| v.as_str());
            if found != Some(expected.as_str()) {
                return fail(
                    "identity",
                    format!(
                        "expected extension 1.3.6.1.4.1.57264.1.{arc} = `{expected}`, found {found:?}"
                    ),
                );
            }
        }
        Ok(())
    }
}

/// An email, URI, or `otherName` (UTF-8, Fulcio's `user!domain`) SAN as text.
fn san_text(name: &GeneralName) -> Option<String> {
    match name {
        GeneralName::RFC822Name(s) | GeneralName::URI(s) => Some(s.to_string()),
        GeneralName::OtherName(_, value) => {
            let (_, any) = Any::from_der(value).ok()?;
            let (_, s) = Utf8String::from_der(any.data).ok()?;
            Some(s.string())
        }
        _ => None,
    }
}
