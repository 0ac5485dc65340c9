// Store: the peer's durable state, as the replica layer sees it.
//
// The replica keeps workspaces in memory and persists through this interface only; it never
// issues SQL. Everything it writes for one applied batch of deltas goes into one WriteBatch, and
// Store::Write applies that batch atomically (one SQLite transaction): all of it or none of it.
// The store does not understand delta bodies, record states, pending operations or checkpoints;
// they are opaque blobs.
//
// Rows belong to a workspace. Every Put* for a workspace that is not stored (neither before the
// batch nor earlier in it) fails with FailedPrecondition, and DeleteWorkspace removes every row of
// that workspace. Deletes of rows that do not exist are no-ops. Reads of an unknown workspace
// return empty results, not NotFound.
//
// Ownership: OpenSqliteStore/NewMemoryStore return an owning pointer; the SQLite connection is
// closed when the Store is destroyed. Values returned from reads are copies, except the ByteViews
// passed to ForEachRecord's callback, which are valid only during that call.
//
// Thread-safety: a Store is used from one thread at a time (external locking otherwise). Callbacks
// passed to ForEach* must not call back into the same Store. WriteBatch is a plain value and not
// thread-safe.
//
// Failure: every call returns a Status or Result<T>; nothing throws. IOError for file system and
// database failures, Corruption for bytes on disk that are not a valid Grove store (and for a
// PutDelta that contradicts a stored delta), FailedPrecondition for a row whose workspace is
// missing, NotFound for SetDeltaStatus of a delta that is not stored, InvalidArgument for a seq,
// pending index or timestamp above 2^63-1 (SQLite integers are signed), Unavailable when another
// process holds the database locked past the busy timeout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace grove::store {

using WorkspaceId = Hash32;

// One delta of one author's feed, as received.
struct DeltaRow {
  WorkspaceId workspace{};
  Hash32 author{};
  uint64_t seq = 0;
  Hash32 hash{};
  Bytes bytes;
  int32_t status = 0;  // meaning owned by the replica (valid, invalid, awaiting key, ...)

  friend bool operator==(const DeltaRow&, const DeltaRow&) = default;
};

// Forks, rejected deltas: kept as evidence, never applied.
struct EvidenceRow {
  WorkspaceId workspace{};
  std::string kind;
  Hash32 author{};
  uint64_t seq = 0;
  Hash32 hash{};
  Bytes bytes;
  std::string reason;
  uint64_t received_ms = 0;

  friend bool operator==(const EvidenceRow&, const EvidenceRow&) = default;
};

// A list of mutations, applied in order by Store::Write. Cheap to build (arguments are copied in);
// a value type; not thread-safe. Arguments that can never be stored (a seq above 2^63-1) make the
// whole batch fail with InvalidArgument at Write.
class WriteBatch {
 public:
  WriteBatch();
  ~WriteBatch();
  WriteBatch(const WriteBatch&);
  WriteBatch& operator=(const WriteBatch&);
  WriteBatch(WriteBatch&&) noexcept;
  WriteBatch& operator=(WriteBatch&&) noexcept;

  // Inserts or replaces the workspace's info; its other rows are kept.
  void PutWorkspace(const WorkspaceId& ws, ByteView info);
  // Removes the workspace and every row under it.
  void DeleteWorkspace(const WorkspaceId& ws);
  // Inserts a delta. The same (workspace, author, seq) with the same hash is a no-op (the stored
  // bytes and status are kept); with a different hash the Write fails with Corruption: the replica
  // keeps forks as evidence instead.
  void PutDelta(const DeltaRow& row);
  // Fails the Write with NotFound when the delta is not stored.
  void SetDeltaStatus(const WorkspaceId& ws, const Hash32& author, uint64_t seq, int32_t status);
  // Inserts or replaces a materialized record.
  void PutRecord(const WorkspaceId& ws, ByteView key, ByteView state);
  // The same, taking the bytes over instead of copying them.
  void PutRecord(const WorkspaceId& ws, Bytes&& key, Bytes&& state);
  void DeleteRecord(const WorkspaceId& ws, ByteView key);
  // Removes all records of ws, before a rebuild rewrites them.
  void ClearRecords(const WorkspaceId& ws);
  // Inserts or replaces a local action not yet sealed into a delta.
  void PutPending(const WorkspaceId& ws, uint64_t index, ByteView op);
  // Removes the pending actions with index <= up_to_index (UINT64_MAX removes all).
  void ClearPending(const WorkspaceId& ws, uint64_t up_to_index);
  // Appends evidence; identical evidence appended twice is stored twice.
  void PutEvidence(const EvidenceRow& row);
  // Inserts or replaces a small per-workspace value (counters, HLC).
  void PutMeta(const WorkspaceId& ws, std::string_view key, ByteView value);
  // Inserts an attachment chunk under its id (the SHA-256 of `data`, which the caller has
  // checked: the store does not hash). Content-addressed, so an id already stored is a no-op.
  void PutChunk(const WorkspaceId& ws, const Hash32& id, ByteView data);
  // Removes a chunk (an upload that was abandoned).
  void DeleteChunk(const WorkspaceId& ws, const Hash32& id);
  // Inserts a checkpoint of a workspace (opaque canonical bytes; `id` is their SHA-256, computed
  // by the caller: the store does not hash). An id already stored is a no-op (the stored bytes
  // and their place in ListCheckpoints are kept).
  void PutCheckpoint(const WorkspaceId& ws, const Hash32& id, ByteView bytes);
  // Removes a checkpoint (superseded by a newer one).
  void DeleteCheckpoint(const WorkspaceId& ws, const Hash32& id);
  // Prunes history: removes the deltas of `author` in ws with seq <= up_to_seq; the deltas above
  // it stay. The store keeps no trace of what it pruned: a pruned delta put again is stored again
  // (the replica decides what it accepts).
  void DeleteDeltasUpTo(const WorkspaceId& ws, const Hash32& author, uint64_t up_to_seq);

  void Clear();
  size_t size() const;
  bool empty() const;

  // How a Store reads a batch. Each call returns non-OK to abort the batch.
  class Handler {
   public:
    virtual ~Handler() = default;
    virtual Status PutWorkspace(const WorkspaceId& ws, ByteView info) = 0;
    virtual Status DeleteWorkspace(const WorkspaceId& ws) = 0;
    virtual Status PutDelta(const DeltaRow& row) = 0;
    virtual Status SetDeltaStatus(const WorkspaceId& ws, const Hash32& author, uint64_t seq,
                                  int32_t status) = 0;
    virtual Status PutRecord(const WorkspaceId& ws, ByteView key, ByteView state) = 0;
    virtual Status DeleteRecord(const WorkspaceId& ws, ByteView key) = 0;
    virtual Status ClearRecords(const WorkspaceId& ws) = 0;
    virtual Status PutPending(const WorkspaceId& ws, uint64_t index, ByteView op) = 0;
    virtual Status ClearPending(const WorkspaceId& ws, uint64_t up_to_index) = 0;
    virtual Status PutEvidence(const EvidenceRow& row) = 0;
    virtual Status PutMeta(const WorkspaceId& ws, std::string_view key, ByteView value) = 0;
    virtual Status PutChunk(const WorkspaceId& ws, const Hash32& id, ByteView data) = 0;
    virtual Status DeleteChunk(const WorkspaceId& ws, const Hash32& id) = 0;
    virtual Status PutCheckpoint(const WorkspaceId& ws, const Hash32& id, ByteView bytes) = 0;
    virtual Status DeleteCheckpoint(const WorkspaceId& ws, const Hash32& id) = 0;
    virtual Status DeleteDeltasUpTo(const WorkspaceId& ws, const Hash32& author,
                                    uint64_t up_to_seq) = 0;
  };

  // Calls handler for each mutation in order. Returns the batch's own argument error without
  // calling anything, or the first error a handler call returns, annotated with the mutation.
  Status Iterate(Handler& handler) const;

 private:
  struct Mutation;
  std::vector<Mutation> mutations_;
  Status invalid_;  // first argument error; reported by Iterate
};

// What Store::Compact did. Free pages are pages the store holds that no row uses (left by deletes);
// Compact gives them back to the file system.
struct CompactResult {
  uint64_t page_size = 0;    // 0 for stores without pages (MemoryStore)
  uint64_t pages_freed = 0;  // returned to the file system by this call
  uint64_t free_pages = 0;   // still free after it

  uint64_t bytes_freed() const { return pages_freed * page_size; }
  uint64_t free_bytes() const { return free_pages * page_size; }
};

// How much room a store takes and how much of it is free (for metrics, `grove store info` and
// deciding when to compact).
struct StoreSpace {
  uint64_t file_bytes = 0;  // as SizeBytes
  uint64_t free_bytes = 0;  // held but unused: what Compact can give back
  // Whether Compact can give free space back. SqliteStore: false only when the open-time
  // conversion to incremental vacuum has not succeeded yet (it is retried at each open).
  bool compactable = true;
};

struct Options {
  // false: PRAGMA synchronous=NORMAL in WAL mode. Survives kill -9 of the process; a power loss
  // may lose the last commits (never corrupts). true: FULL, each Write is on disk when it returns.
  bool sync_full = false;
  bool create_if_missing = true;
};

// Implementations: SqliteStore (sqlite_store.h), MemoryStore (memory_store.h). Both behave alike.
class Store {
 public:
  virtual ~Store() = default;

  // Applies the batch atomically; on error nothing of the batch is applied. An empty batch is OK.
  virtual Status Write(const WriteBatch& batch) = 0;

  // All workspaces and their info, ordered by id.
  virtual Result<std::vector<std::pair<WorkspaceId, Bytes>>> ListWorkspaces() = 0;

  // Calls fn for every delta of ws in (author, seq) order; fn returns false to stop early. The
  // row passed to fn is reused between calls.
  virtual Status ForEachDelta(const WorkspaceId& ws,
                              const std::function<bool(const DeltaRow&)>& fn) = 0;
  virtual Result<std::optional<DeltaRow>> GetDelta(const WorkspaceId& ws, const Hash32& author,
                                                   uint64_t seq) = 0;

  // Calls fn for every record of ws in key byte order; fn returns false to stop early. The views
  // are valid only during the call.
  virtual Status ForEachRecord(const WorkspaceId& ws,
                               const std::function<bool(ByteView key, ByteView state)>& fn) = 0;

  // Pending actions of ws, ordered by index.
  virtual Result<std::vector<std::pair<uint64_t, Bytes>>> LoadPending(const WorkspaceId& ws) = 0;

  // Evidence of ws, in the order it was written.
  virtual Result<std::vector<EvidenceRow>> ListEvidence(const WorkspaceId& ws) = 0;

  virtual Result<std::optional<Bytes>> GetMeta(const WorkspaceId& ws, std::string_view key) = 0;

  // An attachment chunk's bytes, or nullopt when this store does not hold it.
  virtual Result<std::optional<Bytes>> GetChunk(const WorkspaceId& ws, const Hash32& id) = 0;
  // Whether the chunk is held, without reading it.
  virtual Result<bool> HasChunk(const WorkspaceId& ws, const Hash32& id) = 0;

  // A checkpoint's bytes, or nullopt when this store does not hold it.
  virtual Result<std::optional<Bytes>> GetCheckpoint(const WorkspaceId& ws, const Hash32& id) = 0;
  // Every checkpoint held for ws as (id, size in bytes), oldest first (insertion order), without
  // reading their bytes.
  virtual Result<std::vector<std::pair<Hash32, uint64_t>>> ListCheckpoints(
      const WorkspaceId& ws) = 0;

  // For metrics. SqliteStore: database file plus write-ahead log. MemoryStore: sum of blob sizes.
  virtual Result<uint64_t> SizeBytes() = 0;

  // Gives free space back to the file system, at most max_bytes of it (rounded down to whole
  // pages), so that one call does bounded work: call it again while free space remains.
  // SqliteStore: an incremental vacuum of up to max_bytes / page_size pages, then, if anything was
  // freed, a checkpoint that truncates the write-ahead log so the files shrink on disk. The
  // checkpoint waits up to the busy timeout for readers; a reader it cannot wait out leaves the
  // log to a later checkpoint, which is not an error. MemoryStore: nothing to do, reports 0.
  // Errors: IOError, Unavailable (another process holds the write lock past the busy timeout).
  virtual Result<CompactResult> Compact(uint64_t max_bytes) = 0;

  // Size and free space; see StoreSpace.
  virtual Result<StoreSpace> Space() = 0;
};

// Opens (creating if options allow) the SQLite database at path: WAL mode, foreign keys on, a busy
// timeout, a quick integrity check, then schema migrations up to CurrentSchemaVersion() applied in
// one transaction, then (once, for files made before compaction existed) a conversion to
// incremental auto-vacuum, which rewrites the file with VACUUM: it needs free disk space about the
// size of the store, and when it cannot run (disk full, another process reading) the store opens
// anyway, unconverted, and tries again at the next open. Errors: IOError naming the path when it
// cannot be opened (missing directory, permissions); NotFound when it does not exist and
// create_if_missing is false; FailedPrecondition when the file's schema version is newer than this
// build knows; Corruption when the file is not a Grove store or fails the integrity check. A
// refused file is left untouched.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, const Options& options);

// Same semantics, in memory: for unit tests and the simulation.
std::unique_ptr<Store> NewMemoryStore();

// The schema version this build writes (PRAGMA user_version of a store it opened).
int CurrentSchemaVersion();

}  // namespace grove::store
