//! Audit lines: one JSON line per certificate and per log entry, naming identity, issuer,
//! serial and log index, and never the token.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn every_certificate_and_log_entry_leaves_one_audit_line_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let served = SigilProcess::start(&["--dev"], &[], dir.path()).await;
    let (token, chain) = dev_certificate(&served.address, "audited@example.com", &p256()).await;
    // The issued certificate, submitted to the CT log from outside as well.
    let ders: Vec<String> = chain
        .iter()
        .map(|pem| {
            STANDARD.encode(
                openssl::x509::X509::from_pem(pem.as_bytes())
                    .unwrap()
                    .to_der()
                    .unwrap(),
            )
        })
        .collect();
    let added = reqwest::Client::new()
        .post(format!("{}/ct/v1/add-chain", served.address))
        .json(&json!({ "chain": ders }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);

    let port = served.address.rsplit(':').next().unwrap();
    let log = std::fs::read_to_string(dir.path().join(format!("serve-{port}.log"))).unwrap();
    assert!(!log.contains(&token), "the token never reaches the log");
    let audit: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "sigil::audit")
        .map(|l| l["fields"].clone())
        .collect();
    let issued: Vec<&Value> = audit
        .iter()
        .filter(|f| f["event"] == "certificate_issued")
        .collect();
    assert_eq!(issued.len(), 1, "{audit:?}");
    assert_eq!(issued[0]["identity"], "audited@example.com");
    assert_eq!(issued[0]["issuer"], format!("{}/dev/oidc", served.address));
    assert_eq!(issued[0]["ct_index"], 0);
    let serial = openssl::x509::X509::from_pem(chain[0].as_bytes())
        .unwrap()
        .serial_number()
        .to_bn()
        .unwrap()
        .to_hex_str()
        .unwrap()
        .to_lowercase();
    assert_eq!(
        issued[0]["serial"]
            .as_str()
            .unwrap()
            .trim_start_matches('0'),
        serial.trim_start_matches('0')
    );
    let ct: Vec<&Value> = audit
        .iter()
        .filter(|f| f["event"] == "log_entry_created" && f["log"] == "ct")
        .collect();
    assert_eq!(ct.len(), 1, "{audit:?}");
    assert_eq!(ct[0]["endpoint"], "add-chain");
    assert_eq!(ct[0]["index"], 1);
}
