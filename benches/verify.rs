//! In-process bundle verification (`sigil::client::verify::verify`) on the corpus's real
//! bundles: a public-good Rekor v1 bundle, a staging Rekor v2 bundle with an RFC 3161
//! timestamp, and a sigil bundle. `sigil verify`'s process time is measured with hyperfine
//! (README, Performance).

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use sigil::client::trust::TrustMaterial;
use sigil::client::verify::{Policy, verify};

fn corpus(path: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus")
            .join(path),
    )
    .expect("corpus file")
}

fn trusted_root(path: &str) -> TrustMaterial {
    let root = serde_json::from_slice(&corpus(path)).expect("trusted root JSON");
    TrustMaterial::from_trusted_root(&root).expect("trusted root")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    let cases = [
        (
            "public-good-rekor-v1",
            corpus("public/rfc8785-0.1.2.whl.sigstore"),
            hex32("c4e92e9ecc828bef2aa7dba1de8ac983511f7532a0df11c770d39099a25cf201"),
            TrustMaterial::public_good().expect("built-in root"),
            Policy::exact(
                "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2",
                "https://token.actions.githubusercontent.com",
            ),
        ),
        (
            "staging-rekor-v2-rfc3161",
            corpus("public/staging-rekor-v2.txt.sigstore.json"),
            openssl::sha::sha256(&corpus("public/staging-rekor-v2.txt")),
            trusted_root("trust/staging.trusted_root.json"),
            Policy::exact("jku@goto.fi", "https://github.com/login/oauth"),
        ),
        (
            "sigil-rekor-v1",
            corpus("sigil/one.txt.sigstore.json"),
            openssl::sha::sha256(&corpus("sigil/one.txt")),
            trusted_root("sigil/trusted_root.json"),
            Policy::exact("dev@sigil.localhost", "http://127.0.0.1:5599/dev/oidc"),
        ),
    ];
    for (name, bundle, digest, trust, policy) in &cases {
        verify(bundle, digest, trust, policy).expect("a valid corpus bundle");
        group.bench_function(*name, |b| {
            b.iter(|| verify(bundle, digest, trust, policy).expect("valid"))
        });
    }
    group.finish();
}

fn hex32(hex: &str) -> [u8; 32] {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    bytes.try_into().expect("32 bytes")
}

criterion_group!(benches, bench);
criterion_main!(benches);
