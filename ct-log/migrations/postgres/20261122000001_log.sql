-- One row per log: the latest committed tree head. Appends compare-and-swap on `size`.
CREATE TABLE tree_heads (
    log TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    root BYTEA NOT NULL,
    timestamp BIGINT NOT NULL,
    signature BYTEA NOT NULL,
    note TEXT NOT NULL
);

-- Every leaf: the hashed input and the unhashed extra data (RFC 6962 extra_data).
CREATE TABLE entries (
    log TEXT NOT NULL,
    idx BIGINT NOT NULL,
    leaf_hash BYTEA NOT NULL,
    leaf_input BYTEA NOT NULL,
    extra BYTEA NOT NULL,
    PRIMARY KEY (log, idx)
);
CREATE INDEX entries_by_hash ON entries (log, leaf_hash);

-- tlog tiles: up to 256 concatenated 32-byte hashes; partial tiles are rewritten as they grow.
CREATE TABLE tiles (
    log TEXT NOT NULL,
    level SMALLINT NOT NULL,
    idx BIGINT NOT NULL,
    hashes BYTEA NOT NULL,
    PRIMARY KEY (log, level, idx)
);
