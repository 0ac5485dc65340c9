// The metrics of a peer that has synced: promtool accepts the exposition, and the counters that
// show sync are there and moved.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "integration/peer_process.h"

namespace grove::integration {
namespace {

TEST(PeerIntegration, MetricsAfterSyncPassPromtool) {
  const std::string promtool = FindOnPath("promtool");
  ASSERT_NE(promtool, "") << "promtool is not on PATH; deploy/install-deps.sh installs it (Debian "
                             "package `prometheus`)";

  PeerProcess a("alice"), b("bob");
  a.Start();
  b.Start(ConnectTo({a.sync_address()}));
  const std::string ws = ShareWorkspace(a, {&b}, "metered");
  const std::string id = a.api().CreateRecord(ws, "item", JsonOf({{"name", "widget"}}));
  ASSERT_EQ(a.api().PatchAdd(ws, id, IntsOf({{"stock", 5}})), 200);
  ASSERT_EQ(a.api().PatchAdd(ws, id, IntsOf({{"stock", 1}})), 200);
  JsonObject at_a, at_b;
  ASSERT_TRUE(PollUntil([&] {
    at_b = b.api().GetRecord(ws, id);
    return IntField(at_b, "stock") == 6;
  })) << "B did not get the record within 20 s; B has "
      << (at_b ? ToJson(*at_b) : "no record") << ", A has "
      << ((at_a = a.api().GetRecord(ws, id)) ? ToJson(*at_a) : "no record");

  // The gauges and the network counters are refreshed once a second.
  std::string text;
  ASSERT_TRUE(PollUntil([&] {
    text = b.api().Metrics();
    return MetricValue(text, "grove_sync_connections") == 1.0 &&
           MetricValue(text, "grove_deltas_received_total") > 0.0 &&
           MetricValue(text, "grove_apply_duration_seconds_count") > 0.0 &&
           MetricValue(text, "grove_sync_received_bytes_total") > 0.0;
  })) << "B's metrics after syncing:\n"
      << text;
  std::string sender;
  EXPECT_TRUE(PollUntil([&] {
    sender = a.api().Metrics();
    return MetricValue(sender, "grove_deltas_sent_total") > 0.0;
  })) << "A sent deltas to B, but its metrics say:\n"
      << sender;
  for (const char* name : {"grove_sync_connections", "grove_deltas_received_total",
                           "grove_apply_duration_seconds_bucket{"}) {
    EXPECT_NE(text.find(std::string("\n") + name), std::string::npos) << name << " missing";
  }

  char path[] = "/tmp/grove_it_metrics.XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  std::string output;
  const int rc = RunProgram({promtool, "check", "metrics"}, path, &output, 30s);
  std::remove(path);
  EXPECT_EQ(rc, 0) << "promtool check metrics refused B's /metrics:\n" << output << "\n" << text;
}

}  // namespace
}  // namespace grove::integration
