//! The Rekor-compatible log through its v1 API, checked with independent code: inclusion
//! proofs, checkpoints and SETs verified here, canonicalization across PEM encodings, proofs
//! between any two sizes, and refusals.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;
use serde_json::{Value, json};

use crate::helpers::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A certificate from the app's CA and its key.
async fn certified_key(
    app: &TestApp,
    email: &str,
) -> (openssl::pkey::PKey<openssl::pkey::Private>, String) {
    let key = p256();
    let token = app.issuer.token(
        "email",
        json!({"sub": email, "email": email, "email_verified": true}),
    );
    let chain = chain_of(&app.sign_csr(&token, &csr(&key)).await);
    (key, chain[0].clone())
}

/// Verifies one `{uuid: entry}` answer the way a client does, with the log's public key.
fn verify_entry(answer: &Value, rekor_spki: &[u8]) -> (String, u64) {
    let (uuid, entry) = answer.as_object().unwrap().iter().next().unwrap();
    let body = STANDARD.decode(entry["body"].as_str().unwrap()).unwrap();
    let leaf = sha256(&[&[0], &body]);
    assert_eq!(*uuid, hex(&leaf), "the UUID is the leaf hash");
    let log_id = openssl::sha::sha256(rekor_spki);
    assert_eq!(entry["logID"], hex(&log_id));
    let proof = &entry["verification"]["inclusionProof"];
    let (index, size) = (
        proof["logIndex"].as_u64().unwrap(),
        proof["treeSize"].as_u64().unwrap(),
    );
    assert_eq!(entry["logIndex"], index);
    let root: Hash = unhex(proof["rootHash"].as_str().unwrap())
        .try_into()
        .unwrap();
    let path: Vec<Hash> = proof["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| unhex(h.as_str().unwrap()).try_into().unwrap())
        .collect();
    assert!(
        inclusion_ok(index, size, leaf, &path, &root),
        "inclusion proof"
    );

    // The checkpoint: its root is the proof's, its key hint the log ID's, its signature the log's.
    let note = proof["checkpoint"].as_str().unwrap();
    let (note_body, signature_line) = note.split_once("\n\n").unwrap();
    let lines: Vec<&str> = note_body.split('\n').collect();
    assert_eq!(lines[1], size.to_string());
    assert_eq!(STANDARD.decode(lines[2]).unwrap(), root.to_vec());
    let blob = STANDARD
        .decode(signature_line.trim_end().rsplit(' ').next().unwrap())
        .unwrap();
    assert_eq!(&blob[..4], &log_id[..4], "key hint");
    let key = openssl::pkey::PKey::public_key_from_der(rekor_spki).unwrap();
    let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), &key).unwrap();
    assert!(
        verifier
            .verify_oneshot(&blob[4..], format!("{note_body}\n").as_bytes())
            .unwrap(),
        "checkpoint signature"
    );

    // The SET over the RFC 8785 JSON of body, integratedTime, logID, logIndex (keys sorted,
    // no whitespace: for these values that is exactly what RFC 8785 prescribes).
    let set_payload = format!(
        r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
        entry["body"].as_str().unwrap(),
        entry["integratedTime"].as_u64().unwrap(),
        hex(&log_id),
        index
    );
    let set = STANDARD
        .decode(
            entry["verification"]["signedEntryTimestamp"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), &key).unwrap();
    assert!(
        verifier
            .verify_oneshot(&set, set_payload.as_bytes())
            .unwrap(),
        "SET"
    );
    (uuid.clone(), index)
}

async fn rekor_spki(app: &TestApp) -> Vec<u8> {
    let pem = app.get("/api/v1/log/publicKey").await.text;
    openssl::pkey::PKey::public_key_from_pem(pem.as_bytes())
        .unwrap()
        .public_key_to_der()
        .unwrap()
}

#[tokio::test]
async fn entries_verify_independently_and_crlf_or_lf_pem_is_one_entry() {
    let app = TestApp::spawn().await;
    let spki = rekor_spki(&app).await;
    let (key, cert) = certified_key(&app, "r@example.com").await;
    let lf = hashedrekord(&key, &format!("{cert}\n"), b"artifact one");
    let created = app.post_json("/api/v1/log/entries", &lf, None).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let (uuid, index) = verify_entry(&created.json(), &spki);
    assert_eq!(
        created.headers["location"],
        format!("/api/v1/log/entries/{uuid}")
    );

    // The same entry with CRLF line endings, as sigstore-rust sends it: not a second entry.
    let crlf = hashedrekord(
        &key,
        &format!("{cert}\n").replace('\n', "\r\n"),
        b"artifact one",
    );
    let mut crlf_same_sig = crlf.clone();
    crlf_same_sig["spec"]["signature"]["content"] = lf["spec"]["signature"]["content"].clone();
    let duplicate = app
        .post_json("/api/v1/log/entries", &crlf_same_sig, None)
        .await;
    duplicate.assert_refused(409, "already exists");
    assert_eq!(
        duplicate.headers["location"],
        format!("/api/v1/log/entries/{uuid}")
    );

    // The stored body is canonical: LF PEM, lower-case hex, RFC 8785 key order.
    let entry = app.get(&format!("/api/v1/log/entries/{uuid}")).await.json();
    let body: Value = serde_json::from_slice(
        &STANDARD
            .decode(entry[&uuid]["body"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let pem = String::from_utf8(
        STANDARD
            .decode(
                body["spec"]["signature"]["publicKey"]["content"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    assert!(!pem.contains('\r') && pem.lines().all(|l| l.len() <= 64));
    // By index, by UUID, and through retrieve: the same entry, verifying.
    let by_index = app
        .get(&format!("/api/v1/log/entries?logIndex={index}"))
        .await
        .json();
    assert_eq!(verify_entry(&by_index, &spki).0, uuid);
    let retrieved = app
        .post_json(
            "/api/v1/log/entries/retrieve",
            &json!({"entryUUIDs": [uuid], "logIndexes": [index, 999]}),
            None,
        )
        .await
        .json();
    assert_eq!(
        retrieved.as_array().unwrap().len(),
        2,
        "the unknown index is left out"
    );
    for e in retrieved.as_array().unwrap() {
        verify_entry(e, &spki);
    }
    app.get("/api/v1/log/entries?logIndex=999")
        .await
        .assert_refused(404, "no entry");
    app.get(&format!("/api/v1/log/entries/{}", "ab".repeat(32)))
        .await
        .assert_refused(404, "no entry");
}

#[tokio::test]
async fn the_log_proves_consistency_between_any_two_sizes() {
    let app = TestApp::spawn().await;
    let (key, cert) = certified_key(&app, "p@example.com").await;
    for i in 0..7 {
        let created = app
            .post_json(
                "/api/v1/log/entries",
                &hashedrekord(&key, &cert, format!("artifact {i}").as_bytes()),
                None,
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
    }
    let info = app.get("/api/v1/log").await.json();
    assert_eq!(info["treeSize"], 7);
    assert!(info["signedTreeHead"].as_str().unwrap().contains("\n7\n"));
    let root_of =
        |v: &Value| -> Hash { unhex(v["rootHash"].as_str().unwrap()).try_into().unwrap() };
    let mut roots = vec![];
    for size in 0..=7 {
        roots.push(root_of(
            &app.get(&format!("/api/v1/log/proof?firstSize=0&lastSize={size}"))
                .await
                .json(),
        ));
    }
    assert_eq!(roots[7], root_of(&info));
    for first in 0..=7u64 {
        for second in first..=7u64 {
            let proof = app
                .get(&format!(
                    "/api/v1/log/proof?firstSize={first}&lastSize={second}"
                ))
                .await
                .json();
            let hashes: Vec<Hash> = proof["hashes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| unhex(h.as_str().unwrap()).try_into().unwrap())
                .collect();
            assert!(
                consistency_ok(
                    first,
                    second,
                    &hashes,
                    &roots[first as usize],
                    &roots[second as usize]
                ),
                "{first} -> {second}"
            );
        }
    }
    app.get("/api/v1/log/proof?firstSize=3&lastSize=8")
        .await
        .assert_refused(400, "8");

    // The Rekor log reports the same metrics as the CT log, under its own label.
    let metrics = app.get("/metrics").await.text;
    for needle in [
        r#"sigil_log_entries_appended_total{log="rekor"} 7"#,
        r#"sigil_log_tree_size{log="rekor"} 7"#,
        r#"sigil_log_pool_depth{log="rekor"} 0"#,
        r#"sigil_log_sequencing_seconds_count{log="rekor"}"#,
        r#"sigil_log_batch_size_count{log="rekor"}"#,
    ] {
        assert!(metrics.contains(needle), "missing `{needle}`");
    }
}

#[tokio::test]
async fn entries_that_do_not_verify_or_do_not_chain_are_refused() {
    let app = TestApp::spawn().await;
    let (key, cert) = certified_key(&app, "x@example.com").await;
    let good = hashedrekord(&key, &cert, b"artifact");
    let mut wrong_digest = good.clone();
    wrong_digest["spec"]["data"]["hash"]["value"] = json!(hex(&openssl::sha::sha256(b"other")));
    let other_key = hashedrekord(&p256(), &cert, b"artifact");
    // A certificate from some other CA, self-signed.
    let foreign = {
        let key = p256();
        let pem =
            String::from_utf8(self_signed(&key, "elsewhere", false).to_pem().unwrap()).unwrap();
        hashedrekord(&key, &pem, b"artifact")
    };
    let mut bad_b64 = good.clone();
    bad_b64["spec"]["signature"]["content"] = json!("***");
    let cases = [
        (wrong_digest, "does not verify"),
        (other_key, "does not verify"),
        (foreign, "does not chain"),
        (bad_b64, "base64"),
        (
            json!({"apiVersion": "0.0.1", "kind": "rekord", "spec": {}}),
            "unsupported",
        ),
        (
            json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {"envelope": "{}", "verifiers": []}}}),
            "malformed",
        ),
        (json!([1, 2]), "malformed"),
    ];
    for (body, needle) in cases {
        app.post_json("/api/v1/log/entries", &body, None)
            .await
            .assert_refused(400, needle);
    }
    app.post_raw("/api/v1/log/entries", b"{not json".to_vec(), None)
        .await
        .assert_refused(400, "malformed");
    // Nothing was logged.
    assert_eq!(app.get("/api/v1/log").await.json()["treeSize"], 0);
    assert_eq!(
        app.post_json("/api/v1/log/entries", &good, None)
            .await
            .status,
        201
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submissions_of_one_body_append_it_once() {
    let app = TestApp::spawn().await;
    let (key, cert) = certified_key(&app, "race@example.com").await;
    let entry = hashedrekord(&key, &cert, b"submitted twenty times at once");
    let answers = futures_util::future::join_all(
        (0..20).map(|_| app.post_json("/api/v1/log/entries", &entry, None)),
    )
    .await;
    let created: Vec<_> = answers.iter().filter(|a| a.status == 201).collect();
    assert_eq!(created.len(), 1, "exactly one append");
    let uuid = created[0]
        .json()
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    for duplicate in answers.iter().filter(|a| a.status != 201) {
        duplicate.assert_refused(409, "already exists");
        assert_eq!(
            duplicate.headers["location"],
            format!("/api/v1/log/entries/{uuid}")
        );
    }
    assert_eq!(app.get("/api/v1/log").await.json()["treeSize"], 1);
}
