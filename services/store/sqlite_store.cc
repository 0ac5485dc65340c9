#include "store/sqlite_store.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "store/internal.h"
#include "store/migrations.h"

namespace grove::store {

using sqlite::Database;
using sqlite::ScopedReset;
using sqlite::Statement;
using sqlite::Transaction;

struct SqliteStore::Statements {
  Statement put_workspace;
  Statement delete_workspace;
  Statement insert_delta;
  Statement delta_hash;
  Statement set_delta_status;
  Statement put_record;
  Statement delete_record;
  Statement clear_records;
  Statement put_pending;
  Statement clear_pending;
  Statement insert_evidence;
  Statement put_meta;
  Statement list_workspaces;
  Statement deltas_of;
  Statement get_delta;
  Statement records_of;
  Statement pending_of;
  Statement evidence_of;
  Statement get_meta;
  Statement put_chunk;
  Statement delete_chunk;
  Statement get_chunk;
  Statement has_chunk;
  Statement put_checkpoint;
  Statement delete_checkpoint;
  Statement get_checkpoint;
  Statement checkpoints_of;
  Statement delete_deltas_up_to;
};

namespace {

constexpr int64_t kApplicationId = 0x47524f56;  // "GROV": tells our files from other SQLite files
// Long enough to ride out a CLI or backup briefly reading the file, short enough to report a
// second daemon on the same store instead of hanging.
constexpr int kBusyTimeoutMs = 5000;

struct StatementSpec {
  Statement SqliteStore::Statements::*member;
  const char* op;  // names the statement in error messages
  const char* sql;
};

// Upserts use ON CONFLICT DO UPDATE, not INSERT OR REPLACE: REPLACE deletes the old row first,
// which for a workspace would cascade to all of its rows.
constexpr StatementSpec kStatementSpecs[] = {
    {&SqliteStore::Statements::put_workspace, "storing workspace",
     "INSERT INTO workspaces (id, info) VALUES (?1, ?2) "
     "ON CONFLICT (id) DO UPDATE SET info = excluded.info"},
    {&SqliteStore::Statements::delete_workspace, "deleting workspace",
     "DELETE FROM workspaces WHERE id = ?1"},
    {&SqliteStore::Statements::insert_delta, "inserting delta",
     "INSERT INTO deltas (workspace, author, seq, hash, bytes, status) "
     "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING"},
    {&SqliteStore::Statements::delta_hash, "reading stored delta hash",
     "SELECT hash FROM deltas WHERE workspace = ?1 AND author = ?2 AND seq = ?3"},
    {&SqliteStore::Statements::set_delta_status, "setting delta status",
     "UPDATE deltas SET status = ?4 WHERE workspace = ?1 AND author = ?2 AND seq = ?3"},
    {&SqliteStore::Statements::put_record, "storing record",
     "INSERT INTO records (workspace, key, state) VALUES (?1, ?2, ?3) "
     "ON CONFLICT (workspace, key) DO UPDATE SET state = excluded.state"},
    {&SqliteStore::Statements::delete_record, "deleting record",
     "DELETE FROM records WHERE workspace = ?1 AND key = ?2"},
    {&SqliteStore::Statements::clear_records, "clearing records",
     "DELETE FROM records WHERE workspace = ?1"},
    {&SqliteStore::Statements::put_pending, "storing pending action",
     "INSERT INTO pending (workspace, idx, op) VALUES (?1, ?2, ?3) "
     "ON CONFLICT (workspace, idx) DO UPDATE SET op = excluded.op"},
    {&SqliteStore::Statements::clear_pending, "clearing pending actions",
     "DELETE FROM pending WHERE workspace = ?1 AND idx <= ?2"},
    {&SqliteStore::Statements::insert_evidence, "inserting evidence",
     "INSERT INTO evidence (workspace, kind, author, seq, hash, bytes, reason, received_ms) "
     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
    {&SqliteStore::Statements::put_meta, "storing meta value",
     "INSERT INTO meta (workspace, key, value) VALUES (?1, ?2, ?3) "
     "ON CONFLICT (workspace, key) DO UPDATE SET value = excluded.value"},
    {&SqliteStore::Statements::list_workspaces, "listing workspaces",
     "SELECT id, info FROM workspaces ORDER BY id"},
    {&SqliteStore::Statements::deltas_of, "reading deltas",
     "SELECT author, seq, hash, bytes, status FROM deltas WHERE workspace = ?1 "
     "ORDER BY author, seq"},
    {&SqliteStore::Statements::get_delta, "reading delta",
     "SELECT author, seq, hash, bytes, status FROM deltas "
     "WHERE workspace = ?1 AND author = ?2 AND seq = ?3"},
    {&SqliteStore::Statements::records_of, "reading records",
     "SELECT key, state FROM records WHERE workspace = ?1 ORDER BY key"},
    {&SqliteStore::Statements::pending_of, "reading pending actions",
     "SELECT idx, op FROM pending WHERE workspace = ?1 ORDER BY idx"},
    {&SqliteStore::Statements::evidence_of, "reading evidence",
     "SELECT kind, author, seq, hash, bytes, reason, received_ms FROM evidence "
     "WHERE workspace = ?1 ORDER BY id"},
    {&SqliteStore::Statements::get_meta, "reading meta value",
     "SELECT value FROM meta WHERE workspace = ?1 AND key = ?2"},
    // DO NOTHING: a chunk's id is the hash of its bytes, so a stored row is already right.
    {&SqliteStore::Statements::put_chunk, "storing chunk",
     "INSERT INTO chunks (workspace, id, data) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING"},
    {&SqliteStore::Statements::delete_chunk, "deleting chunk",
     "DELETE FROM chunks WHERE workspace = ?1 AND id = ?2"},
    {&SqliteStore::Statements::get_chunk, "reading chunk",
     "SELECT data FROM chunks WHERE workspace = ?1 AND id = ?2"},
    {&SqliteStore::Statements::has_chunk, "looking up chunk",
     "SELECT 1 FROM chunks WHERE workspace = ?1 AND id = ?2"},
    // DO NOTHING: the id is the hash of the bytes, and a stored checkpoint keeps its place (n).
    {&SqliteStore::Statements::put_checkpoint, "storing checkpoint",
     "INSERT INTO checkpoints (workspace, id, bytes) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING"},
    {&SqliteStore::Statements::delete_checkpoint, "deleting checkpoint",
     "DELETE FROM checkpoints WHERE workspace = ?1 AND id = ?2"},
    {&SqliteStore::Statements::get_checkpoint, "reading checkpoint",
     "SELECT bytes FROM checkpoints WHERE workspace = ?1 AND id = ?2"},
    // length() of a blob column is read from the row header: the bytes themselves are not loaded.
    {&SqliteStore::Statements::checkpoints_of, "listing checkpoints",
     "SELECT id, length(bytes) FROM checkpoints WHERE workspace = ?1 ORDER BY n"},
    // One range delete on the primary key (workspace, author, seq), however long the feed.
    {&SqliteStore::Statements::delete_deltas_up_to, "pruning deltas",
     "DELETE FROM deltas WHERE workspace = ?1 AND author = ?2 AND seq <= ?3"},
};

std::string NewerVersionMessage(int64_t version) {
  return "store schema version " + std::to_string(version) +
         " is newer than this grove (knows up to " + std::to_string(CurrentSchemaVersion()) +
         "); upgrade grove";
}

Result<Database> Connect(const std::string& path, const Options& options) {
  if (!options.create_if_missing) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) && !ec) {
      return NotFound("store does not exist (create_if_missing is false)");
    }
  }
  int flags = SQLITE_OPEN_READWRITE | (options.create_if_missing ? SQLITE_OPEN_CREATE : 0);
  GROVE_ASSIGN_OR_RETURN(Database db, Database::Open(path, flags));
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  return db;
}

// Refuses, before anything is written, files that are not ours or are too new for us. Accepts a
// Grove store of a known version, or an empty database (new file) to initialize.
Status CheckIsGroveStore(Database& db) {
  auto app = db.QueryInt("PRAGMA application_id", "reading application id");
  if (!app.ok()) return app.status().Annotate("not a Grove store");
  GROVE_ASSIGN_OR_RETURN(int64_t version,
                         db.QueryInt("PRAGMA user_version", "reading schema version"));
  if (*app == kApplicationId && version >= 1) {
    if (version > CurrentSchemaVersion()) return FailedPrecondition(NewerVersionMessage(version));
    return Status::Ok();
  }
  GROVE_ASSIGN_OR_RETURN(int64_t objects,
                         db.QueryInt("SELECT count(*) FROM sqlite_master", "reading schema"));
  if (*app == 0 && version == 0 && objects == 0) return Status::Ok();
  return Corruption("not a Grove store (application_id " + std::to_string(*app) +
                    ", user_version " + std::to_string(version) + ", " + std::to_string(objects) +
                    " schema objects)");
}

// quick_check rather than integrity_check: it skips cross-checking indexes against tables, which
// is what makes integrity_check slow on a large store, and still catches damaged pages.
Status CheckIntegrity(Database& db) {
  GROVE_ASSIGN_OR_RETURN(std::string verdict,
                         db.QueryText("PRAGMA quick_check(1)", "checking integrity"));
  if (verdict != "ok") return Corruption("integrity check failed: " + verdict);
  return Status::Ok();
}

Status Configure(Database& db, const Options& options) {
  // Free pages can only be given back to the file system (Compact) in an auto-vacuum database. On
  // a new file this takes effect with the first table, which the migrations create; so set it
  // before anything else writes. On an existing file it only records the wish, which
  // ConvertToIncrementalVacuum's VACUUM then carries out.
  GROVE_RETURN_IF_ERROR(
      db.Exec("PRAGMA auto_vacuum = INCREMENTAL", "enabling incremental auto-vacuum"));
  GROVE_ASSIGN_OR_RETURN(std::string mode,
                         db.QueryText("PRAGMA journal_mode = WAL", "enabling WAL"));
  if (mode != "wal") {
    return IOError("cannot use WAL on this file system (journal mode " + mode + ")");
  }
  // In WAL mode NORMAL syncs only at checkpoints: a commit survives the process dying, and a power
  // loss can drop the latest commits but never corrupts the file.
  GROVE_RETURN_IF_ERROR(
      db.Exec(options.sync_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
              "setting synchronous"));
  // The WAL grows to the largest transaction and stays that size unless told otherwise; after a
  // checkpoint, truncate it back so disk use follows the data.
  GROVE_RETURN_IF_ERROR(
      db.Exec("PRAGMA journal_size_limit = 4194304", "limiting the write-ahead log"));
  GROVE_RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys = ON", "enabling foreign keys"));
  // The pragma is silently ignored by builds without foreign key support; the schema relies on it.
  GROVE_ASSIGN_OR_RETURN(int64_t fk, db.QueryInt("PRAGMA foreign_keys", "reading foreign keys"));
  if (fk != 1) return Internal("this SQLite build does not enforce foreign keys");
  return Status::Ok();
}

Status ApplyMigrations(Database& db, int64_t from) {
  for (const internal::Migration& m : internal::Migrations()) {
    if (m.version <= from) continue;
    GROVE_RETURN_IF_ERROR(db.Exec(m.sql, std::string("applying migration ") + m.name));
  }
  return db.Exec("PRAGMA user_version = " + std::to_string(CurrentSchemaVersion()) +
                     "; PRAGMA application_id = " + std::to_string(kApplicationId),
                 "recording schema version");
}

// All migrations and the version bump commit together, so a crash leaves the old version.
Status Migrate(Database& db) {
  Transaction txn(db);
  GROVE_RETURN_IF_ERROR(txn.Begin());
  // Read under the write lock: another process may have migrated since CheckIsGroveStore.
  GROVE_ASSIGN_OR_RETURN(int64_t version,
                         db.QueryInt("PRAGMA user_version", "reading schema version"));
  if (version > CurrentSchemaVersion()) return FailedPrecondition(NewerVersionMessage(version));
  if (version == CurrentSchemaVersion()) return Status::Ok();
  GROVE_RETURN_IF_ERROR(ApplyMigrations(db, version));
  return txn.Commit();
}

constexpr int64_t kAutoVacuumIncremental = 2;  // PRAGMA auto_vacuum's value for INCREMENTAL

// Files made before compaction existed have auto_vacuum NONE; converting one takes a VACUUM (the
// only way to add the pointer-map pages). Not a numbered migration: VACUUM cannot run inside the
// migration transaction, and the schema does not change. Crash-safe: VACUUM is one transaction
// (in WAL mode its rewrite of the file commits atomically in the log), so a crash or an error
// leaves the old file whole, still NONE, and the next open tries again. Returns whether the file
// is now incremental. A VACUUM that cannot run now (another process reading, no disk space for
// the copy it writes) is not a reason to refuse the store: it stays NONE until the next open,
// which Space() reports. Damage found on the way is.
Result<bool> ConvertToIncrementalVacuum(Database& db) {
  GROVE_ASSIGN_OR_RETURN(int64_t mode, db.QueryInt("PRAGMA auto_vacuum", "reading auto-vacuum"));
  if (mode == kAutoVacuumIncremental) return true;
  // Set again here rather than relying on Configure, so that this step stands on its own.
  GROVE_RETURN_IF_ERROR(
      db.Exec("PRAGMA auto_vacuum = INCREMENTAL", "enabling incremental auto-vacuum"));
  if (Status s = db.Exec("VACUUM", "converting to incremental auto-vacuum"); !s.ok()) {
    if (s.code() == Code::kCorruption) return s;
    return false;
  }
  // The log now holds a copy of the whole file; fold it in and truncate it. A reader still in the
  // way only delays that to a later checkpoint.
  GROVE_RETURN_IF_ERROR(
      db.QueryInt("PRAGMA wal_checkpoint(TRUNCATE)", "checkpointing after conversion").status());
  GROVE_ASSIGN_OR_RETURN(mode, db.QueryInt("PRAGMA auto_vacuum", "reading auto-vacuum"));
  return mode == kAutoVacuumIncremental;
}

Result<std::unique_ptr<SqliteStore::Statements>> PrepareAll(Database& db) {
  auto stmts = std::make_unique<SqliteStore::Statements>();
  for (const StatementSpec& spec : kStatementSpecs) {
    auto prepared = db.Prepare(spec.sql, spec.op);
    // The schema version said these tables exist; if they do not, the file was altered.
    if (!prepared.ok()) {
      return Corruption("schema does not match its version: " + prepared.status().message());
    }
    (*stmts).*spec.member = std::move(prepared).value();
  }
  return stmts;
}

// A failed foreign key is the only way a Put fails for a missing workspace; say so plainly.
Status RowStatus(Status s) {
  if (s.code() == Code::kFailedPrecondition) return internal::WorkspaceMissing();
  return s;
}

Status ReadHash(const Statement& s, int column, Hash32& out) {
  std::optional<Hash32> h = ToHash32(s.ColumnBlob(column));
  if (!h) return Corruption(s.op() + ": stored id is not 32 bytes");
  out = *h;
  return Status::Ok();
}

Status ReadUnsigned(const Statement& s, int column, uint64_t& out) {
  int64_t v = s.ColumnInt64(column);
  if (v < 0) return Corruption(s.op() + ": stored value is negative");
  out = static_cast<uint64_t>(v);
  return Status::Ok();
}

Status ReadDelta(const Statement& s, DeltaRow& row) {
  GROVE_RETURN_IF_ERROR(ReadHash(s, 0, row.author));
  GROVE_RETURN_IF_ERROR(ReadUnsigned(s, 1, row.seq));
  GROVE_RETURN_IF_ERROR(ReadHash(s, 2, row.hash));
  ByteView bytes = s.ColumnBlob(3);
  row.bytes.assign(bytes.begin(), bytes.end());  // reuses the row's buffer across a scan
  int64_t status = s.ColumnInt64(4);
  if (status < std::numeric_limits<int32_t>::min() ||
      status > std::numeric_limits<int32_t>::max()) {
    return Corruption(s.op() + ": stored status does not fit 32 bits");
  }
  row.status = static_cast<int32_t>(status);
  return Status::Ok();
}

Status ReadEvidence(const Statement& s, EvidenceRow& row) {
  row.kind = std::string(s.ColumnText(0));
  GROVE_RETURN_IF_ERROR(ReadHash(s, 1, row.author));
  GROVE_RETURN_IF_ERROR(ReadUnsigned(s, 2, row.seq));
  GROVE_RETURN_IF_ERROR(ReadHash(s, 3, row.hash));
  ByteView bytes = s.ColumnBlob(4);
  row.bytes.assign(bytes.begin(), bytes.end());
  row.reason = std::string(s.ColumnText(5));
  return ReadUnsigned(s, 6, row.received_ms);
}

Bytes CopyBlob(const Statement& s, int column) {
  ByteView v = s.ColumnBlob(column);
  return Bytes(v.begin(), v.end());
}

// Applies a batch's mutations through the prepared statements, inside Write's transaction.
class Applier final : public WriteBatch::Handler {
 public:
  explicit Applier(SqliteStore::Statements& st) : st_(st) {}

  Status PutWorkspace(const WorkspaceId& ws, ByteView info) override {
    Statement& s = st_.put_workspace;
    ScopedReset reset(s);
    return s.BindBlob(1, ws).BindBlob(2, info).Run();
  }

  Status DeleteWorkspace(const WorkspaceId& ws) override {
    Statement& s = st_.delete_workspace;
    ScopedReset reset(s);
    return s.BindBlob(1, ws).Run();
  }

  Status PutDelta(const DeltaRow& row) override {
    Statement& s = st_.insert_delta;
    ScopedReset reset(s);
    s.BindBlob(1, row.workspace).BindBlob(2, row.author).BindInt64(3, Signed(row.seq));
    s.BindBlob(4, row.hash).BindBlob(5, row.bytes).BindInt64(6, row.status);
    GROVE_RETURN_IF_ERROR(RowStatus(s.Run()));
    if (s.Changes() > 0) return Status::Ok();
    return CheckSameHash(row);
  }

  Status SetDeltaStatus(const WorkspaceId& ws, const Hash32& author, uint64_t seq,
                        int32_t status) override {
    Statement& s = st_.set_delta_status;
    ScopedReset reset(s);
    s.BindBlob(1, ws).BindBlob(2, author).BindInt64(3, Signed(seq)).BindInt64(4, status);
    GROVE_RETURN_IF_ERROR(s.Run());
    if (s.Changes() == 0) return internal::DeltaMissing(author, seq);
    return Status::Ok();
  }

  Status PutRecord(const WorkspaceId& ws, ByteView key, ByteView state) override {
    Statement& s = st_.put_record;
    ScopedReset reset(s);
    return RowStatus(s.BindBlob(1, ws).BindBlob(2, key).BindBlob(3, state).Run());
  }

  Status DeleteRecord(const WorkspaceId& ws, ByteView key) override {
    Statement& s = st_.delete_record;
    ScopedReset reset(s);
    return s.BindBlob(1, ws).BindBlob(2, key).Run();
  }

  Status ClearRecords(const WorkspaceId& ws) override {
    Statement& s = st_.clear_records;
    ScopedReset reset(s);
    return s.BindBlob(1, ws).Run();
  }

  Status PutPending(const WorkspaceId& ws, uint64_t index, ByteView op) override {
    Statement& s = st_.put_pending;
    ScopedReset reset(s);
    return RowStatus(s.BindBlob(1, ws).BindInt64(2, Signed(index)).BindBlob(3, op).Run());
  }

  Status ClearPending(const WorkspaceId& ws, uint64_t up_to_index) override {
    Statement& s = st_.clear_pending;
    ScopedReset reset(s);
    return s.BindBlob(1, ws).BindInt64(2, Signed(up_to_index)).Run();
  }

  Status PutEvidence(const EvidenceRow& row) override {
    Statement& s = st_.insert_evidence;
    ScopedReset reset(s);
    s.BindBlob(1, row.workspace).BindText(2, row.kind).BindBlob(3, row.author);
    s.BindInt64(4, Signed(row.seq)).BindBlob(5, row.hash).BindBlob(6, row.bytes);
    s.BindText(7, row.reason).BindInt64(8, Signed(row.received_ms));
    return RowStatus(s.Run());
  }

  Status PutMeta(const WorkspaceId& ws, std::string_view key, ByteView value) override {
    Statement& s = st_.put_meta;
    ScopedReset reset(s);
    return RowStatus(s.BindBlob(1, ws).BindText(2, key).BindBlob(3, value).Run());
  }

  Status PutChunk(const WorkspaceId& ws, const Hash32& id, ByteView data) override {
    Statement& s = st_.put_chunk;
    ScopedReset reset(s);
    return RowStatus(s.BindBlob(1, ws).BindBlob(2, id).BindBlob(3, data).Run());
  }

  Status DeleteChunk(const WorkspaceId& ws, const Hash32& id) override {
    Statement& s = st_.delete_chunk;
    ScopedReset reset(s);
    return s.BindBlob(1, ws).BindBlob(2, id).Run();
  }

  Status PutCheckpoint(const WorkspaceId& ws, const Hash32& id, ByteView bytes) override {
    Statement& s = st_.put_checkpoint;
    ScopedReset reset(s);
    return RowStatus(s.BindBlob(1, ws).BindBlob(2, id).BindBlob(3, bytes).Run());
  }

  Status DeleteCheckpoint(const WorkspaceId& ws, const Hash32& id) override {
    Statement& s = st_.delete_checkpoint;
    ScopedReset reset(s);
    return s.BindBlob(1, ws).BindBlob(2, id).Run();
  }

  Status DeleteDeltasUpTo(const WorkspaceId& ws, const Hash32& author,
                          uint64_t up_to_seq) override {
    Statement& s = st_.delete_deltas_up_to;
    ScopedReset reset(s);
    return s.BindBlob(1, ws).BindBlob(2, author).BindInt64(3, Signed(up_to_seq)).Run();
  }

 private:
  // WriteBatch has already refused values above INT64_MAX, so this cast is exact.
  static int64_t Signed(uint64_t v) { return static_cast<int64_t>(v); }

  // The insert did nothing, so a delta with this (workspace, author, seq) is already stored.
  Status CheckSameHash(const DeltaRow& row) {
    Statement& s = st_.delta_hash;
    ScopedReset reset(s);
    s.BindBlob(1, row.workspace).BindBlob(2, row.author).BindInt64(3, Signed(row.seq));
    GROVE_ASSIGN_OR_RETURN(bool found, s.Step());
    if (!found) return Internal(s.op() + ": conflicting delta vanished");
    Hash32 stored;
    GROVE_RETURN_IF_ERROR(ReadHash(s, 0, stored));
    if (stored != row.hash) return internal::DeltaConflict(row.author, row.seq);
    return Status::Ok();
  }

  SqliteStore::Statements& st_;
};

}  // namespace

int CurrentSchemaVersion() { return static_cast<int>(internal::Migrations().size()); }

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                       const Options& options) {
  GROVE_ASSIGN_OR_RETURN(Database db, Connect(path, options));
  GROVE_RETURN_IF_ERROR(CheckIsGroveStore(db));
  GROVE_RETURN_IF_ERROR(CheckIntegrity(db));
  GROVE_RETURN_IF_ERROR(Configure(db, options));
  GROVE_RETURN_IF_ERROR(Migrate(db));
  // Before PrepareAll, so no statement of this connection can be mid-step (VACUUM would fail).
  GROVE_ASSIGN_OR_RETURN(bool compactable, ConvertToIncrementalVacuum(db));
  GROVE_ASSIGN_OR_RETURN(auto stmts, PrepareAll(db));
  return std::unique_ptr<SqliteStore>(
      new SqliteStore(std::move(db), std::move(stmts), path, compactable));
}

SqliteStore::SqliteStore(Database db, std::unique_ptr<Statements> statements, std::string path,
                         bool compactable)
    : db_(std::move(db)),
      stmts_(std::move(statements)),
      path_(std::move(path)),
      compactable_(compactable) {}

SqliteStore::~SqliteStore() = default;

Status SqliteStore::Write(const WriteBatch& batch) {
  if (batch.empty()) return Status::Ok();
  Transaction txn(db_);
  GROVE_RETURN_IF_ERROR(txn.Begin());
  Applier applier(*stmts_);
  GROVE_RETURN_IF_ERROR(batch.Iterate(applier));
  return txn.Commit();
}

Result<std::vector<std::pair<WorkspaceId, Bytes>>> SqliteStore::ListWorkspaces() {
  Statement& s = stmts_->list_workspaces;
  ScopedReset reset(s);
  std::vector<std::pair<WorkspaceId, Bytes>> out;
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    WorkspaceId id;
    GROVE_RETURN_IF_ERROR(ReadHash(s, 0, id));
    out.emplace_back(id, CopyBlob(s, 1));
  }
}

Status SqliteStore::ForEachDelta(const WorkspaceId& ws,
                                 const std::function<bool(const DeltaRow&)>& fn) {
  Statement& s = stmts_->deltas_of;
  ScopedReset reset(s);
  s.BindBlob(1, ws);
  DeltaRow row;
  row.workspace = ws;
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool more, s.Step());
    if (!more) return Status::Ok();
    GROVE_RETURN_IF_ERROR(ReadDelta(s, row));
    if (!fn(row)) return Status::Ok();
  }
}

Result<std::optional<DeltaRow>> SqliteStore::GetDelta(const WorkspaceId& ws, const Hash32& author,
                                                      uint64_t seq) {
  if (seq > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return std::optional<DeltaRow>();  // could never have been stored
  }
  Statement& s = stmts_->get_delta;
  ScopedReset reset(s);
  s.BindBlob(1, ws).BindBlob(2, author).BindInt64(3, static_cast<int64_t>(seq));
  GROVE_ASSIGN_OR_RETURN(bool found, s.Step());
  if (!found) return std::optional<DeltaRow>();
  DeltaRow row;
  row.workspace = ws;
  GROVE_RETURN_IF_ERROR(ReadDelta(s, row));
  return std::optional<DeltaRow>(std::move(row));
}

Status SqliteStore::ForEachRecord(const WorkspaceId& ws,
                                  const std::function<bool(ByteView key, ByteView state)>& fn) {
  Statement& s = stmts_->records_of;
  ScopedReset reset(s);
  s.BindBlob(1, ws);
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool more, s.Step());
    if (!more) return Status::Ok();
    if (!fn(s.ColumnBlob(0), s.ColumnBlob(1))) return Status::Ok();
  }
}

Result<std::vector<std::pair<uint64_t, Bytes>>> SqliteStore::LoadPending(const WorkspaceId& ws) {
  Statement& s = stmts_->pending_of;
  ScopedReset reset(s);
  s.BindBlob(1, ws);
  std::vector<std::pair<uint64_t, Bytes>> out;
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    uint64_t index = 0;
    GROVE_RETURN_IF_ERROR(ReadUnsigned(s, 0, index));
    out.emplace_back(index, CopyBlob(s, 1));
  }
}

Result<std::vector<EvidenceRow>> SqliteStore::ListEvidence(const WorkspaceId& ws) {
  Statement& s = stmts_->evidence_of;
  ScopedReset reset(s);
  s.BindBlob(1, ws);
  std::vector<EvidenceRow> out;
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    EvidenceRow& e = out.emplace_back();
    e.workspace = ws;
    GROVE_RETURN_IF_ERROR(ReadEvidence(s, e));
  }
}

Result<std::optional<Bytes>> SqliteStore::GetMeta(const WorkspaceId& ws, std::string_view key) {
  Statement& s = stmts_->get_meta;
  ScopedReset reset(s);
  s.BindBlob(1, ws).BindText(2, key);
  GROVE_ASSIGN_OR_RETURN(bool found, s.Step());
  if (!found) return std::optional<Bytes>();
  return std::optional<Bytes>(CopyBlob(s, 0));
}

Result<std::optional<Bytes>> SqliteStore::GetChunk(const WorkspaceId& ws, const Hash32& id) {
  Statement& s = stmts_->get_chunk;
  ScopedReset reset(s);
  s.BindBlob(1, ws).BindBlob(2, id);
  GROVE_ASSIGN_OR_RETURN(bool found, s.Step());
  if (!found) return std::optional<Bytes>();
  return std::optional<Bytes>(CopyBlob(s, 0));
}

Result<bool> SqliteStore::HasChunk(const WorkspaceId& ws, const Hash32& id) {
  Statement& s = stmts_->has_chunk;
  ScopedReset reset(s);
  s.BindBlob(1, ws).BindBlob(2, id);
  return s.Step();
}

Result<std::optional<Bytes>> SqliteStore::GetCheckpoint(const WorkspaceId& ws, const Hash32& id) {
  Statement& s = stmts_->get_checkpoint;
  ScopedReset reset(s);
  s.BindBlob(1, ws).BindBlob(2, id);
  GROVE_ASSIGN_OR_RETURN(bool found, s.Step());
  if (!found) return std::optional<Bytes>();
  return std::optional<Bytes>(CopyBlob(s, 0));
}

Result<std::vector<std::pair<Hash32, uint64_t>>> SqliteStore::ListCheckpoints(
    const WorkspaceId& ws) {
  Statement& s = stmts_->checkpoints_of;
  ScopedReset reset(s);
  s.BindBlob(1, ws);
  std::vector<std::pair<Hash32, uint64_t>> out;
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return out;
    auto& [id, size] = out.emplace_back();
    GROVE_RETURN_IF_ERROR(ReadHash(s, 0, id));
    GROVE_RETURN_IF_ERROR(ReadUnsigned(s, 1, size));
  }
}

// The files' sizes rather than page_count * page_size: that counts pages still only in the log
// as if they were in the main file, and misses the log's own size.
Result<uint64_t> SqliteStore::SizeBytes() {
  std::error_code ec;
  uintmax_t size = std::filesystem::file_size(path_, ec);
  if (ec) return IOError("measuring store size: " + path_ + ": " + ec.message());
  uintmax_t wal = std::filesystem::file_size(path_ + "-wal", ec);
  if (!ec) size += wal;  // no log file is a normal state, e.g. right after a checkpoint
  return static_cast<uint64_t>(size);
}

Result<SqliteStore::Pages> SqliteStore::ReadPages() {
  GROVE_ASSIGN_OR_RETURN(int64_t size, db_.QueryInt("PRAGMA page_size", "reading page size"));
  GROVE_ASSIGN_OR_RETURN(int64_t free,
                         db_.QueryInt("PRAGMA freelist_count", "reading free page count"));
  if (size <= 0 || free < 0) return Corruption("page size or free page count out of range");
  return Pages{.size = static_cast<uint64_t>(size), .free = static_cast<uint64_t>(free)};
}

Result<CompactResult> SqliteStore::Compact(uint64_t max_bytes) {
  GROVE_ASSIGN_OR_RETURN(Pages before, ReadPages());
  CompactResult result{.page_size = before.size, .pages_freed = 0, .free_pages = before.free};
  const uint64_t pages = std::min(before.free, max_bytes / before.size);
  // incremental_vacuum(0) would free every page, unbounded: never ask for 0.
  if (!compactable_ || pages == 0) return result;
  GROVE_RETURN_IF_ERROR(db_.Exec("PRAGMA incremental_vacuum(" + std::to_string(pages) + ")",
                                 "returning free pages to the file system"));
  GROVE_ASSIGN_OR_RETURN(Pages after, ReadPages());
  result.free_pages = after.free;
  result.pages_freed = before.free > after.free ? before.free - after.free : 0;
  if (result.pages_freed == 0) return result;
  // In WAL mode the main file is cut to its new length only when a checkpoint has copied every
  // frame back; TRUNCATE also empties the log. Its row says whether a reader got in the way
  // (busy), which only delays the shrink to a later checkpoint.
  GROVE_RETURN_IF_ERROR(
      db_.QueryInt("PRAGMA wal_checkpoint(TRUNCATE)", "checkpointing after compaction").status());
  return result;
}

Result<StoreSpace> SqliteStore::Space() {
  GROVE_ASSIGN_OR_RETURN(uint64_t size, SizeBytes());
  GROVE_ASSIGN_OR_RETURN(Pages pages, ReadPages());
  return StoreSpace{
      .file_bytes = size, .free_bytes = pages.free * pages.size, .compactable = compactable_};
}

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, const Options& options) {
  auto store = SqliteStore::Open(path, options);
  if (!store.ok()) return store.status().Annotate("opening store at " + path);
  return std::unique_ptr<Store>(std::move(store).value());
}

}  // namespace grove::store
