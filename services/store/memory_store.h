// MemoryStore: the Store kept in ordinary containers, for unit tests and the deterministic
// simulation. Same contract and orderings as SqliteStore (store.h), including atomic writes and
// the errors a batch fails with; nothing survives the object.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/store.h"

namespace grove::store {

class MemoryStore final : public Store {
 public:
  MemoryStore() = default;

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

  struct Delta {
    Hash32 hash;
    Bytes bytes;
    int32_t status;
  };
  // Ordered containers give the same iteration order as SQLite's ORDER BY on blobs (memcmp, then
  // length) and integers.
  struct Workspace {
    Bytes info;
    std::map<std::pair<Hash32, uint64_t>, Delta> deltas;
    std::map<Bytes, Bytes> records;
    std::map<uint64_t, Bytes> pending;
    std::vector<EvidenceRow> evidence;
    std::map<std::string, Bytes, std::less<>> meta;
    std::map<Hash32, Bytes> chunks;
    std::vector<std::pair<Hash32, Bytes>> checkpoints;  // insertion order; a workspace has few
  };

 private:
  const Workspace* Find(const WorkspaceId& ws) const;

  std::map<WorkspaceId, Workspace> workspaces_;
};

}  // namespace grove::store
