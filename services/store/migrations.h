// The store's schema migrations, embedded at build time from schemas/sql/store/NNN_name.sql by
// embed_sql.cmake (the generated store_migrations.cc). Migration i (1-based) takes a store from
// schema version i-1 to i; the generator refuses gaps in the numbering, so the version of the
// last migration is the number of migrations. Internal to services/store.
#pragma once

#include <span>

namespace grove::store::internal {

struct Migration {
  int version;       // the NNN of the file name
  const char* name;  // the file name, for error messages
  const char* sql;   // one or more statements, run with sqlite3_exec
};

// In version order.
std::span<const Migration> Migrations();

}  // namespace grove::store::internal
