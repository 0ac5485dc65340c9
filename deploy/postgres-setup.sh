#!/usr/bin/env bash
# Prepares PostgreSQL for Grove relays on this machine: a role and a database they own. The relay
# applies its own schema (versioned migrations, schemas/sql/relay/) when it starts, so this is
# all the database needs. Idempotent. Run as root on the database host:
#
#   deploy/postgres-setup.sh [DATABASE] [ROLE]        (defaults: grove, grove_relay)
#
# Then give each relay `db: postgresql://ROLE:PASSWORD@HOST:5432/DATABASE` (set the password with
# `sudo -u postgres psql -c "ALTER ROLE grove_relay PASSWORD '...'"`; keep it out of shell
# history) and allow the relays' addresses in pg_hba.conf (scram-sha-256). Several relays may
# share the database: they wake each other with LISTEN/NOTIFY.
set -euo pipefail
DB="${1:-grove}"
ROLE="${2:-grove_relay}"
[[ "$DB" =~ ^[a-z_][a-z0-9_]*$ && "$ROLE" =~ ^[a-z_][a-z0-9_]*$ ]] ||
  { echo "postgres-setup: names must be lowercase identifiers" >&2; exit 2; }
psql() { runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != "1" ]; then
  psql -c "CREATE ROLE $ROLE LOGIN"
  echo "postgres-setup: created role $ROLE (set its password next)"
fi
if [ "$(psql -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]; then
  psql -c "CREATE DATABASE $DB OWNER $ROLE"
  echo "postgres-setup: created database $DB owned by $ROLE"
fi
echo "postgres-setup: database $DB and role $ROLE are ready"
