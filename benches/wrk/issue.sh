#!/bin/sh
# Independent confirmation of the issuance rate: wrk POSTs one fixed signingCert body (a P-256
# CSR and an RS256 token from the dev issuer) to a running `sigil serve --dev`.
#
#   benches/wrk/issue.sh [URL] [wrk options...]   (default URL http://127.0.0.1:5600)
#
# Needs curl, openssl, python3 and wrk. Every answer must be a 200 with a new certificate: wrk
# counts any other status under "Non-2xx or 3xx responses".
set -eu
url=${1:-http://127.0.0.1:5600}
[ $# -gt 0 ] && shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$work/key.pem"
openssl req -new -key "$work/key.pem" -subj /CN=wrk -out "$work/csr.pem"
curl -sf "$url/dev/oidc/token?ttl=3600&alg=RS256" >"$work/token.json"
python3 - "$work" <<'PY'
import base64, json, sys
work = sys.argv[1]
token = json.load(open(f"{work}/token.json"))["id_token"]
csr = base64.b64encode(open(f"{work}/csr.pem", "rb").read()).decode()
body = json.dumps({"certificateSigningRequest": csr})
open(f"{work}/post.lua", "w").write(
    'wrk.method = "POST"\n'
    f"wrk.body = {json.dumps(body)}\n"
    'wrk.headers["Content-Type"] = "application/json"\n'
    f'wrk.headers["Authorization"] = "Bearer {token}"\n'
)
PY
wrk -t2 -c64 -d10s --latency "$@" -s "$work/post.lua" "$url/api/v2/signingCert"
