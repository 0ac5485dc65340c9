-- Store schema version 3: checkpoints of workspaces (issue 9, decision 0011).
--
-- A checkpoint is the replica's opaque, canonical encoding of a workspace's state at a version
-- vector, named by the SHA-256 of its bytes, so a row is written once and never changes. A peer
-- keeps the few it needs (the newest trusted one, one being attested) and deletes those a newer
-- one supersedes; they belong to a workspace and go with it.
--
-- n is the rowid: SQLite gives a new row max(rowid) + 1, which is above every remaining row even
-- after deletes, so n order is insertion order (ListCheckpoints: oldest first) without
-- AUTOINCREMENT's extra table. The unique (workspace, id) index serves lookups by id, the
-- listing of a workspace, and the cascade when the workspace is deleted. Checkpoints can be
-- megabytes, so the table keeps a rowid (large payloads are stored less efficiently in a WITHOUT
-- ROWID table).
--
-- Pruning (deleting a feed's deltas up to a seq) needs no schema change: the deltas primary key
-- (workspace, author, seq) already makes it one range delete.
CREATE TABLE checkpoints (
  n INTEGER PRIMARY KEY,
  workspace BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  id BLOB NOT NULL CHECK (length(id) = 32),
  bytes BLOB NOT NULL,
  UNIQUE (workspace, id)
);
