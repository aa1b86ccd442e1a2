//! Identity tokens: sigil's shape guard and unverified header/issuer reading, then
//! jsonwebtoken's full decode against a fixed ES256 key (which must never succeed).
#![no_main]

use std::sync::LazyLock;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use libfuzzer_sys::fuzz_target;

static KEY: LazyLock<DecodingKey> = LazyLock::new(|| {
    DecodingKey::from_ec_pem(include_bytes!("issuer_key.pub.pem")).expect("a P-256 public key")
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(unverified) = sigil::oidc::token::inspect(token) {
        let validation = Validation::new(unverified.alg);
        if unverified.alg == Algorithm::ES256 {
            // Nobody holds the private half of this key: a forged token must not verify.
            assert!(jsonwebtoken::decode::<serde_json::Value>(token, &KEY, &validation).is_err());
        }
    }
});
