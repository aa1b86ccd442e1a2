-- The leaf-hash index moves to its own file (`PATH.hashes`), filled off the commit path: see
-- `store/hash_index.rs`. It is built there from `entries` when the store next opens.
DROP INDEX entries_by_hash;
