//! Interactive OpenID Connect sign-in for a person at a terminal, as sigstore-python and cosign
//! do it: the authorization code grant with PKCE and a loopback redirect when a browser can be
//! opened (RFC 8252), the device authorization grant on a headless machine (RFC 8628).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tokio::sync::oneshot;

use super::ClientError;

/// How long the user has to finish signing in through the browser.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(300);
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Which grant to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flow {
    /// The browser flow where a browser can be opened, else the device flow.
    Auto,
    /// Authorization code with PKCE, redirected to a listener on 127.0.0.1.
    Browser,
    /// Device authorization: a code to enter on another device.
    Device,
}

/// An interactive sign-in with one OIDC issuer.
#[derive(Debug, Clone)]
pub struct Login {
    /// The issuer URL (its discovery document is fetched).
    pub issuer: String,
    /// The OAuth client ID; Sigstore's is `sigstore`.
    pub client_id: String,
    /// Which grant.
    pub flow: Flow,
    /// Whether to launch a browser (`$BROWSER`, else the desktop's opener) for the browser flow;
    /// the URL is printed either way.
    pub open_browser: bool,
}

fn login_error(message: impl Into<String>) -> ClientError {
    ClientError::Login(message.into())
}

fn random_url_safe() -> Result<String, ClientError> {
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

impl Login {
    /// Signs in and returns the identity token; `progress` receives one line per step.
    pub async fn token(
        &self,
        http: &reqwest::Client,
        progress: &dyn Fn(&str),
    ) -> Result<String, ClientError> {
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let discovery = fetch_json(http.get(&discovery_url)).await?;
        let endpoint = |name: &str| discovery[name].as_str().map(str::to_owned);
        let token_endpoint = endpoint("token_endpoint")
            .ok_or_else(|| login_error(format!("{discovery_url} names no token_endpoint")))?;
        let browser = endpoint("authorization_endpoint");
        let device = endpoint("device_authorization_endpoint");
        let flow = match self.flow {
            Flow::Auto if browser.is_some() && (device.is_none() || can_open_browser()) => {
                Flow::Browser
            }
            Flow::Auto => Flow::Device,
            chosen => chosen,
        };
        let token = match (flow, browser, device) {
            (Flow::Browser, Some(authorize), _) => {
                self.browser_flow(http, &authorize, &token_endpoint, progress)
                    .await?
            }
            (Flow::Device, _, Some(device)) => {
                self.device_flow(http, &device, &token_endpoint, progress)
                    .await?
            }
            (flow, _, _) => {
                return Err(login_error(format!(
                    "{} does not offer the {flow:?} flow",
                    self.issuer
                )));
            }
        };
        Ok(token)
    }

    async fn browser_flow(
        &self,
        http: &reqwest::Client,
        authorize: &str,
        token_endpoint: &str,
        progress: &dyn Fn(&str),
    ) -> Result<String, ClientError> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| {
            login_error(format!("cannot listen on 127.0.0.1 for the redirect: {e}"))
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| login_error(e.to_string()))?
            .port();
        let redirect_uri = format!("http://localhost:{port}/auth/callback");
        let (state, nonce, verifier) = (random_url_safe()?, random_url_safe()?, random_url_safe()?);
        let challenge = URL_SAFE_NO_PAD.encode(openssl::sha::sha256(verifier.as_bytes()));
        let mut url = url::Url::parse(authorize)
            .map_err(|e| login_error(format!("authorization_endpoint `{authorize}`: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("scope", "openid email")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");

        let (sender, receiver) = oneshot::channel::<Callback>();
        let sender = web::Data::new(Mutex::new(Some(sender)));
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(sender.clone())
                .route("/auth/callback", web::get().to(callback))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .map_err(|e| login_error(e.to_string()))?
        .run();
        let handle = server.handle();
        tokio::spawn(server);

        progress(&format!("Sign in with {} in your browser:", self.issuer));
        progress(&format!("  {url}"));
        if self.open_browser {
            open_browser(url.as_str());
        }
        progress(&format!(
            "Waiting for the browser to return to {redirect_uri} ..."
        ));
        let answer = tokio::time::timeout(BROWSER_TIMEOUT, receiver).await;
        handle.stop(true).await;
        let callback = match answer {
            Ok(Ok(callback)) => callback,
            Ok(Err(_)) => return Err(login_error("the redirect listener stopped")),
            Err(_) => {
                return Err(login_error(format!(
                    "no answer from the browser within {} s",
                    BROWSER_TIMEOUT.as_secs()
                )));
            }
        };
        if callback.state.as_deref() != Some(state.as_str()) {
            return Err(login_error(
                "the redirect's state does not match the request's (a forged redirect?)",
            ));
        }
        if let Some(error) = callback.error {
            return Err(login_error(format!(
                "the issuer refused the sign-in: {error}"
            )));
        }
        let code = callback
            .code
            .ok_or_else(|| login_error("the redirect carries no code"))?;
        let answer = fetch_json(http.post(token_endpoint).form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("client_id", &self.client_id),
            ("code_verifier", &verifier),
        ]))
        .await?;
        let token = id_token(&answer)?;
        check_nonce(&token, &nonce)?;
        Ok(token)
    }

    async fn device_flow(
        &self,
        http: &reqwest::Client,
        device_endpoint: &str,
        token_endpoint: &str,
        progress: &dyn Fn(&str),
    ) -> Result<String, ClientError> {
        let start = fetch_json(http.post(device_endpoint).form(&[
            ("client_id", self.client_id.as_str()),
            ("scope", "openid email"),
        ]))
        .await?;
        let field = |name: &str| {
            start[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| login_error(format!("the device authorization lacks `{name}`")))
        };
        let (device_code, user_code, verify) = (
            field("device_code")?,
            field("user_code")?,
            field("verification_uri")?,
        );
        let expires = Duration::from_secs(start["expires_in"].as_u64().unwrap_or(600));
        let mut interval = Duration::from_secs(start["interval"].as_u64().unwrap_or(5));
        progress(&format!(
            "To sign in with {}, open {verify} on any device and enter the code {user_code}",
            self.issuer
        ));
        if let Some(complete) = start["verification_uri_complete"].as_str() {
            progress(&format!("  (or open {complete})"));
        }
        progress(&format!(
            "Waiting for approval (the code expires in {} min) ...",
            expires.as_secs().div_ceil(60)
        ));
        let deadline = Instant::now() + expires;
        while Instant::now() < deadline {
            tokio::time::sleep(interval).await;
            let response = http
                .post(token_endpoint)
                .form(&[
                    ("grant_type", DEVICE_GRANT),
                    ("device_code", &device_code),
                    ("client_id", &self.client_id),
                ])
                .send()
                .await
                .map_err(|e| login_error(format!("{token_endpoint}: {e}")))?;
            let ok = response.status().is_success();
            let body: Value = response
                .json()
                .await
                .map_err(|e| login_error(format!("{token_endpoint}: {e}")))?;
            if ok {
                return id_token(&body);
            }
            match body["error"].as_str() {
                Some("authorization_pending") => {}
                Some("slow_down") => interval += Duration::from_secs(5),
                error => {
                    return Err(login_error(format!(
                        "the issuer ended the device sign-in: {} {}",
                        error.unwrap_or("error"),
                        body["error_description"].as_str().unwrap_or_default()
                    )));
                }
            }
        }
        Err(login_error(
            "the device code expired before it was approved",
        ))
    }
}

/// What the issuer sent back to the redirect URI.
#[derive(Debug, serde::Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    sender: web::Data<Mutex<Option<oneshot::Sender<Callback>>>>,
    query: web::Query<Callback>,
) -> HttpResponse {
    let refused = query.error.is_some();
    if let Some(sender) = sender.lock().ok().and_then(|mut s| s.take()) {
        let _ = sender.send(query.into_inner());
    }
    let text = if refused {
        "Sign-in refused. You can close this window."
    } else {
        "Signed in. You can close this window and return to the terminal."
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!("<!doctype html><title>sigil</title><p>{text}</p>"))
}

/// Whether a browser can plausibly be opened here.
fn can_open_browser() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    set("BROWSER")
        || set("DISPLAY")
        || set("WAYLAND_DISPLAY")
        || cfg!(any(target_os = "macos", target_os = "windows"))
}

/// Launches `$BROWSER URL`, else the desktop's opener; failure only means the user opens the
/// printed URL by hand.
fn open_browser(url: &str) {
    let opener = std::env::var("BROWSER").ok().filter(|b| !b.is_empty());
    let opener = opener.as_deref().unwrap_or(if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    });
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

async fn fetch_json(request: reqwest::RequestBuilder) -> Result<Value, ClientError> {
    let response = request
        .send()
        .await
        .map_err(|e| login_error(e.to_string()))?;
    let status = response.status();
    let url = response.url().to_string();
    let body: Value = response
        .json()
        .await
        .map_err(|e| login_error(format!("{url}: {e}")))?;
    if !status.is_success() {
        return Err(login_error(format!(
            "{url}: HTTP {status}: {} {}",
            body["error"].as_str().unwrap_or_default(),
            body["error_description"]
                .as_str()
                .or(body["message"].as_str())
                .unwrap_or_default()
        )));
    }
    Ok(body)
}

fn id_token(answer: &Value) -> Result<String, ClientError> {
    answer["id_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| login_error("the token endpoint returned no id_token"))
}

/// The token must echo the nonce of our request, or it was minted for another sign-in. Its
/// signature is the CA's to check.
fn check_nonce(token: &str, nonce: &str) -> Result<(), ClientError> {
    let claims: Option<Value> = token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|p| serde_json::from_slice(&p).ok());
    match claims {
        Some(c) if c["nonce"] == nonce => Ok(()),
        Some(_) => Err(login_error(
            "the identity token does not carry this sign-in's nonce",
        )),
        None => Err(login_error("the identity token is not a JWT")),
    }
}
