//! `sigil loadtest` against a real `serve --dev`: every scenario runs, gets only expected
//! answers, and reports rate, latency and the server's memory as JSON.

use std::process::Command;

use serde_json::Value;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let served = SigilProcess::start(&["--dev"], &[], dir.path()).await;
    // Log entries must be unique, so uploads need more prepared requests than a second sends;
    // add-chain repeats are answered with the existing SCT.
    // Issuance runs with both of the dev issuer's token algorithms.
    for (scenario, prepare, alg) in [
        ("issue", "50", "ES256"),
        ("issue", "50", "RS256"),
        ("ct-add-chain", "200", "ES256"),
        ("rekor-upload", "3000", "ES256"),
        ("sign", "3000", "ES256"),
        ("verify", "1", "ES256"),
    ] {
        let address = served.address.clone();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_sigil"))
                .args(["loadtest", "--server", &address, "--scenario", scenario])
                .args([
                    "--connections",
                    "4",
                    "--duration",
                    "1s",
                    "--prepare",
                    prepare,
                    "--token-alg",
                    alg,
                ])
                .arg("--json")
                .env_remove("SIGIL_IDENTITY_TOKEN")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(out.status.success(), "{scenario}: {out:?}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["scenario"], scenario);
        assert!(report["ok"].as_u64().unwrap() > 0, "{scenario}: {report}");
        assert_eq!(
            report["errors"],
            serde_json::json!({}),
            "{scenario}: {report}"
        );
        let latency = &report["latency_ms"];
        assert!(latency["p50"].as_f64().unwrap() <= latency["p99"].as_f64().unwrap());
        assert!(report["server_rss_mib"].as_f64().unwrap() > 1.0, "{report}");
    }
}
