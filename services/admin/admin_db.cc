#include "admin/admin_db.h"

#include "admin/migrations.h"
#include "audit/inbox.h"

namespace grove::admin {
namespace {

constexpr int kAdminMigrationLock = 3;  // the relay's is 1, the audit log's 2

using ReadTxn = pqxx::transaction<pqxx::read_committed, pqxx::read_only>;

}  // namespace

Result<std::unique_ptr<AdminDb>> AdminDb::Make(std::string_view url, int connect_timeout_s) {
  Result<pgsql::Target> target = pgsql::ParseTarget(url, connect_timeout_s, "grove-admin");
  if (!target.ok()) return InvalidArgument(target.status().message(), "db");
  return std::unique_ptr<AdminDb>(new AdminDb(std::string(url), std::move(target).value()));
}

Status AdminDb::MigrateLocked() {
  if (migrated_) return Status::Ok();
  GROVE_RETURN_IF_ERROR(pgsql::Migrate(
      session_, {internal::Migrations(), "admin_schema_migrations", "admin", kAdminMigrationLock}));
  GROVE_RETURN_IF_ERROR(audit::Migrate(session_));
  migrated_ = true;
  return Status::Ok();
}

Status AdminDb::Ready() {
  std::lock_guard<std::mutex> lock(mu_);
  session_.DropIfClosed();
  GROVE_RETURN_IF_ERROR(session_.Connect());
  return MigrateLocked();
}

Status AdminDb::Write(std::string_view op, const Body& body) {
  std::lock_guard<std::mutex> lock(mu_);
  GROVE_RETURN_IF_ERROR(MigrateLocked());
  return session_.Transact<pqxx::work>(op, body);
}

Status AdminDb::Read(std::string_view op, const Body& body) {
  std::lock_guard<std::mutex> lock(mu_);
  GROVE_RETURN_IF_ERROR(MigrateLocked());
  return session_.Transact<ReadTxn>(op, body);
}

Status QueueAction(pqxx::transaction_base& txn, uint64_t at_ms, std::string actor,
                   std::string action, std::string target, const api::Json& detail,
                   Bytes workspace) {
  audit::AdminAction a;
  a.at_ms = at_ms;
  a.actor = std::move(actor);
  a.action = std::move(action);
  a.target = std::move(target);
  a.detail = detail.Dump();
  a.workspace = std::move(workspace);
  return audit::QueueAdminAction(txn, a);
}

}  // namespace grove::admin
