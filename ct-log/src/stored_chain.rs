//! The `extra` bytes a CT entry is stored with, and the two forms the read paths serve.
//!
//! An entry's chain is stored as the static-ct-api `TileLeaf` carries it: after the
//! `TimestampedEntry` (in the entry's `leaf_input`), the precertificate of a precert entry, then
//! the SHA-256 fingerprints of the chain, whose certificates the issuers table holds once each.
//! Nearly every entry names the same few certificates (every issuance the CA's own chain, about
//! 60% of a P-384 issuance's entry), so they are not stored again per entry. A data tile is then
//! the stored bytes behind the `TimestampedEntry`, and RFC 6962's `get-entries` puts the
//! certificates back.
//!
//! Logs written before stored RFC 6962 `extra_data` itself, the certificates inline, and are
//! read as they are. Both forms end in one length-prefixed list after the optional
//! precertificate, with a 24-bit length in `extra_data` and a 16-bit one here. The two prefixes
//! cannot both match the bytes that follow them (3 + a·2¹⁶ + b·2⁸ + c = 2 + a·2⁸ + b has no
//! solution in bytes), so each entry tells which form it is in, and old logs need no migration.

use crate::rfc6962::{self, Hash, sha256};

/// `LogEntryType` of a precertificate entry (RFC 6962 §3.1).
const PRECERT_ENTRY: u16 = 1;

/// The `extra` to store for an entry: its precertificate, if it is a precert entry, and the
/// fingerprints of its chain (at most `chain::MAX_CHAIN`, far under the 2,047 that a 16-bit
/// length holds).
pub(crate) fn encode(precert: Option<&[u8]>, fingerprints: &[Hash]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(precert.map_or(0, |p| 3 + p.len()) + 2 + 32 * fingerprints.len());
    if let Some(precert) = precert {
        rfc6962::put_prefixed(&mut out, 3, precert);
    }
    rfc6962::put_prefixed(&mut out, 2, fingerprints.concat().as_slice());
    out
}

/// A stored entry, split into the parts both read paths need.
pub(crate) struct ParsedEntry<'a> {
    /// The `TimestampedEntry`: `leaf_input` after its version and leaf type.
    timestamped: &'a [u8],
    /// The stored `extra` as it is.
    extra: &'a [u8],
    /// The precertificate of a precert entry.
    precert: Option<&'a [u8]>,
    chain: Chain<'a>,
}

enum Chain<'a> {
    /// Concatenated 32-byte fingerprints.
    Fingerprints(&'a [u8]),
    /// The contents of RFC 6962's `certificate_chain`: 24-bit-prefixed certificates.
    Certificates(&'a [u8]),
}

impl<'a> ParsedEntry<'a> {
    /// Splits an entry of either form; `None` if it is not a CT entry.
    pub(crate) fn parse(leaf_input: &'a [u8], extra: &'a [u8]) -> Option<Self> {
        let timestamped = leaf_input.get(2..)?;
        let entry_type = u16::from_be_bytes([*timestamped.get(8)?, *timestamped.get(9)?]);
        let (precert, list) = if entry_type == PRECERT_ENTRY {
            let (precert, rest) = rfc6962::take_prefixed(extra, 3)?;
            (Some(precert), rest)
        } else {
            (None, extra)
        };
        let chain = match (
            rfc6962::take_prefixed(list, 2),
            rfc6962::take_prefixed(list, 3),
        ) {
            (Some((fingerprints, [])), _) if fingerprints.len() % 32 == 0 => {
                Chain::Fingerprints(fingerprints)
            }
            (_, Some((certificates, []))) => Chain::Certificates(certificates),
            _ => return None,
        };
        Some(ParsedEntry {
            timestamped,
            extra,
            precert,
            chain,
        })
    }

    /// The chain's fingerprints whose certificates `extra_data` needs; none for an entry that
    /// holds its certificates.
    pub(crate) fn fingerprints(&self) -> impl Iterator<Item = Hash> + '_ {
        let fingerprints = match self.chain {
            Chain::Fingerprints(f) => f,
            Chain::Certificates(_) => &[],
        };
        fingerprints
            .chunks_exact(32)
            .filter_map(|f| Hash::try_from(f).ok())
    }

    /// RFC 6962 `extra_data`, with each fingerprint's certificate from `issuer`; `None` if
    /// `issuer` lacks one.
    pub(crate) fn extra_data<'i>(
        &self,
        issuer: impl Fn(&Hash) -> Option<&'i [u8]>,
    ) -> Option<Vec<u8>> {
        if let Chain::Certificates(_) = self.chain {
            return Some(self.extra.to_vec());
        }
        let chain = self
            .fingerprints()
            .map(|fingerprint| issuer(&fingerprint))
            .collect::<Option<Vec<_>>>()?;
        Some(match self.precert {
            Some(precert) => rfc6962::precert_chain_entry(precert, &chain),
            None => rfc6962::x509_chain_entry(&chain),
        })
    }

    /// The static-ct-api `TileLeaf`.
    pub(crate) fn tile_leaf(&self) -> Vec<u8> {
        let mut out = self.timestamped.to_vec();
        match self.chain {
            Chain::Fingerprints(_) => out.extend_from_slice(self.extra),
            Chain::Certificates(mut list) => {
                if let Some(precert) = self.precert {
                    rfc6962::put_prefixed(&mut out, 3, precert);
                }
                let mut fingerprints = Vec::new();
                while let Some((cert, next)) = rfc6962::take_prefixed(list, 3) {
                    fingerprints.extend_from_slice(&sha256(cert));
                    list = next;
                }
                rfc6962::put_prefixed(&mut out, 2, &fingerprints);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc6962::{SignedEntry, merkle_tree_leaf, precert_chain_entry, x509_chain_entry};

    fn precert_leaf() -> Vec<u8> {
        let entry = SignedEntry::Precert {
            issuer_key_hash: [7; 32],
            tbs: vec![0xaa; 5],
        };
        merkle_tree_leaf(9, &entry, &[])
    }

    /// Both forms of one entry serve the same `extra_data` and the same `TileLeaf`.
    #[test]
    fn both_forms_read_the_same() {
        let chain = [vec![1u8; 300], vec![2u8; 70_000]];
        let fingerprints: Vec<Hash> = chain.iter().map(|c| sha256(c)).collect();
        let issuer = |f: &Hash| {
            let i = fingerprints.iter().position(|x| x == f)?;
            Some(chain[i].as_slice())
        };
        let precert = vec![3u8; 400];
        let x509_leaf = merkle_tree_leaf(9, &SignedEntry::X509(vec![4; 10]), &[]);
        for (leaf, precert, chain) in [
            (precert_leaf(), Some(&precert[..]), &chain[..]),
            (x509_leaf.clone(), None, &chain[..]),
            (x509_leaf, None, &[][..]),
        ] {
            let old = match precert {
                Some(precert) => precert_chain_entry(precert, chain),
                None => x509_chain_entry(chain),
            };
            let new = encode(precert, &fingerprints[..chain.len()]);
            let (new_entry, old_entry) = (
                ParsedEntry::parse(&leaf, &new).unwrap(),
                ParsedEntry::parse(&leaf, &old).unwrap(),
            );
            assert_eq!(new_entry.extra_data(issuer).unwrap(), old);
            assert_eq!(old_entry.extra_data(|_| None).unwrap(), old);
            assert_eq!(new_entry.tile_leaf(), old_entry.tile_leaf());
            assert_eq!(old_entry.fingerprints().count(), 0);
        }
    }

    #[test]
    fn tile_leaf_layout() {
        let new = encode(Some(&[5, 5]), &[[8; 32]]);
        let leaf = precert_leaf();
        let tile_leaf = ParsedEntry::parse(&leaf, &new).unwrap().tile_leaf();
        let mut want = leaf[2..].to_vec();
        want.extend_from_slice(&[0, 0, 2, 5, 5, 0, 32]);
        want.extend_from_slice(&[8; 32]);
        assert_eq!(tile_leaf, want);
    }

    #[test]
    fn refuses_what_is_neither_form() {
        let leaf = precert_leaf();
        for extra in [
            &[][..],
            &[0, 0, 1, 5][..],             // the precertificate and no chain
            &[0, 0, 1, 5, 0, 1, 9][..],    // a fingerprint of one byte
            &[0, 0, 1, 5, 0, 0, 0, 0][..], // a trailing byte
        ] {
            assert!(ParsedEntry::parse(&leaf, extra).is_none(), "{extra:?}");
        }
        assert!(ParsedEntry::parse(&[0, 0, 1], &[0, 0]).is_none());
    }

    #[test]
    fn a_missing_issuer_is_none() {
        let leaf = precert_leaf();
        let new = encode(Some(&[5]), &[[8; 32]]);
        let entry = ParsedEntry::parse(&leaf, &new).unwrap();
        assert_eq!(entry.fingerprints().collect::<Vec<_>>(), vec![[8; 32]]);
        assert!(entry.extra_data(|_| None).is_none());
    }
}
