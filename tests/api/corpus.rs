//! The bundle corpus (tests/corpus/manifest.json): real bundles from the public Sigstore
//! instance, its staging instance and a sigil deployment must verify, and every broken variant
//! must fail at the check its manifest entry names.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sigil::client::trust::TrustMaterial;
use sigil::client::verify::{Matcher, Policy, verify};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn manifest() -> Vec<Value> {
    serde_json::from_slice(&std::fs::read(corpus().join("manifest.json")).unwrap()).unwrap()
}

fn digest_of(case: &Value) -> [u8; 32] {
    match (case["artifact"].as_str(), case["digest"].as_str()) {
        (Some(path), _) => openssl::sha::sha256(&std::fs::read(corpus().join(path)).unwrap()),
        (None, Some(d)) => {
            let hex = d.strip_prefix("sha256:").unwrap();
            crate::helpers::unhex32(hex)
        }
        _ => panic!("{}: no artifact or digest", case["name"]),
    }
}

fn trust_of(case: &Value) -> TrustMaterial {
    match case["trust"].as_str().unwrap() {
        "public-good" => TrustMaterial::public_good().unwrap(),
        path => TrustMaterial::from_file(&corpus().join(path), true).unwrap(),
    }
}

fn policy_of(case: &Value) -> Policy {
    let identity = match (case["identity"].as_str(), case["identity_regexp"].as_str()) {
        (Some(exact), _) => Matcher::Exact(exact.into()),
        (None, Some(re)) => Matcher::regex(re).unwrap(),
        _ => panic!("{}: no identity", case["name"]),
    };
    let arc = |claim: &str| match claim {
        "trigger" => 2,
        "sha" => 3,
        "name" => 4,
        "repository" => 5,
        "ref" => 6,
        other => panic!("unknown claim {other}"),
    };
    let claims = case["claims"]
        .as_object()
        .map(|c| {
            c.iter()
                .map(|(k, v)| (arc(k), v.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    Policy {
        identity,
        issuer: Matcher::Exact(case["issuer"].as_str().unwrap().into()),
        claims,
    }
}

#[test]
fn every_valid_bundle_verifies_and_every_broken_one_fails_at_its_check() {
    let cases = manifest();
    let broken = cases.iter().filter(|c| c["expect"] != "ok").count();
    assert!(broken >= 40, "the corpus has only {broken} broken variants");
    let mut wrong = Vec::new();
    for case in &cases {
        let bundle = std::fs::read(corpus().join(case["bundle"].as_str().unwrap())).unwrap();
        let outcome = verify(&bundle, &digest_of(case), &trust_of(case), &policy_of(case));
        let got = match &outcome {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.check.to_owned(),
        };
        if got != case["expect"] {
            wrong.push(format!(
                "{}: expected {}, got {got} ({outcome:?})",
                case["name"], case["expect"]
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The CLI: `--public-good` works offline, exit 0 on a valid bundle; a broken one exits
/// non-zero with one line naming the check.
#[test]
fn the_cli_verifies_with_the_built_in_public_good_root_and_names_the_failed_check() {
    let run = |bundle: &str| {
        Command::new(env!("CARGO_BIN_EXE_sigil"))
            .current_dir(corpus())
            .args(["verify", "--public-good", "--bundle", bundle])
            .args(["--cert-identity", "thomas@python.org"])
            .args(["--cert-oidc-issuer", "https://accounts.google.com"])
            .arg("sha256:38dc4e2c261d49c661196066edbfb70fdb16be4a79cc8220c224dfeb5636d405")
            .output()
            .unwrap()
    };
    let ok = run("public/Python-3.12.5.tgz.sigstore");
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("OK: "));

    let bad = run("broken/bad-set.sigstore.json");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("SET: "), "{stderr}");
}
