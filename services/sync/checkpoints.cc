// SyncNode's checkpoint exchange (sync.h, "Checkpoints"; decision 0011): sending the checkpoint
// in force to a member that needs deltas this node pruned, asking members for a trusted
// checkpoint the replica lacks, and checking what arrives before the replica takes it.
#include <zstd.h>

#include <algorithm>

#include "grove/v1/sync.pb.h"
#include "sync/connection.h"

namespace grove::sync {
namespace {

namespace w = grove::wire::v1;

std::string ShortHex(const Hash32& id) { return HexEncode(ByteView(id).first(8)); }

// Checkpoints are mostly record state, which compresses well; level 3 keeps the event loop
// quick on large ones.
constexpr int kZstdLevel = 3;
// The longest zstd frame header (ZSTD_FRAMEHEADERSIZE_MAX, only in zstd's static API).
constexpr size_t kZstdHeaderMax = 18;

// The size the zstd frame header announces; an error for a frame that does not say it or says
// more than the limit.
Result<uint64_t> AnnouncedSize(ByteView packed) {
  const unsigned long long size = ZSTD_getFrameContentSize(packed.data(), packed.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) return Corruption("checkpoint is not a zstd frame");
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Corruption("checkpoint's zstd frame does not announce its size");
  }
  if (size > kMaxCheckpointBytes) {
    return ResourceExhausted("checkpoint of " + std::to_string(size) +
                             " bytes decompressed is over the limit of " +
                             std::to_string(kMaxCheckpointBytes));
  }
  return static_cast<uint64_t>(size);
}

}  // namespace

bool SyncNode::TakesCheckpointsFrom(replica::Workspace& ws, const Connection& c) const {
  if (options_.blind || c.relay || !c.ready) return false;
  if (IsMember(ws, c.device)) return true;
  // A new member knows only the genesis's members until the checkpoint brings the rest.
  auto intro = introducers_.find(ws.id());
  return intro != introducers_.end() && intro->second == c.device;
}

void SyncNode::OfferCheckpoint(Connection& c, replica::Workspace& ws) {
  // What the remote holds is known from its Have; what it was sent alone says too little.
  if (!c.have_received.count(ws.id())) return;
  std::optional<replica::CheckpointInfo> barrier = ws.Barrier();
  if (!barrier) return;
  auto [it, fresh] = c.checkpoint_offered.emplace(ws.id(), barrier->id);
  if (!fresh && it->second == barrier->id) return;  // sent already: waiting for its Have
  it->second = barrier->id;
  if (c.relay || options_.blind) {
    // Relays keep the whole history and take no checkpoints: what this node pruned must reach
    // the relay from a member that still holds it.
    if (observer_.note) {
      observer_.note(c.id, "the relay lacks deltas of workspace " + ShortHex(ws.id()) +
                               " that this node pruned; they cannot be sent from here");
    }
    return;
  }
  if (!QueueCheckpoint(c, ws, barrier->id)) return;
  if (observer_.note) {
    observer_.note(c.id, "sending checkpoint " + ShortHex(barrier->id) + " of workspace " +
                             ShortHex(ws.id()) + " to " + c.name + ": it needs deltas pruned here");
  }
  ServeCheckpoints(c);
}

std::shared_ptr<const Bytes> SyncNode::PackedCheckpoint(Connection& c, replica::Workspace& ws,
                                                        const Hash32& id) {
  const auto key = std::make_pair(ws.id(), id);
  if (auto cached = packed_checkpoints_[key].lock()) return cached;
  std::erase_if(packed_checkpoints_, [](const auto& entry) { return entry.second.expired(); });
  auto note = [&](const std::string& what) {
    if (observer_.note) {
      observer_.note(c.id, "cannot send checkpoint " + ShortHex(id) + " of workspace " +
                               ShortHex(ws.id()) + ": " + what);
    }
  };
  Result<std::optional<Bytes>> bytes = ws.CheckpointBytes(id);
  if (!bytes.ok()) {
    note(bytes.status().ToString());
    return nullptr;
  }
  if (!bytes->has_value()) {
    note("not held here");
    return nullptr;
  }
  const Bytes& plain = **bytes;
  auto packed = std::make_shared<Bytes>(ZSTD_compressBound(plain.size()));
  const size_t n =
      ZSTD_compress(packed->data(), packed->size(), plain.data(), plain.size(), kZstdLevel);
  if (ZSTD_isError(n)) {
    note(std::string("compression failed: ") + ZSTD_getErrorName(n));
    return nullptr;
  }
  packed->resize(n);
  if (packed->size() > kMaxCheckpointPackedBytes) {
    note(std::to_string(packed->size()) + " bytes compressed is over what peers accept");
    return nullptr;
  }
  std::shared_ptr<const Bytes> shared = std::move(packed);
  packed_checkpoints_[key] = shared;
  return shared;
}

bool SyncNode::QueueCheckpoint(Connection& c, replica::Workspace& ws, const Hash32& id) {
  for (const Connection::CheckpointOut& out : c.checkpoints_out) {
    if (out.ws == ws.id()) return out.id == id;
  }
  if (c.checkpoints_out.size() >= kMaxCheckpointsQueuedToServe) return false;
  std::shared_ptr<const Bytes> packed = PackedCheckpoint(c, ws, id);
  if (!packed) return false;
  c.checkpoints_out.push_back(Connection::CheckpointOut{ws.id(), id, std::move(packed), 0});
  return true;
}

// Sends queued checkpoints in parts of about batch_bytes while the connection's queue has room;
// Pump() continues when it drains.
void SyncNode::ServeCheckpoints(Connection& c) {
  // Like a Deltas frame's batch: well under what the remote accepts, framing included.
  const size_t part =
      std::max<size_t>(1, std::min<size_t>(options_.batch_bytes, c.max_frame_bytes / 2));
  while (!c.checkpoints_out.empty()) {
    if (transport_.Queued(c.id) >= options_.max_queued_bytes) return;
    Connection::CheckpointOut& out = c.checkpoints_out.front();
    const Bytes& packed = *out.packed;
    const size_t n = std::min(part, packed.size() - out.offset);
    w::Frame frame;
    w::CheckpointPart* p = frame.mutable_checkpoint_part();
    p->set_workspace(out.ws.data(), out.ws.size());
    p->set_id(out.id.data(), out.id.size());
    p->set_offset(out.offset);
    p->set_total(packed.size());
    p->set_data(packed.data() + out.offset, n);
    out.offset += n;
    const bool done = out.offset >= packed.size();
    if (done) {
      ++checkpoints_sent_;
      checkpoint_bytes_sent_ += packed.size();
      if (observer_.note) {
        observer_.note(c.id, "sent checkpoint " + ShortHex(out.id) + " (" +
                                 std::to_string(packed.size()) + " bytes compressed) to " + c.name);
      }
      c.checkpoints_out.pop_front();
    }
    SendFrame(c, frame.SerializeAsString());
  }
}

void SyncNode::OnCheckpointRequest(Connection& c, const w::CheckpointRequest& request) {
  auto ws_id = ToHash32(AsBytes(request.workspace()));
  auto id = ToHash32(AsBytes(request.id()));
  if (!ws_id || !id) {
    return Fail(c, InvalidArgument("checkpoint request: an id is not 32 bytes"));
  }
  replica::Workspace* ws = Find(*ws_id);
  const bool member = ws != nullptr && !options_.blind && !c.relay && IsMember(*ws, c.device);
  if (member && QueueCheckpoint(c, *ws, *id)) return ServeCheckpoints(c);
  w::Frame frame;
  w::CheckpointPart* p = frame.mutable_checkpoint_part();
  p->set_workspace(request.workspace());
  p->set_id(request.id());
  p->set_missing(true);
  SendFrame(c, frame.SerializeAsString());
  if (observer_.note && ws != nullptr && !member) {
    observer_.note(
        c.id, "refused checkpoint of workspace " + ShortHex(*ws_id) + " to non-member " + c.name);
  }
}

void SyncNode::Refuse(Connection& c, const Status& reason) {
  w::Frame bye;
  bye.mutable_goodbye()->set_reason(reason.message());
  SendFrame(c, bye.SerializeAsString());
  Fail(c, reason);
}

void SyncNode::OnCheckpointPart(Connection& c, const w::CheckpointPart& part) {
  auto ws_id = ToHash32(AsBytes(part.workspace()));
  auto id = ToHash32(AsBytes(part.id()));
  if (!ws_id || !id) return Fail(c, InvalidArgument("checkpoint part: an id is not 32 bytes"));
  if (options_.blind) return;  // relays take no checkpoints
  if (part.missing()) {
    auto want = checkpoint_wants_.find(*ws_id);
    if (want != checkpoint_wants_.end() && want->second.in_flight == c.id &&
        want->second.id == *id) {
      want->second.in_flight = 0;
      want->second.asked.insert(c.id);
      if (observer_.note) {
        observer_.note(c.id, c.name + " does not hold checkpoint " + ShortHex(*id));
      }
      RequestMissingCheckpoints();
    }
    return;
  }
  const ByteView data = AsBytes(part.data());
  if (!c.checkpoint_in) {
    if (part.offset() != 0) {
      return Fail(c, InvalidArgument("checkpoint part: the first part is at offset " +
                                     std::to_string(part.offset()) + ", not 0"));
    }
    if (part.total() == 0 || part.total() > kMaxCheckpointPackedBytes) {
      return Refuse(c, ResourceExhausted("checkpoint of " + std::to_string(part.total()) +
                                         " bytes compressed refused: the limit is " +
                                         std::to_string(kMaxCheckpointPackedBytes)));
    }
    // The zstd header comes first: a checkpoint too large once decompressed is refused before
    // any more of it is taken.
    if (data.size() >= kZstdHeaderMax || data.size() == part.total()) {
      Result<uint64_t> size = AnnouncedSize(data);
      if (!size.ok()) return Refuse(c, size.status().Annotate("checkpoint refused"));
    }
    Connection::CheckpointIn in;
    in.ws = *ws_id;
    in.id = *id;
    in.total = part.total();
    replica::Workspace* ws = Find(*ws_id);
    const std::optional<replica::CheckpointInfo> barrier =
        ws != nullptr ? ws->Barrier() : std::nullopt;
    // Not for a workspace held here, not from whom this node takes checkpoints, or already
    // the base here: read to the end (the sender goes on with it) and keep nothing.
    in.discard = ws == nullptr || !TakesCheckpointsFrom(*ws, c) ||
                 (barrier && barrier->id == *id && ws->MissingCheckpoint() != *id);
    if (!in.discard) in.packed.reserve(std::min<uint64_t>(in.total, 64ull << 20));
    c.checkpoint_in = std::move(in);
  } else {
    const Connection::CheckpointIn& in = *c.checkpoint_in;
    if (in.ws != *ws_id || in.id != *id || in.total != part.total() ||
        in.received != part.offset()) {
      return Fail(c, InvalidArgument("checkpoint part out of order: expected offset " +
                                     std::to_string(in.received) + " of checkpoint " +
                                     ShortHex(in.id) + ", got offset " +
                                     std::to_string(part.offset()) + " of " + ShortHex(*id)));
    }
  }
  Connection::CheckpointIn& in = *c.checkpoint_in;
  if (data.size() > in.total - in.received) {
    return Fail(c, InvalidArgument("checkpoint part: more bytes than the checkpoint's total"));
  }
  if (!in.discard) in.packed.insert(in.packed.end(), data.begin(), data.end());
  in.received += data.size();
  if (in.received < in.total) return;
  Connection::CheckpointIn done = std::move(*c.checkpoint_in);
  c.checkpoint_in.reset();
  if (done.discard) {
    // The sender waits for a Have before it sends deltas again: tell it what is held here.
    replica::Workspace* ws = Find(done.ws);
    if (ws != nullptr && Serves(*ws, c)) SendHave(c, *ws, true);
    auto want = checkpoint_wants_.find(done.ws);
    if (want != checkpoint_wants_.end() && want->second.in_flight == c.id) {
      want->second.in_flight = 0;
      want->second.asked.insert(c.id);
      RequestMissingCheckpoints();
    }
    return;
  }
  TakeCheckpoint(c, done.ws, done.id, std::move(done.packed));
}

void SyncNode::TakeCheckpoint(Connection& c, const WorkspaceId& ws_id, const Hash32& id,
                              Bytes packed) {
  replica::Workspace* ws = Find(ws_id);
  if (ws == nullptr) return;
  const uint64_t packed_bytes = packed.size();
  Status outcome;
  Bytes plain;
  Result<uint64_t> size = AnnouncedSize(packed);
  if (!size.ok()) {
    outcome = size.status();
  } else {
    plain.resize(*size);
    const size_t got = ZSTD_decompress(plain.data(), plain.size(), packed.data(), packed.size());
    if (ZSTD_isError(got) || got != *size) {
      outcome = Corruption("checkpoint does not decompress to the size its header announces");
    } else if (crypto::Sha256(plain) != id) {
      outcome = Corruption("checkpoint's bytes do not match its id");
    }
  }
  packed = Bytes();
  if (outcome.ok()) outcome = ws->AddCheckpoint(plain);
  auto want = checkpoint_wants_.find(ws_id);
  if (want != checkpoint_wants_.end() && want->second.in_flight == c.id) {
    want->second.in_flight = 0;
    if (!outcome.ok()) want->second.asked.insert(c.id);  // ask another member
  }
  if (observer_.checkpoint) observer_.checkpoint(ws_id, id, packed_bytes, outcome, c.id);
  if (!outcome.ok()) {
    if (observer_.note) {
      observer_.note(c.id, "refused checkpoint " + ShortHex(id) + " of workspace " +
                               ShortHex(ws_id) + " from " + c.name + ": " + outcome.ToString());
    }
    // The sender waits for a Have: it learns the checkpoint changed nothing here.
    if (Serves(*ws, c)) SendHave(c, *ws, true);
    RequestMissingCheckpoints();
    return;
  }
  if (observer_.note) {
    observer_.note(c.id, "took checkpoint " + ShortHex(id) + " of workspace " + ShortHex(ws_id) +
                             " from " + c.name);
  }
  AnnounceVersion(*ws);
  RequestMissingCheckpoints();
}

void SyncNode::AnnounceVersion(replica::Workspace& ws) {
  const WorkspaceId id = ws.id();
  ShareAddressesIfMembersChanged(ws);
  std::vector<ConnectionId> ids;
  for (auto& [cid, c] : connections_) ids.push_back(cid);
  for (ConnectionId cid : ids) {
    auto it = connections_.find(cid);
    if (it == connections_.end() || !it->second->ready) continue;
    Connection& c = *it->second;
    auto intro = introducers_.find(id);
    const bool introducer = intro != introducers_.end() && intro->second == c.device;
    if (!Serves(ws, c) && !introducer) continue;
    SendHave(c, ws, true);
    SendMissing(c, ws);
  }
}

void SyncNode::RequestMissingCheckpoints() {
  if (options_.blind) return;
  std::vector<std::pair<ConnectionId, std::string>> requests;
  for (auto& [ws_id, ws] : workspaces_) {
    const std::optional<Hash32> missing = ws->MissingCheckpoint();
    if (!missing) {
      checkpoint_wants_.erase(ws_id);
      continue;
    }
    CheckpointWant& want = checkpoint_wants_[ws_id];
    if (want.id != *missing) want = CheckpointWant{*missing, {}, 0};
    if (want.in_flight != 0) continue;
    for (auto& [cid, c] : connections_) {
      if (!c->ready || c->relay || want.asked.count(cid) || !IsMember(*ws, c->device)) continue;
      w::Frame frame;
      frame.mutable_checkpoint_request()->set_workspace(ws_id.data(), ws_id.size());
      frame.mutable_checkpoint_request()->set_id(missing->data(), missing->size());
      requests.emplace_back(cid, frame.SerializeAsString());
      want.in_flight = cid;
      if (observer_.note) {
        observer_.note(cid, "asking " + c->name + " for checkpoint " + ShortHex(*missing) +
                                " of workspace " + ShortHex(ws_id));
      }
      break;
    }
  }
  for (auto& [cid, frame] : requests) {
    auto it = connections_.find(cid);
    if (it != connections_.end()) SendFrame(*it->second, frame);
  }
}

void SyncNode::ReleaseCheckpointRequests(ConnectionId id) {
  bool released = false;
  for (auto& [ws_id, want] : checkpoint_wants_) {
    want.asked.erase(id);  // ids are not reused; this only keeps the set small
    if (want.in_flight == id) {
      want.in_flight = 0;
      released = true;
    }
  }
  if (released) RequestMissingCheckpoints();
}

}  // namespace grove::sync
