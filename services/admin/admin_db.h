// AdminDb: the admin console's connection to PostgreSQL (internal to services/admin). It connects
// when first used, not when made, so a relay starts while its database is down; the first
// transaction that reaches the database applies the admin schema's migrations (advisory lock key
// 3) and the audit schema's (the console queues every action in audit_inbox).
//
// Thread-safety: every method may be called from any thread; transactions run one at a time
// (a mutex around the one connection), which is plenty for an admin console. Bodies must not call
// back into the AdminDb.
// Failure: as pgsql::Session::Transact (Unavailable while PostgreSQL cannot be reached).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "api/json.h"
#include "common/bytes.h"
#include "common/status.h"
#include "pgsql/session.h"

namespace grove::admin {

class AdminDb {
 public:
  using Body = std::function<Status(pqxx::transaction_base&)>;

  // InvalidArgument (where "db") for a url libpq cannot parse. Does not connect.
  static Result<std::unique_ptr<AdminDb>> Make(std::string_view url, int connect_timeout_s);

  // Connects and migrates now (for the CLI, which wants to fail early).
  Status Ready();
  // Runs body in a read-write transaction, committed when it returns OK.
  Status Write(std::string_view op, const Body& body);
  // Runs body in a read-only transaction.
  Status Read(std::string_view op, const Body& body);

  const std::string& url() const { return url_; }
  // "host:port/db", for messages.
  const std::string& where() const { return session_.target().where; }

 private:
  AdminDb(std::string url, pgsql::Target target)
      : url_(std::move(url)), session_(std::move(target)) {}
  // REQUIRES: mu_ held.
  Status MigrateLocked();

  const std::string url_;
  std::mutex mu_;
  pgsql::Session session_;  // guarded by mu_
  bool migrated_ = false;   // guarded by mu_
};

// Queues one admin action for the audit log in `txn` (audit::QueueAdminAction), with `detail`
// as its JSON. Every change the console makes calls this in the transaction that makes it.
Status QueueAction(pqxx::transaction_base& txn, uint64_t at_ms, std::string actor,
                   std::string action, std::string target, const api::Json& detail,
                   Bytes workspace = {});

}  // namespace grove::admin
