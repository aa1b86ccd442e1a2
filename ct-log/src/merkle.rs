//! Merkle proofs: generation (RFC 6962 §2.1.1–2.1.2), verification (RFC 9162 §2.1.3–2.1.4),
//! and the compact range that the sequencer extends.
//!
//! No HTTP, no database. Generation is split in two so that storage stays out of this file: a
//! *plan* lists the leaf ranges whose Merkle tree hashes make up a proof, [`perfect_nodes`]
//! says which stored nodes those ranges need, and [`hash_range`] combines fetched nodes.

use std::collections::HashMap;

use crate::rfc6962::{Hash, empty_root, node_hash};

/// A perfect subtree: level `level` (0 = leaves), covering leaves
/// `[index << level, (index + 1) << level)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves.
    pub level: u8,
    /// Position among the nodes of that level.
    pub index: u64,
}

/// The largest power of two strictly smaller than `n` (RFC 6962's k); `n` must be at least 2.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The leaf ranges whose hashes form the inclusion proof of leaf `index` in a tree of `size`,
/// in proof order (RFC 6962 §2.1.1 PATH). `index < size` is the caller's check.
pub fn inclusion_plan(index: u64, size: u64) -> Vec<(u64, u64)> {
    fn path(m: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
        let n = hi - lo;
        if n <= 1 {
            return;
        }
        let k = split_point(n);
        if m < lo + k {
            path(m, lo, lo + k, out);
            out.push((lo + k, hi));
        } else {
            path(m, lo + k, hi, out);
            out.push((lo, lo + k));
        }
    }
    let mut out = Vec::new();
    path(index, 0, size, &mut out);
    out
}

/// The leaf ranges whose hashes form the consistency proof from `first` to `second`
/// (RFC 6962 §2.1.2 PROOF). Empty when `first` is 0 or equals `second`.
pub fn consistency_plan(first: u64, second: u64) -> Vec<(u64, u64)> {
    fn subproof(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<(u64, u64)>) {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push((lo, hi));
            }
            return;
        }
        let k = split_point(n);
        if m <= k {
            subproof(m, lo, lo + k, whole, out);
            out.push((lo + k, hi));
        } else {
            subproof(m - k, lo + k, hi, false, out);
            out.push((lo, lo + k));
        }
    }
    let mut out = Vec::new();
    if first > 0 && first < second {
        subproof(first, 0, second, true, &mut out);
    }
    out
}

/// The perfect subtrees that make up leaves `[start, end)`, left to right: the greedy split
/// into the largest aligned power-of-two blocks, which is how RFC 6962's MTH recursion splits
/// every range that a proof plan produces.
pub fn perfect_nodes(start: u64, end: u64) -> Vec<NodeId> {
    let mut nodes = Vec::new();
    let mut at = start;
    while at < end {
        let mut level = if at == 0 { 63 } else { at.trailing_zeros() };
        while level > 0 && (1u64 << level) > end - at {
            level -= 1;
        }
        nodes.push(NodeId {
            level: level as u8,
            index: at >> level,
        });
        at += 1 << level;
    }
    nodes
}

/// MTH of leaves `[start, end)` from the hashes of its perfect subtrees.
pub fn hash_range(start: u64, end: u64, nodes: &HashMap<NodeId, Hash>) -> Result<Hash, NodeId> {
    if start == end {
        return Ok(empty_root());
    }
    let parts = perfect_nodes(start, end);
    let mut iter = parts.iter().rev();
    let last = iter
        .next()
        .expect("a non-empty range has at least one node");
    let mut acc = *nodes.get(last).ok_or(*last)?;
    for id in iter {
        acc = node_hash(nodes.get(id).ok_or(*id)?, &acc);
    }
    Ok(acc)
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The index or sizes are out of range.
    #[error("proof parameters out of range: {0}")]
    Range(String),
    /// The proof has the wrong number of hashes.
    #[error("proof has the wrong length")]
    Length,
    /// The recomputed root differs.
    #[error("recomputed root does not match")]
    Mismatch,
}

/// RFC 9162 §2.1.3.2: verifies that `leaf_hash` is leaf `index` of the tree of `size` with
/// `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::Range(format!("index {index} >= size {size}")));
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::Length);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::Length);
    }
    if r != *root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: verifies that the tree of `first` with `first_root` is a prefix of the
/// tree of `second` with `second_root`.
pub fn verify_consistency(
    first: u64,
    second: u64,
    proof: &[Hash],
    first_root: &Hash,
    second_root: &Hash,
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::Range(format!(
            "first {first} > second {second}"
        )));
    }
    if first == second {
        return if !proof.is_empty() {
            Err(ProofError::Length)
        } else if first_root == second_root {
            Ok(())
        } else {
            Err(ProofError::Mismatch)
        };
    }
    if first == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::Length)
        };
    }
    if proof.is_empty() {
        return Err(ProofError::Length);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(ProofError::Length);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::Length);
    }
    if fr != *first_root || sr != *second_root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

/// The right edge of a tree: the perfect subtrees of its binary decomposition, largest first.
/// Appending a leaf and computing the root cost O(log n) hashes and no storage reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    nodes: Vec<Hash>,
}

impl CompactRange {
    /// The nodes a compact range of `size` consists of, largest first.
    pub fn node_ids(size: u64) -> Vec<NodeId> {
        perfect_nodes(0, size)
    }

    /// Rebuilds a compact range from the hashes of [`CompactRange::node_ids`]`(size)`.
    pub fn from_nodes(size: u64, nodes: Vec<Hash>) -> CompactRange {
        debug_assert_eq!(nodes.len(), size.count_ones() as usize);
        CompactRange { size, nodes }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash.
    pub fn append(&mut self, leaf_hash: Hash) {
        let mut h = leaf_hash;
        let mut s = self.size;
        while s & 1 == 1 {
            let left = self.nodes.pop().expect("one node per set bit of size");
            h = node_hash(&left, &h);
            s >>= 1;
        }
        self.nodes.push(h);
        self.size += 1;
    }

    /// The Merkle tree hash.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        match iter.next() {
            None => empty_root(),
            Some(last) => iter.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc6962::leaf_hash;

    /// Every perfect node of a tree, computed the brute-force way.
    fn all_nodes(leaves: &[Hash]) -> HashMap<NodeId, Hash> {
        let mut nodes = HashMap::new();
        let mut level: Vec<Hash> = leaves.to_vec();
        let mut height = 0u8;
        while !level.is_empty() {
            for (i, h) in level.iter().enumerate() {
                nodes.insert(
                    NodeId {
                        level: height,
                        index: i as u64,
                    },
                    *h,
                );
            }
            level = level
                .chunks(2)
                .filter(|c| c.len() == 2)
                .map(|c| node_hash(&c[0], &c[1]))
                .collect();
            height += 1;
        }
        nodes
    }

    /// RFC 6962's MTH by its literal recursive definition.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn prove(plan: &[(u64, u64)], nodes: &HashMap<NodeId, Hash>) -> Vec<Hash> {
        plan.iter()
            .map(|&(a, b)| hash_range(a, b, nodes).unwrap())
            .collect()
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    #[test]
    fn every_proof_up_to_size_1000_verifies_against_the_brute_force_tree() {
        let leaves = leaves(1000);
        let nodes = all_nodes(&leaves);
        let roots: Vec<Hash> = (0..=leaves.len()).map(|n| mth(&leaves[..n])).collect();
        let mut range = CompactRange::default();
        for n in 1..=leaves.len() as u64 {
            range.append(leaves[n as usize - 1]);
            assert_eq!(range.root(), roots[n as usize], "compact root of {n}");
            assert_eq!(hash_range(0, n, &nodes).unwrap(), roots[n as usize]);
            for i in 0..n {
                let proof = prove(&inclusion_plan(i, n), &nodes);
                verify_inclusion(i, n, &leaves[i as usize], &proof, &roots[n as usize]).unwrap();
                // Tampering with any hash breaks it.
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0] = node_hash(first, first);
                    assert!(
                        verify_inclusion(i, n, &leaves[i as usize], &bad, &roots[n as usize])
                            .is_err()
                    );
                }
            }
            for m in 0..=n {
                let proof = prove(&consistency_plan(m, n), &nodes);
                verify_consistency(m, n, &proof, &roots[m as usize], &roots[n as usize]).unwrap();
                if m > 0 && m < n {
                    assert!(
                        verify_consistency(
                            m,
                            n,
                            &proof,
                            &roots[m as usize - 1],
                            &roots[n as usize]
                        )
                        .is_err()
                    );
                    assert!(
                        verify_consistency(
                            m,
                            n,
                            &proof[1..],
                            &roots[m as usize],
                            &roots[n as usize]
                        )
                        .is_err()
                    );
                }
            }
        }
    }

    #[test]
    fn compact_range_rebuilds_from_its_node_ids() {
        let leaves = leaves(1000);
        let nodes = all_nodes(&leaves);
        let mut range = CompactRange::default();
        for (n, leaf) in leaves.iter().enumerate() {
            range.append(*leaf);
            let size = n as u64 + 1;
            let ids = CompactRange::node_ids(size);
            let rebuilt = CompactRange::from_nodes(size, ids.iter().map(|id| nodes[id]).collect());
            assert_eq!(rebuilt, range);
        }
    }

    #[test]
    fn perfect_nodes_are_aligned_and_cover_the_range() {
        assert_eq!(
            perfect_nodes(0, 6),
            vec![NodeId { level: 2, index: 0 }, NodeId { level: 1, index: 2 }]
        );
        assert_eq!(
            perfect_nodes(4, 7),
            vec![NodeId { level: 1, index: 2 }, NodeId { level: 0, index: 6 }]
        );
        assert!(perfect_nodes(3, 3).is_empty());
    }
}
