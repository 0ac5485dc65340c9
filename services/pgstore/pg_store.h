// PgStore: the relay's Store, durable in PostgreSQL, and Listener: how relays sharing one database
// wake each other (DESIGN.md, "Relay/audit node").
//
// A relay is a blind replica: per workspace it keeps a replica::Workspace (which checks signatures
// and membership of the encrypted deltas) over a store::Store. PgStore is that Store. Its durable
// state is in PostgreSQL only, so several relays may share one database; in memory it keeps a
// cache of every row (a store::MemoryStore) that serves all store::Store reads. Writes go to
// PostgreSQL first, in one transaction per batch, and reach the cache only after COMMIT succeeded.
// The schema is schemas/sql/relay/NNN_*.sql, embedded at build time and applied by Open.
//
// What a relay does not store: pending local actions and attachment chunks (it makes no local
// actions and serves no chunks). A batch with PutPending or PutChunk fails with FailedPrecondition
// and nothing of it is applied; ClearPending and DeleteChunk are no-ops. LoadPending returns
// nothing, GetChunk nullopt, HasChunk false.
//
// Nor checkpoints, and it never prunes: a relay keeps full history, every delta it accepted (like
// the audit node). A batch with PutCheckpoint or DeleteDeltasUpTo fails with FailedPrecondition
// and nothing of it is applied; DeleteCheckpoint is a no-op. GetCheckpoint returns nullopt,
// ListCheckpoints nothing.
//
// Sharing a database: every delta row gets an id (bigserial) when inserted. Writers take a
// per-workspace advisory lock before inserting deltas, so within a workspace a reader that sees id
// N also sees every smaller id: DeltasAfter(ws, LastDeltaId(ws)) never skips a row. A transaction
// that inserted delta rows issues NOTIFY grove_deltas with the workspace id in hex as payload,
// once per workspace, delivered at COMMIT; a Listener on another connection (and thread) receives
// it, and the relay then reads the new rows with DeltasAfter. Workspaces another relay created
// reach this cache only through LoadWorkspace.
//
// Ownership: Open returns an owning pointer; the connection is closed when the object is
// destroyed. Values returned are copies (ForEachRecord's views: valid during the call only).
//
// Thread-safety: a PgStore is used from one thread (external locking otherwise); a Listener from
// one thread; the two share nothing and may live on different threads. Callbacks passed to
// ForEach* must not call back into the same PgStore. The latency observer runs on the calling
// thread.
//
// Failure: nothing throws; libpqxx exceptions are caught here and become a Status. Unavailable
// when PostgreSQL cannot be reached or the connection was lost (the message names host:port/db
// and libpq's reason, never a password), or when a transaction lost a deadlock twice; IOError for
// other database failures, and when the connection broke during COMMIT so that the outcome is
// unknown (the workspaces of that batch are then reloaded from PostgreSQL before the next call
// that talks to it). After a lost connection the next call reconnects once; an idle connection
// the server has closed (a restart) is replaced before use, and a call whose statement finds the
// connection dead before anything could commit reconnects and retries once by itself.
// Store errors as in store.h: FailedPrecondition for a row of a workspace that is not stored,
// Corruption for a PutDelta contradicting a stored delta, NotFound for SetDeltaStatus of a
// missing delta, InvalidArgument for a value PostgreSQL refuses as data (a text with a NUL byte
// or invalid UTF-8) or above 2^63-1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "store/memory_store.h"
#include "store/store.h"

namespace grove::pgsql {
class Session;
}

namespace grove::pgstore {

struct Options {
  // libpq URI or keyword/value string: "postgresql://grove@127.0.0.1:5433/grove",
  // "host=/run/postgresql dbname=grove". Environment defaults (PGHOST, PGPASSWORD, ~/.pgpass)
  // apply as for any libpq client.
  std::string url;
  // Unless the url sets connect_timeout itself.
  int connect_timeout_s = 5;
};

struct Usage {
  uint64_t bytes = 0;   // sum of the delta bytes
  uint64_t deltas = 0;  // number of delta rows
  friend bool operator==(const Usage&, const Usage&) = default;
};

class PgStore final : public store::Store {
 public:
  // Connects, applies pending migrations (each in its own transaction, recorded in
  // schema_migrations, serialized across processes by an advisory lock) and loads every stored row
  // into the cache from one snapshot. Unavailable "cannot reach PostgreSQL at host:port/db: <libpq
  // message>" when the server cannot be reached or refuses the login; InvalidArgument when the
  // url does not parse; FailedPrecondition when the database's schema is newer than this build
  // knows, or its recorded migrations are not this build's; Corruption when a stored row is
  // malformed (an id that is not 32 bytes).
  static Result<std::unique_ptr<PgStore>> Open(const Options& options);
  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  // One PostgreSQL transaction for the whole batch, then the same batch into the cache. PutDelta
  // of a stored (ws, author, seq) with the same hash is a no-op, with another hash Corruption. In
  // the same transaction the usage counters of the workspace and of the author device grow by the
  // delta rows actually inserted, and NOTIFY grove_deltas is issued for each workspace that got
  // new delta rows. On error nothing of the batch is applied, in PostgreSQL or in the cache. If
  // the cache refuses a batch PostgreSQL accepted (it lagged behind another relay), the batch's
  // workspaces are reloaded from PostgreSQL and Write returns OK.
  Status Write(const store::WriteBatch& batch) override;

  // Served from the cache; they do not talk to PostgreSQL and do not fail.
  Result<std::vector<std::pair<store::WorkspaceId, Bytes>>> ListWorkspaces() override;
  Status ForEachDelta(const store::WorkspaceId& ws,
                      const std::function<bool(const store::DeltaRow&)>& fn) override;
  Result<std::optional<store::DeltaRow>> GetDelta(const store::WorkspaceId& ws,
                                                  const Hash32& author, uint64_t seq) override;
  Status ForEachRecord(const store::WorkspaceId& ws,
                       const std::function<bool(ByteView key, ByteView state)>& fn) override;
  Result<std::vector<std::pair<uint64_t, Bytes>>> LoadPending(
      const store::WorkspaceId& ws) override;
  Result<std::vector<store::EvidenceRow>> ListEvidence(const store::WorkspaceId& ws) override;
  Result<std::optional<Bytes>> GetMeta(const store::WorkspaceId& ws, std::string_view key) override;
  Result<std::optional<Bytes>> GetChunk(const store::WorkspaceId& ws, const Hash32& id) override;
  Result<bool> HasChunk(const store::WorkspaceId& ws, const Hash32& id) override;
  Result<std::optional<Bytes>> GetCheckpoint(const store::WorkspaceId& ws,
                                             const Hash32& id) override;
  Result<std::vector<std::pair<Hash32, uint64_t>>> ListCheckpoints(
      const store::WorkspaceId& ws) override;
  // Bytes held in the cache (as MemoryStore counts them), not the database's size on disk.
  Result<uint64_t> SizeBytes() override;
  Result<store::CompactResult> Compact(uint64_t max_bytes) override;
  Result<store::StoreSpace> Space() override;

  // Authoritative, read from PostgreSQL (shared by every relay on the database). Zero for a
  // workspace or device with no delta rows.
  Result<Usage> WorkspaceUsage(const store::WorkspaceId& ws);
  Result<Usage> DeviceUsage(const Hash32& device);

  // Delta rows of ws with id > after, inserted by any process, in id order, at most `limit`, as
  // (id, row) pairs. The cache is not changed: the caller applies them through its replica, whose
  // Write then stores them here (a no-op in PostgreSQL). Raises LastDeltaId(ws) to the last id.
  Result<std::vector<std::pair<int64_t, store::DeltaRow>>> DeltasAfter(const store::WorkspaceId& ws,
                                                                       int64_t after, size_t limit);
  // Highest delta row id of ws this store has seen (loaded, written, or read by DeltasAfter); 0 if
  // none.
  int64_t LastDeltaId(const store::WorkspaceId& ws) const;

  // Workspaces stored in PostgreSQL that the cache does not hold (another relay stored them), in
  // id order.
  Result<std::vector<store::WorkspaceId>> UnloadedWorkspaces();
  // Replaces the cache's copy of ws with its rows in PostgreSQL, read from one snapshot. NotFound
  // when PostgreSQL does not hold ws (the cache then drops it too).
  Status LoadWorkspace(const store::WorkspaceId& ws);

  // SELECT 1, for /healthz: the round trip in seconds.
  Result<double> Ping();

  // fn is called with the seconds of every transaction and query this store runs against
  // PostgreSQL (successful or not), for a latency histogram. Empty fn: none.
  void SetLatencyObserver(std::function<void(double seconds)> fn);

 private:
  explicit PgStore(std::unique_ptr<pgsql::Session> session);

  Status LoadAll();
  // Reads ws (or every workspace when nullopt) from one snapshot and applies it to the cache.
  Status Load(const std::optional<store::WorkspaceId>& only, bool* found);
  // Reloads the workspaces whose cache may differ from PostgreSQL; OK when there are none.
  Status ReloadSuspects();
  void SeeDeltaId(const store::WorkspaceId& ws, int64_t id);

  std::unique_ptr<pgsql::Session> session_;
  store::MemoryStore cache_;
  std::map<store::WorkspaceId, int64_t> last_delta_id_;
  // Workspaces whose cached rows may not match PostgreSQL (a COMMIT of unknown outcome).
  std::set<store::WorkspaceId> suspects_;
};

// A connection of its own that LISTENs on grove_deltas.
class Listener {
 public:
  // Unavailable as PgStore::Open when the server cannot be reached.
  static Result<std::unique_ptr<Listener>> Open(const Options& options);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Blocks on the connection's socket up to timeout_ms (0: only what has arrived) for
  // notifications; returns the workspace ids notified since the last call, deduplicated, in id
  // order; empty when none came. Payloads that are not a workspace id are ignored. Unavailable
  // when the connection is lost: the Listener is then dead, the caller opens a new one (with
  // backoff) and should catch up with DeltasAfter, since notifications are not queued for it.
  Result<std::vector<store::WorkspaceId>> Wait(int timeout_ms);

 private:
  struct Impl;
  explicit Listener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace grove::pgstore
