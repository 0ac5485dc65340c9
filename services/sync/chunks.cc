// SyncNode's attachment chunk exchange (sync.h, "Attachment chunks"; decision 0005): asking
// members for chunks, serving them, and checking what arrives before it is stored.
#include <algorithm>
#include <deque>
#include <set>

#include "attachments/attachments.h"
#include "grove/v1/sync.pb.h"
#include "sync/connection.h"

namespace grove::sync {
namespace {

namespace w = grove::wire::v1;

std::string ShortHex(const Hash32& id) { return HexEncode(ByteView(id).first(8)); }

}  // namespace

void SyncNode::SetChunkStore(store::Store* store) { chunk_store_ = store; }

bool SyncNode::CanAskForChunks(const Connection& c, const WorkspaceId& ws_id) {
  replica::Workspace* ws = Find(ws_id);
  return c.ready && ws != nullptr && IsMember(*ws, c.device) &&
         c.chunks_in_flight < kMaxChunksInFlight;
}

void SyncNode::FetchChunks(const WorkspaceId& ws, const std::vector<Hash32>& ids) {
  if (chunk_store_ == nullptr || Find(ws) == nullptr) return;
  for (const Hash32& id : ids) {
    auto held = chunk_store_->HasChunk(ws, id);
    if (!held.ok() || *held) continue;
    auto [it, added] = chunk_wants_.try_emplace({ws, id});
    ChunkWant& want = it->second;
    if (added) {
      want.order = next_chunk_order_++;
      chunk_order_.emplace(want.order, it->first);
    }
    // A new attempt: members that lacked it before may have it now.
    if (want.in_flight == 0) want.asked.clear();
  }
  DispatchChunkRequests();
}

void SyncNode::EraseWant(std::map<ChunkKey, ChunkWant>::iterator it) {
  chunk_order_.erase(it->second.order);
  chunk_wants_.erase(it);
}

void SyncNode::ForgetChunks(const WorkspaceId& ws, const std::vector<Hash32>& ids) {
  for (const Hash32& id : ids) {
    auto it = chunk_wants_.find({ws, id});
    if (it == chunk_wants_.end()) continue;
    if (it->second.in_flight != 0) {
      auto c = connections_.find(it->second.in_flight);
      if (c != connections_.end() && c->second->chunks_in_flight > 0) {
        --c->second->chunks_in_flight;
      }
    }
    EraseWant(it);
  }
}

Result<ChunkState> SyncNode::StateOf(const WorkspaceId& ws, const Hash32& id) {
  if (chunk_store_ == nullptr) return ChunkState::kUnavailable;
  GROVE_ASSIGN_OR_RETURN(bool held, chunk_store_->HasChunk(ws, id));
  if (held) return ChunkState::kHeld;
  auto it = chunk_wants_.find({ws, id});
  if (it == chunk_wants_.end()) return ChunkState::kUnavailable;
  if (it->second.in_flight != 0) return ChunkState::kFetching;
  // Not asked of anyone now: fetching only if some member connection has not said no yet.
  replica::Workspace* workspace = Find(ws);
  for (const auto& [cid, c] : connections_) {
    if (c->ready && workspace != nullptr && IsMember(*workspace, c->device) &&
        !it->second.asked.count(cid)) {
      return ChunkState::kFetching;
    }
  }
  return ChunkState::kUnavailable;
}

// Hands each wanted chunk nobody has now, oldest want first, to a member connection that has not
// said it lacks it, in requests of at most kMaxChunkIdsPerRequest ids. Runs after every Chunks
// frame: it stops once no connection can take more, so a file of many chunks costs each run
// about the chunks it hands out, not all that are wanted.
void SyncNode::DispatchChunkRequests() {
  size_t room = 0;
  for (const auto& [cid, c] : connections_) {
    if (c->ready && c->chunks_in_flight < kMaxChunksInFlight) {
      room += kMaxChunksInFlight - c->chunks_in_flight;
    }
  }
  std::map<std::pair<ConnectionId, WorkspaceId>, w::Frame> requests;
  for (auto order = chunk_order_.begin(); order != chunk_order_.end() && room > 0; ++order) {
    const ChunkKey& key = order->second;
    ChunkWant& want = chunk_wants_.at(key);
    if (want.in_flight != 0) continue;
    const WorkspaceId& ws = key.first;
    for (auto& [cid, c] : connections_) {
      if (want.asked.count(cid) || !CanAskForChunks(*c, ws)) continue;
      w::Frame& frame = requests[{cid, ws}];
      w::ChunkRequest* r = frame.mutable_chunk_request();
      if (static_cast<size_t>(r->ids_size()) >= kMaxChunkIdsPerRequest) continue;
      if (r->workspace().empty()) r->set_workspace(ws.data(), ws.size());
      r->add_ids(key.second.data(), key.second.size());
      want.in_flight = cid;
      ++c->chunks_in_flight;
      --room;
      break;
    }
  }
  for (auto& [key, frame] : requests) {
    auto it = connections_.find(key.first);
    if (it != connections_.end()) SendFrame(*it->second, frame.SerializeAsString());
  }
}

void SyncNode::OnChunkRequest(Connection& c, const w::ChunkRequest& request) {
  auto ws_id = ToHash32(AsBytes(request.workspace()));
  if (!ws_id) return Fail(c, InvalidArgument("chunk request: workspace id is not 32 bytes"));
  if (static_cast<size_t>(request.ids_size()) > kMaxChunkIdsPerRequest) {
    return Fail(c, InvalidArgument("chunk request: more than " +
                                   std::to_string(kMaxChunkIdsPerRequest) + " ids"));
  }
  replica::Workspace* ws = Find(*ws_id);
  const bool member = ws != nullptr && IsMember(*ws, c.device);
  w::Frame refusal;
  w::Chunks* out = refusal.mutable_chunks();
  out->set_workspace(request.workspace());
  for (const std::string& raw : request.ids()) {
    auto id = ToHash32(AsBytes(raw));
    if (!id) return Fail(c, InvalidArgument("chunk request: a chunk id is not 32 bytes"));
    if (!member || chunk_store_ == nullptr || c.to_serve.size() >= kMaxChunksQueuedToServe) {
      out->add_missing(raw);
    } else {
      c.to_serve.emplace_back(*ws_id, *id);
    }
  }
  if (!member) {
    // Chunk contents are encrypted, but who holds which file is still the workspace's business.
    out->set_refused(true);
    if (observer_.note) {
      observer_.note(
          c.id, "refused chunks of workspace " + ShortHex(*ws_id) + " to non-member " + c.name);
    }
  }
  if (out->missing_size() > 0) SendFrame(c, refusal.SerializeAsString());
  ServeChunks(c);
}

// Answers queued requests in frames of about batch_bytes while the connection's queue has
// room; Pump() continues when it drains.
void SyncNode::ServeChunks(Connection& c) {
  const size_t batch = std::min<size_t>(options_.batch_bytes, c.max_frame_bytes / 2);
  while (!c.to_serve.empty()) {
    if (transport_.Queued(c.id) >= options_.max_queued_bytes) return;
    const WorkspaceId ws = c.to_serve.front().first;
    w::Frame frame;
    w::Chunks* out = frame.mutable_chunks();
    out->set_workspace(ws.data(), ws.size());
    size_t bytes = 0;
    while (!c.to_serve.empty() && c.to_serve.front().first == ws && bytes < batch) {
      const Hash32 id = c.to_serve.front().second;
      auto data = chunk_store_->GetChunk(ws, id);
      // A chunk the remote's frame limit cannot take is as good as missing to it.
      if (!data.ok() || !data->has_value() || (*data)->size() + 256 > c.max_frame_bytes) {
        c.to_serve.pop_front();
        out->add_missing(id.data(), id.size());
        continue;
      }
      if (bytes > 0 && bytes + (*data)->size() > batch) break;  // goes in the next frame
      c.to_serve.pop_front();
      w::Chunk* chunk = out->add_chunks();
      chunk->set_id(id.data(), id.size());
      chunk->set_data((*data)->data(), (*data)->size());
      bytes += (*data)->size();
    }
    SendFrame(c, frame.SerializeAsString());
  }
}

void SyncNode::OnChunks(Connection& c, const w::Chunks& in) {
  auto ws_id = ToHash32(AsBytes(in.workspace()));
  if (!ws_id) return Fail(c, InvalidArgument("chunks: workspace id is not 32 bytes"));
  // Only answers to what this node asked of this connection count: a peer cannot fill the
  // store with chunks nobody wanted.
  auto take = [&](const Hash32& id) -> bool {
    auto it = chunk_wants_.find({*ws_id, id});
    if (it == chunk_wants_.end() || it->second.in_flight != c.id) return false;
    it->second.in_flight = 0;
    if (c.chunks_in_flight > 0) --c.chunks_in_flight;
    return true;
  };
  auto lacked = [&](const Hash32& id) {
    auto it = chunk_wants_.find({*ws_id, id});
    if (it != chunk_wants_.end()) it->second.asked.insert(c.id);
  };
  store::WriteBatch batch;
  std::vector<Hash32> stored;
  size_t corrupted = 0;
  for (const w::Chunk& chunk : in.chunks()) {
    auto id = ToHash32(AsBytes(chunk.id()));
    if (!id || !take(*id)) continue;
    Status ok = attachments::VerifyChunk(*id, AsBytes(chunk.data()));
    if (!ok.ok()) {
      ++corrupted;
      lacked(*id);  // ask someone else
      if (observer_.note)
        observer_.note(c.id, "rejected chunk from " + c.name + ": " + ok.ToString());
      continue;
    }
    batch.PutChunk(*ws_id, *id, AsBytes(chunk.data()));
    stored.push_back(*id);
  }
  for (const std::string& raw : in.missing()) {
    auto id = ToHash32(AsBytes(raw));
    if (id && take(*id)) lacked(*id);
  }
  if (!batch.empty() && chunk_store_ != nullptr) {
    Status s = chunk_store_->Write(batch);
    if (!s.ok()) {
      if (observer_.note) observer_.note(c.id, "storing chunks failed: " + s.ToString());
      stored.clear();
    }
  }
  for (const Hash32& id : stored) {
    auto it = chunk_wants_.find({*ws_id, id});
    if (it != chunk_wants_.end()) EraseWant(it);
  }
  if (observer_.chunks && (!stored.empty() || corrupted > 0)) {
    observer_.chunks(*ws_id, stored.size(), corrupted, c.id);
  }
  DispatchChunkRequests();
}

}  // namespace grove::sync
