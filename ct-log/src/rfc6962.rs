//! RFC 6962 hashing and TLS encodings: leaves, SCTs, tree heads. No HTTP, no database: bytes
//! in, bytes out.

use der::asn1::ObjectIdentifier;
use openssl::sha::Sha256;

/// A SHA-256 node or leaf hash.
pub type Hash = [u8; 32];

/// RFC 6962 §2.1: "MTH({d(0)}) = SHA-256(0x00 || d(0))".
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(&[0x00]);
    h.update(leaf);
    h.finish()
}

/// RFC 6962 §2.1: "MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))".
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(&[0x01]);
    h.update(left);
    h.update(right);
    h.finish()
}

/// RFC 6962 §2.1: "MTH({}) = SHA-256()", the hash of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::new().finish()
}

/// SHA-256 of `data`. Through the hasher, not OpenSSL 3.0's one-shot `SHA256()`, which fetches
/// the algorithm from the provider on every call: measured under issuance load, that lookup
/// cost more than hashing the two issuer certificates it was asked to hash.
pub fn sha256(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(data);
    h.finish()
}

/// `LogEntryType` (RFC 6962 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    /// A final certificate.
    X509 = 0,
    /// A precertificate.
    Precert = 1,
}

/// What a CT entry certifies: a certificate, or a precertificate's TBS and issuer key hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedEntry {
    /// `ASN.1Cert`: the DER of the leaf certificate.
    X509(Vec<u8>),
    /// `PreCert`: SHA-256 of the issuer's SPKI, and the TBSCertificate without the poison.
    Precert {
        /// SHA-256 of the DER SubjectPublicKeyInfo of the issuing CA.
        issuer_key_hash: Hash,
        /// DER TBSCertificate with the poison extension removed.
        tbs: Vec<u8>,
    },
}

impl SignedEntry {
    /// The entry type.
    pub fn entry_type(&self) -> EntryType {
        match self {
            SignedEntry::X509(_) => EntryType::X509,
            SignedEntry::Precert { .. } => EntryType::Precert,
        }
    }
}

/// Appends `data` with a big-endian length prefix of `width` bytes (TLS `opaque<..>`).
pub fn put_prefixed(out: &mut Vec<u8>, width: usize, data: &[u8]) {
    let len = data.len() as u64;
    debug_assert!(width == 8 || len < 1 << (8 * width));
    out.extend_from_slice(&len.to_be_bytes()[8 - width..]);
    out.extend_from_slice(data);
}

/// Splits a TLS `opaque<..>` with a `width`-byte length prefix off the front of `input`.
pub fn take_prefixed(input: &[u8], width: usize) -> Option<(&[u8], &[u8])> {
    let len = input
        .get(..width)?
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    let body = input.get(width..width.checked_add(len)?)?;
    Some((body, &input[width + len..]))
}

/// `TimestampedEntry` (RFC 6962 §3.4): `timestamp(8) entry_type(2) signed_entry extensions`.
pub fn timestamped_entry(timestamp_ms: u64, entry: &SignedEntry, extensions: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + extensions.len());
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out.extend_from_slice(&(entry.entry_type() as u16).to_be_bytes());
    match entry {
        SignedEntry::X509(cert) => put_prefixed(&mut out, 3, cert),
        SignedEntry::Precert {
            issuer_key_hash,
            tbs,
        } => {
            out.extend_from_slice(issuer_key_hash);
            put_prefixed(&mut out, 3, tbs);
        }
    }
    put_prefixed(&mut out, 2, extensions);
    out
}

/// `MerkleTreeLeaf` (RFC 6962 §3.4): `version(1)=0 leaf_type(1)=0 TimestampedEntry`.
///
/// These are also exactly the bytes an SCT signs (§3.2): `sct_version` and
/// `signature_type = certificate_timestamp` are both 0 and sit where `version` and
/// `leaf_type` are, so one encoding serves both.
pub fn merkle_tree_leaf(timestamp_ms: u64, entry: &SignedEntry, extensions: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8, 0u8];
    out.extend_from_slice(&timestamped_entry(timestamp_ms, entry, extensions));
    out
}

/// The 50-byte `TreeHeadSignature` input of an STH (RFC 6962 §3.5).
pub fn tree_head_signature_input(timestamp_ms: u64, size: u64, root: &Hash) -> Vec<u8> {
    let mut out = Vec::with_capacity(50);
    out.push(0); // version v1
    out.push(1); // signature_type tree_hash
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(root);
    out
}

/// TLS `DigitallySigned` with SHA-256: `hash_alg(1)=4 sig_alg(1) u16 len signature`.
pub fn digitally_signed(signature_algorithm: u8, signature: &[u8]) -> Vec<u8> {
    let mut out = vec![4, signature_algorithm];
    put_prefixed(&mut out, 2, signature);
    out
}

/// TLS `SignatureAlgorithm` code of an ECDSA signature.
pub const SIG_ALG_ECDSA: u8 = 3;
/// TLS `SignatureAlgorithm` code of an RSA PKCS#1 v1.5 signature.
pub const SIG_ALG_RSA: u8 = 1;

/// A signed certificate timestamp (RFC 6962 §3.2), version 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sct {
    /// SHA-256 of the log's DER SubjectPublicKeyInfo.
    pub log_id: Hash,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// CtExtensions; empty, since sigstore-python before 4.2 rejects anything else.
    pub extensions: Vec<u8>,
    /// The TLS `DigitallySigned` over the [`merkle_tree_leaf`] bytes.
    pub signature: Vec<u8>,
}

impl Sct {
    /// The TLS encoding: `version(1) log_id(32) timestamp(8) u16 extensions DigitallySigned`.
    pub fn to_tls(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(47 + self.extensions.len() + self.signature.len());
        out.push(0);
        out.extend_from_slice(&self.log_id);
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        put_prefixed(&mut out, 2, &self.extensions);
        out.extend_from_slice(&self.signature);
        out
    }
}

impl Sct {
    /// Parses one TLS-encoded v1 SCT with a SHA-256 `DigitallySigned`; `None` if malformed.
    pub fn from_tls(bytes: &[u8]) -> Option<Sct> {
        if *bytes.first()? != 0 {
            return None;
        }
        let log_id: Hash = bytes.get(1..33)?.try_into().ok()?;
        let timestamp_ms = u64::from_be_bytes(bytes.get(33..41)?.try_into().ok()?);
        let (extensions, rest) = take_prefixed(bytes.get(41..)?, 2)?;
        let (_, tail) = take_prefixed(rest.get(2..)?, 2)?;
        if !tail.is_empty() || rest[0] != 4 {
            return None;
        }
        Some(Sct {
            log_id,
            timestamp_ms,
            extensions: extensions.to_vec(),
            signature: rest.to_vec(),
        })
    }
}

/// Parses a TLS `SignedCertificateTimestampList` (the contents of the inner OCTET STRING of
/// the embedded SCT list extension).
pub fn parse_sct_list(list: &[u8]) -> Option<Vec<Sct>> {
    let (mut items, rest) = take_prefixed(list, 2)?;
    if !rest.is_empty() {
        return None;
    }
    let mut scts = Vec::new();
    while !items.is_empty() {
        let (sct, next) = take_prefixed(items, 2)?;
        scts.push(Sct::from_tls(sct)?);
        items = next;
    }
    Some(scts)
}

/// OID of the embedded SCT list extension (RFC 6962 §3.3).
pub const SCT_LIST_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// The `extnValue` contents of the embedded SCT list extension ([`SCT_LIST_OID`]):
/// a DER OCTET STRING wrapping the TLS `SignedCertificateTimestampList`.
pub fn sct_list_extension_value(scts: &[Sct]) -> Vec<u8> {
    let mut list = Vec::new();
    for sct in scts {
        put_prefixed(&mut list, 2, &sct.to_tls());
    }
    let mut tls = Vec::with_capacity(list.len() + 2);
    put_prefixed(&mut tls, 2, &list);
    yasna::construct_der(|w| w.write_bytes(&tls))
}

/// `extra_data` of an x509 entry: the chain after the leaf, as `ASN.1Cert certificate_chain<0..2^24-1>`.
pub fn x509_chain_entry<C: AsRef<[u8]>>(chain: &[C]) -> Vec<u8> {
    let mut list = Vec::new();
    for cert in chain {
        put_prefixed(&mut list, 3, cert.as_ref());
    }
    let mut out = Vec::with_capacity(list.len() + 3);
    put_prefixed(&mut out, 3, &list);
    out
}

/// `extra_data` of a precert entry: `PrecertChainEntry { ASN.1Cert pre_certificate; ASN.1Cert
/// precertificate_chain<0..2^24-1>; }`.
pub fn precert_chain_entry<C: AsRef<[u8]>>(precert: &[u8], chain: &[C]) -> Vec<u8> {
    let mut out = Vec::new();
    put_prefixed(&mut out, 3, precert);
    out.extend_from_slice(&x509_chain_entry(chain));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_and_signature_input_layouts() {
        let entry = SignedEntry::Precert {
            issuer_key_hash: [7; 32],
            tbs: vec![0xaa, 0xbb],
        };
        let leaf = merkle_tree_leaf(0x0102030405060708, &entry, &[]);
        let mut want = vec![0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1];
        want.extend_from_slice(&[7; 32]);
        want.extend_from_slice(&[0, 0, 2, 0xaa, 0xbb, 0, 0]);
        assert_eq!(leaf, want);

        let x509 = merkle_tree_leaf(1, &SignedEntry::X509(vec![9]), &[]);
        assert_eq!(
            x509,
            vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 9, 0, 0]
        );
        assert_eq!(tree_head_signature_input(1, 2, &[3; 32]).len(), 50);
    }

    #[test]
    fn sct_list_is_a_double_octet_string() {
        let sct = Sct {
            log_id: [1; 32],
            timestamp_ms: 5,
            extensions: vec![],
            signature: digitally_signed(SIG_ALG_ECDSA, &[0x30, 0x00]),
        };
        let tls = sct.to_tls();
        assert_eq!(tls.len(), 1 + 32 + 8 + 2 + 4 + 2);
        let value = sct_list_extension_value(&[sct]);
        // OCTET STRING { u16 list_len { u16 sct_len sct } }
        assert_eq!(value[0], 0x04);
        assert_eq!(value[1] as usize, tls.len() + 4);
        assert_eq!(&value[2..4], &((tls.len() + 2) as u16).to_be_bytes());
        assert_eq!(&value[4..6], &(tls.len() as u16).to_be_bytes());
        assert_eq!(&value[6..], &tls[..]);
    }

    #[test]
    fn sct_lists_round_trip() {
        let sct = Sct {
            log_id: [9; 32],
            timestamp_ms: 77,
            extensions: vec![],
            signature: digitally_signed(SIG_ALG_ECDSA, &[0x30, 0x01, 0x00]),
        };
        let value = sct_list_extension_value(std::slice::from_ref(&sct));
        // Strip the DER OCTET STRING header (short form here) to get the TLS list.
        assert_eq!(parse_sct_list(&value[2..]), Some(vec![sct]));
        assert_eq!(parse_sct_list(&[0, 5, 1]), None);
    }

    #[test]
    fn extra_data_formats() {
        assert_eq!(x509_chain_entry::<Vec<u8>>(&[]), vec![0, 0, 0]);
        assert_eq!(
            x509_chain_entry(&[vec![1, 2]]),
            vec![0, 0, 5, 0, 0, 2, 1, 2]
        );
        assert_eq!(
            precert_chain_entry::<Vec<u8>>(&[9], &[]),
            vec![0, 0, 1, 9, 0, 0, 0]
        );
    }
}
