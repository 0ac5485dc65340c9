#include "sync/sync.h"

#include <gtest/gtest.h>

#include "attachments/attachments.h"
#include "grove/v1/sync.pb.h"
#include "unit/sync/memory_net.h"

namespace grove {
namespace {

TEST_F(SyncTest, LineOfThreeGossipsThroughTheMiddle) {
  Node a("alice", 1, clock, net), b("bob", 2, clock, net), c("carol", 3, clock, net);
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
  ASSERT_TRUE(wa.AddMember(c.device.identity.card(), Role::kMember).ok());
  net.Connect(a.index, b.index, a.key(), b.key());
  net.Connect(b.index, c.index, b.key(), c.key());
  net.Run();
  // b learns of the workspace from a and accepts; then c learns of it from b.
  ASSERT_EQ(b.node.invitations().size(), 1u);
  EXPECT_EQ(b.node.invitations().begin()->second.name, "shop");
  EXPECT_EQ(b.node.invitations().begin()->second.from, a.device.identity.device());
  auto& wb = Accept(b, wa.id());
  net.Run();
  ASSERT_EQ(c.node.invitations().size(), 1u) << "c hears of the workspace from b, not a";
  auto& wc = Accept(c, wa.id());
  net.Run();

  auto item = wa.CreateRecord("item", {{"sku", Value("A-1")}});
  ASSERT_TRUE(item.ok());
  ASSERT_TRUE(wa.Add(*item, "stock", 3).ok());
  ASSERT_TRUE(wa.Seal().ok());
  a.node.Push(wa.id());
  net.Run();
  ASSERT_TRUE(wc.Get(*item).has_value()) << "a's edit reached c through b";
  EXPECT_EQ(wc.Get(*item)->fields.at("stock"), Value(int64_t{3}));

  ASSERT_TRUE(wc.Add(*item, "stock", 2).ok());
  ASSERT_TRUE(wc.Seal().ok());
  c.node.Push(wc.id());
  net.Run();
  EXPECT_EQ(wa.Get(*item)->fields.at("stock"), Value(int64_t{5}));
  EXPECT_EQ(wa.digests().state, wc.digests().state);
  EXPECT_EQ(wb.digests().version, wc.digests().version);
}

TEST_F(SyncTest, WhatIsPushedBeforeAnInvitationIsAcceptedStillArrivesAfter) {
  Node a("alice", 1, clock, net), b("bob", 2, clock, net);
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
  net.Connect(b.index, a.index, b.key(), a.key());
  net.Run();
  ASSERT_EQ(b.node.invitations().size(), 1u);
  // a works on while b has not accepted yet: b cannot take these deltas now.
  auto item = wa.CreateRecord("item", {{"sku", Value("A-1")}});
  ASSERT_TRUE(item.ok());
  ASSERT_TRUE(wa.Seal().ok());
  a.node.Push(wa.id());
  net.Run();
  auto& wb = Accept(b, wa.id());
  net.Run();
  EXPECT_EQ(wb.digests().version, wa.digests().version);
  EXPECT_TRUE(wb.Get(*item).has_value());
}

TEST_F(SyncTest, NonMembersGetNothingAndRemovedMembersNothingNew) {
  Node a("alice", 1, clock, net), b("bob", 2, clock, net), x("mallory", 9, clock, net);
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
  auto item = wa.CreateRecord("item", {{"secret", Value("plans")}});
  ASSERT_TRUE(wa.Seal().ok());
  net.Connect(x.index, a.index, x.key(), a.key());
  net.Connect(b.index, a.index, b.key(), a.key());
  net.Run();
  EXPECT_TRUE(x.node.invitations().empty()) << "a stranger is not told about the workspace";
  // Even asking for it by id gets nothing.
  wire::v1::Frame have;
  have.mutable_have()->set_workspace(wa.id().data(), 32);
  have.mutable_have()->set_holding(false);
  net.Inject(x.index, 1, ToBytes(have.SerializeAsString()));
  net.Run();
  EXPECT_TRUE(x.node.invitations().empty());

  auto& wb = Accept(b, wa.id());
  net.Run();
  ASSERT_TRUE(wb.Get(*item).has_value());
  ASSERT_TRUE(wa.RemoveMember(b.device.identity.device()).ok());
  ASSERT_TRUE(wa.Set(*item, "secret", Value("new plans")).ok());
  ASSERT_TRUE(wa.Seal().ok());
  a.node.Push(wa.id());
  net.Run();
  EXPECT_EQ(wb.Get(*item)->fields.at("secret"), Value("plans"))
      << "nothing written after the removal reaches the removed member";
}

TEST_F(SyncTest, GarbageWrongVersionAndForeignCardsCloseTheConnection) {
  Node a("alice", 1, clock, net), b("bob", 2, clock, net), m("mallory", 9, clock, net);
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
  auto expect_closed = [&](const std::string& reason_part) {
    ASSERT_FALSE(net.closed_reasons_.empty());
    EXPECT_NE(net.closed_reasons_.back().find(reason_part), std::string::npos)
        << net.closed_reasons_.back();
    EXPECT_TRUE(a.node.Connections().empty()) << "the connection is gone";
    EXPECT_TRUE(a.node.Find(wa.id()) != nullptr) << "the node goes on";
  };
  // Garbage instead of a hello.
  ConnectionId raw = net.ConnectRaw(a.index, b.key());
  net.Inject(MemoryNet::kRaw, raw, Bytes{0xff, 0x00, 0x13, 0x37});
  net.Run();
  expect_closed("malformed frame");

  // A hello with another protocol version.
  wire::v1::Frame hello;
  hello.mutable_hello()->set_protocol(99);
  hello.mutable_hello()->set_card(ToString(b.device.identity.card().encoded));
  raw = net.ConnectRaw(a.index, b.key());
  net.Inject(MemoryNet::kRaw, raw, ToBytes(hello.SerializeAsString()));
  net.Run();
  expect_closed("unsupported protocol version 99");

  // A hello with a member's card, on a TLS connection proving another key: an impostor.
  hello.mutable_hello()->set_protocol(1);
  raw = net.ConnectRaw(a.index, m.key());
  net.Inject(MemoryNet::kRaw, raw, ToBytes(hello.SerializeAsString()));
  net.Run();
  expect_closed("not for the key of the TLS connection");

  // Anything but a hello first.
  wire::v1::Frame have;
  have.mutable_have()->set_workspace(wa.id().data(), 32);
  raw = net.ConnectRaw(a.index, b.key());
  net.Inject(MemoryNet::kRaw, raw, ToBytes(have.SerializeAsString()));
  net.Run();
  expect_closed("expected a hello first");
}

TEST_F(SyncTest, LargeBacklogFlowsInBoundedBatchesUnderBackpressure) {
  sync::Options small;
  small.batch_bytes = 4 << 10;
  small.max_queued_bytes = 16 << 10;
  Node a("alice", 1, clock, net, small), b("bob", 2, clock, net, small);
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
  auto item = wa.CreateRecord("item", {{"n", Value(int64_t{0})}});
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(wa.Set(*item, "note", Value("edit " + std::to_string(i))).ok());
    ASSERT_TRUE(wa.Add(*item, "count", 1).ok());
    ASSERT_TRUE(wa.Seal().ok());  // 300 separate deltas
  }
  net.Connect(a.index, b.index, a.key(), b.key());
  net.Run();
  auto& wb = Accept(b, wa.id());
  net.Run();
  EXPECT_EQ(wb.Get(*item)->fields.at("count"), Value(int64_t{300}));
  EXPECT_EQ(wa.digests().version, wb.digests().version);
  EXPECT_FALSE(a.node.HasBacklog());
  uint64_t frames = 0;
  for (const auto& cv : a.node.Connections()) frames += cv.frames_out;
  EXPECT_GT(frames, 10u) << "sent in many bounded frames, not one";
}

TEST_F(SyncTest, ADeltaLargerThanThePeersFrameLimitIsHeldBackNotLooped) {
  sync::Options small;
  small.max_frame_bytes = 8 << 10;
  Node a("alice", 1, clock, net), b("bob", 2, clock, net, small);
  std::vector<std::string> notes;
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
  net.Connect(a.index, b.index, a.key(), b.key());
  net.Run();
  auto& wb = Accept(b, wa.id());
  net.Run();
  // Incompressible, so the sealed delta really is larger than bob accepts.
  Bytes noise(20 << 10);
  a.device.rng.Fill(noise);
  auto big = wa.CreateRecord("item", {{"photo", Value(Base64UrlEncode(noise))}});
  ASSERT_TRUE(wa.Seal().ok());
  auto small_record = wa.CreateRecord("item", {{"sku", Value("S-1")}});
  ASSERT_TRUE(wa.Seal().ok());
  a.node.Push(wa.id());
  net.Run();
  EXPECT_FALSE(wb.Get(*big).has_value());
  EXPECT_FALSE(wb.Get(*small_record).has_value()) << "held back behind the big one, in order";
  EXPECT_TRUE(net.closed_reasons_.empty()) << "no frame over the limit was sent";
  EXPECT_EQ(a.node.Connections().size(), 1u);
}

TEST_F(SyncTest, AddressesOfFellowMembersAreShared) {
  sync::Options with_port;
  with_port.listen_port = 7400;
  Node a("alice", 1, clock, net, with_port), b("bob", 2, clock, net, with_port),
      c("carol", 3, clock, net, with_port);
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
  ASSERT_TRUE(wa.AddMember(c.device.identity.card(), Role::kMember).ok());
  net.Connect(b.index, a.index, b.key(), a.key());
  net.Run();
  Accept(b, wa.id());
  net.Run();
  net.Connect(c.index, a.index, c.key(), a.key());
  net.Run();
  // c learns b's address from a (a saw b connect and b announced its port).
  bool knows_b = false;
  for (const auto& addr : c.node.Addresses()) {
    if (addr.device == b.device.identity.device()) {
      knows_b = addr.endpoint == "127.0.0.1:7400" && addr.sign_key == b.key();
    }
  }
  EXPECT_TRUE(knows_b);
}

// Managed mode's hooks: the credential each side sends in hello reaches the other's admission
// check, which can refuse the connection with a reason; notices travel between admitted nodes;
// Disconnect drops a device.
TEST_F(SyncTest, AdmissionSeesTheCredentialAndRefusesWithAReason) {
  std::vector<std::string> seen;
  sync::Options strict;
  strict.credential = "cred-of-a";
  strict.admit_peer = [&](const identity::CardInfo& card, const std::string& credential,
                          bool relay) -> Status {
    seen.push_back(card.name + ":" + credential + (relay ? ":relay" : ""));
    if (credential != "cred-of-b") return PermissionDenied("device " + card.name + " not enrolled");
    return Status::Ok();
  };
  std::vector<std::string> got;
  sync::Observer watch;
  watch.notices = [&](sync::ConnectionId, const std::vector<std::string>& items) {
    got.insert(got.end(), items.begin(), items.end());
  };
  sync::Options b_options;
  b_options.credential = "cred-of-b";
  Node a("alice", 1, clock, net, strict), b("bob", 2, clock, net, b_options, watch),
      c("carol", 3, clock, net);
  net.Connect(b.index, a.index, b.key(), a.key());
  net.Connect(c.index, a.index, c.key(), a.key());
  net.Run();
  EXPECT_EQ(seen, (std::vector<std::string>{"bob:cred-of-b", "carol:"}));
  ASSERT_EQ(a.node.Connections().size(), 1u);
  EXPECT_EQ(a.node.Connections()[0].device, b.device.identity.device());
  bool named = false;
  for (const std::string& r : net.closed_reasons_)
    named |= r.find("carol not enrolled") != std::string::npos;
  EXPECT_TRUE(named);

  a.node.SendNotices({"grove-revocation:x", "something else"});
  net.Run();
  EXPECT_EQ(got, (std::vector<std::string>{"grove-revocation:x", "something else"}));

  a.node.Disconnect(b.device.identity.device(), PermissionDenied("revoked"));
  net.Run();
  EXPECT_TRUE(a.node.Connections().empty());
  EXPECT_TRUE(b.node.Connections().empty());
}

// --- Attachment chunks ---------------------------------------------------------------------

// Seals `data` as an attachment of `ws` into n's store, as an upload would.
attachments::Attachment PutFile(Node& n, replica::Workspace& ws, const Bytes& data,
                                size_t chunk_size) {
  auto key_id = ws.CurrentContentKey();
  EXPECT_TRUE(key_id.has_value());
  const crypto::SymmetricKey* key = ws.ContentKey(*key_id);
  attachments::Writer writer(
      ws.id(), *key_id, *key, {chunk_size, 1 << 30},
      [&](const attachments::ChunkId& id, ByteView sealed, attachments::ChunkKind) {
        store::WriteBatch b;
        b.PutChunk(ws.id(), id, sealed);
        return n.device.store->Write(b);
      });
  EXPECT_TRUE(writer.Write(data).ok());
  auto a = writer.Finish("f.bin", "application/octet-stream");
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  return a.value();
}

Bytes FileBytes(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>((i * 7) ^ (i >> 8));
  return b;
}

std::vector<Hash32> DataIds(const attachments::Manifest& m) {
  std::vector<Hash32> ids;
  for (const auto& c : m.chunks) ids.push_back(c.id);
  return ids;
}

class ChunkSyncTest : public SyncTest {
 protected:
  // a creates a workspace with b as a member, connected and synced.
  replica::Workspace& Setup(Node& a, Node& b) {
    auto& wa = CreateAt(a);
    EXPECT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
    net.Connect(b.index, a.index, b.key(), a.key());
    net.Run();
    Accept(b, wa.id());
    net.Run();
    return wa;
  }

  static bool Holds(Node& n, const replica::WorkspaceId& ws, const Hash32& id) {
    auto held = n.device.store->HasChunk(ws, id);
    return held.ok() && *held;
  }
};

TEST_F(ChunkSyncTest, AMemberFetchesOnDemandInBoundedBatchesAndReadsTheFile) {
  sync::Options small;
  small.batch_bytes = 3000;  // several frames for the data chunks
  Node a("alice", 1, clock, net, small), b("bob", 2, clock, net);
  auto& wa = Setup(a, b);
  const Bytes data = FileBytes(40 * 1000 + 17);
  attachments::Attachment file = PutFile(a, wa, data, 1000);
  ASSERT_EQ(file.manifest.chunks.size(), 41u);
  EXPECT_FALSE(Holds(b, wa.id(), file.id)) << "attachments do not travel with deltas";

  // The manifest first, then the chunks it names.
  EXPECT_EQ(*b.node.StateOf(wa.id(), file.id), sync::ChunkState::kUnavailable) << "not asked yet";
  b.node.FetchChunks(wa.id(), {file.id});
  EXPECT_EQ(*b.node.StateOf(wa.id(), file.id), sync::ChunkState::kFetching);
  net.Run();
  ASSERT_EQ(*b.node.StateOf(wa.id(), file.id), sync::ChunkState::kHeld);
  replica::Workspace& wb = *b.node.Find(wa.id());
  auto keys = [&](const attachments::KeyId& k) { return wb.ContentKey(k); };
  auto manifest = attachments::OpenManifest(wa.id(), keys, file.id,
                                            **b.device.store->GetChunk(wa.id(), file.id));
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();

  // Resumable: a chunk already held is not asked for again.
  store::WriteBatch pre;
  pre.PutChunk(wa.id(), manifest->chunks[0].id,
               **a.device.store->GetChunk(wa.id(), manifest->chunks[0].id));
  ASSERT_TRUE(b.device.store->Write(pre).ok());
  const uint64_t a_frames_before = a.node.Connections().front().frames_out;
  b.node.FetchChunks(wa.id(), DataIds(*manifest));
  net.Run();
  Bytes back;
  for (size_t i = 0; i < manifest->chunks.size(); ++i) {
    ASSERT_TRUE(Holds(b, wa.id(), manifest->chunks[i].id)) << "chunk " << i;
    auto plain = attachments::OpenDataChunk(
        wa.id(), keys, *manifest, i, **b.device.store->GetChunk(wa.id(), manifest->chunks[i].id));
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
    back.insert(back.end(), plain->begin(), plain->end());
  }
  EXPECT_EQ(back, data);
  // 40 chunks of ~1 KB in frames of ~3 KB: bounded batches, not one frame, and not 41 requests'
  // worth of answers either (the held one was never asked for).
  const uint64_t frames = a.node.Connections().front().frames_out - a_frames_before;
  EXPECT_GE(frames, 40u / 3);
  EXPECT_LE(frames, 40u);

  // Fetching again sends nothing: everything is held.
  const uint64_t b_frames = b.node.Connections().front().frames_out;
  b.node.FetchChunks(wa.id(), DataIds(*manifest));
  net.Run();
  EXPECT_EQ(b.node.Connections().front().frames_out, b_frames);
}

// A file of many small chunks (the shape of a 2 GB file in 1 MiB chunks, scaled down).
constexpr size_t kManyChunks = 300;
constexpr size_t kSmallChunk = 1000;

std::vector<size_t> HeldIndexes(Node& n, const replica::WorkspaceId& ws,
                                const attachments::Manifest& m) {
  std::vector<size_t> held;
  for (size_t i = 0; i < m.chunks.size(); ++i) {
    auto h = n.device.store->HasChunk(ws, m.chunks[i].id);
    if (h.ok() && *h) held.push_back(i);
  }
  return held;
}

TEST_F(ChunkSyncTest, ADroppedConnectionResumesWithOnlyTheMissingChunksInFileOrder) {
  size_t stored = 0;
  sync::Observer observer;
  observer.chunks = [&](const replica::WorkspaceId&, size_t s, size_t, ConnectionId) {
    stored += s;
  };
  Node a("alice", 1, clock, net), b("bob", 2, clock, net, {}, observer);
  auto& wa = Setup(a, b);
  const Bytes data = FileBytes(kManyChunks * kSmallChunk - 3);
  attachments::Attachment file = PutFile(a, wa, data, kSmallChunk);
  ASSERT_EQ(file.manifest.chunks.size(), kManyChunks);
  // The manifest first (as a download does), then every data chunk.
  b.node.FetchChunks(wa.id(), {file.id});
  net.Run();
  ASSERT_TRUE(Holds(b, wa.id(), file.id));
  stored = 0;
  b.node.FetchChunks(wa.id(), DataIds(file.manifest));
  EXPECT_EQ(b.node.ChunksWanted(), kManyChunks);

  // Some request/answer rounds, then the connection drops mid-file.
  net.Run(12);
  const std::vector<size_t> before = HeldIndexes(b, wa.id(), file.manifest);
  ASSERT_GT(before.size(), 0u);
  ASSERT_LT(before.size(), kManyChunks / 2) << "the cut must come mid-file";
  EXPECT_EQ(stored, before.size());
  // Asked in file order, at most kMaxChunksInFlight at a time: what arrived is the file's start.
  for (size_t i : before) EXPECT_LT(i, before.size() + sync::kMaxChunksInFlight) << i;
  const ConnectionId a_side = a.node.Connections().front().id;
  net.Disconnect(a.index, a_side);  // bob hears the connection go, with requests in flight
  a.node.OnClosed(a_side);          // and so does alice
  net.Run();
  const size_t missing_id = file.manifest.chunks.size() - 1;
  EXPECT_EQ(*b.node.StateOf(wa.id(), file.manifest.chunks[missing_id].id),
            sync::ChunkState::kUnavailable)
      << "no member connected: nobody to ask";
  EXPECT_EQ(b.node.ChunksWanted(), kManyChunks - before.size()) << "the rest is still wanted";

  // The connection comes back: the fetch goes on by itself, with what is still missing only.
  net.Connect(b.index, a.index, b.key(), a.key());
  net.Run();
  EXPECT_EQ(HeldIndexes(b, wa.id(), file.manifest).size(), kManyChunks);
  EXPECT_EQ(stored, kManyChunks) << "each chunk was fetched and stored once";
  EXPECT_EQ(b.node.ChunksWanted(), 0u);
  replica::Workspace& wb = *b.node.Find(wa.id());
  auto keys = [&](const attachments::KeyId& k) { return wb.ContentKey(k); };
  Bytes back;
  for (size_t i = 0; i < kManyChunks; ++i) {
    auto plain =
        attachments::OpenDataChunk(wa.id(), keys, file.manifest, i,
                                   **b.device.store->GetChunk(wa.id(), file.manifest.chunks[i].id));
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
    back.insert(back.end(), plain->begin(), plain->end());
  }
  EXPECT_EQ(back, data);
}

TEST_F(ChunkSyncTest, AFetchResumesAfterTheReceiverRestartsWithoutRefetchingWhatItHolds) {
  Node a("alice", 1, clock, net), b("bob", 2, clock, net);
  auto& wa = Setup(a, b);
  attachments::Attachment file = PutFile(a, wa, FileBytes(kManyChunks * kSmallChunk), kSmallChunk);
  b.node.FetchChunks(wa.id(), {file.id});
  net.Run();
  b.node.FetchChunks(wa.id(), DataIds(file.manifest));
  net.Run(10);
  const size_t held = HeldIndexes(b, wa.id(), file.manifest).size();
  ASSERT_GT(held, 0u);
  ASSERT_LT(held, kManyChunks);
  // Bob's peer stops: the connection goes, and with it every want (they are not persisted).
  net.Disconnect(b.index, b.node.Connections().front().id);
  net.Run();

  // It starts again on the same store: a new node, the workspace reopened from the store.
  size_t stored = 0;
  sync::Observer observer;
  observer.chunks = [&](const replica::WorkspaceId&, size_t s, size_t, ConnectionId) {
    stored += s;
  };
  MemoryNet::Port port(net, 0);
  sync::SyncNode restarted(b.device.identity, port, {}, observer);
  const int index = net.Add(&restarted);
  port.set_node(index);
  restarted.SetChunkStore(b.device.store.get());
  auto reopened =
      replica::Workspace::Open(b.device.identity, wa.id(), *b.device.store, clock, b.device.rng);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  restarted.AddWorkspace(std::move(reopened).value());
  net.Connect(index, a.index, b.key(), a.key());
  net.Run();
  const uint64_t a_bytes_before = a.node.Connections().back().bytes_out;

  // Opening the file again asks for all of it; only what is missing travels.
  restarted.FetchChunks(wa.id(), DataIds(file.manifest));
  EXPECT_EQ(restarted.ChunksWanted(), kManyChunks - held);
  net.Run();
  EXPECT_EQ(HeldIndexes(b, wa.id(), file.manifest).size(), kManyChunks);
  EXPECT_EQ(stored, kManyChunks - held);
  // The bytes alice sent: the missing chunks' sealed bytes and little else.
  const uint64_t sent = a.node.Connections().back().bytes_out - a_bytes_before;
  const uint64_t sealed = kSmallChunk + attachments::kHeaderBytes + crypto::kTagSize;
  EXPECT_GE(sent, (kManyChunks - held) * sealed);
  EXPECT_LT(sent, (kManyChunks - held) * (sealed + 64));
}

TEST_F(ChunkSyncTest, ARemovedMemberIsRefusedChunks) {
  Node a("alice", 1, clock, net), b("bob", 2, clock, net);
  auto& wa = Setup(a, b);
  attachments::Attachment file = PutFile(a, wa, FileBytes(500), 1000);
  ASSERT_TRUE(wa.RemoveMember(b.device.identity.device()).ok());
  a.node.Push(wa.id());
  net.Run();
  b.node.FetchChunks(wa.id(), {file.id});
  net.Run();
  EXPECT_FALSE(Holds(b, wa.id(), file.id)) << "a non-member is served nothing";
  EXPECT_EQ(*b.node.StateOf(wa.id(), file.id), sync::ChunkState::kUnavailable)
      << "and knows no connected member will give it";
}

TEST_F(ChunkSyncTest, ACorruptedChunkIsRejectedAndFetchedFromAnotherMember) {
  size_t corrupted = 0, stored = 0;
  sync::Observer observer;
  observer.chunks = [&](const replica::WorkspaceId&, size_t s, size_t c, ConnectionId) {
    stored += s;
    corrupted += c;
  };
  Node a("alice", 1, clock, net), b("bob", 2, clock, net, {}, observer), c("carol", 3, clock, net);
  auto& wa = Setup(a, b);
  attachments::Attachment file = PutFile(a, wa, FileBytes(500), 1000);
  // Alice's copy of the manifest rots on disk (the store does not hash what it is given).
  Bytes rotten = **a.device.store->GetChunk(wa.id(), file.id);
  rotten[rotten.size() - 1] ^= 0x40;
  store::WriteBatch rot;
  rot.DeleteChunk(wa.id(), file.id);
  rot.PutChunk(wa.id(), file.id, rotten);
  ASSERT_TRUE(a.device.store->Write(rot).ok());

  b.node.FetchChunks(wa.id(), {file.id});
  net.Run();
  EXPECT_EQ(corrupted, 1u);
  EXPECT_FALSE(Holds(b, wa.id(), file.id)) << "a chunk that fails its id is not stored";
  EXPECT_EQ(*b.node.StateOf(wa.id(), file.id), sync::ChunkState::kUnavailable);

  // Carol, a member with a good copy, connects: the fetch goes on with her.
  ASSERT_TRUE(wa.AddMember(c.device.identity.card(), Role::kMember).ok());
  a.node.Push(wa.id());
  net.Run();
  net.Connect(c.index, a.index, c.key(), a.key());
  net.Run();
  auto& wc = Accept(c, wa.id());
  net.Run();
  // Carol adds the same file herself: sealing is deterministic, so she holds the good bytes.
  attachments::Attachment again = PutFile(c, wc, FileBytes(500), 1000);
  ASSERT_EQ(again.id, file.id) << "same file, same key: the same chunks";
  b.node.FetchChunks(wa.id(), {file.id});  // nothing happens until carol is connected
  net.Connect(b.index, c.index, b.key(), c.key());
  net.Run();
  EXPECT_TRUE(Holds(b, wa.id(), file.id));
  EXPECT_EQ(stored, 1u);
  EXPECT_EQ(**b.device.store->GetChunk(wa.id(), file.id),
            **c.device.store->GetChunk(wa.id(), file.id));
}

TEST_F(ChunkSyncTest, UnaskedChunksAreIgnoredAndMalformedRequestsClose) {
  Node a("alice", 1, clock, net), b("bob", 2, clock, net);
  auto& wa = Setup(a, b);
  attachments::Attachment file = PutFile(a, wa, FileBytes(500), 1000);
  // b pushes a chunk a never asked for: not stored.
  wire::v1::Frame push;
  push.mutable_chunks()->set_workspace(wa.id().data(), 32);
  auto* chunk = push.mutable_chunks()->add_chunks();
  Bytes junk = {1, 2, 3};
  Hash32 junk_id = crypto::Sha256(junk);
  chunk->set_id(junk_id.data(), 32);
  chunk->set_data(junk.data(), junk.size());
  ConnectionId b_to_a = b.node.Connections().front().id;
  b.port.Send(b_to_a, ToBytes(push.SerializeAsString()));
  net.Run();
  EXPECT_FALSE(Holds(a, wa.id(), junk_id));
  // A request with a malformed id closes the connection.
  wire::v1::Frame bad;
  bad.mutable_chunk_request()->set_workspace(wa.id().data(), 32);
  bad.mutable_chunk_request()->add_ids("short");
  b.port.Send(b_to_a, ToBytes(bad.SerializeAsString()));
  net.Run();
  ASSERT_FALSE(net.closed_reasons_.empty());
  EXPECT_NE(net.closed_reasons_.back().find("chunk id is not 32 bytes"), std::string::npos);
  (void)file;
}

}  // namespace
}  // namespace grove
