//! Issuance for every issuer type, both request forms, the legacy API, and every client key
//! type; each certificate checked field by field.

use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use serde_json::json;

use crate::helpers::*;

pub fn github_claims() -> serde_json::Value {
    json!({
        "sub": "repo:octo/app:ref:refs/heads/main",
        "job_workflow_ref": "octo/app/.github/workflows/release.yml@refs/heads/main",
        "job_workflow_sha": "a1b2",
        "sha": "c3d4",
        "event_name": "push",
        "repository": "octo/app",
        "workflow": "release",
        "ref": "refs/heads/main",
        "runner_environment": "github-hosted",
        "repository_id": 1234,
        "repository_owner": "octo",
        "repository_owner_id": "5678",
        "repository_visibility": "public",
        "workflow_ref": "octo/app/.github/workflows/release.yml@refs/heads/main",
        "workflow_sha": "e5f6",
        "run_id": "99",
        "run_attempt": "1",
    })
}

#[tokio::test]
async fn email_issuer_certifies_the_verified_email_in_both_request_forms() {
    let app = TestApp::spawn().await;
    let issuer = app.issuer.url("email");
    let token = app.issuer.token(
        "email",
        json!({"sub": "u-1", "email": "alice@example.com", "email_verified": true}),
    );
    for form in ["csr", "pop"] {
        let key = p256();
        let answer = match form {
            "csr" => app.sign_csr(&token, &csr(&key)).await,
            _ => app.sign_pop(&token, &key, "alice@example.com").await,
        };
        app.assert_issued(
            &answer,
            &Expected {
                san: San::Email("alice@example.com"),
                issuer: &issuer,
                extensions: &[(24, "u-1")],
                spki_der: spki(&key),
            },
        );
    }
}

#[tokio::test]
async fn issuer_claim_replaces_iss_in_the_issuer_extensions() {
    let app = TestApp::spawn().await;
    let token = app.issuer.token(
        "email-claim",
        json!({"sub": "s", "email": "bob@example.com", "email_verified": "true", "federated_claims": {"connector_id": "https://github.com/login/oauth"}}),
    );
    let key = p256();
    app.assert_issued(
        &app.sign_csr(&token, &csr(&key)).await,
        &Expected {
            san: San::Email("bob@example.com"),
            issuer: "https://github.com/login/oauth",
            extensions: &[(24, "s")],
            spki_der: spki(&key),
        },
    );
}

#[tokio::test]
async fn skip_email_verification_accepts_tokens_without_email_verified() {
    let app = TestApp::spawn().await;
    let token = app.issuer.token(
        "email-skip",
        json!({"sub": "s", "email": "carol@example.com"}),
    );
    let key = p256();
    app.assert_issued(
        &app.sign_csr(&token, &csr(&key)).await,
        &Expected {
            san: San::Email("carol@example.com"),
            issuer: &app.issuer.url("email-skip"),
            extensions: &[(24, "s")],
            spki_der: spki(&key),
        },
    );
}

#[tokio::test]
async fn uri_username_kubernetes_and_spiffe_issuers_certify_their_subjects() {
    let app = TestApp::spawn().await;
    let sa = json!({"namespace": "prod", "serviceaccount": {"name": "builder", "uid": "x"}});
    let cases = [
        (
            "uri",
            json!({"sub": "https://127.0.0.1/users/alice"}),
            San::Uri("https://127.0.0.1/users/alice"),
            "https://127.0.0.1/users/alice",
        ),
        (
            "username",
            json!({"sub": "alice"}),
            San::Username("alice!example.0.1"),
            "alice",
        ),
        (
            "k8s",
            json!({"sub": "system:serviceaccount:prod:builder", "kubernetes.io": sa}),
            San::Uri("https://kubernetes.io/namespaces/prod/serviceaccounts/builder"),
            "system:serviceaccount:prod:builder",
        ),
        (
            "spiffe",
            json!({"sub": "spiffe://example.org/ns/prod/sa/builder"}),
            San::Uri("spiffe://example.org/ns/prod/sa/builder"),
            "spiffe://example.org/ns/prod/sa/builder",
        ),
    ];
    for (name, claims, san, sub) in cases {
        let token = app.issuer.token(name, claims);
        let key = p256();
        // The proof of possession of every non-email issuer signs `sub`.
        let answer = app.sign_pop(&token, &key, sub).await;
        app.assert_issued(
            &answer,
            &Expected {
                san,
                issuer: &app.issuer.url(name),
                extensions: &[(24, sub)],
                spki_der: spki(&key),
            },
        );
    }
}

#[tokio::test]
async fn meta_issuer_wildcard_matches_one_path_segment() {
    let app = TestApp::spawn().await;
    let name = "clusters/c-42/oidc";
    let token = app.issuer.token(name, json!({"sub": "system:serviceaccount:a:b", "kubernetes.io": {"namespace": "a", "serviceaccount": {"name": "b"}}}));
    let key = p256();
    app.assert_issued(
        &app.sign_csr(&token, &csr(&key)).await,
        &Expected {
            san: San::Uri("https://kubernetes.io/namespaces/a/serviceaccounts/b"),
            issuer: &app.issuer.url(name),
            extensions: &[(24, "system:serviceaccount:a:b")],
            spki_der: spki(&key),
        },
    );
    // `*` never spans a `/`.
    let token = app.issuer.token("clusters/a/b/oidc", json!({"sub": "x"}));
    app.sign_csr(&token, &csr(&p256()))
        .await
        .assert_refused(403, "not trusted");
}

#[tokio::test]
async fn github_workflow_tokens_get_every_fulcio_ci_extension() {
    let app = TestApp::spawn().await;
    let token = app.issuer.token("github", github_claims());
    let key = p256();
    let wf = "https://github.com/octo/app/.github/workflows/release.yml@refs/heads/main";
    app.assert_issued(
        &app.sign_csr(&token, &csr(&key)).await,
        &Expected {
            san: San::Uri(wf),
            issuer: &app.issuer.url("github"),
            extensions: &[
                (2, "push"),
                (3, "c3d4"),
                (4, "release"),
                (5, "octo/app"),
                (6, "refs/heads/main"),
                (9, wf),
                (10, "a1b2"),
                (11, "github-hosted"),
                (12, "https://github.com/octo/app"),
                (13, "c3d4"),
                (14, "refs/heads/main"),
                (15, "1234"),
                (16, "https://github.com/octo"),
                (17, "5678"),
                (18, wf),
                (19, "e5f6"),
                (20, "push"),
                (21, "https://github.com/octo/app/actions/runs/99/attempts/1"),
                (22, "public"),
                (24, "repo:octo/app:ref:refs/heads/main"),
            ],
            spki_der: spki(&key),
        },
    );
    // With the optional `environment` claim, 1.23 appears.
    let mut claims = github_claims();
    claims["environment"] = json!("production");
    let answer = app
        .sign_csr(&app.issuer.token("github", claims), &csr(&key))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[tokio::test]
async fn gitlab_and_buildkite_tokens_use_the_builtin_templates() {
    let app = TestApp::spawn().await;
    let gitlab = json!({
        "sub": "project_path:grp/proj:ref_type:tag:ref:v1.0", "project_path": "grp/proj", "ci_config_ref_uri": "gitlab.com/grp/proj//.gitlab-ci.yml@refs/tags/v1.0",
        "ci_config_sha": "cf", "runner_environment": "gitlab-hosted", "sha": "s1", "ref_type": "tag", "ref": "v1.0", "project_id": "7",
        "namespace_path": "grp", "namespace_id": "8", "pipeline_source": "push", "job_id": "300", "project_visibility": "private",
    });
    let key = p256();
    let ci = "https://gitlab.com/grp/proj//.gitlab-ci.yml@refs/tags/v1.0";
    app.assert_issued(
        &app.sign_csr(&app.issuer.token("gitlab", gitlab), &csr(&key))
            .await,
        &Expected {
            san: San::Uri(ci),
            issuer: &app.issuer.url("gitlab"),
            extensions: &[
                (9, ci),
                (10, "cf"),
                (11, "gitlab-hosted"),
                (12, "https://gitlab.com/grp/proj"),
                (13, "s1"),
                (14, "refs/tags/v1.0"),
                (15, "7"),
                (16, "https://gitlab.com/grp"),
                (17, "8"),
                (18, ci),
                (19, "cf"),
                (20, "push"),
                (21, "https://gitlab.com/grp/proj/-/jobs/300"),
                (22, "private"),
                (24, "project_path:grp/proj:ref_type:tag:ref:v1.0"),
            ],
            spki_der: spki(&key),
        },
    );
    let buildkite = json!({
        "sub": "organization:acme:pipeline:web", "organization_slug": "acme", "pipeline_slug": "web", "build_number": 12,
        "job_id": "j-1", "runner_environment": "self-hosted", "build_commit": "bc", "build_source": "webhook",
    });
    app.assert_issued(
        &app.sign_csr(&app.issuer.token("buildkite", buildkite), &csr(&key))
            .await,
        &Expected {
            san: San::Uri("https://buildkite.com/acme/web"),
            issuer: &app.issuer.url("buildkite"),
            extensions: &[
                (11, "self-hosted"),
                (13, "bc"),
                (20, "webhook"),
                (21, "https://buildkite.com/acme/web/builds/12#j-1"),
                (24, "organization:acme:pipeline:web"),
            ],
            spki_der: spki(&key),
        },
    );
}

#[tokio::test]
async fn ci_provider_templates_render_claims_defaults_index_and_conditionals() {
    let app = TestApp::spawn().await;
    let claims = json!({"sub": "job-1", "project": "proj", "ci.example.com/pipeline": "p9", "runner": "hosted", "event": "tag"});
    let key = p256();
    app.assert_issued(
        &app.sign_csr(&app.issuer.token("custom", claims), &csr(&key))
            .await,
        &Expected {
            san: San::Uri("https://ci.example.com/proj"),
            issuer: &app.issuer.url("custom"),
            extensions: &[
                (9, "https://ci.example.com/p9"),
                (11, "hosted"),
                (20, "release"),
                (24, "job-1"),
            ],
            spki_der: spki(&key),
        },
    );
    // A claim named by an extension template is required.
    let claims = json!({"sub": "job-1", "project": "proj", "event": "push"});
    app.sign_csr(&app.issuer.token("custom", claims), &csr(&key))
        .await
        .assert_refused(401, "runner");
}

#[tokio::test]
async fn every_allowed_client_key_type_is_certified() {
    let app = TestApp::spawn().await;
    let token = app.issuer.token(
        "email",
        json!({"sub": "s", "email": "keys@example.com", "email_verified": true}),
    );
    let keys: Vec<(&str, PKey<Private>)> = vec![
        ("P-256", ec_key(Nid::X9_62_PRIME256V1)),
        ("P-384", ec_key(Nid::SECP384R1)),
        ("P-521", ec_key(Nid::SECP521R1)),
        ("RSA-2048", rsa_key(2048)),
        ("RSA-3072", rsa_key(3072)),
        ("RSA-4096", rsa_key(4096)),
        ("Ed25519", PKey::generate_ed25519().unwrap()),
    ];
    for (name, key) in keys {
        for answer in [
            app.sign_csr(&token, &csr(&key)).await,
            app.sign_pop(&token, &key, "keys@example.com").await,
        ] {
            assert_eq!(answer.status, 200, "{name}: {}", answer.text);
            app.assert_issued(
                &answer,
                &Expected {
                    san: San::Email("keys@example.com"),
                    issuer: &app.issuer.url("email"),
                    extensions: &[(24, "s")],
                    spki_der: spki(&key),
                },
            );
        }
    }
}

#[tokio::test]
async fn tokens_signed_with_ec_and_ed25519_issuer_keys_verify() {
    let app = TestApp::spawn().await;
    for kid in ["ec-1", "ed-1"] {
        let token = app.issuer.token_with(
            "email",
            kid,
            json!({"sub": "s", "email": "k@example.com", "email_verified": true}),
        );
        assert_eq!(
            app.sign_csr(&token, &csr(&p256())).await.status,
            200,
            "{kid}"
        );
    }
}

#[tokio::test]
async fn legacy_v1_api_answers_201_with_a_pem_chain() {
    let app = TestApp::spawn().await;
    let token = app.issuer.token(
        "email",
        json!({"sub": "s", "email": "dave@example.com", "email_verified": true}),
    );
    let key = p256();
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let bodies = [
        json!({"publicKey": {"content": b64(&key.public_key_to_pem().unwrap()), "algorithm": "ecdsa"}, "signedEmailAddress": b64(&prove(&key, "dave@example.com"))}),
        json!({"publicKey": {"content": b64(&key.public_key_to_der().unwrap())}, "signedEmailAddress": b64(&prove(&key, "dave@example.com"))}),
        json!({"certificateSigningRequest": b64(&csr(&key))}),
    ];
    for body in bodies {
        let answer = app
            .post_json("/api/v1/signingCert", &body, Some(&token))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        assert_eq!(
            answer.headers["content-type"],
            "application/pem-certificate-chain"
        );
        let chain: Vec<String> = openssl::x509::X509::stack_from_pem(answer.text.as_bytes())
            .unwrap()
            .iter()
            .map(|c| {
                String::from_utf8(c.to_pem().unwrap())
                    .unwrap()
                    .trim_end()
                    .to_owned()
            })
            .collect();
        app.assert_chain(
            &chain,
            &Expected {
                san: San::Email("dave@example.com"),
                issuer: &app.issuer.url("email"),
                extensions: &[(24, "s")],
                spki_der: spki(&key),
            },
        );
    }
    // v1 reads the token only from the header.
    let answer = app
        .post_json(
            "/api/v1/signingCert",
            &json!({"certificateSigningRequest": b64(&csr(&key))}),
            None,
        )
        .await;
    answer.assert_refused(401, "identity token");
}

#[tokio::test]
async fn cert_validity_comes_from_configuration() {
    let app =
        TestApp::spawn_with(|c| c.ca.cert_validity = std::time::Duration::from_secs(300)).await;
    let token = app.issuer.token(
        "email",
        json!({"sub": "s", "email": "e@example.com", "email_verified": true}),
    );
    let chain = chain_of(&app.sign_csr(&token, &csr(&p256())).await);
    let leaf = openssl::x509::X509::from_pem(chain[0].as_bytes()).unwrap();
    let diff = leaf.not_before().diff(leaf.not_after()).unwrap();
    assert_eq!(diff.days * 86400 + diff.secs, 300);
}
