#include "audit/audit_log.h"

#include <algorithm>
#include <array>
#include <limits>
#include <string>
#include <utility>

#include "audit/inbox.h"
#include "audit/migrations.h"
#include "pgsql/session.h"

namespace grove::audit {

using pgsql::Session;

namespace {

using ReadTxn = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

constexpr std::string_view kEntryLabel = "grove-audit-entry-v1";
constexpr uint64_t kMaxHlc = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
constexpr uint64_t kMaxReceivedAtMs = 8'000'000'000'000'000;
constexpr int kAuditMigrationLock = 2;  // the relay's is 1

// The columns EncodeEntry covers, in the order a reader expects them (ReadEntry).
constexpr const char* kEntryColumns =
    "seq, kind, workspace, device, user_name, op, record, field, old_value, new_value, hlc, "
    "(extract(epoch from received_at) * 1000)::bigint, delta_hash, leaf_hash";

pqxx::binarystring Blob(ByteView v) {
  return v.empty() ? pqxx::binarystring("", 0) : pqxx::binarystring(v.data(), v.size());
}

Bytes ReadBytes(const pqxx::field& f) {
  pqxx::binarystring b(f);
  return Bytes(b.data(), b.data() + b.size());
}

// A stored hash or key that must be 32 bytes; nullopt otherwise.
std::optional<Hash32> Read32(const pqxx::field& f) {
  pqxx::binarystring b(f);
  if (b.size() != 32) return std::nullopt;
  Hash32 out{};
  std::copy(b.data(), b.data() + 32, out.begin());
  return out;
}

void PutU64(Bytes& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void PutField(Bytes& out, ByteView field) {
  const auto n = static_cast<uint32_t>(field.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(n >> shift));
  out.insert(out.end(), field.begin(), field.end());
}

// The canonical encoding with the kind as a string, so that a row whose kind is not one of ours
// still has an encoding (which will not match its leaf hash).
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

// One stored row: the entry, its kind as stored, its stored leaf hash (nullopt: not 32 bytes).
struct StoredEntry {
  Entry entry;
  std::string kind;
  std::optional<Hash32> leaf_hash;
};

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
  return s;
}

Result<std::unique_ptr<Session>> Connect(std::string_view url, bool migrate) {
  GROVE_ASSIGN_OR_RETURN(pgsql::Target target,
                         pgsql::ParseTarget(url, /*connect_timeout_s=*/5, "grove-audit"));
  auto session = std::make_unique<Session>(std::move(target));
  GROVE_RETURN_IF_ERROR(session->Connect());
  if (migrate) GROVE_RETURN_IF_ERROR(Migrate(*session));
  return session;
}

Status ReadHeads(pqxx::transaction_base& txn, std::vector<SignedHead>& out) {
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
  return Status::Ok();
}

}  // namespace

std::string_view EntryKindName(EntryKind kind) {
  switch (kind) {
    case EntryKind::kOp:
      return "op";
    case EntryKind::kRejected:
      return "rejected";
    case EntryKind::kFork:
      return "fork";
    case EntryKind::kAdmin:
      return "admin";
  }
  return "op";
}

Bytes EncodeEntry(const Entry& entry) { return Encode(entry, EntryKindName(entry.kind)); }

// ---------------------------------------------------------------------------------------------
// AuditLog
// ---------------------------------------------------------------------------------------------

AuditLog::AuditLog(std::unique_ptr<Session> session, crypto::SigningKey key, Clock& clock)
    : session_(std::move(session)), key_(std::move(key)), clock_(clock) {}
AuditLog::~AuditLog() = default;

Result<std::unique_ptr<AuditLog>> AuditLog::Open(std::string_view url, crypto::SigningKey key,
                                                 Clock& clock) {
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Connect(url, /*migrate=*/true));
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(session), std::move(key), clock));
  GROVE_RETURN_IF_ERROR(log->Load());
  return log;
}

Status AuditLog::Load() {
  MerkleLog tree;
  GROVE_RETURN_IF_ERROR(session_->Transact<ReadTxn>(
      "loading the audit log's leaf hashes", [&](pqxx::transaction_base& txn) -> Status {
        tree = MerkleLog();  // a retry starts over
        const pqxx::result rows = txn.exec("SELECT seq, leaf_hash FROM audit_entries ORDER BY 1");
        for (const pqxx::row& r : rows) {
          const auto seq = r[0].as<int64_t>();
          if (static_cast<uint64_t>(seq) != tree.size()) {
            return Corruption("audit log entry " + std::to_string(tree.size()) +
                              " is missing (run `grove audit verify`)");
          }
          std::optional<Hash32> leaf = Read32(r[1]);
          if (!leaf) return Corruption("audit log entry " + std::to_string(seq) + ": bad leaf");
          tree.Append(*leaf);
        }
        return Status::Ok();
      }));
  tree_ = std::move(tree);
  return Status::Ok();
}

Status AuditLog::Append(const std::vector<Entry>& entries, const std::vector<Cursor>& cursors) {
  for (const Entry& e : entries) GROVE_RETURN_IF_ERROR(CheckEntry(e));
  if (entries.empty() && cursors.empty()) return Status::Ok();
  std::vector<Hash32> leaves;
  return Write("appending to the audit log", leaves, [&](pqxx::transaction_base& txn) -> Status {
    GROVE_RETURN_IF_ERROR(InsertEntries(txn, entries, leaves));
    for (const Cursor& c : cursors) {
      txn.exec_params(
          "INSERT INTO audit_cursors (name, position) VALUES ($1, $2) "
          "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
          c.name, c.position);
    }
    return Status::Ok();
  });
}

Result<size_t> AuditLog::DrainInbox(size_t max) {
  size_t moved = 0;
  std::vector<Hash32> leaves;
  const Status s =
      Write("moving admin actions into the audit log", leaves,
            [&](pqxx::transaction_base& txn) -> Status {
              moved = 0;
              const pqxx::result rows = txn.exec_params(
                  "SELECT id, at_ms, actor, action, target, detail, workspace FROM audit_inbox "
                  "ORDER BY id LIMIT $1",
                  static_cast<int64_t>(max));
              if (rows.empty()) return Status::Ok();
              std::vector<Entry> entries;
              for (const pqxx::row& r : rows) {
                Entry e;
                e.kind = EntryKind::kAdmin;
                e.received_at_ms = static_cast<uint64_t>(std::max<int64_t>(0, r[1].as<int64_t>()));
                e.device = r[2].as<std::string>();
                e.user_name = r[2].as<std::string>();
                e.op = r[3].as<std::string>();
                e.record = r[4].as<std::string>();
                e.new_value = r[5].as<std::string>();
                e.workspace = ReadBytes(r[6]);
                GROVE_RETURN_IF_ERROR(CheckEntry(e));
                entries.push_back(std::move(e));
              }
              GROVE_RETURN_IF_ERROR(InsertEntries(txn, entries, leaves));
              txn.exec_params("DELETE FROM audit_inbox WHERE id <= $1",
                              rows[rows.size() - 1][0].as<int64_t>());
              moved = entries.size();
              return Status::Ok();
            });
  if (!s.ok()) return s;
  return moved;
}

Result<std::map<std::string, std::string>> AuditLog::Cursors() {
  std::map<std::string, std::string> out;
  GROVE_RETURN_IF_ERROR(session_->Transact<ReadTxn>(
      "reading the audit log's cursors", [&](pqxx::transaction_base& txn) -> Status {
        out.clear();
        for (const pqxx::row& r : txn.exec("SELECT name, position FROM audit_cursors")) {
          out.emplace(r[0].as<std::string>(), r[1].as<std::string>());
        }
        return Status::Ok();
      }));
  return out;
}

Status AuditLog::CheckEntry(const Entry& e) {
  if (e.hlc > kMaxHlc) return InvalidArgument("hlc above 2^63-1", "hlc");
  if (e.received_at_ms > kMaxReceivedAtMs) {
    return InvalidArgument("received_at_ms above 8e15", "received_at_ms");
  }
  // libpq passes text as C strings: a NUL would silently cut the stored value short of what the
  // leaf hash covers.
  const std::pair<const char*, const std::string*> texts[] = {
      {"device", &e.device},      {"user_name", &e.user_name}, {"op", &e.op},
      {"record", &e.record},      {"field", &e.field},         {"old_value", &e.old_value},
      {"new_value", &e.new_value}};
  for (const auto& [name, text] : texts) {
    if (text->find('\0') != std::string::npos) return InvalidArgument("contains a NUL byte", name);
  }
  return Status::Ok();
}

Status AuditLog::InsertEntries(pqxx::transaction_base& txn, const std::vector<Entry>& entries,
                               std::vector<Hash32>& leaves) {
  const uint64_t first = tree_.size() + leaves.size();
  for (size_t i = 0; i < entries.size(); ++i) {
    Entry e = entries[i];
    e.seq = first + i;
    const Hash32 leaf = LeafHash(EncodeEntry(e));
    txn.exec_params(
        "INSERT INTO audit_entries (seq, kind, workspace, device, user_name, op, record, "
        "field, old_value, new_value, hlc, received_at, delta_hash, leaf_hash) VALUES ($1, "
        "$2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
        "'epoch'::timestamptz + $12::bigint * interval '1 millisecond', $13, $14)",
        static_cast<int64_t>(e.seq), std::string(EntryKindName(e.kind)), Blob(e.workspace),
        e.device, e.user_name, e.op, e.record, e.field, e.old_value, e.new_value,
        static_cast<int64_t>(e.hlc), static_cast<int64_t>(e.received_at_ms), Blob(e.delta_hash),
        Blob(leaf));
    leaves.push_back(leaf);
  }
  return Status::Ok();
}

Status AuditLog::Write(std::string_view op, std::vector<Hash32>& leaves,
                       const std::function<Status(pqxx::transaction_base&)>& body) {
  Status s = session_->Transact<pqxx::work>(op, [&](pqxx::transaction_base& txn) -> Status {
    leaves.clear();  // a retry starts over
    // One writer at a time; readers (VerifyLog) are not blocked.
    txn.exec("LOCK TABLE audit_entries IN EXCLUSIVE MODE");
    const auto next =
        txn.exec("SELECT coalesce(max(seq) + 1, 0) FROM audit_entries")[0][0].as<int64_t>();
    if (static_cast<uint64_t>(next) != tree_.size()) {
      return FailedPrecondition("another writer appended to the audit log");
    }
    return body(txn);
  });
  if (!s.ok()) {
    // Another writer, or a COMMIT whose outcome is unknown: what is stored is the truth.
    if (s.code() == Code::kFailedPrecondition || session_->in_doubt()) (void)Load();
    return s;
  }
  for (const Hash32& leaf : leaves) tree_.Append(leaf);
  return Status::Ok();
}

Result<SignedHead> AuditLog::SignHead() {
  SignedHead signed_head;
  signed_head.head =
      TreeHead{.size = tree_.size(), .root = tree_.Root(), .timestamp_ms = clock_.NowMillis()};
  const crypto::Signature sig = SignTreeHead(signed_head.head, key_);
  signed_head.signature.assign(sig.begin(), sig.end());
  signed_head.key = key_.public_key();
  auto store = [&](pqxx::transaction_base& txn) -> Status {
    const pqxx::result r = txn.exec_params(
        "INSERT INTO audit_tree_heads (size, root, timestamp_ms, signature, key) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (size) DO NOTHING RETURNING size",
        static_cast<int64_t>(signed_head.head.size), Blob(signed_head.head.root),
        static_cast<int64_t>(signed_head.head.timestamp_ms), Blob(signed_head.signature),
        Blob(signed_head.key));
    if (!r.empty()) return Status::Ok();
    std::vector<SignedHead> heads;
    GROVE_RETURN_IF_ERROR(ReadHeads(txn, heads));
    for (SignedHead& h : heads) {
      if (h.head.size == signed_head.head.size) signed_head = std::move(h);
    }
    return Status::Ok();
  };
  GROVE_RETURN_IF_ERROR(session_->Transact<pqxx::work>("storing a signed tree head", store));
  return signed_head;
}

Result<std::vector<Hash32>> AuditLog::InclusionProof(uint64_t seq, uint64_t tree_size) const {
  return tree_.InclusionProof(seq, tree_size);
}

Result<std::vector<Hash32>> AuditLog::ConsistencyProof(uint64_t old_size, uint64_t new_size) const {
  return tree_.ConsistencyProof(old_size, new_size);
}

Result<std::vector<SignedHead>> AuditLog::Heads() {
  std::vector<SignedHead> heads;
  GROVE_RETURN_IF_ERROR(session_->Transact<ReadTxn>(
      "reading tree heads", [&](pqxx::transaction_base& txn) { return ReadHeads(txn, heads); }));
  return heads;
}

Status Migrate(pgsql::Session& session) {
  return pgsql::Migrate(
      session, {internal::Migrations(), "audit_schema_migrations", "audit", kAuditMigrationLock});
}

Status QueueAdminAction(pqxx::transaction_base& txn, const AdminAction& action) {
  txn.exec_params(
      "INSERT INTO audit_inbox (at_ms, actor, action, target, detail, workspace) "
      "VALUES ($1, $2, $3, $4, $5, $6)",
      static_cast<int64_t>(action.at_ms), action.actor, action.action, action.target, action.detail,
      Blob(action.workspace));
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// VerifyLog
// ---------------------------------------------------------------------------------------------

namespace {

// Checks the rows in seq order; on the first bad one fills report.bad_seq/problem.
void CheckEntries(const pqxx::result& rows, MerkleLog& tree, VerifyReport& report) {
  for (const pqxx::row& r : rows) {
    const StoredEntry s = ReadEntry(r);
    const uint64_t want = tree.size();
    if (s.entry.seq != want) {
      report.bad_seq = want;
      report.problem =
          want == 0 ? "entry 0 missing (the log starts at seq " + std::to_string(s.entry.seq) + ")"
                    : "entry " + std::to_string(want) + " missing (seq jumps from " +
                          std::to_string(want - 1) + " to " + std::to_string(s.entry.seq) + ")";
      return;
    }
    const Hash32 leaf = LeafHash(Encode(s.entry, s.kind));
    if (!s.leaf_hash || *s.leaf_hash != leaf) {
      report.bad_seq = want;
      report.problem = "entry " + std::to_string(want) + ": fields do not match its leaf hash";
      return;
    }
    tree.Append(leaf);
    ++report.entries_checked;
  }
}

void CheckHeads(const std::vector<SignedHead>& heads, const MerkleLog& tree,
                const std::optional<crypto::PublicKey>& expected_key, VerifyReport& report) {
  std::optional<crypto::PublicKey> key = expected_key;
  const SignedHead* previous = nullptr;
  for (const SignedHead& h : heads) {
    const std::string at = "tree head at size " + std::to_string(h.head.size) + ": ";
    const uint64_t good = previous ? previous->head.size : 0;  // entries below are proven
    auto fail = [&](std::optional<uint64_t> seq, std::string why) {
      report.bad_seq = seq;
      report.problem = at + std::move(why);
    };
    if (key && h.key != *key) {
      return fail(std::nullopt, expected_key ? "signed by another key than the one expected"
                                             : "signed by another key than the earlier heads");
    }
    key = h.key;
    if (!VerifyTreeHead(h.head, h.signature, h.key).ok()) {
      return fail(std::nullopt, "signature does not verify");
    }
    if (h.head.size > tree.size()) {
      return fail(tree.size(), "the log has only " + std::to_string(tree.size()) +
                                   " entries (entries at the end were deleted)");
    }
    Result<Hash32> root = tree.RootAt(h.head.size);
    if (!root.ok() || *root != h.head.root) {
      return fail(good, "root differs from the entries (an entry before " +
                            std::to_string(h.head.size) +
                            " was changed, deleted or reordered; the head at size " +
                            std::to_string(good) + " still matches)");
    }
    if (previous) {
      if (h.head.timestamp_ms < previous->head.timestamp_ms) {
        return fail(std::nullopt, "timestamp before the previous head's");
      }
      Result<std::vector<Hash32>> proof = tree.ConsistencyProof(good, h.head.size);
      if (!proof.ok() ||
          !VerifyConsistency(good, h.head.size, previous->head.root, h.head.root, *proof).ok()) {
        return fail(good, "not consistent with the head at size " + std::to_string(good));
      }
    }
    ++report.heads_checked;
    previous = &h;
  }
  report.unsigned_entries = tree.size() - (previous ? previous->head.size : 0);
  report.ok = true;
}

}  // namespace

Result<VerifyReport> VerifyLog(std::string_view url,
                               std::optional<crypto::PublicKey> expected_key) {
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Connect(url, /*migrate=*/false));
  VerifyReport report;
  report.where = session->target().where;
  MerkleLog tree;
  std::vector<SignedHead> heads;
  bool exists = true;
  GROVE_RETURN_IF_ERROR(session->Transact<ReadTxn>(
      "reading the audit log", [&](pqxx::transaction_base& txn) -> Status {
        std::string where = std::move(report.where);  // a retry starts over
        report = VerifyReport();
        report.where = std::move(where);
        tree = MerkleLog();
        exists = txn.exec(
                        "SELECT to_regclass('audit_entries') IS NOT NULL AND "
                        "to_regclass('audit_tree_heads') IS NOT NULL")[0][0]
                     .as<bool>();
        if (!exists) return Status::Ok();
        const pqxx::result rows =
            txn.exec(std::string("SELECT ") + kEntryColumns + " FROM audit_entries ORDER BY seq");
        report.entries = rows.size();
        CheckEntries(rows, tree, report);
        return ReadHeads(txn, heads);
      }));
  if (!exists) return NotFound("no audit log at " + report.where);
  if (report.problem.empty()) CheckHeads(heads, tree, expected_key, report);
  return report;
}

}  // namespace grove::audit
