-- Store schema version 2: attachment chunks (services/attachments, decision 0005).
--
-- A chunk is an opaque, encrypted blob named by the SHA-256 of its bytes, so a row is written
-- once and never changes: the same id always carries the same bytes. Rows belong to a workspace
-- (its members are the only devices served its chunks) and go with it.
--
-- Chunks are up to a few MiB each, so the table keeps a rowid: large payloads are stored less
-- efficiently in a WITHOUT ROWID table.
CREATE TABLE chunks (
  workspace BLOB NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  id BLOB NOT NULL CHECK (length(id) = 32),
  data BLOB NOT NULL,
  PRIMARY KEY (workspace, id)
);
