//! The `sigil` binary itself: configuration errors, environment overrides, key generation and
//! the file CA backend.

use std::path::Path;
use std::process::{Command, Output};

use crate::helpers::*;

const SIGIL: &str = env!("CARGO_BIN_EXE_sigil");

/// Starts `sigil serve` with `args` and `env` in `dir`.
async fn serve(args: &[&str], env: &[(&str, &str)], dir: &Path) -> SigilProcess {
    SigilProcess::start(args, env, dir).await
}

/// Runs `sigil serve` expecting it to refuse to start.
fn serve_fails(args: &[&str], env: &[(&str, &str)], dir: &Path) -> String {
    let mut command = Command::new(SIGIL);
    command
        .arg("serve")
        .args(args)
        .current_dir(dir)
        .env("SIGIL_SERVER__LISTEN", "127.0.0.1:0")
        // As in `SigilProcess::start`: a dev database made before the refusal stays in `dir`.
        .env("TMPDIR", dir);
    for (k, v) in env {
        command.env(k, v);
    }
    let out: Output = command.output().unwrap();
    assert!(
        !out.status.success(),
        "sigil serve should have refused to start"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_configuration_stops_startup_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (vec![("SIGIL_CA__CERT_VALIDITY", "2s")], "ca.cert_validity"),
        (vec![("SIGIL_CA__BACKEND", "file")], "ca.chain"),
        (vec![("SIGIL_CA__BACKEND", "hsm")], "ca.backend"),
        (vec![("SIGIL_STORAGE__URL", "mysql://x")], "storage.url"),
        (
            vec![("SIGIL_SERVER__PUBLIC_URL", "ftp://x")],
            "server.public_url",
        ),
        (
            vec![("SIGIL_LOG__SEQUENCE_INTERVAL", "soon")],
            "log.sequence_interval",
        ),
    ];
    for (env, key) in cases {
        let stderr = serve_fails(&["--dev"], &env, dir.path());
        assert!(
            stderr.contains(key),
            "{env:?}: `{stderr}` should name {key}"
        );
    }
    // A typo in the file is named too.
    let file = dir.path().join("sigil.toml");
    std::fs::write(&file, "[ca]\ncert_valdity = \"5m\"\n").unwrap();
    let stderr = serve_fails(&["--config", file.to_str().unwrap()], &[], dir.path());
    assert!(stderr.contains("cert_valdity"), "{stderr}");
    // Without --dev, a missing issuer file is an error, not an empty CA.
    let stderr = serve_fails(
        &[],
        &[("SIGIL_OIDC__ISSUERS", "/nonexistent/issuers.yaml")],
        dir.path(),
    );
    assert!(stderr.contains("/nonexistent/issuers.yaml"), "{stderr}");
}

#[tokio::test]
async fn environment_overrides_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sigil.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:1\"\n[ca]\nkey_type = \"ecdsa-p256\"\n",
    )
    .unwrap();
    // SIGIL_SERVER__LISTEN (set by `serve`) wins over the file's port 1.
    let served = serve(
        &["--config", file.to_str().unwrap(), "--dev"],
        &[("SIGIL_CA__CERT_VALIDITY", "3m")],
        dir.path(),
    )
    .await;
    let (_, chain) = dev_certificate(&served.address, "dev@sigil.localhost", &p256()).await;
    let leaf = &chain[0];
    let leaf = openssl::x509::X509::from_pem(leaf.as_bytes()).unwrap();
    let diff = leaf.not_before().diff(leaf.not_after()).unwrap();
    assert_eq!(diff.secs, 180, "ca.cert_validity from the environment");
    // ca.key_type from the file: the intermediate signs with P-256 (ecdsa-with-SHA256).
    assert_eq!(
        leaf.signature_algorithm().object().nid(),
        openssl::nid::Nid::ECDSA_WITH_SHA256
    );
}

#[tokio::test]
async fn generated_keys_run_a_file_backed_ca_with_an_encrypted_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let out = Command::new(SIGIL)
        .args([
            "keys",
            "generate",
            "--out",
            keys.to_str().unwrap(),
            "--passphrase-env",
            "TEST_CA_PASS",
        ])
        .env("TEST_CA_PASS", "s3cret")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.join("intermediate.key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "private keys are not readable by others"
        );
    }
    assert!(
        std::fs::read_to_string(keys.join("intermediate.key.pem"))
            .unwrap()
            .contains("ENCRYPTED PRIVATE KEY")
    );

    let chain = keys.join("chain.pem");
    let key = keys.join("intermediate.key.pem");
    let ct_key = keys.join("ct-log.key.pem");
    let rekor_key = keys.join("rekor.key.pem");
    let file_env = [
        ("SIGIL_CA__BACKEND", "file"),
        ("SIGIL_CA__CHAIN", chain.to_str().unwrap()),
        ("SIGIL_CA__KEY", key.to_str().unwrap()),
        ("SIGIL_CA__KEY_PASSPHRASE_ENV", "TEST_CA_PASS"),
        ("SIGIL_CT_LOG__KEY", ct_key.to_str().unwrap()),
        ("SIGIL_CT_LOG__KEY_PASSPHRASE_ENV", "TEST_CA_PASS"),
        ("SIGIL_REKOR__KEY", rekor_key.to_str().unwrap()),
        ("SIGIL_REKOR__KEY_PASSPHRASE_ENV", "TEST_LOG_PASS"),
        // Two runs share one database, so the checkpoint origins must not follow the port.
        ("SIGIL_CT_LOG__ORIGIN", "sigil.test/ct"),
        ("SIGIL_REKOR__ORIGIN", "sigil.test"),
    ];
    // Wrong or missing passphrase: refused at start-up, naming the key.
    let mut wrong = file_env.to_vec();
    wrong.extend([("TEST_CA_PASS", "wrong"), ("TEST_LOG_PASS", "s3cret")]);
    assert!(serve_fails(&["--dev"], &wrong, dir.path()).contains("passphrase"));
    assert!(serve_fails(&["--dev"], &file_env, dir.path()).contains("TEST_CA_PASS"));
    let mut wrong_log = file_env.to_vec();
    wrong_log.extend([("TEST_CA_PASS", "s3cret"), ("TEST_LOG_PASS", "wrong")]);
    let refused = serve_fails(&["--dev"], &wrong_log, dir.path());
    assert!(
        refused.contains("rekor.key.pem") && refused.contains("passphrase"),
        "{refused}"
    );

    let mut right = file_env.to_vec();
    right.extend([("TEST_CA_PASS", "s3cret"), ("TEST_LOG_PASS", "s3cret")]);
    let served = serve(&["--dev"], &right, dir.path()).await;
    // The Rekor log signs with the decrypted file key.
    let served_key = reqwest::get(format!("{}/api/v1/log/publicKey", served.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let file_key = openssl::pkey::PKey::private_key_from_pem_passphrase(
        &std::fs::read(&rekor_key).unwrap(),
        b"s3cret",
    )
    .unwrap();
    assert_eq!(
        served_key.as_bytes(),
        file_key.public_key_to_pem().unwrap(),
        "the Rekor log serves the file key"
    );
    let root_cert = reqwest::get(format!("{}/api/v1/rootCert", served.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        root_cert,
        std::fs::read_to_string(&chain).unwrap(),
        "the CA serves the generated chain"
    );
    let port = served.address.rsplit(':').next().unwrap().to_owned();
    let log = || std::fs::read_to_string(dir.path().join(format!("serve-{port}.log"))).unwrap();
    assert!(!log().contains("chmod 600"), "{}", log());
    drop(served);

    // A key file others can read is served, with a warning that names it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ct_key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let served = serve(&["--dev"], &right, dir.path()).await;
        let port = served.address.rsplit(':').next().unwrap();
        let log = std::fs::read_to_string(dir.path().join(format!("serve-{port}.log"))).unwrap();
        let warning = log
            .lines()
            .find(|l| l.contains("chmod 600"))
            .unwrap_or_else(|| panic!("{log}"));
        assert!(
            warning.contains("ct_log.key") && warning.contains("644"),
            "{warning}"
        );
        assert!(!log.contains("s3cret"), "no passphrase in the log");
    }
}

#[test]
fn an_ed25519_ca_key_is_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    // A self-signed Ed25519 CA certificate and its key.
    let key = openssl::pkey::PKey::generate_ed25519().unwrap();
    std::fs::write(
        dir.path().join("chain.pem"),
        self_signed(&key, "ed25519 ca", true).to_pem().unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("key.pem"),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    let stderr = serve_fails(
        &["--dev"],
        &[
            ("SIGIL_CA__BACKEND", "file"),
            ("SIGIL_CA__CHAIN", "chain.pem"),
            ("SIGIL_CA__KEY", "key.pem"),
        ],
        dir.path(),
    );
    assert!(stderr.contains("Ed25519"), "{stderr}");
}

#[test]
fn a_key_that_does_not_match_the_chain_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for set in ["a", "b"] {
        let out = Command::new(SIGIL)
            .args(["keys", "generate", "--out", set])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let stderr = serve_fails(
        &["--dev"],
        &[
            ("SIGIL_CA__BACKEND", "file"),
            ("SIGIL_CA__CHAIN", "a/chain.pem"),
            ("SIGIL_CA__KEY", "b/intermediate.key.pem"),
        ],
        dir.path(),
    );
    assert!(stderr.contains("not the certificate of ca.key"), "{stderr}");
}

#[tokio::test]
async fn trust_config_prints_the_deployments_client_trust_config() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&["--dev"], &[], dir.path()).await;
    let out = Command::new(SIGIL)
        .args(["trust-config", "--server", &served.address])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let served_json: serde_json::Value = reqwest::get(format!(
        "{}/.well-known/sigstore/client_trust_config.json",
        served.address
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(printed, served_json);
    let tr = &printed["trustedRoot"];
    assert_eq!(
        tr["mediaType"],
        "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    );
    for service in ["caUrls", "rekorTlogUrls", "oidcUrls"] {
        assert!(
            printed["signingConfig"][service][0]["operator"].is_string(),
            "{service} has an operator"
        );
    }
    // A server that is not sigil is refused with a message, not a panic.
    let out = Command::new(SIGIL)
        .args(["trust-config", "--server", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("client_trust_config.json"));
}
