// The relay's schema migrations, embedded at build time from schemas/sql/relay/NNN_name.sql by
// services/store/embed_sql.cmake (the generated relay_migrations.cc). Migration i (1-based) takes
// the database from schema version i-1 to i; the generator refuses gaps in the numbering, so the
// version of the last migration is the number of migrations. Internal to services/pgstore.
#pragma once

#include <span>

#include "pgsql/session.h"

namespace grove::pgstore::internal {

using pgsql::Migration;  // applied by pgsql::Migrate

// In version order.
std::span<const Migration> Migrations();

}  // namespace grove::pgstore::internal
