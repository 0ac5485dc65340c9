// Sync between real grove-peer processes: convergence under concurrent edits and a kill -9,
// durability across a clean restart, and what non-members and removed members get (nothing).
// Every wait polls with a deadline and says what it saw last when the deadline passes.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "integration/peer_process.h"

namespace grove::integration {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string Show(const std::vector<std::optional<DigestInfo>>& digests) {
  std::string out;
  for (const auto& d : digests) out += (d ? d->ToString() : std::string("(no answer)")) + " ";
  return out;
}

bool AllEqual(const std::vector<std::optional<DigestInfo>>& digests) {
  for (const auto& d : digests) {
    if (!d || !(*d == *digests.front())) return false;
  }
  return true;
}

// Polls the digests of `peers` until they are equal (20 s); fails the test with the last ones
// seen otherwise.
::testing::AssertionResult Converge(const std::vector<PeerProcess*>& peers, const std::string& ws) {
  std::vector<std::optional<DigestInfo>> last;
  const bool same = PollUntil([&] {
    last.clear();
    for (PeerProcess* p : peers) last.push_back(p->api().Digest(ws));
    return AllEqual(last);
  });
  if (same) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "digests still differ after 20 s: " << Show(last);
}

// What one writer thread saw.
struct Tally {
  int acked = 0;                // PATCH answered 200
  int answered_not_ok = 0;      // answered with another status
  int unanswered = 0;           // no answer (peer down): retried, not counted
  int acked_after_restart = 0;  // B only
  int name_status = -1;         // the status of the PATCH that set `name`, when it was made
  std::string last_problem;
};

// 1. A line A - B - C; all three add to one counter at once while B is killed with SIGKILL and
// restarted. While B is down, A and C (which only know each other through B) set the same field:
// concurrent sets for sure, which the test checks before B comes back. Every acknowledged
// increment must be in the total on every peer, and the losing name must be kept as a conflict
// everywhere.
TEST(PeerIntegration, LineOfThreeConcurrentEditsAndKill9) {
  constexpr int kIncrements = 60;
  constexpr int kMidway = kIncrements / 2;
  PeerProcess a("alice"), b("bob"), c("carol");
  a.Start();
  b.Start(ConnectTo({a.sync_address()}));
  c.Start(ConnectTo({b.sync_address()}));
  const std::string ws = ShareWorkspace(a, {&b, &c}, "line");
  const std::string id = a.api().CreateRecord(ws, "item", JsonOf({{"name", "widget"}}));
  ASSERT_TRUE(PollUntil([&] { return b.api().GetRecord(ws, id) && c.api().GetRecord(ws, id); }))
      << "the record did not reach B and C within 20 s";

  const std::string name_a = "widget (alice)";
  const std::string name_c = "widget (carol)";
  std::promise<void> b_at_kill_point, b_killed, a_named, c_named;
  std::shared_future<void> killed = b_killed.get_future().share();
  Tally ta, tb, tc;

  // Writes kIncrements acknowledged-or-refused increments. Midway, B's writer lets the test
  // kill B (between two requests, so no increment is in flight when the process dies) and then
  // goes on while B is down and after; A's and C's writers wait until B is dead and set `name`.
  auto writer = [&](ApiClient client, Tally& t, std::optional<std::string> name,
                    std::promise<void>* named) {
    const auto deadline = SteadyClock::now() + 30s;
    const std::shared_future<void> b_down = killed;  // each thread waits on its own copy
    bool midway_done = false;
    for (int i = 0; i < kIncrements;) {
      if (i == kMidway && !midway_done) {
        midway_done = true;
        if (!name) b_at_kill_point.set_value();
        if (b_down.wait_for(30s) != std::future_status::ready) t.last_problem = "B never killed";
        if (name) {
          t.name_status = client.PatchSet(ws, id, JsonOf({{"name", *name}}));
          named->set_value();
        }
      }
      const int status = client.PatchAdd(ws, id, IntsOf({{"stock", 1}}));
      if (status == 200) {
        ++t.acked;
        if (!name && midway_done) ++t.acked_after_restart;
        ++i;
      } else if (status == 0 && SteadyClock::now() < deadline) {
        // Down (killed, restarting): not acknowledged, not counted; try again shortly.
        ++t.unanswered;
        std::this_thread::sleep_for(50ms);
      } else {
        ++t.answered_not_ok;
        t.last_problem = "PATCH answered " + std::to_string(status);
        ++i;
      }
    }
  };

  std::string problem;  // of the kill-and-restart sequence
  JsonObject a_alone, c_alone;
  {
    std::jthread wa(writer, a.api(), std::ref(ta), name_a, &a_named);
    std::jthread wb(writer, b.api(), std::ref(tb), std::nullopt, nullptr);
    std::jthread wc(writer, c.api(), std::ref(tc), name_c, &c_named);
    const bool reached = b_at_kill_point.get_future().wait_for(30s) == std::future_status::ready;
    if (reached) b.Kill();
    b_killed.set_value();  // also when not reached: no writer may wait for good
    if (!reached) {
      problem = "B's writer never reached the kill point";
    } else if (a_named.get_future().wait_for(30s) != std::future_status::ready ||
               c_named.get_future().wait_for(30s) != std::future_status::ready) {
      problem = "A or C did not set the name";
    } else {
      // Still partitioned: each must show its own name only, so neither set saw the other.
      a_alone = a.api().GetRecord(ws, id);
      c_alone = c.api().GetRecord(ws, id);
    }
    try {
      b.Restart();
    } catch (const std::exception& e) {
      problem += std::string(" restarting B: ") + e.what();
    }
  }  // joins the writers
  ASSERT_EQ(problem, "");
  ASSERT_TRUE(a_alone && c_alone);
  EXPECT_EQ(StringField(a_alone, "name"), name_a) << ToJson(*a_alone);
  EXPECT_EQ(StringField(c_alone, "name"), name_c) << ToJson(*c_alone);
  EXPECT_EQ(ConflictStrings(a_alone, "name").size(), 0u) << ToJson(*a_alone);
  EXPECT_EQ(ConflictStrings(c_alone, "name").size(), 0u) << ToJson(*c_alone);

  const int total = ta.acked + tb.acked + tc.acked;
  std::printf("acknowledged: A %d, B %d (%d after restart, %d unanswered while down), C %d\n",
              ta.acked, tb.acked, tb.acked_after_restart, tb.unanswered, tc.acked);
  EXPECT_EQ(ta.acked, kIncrements) << ta.last_problem;
  EXPECT_EQ(tc.acked, kIncrements) << tc.last_problem;
  EXPECT_EQ(tb.acked, kIncrements) << tb.last_problem;
  EXPECT_GT(tb.acked_after_restart, 0) << "B acknowledged nothing after its restart";
  EXPECT_GT(tb.unanswered, 0) << "B was never seen down: the kill did not happen mid-stream";
  EXPECT_EQ(ta.name_status, 200);
  EXPECT_EQ(tc.name_status, 200);

  ASSERT_TRUE(Converge({&a, &b, &c}, ws));
  std::optional<std::string> winner;
  for (PeerProcess* p : {&a, &b, &c}) {
    JsonObject record = p->api().GetRecord(ws, id);
    ASSERT_TRUE(record) << p->name() << " has no record " << id;
    EXPECT_EQ(IntField(record, "stock"), std::optional<int64_t>(total))
        << p->name() << " lost or invented increments: " << ToJson(*record);
    std::optional<std::string> name = StringField(record, "name");
    ASSERT_TRUE(name == name_a || name == name_c) << p->name() << ": " << ToJson(*record);
    if (!winner) winner = name;
    EXPECT_EQ(name, winner) << p->name() << " picked another winner";
    const std::string loser = *winner == name_a ? name_c : name_a;
    std::vector<std::string> conflicts = ConflictStrings(record, "name");
    EXPECT_NE(std::find(conflicts.begin(), conflicts.end(), loser), conflicts.end())
        << p->name() << " does not keep the losing name \"" << loser
        << "\" as a conflict: " << ToJson(*record);
  }
}

// 2. A clean stop (SIGTERM) exits 0 within seconds, and after a restart the records and the
// digest are exactly what they were.
TEST(PeerIntegration, RestartKeepsEverything) {
  PeerProcess a("alice"), b("bob");
  a.Start();
  b.Start(ConnectTo({a.sync_address()}));
  const std::string ws = ShareWorkspace(a, {&b}, "durable");
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(
        a.api().CreateRecord(ws, "item", JsonOf({{"name", "item " + std::to_string(i)}})));
  }
  ASSERT_TRUE(PollUntil([&] { return b.api().GetRecord(ws, ids.back()) != nullptr; }));
  // Edits by both devices, so A holds its own deltas and deltas it received.
  for (const std::string& id : ids) {
    ASSERT_EQ(a.api().PatchAdd(ws, id, IntsOf({{"stock", 3}})), 200);
    ASSERT_EQ(b.api().Patch(ws, id, JsonOf({{"colour", "green"}}), IntsOf({{"stock", 2}})), 200);
  }
  ASSERT_TRUE(Converge({&a, &b}, ws));

  const std::string records_path = "/api/v1/workspaces/" + ws + "/records";
  const HttpResponse before = a.api().Get(records_path);
  const std::optional<DigestInfo> digest_before = a.api().Digest(ws);
  ASSERT_EQ(before.status, 200) << before.Describe();
  ASSERT_TRUE(digest_before);
  ASSERT_NE(before.body.find("green"), std::string::npos) << before.body;

  const auto t0 = SteadyClock::now();
  const int exit_status = a.Stop(5s);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - t0);
  EXPECT_EQ(exit_status, 0) << "after SIGTERM (-1: still running after 5 s), took " << took.count()
                            << " ms";
  EXPECT_TRUE(a.LogContains("\"msg\":\"stopped\"")) << a.LogTail(10);

  a.Restart();
  const HttpResponse after = a.api().Get(records_path);
  EXPECT_EQ(after.status, 200) << after.Describe();
  EXPECT_EQ(after.body, before.body);
  const std::optional<DigestInfo> digest_after = a.api().Digest(ws);
  ASSERT_TRUE(digest_after);
  EXPECT_EQ(*digest_after, *digest_before)
      << "before " << digest_before->ToString() << ", after " << digest_after->ToString();
}

// 4. A device that is in none of A's workspaces connects to A and gets nothing: no invitation,
// no workspace, no delta.
TEST(PeerIntegration, NonMemberGetsNothing) {
  PeerProcess a("alice"), x("xavier");
  a.Start();
  const std::string ws = a.api().CreateWorkspace("private");
  for (int i = 0; i < 3; ++i) {
    a.api().CreateRecord(ws, "secret", JsonOf({{"text", "secret " + std::to_string(i)}}));
  }
  x.Start(ConnectTo({a.sync_address()}));
  const std::string x_device = x.identity().device;
  const std::string a_device = a.identity().device;
  // The test means something only if they are connected (hello done on both sides).
  JsonObject status_a, status_x;
  ASSERT_TRUE(PollUntil([&] {
    status_a = a.api().Status();
    status_x = x.api().Status();
    return ConnectedTo(status_a, x_device) && ConnectedTo(status_x, a_device);
  })) << "A and X did not connect within 20 s; A: "
      << (status_a ? ToJson(*status_a) : "?") << " X: " << (status_x ? ToJson(*status_x) : "?");

  // Observe X for 3 s while connected: nothing may ever appear.
  std::string seen;
  const bool leaked = PollUntil(
      [&] {
        JsonArray invitations = x.api().Invitations();
        JsonArray workspaces = x.api().Workspaces();
        if (!invitations || !workspaces) {
          seen = "X's API did not answer";
          return true;
        }
        if (invitations->size() > 0 || workspaces->size() > 0) {
          std::ostringstream out;
          invitations->stringify(out);
          out << " ";
          workspaces->stringify(out);
          seen = out.str();
          return true;
        }
        return false;
      },
      3s);
  EXPECT_FALSE(leaked) << "a non-member got: " << seen;
  EXPECT_TRUE(ConnectedTo(a.api().Status(), x_device)) << "X was disconnected meanwhile";
  EXPECT_EQ(MetricValue(x.api().Metrics(), "grove_deltas_received_total"), 0.0);
}

// 5. A removed member keeps what it had but gets nothing written after its removal, while a
// remaining member does.
TEST(PeerIntegration, RemovedMemberGetsNothingNew) {
  PeerProcess a("alice"), b("bob"), c("carol");
  a.Start();
  b.Start(ConnectTo({a.sync_address()}));
  c.Start(ConnectTo({a.sync_address()}));
  const std::string ws = ShareWorkspace(a, {&b, &c}, "team");
  const std::string id = a.api().CreateRecord(ws, "note", JsonOf({{"text", "before"}}));
  ASSERT_TRUE(PollUntil([&] {
    return StringField(b.api().GetRecord(ws, id), "text") == "before" &&
           StringField(c.api().GetRecord(ws, id), "text") == "before";
  })) << "the record did not reach B and C within 20 s";

  ASSERT_EQ(a.api().RemoveMember(ws, b.identity().device), 204);
  ASSERT_EQ(a.api().PatchSet(ws, id, JsonOf({{"text", "after"}})), 200);
  JsonObject at_c;
  ASSERT_TRUE(PollUntil([&] {
    at_c = c.api().GetRecord(ws, id);
    return StringField(at_c, "text") == "after";
  })) << "C, still a member, did not get the change within 20 s: "
      << (at_c ? ToJson(*at_c) : "no record");

  // B had the same chance to get it as C: it must not, for 3 s more.
  JsonObject at_b;
  const bool leaked = PollUntil(
      [&] {
        at_b = b.api().GetRecord(ws, id);
        return StringField(at_b, "text") != "before";
      },
      3s);
  EXPECT_FALSE(leaked) << "B, removed, has: " << (at_b ? ToJson(*at_b) : "no record");
  EXPECT_EQ(StringField(b.api().GetRecord(ws, id), "text"), "before");
}

}  // namespace
}  // namespace grove::integration
