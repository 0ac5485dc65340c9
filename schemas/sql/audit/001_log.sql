-- Audit schema version 1: the compliance audit log (DESIGN.md, "Relay/audit node"). An
-- append-only list of entries, each a leaf of an RFC 9162 Merkle tree, and the tree heads the
-- auditor signed over it.
--
-- Applied by services/audit (AuditLog::Open) in its own transaction, recorded in
-- audit_schema_migrations under an advisory lock. Never edit a migration that has shipped: add
-- NNN_next.sql instead.
--
-- leaf_hash is LeafHash(canonical encoding of the row's fields), as audit_log.h documents; it is
-- stored for speed only: `grove audit verify` recomputes it from the fields, so editing a field
-- (or the hash) shows. received_at has millisecond precision (the writer stores whole ms).

CREATE TABLE audit_entries (
  seq bigint PRIMARY KEY CHECK (seq >= 0),
  kind text NOT NULL CHECK (kind IN ('op', 'rejected', 'fork', 'admin')),
  workspace bytea NOT NULL,
  device text NOT NULL,
  user_name text NOT NULL,
  op text NOT NULL,
  record text NOT NULL,
  field text NOT NULL,
  old_value text NOT NULL,
  new_value text NOT NULL,
  hlc bigint NOT NULL,
  received_at timestamptz NOT NULL,
  delta_hash bytea NOT NULL,
  leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32)
);

-- One row per signed tree head: the auditor's Ed25519 signature (key: its public key) over
-- EncodeTreeHead(size, timestamp_ms, root) from services/audit/merkle.h.
CREATE TABLE audit_tree_heads (
  size bigint PRIMARY KEY CHECK (size >= 0),
  root bytea NOT NULL CHECK (length(root) = 32),
  timestamp_ms bigint NOT NULL,
  signature bytea NOT NULL,
  key bytea NOT NULL CHECK (length(key) = 32)
);

-- Where the writer has got to in each of its sources (e.g. one author's feed of one workspace:
-- the highest seq logged), updated in the transaction that appends the entries, so that a writer
-- restarted after any failure resumes with nothing missing and nothing twice.
CREATE TABLE audit_cursors (
  name text PRIMARY KEY,
  position text NOT NULL
);

-- Admin actions waiting to be appended to the log. The admin console inserts a row in the same
-- transaction as the change it records; the log's writer moves rows into audit_entries (kind
-- 'admin') and deletes them in one transaction.
CREATE TABLE audit_inbox (
  id bigserial PRIMARY KEY,
  at_ms bigint NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  detail text NOT NULL,
  workspace bytea NOT NULL DEFAULT ''::bytea
);
