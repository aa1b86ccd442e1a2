//! The `pkcs11` CA backend against SoftHSM2 (Debian's `softhsm2`): the CA key lives in the
//! token and nowhere else, and sigstore-python signs and verifies against that CA. A wrong PIN
//! or key label stops start-up with a message that says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::*;
use crate::sigstore_python::Client;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "4711";

/// A SoftHSM2 token directory with one initialised token holding the key set's intermediate
/// key, whose PEM file is then deleted. `None` (with a notice) when SoftHSM2 is missing, which
/// CI does not allow.
fn token_with_ca_key(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    if !Path::new(MODULE).exists() {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "CI=true but SoftHSM2 ({MODULE}) is not installed"
        );
        eprintln!("notice: SoftHSM2 is not installed; skipping the PKCS#11 tests");
        return None;
    }
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let softhsm = |args: &[&str]| {
        let out = Command::new("softhsm2-util")
            .args(args)
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap();
        assert!(out.status.success(), "softhsm2-util {args:?}: {out:?}");
    };
    softhsm(&[
        "--init-token",
        "--free",
        "--label",
        "sigil-ca",
        "--pin",
        PIN,
        "--so-pin",
        "so-secret",
    ]);
    let keys = dir.join("keys");
    let generated = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(["keys", "generate", "--out"])
        .arg(&keys)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    let key = keys.join("intermediate.key.pem");
    softhsm(&[
        "--import",
        key.to_str().unwrap(),
        "--token",
        "sigil-ca",
        "--label",
        "fulcio-intermediate",
        "--id",
        "01",
        "--pin",
        PIN,
    ]);
    std::fs::remove_file(&key).unwrap();
    Some((conf, keys.join("chain.pem")))
}

fn pkcs11_env<'a>(conf: &'a str, chain: &'a str, key_label: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("SOFTHSM2_CONF", conf),
        ("SIGIL_CA__BACKEND", "pkcs11"),
        ("SIGIL_CA__CHAIN", chain),
        ("SIGIL_CA__PKCS11_MODULE", MODULE),
        ("SIGIL_CA__PKCS11_TOKEN", "sigil-ca"),
        ("SIGIL_CA__PKCS11_KEY", key_label),
        ("SIGIL_CA__PKCS11_PIN_ENV", "SIGIL_TEST_HSM_PIN"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstore_python_signs_with_a_ca_key_inside_softhsm2() {
    let dir = tempfile::tempdir().unwrap();
    let Some((conf, chain)) = token_with_ca_key(dir.path()) else {
        return;
    };
    let (conf, chain) = (conf.display().to_string(), chain.display().to_string());
    let mut env = pkcs11_env(&conf, &chain, "fulcio-intermediate");
    env.push(("SIGIL_TEST_HSM_PIN", PIN));
    let server = SigilProcess::start(&["--dev"], &env, dir.path()).await;
    let address = server.address.clone();
    let Some(client) = Client::for_server(address, Box::new(server)).await else {
        return;
    };

    let bundle = client
        .sign_and_verify("hsm@example.com", "signed by a key in an HSM\n")
        .await;

    // The leaf was signed by the token's key: it chains to the key set's root.
    let leaf = bundle["verificationMaterial"]["certificate"]["rawBytes"]
        .as_str()
        .unwrap();
    let leaf = openssl::x509::X509::from_der(
        &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, leaf).unwrap(),
    )
    .unwrap();
    let chain_certs = openssl::x509::X509::stack_from_pem(&std::fs::read(&chain).unwrap()).unwrap();
    assert!(leaf.verify(&chain_certs[0].public_key().unwrap()).unwrap());
}

#[test]
fn a_wrong_pin_or_key_label_stops_start_up_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let Some((conf, chain)) = token_with_ca_key(dir.path()) else {
        return;
    };
    let (conf, chain) = (conf.display().to_string(), chain.display().to_string());
    for (pin, label, expected) in [
        ("wrong-pin-93817", "fulcio-intermediate", "PIN"),
        (PIN, "no-such-key", "no private key labelled `no-such-key`"),
    ] {
        let mut env = pkcs11_env(&conf, &chain, label);
        env.push(("SIGIL_TEST_HSM_PIN", pin));
        let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
            .args(["serve", "--dev"])
            .env("SIGIL_SERVER__LISTEN", "127.0.0.1:0")
            .envs(env)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started with {pin}/{label}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(
            !stderr.contains(pin) || pin == PIN,
            "the PIN is never printed: {stderr}"
        );
    }
}
