//! CT `add-chain` / `add-pre-chain` bodies: the JSON and base64 of the request, the chain
//! check against a fixed root, and the precertificate TBS rewriting. Input that does not start
//! with `{` is taken as one raw DER certificate, so the fuzzer can mutate DER directly.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use openssl::x509::X509;
use sigil_ctlog::ct::{Roots, tbs_without_poison, validate_chain};

static ROOTS: LazyLock<Roots> = LazyLock::new(|| {
    let root = X509::from_pem(include_bytes!("../../keys-example/root.pem")).expect("the root");
    Roots::new(vec![root.to_der().expect("DER")])
});

fuzz_target!(|data: &[u8]| {
    let chain = if data.first() == Some(&b'{') {
        match sigil::routes::ct::parse_chain_request(data) {
            Ok(chain) => chain,
            Err(_) => return,
        }
    } else {
        vec![data.to_vec()]
    };
    let _ = validate_chain(&chain, &ROOTS);
    if let Some(leaf) = chain.first() {
        let _ = tbs_without_poison(leaf);
    }
});
