-- Rows are keyed by the first 8 bytes of the leaf hash (a signed big-endian integer) and the
-- entry's index, instead of the whole hash: half the bytes per row, so a merge rewrites half
-- the pages. A lookup checks each candidate against `entries.leaf_hash`, so prefixes that two
-- leaves share cost a read, never a wrong answer. The file is derived data: emptying it makes
-- the store re-index every log from `entries` when it next opens.
DROP TABLE leaf_index;
DROP TABLE recent;
DELETE FROM watermarks;

CREATE TABLE leaf_index (
    log TEXT NOT NULL,
    prefix INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (log, prefix, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE recent (
    log TEXT NOT NULL,
    prefix INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (log, prefix, idx)
) STRICT, WITHOUT ROWID;
