# Sourced by the benchmark scripts from the repository's root: starts and stops one `sigil serve
# --dev` for them on 127.0.0.1:5600, and measures crypto-bound lines.
#
# The load generator is one client with one identity, so the rate limits are off.

# The binary the scripts serve and load with: SIGIL names another build, such as
# benches/pgo.sh's. It is made absolute because the server runs in its own folder.
sigil=$(realpath -m "${SIGIL:-target/release/sigil}")
port=5600
server="http://127.0.0.1:$port"
work=$(mktemp -d)
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

stop() { # the running server, if any, and wait until it is gone
    if old=$(cat "$work/pid" 2>/dev/null); then
        kill "$old" 2>/dev/null || true
        while kill -0 "$old" 2>/dev/null; do sleep 0.2; done
        rm "$work/pid"
    fi
}

serve() { # serve CA_KEY_TYPE [STORAGE_URL]: a new server with empty logs; its PID in $work/pid
    # The previous server must be gone, or the new one cannot bind and the old one answers.
    stop
    [ -x "$sigil" ] || { echo "no $sigil: cargo build --release (or benches/pgo.sh)" >&2 && exit 1; }
    # A server already answering there (the wrk check's, say) would be measured in place of this
    # one, which could not bind: refuse instead.
    if curl -sf "$server/readyz" >/dev/null 2>&1; then
        echo "something already serves $server; stop it first" >&2 && exit 1
    fi
    rm -rf "$work/data" && mkdir -p "$work/data"
    (cd "$work/data" && exec env SIGIL_LIMITS__IP_RATE=0 SIGIL_LIMITS__IDENTITY_RATE=0 \
        SIGIL_CA__KEY_TYPE="$1" SIGIL_SERVER__LISTEN="127.0.0.1:$port" \
        ${2:+SIGIL_STORAGE__URL="$2"} "$sigil" serve --dev) >"$work/server.log" 2>&1 &
    echo $! >"$work/pid"
    for _ in $(seq 100); do
        kill -0 "$(cat "$work/pid")" 2>/dev/null || break
        curl -sf "$server/readyz" >/dev/null && return
        sleep 0.2
    done
    echo "the server did not become ready:" >&2 && cat "$work/server.log" >&2 && exit 1
}

crypto_bound() { # crypto_bound PATTERN: the matching crypto-bound lines, into target/criterion
    # Short windows: the machine's speed drifts within minutes, so a bound is measured next to
    # each run rather than once and well.
    cargo bench --quiet --bench issuance -- --warm-up-time 1 --measurement-time 3 "$1" \
        >>"$work/bench.log" 2>&1
}
