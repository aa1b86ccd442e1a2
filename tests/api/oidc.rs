//! The OIDC key cache against a live issuer: rotation, rate-limited refetches, and an issuer
//! behind a private TLS CA.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

fn alice() -> serde_json::Value {
    json!({"sub": "alice-id", "email": "alice@example.com", "email_verified": true})
}

fn jwks_fetches(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"sigil_oidc_jwks_fetches_total{result="ok"} "#))
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test]
async fn a_rotated_in_key_is_picked_up_by_refetching() {
    let app = TestApp::spawn_with(|c| c.oidc.jwks_refresh_interval = Duration::ZERO).await;
    assert_eq!(
        app.sign_csr(&app.issuer.token("email", alice()), &csr(&p256()))
            .await
            .status,
        200
    );
    app.issuer.rotate_in("rsa-2");
    let token = app.issuer.token_with("email", "rsa-2", alice());
    assert_eq!(app.sign_csr(&token, &csr(&p256())).await.status, 200);
    assert_eq!(jwks_fetches(&app.get("/metrics").await.text), 2);
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let app =
        TestApp::spawn_with(|c| c.oidc.jwks_refresh_interval = Duration::from_secs(3600)).await;
    assert_eq!(
        app.sign_csr(&app.issuer.token("email", alice()), &csr(&p256()))
            .await
            .status,
        200
    );
    app.issuer.rotate_in("rsa-2");
    let token = app.issuer.token_with("email", "rsa-2", alice());
    for _ in 0..5 {
        app.sign_csr(&token, &csr(&p256()))
            .await
            .assert_refused(401, "kid `rsa-2`");
    }
    // Forged kids cannot make sigil hammer the issuer: still the one initial fetch.
    assert_eq!(jwks_fetches(&app.get("/metrics").await.text), 1);
}

#[tokio::test]
async fn an_issuer_behind_an_internal_tls_ca_is_trusted_through_ca_cert() {
    let issuer = TestIssuer::start().await;
    let (https, ca_pem) = issuer.start_tls_mirror();
    let iss = format!("{https}/corp");
    let indented: String = ca_pem.lines().map(|l| format!("      {l}\n")).collect();
    for with_ca_cert in [false, true] {
        let ca_cert = if with_ca_cert {
            format!("    ca-cert: |\n{indented}")
        } else {
            String::new()
        };
        let yaml =
            format!("oidc-issuers:\n  {iss}:\n    client-id: sigstore\n    type: email\n{ca_cert}");
        let app = TestApp::spawn_with(|c| {
            let path = c.oidc.issuers.with_file_name("tls.yaml");
            std::fs::write(&path, &yaml).unwrap();
            c.oidc.issuers = path;
        })
        .await;
        let token = issuer.token_for_iss(&iss, "rsa-1", alice());
        let answer = app.sign_csr(&token, &csr(&p256())).await;
        if with_ca_cert {
            assert_eq!(answer.status, 200, "{}", answer.text);
        } else {
            // Without the internal CA, the IdP's certificate is untrusted: the issuer is
            // unreachable for sigil, which is a 503, not a pass.
            answer.assert_refused(503, "could not be reached");
        }
    }
}

#[tokio::test]
async fn cached_keys_outlive_an_issuer_that_goes_down_or_breaks_its_jwks() {
    let app = TestApp::spawn_with(|c| {
        c.oidc.jwks_cache_ttl = Duration::from_millis(300);
        c.oidc.fetch_timeout = Duration::from_secs(1);
    })
    .await;
    let token = app.issuer.token("email", alice());
    assert_eq!(app.sign_csr(&token, &csr(&p256())).await.status, 200);
    for fault in [Fault::Down, Fault::BrokenJwks, Fault::Slow] {
        app.issuer.set_fault("email", Some(fault));
        // Past the TTL, the refetch fails; the last good key set still verifies the token.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(app.sign_csr(&token, &csr(&p256())).await.status, 200);
    }
    let metrics = app.get("/metrics").await.text;
    assert!(
        metrics.contains(r#"sigil_oidc_jwks_fetches_total{result="stale"}"#),
        "{metrics}"
    );
    // Back up: once the failure backoff (5 s) has passed, fresh keys are fetched again.
    app.issuer.set_fault("email", None);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(app.sign_csr(&token, &csr(&p256())).await.status, 200);
    assert_eq!(jwks_fetches(&app.get("/metrics").await.text), 2);
}

#[tokio::test]
async fn an_uncached_issuer_that_hangs_fails_fast_and_blocks_nobody() {
    let app = TestApp::spawn_with(|c| c.oidc.fetch_timeout = Duration::from_secs(2)).await;
    app.issuer.set_fault("email-skip", Some(Fault::Slow));
    let stuck = app.issuer.token("email-skip", alice());
    let healthy = app.issuer.token("email", alice());

    // While one request waits on the hanging issuer, other work goes on.
    let waiting = {
        let (client, url, key) = (app.client.clone(), app.address.clone(), p256());
        let body = serde_json::json!({"certificateSigningRequest":
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, csr(&key))});
        tokio::spawn(async move {
            client
                .post(format!("{url}/api/v2/signingCert"))
                .bearer_auth(stuck)
                .json(&body)
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.sign_csr(&healthy, &csr(&p256())).await.status, 200);
    assert!(!waiting.is_finished(), "the hanging fetch is still running");
    let first = waiting.await.unwrap();
    assert_eq!(first.status(), 503);
    assert_eq!(first.headers()["retry-after"], "5");

    // The failure is remembered: the next request is refused at once, not after the timeout.
    let token = app.issuer.token("email-skip", alice());
    let started = std::time::Instant::now();
    app.sign_csr(&token, &csr(&p256()))
        .await
        .assert_refused(503, "email-skip");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}
