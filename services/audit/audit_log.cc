#include "audit/audit_log.h"

#include <algorithm>
#include <array>
#include <limits>
#include <string>
#include <utility>

#include "audit/inbox.h"
#include "audit/migrations.h"
#include "audit/rows.h"
#include "common/utf8.h"
#include "pgsql/session.h"

namespace grove::audit {

using pgsql::Session;

namespace {

using internal::Blob;
using internal::Connect;
using internal::ReadTxn;

constexpr uint64_t kMaxHlc = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
constexpr uint64_t kMaxReceivedAtMs = 8'000'000'000'000'000;
constexpr int kAuditMigrationLock = 2;  // the relay's is 1
// Rows per page when reading the whole log (VerifyLog, Load): a few MB at most.
constexpr size_t kPageRows = 10000;

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

Bytes EncodeEntry(const Entry& entry) { return internal::Encode(entry, EntryKindName(entry.kind)); }

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
        Status bad;
        internal::ForEachPage(
            txn, "SELECT seq, leaf_hash FROM audit_entries WHERE seq > $1 ORDER BY seq LIMIT $2",
            {}, kPageRows, [&](const pqxx::row& r) {
              const auto seq = r[0].as<int64_t>();
              if (static_cast<uint64_t>(seq) != tree.size()) {
                bad = Corruption("audit log entry " + std::to_string(tree.size()) +
                                 " is missing (run `grove audit verify`)");
                return false;
              }
              std::optional<Hash32> leaf = internal::Read32(r[1]);
              if (!leaf) {
                bad = Corruption("audit log entry " + std::to_string(seq) + ": bad leaf");
                return false;
              }
              tree.Append(*leaf);
              return true;
            });
        return bad;
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
                e.workspace = internal::ReadBytes(r[6]);
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
  if (entries.empty()) return Status::Ok();
  // COPY rather than an INSERT per row: one round trip for the batch, and the server parses no
  // statement per row (docs/benchmarks.md, audit-ingest). Text COPY fields: stream_to escapes
  // tabs, newlines and backslashes; CheckEntry refused NULs.
  static const std::vector<std::string> kColumns = {
      "seq",   "kind",      "workspace", "device", "user_name",   "op",         "record",
      "field", "old_value", "new_value", "hlc",    "received_at", "delta_hash", "leaf_hash"};
  pqxx::stream_to copy(txn, "audit_entries", kColumns);
  const uint64_t first = tree_.size() + leaves.size();
  std::array<std::string, 14> row;
  for (size_t i = 0; i < entries.size(); ++i) {
    Entry e = entries[i];
    e.seq = first + i;
    const Hash32 leaf = LeafHash(EncodeEntry(e));
    row[0] = std::to_string(e.seq);
    row[1] = EntryKindName(e.kind);
    row[2] = internal::ByteaText(e.workspace);
    row[3] = std::move(e.device);
    row[4] = std::move(e.user_name);
    row[5] = std::move(e.op);
    row[6] = std::move(e.record);
    row[7] = std::move(e.field);
    row[8] = std::move(e.old_value);
    row[9] = std::move(e.new_value);
    row[10] = std::to_string(e.hlc);
    row[11] = internal::TimestampText(e.received_at_ms);
    row[12] = internal::ByteaText(e.delta_hash);
    row[13] = internal::ByteaText(leaf);
    copy << row;
    leaves.push_back(leaf);
  }
  copy.complete();
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
    internal::ReadHeads(txn, heads);
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
  GROVE_RETURN_IF_ERROR(
      session_->Transact<ReadTxn>("reading tree heads", [&](pqxx::transaction_base& txn) {
        internal::ReadHeads(txn, heads);
        return Status::Ok();
      }));
  return heads;
}

Status Migrate(pgsql::Session& session) {
  return pgsql::Migrate(
      session, {internal::Migrations(), "audit_schema_migrations", "audit", kAuditMigrationLock});
}

Status QueueAdminAction(pqxx::transaction_base& txn, const AdminAction& action) {
  // The writer must be able to append whatever is queued (one row it cannot take would hold up
  // every row after it), so what Append would refuse is refused here, in the caller's
  // transaction: text as valid UTF-8 without NUL bytes, a time it can store.
  if (action.at_ms > kMaxReceivedAtMs) return InvalidArgument("at_ms above 8e15", "at_ms");
  const std::pair<const char*, const std::string*> texts[] = {{"actor", &action.actor},
                                                              {"action", &action.action},
                                                              {"target", &action.target},
                                                              {"detail", &action.detail}};
  for (const auto& [name, text] : texts) {
    if (text->find('\0') != std::string::npos || SanitizeUtf8(*text) != *text) {
      return InvalidArgument("must be UTF-8 text without NUL bytes", name);
    }
  }
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

// The root of a growing list of leaves in O(log n) memory: the stack of perfect subtrees with
// strictly decreasing heights (as RootOf keeps), so a log of any size verifies in bounded memory.
class CompactRange {
 public:
  uint64_t size() const { return size_; }

  void Append(const Hash32& leaf) {
    Node node{0, leaf};
    while (!stack_.empty() && stack_.back().height == node.height) {
      node = Node{node.height + 1, NodeHash(stack_.back().hash, node.hash)};
      stack_.pop_back();
    }
    stack_.push_back(node);
    ++size_;
  }

  Hash32 Root() const {
    if (stack_.empty()) return RootOf({});
    Hash32 root = stack_.back().hash;
    for (size_t i = stack_.size() - 1; i-- > 0;) root = NodeHash(stack_[i].hash, root);
    return root;
  }

 private:
  struct Node {
    int height;
    Hash32 hash;
  };
  std::vector<Node> stack_;
  uint64_t size_ = 0;
};

// Checks rows one at a time in seq order, folding their leaves into a CompactRange and noting
// its root at each size a head names. Stops at the first bad row (report.bad_seq/problem).
class EntryChecker {
 public:
  EntryChecker(const std::vector<SignedHead>& heads, VerifyReport& report) : report_(report) {
    for (const SignedHead& h : heads) wanted_.push_back(h.head.size);  // by size, ascending
    NoteRoot();
  }

  // False once a row is bad.
  bool Check(const pqxx::row& r) {
    const internal::StoredEntry s = internal::ReadEntry(r);
    const uint64_t want = range_.size();
    if (s.entry.seq != want) {
      return Fail(
          want, want == 0
                    ? "entry 0 missing (the log starts at seq " + std::to_string(s.entry.seq) + ")"
                    : "entry " + std::to_string(want) + " missing (seq jumps from " +
                          std::to_string(want - 1) + " to " + std::to_string(s.entry.seq) + ")");
    }
    // The message prefix is built only on failure: this runs once per row of the log.
    auto at = [want] { return "entry " + std::to_string(want) + ": "; };
    Hash32 leaf;
    if (s.pruned) {
      // Its content is gone, so its leaf cannot be recomputed: the stored hash takes its place
      // in the tree, where the signed heads check it.
      if (s.kind == EntryKindName(EntryKind::kAdmin)) {
        return Fail(want,
                    at() + "an admin entry is marked pruned (admin entries are never pruned)");
      }
      if (!internal::ContentIsEmpty(s.entry)) return Fail(want, at() + "pruned but has content");
      if (!s.leaf_hash) return Fail(want, at() + "pruned and its stored leaf hash is not 32 bytes");
      leaf = *s.leaf_hash;
      ++report_.entries_pruned;
    } else {
      leaf = LeafHash(internal::Encode(s.entry, s.kind));
      if (!s.leaf_hash || *s.leaf_hash != leaf) {
        return Fail(want, at() + "fields do not match its leaf hash");
      }
    }
    range_.Append(leaf);
    ++report_.entries_checked;
    NoteRoot();
    return true;
  }

  uint64_t size() const { return range_.size(); }
  // The root at each head size reached so far.
  const std::map<uint64_t, Hash32>& roots() const { return roots_; }

 private:
  bool Fail(uint64_t seq, std::string problem) {
    report_.bad_seq = seq;
    report_.problem = std::move(problem);
    return false;
  }

  void NoteRoot() {
    while (next_ < wanted_.size() && wanted_[next_] <= range_.size()) {
      if (wanted_[next_] == range_.size()) roots_[range_.size()] = range_.Root();
      ++next_;
    }
  }

  VerifyReport& report_;
  CompactRange range_;
  std::vector<uint64_t> wanted_;
  size_t next_ = 0;
  std::map<uint64_t, Hash32> roots_;
};

// REQUIRES: the entries checked out (report.problem empty); `roots` has the root of every head
// size up to `entries`.
void CheckHeads(const std::vector<SignedHead>& heads, uint64_t entries,
                const std::map<uint64_t, Hash32>& roots,
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
    if (h.head.size > entries) {
      return fail(entries, "the log has only " + std::to_string(entries) +
                               " entries (entries at the end were deleted)");
    }
    // Every head's root is recomputed from the same sequence of leaves, so two heads that both
    // match are consistent with each other: no consistency proof is needed on top.
    const auto root = roots.find(h.head.size);
    if (root == roots.end() || root->second != h.head.root) {
      return fail(good, "root differs from the entries (an entry before " +
                            std::to_string(h.head.size) +
                            " was changed, deleted or reordered; the head at size " +
                            std::to_string(good) + " still matches)");
    }
    if (previous && h.head.timestamp_ms < previous->head.timestamp_ms) {
      return fail(std::nullopt, "timestamp before the previous head's");
    }
    ++report.heads_checked;
    previous = &h;
  }
  report.unsigned_entries = entries - (previous ? previous->head.size : 0);
  report.ok = true;
}

}  // namespace

Result<VerifyReport> VerifyLog(std::string_view url,
                               std::optional<crypto::PublicKey> expected_key) {
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Connect(url, /*migrate=*/false));
  const std::string where = session->target().where;
  VerifyReport report;
  std::vector<SignedHead> heads;
  uint64_t entries = 0;
  std::map<uint64_t, Hash32> roots;
  auto body = [&](pqxx::transaction_base& txn) -> Status {
    report = VerifyReport();  // a retry starts over
    report.where = where;
    GROVE_RETURN_IF_ERROR(internal::CheckSchema(txn, where));
    // Heads first: the checker notes the root at each of their sizes as the rows stream by.
    internal::ReadHeads(txn, heads);
    EntryChecker checker(heads, report);
    internal::ForEachLogRow(txn, internal::kEntryColumns, kPageRows,
                            [&](const pqxx::row& r) { return checker.Check(r); });
    entries = checker.size();
    roots = checker.roots();
    report.entries = entries;
    if (!report.problem.empty()) {
      // The scan stopped at the bad row; the report still says how many rows there are.
      report.entries = txn.exec1("SELECT count(*) FROM audit_entries")[0].as<uint64_t>();
    }
    return Status::Ok();
  };
  GROVE_RETURN_IF_ERROR(session->Transact<ReadTxn>("reading the audit log", body));
  if (report.problem.empty()) CheckHeads(heads, entries, roots, expected_key, report);
  return report;
}

}  // namespace grove::audit
