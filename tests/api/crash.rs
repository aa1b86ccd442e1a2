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

/// What a burst got acknowledged: certificates (with their SCTs) and Rekor entry UUIDs; and
/// every status it was answered, by count.
#[derive(Default)]
struct Acknowledged {
    chains: Vec<Vec<String>>,
    rekor_uuids: Vec<String>,
    statuses: std::collections::BTreeMap<u16, u64>,
}

/// Issues certificates from `workers` concurrent clients until `stop`, and for every other
/// certificate uploads a signature to the Rekor log, as a signing client does.
/// Counts one answer's status.
fn count(acked: &Mutex<Acknowledged>, response: &reqwest::Response) {
    *acked
        .lock()
        .unwrap()
        .statuses
        .entry(response.status().as_u16())
        .or_default() += 1;
}

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
                let body =
                    serde_json::json!({"certificateSigningRequest": STANDARD.encode(csr(&key))});
                let Ok(response) = client
                    .post(format!("{address}/api/v2/signingCert"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                else {
                    break;
                };
                count(&acked, &response);
                // Only a complete 200 answer counts as acknowledged.
                let Some(answer) = (if response.status() == 200 {
                    response.json::<Value>().await.ok()
                } else {
                    None
                }) else {
                    continue;
                };
                let chain: Vec<String> =
                    answer["signedCertificateEmbeddedSct"]["chain"]["certificates"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c.as_str().unwrap().to_owned())
                        .collect();
                let leaf = chain[0].clone();
                acked.lock().unwrap().chains.push(chain);
                if n % 2 == 0 {
                    let entry =
                        hashedrekord(&key, &leaf, format!("worker {w} artifact {n}").as_bytes());
                    let Ok(response) = client
                        .post(format!("{address}/api/v1/log/entries"))
                        .json(&entry)
                        .send()
                        .await
                    else {
                        break;
                    };
                    count(&acked, &response);
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
    report(&format!(
        "kill -9 during issuance on {}: acknowledged {} certificates + {} Rekor entries; found \
         after restart (each by its inclusion proof) {} + {} (CT tree {size}); consistency proofs \
         checked: {} (CT from {:?}, Rekor from {:?})",
        storage_url.split(':').next().unwrap_or_default(),
        acked.chains.len(),
        acked.rekor_uuids.len(),
        acked.chains.len(),
        acked.rekor_uuids.len(),
        usize::from(before.is_some()) + usize::from(rekor_before.is_some()),
        before.map(|b| b.0),
        rekor_before.map(|b| b.0)
    ));
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

/// Runs one SQL command with `psql` against the database at `url`.
fn psql(url: &str, sql: &str) -> std::process::Output {
    Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql is installed")
}

/// A database made for one test on the test server, so that logs of earlier runs (and their
/// keys) never meet this run's. It is dropped when the test ends, passed or failed, so runs do
/// not pile databases up on the server.
struct FreshDatabase {
    server: String,
    name: String,
}

impl FreshDatabase {
    fn url(&self) -> String {
        let (base, _) = self.server.rsplit_once('/').unwrap();
        format!("{base}/{}", self.name)
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        // FORCE closes the connections of servers that are still being stopped.
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if !psql(&self.server, &sql).status.success() {
            eprintln!("notice: the test database {} was not dropped", self.name);
        }
    }
}

fn fresh_postgres_database() -> Option<FreshDatabase> {
    let server = match std::env::var("SIGIL_TEST_DATABASE_URL") {
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
    let out = psql(&server, &format!("CREATE DATABASE {name}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(FreshDatabase { server, name })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_issuance_loses_nothing_on_postgres() {
    let Some(database) = fresh_postgres_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = generate_keys(dir.path());
    kill_during_burst_then_recover(&database.url(), &keys).await;
}

/// Two `sigil serve` processes with one key set on one fresh PostgreSQL database, and four
/// tokens for each.
struct Replicas {
    _dir: tempfile::TempDir,
    keys: PathBuf,
    a: SigilProcess,
    b: SigilProcess,
    tokens_a: Vec<String>,
    tokens_b: Vec<String>,
    // Last, so that the processes stop before their database is dropped.
    _database: FreshDatabase,
}

async fn two_replicas() -> Option<Replicas> {
    let database = fresh_postgres_database()?;
    let dir = tempfile::tempdir().unwrap();
    let keys = generate_keys(dir.path());
    let url = database.url();
    let (a, b) = (start(&keys, &url).await, start(&keys, &url).await);
    let (tokens_a, tokens_b) = (tokens(&a.address, 4).await, tokens(&b.address, 4).await);
    Some(Replicas {
        _dir: dir,
        keys,
        a,
        b,
        tokens_a,
        tokens_b,
        _database: database,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_build_one_tree() {
    // The database is bound first so that it is dropped last, after the processes stop.
    let Some(Replicas {
        _database,
        _dir,
        keys,
        a,
        b,
        tokens_a,
        tokens_b,
    }) = two_replicas().await
    else {
        return;
    };
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

    // One body sent ten times to each replica at once is one entry: the other 19 are told
    // where it is.
    let key = p256();
    let (_, chain) = dev_certificate(&a.address, "race@example.com", &key).await;
    let entry = hashedrekord(&key, &chain[0], b"raced across replicas");
    let answers = futures_util::future::join_all((0..20).map(|i| {
        let address = if i % 2 == 0 { &a.address } else { &b.address };
        client
            .post(format!("{address}/api/v1/log/entries"))
            .json(&entry)
            .send()
    }))
    .await;
    let statuses: Vec<u16> = answers
        .iter()
        .map(|r| r.as_ref().unwrap().status().as_u16())
        .collect();
    assert_eq!(
        (
            statuses.iter().filter(|s| **s == 201).count(),
            statuses.iter().filter(|s| **s == 409).count()
        ),
        (1, 19),
        "{statuses:?}"
    );
    assert_eq!(
        rekor_head(&client, &b.address).await.unwrap().0 as usize,
        uuids.len() + 1,
        "the racing body was appended once"
    );
    report(&format!(
        "replicas: {} + {} certificates and {} Rekor entries acknowledged, one CT tree of {size}; \
         one body sent 20 times across both replicas appended once",
        acked_a.chains.len(),
        acked_b.chains.len(),
        uuids.len()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_batch_loses_nothing_the_other_keeps_the_tree() {
    // The database is bound first so that it is dropped last, after the processes stop.
    let Some(Replicas {
        _database,
        _dir,
        keys,
        a,
        b,
        tokens_a,
        tokens_b,
    }) = two_replicas().await
    else {
        return;
    };
    let stop = Arc::new(Mutex::new(false));
    let killer = {
        let (stop, pid) = (stop.clone(), a.child.id());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            tokio::time::sleep(Duration::from_millis(700)).await;
            *stop.lock().unwrap() = true;
        })
    };
    let (acked_a, acked_b) = tokio::join!(
        burst(&a, tokens_a, stop.clone()),
        burst(&b, tokens_b, stop.clone())
    );
    killer.await.unwrap();
    assert!(
        !acked_a.chains.is_empty(),
        "the killed replica had acknowledged writes"
    );
    let chains: Vec<Vec<String>> = [acked_a.chains, acked_b.chains].concat();
    let uuids: Vec<String> = [acked_a.rekor_uuids, acked_b.rekor_uuids].concat();
    let size = check_everything_acknowledged_is_logged(&b, &ct_spki(&keys), &chains, None).await;
    check_rekor_entries_are_logged(&b, &uuids, None).await;
    report(&format!(
        "replica killed mid-batch: {} certificates and {} Rekor entries acknowledged by both, \
         all in the surviving replica's trees (CT tree {size})",
        chains.len(),
        uuids.len()
    ));
}

/// Runs `f` with its status codes and the number of certificates it got, from a fresh burst of
/// `workers` clients lasting `duration`.
async fn burst_for(server: &SigilProcess, workers: usize, duration: Duration) -> Acknowledged {
    let tokens = tokens(&server.address, workers).await;
    let stop = Arc::new(Mutex::new(false));
    let stopper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            *stop.lock().unwrap() = true;
        })
    };
    let acked = burst(server, tokens, stop).await;
    stopper.await.unwrap();
    acked
}

/// Polls `/readyz` until it answers `status`, for at most 20 seconds.
async fn wait_for_readiness(server: &SigilProcess, status: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let answer = reqwest::get(format!("{}/readyz", server.address)).await;
        if answer.is_ok_and(|r| r.status() == status) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz never answered {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts that a burst met an outage the way it must: some 503s, and never a 5xx other than
/// 503.
fn assert_outage_answers(acked: &Acknowledged, what: &str) {
    assert!(
        acked.statuses.contains_key(&503),
        "{what}: no 503 while the storage was gone: {:?}",
        acked.statuses
    );
    assert!(
        acked.statuses.keys().all(|s| *s < 500 || *s == 503),
        "{what}: answers other than 503 in the 5xx range: {:?}",
        acked.statuses
    );
}

/// A PostgreSQL cluster of this test's own, which it may crash and restart without disturbing
/// the shared server other tests use. Needs root (to run the server as `postgres`) and the
/// server binaries.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn start() -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .filter_map(Result::ok)
                    .map(|v| v.path().join("bin"))
                    .find(|b| b.join("initdb").exists())
            });
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout == b"0\n");
        let Some(bin) = bin.filter(|_| root) else {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "CI=true but a private PostgreSQL cannot be started (needs root and initdb)"
            );
            eprintln!("notice: cannot start a private PostgreSQL here; skipping its fault test");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        assert!(
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = PrivatePostgres { dir, bin, port };
        cluster.pg(&[
            "initdb",
            "-D",
            &cluster.data(),
            "--auth=trust",
            "-U",
            "postgres",
        ]);
        cluster.start_server();
        let created = psql(
            &format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            "CREATE DATABASE sigil",
        );
        assert!(created.status.success(), "{created:?}");
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/sigil", self.port)
    }

    /// Runs a server binary as the `postgres` user.
    fn pg(&self, args: &[&str]) {
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(args[0]))
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    }

    fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.pg(&[
            "pg_ctl",
            "-D",
            &self.data(),
            "-o",
            &options,
            "-l",
            &log,
            "-w",
            "start",
        ]);
    }

    /// Stops the server without a checkpoint: for the data, a crash.
    fn crash(&self) {
        self.pg(&[
            "pg_ctl",
            "-D",
            &self.data(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_answers_503_then_recovers_losing_nothing() {
    let Some(pg) = PrivatePostgres::start() else {
        return;
    };
    let pg = Arc::new(pg);
    let dir = tempfile::tempdir().unwrap();
    let keys = generate_keys(dir.path());
    let server = start(&keys, &pg.url()).await;
    let outage = {
        let pg = pg.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            tokio::task::spawn_blocking(move || pg.crash())
                .await
                .unwrap();
        })
    };
    let during = burst_for(&server, 8, Duration::from_millis(2500)).await;
    outage.await.unwrap();
    assert_outage_answers(&during, "PostgreSQL down");
    wait_for_readiness(&server, 503).await;

    tokio::task::spawn_blocking({
        let pg = pg.clone();
        move || pg.start_server()
    })
    .await
    .unwrap();
    wait_for_readiness(&server, 200).await;
    let after = burst_for(&server, 4, Duration::from_millis(1000)).await;
    assert!(after.chains.len() >= 5, "recovered: {:?}", after.statuses);
    assert!(
        after.statuses.keys().all(|s| *s == 200 || *s == 201),
        "after recovery every request succeeds: {:?}",
        after.statuses
    );
    let chains = [during.chains, after.chains].concat();
    let uuids = [during.rekor_uuids, after.rekor_uuids].concat();
    let size =
        check_everything_acknowledged_is_logged(&server, &ct_spki(&keys), &chains, None).await;
    check_rekor_entries_are_logged(&server, &uuids, None).await;
    report(&format!(
        "PostgreSQL crashed and restarted under load: answers {:?} during the outage; {} \
         certificates and {} Rekor entries acknowledged in all, all in the trees (CT tree {size})",
        during.statuses,
        chains.len(),
        uuids.len()
    ));
}

/// A small tmpfs, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "CI=true but a tmpfs cannot be mounted (needs root)"
            );
            eprintln!("notice: cannot mount a small tmpfs here; skipping the full-disk test");
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_sqlite_answers_503_and_corrupts_nothing() {
    let Some(disk) = SmallDisk::mount(16) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = generate_keys(dir.path());
    let db = disk.path().join("sigil.db");
    let url = format!("sqlite://{}", db.display());
    let server = start(&keys, &url).await;
    // Leave about 1 MiB free: a few hundred entries' worth.
    let filler = disk.path().join("filler");
    let free = fs_free_bytes(disk.path());
    std::fs::write(&filler, vec![0u8; (free - (1 << 20)) as usize]).unwrap();

    let full = burst_for(&server, 8, Duration::from_millis(4000)).await;
    assert_outage_answers(&full, "disk full");

    // Space comes back: the server recovers without a restart.
    std::fs::remove_file(&filler).unwrap();
    let after = burst_for(&server, 4, Duration::from_millis(1000)).await;
    let port = server.address.rsplit(':').next().unwrap();
    assert!(
        after.chains.len() >= 5,
        "recovered: {:?} during: {:?}\n{}",
        after.statuses,
        full.statuses,
        std::fs::read_to_string(keys.join(format!("serve-{port}.log"))).unwrap()
    );
    let chains = [full.chains, after.chains].concat();
    let uuids = [full.rekor_uuids, after.rekor_uuids].concat();
    drop(server);

    let check = Command::new("sqlite3")
        .arg(&db)
        .arg("PRAGMA integrity_check")
        .output()
        .expect("sqlite3 is installed");
    assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), "ok");
    let restarted = start(&keys, &url).await;
    let size =
        check_everything_acknowledged_is_logged(&restarted, &ct_spki(&keys), &chains, None).await;
    check_rekor_entries_are_logged(&restarted, &uuids, None).await;
    report(&format!(
        "SQLite on a full disk: answers {:?} while full; {} certificates and {} Rekor entries \
         acknowledged in all, all in the trees after a restart (CT tree {size}), integrity ok",
        full.statuses,
        chains.len(),
        uuids.len()
    ));
}

fn fs_free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
