//! The RFC 6962 reference tree: roots, inclusion and consistency proofs from files.

// Test code: a failed unwrap is a failed assertion.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use serde_json::Value;
use sigil_ctlog::merkle::{self, NodeId};
use sigil_ctlog::rfc6962::{Hash, leaf_hash, node_hash};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hash(v: &Value) -> Hash {
    hex(v.as_str().unwrap()).try_into().unwrap()
}

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/rfc6962_vectors.json")).unwrap()
}

/// Every perfect node of the 8-leaf reference tree.
fn nodes(leaves: &[Hash]) -> HashMap<NodeId, Hash> {
    let mut nodes = HashMap::new();
    let mut level = leaves.to_vec();
    let mut height = 0;
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

#[test]
fn reference_tree_roots_and_proofs() {
    let v = vectors();
    let leaves: Vec<Hash> = v["leaves_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| leaf_hash(&hex(l.as_str().unwrap())))
        .collect();
    let roots: Vec<Hash> = v["roots_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(hash)
        .collect();
    let nodes = nodes(&leaves);
    for (size, root) in roots.iter().enumerate() {
        assert_eq!(
            merkle::hash_range(0, size as u64, &nodes).unwrap(),
            *root,
            "root of {size}"
        );
    }
    for case in v["inclusion"].as_array().unwrap() {
        let (index, size) = (
            case["index"].as_u64().unwrap(),
            case["size"].as_u64().unwrap(),
        );
        let want: Vec<Hash> = case["path"].as_array().unwrap().iter().map(hash).collect();
        let got: Vec<Hash> = merkle::inclusion_plan(index, size)
            .iter()
            .map(|&(a, b)| merkle::hash_range(a, b, &nodes).unwrap())
            .collect();
        assert_eq!(got, want, "inclusion {index} in {size}");
        merkle::verify_inclusion(
            index,
            size,
            &leaves[index as usize],
            &want,
            &roots[size as usize],
        )
        .unwrap();
    }
    for case in v["consistency"].as_array().unwrap() {
        let (first, second) = (
            case["first"].as_u64().unwrap(),
            case["second"].as_u64().unwrap(),
        );
        let want: Vec<Hash> = case["proof"].as_array().unwrap().iter().map(hash).collect();
        let got: Vec<Hash> = merkle::consistency_plan(first, second)
            .iter()
            .map(|&(a, b)| merkle::hash_range(a, b, &nodes).unwrap())
            .collect();
        assert_eq!(got, want, "consistency {first} to {second}");
        merkle::verify_consistency(
            first,
            second,
            &want,
            &roots[first as usize],
            &roots[second as usize],
        )
        .unwrap();
    }
}
