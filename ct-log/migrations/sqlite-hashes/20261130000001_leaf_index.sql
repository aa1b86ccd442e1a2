-- The leaf-hash index of the logs in `PATH` (this file is `PATH.hashes`): derived from their
-- `entries`, filled in the background, rebuilt from `entries` where it falls short.
CREATE TABLE leaf_index (
    log TEXT NOT NULL,
    leaf_hash BLOB NOT NULL,
    -- The lowest index that holds this leaf.
    idx INTEGER NOT NULL,
    PRIMARY KEY (log, leaf_hash)
) STRICT, WITHOUT ROWID;

-- Entries [0, indexed) of each log are in `leaf_index`.
CREATE TABLE watermarks (
    log TEXT PRIMARY KEY,
    indexed INTEGER NOT NULL
) STRICT;
