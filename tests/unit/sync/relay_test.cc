// A blind relay between peers (sync::Options::blind and ::relays, decision 0009), over the
// in-memory network: store-and-forward, invitations through the relay, membership checks,
// acknowledgements and refusals.
#include <gtest/gtest.h>

#include "grove/v1/sync.pb.h"
#include "sync/sync.h"
#include "unit/sync/memory_net.h"

namespace grove {
namespace {

class RelayTest : public SyncTest {
 protected:
  // The relay: a blind node whose workspaces are joined from the genesis a member brings.
  struct Relay {
    Relay(FakeClock& clock, MemoryNet& net, RelayTest& test)
        : node("relay", 77, clock, net, BlindOptions(), {}, Hooks(test)) {}

    static sync::Options BlindOptions() {
      sync::Options o;
      o.blind = true;
      return o;
    }
    sync::BlindHooks Hooks(RelayTest& test) {
      sync::BlindHooks h;
      h.open = [this, &test](const replica::WorkspaceId&, ByteView genesis) {
        return replica::Workspace::Join(node.device.identity, genesis, *node.device.store,
                                        test.clock, node.device.rng);
      };
      h.discard = [this](const replica::WorkspaceId& ws) {
        ++discarded;
        store::WriteBatch wb;
        wb.DeleteWorkspace(ws);
        EXPECT_TRUE(node.device.store->Write(wb).ok());
      };
      h.admit = [this](const replica::WorkspaceId&, const identity::DeviceId&,
                       const std::vector<sync::FreshDelta>& fresh) -> Status {
        size_t bytes = 0;
        for (const sync::FreshDelta& d : fresh) bytes += d.bytes->size();
        if (stored_bytes + bytes > quota_bytes) {
          return ResourceExhausted("workspace quota of " + std::to_string(quota_bytes) +
                                   " bytes is full");
        }
        stored_bytes += bytes;
        return Status::Ok();
      };
      h.rendezvous = [this](const identity::DeviceId&, const identity::DeviceId&) {
        return rendezvous_token;
      };
      return h;
    }

    Node node;
    size_t quota_bytes = SIZE_MAX;
    size_t stored_bytes = 0;
    int discarded = 0;
    std::string rendezvous_token = "token-1";
  };

  // Punch requests a node received.
  static sync::Observer Punches(std::vector<sync::PunchRequest>& into) {
    sync::Observer o;
    o.punch = [&into](const sync::PunchRequest& p, ConnectionId) { into.push_back(p); };
    return o;
  }

  sync::Options Via(const Relay& relay) {
    sync::Options o;
    o.relays.insert(relay.node.device.identity.device());
    return o;
  }

  void ConnectToRelay(Node& peer, Relay& relay) {
    net.Connect(peer.index, relay.node.index, peer.key(), relay.node.key());
    net.Run();
  }

  static const sync::ConnectionView* RelayConnection(Node& peer) {
    for (const sync::ConnectionView& c : peer.node.Connections()) {
      if (c.relay) {
        static sync::ConnectionView copy;
        copy = c;
        return &copy;
      }
    }
    return nullptr;
  }
};

TEST_F(RelayTest, AnOfflineMemberCatchesUpFromTheRelayAlone) {
  Relay relay(clock, net, *this);
  Node a("alice", 1, clock, net, Via(relay)), b("bob", 2, clock, net, Via(relay));
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
  auto item = wa.CreateRecord("item", {{"sku", Value("A-1")}});
  ASSERT_TRUE(item.ok());
  ASSERT_TRUE(wa.Add(*item, "stock", 7).ok());
  ASSERT_TRUE(wa.Seal().ok());

  ConnectToRelay(a, relay);
  replica::Workspace* held = relay.node.node.Find(wa.id());
  ASSERT_NE(held, nullptr) << "the relay took the workspace from its owner";
  EXPECT_EQ(held->digests().version, wa.digests().version);
  EXPECT_EQ(held->digests().deltas, 3u) << "genesis, the invitation of b, the record";
  EXPECT_EQ(held->digests().unreadable, 1u)
      << "the relay cannot read the record's delta: it holds no content key";
  EXPECT_FALSE(held->HoldsKeys());
  const sync::ConnectionView* to_relay = RelayConnection(a);
  ASSERT_NE(to_relay, nullptr);
  ASSERT_EQ(to_relay->acked.count(wa.id()), 1u) << "the relay acknowledged what it stored";
  EXPECT_EQ(to_relay->acked.at(wa.id()).at(a.device.identity.device()), wa.Version()[0].seq);

  // a goes away; b, who never met a, comes online and meets only the relay.
  net.Disconnect(a.index, 1);
  ConnectToRelay(b, relay);
  ASSERT_EQ(b.node.invitations().size(), 1u) << "the relay passes the invitation on";
  EXPECT_EQ(b.node.invitations().begin()->second.from, relay.node.device.identity.device());
  auto& wb = Accept(b, wa.id());
  net.Run();
  ASSERT_TRUE(wb.Get(*item).has_value());
  EXPECT_EQ(wb.Get(*item)->fields.at("stock"), Value(int64_t{7}));
  EXPECT_EQ(wb.digests().state, wa.digests().state);
  const sync::ConnectionView* b_relay = RelayConnection(b);
  ASSERT_NE(b_relay, nullptr);
  ASSERT_EQ(b_relay->acked.count(wa.id()), 1u);
  EXPECT_EQ(b_relay->acked.at(wa.id()).at(a.device.identity.device()),
            held->Version()[0].device == a.device.identity.device() ? held->Version()[0].seq
                                                                    : held->Version()[1].seq)
      << "what the relay holds and served counts as stored for b, too";

  // b's own work goes to the relay and on to a when a is back.
  ASSERT_TRUE(wb.Add(*item, "stock", -2).ok());
  ASSERT_TRUE(wb.Seal().ok());
  b.node.Push(wb.id());
  net.Run();
  ConnectToRelay(a, relay);
  EXPECT_EQ(wa.Get(*item)->fields.at("stock"), Value(int64_t{5}));
  EXPECT_EQ(wa.digests().state, wb.digests().state);
}

TEST_F(RelayTest, TheRelayServesAndTakesDeltasOnlyFromMembers) {
  Relay relay(clock, net, *this);
  Node a("alice", 1, clock, net, Via(relay)), x("mallory", 9, clock, net, Via(relay));
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.CreateRecord("item", {{"secret", Value("plans")}}).ok());
  ASSERT_TRUE(wa.Seal().ok());
  ConnectToRelay(a, relay);
  ASSERT_NE(relay.node.node.Find(wa.id()), nullptr);
  const auto held_version = relay.node.node.Find(wa.id())->digests().version;

  // A stranger connects and asks for the workspace by id: nothing.
  ConnectToRelay(x, relay);
  wire::v1::Frame have;
  have.mutable_have()->set_workspace(wa.id().data(), 32);
  have.mutable_have()->set_holding(true);
  ConnectionId x_conn = net.LastId() - 1;  // x's side of its relay connection
  net.Inject(x.index, x_conn, ToBytes(have.SerializeAsString()));
  net.Run();
  EXPECT_TRUE(x.node.invitations().empty());

  // The stranger's own workspace reaches the relay (x owns it) ...
  auto& wx = CreateAt(x);
  net.Run();
  EXPECT_NE(relay.node.node.Find(wx.id()), nullptr);

  // ... but deltas it sends for a's workspace are refused and nothing is stored.
  wire::v1::Frame deltas;
  deltas.mutable_deltas()->set_workspace(wa.id().data(), 32);
  auto genesis = wx.Genesis();
  ASSERT_TRUE(genesis.ok());
  deltas.mutable_deltas()->add_deltas(genesis->data(), genesis->size());
  net.Inject(x.index, x_conn, ToBytes(deltas.SerializeAsString()));
  net.Run();
  EXPECT_EQ(relay.node.node.Find(wa.id())->digests().version, held_version);
  EXPECT_EQ(relay.node.node.Find(wa.id())->RoleOf(x.device.identity.device()),
            replica::Role::kNone);
}

TEST_F(RelayTest, AWorkspaceBroughtByANonMemberIsDiscarded) {
  Relay relay(clock, net, *this);
  Node a("alice", 1, clock, net), x("mallory", 9, clock, net, Via(relay));
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.Seal().ok());
  // x somehow holds a's genesis and offers it to the relay as if it were its own.
  ConnectToRelay(x, relay);
  auto genesis = wa.Genesis();
  ASSERT_TRUE(genesis.ok());
  wire::v1::Frame deltas;
  deltas.mutable_deltas()->set_workspace(wa.id().data(), 32);
  deltas.mutable_deltas()->add_deltas(genesis->data(), genesis->size());
  net.Inject(x.index, net.LastId() - 1, ToBytes(deltas.SerializeAsString()));
  net.Run();
  EXPECT_EQ(relay.node.node.Find(wa.id()), nullptr);
  EXPECT_EQ(relay.discarded, 1);
  auto stored = relay.node.device.store->ListWorkspaces();
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->empty()) << "nothing of it stays in the relay's store";
}

TEST_F(RelayTest, AFullQuotaRefusesNewDeltasAndKeepsTheOldOnes) {
  Relay relay(clock, net, *this);
  Node a("alice", 1, clock, net, Via(relay)), b("bob", 2, clock, net, Via(relay));
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
  auto item = wa.CreateRecord("item", {{"sku", Value("A-1")}});
  ASSERT_TRUE(wa.Seal().ok());
  ConnectToRelay(a, relay);
  replica::Workspace* held = relay.node.node.Find(wa.id());
  ASSERT_NE(held, nullptr);
  const auto before = held->digests();

  relay.quota_bytes = relay.stored_bytes;  // full from now on
  ASSERT_TRUE(wa.Set(*item, "note", Value(std::string(500, 'x'))).ok());
  ASSERT_TRUE(wa.Seal().ok());
  a.node.Push(wa.id());
  net.Run();
  EXPECT_EQ(held->digests().version, before.version) << "the new delta was refused";
  const sync::ConnectionView* to_relay = RelayConnection(a);
  ASSERT_NE(to_relay, nullptr);
  ASSERT_EQ(to_relay->refused.count(wa.id()), 1u);
  EXPECT_NE(to_relay->refused.at(wa.id()).find("quota"), std::string::npos)
      << to_relay->refused.at(wa.id());

  // What the relay had stays served: b catches up to the state before the refusal.
  ConnectToRelay(b, relay);
  auto& wb = Accept(b, wa.id());
  net.Run();
  EXPECT_EQ(wb.digests().version, before.version);
  EXPECT_TRUE(wb.Get(*item).has_value());
}

// A refusal may be transient (a quota raised, the op making the sender a member not yet stored at
// the relay, its database back): the refused workspace is offered again after a delay that
// doubles with each refusal in a row, and nothing is sent in between.
TEST_F(RelayTest, ARefusedWorkspaceIsOfferedAgainWithAGrowingDelay) {
  Relay relay(clock, net, *this);
  Node a("alice", 1, clock, net, Via(relay));
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.Seal().ok());
  ConnectToRelay(a, relay);
  replica::Workspace* held = relay.node.node.Find(wa.id());
  ASSERT_NE(held, nullptr);

  relay.quota_bytes = relay.stored_bytes;  // full
  auto item = wa.CreateRecord("item", {{"sku", Value("A-1")}});
  ASSERT_TRUE(item.ok());
  ASSERT_TRUE(wa.Seal().ok());
  a.node.Push(wa.id());
  net.Run();
  ASSERT_EQ(RelayConnection(a)->refused.count(wa.id()), 1u);

  // Still full at the first retry: refused again. Before a retry is due, nothing is offered.
  uint64_t now = 1'000'000;
  a.node.RetryRefused(now);  // schedules the first retry, 5 s on
  a.node.RetryRefused(now + 4'999);
  net.Run();
  EXPECT_EQ(RelayConnection(a)->refused.count(wa.id()), 1u);
  const uint64_t frames_before = RelayConnection(a)->frames_out;
  a.node.RetryRefused(now + 5'000);
  net.Run();
  EXPECT_GT(RelayConnection(a)->frames_out, frames_before) << "offered again after 5 s";
  ASSERT_EQ(RelayConnection(a)->refused.count(wa.id()), 1u) << "and refused again";

  // The quota is raised. The next retry is 10 s after it was scheduled, not 5.
  relay.quota_bytes = SIZE_MAX;
  now += 5'000;
  a.node.RetryRefused(now);
  a.node.RetryRefused(now + 9'999);
  net.Run();
  EXPECT_EQ(RelayConnection(a)->refused.count(wa.id()), 1u);
  a.node.RetryRefused(now + 10'000);
  net.Run();
  EXPECT_EQ(RelayConnection(a)->refused.count(wa.id()), 0u);
  EXPECT_EQ(held->digests().version, wa.digests().version) << "the relay took the delta";
}

TEST_F(RelayTest, TheRelayBringsTwoMembersTogetherAndNoStranger) {
  Relay relay(clock, net, *this);
  std::vector<sync::PunchRequest> at_a, at_b, at_x;
  Node a("alice", 1, clock, net, Via(relay), Punches(at_a));
  Node b("bob", 2, clock, net, Via(relay), Punches(at_b));
  Node x("mallory", 9, clock, net, Via(relay), Punches(at_x));
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
  ConnectToRelay(a, relay);
  ConnectToRelay(b, relay);
  ConnectToRelay(x, relay);
  Accept(b, wa.id());
  net.Run();

  ASSERT_TRUE(a.node.RequestRendezvous(b.device.identity.device()));
  net.Run();
  ASSERT_EQ(at_a.size(), 1u);
  ASSERT_EQ(at_b.size(), 1u);
  EXPECT_EQ(at_a[0].device, b.device.identity.device());
  EXPECT_EQ(at_a[0].sign_key, b.key());
  EXPECT_EQ(at_b[0].device, a.device.identity.device());
  EXPECT_EQ(at_b[0].sign_key, a.key());
  // Each is told where the relay sees the other (the port observed on its connection).
  EXPECT_EQ(at_a[0].endpoint, "127.0.0.1:" + std::to_string(20000 + b.index));
  EXPECT_EQ(at_b[0].endpoint, "127.0.0.1:" + std::to_string(20000 + a.index));
  EXPECT_EQ(at_a[0].token, "token-1");
  EXPECT_EQ(at_b[0].token, "token-1");
  EXPECT_NE(at_a[0].tls_server, at_b[0].tls_server) << "exactly one side is the TLS server";
  EXPECT_GT(at_a[0].punch_ms, 0u);

  // A stranger learns nothing of the members and cannot make them dial it.
  ASSERT_TRUE(x.node.RequestRendezvous(a.device.identity.device()));
  net.Run();
  EXPECT_TRUE(at_x.empty());
  EXPECT_EQ(at_a.size(), 1u);
  for (const sync::KnownAddress& known : x.node.Addresses()) {
    EXPECT_NE(known.device, a.device.identity.device());
  }
  // A relay that declines (asked too often) sends nothing.
  relay.rendezvous_token.clear();
  ASSERT_TRUE(b.node.RequestRendezvous(a.device.identity.device()));
  net.Run();
  EXPECT_EQ(at_a.size(), 1u);
  EXPECT_EQ(at_b.size(), 1u);
}

// Where `n` was told `other` is ("" if nowhere).
std::string AddressOf(Node& n, Node& other) {
  for (const sync::KnownAddress& known : n.node.Addresses()) {
    if (known.device == other.device.identity.device()) return known.endpoint;
  }
  return "";
}

TEST_F(RelayTest, MembersLearnWhereTheOthersAreWhenTheyComeToShareAWorkspace) {
  Relay relay(clock, net, *this);
  sync::Options options = Via(relay);
  options.listen_port = 7400;
  Node a("alice", 1, clock, net, options), b("bob", 2, clock, net, options),
      c("carol", 3, clock, net, options);
  // a and b reach the relay while they share nothing: it tells neither where the other is.
  ConnectToRelay(a, relay);
  ConnectToRelay(b, relay);
  EXPECT_EQ(AddressOf(a, b), "");
  EXPECT_EQ(AddressOf(b, a), "");

  // Then a invites b (and c, who is not connected yet) and b joins: the relay's view of the
  // membership changes, and it tells each where it sees the other (the observed port).
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
  ASSERT_TRUE(wa.AddMember(c.device.identity.card(), Role::kMember).ok());
  ASSERT_TRUE(wa.Seal().ok());
  a.node.Push(wa.id());
  net.Run();
  Accept(b, wa.id());
  net.Run();
  EXPECT_EQ(AddressOf(a, b), "127.0.0.1:" + std::to_string(20000 + b.index));
  EXPECT_EQ(AddressOf(b, a), "127.0.0.1:" + std::to_string(20000 + a.index));

  // A member that connects later is announced to those already connected, and learns of them.
  ConnectToRelay(c, relay);
  EXPECT_EQ(AddressOf(a, c), "127.0.0.1:" + std::to_string(20000 + c.index));
  EXPECT_EQ(AddressOf(b, c), "127.0.0.1:" + std::to_string(20000 + c.index));
  EXPECT_EQ(AddressOf(c, a), "127.0.0.1:" + std::to_string(20000 + a.index));
}

TEST_F(RelayTest, ASplicedConnectionDoesNotReplaceWhereTheRelaySeesAMember) {
  Relay relay(clock, net, *this);
  sync::Options options = Via(relay);
  options.listen_port = 7400;
  Node a("alice", 1, clock, net, options), b("bob", 2, clock, net, options);
  auto& wa = CreateAt(a);
  ASSERT_TRUE(wa.AddMember(b.device.identity.card(), Role::kMember).ok());
  ConnectToRelay(a, relay);
  ConnectToRelay(b, relay);
  Accept(b, wa.id());
  net.Run();
  const std::string seen_b = "127.0.0.1:" + std::to_string(20000 + b.index);
  ASSERT_EQ(AddressOf(a, b), seen_b);

  // Spliced, each socket leads to the relay: b's listen port at the relay's host is nowhere.
  net.ConnectSpliced(a.index, b.index, a.key(), b.key(), "203.0.113.1");
  net.Run();
  ASSERT_TRUE(a.node.ConnectedTo(b.device.identity.device()));
  EXPECT_EQ(AddressOf(a, b), seen_b);
  EXPECT_EQ(AddressOf(b, a), "127.0.0.1:" + std::to_string(20000 + a.index));
}

TEST_F(RelayTest, AWorkspaceWhoseGenesisWasNeverStoredIsTakenAgain) {
  Relay relay(clock, net, *this);
  Node a("alice", 1, clock, net, Via(relay));
  auto& wa = CreateAt(a);
  // The relay's database failed between the workspace's row and its genesis: a shell is left.
  store::WriteBatch shell;
  shell.PutWorkspace(wa.id(), AsBytes(std::string("shop")));
  ASSERT_TRUE(relay.node.device.store->Write(shell).ok());
  auto opened = replica::Workspace::Open(relay.node.device.identity, wa.id(),
                                         *relay.node.device.store, clock, relay.node.device.rng);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  relay.node.node.AddWorkspace(std::move(opened).value());

  ConnectToRelay(a, relay);
  replica::Workspace* held = relay.node.node.Find(wa.id());
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->digests().version, wa.digests().version) << "the owner's deltas are taken";
  const sync::ConnectionView* to_relay = RelayConnection(a);
  ASSERT_NE(to_relay, nullptr);
  EXPECT_EQ(to_relay->refused.count(wa.id()), 0u);
}

TEST_F(RelayTest, OnlyAPinnedRelayCanAskForAPunch) {
  std::vector<sync::PunchRequest> at_a;
  Node a("alice", 1, clock, net, {}, Punches(at_a)), m("mallory", 9, clock, net);
  net.Connect(a.index, m.index, a.key(), m.key());
  net.Run();
  wire::v1::Frame frame;
  frame.mutable_punch()->set_device(m.device.identity.device().data(), 32);
  frame.mutable_punch()->set_sign_key(m.key().data(), 32);
  frame.mutable_punch()->set_endpoint("203.0.113.9:7400");
  net.Inject(m.index, net.LastId(), ToBytes(frame.SerializeAsString()));
  net.Run();
  EXPECT_TRUE(at_a.empty()) << "a peer that is no relay of a's cannot make it dial anywhere";
}

}  // namespace
}  // namespace grove
