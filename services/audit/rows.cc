#include "audit/rows.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "audit/inbox.h"
#include "audit/search.h"

namespace grove::audit::internal {

namespace {

constexpr std::string_view kEntryLabel = "grove-audit-entry-v1";

void PutU64(Bytes& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void PutField(Bytes& out, ByteView field) {
  const auto n = static_cast<uint32_t>(field.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(n >> shift));
  out.insert(out.end(), field.begin(), field.end());
}

}  // namespace

const char* const kEntryColumns =
    "seq, kind, workspace, device, user_name, op, record, field, old_value, new_value, hlc, "
    "(extract(epoch from received_at) * 1000)::bigint, delta_hash, leaf_hash, pruned";

Result<std::unique_ptr<pgsql::Session>> Connect(std::string_view url, bool migrate) {
  GROVE_ASSIGN_OR_RETURN(pgsql::Target target,
                         pgsql::ParseTarget(url, /*connect_timeout_s=*/5, "grove-audit"));
  auto session = std::make_unique<pgsql::Session>(std::move(target));
  GROVE_RETURN_IF_ERROR(session->Connect());
  if (migrate) GROVE_RETURN_IF_ERROR(Migrate(*session));
  return session;
}

Status CheckSchema(pqxx::transaction_base& txn, const std::string& where) {
  const pqxx::row r = txn.exec1(
      "SELECT to_regclass('audit_entries') IS NOT NULL AND "
      "to_regclass('audit_tree_heads') IS NOT NULL, "
      "to_regclass('audit_schema_migrations') IS NOT NULL");
  if (!r[0].as<bool>()) return NotFound("no audit log at " + where);
  int version = 0;
  if (r[1].as<bool>()) {
    version =
        txn.exec1("SELECT coalesce(max(version), 0) FROM audit_schema_migrations")[0].as<int>();
  }
  if (version < kSchemaVersion) {
    return FailedPrecondition("the audit log at " + where + " has schema version " +
                              std::to_string(version) + "; this grove reads version " +
                              std::to_string(kSchemaVersion) +
                              " (the auditor migrates it when it next opens the log)");
  }
  return Status::Ok();
}

pqxx::binarystring Blob(ByteView v) {
  return v.empty() ? pqxx::binarystring("", 0) : pqxx::binarystring(v.data(), v.size());
}

Bytes ReadBytes(const pqxx::field& f) {
  pqxx::binarystring b(f);
  return Bytes(b.data(), b.data() + b.size());
}

std::optional<Hash32> Read32(const pqxx::field& f) {
  pqxx::binarystring b(f);
  if (b.size() != 32) return std::nullopt;
  Hash32 out{};
  std::copy(b.data(), b.data() + 32, out.begin());
  return out;
}

Bytes Encode(const Entry& e, std::string_view kind) {
  Bytes out(kEntryLabel.begin(), kEntryLabel.end());
  PutU64(out, e.seq);
  PutField(out, AsBytes(kind));
  PutField(out, e.workspace);
  for (const std::string* s :
       {&e.device, &e.user_name, &e.op, &e.record, &e.field, &e.old_value, &e.new_value}) {
    PutField(out, AsBytes(*s));
  }
  PutU64(out, e.hlc);
  PutU64(out, e.received_at_ms);
  PutField(out, e.delta_hash);
  return out;
}

std::optional<EntryKind> ParseKind(std::string_view name) {
  for (EntryKind k : {EntryKind::kOp, EntryKind::kRejected, EntryKind::kFork, EntryKind::kAdmin}) {
    if (EntryKindName(k) == name) return k;
  }
  return std::nullopt;
}

StoredEntry ReadEntry(const pqxx::row& r) {
  StoredEntry s;
  Entry& e = s.entry;
  e.seq = static_cast<uint64_t>(r[0].as<int64_t>());
  s.kind = r[1].as<std::string>();
  e.kind = ParseKind(s.kind).value_or(EntryKind::kOp);
  e.workspace = ReadBytes(r[2]);
  e.device = r[3].as<std::string>();
  e.user_name = r[4].as<std::string>();
  e.op = r[5].as<std::string>();
  e.record = r[6].as<std::string>();
  e.field = r[7].as<std::string>();
  e.old_value = r[8].as<std::string>();
  e.new_value = r[9].as<std::string>();
  e.hlc = static_cast<uint64_t>(r[10].as<int64_t>());
  e.received_at_ms = static_cast<uint64_t>(r[11].as<int64_t>());
  e.delta_hash = ReadBytes(r[12]);
  s.leaf_hash = Read32(r[13]);
  s.pruned = r[14].as<bool>();
  return s;
}

bool ContentIsEmpty(const Entry& e) {
  return e.device.empty() && e.user_name.empty() && e.op.empty() && e.record.empty() &&
         e.field.empty() && e.old_value.empty() && e.new_value.empty() && e.hlc == 0 &&
         e.delta_hash.empty();
}

void ReadHeads(pqxx::transaction_base& txn, std::vector<SignedHead>& out) {
  out.clear();
  const pqxx::result rows =
      txn.exec("SELECT size, root, timestamp_ms, signature, key FROM audit_tree_heads ORDER BY 1");
  for (const pqxx::row& r : rows) {
    SignedHead h;
    h.head.size = static_cast<uint64_t>(r[0].as<int64_t>());
    // The schema checks root and key are 32 bytes; a zero root would only fail verification.
    h.head.root = Read32(r[1]).value_or(Hash32{});
    h.head.timestamp_ms = static_cast<uint64_t>(r[2].as<int64_t>());
    h.signature = ReadBytes(r[3]);
    h.key = Read32(r[4]).value_or(crypto::PublicKey{});
    out.push_back(std::move(h));
  }
}

void ForEachPage(pqxx::transaction_base& txn, const std::string& sql,
                 std::vector<std::string> params, size_t page,
                 const std::function<bool(const pqxx::row&)>& fn) {
  // Keyset paging on the primary key: each page is an index range scan, and the snapshot of a
  // repeatable-read transaction keeps the pages consistent. The lowest bigint, not -1, so that a
  // row with a negative seq (the schema forbids it; SQL behind our back might not) is still seen.
  int64_t after = std::numeric_limits<int64_t>::min();
  params.push_back("");
  params.push_back(std::to_string(page));
  for (;;) {
    params[params.size() - 2] = std::to_string(after);
    const pqxx::result rows = txn.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
    for (const pqxx::row& r : rows) {
      if (!fn(r)) return;
    }
    if (rows.size() < page) return;
    after = rows[rows.size() - 1][0].as<int64_t>();
  }
}

void ForEachLogRow(pqxx::transaction_base& txn, const std::string& columns, size_t page,
                   const std::function<bool(const pqxx::row&)>& fn) {
  // The only value in these queries is a seq this function read back as an integer, so they are
  // built as text, which the pipeline needs; nothing from outside reaches them.
  auto query = [&](int64_t after) {
    return "SELECT " + columns + " FROM audit_entries WHERE seq > " + std::to_string(after) +
           " ORDER BY seq LIMIT " + std::to_string(page);
  };
  pqxx::pipeline pipe(txn);
  pipe.retain(0);  // send each query at once
  pqxx::pipeline::query_id next = pipe.insert(query(std::numeric_limits<int64_t>::min()));
  for (;;) {
    const pqxx::result rows = pipe.retrieve(next);
    const bool more = rows.size() == page;
    // Ask for the next page before handing this one out: PostgreSQL reads it meanwhile.
    if (more) next = pipe.insert(query(rows[rows.size() - 1][0].as<int64_t>()));
    for (const pqxx::row& r : rows) {
      if (!fn(r)) {
        pipe.complete();  // lets the page in flight arrive, so the transaction stays usable
        return;
      }
    }
    if (!more) break;
  }
  pipe.complete();
}

std::string ByteaText(ByteView v) { return "\\x" + HexEncode(v); }

std::string TimestampText(uint64_t unix_ms) { return FormatTimestampMs(unix_ms); }

}  // namespace grove::audit::internal
