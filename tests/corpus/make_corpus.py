#!/usr/bin/env python3
"""Writes tests/corpus/manifest.json and the broken variants under tests/corpus/broken/.

The valid bundles are real: public/ holds bundles made by the public Sigstore instance and its
staging instance (see public/README.md), sigil/ holds bundles made by a sigil deployment running
with the keys in keys-example/. Each broken variant changes one thing in a valid bundle (or in
its trusted root) and names the check that must reject it. Variants that need a valid
signature over a changed value (a SET with another time, a checkpoint with another key hint)
are re-signed with keys-example/rekor.key.pem, which is why they are built on sigil's bundles.

Run from the repository root after changing a valid bundle:  python3 tests/corpus/make_corpus.py
The output is committed; the test suite only reads it.
"""

import base64
import copy
import hashlib
import json
import pathlib
import shutil

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"
BROKEN = CORPUS / "broken"
PUBLIC_GOOD = "public-good"
STAGING = "trust/staging.trusted_root.json"
SIGIL = "sigil/trusted_root.json"
SIGIL_ISSUER = "http://127.0.0.1:5599/dev/oidc"
REKOR_KEY = serialization.load_pem_private_key(
    (ROOT / "keys-example" / "rekor.key.pem").read_bytes(), None
)


def load(path):
    return json.loads((CORPUS / path).read_text())


def trust_doc(trust):
    if trust == PUBLIC_GOOD:
        return json.loads((ROOT / "src/client/public_good.trusted_root.json").read_text())
    return load(trust)


def flip(b64):
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def b64(raw):
    return base64.b64encode(raw).decode()


def entry(b):
    return b["verificationMaterial"]["tlogEntries"][0]


def envelope_lines(b):
    return entry(b)["inclusionProof"]["checkpoint"]["envelope"]


def set_envelope(b, text):
    entry(b)["inclusionProof"]["checkpoint"]["envelope"] = text


def note_body(envelope):
    return envelope.split("\n\n")[0] + "\n"


def resign_set(b, integrated_time):
    e = entry(b)
    e["integratedTime"] = str(integrated_time)
    payload = json.dumps(
        {
            "body": e["canonicalizedBody"],
            "integratedTime": integrated_time,
            "logID": base64.b64decode(e["logId"]["keyId"]).hex(),
            "logIndex": int(e["logIndex"]),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    sig = REKOR_KEY.sign(payload, ec.ECDSA(hashes.SHA256()))
    e["inclusionPromise"]["signedEntryTimestamp"] = b64(sig)


def leaf_validity(b):
    from cryptography import x509

    cert = x509.load_der_x509_certificate(
        base64.b64decode(b["verificationMaterial"]["certificate"]["rawBytes"])
    )
    return int(cert.not_valid_before_utc.timestamp()), int(cert.not_valid_after_utc.timestamp())


VALID = [
    dict(
        name="public-good-cpython-3.12.5",
        bundle="public/Python-3.12.5.tgz.sigstore",
        digest="sha256:38dc4e2c261d49c661196066edbfb70fdb16be4a79cc8220c224dfeb5636d405",
        trust=PUBLIC_GOOD,
        identity="thomas@python.org",
        issuer="https://accounts.google.com",
        why="CPython 3.12.5 release bundle (v0.1, SET only, P-384 key)",
    ),
    dict(
        name="public-good-github-rfc8785",
        bundle="public/rfc8785-0.1.2.whl.sigstore",
        digest="sha256:c4e92e9ecc828bef2aa7dba1de8ac983511f7532a0df11c770d39099a25cf201",
        trust=PUBLIC_GOOD,
        identity="https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2",
        issuer="https://token.actions.githubusercontent.com",
        claims=dict(
            repository="trailofbits/rfc8785.py",
            ref="refs/tags/v0.1.2",
            sha="d8b4a6445f38c48b9137a8099706d9b8073146e4",
            trigger="release",
            name="release",
        ),
        why="GitHub Actions release of rfc8785 0.1.2 on PyPI (v0.2, checkpoint)",
    ),
    dict(
        name="staging-rekor-v2-hashedrekord",
        bundle="public/staging-rekor-v2.txt.sigstore.json",
        artifact="public/staging-rekor-v2.txt",
        trust=STAGING,
        identity="jku@goto.fi",
        issuer="https://github.com/login/oauth",
        why="Rekor v2 hashedrekord 0.0.2, Ed25519 checkpoint, RFC 3161 timestamp",
    ),
    dict(
        name="staging-rekor-v2-dsse",
        bundle="public/a.dsse.staging-rekor-v2.txt.sigstore.json",
        artifact="public/a.txt",
        trust=STAGING,
        identity="insecure-cloudtop-shared-user@cloudtop-prod-us-east.iam.gserviceaccount.com",
        issuer="https://accounts.google.com",
        why="Rekor v2 dsse 0.0.2, Ed25519 checkpoint, RFC 3161 timestamp",
    ),
    dict(
        name="sigil-hashedrekord-one",
        bundle="sigil/one.txt.sigstore.json",
        artifact="sigil/one.txt",
        trust=SIGIL,
        identity="dev@sigil.localhost",
        issuer=SIGIL_ISSUER,
        why="sigil sign against a deployment with keys-example/",
    ),
    dict(
        name="sigil-hashedrekord-two",
        bundle="sigil/two.txt.sigstore.json",
        artifact="sigil/two.txt",
        trust=SIGIL,
        identity="dev@sigil.localhost",
        issuer=SIGIL_ISSUER,
        why="sigil sign, second artifact of the same run",
    ),
    dict(
        name="sigil-dsse-one",
        bundle="sigil/one.txt.dsse.sigstore.json",
        artifact="sigil/one.txt",
        trust=SIGIL,
        identity="dev@sigil.localhost",
        issuer=SIGIL_ISSUER,
        why="sigil attest (in-toto statement in DSSE)",
    ),
]
BY_NAME = {c["name"]: c for c in VALID}


def variant(base, name, expect, why, bundle=None, trust=None, raw=None, **policy):
    """A broken case built on valid case `base`: a changed bundle and/or trusted root."""
    case = {k: v for k, v in BY_NAME[base].items() if k != "why"}
    case.update(name=name, expect=expect, why=why)
    case.update(policy)
    case = {k: v for k, v in case.items() if v is not None}
    if raw is not None:
        path = BROKEN / f"{name}.sigstore.json"
        path.write_text(raw)
        case["bundle"] = str(path.relative_to(CORPUS))
    elif bundle is not None:
        path = BROKEN / f"{name}.sigstore.json"
        path.write_text(json.dumps(bundle, indent=1) + "\n")
        case["bundle"] = str(path.relative_to(CORPUS))
    if trust is not None:
        path = BROKEN / f"{name}.trusted_root.json"
        path.write_text(json.dumps(trust, indent=1) + "\n")
        case["trust"] = str(path.relative_to(CORPUS))
    return case


def mutate(base, fn):
    b = load(BY_NAME[base]["bundle"])
    fn(b)
    return b


def mutate_trust(base, fn):
    t = copy.deepcopy(trust_doc(BY_NAME[base]["trust"]))
    fn(t)
    return t


def cosigned():
    """sigil's one.txt bundle with a witness cosignature (C2SP tlog-cosignature) added."""
    b = load("sigil/one.txt.sigstore.json")
    envelope = envelope_lines(b)
    body = note_body(envelope)
    witness = ed25519.Ed25519PrivateKey.generate()
    name = "witness.sigil.test"
    public = witness.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    key_id = hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
    timestamp = 1795345950
    signed = f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()
    sig = key_id + timestamp.to_bytes(8, "big") + witness.sign(signed)
    set_envelope(b, envelope + f"\u2014 {name} {b64(sig)}\n")
    return b


def broken_cases():
    cases = []
    add = cases.append
    cp, gh, v2, d2 = (
        "public-good-cpython-3.12.5",
        "public-good-github-rfc8785",
        "staging-rekor-v2-hashedrekord",
        "staging-rekor-v2-dsse",
    )
    one, two, dsse = "sigil-hashedrekord-one", "sigil-hashedrekord-two", "sigil-dsse-one"

    # Bundle shape.
    text = (CORPUS / BY_NAME[cp]["bundle"]).read_text()
    add(variant(cp, "malformed-json", "bundle", "truncated JSON", raw=text[: len(text) // 2]))
    add(variant(cp, "unknown-media-type", "bundle", "mediaType is not a bundle's",
                bundle=mutate(cp, lambda b: b.update(mediaType="application/vnd.dev.sigstore.bundle+json;version=9.9"))))
    add(variant(cp, "certificate-bad-base64", "bundle", "certificate rawBytes is not base64",
                bundle=mutate(cp, lambda b: b["verificationMaterial"]["x509CertificateChain"]["certificates"][0].update(rawBytes="%%%not base64"))))
    add(variant(cp, "signature-bad-base64", "bundle", "messageSignature.signature is not base64",
                bundle=mutate(cp, lambda b: b["messageSignature"].update(signature="***"))))
    add(variant(cp, "no-tlog-entry", "bundle", "tlogEntries is empty",
                bundle=mutate(cp, lambda b: b["verificationMaterial"].update(tlogEntries=[]))))
    add(variant(cp, "two-tlog-entries", "bundle", "two tlog entries",
                bundle=mutate(cp, lambda b: b["verificationMaterial"].update(tlogEntries=[entry(b), entry(b)]))))
    add(variant(cp, "unsupported-entry-kind", "bundle", "kindVersion intoto 0.0.2",
                bundle=mutate(cp, lambda b: entry(b).update(kindVersion={"kind": "intoto", "version": "0.0.2"}))))
    add(variant(cp, "entry-kind-does-not-match-content", "bundle", "a dsse entry on a message signature",
                bundle=mutate(cp, lambda b: entry(b).update(kindVersion={"kind": "dsse", "version": "0.0.1"}))))
    add(variant(d2, "envelope-two-signatures", "bundle", "the envelope carries two signatures",
                bundle=mutate(d2, lambda b: b["dsseEnvelope"].update(signatures=b["dsseEnvelope"]["signatures"] * 2))))
    add(variant(one, "certificate-not-x509", "bundle", "certificate rawBytes is not DER X.509",
                bundle=mutate(one, lambda b: b["verificationMaterial"]["certificate"].update(rawBytes=b64(b"not a certificate")))))

    # The log entry: which log, the SET, the inclusion proof, the checkpoint.
    add(variant(cp, "unknown-log-id", "log entry", "logId names no trusted log",
                bundle=mutate(cp, lambda b: entry(b)["logId"].update(keyId=b64(bytes(32))))))
    add(variant(cp, "untrusted-log", "log entry", "verified against the staging trusted root", trust=trust_doc(STAGING)))
    add(variant(cp, "bad-set", "SET", "one bit of the SET flipped",
                bundle=mutate(cp, lambda b: entry(b)["inclusionPromise"].update(signedEntryTimestamp=flip(entry(b)["inclusionPromise"]["signedEntryTimestamp"])))))
    add(variant(cp, "integrated-time-changed", "SET", "integratedTime moved by one second",
                bundle=mutate(cp, lambda b: entry(b).update(integratedTime=str(int(entry(b)["integratedTime"]) + 1)))))
    add(variant(cp, "v1-body-altered", "SET", "canonicalizedBody altered (the SET covers it)",
                bundle=mutate(cp, lambda b: entry(b).update(canonicalizedBody=flip(entry(b)["canonicalizedBody"])))))
    add(variant(cp, "v01-without-set", "SET", "a v0.1 bundle without inclusionPromise",
                bundle=mutate(cp, lambda b: entry(b).pop("inclusionPromise"))))
    add(variant(gh, "bad-inclusion-hash", "inclusion proof", "one proof hash altered",
                bundle=mutate(gh, lambda b: entry(b)["inclusionProof"]["hashes"].__setitem__(3, flip(entry(b)["inclusionProof"]["hashes"][3])))))
    add(variant(gh, "inclusion-wrong-index", "inclusion proof", "proof logIndex off by one",
                bundle=mutate(gh, lambda b: entry(b)["inclusionProof"].update(logIndex=str(int(entry(b)["inclusionProof"]["logIndex"]) - 1)))))
    add(variant(gh, "inclusion-wrong-tree-size", "inclusion proof", "proof treeSize doubled",
                bundle=mutate(gh, lambda b: entry(b)["inclusionProof"].update(treeSize=str(2 * int(entry(b)["inclusionProof"]["treeSize"]))))))
    add(variant(gh, "inclusion-hash-missing", "inclusion proof", "last proof hash dropped",
                bundle=mutate(gh, lambda b: entry(b)["inclusionProof"]["hashes"].pop())))
    add(variant(gh, "no-inclusion-proof", "inclusion proof", "a v0.2 bundle without inclusionProof",
                bundle=mutate(gh, lambda b: entry(b).pop("inclusionProof"))))
    add(variant(gh, "no-checkpoint", "checkpoint", "a v0.2 inclusion proof without checkpoint",
                bundle=mutate(gh, lambda b: entry(b)["inclusionProof"].pop("checkpoint"))))

    def flip_note_signature(b):
        body, sig_line = envelope_lines(b).split("\n\n")
        dash, name, sig = sig_line.strip().split(" ")
        set_envelope(b, f"{body}\n\n{dash} {name} {flip(sig)}\n")

    def wrong_hint(b):
        body, sig_line = envelope_lines(b).split("\n\n")
        dash, name, sig = sig_line.strip().split(" ")
        raw = bytearray(base64.b64decode(sig))
        raw[0] ^= 0xFF
        set_envelope(b, f"{body}\n\n{dash} {name} {b64(bytes(raw))}\n")

    def other_root(b):
        lines = envelope_lines(b).split("\n")
        lines[2] = b64(bytes(32))
        set_envelope(b, "\n".join(lines))

    add(variant(gh, "bad-checkpoint-signature", "checkpoint", "ECDSA checkpoint signature altered", bundle=mutate(gh, flip_note_signature)))
    add(variant(gh, "wrong-key-hint", "checkpoint", "checkpoint key hint altered", bundle=mutate(gh, wrong_hint)))
    add(variant(v2, "ed25519-bad-checkpoint-signature", "checkpoint", "Ed25519 checkpoint signature altered", bundle=mutate(v2, flip_note_signature)))
    add(variant(v2, "ed25519-wrong-key-hint", "checkpoint", "Ed25519 checkpoint key hint altered", bundle=mutate(v2, wrong_hint)))
    add(variant(v2, "checkpoint-other-root", "checkpoint", "checkpoint root is not the proof's", bundle=mutate(v2, other_root)))
    add(variant(v2, "v2-body-altered", "inclusion proof", "canonicalizedBody altered (no SET: the proof catches it)",
                bundle=mutate(v2, lambda b: entry(b).update(canonicalizedBody=flip(entry(b)["canonicalizedBody"])))))

    def resigned_wrong_hint(b):
        body = note_body(envelope_lines(b))
        sig = REKOR_KEY.sign(body.encode(), ec.ECDSA(hashes.SHA256()))
        set_envelope(b, f"{body}\n\u2014 127.0.0.1:5599 {b64(b'sigl' + sig)}\n")

    add(variant(one, "valid-signature-wrong-key-hint", "checkpoint", "log-signed checkpoint whose hint is not the log ID's", bundle=mutate(one, resigned_wrong_hint)))
    add(variant(one, "swapped-tlog-entry", "log entry", "CVE-2022-36056: two.txt's valid entry in one.txt's bundle",
                bundle=mutate(one, lambda b: b["verificationMaterial"].update(tlogEntries=load(BY_NAME[two]["bundle"])["verificationMaterial"]["tlogEntries"]))))

    # Signed times.
    one_bundle = load(BY_NAME[one]["bundle"])
    not_before, not_after = leaf_validity(one_bundle)
    add(variant(one, "signed-after-certificate-expiry", "signed time", "re-signed SET one hour after notAfter",
                bundle=mutate(one, lambda b: resign_set(b, not_after + 3600))))
    add(variant(one, "signed-before-certificate-validity", "signed time", "re-signed SET one minute before notBefore",
                bundle=mutate(one, lambda b: resign_set(b, not_before - 60))))
    add(variant(one, "log-key-not-yet-trusted", "log entry", "tlog validFor starts after the entry",
                trust=mutate_trust(one, lambda t: t["tlogs"][0]["publicKey"]["validFor"].update(start="2030-01-01T00:00:00Z"))))
    add(variant(v2, "log-key-expired", "log entry", "Rekor v2 log validFor ended before the timestamp",
                trust=mutate_trust(v2, lambda t: [l["publicKey"]["validFor"].update(end="2025-05-01T00:00:00Z") for l in t["tlogs"]])))
    ts = lambda b: b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    add(variant(v2, "timestamp-flipped", "timestamp", "last byte of the TSA signature altered",
                bundle=mutate(v2, lambda b: ts(b)[0].update(signedTimestamp=flip(ts(b)[0]["signedTimestamp"])))))
    add(variant(v2, "timestamp-from-other-bundle", "timestamp", "a valid timestamp over another signature",
                bundle=mutate(v2, lambda b: ts(b).__setitem__(0, ts(load(BY_NAME[d2]["bundle"]))[0]))))
    add(variant(v2, "timestamp-not-der", "timestamp", "signedTimestamp is not a TimeStampResp",
                bundle=mutate(v2, lambda b: ts(b)[0].update(signedTimestamp=b64(b"\x30\x03\x02\x01\x00")))))
    add(variant(v2, "no-timestamp", "signed time", "a Rekor v2 entry without any RFC 3161 timestamp",
                bundle=mutate(v2, lambda b: ts(b).clear())))
    add(variant(v2, "untrusted-timestamp-authority", "timestamp", "trusted root without timestampAuthorities",
                trust=mutate_trust(v2, lambda t: t.update(timestampAuthorities=[]))))
    add(variant(v2, "timestamp-authority-not-yet-valid", "timestamp", "TSA validFor starts after genTime",
                trust=mutate_trust(v2, lambda t: t["timestampAuthorities"][0]["validFor"].update(start="2026-01-01T00:00:00Z"))))
    add(variant(v2, "signature-changed-under-timestamp", "timestamp", "message signature altered (the timestamp covers it)",
                bundle=mutate(v2, lambda b: b["messageSignature"].update(signature=flip(b["messageSignature"]["signature"])))))

    # The certificate: chain, SCT, identity.
    add(variant(cp, "untrusted-root", "certificate chain", "public-good root without certificateAuthorities",
                trust=mutate_trust(cp, lambda t: t.update(certificateAuthorities=[]))))
    add(variant(v2, "ca-validity-ended", "certificate chain", "staging CAs' validFor ended before the signing",
                trust=mutate_trust(v2, lambda t: [ca["validFor"].update(end="2024-01-01T00:00:00Z") for ca in t["certificateAuthorities"]])))

    def other_ct_key(t):
        other = ec.generate_private_key(ec.SECP256R1()).public_key()
        t["ctlogs"][0]["publicKey"]["rawBytes"] = b64(other.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))

    add(variant(one, "sct-wrong-ct-key", "SCT", "the CT log's key replaced (same log ID)", trust=mutate_trust(one, other_ct_key)))
    add(variant(one, "sct-unknown-ct-log", "SCT", "trusted root without ctlogs", trust=mutate_trust(one, lambda t: t.update(ctlogs=[]))))
    add(variant(one, "swapped-certificate", "signature", "the attestation's certificate on one.txt's signature",
                bundle=mutate(one, lambda b: b["verificationMaterial"].update(certificate=load(BY_NAME[dsse]["bundle"])["verificationMaterial"]["certificate"]))))
    add(variant(cp, "wrong-identity", "identity", "expects another email", identity="someone@python.org"))
    add(variant(cp, "wrong-issuer", "issuer", "expects another OIDC issuer", issuer="https://github.com/login/oauth"))
    add(variant(gh, "wrong-identity-regexp", "identity", "regexp for another repository's workflows",
                identity=None, identity_regexp="https://github.com/sigstore/.*"))
    add(variant(gh, "wrong-github-repository", "identity", "GitHub repository claim mismatch",
                claims=dict(BY_NAME[gh]["claims"], repository="trailofbits/other")))
    add(variant(gh, "wrong-github-ref", "identity", "GitHub ref claim mismatch",
                claims=dict(BY_NAME[gh]["claims"], ref="refs/heads/main")))

    # What was signed.
    add(variant(cp, "wrong-digest", "signature", "another artifact's digest", digest="sha256:" + "00" * 32))
    add(variant(cp, "signature-flipped", "signature", "message signature altered",
                bundle=mutate(cp, lambda b: b["messageSignature"].update(signature=flip(b["messageSignature"]["signature"])))))
    add(variant(cp, "message-digest-field-changed", "signature", "messageDigest claims another digest",
                bundle=mutate(cp, lambda b: b["messageSignature"]["messageDigest"].update(digest=b64(bytes(32))))))
    add(variant(d2, "dsse-payload-altered", "signature", "DSSE payload altered",
                bundle=mutate(d2, lambda b: b["dsseEnvelope"].update(payload=b64(base64.b64decode(b["dsseEnvelope"]["payload"]).replace(b"a.txt", b"b.txt"))))))
    add(variant(d2, "dsse-payload-type-changed", "signature", "DSSE payloadType changed",
                bundle=mutate(d2, lambda b: b["dsseEnvelope"].update(payloadType="application/json"))))
    add(variant(d2, "dsse-wrong-artifact", "signature", "artifact not among the statement's subjects", artifact="public/staging-rekor-v2.txt"))
    add(variant(dsse, "dsse-envelope-signature-flipped", "signature", "DSSE signature altered (Rekor v1, no timestamp)",
                bundle=mutate(dsse, lambda b: b["dsseEnvelope"]["signatures"][0].update(sig=flip(b["dsseEnvelope"]["signatures"][0]["sig"])))))
    return cases


def main():
    shutil.rmtree(BROKEN, ignore_errors=True)
    BROKEN.mkdir()
    cosigned_path = CORPUS / "sigil" / "one.txt.cosigned.sigstore.json"
    cosigned_path.write_text(json.dumps(cosigned(), indent=1) + "\n")
    valid = [dict(c, expect="ok") for c in VALID]
    valid.append(dict(BY_NAME["sigil-hashedrekord-one"], name="sigil-cosigned-checkpoint",
                      bundle="sigil/one.txt.cosigned.sigstore.json", expect="ok",
                      why="checkpoint with an extra witness cosignature (C2SP tlog-cosignature)"))
    cases = valid + broken_cases()
    (CORPUS / "manifest.json").write_text(json.dumps(cases, indent=1) + "\n")
    broken = sum(c["expect"] != "ok" for c in cases)
    print(f"{len(cases) - broken} valid, {broken} broken")


if __name__ == "__main__":
    main()
