// Writing to the audit log from another module that keeps its data in the same PostgreSQL
// database (the relay's admin console): the audit schema, and queueing an admin action in the
// caller's own transaction, so that the action and its record commit together or not at all.
// The log's writer (AuditLog::DrainInbox) later moves queued actions into the Merkle log; until
// then they are in audit_inbox, in order.
//
// Failure: libpqxx exceptions from the caller's transaction propagate to the caller's
// pgsql::Session::Transact, which turns them into a Status.
#pragma once

#include <cstdint>
#include <string>

#include "common/bytes.h"
#include "common/status.h"
#include "pgsql/session.h"

namespace grove::audit {

// Applies the audit schema's missing migrations (as AuditLog::Open does).
Status Migrate(pgsql::Session& session);

struct AdminAction {
  uint64_t at_ms = 0;  // Unix ms
  std::string actor;   // who: "admin:alice"
  std::string action;  // what: "device.revoke", "policy.set", "admin.login"
  std::string target;  // on what: a device id, a workspace id, an account
  std::string detail;  // JSON with the particulars (never a password)
  Bytes workspace;     // the workspace concerned, if any
};

// Queues `action` in `txn`. The audit schema must exist (Migrate). InvalidArgument naming the
// field, with nothing queued, for text that is not UTF-8 or holds a NUL byte, or an at_ms above
// 8e15: the log's writer could not append it.
Status QueueAdminAction(pqxx::transaction_base& txn, const AdminAction& action);

}  // namespace grove::audit
