#!/usr/bin/env python3
"""Verifies the embedded SCT of a leaf the way sigstore-python 4.x does (sigstore/_internal/sct.py),
with Python `cryptography` only: an implementation independent of sigil's.

usage: verify_sct.py LEAF_PEM ISSUER_PEM LOG_SPKI_DER_B64
exit 0 if the single embedded SCT verifies, 1 otherwise (with the reason on stderr).
"""
import base64
import calendar
import hashlib
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.certificate_transparency import LogEntryType


def main() -> int:
    leaf = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
    issuer = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
    log_spki = base64.b64decode(sys.argv[3])
    log_key = serialization.load_der_public_key(log_spki)

    scts = leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value
    if len(scts) != 1:
        print(f"expected exactly one SCT, found {len(scts)}", file=sys.stderr)
        return 1
    sct = scts[0]
    if sct.log_id != hashlib.sha256(log_spki).digest():
        print("SCT log_id is not SHA-256 of the log key", file=sys.stderr)
        return 1
    if sct.entry_type != LogEntryType.PRE_CERTIFICATE:
        print("SCT is not for a precertificate", file=sys.stderr)
        return 1
    if not isinstance(sct.signature_hash_algorithm, hashes.SHA256):
        print("SCT signature hash is not SHA-256", file=sys.stderr)
        return 1

    issuer_key_id = hashlib.sha256(
        issuer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).digest()
    tbs = leaf.tbs_precertificate_bytes
    ts = sct.timestamp
    timestamp_ms = calendar.timegm(ts.utctimetuple()) * 1000 + ts.microsecond // 1000
    ext = sct.extension_bytes
    signed = (
        struct.pack(">BBQH", sct.version.value, 0, timestamp_ms, sct.entry_type.value)
        + issuer_key_id
        + len(tbs).to_bytes(3, "big")
        + tbs
        + struct.pack(">H", len(ext))
        + ext
    )
    try:
        log_key.verify(sct.signature, signed, ec.ECDSA(hashes.SHA256()))
    except Exception as e:  # noqa: BLE001 - any failure is a verification failure
        print(f"SCT signature does not verify: {e!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
