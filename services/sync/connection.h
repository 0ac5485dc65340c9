// SyncNode::Connection — what a SyncNode knows of one connection. Internal to services/sync
// (sync.cc: hello, deltas; chunks.cc: attachment chunks); owned by the node's event loop thread.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "sync/sync.h"

namespace grove::sync {

struct SyncNode::Connection {
  ConnectionId id = 0;
  bool outbound = false;
  crypto::PublicKey tls_key{};
  std::string host;
  uint16_t port = 0;  // the remote's port as observed on the socket (0: unknown)
  bool ready = false;
  identity::DeviceId device{};
  std::string name;
  uint16_t listen_port = 0;
  bool relay = false;  // the remote is one of Options::relays
  // The addresses this node sent the remote, by device (each is sent once, see SendAddresses).
  std::map<identity::DeviceId, std::string> told;
  // What a relay acknowledged holding, and why it refused a workspace (see ConnectionView).
  std::map<WorkspaceId, std::map<identity::DeviceId, uint64_t>> acked;
  std::map<WorkspaceId, std::string> refused;
  // When a refused workspace is offered again (RetryRefused): a refusal may be transient (the
  // relay had not yet stored the op that made this device a member, or its database was down),
  // so it is retried with a growing delay; a refusal that stays costs one batch per attempt.
  struct Retry {
    int attempts = 0;      // offers refused in a row
    uint64_t next_ms = 0;  // when to offer again; 0: not scheduled yet
  };
  std::map<WorkspaceId, Retry> refusal_retry;
  // What the remote holds, as far as this node knows: its last Have plus what was sent since.
  std::map<WorkspaceId, std::map<identity::DeviceId, uint64_t>> theirs;
  std::set<WorkspaceId> have_sent;
  std::set<WorkspaceId> have_received;  // the remote said what it holds (Have, holding)
  std::set<WorkspaceId> lacking;        // the remote said it does not hold it (since then)
  std::set<WorkspaceId> backlog;        // more to send once the queue drains
  uint32_t max_frame_bytes = 16 << 20;  // the largest frame the remote accepts
  std::set<WorkspaceId> blocked;        // a delta too large for the remote's frame limit is next
  // Chunk ids the remote asked for and that are not answered yet, oldest first.
  std::deque<std::pair<WorkspaceId, Hash32>> to_serve;
  size_t chunks_in_flight = 0;  // chunk ids this node asked of the remote, not yet answered
  // Checkpoints (checkpoints.cc). Going out: each is sent whole, in order, before the next.
  struct CheckpointOut {
    WorkspaceId ws{};
    Hash32 id{};
    std::shared_ptr<const Bytes> packed;  // zstd-compressed, shared between connections
    size_t offset = 0;                    // sent so far
  };
  std::deque<CheckpointOut> checkpoints_out;
  // Per workspace, the checkpoint sent unasked because the remote needed deltas this node
  // pruned: deltas resume once its Have shows it adopted it; it is not sent again on this
  // connection.
  std::map<WorkspaceId, Hash32> checkpoint_offered;
  // Coming in: the one checkpoint being reassembled, dropped with the connection.
  struct CheckpointIn {
    WorkspaceId ws{};
    Hash32 id{};
    uint64_t total = 0;     // compressed size announced by the first part
    uint64_t received = 0;  // compressed bytes received so far
    Bytes packed;           // empty when discarding
    bool discard = false;   // already in force here: read to the end, keep nothing
  };
  std::optional<CheckpointIn> checkpoint_in;
  uint64_t frames_in = 0, frames_out = 0, bytes_in = 0, bytes_out = 0;
};

}  // namespace grove::sync
