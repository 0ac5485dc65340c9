-- Store schema version 1: the peer's workspaces, the deltas received for them, and what the
-- replica derives from those (records, pending local actions, evidence, meta values).
--
-- Applied by services/store on open, inside the same transaction that then sets
-- PRAGMA user_version = 1 (and the Grove application_id). Never edit a migration that has
-- shipped: add NNN_next.sql instead.
--
-- Every row belongs to a workspace; the foreign keys make a row for an unknown workspace fail
-- and make deleting a workspace delete everything under it. Ids, authors and hashes are 32-byte
-- blobs. Integers are signed 64-bit in SQLite; the store refuses larger seqs before they get here.
--
-- WITHOUT ROWID where rows are small and always reached by their key (workspaces, pending,
-- meta): the primary key is the table, saving a second b-tree. deltas and records carry opaque
-- blobs of unbounded size, which WITHOUT ROWID tables store less efficiently (a smaller payload
-- fits in a b-tree cell before spilling to overflow pages), so they keep a rowid and the
-- primary key becomes a separate index.

CREATE TABLE workspaces (
  id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 32),
  info BLOB NOT NULL
) WITHOUT ROWID;

-- status: meaning owned by the replica (valid, invalid, awaiting key, ...).
CREATE TABLE deltas (
  workspace BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  author BLOB NOT NULL CHECK (length(author) = 32),
  seq INTEGER NOT NULL CHECK (seq >= 0),
  hash BLOB NOT NULL CHECK (length(hash) = 32),
  bytes BLOB NOT NULL,
  status INTEGER NOT NULL,
  PRIMARY KEY (workspace, author, seq)
);

-- Materialized records, keyed by the replica's opaque key; rebuilt from the deltas if lost.
CREATE TABLE records (
  workspace BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  key BLOB NOT NULL,
  state BLOB NOT NULL,
  PRIMARY KEY (workspace, key)
);

-- Local actions not yet sealed into a delta, replayed in idx order after a restart.
CREATE TABLE pending (
  workspace BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  idx INTEGER NOT NULL CHECK (idx >= 0),
  op BLOB NOT NULL,
  PRIMARY KEY (workspace, idx)
) WITHOUT ROWID;

-- Forks and rejected deltas: kept to show peers and users, never applied. AUTOINCREMENT so that
-- ids are never reused and id order is arrival order even after deletes.
CREATE TABLE evidence (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  workspace BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  author BLOB NOT NULL CHECK (length(author) = 32),
  seq INTEGER NOT NULL CHECK (seq >= 0),
  hash BLOB NOT NULL CHECK (length(hash) = 32),
  bytes BLOB NOT NULL,
  reason TEXT NOT NULL,
  received_ms INTEGER NOT NULL CHECK (received_ms >= 0)
);
-- Listing by workspace, and the cascade on workspace delete, would otherwise scan the table.
CREATE INDEX evidence_by_workspace ON evidence (workspace, id);

-- Small per-workspace values (counters, the hybrid logical clock).
CREATE TABLE meta (
  workspace BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (workspace, key)
) WITHOUT ROWID;
