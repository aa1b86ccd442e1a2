//! A standard RFC 6962 monitor, certspotter 0.16 from Debian, follows sigil's CT log from
//! index 0: it downloads every entry, verifies them against each STH and the STHs against
//! each other, and must report no problem.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::helpers::*;

fn certspotter() -> Option<&'static str> {
    let found = Command::new("certspotter").arg("-version").output().is_ok();
    if !found && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but certspotter is not installed (.ci/run installs it from Debian)");
    }
    found.then_some("certspotter")
}

/// Runs certspotter until it has verified `size` entries of the log (or 30 s pass), then stops
/// it and returns what it printed and its saved state of the log.
async fn follow(bin: &str, dir: &Path, log_id: &str, size: u64) -> (String, Value) {
    let mut child = Command::new(bin)
        .args([
            "-logs",
            "logs.json",
            "-watchlist",
            "watch",
            "-state_dir",
            "state",
            "-verbose",
            "-no_save",
            "-stdout",
        ])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let state_file = dir
        .join("state/logs")
        .join(
            log_id
                .replace('+', "-")
                .replace('/', "_")
                .trim_end_matches('='),
        )
        .join("state.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    let state = loop {
        let state: Option<Value> = std::fs::read(&state_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(state) = state.filter(|s| s["verified_position"]["size"] == size) {
            break state;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "certspotter did not verify {size} entries in time:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        state,
    )
}

#[tokio::test]
async fn certspotter_follows_the_log_from_index_0_and_agrees_with_every_sth() {
    let Some(bin) = certspotter() else {
        eprintln!("notice: certspotter is not installed; skipping the monitor test");
        return;
    };
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let config = app.get("/api/v2/configuration").await.json();
    let log_id = config["ctLog"]["logId"].as_str().unwrap().to_owned();
    let logs = json!({
        "version": "3",
        "log_list_timestamp": "2026-01-01T00:00:00Z",
        "operators": [{"name": "sigil", "email": ["ops@example.com"], "tiled_logs": [], "logs": [{
            "description": "sigil under test", "log_id": log_id, "key": config["ctLog"]["publicKey"],
            // RFC 6962 paths are `<url>ct/v1/...`.
            "url": format!("{}/", app.address), "mmd": 86400,
            "state": {"usable": {"timestamp": "2026-01-01T00:00:00Z"}},
        }]}],
    });
    std::fs::write(dir.path().join("logs.json"), logs.to_string()).unwrap();
    std::fs::write(dir.path().join("watch"), "example.com\n").unwrap();

    let mut total = 0;
    for round in 0..2 {
        for i in 0..(5 + round * 7) {
            let token = app.issuer.token("email", json!({"sub": "m", "email": format!("m{round}{i}@example.com"), "email_verified": true}));
            assert_eq!(app.sign_csr(&token, &csr(&p256())).await.status, 200);
            total += 1;
        }
        let sth = app.get("/ct/v1/get-sth").await.json();
        assert_eq!(sth["tree_size"], total);
        // The second round resumes from the first round's verified STH, so certspotter also
        // checks the consistency of the two.
        let (output, state) = follow(bin, dir.path(), &log_id, total).await;
        for complaint in ["malformed", "inconsistent", "invalid", "error"] {
            assert!(
                !output.to_lowercase().contains(complaint),
                "certspotter reported a problem:\n{output}"
            );
        }
        assert_eq!(
            state["verified_sth"]["sha256_root_hash"], sth["sha256_root_hash"],
            "{output}"
        );
        assert_eq!(state["verified_sth"]["tree_size"], total);
        assert_eq!(
            STANDARD
                .decode(state["verified_sth"]["log_id"].as_str().unwrap())
                .unwrap(),
            openssl::sha::sha256(&app.ct_log_spki)
        );
    }
}
