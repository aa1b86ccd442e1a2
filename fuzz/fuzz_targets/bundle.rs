//! Sigstore bundles (v0.1 to v0.3) through the whole verifier, against the public-good trust
//! root shipped in the binary.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigil::client::trust::TrustMaterial;
use sigil::client::verify::{Policy, verify};

static TRUST: LazyLock<TrustMaterial> =
    LazyLock::new(|| TrustMaterial::public_good().expect("the shipped trusted root"));

fuzz_target!(|data: &[u8]| {
    let policy = Policy::exact("someone@example.com", "https://accounts.example.com");
    let _ = verify(data, &[0u8; 32], &TRUST, &policy);
});
