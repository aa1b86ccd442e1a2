//! The CT log as its clients see it: SCTs verified by independent code (sigstore-python's
//! algorithm in Python `cryptography`, and an inline RFC 9162 verifier), the RFC 6962 API, the
//! Static CT API, detached SCTs, and a log that cannot commit.

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::helpers::*;

fn verify_sha256(spki: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let key = openssl::pkey::PKey::public_key_from_der(spki).unwrap();
    let mut v = openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
    v.verify_oneshot(signature, message).unwrap_or(false)
}

/// Splits a TLS DigitallySigned (SHA-256/ECDSA) into its signature.
fn digitally_signed(ds: &[u8]) -> &[u8] {
    assert_eq!(&ds[..2], &[4, 3], "SHA-256 with ECDSA");
    let len = u16::from_be_bytes([ds[2], ds[3]]) as usize;
    assert_eq!(ds.len(), 4 + len);
    &ds[4..]
}

/// Checks an `AddChainResponse` SCT for an x509 entry over `cert` (RFC 6962 §3.2).
fn assert_x509_sct(sct: &Value, cert: &[u8], log_spki: &[u8]) {
    assert_eq!(sct["sct_version"], 0);
    assert_eq!(sct["id"], STANDARD.encode(openssl::sha::sha256(log_spki)));
    assert_eq!(sct["extensions"], "");
    let mut signed = vec![0u8, 0];
    signed.extend_from_slice(&sct["timestamp"].as_u64().unwrap().to_be_bytes());
    signed.extend_from_slice(&[0, 0]);
    signed.extend_from_slice(&(cert.len() as u32).to_be_bytes()[1..]);
    signed.extend_from_slice(cert);
    signed.extend_from_slice(&[0, 0]);
    let ds = STANDARD.decode(sct["signature"].as_str().unwrap()).unwrap();
    assert!(
        verify_sha256(log_spki, &signed, digitally_signed(&ds)),
        "the SCT verifies"
    );
}

/// An STH from get-sth, with its signature checked against the log key.
struct Sth {
    size: u64,
    timestamp: u64,
    root: Hash,
}

async fn get_sth(app: &TestApp) -> Sth {
    let sth = app.get("/ct/v1/get-sth").await.json();
    let size = sth["tree_size"].as_u64().unwrap();
    let timestamp = sth["timestamp"].as_u64().unwrap();
    let root = b64hash(&sth["sha256_root_hash"]);
    let mut input = vec![0u8, 1];
    input.extend_from_slice(&timestamp.to_be_bytes());
    input.extend_from_slice(&size.to_be_bytes());
    input.extend_from_slice(&root);
    let signature = STANDARD
        .decode(sth["tree_head_signature"].as_str().unwrap())
        .unwrap();
    assert!(
        verify_sha256(&app.ct_log_spki, &input, digitally_signed(&signature)),
        "STH signature"
    );
    Sth {
        size,
        timestamp,
        root,
    }
}

async fn issue(app: &TestApp, email: &str) -> Vec<String> {
    let token = app.issuer.token(
        "email",
        json!({"sub": email, "email": email, "email_verified": true}),
    );
    chain_of(&app.sign_csr(&token, &csr(&p256())).await)
}

/// The MerkleTreeLeaf of an issued certificate, rebuilt from the certificate itself: the bytes
/// its SCT signed.
fn leaf_of(chain: &[String], log_spki: &[u8]) -> Vec<u8> {
    verify_embedded_sct(chain, log_spki).1
}

#[tokio::test]
async fn embedded_sct_verifies_as_sigstore_python_does_and_its_entry_is_included() {
    let app = TestApp::spawn().await;
    let chain = issue(&app, "a@example.com").await;

    // sigstore-python's own algorithm, with Python `cryptography`.
    match python_with_cryptography() {
        Some(python) => {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("leaf.pem"), &chain[0]).unwrap();
            std::fs::write(dir.path().join("issuer.pem"), &chain[1]).unwrap();
            let out = Command::new(python)
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/scripts/verify_sct.py"
                ))
                .arg(dir.path().join("leaf.pem"))
                .arg(dir.path().join("issuer.pem"))
                .arg(STANDARD.encode(&app.ct_log_spki))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // A different log key does not verify it.
            let other = openssl::pkey::PKey::from_ec_key(
                openssl::ec::EcKey::generate(
                    &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                        .unwrap(),
                )
                .unwrap(),
            )
            .unwrap();
            let out = Command::new(python)
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/scripts/verify_sct.py"
                ))
                .arg(dir.path().join("leaf.pem"))
                .arg(dir.path().join("issuer.pem"))
                .arg(STANDARD.encode(other.public_key_to_der().unwrap()))
                .output()
                .unwrap();
            assert!(!out.status.success());
        }
        None => eprintln!(
            "notice: python3 with `cryptography` not found; skipping the Python SCT check"
        ),
    }

    // get-proof-by-hash + get-sth prove its inclusion.
    let leaf_hash = sha256(&[&[0], &leaf_of(&chain, &app.ct_log_spki)]);
    let sth = get_sth(&app).await;
    let proof = app
        .get(&format!(
            "/ct/v1/get-proof-by-hash?hash={}&tree_size={}",
            urlencode(&STANDARD.encode(leaf_hash)),
            sth.size
        ))
        .await
        .json();
    let index = proof["leaf_index"].as_u64().unwrap();
    assert!(inclusion_ok(
        index,
        sth.size,
        leaf_hash,
        &hashes(&proof["audit_path"]),
        &sth.root
    ));
}

/// `python3` if it can import `cryptography`; under CI=true its absence fails the run.
pub fn python_with_cryptography() -> Option<&'static str> {
    let ok = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but python3 cannot import cryptography");
    }
    ok.then_some("python3")
}

#[tokio::test]
async fn an_rfc6962_monitor_reads_every_entry_and_agrees_with_every_sth() {
    let app = TestApp::spawn().await;
    let mut sths = vec![get_sth(&app).await];
    let mut issued = Vec::new();
    for round in 0..4 {
        for i in 0..3 {
            issued.push(issue(&app, &format!("m{round}-{i}@example.com")).await);
        }
        sths.push(get_sth(&app).await);
    }
    let last = sths.last().unwrap();
    assert_eq!(last.size, 12);
    for pair in sths.windows(2) {
        assert!(
            pair[1].timestamp >= pair[0].timestamp,
            "STH timestamps never go back"
        );
    }

    // Read the whole log from 0 as certspotter does: `end = start + 999`, past the tree.
    let page = app
        .get(&format!("/ct/v1/get-entries?start=0&end={}", 999))
        .await;
    assert_eq!(
        page.status, 200,
        "an end past the tree is clamped, not refused"
    );
    let entries = page.json()["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len() as u64, last.size);
    let mut leaf_hashes = Vec::new();
    for e in &entries {
        let leaf = STANDARD.decode(e["leaf_input"].as_str().unwrap()).unwrap();
        assert_eq!(&leaf[..2], &[0, 0], "v1 timestamped_entry");
        assert_eq!(&leaf[10..12], &[0, 1], "precert entries");
        let extra = STANDARD.decode(e["extra_data"].as_str().unwrap()).unwrap();
        // PrecertChainEntry: the precertificate with the poison, then [intermediate, root].
        let len = u32::from_be_bytes([0, extra[0], extra[1], extra[2]]) as usize;
        let precert = openssl::x509::X509::from_der(&extra[3..3 + len]).unwrap();
        let text = String::from_utf8(precert.to_text().unwrap()).unwrap();
        assert!(
            text.contains("CT Precertificate Poison: critical"),
            "{text}"
        );
        // The log stores the chain by fingerprint and must serve the certificates themselves.
        let chain: Vec<Vec<u8>> = issued[0][1..]
            .iter()
            .map(|pem| {
                openssl::x509::X509::from_pem(pem.as_bytes())
                    .unwrap()
                    .to_der()
                    .unwrap()
            })
            .collect();
        let u24 = |n: usize| (n as u32).to_be_bytes()[1..].to_vec();
        let list: Vec<u8> = chain
            .iter()
            .flat_map(|c| [u24(c.len()), c.clone()].concat())
            .collect();
        assert_eq!(
            extra[3 + len..],
            [u24(list.len()), list].concat(),
            "the chain after the precertificate: [intermediate, root]"
        );
        leaf_hashes.push(sha256(&[&[0], &leaf]));
    }
    // Every STH agrees with the entries, and each is consistent with the next.
    for sth in &sths {
        assert_eq!(
            mth(&leaf_hashes[..sth.size as usize]),
            sth.root,
            "STH of size {}",
            sth.size
        );
    }
    for pair in sths.windows(2) {
        let proof = app
            .get(&format!(
                "/ct/v1/get-sth-consistency?first={}&second={}",
                pair[0].size, pair[1].size
            ))
            .await
            .json();
        assert!(consistency_ok(
            pair[0].size,
            pair[1].size,
            &hashes(&proof["consistency"]),
            &pair[0].root,
            &pair[1].root
        ));
    }
    // Each issued certificate is one of the entries.
    for chain in &issued {
        let leaf = leaf_of(chain, &app.ct_log_spki);
        assert!(leaf_hashes.contains(&sha256(&[&[0], &leaf])));
    }
    // get-entry-and-proof agrees too.
    let e = app
        .get(&format!(
            "/ct/v1/get-entry-and-proof?leaf_index=5&tree_size={}",
            last.size
        ))
        .await
        .json();
    let leaf = STANDARD.decode(e["leaf_input"].as_str().unwrap()).unwrap();
    assert!(inclusion_ok(
        5,
        last.size,
        sha256(&[&[0], &leaf]),
        &hashes(&e["audit_path"]),
        &last.root
    ));
}

#[tokio::test]
async fn read_endpoints_clamp_and_refuse_as_rfc6962_clients_expect() {
    let app = TestApp::spawn().await;
    for i in 0..3 {
        issue(&app, &format!("r{i}@example.com")).await;
    }
    let size = get_sth(&app).await.size;
    assert_eq!(size, 3);
    let page = app.get("/ct/v1/get-entries?start=1&end=5000").await.json();
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    app.get("/ct/v1/get-entries?start=3&end=10")
        .await
        .assert_refused(400, "below the tree size");
    app.get("/ct/v1/get-entries?start=2&end=1")
        .await
        .assert_refused(400, "greater than end");
    app.get("/ct/v1/get-entries?start=x&end=1")
        .await
        .assert_refused(400, "query");
    for (first, second) in [(0, 3), (3, 3), (2, 2)] {
        let proof = app
            .get(&format!(
                "/ct/v1/get-sth-consistency?first={first}&second={second}"
            ))
            .await;
        assert_eq!(proof.status, 200);
        assert_eq!(
            proof.json()["consistency"],
            json!([]),
            "an empty proof is [], not null"
        );
    }
    app.get("/ct/v1/get-sth-consistency?first=1&second=4")
        .await
        .assert_refused(400, "second");
    app.get("/ct/v1/get-sth-consistency?first=3&second=2")
        .await
        .assert_refused(400, "first");
    let unknown = urlencode(&STANDARD.encode([7u8; 32]));
    app.get(&format!(
        "/ct/v1/get-proof-by-hash?hash={unknown}&tree_size=3"
    ))
    .await
    .assert_refused(404, "no entry");
    app.get("/ct/v1/get-proof-by-hash?hash=%%%&tree_size=3")
        .await
        .assert_refused(400, "");
    app.get(&format!(
        "/ct/v1/get-proof-by-hash?hash={}&tree_size=3",
        urlencode(&STANDARD.encode([1u8; 5]))
    ))
    .await
    .assert_refused(400, "32-byte");
    app.get("/ct/v1/get-entry-and-proof?leaf_index=3&tree_size=3")
        .await
        .assert_refused(400, "index");

    let roots = app.get("/ct/v1/get-roots").await.json();
    let bundle = app.get("/api/v2/trustBundle").await.json();
    let ca_root = openssl::x509::X509::from_pem(
        bundle["chains"][0]["certificates"][1]
            .as_str()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        roots["certificates"],
        json!([STANDARD.encode(ca_root.to_der().unwrap())])
    );
}

#[tokio::test]
async fn add_chain_and_add_pre_chain_accept_valid_chains_and_refuse_the_rest() {
    let app = TestApp::spawn().await;
    let chain = issue(&app, "s@example.com").await;
    let der = |pem: &str| {
        openssl::x509::X509::from_pem(pem.as_bytes())
            .unwrap()
            .to_der()
            .unwrap()
    };
    let b64 = |d: &[u8]| STANDARD.encode(d);
    let (leaf, intermediate, root) = (der(&chain[0]), der(&chain[1]), der(&chain[2]));

    // add-chain of the final certificate, with and without the root: an x509 SCT over it.
    for body in [
        json!({"chain": [b64(&leaf), b64(&intermediate)]}),
        json!({"chain": [b64(&leaf), b64(&intermediate), b64(&root)]}),
    ] {
        let sct = app.post_json("/ct/v1/add-chain", &body, None).await;
        assert_eq!(sct.status, 200, "{}", sct.text);
        assert_x509_sct(&sct.json(), &leaf, &app.ct_log_spki);
    }
    // The precertificate of an issued certificate, as the log stored it.
    let size = get_sth(&app).await.size;
    let entries = app
        .get(&format!("/ct/v1/get-entries?start=0&end={size}"))
        .await
        .json();
    let extra = STANDARD
        .decode(entries["entries"][0]["extra_data"].as_str().unwrap())
        .unwrap();
    let len = u32::from_be_bytes([0, extra[0], extra[1], extra[2]]) as usize;
    let precert = extra[3..3 + len].to_vec();
    assert_eq!(
        app.post_json(
            "/ct/v1/add-pre-chain",
            &json!({"chain": [b64(&precert), b64(&intermediate)]}),
            None
        )
        .await
        .status,
        200
    );

    let foreign = self_signed(&p256(), "someone else", false)
        .to_der()
        .unwrap();
    let cases = [
        (
            "/ct/v1/add-pre-chain",
            json!({"chain": [b64(&leaf), b64(&intermediate)]}),
            "lacks the critical poison",
        ),
        (
            "/ct/v1/add-chain",
            json!({"chain": [b64(&precert), b64(&intermediate)]}),
            "has the precertificate poison",
        ),
        (
            "/ct/v1/add-chain",
            json!({"chain": [b64(&foreign)]}),
            "root",
        ),
        (
            "/ct/v1/add-chain",
            json!({"chain": [b64(&leaf), b64(&root)]}),
            "not signed by",
        ),
        ("/ct/v1/add-chain", json!({"chain": []}), "1 to 10"),
        ("/ct/v1/add-chain", json!({"chain": ["@@@"]}), "base64"),
        (
            "/ct/v1/add-chain",
            json!({"chain": [b64(b"not der")]}),
            "not DER",
        ),
        ("/ct/v1/add-chain", json!({"certs": []}), "JSON"),
    ];
    for (path, body, needle) in cases {
        app.post_json(path, &body, None)
            .await
            .assert_refused(400, needle);
    }
}

#[tokio::test]
async fn static_ct_api_serves_checkpoint_tiles_data_tiles_and_issuers() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        issue(&app, &format!("t{i}@example.com")).await;
    }
    let sth = get_sth(&app).await;
    let log_id = openssl::sha::sha256(&app.ct_log_spki);

    // The checkpoint: origin, size, root, and a type-0x05 signature equal to the STH's.
    let cp = app.get("/ct/static/checkpoint").await;
    assert_eq!(cp.headers["content-type"], "text/plain; charset=utf-8");
    let (body, sig_line) = cp.text.split_once("\n\n").unwrap();
    let lines: Vec<&str> = body.split('\n').collect();
    let origin = lines[0];
    assert!(
        origin.ends_with("/ct") && origin.starts_with("127.0.0.1:"),
        "{origin}"
    );
    assert_eq!(lines[1], sth.size.to_string());
    assert_eq!(lines[2], STANDARD.encode(sth.root));
    let rest = sig_line
        .strip_prefix(&format!("\u{2014} {origin} "))
        .unwrap()
        .trim_end();
    let blob = STANDARD.decode(rest).unwrap();
    let key_id = sha256(&[origin.as_bytes(), b"\n", &[0x05], &log_id]);
    assert_eq!(&blob[..4], &key_id[..4], "static-ct-api key ID");
    assert_eq!(&blob[4..12], &sth.timestamp.to_be_bytes());
    let mut input = vec![0u8, 1];
    input.extend_from_slice(&sth.timestamp.to_be_bytes());
    input.extend_from_slice(&sth.size.to_be_bytes());
    input.extend_from_slice(&sth.root);
    assert!(verify_sha256(
        &app.ct_log_spki,
        &input,
        digitally_signed(&blob[12..])
    ));

    // The level-0 partial tile holds the leaf hashes; the data tile holds the leaves.
    let tile = app
        .get(&format!("/ct/static/tile/0/000.p/{}", sth.size))
        .await;
    assert_eq!(tile.status, 200);
    let data = app
        .client
        .get(format!(
            "{}/ct/static/tile/data/000.p/{}",
            app.address, sth.size
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(data.headers()["cache-control"], "public, max-age=60");
    let data = data.bytes().await.unwrap();
    let tile_hashes = app
        .client
        .get(format!(
            "{}/ct/static/tile/0/000.p/{}",
            app.address, sth.size
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(tile_hashes.len() as u64, 32 * sth.size);
    let leaf_hashes: Vec<Hash> = tile_hashes
        .chunks(32)
        .map(|c| c.try_into().unwrap())
        .collect();
    assert_eq!(mth(&leaf_hashes), sth.root);
    // TileLeaf: timestamp(8) type(2) issuer_key_hash(32) u24 tbs u16 ext u24 precert u16 fingerprints
    let mut at = 0usize;
    let mut fingerprints = Vec::new();
    for expected in &leaf_hashes {
        let start = at;
        let u24 = |b: &[u8]| u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize;
        at += 8 + 2 + 32;
        at += 3 + u24(&data[at..]);
        at += 2 + u16::from_be_bytes([data[at], data[at + 1]]) as usize;
        let entry_end = at;
        at += 3 + u24(&data[at..]);
        let fp_len = u16::from_be_bytes([data[at], data[at + 1]]) as usize;
        fingerprints.extend(data[at + 2..at + 2 + fp_len].chunks(32).map(|c| c.to_vec()));
        at += 2 + fp_len;
        assert_eq!(
            sha256(&[&[0, 0, 0], &data[start..entry_end]]),
            *expected,
            "TileLeaf hashes to the tile's hash"
        );
    }
    assert_eq!(at, data.len());
    for fp in fingerprints {
        let hex: String = fp.iter().map(|b| format!("{b:02x}")).collect();
        let issuer = app
            .client
            .get(format!("{}/ct/static/issuer/{hex}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(issuer.headers()["content-type"], "application/pkix-cert");
        assert_eq!(sha256(&[&issuer.bytes().await.unwrap()]).to_vec(), fp);
    }
    // Tiles beyond the tree do not exist yet; non-canonical paths never do.
    app.get("/ct/static/tile/0/000")
        .await
        .assert_refused(404, "tile");
    app.get(&format!("/ct/static/tile/0/000.p/{}", sth.size + 1))
        .await
        .assert_refused(404, "tile");
    app.get("/ct/static/tile/0/x000/000")
        .await
        .assert_refused(404, "tile");
    app.get(&format!("/ct/static/issuer/{}", "0".repeat(64)))
        .await
        .assert_refused(404, "issuer");
}

#[tokio::test]
async fn detached_mode_returns_the_sct_beside_the_certificate() {
    let app = TestApp::spawn_with(|c| c.ct_log.sct = sigil::config::SctMode::Detached).await;
    let token = app.issuer.token(
        "email",
        json!({"sub": "d", "email": "d@example.com", "email_verified": true}),
    );
    let answer = app.sign_csr(&token, &csr(&p256())).await.json();
    let holder = &answer["signedCertificateDetachedSct"];
    let leaf_pem = holder["chain"]["certificates"][0].as_str().unwrap();
    let leaf = openssl::x509::X509::from_pem(leaf_pem.as_bytes()).unwrap();
    let text = String::from_utf8(leaf.to_text().unwrap()).unwrap();
    assert!(
        !text.contains("CT Precertificate SCTs"),
        "no embedded SCT in detached mode"
    );
    let sct: Value = serde_json::from_slice(
        &STANDARD
            .decode(holder["signedCertificateTimestamp"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_x509_sct(&sct, &leaf.to_der().unwrap(), &app.ct_log_spki);
    // The legacy API carries it in the SCT header.
    let v1 = app
        .post_json(
            "/api/v1/signingCert",
            &json!({"certificateSigningRequest": STANDARD.encode(csr(&p256()))}),
            Some(&token),
        )
        .await;
    assert_eq!(v1.status, 201);
    let header: Value =
        serde_json::from_slice(&STANDARD.decode(v1.headers["sct"].as_bytes()).unwrap()).unwrap();
    assert_eq!(header["sct_version"], 0);
}

#[tokio::test]
async fn a_log_that_cannot_commit_fails_issuance_with_503_and_no_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("broken.db");
    let url = format!("sqlite://{}", db.display());
    let app = TestApp::spawn_with(|c| c.storage.url = url.clone()).await;
    issue(&app, "before@example.com").await;
    // Break the log's storage under the running server.
    let out = Command::new("sqlite3")
        .arg(&db)
        .arg("DROP TABLE entries;")
        .output()
        .expect("sqlite3 is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = app.issuer.token(
        "email",
        json!({"sub": "x", "email": "after@example.com", "email_verified": true}),
    );
    let answer = app.sign_csr(&token, &csr(&p256())).await;
    answer.assert_refused(503, "could not commit");
    assert_eq!(answer.headers["retry-after"], "5");
    let metrics = app.get("/metrics").await.text;
    assert!(
        metrics.contains(r#"sigil_log_batch_failures_total{log="ct"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"sigil_certificates_issued_total{issuer_type="email"} 1"#),
        "only the first certificate was issued"
    );
}
