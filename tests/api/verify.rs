//! `sigil verify` through the library: a bundle from `sigil sign` passes, and each tampered
//! variant fails at the check that guards what was changed.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sigil::client::sign::Signer;
use sigil::client::trust::{TrustMaterial, TrustedAuthority, TrustedLog, Validity};
use sigil::client::verify::{Policy, verify};
use sigil::pki::AuthorityChain;
use sigil::public_key::PublicKey;

use crate::helpers::*;

/// Flips one bit in a base64 field.
fn flip(v: &mut Value) {
    let mut bytes = STANDARD.decode(v.as_str().unwrap()).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    *v = Value::String(STANDARD.encode(bytes));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_bundle_verifies_and_every_tampered_variant_fails_at_its_check() {
    let app = TestApp::spawn().await;
    let config: Value = app
        .get("/.well-known/sigstore/client_trust_config.json")
        .await
        .json();
    let trust = TrustMaterial::from_client_trust_config(&config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file: PathBuf = dir.path().join("artifact.txt");
    std::fs::write(&file, b"verify me\n").unwrap();
    let bundle_path = dir.path().join("artifact.sigstore.json");
    let signer = Signer::new(trust.clone());
    let token = app.issuer.token(
        "email",
        json!({"sub": "v", "email": "v@example.com", "email_verified": true}),
    );
    let certificate = signer.certificate(&token).await.unwrap();
    signer
        .sign_file(&certificate, &file, &bundle_path)
        .await
        .unwrap();
    let good: Value = serde_json::from_slice(&std::fs::read(&bundle_path).unwrap()).unwrap();
    let digest = openssl::sha::sha256(b"verify me\n");
    let policy = Policy::exact("v@example.com", &app.issuer.url("email"));
    let check = |bundle: &Value, digest: &[u8; 32], trust: &TrustMaterial, policy: &Policy| {
        verify(&serde_json::to_vec(bundle).unwrap(), digest, trust, policy)
            .map(|_| ())
            .map_err(|e| e.check)
    };
    assert_eq!(check(&good, &digest, &trust, &policy), Ok(()));

    let entry = "/verificationMaterial/tlogEntries/0";
    let variants: Vec<(&str, Box<dyn Fn(&mut Value)>, &str)> = vec![
        (
            "unknown media type",
            Box::new(|b| b["mediaType"] = json!("application/json")),
            "bundle",
        ),
        (
            "no tlog entry",
            Box::new(|b| b["verificationMaterial"]["tlogEntries"] = json!([])),
            "bundle",
        ),
        (
            "two tlog entries",
            Box::new(|b| {
                let e = b["verificationMaterial"]["tlogEntries"][0].clone();
                b["verificationMaterial"]["tlogEntries"] = json!([e.clone(), e]);
            }),
            "bundle",
        ),
        (
            "signature not base64",
            Box::new(|b| b["messageSignature"]["signature"] = json!("%%%")),
            "bundle",
        ),
        (
            "unsupported entry kind",
            Box::new(move |b| {
                b.pointer_mut(entry).unwrap()["kindVersion"]["kind"] = json!("rekord")
            }),
            "bundle",
        ),
        (
            "altered signature",
            Box::new(|b| flip(&mut b["messageSignature"]["signature"])),
            "signature",
        ),
        (
            "altered message digest",
            Box::new(|b| flip(&mut b["messageSignature"]["messageDigest"]["digest"])),
            "signature",
        ),
        (
            "unknown log",
            Box::new(move |b| flip(&mut b.pointer_mut(entry).unwrap()["logId"]["keyId"])),
            "log entry",
        ),
        (
            "altered body",
            Box::new(move |b| flip(&mut b.pointer_mut(entry).unwrap()["canonicalizedBody"])),
            "SET",
        ),
        (
            "altered SET",
            Box::new(move |b| {
                flip(&mut b.pointer_mut(entry).unwrap()["inclusionPromise"]["signedEntryTimestamp"])
            }),
            "SET",
        ),
        (
            "altered log index",
            Box::new(move |b| b.pointer_mut(entry).unwrap()["logIndex"] = json!("7")),
            "SET",
        ),
        (
            "altered integrated time",
            Box::new(move |b| b.pointer_mut(entry).unwrap()["integratedTime"] = json!("1000")),
            "SET",
        ),
        (
            "altered root hash",
            Box::new(move |b| {
                flip(&mut b.pointer_mut(entry).unwrap()["inclusionProof"]["rootHash"])
            }),
            "inclusion proof",
        ),
        (
            "altered tree size",
            Box::new(move |b| {
                b.pointer_mut(entry).unwrap()["inclusionProof"]["treeSize"] = json!("5")
            }),
            "inclusion proof",
        ),
        (
            "checkpoint signature",
            Box::new(move |b| {
                let cp =
                    &mut b.pointer_mut(entry).unwrap()["inclusionProof"]["checkpoint"]["envelope"];
                let text = cp.as_str().unwrap().to_owned();
                let (head, sig) = text.rsplit_once(' ').unwrap();
                let mut blob = STANDARD.decode(sig.trim_end()).unwrap();
                let last = blob.len() - 1;
                blob[last] ^= 1;
                *cp = json!(format!("{head} {}\n", STANDARD.encode(blob)));
            }),
            "checkpoint",
        ),
        (
            "checkpoint key hint",
            Box::new(move |b| {
                let cp =
                    &mut b.pointer_mut(entry).unwrap()["inclusionProof"]["checkpoint"]["envelope"];
                let text = cp.as_str().unwrap().to_owned();
                let (head, sig) = text.rsplit_once(' ').unwrap();
                let mut blob = STANDARD.decode(sig.trim_end()).unwrap();
                blob[0] ^= 1;
                *cp = json!(format!("{head} {}\n", STANDARD.encode(blob)));
            }),
            "checkpoint",
        ),
        (
            "malformed checkpoint",
            Box::new(move |b| {
                b.pointer_mut(entry).unwrap()["inclusionProof"]["checkpoint"]["envelope"] =
                    json!("nonsense")
            }),
            "checkpoint",
        ),
    ];
    for (what, tamper, expected) in &variants {
        let mut bundle = good.clone();
        tamper(&mut bundle);
        assert_eq!(
            check(&bundle, &digest, &trust, &policy),
            Err(*expected),
            "{what}"
        );
    }
    // Wrong artifact, identity, issuer; an untrusted CA; malformed JSON.
    assert_eq!(
        check(&good, &openssl::sha::sha256(b"other"), &trust, &policy),
        Err("signature")
    );
    let wrong = Policy {
        identity: sigil::client::verify::Matcher::Exact("w@example.com".into()),
        ..policy.clone()
    };
    assert_eq!(check(&good, &digest, &trust, &wrong), Err("identity"));
    let wrong = Policy {
        issuer: sigil::client::verify::Matcher::Exact("https://accounts.google.com".into()),
        ..policy.clone()
    };
    assert_eq!(check(&good, &digest, &trust, &wrong), Err("issuer"));
    let other_ca = TrustMaterial {
        certificate_authorities: vec![TrustedAuthority {
            chain: AuthorityChain::new(vec![self_signed(&p256(), "other", true).to_der().unwrap()]),
            valid: Validity::default(),
        }],
        ..trust.clone()
    };
    assert_eq!(
        check(&good, &digest, &other_ca, &policy),
        Err("certificate chain")
    );
    let other_ct = TrustMaterial {
        ct_logs: vec![TrustedLog {
            key: PublicKey::from_spki(&p256().public_key_to_der().unwrap()),
            ..trust.ct_logs[0].clone()
        }],
        ..trust.clone()
    };
    assert_eq!(check(&good, &digest, &other_ct, &policy), Err("SCT"));
    assert_eq!(
        verify(b"{not json", &digest, &trust, &policy)
            .map_err(|e| e.check)
            .err(),
        Some("bundle")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regexp_and_github_claim_policies() {
    use sigil::client::verify::Matcher;
    let app = TestApp::spawn().await;
    let config: Value = app
        .get("/.well-known/sigstore/client_trust_config.json")
        .await
        .json();
    let trust = TrustMaterial::from_client_trust_config(&config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("build.out");
    std::fs::write(&file, b"built\n").unwrap();
    let bundle_path = dir.path().join("build.sigstore.json");
    let signer = Signer::new(trust.clone());
    let token = app
        .issuer
        .token("github", crate::signing_cert::github_claims());
    let certificate = signer.certificate(&token).await.unwrap();
    signer
        .sign_file(&certificate, &file, &bundle_path)
        .await
        .unwrap();
    let bundle = std::fs::read(&bundle_path).unwrap();
    let digest = openssl::sha::sha256(b"built\n");
    let check = |policy: &Policy| {
        verify(&bundle, &digest, &trust, policy)
            .map(|_| ())
            .map_err(|e| e.check)
    };

    let workflow =
        Matcher::regex(r"https://github\.com/octo/app/\.github/workflows/.*@refs/heads/main")
            .unwrap();
    let issuer = Matcher::regex(&format!("{}/.*", regex::escape(&app.issuer.base))).unwrap();
    let mut policy = Policy {
        identity: workflow,
        issuer,
        claims: vec![
            (5, "octo/app".into()),
            (6, "refs/heads/main".into()),
            (2, "push".into()),
        ],
    };
    assert_eq!(check(&policy), Ok(()));
    // Regexps match in full only, and every claim must hold.
    policy.identity = Matcher::regex("https://github.com/octo").unwrap();
    assert_eq!(check(&policy), Err("identity"));
    policy.identity = Matcher::regex(".*").unwrap();
    policy.claims = vec![(5, "octo/other".into())];
    assert_eq!(check(&policy), Err("identity"));
    policy.claims = vec![(3, "c3d4".into())];
    assert_eq!(check(&policy), Ok(()));
    policy.issuer = Matcher::regex("https://token.actions.githubusercontent.com").unwrap();
    assert_eq!(check(&policy), Err("issuer"));
    assert!(Matcher::regex("(").is_err());
}
