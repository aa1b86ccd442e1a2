#!/bin/bash
# The README's performance table: starts `sigil serve --dev` in each configuration, runs each
# `sigil loadtest` scenario three times (64 connections, 10 s) and prints the medians, each
# beside its crypto bound (`benches/issuance.rs`), measured right before and right after the
# row's runs, and the ratio of the rate to it: to the bound on one core times the cores, and to
# the bound measured on every core at once.
#
#   cargo build --release && benches/perf-table.sh [--postgres URL]
#
# With --postgres, the issuance and Rekor rows are repeated on that database, which must be
# empty or disposable: the dev keys are new each start, and a log refuses a head signed by
# another key.
set -euo pipefail
cd "$(dirname "$0")/.."
postgres=
[ "${1:-}" = --postgres ] && postgres=$2
. benches/harness.sh

bound() { # bound ROW before|after LINES: the row's crypto-bound lines, one core and all cores
    [ "$3" = - ] && return
    # The machine's speed drifts by 10-25% within minutes, so each row has its own bound,
    # measured right before and right after its runs.
    crypto_bound "^crypto-bound(-all-cores)?/(${3//+/|})\$"
    mkdir -p "$work/bounds/$1-$2"
    cp -r target/criterion/crypto-bound* "$work/bounds/$1-$2/"
}

rows=0
row() { # row LABEL BOUND loadtest-arguments... (BOUND: crypto-bound lines joined by +, or -)
    rows=$((rows + 1))
    bound $rows before "$2"
    for run in 1 2 3; do
        "$sigil" loadtest --server "$server" --connections 64 --duration 10s --json "${@:3}" \
            2>/dev/null >"$work/run$run.json"
    done
    bound $rows after "$2"
    python3 - $rows "$1" "$2" "$work"/run{1,2,3}.json >>"$work/rows.json" <<'PY'
import json, statistics, sys
runs = [json.load(open(p)) for p in sys.argv[4:]]
med = lambda f: statistics.median(f(r) for r in runs)
print(json.dumps({
    "id": sys.argv[1], "label": sys.argv[2], "bound": sys.argv[3], "rate": med(lambda r: r["rate"]),
    "p50": med(lambda r: r["latency_ms"]["p50"]), "p99": med(lambda r: r["latency_ms"]["p99"]),
    "rss": max(r.get("server_rss_mib") or 0 for r in runs),
    "errors": sum(sum(r["errors"].values()) for r in runs),
}))
PY
}

serve ecdsa-p256
row "issue, P-256 CA, RS256 token" issuance-p256-ca --scenario issue --token-alg RS256
row "issue, P-256 CA, ES256 token" issuance-p256-ca-es256 --scenario issue --token-alg ES256
row "ct-add-chain" ct-add-chain-p256-ca --scenario ct-add-chain --prepare 40000
row "rekor-upload (hashedrekord)" rekor-upload-p256-ca --scenario rekor-upload --prepare 150000
row "sign (certificate, then Rekor upload)" issuance-p256-ca+rekor-upload-p256-ca \
    --scenario sign --token-alg RS256 --prepare 30000
row "verify, P-256 CA (in-process, loadgen threads)" verify-p256-ca --scenario verify
serve ecdsa-p384
row "issue, P-384 CA (Fulcio's default), RS256 token" issuance-p384-ca --scenario issue --token-alg RS256
# Fulcio's bundles need a P-384 verification of the leaf, which weighs more than the rest.
row "verify, P-384 CA (in-process, loadgen threads)" verify-p384-ca --scenario verify
if [ -n "$postgres" ]; then
    serve ecdsa-p256 "$postgres"
    row "issue, P-256 CA, RS256 token, PostgreSQL" issuance-p256-ca --scenario issue --token-alg RS256
    row "rekor-upload, PostgreSQL" rekor-upload-p256-ca --scenario rekor-upload --prepare 150000
fi
stop

python3 - "$work" "$(nproc)" <<'PY'
import json, sys
work, cores = sys.argv[1], int(sys.argv[2])

def bound(row, when, group):
    """Microseconds of the row's crypto-bound lines, summed."""
    total = 0.0
    for name in row["bound"].split("+"):
        path = f"{work}/bounds/{row['id']}-{when}/{group}/{name}/new/estimates.json"
        e = json.load(open(path))
        total += (e.get("slope") or e["mean"])["point_estimate"] / 1000
    return total

def column(row, group, per_second):
    """'before / after µs' and the range of the row's rate over the bound's rate."""
    us = [bound(row, w, group) for w in ("before", "after")]
    rates = sorted(per_second / u for u in us)
    ratios = sorted(round(100 * row["rate"] / r) for r in rates)
    span = f"{ratios[0]}%" if ratios[0] == ratios[1] else f"{ratios[0]}–{ratios[1]}%"
    return f"{us[0]:.1f} / {us[1]:.1f} µs: {rates[0]:,.0f}–{rates[1]:,.0f}/s | {span}"

print(f"| scenario (64 connections, 10 s, median of 3) | rate | p50 | p99 | server RSS (max) "
      f"| errors | bound, one core × {cores} | rate / it | bound, {cores} cores at once | rate / it |")
print("|---|---|---|---|---|---|---|---|---|---|")
for line in open(f"{work}/rows.json"):
    row = json.loads(line)
    cells = "— | — | — | —"
    if row["bound"] != "-":
        cells = (column(row, "crypto-bound", 1e6 * cores) + " | "
                 + column(row, "crypto-bound-all-cores", 1e6))
    print(f"| {row['label']} | {row['rate']:,.0f}/s | {row['p50']:.1f} ms | {row['p99']:.1f} ms "
          f"| {row['rss']:.0f} MiB | {row['errors']} | {cells} |")
PY
