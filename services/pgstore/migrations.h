// The relay's schema migrations, embedded at build time from schemas/sql/relay/NNN_name.sql by
// services/store/embed_sql.cmake (the generated relay_migrations.cc). Migration i (1-based) takes
// the database from schema version i-1 to i; the generator refuses gaps in the numbering, so the
// version of the last migration is the number of migrations. Internal to services/pgstore.
#pragma once

#include <span>

namespace grove::pgstore::internal {

struct Migration {
  int version;       // the NNN of the file name
  const char* name;  // the file name, recorded in schema_migrations
  const char* sql;   // one or more statements, run in one transaction
};

// In version order.
std::span<const Migration> Migrations();

}  // namespace grove::pgstore::internal
