//! PKCS#10 requests (PEM or DER) and their self-signature, as `certificateSigningRequest`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sigil::ca::pop::key_from_csr(data);
});
