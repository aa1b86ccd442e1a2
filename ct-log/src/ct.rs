//! A Certificate Transparency log (RFC 6962 write and read paths, Static CT read path) on the
//! log engine.
//!
//! Submissions are validated (the chain verifies up to an accepted root; the poison is present
//! on precertificates and absent otherwise), turned into a `MerkleTreeLeaf`, signed as an SCT
//! with empty extensions (older sigstore-python rejects any extension), and returned only once
//! the entry is durable. Any EKU is accepted: Fulcio's leaves are code-signing certificates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use x509_parser::prelude::FromDer;

pub use crate::chain::{Roots, validate_chain};
use crate::key::LogKey;
use crate::log::{HeadSigner, Log, LogError, LogOptions, Observer, PendingEntry, now_ms};
use crate::note::{self, Checkpoint, NoteSignature, TYPE_RFC6962_STH};
use crate::rfc6962::{
    self, Hash, SignedEntry, merkle_tree_leaf, sha256, tree_head_signature_input,
};
use crate::store::{Store, StoreError, TreeHead};
use crate::stored_chain::{self, ParsedEntry};

/// OID of the precertificate poison extension (RFC 6962 §3.1).
pub const POISON_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.3");
/// OID of the Precertificate Signing Certificate EKU.
const PRECERT_SIGNING_EKU: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.4");

/// Why a submission was refused. Every variant but `Log` is the submitter's to fix.
#[derive(Debug, thiserror::Error)]
pub enum CtError {
    /// The chain is malformed or does not verify.
    #[error("invalid chain: {0}")]
    InvalidChain(String),
    /// The chain does not end at an accepted root.
    #[error("the chain does not lead to a root this log accepts")]
    UnknownRoot,
    /// A precertificate where a certificate belongs, or the reverse.
    #[error("{0}")]
    WrongEntryType(&'static str),
    /// The log could not take the entry.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// An SCT together with the index its entry received.
#[derive(Debug, Clone)]
pub struct Logged {
    /// The signed certificate timestamp.
    pub sct: rfc6962::Sct,
    /// The entry's index.
    pub index: u64,
}

/// Signs CT tree heads: an RFC 6962 STH signature, and the static-ct-api checkpoint whose only
/// signature is that STH as note signature type 0x05.
struct SthSigner {
    key: Arc<LogKey>,
    origin: String,
}

impl HeadSigner for SthSigner {
    fn sign_head(
        &self,
        size: u64,
        root: &Hash,
        timestamp_ms: u64,
    ) -> Result<(Vec<u8>, String), String> {
        let signature = self
            .key
            .digitally_sign(&tree_head_signature_input(timestamp_ms, size, root))
            .map_err(|e| e.to_string())?;
        let mut note_sig = timestamp_ms.to_be_bytes().to_vec();
        note_sig.extend_from_slice(&signature);
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size,
            root: *root,
        };
        let note = note::format(
            &checkpoint.body(),
            &[NoteSignature {
                name: self.origin.clone(),
                key_id: note::key_id(&self.origin, TYPE_RFC6962_STH, self.key.log_id()),
                signature: note_sig,
            }],
        );
        Ok((signature, note))
    }
}

/// A CT log: its engine, key, origin and accepted roots.
pub struct CtLog {
    log: Arc<Log>,
    key: Arc<LogKey>,
    origin: String,
    roots: Roots,
    // The issuers known to be durable in storage, by fingerprint: nearly every submission names
    // the same few, which are then written once per process, not once per entry, and read once
    // to put entries' chains back together.
    issuers: Mutex<Issuers>,
}

/// Issuer certificates (DER) by SHA-256 fingerprint.
type Issuers = HashMap<Hash, Arc<[u8]>>;

/// An entry as RFC 6962's `get-entries` serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The `MerkleTreeLeaf`.
    pub leaf_input: Vec<u8>,
    /// The `PrecertChainEntry` or the `certificate_chain`.
    pub extra_data: Vec<u8>,
}

/// A precertificate from this process's own CA and the parts of its log entry.
pub struct OwnPrecert<'a> {
    /// DER of the precertificate.
    pub der: &'a [u8],
    /// Its TBSCertificate without the poison extension.
    pub tbs_without_poison: Vec<u8>,
    /// SHA-256 of the issuing certificate's SubjectPublicKeyInfo.
    pub issuer_key_hash: &'a Hash,
}

impl CtLog {
    /// Opens the CT log stored under `name`, accepting chains to `roots` (DER).
    pub async fn open(
        name: &str,
        store: Store,
        key: Arc<LogKey>,
        origin: String,
        roots: Vec<Vec<u8>>,
        observer: Option<Arc<dyn Observer>>,
        options: LogOptions,
    ) -> Result<CtLog, LogError> {
        let signer = Arc::new(SthSigner {
            key: key.clone(),
            origin: origin.clone(),
        });
        let log = Log::open(name, store, signer, observer, options).await?;
        // A log must never be continued under another key: its history would stop verifying.
        let head = log.head().await?;
        let input = tree_head_signature_input(head.timestamp_ms, head.size, &head.root);
        if !crate::key::verify_digitally_signed(key.spki_der(), &input, &head.signature) {
            return Err(LogError::Sign(format!(
                "the stored tree head of log `{name}` was signed by a different key; use the \
                 original key or another storage location"
            )));
        }
        Ok(CtLog {
            log,
            key,
            origin,
            roots: Roots::new(roots),
            issuers: Default::default(),
        })
    }

    /// The engine, for the sequencer task and the read path.
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// The log key.
    pub fn key(&self) -> &LogKey {
        &self.key
    }

    /// The checkpoint origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The accepted roots, DER.
    pub fn roots(&self) -> &[Vec<u8>] {
        self.roots.ders()
    }

    /// RFC 6962 `add-chain`: a final certificate and its chain (root optional).
    pub async fn add_chain(&self, chain: &[Vec<u8>]) -> Result<Logged, CtError> {
        let mut certs = validate_chain(chain, &self.roots)?;
        if has_poison(&certs[0])? {
            return Err(CtError::WrongEntryType(
                "add-chain takes final certificates; this one has the precertificate poison (use add-pre-chain)",
            ));
        }
        let rest = certs.split_off(1);
        let entry = SignedEntry::X509(certs.swap_remove(0));
        self.log_entry(entry, None, &rest).await
    }

    /// RFC 6962 `add-pre-chain`: a precertificate (with the poison) and its chain.
    pub async fn add_pre_chain(&self, chain: &[Vec<u8>]) -> Result<Logged, CtError> {
        let mut certs = validate_chain(chain, &self.roots)?;
        let issuers = certs.split_off(1);
        self.log_precert(&certs[0], &issuers).await
    }

    /// Logs a precertificate issued by this process's own CA, whose chain (DER, issuing
    /// first) it built itself. The CA also hands over what the entry needs, computed while it
    /// built the precertificate, so nothing is parsed back here.
    pub async fn add_own_precert(
        &self,
        precert: OwnPrecert<'_>,
        chain: &[Vec<u8>],
    ) -> Result<Logged, CtError> {
        debug_assert_eq!(
            tbs_without_poison(precert.der).ok().as_ref(),
            Some(&precert.tbs_without_poison),
            "the CA's TBSCertificate without the poison is not its precertificate's"
        );
        debug_assert_eq!(
            chain
                .first()
                .and_then(|issuer| parse(issuer).ok())
                .map(|issuer| sha256(issuer.tbs_certificate.subject_pki.raw))
                .as_ref(),
            Some(precert.issuer_key_hash),
            "the CA's issuer key hash is not its issuing certificate's"
        );
        let entry = SignedEntry::Precert {
            issuer_key_hash: *precert.issuer_key_hash,
            tbs: precert.tbs_without_poison,
        };
        self.log_entry(entry, Some(precert.der), chain).await
    }

    /// Logs a final certificate issued by this process's own CA (detached-SCT mode).
    pub async fn add_own_certificate(
        &self,
        cert: &[u8],
        chain: &[Vec<u8>],
    ) -> Result<Logged, CtError> {
        self.log_entry(SignedEntry::X509(cert.to_vec()), None, chain)
            .await
    }

    async fn log_precert(&self, precert: &[u8], issuers: &[Vec<u8>]) -> Result<Logged, CtError> {
        if !has_poison(precert)? {
            return Err(CtError::WrongEntryType(
                "add-pre-chain takes precertificates; this one lacks the critical poison extension",
            ));
        }
        let issuer = issuers
            .first()
            .ok_or_else(|| CtError::InvalidChain("a precertificate needs its issuer".into()))?;
        let issuer_cert = parse(issuer)?;
        if has_eku(&issuer_cert, &PRECERT_SIGNING_EKU) {
            return Err(CtError::InvalidChain(
                "precertificates from a Precertificate Signing Certificate are not accepted".into(),
            ));
        }
        let entry = SignedEntry::Precert {
            issuer_key_hash: sha256(issuer_cert.tbs_certificate.subject_pki.raw),
            tbs: tbs_without_poison(precert)?,
        };
        self.log_entry(entry, Some(precert), issuers).await
    }

    /// Logs `entry`, stored with its precertificate (precert entries) and the fingerprints of
    /// its chain, `issuers`.
    async fn log_entry(
        &self,
        entry: SignedEntry,
        precert: Option<&[u8]>,
        issuers: &[Vec<u8>],
    ) -> Result<Logged, CtError> {
        let timestamp_ms = now_ms();
        let leaf = merkle_tree_leaf(timestamp_ms, &entry, &[]);
        // The SCT signs exactly the MerkleTreeLeaf bytes (see rfc6962::merkle_tree_leaf).
        let signature = self
            .key
            .digitally_sign(&leaf)
            .map_err(|e| LogError::Sign(e.to_string()))?;
        // Issuers first, so every fingerprint an entry names is served once it is visible.
        let fingerprints: Vec<Hash> = issuers.iter().map(|d| sha256(d)).collect();
        let new: Vec<(Hash, Vec<u8>)> = {
            let known = self.known_issuers()?;
            fingerprints
                .iter()
                .zip(issuers)
                .filter(|(fp, _)| !known.contains_key(*fp))
                .map(|(fp, d)| (*fp, d.clone()))
                .collect()
        };
        if !new.is_empty() {
            self.log
                .store()
                .put_issuers(&new)
                .await
                .map_err(LogError::from)?;
            self.known_issuers()?
                .extend(new.into_iter().map(|(fp, d)| (fp, d.into())));
        }
        let sequenced = self
            .log
            .submit(PendingEntry {
                leaf_input: leaf,
                extra: stored_chain::encode(precert, &fingerprints),
                timestamp_ms,
            })
            .await?;
        Ok(Logged {
            sct: rfc6962::Sct {
                log_id: *self.key.log_id(),
                timestamp_ms,
                extensions: Vec::new(),
                signature,
            },
            index: sequenced.index,
        })
    }

    /// The latest durable tree head.
    pub async fn head(&self) -> Result<TreeHead, LogError> {
        self.log.head().await
    }

    /// The issuer certificate with this SHA-256 fingerprint.
    pub async fn issuer(&self, fingerprint: &Hash) -> Result<Option<Vec<u8>>, LogError> {
        self.load_issuers(std::iter::once(*fingerprint)).await?;
        Ok(self.known_issuers()?.get(fingerprint).map(|d| d.to_vec()))
    }

    /// Entries `[start, end)` of the durable log, as RFC 6962 serves them.
    pub async fn entries(&self, start: u64, end: u64) -> Result<Vec<Entry>, LogError> {
        let stored = self.log.entries(start, end).await?;
        let parsed = stored
            .iter()
            .map(|e| ParsedEntry::parse(&e.leaf_input, &e.extra).ok_or_else(|| not_ct(e.index)))
            .collect::<Result<Vec<_>, _>>()?;
        self.load_issuers(parsed.iter().flat_map(|e| e.fingerprints()))
            .await?;
        let extra_data = {
            let known = self.known_issuers()?;
            stored
                .iter()
                .zip(&parsed)
                .map(|(stored, parsed)| {
                    parsed
                        .extra_data(|fp| known.get(fp).map(|d| &d[..]))
                        .ok_or_else(|| {
                            corrupt(format!(
                                "entry {} names an issuer that is not stored",
                                stored.index
                            ))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(stored
            .into_iter()
            .zip(extra_data)
            .map(|(stored, extra_data)| Entry {
                leaf_input: stored.leaf_input,
                extra_data,
            })
            .collect())
    }

    /// Reads the issuers among `fingerprints` that this process does not hold yet from the
    /// store: entries written by another replica, or before this process started, name them.
    async fn load_issuers(&self, fingerprints: impl Iterator<Item = Hash>) -> Result<(), LogError> {
        let mut missing: Vec<Hash> = {
            let known = self.known_issuers()?;
            fingerprints.filter(|fp| !known.contains_key(fp)).collect()
        };
        missing.sort_unstable();
        missing.dedup();
        for fingerprint in missing {
            if let Some(der) = self.log.store().issuer(&fingerprint).await? {
                self.known_issuers()?.insert(fingerprint, der.into());
            }
        }
        Ok(())
    }

    fn known_issuers(&self) -> Result<std::sync::MutexGuard<'_, Issuers>, LogError> {
        self.issuers
            .lock()
            .map_err(|_| LogError::Unavailable("issuer cache poisoned".into()))
    }

    /// A static-ct-api data tile: the `TileLeaf`s of entries `[256·index, 256·index + width)`.
    pub async fn data_tile(
        &self,
        index: u64,
        width: Option<usize>,
    ) -> Result<Option<Vec<u8>>, LogError> {
        let width = width.unwrap_or(crate::tile::WIDTH as usize) as u64;
        let start = index * crate::tile::WIDTH;
        if self.head().await?.size < start + width {
            return Ok(None);
        }
        let entries = self.log.entries(start, start + width).await?;
        let mut out = Vec::new();
        for e in &entries {
            let entry =
                ParsedEntry::parse(&e.leaf_input, &e.extra).ok_or_else(|| not_ct(e.index))?;
            out.extend_from_slice(&entry.tile_leaf());
        }
        Ok(Some(out))
    }
}

fn not_ct(index: u64) -> LogError {
    corrupt(format!("entry {index} is not a CT entry"))
}

fn corrupt(message: String) -> LogError {
    LogError::Store(StoreError::Corrupt(message))
}

fn parse(der: &[u8]) -> Result<x509_parser::certificate::X509Certificate<'_>, CtError> {
    x509_parser::certificate::X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| CtError::InvalidChain(format!("cannot parse certificate: {e}")))
}

/// Whether the certificate carries the poison, which must then be critical.
fn has_poison(der: &[u8]) -> Result<bool, CtError> {
    let cert = parse(der)?;
    let poisons: Vec<_> = cert
        .extensions()
        .iter()
        .filter(|e| e.oid.as_bytes() == POISON_OID.as_bytes())
        .collect();
    match poisons.as_slice() {
        [] => Ok(false),
        [p] if p.critical && p.value == [0x05, 0x00] => Ok(true),
        [_] => Err(CtError::InvalidChain(
            "the poison extension must be critical and NULL".into(),
        )),
        _ => Err(CtError::InvalidChain(
            "more than one poison extension".into(),
        )),
    }
}

fn has_eku(cert: &x509_parser::certificate::X509Certificate<'_>, oid: &ObjectIdentifier) -> bool {
    cert.extended_key_usage().ok().flatten().is_some_and(|eku| {
        eku.value
            .other
            .iter()
            .any(|o| o.as_bytes() == oid.as_bytes())
    })
}

/// The precertificate's TBSCertificate with the poison extension removed and every other byte
/// kept (RFC 6962 §3.2).
pub fn tbs_without_poison(precert: &[u8]) -> Result<Vec<u8>, CtError> {
    Ok(take_extension(precert, POISON_OID)?.tbs)
}

/// A certificate's TBSCertificate split at one extension: the TBS without it, as an SCT signs
/// it, and the extension's value.
#[derive(Debug)]
pub struct TakenExtension {
    /// The TBSCertificate with every other byte kept, re-encoded by the `der` crate.
    pub tbs: Vec<u8>,
    /// The contents of the extension's OCTET STRING.
    pub value: Vec<u8>,
}

/// Why a certificate could not be split at an extension. The log reports it as an invalid
/// chain; a verifier reports it as it is.
#[derive(Debug, thiserror::Error)]
#[error("certificate: {0}")]
pub struct MalformedCertificate(String);

impl From<MalformedCertificate> for CtError {
    fn from(e: MalformedCertificate) -> CtError {
        CtError::InvalidChain(e.to_string())
    }
}

/// Takes the one extension `oid` out of a certificate's TBSCertificate: the poison of a
/// precertificate, or the SCT list of a final certificate (whose TBS without it is then what
/// its SCT signed). One decode serves both, so a verifier does not parse the certificate again
/// to read the SCT list.
pub fn take_extension(
    cert: &[u8],
    oid: ObjectIdentifier,
) -> Result<TakenExtension, MalformedCertificate> {
    let bad = |what: &str| MalformedCertificate(what.to_owned());
    let cert_der = x509_cert::Certificate::from_der(cert).map_err(|e| bad(&e.to_string()))?;
    let mut tbs = cert_der.tbs_certificate;
    // A DER decoder that re-encodes a different TBS would make the SCT cover other bytes than
    // the certificate; refuse such input instead.
    let original = tbs.to_der().map_err(|e| bad(&e.to_string()))?;
    if !contains(cert, &original) {
        return Err(bad("its TBSCertificate is not in canonical DER"));
    }
    let extensions = tbs
        .extensions
        .as_mut()
        .ok_or_else(|| bad("no extensions"))?;
    let mut matching = (0..extensions.len()).filter(|&i| extensions[i].extn_id == oid);
    let (Some(position), None) = (matching.next(), matching.next()) else {
        return Err(bad(&format!("exactly one {oid} extension is required")));
    };
    let value = extensions.remove(position).extn_value.into_bytes();
    if extensions.is_empty() {
        tbs.extensions = None;
    }
    let tbs = tbs.to_der().map_err(|e| bad(&e.to_string()))?;
    Ok(TakenExtension { tbs, value })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::ExtendedKeyUsage;
    use openssl::x509::{X509Builder, X509Extension, X509NameBuilder};

    /// A self-signed P-256 certificate with an EKU extension listing `ekus` after codeSigning,
    /// then `poisons` poison extensions.
    fn certificate(ekus: &[&str], poisons: usize) -> Vec<u8> {
        let key = PKey::from_ec_key(
            EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
        )
        .unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "test").unwrap();
        let name = name.build();
        let mut builder = X509Builder::new().unwrap();
        builder.set_version(2).unwrap();
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(&name).unwrap();
        builder.set_pubkey(&key).unwrap();
        builder
            .set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        let mut eku = ExtendedKeyUsage::new();
        eku.code_signing();
        for oid in ekus {
            eku.other(oid);
        }
        builder.append_extension(eku.build().unwrap()).unwrap();
        for _ in 0..poisons {
            let oid = Asn1Object::from_str(&POISON_OID.to_string()).unwrap();
            let null = Asn1OctetString::new_from_bytes(&[0x05, 0x00]).unwrap();
            builder
                .append_extension(X509Extension::new_from_der(&oid, true, &null).unwrap())
                .unwrap();
        }
        builder.sign(&key, MessageDigest::sha256()).unwrap();
        builder.build().to_der().unwrap()
    }

    #[test]
    fn the_precertificate_signing_eku_is_found_by_its_oid_among_others() {
        let signing = certificate(&["1.3.6.1.5.5.7.3.1", "1.3.6.1.4.1.11129.2.4.4"], 0);
        let other = certificate(&["1.3.6.1.4.1.11129.2.4.5"], 0);
        assert!(has_eku(&parse(&signing).unwrap(), &PRECERT_SIGNING_EKU));
        assert!(!has_eku(&parse(&other).unwrap(), &PRECERT_SIGNING_EKU));
    }

    #[test]
    fn the_poison_is_found_and_removed_and_nothing_else_is() {
        let precert = certificate(&[], 1);
        assert!(has_poison(&precert).unwrap());
        assert!(!has_poison(&certificate(&[], 0)).unwrap());
        let tbs = tbs_without_poison(&precert).unwrap();
        let tbs = x509_cert::TbsCertificate::from_der(&tbs).unwrap();
        let left: Vec<_> = tbs.extensions.unwrap().iter().map(|e| e.extn_id).collect();
        assert_eq!(
            left,
            [ObjectIdentifier::new_unwrap("2.5.29.37")],
            "only the EKU should be left"
        );
        assert!(tbs_without_poison(&certificate(&[], 0)).is_err());
        // The value comes back too: the poison's is an ASN.1 NULL (RFC 6962 §3.1).
        assert_eq!(
            take_extension(&precert, POISON_OID).unwrap().value,
            [0x05, 0x00]
        );
        // Two of them leave it unclear which one an SCT would have left out.
        assert!(take_extension(&certificate(&[], 2), POISON_OID).is_err());
    }
}
