-- Entries indexed since the last merge. The indexer's random inserts land in this small B-tree,
-- where a batch shares pages, and it merges the table into `leaf_index` a key range at a time
-- once it holds about a million rows; a lookup reads both tables in one statement.
CREATE TABLE recent (
    log TEXT NOT NULL,
    leaf_hash BLOB NOT NULL,
    -- The lowest index that holds this leaf among the rows of this table.
    idx INTEGER NOT NULL,
    PRIMARY KEY (log, leaf_hash)
) STRICT, WITHOUT ROWID;
