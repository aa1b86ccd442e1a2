//! Fulcio-format issuer files (YAML or JSON), including the CI metadata templates.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sigil::oidc::issuers::IssuerPool::parse(
            text,
            "fuzz",
            std::time::Duration::from_secs(1),
        );
    }
});
