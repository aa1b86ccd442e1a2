//! Every way a signing request can be wrong: a 4xx JSON error that says what to fix, and no
//! certificate. At the end, the server's own metrics must show no 5xx at all.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;
use serde_json::json;

use crate::helpers::*;

fn alice() -> serde_json::Value {
    json!({"sub": "alice-id", "email": "alice@example.com", "email_verified": true})
}

#[tokio::test]
async fn bad_tokens_are_refused_with_the_reason() {
    let app = TestApp::spawn().await;
    let issuer = &app.issuer;
    let now = now();
    let claims = |extra: serde_json::Value| {
        let mut c = json!({"iss": issuer.url("email"), "aud": "sigstore", "iat": now, "nbf": now, "exp": now + 600});
        merge(&mut c, alice());
        merge(&mut c, extra);
        c
    };
    let rsa_public_pem = issuer.public_pem("rsa-1");
    let sign = |c: &serde_json::Value| issuer.sign("rsa-1", c);
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(json!({})),
        &jsonwebtoken::EncodingKey::from_secret(&rsa_public_pem),
    )
    .unwrap();
    let good = sign(&claims(json!({})));
    let (head, rest) = good.split_once('.').unwrap();
    let (body, _) = rest.split_once('.').unwrap();
    let other_issuer_sig = {
        // Same header and claims, signed by a key the issuer never published.
        let stranger = rsa_key(2048);
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &stranger).unwrap();
        signer.update(format!("{head}.{body}").as_bytes()).unwrap();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signer.sign_to_vec().unwrap())
    };
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "expired",
            sign(&claims(
                json!({"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}),
            )),
            401,
            "expired",
        ),
        (
            "not yet valid",
            sign(&claims(json!({"nbf": now + 3600}))),
            401,
            "not valid yet",
        ),
        (
            "issued in the future",
            sign(&claims(json!({"iat": now + 3600}))),
            401,
            "not valid yet",
        ),
        (
            "wrong audience",
            sign(&claims(json!({"aud": "not-sigstore"}))),
            401,
            "audience",
        ),
        ("no exp", sign(&claims(json!({"exp": null}))), 401, "exp"),
        ("no iat", sign(&claims(json!({"iat": null}))), 401, "iat"),
        (
            "unknown issuer",
            sign(&claims(json!({"iss": "https://evil.example.com"}))),
            403,
            "not trusted",
        ),
        (
            "alg none",
            raw_token(
                &json!({"alg": "none", "typ": "JWT"}),
                &claims(json!({})),
                b"",
            ),
            401,
            "malformed",
        ),
        (
            "alg none with a signature",
            raw_token(&json!({"alg": "none"}), &claims(json!({})), b"x"),
            401,
            "`none`",
        ),
        ("HS256 with the public key as secret", hs256, 401, "HS256"),
        (
            "unknown kid",
            raw_token(
                &json!({"alg": "RS256", "kid": "nope"}),
                &claims(json!({})),
                b"sig",
            ),
            401,
            "kid `nope`",
        ),
        (
            "bad signature",
            format!("{head}.{body}.{other_issuer_sig}"),
            401,
            "signature",
        ),
        (
            "tampered claims",
            format!(
                "{head}.{}.{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(claims(json!({"email": "mallory@example.com"})).to_string()),
                good.rsplit('.').next().unwrap()
            ),
            401,
            "signature",
        ),
        (
            "email not verified",
            sign(&claims(json!({"email_verified": false}))),
            403,
            "not verified",
        ),
        (
            "email_verified missing",
            sign(&claims(json!({"email_verified": null}))),
            403,
            "not verified",
        ),
        (
            "no email",
            sign(&claims(json!({"email": null}))),
            401,
            "email",
        ),
        (
            "many dots",
            format!("{}{}", good, ".".repeat(5000)),
            401,
            "3 dot-separated parts",
        ),
        (
            "one megabyte",
            format!("{head}.{}.sig", "A".repeat(1 << 20)),
            401,
            "limit",
        ),
        ("not a JWT", "hello".to_owned(), 401, "malformed"),
    ];
    for (what, token, status, needle) in cases {
        // In the body, where any size reaches the token guard...
        let body = json!({"credentials": {"oidcIdentityToken": token}, "certificateSigningRequest": STANDARD.encode(csr(&p256()))});
        let answer = app.post_json("/api/v2/signingCert", &body, None).await;
        assert_eq!(answer.status, status, "{what}: {}", answer.text);
        answer.assert_refused(status, needle);
        // ...and in the header, where the HTTP layer caps header size first: it answers 431
        // and may close the connection before the client has finished writing.
        if token.len() < 16 * 1024 {
            app.sign_csr(&token, &csr(&p256()))
                .await
                .assert_refused(status, needle);
        } else {
            // A throwaway client: the connection the server closes must not be pooled and
            // reused by the next request.
            let sent = reqwest::Client::new()
                .post(format!("{}/api/v2/signingCert", app.address))
                .bearer_auth(&token)
                .body("{}")
                .send()
                .await;
            if let Ok(response) = sent {
                assert_eq!(response.status(), 431, "{what} in a header");
            }
        }
    }
    // The server is alive and issuing afterwards.
    assert_eq!(
        app.sign_csr(&app.issuer.token("email", alice()), &csr(&p256()))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn an_audience_other_than_the_issuers_client_id_is_refused() {
    let app = TestApp::spawn().await;
    // This issuer expects `other-audience`; a sigstore-audience token is not for it.
    let token = app.issuer.token("other-aud", alice());
    app.sign_csr(&token, &csr(&p256()))
        .await
        .assert_refused(401, "other-audience");
}

#[tokio::test]
async fn identity_rules_of_each_issuer_type_are_enforced() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            "uri",
            json!({"sub": "https://evil.com/alice"}),
            403,
            "subject domain",
        ),
        ("uri", json!({"sub": "alice@example.com"}), 403, "not a URI"),
        (
            "username",
            json!({"sub": "alice!root"}),
            403,
            "must not contain",
        ),
        (
            "spiffe",
            json!({"sub": "spiffe://other.org/x"}),
            403,
            "trust domain",
        ),
        (
            "spiffe",
            json!({"sub": "https://example.org/x"}),
            403,
            "not a SPIFFE ID",
        ),
        ("k8s", json!({"sub": "x"}), 401, "kubernetes.io"),
        ("github", json!({"sub": "repo:a/b"}), 401, "claim"),
        (
            "email",
            json!({"email": "not-an-address", "email_verified": true}),
            403,
            "not a valid email",
        ),
        ("uri", json!({}), 401, "sub"),
    ];
    for (issuer, claims, status, needle) in cases {
        let token = app.issuer.token(issuer, claims.clone());
        let answer = app.sign_csr(&token, &csr(&p256())).await;
        assert_eq!(answer.status, status, "{issuer} {claims}: {}", answer.text);
        answer.assert_refused(status, needle);
    }
}

#[tokio::test]
async fn bad_keys_and_proofs_are_refused() {
    let app = TestApp::spawn().await;
    let token = app.issuer.token("email", alice());
    let key = p256();
    let stranger = p256();

    // A CSR carrying one key but signed by another.
    app.sign_csr(
        &token,
        &csr_signed_by(&key, &stranger, Some(MessageDigest::sha256())),
    )
    .await
    .assert_refused(400, "not signed by the key");
    // Proofs of possession over the wrong claim, or by another key.
    app.sign_pop(&token, &key, "alice-id")
        .await
        .assert_refused(400, "proof of possession");
    let mut body = json!({
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {"publicKey": {"content": String::from_utf8(key.public_key_to_pem().unwrap()).unwrap()},
                             "proofOfPossession": STANDARD.encode(prove(&stranger, "alice@example.com"))}
    });
    app.post_json("/api/v2/signingCert", &body, None)
        .await
        .assert_refused(400, "proof of possession");
    // Weak or disallowed keys.
    let rsa1024 = rsa_key(1024);
    app.sign_csr(&token, &csr(&rsa1024))
        .await
        .assert_refused(400, "2048");
    app.sign_pop(&token, &rsa1024, "alice@example.com")
        .await
        .assert_refused(400, "2048");
    let secp256k1 = ec_key(openssl::nid::Nid::SECP256K1);
    app.sign_csr(&token, &csr(&secp256k1))
        .await
        .assert_refused(400, "P-256, P-384 or P-521");
    // P-384 with SHA-256 is not in Fulcio's default allowlist.
    let p384 = ec_key(openssl::nid::Nid::SECP384R1);
    app.sign_csr(
        &token,
        &csr_signed_by(&p384, &p384, Some(MessageDigest::sha256())),
    )
    .await
    .assert_refused(400, "not permitted");
    // Garbage where a key or CSR belongs.
    app.sign_csr(
        &token,
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    )
    .await
    .assert_refused(400, "could not be parsed");
    body["publicKeyRequest"]["publicKey"]["content"] = json!("not a key");
    app.post_json("/api/v2/signingCert", &body, None)
        .await
        .assert_refused(400, "could not be parsed");
}

#[tokio::test]
async fn malformed_requests_are_refused_before_anything_else() {
    let app = TestApp::spawn().await;
    let token = app.issuer.token("email", alice());
    let key_pem = String::from_utf8(p256().public_key_to_pem().unwrap()).unwrap();
    let cases: Vec<(&str, Vec<u8>, Option<&str>, u16, &str)> = vec![
        ("not JSON", b"{not json".to_vec(), Some(&token), 400, "not valid JSON"),
        ("JSON of the wrong shape", br#"{"certificateSigningRequest": 42}"#.to_vec(), Some(&token), 400, "not valid JSON"),
        ("empty body", b"".to_vec(), Some(&token), 400, "not valid JSON"),
        ("no key at all", b"{}".to_vec(), Some(&token), 400, "is required"),
        ("bad base64 CSR", br#"{"certificateSigningRequest": "!!!not base64!!!"}"#.to_vec(), Some(&token), 400, "base64"),
        ("bad base64 proof", json!({"publicKeyRequest": {"publicKey": {"content": key_pem}, "proofOfPossession": "%%%"}}).to_string().into_bytes(), Some(&token), 400, "base64"),
        ("no proof", json!({"publicKeyRequest": {"publicKey": {"content": key_pem}}}).to_string().into_bytes(), Some(&token), 400, "proofOfPossession"),
        ("both forms", json!({"certificateSigningRequest": "AA==", "publicKeyRequest": {}}).to_string().into_bytes(), Some(&token), 400, "not both"),
        ("no token", json!({"certificateSigningRequest": STANDARD.encode(csr(&p256()))}).to_string().into_bytes(), None, 401, "identity token"),
    ];
    for (what, body, bearer, status, needle) in cases {
        let answer = app.post_raw("/api/v2/signingCert", body, bearer).await;
        assert_eq!(answer.status, status, "{what}: {}", answer.text);
        answer.assert_refused(status, needle);
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let app = TestApp::spawn_with(|c| c.server.max_body_bytes = 64 * 1024).await;
    let token = app.issuer.token("email", alice());
    let big = format!(
        r#"{{"certificateSigningRequest": "{}"}}"#,
        "A".repeat(100 * 1024)
    );
    app.post_raw("/api/v2/signingCert", big.into_bytes(), Some(&token))
        .await
        .assert_refused(413, "limit");
    // Still serving afterwards.
    assert_eq!(app.sign_csr(&token, &csr(&p256())).await.status, 200);
}

#[tokio::test]
async fn an_unreachable_issuer_answers_503_with_retry_after() {
    // An issuer whose discovery endpoint does not exist on a closed port.
    let app = TestApp::spawn_with(|c| {
        let dir = c.oidc.issuers.parent().unwrap().to_owned();
        let path = dir.join("down.yaml");
        std::fs::write(
            &path,
            "oidc-issuers:\n  http://127.0.0.1:9/down:\n    client-id: sigstore\n    type: email\n",
        )
        .unwrap();
        c.oidc.issuers = path;
        c.oidc.fetch_timeout = std::time::Duration::from_secs(2);
    })
    .await;
    let now = now();
    let claims = json!({"iss": "http://127.0.0.1:9/down", "aud": "sigstore", "iat": now, "exp": now + 600, "sub": "s", "email": "a@example.com", "email_verified": true});
    let token = app.issuer.sign("rsa-1", &claims);
    let answer = app.sign_csr(&token, &csr(&p256())).await;
    answer.assert_refused(503, "could not be reached");
    assert_eq!(answer.headers["retry-after"], "5");
}

#[tokio::test]
async fn refusals_are_counted_and_never_5xx() {
    let app = TestApp::spawn().await;
    let token = app.issuer.token("email", alice());
    app.sign_csr("a.b", &csr(&p256()))
        .await
        .assert_refused(401, "malformed");
    app.sign_pop(&token, &p256(), "wrong")
        .await
        .assert_refused(400, "proof");
    app.post_raw("/api/v2/signingCert", b"[".to_vec(), None)
        .await
        .assert_refused(400, "JSON");
    app.get("/no/such/path")
        .await
        .assert_refused(404, "no such endpoint");
    let metrics = app.get("/metrics").await.text;
    assert!(
        metrics.contains(r#"sigil_token_rejections_total{reason="malformed"} 1"#),
        "{metrics}"
    );
    assert!(
        !metrics.lines().any(
            |l| l.starts_with("sigil_http_request_duration_seconds_count")
                && l.contains("status=\"5")
        ),
        "no 5xx: {metrics}"
    );
}
