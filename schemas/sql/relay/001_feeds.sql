-- Relay schema version 1: the encrypted feeds a relay keeps for the workspaces its peers use, what
-- its blind replica derives from them, and per-workspace and per-device usage counters.
--
-- Applied by services/pgstore on open, in its own transaction, which also records the version in
-- schema_migrations under an advisory lock (so two relays starting together apply it once). Never
-- edit a migration that has shipped: add NNN_next.sql instead.
--
-- The same rows as the peer's SQLite store (schemas/sql/store/), minus what a relay never holds
-- (pending local actions, attachment chunks). Several relays may share this database: every row
-- they need is here, none is kept only in a relay's memory. Ids, authors and hashes are 32-byte
-- bytea; integers are bigint and the store refuses larger seqs before they get here.

CREATE TABLE workspaces (
  id bytea PRIMARY KEY CHECK (length(id) = 32),
  info bytea NOT NULL
);

-- id: arrival order across every relay sharing the database. Writers take a per-workspace advisory
-- lock before inserting, so within one workspace ids become visible in increasing order and a
-- relay that has seen id N has seen every smaller id of that workspace (DeltasAfter).
-- status: meaning owned by the replica (valid, invalid, awaiting key, ...).
CREATE TABLE deltas (
  id bigserial NOT NULL UNIQUE,
  workspace bytea NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  author bytea NOT NULL CHECK (length(author) = 32),
  seq bigint NOT NULL CHECK (seq >= 0),
  hash bytea NOT NULL CHECK (length(hash) = 32),
  bytes bytea NOT NULL,
  status integer NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace, author, seq)
);
CREATE INDEX deltas_by_arrival ON deltas (workspace, id);

-- Materialized records, keyed by the replica's opaque key; rebuilt from the deltas if lost.
CREATE TABLE records (
  workspace bytea NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  key bytea NOT NULL,
  state bytea NOT NULL,
  PRIMARY KEY (workspace, key)
);

-- Forks and rejected deltas: kept to show peers and admins, never applied. id order is the order
-- the evidence was written.
CREATE TABLE evidence (
  id bigserial PRIMARY KEY,
  workspace bytea NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  kind text NOT NULL,
  author bytea NOT NULL CHECK (length(author) = 32),
  seq bigint NOT NULL CHECK (seq >= 0),
  hash bytea NOT NULL CHECK (length(hash) = 32),
  bytes bytea NOT NULL,
  reason text NOT NULL,
  received_ms bigint NOT NULL CHECK (received_ms >= 0)
);
CREATE INDEX evidence_by_workspace ON evidence (workspace, id);

-- Small per-workspace values (counters, the hybrid logical clock).
CREATE TABLE meta (
  workspace bytea NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  key text NOT NULL,
  value bytea NOT NULL,
  PRIMARY KEY (workspace, key)
);

-- Bytes and number of delta rows inserted, grown in the transaction that inserts them (a delta
-- already stored counts once). A workspace's usage goes with the workspace; a device's usage is
-- what it has ever uploaded, across workspaces, and stays.
CREATE TABLE usage_workspace (
  workspace bytea PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
  bytes bigint NOT NULL CHECK (bytes >= 0),
  deltas bigint NOT NULL CHECK (deltas >= 0)
);

CREATE TABLE usage_device (
  device bytea PRIMARY KEY CHECK (length(device) = 32),
  bytes bigint NOT NULL CHECK (bytes >= 0),
  deltas bigint NOT NULL CHECK (deltas >= 0)
);
