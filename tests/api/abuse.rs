//! Abuse resistance: rate limits per identity and per client IP (429 with Retry-After), the
//! trusted-proxy rule for `X-Forwarded-For`, and clients too slow to send their request.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

fn person(name: &str) -> serde_json::Value {
    json!({"sub": name, "email": format!("{name}@example.com"), "email_verified": true})
}

#[tokio::test]
async fn one_identity_is_limited_and_others_are_not() {
    let app = TestApp::spawn_with(|c| {
        c.limits.ip_rate = 0.0;
        c.limits.identity_rate = 0.5;
        c.limits.identity_burst = 3;
    })
    .await;
    let alice = app.issuer.token("email", person("alice"));
    for _ in 0..3 {
        assert_eq!(app.sign_csr(&alice, &csr(&p256())).await.status, 200);
    }
    let refused = app.sign_csr(&alice, &csr(&p256())).await;
    refused.assert_refused(429, "identity");
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // Bob is a different person and is not slowed down by Alice.
    let bob = app.issuer.token("email", person("bob"));
    assert_eq!(app.sign_csr(&bob, &csr(&p256())).await.status, 200);
    // A refused token costs nothing: the limit is charged only to authenticated identities.
    app.sign_csr("a.b.c", &csr(&p256()))
        .await
        .assert_refused(401, "");
}

#[tokio::test]
async fn one_client_ip_is_limited_on_writes_only() {
    let app = TestApp::spawn_with(|c| {
        c.limits.ip_rate = 0.2;
        c.limits.ip_burst = 2;
    })
    .await;
    // Refused requests count too: a client flooding garbage is still flooding.
    for _ in 0..2 {
        app.post_raw("/api/v1/log/entries", b"{".to_vec(), None)
            .await
            .assert_refused(400, "malformed entry");
    }
    let refused = app
        .post_raw("/api/v1/log/entries", b"{".to_vec(), None)
        .await;
    refused.assert_refused(429, "client IP");
    assert!(refused.headers.contains_key("retry-after"));
    let token = app.issuer.token("email", person("carol"));
    app.sign_csr(&token, &csr(&p256()))
        .await
        .assert_refused(429, "client IP");
    // Reads are never limited: monitors and verifiers keep working.
    for _ in 0..5 {
        assert_eq!(app.get("/api/v1/log").await.status, 200);
    }
    let metrics = app.get("/metrics").await.text;
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("status=\"429\"") && l.contains("/api/v2/signingCert")),
        "429s are counted: {metrics}"
    );
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let post = |app: &TestApp, forwarded: &'static str| {
        let request = app
            .client
            .post(format!("{}/api/v1/log/entries", app.address))
            .header("x-forwarded-for", forwarded)
            .body("{");
        async move { request.send().await.unwrap().status().as_u16() }
    };

    // Loopback is the trusted proxy: each forwarded client has its own bucket.
    let app = TestApp::spawn_with(|c| {
        c.limits.ip_rate = 0.1;
        c.limits.ip_burst = 1;
        c.limits.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    assert_eq!(post(&app, "198.51.100.1").await, 400);
    assert_eq!(post(&app, "198.51.100.1").await, 429);
    assert_eq!(post(&app, "198.51.100.2").await, 400);

    // Without trusted proxies, the header is the client's own claim and is ignored.
    let app = TestApp::spawn_with(|c| {
        c.limits.ip_rate = 0.1;
        c.limits.ip_burst = 1;
    })
    .await;
    assert_eq!(post(&app, "198.51.100.1").await, 400);
    assert_eq!(post(&app, "198.51.100.2").await, 429);
}

/// Sends `head` and then `body` with a pause longer than the server allows, and returns what
/// the server answered (possibly nothing, when it just closed the connection).
fn trickle(address: &str, head: &str, body: &str, pause: Duration) -> String {
    let host = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(pause);
    // The server may already have closed the connection; that is an answer too.
    let _ = stream.write_all(body.as_bytes());
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_the_server_keeps_serving() {
    let app = TestApp::spawn_with(|c| c.limits.request_timeout = Duration::from_millis(500)).await;
    let address = app.address.clone();

    // Headers that never finish: the connection is answered 408 and closed.
    let slow_headers = {
        let address = address.clone();
        tokio::task::spawn_blocking(move || {
            trickle(
                &address,
                "POST /api/v1/log/entries HTTP/1.1\r\nHost: x\r\n",
                "Content-Length: 2\r\n\r\n{}",
                Duration::from_millis(1500),
            )
        })
    };
    // A body that stalls after its first bytes: 408 with the JSON error.
    let slow_body = {
        let address = address.clone();
        tokio::task::spawn_blocking(move || {
            trickle(
                &address,
                "POST /api/v1/log/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"kind\":",
                "\"hashedrekord\"}",
                Duration::from_millis(1500),
            )
        })
    };
    let headers_answer = slow_headers.await.unwrap();
    assert!(
        headers_answer.is_empty() || headers_answer.starts_with("HTTP/1.1 408"),
        "{headers_answer}"
    );
    let body_answer = slow_body.await.unwrap();
    assert!(body_answer.starts_with("HTTP/1.1 408"), "{body_answer}");
    assert!(
        body_answer.contains(r#""code":408"#) && body_answer.contains("did not arrive"),
        "{body_answer}"
    );
    assert_eq!(app.get("/healthz").await.status, 200);
}
