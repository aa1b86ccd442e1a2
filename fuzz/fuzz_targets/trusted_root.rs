//! trusted_root.json and client_trust_config.json documents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil::client::trust::TrustMaterial;

fuzz_target!(|data: &[u8]| {
    if let Ok(document) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = TrustMaterial::from_trusted_root(&document);
        let _ = TrustMaterial::from_client_trust_config(&document);
    }
});
