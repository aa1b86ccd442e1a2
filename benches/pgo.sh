#!/bin/bash
# A profile-guided build of sigil: compile an instrumented binary, run it as `serve --dev` and
# as the load generator through every `sigil loadtest` scenario, and compile again with the
# profile it recorded. The result is target/pgo/sigil; the benchmark scripts serve and load
# with it when SIGIL names it:
#
#   rustup component add llvm-tools     # llvm-profdata, of the LLVM rustc is built on
#   benches/pgo.sh
#   SIGIL=target/pgo/sigil benches/by-hand.sh ratio
#
# Only sigil's Rust code (with actix, tokio, serde, sqlx and the rest) is laid out by the
# profile; aws-lc, SQLite and mimalloc are C and compiled as in any build. Both builds name the
# host target, so that the profile flags reach the binary's code and not the build scripts and
# procedural macros, which run only at compile time.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
[ -x "$profdata" ] || { echo "no $profdata: rustup component add llvm-tools" >&2 && exit 1; }
pgo=$PWD/target/pgo
. benches/harness.sh

build() { # build TARGET_DIR RUSTFLAGS: the release binary, into TARGET_DIR/$host/release
    RUSTFLAGS="$2" cargo build --release --locked --bin sigil --target "$host" --target-dir "$1"
}

build "$pgo/instrumented" "-Cprofile-generate=$pgo/profiles"
rm -rf "$pgo/profiles"
sigil=$pgo/instrumented/$host/release/sigil

train() { # train CA_KEY_TYPE loadtest-arguments...
    serve "$1"
    "$sigil" loadtest --server "$server" --connections 64 --duration 8s "${@:2}" >/dev/null
    # The profile is written as the process exits, so each server is stopped, not killed.
    stop
}
train ecdsa-p384 --scenario issue --token-alg RS256
train ecdsa-p256 --scenario issue --token-alg RS256
train ecdsa-p256 --scenario issue --token-alg ES256
train ecdsa-p256 --scenario ct-add-chain --prepare 40000
train ecdsa-p256 --scenario rekor-upload --prepare 100000
train ecdsa-p256 --scenario sign --token-alg RS256 --prepare 30000
train ecdsa-p384 --scenario verify
train ecdsa-p256 --scenario verify

"$profdata" merge -o "$pgo/sigil.profdata" "$pgo/profiles"
build "$pgo/optimized" "-Cprofile-use=$pgo/sigil.profdata"
cp "$pgo/optimized/$host/release/sigil" "$pgo/sigil"
echo "$pgo/sigil"
