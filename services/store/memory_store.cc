#include "store/memory_store.h"

#include <algorithm>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/internal.h"

namespace grove::store {

namespace {

using Workspace = MemoryStore::Workspace;
using Workspaces = std::map<WorkspaceId, Workspace>;

Bytes Copy(ByteView v) { return Bytes(v.begin(), v.end()); }

// Applies mutations in place and logs how to revert each one, so a failing batch can be undone in
// time proportional to the batch rather than by copying the whole store up front. Undo closures
// look workspaces up by id: DeleteWorkspace and its undo recreate the map node, so a pointer taken
// earlier in the batch may be stale by the time an undo runs.
class Applier final : public WriteBatch::Handler {
 public:
  explicit Applier(Workspaces& all) : all_(all) {}

  // Reverts every applied mutation, newest first.
  void Undo() {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) (*it)();
    undo_.clear();
  }

  Status PutWorkspace(const WorkspaceId& id, ByteView info) override {
    auto [it, inserted] = all_.try_emplace(id);
    if (inserted) {
      undo_.push_back([this, id] { all_.erase(id); });
    } else {
      undo_.push_back([this, id, old = it->second.info] { all_.at(id).info = old; });
    }
    it->second.info = Copy(info);
    return Status::Ok();
  }

  Status DeleteWorkspace(const WorkspaceId& id) override {
    auto it = all_.find(id);
    if (it == all_.end()) return Status::Ok();
    undo_.push_back([this, id, old = std::move(it->second)] { all_.emplace(id, old); });
    all_.erase(it);
    return Status::Ok();
  }

  Status PutDelta(const DeltaRow& row) override {
    Workspace* w = Find(row.workspace);
    if (w == nullptr) return internal::WorkspaceMissing();
    std::pair<Hash32, uint64_t> key(row.author, row.seq);
    auto it = w->deltas.find(key);
    if (it != w->deltas.end()) {
      if (it->second.hash != row.hash) return internal::DeltaConflict(row.author, row.seq);
      return Status::Ok();
    }
    RememberEntry(&Workspace::deltas, row.workspace, key);
    w->deltas.emplace(key, MemoryStore::Delta{row.hash, row.bytes, row.status});
    return Status::Ok();
  }

  Status SetDeltaStatus(const WorkspaceId& ws, const Hash32& author, uint64_t seq,
                        int32_t status) override {
    Workspace* w = Find(ws);
    std::pair<Hash32, uint64_t> key(author, seq);
    if (w == nullptr || !w->deltas.contains(key)) return internal::DeltaMissing(author, seq);
    RememberEntry(&Workspace::deltas, ws, key);
    w->deltas.at(key).status = status;
    return Status::Ok();
  }

  Status PutRecord(const WorkspaceId& ws, ByteView key, ByteView state) override {
    return PutEntry(&Workspace::records, ws, Copy(key), Copy(state));
  }

  Status DeleteRecord(const WorkspaceId& ws, ByteView key) override {
    return DeleteEntry(&Workspace::records, ws, Copy(key));
  }

  Status ClearRecords(const WorkspaceId& ws) override {
    Workspace* w = Find(ws);
    if (w == nullptr) return Status::Ok();
    undo_.push_back([this, ws, old = std::move(w->records)] { all_.at(ws).records = old; });
    w->records.clear();  // a moved-from map is only "valid but unspecified"
    return Status::Ok();
  }

  Status PutPending(const WorkspaceId& ws, uint64_t index, ByteView op) override {
    return PutEntry(&Workspace::pending, ws, index, Copy(op));
  }

  Status ClearPending(const WorkspaceId& ws, uint64_t up_to_index) override {
    Workspace* w = Find(ws);
    if (w == nullptr) return Status::Ok();
    auto end = w->pending.upper_bound(up_to_index);
    std::map<uint64_t, Bytes> removed(std::make_move_iterator(w->pending.begin()),
                                      std::make_move_iterator(end));
    w->pending.erase(w->pending.begin(), end);
    undo_.push_back(
        [this, ws, removed] { all_.at(ws).pending.insert(removed.begin(), removed.end()); });
    return Status::Ok();
  }

  Status PutEvidence(const EvidenceRow& row) override {
    Workspace* w = Find(row.workspace);
    if (w == nullptr) return internal::WorkspaceMissing();
    w->evidence.push_back(row);
    undo_.push_back([this, ws = row.workspace] { all_.at(ws).evidence.pop_back(); });
    return Status::Ok();
  }

  Status PutMeta(const WorkspaceId& ws, std::string_view key, ByteView value) override {
    return PutEntry(&Workspace::meta, ws, std::string(key), Copy(value));
  }

  Status PutChunk(const WorkspaceId& ws, const Hash32& id, ByteView data) override {
    Workspace* w = Find(ws);
    if (w == nullptr) return internal::WorkspaceMissing();
    if (w->chunks.contains(id)) return Status::Ok();  // content-addressed: same id, same bytes
    return PutEntry(&Workspace::chunks, ws, id, Copy(data));
  }

  Status DeleteChunk(const WorkspaceId& ws, const Hash32& id) override {
    return DeleteEntry(&Workspace::chunks, ws, id);
  }

  // Undo runs newest first, so when a checkpoint mutation is undone the list is as that mutation
  // left it: an insert is still the last element, and a removed one goes back where it was.
  Status PutCheckpoint(const WorkspaceId& ws, const Hash32& id, ByteView bytes) override {
    Workspace* w = Find(ws);
    if (w == nullptr) return internal::WorkspaceMissing();
    if (FindCheckpoint(*w, id) != w->checkpoints.end()) return Status::Ok();  // same id, same bytes
    w->checkpoints.emplace_back(id, Copy(bytes));
    undo_.push_back([this, ws] { all_.at(ws).checkpoints.pop_back(); });
    return Status::Ok();
  }

  Status DeleteCheckpoint(const WorkspaceId& ws, const Hash32& id) override {
    Workspace* w = Find(ws);
    if (w == nullptr) return Status::Ok();
    auto it = FindCheckpoint(*w, id);
    if (it == w->checkpoints.end()) return Status::Ok();
    const auto index = it - w->checkpoints.begin();
    undo_.push_back([this, ws, index, old = std::move(*it)] {
      auto& list = all_.at(ws).checkpoints;
      list.insert(list.begin() + index, old);
    });
    w->checkpoints.erase(it);
    return Status::Ok();
  }

  Status DeleteDeltasUpTo(const WorkspaceId& ws, const Hash32& author,
                          uint64_t up_to_seq) override {
    Workspace* w = Find(ws);
    if (w == nullptr) return Status::Ok();
    auto begin = w->deltas.lower_bound({author, 0});
    auto end = w->deltas.upper_bound({author, up_to_seq});
    if (begin == end) return Status::Ok();
    std::map<std::pair<Hash32, uint64_t>, MemoryStore::Delta> removed(
        std::make_move_iterator(begin), std::make_move_iterator(end));
    w->deltas.erase(begin, end);
    undo_.push_back([this, ws, removed = std::move(removed)] {
      all_.at(ws).deltas.insert(removed.begin(), removed.end());
    });
    return Status::Ok();
  }

 private:
  Workspace* Find(const WorkspaceId& ws) {
    auto it = all_.find(ws);
    return it == all_.end() ? nullptr : &it->second;
  }

  static std::vector<std::pair<Hash32, Bytes>>::iterator FindCheckpoint(Workspace& w,
                                                                        const Hash32& id) {
    return std::find_if(w.checkpoints.begin(), w.checkpoints.end(),
                        [&](const auto& entry) { return entry.first == id; });
  }

  // Logs the current value of map[key] (or its absence) so Undo can put it back.
  template <typename Map>
  void RememberEntry(Map Workspace::*map, const WorkspaceId& ws,
                     const typename Map::key_type& key) {
    const Map& m = all_.at(ws).*map;
    auto it = m.find(key);
    std::optional<typename Map::mapped_type> old;
    if (it != m.end()) old = it->second;
    undo_.push_back([this, map, ws, key, old] {
      Map& restored = all_.at(ws).*map;
      if (old) {
        restored.insert_or_assign(key, *old);
      } else {
        restored.erase(key);
      }
    });
  }

  template <typename Map>
  Status PutEntry(Map Workspace::*map, const WorkspaceId& ws, typename Map::key_type key,
                  typename Map::mapped_type value) {
    Workspace* w = Find(ws);
    if (w == nullptr) return internal::WorkspaceMissing();
    RememberEntry(map, ws, key);
    (w->*map).insert_or_assign(std::move(key), std::move(value));
    return Status::Ok();
  }

  template <typename Map>
  Status DeleteEntry(Map Workspace::*map, const WorkspaceId& ws,
                     const typename Map::key_type& key) {
    Workspace* w = Find(ws);
    if (w == nullptr || !(w->*map).contains(key)) return Status::Ok();
    RememberEntry(map, ws, key);
    (w->*map).erase(key);
    return Status::Ok();
  }

  Workspaces& all_;
  std::vector<std::function<void()>> undo_;
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore() { return std::make_unique<MemoryStore>(); }

const Workspace* MemoryStore::Find(const WorkspaceId& ws) const {
  auto it = workspaces_.find(ws);
  return it == workspaces_.end() ? nullptr : &it->second;
}

Status MemoryStore::Write(const WriteBatch& batch) {
  Applier applier(workspaces_);
  Status s = batch.Iterate(applier);
  if (!s.ok()) applier.Undo();
  return s;
}

Result<std::vector<std::pair<WorkspaceId, Bytes>>> MemoryStore::ListWorkspaces() {
  std::vector<std::pair<WorkspaceId, Bytes>> out;
  for (const auto& [id, w] : workspaces_) out.emplace_back(id, w.info);
  return out;
}

Status MemoryStore::ForEachDelta(const WorkspaceId& ws,
                                 const std::function<bool(const DeltaRow&)>& fn) {
  const Workspace* w = Find(ws);
  if (w == nullptr) return Status::Ok();
  DeltaRow row;
  row.workspace = ws;
  for (const auto& [key, delta] : w->deltas) {
    row.author = key.first;
    row.seq = key.second;
    row.hash = delta.hash;
    row.bytes = delta.bytes;
    row.status = delta.status;
    if (!fn(row)) break;
  }
  return Status::Ok();
}

Result<std::optional<DeltaRow>> MemoryStore::GetDelta(const WorkspaceId& ws, const Hash32& author,
                                                      uint64_t seq) {
  const Workspace* w = Find(ws);
  if (w == nullptr) return std::optional<DeltaRow>();
  auto it = w->deltas.find({author, seq});
  if (it == w->deltas.end()) return std::optional<DeltaRow>();
  const Delta& d = it->second;
  return std::optional<DeltaRow>(DeltaRow{ws, author, seq, d.hash, d.bytes, d.status});
}

Status MemoryStore::ForEachRecord(const WorkspaceId& ws,
                                  const std::function<bool(ByteView key, ByteView state)>& fn) {
  const Workspace* w = Find(ws);
  if (w == nullptr) return Status::Ok();
  for (const auto& [key, state] : w->records) {
    if (!fn(key, state)) break;
  }
  return Status::Ok();
}

Result<std::vector<std::pair<uint64_t, Bytes>>> MemoryStore::LoadPending(const WorkspaceId& ws) {
  const Workspace* w = Find(ws);
  if (w == nullptr) return std::vector<std::pair<uint64_t, Bytes>>();
  return std::vector<std::pair<uint64_t, Bytes>>(w->pending.begin(), w->pending.end());
}

Result<std::vector<EvidenceRow>> MemoryStore::ListEvidence(const WorkspaceId& ws) {
  const Workspace* w = Find(ws);
  if (w == nullptr) return std::vector<EvidenceRow>();
  return w->evidence;
}

Result<std::optional<Bytes>> MemoryStore::GetMeta(const WorkspaceId& ws, std::string_view key) {
  const Workspace* w = Find(ws);
  if (w == nullptr) return std::optional<Bytes>();
  auto it = w->meta.find(key);
  if (it == w->meta.end()) return std::optional<Bytes>();
  return std::optional<Bytes>(it->second);
}

Result<std::optional<Bytes>> MemoryStore::GetChunk(const WorkspaceId& ws, const Hash32& id) {
  const Workspace* w = Find(ws);
  if (w == nullptr) return std::optional<Bytes>();
  auto it = w->chunks.find(id);
  if (it == w->chunks.end()) return std::optional<Bytes>();
  return std::optional<Bytes>(it->second);
}

Result<bool> MemoryStore::HasChunk(const WorkspaceId& ws, const Hash32& id) {
  const Workspace* w = Find(ws);
  return w != nullptr && w->chunks.contains(id);
}

Result<std::optional<Bytes>> MemoryStore::GetCheckpoint(const WorkspaceId& ws, const Hash32& id) {
  const Workspace* w = Find(ws);
  if (w == nullptr) return std::optional<Bytes>();
  for (const auto& [stored, bytes] : w->checkpoints) {
    if (stored == id) return std::optional<Bytes>(bytes);
  }
  return std::optional<Bytes>();
}

Result<std::vector<std::pair<Hash32, uint64_t>>> MemoryStore::ListCheckpoints(
    const WorkspaceId& ws) {
  std::vector<std::pair<Hash32, uint64_t>> out;
  const Workspace* w = Find(ws);
  if (w == nullptr) return out;
  for (const auto& [id, bytes] : w->checkpoints) out.emplace_back(id, bytes.size());
  return out;
}

Result<uint64_t> MemoryStore::SizeBytes() {
  uint64_t total = 0;
  for (const auto& [id, w] : workspaces_) {
    total += w.info.size();
    for (const auto& [key, d] : w.deltas) total += d.bytes.size();
    for (const auto& [key, state] : w.records) total += key.size() + state.size();
    for (const auto& [index, op] : w.pending) total += op.size();
    for (const EvidenceRow& e : w.evidence) total += e.bytes.size();
    for (const auto& [key, value] : w.meta) total += key.size() + value.size();
    for (const auto& [chunk, data] : w.chunks) total += chunk.size() + data.size();
    for (const auto& [cp, bytes] : w.checkpoints) total += cp.size() + bytes.size();
  }
  return total;
}

// Containers give memory back as rows go: nothing is ever left to compact.
Result<CompactResult> MemoryStore::Compact(uint64_t /*max_bytes*/) { return CompactResult{}; }

Result<StoreSpace> MemoryStore::Space() {
  GROVE_ASSIGN_OR_RETURN(uint64_t size, SizeBytes());
  return StoreSpace{.file_bytes = size, .free_bytes = 0, .compactable = true};
}

}  // namespace grove::store
