//! Nothing acknowledged is lost: `kill -9` of `sigil serve` in the middle of a burst of
//! issuance, on SQLite and on PostgreSQL; and two processes sharing one PostgreSQL build one
//! tree. Every check uses the independent verifiers of `helpers`, over HTTP only.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::helpers::*;

const SIGIL: &str = env!("CARGO_BIN_EXE_sigil");

/// `sigil serve --dev` with a file CA and a persistent CT key on `storage_url`.
async fn start(keys: &Path, storage_url: &str) -> SigilProcess {
    let path = |name: &str| keys.join(name).display().to_string();
    let env = [
        ("SIGIL_CA__BACKEND", "file".to_owned()),
        ("SIGIL_CA__CHAIN", path("chain.pem")),
        ("SIGIL_CA__KEY", path("intermediate.key.pem")),
        ("SIGIL_CT_LOG__KEY", path("ct-log.key.pem")),
        ("SIGIL_REKOR__KEY", path("rekor.key.pem")),
        // Replicas and restarts share one public identity, hence one checkpoint origin.
        ("SIGIL_REKOR__ORIGIN", "sigil.test".to_owned()),
        ("SIGIL_CT_LOG__ORIGIN", "sigil.test/ct".to_owned()),
        ("SIGIL_STORAGE__URL", storage_url.to_owned()),
        ("SIGIL_LOG__SEQUENCE_INTERVAL", "20ms".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    SigilProcess::start(&["--dev"], &env, keys).await
}

/// Dev-issuer tokens for `workers` identities from the server at `address`, fetched before
/// any timer starts: a slow machine must not see its server killed mid-preparation.
async fn tokens(address: &str, workers: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for w in 0..workers {
        let body = get_json(
            &client,
            &format!("{address}/dev/oidc/token?email=w{w}@example.com"),
        )
        .await
        .unwrap();
        tokens.push(body["id_token"].as_str().unwrap().to_owned());
    }
    tokens
}

/// The tree size and root of the STH at `address`, if it answers.
async fn sth_at(client: &reqwest::Client, address: &str) -> Option<(u64, Hash)> {
    let sth = get_json(client, &format!("{address}/ct/v1/get-sth")).await?;
    Some((
        sth["tree_size"].as_u64()?,
        STANDARD
            .decode(sth["sha256_root_hash"].as_str()?)
            .ok()?
            .try_into()
            .ok()?,
    ))
}

/// Issues certificates from `workers` concurrent clients until `stop`; returns every chain that
/// was acknowledged with a 200.
/// What a burst got acknowledged: certificates (with their SCTs) and Rekor entry UUIDs.
#[derive(Default)]
struct Acknowledged {
    chains: Vec<Vec<String>>,
    rekor_uuids: Vec<String>,
}

/// Issues certificates from `workers` concurrent clients until `stop`, and for every other
/// certificate uploads a signature to the Rekor log, as a signing client does.
async fn burst(server: &SigilProcess, tokens: Vec<String>, stop: Arc<Mutex<bool>>) -> Acknowledged {
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut tasks = Vec::new();
    for (w, token) in tokens.into_iter().enumerate() {
        let (address, acked, stop) = (server.address.clone(), acked.clone(), stop.clone());
        let client = reqwest::Client::new();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !*stop.lock().unwrap() {
                n += 1;
                let key = p256();
                let body = serde_json::json!({"certificateSigningRequest": STANDARD.encode(csr(&key))});
                let Ok(response) = client.post(format!("{address}/api/v2/signingCert")).bearer_auth(&token).json(&body).send().await else { break };
                // Only a complete 200 answer counts as acknowledged.
                let Some(answer) = (if response.status() == 200 { response.json::<Value>().await.ok() } else { None }) else { continue };
                let chain: Vec<String> = answer["signedCertificateEmbeddedSct"]["chain"]["certificates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_owned())
                    .collect();
                let leaf = chain[0].clone();
                acked.lock().unwrap().chains.push(chain);
                if n % 2 == 0 {
                    let artifact = format!("worker {w} artifact {n}");
                    let digest = openssl::sha::sha256(artifact.as_bytes());
                    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
                    let signature = signer.sign_oneshot_to_vec(artifact.as_bytes()).unwrap();
                    let entry = serde_json::json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
                        "data": {"hash": {"algorithm": "sha256", "value": digest.iter().map(|b| format!("{b:02x}")).collect::<String>()}},
                        "signature": {"content": STANDARD.encode(signature), "publicKey": {"content": STANDARD.encode(&leaf)}}}});
                    let Ok(response) = client.post(format!("{address}/api/v1/log/entries")).json(&entry).send().await else { break };
                    if response.status() == 201 {
                        if let Ok(created) = response.json::<Value>().await {
                            let uuid = created.as_object().unwrap().keys().next().unwrap().clone();
                            acked.lock().unwrap().rekor_uuids.push(uuid);
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Arc::try_unwrap(acked).ok().unwrap().into_inner().unwrap()
}

/// The Rekor tree size and root, if the server answers.
async fn rekor_head(client: &reqwest::Client, address: &str) -> Option<(u64, Hash)> {
    let log = get_json(client, &format!("{address}/api/v1/log")).await?;
    Some((
        log["treeSize"].as_u64()?,
        unhex32(log["rootHash"].as_str()?),
    ))
}

/// Proves that every acknowledged Rekor entry is in the tree (its own inclusion proof against
/// the current head) and that the tree is consistent with `before`.
async fn check_rekor_entries_are_logged(
    server: &SigilProcess,
    uuids: &[String],
    before: Option<(u64, Hash)>,
) {
    let client = reqwest::Client::new();
    for uuid in uuids {
        let entry: Value = get_json(
            &client,
            &format!("{}/api/v1/log/entries/{uuid}", server.address),
        )
        .await
        .unwrap();
        let entry = &entry[uuid];
        let body = STANDARD.decode(entry["body"].as_str().unwrap()).unwrap();
        let proof = &entry["verification"]["inclusionProof"];
        let path: Vec<Hash> = proof["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| unhex32(h.as_str().unwrap()))
            .collect();
        assert!(
            inclusion_ok(
                proof["logIndex"].as_u64().unwrap(),
                proof["treeSize"].as_u64().unwrap(),
                sha256(&[&[0], &body]),
                &path,
                &unhex32(proof["rootHash"].as_str().unwrap())
            ),
            "acknowledged Rekor entry {uuid} is not provably in the log"
        );
    }
    if let Some((old_size, old_root)) = before {
        let (size, root) = rekor_head(&client, &server.address).await.unwrap();
        let proof: Value = get_json(
            &client,
            &format!(
                "{}/api/v1/log/proof?firstSize={old_size}&lastSize={size}",
                server.address
            ),
        )
        .await
        .unwrap();
        let path: Vec<Hash> = proof["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| unhex32(h.as_str().unwrap()))
            .collect();
        assert!(
            consistency_ok(old_size, size, &path, &old_root, &root),
            "the Rekor tree after the crash extends the one before"
        );
    }
}

/// Proves that every acknowledged chain's entry is in the server's tree, that the tree is
/// consistent with `before`, and that no leaf appears twice. Returns the tree size.
async fn check_everything_acknowledged_is_logged(
    server: &SigilProcess,
    ct_spki: &[u8],
    acked: &[Vec<String>],
    before: Option<(u64, Hash)>,
) -> u64 {
    let client = reqwest::Client::new();
    let (size, root) = sth_at(&client, &server.address).await.unwrap();
    for chain in acked {
        let leaf = verify_embedded_sct(chain, ct_spki).1;
        let hash = sha256(&[&[0], &leaf]);
        let url = format!(
            "{}/ct/v1/get-proof-by-hash?tree_size={size}&hash={}",
            server.address,
            urlencode(&STANDARD.encode(hash))
        );
        let proof: Value = get_json(&client, &url).await.unwrap();
        let path = hashes(&proof["audit_path"]);
        assert!(
            inclusion_ok(
                proof["leaf_index"].as_u64().unwrap(),
                size,
                hash,
                &path,
                &root
            ),
            "acknowledged entry missing: {proof}"
        );
    }
    if let Some((old_size, old_root)) = before {
        let proof: Value = get_json(
            &client,
            &format!(
                "{}/ct/v1/get-sth-consistency?first={old_size}&second={size}",
                server.address
            ),
        )
        .await
        .unwrap();
        let path = hashes(&proof["consistency"]);
        assert!(
            consistency_ok(old_size, size, &path, &old_root, &root),
            "the tree after the crash extends the tree before it"
        );
    }
    let mut leaves = BTreeSet::new();
    let mut start = 0;
    while start < size {
        let page: Value = get_json(
            &client,
            &format!(
                "{}/ct/v1/get-entries?start={start}&end={}",
                server.address,
                start + 999
            ),
        )
        .await
        .unwrap();
        for e in page["entries"].as_array().unwrap() {
            assert!(
                leaves.insert(e["leaf_input"].as_str().unwrap().to_owned()),
                "an entry appears twice"
            );
            start += 1;
        }
    }
    assert_eq!(leaves.len() as u64, size);
    size
}

fn generate_keys(dir: &Path) -> PathBuf {
    let keys = dir.join("keys");
    let out = Command::new(SIGIL)
        .args(["keys", "generate", "--out"])
        .arg(&keys)
        .args(["--key-type", "ecdsa-p256"])
        .output()
        .unwrap();
    assert!(out.status.success());
    keys
}

fn ct_spki(keys: &Path) -> Vec<u8> {
    let pem = std::fs::read(keys.join("ct-log.key.pem")).unwrap();
    openssl::pkey::PKey::private_key_from_pem(&pem)
        .unwrap()
        .public_key_to_der()
        .unwrap()
}

async fn kill_during_burst_then_recover(storage_url: &str, keys: &Path) {
    let spki = ct_spki(keys);
    let server = start(keys, storage_url).await;
    let workers = tokens(&server.address, 8).await;
    let stop = Arc::new(Mutex::new(false));
    let last_sth = Arc::new(Mutex::new(None));
    let last_rekor = Arc::new(Mutex::new(None));
    // Watch STHs during the burst: the last one seen before the kill must be extended later.
    let watcher = {
        let (address, last_sth, last_rekor, stop) = (
            server.address.clone(),
            last_sth.clone(),
            last_rekor.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !*stop.lock().unwrap() {
                if let Some(sth) = sth_at(&client, &address).await {
                    *last_sth.lock().unwrap() = Some(sth);
                }
                if let Some(head) = rekor_head(&client, &address).await {
                    *last_rekor.lock().unwrap() = Some(head);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let killer = {
        let (stop, pid) = (stop.clone(), server.child.id());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            // kill -9, mid-burst: no shutdown hook, no flush.
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            tokio::time::sleep(Duration::from_millis(100)).await;
            *stop.lock().unwrap() = true;
        })
    };
    let acked = burst(&server, workers, stop.clone()).await;
    killer.await.unwrap();
    watcher.await.unwrap();
    drop(server);
    let before = *last_sth.lock().unwrap();
    let rekor_before = *last_rekor.lock().unwrap();
    assert!(
        acked.chains.len() >= 10,
        "the burst acknowledged only {} certificates",
        acked.chains.len()
    );
    assert!(
        !acked.rekor_uuids.is_empty(),
        "the burst logged no Rekor entries"
    );

    let restarted = start(keys, storage_url).await;
    let size =
        check_everything_acknowledged_is_logged(&restarted, &spki, &acked.chains, before).await;
    check_rekor_entries_are_logged(&restarted, &acked.rekor_uuids, rekor_before).await;
    println!(
        "crash test on {}: {} certificates and {} Rekor entries acknowledged before kill -9, all found after restart \
         (CT tree {size}, consistent with the last STH seen at {:?}; Rekor consistent with its last checkpoint at {:?})",
        storage_url.split(':').next().unwrap_or_default(),
        acked.chains.len(),
        acked.rekor_uuids.len(),
        before.map(|b| b.0),
        rekor_before.map(|b| b.0)
    );
    // The restarted log keeps issuing on the same tree.
    let client = reqwest::Client::new();
    let token = tokens(&restarted.address, 1).await.remove(0);
    let body = serde_json::json!({"certificateSigningRequest": STANDARD.encode(csr(&p256()))});
    assert_eq!(
        client
            .post(format!("{}/api/v2/signingCert", restarted.address))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_issuance_loses_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let keys = generate_keys(dir.path());
    kill_during_burst_then_recover(
        &format!("sqlite://{}", dir.path().join("sigil.db").display()),
        &keys,
    )
    .await;
}

/// A fresh database on the test server, so that logs of earlier runs (and their keys) never
/// meet this run's.
fn fresh_postgres_database() -> Option<String> {
    let url = match std::env::var("SIGIL_TEST_DATABASE_URL") {
        Ok(url) => url,
        Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but SIGIL_TEST_DATABASE_URL is unset")
        }
        Err(_) => {
            eprintln!("notice: SIGIL_TEST_DATABASE_URL is unset; skipping a PostgreSQL test");
            return None;
        }
    };
    let name = format!(
        "sigil_test_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let out = Command::new("psql")
        .arg(&url)
        .args([
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (base, _) = url.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_issuance_loses_nothing_on_postgres() {
    let Some(url) = fresh_postgres_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = generate_keys(dir.path());
    kill_during_burst_then_recover(&url, &keys).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_build_one_tree() {
    let Some(url) = fresh_postgres_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = generate_keys(dir.path());
    let (a, b) = (start(&keys, &url).await, start(&keys, &url).await);
    let (tokens_a, tokens_b) = (tokens(&a.address, 4).await, tokens(&b.address, 4).await);
    let stop = Arc::new(Mutex::new(false));
    let stopper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            *stop.lock().unwrap() = true;
        })
    };
    let (acked_a, acked_b) = tokio::join!(
        burst(&a, tokens_a, stop.clone()),
        burst(&b, tokens_b, stop.clone())
    );
    stopper.await.unwrap();
    assert!(
        !acked_a.chains.is_empty() && !acked_b.chains.is_empty(),
        "both replicas accepted writes"
    );
    let chains: Vec<Vec<String>> = acked_a
        .chains
        .iter()
        .chain(acked_b.chains.iter())
        .cloned()
        .collect();
    let uuids: Vec<String> = acked_a
        .rekor_uuids
        .iter()
        .chain(acked_b.rekor_uuids.iter())
        .cloned()
        .collect();
    let spki = ct_spki(&keys);
    let size = check_everything_acknowledged_is_logged(&a, &spki, &chains, None).await;
    assert_eq!(
        size as usize,
        chains.len(),
        "exactly the acknowledged entries, each once"
    );
    check_rekor_entries_are_logged(&b, &uuids, None).await;
    let client = reqwest::Client::new();
    assert_eq!(
        rekor_head(&client, &a.address).await.unwrap().0 as usize,
        uuids.len(),
        "one Rekor tree with every acknowledged entry once"
    );
    assert_eq!(
        sth_at(&client, &a.address).await,
        sth_at(&client, &b.address).await,
        "both replicas serve the same tree"
    );
    println!(
        "replicas: {} + {} certificates and {} Rekor entries acknowledged, one CT tree of {size}",
        acked_a.chains.len(),
        acked_b.chains.len(),
        uuids.len()
    );
}
