-- Admin schema version 1: the relay's admin console (services/admin, docs/admin-api.md): admin
-- accounts and their sessions, workspace policies, and the devices the organisation CA enrolled or
-- revoked.
--
-- Applied by services/admin when the console opens, in its own transaction, recorded in
-- admin_schema_migrations under advisory lock key 3 (the relay's is 1, the audit log's 2), so it
-- can share a database with both. Never edit a migration that has shipped: add NNN_next.sql.
--
-- Every change made here is recorded in the audit log by queueing it in audit_inbox (audit
-- schema) in the same transaction. Times are Unix milliseconds (bigint).

-- Admin accounts. password_hash is argon2id's encoded form ("$argon2id$v=19$m=...,t=...,p=...$
-- salt$hash"), which carries its own salt and cost. failed_logins counts consecutive failures
-- since the last success; the account refuses logins until locked_until_ms.
CREATE TABLE admin_accounts (
  name text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
  password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
  created_ms bigint NOT NULL,
  password_changed_ms bigint NOT NULL,
  failed_logins integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
  locked_until_ms bigint NOT NULL DEFAULT 0,
  last_login_ms bigint
);

-- Sessions: only the SHA-256 of each token is stored, so reading this table does not let anyone
-- sign in. A session ends at expires_ms (absolute) or idle_ms after last_used_ms, whichever
-- comes first (the console's configuration decides idle_ms).
CREATE TABLE admin_sessions (
  token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
  account text NOT NULL REFERENCES admin_accounts (name) ON DELETE CASCADE,
  created_ms bigint NOT NULL,
  last_used_ms bigint NOT NULL,
  expires_ms bigint NOT NULL
);
CREATE INDEX admin_sessions_by_account ON admin_sessions (account);

-- One policy per workspace (absent: the defaults, nothing audited). allowed_relays holds relay
-- cards ("grove-card:...") or device ids as the admin gave them; empty means any relay.
CREATE TABLE admin_policies (
  workspace bytea PRIMARY KEY CHECK (length(workspace) = 32),
  audited boolean NOT NULL,
  retention_days integer CHECK (retention_days > 0),
  legal_hold boolean NOT NULL,
  allowed_relays jsonb NOT NULL CHECK (jsonb_typeof(allowed_relays) = 'array'),
  updated_ms bigint NOT NULL,
  updated_by text NOT NULL
);

-- The organisation CA's public key: the first relay to use the CA records it, and a relay whose
-- org-ca.key holds another key refuses to sign (relays sharing this database must share the key).
CREATE TABLE org_ca (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  public_key bytea NOT NULL CHECK (length(public_key) = 32),
  created_ms bigint NOT NULL
);

-- Devices the organisation CA enrolled, and their revocation once revoked. enrolment and
-- revocation are the signed texts ("grove-enrolment:...", "grove-revocation:...") handed to peers.
CREATE TABLE org_devices (
  device bytea PRIMARY KEY CHECK (length(device) = 32),
  name text NOT NULL,
  card text NOT NULL,
  enrolment text NOT NULL,
  enrolled_ms bigint NOT NULL,
  enrolled_by text NOT NULL,
  revoked_ms bigint,
  revoked_by text,
  reason text,
  serial bigint UNIQUE,
  revocation text,
  CHECK ((revoked_ms IS NULL) = (revocation IS NULL))
);

-- Revocation serials: increasing across every relay sharing the database.
CREATE SEQUENCE org_revocation_serial START 1;
