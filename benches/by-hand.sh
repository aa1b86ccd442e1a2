#!/bin/bash
# The README's figures that `perf-table.sh` does not make:
#
#   cargo build --release
#   benches/by-hand.sh ratio [RUNS]       # P-384 issuance beside its crypto bound, run by run
#   benches/by-hand.sh memory [SECONDS]   # the server's memory over a long P-256 issuance run
#
# `ratio` (4 runs by default) loads a new P-384 server for 16 s and reads a middle window of
# 10 s: the certificates issued (from /metrics), the CPU the server and the load generator each
# took per certificate (/proc/PID/stat), and the share of the machine left idle or taken by a
# virtual machine's host (/proc/stat). The bound on every core at once is measured right before
# and right after each run, as the machine's speed drifts within minutes: a run's ratio is the
# range between the two, and a wide range says the machine changed speed during the run. A
# table row's ratio is a median of three runs; these show how far single runs stray from it.
#
# `memory` (600 s by default, the target's ten minutes) prints the server's VmRSS every 15 s,
# then the run's rate, p99 and errors.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/harness.sh

load() { # load SECONDS: issuance at 64 connections in the background, its PID in $load_pid
    "$sigil" loadtest --server "$server" --scenario issue --token-alg RS256 --connections 64 \
        --duration "${1}s" --json 2>/dev/null >"$work/load.json" &
    load_pid=$!
}

counters() { # certificates issued, server CPU, load generator CPU, idle + iowait, steal
    local server_pid
    server_pid=$(cat "$work/pid")
    curl -sf "$server/metrics" |
        awk '/^sigil_certificates_issued_total\{/ { n += $2 } END { print n }'
    awk '{ print $14 + $15 }' "/proc/$server_pid/stat" "/proc/$load_pid/stat"
    awk '/^cpu / { print $5 + $6, $9 }' /proc/stat
}

bound() { # bound FILE: the P-384 issuance bound on every core at once, its estimates into FILE
    crypto_bound '^crypto-bound-all-cores/issuance-p384-ca$'
    cp target/criterion/crypto-bound-all-cores/issuance-p384-ca/new/estimates.json "$1"
}

ratio() {
    local window=10
    bound "$work/bound-before.json"
    for run in $(seq "$1"); do
        serve ecdsa-p384
        load 16
        # The load generator prepares its requests first; the window starts after that.
        sleep 4
        counters >"$work/before"
        sleep "$window"
        counters >"$work/after"
        wait "$load_pid"
        stop
        bound "$work/bound-after.json"
        python3 - "$run" "$work" "$window" "$(getconf CLK_TCK)" "$(nproc)" <<'PY'
import json, sys
run, work = sys.argv[1], sys.argv[2]
window, tick, cores = (int(a) for a in sys.argv[3:6])
read = lambda name: [float(x) for x in open(f"{work}/{name}").read().split()]
(n0, s0, l0, i0, t0), (n1, s1, l1, i1, t1) = read("before"), read("after")
def bound_us(when):
    e = json.load(open(f"{work}/bound-{when}.json"))
    return (e.get("slope") or e["mean"])["point_estimate"] / 1000
bounds = [bound_us("before"), bound_us("after")]
rate = json.load(open(f"{work}/load.json"))["rate"]
ratios = sorted(round(100 * rate * us / 1e6) for us in bounds)
certs = n1 - n0
per_cert = lambda a, b: (b - a) / tick * 1e6 / certs
share = lambda a, b: 100 * (b - a) / (tick * window * cores)
print(f"run {run}: {rate:,.0f}/s against {bounds[0]:.1f} / {bounds[1]:.1f} µs on {cores} cores "
      f"at once, before / after: {'–'.join(dict.fromkeys(map(str, ratios)))}%; per certificate "
      f"server {per_cert(s0, s1):.0f} µs, load generator {per_cert(l0, l1):.0f} µs of CPU; "
      f"idle {share(i0, i1):.1f}%, stolen {share(t0, t1):.1f}%")
PY
        # Nothing runs between this bound and the next run: it serves as that run's "before".
        mv "$work/bound-after.json" "$work/bound-before.json"
    done
}

memory() {
    serve ecdsa-p256
    load "$1"
    for seconds in $(seq 15 15 "$1"); do
        sleep 15
        awk -v s="$seconds" '/^VmRSS/ { print s " s: " int($2 / 1024) " MiB" }' \
            "/proc/$(cat "$work/pid")/status"
    done
    wait "$load_pid"
    python3 - "$work/load.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['ok']:,} certificates at {r['rate']:,.0f}/s, p99 {r['latency_ms']['p99']:.1f} ms, "
      f"errors {sum(r['errors'].values())}")
PY
    stop
}

case "${1:-}" in
ratio) ratio "${2:-4}" ;;
memory) memory "${2:-600}" ;;
*) echo "usage: $0 ratio [RUNS] | memory [SECONDS]" >&2 && exit 2 ;;
esac
