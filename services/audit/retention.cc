#include "audit/retention.h"

#include <limits>
#include <memory>
#include <utility>

#include "audit/inbox.h"
#include "audit/rows.h"
#include "common/utf8.h"

namespace grove::audit {

namespace {

using internal::Blob;
using internal::ReadTxn;

constexpr uint64_t kMsPerDay = 86'400'000;
constexpr std::string_view kRetentionActor = "retention";

Status CheckText(std::string_view text, const char* field, bool required) {
  if (required && text.empty()) return InvalidArgument("is empty", field);
  if (text.find('\0') != std::string_view::npos) {
    return InvalidArgument("contains a NUL byte", field);
  }
  return Status::Ok();
}

// An active hold on the entry's workspace, or on its record.
constexpr const char* kHeld =
    "EXISTS (SELECT 1 FROM audit_holds h WHERE h.released_at_ms IS NULL "
    "AND h.workspace = e.workspace AND (h.record IS NULL OR h.record = e.record))";

// Entries of workspace $1 received before $2 whose content may go.
constexpr const char* kDue =
    "e.workspace = $1::bytea AND e.received_at < $2::timestamptz AND NOT e.pruned "
    "AND e.kind <> 'admin'";

std::string HoldDetail(const Hold& h) {
  std::string d = "{\"id\":" + std::to_string(h.id) + ",\"workspace\":";
  AppendJsonString(d, HexEncode(h.workspace));
  d += ",\"record\":";
  if (h.record) {
    AppendJsonString(d, *h.record);
  } else {
    d += "null";
  }
  d += ",\"reason\":";
  AppendJsonString(d, h.reason);
  return d + "}";
}

Hold ReadHold(const pqxx::row& r) {
  Hold h;
  h.id = r[0].as<uint64_t>();
  h.workspace = internal::ReadBytes(r[1]);
  if (!r[2].is_null()) h.record = r[2].as<std::string>();
  h.reason = r[3].as<std::string>();
  h.placed_by = r[4].as<std::string>();
  h.placed_at_ms = r[5].as<uint64_t>();
  if (!r[6].is_null()) h.released_by = r[6].as<std::string>();
  if (!r[7].is_null()) h.released_at_ms = r[7].as<uint64_t>();
  return h;
}

constexpr const char* kHoldColumns =
    "id, workspace, record, reason, placed_by, placed_at_ms, released_by, released_at_ms";

}  // namespace

Result<Hold> PlaceHold(std::string_view url, const Hold& hold) {
  if (hold.workspace.empty()) return InvalidArgument("is empty", "workspace");
  if (hold.record) GROVE_RETURN_IF_ERROR(CheckText(*hold.record, "record", /*required=*/true));
  GROVE_RETURN_IF_ERROR(CheckText(hold.reason, "reason", /*required=*/true));
  GROVE_RETURN_IF_ERROR(CheckText(hold.placed_by, "placed_by", /*required=*/true));
  if (hold.placed_at_ms > uint64_t(std::numeric_limits<int64_t>::max())) {
    return InvalidArgument("above 2^63-1", "placed_at_ms");
  }
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<pgsql::Session> session,
                         internal::Connect(url, /*migrate=*/true));
  Hold placed;
  GROVE_RETURN_IF_ERROR(session->Transact<pqxx::work>(
      "placing a legal hold", [&](pqxx::transaction_base& txn) -> Status {
        placed = Hold();
        placed.workspace = hold.workspace;
        placed.record = hold.record;
        placed.reason = hold.reason;
        placed.placed_by = hold.placed_by;
        placed.placed_at_ms = hold.placed_at_ms;
        const pqxx::row r = txn.exec_params1(
            "INSERT INTO audit_holds (workspace, record, reason, placed_by, placed_at_ms) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id",
            Blob(hold.workspace), hold.record ? hold.record->c_str() : nullptr, hold.reason,
            hold.placed_by, static_cast<int64_t>(hold.placed_at_ms));
        placed.id = r[0].as<uint64_t>();
        AdminAction action;
        action.at_ms = hold.placed_at_ms;
        action.actor = hold.placed_by;
        action.action = "audit.hold.place";
        action.target = "hold/" + std::to_string(placed.id);
        action.detail = HoldDetail(placed);
        action.workspace = hold.workspace;
        return QueueAdminAction(txn, action);
      }));
  return placed;
}

Status ReleaseHold(std::string_view url, uint64_t id, std::string_view released_by,
                   uint64_t now_ms) {
  GROVE_RETURN_IF_ERROR(CheckText(released_by, "released_by", /*required=*/true));
  if (id > uint64_t(std::numeric_limits<int64_t>::max()))
    return NotFound("no hold " + std::to_string(id), "id");
  if (now_ms > uint64_t(std::numeric_limits<int64_t>::max())) {
    return InvalidArgument("above 2^63-1", "now_ms");
  }
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<pgsql::Session> session,
                         internal::Connect(url, /*migrate=*/true));
  return session->Transact<pqxx::work>(
      "releasing a legal hold", [&](pqxx::transaction_base& txn) -> Status {
        const pqxx::result found = txn.exec_params(
            std::string("SELECT ") + kHoldColumns + " FROM audit_holds WHERE id = $1 FOR UPDATE",
            static_cast<int64_t>(id));
        if (found.empty()) return NotFound("no hold " + std::to_string(id), "id");
        Hold h = ReadHold(found[0]);
        if (h.released_at_ms) {
          return FailedPrecondition("hold " + std::to_string(id) + " was already released by " +
                                    *h.released_by);
        }
        txn.exec_params(
            "UPDATE audit_holds SET released_by = $2, released_at_ms = $3 WHERE id = $1",
            static_cast<int64_t>(id), std::string(released_by), static_cast<int64_t>(now_ms));
        AdminAction action;
        action.at_ms = now_ms;
        action.actor = std::string(released_by);
        action.action = "audit.hold.release";
        action.target = "hold/" + std::to_string(id);
        action.detail = HoldDetail(h);
        action.workspace = h.workspace;
        return QueueAdminAction(txn, action);
      });
}

Result<std::vector<Hold>> ListHolds(std::string_view url, const std::optional<Bytes>& workspace,
                                    bool include_released) {
  if (workspace && workspace->empty()) return InvalidArgument("is empty", "workspace");
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<pgsql::Session> session,
                         internal::Connect(url, /*migrate=*/false));
  const std::string where = session->target().where;
  const std::string workspace_text = workspace ? internal::ByteaText(*workspace) : "";
  std::vector<Hold> holds;
  auto body = [&](pqxx::transaction_base& txn) -> Status {
    holds.clear();
    GROVE_RETURN_IF_ERROR(internal::CheckSchema(txn, where));
    const pqxx::result rows =
        txn.exec_params(std::string("SELECT ") + kHoldColumns +
                            " FROM audit_holds WHERE ($1::bytea IS NULL OR workspace = $1::bytea) "
                            "AND ($2 OR released_at_ms IS NULL) ORDER BY id",
                        workspace ? workspace_text.c_str() : nullptr, include_released);
    for (const pqxx::row& r : rows) holds.push_back(ReadHold(r));
    return Status::Ok();
  };
  GROVE_RETURN_IF_ERROR(session->Transact<ReadTxn>("listing legal holds", body));
  return holds;
}

Result<PruneReport> Prune(std::string_view url, const RetentionRule& rule, uint64_t now_ms) {
  if (rule.workspace.empty()) return InvalidArgument("is empty", "workspace");
  if (rule.keep_days < 1 || rule.keep_days > kMaxKeepDays) {
    return InvalidArgument("must be 1.." + std::to_string(kMaxKeepDays), "keep_days");
  }
  if (now_ms > uint64_t(std::numeric_limits<int64_t>::max())) {
    return InvalidArgument("above 2^63-1", "now_ms");
  }
  PruneReport report;
  const uint64_t keep_ms = uint64_t{rule.keep_days} * kMsPerDay;
  if (now_ms <= keep_ms) return report;  // nothing is that old
  report.cutoff_ms = now_ms - keep_ms;
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<pgsql::Session> session,
                         internal::Connect(url, /*migrate=*/true));
  const std::string workspace = internal::ByteaText(rule.workspace);
  const std::string cutoff = internal::TimestampText(report.cutoff_ms);
  GROVE_RETURN_IF_ERROR(session->Transact<pqxx::work>(
      "pruning the audit log", [&](pqxx::transaction_base& txn) -> Status {
        // SHARE conflicts with the ROW EXCLUSIVE an INSERT takes: no hold is placed while this
        // runs, so none is placed between counting and pruning, or missed by both.
        txn.exec("LOCK TABLE audit_holds IN SHARE MODE");
        report.held = txn.exec_params1(std::string("SELECT count(*) FROM audit_entries e WHERE ") +
                                           kDue + " AND " + kHeld,
                                       workspace, cutoff)[0]
                          .as<uint64_t>();
        const pqxx::row r = txn.exec_params1(
            std::string("WITH p AS (UPDATE audit_entries e SET pruned = true, device = '', "
                        "user_name = '', op = '', record = '', field = '', old_value = '', "
                        "new_value = '', hlc = 0, delta_hash = ''::bytea WHERE ") +
                kDue + " AND NOT " + kHeld +
                " RETURNING seq) SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) "
                "FROM p",
            workspace, cutoff);
        report.pruned = r[0].as<uint64_t>();
        if (report.pruned == 0) return Status::Ok();
        std::string detail = "{\"workspace\":";
        AppendJsonString(detail, HexEncode(rule.workspace));
        detail += ",\"keep_days\":" + std::to_string(rule.keep_days) +
                  ",\"cutoff_ms\":" + std::to_string(report.cutoff_ms) +
                  ",\"pruned\":" + std::to_string(report.pruned) +
                  ",\"held\":" + std::to_string(report.held) +
                  ",\"first_seq\":" + r[1].as<std::string>() +
                  ",\"last_seq\":" + r[2].as<std::string>() + "}";
        AdminAction action;
        action.at_ms = now_ms;
        action.actor = std::string(kRetentionActor);
        action.action = "audit.prune";
        action.target = HexEncode(rule.workspace);
        action.detail = std::move(detail);
        action.workspace = rule.workspace;
        return QueueAdminAction(txn, action);
      }));
  return report;
}

}  // namespace grove::audit
