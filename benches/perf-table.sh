#!/bin/bash
# The README's performance table: starts `sigil serve --dev` in each configuration, runs each
# `sigil loadtest` scenario three times (64 connections, 10 s) and prints the medians.
#
#   cargo build --release && benches/perf-table.sh [--postgres URL]
#
# The load generator is one client with one identity, so the rate limits are off. With
# --postgres, the issuance and Rekor rows are repeated on that database, which must be empty or
# disposable: the dev keys are new each start, and a log refuses a head signed by another key.
set -euo pipefail
cd "$(dirname "$0")/.."
sigil=target/release/sigil
port=5600
server="http://127.0.0.1:$port"
postgres=
[ "${1:-}" = --postgres ] && postgres=$2
work=$(mktemp -d)
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

serve() { # serve CA_KEY_TYPE [STORAGE_URL]
    # The previous server must be gone, or the new one cannot bind and the old one answers.
    if old=$(cat "$work/pid" 2>/dev/null); then
        kill "$old" 2>/dev/null || true
        while kill -0 "$old" 2>/dev/null; do sleep 0.2; done
    fi
    rm -rf "$work/data" && mkdir -p "$work/data"
    (cd "$work/data" && exec env SIGIL_LIMITS__IP_RATE=0 SIGIL_LIMITS__IDENTITY_RATE=0 \
        SIGIL_CA__KEY_TYPE="$1" SIGIL_SERVER__LISTEN="127.0.0.1:$port" \
        ${2:+SIGIL_STORAGE__URL="$2"} "$OLDPWD/$sigil" serve --dev) >"$work/server.log" 2>&1 &
    echo $! >"$work/pid"
    for _ in $(seq 100); do
        kill -0 "$(cat "$work/pid")" 2>/dev/null || break
        curl -sf "$server/readyz" >/dev/null && return
        sleep 0.2
    done
    echo "the server did not become ready:" >&2 && cat "$work/server.log" >&2 && exit 1
}

row() { # row LABEL loadtest-arguments...
    for run in 1 2 3; do
        "$sigil" loadtest --server "$server" --connections 64 --duration 10s --json "${@:2}" \
            2>/dev/null >"$work/run$run.json"
    done
    python3 - "$1" "$work"/run{1,2,3}.json <<'PY'
import json, statistics, sys
runs = [json.load(open(p)) for p in sys.argv[2:]]
med = lambda f: statistics.median(f(r) for r in runs)
errors = sum(sum(r["errors"].values()) for r in runs)
rss = max(r.get("server_rss_mib") or 0 for r in runs)
print(f"| {sys.argv[1]} | {med(lambda r: r['rate']):,.0f}/s | {med(lambda r: r['latency_ms']['p50']):.1f} ms "
      f"| {med(lambda r: r['latency_ms']['p99']):.1f} ms | {rss:.0f} MiB | {errors} |")
PY
}

echo "| scenario (64 connections, 10 s, median of 3) | rate | p50 | p99 | server RSS (max) | errors |"
echo "|---|---|---|---|---|---|"
serve ecdsa-p256
row "issue, P-256 CA, RS256 token" --scenario issue --token-alg RS256
row "issue, P-256 CA, ES256 token" --scenario issue --token-alg ES256
row "ct-add-chain" --scenario ct-add-chain --prepare 40000
row "rekor-upload (hashedrekord)" --scenario rekor-upload --prepare 60000
row "sign (certificate, then Rekor upload)" --scenario sign --token-alg RS256 --prepare 30000
row "verify (in-process, loadgen threads)" --scenario verify
serve ecdsa-p384
row "issue, P-384 CA (Fulcio's default), RS256 token" --scenario issue --token-alg RS256
if [ -n "$postgres" ]; then
    serve ecdsa-p256 "$postgres"
    row "issue, P-256 CA, RS256 token, PostgreSQL" --scenario issue --token-alg RS256
    row "rekor-upload, PostgreSQL" --scenario rekor-upload --prepare 60000
fi
