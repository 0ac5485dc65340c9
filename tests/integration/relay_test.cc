// The relay (decision 0009) as users meet it: real grove-relay and grove-peer processes on
// loopback over a private PostgreSQL of this test binary (initdb, its own port and folder,
// removed afterwards).
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <thread>

#include "integration/peer_process.h"
#include "support/postgres_test.h"

namespace grove::integration {
namespace {

constexpr char kMarker[] = "PLAINTEXT-MARKER-5b1f0c9e";

std::string Hex(std::string_view text) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : text) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// The relay entry of a peer's status for `ws`: {held_deltas, acked_deltas, refused?}.
JsonObject RelayEntry(const PeerProcess& peer, const std::string& ws) {
  JsonObject status = peer.api().Status();
  if (!status || !status->has("relay") || status->isNull("relay")) return nullptr;
  JsonObject relay = status->getObject("relay");
  JsonArray workspaces = relay ? relay->getArray("workspaces") : nullptr;
  for (size_t i = 0; workspaces && i < workspaces->size(); ++i) {
    JsonObject w = workspaces->getObject(static_cast<unsigned>(i));
    if (w && w->optValue<std::string>("workspace", "") == ws) return w;
  }
  return nullptr;
}

// Whether `peer` sealed every local action on `ws` and the relay acknowledged storing every
// delta it holds.
bool RelayHoldsAll(const PeerProcess& peer, const std::string& ws) {
  JsonObject status = peer.api().Status();
  JsonArray workspaces = status ? status->getArray("workspaces") : nullptr;
  bool sealed = false;
  for (size_t i = 0; workspaces && i < workspaces->size(); ++i) {
    JsonObject w = workspaces->getObject(static_cast<unsigned>(i));
    if (w && w->optValue<std::string>("id", "") == ws) {
      sealed = w->optValue<Poco::Int64>("pending", -1) == 0;
    }
  }
  JsonObject w = RelayEntry(peer, ws);
  if (!sealed || !w) return false;
  const int64_t held = w->optValue<Poco::Int64>("held_deltas", -1);
  return held > 0 && held == w->optValue<Poco::Int64>("acked_deltas", -2);
}

class RelayIntegration : public testing::PostgresTest<true> {
 protected:
  static StartOptions Via(const RelayProcess& relay) {
    StartOptions o;
    o.extra_args = relay.PeerArgs();
    return o;
  }
  // Via the relay only: the peer does not dial members whose addresses the relay shares.
  static StartOptions OnlyVia(const RelayProcess& relay, const PeerProcess& peer) {
    StartOptions o = Via(relay);
    o.config_yaml = "data: " + peer.data_dir() + "\nsync: { discover: false }\n";
    return o;
  }

  // Text that zstd cannot shrink much, so deltas have a predictable size.
  static std::string Incompressible(size_t bytes, uint64_t seed) {
    std::string out;
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    while (out.size() < bytes) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      out += static_cast<char>('!' + x % 90);
    }
    return out;
  }

  // Everything the database holds, as pg_dump prints it (bytea in hex).
  std::string DumpDatabase() {
    const std::string pg_dump = FindOnPath("pg_dump");
    EXPECT_FALSE(pg_dump.empty()) << "pg_dump is not on PATH (postgresql-client)";
    std::string out;
    EXPECT_EQ(RunProgram({pg_dump, "--data-only", url_}, "", &out, 30s), 0) << out;
    return out;
  }

  // Creates a workspace on `owner` with `member` added, and one record holding the marker.
  std::string ShareWithMarker(PeerProcess& owner, PeerProcess& member) {
    const std::string ws = owner.api().CreateWorkspace("relay-shop");
    EXPECT_EQ(owner.api().Invite(ws, member.identity().card, "member"), 201);
    owner.api().CreateRecord(ws, "note", JsonOf({{"text", kMarker}}));
    return ws;
  }
};

TEST_F(RelayIntegration, AMemberCatchesUpFromTheRelayAloneWhichNeverSeesPlaintext) {
  RelayProcess relay("relay", url_);
  relay.Start();
  PeerProcess a("alice"), b("bob");
  b.Start(Via(relay));  // b's card, then b goes offline
  const std::string b_card = b.identity().card;
  ASSERT_EQ(b.Stop(), 0);

  a.Start(Via(relay));
  const std::string ws = a.api().CreateWorkspace("relay-shop");
  ASSERT_EQ(a.api().Invite(ws, b_card, "member"), 201);
  const std::string note = a.api().CreateRecord(ws, "note", JsonOf({{"text", kMarker}}));
  for (int i = 0; i < 20; ++i) {
    a.api().CreateRecord(ws, "item", IntsOf({{"n", i}}));
  }
  ASSERT_TRUE(PollUntil([&] { return RelayHoldsAll(a, ws); }))
      << "the relay acknowledges what a holds: " << ToJson(*a.api().Status());
  const auto a_digest = a.api().Digest(ws);
  ASSERT_TRUE(a_digest.has_value());
  ASSERT_EQ(a.Stop(), 0);

  // b comes back while a is offline: the invitation and the history come from the relay.
  b.Restart();
  ASSERT_TRUE(b.api().WaitInvitation(ws)) << "the relay passes a's invitation on";
  ASSERT_EQ(b.api().Accept(ws), 200);
  ASSERT_TRUE(PollUntil([&] { return b.api().Digest(ws) == a_digest; }))
      << "b reaches a's state from the relay alone";
  ASSERT_EQ(StringField(b.api().GetRecord(ws, note), "text"), kMarker);

  // The relay holds no workspace key: the marker is in no row, no log line, no file of it.
  const std::string dump = DumpDatabase();
  ASSERT_NE(dump.find(Hex("relay-shop")), std::string::npos)
      << "the dump holds the deltas (the workspace's name is plaintext metadata)";
  EXPECT_EQ(dump.find(kMarker), std::string::npos);
  EXPECT_EQ(dump.find(Hex(kMarker)), std::string::npos);
  EXPECT_EQ(relay.Log().find(kMarker), std::string::npos);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(relay.data_dir())) {
    if (!entry.is_regular_file()) continue;
    EXPECT_EQ(ReadFile(entry.path()).find(kMarker), std::string::npos) << entry.path();
  }
  // Control: the same search finds it where it is plaintext, in a member's store (its records;
  // the newest pages may still be in the write-ahead log).
  EXPECT_NE((ReadFile(b.data_dir() + "/store.db") + ReadFile(b.data_dir() + "/store.db-wal"))
                .find(kMarker),
            std::string::npos);
}

TEST_F(RelayIntegration, TwoRelaysOnOneDatabaseWakeEachOtherWithoutPolling) {
  RelayProcess r1("relay1", url_), r2("relay2", url_);
  r1.Start();
  r2.Start();
  PeerProcess a("alice"), b("bob");
  a.Start(OnlyVia(r1, a));
  b.Start(OnlyVia(r2, b));
  const std::string ws = ShareWithMarker(a, b);
  ASSERT_TRUE(b.api().WaitInvitation(ws)) << "through relay 1, the database and relay 2";
  ASSERT_EQ(b.api().Accept(ws), 200);
  ASSERT_TRUE(PollUntil([&] { return b.api().Digest(ws) == a.api().Digest(ws); }));
  // The two peers know each other only through the relays.
  EXPECT_FALSE(ConnectedTo(a.api().Status(), b.identity().device));

  // Live: an edit on b reaches a within a second or two, by notification.
  const auto started = std::chrono::steady_clock::now();
  const std::string item = b.api().CreateRecord(ws, "item", IntsOf({{"n", 7}}));
  ASSERT_TRUE(PollUntil([&] { return a.api().GetRecord(ws, item) != nullptr; }, 10s, 20ms));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("edit travelled peer -> relay 2 -> PostgreSQL NOTIFY -> relay 1 -> peer in %.3f s\n",
              seconds);
  const auto notified = MetricValue(r1.Admin("/metrics").body, "grove_relay_notifications_total");
  ASSERT_TRUE(notified.has_value());
  EXPECT_GT(*notified, 0) << "relay 1 was woken by PostgreSQL";
}

TEST_F(RelayIntegration, AnAcknowledgedDeltaSurvivesKillOfTheRelayAndARestartOfPostgres) {
  RelayProcess relay("relay", url_);
  relay.Start();
  PeerProcess a("alice"), b("bob");
  b.Start();
  const std::string b_card = b.identity().card;
  ASSERT_EQ(b.Stop(), 0);
  a.Start(Via(relay));
  const std::string ws = a.api().CreateWorkspace("durable");
  ASSERT_EQ(a.api().Invite(ws, b_card, "member"), 201);
  std::vector<std::string> items;
  for (int i = 0; i < 30; ++i)
    items.push_back(a.api().CreateRecord(ws, "item", IntsOf({{"n", i}})));
  ASSERT_TRUE(PollUntil([&] { return RelayHoldsAll(a, ws); }));
  const auto a_digest = a.api().Digest(ws);
  a.Kill();

  relay.Kill();
  ASSERT_TRUE(pg_->Restart()) << pg_->error();
  relay.Restart();
  b.Start(Via(relay));
  ASSERT_TRUE(b.api().WaitInvitation(ws));
  ASSERT_EQ(b.api().Accept(ws), 200);
  ASSERT_TRUE(PollUntil([&] { return b.api().Digest(ws) == a_digest; }))
      << "everything the relay acknowledged is still there";
  for (const std::string& id : items) EXPECT_NE(b.api().GetRecord(ws, id), nullptr) << id;
}

class RelayQuota : public RelayIntegration,
                   public ::testing::WithParamInterface<std::pair<const char*, const char*>> {};

// Per workspace and per author device: the same refusal, naming the quota that is full.
INSTANTIATE_TEST_SUITE_P(Quotas, RelayQuota,
                         ::testing::Values(std::pair{"--quotas.workspace_bytes", "workspace"},
                                           std::pair{"--quotas.device_bytes", "device"}));

TEST_P(RelayQuota, AFullQuotaRefusesNewDeltasWithAClearErrorAndKeepsTheOld) {
  const auto [flag, kind] = GetParam();
  RelayProcess relay("relay", url_);
  relay.Start({flag, "6000"});
  PeerProcess a("alice");
  a.Start(Via(relay));
  const std::string ws = a.api().CreateWorkspace("small");
  ASSERT_TRUE(PollUntil([&] { return RelayHoldsAll(a, ws); }));
  for (int i = 0; i < 4; ++i) {
    a.api().CreateRecord(ws, "note", JsonOf({{"text", Incompressible(3000, i)}}));
    std::this_thread::sleep_for(300ms);  // one delta each
  }
  JsonObject entry;
  ASSERT_TRUE(PollUntil([&] {
    entry = RelayEntry(a, ws);
    return entry && entry->has("refused");
  })) << ToJson(*a.api().Status());
  const std::string refused = entry->getValue<std::string>("refused");
  EXPECT_NE(refused.find("quota for"), std::string::npos) << refused;
  EXPECT_NE(refused.find(kind), std::string::npos) << refused;
  EXPECT_NE(refused.find("6000"), std::string::npos) << refused;
  EXPECT_GT(entry->getValue<Poco::Int64>("acked_deltas"), 0) << "what was stored stays stored";
  EXPECT_LT(entry->getValue<Poco::Int64>("acked_deltas"),
            entry->getValue<Poco::Int64>("held_deltas"));
  EXPECT_TRUE(relay.Running());
  EXPECT_NE(relay.Log().find("quota"), std::string::npos);
}

TEST_F(RelayIntegration, HealthAndMetricsFollowTheDatabaseAndPeersSyncDirectlyMeanwhile) {
  RelayProcess relay("relay", url_);
  relay.Start({"--database.retry_ms", "200"});
  ASSERT_TRUE(PollUntil([&] { return relay.Admin("/healthz").status == 200; }));
  const std::string metrics = relay.Admin("/metrics").body;
  const std::string promtool = FindOnPath("promtool");
  ASSERT_FALSE(promtool.empty()) << "promtool is not installed (package prometheus)";
  const std::string path = relay.data_dir() + "/../metrics.txt";
  WriteFile(path, metrics);
  std::string out;
  EXPECT_EQ(RunProgram({promtool, "check", "metrics"}, path, &out), 0) << out << metrics;
  for (const char* name :
       {"grove_relay_connections", "grove_relay_forwarded_bytes_total", "grove_relay_stored_deltas",
        "grove_relay_queue_bytes", "grove_relay_database_latency_seconds_count"}) {
    EXPECT_TRUE(MetricValue(metrics, name).has_value()) << name << " in\n" << metrics;
  }

  PeerProcess a("alice"), b("bob");
  a.Start(Via(relay));
  StartOptions b_options = Via(relay);
  b_options.connect = {a.sync_address()};
  b.Start(b_options);
  const std::string ws = ShareWorkspace(a, {&b}, "outage");
  {
    // Each connection says since when it is up, how it was made and whether it is the relay.
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    JsonArray connections = a.api().Status()->getArray("connections");
    ASSERT_TRUE(connections && connections->size() == 2) << ToJson(*a.api().Status());
    int relays = 0;
    for (size_t i = 0; i < connections->size(); ++i) {
      JsonObject c = connections->getObject(static_cast<unsigned>(i));
      const int64_t since = c->getValue<Poco::Int64>("since_ms");
      EXPECT_GT(since, now_ms - 60'000);
      EXPECT_LE(since, now_ms);
      EXPECT_EQ(c->getValue<std::string>("path"), "direct");
      relays += c->getValue<bool>("relay");
    }
    EXPECT_EQ(relays, 1);
  }

  pg_->Stop();
  HttpResponse health;
  ASSERT_TRUE(PollUntil([&] {
    health = relay.Admin("/healthz");
    return health.status == 503;
  })) << health.Describe();
  EXPECT_NE(health.body.find("\"ok\":false"), std::string::npos) << health.body;
  EXPECT_NE(relay.Log().find("database unavailable"), std::string::npos);
  // The mesh does not need the relay: a's edit reaches b directly.
  const std::string item = a.api().CreateRecord(ws, "item", IntsOf({{"n", 1}}));
  ASSERT_TRUE(PollUntil([&] { return b.api().GetRecord(ws, item) != nullptr; }));

  ASSERT_TRUE(pg_->Start()) << pg_->error();
  ASSERT_TRUE(PollUntil([&] { return relay.Admin("/healthz").status == 200; }));
  ASSERT_TRUE(PollUntil([&] { return RelayHoldsAll(a, ws) && RelayHoldsAll(b, ws); }))
      << "after the outage the relay catches up with what the peers wrote meanwhile\na: "
      << ToJson(*a.api().Status()) << "\nb: " << ToJson(*b.api().Status());

  // Without the relay process at all, the peers go on as before.
  relay.Kill();
  const std::string later = b.api().CreateRecord(ws, "item", IntsOf({{"n", 2}}));
  ASSERT_TRUE(PollUntil([&] { return a.api().GetRecord(ws, later) != nullptr; }));
}

TEST_F(RelayIntegration, ARelayThatCannotReachItsDatabaseSaysSoAndRetries) {
  RelayProcess relay("relay",
                     "postgresql://grove@127.0.0.1:" + std::to_string(PickFreePort()) + "/none");
  relay.Start({"--database.retry_ms", "200"});
  HttpResponse health;
  ASSERT_TRUE(PollUntil([&] {
    health = relay.Admin("/healthz");
    return health.status == 503;
  }));
  EXPECT_NE(health.body.find("cannot reach PostgreSQL"), std::string::npos) << health.body;
  EXPECT_NE(relay.Log().find("database unavailable"), std::string::npos) << relay.LogTail();
  EXPECT_TRUE(relay.Running());
}

}  // namespace
}  // namespace grove::integration
