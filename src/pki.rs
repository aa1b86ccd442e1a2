//! Certificate path validation (RFC 5280, by rustls-webpki over aws-lc-rs), shared by the
//! verifier (leaf and TSA chains) and the Rekor log (entry certificates), and the one PEM form
//! that sigil writes certificates in.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rustls_pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, SignatureVerificationAlgorithm, UnixTime,
};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Every certificate signature algorithm a Sigstore chain may use.
const ALGORITHMS: [&dyn SignatureVerificationAlgorithm; 14] = [
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ECDSA_P521_SHA256,
    webpki::aws_lc_rs::ECDSA_P521_SHA384,
    webpki::aws_lc_rs::ECDSA_P521_SHA512,
    webpki::aws_lc_rs::ED25519,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// A certificate as PEM the way OpenSSL, Fulcio and rcgen write it: 64-column lines and LF line
/// endings on every platform, with the final newline.
pub fn certificate_pem(der: &[u8]) -> String {
    let lf = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new("CERTIFICATE", der), lf)
}

/// The DER that `bytes` holds, given as PEM or as DER (Fulcio's and Rekor's order): the contents
/// of its first PEM block when `wanted` accepts that block's label, `bytes` itself when it is
/// not PEM, and `None` for PEM of another kind.
pub fn der_from_pem_or_der(bytes: &[u8], wanted: impl Fn(&str) -> bool) -> Option<Cow<'_, [u8]>> {
    match x509_parser::pem::parse_x509_pem(bytes) {
        Ok((_, pem)) if wanted(&pem.label) => Some(Cow::Owned(pem.contents)),
        Ok(_) => None,
        Err(_) => Some(Cow::Borrowed(bytes)),
    }
}

/// Extended key usage codeSigning (1.3.6.1.5.5.7.3.3), DER value bytes.
pub const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// Extended key usage timeStamping (1.3.6.1.5.5.7.3.8), DER value bytes.
pub const EKU_TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// A certificate authority's chain, DER, the issuing (or signing) certificate first and the root
/// last.
///
/// The signatures between its own certificates are the same in every path that ends in it, so
/// each is verified the first time a path uses it and remembered; a leaf's signature is verified
/// every time. Clones share what was remembered.
#[derive(Debug, Clone)]
pub struct AuthorityChain {
    certificates: Vec<Vec<u8>>,
    links: Arc<[Link]>,
}

/// One certificate of the chain signed by the next: what webpki hands a signature algorithm.
#[derive(Debug)]
struct Link {
    /// The issuer's subjectPublicKey.
    public_key: Vec<u8>,
    /// The signed certificate's TBSCertificate.
    message: Vec<u8>,
    signature: Vec<u8>,
    /// Bit `i` is set once `ALGORITHMS[i]` verified this signature.
    verified_by: AtomicU32,
}

impl AuthorityChain {
    /// The chain of `certificates`. If one does not parse, nothing is remembered, and
    /// [`chain_to`] reports it.
    pub fn new(certificates: Vec<Vec<u8>>) -> AuthorityChain {
        let parsed: Vec<_> = certificates
            .iter()
            .map(|der| X509Certificate::from_der(der).ok().map(|(_, c)| c))
            .collect::<Option<_>>()
            .unwrap_or_default();
        let links = parsed
            .windows(2)
            .map(|pair| Link {
                public_key: pair[1].public_key().subject_public_key.data.to_vec(),
                message: pair[0].tbs_certificate.as_ref().to_vec(),
                signature: pair[0].signature_value.data.to_vec(),
                verified_by: AtomicU32::new(0),
            })
            .collect();
        AuthorityChain {
            certificates,
            links,
        }
    }

    /// The certificates, DER, issuing certificate first.
    pub fn certificates(&self) -> &[Vec<u8>] {
        &self.certificates
    }

    fn link(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Option<&Link> {
        self.links.iter().find(|link| {
            link.signature == signature && link.public_key == public_key && link.message == message
        })
    }
}

/// `ALGORITHMS[index]`, answering at once for a link of `chain` it has verified before.
#[derive(Debug)]
struct Remembering<'a> {
    index: usize,
    chain: &'a AuthorityChain,
}

impl SignatureVerificationAlgorithm for Remembering<'_> {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let bit = 1 << self.index;
        let link = self.chain.link(public_key, message, signature);
        if link.is_some_and(|l| l.verified_by.load(Ordering::Acquire) & bit != 0) {
            return Ok(());
        }
        ALGORITHMS[self.index].verify_signature(public_key, message, signature)?;
        if let Some(link) = link {
            link.verified_by.fetch_or(bit, Ordering::Release);
        }
        Ok(())
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        ALGORITHMS[self.index].public_key_alg_id()
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        ALGORITHMS[self.index].signature_alg_id()
    }
}

/// Verifies `leaf` up to the last certificate of `chain` (the trust anchor) at `time` for the
/// extended key usage `eku`, the others serving as intermediates (RFC 5280 path validation by
/// rustls-webpki); returns the SPKI of the certificate that issued `leaf`.
pub fn chain_to(
    leaf: &[u8],
    chain: &AuthorityChain,
    time: i64,
    eku: &'static [u8],
) -> Result<Vec<u8>, String> {
    let Some((root, intermediates)) = chain.certificates.split_last() else {
        return Err("the authority has no certificates".into());
    };
    let root = CertificateDer::from(root.as_slice());
    let anchor = webpki::anchor_from_trusted_cert(&root).map_err(|e| format!("its root: {e}"))?;
    let intermediates: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let leaf = CertificateDer::from(leaf);
    let end_entity = webpki::EndEntityCert::try_from(&leaf).map_err(|e| e.to_string())?;
    let time = UnixTime::since_unix_epoch(Duration::from_secs(
        u64::try_from(time).map_err(|_| "a time before 1970")?,
    ));
    let anchors = [anchor];
    let remembering: [Remembering<'_>; ALGORITHMS.len()] =
        std::array::from_fn(|index| Remembering { index, chain });
    let algorithms: [&dyn SignatureVerificationAlgorithm; ALGORITHMS.len()] =
        std::array::from_fn(|i| &remembering[i] as &dyn SignatureVerificationAlgorithm);
    let path = end_entity
        .verify_for_usage(
            &algorithms,
            &anchors,
            &intermediates,
            time,
            webpki::KeyUsage::required(eku),
            None,
            None,
        )
        .map_err(|e| e.to_string())?;
    match path.intermediate_certificates().next() {
        Some(issuer) => Ok(issuer.subject_public_key_info().to_vec()),
        // The anchor keeps its SPKI without the outer SEQUENCE.
        None => der::asn1::AnyRef::new(
            der::Tag::Sequence,
            path.anchor().subject_public_key_info.as_ref(),
        )
        .and_then(|spki| der::Encode::to_der(&spki))
        .map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, Issuer, KeyPair, KeyUsagePurpose};

    use super::*;
    use crate::ca::generate::{GeneratedCa, generate_ca};
    use crate::config::CaKeyType;

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn ca() -> GeneratedCa {
        generate_ca(CaKeyType::EcdsaP256, "pki-test").expect("CA")
    }

    /// A code-signing leaf issued by `ca`'s intermediate.
    fn leaf(ca: &GeneratedCa) -> Vec<u8> {
        let intermediate = CertificateDer::from(ca.intermediate.to_der().expect("DER"));
        let issuer = Issuer::from_ca_cert_der(&intermediate, &ca.intermediate_key).expect("CA");
        let mut params = CertificateParams::default();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        let key = KeyPair::generate().expect("key");
        params
            .signed_by(&key, &issuer)
            .expect("leaf")
            .der()
            .to_vec()
    }

    fn chain(intermediate: &GeneratedCa, root: &GeneratedCa) -> AuthorityChain {
        let der = |c: &openssl::x509::X509| c.to_der().expect("DER");
        AuthorityChain::new(vec![der(&intermediate.intermediate), der(&root.root)])
    }

    fn remembered(chain: &AuthorityChain) -> u32 {
        chain.links[0].verified_by.load(Ordering::Acquire)
    }

    #[test]
    fn the_intermediate_by_root_signature_is_remembered_once_it_verified() {
        let ca = ca();
        let chain = chain(&ca, &ca);
        assert_eq!(
            chain.links.len(),
            1,
            "one link: the intermediate signed by the root"
        );
        assert_eq!(
            remembered(&chain),
            0,
            "nothing is assumed before a path uses the link"
        );
        let issuer = chain_to(&leaf(&ca), &chain, now(), EKU_CODE_SIGNING).expect("chains");
        assert_eq!(
            issuer,
            ca.intermediate
                .public_key()
                .unwrap()
                .public_key_to_der()
                .unwrap()
        );
        let learned = remembered(&chain);
        assert_eq!(
            learned.count_ones(),
            1,
            "remembered for exactly one algorithm"
        );
        // Later paths through it still check their own leaf.
        chain_to(&leaf(&ca), &chain, now(), EKU_CODE_SIGNING).expect("chains again");
        // A leaf of another CA with the same names: only its signature tells it apart.
        let stranger = leaf(&self::ca());
        assert!(chain_to(&stranger, &chain, now(), EKU_CODE_SIGNING).is_err());
        assert_eq!(
            remembered(&chain.clone()),
            learned,
            "clones share what was learned"
        );
    }

    #[test]
    fn a_link_whose_signature_fails_is_never_remembered() {
        // Same names as the root, but the intermediate was signed by another root's key.
        let (forger, root) = (ca(), ca());
        let chain = chain(&forger, &root);
        for _ in 0..2 {
            let refused = chain_to(&leaf(&forger), &chain, now(), EKU_CODE_SIGNING);
            assert!(
                refused.is_err(),
                "a chain to another root's intermediate verified"
            );
            assert_eq!(remembered(&chain), 0);
        }
    }
}
