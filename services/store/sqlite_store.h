// SqliteStore: the Store on one SQLite database file, through one owned connection. The contract
// is in store.h; this header is for code that needs the concrete type (tests, tools).
//
// On disk: WAL journal, foreign keys on, the schema from schemas/sql/store/ (embedded at build
// time). PRAGMA application_id marks the file as a Grove store; PRAGMA user_version holds the
// schema version, bumped in the same transaction as the migrations that reach it, so a crash
// mid-migration leaves the previous version intact. Every statement is prepared once, at open.
// PRAGMA auto_vacuum is INCREMENTAL (new files from the start, older files converted once at
// open), so that Compact can give the pages of deleted rows back to the file system.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "store/sqlite_db.h"
#include "store/store.h"

namespace grove::store {

class SqliteStore final : public Store {
 public:
  // See OpenSqliteStore in store.h.
  static Result<std::unique_ptr<SqliteStore>> Open(const std::string& path, const Options& options);
  ~SqliteStore() override;

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Status Write(const WriteBatch& batch) override;
  Result<std::vector<std::pair<WorkspaceId, Bytes>>> ListWorkspaces() override;
  Status ForEachDelta(const WorkspaceId& ws,
                      const std::function<bool(const DeltaRow&)>& fn) override;
  Result<std::optional<DeltaRow>> GetDelta(const WorkspaceId& ws, const Hash32& author,
                                           uint64_t seq) override;
  Status ForEachRecord(const WorkspaceId& ws,
                       const std::function<bool(ByteView key, ByteView state)>& fn) override;
  Result<std::vector<std::pair<uint64_t, Bytes>>> LoadPending(const WorkspaceId& ws) override;
  Result<std::vector<EvidenceRow>> ListEvidence(const WorkspaceId& ws) override;
  Result<std::optional<Bytes>> GetMeta(const WorkspaceId& ws, std::string_view key) override;
  Result<std::optional<Bytes>> GetChunk(const WorkspaceId& ws, const Hash32& id) override;
  Result<bool> HasChunk(const WorkspaceId& ws, const Hash32& id) override;
  Result<std::optional<Bytes>> GetCheckpoint(const WorkspaceId& ws, const Hash32& id) override;
  Result<std::vector<std::pair<Hash32, uint64_t>>> ListCheckpoints(const WorkspaceId& ws) override;
  Result<uint64_t> SizeBytes() override;
  Result<CompactResult> Compact(uint64_t max_bytes) override;
  Result<StoreSpace> Space() override;

  struct Statements;  // every statement the store runs, prepared at open

 private:
  SqliteStore(sqlite::Database db, std::unique_ptr<Statements> statements, std::string path,
              bool compactable);

  struct Pages {
    uint64_t size = 0;  // PRAGMA page_size
    uint64_t free = 0;  // PRAGMA freelist_count
  };
  Result<Pages> ReadPages();

  sqlite::Database db_;
  std::unique_ptr<Statements> stmts_;  // after db_: finalized before the connection closes
  std::string path_;
  bool compactable_;  // auto_vacuum is INCREMENTAL (see ConvertToIncrementalVacuum)
};

}  // namespace grove::store
