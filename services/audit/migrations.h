// The audit log's schema migrations, embedded at build time from schemas/sql/audit/NNN_name.sql
// by services/store/embed_sql.cmake (the generated audit_migrations.cc) and applied by
// pgsql::Migrate. Internal to services/audit.
#pragma once

#include <span>

#include "pgsql/session.h"

namespace grove::audit::internal {

using pgsql::Migration;

// In version order.
std::span<const Migration> Migrations();

}  // namespace grove::audit::internal
