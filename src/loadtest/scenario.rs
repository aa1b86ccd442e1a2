//! The load scenarios: what is prepared before the window, and one iteration of each.

use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509, X509ReqBuilder};
use serde_json::{Value, json};

use super::http1::{Connection, Endpoint, Failure, Request};
use super::{Options, Outcome};
use crate::client::trust::TrustMaterial;
use crate::client::verify::{Policy, verify};

/// Which requests a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// `POST /api/v2/signingCert`: a certificate with its embedded SCT.
    Issue,
    /// `POST /ct/v1/add-chain` with distinct certificates issued beforehand.
    CtAddChain,
    /// `POST /api/v1/log/entries` with distinct `hashedrekord` entries.
    RekorUpload,
    /// A certificate, then a Rekor upload signed with its key: what `sigil sign` does.
    Sign,
    /// In-process verification of one bundle, one per iteration (no HTTP).
    Verify,
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use clap::ValueEnum;
        let name = self.to_possible_value().map(|v| v.get_name().to_owned());
        f.write_str(name.as_deref().unwrap_or("?"))
    }
}

/// One prepared client key: its CSR request body, and a signature over a distinct digest.
pub(super) struct Prepared {
    key: PKey<Private>,
    csr_body: Vec<u8>,
    digest: [u8; 32],
    signature: Vec<u8>,
}

/// What a scenario sends, ready to go.
pub(super) enum Work {
    /// Requests sent in turn, each expecting a 2xx.
    Post { requests: Vec<Request> },
    /// Certificate then Rekor entry, per prepared key; the entry is built from the answer.
    Sign {
        certificates: Vec<Request>,
        rekor: Endpoint,
        keys: Vec<Prepared>,
    },
    /// One bundle to verify over and over.
    Verify {
        bundle: Vec<u8>,
        digest: [u8; 32],
        trust: Box<TrustMaterial>,
        policy: Policy,
    },
}

/// A task's connections, one per server it talks to.
#[derive(Default)]
pub(super) struct Connections(Vec<Connection>);

impl Connections {
    fn to(&mut self, authority: &str) -> &mut Connection {
        let n = match self.0.iter().position(|c| c.authority() == authority) {
            Some(n) => n,
            None => {
                self.0.push(Connection::new(authority));
                self.0.len() - 1
            }
        };
        &mut self.0[n]
    }

    async fn send(&mut self, request: &Request) -> Result<Vec<u8>, u16> {
        self.to(&request.authority)
            .exchange(request)
            .await
            .map_err(|failure| match failure {
                Failure::Status(status) => status,
                Failure::Transport => 0,
            })
    }
}

fn p256() -> Result<PKey<Private>, openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn prepared_key() -> Result<Prepared, openssl::error::ErrorStack> {
    let key = p256()?;
    let mut csr = X509ReqBuilder::new()?;
    csr.set_pubkey(&key)?;
    csr.sign(&key, MessageDigest::sha256())?;
    let csr_body = serde_json::to_vec(
        &json!({"certificateSigningRequest": STANDARD.encode(csr.build().to_pem()?)}),
    )
    .unwrap_or_default();
    let mut digest = [0u8; 32];
    openssl::rand::rand_bytes(&mut digest)?;
    let signature = EcdsaSig::sign(&digest, key.ec_key()?.as_ref())?.to_der()?;
    Ok(Prepared {
        key,
        csr_body,
        digest,
        signature,
    })
}

/// A `hashedrekord` 0.0.1 upload body.
fn hashedrekord(digest: &[u8], signature: &[u8], cert_pem: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": crate::ca::hex(digest)}},
            "signature": {"content": STANDARD.encode(signature), "publicKey": {"content": STANDARD.encode(cert_pem)}},
        },
    }))
    .unwrap_or_default()
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> Result<Vec<u8>, u16> {
    let mut request = http
        .post(url)
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|_| 0u16)?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|_| 0u16)?;
    if status.is_success() {
        Ok(bytes.to_vec())
    } else {
        Err(status.as_u16())
    }
}

/// The chain of a v2 `signingCert` answer, PEM, leaf first.
fn chain_of(answer: &[u8]) -> Vec<String> {
    serde_json::from_slice::<Value>(answer)
        .ok()
        .and_then(|a| {
            a["signedCertificateEmbeddedSct"]["chain"]["certificates"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(|c| c.as_str().map(str::to_owned))
                        .collect()
                })
        })
        .unwrap_or_default()
}

impl Work {
    /// Runs iteration `i` (prepared items are used in turn).
    pub(super) async fn execute(&self, connections: &mut Connections, i: usize) -> Outcome {
        let start = Instant::now();
        match self {
            Work::Post { requests } => {
                connections.send(&requests[i % requests.len()]).await?;
            }
            Work::Sign {
                certificates,
                rekor,
                keys,
            } => {
                let n = i % keys.len();
                let answer = connections.send(&certificates[n]).await?;
                let chain = chain_of(&answer);
                let leaf = chain.first().ok_or(0u16)?;
                let item = &keys[n];
                let body = hashedrekord(&item.digest, &item.signature, leaf.as_bytes());
                connections.send(&rekor.post(&body)).await?;
            }
            Work::Verify {
                bundle,
                digest,
                trust,
                policy,
            } => {
                verify(bundle, digest, trust, policy).map_err(|_| 1u16)?;
            }
        }
        Ok(start.elapsed())
    }
}

/// Builds the scenario's requests (and whatever must exist on the server first).
pub(super) async fn prepare(http: &reqwest::Client, options: &Options) -> Result<Work, String> {
    let server = options.server.trim_end_matches('/');
    let (trust, _) = TrustMaterial::from_server(http, server)
        .await
        .map_err(|e| e.to_string())?;
    let token = match &options.identity_token {
        Some(t) => t.clone(),
        None => dev_token(http, server, &options.token_alg).await?,
    };
    let ca = format!("{}/api/v2/signingCert", trust.ca_url);
    let rekor = format!("{}/api/v1/log/entries", trust.rekor_url);
    let crypto = |e: openssl::error::ErrorStack| e.to_string();
    let keys = |n: usize| -> Result<Vec<Prepared>, String> {
        (0..n).map(|_| prepared_key().map_err(crypto)).collect()
    };
    // Certificates are unique even for one CSR; a few hundred keys are plenty.
    let csr_bodies = || -> Result<Vec<Vec<u8>>, String> {
        Ok(keys(options.prepare.min(256))?
            .into_iter()
            .map(|k| k.csr_body)
            .collect())
    };
    let posts = |url: &str, token: Option<&str>, bodies: Vec<Vec<u8>>| -> Result<Work, String> {
        let endpoint = Endpoint::new(url, token)?;
        let requests = bodies.iter().map(|body| endpoint.post(body)).collect();
        Ok(Work::Post { requests })
    };
    Ok(match options.scenario {
        Scenario::Issue => posts(&ca, Some(&token), csr_bodies()?)?,
        Scenario::Sign => {
            let keys = keys(options.prepare)?;
            let ca = Endpoint::new(&ca, Some(&token))?;
            Work::Sign {
                certificates: keys.iter().map(|k| ca.post(&k.csr_body)).collect(),
                rekor: Endpoint::new(&rekor, None)?,
                keys,
            }
        }
        Scenario::RekorUpload => {
            let (item, leaf) = certified_key(http, &ca, &token).await?;
            let ec = item.key.ec_key().map_err(crypto)?;
            let bodies = (0..options.prepare)
                .map(|_| {
                    let mut digest = [0u8; 32];
                    openssl::rand::rand_bytes(&mut digest)?;
                    let signature = EcdsaSig::sign(&digest, &ec)?.to_der()?;
                    Ok(hashedrekord(&digest, &signature, leaf.as_bytes()))
                })
                .collect::<Result<_, openssl::error::ErrorStack>>()
                .map_err(crypto)?;
            posts(&rekor, None, bodies)?
        }
        Scenario::CtAddChain => posts(
            &format!("{server}/ct/v1/add-chain"),
            None,
            issue_chains(http, &ca, &token, csr_bodies()?, options).await?,
        )?,
        Scenario::Verify => {
            let (item, leaf) = certified_key(http, &ca, &token).await?;
            let entry = post(
                http,
                &rekor,
                None,
                hashedrekord(&item.digest, &item.signature, leaf.as_bytes()),
            )
            .await
            .map_err(|s| format!("logging the bundle's entry: HTTP {s}"))?;
            let entry: Value = serde_json::from_slice(&entry).map_err(|e| e.to_string())?;
            let leaf_der = X509::from_pem(leaf.as_bytes())
                .and_then(|c| c.to_der())
                .map_err(crypto)?;
            let tlog = crate::client::bundle::tlog_entry(&entry).map_err(|e| e.to_string())?;
            let bundle = crate::client::bundle::message_signature_bundle(
                &leaf_der,
                tlog,
                &item.digest,
                &item.signature,
            );
            let identity = identity_of(&leaf_der)?;
            Work::Verify {
                bundle: serde_json::to_vec(&bundle).map_err(|e| e.to_string())?,
                digest: item.digest,
                trust: Box::new(trust),
                policy: Policy {
                    identity: crate::client::verify::Matcher::Exact(identity),
                    issuer: crate::client::verify::Matcher::regex(".*")?,
                    claims: Vec::new(),
                },
            }
        }
    })
}

/// A fresh key and the PEM certificate the CA issued for it.
async fn certified_key(
    http: &reqwest::Client,
    ca: &str,
    token: &str,
) -> Result<(Prepared, String), String> {
    let item = prepared_key().map_err(|e| e.to_string())?;
    let answer = post(http, ca, Some(token), item.csr_body.clone())
        .await
        .map_err(|s| format!("issuing a certificate to prepare with: HTTP {s}"))?;
    let leaf = chain_of(&answer)
        .into_iter()
        .next()
        .ok_or("no certificate in the CA's answer")?;
    Ok((item, leaf))
}

/// Issues `options.prepare` certificates (concurrently, before the window) and returns an
/// `add-chain` body for each.
async fn issue_chains(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    bodies: Vec<Vec<u8>>,
    options: &Options,
) -> Result<Vec<Vec<u8>>, String> {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let chains = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let bodies = std::sync::Arc::new(bodies);
    let target = options.prepare;
    let tasks: Vec<_> = (0..options.connections.clamp(1, 64))
        .map(|_| {
            let (http, next, chains) = (http.clone(), next.clone(), chains.clone());
            let (url, token, bodies) = (url.to_owned(), token.to_owned(), bodies.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= target {
                        break;
                    }
                    let Ok(answer) =
                        post(&http, &url, Some(&token), bodies[i % bodies.len()].clone()).await
                    else {
                        continue;
                    };
                    let der: Vec<String> = chain_of(&answer)
                        .iter()
                        .filter_map(|pem| X509::from_pem(pem.as_bytes()).ok())
                        .filter_map(|c| c.to_der().ok())
                        .map(|d| STANDARD.encode(d))
                        .collect();
                    let body = serde_json::to_vec(&json!({ "chain": der })).unwrap_or_default();
                    if let Ok(mut chains) = chains.lock() {
                        chains.push(body);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.map_err(|e| e.to_string())?;
    }
    let chains = std::mem::take(&mut *chains.lock().map_err(|e| e.to_string())?);
    if chains.len() < options.prepare {
        return Err(format!(
            "only {} of {} certificates could be issued beforehand",
            chains.len(),
            options.prepare
        ));
    }
    Ok(chains)
}

/// A one-hour token from the server's dev issuer (`serve --dev`), signed with `alg`.
pub async fn dev_token(http: &reqwest::Client, server: &str, alg: &str) -> Result<String, String> {
    let url = format!("{server}/dev/oidc/token?ttl=3600&alg={alg}");
    let answer: Value = http
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("{url}: {e} (pass --identity-token for a server without --dev)"))?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    answer["id_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{url}: no id_token"))
}

/// The email or URI the certificate was issued for.
fn identity_of(leaf_der: &[u8]) -> Result<String, String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, cert) = X509Certificate::from_der(leaf_der).map_err(|e| e.to_string())?;
    let san = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .ok_or("the certificate has no SAN")?;
    san.value
        .general_names
        .iter()
        .find_map(|n| match n {
            GeneralName::RFC822Name(s) | GeneralName::URI(s) => Some(s.to_string()),
            _ => None,
        })
        .ok_or_else(|| "the certificate has no email or URI SAN".into())
}
