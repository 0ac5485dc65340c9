// The admin console's schema migrations, embedded at build time from schemas/sql/admin/NNN_*.sql
// by services/store/embed_sql.cmake (the generated admin_migrations.cc). Internal to
// services/admin.
#pragma once

#include <span>

#include "pgsql/session.h"

namespace grove::admin::internal {

using pgsql::Migration;

// In version order.
std::span<const Migration> Migrations();

}  // namespace grove::admin::internal
