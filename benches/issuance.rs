//! Each step of an issuance (token verification, the CSR's proof of possession, the template,
//! the signatures), and the `crypto-bound` lines: the raw signature operations one
//! issuance needs (verify the token, verify the CSR, sign the precertificate, the SCT and the
//! final certificate), and those of a CT submission, a Rekor upload and a bundle's
//! verification, measured with the same library and curves. README, Performance, puts the
//! server's measured rates beside them.

use std::cell::LazyCell;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509ReqBuilder;
use sigil::ca::CertificateAuthority;
use sigil::ca::extensions::FulcioExt;
use sigil::ca::pop::key_from_csr;
use sigil::config::{CaConfig, CaKeyType, Config};
use sigil::dev_idp::PATH;
use sigil::loadtest::dev_token;
use sigil::metrics::Metrics;
use sigil::oidc::Authenticator;
use sigil::oidc::issuers::IssuerPool;
use sigil::oidc::principal::{Principal, SubjectAltName};
use sigil::startup::Application;
use sigil_ctlog::key::LogKey;
use sigil_ctlog::rfc6962::{Sct, SignedEntry, merkle_tree_leaf, sct_list_extension_value};

/// What the signature lines sign: about the size of a certificate's TBS.
const MESSAGE: [u8; 400] = [7; 400];

/// A new OpenSSL EC key on `curve`.
fn openssl_ec_key(curve: Nid) -> PKey<Private> {
    let group = EcGroup::from_curve_name(curve).expect("curve");
    PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("key")
}

fn csr_pem() -> Vec<u8> {
    let key = openssl_ec_key(Nid::X9_62_PRIME256V1);
    let mut csr = X509ReqBuilder::new().expect("CSR");
    csr.set_pubkey(&key).expect("public key");
    csr.sign(&key, MessageDigest::sha256()).expect("signature");
    csr.build().to_pem().expect("PEM")
}

fn bench(c: &mut Criterion) {
    for (name, key_type) in [
        ("p256", CaKeyType::EcdsaP256),
        ("p384", CaKeyType::EcdsaP384),
    ] {
        let ca = CertificateAuthority::from_config(&CaConfig {
            key_type,
            ..CaConfig::default()
        })
        .expect("ephemeral CA");
        let csr = csr_pem();
        let client_key = key_from_csr(&csr).expect("CSR");
        let principal = Principal {
            challenge: "bench@example.com".into(),
            san: SubjectAltName::Email("bench@example.com".into()),
            extensions: vec![
                (FulcioExt::Issuer, "https://issuer.example".into()),
                (FulcioExt::IssuerV2, "https://issuer.example".into()),
            ],
            issuer_type: "email".into(),
        };
        let log_key = LogKey::generate_p256().expect("log key");
        let leaf = ca.prepare(&principal, &client_key).expect("template");
        let entry = SignedEntry::Precert {
            issuer_key_hash: *ca.chain().issuer_key_hash(),
            tbs: leaf.tbs().to_vec(),
        };
        let sct = Sct {
            log_id: *log_key.log_id(),
            timestamp_ms: 1,
            extensions: Vec::new(),
            signature: log_key
                .digitally_sign(&merkle_tree_leaf(1, &entry, &[]))
                .expect("SCT"),
        };
        let list = sct_list_extension_value(&[sct]);

        let mut group = c.benchmark_group(format!("issuance-{name}-ca"));
        group.bench_function("pop-csr", |b| b.iter(|| key_from_csr(&csr).expect("CSR")));
        group.bench_function("prepare", |b| {
            b.iter(|| ca.prepare(&principal, &client_key).expect("template"))
        });
        group.bench_function("sign-precertificate", |b| {
            b.iter(|| ca.sign_precertificate(&leaf).expect("precertificate"))
        });
        group.bench_function("sct", |b| {
            b.iter(|| {
                log_key
                    .digitally_sign(&merkle_tree_leaf(1, &entry, &[]))
                    .expect("SCT")
            })
        });
        group.bench_function("sign-final", |b| {
            b.iter(|| ca.sign_final(&leaf, Some(list.clone())).expect("final"))
        });
        group.finish();
    }
    token_verification(c);
    crypto_bound(c);
    implementations(c);
}

/// The first step of every issuance: an identity token to a principal (`Authenticator`), with
/// the issuer's keys cached as they are after the first request. The tokens come from the dev
/// issuer of a `serve --dev` running on loopback, whose JWKS the authenticator fetches once.
/// The server starts only when one of these lines is selected, so that it does not run beside
/// the `crypto-bound` lines that `benches/perf-table.sh` selects alone.
fn token_verification(c: &mut Criterion) {
    // The server's logs go here rather than to a throwaway file that nothing would remove;
    // declared first, the directory outlives the runtime that stops the server.
    let storage = tempfile::tempdir().expect("temporary directory");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let setup = LazyCell::new(|| runtime.block_on(dev_authenticator(storage.path())));
    let mut group = c.benchmark_group("token");
    for (n, alg) in ["rs256", "es256"].into_iter().enumerate() {
        group.bench_function(format!("verify-{alg}"), |b| {
            let (auth, tokens) = &*setup;
            let token = &tokens[n];
            runtime
                .block_on(auth.authenticate(token))
                .expect("the dev token verifies");
            b.iter(|| runtime.block_on(auth.authenticate(token)).expect("token"))
        });
    }
    group.finish();
}

/// Starts `serve --dev` with its logs in `storage`, and returns an authenticator that trusts
/// its dev issuer, with an RS256 and an ES256 token from it.
async fn dev_authenticator(storage: &Path) -> (Authenticator, [String; 2]) {
    let mut config = Config::load(None, true).expect("dev configuration");
    config.server.listen = "127.0.0.1:0".parse().expect("address");
    config.storage.url = format!("sqlite://{}", storage.join("sigil.db").display());
    let app = Application::build(config).await.expect("dev server");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    let token = |alg| dev_token(&http, &base, alg);
    let tokens = [
        token("RS256").await.expect("RS256 token"),
        token("ES256").await.expect("ES256 token"),
    ];
    let issuers = IssuerPool::parse(
        &format!("oidc-issuers:\n  {base}{PATH}:\n    client-id: sigstore\n    type: email\n"),
        "bench",
        Duration::from_secs(5),
    )
    .expect("issuer");
    let hour = Duration::from_secs(3600);
    let auth = Authenticator::new(issuers, hour, hour, Duration::from_secs(60), Metrics::new());
    (auth, tokens)
}

/// The signature work each HTTP scenario of `benches/perf-table.sh` must do, with the keys of
/// `serve --dev` (P-256 log keys; the CA's key as named):
///
/// - `issuance-{p256,p384}-ca`: an RS256 token verification, the CSR's P-256 verification, two
///   CA signatures (precertificate, final certificate) and the P-256 SCT;
/// - `issuance-p256-ca-es256`: the same with an ES256 token (a P-256 verification);
/// - `ct-add-chain-p256-ca`: the leaf's P-256 verification by the intermediate (the
///   intermediate's by the root is checked once and remembered: `sigil_ctlog::ct::Roots`) and
///   the SCT;
/// - `rekor-upload-p256-ca`: the certificate's signature by the intermediate (the
///   intermediate's by the root is verified once and remembered: `pki::AuthorityChain`), the
///   artifact signature's P-256 verification and the signed entry timestamp;
/// - `verify-{p256,p384}-ca`: the checks of one bundle (`client::verify`, the `verify`
///   scenario): the leaf's signature by the CA, whose key webpki parses with each path; the SCT,
///   the SET and the checkpoint, by log keys parsed once from the trusted root; and the
///   artifact's signature by the leaf's key, new with each bundle. The intermediate's signature
///   by the root is verified once and remembered.
///
/// Tree-head signatures are left out: one per batch of tens of entries. Each is measured on one
/// thread (`crypto-bound`) and on every core at once (`crypto-bound-all-cores`).
fn crypto_bound(c: &mut Criterion) {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        self, EcdsaKeyPair, KeyPair, ParsedPublicKey, RsaKeyPair, UnparsedPublicKey,
    };
    let rng = SystemRandom::new();
    let message = MESSAGE;
    let rsa = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).expect("RSA")).expect("RSA");
    let rsa = RsaKeyPair::from_pkcs8(&rsa.private_key_to_pkcs8().expect("PKCS#8")).expect("RSA");
    let mut rsa_sig = vec![0; rsa.public_modulus_len()];
    rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, &message, &mut rsa_sig)
        .expect("RS256");
    // The issuer's key is parsed once, as the server keeps it (`oidc::jws`); a CSR's key is
    // new with every request and is parsed with each verification below.
    let rsa_public = ParsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        rsa.public_key().as_ref(),
    )
    .expect("RSA public key");
    let rs256 = || {
        rsa_public
            .verify_sig(&message, &rsa_sig)
            .expect("RS256 token")
    };
    let p256 = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING).expect("P-256");
    let p256_sig = p256.sign(&rng, &message).expect("sign");
    let p256_public = p256.public_key().as_ref().to_vec();
    let p256_verify = || {
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &p256_public)
            .verify(&message, p256_sig.as_ref())
            .expect("P-256 verification")
    };
    let log_sign = || {
        p256.sign(&rng, &message).expect("P-256 log signature");
    };
    let p256_ca = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING).expect("CA");
    let p384_ca = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_ASN1_SIGNING).expect("CA");
    let issuance = |ca: &EcdsaKeyPair, es256_token: bool| {
        if es256_token {
            p256_verify();
        } else {
            rs256();
        }
        p256_verify();
        ca.sign(&rng, &message).expect("precertificate");
        log_sign();
        ca.sign(&rng, &message).expect("final");
    };
    let log_public =
        ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &p256_public).expect("log key");
    let log_verify = || {
        log_public
            .verify_sig(&message, p256_sig.as_ref())
            .expect("log signature")
    };
    let bundle = |ca: &EcdsaKeyPair, algorithm: &'static signature::EcdsaVerificationAlgorithm| {
        let leaf_signature = ca.sign(&rng, &message).expect("leaf");
        let ca_public = ca.public_key().as_ref().to_vec();
        move || {
            UnparsedPublicKey::new(algorithm, &ca_public)
                .verify(&message, leaf_signature.as_ref())
                .expect("the leaf by the CA");
            log_verify();
            log_verify();
            log_verify();
            p256_verify();
        }
    };
    let verify_p256_ca = bundle(&p256_ca, &signature::ECDSA_P256_SHA256_ASN1);
    let verify_p384_ca = bundle(&p384_ca, &signature::ECDSA_P384_SHA384_ASN1);
    let scenarios: [(&str, &(dyn Fn() + Sync)); 7] = [
        ("issuance-p256-ca", &|| issuance(&p256_ca, false)),
        ("issuance-p384-ca", &|| issuance(&p384_ca, false)),
        ("issuance-p256-ca-es256", &|| issuance(&p256_ca, true)),
        ("ct-add-chain-p256-ca", &|| {
            p256_verify();
            log_sign();
        }),
        ("rekor-upload-p256-ca", &|| {
            p256_verify();
            p256_verify();
            log_sign();
        }),
        ("verify-p256-ca", &verify_p256_ca),
        ("verify-p384-ca", &verify_p384_ca),
    ];
    let mut group = c.benchmark_group("crypto-bound");
    for (name, work) in scenarios {
        group.bench_function(name, |b| b.iter(work));
    }
    group.finish();
    // The same work on every core at once: the time per operation is the whole machine's, the
    // inverse of the rate it can sustain. A virtual machine's cores need not scale linearly (on
    // session 10's, two cores did this work 1.5–1.8 times as fast as one, not twice), and the
    // server runs on all of them.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let mut group = c.benchmark_group("crypto-bound-all-cores");
    for (name, work) in scenarios {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| on_every_core(cores, iterations, work))
        });
    }
    group.finish();
}

/// Runs `work` `iterations` times in all, split over `cores` threads, and returns the wall time.
fn on_every_core(cores: u64, iterations: u64, work: &(dyn Fn() + Sync)) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for core in 0..cores {
            let share = iterations / cores + u64::from(core < iterations % cores);
            scope.spawn(move || (0..share).for_each(|_| work()));
        }
    });
    start.elapsed()
}

/// RustCrypto's pure-Rust curve crates, through their `signature` traits: RFC 6979 nonces,
/// DER signatures and the public key parsed from its SEC1 point with each check, as aws-lc-rs
/// does. A fixed secret scalar is as good as a random one for timing. The crate's name is the
/// curve's in the lines' names.
macro_rules! rustcrypto {
    ($group:expr, $curve:ident) => {{
        use $curve::ecdsa::signature::{Signer, Verifier};
        use $curve::ecdsa::{DerSignature, SigningKey, VerifyingKey};
        let mut secret = $curve::FieldBytes::default();
        secret.fill(0x11);
        let key = SigningKey::from_bytes(&secret).expect("RustCrypto key");
        let public = key.verifying_key().to_encoded_point(false);
        let sig: DerSignature = key.sign(&MESSAGE);
        $group.bench_function(concat!("rustcrypto/", stringify!($curve), "-sign"), |b| {
            b.iter(|| -> DerSignature { key.sign(&MESSAGE) })
        });
        $group.bench_function(concat!("rustcrypto/", stringify!($curve), "-verify"), |b| {
            b.iter(|| {
                let public = VerifyingKey::from_sec1_bytes(public.as_bytes()).expect("SEC1 point");
                public.verify(&MESSAGE, &sig).expect("RustCrypto check")
            })
        });
    }};
}

/// The same ECDSA signatures and verifications, over the same 400-byte message, by aws-lc-rs
/// (which sigil uses for every signature on the request path), by the OpenSSL it links and by
/// RustCrypto's crates, each through its public API with the digest included: the measurement
/// behind that choice, repeatable on whatever OpenSSL the build links (`OPENSSL_NO_VENDOR=1`
/// links the system's). aws-lc-rs parses its public key with each check, as it does a CSR's,
/// where OpenSSL's key is parsed once: if anything, that favours OpenSSL.
fn implementations(c: &mut Criterion) {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
    use openssl::sign::{Signer, Verifier};
    let rng = SystemRandom::new();
    let message = MESSAGE;
    // "OpenSSL 3.6.3 30 Sep 2025": the lines name the version they measured.
    let openssl = openssl::version::version()
        .split_whitespace()
        .nth(1)
        .map_or("openssl".into(), |version| format!("openssl-{version}"));
    let mut group = c.benchmark_group("implementation");
    for (curve, aws, aws_verify, nid, digest) in [
        (
            "p256",
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &signature::ECDSA_P256_SHA256_ASN1,
            Nid::X9_62_PRIME256V1,
            MessageDigest::sha256(),
        ),
        (
            "p384",
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            &signature::ECDSA_P384_SHA384_ASN1,
            Nid::SECP384R1,
            MessageDigest::sha384(),
        ),
    ] {
        let key = EcdsaKeyPair::generate(aws).expect("aws-lc key");
        let sig = key.sign(&rng, &message).expect("aws-lc signature");
        let public = UnparsedPublicKey::new(aws_verify, key.public_key().as_ref().to_vec());
        group.bench_function(format!("aws-lc-rs/{curve}-sign"), |b| {
            b.iter(|| key.sign(&rng, &message).expect("aws-lc signature"))
        });
        group.bench_function(format!("aws-lc-rs/{curve}-verify"), |b| {
            b.iter(|| public.verify(&message, sig.as_ref()).expect("aws-lc check"))
        });

        let key = openssl_ec_key(nid);
        let sign = || {
            let mut signer = Signer::new(digest, &key).expect("signer");
            signer.update(&message).expect("digest");
            signer.sign_to_vec().expect("OpenSSL signature")
        };
        let sig = sign();
        group.bench_function(format!("{openssl}/{curve}-sign"), |b| b.iter(sign));
        group.bench_function(format!("{openssl}/{curve}-verify"), |b| {
            b.iter(|| {
                let mut verifier = Verifier::new(digest, &key).expect("verifier");
                verifier.update(&message).expect("digest");
                assert!(verifier.verify(&sig).expect("OpenSSL check"));
            })
        });
    }
    rustcrypto!(group, p256);
    rustcrypto!(group, p384);
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
