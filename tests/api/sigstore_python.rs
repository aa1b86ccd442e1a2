//! Interoperability with a real client: sigstore-python 4.5.1 from PyPI, given only this
//! deployment's `client_trust_config.json` and a dev-issuer token, signs, attests and
//! verifies; every tampered variant fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use serde_json::Value;

use crate::helpers::*;

/// The pinned client version the project is judged against.
const SIGSTORE_PYTHON: &str = "sigstore==4.5.1";

static VENV: Mutex<Option<Option<PathBuf>>> = Mutex::new(None);

/// The `sigstore` CLI of a venv under the target directory, created once per test run (pip
/// reaches PyPI, which CI allows). `None` means unavailable; under CI=true that fails instead.
fn sigstore_cli() -> Option<PathBuf> {
    let mut venv = VENV.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(cached) = venv.as_ref() {
        return cached.clone();
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sigstore-python-4.5.1");
    let cli = dir.join("bin/sigstore");
    let ready = cli.exists() || {
        let created = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        created
            && Command::new(dir.join("bin/pip"))
                .args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    SIGSTORE_PYTHON,
                ])
                .status()
                .is_ok_and(|s| s.success())
    };
    if !ready && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but {SIGSTORE_PYTHON} could not be installed into {}",
            dir.display()
        );
    }
    if !ready {
        eprintln!("notice: {SIGSTORE_PYTHON} is not installable here; skipping the interop tests");
    }
    let result = ready.then_some(cli);
    *venv = Some(result.clone());
    result
}

/// A sigil deployment, its trust config on disk, and a way to run the client against it.
pub struct Client {
    address: String,
    dir: tempfile::TempDir,
    cli: PathBuf,
    issuer: String,
    /// The server (in-process or a child process), kept alive as long as the client.
    _server: Box<dyn std::any::Any>,
}

impl Client {
    /// sigstore-python against an in-process `--dev` server.
    async fn new() -> Option<Client> {
        let cli = sigstore_cli()?;
        let app = TestApp::spawn_with(|c| c.dev = true).await;
        Some(Client::at(app.address.clone(), Box::new(app), cli).await)
    }

    /// sigstore-python against the `--dev` server at `address`, kept alive by `server`; `None`
    /// when sigstore-python is not installable here.
    pub async fn for_server(address: String, server: Box<dyn std::any::Any>) -> Option<Client> {
        let cli = sigstore_cli()?;
        Some(Client::at(address, server, cli).await)
    }

    async fn at(address: String, server: Box<dyn std::any::Any>, cli: PathBuf) -> Client {
        let dir = tempfile::tempdir().unwrap();
        let trust = reqwest::get(format!(
            "{address}/.well-known/sigstore/client_trust_config.json"
        ))
        .await
        .unwrap();
        assert_eq!(trust.status(), 200);
        std::fs::write(dir.path().join("tc.json"), trust.text().await.unwrap()).unwrap();
        Client {
            issuer: format!("{address}/dev/oidc"),
            address,
            dir,
            cli,
            _server: server,
        }
    }

    async fn token(&self, email: &str) -> String {
        let url = format!("{}/dev/oidc/token?email={email}", self.address);
        let body: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        body["id_token"].as_str().unwrap().to_owned()
    }

    /// Runs `sigstore --trust-config tc.json ARGS` in the work directory. The client's own
    /// network calls go to the sigil server, which runs on other threads.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.cli)
            .arg("--trust-config")
            .arg(self.dir.path().join("tc.json"))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    /// Signs `artifact.txt` holding `contents` as `email` into `artifact.sigstore.json`, asserts
    /// that sigstore-python verifies it, and returns the bundle.
    pub async fn sign_and_verify(&self, email: &str, contents: &str) -> Value {
        self.write("artifact.txt", contents);
        let token = self.token(email).await;
        let signed = self.run(&[
            "sign",
            "--identity-token",
            &token,
            "--bundle",
            "artifact.sigstore.json",
            "artifact.txt",
        ]);
        assert!(ok(&signed), "sign: {}", show(&signed));
        let verified = self.verify(
            "artifact.sigstore.json",
            email,
            &self.issuer,
            "artifact.txt",
        );
        assert!(ok(&verified), "verify: {}", show(&verified));
        serde_json::from_slice(
            &std::fs::read(self.dir.path().join("artifact.sigstore.json")).unwrap(),
        )
        .unwrap()
    }

    fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.dir.path().join(name), contents).unwrap();
    }

    fn verify(&self, bundle: &str, identity: &str, issuer: &str, artifact: &str) -> Output {
        self.run(&[
            "verify",
            "identity",
            "--offline",
            "--bundle",
            bundle,
            "--cert-identity",
            identity,
            "--cert-oidc-issuer",
            issuer,
            artifact,
        ])
    }
}

fn ok(out: &Output) -> bool {
    out.status.success()
}

fn show(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstore_python_signs_and_verifies_against_sigil() {
    let Some(client) = Client::new().await else {
        return;
    };
    let bundle = client
        .sign_and_verify("alice@example.com", "hello, sigil\n")
        .await;
    assert_eq!(
        bundle["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"],
        "hashedrekord"
    );
    // sigstore-python's bundle verifies with `sigil verify` too, and not for another identity.
    let sigil_verify = |identity: &str| {
        Command::new(env!("CARGO_BIN_EXE_sigil"))
            .args([
                "verify",
                "artifact.txt",
                "--bundle",
                "artifact.sigstore.json",
                "--trust-config",
                "tc.json",
            ])
            .args([
                "--cert-identity",
                identity,
                "--cert-oidc-issuer",
                &client.issuer,
            ])
            .current_dir(client.dir.path())
            .output()
            .unwrap()
    };
    let verified = sigil_verify("alice@example.com");
    assert!(ok(&verified), "sigil verify: {}", show(&verified));
    let refused = sigil_verify("mallory@example.com");
    assert!(
        !ok(&refused) && show(&refused).contains("identity"),
        "{}",
        show(&refused)
    );

    // A changed artifact, a wrong identity and a wrong issuer all fail.
    client.write("changed.txt", "hello, sigil!\n");
    assert!(!ok(&client.verify(
        "artifact.sigstore.json",
        "alice@example.com",
        &client.issuer,
        "changed.txt"
    )));
    assert!(!ok(&client.verify(
        "artifact.sigstore.json",
        "mallory@example.com",
        &client.issuer,
        "artifact.txt"
    )));
    assert!(!ok(&client.verify(
        "artifact.sigstore.json",
        "alice@example.com",
        "https://accounts.google.com",
        "artifact.txt"
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstore_python_attests_with_dsse_and_verifies() {
    let Some(client) = Client::new().await else {
        return;
    };
    client.write("artifact.txt", "release 1.0\n");
    client.write(
        "predicate.json",
        r#"{"buildDefinition":{"buildType":"https://example.com/build","externalParameters":{}},"runDetails":{"builder":{"id":"https://example.com/builder"}}}"#,
    );
    let token = client.token("builder@example.com").await;
    let attested = client.run(&[
        "attest",
        "--predicate-type",
        "https://slsa.dev/provenance/v1",
        "--predicate",
        "predicate.json",
        "--identity-token",
        &token,
        "--bundle",
        "attestation.sigstore.json",
        "artifact.txt",
    ]);
    assert!(ok(&attested), "attest: {}", show(&attested));
    let bundle: Value = serde_json::from_slice(
        &std::fs::read(client.dir.path().join("attestation.sigstore.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        bundle["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"],
        "dsse"
    );
    let verified = client.verify(
        "attestation.sigstore.json",
        "builder@example.com",
        &client.issuer,
        "artifact.txt",
    );
    assert!(ok(&verified), "verify: {}", show(&verified));
    client.write("other.txt", "release 2.0\n");
    assert!(!ok(&client.verify(
        "attestation.sigstore.json",
        "builder@example.com",
        &client.issuer,
        "other.txt"
    )));
    assert!(!ok(&client.verify(
        "attestation.sigstore.json",
        "someone@example.com",
        &client.issuer,
        "artifact.txt"
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigil_sign_bundles_verify_with_sigstore_python() {
    let Some(client) = Client::new().await else {
        return;
    };
    client.write("one.txt", "first\n");
    client.write("two.txt", "second\n");
    let token = client.token("carol@example.com").await;
    let sigil = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sigil"))
            .args(args)
            .current_dir(client.dir.path())
            .output()
            .unwrap()
    };
    let signed = sigil(&[
        "sign",
        "--server",
        &client.address,
        "--identity-token",
        &token,
        "one.txt",
        "two.txt",
    ]);
    assert!(ok(&signed), "sigil sign: {}", show(&signed));
    for file in ["one.txt", "two.txt"] {
        let bundle = format!("{file}.sigstore.json");
        let verified = client.verify(&bundle, "carol@example.com", &client.issuer, file);
        assert!(
            ok(&verified),
            "sigstore-python verify of sigil's bundle: {}",
            show(&verified)
        );
    }
    // Both files share one certificate.
    let cert = |f: &str| -> Value {
        serde_json::from_slice::<Value>(&std::fs::read(client.dir.path().join(f)).unwrap()).unwrap()
            ["verificationMaterial"]["certificate"]
            .clone()
    };
    assert_eq!(cert("one.txt.sigstore.json"), cert("two.txt.sigstore.json"));
    assert!(!ok(&client.verify(
        "one.txt.sigstore.json",
        "carol@example.com",
        &client.issuer,
        "two.txt"
    )));

    // A trust config whose CT key is another log's: sigil refuses the certificate before signing.
    let mut tc: Value =
        serde_json::from_slice(&std::fs::read(client.dir.path().join("tc.json")).unwrap()).unwrap();
    use base64::Engine;
    tc["trustedRoot"]["ctlogs"][0]["publicKey"]["rawBytes"] = Value::String(
        base64::engine::general_purpose::STANDARD.encode(p256().public_key_to_der().unwrap()),
    );
    client.write("other-tc.json", &tc.to_string());
    client.write("three.txt", "third\n");
    let refused = sigil(&[
        "sign",
        "--trust-config",
        "other-tc.json",
        "--identity-token",
        &token,
        "three.txt",
    ]);
    assert!(!ok(&refused));
    assert!(show(&refused).contains("SCT"), "{}", show(&refused));
    assert!(
        !client.dir.path().join("three.txt.sigstore.json").exists(),
        "no bundle on failure"
    );
    // Without a token, a clear message.
    let no_token = sigil(&["sign", "--server", &client.address, "three.txt"]);
    assert!(!ok(&no_token) && show(&no_token).contains("no identity token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestations_cross_verify_between_sigil_and_sigstore_python() {
    let Some(client) = Client::new().await else {
        return;
    };
    client.write("release.tar", "bytes of a release\n");
    client.write(
        "predicate.json",
        r#"{"buildDefinition":{"buildType":"https://example.com/build","externalParameters":{}},"runDetails":{"builder":{"id":"https://example.com/builder"}}}"#,
    );
    let token = client.token("dana@example.com").await;
    let run_sigil = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sigil"))
            .args(args)
            .current_dir(client.dir.path())
            .output()
            .unwrap()
    };
    let sigil_verify = |bundle: &str, artifact: &str, identity: &str| {
        run_sigil(&[
            "verify",
            artifact,
            "--bundle",
            bundle,
            "--trust-config",
            "tc.json",
            "--cert-identity",
            identity,
            "--cert-oidc-issuer",
            &client.issuer,
        ])
    };

    // sigil attest -> sigstore-python and sigil verify.
    let attested = run_sigil(&[
        "attest",
        "release.tar",
        "--predicate-type",
        "https://slsa.dev/provenance/v1",
        "--predicate",
        "predicate.json",
        "--bundle",
        "sigil.sigstore.json",
        "--server",
        &client.address,
        "--identity-token",
        &token,
    ]);
    assert!(ok(&attested), "sigil attest: {}", show(&attested));
    let verified = client.verify(
        "sigil.sigstore.json",
        "dana@example.com",
        &client.issuer,
        "release.tar",
    );
    assert!(
        ok(&verified),
        "sigstore-python verify of sigil's attestation: {}",
        show(&verified)
    );
    assert!(ok(&sigil_verify(
        "sigil.sigstore.json",
        "release.tar",
        "dana@example.com"
    )));

    // sigstore-python attest -> sigil verify.
    let attested = client.run(&[
        "attest",
        "--predicate-type",
        "https://slsa.dev/provenance/v1",
        "--predicate",
        "predicate.json",
        "--identity-token",
        &token,
        "--bundle",
        "python.sigstore.json",
        "release.tar",
    ]);
    assert!(ok(&attested), "{}", show(&attested));
    let verified = sigil_verify("python.sigstore.json", "release.tar", "dana@example.com");
    assert!(
        ok(&verified),
        "sigil verify of sigstore-python's attestation: {}",
        show(&verified)
    );

    // Another artifact is not covered by either statement; another identity is refused.
    client.write("other.tar", "other\n");
    for bundle in ["sigil.sigstore.json", "python.sigstore.json"] {
        let out = sigil_verify(bundle, "other.tar", "dana@example.com");
        assert!(
            !ok(&out) && show(&out).contains("subjects"),
            "{}",
            show(&out)
        );
        assert!(!ok(&sigil_verify(bundle, "release.tar", "eve@example.com")));
    }
}
