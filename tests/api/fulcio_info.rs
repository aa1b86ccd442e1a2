//! The read-only Fulcio endpoints and the operations endpoints.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn trust_bundle_and_root_cert_serve_the_ca_chain() {
    let app = TestApp::spawn().await;
    let bundle = app.get("/api/v2/trustBundle").await.json();
    let chain: Vec<String> = bundle["chains"][0]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(chain.len(), 2, "intermediate then root");
    // The chain of an issued certificate is the leaf followed by exactly this bundle.
    let token = app.issuer.token(
        "email",
        json!({"sub": "s", "email": "a@example.com", "email_verified": true}),
    );
    let issued = chain_of(&app.sign_csr(&token, &csr(&p256())).await);
    assert_eq!(&issued[1..], &chain[..]);

    let root = app.get("/api/v1/rootCert").await;
    assert_eq!(root.status, 200);
    assert_eq!(
        root.headers["content-type"],
        "application/pem-certificate-chain"
    );
    let certs = openssl::x509::X509::stack_from_pem(root.text.as_bytes()).unwrap();
    assert_eq!(certs.len(), 2);
    // The last certificate is a self-signed root.
    let last = certs.last().unwrap();
    assert_eq!(last.issued(last), openssl::x509::X509VerifyResult::OK);
}

#[tokio::test]
async fn configuration_lists_issuers_as_fulcio_does() {
    let app = TestApp::spawn().await;
    let config = app.get("/api/v2/configuration").await.json();
    let issuers = config["issuers"].as_array().unwrap();
    let find = |key: &str, url: &str| {
        issuers
            .iter()
            .find(|i| i[key] == url)
            .unwrap_or_else(|| panic!("{url} in {config}"))
            .clone()
    };
    let email = find("issuerUrl", &app.issuer.url("email"));
    assert_eq!(email["audience"], "sigstore");
    assert_eq!(email["challengeClaim"], "email");
    assert_eq!(email["issuerType"], "email");
    assert_eq!(email["spiffeTrustDomain"], "");
    let spiffe = find("issuerUrl", &app.issuer.url("spiffe"));
    assert_eq!(spiffe["challengeClaim"], "sub");
    assert_eq!(spiffe["spiffeTrustDomain"], "example.org");
    let uri = find("issuerUrl", &app.issuer.url("uri"));
    assert_eq!(uri["subjectDomain"], "https://127.0.0.1");
    let meta = find(
        "wildcardIssuerUrl",
        &format!("{}/clusters/*/oidc", app.issuer.base),
    );
    assert_eq!(meta["issuerType"], "kubernetes");
    assert!(meta.get("issuerUrl").is_none());
    assert_eq!(
        find("issuerUrl", &app.issuer.url("email-skip"))["skipEmailVerification"],
        true
    );
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status, 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "ready");

    let token = app.issuer.token("github", json!({"sub": "x"}));
    app.sign_csr(&token, &csr(&p256()))
        .await
        .assert_refused(401, "claim");
    let token = app.issuer.token(
        "email",
        json!({"sub": "s", "email": "m@example.com", "email_verified": true}),
    );
    assert_eq!(app.sign_csr(&token, &csr(&p256())).await.status, 200);

    let metrics = app.get("/metrics").await;
    assert!(
        metrics.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text;
    for needle in [
        r#"sigil_certificates_issued_total{issuer_type="email"} 1"#,
        r#"sigil_token_rejections_total{reason="missing_claim"} 1"#,
        // One fetch per issuer (github, email), then cached.
        r#"sigil_oidc_jwks_fetches_total{result="ok"} 2"#,
        r#"sigil_http_request_duration_seconds_count{method="POST",route="/api/v2/signingCert",status="200"} 1"#,
        r#"sigil_build_info{version=""#,
        r#"sigil_log_entries_appended_total{log="ct"} 1"#,
        r#"sigil_log_tree_size{log="ct"} 1"#,
        r#"sigil_log_batch_size_count{log="ct"} 1"#,
        r#"sigil_log_sequencing_seconds_count{log="ct"} 1"#,
        r#"sigil_log_pool_depth{log="ct"} 0"#,
        r#"sigil_log_batch_linger_seconds{log="ct"} "#,
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in\n{text}");
    }
}

#[tokio::test]
async fn dev_issuer_is_absent_without_dev_mode() {
    let app = TestApp::spawn().await;
    app.get("/dev/oidc/.well-known/openid-configuration")
        .await
        .assert_refused(404, "no such endpoint");
    app.get("/dev/oidc/token")
        .await
        .assert_refused(404, "no such endpoint");
}

#[tokio::test]
async fn dev_mode_issues_certificates_for_dev_issuer_tokens_through_discovery() {
    let app = TestApp::spawn_with(|c| c.dev = true).await;
    let discovery = app
        .get("/dev/oidc/.well-known/openid-configuration")
        .await
        .json();
    let issuer = format!("{}/dev/oidc", app.address);
    assert_eq!(discovery["issuer"], issuer.as_str());
    let token = app
        .get("/dev/oidc/token?email=erin@example.com")
        .await
        .json()["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = p256();
    app.assert_issued(
        &app.sign_csr(&token, &csr(&key)).await,
        &Expected {
            san: San::Email("erin@example.com"),
            issuer: &issuer,
            extensions: &[(24, "erin@example.com")],
            spki_der: spki(&key),
        },
    );
    // The form-encoded POST variant, and a bad query.
    let form = app
        .client
        .post(format!("{issuer}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=frank%40example.com&ttl=60")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    app.get("/dev/oidc/token?ttl=abc")
        .await
        .assert_refused(400, "query");
    // The dev issuer's keys were fetched over HTTP like any issuer's.
    assert!(
        app.get("/metrics")
            .await
            .text
            .contains(r#"sigil_oidc_jwks_fetches_total{result="ok"} 1"#)
    );
}

#[tokio::test]
async fn trust_documents_describe_the_running_ca_and_logs() {
    use base64::Engine;
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let app = TestApp::spawn().await;
    let root = app
        .get("/.well-known/sigstore/trusted_root.json")
        .await
        .json();
    let signing = app
        .get("/.well-known/sigstore/signing_config.v0.2.json")
        .await
        .json();
    let client = app
        .get("/.well-known/sigstore/client_trust_config.json")
        .await
        .json();
    assert_eq!(client["trustedRoot"], root);
    assert_eq!(client["signingConfig"], signing);

    // The CT log: the key whose SCTs are in the certificates, its ID = SHA-256(SPKI), the same
    // ID that /api/v2/configuration shows.
    let ct = &root["ctlogs"][0];
    assert_eq!(b64(&ct["publicKey"]["rawBytes"]), app.ct_log_spki);
    assert_eq!(
        b64(&ct["logId"]["keyId"]),
        openssl::sha::sha256(&app.ct_log_spki).to_vec()
    );
    let config = app.get("/api/v2/configuration").await.json();
    assert_eq!(ct["logId"]["keyId"], config["ctLog"]["logId"]);
    assert_eq!(ct["publicKey"]["keyDetails"], "PKIX_ECDSA_P256_SHA_256");
    // The Rekor log: its public key endpoint agrees.
    let rekor_pem = app.get("/api/v1/log/publicKey").await.text;
    let rekor_spki = openssl::pkey::PKey::public_key_from_pem(rekor_pem.as_bytes())
        .unwrap()
        .public_key_to_der()
        .unwrap();
    assert_eq!(b64(&root["tlogs"][0]["publicKey"]["rawBytes"]), rekor_spki);
    assert_eq!(
        b64(&root["tlogs"][0]["logId"]["keyId"]),
        openssl::sha::sha256(&rekor_spki).to_vec()
    );
    // The CA chain is the trust bundle's, intermediate first.
    let bundle = app.get("/api/v2/trustBundle").await.json();
    for (i, cert) in root["certificateAuthorities"][0]["certChain"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let pem = bundle["chains"][0]["certificates"][i].as_str().unwrap();
        assert_eq!(
            b64(&cert["rawBytes"]),
            openssl::x509::X509::from_pem(pem.as_bytes())
                .unwrap()
                .to_der()
                .unwrap()
        );
    }
    // Services point at this server, with no trailing slash, and carry an operator.
    assert_eq!(signing["caUrls"][0]["url"], app.address.as_str());
    assert_eq!(signing["rekorTlogUrls"][0]["url"], app.address.as_str());
    assert_eq!(
        signing["oidcUrls"],
        serde_json::json!([]),
        "no OIDC service outside dev mode"
    );
}
