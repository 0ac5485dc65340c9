// Checkpoints over the sync protocol (sync.h, "Checkpoints"; decision 0011): a new member of a
// workspace whose history was pruned starts from the checkpoint, a member back after its base
// was pruned catches up and keeps its offline work, a member missing a trusted checkpoint gets
// it from a peer, and what arrives corrupted or oversized is refused without harm.
#include <gtest/gtest.h>
#include <zstd.h>

#include <string>
#include <vector>

#include "grove/v1/sync.pb.h"
#include "sync/sync.h"
#include "unit/sync/memory_net.h"

namespace grove {
namespace {

using replica::RecordId;

// What a node's observer saw of checkpoints and notes.
struct Seen {
  std::vector<Status> checkpoints;  // outcome of each checkpoint that arrived whole
  std::vector<ConnectionId> from;
  std::vector<std::string> notes;
  size_t deltas_accepted = 0;

  sync::Observer observer() {
    sync::Observer o;
    o.checkpoint = [this](const replica::WorkspaceId&, const Hash32&, uint64_t,
                          const Status& outcome, ConnectionId c) {
      checkpoints.push_back(outcome);
      from.push_back(c);
    };
    o.note = [this](ConnectionId, const std::string& what) { notes.push_back(what); };
    o.applied = [this](const replica::WorkspaceId&, const replica::ApplyReport& r, ConnectionId) {
      deltas_accepted += r.accepted;
    };
    return o;
  }
  bool Noted(const std::string& part) const {
    for (const std::string& n : notes) {
      if (n.find(part) != std::string::npos) return true;
    }
    return false;
  }
};

Bytes Pack(ByteView plain) {
  Bytes packed(ZSTD_compressBound(plain.size()));
  size_t n = ZSTD_compress(packed.data(), packed.size(), plain.data(), plain.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  packed.resize(n);
  return packed;
}

Bytes PartFrame(const replica::WorkspaceId& ws, const Hash32& id, uint64_t offset, uint64_t total,
                ByteView data) {
  wire::v1::Frame frame;
  wire::v1::CheckpointPart* p = frame.mutable_checkpoint_part();
  p->set_workspace(ws.data(), ws.size());
  p->set_id(id.data(), id.size());
  p->set_offset(offset);
  p->set_total(total);
  p->set_data(data.data(), data.size());
  return ToBytes(frame.SerializeAsString());
}

class CheckpointSyncTest : public SyncTest {
 protected:
  // `rounds` deltas, each setting one of `records`' note to fresh random text: history that
  // grows far past the state it leaves.
  void Churn(Node& n, replica::Workspace& ws, const std::vector<RecordId>& records, int rounds) {
    for (int i = 0; i < rounds; ++i) {
      Bytes noise(600);
      n.device.rng.Fill(noise);
      Status set = ws.Set(records[i % records.size()], "note", Value(Base64UrlEncode(noise)));
      ASSERT_TRUE(set.ok()) << set.ToString();
      ASSERT_TRUE(ws.Seal().ok());
    }
    n.node.Push(ws.id());
  }

  std::vector<RecordId> Records(replica::Workspace& ws, int n) {
    std::vector<RecordId> out;
    for (int i = 0; i < n; ++i) {
      auto id = ws.CreateRecord("item", {{"sku", Value("SKU-" + std::to_string(i))}});
      EXPECT_TRUE(id.ok());
      out.push_back(*id);
    }
    EXPECT_TRUE(ws.Seal().ok());
    return out;
  }

  static uint64_t HistoryBytes(replica::Workspace& ws) {
    auto all = ws.DeltasFor({}, SIZE_MAX);
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    uint64_t total = 0;
    for (const Bytes& d : *all) total += d.size();
    return total;
  }

  static ConnectionId ConnectionTo(Node& from, Node& to) {
    for (const sync::ConnectionView& c : from.node.Connections()) {
      if (c.device == to.device.identity.device()) return c.id;
    }
    ADD_FAILURE() << "not connected";
    return 0;
  }

  static uint64_t BytesIn(Node& n) {
    uint64_t total = 0;
    for (const sync::ConnectionView& c : n.node.Connections()) total += c.bytes_in;
    return total;
  }

  // Both sides see the connection go.
  void Drop(Node& a, Node& b) {
    ConnectionId id = ConnectionTo(a, b);
    net.Disconnect(a.index, id);
    a.node.OnClosed(id);
  }

  static void ExpectSame(std::initializer_list<replica::Workspace*> all) {
    const replica::Digests first = (*all.begin())->digests();
    for (replica::Workspace* ws : all) {
      const replica::Digests d = ws->digests();
      EXPECT_EQ(d.version, first.version);
      EXPECT_EQ(d.state, first.state);
      EXPECT_EQ(d.unreadable, 0u);
      EXPECT_FALSE(ws->MissingCheckpoint());
    }
  }
};

TEST_F(CheckpointSyncTest, ANewMemberOfAPrunedWorkspaceStartsFromTheCheckpoint) {
  sync::Options small;
  small.batch_bytes = 4 << 10;
  small.max_queued_bytes = 16 << 10;
  Seen at_d;
  Node a("alice", 1, clock, net, small), b("bob", 2, clock, net, small),
      c("carol", 3, clock, net, small), d("dave", 4, clock, net, small, at_d.observer());
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
  ASSERT_TRUE(wa.AddMember(c.device.identity.card(), Role::kMember).ok());
  net.Connect(a.index, b.index, a.key(), b.key());
  net.Connect(a.index, c.index, a.key(), c.key());
  net.Run();
  auto& wb = Accept(b, wa.id());
  auto& wc = Accept(c, wa.id());
  net.Run();
  const std::vector<RecordId> records = Records(wa, 40);
  Churn(a, wa, records, 160);
  net.Run();
  Churn(b, wb, records, 40);
  net.Run();
  ASSERT_EQ(wb.digests().version, wa.digests().version);
  const uint64_t history = HistoryBytes(wa);

  // The owner claims a checkpoint (trusted at once); b and c hold its version and compute it.
  auto claim = wa.ClaimCheckpoint();
  ASSERT_TRUE(claim.ok()) << claim.status().ToString();
  ASSERT_TRUE(claim->trusted);
  a.node.Push(wa.id());
  net.Run();
  for (replica::Workspace* ws : {&wa, &wb, &wc}) {
    ASSERT_TRUE(ws->Barrier());
    EXPECT_EQ(ws->Barrier()->id, claim->id);
    EXPECT_TRUE(ws->Barrier()->trusted);
  }
  clock.Advance(1000);
  for (replica::Workspace* ws : {&wa, &wb, &wc}) {
    auto pruned = ws->Prune(0);
    ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
    EXPECT_GT(pruned->deltas, 200u) << "the history under the checkpoint went";
  }

  // dave is invited afterwards and meets bob first, a member that pruned too: bob introduces
  // him and can only give him the checkpoint.
  ASSERT_TRUE(wa.AddMember(d.device.identity.card(), Role::kMember).ok());
  a.node.Push(wa.id());
  net.Run();
  net.Connect(d.index, b.index, d.key(), b.key());
  net.Run();
  ASSERT_EQ(d.node.invitations().size(), 1u);
  EXPECT_EQ(d.node.invitations().begin()->second.from, b.device.identity.device());
  auto& wd = Accept(d, wa.id());
  net.Run();

  ASSERT_EQ(at_d.checkpoints.size(), 1u);
  EXPECT_TRUE(at_d.checkpoints[0].ok()) << at_d.checkpoints[0].ToString();
  EXPECT_EQ(b.node.checkpoints_sent(), 1u);
  EXPECT_EQ(d.node.checkpoints_sent(), 0u) << "bob holds it: dave has no reason to send it";
  ASSERT_TRUE(wd.Barrier());
  EXPECT_EQ(wd.Barrier()->id, claim->id);
  EXPECT_TRUE(wd.Barrier()->trusted) << "the claim came after the checkpoint";
  ExpectSame({&wa, &wb, &wc, &wd});
  EXPECT_EQ(wd.List("item").size(), 40u);
  EXPECT_EQ(wd.Get(records[7])->fields.at("note"), wa.Get(records[7])->fields.at("note"));
  // Far less than the history, and only the few deltas after the checkpoint.
  EXPECT_LT(BytesIn(d) * 3, history)
      << "dave received " << BytesIn(d) << " bytes; history is " << history;
  EXPECT_LT(at_d.deltas_accepted, 10u);
  // Sent in parts under the queue limit: never more queued than the limit plus one frame.
  EXPECT_GT(b.node.checkpoint_bytes_sent(), small.max_queued_bytes);
  EXPECT_LE(net.MaxQueuedBeforeSend(), small.max_queued_bytes + small.batch_bytes + 1024);

  // dave works on, and everyone gets it.
  ASSERT_TRUE(wd.Set(records[0], "note", Value("dave was here")).ok());
  ASSERT_TRUE(wd.Seal().ok());
  d.node.Push(wd.id());
  net.Run();
  ExpectSame({&wa, &wb, &wc, &wd});
  EXPECT_EQ(wa.Get(records[0])->fields.at("note"), Value("dave was here"));
}

TEST_F(CheckpointSyncTest, AMemberBackAfterItsBaseWasPrunedCatchesUpAndKeepsItsWork) {
  Seen at_b;
  Node a("alice", 1, clock, net), b("bob", 2, clock, net, {}, at_b.observer()),
      c("carol", 3, clock, net);
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
  ASSERT_TRUE(wa.AddMember(c.device.identity.card(), Role::kMember).ok());
  net.Connect(b.index, a.index, b.key(), a.key());
  net.Connect(c.index, a.index, c.key(), a.key());
  net.Run();
  auto& wb = Accept(b, wa.id());
  auto& wc = Accept(c, wa.id());
  net.Run();
  const std::vector<RecordId> records = Records(wa, 5);
  a.node.Push(wa.id());
  net.Run();
  ASSERT_EQ(wb.List("item").size(), 5u);

  // bob goes away for weeks, with work nobody has seen.
  Drop(b, a);
  auto mine = wb.CreateRecord("item", {{"sku", Value("B-OFFLINE")}});
  ASSERT_TRUE(mine.ok());
  ASSERT_TRUE(wb.Set(records[0], "offline", Value("from bob")).ok());
  ASSERT_TRUE(wb.Seal().ok());

  // Meanwhile the others carry on, checkpoint, and prune the history under it.
  Churn(a, wa, records, 60);
  Churn(c, wc, records, 30);
  net.Run();
  auto claim = wa.ClaimCheckpoint();
  ASSERT_TRUE(claim.ok()) << claim.status().ToString();
  a.node.Push(wa.id());
  net.Run();
  clock.Advance(21ull * 24 * 3600 * 1000);
  for (replica::Workspace* ws : {&wa, &wc}) {
    auto pruned = ws->Prune(7ull * 24 * 3600 * 1000);
    ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
    EXPECT_GT(pruned->deltas, 80u) << "bob, silent for three weeks, does not hold it back";
  }
  ASSERT_EQ(wa.DeltasFor(wb.Version()).status().code(), Code::kFailedPrecondition);

  // bob is back.
  net.Connect(b.index, a.index, b.key(), a.key());
  net.Run();
  ASSERT_EQ(at_b.checkpoints.size(), 1u);
  EXPECT_TRUE(at_b.checkpoints[0].ok()) << at_b.checkpoints[0].ToString();
  ASSERT_TRUE(wb.Barrier());
  EXPECT_EQ(wb.Barrier()->id, claim->id);
  EXPECT_TRUE(wb.Barrier()->trusted);
  ExpectSame({&wa, &wb, &wc});
  for (replica::Workspace* ws : {&wa, &wb, &wc}) {
    auto kept = ws->Get(*mine);
    ASSERT_TRUE(kept) << "bob's offline record was lost";
    EXPECT_EQ(kept->fields.at("sku"), Value("B-OFFLINE"));
    EXPECT_EQ(ws->Get(records[0])->fields.at("offline"), Value("from bob"));
  }
}

TEST_F(CheckpointSyncTest, AMemberMissingATrustedCheckpointGetsItFromAPeer) {
  Seen at_b, at_c;
  Node a("alice", 1, clock, net), b("bob", 2, clock, net, {}, at_b.observer()),
      c("carol", 3, clock, net, {}, at_c.observer());
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
  ASSERT_TRUE(wa.AddMember(c.device.identity.card(), Role::kMember).ok());
  net.Connect(b.index, a.index, b.key(), a.key());
  net.Connect(c.index, a.index, c.key(), a.key());
  net.Run();
  auto& wb = Accept(b, wa.id());
  auto& wc = Accept(c, wa.id());
  net.Run();
  const std::vector<RecordId> records = Records(wa, 3);
  a.node.Push(wa.id());
  net.Run();

  // bob and carol change records the owner has not seen when it claims a checkpoint: neither
  // can compute it, so once they learn it is trusted, they need its bytes.
  Drop(b, a);
  Drop(c, a);
  ASSERT_TRUE(wb.Set(records[0], "note", Value("bob's")).ok());
  ASSERT_TRUE(wb.Seal().ok());
  ASSERT_TRUE(wc.Set(records[1], "note", Value("carol's")).ok());
  ASSERT_TRUE(wc.Seal().ok());
  auto claim = wa.ClaimCheckpoint();
  ASSERT_TRUE(claim.ok()) << claim.status().ToString();
  net.Connect(b.index, c.index, b.key(), c.key());
  net.Run();
  // carol meets the owner; she asks bob first (the older connection), who lacks it, then alice.
  net.Connect(c.index, a.index, c.key(), a.key());
  net.Run();

  EXPECT_TRUE(at_c.Noted("does not hold checkpoint")) << "bob was asked and said no";
  ASSERT_FALSE(at_c.checkpoints.empty());
  EXPECT_TRUE(at_c.checkpoints.back().ok()) << at_c.checkpoints.back().ToString();
  EXPECT_EQ(at_c.from.back(), ConnectionTo(c, a));
  // bob is not connected to the owner: carol, once she held it, gave it to him.
  ASSERT_FALSE(at_b.checkpoints.empty());
  EXPECT_TRUE(at_b.checkpoints.back().ok()) << at_b.checkpoints.back().ToString();
  EXPECT_EQ(at_b.from.back(), ConnectionTo(b, c));
  for (replica::Workspace* ws : {&wb, &wc}) {
    ASSERT_TRUE(ws->Barrier());
    EXPECT_EQ(ws->Barrier()->id, claim->id);
    EXPECT_TRUE(ws->Barrier()->trusted);
  }
  ExpectSame({&wa, &wb, &wc});
  EXPECT_EQ(wa.Get(records[0])->fields.at("note"), Value("bob's"));
}

TEST_F(CheckpointSyncTest, CorruptedOrOversizedCheckpointsAreRefusedWithoutHarm) {
  Seen at_d;
  Node a("alice", 1, clock, net), d("dave", 4, clock, net, {}, at_d.observer());
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(d.device.identity.card(), Role::kMember).ok());
  const std::vector<RecordId> records = Records(wa, 4);
  auto claim = wa.ClaimCheckpoint();
  ASSERT_TRUE(claim.ok());
  auto held = wa.CheckpointBytes(claim->id);
  ASSERT_TRUE(held.ok() && held->has_value());
  const Bytes good = **held;
  auto genesis = wa.Genesis();
  ASSERT_TRUE(genesis.ok());
  auto joined =
      replica::Workspace::Join(d.device.identity, *genesis, *d.device.store, clock, d.device.rng);
  ASSERT_TRUE(joined.ok());
  replica::Workspace& wd = **joined;
  d.node.AddWorkspace(std::move(joined).value());

  // A scripted remote speaking as the owner (the only member dave knows of).
  wire::v1::Frame hello;
  hello.mutable_hello()->set_protocol(1);
  hello.mutable_hello()->set_card(ToString(a.device.identity.card().encoded));
  auto speak_as_owner = [&] {
    ConnectionId raw = net.ConnectRaw(d.index, a.key());
    net.Inject(MemoryNet::kRaw, raw, ToBytes(hello.SerializeAsString()));
    net.Run();
    return raw;
  };
  ConnectionId raw = speak_as_owner();
  ASSERT_EQ(d.node.Connections().size(), 1u);

  // One byte changed before compression: whole and well-formed, but not the bytes named.
  Bytes tampered = good;
  tampered[tampered.size() / 2] ^= 0x01;
  const Bytes bad = Pack(tampered);
  net.Inject(MemoryNet::kRaw, raw, PartFrame(wa.id(), claim->id, 0, bad.size(), bad));
  net.Run();
  ASSERT_EQ(at_d.checkpoints.size(), 1u);
  EXPECT_EQ(at_d.checkpoints[0].code(), Code::kCorruption);
  EXPECT_NE(at_d.checkpoints[0].message().find("do not match its id"), std::string::npos)
      << at_d.checkpoints[0].ToString();
  EXPECT_FALSE(wd.Barrier()) << "nothing of it was used";
  EXPECT_EQ(d.node.Connections().size(), 1u) << "the connection goes on";

  // The real one, in two parts, on the same connection.
  const Bytes packed = Pack(good);
  const size_t half = packed.size() / 2;
  net.Inject(MemoryNet::kRaw, raw,
             PartFrame(wa.id(), claim->id, 0, packed.size(), ByteView(packed).first(half)));
  net.Inject(MemoryNet::kRaw, raw,
             PartFrame(wa.id(), claim->id, half, packed.size(), ByteView(packed).subspan(half)));
  net.Run();
  ASSERT_EQ(at_d.checkpoints.size(), 2u);
  EXPECT_TRUE(at_d.checkpoints[1].ok()) << at_d.checkpoints[1].ToString();
  ASSERT_TRUE(wd.Barrier());
  EXPECT_EQ(wd.Barrier()->id, claim->id);
  EXPECT_EQ(wd.List("item").size(), 4u);

  // Over the compressed limit: refused before anything is taken, with a reason.
  const Bytes some(64, 0x42);
  net.Inject(MemoryNet::kRaw, raw, PartFrame(wa.id(), claim->id, 0, 2ull << 30, some));
  net.Run();
  ASSERT_FALSE(net.closed_reasons_.empty());
  EXPECT_NE(net.closed_reasons_.back().find("bytes compressed refused: the limit is"),
            std::string::npos)
      << net.closed_reasons_.back();
  EXPECT_TRUE(d.node.Connections().empty());

  // A zstd header announcing more than 4 GiB once decompressed.
  raw = speak_as_owner();
  Bytes header = {0x28, 0xB5, 0x2F, 0xFD, 0xC0, 0x58};  // magic; 8-byte size; window
  const uint64_t huge = 5ull << 30;
  for (int i = 0; i < 8; ++i) header.push_back(static_cast<uint8_t>(huge >> (8 * i)));
  header.resize(64, 0);
  net.Inject(MemoryNet::kRaw, raw, PartFrame(wa.id(), claim->id, 0, 1 << 20, header));
  net.Run();
  EXPECT_NE(net.closed_reasons_.back().find("decompressed is over the limit"), std::string::npos)
      << net.closed_reasons_.back();
  EXPECT_TRUE(d.node.Connections().empty());

  // Parts out of order.
  raw = speak_as_owner();
  net.Inject(MemoryNet::kRaw, raw,
             PartFrame(wa.id(), claim->id, 0, packed.size(), ByteView(packed).first(10)));
  net.Inject(MemoryNet::kRaw, raw,
             PartFrame(wa.id(), claim->id, 20, packed.size(), ByteView(packed).subspan(20)));
  net.Run();
  EXPECT_NE(net.closed_reasons_.back().find("out of order"), std::string::npos)
      << net.closed_reasons_.back();
  EXPECT_EQ(at_d.checkpoints.size(), 2u) << "the partial one was dropped with its connection";

  // Through all that dave stayed sound: with the real owner he converges.
  ASSERT_TRUE(wa.Set(records[0], "note", Value("after")).ok());
  ASSERT_TRUE(wa.Seal().ok());
  net.Connect(d.index, a.index, d.key(), a.key());
  net.Run();
  ExpectSame({&wa, &wd});
  EXPECT_EQ(wd.Get(records[0])->fields.at("note"), Value("after"));
}

}  // namespace
}  // namespace grove
