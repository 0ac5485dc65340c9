#include "sync/sync.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "grove/v1/sync.pb.h"
#include "grove/v1/wire.pb.h"
#include "sync/connection.h"

namespace grove::sync {
namespace {

namespace w = grove::wire::v1;

std::string Short(const identity::DeviceId& d) { return identity::DeviceIdText(d).substr(0, 16); }

// The (author, seq) of a serialized delta, to track what a connection already has.
bool DeltaHead(const Bytes& raw, identity::DeviceId& author, uint64_t& seq) {
  w::Delta delta;
  w::DeltaBody body;
  if (!delta.ParseFromArray(raw.data(), static_cast<int>(raw.size())) ||
      !body.ParseFromString(delta.body())) {
    return false;
  }
  auto a = ToHash32(AsBytes(body.author()));
  if (!a) return false;
  author = *a;
  seq = body.seq();
  return true;
}

std::optional<WorkspaceId> GenesisId(const std::string& genesis) {
  w::Delta delta;
  if (!delta.ParseFromString(genesis)) return std::nullopt;
  return crypto::Sha256(AsBytes(delta.body()));
}

}  // namespace

SyncNode::SyncNode(const identity::Identity& me, Transport& transport, Options options,
                   Observer observer, BlindHooks blind)
    : me_(me),
      transport_(transport),
      options_(std::move(options)),
      observer_(std::move(observer)),
      blind_(std::move(blind)) {}

SyncNode::~SyncNode() = default;

void SyncNode::AddWorkspace(std::unique_ptr<replica::Workspace> workspace) {
  WorkspaceId id = workspace->id();
  invitations_.erase(id);
  workspaces_[id] = std::move(workspace);
  Push(id);
  RequestMissingCheckpoints();
}

replica::Workspace* SyncNode::Find(const WorkspaceId& id) {
  auto it = workspaces_.find(id);
  return it == workspaces_.end() ? nullptr : it->second.get();
}

std::vector<replica::Workspace*> SyncNode::Workspaces() {
  std::vector<replica::Workspace*> out;
  for (auto& [id, ws] : workspaces_) out.push_back(ws.get());
  return out;
}

bool SyncNode::IsMember(replica::Workspace& ws, const identity::DeviceId& device) const {
  return ws.RoleOf(device) != replica::Role::kNone;
}

bool SyncNode::Serves(replica::Workspace& ws, const Connection& c) const {
  if (c.relay) return !options_.store_on_relay || options_.store_on_relay(ws.id(), c.device);
  return IsMember(ws, c.device);
}

void SyncNode::OnConnected(ConnectionId id, const crypto::PublicKey& tls_key, bool outbound,
                           std::string host, uint16_t port) {
  auto c = std::make_unique<Connection>();
  c->id = id;
  c->outbound = outbound;
  c->tls_key = tls_key;
  c->host = std::move(host);
  c->port = port;
  Connection& conn = *c;
  connections_[id] = std::move(c);
  w::Frame frame;
  w::Hello* hello = frame.mutable_hello();
  hello->set_protocol(kProtocolVersion);
  hello->set_card(ToString(me_.card().encoded));
  hello->set_listen_port(options_.listen_port);
  hello->set_software("grove/0.1.0");
  hello->set_max_frame_bytes(options_.max_frame_bytes);
  hello->set_credential(options_.credential);
  SendFrame(conn, frame.SerializeAsString());
}

void SyncNode::SendNotices(const std::vector<std::string>& items, ConnectionId to,
                           ConnectionId except) {
  if (items.empty()) return;
  w::Frame frame;
  for (const std::string& item : items) frame.mutable_notices()->add_items(item);
  const std::string bytes = frame.SerializeAsString();
  for (auto& [id, c] : connections_) {
    if (!c->ready || (to != 0 && id != to) || id == except) continue;
    SendFrame(*c, bytes);
  }
}

void SyncNode::Disconnect(const identity::DeviceId& device, const Status& reason) {
  std::vector<ConnectionId> ids;
  for (auto& [id, c] : connections_) {
    if (c->ready && c->device == device) ids.push_back(id);
  }
  for (ConnectionId id : ids) {
    Connection& c = *connections_[id];
    w::Frame bye;
    bye.mutable_goodbye()->set_reason(reason.message());
    SendFrame(c, bye.SerializeAsString());
    Fail(c, reason);
  }
}

void SyncNode::OnClosed(ConnectionId id) {
  connections_.erase(id);
  // What that connection was asked goes to another member, if there is one.
  bool reassign = false;
  for (auto& [key, want] : chunk_wants_) {
    if (want.in_flight == id) {
      want.in_flight = 0;
      reassign = true;
    }
  }
  if (reassign) DispatchChunkRequests();
  ReleaseCheckpointRequests(id);
}

void SyncNode::Fail(Connection& c, const Status& reason) {
  if (observer_.note) observer_.note(c.id, "closing: " + reason.ToString());
  ConnectionId id = c.id;
  connections_.erase(id);  // c is gone from here on (a checkpoint half received with it)
  transport_.Close(id, reason);
  ReleaseCheckpointRequests(id);
}

void SyncNode::SendFrame(Connection& c, const std::string& frame) {
  ++c.frames_out;
  c.bytes_out += frame.size();
  transport_.Send(c.id, ToBytes(frame));
}

void SyncNode::OnFrame(ConnectionId id, ByteView bytes) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& c = *it->second;
  ++c.frames_in;
  c.bytes_in += bytes.size();
  w::Frame frame;
  if (!frame.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Fail(c, Corruption("malformed frame"));
  }
  if (!c.ready && frame.msg_case() != w::Frame::kHello) {
    return Fail(c, InvalidArgument("expected a hello first"));
  }
  switch (frame.msg_case()) {
    case w::Frame::kHello:
      if (c.ready) return Fail(c, InvalidArgument("a second hello"));
      return OnHello(c, frame.hello());
    case w::Frame::kHave: {
      const w::Have& have = frame.have();
      auto ws_id = ToHash32(AsBytes(have.workspace()));
      if (!ws_id) return Fail(c, InvalidArgument("have: workspace id is not 32 bytes"));
      replica::Workspace* ws = Find(*ws_id);
      if (!ws) {
        // Not held here: say so, so a member can send an invitation.
        if (have.holding()) {
          w::Frame reply;
          reply.mutable_have()->set_workspace(have.workspace());
          reply.mutable_have()->set_holding(false);
          SendFrame(c, reply.SerializeAsString());
        }
        return;
      }
      if (!Serves(*ws, c)) {
        // Not a member as far as this node knows (its membership may not have arrived here
        // yet): say what is held, which lets the other side serve us, but serve nothing. What
        // it holds is noted, for when it turns out to be a member (a new member learns who the
        // others are from the checkpoint or deltas they send).
        if (have.holding()) {
          auto& theirs = c.theirs[*ws_id];
          for (const w::VersionEntry& e : have.version()) {
            auto d = ToHash32(AsBytes(e.device()));
            if (d) theirs[*d] = std::max(theirs[*d], e.seq());
          }
          c.have_received.insert(*ws_id);
          if (!c.have_sent.count(*ws_id)) SendHave(c, *ws, true);
        }
        return;
      }
      auto& theirs = c.theirs[*ws_id];
      if (!have.holding() && c.relay) {
        // A relay that lacks the workspace gets all of it, genesis first.
        theirs.clear();
        c.refused.erase(*ws_id);
        return SendMissing(c, *ws);
      }
      if (!have.holding()) {
        // Nothing goes to it until it holds the workspace and says from where (its Have):
        // deltas sent before would be dropped there and yet count as sent.
        c.theirs.erase(*ws_id);
        c.have_received.erase(*ws_id);
        c.lacking.insert(*ws_id);
        auto genesis = ws->Genesis();
        if (!genesis.ok()) return;
        w::Frame invite;
        invite.mutable_invitation()->set_genesis(ToString(*genesis));
        invite.mutable_invitation()->set_role(static_cast<w::Role>(ws->RoleOf(c.device)));
        SendFrame(c, invite.SerializeAsString());
        return;
      }
      // Within a connection what the remote held it still holds, and deltas sent since its Have
      // may already be on their way: keep the larger of each (replacing would resend them).
      for (const w::VersionEntry& e : have.version()) {
        auto d = ToHash32(AsBytes(e.device()));
        if (!d) continue;
        theirs[*d] = std::max(theirs[*d], e.seq());
        // A relay says it holds only what it stored durably: as good as an Ack.
        if (c.relay) c.acked[*ws_id][*d] = std::max(c.acked[*ws_id][*d], e.seq());
      }
      c.have_received.insert(*ws_id);
      // A remote that did not hold the workspace when this node's Have reached it (it was
      // invited) never learned what this node holds: without that it cannot tell what to send.
      if (!c.have_sent.count(*ws_id) || c.lacking.erase(*ws_id) > 0) SendHave(c, *ws, true);
      SendMissing(c, *ws);
      // What the remote holds changed (it may have taken a checkpoint it lacked when asked).
      if (auto want = checkpoint_wants_.find(*ws_id);
          want != checkpoint_wants_.end() && want->second.asked.erase(c.id) > 0) {
        RequestMissingCheckpoints();
      }
      return;
    }
    case w::Frame::kDeltas: {
      auto ws_id = ToHash32(AsBytes(frame.deltas().workspace()));
      if (!ws_id) return Fail(c, InvalidArgument("deltas: workspace id is not 32 bytes"));
      return OnDeltas(c, *ws_id, frame.deltas());
    }
    case w::Frame::kInvitation: {
      const w::Invitation& inv = frame.invitation();
      auto ws_id = GenesisId(inv.genesis());
      if (!ws_id) return Fail(c, Corruption("invitation: genesis does not decode"));
      if (Find(*ws_id) || invitations_.count(*ws_id)) return;
      w::Delta delta;
      w::DeltaBody body;
      delta.ParseFromString(inv.genesis());
      if (!body.ParseFromString(delta.body()) || body.plain_size() == 0 ||
          !body.plain(0).has_genesis()) {
        return Fail(c, Corruption("invitation: not a genesis delta"));
      }
      Invitation invitation;
      invitation.workspace = *ws_id;
      invitation.name = body.plain(0).genesis().name();
      invitation.genesis = ToBytes(inv.genesis());
      invitation.from = c.device;
      invitation.from_name = c.name;
      int role = inv.role();
      invitation.role =
          role >= 1 && role <= 4 ? static_cast<replica::Role>(role) : replica::Role::kMember;
      invitations_[*ws_id] = invitation;
      if (observer_.invited) observer_.invited(invitation);
      return;
    }
    case w::Frame::kAddresses: {
      for (const w::PeerAddress& a : frame.addresses().peers()) {
        auto device = ToHash32(AsBytes(a.device()));
        auto key = ToHash32(AsBytes(a.sign_key()));
        if (!device || !key || *device == me_.device() || a.endpoint().size() > 300) continue;
        addresses_[*device] = KnownAddress{*device, *key, a.endpoint()};
      }
      return;
    }
    case w::Frame::kAck:
      return OnAck(c, frame.ack());
    case w::Frame::kRendezvous:
      return OnRendezvous(c, frame.rendezvous());
    case w::Frame::kPunch:
      return OnPunch(c, frame.punch());
    case w::Frame::kNotices: {
      if (!observer_.notices) return;
      const auto& items = frame.notices().items();
      observer_.notices(c.id, std::vector<std::string>(items.begin(), items.end()));
      return;
    }
    case w::Frame::kChunkRequest:
      return OnChunkRequest(c, frame.chunk_request());
    case w::Frame::kChunks:
      return OnChunks(c, frame.chunks());
    case w::Frame::kCheckpointRequest:
      return OnCheckpointRequest(c, frame.checkpoint_request());
    case w::Frame::kCheckpointPart:
      return OnCheckpointPart(c, frame.checkpoint_part());
    case w::Frame::kGoodbye:
      return Fail(c, Status(Code::kUnavailable, "peer said goodbye: " + frame.goodbye().reason()));
    case w::Frame::MSG_NOT_SET:
      break;
  }
  Fail(c, InvalidArgument("frame of unknown kind"));
}

void SyncNode::OnHello(Connection& c, const w::Hello& hello) {
  if (hello.protocol() != kProtocolVersion) {
    w::Frame bye;
    bye.mutable_goodbye()->set_reason("protocol " + std::to_string(hello.protocol()) +
                                      " not supported; this peer speaks " +
                                      std::to_string(kProtocolVersion));
    SendFrame(c, bye.SerializeAsString());
    return Fail(
        c, InvalidArgument("unsupported protocol version " + std::to_string(hello.protocol())));
  }
  auto card = identity::DecodeCard(AsBytes(hello.card()));
  if (!card.ok()) return Fail(c, card.status().Annotate("hello card"));
  if (card->sign_key != c.tls_key) {
    return Fail(c, PermissionDenied("hello card is not for the key of the TLS connection"));
  }
  if (card->device == me_.device()) return Fail(c, InvalidArgument("connected to itself"));
  if (options_.admit_peer) {
    Status admitted =
        options_.admit_peer(*card, hello.credential(), options_.relays.count(card->device) > 0);
    if (!admitted.ok()) {
      w::Frame bye;
      bye.mutable_goodbye()->set_reason(admitted.message());
      SendFrame(c, bye.SerializeAsString());
      return Fail(c, admitted);
    }
  }
  c.ready = true;
  c.device = card->device;
  c.name = card->name;
  c.relay = options_.relays.count(c.device) > 0;
  c.listen_port = static_cast<uint16_t>(std::min<uint32_t>(hello.listen_port(), 65535));
  if (hello.max_frame_bytes() != 0) c.max_frame_bytes = std::max(hello.max_frame_bytes(), 1024u);
  // Where others may reach this device. A relay tells what it observed: a device that dialled
  // it from its listen port shows the port its NAT mapped that to, which is where a punch must
  // aim. Peers tell the announced listen port at the observed host. A connection whose socket
  // says nothing of the remote (port 0: spliced through a relay, whose host it shows) gives
  // no address: the one the relay shared stays.
  const uint16_t reach = options_.blind ? c.port : c.listen_port;
  if (c.listen_port != 0 && c.port != 0 && reach != 0 && !c.host.empty()) {
    std::string host = c.host.find(':') != std::string::npos ? "[" + c.host + "]" : c.host;
    addresses_[c.device] = KnownAddress{c.device, c.tls_key, host + ":" + std::to_string(reach)};
  }
  if (observer_.note) observer_.note(c.id, "hello from " + c.name + " " + Short(c.device));
  for (auto& [id, ws] : workspaces_) {
    if (Serves(*ws, c)) SendHave(c, *ws, true);
  }
  // The new connection learns where its fellow members are, and those already connected
  // learn where it is.
  SendAddresses(c);
  if (addresses_.count(c.device)) {
    for (auto& [id, other] : connections_) {
      if (other->ready && other.get() != &c) SendAddresses(*other, &c.device);
    }
  }
  // A member that was not connected before may hold chunks (or a checkpoint) no one else had.
  DispatchChunkRequests();
  RequestMissingCheckpoints();
  if (observer_.ready) observer_.ready(c.id, c.device);
}

void SyncNode::OnDeltas(Connection& c, const WorkspaceId& ws_id, const w::Deltas& d) {
  std::vector<Bytes> batch;
  batch.reserve(static_cast<size_t>(d.deltas_size()));
  auto& theirs = c.theirs[ws_id];
  for (const std::string& raw : d.deltas()) {
    batch.push_back(ToBytes(raw));
    identity::DeviceId author;
    uint64_t seq;
    if (DeltaHead(batch.back(), author, seq)) theirs[author] = std::max(theirs[author], seq);
  }
  if (options_.blind) return OnBlindDeltas(c, ws_id, std::move(batch));
  if (c.relay) {
    // What a relay sends, it holds (stored before it is served).
    auto& acked = c.acked[ws_id];
    for (const auto& [author, seq] : theirs) acked[author] = std::max(acked[author], seq);
  }
  replica::Workspace* ws = Find(ws_id);
  if (!ws) return;
  replica::ApplyReport report = ws->Apply(batch);
  if (observer_.applied) observer_.applied(ws_id, report, c.id);
  if (!report.store.ok()) return Fail(c, report.store);
  // Gossip: what arrived here goes on to the other connections (and back to this one, if
  // it only now turned out to be a member).
  if (report.accepted > 0) {
    // The sender moved on: it may hold a checkpoint it lacked when asked.
    if (auto want = checkpoint_wants_.find(ws_id); want != checkpoint_wants_.end()) {
      want->second.asked.erase(c.id);
    }
    Push(ws_id);
    RequestMissingCheckpoints();
  }
}

void SyncNode::OnBlindDeltas(Connection& c, const WorkspaceId& ws_id, std::vector<Bytes> batch) {
  replica::Workspace* ws = Find(ws_id);
  bool opened = false;
  if (ws == nullptr) {
    // A member brings a workspace this relay does not hold: its genesis must be in the frame.
    const Bytes* genesis = nullptr;
    for (const Bytes& raw : batch) {
      w::Delta delta;
      if (delta.ParseFromArray(raw.data(), static_cast<int>(raw.size())) &&
          crypto::Sha256(AsBytes(delta.body())) == ws_id) {
        genesis = &raw;
      }
    }
    if (genesis == nullptr) {
      return SendAck(c, ws_id, FailedPrecondition("workspace not held here; send its genesis"));
    }
    auto made = blind_.open(ws_id, *genesis);
    if (!made.ok()) {
      blind_.discard(ws_id);  // a half-made workspace (its genesis not stored) must not stay
      return SendAck(c, ws_id, made.status());
    }
    ws = made->get();
    workspaces_[ws_id] = std::move(made).value();
    opened = true;
  } else if (ws->Members().empty()) {
    // A shell whose genesis never got stored (the database failed in between): take the
    // genesis again, as for a new workspace.
    opened = true;
  } else if (!IsMember(*ws, c.device)) {
    return SendAck(c, ws_id, PermissionDenied("not a member of this workspace"));
  }
  // Only what is new counts against quotas.
  replica::VersionVector held = ws->Version();
  std::vector<FreshDelta> fresh;
  for (const Bytes& raw : batch) {
    identity::DeviceId author;
    uint64_t seq;
    if (!DeltaHead(raw, author, seq)) continue;
    auto it = std::lower_bound(
        held.begin(), held.end(), author,
        [](const replica::VersionEntry& e, const identity::DeviceId& d) { return e.device < d; });
    if (it == held.end() || it->device != author || it->seq < seq) {
      fresh.push_back(FreshDelta{&raw, author, seq});
    }
  }
  if (Status admitted = blind_.admit(ws_id, c.device, fresh); !admitted.ok()) {
    if (opened) {
      workspaces_.erase(ws_id);
      blind_.discard(ws_id);
    }
    return SendAck(c, ws_id, admitted);
  }
  replica::ApplyReport report = ws->Apply(batch);
  if (observer_.applied) observer_.applied(ws_id, report, c.id);
  if (!report.store.ok()) {
    SendAck(c, ws_id, report.store);
    return Fail(c, report.store);
  }
  if (opened && !IsMember(*ws, c.device)) {
    workspaces_.erase(ws_id);
    blind_.discard(ws_id);
    return SendAck(c, ws_id, PermissionDenied("not a member of this workspace"));
  }
  SendAck(c, ws_id, Status::Ok());
  if (report.accepted > 0) Push(ws_id);
}

void SyncNode::SendAck(Connection& c, const WorkspaceId& ws_id, const Status& refused) {
  w::Frame frame;
  w::Ack* ack = frame.mutable_ack();
  ack->set_workspace(ws_id.data(), ws_id.size());
  if (!refused.ok()) {
    ack->set_refused(refused.ToString());
    if (observer_.note) observer_.note(c.id, "refused deltas: " + refused.ToString());
  } else if (replica::Workspace* ws = Find(ws_id)) {
    for (const replica::VersionEntry& e : ws->Version()) {
      w::VersionEntry* v = ack->add_version();
      v->set_device(e.device.data(), e.device.size());
      v->set_seq(e.seq);
    }
  }
  SendFrame(c, frame.SerializeAsString());
}

void SyncNode::OnAck(Connection& c, const w::Ack& ack) {
  if (!c.relay) return;  // only relays acknowledge; anyone else's Ack means nothing here
  auto ws_id = ToHash32(AsBytes(ack.workspace()));
  if (!ws_id) return Fail(c, InvalidArgument("ack: workspace id is not 32 bytes"));
  if (!ack.refused().empty()) {
    // Stop offering this workspace to the relay until RetryRefused offers it again: resending
    // at once would only be refused again. The deltas stay here; nothing is lost.
    c.refused[*ws_id] = ack.refused();
    c.backlog.erase(*ws_id);
    if (observer_.note) observer_.note(c.id, "relay refused deltas: " + ack.refused());
    return;
  }
  c.refusal_retry.erase(*ws_id);
  auto& acked = c.acked[*ws_id];
  auto& theirs = c.theirs[*ws_id];
  for (const w::VersionEntry& e : ack.version()) {
    auto d = ToHash32(AsBytes(e.device()));
    if (!d) continue;
    acked[*d] = std::max(acked[*d], e.seq());
    theirs[*d] = std::max(theirs[*d], e.seq());
  }
}

void SyncNode::OnRendezvous(Connection& c, const w::Rendezvous& rendezvous) {
  if (!options_.blind || !blind_.rendezvous) return;
  auto target_id = ToHash32(AsBytes(rendezvous.device()));
  if (!target_id) return Fail(c, InvalidArgument("rendezvous: device id is not 32 bytes"));
  Connection* target = nullptr;
  for (auto& [id, other] : connections_) {
    if (other->ready && other->device == *target_id && other.get() != &c) target = other.get();
  }
  if (target == nullptr || target->port == 0) return;  // not here (or not reachable by address)
  // Only fellow members meet: the relay does not introduce strangers to each other.
  bool shared = false;
  for (auto& [id, ws] : workspaces_) {
    shared = shared || (IsMember(*ws, c.device) && IsMember(*ws, target->device));
  }
  if (!shared) return;
  const std::string token = blind_.rendezvous(c.device, target->device);
  if (token.empty()) return;
  auto endpoint = [](const Connection& x) {
    std::string host = x.host.find(':') != std::string::npos ? "[" + x.host + "]" : x.host;
    return host + ":" + std::to_string(x.port);
  };
  // The lower device id is the TLS server on both paths, so the two sides always agree.
  const bool c_serves = c.device < target->device;
  for (auto [to, other, serves] :
       {std::tuple{&c, target, c_serves}, std::tuple{target, &c, !c_serves}}) {
    w::Frame frame;
    w::Punch* p = frame.mutable_punch();
    p->set_device(other->device.data(), other->device.size());
    p->set_sign_key(other->tls_key.data(), other->tls_key.size());
    p->set_endpoint(endpoint(*other));
    p->set_token(token);
    p->set_tls_server(serves);
    p->set_punch_ms(blind_.punch_ms);
    SendFrame(*to, frame.SerializeAsString());
  }
  if (observer_.note) {
    observer_.note(c.id, "rendezvous of " + Short(c.device) + " and " + Short(target->device));
  }
}

void SyncNode::OnPunch(Connection& c, const w::Punch& punch) {
  if (!c.relay || !observer_.punch) return;  // only a pinned relay coordinates
  auto device = ToHash32(AsBytes(punch.device()));
  auto key = ToHash32(AsBytes(punch.sign_key()));
  if (!device || !key || *device == me_.device() || punch.endpoint().size() > 300 ||
      punch.token().size() > 128) {
    return Fail(c, InvalidArgument("punch: malformed"));
  }
  PunchRequest request;
  request.device = *device;
  request.sign_key = *key;
  request.endpoint = punch.endpoint();
  request.token = punch.token();
  request.tls_server = punch.tls_server();
  request.punch_ms = std::min<uint32_t>(punch.punch_ms(), 30'000);
  observer_.punch(request, c.id);
}

bool SyncNode::RequestRendezvous(const identity::DeviceId& device) {
  for (auto& [id, c] : connections_) {
    if (!c->ready || !c->relay) continue;
    w::Frame frame;
    frame.mutable_rendezvous()->set_device(device.data(), device.size());
    SendFrame(*c, frame.SerializeAsString());
    return true;
  }
  return false;
}

void SyncNode::SendHave(Connection& c, replica::Workspace& ws, bool holding) {
  w::Frame frame;
  w::Have* have = frame.mutable_have();
  have->set_workspace(ws.id().data(), ws.id().size());
  have->set_holding(holding);
  for (const replica::VersionEntry& e : ws.Version()) {
    w::VersionEntry* v = have->add_version();
    v->set_device(e.device.data(), e.device.size());
    v->set_seq(e.seq);
  }
  c.have_sent.insert(ws.id());
  SendFrame(c, frame.SerializeAsString());
}

void SyncNode::SendMissing(Connection& c, replica::Workspace& ws) {
  if (!Serves(ws, c) || c.blocked.count(ws.id()) || c.refused.count(ws.id())) return;
  // Frames stay well under what the remote accepts; framing adds a few bytes per delta.
  const size_t batch = std::min<size_t>(options_.batch_bytes, c.max_frame_bytes / 2);
  auto theirs_it = c.theirs.find(ws.id());
  if (theirs_it == c.theirs.end()) return;  // they have not said what they hold yet
  auto& theirs = theirs_it->second;
  for (;;) {
    if (transport_.Queued(c.id) >= options_.max_queued_bytes) {
      c.backlog.insert(ws.id());
      return;
    }
    replica::VersionVector vv;
    for (const auto& [device, seq] : theirs) vv.push_back(replica::VersionEntry{device, seq, {}});
    auto deltas = ws.DeltasFor(vv, batch);
    if (!deltas.ok() || deltas->empty()) {
      c.backlog.erase(ws.id());
      // The remote needs deltas this replica pruned: the checkpoint in force replaces them.
      if (deltas.status().code() == Code::kFailedPrecondition) OfferCheckpoint(c, ws);
      return;
    }
    if (deltas->size() == 1 && deltas->front().size() + 64 > c.max_frame_bytes) {
      // Sending it would only get the connection closed, again and again. Say so once; it
      // goes out when the remote raises its limit (at its next hello).
      c.blocked.insert(ws.id());
      if (observer_.note) {
        observer_.note(c.id, "a delta of " + std::to_string(deltas->front().size()) +
                                 " bytes is larger than this peer accepts (" +
                                 std::to_string(c.max_frame_bytes) +
                                 "); sync of this workspace to it is stopped");
      }
      return;
    }
    w::Frame frame;
    w::Deltas* out = frame.mutable_deltas();
    out->set_workspace(ws.id().data(), ws.id().size());
    for (const Bytes& raw : *deltas) {
      out->add_deltas(raw.data(), raw.size());
      identity::DeviceId author;
      uint64_t seq;
      if (DeltaHead(raw, author, seq)) theirs[author] = std::max(theirs[author], seq);
    }
    deltas_sent_ += static_cast<uint64_t>(out->deltas_size());
    SendFrame(c, frame.SerializeAsString());
  }
}

void SyncNode::SendAddresses(Connection& c, const identity::DeviceId* only) {
  if (!options_.share_addresses || !c.ready) return;
  w::Frame frame;
  for (const auto& [device, addr] : addresses_) {
    if (device == c.device || (only != nullptr && device != *only)) continue;
    auto told = c.told.find(device);
    if (told != c.told.end() && told->second == addr.endpoint) continue;
    // Only devices the receiver shares a workspace with (in this node's view).
    bool shared = false;
    for (auto& [id, ws] : workspaces_) {
      shared = shared || (IsMember(*ws, device) && IsMember(*ws, c.device));
    }
    if (!shared) continue;
    w::PeerAddress* a = frame.mutable_addresses()->add_peers();
    a->set_device(device.data(), device.size());
    a->set_sign_key(addr.sign_key.data(), addr.sign_key.size());
    a->set_endpoint(addr.endpoint);
    c.told[device] = addr.endpoint;
  }
  if (frame.has_addresses()) SendFrame(c, frame.SerializeAsString());
}

void SyncNode::ShareAddressesIfMembersChanged(replica::Workspace& ws) {
  std::vector<identity::DeviceId> members;
  for (const replica::MemberView& m : ws.Members()) members.push_back(m.device);
  std::vector<identity::DeviceId>& shared = members_shared_[ws.id()];
  if (members == shared) return;
  shared = std::move(members);
  for (auto& [id, c] : connections_) {
    if (c->ready && IsMember(ws, c->device)) SendAddresses(*c);
  }
}

void SyncNode::Push(const WorkspaceId& id) {
  replica::Workspace* ws = Find(id);
  if (!ws) return;
  ShareAddressesIfMembersChanged(*ws);
  std::vector<ConnectionId> ids;
  for (auto& [cid, c] : connections_) ids.push_back(cid);
  for (ConnectionId cid : ids) {
    auto it = connections_.find(cid);
    if (it == connections_.end() || !it->second->ready) continue;
    Connection& c = *it->second;
    auto intro = introducers_.find(id);
    bool introducer = intro != introducers_.end() && intro->second == c.device;
    if (!Serves(*ws, c) && !introducer) continue;
    if (!c.have_sent.count(id)) {
      SendHave(c, *ws, true);  // a member this node has not told about the workspace yet
    } else {
      SendMissing(c, *ws);
    }
  }
}

void SyncNode::RetryRefused(uint64_t now_ms) {
  constexpr uint64_t kFirstDelayMs = 5'000;
  constexpr uint64_t kMaxDelayMs = 300'000;
  std::vector<std::pair<ConnectionId, WorkspaceId>> due;
  for (auto& [cid, c] : connections_) {
    for (const auto& [ws_id, reason] : c->refused) {
      Connection::Retry& retry = c->refusal_retry[ws_id];
      if (retry.next_ms == 0) {
        const int doublings = std::min(retry.attempts, 6);
        retry.next_ms = now_ms + std::min(kFirstDelayMs << doublings, kMaxDelayMs);
      } else if (now_ms >= retry.next_ms) {
        due.emplace_back(cid, ws_id);
      }
    }
  }
  for (const auto& [cid, ws_id] : due) {
    auto it = connections_.find(cid);
    replica::Workspace* ws = Find(ws_id);
    if (it == connections_.end() || !ws) continue;
    Connection& c = *it->second;
    Connection::Retry& retry = c.refusal_retry[ws_id];
    ++retry.attempts;
    retry.next_ms = 0;
    c.refused.erase(ws_id);
    // Offer again from what the relay acknowledged storing: what was sent and refused was not
    // stored there.
    std::map<identity::DeviceId, uint64_t>& theirs = c.theirs[ws_id];
    theirs = c.acked[ws_id];
    SendMissing(c, *ws);
  }
}

void SyncNode::Pump() {
  std::vector<ConnectionId> serving;
  for (auto& [cid, c] : connections_) {
    if (!c->to_serve.empty() || !c->checkpoints_out.empty()) serving.push_back(cid);
  }
  for (ConnectionId cid : serving) {
    auto it = connections_.find(cid);
    if (it == connections_.end()) continue;
    ServeCheckpoints(*it->second);
    ServeChunks(*it->second);
  }
  std::vector<std::pair<ConnectionId, WorkspaceId>> work;
  for (auto& [cid, c] : connections_) {
    for (const WorkspaceId& ws : c->backlog) work.emplace_back(cid, ws);
  }
  for (const auto& [cid, ws_id] : work) {
    auto it = connections_.find(cid);
    replica::Workspace* ws = Find(ws_id);
    if (it != connections_.end() && ws) SendMissing(*it->second, *ws);
  }
}

bool SyncNode::HasBacklog() const {
  for (const auto& [cid, c] : connections_) {
    if (!c->backlog.empty() || !c->to_serve.empty() || !c->checkpoints_out.empty()) return true;
  }
  return false;
}

SyncProgress SyncNode::Progress() {
  SyncProgress progress;
  for (const auto& [cid, c] : connections_) progress.ready += c->ready ? 1 : 0;
  for (auto& [ws_id, ws] : workspaces_) {
    std::map<identity::DeviceId, uint64_t> ours;
    for (const replica::VersionEntry& e : ws->Version()) ours[e.device] = e.seq;
    std::map<identity::DeviceId, uint64_t> known_elsewhere;  // the most any remote said it holds
    for (const auto& [cid, c] : connections_) {
      if (!c->ready || c->refused.count(ws_id) || !Serves(*ws, *c)) continue;
      auto theirs_it = c->theirs.find(ws_id);
      if (theirs_it == c->theirs.end()) continue;  // no Have yet: nothing known
      for (const auto& [author, seq] : theirs_it->second) {
        known_elsewhere[author] = std::max(known_elsewhere[author], seq);
      }
      // A relay's holdings are what it acknowledged; a peer's, what it said plus what was sent.
      const std::map<identity::DeviceId, uint64_t>* holds = &theirs_it->second;
      std::map<identity::DeviceId, uint64_t> none;
      if (c->relay) {
        auto acked = c->acked.find(ws_id);
        holds = acked != c->acked.end() ? &acked->second : &none;
      }
      for (const auto& [author, seq] : ours) {
        auto held = holds->find(author);
        const uint64_t have = held == holds->end() ? 0 : held->second;
        if (seq > have) progress.to_send += seq - have;
      }
    }
    for (const auto& [author, seq] : known_elsewhere) {
      auto mine = ours.find(author);
      const uint64_t have = mine == ours.end() ? 0 : mine->second;
      if (seq > have) progress.missing_here += seq - have;
    }
  }
  return progress;
}

std::optional<Invitation> SyncNode::TakeInvitation(const WorkspaceId& ws) {
  auto it = invitations_.find(ws);
  if (it == invitations_.end()) return std::nullopt;
  Invitation out = std::move(it->second);
  invitations_.erase(it);
  introducers_[ws] = out.from;
  return out;
}

std::vector<ConnectionView> SyncNode::Connections() const {
  std::vector<ConnectionView> out;
  for (const auto& [id, c] : connections_) {
    out.push_back(ConnectionView{id, c->outbound, c->ready, c->host, c->device, c->name,
                                 c->listen_port, c->frames_in, c->frames_out, c->bytes_in,
                                 c->bytes_out, c->relay, c->acked, c->refused});
  }
  return out;
}

bool SyncNode::ConnectedTo(const identity::DeviceId& device) const {
  for (const auto& [id, c] : connections_) {
    if (c->ready && c->device == device) return true;
  }
  return false;
}

std::vector<KnownAddress> SyncNode::Addresses() const {
  std::vector<KnownAddress> out;
  for (const auto& [device, a] : addresses_) out.push_back(a);
  return out;
}

}  // namespace grove::sync
