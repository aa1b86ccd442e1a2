//! Interactive sign-in: `sigil sign` against a `--dev` server, with this test acting as the
//! person at the browser (or at the other device), and the dev issuer's OAuth protocol rules.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sigil::client::trust::TrustMaterial;
use sigil::client::verify::{Policy, verify};

use crate::helpers::*;

/// `sigil sign` with an interactive flow; its stderr lines arrive on the receiver.
fn sign_interactively(
    server: &str,
    flow: &str,
    file: &std::path::Path,
) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args([
            "sign",
            "--server",
            server,
            "--oauth-flow",
            flow,
            "--no-browser",
        ])
        .arg(file)
        .env_remove("SIGIL_IDENTITY_TOKEN")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .env_remove("GITLAB_CI")
        .env_remove("BUILDKITE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, receiver)
}

/// The next line satisfying `pick`, within 30 s.
fn wait_for(lines: &mpsc::Receiver<String>, pick: impl Fn(&str) -> Option<String>) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("sigil sign printed nothing useful");
        if let Some(found) = pick(&line) {
            return found;
        }
    }
}

/// Waits for `sigil sign` to exit and returns the rest of what it printed.
fn wait_success(mut child: Child, lines: &mpsc::Receiver<String>) -> Vec<String> {
    let status = child.wait().unwrap();
    // The reader thread may still hold the last lines when the child exits, so read until
    // it reaches end of file and drops its sender, not just what has arrived so far.
    let mut printed = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(30)) {
        printed.push(line);
    }
    assert!(status.success(), "sigil sign failed: {printed:?}");
    printed
}

/// The bundle verifies for `email` from the dev issuer.
async fn assert_signed_as(server: &str, file: &std::path::Path, email: &str) {
    let trust = TrustMaterial::from_server(&reqwest::Client::new(), server)
        .await
        .unwrap()
        .0;
    let bundle = std::fs::read(sigil::client::sign::default_bundle_path(file)).unwrap();
    let digest = openssl::sha::sha256(&std::fs::read(file).unwrap());
    let policy = Policy::exact(email, &format!("{server}/dev/oidc"));
    verify(&bundle, &digest, &trust, &policy).unwrap();
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_through_the_browser_with_pkce_and_a_loopback_redirect() {
    let dir = tempfile::tempdir().unwrap();
    let served = SigilProcess::start(&["--dev"], &[], dir.path()).await;
    let file = dir.path().join("browser.txt");
    std::fs::write(&file, b"signed after a browser sign-in\n").unwrap();
    let (child, lines) = sign_interactively(&served.address, "browser", &file);

    // The person opens the printed URL, sees the form, and approves as someone else.
    let url = wait_for(&lines, |l| {
        l.trim().starts_with("http").then(|| l.trim().to_owned())
    });
    let url = url::Url::parse(&url).unwrap();
    assert_eq!(url.path(), "/dev/oidc/authorize");
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let field = |name: &str| query.iter().find(|(k, _)| k == name).unwrap().1.clone();
    assert_eq!(field("code_challenge_method"), "S256");
    assert!(field("redirect_uri").starts_with("http://localhost:"));
    let page = reqwest::get(url.as_str())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<form") && page.contains("approve"), "{page}");

    let mut form = query.clone();
    form.push(("email".into(), "browser@example.com".into()));
    form.push(("decision".into(), "approve".into()));
    let approved = no_redirects()
        .post(format!("{}/dev/oidc/authorize", served.address))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 302);
    let back = approved.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with(&field("redirect_uri")), "{back}");
    let landing = reqwest::get(&back).await.unwrap().text().await.unwrap();
    assert!(landing.contains("Signed in"), "{landing}");

    let printed = wait_success(child, &lines);
    assert!(
        printed
            .iter()
            .any(|l| l.starts_with("Signed ") && l.ends_with("browser.txt.sigstore.json")),
        "{printed:?}"
    );
    assert_signed_as(&served.address, &file, "browser@example.com").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_a_device_code_on_a_headless_machine() {
    let dir = tempfile::tempdir().unwrap();
    let served = SigilProcess::start(&["--dev"], &[], dir.path()).await;
    let file = dir.path().join("device.txt");
    std::fs::write(&file, b"signed after a device sign-in\n").unwrap();
    let (child, lines) = sign_interactively(&served.address, "device", &file);

    let code = wait_for(&lines, |l| {
        l.split_once("enter the code ")
            .map(|(_, c)| c.trim().to_owned())
    });
    let page = reqwest::get(format!("{}/dev/oidc/device/verify", served.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("user_code"), "{page}");
    // Let the client poll while the code is pending before approving.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let done = reqwest::Client::new()
        .post(format!("{}/dev/oidc/device/verify", served.address))
        .form(&[
            ("user_code", code.to_lowercase().as_str()),
            ("email", "device@example.com"),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);

    wait_success(child, &lines);
    assert_signed_as(&served.address, &file, "device@example.com").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_issuer_enforces_the_oauth_rules() {
    let dir = tempfile::tempdir().unwrap();
    let served = SigilProcess::start(&["--dev"], &[], dir.path()).await;
    let base = format!("{}/dev/oidc", served.address);
    let http = no_redirects();
    let token = |form: Vec<(&'static str, String)>| {
        let http = http.clone();
        let url = format!("{base}/token");
        async move {
            let r = http.post(url).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };

    let verifier = URL_SAFE_NO_PAD.encode([7u8; 32]);
    let challenge = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes()));
    let redirect = "http://127.0.0.1:9/auth/callback";
    let authorize = |redirect: &str, challenge: &str| {
        vec![
            ("response_type", "code".to_owned()),
            ("client_id", "sigstore".to_owned()),
            ("redirect_uri", redirect.to_owned()),
            ("state", "s1".to_owned()),
            ("nonce", "n1".to_owned()),
            ("code_challenge", challenge.to_owned()),
            ("code_challenge_method", "S256".to_owned()),
            ("decision", "approve".to_owned()),
        ]
    };
    // Only loopback redirects, only with PKCE; refusals are JSON 400s, not redirects.
    for form in [
        authorize("https://evil.example/cb", &challenge),
        authorize(redirect, ""),
    ] {
        let r = http
            .post(format!("{base}/authorize"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.json::<Value>().await.unwrap()["message"].is_string());
    }
    let code = |location: &str| {
        url::Url::parse(location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned()
    };
    let issue_code = || async {
        let r = http
            .post(format!("{base}/authorize"))
            .form(&authorize(redirect, &challenge))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302);
        code(r.headers()["location"].to_str().unwrap())
    };
    let exchange = |code: String, verifier: &str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", redirect.to_owned()),
            ("client_id", "sigstore".to_owned()),
            ("code_verifier", verifier.to_owned()),
        ]
    };
    let wrong = URL_SAFE_NO_PAD.encode([8u8; 32]);
    let (status, body) = token(exchange(issue_code().await, &wrong)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let good = issue_code().await;
    let (status, body) = token(exchange(good.clone(), &verifier)).await;
    assert_eq!(status, 200, "{body}");
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(
                body["id_token"]
                    .as_str()
                    .unwrap()
                    .split('.')
                    .nth(1)
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["nonce"], "n1");
    let (status, body) = token(exchange(good, &verifier)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "a code works once"
    );

    // Device grants: pending, too fast, denied, unknown.
    let start: Value = http
        .post(format!("{base}/device"))
        .form(&[("client_id", "sigstore"), ("scope", "openid email")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let poll = || {
        vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:device_code".to_owned(),
            ),
            (
                "device_code",
                start["device_code"].as_str().unwrap().to_owned(),
            ),
            ("client_id", "sigstore".to_owned()),
        ]
    };
    assert_eq!(token(poll()).await.1["error"], "authorization_pending");
    assert_eq!(token(poll()).await.1["error"], "slow_down");
    let denied = http
        .post(format!("{base}/device/verify"))
        .form(&[
            ("user_code", start["user_code"].as_str().unwrap()),
            ("decision", "deny"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 200);
    assert_eq!(token(poll()).await.1["error"], "access_denied");
    assert_eq!(token(poll()).await.1["error"], "expired_token");
    let (status, body) = token(vec![("grant_type", "password".to_owned())]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}
