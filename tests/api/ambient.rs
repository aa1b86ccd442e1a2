//! Ambient CI credentials: `sigil sign` without `--identity-token` inside GitHub Actions (a
//! stand-in of the job's token endpoint on loopback) and GitLab CI.

use std::net::TcpListener;
use std::process::{Command, Output};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;
use sigil::client::trust::TrustMaterial;
use sigil::client::verify::{Policy, verify};

use crate::helpers::*;

/// GitHub's job token endpoint: `GET …&audience=sigstore` with the job's bearer token.
fn start_actions_endpoint(token: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/token?api-version=2.0",
        listener.local_addr().unwrap()
    );
    let server = HttpServer::new(move || {
        let token = token.clone();
        App::new().route(
            "/token",
            web::get().to(move |req: HttpRequest| {
                let token = token.clone();
                async move {
                    let authorized = req
                        .headers()
                        .get("authorization")
                        .is_some_and(|v| v == "Bearer job-secret");
                    if !authorized || !req.query_string().contains("audience=sigstore") {
                        return HttpResponse::Unauthorized().finish();
                    }
                    HttpResponse::Ok().json(json!({"count": 1, "value": token}))
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    url
}

fn sign(app: &TestApp, dir: &std::path::Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sigil"));
    command
        .args(["sign", "--server", &app.address, "artifact.txt"])
        .current_dir(dir);
    for name in [
        "SIGIL_IDENTITY_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "GITLAB_CI",
        "SIGSTORE_ID_TOKEN",
        "BUILDKITE",
    ] {
        command.env_remove(name);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_uses_the_github_actions_and_gitlab_tokens_of_the_job() {
    let app = TestApp::spawn().await;
    let config = app
        .get("/.well-known/sigstore/client_trust_config.json")
        .await
        .json();
    let trust = TrustMaterial::from_client_trust_config(&config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("artifact.txt"), b"from CI\n").unwrap();
    let digest = openssl::sha::sha256(b"from CI\n");
    let bundle = || std::fs::read(dir.path().join("artifact.txt.sigstore.json")).unwrap();

    let endpoint = start_actions_endpoint(
        app.issuer
            .token("github", crate::signing_cert::github_claims()),
    );
    let out = sign(
        &app,
        dir.path(),
        &[
            ("ACTIONS_ID_TOKEN_REQUEST_URL", &endpoint),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "job-secret"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("GitHub Actions"));
    let workflow = "https://github.com/octo/app/.github/workflows/release.yml@refs/heads/main";
    verify(
        &bundle(),
        &digest,
        &trust,
        &Policy::exact(workflow, &app.issuer.url("github")),
    )
    .unwrap();

    // A job without id-token permission gets a message saying so.
    let out = sign(
        &app,
        dir.path(),
        &[
            ("ACTIONS_ID_TOKEN_REQUEST_URL", &endpoint),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "wrong"),
        ],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("id-token: write"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let gitlab_token = app.issuer.token(
        "email",
        json!({"sub": "g", "email": "gitlab@example.com", "email_verified": true}),
    );
    let out = sign(
        &app,
        dir.path(),
        &[("GITLAB_CI", "true"), ("SIGSTORE_ID_TOKEN", &gitlab_token)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    verify(
        &bundle(),
        &digest,
        &trust,
        &Policy::exact("gitlab@example.com", &app.issuer.url("email")),
    )
    .unwrap();

    // Outside CI and without a token: the message lists every source.
    let out = sign(&app, dir.path(), &[]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("GitLab CI"));
}
