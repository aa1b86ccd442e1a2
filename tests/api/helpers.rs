//! Shared test fixtures: a real OIDC issuer on loopback, the real sigil server on port 0, and
//! an independent certificate inspector.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509ReqBuilder;
use serde_json::{Value, json};
use sigil::config::Config;
use sigil::startup::Application;
use x509_parser::der_parser::asn1_rs::{Any, Utf8String};
use x509_parser::prelude::*;

/// A signing key of the test issuer.
pub struct IssuerKey {
    pub kid: String,
    pub alg: Algorithm,
    pub pkey: PKey<Private>,
}

impl IssuerKey {
    fn encoding_key(&self) -> EncodingKey {
        let pem = self.pkey.private_key_to_pem_pkcs8().unwrap();
        match self.alg {
            Algorithm::RS256 | Algorithm::PS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem).unwrap(),
            other => panic!("no test key for {other:?}"),
        }
    }

    fn jwk(&self) -> Value {
        match self.pkey.id() {
            openssl::pkey::Id::RSA => {
                let rsa = self.pkey.rsa().unwrap();
                json!({"kty": "RSA", "kid": self.kid, "use": "sig",
                       "n": URL_SAFE_NO_PAD.encode(rsa.n().to_vec()),
                       "e": URL_SAFE_NO_PAD.encode(rsa.e().to_vec())})
            }
            openssl::pkey::Id::EC => {
                let ec = self.pkey.ec_key().unwrap();
                let mut ctx = openssl::bn::BigNumContext::new().unwrap();
                let (mut x, mut y) = (
                    openssl::bn::BigNum::new().unwrap(),
                    openssl::bn::BigNum::new().unwrap(),
                );
                ec.public_key()
                    .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
                    .unwrap();
                json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "alg": "ES256",
                       "x": URL_SAFE_NO_PAD.encode(x.to_vec_padded(32).unwrap()),
                       "y": URL_SAFE_NO_PAD.encode(y.to_vec_padded(32).unwrap())})
            }
            openssl::pkey::Id::ED25519 => {
                json!({"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "alg": "EdDSA",
                       "x": URL_SAFE_NO_PAD.encode(self.pkey.raw_public_key().unwrap())})
            }
            other => panic!("unexpected key {other:?}"),
        }
    }
}

/// How a test issuer misbehaves, per issuer name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every request answers 500.
    Down,
    /// The JWKS is not JSON.
    BrokenJwks,
    /// Every request hangs for a minute.
    Slow,
}

type Faults = Arc<RwLock<BTreeMap<String, Fault>>>;

/// What issuer `name` answers instead of its document, if it is faulty.
async fn faulty(faults: &Faults, name: &str, jwks: bool) -> Option<HttpResponse> {
    let fault = faults.read().unwrap().get(name).copied();
    match fault? {
        Fault::Down => Some(HttpResponse::InternalServerError().body("down")),
        Fault::BrokenJwks if jwks => Some(HttpResponse::Ok().body("{\"keys\": [")),
        Fault::BrokenJwks => None,
        Fault::Slow => {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            Some(HttpResponse::Ok().finish())
        }
    }
}

/// The routes of a test issuer: discovery for any path prefix, and the current key set.
fn issuer_app(
    base: String,
    keys: Arc<RwLock<Vec<IssuerKey>>>,
    faults: Faults,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let jwks_faults = faults.clone();
    App::new()
        .route(
            "/{name:.*}/.well-known/openid-configuration",
            web::get().to(move |name: web::Path<String>| {
                let issuer = format!("{base}/{name}");
                let faults = faults.clone();
                async move {
                    match faulty(&faults, &name, false).await {
                        Some(broken) => broken,
                        None => HttpResponse::Ok().json(json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")})),
                    }
                }
            }),
        )
        .route(
            "/{name:.*}/jwks",
            web::get().to(move |name: web::Path<String>| {
                let jwks = json!({"keys": keys.read().unwrap().iter().map(IssuerKey::jwk).collect::<Vec<_>>()});
                let faults = jwks_faults.clone();
                async move {
                    match faulty(&faults, &name, true).await {
                        Some(broken) => broken,
                        None => HttpResponse::Ok().json(jwks),
                    }
                }
            }),
        )
}

/// A real OIDC issuer on loopback. Every path prefix is a separate issuer URL sharing one key
/// set: `http://127.0.0.1:PORT/<name>`.
pub struct TestIssuer {
    pub base: String,
    keys: Arc<RwLock<Vec<IssuerKey>>>,
    faults: Faults,
}

impl TestIssuer {
    pub async fn start() -> TestIssuer {
        let rsa = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let ec = ec_key(Nid::X9_62_PRIME256V1);
        let ed = PKey::generate_ed25519().unwrap();
        let keys = Arc::new(RwLock::new(vec![
            IssuerKey {
                kid: "rsa-1".into(),
                alg: Algorithm::RS256,
                pkey: rsa,
            },
            IssuerKey {
                kid: "ec-1".into(),
                alg: Algorithm::ES256,
                pkey: ec,
            },
            IssuerKey {
                kid: "ed-1".into(),
                alg: Algorithm::EdDSA,
                pkey: ed,
            },
        ]));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let faults = Faults::default();
        let server = HttpServer::new({
            let (keys, base, faults) = (keys.clone(), base.clone(), faults.clone());
            move || issuer_app(base.clone(), keys.clone(), faults.clone())
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        TestIssuer { base, keys, faults }
    }

    /// Serves the same issuer over HTTPS with a certificate from a fresh private CA. Returns
    /// the HTTPS base URL and that CA's PEM, as an operator would put it in `ca-cert`.
    pub fn start_tls_mirror(&self) -> (String, String) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "internal test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, &ca_key);
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![server_cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
            )
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let server = HttpServer::new({
            let (keys, base, faults) = (self.keys.clone(), base.clone(), self.faults.clone());
            move || issuer_app(base.clone(), keys.clone(), faults.clone())
        })
        .workers(1)
        .listen_rustls_0_23(listener, tls)
        .unwrap()
        .run();
        tokio::spawn(server);
        (base, ca_cert.pem())
    }

    /// A token with `iss` = `iss` (any URL), signed with `kid`.
    pub fn token_for_iss(&self, iss: &str, kid: &str, extra: Value) -> String {
        let now = now();
        let mut claims =
            json!({"iss": iss, "aud": "sigstore", "iat": now, "nbf": now, "exp": now + 600});
        merge(&mut claims, extra);
        self.sign(kid, &claims)
    }

    /// The issuer URL of `name`.
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    /// Signs `claims` as is with the key `kid`.
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        let keys = self.keys.read().unwrap();
        sign_claims(keys.iter().find(|k| k.kid == kid).unwrap(), claims)
    }

    /// The public key `kid` as PEM.
    pub fn public_pem(&self, kid: &str) -> Vec<u8> {
        let keys = self.keys.read().unwrap();
        keys.iter()
            .find(|k| k.kid == kid)
            .unwrap()
            .pkey
            .public_key_to_pem()
            .unwrap()
    }

    /// Makes issuer `name` misbehave from now on, or behave again with `None`.
    pub fn set_fault(&self, name: &str, fault: Option<Fault>) {
        let mut faults = self.faults.write().unwrap();
        match fault {
            Some(fault) => faults.insert(name.to_owned(), fault),
            None => faults.remove(name),
        };
    }

    /// Publishes a new RSA key, as an issuer does when it rotates.
    pub fn rotate_in(&self, kid: &str) {
        let pkey = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        self.keys.write().unwrap().push(IssuerKey {
            kid: kid.to_owned(),
            alg: Algorithm::RS256,
            pkey,
        });
    }

    /// A token from issuer `name` with standard claims (aud sigstore, 10 minutes) plus `extra`.
    pub fn token(&self, name: &str, extra: Value) -> String {
        self.token_with(name, "rsa-1", extra)
    }

    pub fn token_with(&self, name: &str, kid: &str, extra: Value) -> String {
        self.token_for_iss(&self.url(name), kid, extra)
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Overwrites claims with `extra`; a JSON null removes the claim.
pub fn merge(claims: &mut Value, extra: Value) {
    let map = claims.as_object_mut().unwrap();
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        if v.is_null() {
            map.remove(&k);
        } else {
            map.insert(k, v);
        }
    }
}

pub fn sign_claims(key: &IssuerKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key.encoding_key()).unwrap()
}

/// A token assembled by hand, for algorithms and shapes jsonwebtoken refuses to make.
pub fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// The issuer file the tests use, pointing at the test issuer.
pub fn issuers_yaml(issuer: &TestIssuer) -> String {
    let u = |n: &str| issuer.url(n);
    let meta = format!("{}/clusters/*/oidc", issuer.base);
    format!(
        r#"oidc-issuers:
  {email}:
    client-id: sigstore
    type: email
  {email_claim}:
    client-id: sigstore
    type: email
    issuer-claim: $.federated_claims.connector_id
  {email_skip}:
    client-id: sigstore
    type: email
    skip-email-verification: true
  {uri}:
    client-id: sigstore
    type: uri
    subject-domain: https://127.0.0.1
  {username}:
    client-id: sigstore
    type: username
    subject-domain: example.0.1
  {k8s}:
    client-id: sigstore
    type: kubernetes
  {spiffe}:
    client-id: sigstore
    type: spiffe
    spiffe-trust-domain: example.org
  {github}:
    client-id: sigstore
    type: github-workflow
  {gitlab}:
    client-id: sigstore
    type: gitlab-pipeline
  {buildkite}:
    client-id: sigstore
    type: buildkite-job
  {custom}:
    client-id: sigstore
    type: ci-provider
    ci-provider: my-ci
  {other_aud}:
    client-id: other-audience
    type: email
meta-issuers:
  {meta}:
    client-id: sigstore
    type: kubernetes
ci-issuer-metadata:
  my-ci:
    default-template-values:
      url: https://ci.example.com
    extension-templates:
      build-signer-uri: "{{{{ .url }}}}/{{{{ index . \"ci.example.com/pipeline\" }}}}"
      runner-environment: runner
      build-trigger: '{{{{if eq .event "tag"}}}}release{{{{ else }}}}build{{{{end}}}}'
    subject-alternative-name-template: "{{{{ .url }}}}/{{{{ .project }}}}"
"#,
        email = u("email"),
        email_claim = u("email-claim"),
        email_skip = u("email-skip"),
        uri = u("uri"),
        username = u("username"),
        k8s = u("k8s"),
        spiffe = u("spiffe"),
        github = u("github"),
        gitlab = u("gitlab"),
        buildkite = u("buildkite"),
        custom = u("custom"),
        other_aud = u("other-aud"),
        meta = meta,
    )
}

/// The real sigil server on port 0.
pub struct TestApp {
    pub address: String,
    /// DER SubjectPublicKeyInfo of the server's CT log key, from /api/v2/configuration.
    pub ct_log_spki: Vec<u8>,
    pub client: reqwest::Client,
    pub issuer: TestIssuer,
    _dir: tempfile::TempDir,
}

/// A response reduced to what tests look at.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// Asserts a 4xx JSON error of `status` whose message mentions `needle`, with no
    /// certificate anywhere in the body.
    pub fn assert_refused(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "body: {}", self.text);
        let body = self.json();
        assert_eq!(body["code"], status, "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.to_lowercase().contains(&needle.to_lowercase()),
            "`{message}` should mention `{needle}`"
        );
        assert!(!self.text.contains("BEGIN CERTIFICATE"));
    }
}

impl TestApp {
    /// Checks a leaf chain against the profile and its embedded SCT against this log's key.
    pub fn assert_chain(&self, chain: &[String], expected: &Expected<'_>) {
        assert_profile(chain, expected);
        verify_embedded_sct(chain, &self.ct_log_spki);
    }

    /// [`TestApp::assert_chain`] on the chain of a v2 answer.
    pub fn assert_issued(&self, answer: &Answer, expected: &Expected<'_>) {
        self.assert_chain(&chain_of(answer), expected);
    }

    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let issuer = TestIssuer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let issuers: PathBuf = dir.path().join("issuers.yaml");
        std::fs::write(&issuers, issuers_yaml(&issuer)).unwrap();
        let mut config = Config::load(None, false).unwrap();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.storage.url = format!("sqlite://{}", dir.path().join("sigil.db").display());
        config.oidc.issuers = issuers;
        adjust(&mut config);
        let app = Application::build(config).await.expect("server starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::new();
        let config: Value = client
            .get(format!("{address}/api/v2/configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ct_log_spki = STANDARD
            .decode(config["ctLog"]["publicKey"].as_str().unwrap())
            .unwrap();
        TestApp {
            ct_log_spki,
            address,
            client,
            issuer,
            _dir: dir,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        answer(
            self.client
                .get(format!("{}{path}", self.address))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post_json(&self, path: &str, body: &Value, bearer: Option<&str>) -> Answer {
        self.post_raw(path, body.to_string().into_bytes(), bearer)
            .await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>, bearer: Option<&str>) -> Answer {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        answer(
            request
                .send()
                .await
                .unwrap_or_else(|e| panic!("{path}: {e:?}")),
        )
        .await
    }

    /// `POST /api/v2/signingCert` in the CSR form, with the token in the header.
    pub async fn sign_csr(&self, token: &str, csr_pem: &[u8]) -> Answer {
        self.post_json(
            "/api/v2/signingCert",
            &json!({"certificateSigningRequest": STANDARD.encode(csr_pem)}),
            Some(token),
        )
        .await
    }

    /// `POST /api/v2/signingCert` in the publicKeyRequest form, with the token in the body.
    pub async fn sign_pop(&self, token: &str, key: &PKey<Private>, challenge: &str) -> Answer {
        let body = json!({
            "credentials": {"oidcIdentityToken": token},
            "publicKeyRequest": {
                "publicKey": {"algorithm": "ECDSA", "content": String::from_utf8(key.public_key_to_pem().unwrap()).unwrap()},
                "proofOfPossession": STANDARD.encode(prove(key, challenge)),
            }
        });
        self.post_json("/api/v2/signingCert", &body, None).await
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Answer {
        status,
        headers,
        text,
    }
}

pub fn p256() -> PKey<Private> {
    PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap()
}

pub fn ec_key(nid: Nid) -> PKey<Private> {
    PKey::from_ec_key(EcKey::generate(&EcGroup::from_curve_name(nid).unwrap()).unwrap()).unwrap()
}

pub fn rsa_key(bits: u32) -> PKey<Private> {
    PKey::from_rsa(openssl::rsa::Rsa::generate(bits).unwrap()).unwrap()
}

/// The default hash of a key, as Fulcio's PoP and CSR rules want it.
pub fn default_digest(key: &PKey<Private>) -> Option<MessageDigest> {
    match key.id() {
        openssl::pkey::Id::ED25519 => None,
        openssl::pkey::Id::RSA => Some(MessageDigest::sha256()),
        _ => match key.ec_key().unwrap().group().curve_name() {
            Some(Nid::SECP384R1) => Some(MessageDigest::sha384()),
            Some(Nid::SECP521R1) => Some(MessageDigest::sha512()),
            _ => Some(MessageDigest::sha256()),
        },
    }
}

/// A signature over `message` with the key's default hash.
pub fn prove(key: &PKey<Private>, message: &str) -> Vec<u8> {
    let mut signer = match default_digest(key) {
        Some(d) => openssl::sign::Signer::new(d, key).unwrap(),
        None => openssl::sign::Signer::new_without_digest(key).unwrap(),
    };
    signer.sign_oneshot_to_vec(message.as_bytes()).unwrap()
}

/// A PEM CSR for `subject_key`, signed by `signer` (normally the same key) with `digest`.
pub fn csr_signed_by(
    subject_key: &PKey<Private>,
    signer: &PKey<Private>,
    digest: Option<MessageDigest>,
) -> Vec<u8> {
    let mut builder = X509ReqBuilder::new().unwrap();
    builder.set_pubkey(subject_key).unwrap();
    builder
        .sign(signer, digest.unwrap_or_else(MessageDigest::null))
        .unwrap();
    builder.build().to_pem().unwrap()
}

pub fn csr(key: &PKey<Private>) -> Vec<u8> {
    csr_signed_by(key, key, default_digest(key))
}

/// The v2 embedded-or-detached chain of a 200 answer.
pub fn chain_of(answer: &Answer) -> Vec<String> {
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    let holder = body
        .get("signedCertificateEmbeddedSct")
        .or_else(|| body.get("signedCertificateDetachedSct"))
        .expect("a SigningCertificate");
    holder["chain"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// What a test expects of a leaf.
pub struct Expected<'a> {
    pub san: San<'a>,
    pub issuer: &'a str,
    /// Fulcio extensions other than 1.1 and 1.8, by last arc, as decoded strings.
    pub extensions: &'a [(u64, &'a str)],
    pub spki_der: Vec<u8>,
}

pub enum San<'a> {
    Email(&'a str),
    Uri(&'a str),
    Username(&'a str),
}

const FULCIO_ARC: &str = "1.3.6.1.4.1.57264.1.";

/// Checks every field of the leaf against the profile, with x509-parser (independent of the
/// rcgen writer and of OpenSSL), then the chain with `openssl verify -purpose any`.
pub fn assert_profile(chain: &[String], expected: &Expected<'_>) {
    assert_eq!(chain.len(), 3, "leaf, intermediate, root");
    let ders: Vec<Vec<u8>> = chain
        .iter()
        .map(|p| {
            openssl::x509::X509::from_pem(p.as_bytes())
                .unwrap()
                .to_der()
                .unwrap()
        })
        .collect();
    let (_, leaf) = X509Certificate::from_der(&ders[0]).unwrap();
    let (_, intermediate) = X509Certificate::from_der(&ders[1]).unwrap();

    assert_eq!(leaf.version(), X509Version::V3);
    let serial = leaf.raw_serial();
    assert!(
        serial.len() <= 20 && serial[0] & 0x80 == 0,
        "serial positive and at most 20 bytes"
    );
    assert!(serial.len() >= 16, "serial has at least 128 random bits");
    assert!(leaf.subject().iter().next().is_none(), "empty subject");
    assert_eq!(leaf.issuer().as_raw(), intermediate.subject().as_raw());
    let lifetime = leaf.validity().not_after.timestamp() - leaf.validity().not_before.timestamp();
    assert_eq!(lifetime, 600, "10-minute validity");
    assert!((leaf.validity().not_before.timestamp() - now() as i64).abs() < 60);
    assert_eq!(
        leaf.public_key().raw,
        &expected.spki_der[..],
        "the certified key is the requested key"
    );

    let mut seen = BTreeMap::new();
    for ext in leaf.extensions() {
        let oid = ext.oid.to_id_string();
        assert!(
            seen.insert(oid.clone(), ()).is_none(),
            "duplicate extension {oid}"
        );
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                assert!(ext.critical, "SAN must be critical with an empty subject");
                assert_eq!(san.general_names.len(), 1, "exactly one SAN");
                match (&san.general_names[0], &expected.san) {
                    (GeneralName::RFC822Name(got), San::Email(want)) => assert_eq!(got, want),
                    (GeneralName::URI(got), San::Uri(want)) => assert_eq!(got, want),
                    (GeneralName::OtherName(oid, value), San::Username(want)) => {
                        assert_eq!(oid.to_id_string(), "1.3.6.1.4.1.57264.1.7");
                        // [0] EXPLICIT UTF8String
                        let (_, any) = Any::from_der(value).unwrap();
                        assert_eq!(any.tag().0, 0);
                        let (_, s) = Utf8String::from_der(any.data).unwrap();
                        assert_eq!(s.string(), *want);
                    }
                    (got, _) => panic!("unexpected SAN {got:?}"),
                }
            }
            ParsedExtension::KeyUsage(ku) => {
                assert!(ext.critical, "KeyUsage critical");
                assert!(
                    ku.digital_signature() && ku.flags == 1,
                    "digitalSignature only: {ku:?}"
                );
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                assert!(
                    !ext.critical,
                    "EKU must be non-critical for sigstore-python"
                );
                assert!(
                    eku.code_signing
                        && !eku.any
                        && !eku.server_auth
                        && !eku.client_auth
                        && eku.other.is_empty()
                );
            }
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                let ski = intermediate
                    .extensions()
                    .iter()
                    .find_map(|e| match e.parsed_extension() {
                        ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0),
                        _ => None,
                    })
                    .unwrap();
                assert_eq!(
                    aki.key_identifier.as_ref().unwrap().0,
                    ski,
                    "AKI = issuer SKI"
                );
            }
            ParsedExtension::SubjectKeyIdentifier(ski) => {
                let bits = leaf.public_key().subject_public_key.data.as_ref();
                assert_eq!(
                    ski.0,
                    &openssl::sha::sha1(bits)[..],
                    "SKI = SHA-1 of the key bits"
                );
            }
            ParsedExtension::BasicConstraints(_) => panic!("a Fulcio leaf has no BasicConstraints"),
            ParsedExtension::SCT(scts) => {
                assert!(!ext.critical, "the SCT list is non-critical");
                assert_eq!(
                    scts.len(),
                    1,
                    "exactly one embedded SCT (sigstore-python requires it)"
                );
                assert!(
                    scts[0].extensions.0.is_empty(),
                    "SCT extensions must be empty for older sigstore-python"
                );
            }
            _ => assert!(oid.starts_with(FULCIO_ARC), "unexpected extension {oid}"),
        }
        if oid.starts_with(FULCIO_ARC) {
            assert!(!ext.critical, "Fulcio extension {oid} must be non-critical");
        }
    }
    for required in [
        "2.5.29.17",
        "2.5.29.15",
        "2.5.29.37",
        "2.5.29.35",
        "2.5.29.14",
    ] {
        assert!(seen.contains_key(required), "missing {required}");
    }

    let mut fulcio: BTreeMap<u64, String> = BTreeMap::new();
    for ext in leaf
        .extensions()
        .iter()
        .filter(|e| e.oid.to_id_string().starts_with(FULCIO_ARC))
    {
        let arc: u64 = ext.oid.to_id_string()[FULCIO_ARC.len()..].parse().unwrap();
        let value = if arc <= 6 {
            String::from_utf8(ext.value.to_vec()).unwrap()
        } else {
            let (rest, s) = Utf8String::from_der(ext.value).unwrap();
            assert!(rest.is_empty());
            s.string()
        };
        fulcio.insert(arc, value);
    }
    let mut want: BTreeMap<u64, String> = expected
        .extensions
        .iter()
        .map(|(a, v)| (*a, v.to_string()))
        .collect();
    want.insert(1, expected.issuer.to_owned());
    want.insert(8, expected.issuer.to_owned());
    assert_eq!(fulcio, want, "Fulcio extensions");

    openssl_verify(chain);
}

/// `openssl verify -purpose any` of the leaf against the returned root.
pub fn openssl_verify(chain: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n);
    std::fs::write(path("leaf.pem"), format!("{}\n", chain[0])).unwrap();
    std::fs::write(
        path("untrusted.pem"),
        chain[1..chain.len() - 1].join("\n") + "\n",
    )
    .unwrap();
    std::fs::write(path("root.pem"), format!("{}\n", chain[chain.len() - 1])).unwrap();
    let out = std::process::Command::new("openssl")
        // A time inside the leaf's validity: `openssl` reads the kernel's coarse clock, which
        // can lag the one that stamped notBefore by a few milliseconds.
        .args([
            "verify",
            "-purpose",
            "any",
            "-attime",
            &(now() + 30).to_string(),
            "-CAfile",
        ])
        .arg(path("root.pem"))
        .arg("-untrusted")
        .arg(path("untrusted.pem"))
        .arg(path("leaf.pem"))
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn spki(key: &PKey<Private>) -> Vec<u8> {
    key.public_key_to_der().unwrap()
}

/// Verifies the single embedded SCT of `chain[0]`, issued by `chain[1]`, with the log key:
/// the signed data is rebuilt from the final certificate (its TBS without the SCT list, by the
/// `x509-cert` crate), as RFC 6962 §3.2 and sigstore-python define it.
/// Returns the SCT's timestamp and the signed bytes, which are the entry's MerkleTreeLeaf.
pub fn verify_embedded_sct(chain: &[String], log_spki: &[u8]) -> (u64, Vec<u8>) {
    use der::{Decode, Encode};
    let leaf = openssl::x509::X509::from_pem(chain[0].as_bytes())
        .unwrap()
        .to_der()
        .unwrap();
    let issuer = openssl::x509::X509::from_pem(chain[1].as_bytes()).unwrap();
    let cert = x509_cert::Certificate::from_der(&leaf).unwrap();
    let mut tbs = cert.tbs_certificate;
    let sct_oid = der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
    let extensions = tbs.extensions.as_mut().unwrap();
    let ext = extensions
        .iter()
        .find(|e| e.extn_id == sct_oid)
        .expect("an SCT list")
        .clone();
    extensions.retain(|e| e.extn_id != sct_oid);
    let tbs = tbs.to_der().unwrap();
    // extnValue holds a DER OCTET STRING holding the TLS SignedCertificateTimestampList.
    let list = der::asn1::OctetString::from_der(ext.extn_value.as_bytes())
        .unwrap()
        .into_bytes();
    let sct = &list[4..];
    assert_eq!(
        u16::from_be_bytes([list[0], list[1]]) as usize,
        list.len() - 2
    );
    assert_eq!(
        u16::from_be_bytes([list[2], list[3]]) as usize,
        sct.len(),
        "one SCT"
    );
    assert_eq!(sct[0], 0, "SCT v1");
    assert_eq!(
        &sct[1..33],
        &openssl::sha::sha256(log_spki)[..],
        "log ID = SHA-256 of the log key"
    );
    let timestamp = &sct[33..41];
    assert_eq!(&sct[41..43], &[0, 0], "no SCT extensions");
    assert_eq!(&sct[43..45], &[4, 3], "SHA-256 with ECDSA");
    let sig_len = u16::from_be_bytes([sct[45], sct[46]]) as usize;
    let signature = &sct[47..47 + sig_len];
    assert_eq!(47 + sig_len, sct.len());

    let issuer_key_hash =
        openssl::sha::sha256(&issuer.public_key().unwrap().public_key_to_der().unwrap());
    let mut signed = vec![0u8, 0];
    signed.extend_from_slice(timestamp);
    signed.extend_from_slice(&[0, 1]);
    signed.extend_from_slice(&issuer_key_hash);
    signed.extend_from_slice(&(tbs.len() as u32).to_be_bytes()[1..]);
    signed.extend_from_slice(&tbs);
    signed.extend_from_slice(&[0, 0]);
    let key = PKey::public_key_from_der(log_spki).unwrap();
    let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), &key).unwrap();
    assert!(
        verifier.verify_oneshot(signature, &signed).unwrap(),
        "the embedded SCT verifies"
    );
    (u64::from_be_bytes(timestamp.try_into().unwrap()), signed)
}

// Independent RFC 6962 / RFC 9162 checks, written here so they share no code with sigil-ctlog.

pub type Hash = [u8; 32];

pub fn sha256(parts: &[&[u8]]) -> Hash {
    let mut h = openssl::sha::Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finish()
}

pub fn node(l: &Hash, r: &Hash) -> Hash {
    sha256(&[&[1], l, r])
}

/// RFC 6962 MTH by its definition; independent of sigil-ctlog.
pub fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// RFC 9162 §2.1.3.2, transcribed; independent of sigil-ctlog.
pub fn inclusion_ok(index: u64, size: u64, leaf: Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s, mut r) = (index, size - 1, leaf);
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// RFC 9162 §2.1.4.2, transcribed; independent of sigil-ctlog.
pub fn consistency_ok(m: u64, n: u64, proof: &[Hash], r1: &Hash, r2: &Hash) -> bool {
    if m == n {
        return proof.is_empty() && r1 == r2;
    }
    if m == 0 {
        return proof.is_empty();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path = proof.to_vec();
    if m.is_power_of_two() {
        path.insert(0, *r1);
    }
    let (mut f, mut s) = (m - 1, n - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node(c, &fr);
            sr = node(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && fr == *r1 && sr == *r2
}

/// A `sigil serve` child process on a free port, killed (SIGKILL) when dropped. Its stderr goes
/// to `serve-<port>.log` in `dir`, and is shown if it never becomes ready.
pub struct SigilProcess {
    pub child: std::process::Child,
    pub address: String,
}

impl Drop for SigilProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SigilProcess {
    /// Runs `sigil serve ARGS` in `dir` with `env` (plus a free listen port and, unless set, no
    /// issuer file, no rate limits, `dir` as the temporary directory) and waits until `/readyz`
    /// answers 200.
    pub async fn start(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> SigilProcess {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join(format!("serve-{port}.log"));
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sigil"));
        command
            .arg("serve")
            .args(args)
            .current_dir(dir)
            .env("SIGIL_SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("SIGIL_OIDC__ISSUERS", dir.join("no-issuer-file.yaml"))
            // Whole-process tests drive bursts from one address and one identity; the limits
            // have their own tests (abuse.rs).
            .env("SIGIL_LIMITS__IP_RATE", "0")
            .env("SIGIL_LIMITS__IDENTITY_RATE", "0")
            // `--dev` keeps its logs in a throwaway database in the temporary directory, which
            // a SIGKILL leaves behind: in `dir`, it goes when the test's directory does.
            .env("TMPDIR", dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            command.env(k, v);
        }
        let process = SigilProcess {
            child: command.spawn().unwrap(),
            address: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while reqwest::get(format!("{}/readyz", process.address))
            .await
            .map(|r| r.status() != 200)
            .unwrap_or(true)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "sigil serve did not become ready:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        process
    }
}

pub fn b64hash(v: &Value) -> Hash {
    STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

/// A JSON array of base64 hashes (an audit path or consistency proof).
pub fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(b64hash).collect()
}

/// Standard base64 made safe for a query string.
pub fn urlencode(s: &str) -> String {
    s.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// A self-signed certificate for `key`, named `common_name`, valid for a day; a CA
/// (BasicConstraints critical) when `ca`. Ed25519 keys sign without a digest.
pub fn self_signed(key: &PKey<Private>, common_name: &str, ca: bool) -> openssl::x509::X509 {
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", common_name).unwrap();
    let name = name.build();
    let mut b = openssl::x509::X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    if ca {
        b.append_extension(
            openssl::x509::extension::BasicConstraints::new()
                .critical()
                .ca()
                .build()
                .unwrap(),
        )
        .unwrap();
    }
    b.sign(key, default_digest(key).unwrap_or_else(MessageDigest::null))
        .unwrap();
    b.build()
}

/// Lower-case hex to bytes (test data only; panics on bad hex).
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A hex-encoded 32-byte hash.
pub fn unhex32(s: &str) -> Hash {
    unhex(s).try_into().unwrap()
}

/// `GET url` as JSON, or `None` if the server does not answer with JSON (e.g. it was killed).
pub async fn get_json(client: &reqwest::Client, url: &str) -> Option<Value> {
    client.get(url).send().await.ok()?.json().await.ok()
}

/// Appends `line` to this run's fault report, `target/tmp/fault-report.txt`, which `.ci/run`
/// prints after the suite (cargo hides what passing tests print).
pub fn report(line: &str) {
    use std::io::Write;
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fault-report.txt");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(file, "{line}").unwrap();
    println!("{line}");
}

/// A hashedrekord request for `artifact` signed by `key`, with `cert_pem` as given.
pub fn hashedrekord(key: &PKey<Private>, cert_pem: &str, artifact: &[u8]) -> Value {
    let digest = openssl::sha::sha256(artifact);
    let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), key).unwrap();
    let signature = signer.sign_oneshot_to_vec(artifact).unwrap();
    let digest_hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest_hex}},
            "signature": {"content": STANDARD.encode(signature), "publicKey": {"content": STANDARD.encode(cert_pem)}},
        },
    })
}

/// A dev-issuer token for `email` from the `serve --dev` server at `address`, and the PEM chain
/// (leaf first) of a certificate issued with it for `key`.
pub async fn dev_certificate(
    address: &str,
    email: &str,
    key: &PKey<Private>,
) -> (String, Vec<String>) {
    let client = reqwest::Client::new();
    let token = get_json(&client, &format!("{address}/dev/oidc/token?email={email}"))
        .await
        .unwrap()["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"certificateSigningRequest": STANDARD.encode(csr(key))});
    let answer: Value = client
        .post(format!("{address}/api/v2/signingCert"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chain = answer["signedCertificateEmbeddedSct"]["chain"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (token, chain)
}
