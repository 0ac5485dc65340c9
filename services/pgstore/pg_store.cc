#include "pgstore/pg_store.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "pgsql/session.h"
#include "pgstore/migrations.h"

namespace grove::pgstore {

using pgsql::Session;
using store::DeltaRow;
using store::EvidenceRow;
using store::WorkspaceId;
using store::WriteBatch;

namespace {

using ReadTxn = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

constexpr const char* kChannel = "grove_deltas";

// An empty view may have no data pointer; binarystring copies with memcpy, which wants one.
pqxx::binarystring Blob(ByteView v) {
  return v.empty() ? pqxx::binarystring("", 0) : pqxx::binarystring(v.data(), v.size());
}
pqxx::binarystring Blob(std::string_view v) { return Blob(AsBytes(v)); }

// WriteBatch has already refused values above INT64_MAX, so this cast is exact.
int64_t Signed(uint64_t v) { return static_cast<int64_t>(v); }

// The advisory lock key of a workspace: its id's first eight bytes (ids are hashes).
int64_t LockKey(const WorkspaceId& ws) {
  int64_t key = 0;
  std::memcpy(&key, ws.data(), sizeof key);
  return key;
}

std::string ShortId(const Hash32& id) { return HexEncode(ByteView(id).first(4)); }
std::string DeltaWhere(const Hash32& author, uint64_t seq) {
  return ShortId(author) + "/" + std::to_string(seq);
}

Bytes ReadBytes(const pqxx::field& f) {
  pqxx::binarystring b(f);
  return Bytes(b.data(), b.data() + b.size());
}

Status ReadHash(const pqxx::field& f, Hash32& out) {
  pqxx::binarystring b(f);
  std::optional<Hash32> h = ToHash32(ByteView(b.data(), b.size()));
  if (!h) return Corruption(std::string("stored ") + f.name() + " is not 32 bytes");
  out = *h;
  return Status::Ok();
}

Status ReadUnsigned(const pqxx::field& f, uint64_t& out) {
  const int64_t v = f.as<int64_t>();
  if (v < 0) return Corruption(std::string("stored ") + f.name() + " is negative");
  out = static_cast<uint64_t>(v);
  return Status::Ok();
}

// Columns: author, seq, hash, bytes, status.
Status ReadDelta(const pqxx::row& r, DeltaRow& row) {
  GROVE_RETURN_IF_ERROR(ReadHash(r["author"], row.author));
  GROVE_RETURN_IF_ERROR(ReadUnsigned(r["seq"], row.seq));
  GROVE_RETURN_IF_ERROR(ReadHash(r["hash"], row.hash));
  row.bytes = ReadBytes(r["bytes"]);
  row.status = r["status"].as<int32_t>();
  return Status::Ok();
}

Usage ReadUsage(const pqxx::result& r) {
  Usage u;
  if (!r.empty()) {
    u.bytes = r[0][0].as<uint64_t>();
    u.deltas = r[0][1].as<uint64_t>();
  }
  return u;
}

// Applies a batch through SQL statements inside Write's transaction, and gathers what the end of
// the transaction needs: usage to add, workspaces to notify, delta ids inserted.
class Applier final : public WriteBatch::Handler {
 public:
  Applier(Session& session, pqxx::transaction_base& txn) : session_(session), txn_(txn) {}

  Status PutWorkspace(const WorkspaceId& ws, ByteView info) override {
    touched_.insert(ws);
    return Exec("storing workspace", [&] {
      txn_.exec_params(
          "INSERT INTO workspaces (id, info) VALUES ($1, $2) "
          "ON CONFLICT (id) DO UPDATE SET info = excluded.info",
          Blob(ws), Blob(info));
    });
  }

  Status DeleteWorkspace(const WorkspaceId& ws) override {
    touched_.insert(ws);
    // Its delta rows and usage row go with it (ON DELETE CASCADE): nothing left to count or tell.
    workspace_usage_.erase(ws);
    notify_.erase(ws);
    return Exec("deleting workspace",
                [&] { txn_.exec_params("DELETE FROM workspaces WHERE id = $1", Blob(ws)); });
  }

  Status PutDelta(const DeltaRow& row) override {
    touched_.insert(row.workspace);
    if (locked_.insert(row.workspace).second) {
      GROVE_RETURN_IF_ERROR(Exec("locking the workspace's feeds", [&] {
        txn_.exec_params("SELECT pg_advisory_xact_lock($1)", LockKey(row.workspace));
      }));
    }
    pqxx::result inserted;
    GROVE_RETURN_IF_ERROR(Exec("inserting delta", [&] {
      inserted = txn_.exec_params(
          "INSERT INTO deltas (workspace, author, seq, hash, bytes, status) "
          "VALUES ($1, $2, $3, $4, $5, $6) "
          "ON CONFLICT (workspace, author, seq) DO NOTHING RETURNING id",
          Blob(row.workspace), Blob(row.author), Signed(row.seq), Blob(row.hash), Blob(row.bytes),
          row.status);
    }));
    if (inserted.empty()) return CheckSameHash(row);
    const int64_t id = inserted[0][0].as<int64_t>();
    int64_t& last = inserted_ids_[row.workspace];
    last = std::max(last, id);
    Add(workspace_usage_[row.workspace], row.bytes.size());
    Add(device_usage_[row.author], row.bytes.size());
    notify_.insert(row.workspace);
    return Status::Ok();
  }

  Status SetDeltaStatus(const WorkspaceId& ws, const Hash32& author, uint64_t seq,
                        int32_t status) override {
    touched_.insert(ws);
    pqxx::result r;
    GROVE_RETURN_IF_ERROR(Exec("setting delta status", [&] {
      r = txn_.exec_params(
          "UPDATE deltas SET status = $4 WHERE workspace = $1 AND author = $2 AND seq = $3",
          Blob(ws), Blob(author), Signed(seq), status);
    }));
    if (r.affected_rows() == 0) {
      return NotFound("no stored delta to set the status of", DeltaWhere(author, seq));
    }
    return Status::Ok();
  }

  Status PutRecord(const WorkspaceId& ws, ByteView key, ByteView state) override {
    touched_.insert(ws);
    return Exec("storing record", [&] {
      txn_.exec_params(
          "INSERT INTO records (workspace, key, state) VALUES ($1, $2, $3) "
          "ON CONFLICT (workspace, key) DO UPDATE SET state = excluded.state",
          Blob(ws), Blob(key), Blob(state));
    });
  }

  Status DeleteRecord(const WorkspaceId& ws, ByteView key) override {
    touched_.insert(ws);
    return Exec("deleting record", [&] {
      txn_.exec_params("DELETE FROM records WHERE workspace = $1 AND key = $2", Blob(ws),
                       Blob(key));
    });
  }

  Status ClearRecords(const WorkspaceId& ws) override {
    touched_.insert(ws);
    return Exec("clearing records",
                [&] { txn_.exec_params("DELETE FROM records WHERE workspace = $1", Blob(ws)); });
  }

  Status PutPending(const WorkspaceId&, uint64_t, ByteView) override {
    return FailedPrecondition("a relay stores no pending local actions");
  }

  // Nothing to clear: a relay never stored any.
  Status ClearPending(const WorkspaceId&, uint64_t) override { return Status::Ok(); }

  Status PutEvidence(const EvidenceRow& row) override {
    touched_.insert(row.workspace);
    // Text goes in binary form too: a text parameter would be cut at a NUL byte, whereas this way
    // PostgreSQL checks the encoding and refuses what it cannot store.
    return Exec("inserting evidence", [&] {
      txn_.exec_params(
          "INSERT INTO evidence (workspace, kind, author, seq, hash, bytes, reason, received_ms) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
          Blob(row.workspace), Blob(std::string_view(row.kind)), Blob(row.author), Signed(row.seq),
          Blob(row.hash), Blob(row.bytes), Blob(std::string_view(row.reason)),
          Signed(row.received_ms));
    });
  }

  Status PutMeta(const WorkspaceId& ws, std::string_view key, ByteView value) override {
    touched_.insert(ws);
    return Exec("storing meta value", [&] {
      txn_.exec_params(
          "INSERT INTO meta (workspace, key, value) VALUES ($1, $2, $3) "
          "ON CONFLICT (workspace, key) DO UPDATE SET value = excluded.value",
          Blob(ws), Blob(key), Blob(value));
    });
  }

  Status PutChunk(const WorkspaceId&, const Hash32&, ByteView) override {
    return FailedPrecondition("a relay stores no attachment chunks");
  }

  Status DeleteChunk(const WorkspaceId&, const Hash32&) override { return Status::Ok(); }

  Status PutCheckpoint(const WorkspaceId&, const Hash32&, ByteView) override {
    return FailedPrecondition("a relay stores no checkpoints");
  }

  Status DeleteCheckpoint(const WorkspaceId&, const Hash32&) override { return Status::Ok(); }

  Status DeleteDeltasUpTo(const WorkspaceId&, const Hash32&, uint64_t) override {
    return FailedPrecondition("a relay keeps full history: it prunes no deltas");
  }

  // The end of the transaction: usage counters, then the notifications (sent at COMMIT). Rows are
  // updated in key order (std::map), so two relays updating the same devices cannot deadlock on
  // them.
  Status Finish() {
    for (const auto& [ws, u] : workspace_usage_) {
      GROVE_RETURN_IF_ERROR(Exec("counting workspace usage", [&] {
        txn_.exec_params(
            "INSERT INTO usage_workspace (workspace, bytes, deltas) VALUES ($1, $2, $3) "
            "ON CONFLICT (workspace) DO UPDATE SET bytes = usage_workspace.bytes + excluded.bytes,"
            " deltas = usage_workspace.deltas + excluded.deltas",
            Blob(ws), u.bytes, u.deltas);
      }));
    }
    for (const auto& [device, u] : device_usage_) {
      GROVE_RETURN_IF_ERROR(Exec("counting device usage", [&] {
        txn_.exec_params(
            "INSERT INTO usage_device (device, bytes, deltas) VALUES ($1, $2, $3) "
            "ON CONFLICT (device) DO UPDATE SET bytes = usage_device.bytes + excluded.bytes,"
            " deltas = usage_device.deltas + excluded.deltas",
            Blob(device), u.bytes, u.deltas);
      }));
    }
    for (const WorkspaceId& ws : notify_) {
      GROVE_RETURN_IF_ERROR(Exec("notifying other relays", [&] {
        txn_.exec_params("SELECT pg_notify($1, $2)", kChannel, HexEncode(ws));
      }));
    }
    return Status::Ok();
  }

  const std::set<WorkspaceId>& touched() const { return touched_; }
  // Highest delta id inserted per workspace, for workspaces still stored at the end of the batch.
  std::map<WorkspaceId, int64_t> inserted_ids() const {
    std::map<WorkspaceId, int64_t> out;
    for (const WorkspaceId& ws : notify_) out[ws] = inserted_ids_.at(ws);
    return out;
  }

 private:
  static void Add(Usage& u, size_t bytes) {
    u.bytes += bytes;
    u.deltas += 1;
  }

  template <typename Fn>
  Status Exec(std::string_view op, Fn&& fn) {
    return session_.Guard(op, [&] {
      fn();
      return Status::Ok();
    });
  }

  // The insert did nothing, so a delta with this (workspace, author, seq) is already stored.
  Status CheckSameHash(const DeltaRow& row) {
    pqxx::result r;
    GROVE_RETURN_IF_ERROR(Exec("reading stored delta hash", [&] {
      r = txn_.exec_params(
          "SELECT hash FROM deltas WHERE workspace = $1 AND author = $2 AND seq = $3",
          Blob(row.workspace), Blob(row.author), Signed(row.seq));
    }));
    if (r.empty()) return IOError("reading stored delta hash: conflicting delta vanished");
    Hash32 stored;
    GROVE_RETURN_IF_ERROR(ReadHash(r[0][0], stored));
    if (stored != row.hash) {
      return Corruption("delta hash differs from the stored delta at the same seq (a fork)",
                        DeltaWhere(row.author, row.seq));
    }
    return Status::Ok();
  }

  Session& session_;
  pqxx::transaction_base& txn_;
  std::set<WorkspaceId> touched_;
  std::set<WorkspaceId> locked_;
  std::set<WorkspaceId> notify_;
  std::map<WorkspaceId, int64_t> inserted_ids_;
  std::map<WorkspaceId, Usage> workspace_usage_;
  std::map<Hash32, Usage> device_usage_;
};

std::string WhereWorkspace(const std::optional<WorkspaceId>& only, const char* column) {
  return only ? std::string(" WHERE ") + column + " = $1" : std::string();
}

pqxx::result Query(pqxx::transaction_base& txn, const std::string& sql,
                   const std::optional<WorkspaceId>& only) {
  return only ? txn.exec_params(sql, Blob(*only)) : txn.exec(sql);
}

}  // namespace

PgStore::PgStore(std::unique_ptr<Session> session) : session_(std::move(session)) {}
PgStore::~PgStore() = default;

Result<std::unique_ptr<PgStore>> PgStore::Open(const Options& options) {
  GROVE_ASSIGN_OR_RETURN(pgsql::Target target,
                         pgsql::ParseTarget(options.url, options.connect_timeout_s, "grove-relay"));
  auto session = std::make_unique<Session>(std::move(target));
  session->set_foreign_key_message("workspace is not stored");
  GROVE_RETURN_IF_ERROR(session->Connect());
  GROVE_RETURN_IF_ERROR(pgsql::Migrate(
      *session, {internal::Migrations(), "schema_migrations", "relay", /*lock_key=*/1}));
  std::unique_ptr<PgStore> store(new PgStore(std::move(session)));
  GROVE_RETURN_IF_ERROR(store->LoadAll());
  return store;
}

Status PgStore::LoadAll() {
  bool found = false;
  return Load(std::nullopt, &found);
}

Status PgStore::Load(const std::optional<WorkspaceId>& only, bool* found) {
  WriteBatch batch;
  std::map<WorkspaceId, int64_t> last_ids;
  const auto read = [&](pqxx::transaction_base& txn) -> Status {
    batch.Clear();
    last_ids.clear();
    if (only) batch.DeleteWorkspace(*only);
    *found = false;
    for (const pqxx::row& r :
         Query(txn, "SELECT id, info FROM workspaces" + WhereWorkspace(only, "id"), only)) {
      WorkspaceId ws;
      GROVE_RETURN_IF_ERROR(ReadHash(r[0], ws));
      batch.PutWorkspace(ws, ReadBytes(r[1]));
      *found = true;
    }
    DeltaRow row;
    for (const pqxx::row& r :
         Query(txn,
               "SELECT workspace, id, author, seq, hash, bytes, status FROM deltas" +
                   WhereWorkspace(only, "workspace"),
               only)) {
      GROVE_RETURN_IF_ERROR(ReadHash(r["workspace"], row.workspace));
      GROVE_RETURN_IF_ERROR(ReadDelta(r, row));
      batch.PutDelta(row);
      int64_t& last = last_ids[row.workspace];
      last = std::max(last, r["id"].as<int64_t>());
    }
    for (const pqxx::row& r :
         Query(txn, "SELECT workspace, key, state FROM records" + WhereWorkspace(only, "workspace"),
               only)) {
      WorkspaceId ws;
      GROVE_RETURN_IF_ERROR(ReadHash(r[0], ws));
      batch.PutRecord(ws, ReadBytes(r[1]), ReadBytes(r[2]));
    }
    for (const pqxx::row& r :
         Query(txn,
               "SELECT workspace, kind, author, seq, hash, bytes, reason, received_ms "
               "FROM evidence" +
                   WhereWorkspace(only, "workspace") + " ORDER BY id",
               only)) {
      EvidenceRow e;
      GROVE_RETURN_IF_ERROR(ReadHash(r["workspace"], e.workspace));
      e.kind = r["kind"].as<std::string>();
      GROVE_RETURN_IF_ERROR(ReadHash(r["author"], e.author));
      GROVE_RETURN_IF_ERROR(ReadUnsigned(r["seq"], e.seq));
      GROVE_RETURN_IF_ERROR(ReadHash(r["hash"], e.hash));
      e.bytes = ReadBytes(r["bytes"]);
      e.reason = r["reason"].as<std::string>();
      GROVE_RETURN_IF_ERROR(ReadUnsigned(r["received_ms"], e.received_ms));
      batch.PutEvidence(e);
    }
    for (const pqxx::row& r :
         Query(txn, "SELECT workspace, key, value FROM meta" + WhereWorkspace(only, "workspace"),
               only)) {
      WorkspaceId ws;
      GROVE_RETURN_IF_ERROR(ReadHash(r[0], ws));
      batch.PutMeta(ws, r[1].as<std::string>(), ReadBytes(r[2]));
    }
    return Status::Ok();
  };
  GROVE_RETURN_IF_ERROR(session_->Transact<ReadTxn>("loading stored rows", read));
  // The snapshot holds every row's workspace (foreign keys), so the cache cannot refuse it.
  GROVE_RETURN_IF_ERROR(cache_.Write(batch).Annotate("loading stored rows into the cache"));
  for (const auto& [ws, id] : last_ids) SeeDeltaId(ws, id);
  return Status::Ok();
}

Status PgStore::ReloadSuspects() {
  while (!suspects_.empty()) {
    const WorkspaceId ws = *suspects_.begin();
    bool found = false;
    GROVE_RETURN_IF_ERROR(Load(ws, &found));
    suspects_.erase(ws);
  }
  return Status::Ok();
}

void PgStore::SeeDeltaId(const WorkspaceId& ws, int64_t id) {
  int64_t& last = last_delta_id_[ws];
  last = std::max(last, id);
}

Status PgStore::Write(const WriteBatch& batch) {
  if (batch.empty()) return Status::Ok();
  GROVE_RETURN_IF_ERROR(ReloadSuspects());
  std::unique_ptr<Applier> applier;
  Status s =
      session_->Transact<pqxx::work>("writing a batch", [&](pqxx::transaction_base& txn) -> Status {
        applier = std::make_unique<Applier>(*session_, txn);  // a retry starts over
        GROVE_RETURN_IF_ERROR(batch.Iterate(*applier));
        return applier->Finish();
      });
  if (!s.ok()) {
    if (session_->in_doubt() && applier) {
      suspects_.insert(applier->touched().begin(), applier->touched().end());
    }
    return s;
  }
  for (const auto& [ws, id] : applier->inserted_ids()) SeeDeltaId(ws, id);
  if (!cache_.Write(batch).ok()) {
    // PostgreSQL holds rows the cache lacked (another relay's): it is the authority.
    suspects_.insert(applier->touched().begin(), applier->touched().end());
    // If this fails, the next call that talks to PostgreSQL retries it first.
    static_cast<void>(ReloadSuspects());
  }
  return Status::Ok();
}

Result<std::vector<std::pair<WorkspaceId, Bytes>>> PgStore::ListWorkspaces() {
  return cache_.ListWorkspaces();
}

Status PgStore::ForEachDelta(const WorkspaceId& ws,
                             const std::function<bool(const DeltaRow&)>& fn) {
  return cache_.ForEachDelta(ws, fn);
}

Result<std::optional<DeltaRow>> PgStore::GetDelta(const WorkspaceId& ws, const Hash32& author,
                                                  uint64_t seq) {
  return cache_.GetDelta(ws, author, seq);
}

Status PgStore::ForEachRecord(const WorkspaceId& ws,
                              const std::function<bool(ByteView key, ByteView state)>& fn) {
  return cache_.ForEachRecord(ws, fn);
}

Result<std::vector<std::pair<uint64_t, Bytes>>> PgStore::LoadPending(const WorkspaceId& ws) {
  return cache_.LoadPending(ws);
}

Result<std::vector<EvidenceRow>> PgStore::ListEvidence(const WorkspaceId& ws) {
  return cache_.ListEvidence(ws);
}

Result<std::optional<Bytes>> PgStore::GetMeta(const WorkspaceId& ws, std::string_view key) {
  return cache_.GetMeta(ws, key);
}

Result<std::optional<Bytes>> PgStore::GetChunk(const WorkspaceId& ws, const Hash32& id) {
  return cache_.GetChunk(ws, id);
}

Result<bool> PgStore::HasChunk(const WorkspaceId& ws, const Hash32& id) {
  return cache_.HasChunk(ws, id);
}

// Write refuses every batch with PutCheckpoint, so there is nothing to look up.
Result<std::optional<Bytes>> PgStore::GetCheckpoint(const WorkspaceId&, const Hash32&) {
  return std::optional<Bytes>();
}

Result<std::vector<std::pair<Hash32, uint64_t>>> PgStore::ListCheckpoints(const WorkspaceId&) {
  return std::vector<std::pair<Hash32, uint64_t>>();
}

Result<uint64_t> PgStore::SizeBytes() { return cache_.SizeBytes(); }

// PostgreSQL's autovacuum looks after the relay's tables; the cache in memory has nothing to give.
Result<store::CompactResult> PgStore::Compact(uint64_t max_bytes) {
  return cache_.Compact(max_bytes);
}

Result<store::StoreSpace> PgStore::Space() { return cache_.Space(); }

Result<Usage> PgStore::WorkspaceUsage(const WorkspaceId& ws) {
  GROVE_RETURN_IF_ERROR(ReloadSuspects());
  Usage usage;
  GROVE_RETURN_IF_ERROR(session_->Transact<pqxx::read_transaction>(
      "reading workspace usage", [&](pqxx::transaction_base& txn) {
        usage = ReadUsage(txn.exec_params(
            "SELECT bytes, deltas FROM usage_workspace WHERE workspace = $1", Blob(ws)));
        return Status::Ok();
      }));
  return usage;
}

Result<Usage> PgStore::DeviceUsage(const Hash32& device) {
  GROVE_RETURN_IF_ERROR(ReloadSuspects());
  Usage usage;
  GROVE_RETURN_IF_ERROR(session_->Transact<pqxx::read_transaction>(
      "reading device usage", [&](pqxx::transaction_base& txn) {
        usage = ReadUsage(txn.exec_params(
            "SELECT bytes, deltas FROM usage_device WHERE device = $1", Blob(device)));
        return Status::Ok();
      }));
  return usage;
}

Result<std::vector<std::pair<int64_t, DeltaRow>>> PgStore::DeltasAfter(const WorkspaceId& ws,
                                                                       int64_t after,
                                                                       size_t limit) {
  GROVE_RETURN_IF_ERROR(ReloadSuspects());
  std::vector<std::pair<int64_t, DeltaRow>> out;
  if (limit == 0) return out;
  const int64_t capped =
      static_cast<int64_t>(std::min<uint64_t>(limit, std::numeric_limits<int64_t>::max()));
  const auto read = [&](pqxx::transaction_base& txn) -> Status {
    out.clear();
    const pqxx::result r = txn.exec_params(
        "SELECT id, author, seq, hash, bytes, status FROM deltas "
        "WHERE workspace = $1 AND id > $2 ORDER BY id LIMIT $3",
        Blob(ws), after, capped);
    for (const pqxx::row& row : r) {
      DeltaRow delta;
      delta.workspace = ws;
      GROVE_RETURN_IF_ERROR(ReadDelta(row, delta));
      out.emplace_back(row["id"].as<int64_t>(), std::move(delta));
    }
    return Status::Ok();
  };
  GROVE_RETURN_IF_ERROR(session_->Transact<pqxx::read_transaction>("reading new deltas", read));
  if (!out.empty()) SeeDeltaId(ws, out.back().first);
  return out;
}

int64_t PgStore::LastDeltaId(const WorkspaceId& ws) const {
  auto it = last_delta_id_.find(ws);
  return it == last_delta_id_.end() ? 0 : it->second;
}

Result<std::vector<WorkspaceId>> PgStore::UnloadedWorkspaces() {
  GROVE_RETURN_IF_ERROR(ReloadSuspects());
  std::vector<WorkspaceId> stored;
  const auto read = [&](pqxx::transaction_base& txn) -> Status {
    stored.clear();
    for (const pqxx::row& r : txn.exec("SELECT id FROM workspaces ORDER BY id")) {
      WorkspaceId ws;
      GROVE_RETURN_IF_ERROR(ReadHash(r[0], ws));
      stored.push_back(ws);
    }
    return Status::Ok();
  };
  GROVE_RETURN_IF_ERROR(session_->Transact<pqxx::read_transaction>("listing workspaces", read));
  GROVE_ASSIGN_OR_RETURN(auto cached, cache_.ListWorkspaces());
  std::set<WorkspaceId> held;
  for (const auto& [ws, info] : cached) held.insert(ws);
  std::erase_if(stored, [&](const WorkspaceId& ws) { return held.contains(ws); });
  return stored;
}

Status PgStore::LoadWorkspace(const WorkspaceId& ws) {
  GROVE_RETURN_IF_ERROR(ReloadSuspects());
  bool found = false;
  GROVE_RETURN_IF_ERROR(Load(ws, &found));
  if (!found) return NotFound("workspace is not stored in PostgreSQL", ShortId(ws));
  return Status::Ok();
}

Result<double> PgStore::Ping() {
  const auto start = std::chrono::steady_clock::now();
  GROVE_RETURN_IF_ERROR(
      session_->Transact<pqxx::nontransaction>("ping", [&](pqxx::transaction_base& txn) {
        txn.exec("SELECT 1");
        return Status::Ok();
      }));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void PgStore::SetLatencyObserver(std::function<void(double seconds)> fn) {
  session_->SetObserver(std::move(fn));
}

}  // namespace grove::pgstore
