// Checkpoints, pruning and bootstrap between real grove-peer processes (decision 0011): three
// peers make many changes, the owner claims a checkpoint with `grove checkpoint`, the peers prune
// the history under it by their timer, a fourth device invited afterwards starts from the
// checkpoint instead of the history, and a member that was away all along comes back with
// offline changes and converges keeping them. Every wait polls with a deadline and says what it
// saw last when the deadline passes.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "integration/peer_process.h"

namespace grove::integration {
namespace {

// No seal throttle (every change is its own delta: history to prune), pruning with no wait for
// silent members, no automatic checkpoints (the test claims one), and no dialling of learned
// addresses (so a member started without --connect stays offline).
StartOptions HistoryOptions(std::vector<std::string> connect = {}) {
  StartOptions o = ConnectTo(std::move(connect));
  o.extra_args = {"--sync.seal_delay_ms",       "0", "--history.prune_wait", "0",
                  "--history.checkpoint_every", "0", "--sync.discover",      "false"};
  return o;
}

::testing::AssertionResult Converge(const std::vector<PeerProcess*>& peers, const std::string& ws,
                                    std::chrono::milliseconds timeout = 30s) {
  std::string last;
  const bool same = PollUntil(
      [&] {
        last.clear();
        std::optional<DigestInfo> first;
        bool equal = true;
        for (PeerProcess* p : peers) {
          const std::optional<DigestInfo> d = p->api().Digest(ws);
          last += p->name() + ": " + (d ? d->ToString() : std::string("(no answer)")) + "\n";
          if (!d) return false;
          if (!first) first = d;
          equal = equal && *d == *first;
        }
        return equal;
      },
      timeout);
  if (same) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "digests still differ:\n" << last;
}

double Metric(PeerProcess& p, const std::string& name) {
  return MetricValue(p.api().Metrics(), name).value_or(-1);
}

// GET .../checkpoints, or nullptr.
JsonObject History(PeerProcess& p, const std::string& ws) {
  return p.api().Get("/api/v1/workspaces/" + ws + "/checkpoints").Object();
}

std::string BarrierId(const JsonObject& history) {
  if (!history || !history->isObject("barrier")) return "";
  return history->getObject("barrier")->optValue<std::string>("id", "");
}

// A value of about 200 bytes that differs for every change.
std::string Filler(int n) {
  std::string text = "change " + std::to_string(n) + ":";
  uint64_t x = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(n + 1);
  while (text.size() < 200) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    text += static_cast<char>('a' + x % 26);
  }
  return text;
}

TEST(PeerIntegration, CheckpointPruneBootstrapAndAReturningMember) {
  constexpr int kChanges = 240;
  PeerProcess a("alice"), b("bob"), c("carol"), d("dave");
  a.Start(HistoryOptions());
  b.Start(HistoryOptions({a.sync_address()}));
  c.Start(HistoryOptions({a.sync_address()}));
  const std::string ws = ShareWorkspace(a, {&b, &c}, "archive");
  std::vector<std::string> records;
  for (int i = 0; i < 8; ++i) {
    records.push_back(
        a.api().CreateRecord(ws, "item", JsonOf({{"sku", "SKU-" + std::to_string(i)}})));
  }
  ASSERT_TRUE(Converge({&a, &b, &c}, ws));

  // carol goes away: restarted without a peer to dial, she works offline.
  ASSERT_EQ(c.Stop(), 0);
  c.Start(HistoryOptions());
  const std::string offline = c.api().CreateRecord(ws, "item", JsonOf({{"sku", "C-OFFLINE"}}));
  ASSERT_EQ(c.api().PatchSet(ws, records[0], JsonOf({{"offline", "from carol"}})), 200);
  ASSERT_EQ(c.Stop(), 0);

  // Many changes while she is away, by alice and bob, each its own delta.
  for (int i = 0; i < kChanges; ++i) {
    PeerProcess& by = i % 3 == 0 ? b : a;
    ASSERT_EQ(by.api().PatchSet(ws, records[i % records.size()], JsonOf({{"note", Filler(i)}})),
              200)
        << "change " << i;
  }
  ASSERT_TRUE(Converge({&a, &b}, ws));

  // The owner claims a checkpoint with the CLI; bob holds its version and computes it too.
  std::string out;
  const int rc = RunProgram({GROVE_CLI_BIN, "checkpoint", ws.substr(0, 16), "--data", a.data_dir(),
                             "--api", "127.0.0.1:" + std::to_string(a.api().port())},
                            "", &out);
  ASSERT_EQ(rc, 0) << out;
  ASSERT_NE(out.find("claimed checkpoint "), std::string::npos) << out;
  EXPECT_NE(out.find(", trusted\n"), std::string::npos) << out;
  const std::string claimed = out.substr(out.find("claimed checkpoint ") + 19, 64);
  JsonObject at_b;
  ASSERT_TRUE(PollUntil([&] {
    at_b = History(b, ws);
    return BarrierId(at_b) == claimed && at_b->optValue<bool>("trusted", false);
  })) << "bob does not build on the checkpoint: "
      << (at_b ? ToJson(*at_b) : "no answer");

  // Their timers prune the history under it (prune_wait 0: carol is not waited for).
  for (PeerProcess* p : {&a, &b}) {
    EXPECT_TRUE(
        PollUntil([&] { return Metric(*p, "grove_history_pruned_deltas_total") > 200; }, 20s))
        << p->name() << " did not prune: " << Metric(*p, "grove_history_pruned_deltas_total")
        << "\n"
        << p->LogTail(10);
    EXPECT_TRUE(p->LogContains("history pruned")) << p->name();
  }
  EXPECT_EQ(Metric(a, "grove_history_checkpoints_total"), 1);

  // dave is invited afterwards and starts from the checkpoint, not from the history.
  d.Start(HistoryOptions({a.sync_address()}));
  ASSERT_EQ(a.api().Invite(ws, d.identity().card, "member"), 201);
  ASSERT_TRUE(d.api().WaitInvitation(ws));
  ASSERT_EQ(d.api().Accept(ws), 200);
  ASSERT_TRUE(Converge({&a, &b, &d}, ws));
  EXPECT_TRUE(PollUntil([&] { return Metric(d, "grove_history_checkpoints_received_total") == 1; }))
      << Metric(d, "grove_history_checkpoints_received_total");
  EXPECT_TRUE(d.LogContains("checkpoint received"));
  const double received = Metric(d, "grove_deltas_received_total");
  EXPECT_LT(received, 20) << "dave replayed history: " << received << " deltas";
  const JsonObject at_d = History(d, ws);
  EXPECT_EQ(BarrierId(at_d), claimed);
  EXPECT_TRUE(at_d && at_d->optValue<bool>("trusted", false));
  EXPECT_EQ(StringField(d.api().GetRecord(ws, records[5]), "note"),
            StringField(a.api().GetRecord(ws, records[5]), "note"));

  // carol comes back: her base was pruned everywhere; she takes the checkpoint and keeps her
  // offline work, which everyone gets.
  c.Start(HistoryOptions({a.sync_address()}));
  ASSERT_TRUE(Converge({&a, &b, &c, &d}, ws));
  EXPECT_GE(Metric(c, "grove_history_checkpoints_received_total"), 1);
  for (PeerProcess* p : {&a, &b, &c, &d}) {
    EXPECT_EQ(StringField(p->api().GetRecord(ws, offline), "sku"), "C-OFFLINE") << p->name();
    EXPECT_EQ(StringField(p->api().GetRecord(ws, records[0]), "offline"), "from carol")
        << p->name();
  }

  // With bob stopped, `grove store info` shows the checkpoint and the pruned history.
  ASSERT_EQ(b.Stop(), 0);
  out.clear();
  ASSERT_EQ(RunProgram({GROVE_CLI_BIN, "store", "info", "--data", b.data_dir()}, "", &out), 0)
      << out;
  EXPECT_NE(out.find("built on checkpoint " + claimed.substr(0, 16)), std::string::npos) << out;
  EXPECT_NE(out.find(" pruned\n"), std::string::npos) << out;
  EXPECT_EQ(out.find(" 0 pruned\n"), std::string::npos) << out;
}

// The timer: the creator's peer claims a checkpoint by itself every history.checkpoint_every
// deltas (trusted at once, as an owner's), and the others build on it. Only the creator proposes
// checkpoints (decision 0011): another member's claim is refused with the reason.
TEST(PeerIntegration, TheCreatorClaimsOnItsOwnAndOthersBuildOnIt) {
  auto options = [](std::vector<std::string> connect) {
    StartOptions o = ConnectTo(std::move(connect));
    o.extra_args = {"--sync.seal_delay_ms", "0", "--history.checkpoint_every", "25"};
    return o;
  };
  PeerProcess a("alice"), b("bob"), c("carol");
  a.Start(options({}));
  b.Start(options({a.sync_address()}));
  c.Start(options({a.sync_address()}));
  const std::string ws = ShareWorkspace(a, {&b, &c}, "timed");
  const std::string id = a.api().CreateRecord(ws, "item", JsonOf({{"sku", "T-1"}}));
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(a.api().PatchSet(ws, id, JsonOf({{"note", Filler(i)}})), 200) << i;
  }
  std::string by_owner;
  ASSERT_TRUE(PollUntil([&] {
    by_owner = BarrierId(History(a, ws));
    return !by_owner.empty();
  })) << "alice claimed no checkpoint:\n"
      << a.LogTail(10);
  EXPECT_TRUE(a.LogContains("checkpoint claimed"));
  EXPECT_EQ(Metric(a, "grove_history_checkpoints_total"), 1);
  ASSERT_TRUE(Converge({&a, &b, &c}, ws));
  EXPECT_TRUE(PollUntil([&] { return BarrierId(History(c, ws)) == by_owner; }))
      << "carol does not build on alice's checkpoint";
  EXPECT_TRUE(PollUntil([&] { return BarrierId(History(b, ws)) == by_owner; }))
      << "bob does not build on alice's checkpoint";

  // bob, a member, cannot propose one.
  const HttpResponse claimed = b.api().Request("POST", "/api/v1/workspaces/" + ws + "/checkpoints");
  EXPECT_EQ(claimed.status, 409) << claimed.Describe();
  EXPECT_NE(claimed.body.find("only the device that created the workspace proposes checkpoints"),
            std::string::npos)
      << claimed.Describe();
  EXPECT_EQ(Metric(b, "grove_history_checkpoints_total"), 0);
}

}  // namespace
}  // namespace grove::integration
