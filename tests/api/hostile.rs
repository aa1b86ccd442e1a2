//! The hostile-input corpus (tests/hostile/, written by make_hostile.py): every request is
//! answered 4xx with a JSON error whose code is the status, nothing is answered 5xx, and the
//! server is alive and issuing afterwards.

use std::path::{Path, PathBuf};

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::json;

use crate::helpers::*;

/// One stored request.
struct Hostile {
    file: PathBuf,
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
}

fn corpus_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|group| {
            let group = group.unwrap().path();
            group.is_dir().then_some(group)
        })
        .flat_map(|group| std::fs::read_dir(group).unwrap())
        .map(|file| file.unwrap().path())
        .filter(|file| file.extension().is_some_and(|e| e == "http"))
        .collect();
    files.sort();
    files
}

/// Expands `{{TOKEN}}` and `{{REPEAT:N:TEXT}}`.
fn expand(bytes: &[u8], token: &str) -> Vec<u8> {
    const REPEAT: &[u8] = b"{{REPEAT:";
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(b"{{TOKEN}}".as_slice()) {
            out.extend_from_slice(token.as_bytes());
            rest = after;
        } else if let Some(after) = rest.strip_prefix(REPEAT) {
            let end = after.windows(2).position(|w| w == b"}}").unwrap();
            let spec = std::str::from_utf8(&after[..end]).unwrap();
            let (count, text) = spec.split_once(':').unwrap();
            out.extend_from_slice(&text.as_bytes().repeat(count.parse().unwrap()));
            rest = &after[end + 2..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

fn parse(file: PathBuf, token: &str) -> Hostile {
    let raw = expand(&std::fs::read(&file).unwrap(), token);
    let split = raw.windows(2).position(|w| w == b"\n\n").unwrap();
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.lines();
    let (method, path) = lines.next().unwrap().split_once(' ').unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(": ").unwrap();
            (
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            )
        })
        .collect();
    Hostile {
        file,
        method: Method::from_bytes(method.as_bytes()).unwrap(),
        path: path.to_owned(),
        headers,
        body: raw[split + 2..].to_vec(),
    }
}

/// Bodies larger than this are announced but not sent: the server must refuse them from
/// `Content-Length` alone. (Sending them whole races the server's early answer against the
/// client's write, and a reset connection can swallow the 413.)
const ANNOUNCE_ONLY: usize = 1 << 20;

/// Sends the head of `request` with its full `Content-Length` and the first bytes of its body
/// over a plain TCP connection; returns the status and the response body.
fn announce(address: &str, request: &Hostile) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address.trim_start_matches("http://"))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: sigil\r\nConnection: close\r\nContent-Length: {}\r\n",
        request.method,
        request.path,
        request.body.len()
    );
    for (name, value) in &request.headers {
        head += &format!("{name}: {}\r\n", value.to_str().unwrap());
    }
    stream.write_all(format!("{head}\r\n").as_bytes())?;
    stream.write_all(&request.body[..4096])?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.to_owned()))
}

/// What was wrong with the answer to one request, if anything.
async fn check(app: &TestApp, request: Hostile) -> Option<String> {
    let name = request.file.display().to_string();
    let (status, text) = if request.body.len() > ANNOUNCE_ONLY {
        let address = app.address.clone();
        match tokio::task::spawn_blocking(move || announce(&address, &request))
            .await
            .unwrap()
        {
            Ok(answer) => answer,
            Err(e) => return Some(format!("{name}: no answer: {e}")),
        }
    } else {
        match send(app, request).await {
            Ok(answer) => answer,
            Err(e) => return Some(format!("{name}: no answer: {e}")),
        }
    };
    if !(400..500).contains(&status) {
        return Some(format!("{name}: status {status}: {text}"));
    }
    let body: serde_json::Value = match serde_json::from_str(&text) {
        Ok(body) => body,
        Err(_) => return Some(format!("{name}: {status} without a JSON body: {text:?}")),
    };
    let message = body["message"].as_str().unwrap_or_default();
    if body["code"] != status || message.is_empty() {
        return Some(format!("{name}: JSON error lacks code/message: {body}"));
    }
    None
}

async fn send(app: &TestApp, request: Hostile) -> reqwest::Result<(u16, String)> {
    let mut builder = app
        .client
        .request(request.method, format!("{}{}", app.address, request.path))
        .body(request.body);
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    let response = builder.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

#[tokio::test]
async fn every_hostile_request_is_refused_with_a_json_4xx_and_nothing_breaks() {
    let app = TestApp::spawn_with(|c| c.limits.ip_burst = 10_000).await;
    let alice = json!({"sub": "alice-id", "email": "alice@example.com", "email_verified": true});
    let token = app.issuer.token("email", alice);
    let files = corpus_files();
    assert!(files.len() >= 200, "only {} hostile requests", files.len());

    let mut failures = Vec::new();
    for file in files.iter().cloned() {
        failures.extend(check(&app, parse(file, &token)).await);
    }
    assert!(
        failures.is_empty(),
        "{} of {} hostile requests were mishandled:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );

    // Alive and still issuing.
    assert_eq!(app.get("/healthz").await.status, 200);
    assert_eq!(app.sign_csr(&token, &csr(&p256())).await.status, 200);
    let metrics = app.get("/metrics").await.text;
    assert!(
        !metrics.lines().any(
            |l| l.starts_with("sigil_http_request_duration_seconds_count")
                && l.contains("status=\"5")
        ),
        "no 5xx: {metrics}"
    );
}
