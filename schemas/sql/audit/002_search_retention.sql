-- Audit schema version 2: search indexes, retention (pruned entries) and legal holds
-- (services/audit/search.h, retention.h; docs/audit.md).

-- Retention removes an entry's content but keeps the row: seq, kind, workspace, received_at and
-- leaf_hash stay, every other field becomes empty ('' / 0), and pruned is set. The row still
-- holds its place in the Merkle tree by its stored leaf hash, so `grove audit verify` still
-- catches a pruned row deleted, moved or given another leaf hash; it cannot recompute the hash
-- of content that is gone. Admin entries are never pruned.
ALTER TABLE audit_entries ADD COLUMN pruned boolean NOT NULL DEFAULT false;
ALTER TABLE audit_entries ADD CONSTRAINT audit_entries_pruned_is_empty CHECK (
  NOT pruned OR (kind <> 'admin' AND device = '' AND user_name = '' AND op = '' AND record = ''
                 AND field = '' AND old_value = '' AND new_value = '' AND hlc = 0
                 AND delta_hash = ''::bytea));

-- Search filters on one of these and pages in seq order (seq > $after ORDER BY seq LIMIT n), so
-- each index ends in seq: a page is one index range scan.
CREATE INDEX audit_entries_workspace_seq ON audit_entries (workspace, seq);
CREATE INDEX audit_entries_record_seq ON audit_entries (record, seq);
CREATE INDEX audit_entries_device_seq ON audit_entries (device, seq);
CREATE INDEX audit_entries_user_name_seq ON audit_entries (user_name, seq);
CREATE INDEX audit_entries_received_at ON audit_entries (received_at);

-- Legal holds: while a hold is active (released_at_ms NULL), retention keeps the content of the
-- workspace's entries (record NULL) or of one record's entries. Released holds stay, for the
-- record; placing and releasing one is also queued as an admin action in audit_inbox.
CREATE TABLE audit_holds (
  id bigserial PRIMARY KEY,
  workspace bytea NOT NULL CHECK (length(workspace) > 0),
  record text CHECK (record <> ''),
  reason text NOT NULL CHECK (reason <> ''),
  placed_by text NOT NULL CHECK (placed_by <> ''),
  placed_at_ms bigint NOT NULL,
  released_by text,
  released_at_ms bigint,
  CHECK ((released_by IS NULL) = (released_at_ms IS NULL))
);
CREATE INDEX audit_holds_active ON audit_holds (workspace) WHERE released_at_ms IS NULL;
