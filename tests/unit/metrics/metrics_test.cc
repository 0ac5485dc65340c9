#include "metrics/metrics.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "support/temp_dir.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace grove::metrics {
namespace {

template <typename T>
T* Must(Result<T*> r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : nullptr;
}

TEST(MetricsTest, ExpositionOfSmallRegistry) {
  Registry registry;
  CounterFamily* deltas = Must(
      registry.Counter("grove_deltas_received_total", "Deltas received from peers", {"workspace"}));
  GaugeFamily* peers = Must(registry.Gauge("grove_peers_connected", "Connected peers"));
  CounterFamily* unused = Must(registry.Counter("grove_unused_total", "Never used", {"kind"}));
  ASSERT_TRUE(deltas && peers && unused);

  deltas->With({{"workspace", "ab12"}}).Inc(3);
  deltas->With({{"workspace", "00ff"}}).Inc();
  peers->With({}).Set(2);
  peers->With({}).Inc(0.5);

  EXPECT_EQ(registry.Exposition(),
            "# HELP grove_deltas_received_total Deltas received from peers\n"
            "# TYPE grove_deltas_received_total counter\n"
            "grove_deltas_received_total{workspace=\"00ff\"} 1\n"
            "grove_deltas_received_total{workspace=\"ab12\"} 3\n"
            "# HELP grove_peers_connected Connected peers\n"
            "# TYPE grove_peers_connected gauge\n"
            "grove_peers_connected 2.5\n");
}

TEST(MetricsTest, UnlabelledFamiliesExportZeroFromTheStart) {
  Registry registry;
  ASSERT_TRUE(registry.Counter("grove_errors_total", "Errors").ok());
  EXPECT_EQ(registry.Exposition(),
            "# HELP grove_errors_total Errors\n"
            "# TYPE grove_errors_total counter\n"
            "grove_errors_total 0\n");
}

TEST(MetricsTest, MultipleLabelsRenderInDeclaredOrderWhateverTheCallOrder) {
  Registry registry;
  CounterFamily* f = Must(registry.Counter("grove_frames_total", "Frames", {"direction", "peer"}));
  ASSERT_NE(f, nullptr);
  f->With({{"peer", "p1"}, {"direction", "in"}}).Inc(2);
  f->With({{"direction", "in"}, {"peer", "p1"}}).Inc(5);  // the same child
  EXPECT_EQ(registry.Exposition(),
            "# HELP grove_frames_total Frames\n"
            "# TYPE grove_frames_total counter\n"
            "grove_frames_total{direction=\"in\",peer=\"p1\"} 7\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry registry;
  GaugeFamily* g = Must(registry.Gauge("grove_escape_test", "Help with \\ and\nnewline", {"v"}));
  ASSERT_NE(g, nullptr);
  g->With({{"v", "a\\b\"c\nd"}}).Set(1);
  g->With({{"v", std::string("bad\xff\xc3(utf8")}}).Set(2);
  EXPECT_EQ(registry.Exposition(),
            "# HELP grove_escape_test Help with \\\\ and\\nnewline\n"
            "# TYPE grove_escape_test gauge\n"
            "grove_escape_test{v=\"a\\\\b\\\"c\\nd\"} 1\n"
            "grove_escape_test{v=\"bad\xEF\xBF\xBD\xEF\xBF\xBD(utf8\"} 2\n");
}

TEST(MetricsTest, SpecialGaugeValues) {
  Registry registry;
  GaugeFamily* g = Must(registry.Gauge("grove_special", "Special values", {"k"}));
  ASSERT_NE(g, nullptr);
  g->With({{"k", "a"}}).Set(std::numeric_limits<double>::infinity());
  g->With({{"k", "b"}}).Set(-std::numeric_limits<double>::infinity());
  g->With({{"k", "c"}}).Set(std::nan(""));
  g->With({{"k", "d"}}).Set(1e21);
  g->With({{"k", "e"}}).Set(-0.25);
  EXPECT_EQ(registry.Exposition(),
            "# HELP grove_special Special values\n"
            "# TYPE grove_special gauge\n"
            "grove_special{k=\"a\"} +Inf\n"
            "grove_special{k=\"b\"} -Inf\n"
            "grove_special{k=\"c\"} NaN\n"
            "grove_special{k=\"d\"} 1e+21\n"
            "grove_special{k=\"e\"} -0.25\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Registry registry;
  HistogramFamily* h = Must(
      registry.Histogram("grove_sync_batch_seconds", "Batch latency", {"peer"}, {0.25, 0.5, 1}));
  ASSERT_NE(h, nullptr);
  Histogram& p = h->With({{"peer", "p1"}});
  for (double v : {0.125, 0.25, 0.375, 0.75, 0.875, 2.0, 3.0}) p.Observe(v);
  p.Observe(std::nan(""));  // ignored
  EXPECT_EQ(registry.Exposition(),
            "# HELP grove_sync_batch_seconds Batch latency\n"
            "# TYPE grove_sync_batch_seconds histogram\n"
            "grove_sync_batch_seconds_bucket{peer=\"p1\",le=\"0.25\"} 2\n"
            "grove_sync_batch_seconds_bucket{peer=\"p1\",le=\"0.5\"} 3\n"
            "grove_sync_batch_seconds_bucket{peer=\"p1\",le=\"1\"} 5\n"
            "grove_sync_batch_seconds_bucket{peer=\"p1\",le=\"+Inf\"} 7\n"
            "grove_sync_batch_seconds_sum{peer=\"p1\"} 7.375\n"
            "grove_sync_batch_seconds_count{peer=\"p1\"} 7\n");
  Histogram::Snapshot snap = p.Collect();
  EXPECT_EQ(snap.cumulative, (std::vector<uint64_t>{2, 3, 5, 7}));
  EXPECT_EQ(snap.count, 7u);
  EXPECT_EQ(snap.sum, 7.375);
}

TEST(MetricsTest, UnlabelledHistogramAndTrailingInfBound) {
  Registry registry;
  HistogramFamily* h =
      Must(registry.Histogram("grove_frame_bytes", "Frame sizes", {},
                              {1024, 65536, std::numeric_limits<double>::infinity()}));
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->bounds(), (std::vector<double>{1024, 65536}));
  h->With({}).Observe(100);
  h->With({}).Observe(1e6);
  EXPECT_EQ(registry.Exposition(),
            "# HELP grove_frame_bytes Frame sizes\n"
            "# TYPE grove_frame_bytes histogram\n"
            "grove_frame_bytes_bucket{le=\"1024\"} 1\n"
            "grove_frame_bytes_bucket{le=\"65536\"} 1\n"
            "grove_frame_bytes_bucket{le=\"+Inf\"} 2\n"
            "grove_frame_bytes_sum 1000100\n"
            "grove_frame_bytes_count 2\n");
}

TEST(MetricsTest, FamiliesAreSortedByName) {
  Registry registry;
  ASSERT_TRUE(registry.Gauge("zeta", "z").ok());
  ASSERT_TRUE(registry.Gauge("alpha", "a").ok());
  ASSERT_TRUE(registry.Gauge("mid", "m").ok());
  const std::string text = registry.Exposition();
  EXPECT_LT(text.find("# HELP alpha"), text.find("# HELP mid"));
  EXPECT_LT(text.find("# HELP mid"), text.find("# HELP zeta"));
}

TEST(MetricsTest, RejectsBadNamesAndConflictingRegistrations) {
  Registry registry;
  struct Case {
    std::string name;
    Type type;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"", Type::kGauge, "snake_case"},
      {"9lives", Type::kGauge, "snake_case"},
      {"grove-peers", Type::kGauge, "snake_case"},
      {"grovePeers", Type::kGauge, "snake_case"},
      {"grove:peers", Type::kGauge, "snake_case"},
      {"grove_deltas", Type::kCounter, "end in \"_total\""},
      {"grove_deltas_total", Type::kGauge, "only counter names"},
      {"grove_x_bucket", Type::kGauge, "only histogram names"},
      {"grove_x_count", Type::kCounter, "end in \"_total\""},
      {"grove_x_sum", Type::kGauge, "only histogram names"},
      {"grove_queue_gauge", Type::kGauge, "its type 'gauge'"},
      {"grove_latency_ms", Type::kHistogram, "abbreviated unit 'ms'"},
      {"grove_latency_milliseconds", Type::kHistogram, "base unit 'seconds'"},
      {"grove_store_kilobytes", Type::kGauge, "base unit 'bytes'"},
  };
  for (const Case& c : cases) {
    Status s;
    switch (c.type) {
      case Type::kCounter:
        s = registry.Counter(c.name, "help").status();
        break;
      case Type::kGauge:
        s = registry.Gauge(c.name, "help").status();
        break;
      case Type::kHistogram:
        s = registry.Histogram(c.name, "help", {}, {1}).status();
        break;
    }
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.name;
    EXPECT_NE(s.message().find(c.message_part), std::string::npos) << c.name << ": " << s.message();
  }

  // Label names.
  EXPECT_EQ(registry.Gauge("grove_a", "h", {"Peer"}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(registry.Gauge("grove_a", "h", {"__peer"}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(registry.Gauge("grove_a", "h", {"p", "p"}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(registry.Histogram("grove_h", "h", {"le"}, {1}).status().code(),
            Code::kInvalidArgument);
  // Help and buckets.
  EXPECT_EQ(registry.Gauge("grove_b", "").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(registry.Histogram("grove_h", "h", {}, {1, 1}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(registry.Histogram("grove_h", "h", {}, {2, 1}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(registry.Histogram("grove_h", "h", {}, {std::nan("")}).status().code(),
            Code::kInvalidArgument);

  // Same name: same family when everything matches, an error otherwise.
  GaugeFamily* g = Must(registry.Gauge("grove_peers", "Peers", {"state"}));
  EXPECT_EQ(Must(registry.Gauge("grove_peers", "Peers", {"state"})), g);
  Status other_type = registry.Histogram("grove_peers", "Peers", {"state"}, {1}).status();
  EXPECT_EQ(other_type.code(), Code::kInvalidArgument);
  EXPECT_NE(other_type.message().find("already registered as a gauge"), std::string::npos)
      << other_type.message();
  EXPECT_EQ(registry.Gauge("grove_peers", "Peers", {"other"}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(registry.Gauge("grove_peers", "Other help", {"state"}).status().code(),
            Code::kInvalidArgument);
  ASSERT_TRUE(registry.Histogram("grove_wait_seconds", "Wait", {}, {1, 2}).ok());
  EXPECT_EQ(registry.Histogram("grove_wait_seconds", "Wait", {}, {1, 3}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(registry.GaugeCallback("grove_peers", "Peers", {{"state", "x"}}, [] { return 1.0; })
                .status()
                .code(),
            Code::kInvalidArgument);
}

TEST(MetricsTest, GetChecksLabels) {
  Registry registry;
  CounterFamily* f = Must(registry.Counter("grove_ops_total", "Ops", {"op", "peer"}));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->Get({{"op", "put"}}).status().code(), Code::kInvalidArgument);  // missing
  EXPECT_EQ(f->Get({{"op", "put"}, {"peer", "a"}, {"x", "y"}}).status().code(),
            Code::kInvalidArgument);  // unknown
  EXPECT_EQ(f->Get({{"op", "put"}, {"op", "get"}, {"peer", "a"}}).status().code(),
            Code::kInvalidArgument);  // twice
  Result<Counter*> c = f->Get({{"op", "put"}, {"peer", "a"}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, &f->With({{"peer", "a"}, {"op", "put"}}));
}

#ifdef NDEBUG
TEST(MetricsTest, WithWrongLabelsInReleaseBuildsCountsNowhere) {
  Registry registry;
  CounterFamily* f = Must(registry.Counter("grove_misuse_total", "Misuse", {"op"}));
  ASSERT_NE(f, nullptr);
  f->With({{"wrong", "x"}}).Inc(5);
  EXPECT_EQ(registry.Exposition(), "");
}
#endif

TEST(MetricsTest, CallbackGaugeIsComputedAtScrapeAndRemovedWithItsHandle) {
  Registry registry;
  double size = 4096;
  Result<CallbackGauge> a = registry.GaugeCallback("grove_store_size_bytes", "Store size",
                                                   {{"store", "main"}}, [&size] { return size; });
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  Result<CallbackGauge> b = registry.GaugeCallback("grove_store_size_bytes", "Store size",
                                                   {{"store", "aux"}}, [] { return 1.0; });
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(registry
                .GaugeCallback("grove_store_size_bytes", "Store size", {{"store", "aux"}},
                               [] { return 2.0; })
                .status()
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(registry.Gauge("grove_store_size_bytes", "Store size", {"store"}).status().code(),
            Code::kInvalidArgument);

  size = 8192;
  EXPECT_EQ(registry.Exposition(),
            "# HELP grove_store_size_bytes Store size\n"
            "# TYPE grove_store_size_bytes gauge\n"
            "grove_store_size_bytes{store=\"aux\"} 1\n"
            "grove_store_size_bytes{store=\"main\"} 8192\n");

  CallbackGauge moved = std::move(*b);
  EXPECT_TRUE(moved.active());
  moved.Reset();
  EXPECT_FALSE(moved.active());
  EXPECT_EQ(registry.Exposition(),
            "# HELP grove_store_size_bytes Store size\n"
            "# TYPE grove_store_size_bytes gauge\n"
            "grove_store_size_bytes{store=\"main\"} 8192\n");
  { CallbackGauge gone = std::move(*a); }
  EXPECT_EQ(registry.Exposition(), "");
}

TEST(MetricsTest, ConcurrentUpdatesFromFourThreadsSumCorrectly) {
  Registry registry;
  CounterFamily* counters = Must(registry.Counter("grove_events_total", "Events", {"kind"}));
  GaugeFamily* gauges = Must(registry.Gauge("grove_level", "Level"));
  HistogramFamily* hist = Must(registry.Histogram("grove_size_bytes", "Sizes", {}, {10, 100}));
  ASSERT_TRUE(counters && gauges && hist);

  constexpr int kThreads = 4;
  constexpr int kIterations = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Half the lookups race on the shared child's creation; the rest use a cached reference.
      Counter& shared = counters->With({{"kind", "shared"}});
      Counter& own = counters->With({{"kind", "t" + std::to_string(t)}});
      Gauge& level = gauges->With({});
      Histogram& sizes = hist->With({});
      for (int i = 0; i < kIterations; ++i) {
        shared.Inc();
        own.Inc(2);
        level.Inc(1);
        sizes.Observe(i % 200);
        if (i % 1000 == 0) (void)registry.Exposition();  // scrapes while writing
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_EQ(counters->With({{"kind", "shared"}}).value(), uint64_t{kThreads} * kIterations);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(counters->With({{"kind", "t" + std::to_string(t)}}).value(), 2u * kIterations);
  }
  EXPECT_EQ(gauges->With({}).value(), double{kThreads} * kIterations);
  Histogram::Snapshot snap = hist->With({}).Collect();
  EXPECT_EQ(snap.count, uint64_t{kThreads} * kIterations);
  // i % 200 in 0..10 (11 values), 0..100 (101 values) out of 200.
  EXPECT_EQ(snap.cumulative[0], uint64_t{kThreads} * kIterations / 200 * 11);
  EXPECT_EQ(snap.cumulative[1], uint64_t{kThreads} * kIterations / 200 * 101);
  EXPECT_EQ(snap.sum, double{kThreads} * (kIterations / 200) * (199 * 200 / 2));
}

// Where `promtool` is on PATH, or "" when it is not.
std::string FindOnPath(const std::string& program) {
  const char* path = getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Runs `program args... < input`, output into `output`; returns the exit status (-1 when it did
// not exit normally).
int RunWithStdin(const std::string& program, const std::vector<std::string>& args,
                 const std::string& input, const std::string& output) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (!freopen(input.c_str(), "r", stdin) || !freopen(output.c_str(), "w", stdout) ||
        dup2(fileno(stdout), 2) < 0) {
      _exit(126);
    }
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(MetricsTest, PromtoolAcceptsTheExposition) {
  const std::string promtool = FindOnPath("promtool");
  if (promtool.empty()) {
    FAIL() << "promtool is not on PATH. It ships in the Debian package 'prometheus': run "
              "deploy/install-deps.sh (or apt-get install prometheus).";
  }

  Registry registry;
  CounterFamily* deltas = Must(
      registry.Counter("grove_deltas_received_total", "Deltas received from peers", {"workspace"}));
  CounterFamily* plain = Must(registry.Counter("grove_restarts_total", "Restarts"));
  GaugeFamily* peers = Must(registry.Gauge("grove_peers_connected", "Connected peers", {"state"}));
  GaugeFamily* special = Must(registry.Gauge("grove_special_values", "Odd values", {"k"}));
  HistogramFamily* latency =
      Must(registry.Histogram("grove_sync_batch_seconds", "Sync batch latency\nin seconds \\ s",
                              {"peer", "direction"}, ExponentialBuckets(0.001, 10, 4)));
  HistogramFamily* sizes =
      Must(registry.Histogram("grove_frame_bytes", "Frame sizes", {}, LinearBuckets(0, 512, 3)));
  ASSERT_TRUE(deltas && plain && peers && special && latency && sizes);
  ASSERT_TRUE(registry.Counter("grove_never_used_total", "No children yet", {"x"}).ok());

  deltas->With({{"workspace", "ab12"}}).Inc(12);
  deltas->With({{"workspace", "quote\"back\\slash\nnewline"}}).Inc();
  deltas->With({{"workspace", std::string("bytes\xff\xfe")}}).Inc();
  deltas->With({{"workspace", "unicode \xC3\xA9\xE2\x82\xAC"}}).Inc();
  deltas->With({{"workspace", ""}}).Inc();
  plain->With({}).Inc();
  peers->With({{"state", "up"}}).Set(3);
  peers->With({{"state", "down"}}).Dec(1.5);
  special->With({{"k", "inf"}}).Set(std::numeric_limits<double>::infinity());
  special->With({{"k", "ninf"}}).Set(-std::numeric_limits<double>::infinity());
  special->With({{"k", "nan"}}).Set(std::nan(""));
  special->With({{"k", "tiny"}}).Set(1e-300);
  for (double v : {0.0005, 0.02, 0.3, 7.0, 70.0}) {
    latency->With({{"peer", "p1"}, {"direction", "in"}}).Observe(v);
  }
  latency->With({{"peer", "p2"}, {"direction", "out"}}).Observe(0.01);
  sizes->With({}).Observe(100);
  sizes->With({}).Observe(5000);
  Result<CallbackGauge> store_size = registry.GaugeCallback(
      "grove_store_size_bytes", "Store size on disk", {{"store", "main"}}, [] { return 123456.0; });
  ASSERT_TRUE(store_size.ok());

  testing::TempDir dir("metrics_test");
  const std::string input = dir.File("metrics.prom");
  const std::string output = dir.File("promtool.out");
  const std::string text = registry.Exposition();
  {
    std::ofstream out(input);
    out << text;
  }
  const int rc = RunWithStdin(promtool, {"check", "metrics"}, input, output);
  EXPECT_EQ(rc, 0) << "promtool check metrics said:\n" << ReadFile(output) << "\nfor:\n" << text;
}

TEST(MetricsTest, UnlabelledHelpersGiveTheFamilysOneChildAndAbortOnABadName) {
  metrics::Registry registry;
  metrics::Counter& sent = metrics::UnlabelledCounter(registry, "sent_total", "Sent");
  sent.Inc(3);
  EXPECT_EQ(&sent, &Must(registry.Counter("sent_total", "Sent"))->With({}));
  metrics::UnlabelledGauge(registry, "open", "Open").Set(2);
  metrics::UnlabelledHistogram(registry, "wait_seconds", "Waits", {0.1, 1}).Observe(0.5);
  const std::string text = registry.Exposition();
  EXPECT_NE(text.find("sent_total 3"), std::string::npos) << text;
  EXPECT_NE(text.find("open 2"), std::string::npos) << text;
  EXPECT_NE(text.find("wait_seconds_count 1"), std::string::npos) << text;
  EXPECT_DEATH(metrics::UnlabelledCounter(registry, "Bad-Name_total", "x"), "Bad-Name_total");
}

}  // namespace
}  // namespace grove::metrics
