//! `publicKeyRequest` keys (PEM or DER SubjectPublicKeyInfo) and the proof of possession.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte splits the input into a key and a signature.
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let (key, proof) = rest.split_at(split as usize * rest.len() / 256);
    if let Ok(key) = sigil::ca::pop::ClientKey::from_pem_or_der(key) {
        let _ = key.verify_proof("alice@example.com", proof);
    }
    let _ = sigil::ca::pop::ClientKey::from_pem_or_der(data);
});
