//! Identity tokens: sigil's shape guard and unverified header/issuer reading, then its full
//! signature and claims check against a fixed ES256 key (which must never succeed).
#![no_main]

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sigil::oidc::jws::JwsKey;
use sigil::oidc::token::{inspect, verified_claims};
use sigil::oidc::{IssuerPool, ResolvedIssuer};

static KEY: LazyLock<[Arc<JwsKey>; 1]> = LazyLock::new(|| {
    let jwk = serde_json::from_slice(include_bytes!("issuer_key.jwk.json")).expect("a JWK");
    [Arc::new(JwsKey::from_jwk(&jwk).expect("a P-256 public key"))]
});

static ISSUER: LazyLock<ResolvedIssuer> = LazyLock::new(|| {
    IssuerPool::parse(
        "oidc-issuers:\n  https://issuer.example:\n    client-id: sigstore\n    type: email\n",
        "fuzz",
        Duration::from_secs(1),
    )
    .expect("an issuer file")
    .resolve("https://issuer.example")
    .expect("the issuer")
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(unverified) = inspect(token) {
        // Nobody holds the private half of this key: a forged token must not verify.
        let verified = verified_claims(token, &unverified, &*KEY, &ISSUER, Duration::ZERO);
        assert!(verified.is_err());
    }
});
