// grove::sync — the peer-to-peer sync protocol (docs/protocol.md, schemas/grove/v1/sync.proto),
// independent of how frames travel.
//
// A SyncNode holds a device's workspaces and speaks the protocol on any number of connections:
// hello (protocol version, the device's card bound to its TLS key), per-workspace version
// vectors, what the other side lacks in bounded batches (backpressure: never more than
// `max_queued_bytes` waiting per connection), then live push of every new delta. Deltas pass
// on through intermediaries: whatever a node applies it offers to its other connections, so in
// a line A–B–C, A's edits reach C. A workspace's deltas go only to devices that are members of
// it in this node's view; a device that was added but lacks the workspace gets an invitation.
//
// Attachment chunks (decision 0005) are fetched on demand, apart from deltas, so a large file
// never holds up records: FetchChunks asks connected members for chunks this node lacks, at most
// kMaxChunksInFlight per connection; a member answers from its store in frames of about
// `batch_bytes`, under the same queue limit as deltas; the receiver checks each chunk against
// its id before storing it (one transaction per frame) and asks another member for what one
// lacked or sent corrupted. Chunks are served only to members of their workspace.
//
// Checkpoints (docs/decisions/0011-checkpoints-settle-history.md): when a connected member
// needs deltas this node's replica pruned (DeltasFor answers FailedPrecondition), this node sends
// it the checkpoint in force instead, zstd-compressed, in parts of about `batch_bytes` under the
// same queue limit as deltas, once per connection, and carries on with deltas when the member's
// Have shows it adopted it. A node whose replica lacks a trusted checkpoint (MissingCheckpoint)
// asks connected members for it, one at a time, until one sends it. What arrives is reassembled
// per connection (at most kMaxCheckpointPackedBytes compressed and kMaxCheckpointBytes once
// decompressed; a partial one is dropped with its connection), checked against its id
// (SHA-256) and handed to the replica (AddCheckpoint); a checkpoint that fails either is
// reported (Observer::checkpoint) and the connection goes on. Checkpoints go only between
// members (and from the member that introduced this node to a workspace); relays neither send
// nor take them.
//
// Relays (docs/decisions/0009-relay.md): a node may name relay devices (Options::relays). They
// are blind replicas: this node offers them every workspace it holds, member or not, never sends
// them invitations, and notes what each acknowledged (Ack) or refused. A node started `blind`
// is itself such a relay: it holds workspaces without their keys (its replica checks signatures
// and membership, not content), takes a workspace it does not hold from a member that sends its
// genesis (BlindHooks::open), takes deltas only from members (and only what BlindHooks::admit
// allows, e.g. within quotas), serves members only, and answers every Deltas frame with an Ack
// once the frame is stored.
//
// Threading: not thread-safe; one thread (the peer's event loop) calls everything, including
// the Transport. Bad frames never throw or crash: the connection is closed with a reason.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "replica/replica.h"
#include "store/store.h"

namespace grove::wire::v1 {
class Ack;
class Punch;
class Rendezvous;
class Deltas;
class Hello;
class ChunkRequest;
class Chunks;
class CheckpointRequest;
class CheckpointPart;
}  // namespace grove::wire::v1

namespace grove::sync {

using ConnectionId = uint64_t;
using replica::WorkspaceId;

constexpr uint32_t kProtocolVersion = 1;
constexpr size_t kMaxChunkIdsPerRequest = 256;
constexpr size_t kMaxChunksInFlight = 16;         // asked of one connection and not yet answered
constexpr size_t kMaxChunksQueuedToServe = 1024;  // per connection; more are answered missing
constexpr uint64_t kMaxCheckpointPackedBytes = 1ull << 30;  // a checkpoint, compressed
constexpr uint64_t kMaxCheckpointBytes = 4ull << 30;        // ... and decompressed
constexpr size_t kMaxCheckpointsQueuedToServe = 4;          // per connection; more: missing

enum class ChunkState {
  kHeld,         // in this node's store
  kFetching,     // asked of a connected member, or about to be
  kUnavailable,  // not held, and no connected member is left to ask
};

// How frames leave this node. Implemented over TLS by the peer, in memory by tests.
class Transport {
 public:
  virtual ~Transport() = default;
  // false when the connection is gone or its queue is full (try again on Pump()).
  virtual bool Send(ConnectionId id, Bytes frame) = 0;
  virtual size_t Queued(ConnectionId id) const = 0;
  virtual void Close(ConnectionId id, const Status& reason) = 0;
};

struct Options {
  size_t batch_bytes = 1 << 20;         // deltas per Deltas frame, about
  size_t max_queued_bytes = 8 << 20;    // stop sending to a connection past this
  uint16_t listen_port = 0;             // announced in hello
  uint32_t max_frame_bytes = 16 << 20;  // the largest frame this node accepts, announced in hello
  bool share_addresses = true;          // tell peers where other members are
  std::set<identity::DeviceId> relays;  // blind replicas to sync every workspace with
  bool blind = false;                   // this node is a relay (see above)
  // Sent in hello (wire::v1::Hello.credential): what vouches for this device beyond its card,
  // such as its enrolment in managed mode.
  std::string credential;
  // Whether to talk to a remote that said hello with `card` and `credential` (`relay`: one of
  // `relays`). A non-OK status closes the connection with it, after a Goodbye naming it. Unset:
  // everyone with a valid card.
  std::function<Status(const identity::CardInfo& card, const std::string& credential, bool relay)>
      admit_peer;
  // Whether to offer workspace `ws` to the relay `relay` (one of `relays`). Unset: every
  // workspace goes to every relay.
  std::function<bool(const WorkspaceId& ws, const identity::DeviceId& relay)> store_on_relay;
};

// A delta a blind node does not hold yet, as BlindHooks::admit sees it.
struct FreshDelta {
  const Bytes* bytes = nullptr;
  identity::DeviceId author{};
  uint64_t seq = 0;
};

// What a blind node asks of its owner. Both are required when Options::blind is set.
struct BlindHooks {
  // Opens a workspace this node does not hold, from its genesis delta, over the node's store.
  std::function<Result<std::unique_ptr<replica::Workspace>>(const WorkspaceId&, ByteView genesis)>
      open;
  // Undoes `open` for a workspace whose sender turned out not to be a member of it: removes
  // what was stored of it.
  std::function<void(const WorkspaceId&)> discard;
  // Whether to take `fresh` (deltas of `ws` this node does not hold yet) from `sender`. A
  // non-OK status refuses the whole frame and is sent back in the Ack.
  std::function<Status(const WorkspaceId&, const identity::DeviceId& sender,
                       const std::vector<FreshDelta>& fresh)>
      admit;
  // Rendezvous (optional): a splice token the relay will accept for `a` and `b` to meet, or ""
  // to ignore the request (asked too often). Without it, Rendezvous frames are ignored.
  std::function<std::string(const identity::DeviceId& a, const identity::DeviceId& b)> rendezvous;
  uint32_t punch_ms = 3000;  // how long the two devices try a simultaneous open
};

// A relay's instruction to reach a fellow member (wire::v1::Punch), see Observer::punch.
struct PunchRequest {
  identity::DeviceId device{};
  crypto::PublicKey sign_key{};
  std::string endpoint;  // where the relay sees `device`, host:port
  std::string token;     // for the relay's splice, if the punch fails
  bool tls_server = false;
  uint32_t punch_ms = 0;
};

struct Invitation {
  WorkspaceId workspace{};
  std::string name;
  Bytes genesis;
  identity::DeviceId from{};
  std::string from_name;
  replica::Role role = replica::Role::kMember;
};

struct ConnectionView {
  ConnectionId id = 0;
  bool outbound = false;
  bool ready = false;  // hello exchanged
  std::string host;
  identity::DeviceId device{};
  std::string name;
  uint16_t listen_port = 0;
  uint64_t frames_in = 0, frames_out = 0, bytes_in = 0, bytes_out = 0;
  bool relay = false;  // one of Options::relays
  // From a relay: per workspace, the deltas per author it acknowledged holding, and why it
  // refused a workspace's deltas (sync of that workspace to it paused until RetryRefused).
  std::map<WorkspaceId, std::map<identity::DeviceId, uint64_t>> acked;
  std::map<WorkspaceId, std::string> refused;
};

// How far this node and its ready connections are from holding the same deltas, as far as this
// node knows without asking: see SyncNode::Progress.
struct SyncProgress {
  size_t ready = 0;           // connections with hello done (peers and relays)
  uint64_t missing_here = 0;  // deltas a connection said it holds that this node lacks
  uint64_t to_send = 0;       // deltas a connection lacks that were not sent yet (peers) or
                              // not acknowledged yet (relays), summed over connections
};

struct KnownAddress {
  identity::DeviceId device{};
  crypto::PublicKey sign_key{};
  std::string endpoint;  // host:port
};

// What happened, for logs, metrics and the event stream.
struct Observer {
  std::function<void(const WorkspaceId&, const replica::ApplyReport&, ConnectionId)> applied;
  std::function<void(const Invitation&)> invited;
  std::function<void(ConnectionId, const std::string& what)> note;  // protocol events for logs
  // Chunks received in one frame: how many were stored, and how many were refused because
  // they did not match their id (corrupted or forged).
  std::function<void(const WorkspaceId&, size_t stored, size_t corrupted, ConnectionId)> chunks;
  // A relay (one of Options::relays, on connection `from`) asks this node to reach a member.
  std::function<void(const PunchRequest&, ConnectionId from)> punch;
  // Hello was exchanged with `device` on `id` (and the remote admitted).
  std::function<void(ConnectionId id, const identity::DeviceId& device)> ready;
  // Notices (wire::v1::Notices) arrived on `from`.
  std::function<void(ConnectionId from, const std::vector<std::string>& items)> notices;
  // A checkpoint of `ws` arrived whole on `from` (`packed_bytes` compressed): `outcome` is OK
  // when the replica took it (AddCheckpoint; its Barrier() says whether it builds on it now), or
  // why it was refused (bytes that do not match the id, a replica that refuses them).
  std::function<void(const WorkspaceId& ws, const Hash32& id, uint64_t packed_bytes,
                     const Status& outcome, ConnectionId from)>
      checkpoint;
};

class SyncNode {
 public:
  SyncNode(const identity::Identity& me, Transport& transport, Options options,
           Observer observer = {}, BlindHooks blind = {});
  ~SyncNode();

  // Workspaces this node holds and serves. If it was joined through an invitation, its inviter
  // is told at once, so the workspace's history starts to flow.
  void AddWorkspace(std::unique_ptr<replica::Workspace> workspace);
  replica::Workspace* Find(const WorkspaceId& id);
  std::vector<replica::Workspace*> Workspaces();

  // Connection events from the transport. `tls_key` is the key the remote proved in its TLS
  // handshake; its hello must carry a card for that key.
  // `port` is the remote's port as observed on the socket (for a peer that dialled from its
  // listen port through a NAT: the NAT's mapping of that port); 0 when it says nothing (a
  // spliced connection, whose socket leads to the relay).
  void OnConnected(ConnectionId id, const crypto::PublicKey& tls_key, bool outbound,
                   std::string host, uint16_t port = 0);
  void OnFrame(ConnectionId id, ByteView frame);
  void OnClosed(ConnectionId id);

  // Offers what connected members lack of `ws` (after local actions were sealed, or anything
  // else changed it), and tells newly added members about it.
  void Push(const WorkspaceId& ws);
  // Sends `items` in a Notices frame on connection `to`, or on every ready connection but
  // `except` when `to` is 0.
  void SendNotices(const std::vector<std::string>& items, ConnectionId to = 0,
                   ConnectionId except = 0);
  // Closes every connection with `device`, for `reason` (a Goodbye tells it why).
  void Disconnect(const identity::DeviceId& device, const Status& reason);
  // Continues sends that stopped at a full queue. Call when queues drain (or on a short timer).
  void Pump();
  // Offers again the workspaces a relay refused, each after a delay that doubles with every
  // refusal in a row (5 s, 10 s, ... at most 5 min): a refusal may be transient (the relay had
  // not yet stored the op that made this device a member, its database was down, a quota was
  // raised). Call on a timer with the current time.
  void RetryRefused(uint64_t now_ms);
  bool HasBacklog() const;
  // What is known to be missing on either side, per workspace and author, from the version
  // vectors exchanged: a remote's last Have plus what was sent to it since (for a relay: what it
  // acknowledged storing, so deltas in flight count until it does). Only workspaces this node
  // serves to the connection count; a relay's refused workspace does not. Deltas sent to a peer
  // count as arrived once sent (peers do not acknowledge). Cheap: no store access.
  SyncProgress Progress();
  // Deltas sent on all connections since start (for metrics).
  uint64_t deltas_sent() const { return deltas_sent_; }
  // Checkpoints sent whole on all connections since start, and their compressed bytes.
  uint64_t checkpoints_sent() const { return checkpoints_sent_; }
  uint64_t checkpoint_bytes_sent() const { return checkpoint_bytes_sent_; }

  const std::map<WorkspaceId, Invitation>& invitations() const { return invitations_; }
  // Removes and returns an invitation (the caller joins the workspace and AddWorkspace()s it).
  std::optional<Invitation> TakeInvitation(const WorkspaceId& ws);

  std::vector<ConnectionView> Connections() const;
  bool ConnectedTo(const identity::DeviceId& device) const;
  // Addresses learned from peers, of devices this node shares a workspace with.
  std::vector<KnownAddress> Addresses() const;
  // Asks a connected relay to bring this device together with `device` (see BlindHooks and
  // Observer::punch). false when no relay is connected.
  bool RequestRendezvous(const identity::DeviceId& device);

  // --- Attachment chunks. REQUIRES: SetChunkStore before any other chunk call; the store must
  // be the one the workspaces use (chunk rows need their workspace) and outlive the node.
  // Without a store, chunk requests are answered `missing`.
  void SetChunkStore(store::Store* store);
  // Asks connected members for those of `ids` (chunks of `ws`) not held here. Ids already being
  // fetched are not asked again; ids every member lacked are asked again (a new attempt).
  // Chunks are requested in the order they were first wanted (the order of `ids`, then of later
  // calls), at most kMaxChunksInFlight per connection. A want lasts until the chunk is stored
  // or forgotten, across connections: when one closes, what it was asked goes to another
  // member, or to the next that connects, and whatever is held is never asked again, so an
  // interrupted fetch resumes where it stopped. Wants are not persisted: after a restart the
  // caller asks again (and only what is still missing is fetched).
  void FetchChunks(const WorkspaceId& ws, const std::vector<Hash32>& ids);
  // How many chunks are wanted and not held yet.
  size_t ChunksWanted() const { return chunk_wants_.size(); }
  // IOError when the store cannot be read.
  Result<ChunkState> StateOf(const WorkspaceId& ws, const Hash32& id);
  // Forgets wanted chunks of `ws` (a download given up); answers that arrive later are ignored.
  void ForgetChunks(const WorkspaceId& ws, const std::vector<Hash32>& ids);

 private:
  struct Connection;
  void OnHello(Connection& c, const wire::v1::Hello& hello);
  void SendFrame(Connection& c, const std::string& frame);
  void SendHave(Connection& c, replica::Workspace& ws, bool holding);
  void SendMissing(Connection& c, replica::Workspace& ws);
  // Tells `c` where the fellow members this node knows of are (all of them, or only `only`),
  // each address once: what `c` was told already is not repeated.
  void SendAddresses(Connection& c, const identity::DeviceId* only = nullptr);
  // After `ws` changed: if its members did, tells its connected members the addresses they now
  // may have (a member added after both connected must still learn where the others are).
  void ShareAddressesIfMembersChanged(replica::Workspace& ws);
  void Fail(Connection& c, const Status& reason);
  bool IsMember(replica::Workspace& ws, const identity::DeviceId& device) const;
  // Whether this node sends `ws` to the connection: a member, or a relay.
  bool Serves(replica::Workspace& ws, const Connection& c) const;
  void OnDeltas(Connection& c, const WorkspaceId& ws_id, const wire::v1::Deltas& deltas);
  void OnBlindDeltas(Connection& c, const WorkspaceId& ws_id, std::vector<Bytes> batch);
  void OnAck(Connection& c, const wire::v1::Ack& ack);
  void OnRendezvous(Connection& c, const wire::v1::Rendezvous& rendezvous);
  void OnPunch(Connection& c, const wire::v1::Punch& punch);
  void SendAck(Connection& c, const WorkspaceId& ws_id, const Status& refused);
  void OnChunkRequest(Connection& c, const wire::v1::ChunkRequest& request);
  void OnChunks(Connection& c, const wire::v1::Chunks& chunks);
  void ServeChunks(Connection& c);
  void DispatchChunkRequests();
  bool CanAskForChunks(const Connection& c, const WorkspaceId& ws);
  // Checkpoints (checkpoints.cc).
  // Whether `c` may send this node checkpoints of `ws`: a member, or the member that introduced
  // this node to it; never a relay, nor to a blind node.
  bool TakesCheckpointsFrom(replica::Workspace& ws, const Connection& c) const;
  // `c` needs deltas of `ws` this node pruned: sends it the checkpoint in force, once.
  void OfferCheckpoint(Connection& c, replica::Workspace& ws);
  // Queues checkpoint `id` of `ws` to go out on `c` (at most one per workspace, at most
  // kMaxCheckpointsQueuedToServe in all). false when it is not held here or cannot be sent.
  bool QueueCheckpoint(Connection& c, replica::Workspace& ws, const Hash32& id);
  // The zstd-compressed bytes of a held checkpoint, shared while any connection sends them;
  // nullptr (with a note on `c`) when not held or not sendable.
  std::shared_ptr<const Bytes> PackedCheckpoint(Connection& c, replica::Workspace& ws,
                                                const Hash32& id);
  void ServeCheckpoints(Connection& c);
  void OnCheckpointRequest(Connection& c, const wire::v1::CheckpointRequest& request);
  void OnCheckpointPart(Connection& c, const wire::v1::CheckpointPart& part);
  // A checkpoint arrived whole on `c`: checks it and hands it to its replica.
  void TakeCheckpoint(Connection& c, const WorkspaceId& ws_id, const Hash32& id, Bytes packed);
  // Closes `c` after a Goodbye saying why.
  void Refuse(Connection& c, const Status& reason);
  // Asks a connected member for each trusted checkpoint a replica lacks, one member at a time.
  void RequestMissingCheckpoints();
  // Requests in flight on a connection that is gone go to another member.
  void ReleaseCheckpointRequests(ConnectionId id);
  // After `ws` moved onto a checkpoint: tells every connection serving it what it holds now
  // (a sender waiting for that Have resumes deltas), and offers what they lack.
  void AnnounceVersion(replica::Workspace& ws);

  // A chunk this node wants: whom it asked, who has the request now (0: nobody), and its place
  // in chunk_order_.
  struct ChunkWant {
    std::set<ConnectionId> asked;
    ConnectionId in_flight = 0;
    uint64_t order = 0;
  };
  using ChunkKey = std::pair<WorkspaceId, Hash32>;
  void EraseWant(std::map<ChunkKey, ChunkWant>::iterator it);
  store::Store* chunk_store_ = nullptr;
  std::map<ChunkKey, ChunkWant> chunk_wants_;
  // The wants in the order they were first asked for: a file's chunks are requested in file
  // order, so a download can stream from the start while the rest is still on its way.
  std::map<uint64_t, ChunkKey> chunk_order_;
  uint64_t next_chunk_order_ = 1;
  // A trusted checkpoint a replica lacks: whom it was asked of (and who said no), who has the
  // request now (0: nobody).
  struct CheckpointWant {
    Hash32 id{};
    std::set<ConnectionId> asked;
    ConnectionId in_flight = 0;
  };
  std::map<WorkspaceId, CheckpointWant> checkpoint_wants_;
  // Compressed checkpoints being sent, shared by the connections sending them.
  std::map<std::pair<WorkspaceId, Hash32>, std::weak_ptr<const Bytes>> packed_checkpoints_;
  uint64_t checkpoints_sent_ = 0;
  uint64_t checkpoint_bytes_sent_ = 0;

  const identity::Identity& me_;
  Transport& transport_;
  Options options_;
  Observer observer_;
  BlindHooks blind_;
  std::map<WorkspaceId, std::unique_ptr<replica::Workspace>> workspaces_;
  std::map<ConnectionId, std::unique_ptr<Connection>> connections_;
  std::map<WorkspaceId, Invitation> invitations_;
  std::map<identity::DeviceId, KnownAddress> addresses_;
  // Each workspace's members when addresses were last shared for it.
  std::map<WorkspaceId, std::vector<identity::DeviceId>> members_shared_;
  // Who invited this device into a workspace: until the workspace's membership has arrived,
  // the inviter is the one peer this node can announce the workspace to.
  std::map<WorkspaceId, identity::DeviceId> introducers_;
  uint64_t deltas_sent_ = 0;
};

}  // namespace grove::sync
