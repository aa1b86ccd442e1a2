#!/usr/bin/env python3
"""Writes the hostile-input corpus: one request per file, every one of which sigil must answer
with a 4xx JSON error (never a 5xx, never a hang, never a crash).

File format (`NNN-name.http`): the first line is `METHOD PATH`, then header lines, a blank
line, and the body's exact bytes. Two placeholders are expanded by the test at run time:
`{{TOKEN}}` becomes a valid identity token of the test issuer (so the request gets past
authentication and reaches the parser under attack), and `{{REPEAT:N:TEXT}}` becomes TEXT
repeated N times (so huge and deeply nested bodies need not be stored).

Run from the repository root: `python3 tests/hostile/make_hostile.py`. Needs `cryptography`.
The output is deterministic apart from the freshly generated keys inside certificates and
CSRs, which no case depends on.
"""

import base64
import json
import os
import shutil
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
import datetime

ROOT = Path(__file__).resolve().parent
B64 = lambda b: base64.b64encode(b).decode()


def der_len(n):
    if n < 0x80:
        return bytes([n])
    out = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(out)]) + out


def der(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def csr_for(key, email="alice@example.com"):
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.EMAIL_ADDRESS, email)])
    )
    return builder.sign(key, hashes.SHA256())


def self_signed(key, cn="hostile root", ca=True):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


p256 = ec.generate_private_key(ec.SECP256R1())
other = ec.generate_private_key(ec.SECP256R1())
csr_good = csr_for(p256)
csr_der = csr_good.public_bytes(serialization.Encoding.DER)
csr_pem = csr_good.public_bytes(serialization.Encoding.PEM)
# A CSR whose body names one key and whose signature was made by another.
csr_other = csr_for(other)
tbs = csr_good.tbs_certrequest_bytes
alg = der(0x30, der(0x06, bytes.fromhex("2a8648ce3d040302")))
csr_swapped = der(0x30, tbs + alg + der(0x03, b"\x00" + csr_other.signature))
# The same CSR with one bit of its signature flipped.
sig = bytearray(csr_good.signature)
sig[-1] ^= 1
csr_flipped = der(0x30, tbs + alg + der(0x03, b"\x00" + bytes(sig)))
rsa_small = rsa.generate_private_key(65537, 1024)
csr_rsa_small = csr_for(rsa_small).public_bytes(serialization.Encoding.DER)
csr_p224 = csr_for(ec.generate_private_key(ec.SECP224R1())).public_bytes(serialization.Encoding.DER)
foreign_root = self_signed(p256)
foreign_der = foreign_root.public_bytes(serialization.Encoding.DER)
foreign_pem = foreign_root.public_bytes(serialization.Encoding.PEM)
foreign_leaf = self_signed(other, cn="hostile leaf", ca=False)
leaf_pem = foreign_leaf.public_bytes(serialization.Encoding.PEM)
spki_pem = p256.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
spki_der = p256.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
)
pop = p256.sign(b"alice@example.com", ec.ECDSA(hashes.SHA256()))


def jwt(header, claims, signature=b"sig"):
    enc = lambda v: base64.urlsafe_b64encode(
        v if isinstance(v, bytes) else json.dumps(v).encode()
    ).rstrip(b"=").decode()
    return f"{enc(header)}.{enc(claims)}.{enc(signature)}"


claims = {"iss": "http://127.0.0.1:1/nowhere", "aud": "sigstore", "sub": "x", "exp": 4102444800}

cases = []


def repeat(n, text):
    return f"{{{{REPEAT:{n}:{text}}}}}".encode()


def case(group, name, method, path, body=b"", headers=None):
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = json.dumps(body).encode()
    cases.append((group, name, method, path, headers or {}, body))


# ---- signingCert v2: the body -------------------------------------------------------------
V2 = "/api/v2/signingCert"
AUTH = {"Authorization": "Bearer {{TOKEN}}", "Content-Type": "application/json"}
for name, body in [
    ("empty-body", b""),
    ("truncated-object", b'{"certificateSigningRequest": "'),
    ("json-array", b"[]"),
    ("json-null", b"null"),
    ("json-string", b'"csr"'),
    ("json-number", b"12345"),
    ("json-true", b"true"),
    ("not-json-text", b"certificateSigningRequest=abc"),
    ("xml", b"<csr>abc</csr>"),
    ("invalid-utf8", b'{"certificateSigningRequest": "\xff\xfe"}'),
    ("utf8-bom", b'\xef\xbb\xbf{"certificateSigningRequest": "AAAA"}'),
    ("nul-bytes", b'{"certificateSigningRequest": "\x00\x00"}'),
    ("deep-array-nesting", repeat(100000, "[") + repeat(100000, "]")),
    ("deep-object-nesting", repeat(50000, '{"a":') + b"1" + repeat(50000, "}")),
    ("trailing-garbage", b'{"certificateSigningRequest": "AAAA"} xyz'),
    ("huge-number", b'{"certificateSigningRequest": 1' + repeat(5000, "0") + b"}"),
    ("nan-literal", b'{"certificateSigningRequest": NaN}'),
    ("single-quotes", b"{'certificateSigningRequest': 'AAAA'}"),
    ("comment", b'/* x */ {"certificateSigningRequest": "AAAA"}'),
    ("unterminated-string", b'{"certificateSigningRequest": "AAAA}'),
    ("bad-escape", b'{"certificateSigningRequest": "\\x41"}'),
    ("lone-surrogate", b'{"certificateSigningRequest": "\\ud800"}'),
    ("no-fields", b"{}"),
    ("both-forms", {"certificateSigningRequest": B64(csr_der), "publicKeyRequest": {"publicKey": {"content": spki_pem.decode()}, "proofOfPossession": B64(pop)}}),
    ("csr-number", {"certificateSigningRequest": 42}),
    ("csr-object", {"certificateSigningRequest": {"pem": "x"}}),
    ("csr-array", {"certificateSigningRequest": ["AAAA"]}),
    ("csr-null-and-nothing-else", {"certificateSigningRequest": None}),
    ("csr-empty-string", {"certificateSigningRequest": ""}),
    ("csr-bad-base64", {"certificateSigningRequest": "!!!not base64!!!"}),
    ("csr-base64-spaces", {"certificateSigningRequest": "AA AA AA"}),
    ("csr-base64-of-garbage", {"certificateSigningRequest": B64(b"garbage bytes, not DER")}),
    ("csr-base64-of-empty-seq", {"certificateSigningRequest": B64(b"\x30\x00")}),
    ("csr-der-length-overflow", {"certificateSigningRequest": B64(b"\x30\x84\xff\xff\xff\xff")}),
    ("csr-der-indefinite-length", {"certificateSigningRequest": B64(b"\x30\x80\x00\x00")}),
    ("csr-truncated", {"certificateSigningRequest": B64(csr_der[: len(csr_der) // 2])}),
    ("csr-trailing-bytes", {"certificateSigningRequest": B64(csr_der + b"\x00\x00")}),
    ("csr-signed-by-other-key", {"certificateSigningRequest": B64(csr_swapped)}),
    ("csr-signature-bit-flipped", {"certificateSigningRequest": B64(csr_flipped)}),
    ("csr-rsa-1024", {"certificateSigningRequest": B64(csr_rsa_small)}),
    ("csr-p224", {"certificateSigningRequest": B64(csr_p224)}),
    ("csr-is-a-certificate", {"certificateSigningRequest": B64(foreign_der)}),
    ("csr-is-a-public-key", {"certificateSigningRequest": B64(spki_der)}),
    ("csr-pem-headers-only", {"certificateSigningRequest": B64(b"-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n")}),
    ("csr-pem-wrong-label", {"certificateSigningRequest": B64(csr_pem.replace(b"CERTIFICATE REQUEST", b"PRIVATE KEY"))}),
    ("csr-pem-corrupt-body", {"certificateSigningRequest": B64(csr_pem[:40] + b"!!!!" + csr_pem[44:])}),
    ("pkr-missing-key", {"publicKeyRequest": {"proofOfPossession": B64(pop)}}),
    ("pkr-missing-proof", {"publicKeyRequest": {"publicKey": {"content": spki_pem.decode()}}}),
    ("pkr-key-garbage", {"publicKeyRequest": {"publicKey": {"content": "not a key"}, "proofOfPossession": B64(pop)}}),
    ("pkr-key-number", {"publicKeyRequest": {"publicKey": {"content": 7}, "proofOfPossession": B64(pop)}}),
    ("pkr-key-is-certificate", {"publicKeyRequest": {"publicKey": {"content": foreign_pem.decode()}, "proofOfPossession": B64(pop)}}),
    ("pkr-proof-bad-base64", {"publicKeyRequest": {"publicKey": {"content": spki_pem.decode()}, "proofOfPossession": "%%%"}}),
    ("pkr-proof-empty", {"publicKeyRequest": {"publicKey": {"content": spki_pem.decode()}, "proofOfPossession": ""}}),
    ("pkr-proof-garbage-der", {"publicKeyRequest": {"publicKey": {"content": spki_pem.decode()}, "proofOfPossession": B64(b"\x30\x06\x02\x01\x00\x02\x01\x00")}}),
    ("pkr-proof-wrong-message", {"publicKeyRequest": {"publicKey": {"content": spki_pem.decode()}, "proofOfPossession": B64(p256.sign(b"someone else", ec.ECDSA(hashes.SHA256())))}}),
    ("pkr-proof-by-other-key", {"publicKeyRequest": {"publicKey": {"content": spki_pem.decode()}, "proofOfPossession": B64(other.sign(b"alice@example.com", ec.ECDSA(hashes.SHA256())))}}),
    ("pkr-not-object", {"publicKeyRequest": "key"}),
    ("pkr-public-key-array", {"publicKeyRequest": {"publicKey": [1, 2], "proofOfPossession": B64(pop)}}),
    ("credentials-not-object", {"credentials": "token", "certificateSigningRequest": B64(csr_der)}),
    ("credentials-token-number", {"credentials": {"oidcIdentityToken": 5}, "certificateSigningRequest": B64(csr_der)}),
    ("oversized-body", b'{"certificateSigningRequest": "{{REPEAT:5000000:A}}"}'),
]:
    case("signing-cert-v2", name, "POST", V2, body, AUTH)

# ---- signingCert v2: the token ------------------------------------------------------------
CSR_BODY = {"certificateSigningRequest": B64(csr_der)}
JSON = {"Content-Type": "application/json"}
for name, value in [
    ("no-authorization", None),
    ("empty-bearer", "Bearer "),
    ("bearer-only", "Bearer"),
    ("basic-auth", "Basic YWxpY2U6c2VjcmV0"),
    ("bearer-one-part", "Bearer abc"),
    ("bearer-two-parts", "Bearer abc.def"),
    ("bearer-four-parts", "Bearer a.b.c.d"),
    ("bearer-empty-parts", "Bearer .."),
    ("bearer-not-base64", "Bearer !!.@@.##"),
    ("bearer-header-not-json", "Bearer " + base64.urlsafe_b64encode(b"not json").decode().rstrip("=") + ".e30.c2ln"),
    ("bearer-header-array", "Bearer " + jwt([1, 2], claims)),
    ("bearer-alg-none", "Bearer " + jwt({"alg": "none"}, claims, b"")),
    ("bearer-alg-none-caps", "Bearer " + jwt({"alg": "NONE"}, claims, b"")),
    ("bearer-alg-hs256", "Bearer " + jwt({"alg": "HS256"}, claims)),
    ("bearer-alg-unknown", "Bearer " + jwt({"alg": "XX999"}, claims)),
    ("bearer-alg-missing", "Bearer " + jwt({"typ": "JWT"}, claims)),
    ("bearer-kid-traversal", "Bearer " + jwt({"alg": "RS256", "kid": "../../../../etc/passwd"}, claims)),
    ("bearer-jku-header", "Bearer " + jwt({"alg": "RS256", "jku": "http://127.0.0.1:1/jwks"}, claims)),
    ("bearer-embedded-jwk", "Bearer " + jwt({"alg": "ES256", "jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}}, claims)),
    ("bearer-claims-not-json", "Bearer " + base64.urlsafe_b64encode(b'{"alg":"RS256"}').decode().rstrip("=") + ".bm90IGpzb24.c2ln"),
    ("bearer-claims-array", "Bearer " + jwt({"alg": "RS256"}, [claims])),
    ("bearer-no-iss", "Bearer " + jwt({"alg": "RS256"}, {"sub": "x"})),
    ("bearer-iss-number", "Bearer " + jwt({"alg": "RS256"}, {"iss": 5, "sub": "x"})),
    ("bearer-iss-unknown", "Bearer " + jwt({"alg": "RS256"}, claims)),
    ("bearer-iss-file-url", "Bearer " + jwt({"alg": "RS256"}, dict(claims, iss="file:///etc/passwd"))),
    ("bearer-iss-huge", "Bearer " + jwt({"alg": "RS256"}, dict(claims, iss="https://" + "a" * 8000))),
    ("bearer-oversized", "Bearer " + "a" * 9000 + "." + "b" * 9000 + ".c"),
    ("bearer-unicode", "Bearer ä.ö.ü"),
    ("bearer-expired-shape", "Bearer " + jwt({"alg": "RS256"}, dict(claims, exp=1))),
]:
    headers = dict(JSON)
    if value is not None:
        headers["Authorization"] = value
    case("signing-cert-token", name, "POST", V2, CSR_BODY, headers)
case("signing-cert-token", "body-token-garbage", "POST", V2, dict(CSR_BODY, credentials={"oidcIdentityToken": "x.y.z"}), JSON)
case("signing-cert-token", "body-token-alg-none", "POST", V2, dict(CSR_BODY, credentials={"oidcIdentityToken": jwt({"alg": "none"}, claims, b"")}), JSON)

# ---- signingCert v1 ---------------------------------------------------------------------------
V1 = "/api/v1/signingCert"
for name, body in [
    ("empty-body", b""),
    ("not-json", b"<xml/>"),
    ("json-array", b"[1]"),
    ("no-fields", b"{}"),
    ("both-forms", {"certificateSigningRequest": B64(csr_der), "publicKey": {"content": B64(spki_der)}, "signedEmailAddress": B64(pop)}),
    ("key-without-proof", {"publicKey": {"content": B64(spki_der)}}),
    ("key-bad-base64", {"publicKey": {"content": "***"}, "signedEmailAddress": B64(pop)}),
    ("key-garbage", {"publicKey": {"content": B64(b"garbage")}, "signedEmailAddress": B64(pop)}),
    ("proof-bad-base64", {"publicKey": {"content": B64(spki_der)}, "signedEmailAddress": "***"}),
    ("proof-wrong", {"publicKey": {"content": B64(spki_der)}, "signedEmailAddress": B64(other.sign(b"alice@example.com", ec.ECDSA(hashes.SHA256())))}),
    ("csr-garbage", {"certificateSigningRequest": B64(b"\x30\x03\x02\x01")}),
    ("csr-signed-by-other-key", {"certificateSigningRequest": B64(csr_swapped)}),
    ("csr-rsa-1024", {"certificateSigningRequest": B64(csr_rsa_small)}),
    ("oversized-body", b'{"certificateSigningRequest": "{{REPEAT:5000000:A}}"}'),
]:
    case("signing-cert-v1", name, "POST", V1, body, AUTH)
case("signing-cert-v1", "token-in-body-only", "POST", V1, dict(CSR_BODY, credentials={"oidcIdentityToken": "{{TOKEN}}"}), JSON)

# ---- CT add-chain and add-pre-chain -------------------------------------------------------
for path in ["/ct/v1/add-chain", "/ct/v1/add-pre-chain"]:
    group = path.rsplit("/", 1)[1]
    for name, body in [
        ("empty-body", b""),
        ("not-json", b"chain"),
        ("json-array", b"[]"),
        ("no-chain", b"{}"),
        ("chain-null", {"chain": None}),
        ("chain-string", {"chain": B64(foreign_der)}),
        ("chain-empty", {"chain": []}),
        ("chain-numbers", {"chain": [1, 2]}),
        ("chain-objects", {"chain": [{"der": B64(foreign_der)}]}),
        ("chain-bad-base64", {"chain": ["$$$"]}),
        ("chain-empty-string", {"chain": [""]}),
        ("chain-garbage-der", {"chain": [B64(b"garbage")]}),
        ("chain-truncated-der", {"chain": [B64(foreign_der[:100])]}),
        ("chain-trailing-bytes", {"chain": [B64(foreign_der + b"\x00")]}),
        ("chain-pem-instead-of-der", {"chain": [B64(foreign_pem)]}),
        ("chain-csr", {"chain": [B64(csr_der)]}),
        ("chain-foreign-root", {"chain": [B64(foreign_der)]}),
        ("chain-foreign-leaf-and-root", {"chain": [B64(foreign_leaf.public_bytes(serialization.Encoding.DER)), B64(foreign_der)]}),
        ("chain-thousand-entries", b'{"chain": [' + repeat(999, f'"{B64(foreign_der)}",') + f'"{B64(foreign_der)}"]}}'.encode()),
        ("deep-nesting", b'{"chain":' + repeat(20000, "[") + repeat(20000, "]") + b"}"),
        ("oversized-body", b'{"chain": ["{{REPEAT:5000000:A}}"]}'),
    ]:
        case(group, name, "POST", path, body, JSON)

# ---- CT reads ------------------------------------------------------------------------------
for name, path in [
    ("get-entries-no-params", "/ct/v1/get-entries"),
    ("get-entries-start-after-end", "/ct/v1/get-entries?start=10&end=2"),
    ("get-entries-negative", "/ct/v1/get-entries?start=-1&end=2"),
    ("get-entries-not-number", "/ct/v1/get-entries?start=a&end=b"),
    ("get-entries-overflow", "/ct/v1/get-entries?start=99999999999999999999999&end=1"),
    ("get-entries-beyond-tree", "/ct/v1/get-entries?start=1000000&end=1000001"),
    ("get-entries-u64-max", "/ct/v1/get-entries?start=18446744073709551615&end=18446744073709551615"),
    ("consistency-no-params", "/ct/v1/get-sth-consistency"),
    ("consistency-first-after-second", "/ct/v1/get-sth-consistency?first=5&second=1"),
    ("consistency-beyond-tree", "/ct/v1/get-sth-consistency?first=1&second=99999999"),
    ("consistency-not-number", "/ct/v1/get-sth-consistency?first=x&second=y"),
    ("proof-by-hash-no-params", "/ct/v1/get-proof-by-hash"),
    ("proof-by-hash-bad-base64", "/ct/v1/get-proof-by-hash?hash=%%%&tree_size=1"),
    ("proof-by-hash-short-hash", "/ct/v1/get-proof-by-hash?hash=AAAA&tree_size=1"),
    ("proof-by-hash-unknown", "/ct/v1/get-proof-by-hash?hash=" + "A" * 43 + "=&tree_size=1"),
    ("proof-by-hash-size-zero", "/ct/v1/get-proof-by-hash?hash=" + "A" * 43 + "=&tree_size=0"),
    ("proof-by-hash-huge-size", "/ct/v1/get-proof-by-hash?hash=" + "A" * 43 + "=&tree_size=18446744073709551615"),
    ("entry-and-proof-no-params", "/ct/v1/get-entry-and-proof"),
    ("entry-and-proof-beyond", "/ct/v1/get-entry-and-proof?leaf_index=5&tree_size=2"),
    ("entry-and-proof-not-number", "/ct/v1/get-entry-and-proof?leaf_index=a&tree_size=b"),
    ("tile-garbage", "/ct/static/tile/garbage"),
    ("tile-bad-level", "/ct/static/tile/99/000"),
    ("tile-bad-index", "/ct/static/tile/0/abc"),
    ("tile-beyond-tree", "/ct/static/tile/0/x999/999"),
    ("tile-partial-too-wide", "/ct/static/tile/0/000.p/300"),
    ("tile-partial-zero", "/ct/static/tile/0/000.p/0"),
    ("tile-data-beyond", "/ct/static/tile/data/x123/456"),
    ("tile-traversal", "/ct/static/tile/../../../etc/passwd"),
    ("tile-encoded-traversal", "/ct/static/tile/%2e%2e/%2e%2e/etc/passwd"),
    ("tile-empty", "/ct/static/tile/"),
    ("issuer-not-hex", "/ct/static/issuer/zzzz"),
    ("issuer-unknown", "/ct/static/issuer/" + "00" * 32),
    ("issuer-too-long", "/ct/static/issuer/" + "00" * 500),
]:
    case("ct-read", name, "GET", path)

# ---- Rekor entries -------------------------------------------------------------------------
ENTRIES = "/api/v1/log/entries"
digest = "a" * 64
sig_b64 = B64(p256.sign(b"artifact", ec.ECDSA(hashes.SHA256())))


def hashed(sig=sig_b64, key=B64(leaf_pem), algo="sha256", value=digest, version="0.0.1"):
    return {
        "apiVersion": version,
        "kind": "hashedrekord",
        "spec": {
            "signature": {"content": sig, "publicKey": {"content": key}},
            "data": {"hash": {"algorithm": algo, "value": value}},
        },
    }


def dsse(envelope, key=B64(leaf_pem)):
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {"proposedContent": {"envelope": envelope, "verifiers": [key]}},
    }


good_envelope = json.dumps({"payloadType": "application/vnd.in-toto+json", "payload": B64(b"{}"), "signatures": [{"sig": sig_b64}]})
for name, body in [
    ("empty-body", b""),
    ("not-json", b"kind=hashedrekord"),
    ("json-array", b"[]"),
    ("json-null", b"null"),
    ("no-fields", b"{}"),
    ("kind-only", {"kind": "hashedrekord"}),
    ("kind-unknown", dict(hashed(), kind="rpm")),
    ("kind-number", dict(hashed(), kind=5)),
    ("kind-intoto", dict(hashed(), kind="intoto")),
    ("api-version-unknown", hashed(version="9.9.9")),
    ("api-version-missing", {k: v for k, v in hashed().items() if k != "apiVersion"}),
    ("spec-missing", {"apiVersion": "0.0.1", "kind": "hashedrekord"}),
    ("spec-string", {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": "x"}),
    ("spec-empty", {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {}}),
    ("signature-missing", {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {"data": {"hash": {"algorithm": "sha256", "value": digest}}}}),
    ("data-missing", {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {"signature": {"content": sig_b64, "publicKey": {"content": B64(leaf_pem)}}}}),
    ("hash-algorithm-md5", hashed(algo="md5", value="a" * 32)),
    ("hash-algorithm-empty", hashed(algo="")),
    ("hash-algorithm-number", hashed(algo=256)),
    ("hash-value-not-hex", hashed(value="z" * 64)),
    ("hash-value-short", hashed(value="ab")),
    ("hash-value-long", hashed(value="a" * 128)),
    ("hash-value-empty", hashed(value="")),
    ("hash-value-uppercase-odd", hashed(value="A" * 63)),
    ("sha384-length-mismatch", hashed(algo="sha384", value="a" * 64)),
    ("signature-bad-base64", hashed(sig="***")),
    ("signature-empty", hashed(sig="")),
    ("signature-garbage", hashed(sig=B64(b"garbage"))),
    ("signature-wrong", hashed(sig=B64(other.sign(b"artifact", ec.ECDSA(hashes.SHA256()))))),
    ("key-bad-base64", hashed(key="***")),
    ("key-empty", hashed(key="")),
    ("key-garbage", hashed(key=B64(b"not a pem"))),
    ("key-pem-garbage-body", hashed(key=B64(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))),
    ("key-foreign-self-signed", hashed(key=B64(foreign_pem))),
    ("key-foreign-leaf", hashed(key=B64(leaf_pem))),
    ("key-raw-public-key", hashed(key=B64(spki_pem))),
    ("key-private-key", hashed(key=B64(p256.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())))),
    ("key-two-pems", hashed(key=B64(leaf_pem + foreign_pem))),
    ("key-csr", hashed(key=B64(csr_pem))),
    ("dsse-envelope-not-json", dsse("not json")),
    ("dsse-envelope-object", dsse({"payload": "x"})),
    ("dsse-envelope-empty", dsse("{}")),
    ("dsse-envelope-no-signatures", dsse(json.dumps({"payloadType": "x", "payload": B64(b"{}"), "signatures": []}))),
    ("dsse-envelope-bad-payload-base64", dsse(json.dumps({"payloadType": "x", "payload": "***", "signatures": [{"sig": sig_b64}]}))),
    ("dsse-envelope-bad-sig-base64", dsse(json.dumps({"payloadType": "x", "payload": B64(b"{}"), "signatures": [{"sig": "***"}]}))),
    ("dsse-no-verifiers", {"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {"envelope": good_envelope, "verifiers": []}}}),
    ("dsse-verifier-garbage", dsse(good_envelope, key=B64(b"garbage"))),
    ("dsse-verifier-foreign", dsse(good_envelope)),
    ("dsse-no-proposed-content", {"apiVersion": "0.0.1", "kind": "dsse", "spec": {}}),
    ("dsse-many-signatures", dsse(json.dumps({"payloadType": "x", "payload": B64(b"{}"), "signatures": [{"sig": sig_b64}] * 500}))),
    ("deep-nesting", b'{"kind":"hashedrekord","apiVersion":"0.0.1","spec":' + repeat(30000, "[") + repeat(30000, "]") + b"}"),
    ("oversized-body", b'{"kind":"hashedrekord","spec":"{{REPEAT:5000000:A}}"}'),
]:
    case("rekor-entries", name, "POST", ENTRIES, body, JSON)

RETRIEVE = "/api/v1/log/entries/retrieve"
for name, body in [
    ("empty-body", b""),
    ("not-json", b"uuids"),
    ("entry-uuids-string", {"entryUUIDs": "abc"}),
    ("entry-uuids-numbers", {"entryUUIDs": [1, 2]}),
    ("log-indexes-strings", {"logIndexes": ["a"]}),
    ("log-indexes-negative", {"logIndexes": [-1]}),
    ("log-indexes-float", {"logIndexes": [1.5]}),
    ("too-many", b'{"logIndexes": [' + repeat(99999, "1,") + b"1]}"),
    ("log-indexes-null-entries", {"logIndexes": None, "entryUUIDs": [None]}),
]:
    case("rekor-retrieve", name, "POST", RETRIEVE, body, JSON)

for name, path in [
    ("entry-uuid-not-hex", "/api/v1/log/entries/zzzz"),
    ("entry-uuid-short", "/api/v1/log/entries/abcd"),
    ("entry-uuid-long", "/api/v1/log/entries/" + "a" * 500),
    ("entry-uuid-unknown", "/api/v1/log/entries/" + "a" * 64),
    ("entry-uuid-unknown-with-tree-id", "/api/v1/log/entries/" + "b" * 80),
    ("entry-uuid-traversal", "/api/v1/log/entries/..%2F..%2Fetc%2Fpasswd"),
    ("entries-index-negative", "/api/v1/log/entries?logIndex=-1"),
    ("entries-index-not-number", "/api/v1/log/entries?logIndex=abc"),
    ("entries-index-beyond", "/api/v1/log/entries?logIndex=99999999"),
    ("entries-index-overflow", "/api/v1/log/entries?logIndex=999999999999999999999999"),
    ("entries-no-index", "/api/v1/log/entries"),
    ("proof-no-params", "/api/v1/log/proof"),
    ("proof-first-after-last", "/api/v1/log/proof?firstSize=5&lastSize=2"),
    ("proof-beyond-tree", "/api/v1/log/proof?firstSize=1&lastSize=99999999"),
    ("proof-not-number", "/api/v1/log/proof?firstSize=a&lastSize=b"),
    ("proof-bad-tree-id", "/api/v1/log/proof?firstSize=0&lastSize=0&treeID=abc"),
    ("log-bad-stable", "/api/v1/log?stable=maybe"),
    ("public-key-bad-tree-id", "/api/v1/log/publicKey?treeID=zz"),
]:
    case("rekor-read", name, "GET", path)

# ---- Anything else: unknown paths, wrong methods, odd headers --------------------------------
for name, method, path in [
    ("unknown-path", "GET", "/api/v3/signingCert"),
    ("root-path-post", "POST", "/"),
    ("get-signing-cert", "GET", V2),
    ("put-signing-cert", "PUT", V2),
    ("delete-entries", "DELETE", ENTRIES),
    ("patch-add-chain", "PATCH", "/ct/v1/add-chain"),
    ("post-get-sth", "POST", "/ct/v1/get-sth"),
    ("post-trusted-root", "POST", "/.well-known/sigstore/trusted_root.json"),
    ("post-healthz", "POST", "/healthz"),
    ("dev-issuer-not-mounted", "GET", "/dev/oidc/.well-known/openid-configuration"),
    ("dev-token-not-mounted", "POST", "/dev/oidc/token"),
    ("dotdot-path", "GET", "/api/v1/../../etc/passwd"),
    ("very-long-path", "GET", "/" + "a" * 6000),
    ("encoded-nul-path", "GET", "/api/v1/log/entries/%00"),
    ("percent-garbage-path", "GET", "/api/v1/log/entries/%zz"),
]:
    case("routing", name, method, path)

for name, headers, body in [
    ("content-type-text", {"Content-Type": "text/plain"}, b"hello"),
    ("content-type-form", {"Content-Type": "application/x-www-form-urlencoded"}, b"certificateSigningRequest=AAAA"),
    ("content-type-multipart", {"Content-Type": "multipart/form-data; boundary=x"}, b"--x\r\n\r\nAAAA\r\n--x--"),
    ("content-encoding-gzip-garbage", {"Content-Type": "application/json", "Content-Encoding": "gzip"}, b"not gzip at all"),
    ("content-encoding-unknown", {"Content-Type": "application/json", "Content-Encoding": "br-zstd-xyz"}, b"{}"),
    ("huge-header", {"Content-Type": "application/json", "X-Junk": "j" * 7000}, b"{}"),
    ("many-headers", {**{f"X-H{i}": "v" for i in range(60)}, "Content-Type": "application/json"}, b"{}"),
]:
    case("headers", name, "POST", V2, body, headers)


def write():
    for group in {c[0] for c in cases}:
        shutil.rmtree(ROOT / group, ignore_errors=True)
    counters = {}
    for group, name, method, path, headers, body in cases:
        counters[group] = counters.get(group, 0) + 1
        directory = ROOT / group
        directory.mkdir(exist_ok=True)
        head = f"{method} {path}\n" + "".join(f"{k}: {v}\n" for k, v in headers.items()) + "\n"
        (directory / f"{counters[group]:03}-{name}.http").write_bytes(head.encode() + body)
    print(f"{len(cases)} hostile requests in {len(counters)} groups")


write()
