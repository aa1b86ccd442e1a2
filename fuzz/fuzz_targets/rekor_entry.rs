//! Rekor `POST /api/v1/log/entries` bodies: parsing, key and signature checks, and the
//! canonical form that is logged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sigil::rekor::entry::canonicalize(data);
});
