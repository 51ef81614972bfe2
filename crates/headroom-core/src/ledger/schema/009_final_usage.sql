-- 9: each response counts with its final usage (issue 25). Claude Code writes a streaming
-- snapshot of the usage into a response's first rows and the final usage into its last one;
-- a later row that supersedes the stored one updates it. The key arrays now carry each key's
-- entry id (`entry_keys`: (key, id) pairs), so that such a row finds the entry it updates;
-- they are built from `entries` by the first ingest after this migration. Every transcript
-- is read once more from its start, so responses stored before with a snapshot of their
-- usage get their final usage (the keys keep anything from counting twice).
DROP TABLE key_sets;
CREATE TABLE entry_keys (bucket INTEGER PRIMARY KEY, pairs BLOB NOT NULL);
DELETE FROM files;
