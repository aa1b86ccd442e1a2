-- One row per log: the latest committed tree head. Appends compare-and-swap on `size`.
CREATE TABLE tree_heads (
    log TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    timestamp INTEGER NOT NULL,
    signature BLOB NOT NULL,
    note TEXT NOT NULL
) STRICT;

-- Every leaf: the hashed input and the unhashed extra data (RFC 6962 extra_data).
CREATE TABLE entries (
    log TEXT NOT NULL,
    idx INTEGER NOT NULL,
    leaf_hash BLOB NOT NULL,
    leaf_input BLOB NOT NULL,
    extra BLOB NOT NULL,
    PRIMARY KEY (log, idx)
) STRICT;
CREATE INDEX entries_by_hash ON entries (log, leaf_hash);

-- tlog tiles: up to 256 concatenated 32-byte hashes; partial tiles are rewritten as they grow.
CREATE TABLE tiles (
    log TEXT NOT NULL,
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (log, level, idx)
) STRICT;
