-- Static CT issuers: every certificate that a logged chain references, by SHA-256 of its DER.
CREATE TABLE issuers (
    fingerprint BLOB PRIMARY KEY,
    der BLOB NOT NULL
) STRICT;
