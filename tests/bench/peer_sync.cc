// grove-bench peer-sync: sync between real grove-peer processes over TLS (issue 4).
//
// 1. Backlog. Device A's data folder is prepared in-process with the replica library (real keys,
//    SQLite): a workspace with B as a member and --changes local actions (record creations, then
//    field sets and stock increments alternating over the records), sealed every --seal-every
//    actions as a peer would. In the same run: the in-process merge rate of exactly those deltas
//    (a fresh replica of B, joined from the genesis on a temp store, Apply()ing A's
//    DeltasFor({})), and raw TLS throughput between two processes (net::Network, 64 KiB frames).
//    Then two grove-peer processes start, B dialing A; once B lists the invitation the clock
//    starts, B accepts, and the clock stops when B's version digest equals A's: B's
//    grove_deltas_received_total (which /metrics serves without the peer's event loop) is polled
//    every 2 ms until it reaches the backlog's count, then B's digest is asked for; if that first
//    digest already equals A's, the clock stops at the count, otherwise at the digest that does.
//    Wire bytes are A's grove_sync_sent_bytes_total before and after (frame bytes, no TLS).
// 2. Live push. Three peers in a line (B dials A, C dials B) share a workspace with one record;
//    A PATCHes "add stock 1", and the time until C's GET shows the new stock is measured, with
//    pushes spaced past the seal throttle. C's connections are reported, since peers share
//    addresses and C may dial A directly.
// 3. Idle memory. A peer whose store holds --workspaces workspaces (a few records each), idle for
//    2 s: VmRSS, next to a peer with an empty store.
//
// One JSON line on stdout; progress on stderr. Every wait is bounded; only 127.0.0.1 is used.
#include "bench/peer_sync.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "bench/peer_harness.h"
#include "bench/raw_tls.h"
#include "common/clock.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "replica/replica.h"
#include "store/store.h"

namespace grove::bench {
namespace {

using namespace std::chrono_literals;
using replica::Value;

struct Options {
  uint64_t changes = 200000;
  uint64_t records = 0;  // 0: changes / 100 (at least 1)
  uint64_t seal_every = 1000;
  uint64_t pushes = 50;
  uint64_t push_gap_ms = 250;
  uint64_t workspaces = 100;
  uint64_t ws_records = 5;
  uint64_t tls_mib = 256;
  uint64_t timeout_s = 600;  // bound of the backlog sync over the network
  bool keep = false;
};

void Progress(const std::string& what) {
  std::fprintf(stderr, "grove-bench peer-sync: %s\n", what.c_str());
  std::fflush(stderr);
}

void Sleep(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  if (p == 50 && v.size() % 2 == 0) return (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

// Devices (ids) this peer has a ready connection with, per GET /api/v1/status; and the sum of
// their bytes_in.
std::vector<std::string> ConnectedDevices(Api& api, uint64_t* bytes_in = nullptr) {
  std::vector<std::string> out;
  HttpReply r = api.Get("/api/v1/status");
  auto json = r.status == 200 ? r.Json() : std::nullopt;
  const api::Json* conns = json ? json->Find("connections") : nullptr;
  if (bytes_in) *bytes_in = 0;
  if (!conns || !conns->is_array()) return out;
  for (const api::Json& c : conns->items()) {
    std::string device = JsonString(c, "device");
    if (!device.empty()) out.push_back(device);
    if (bytes_in) *bytes_in += static_cast<uint64_t>(JsonInt(c, "bytes_in").value_or(0));
  }
  return out;
}

std::optional<int64_t> StockOf(Api& api, const std::string& ws, const std::string& record) {
  HttpReply r = api.Get("/api/v1/workspaces/" + ws + "/records/" + record);
  auto json = r.status == 200 ? r.Json() : std::nullopt;
  const api::Json* fields = json ? json->Find("fields") : nullptr;
  if (!fields) return std::nullopt;
  return JsonInt(*fields, "stock");
}

}  // namespace

// --- 1. Backlog: PrepareBacklog (further below) and the sync over the network ------------------

CatchUp TimeCatchUp(PeerProcess& b, const std::string& ws, const Digest& a,
                    uint64_t expected_deltas, std::chrono::seconds timeout) {
  CatchUp n;
  const TimePoint start = Now();
  HttpReply accepted = b.api().Request("POST", "/api/v1/invitations/" + ws + "/accept", "{}");
  n.accept_s = Seconds(start);
  if (accepted.status != 200) {
    n.error =
        "accept: HTTP " + std::to_string(accepted.status) + " " + accepted.body + accepted.error;
    return n;
  }
  // B's grove_deltas_received_total is counted as each batch is applied and served without the
  // peer's event loop, so polling it does not slow the sync down; the digest (computed on the
  // loop) is asked only once the count is there.
  const double expected = static_cast<double>(expected_deltas);
  const auto deadline = start + timeout;
  const bool counted = PollUntil(
      [&] {
        n.received = b.Metric("grove_deltas_received_total").value_or(0);
        if (n.received > 0 && n.first_delta_s == 0) n.first_delta_s = Seconds(start);
        return n.received >= expected;
      },
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                            std::chrono::steady_clock::now()),
      2ms);
  const double counted_s = Seconds(start);
  std::optional<Digest> b_digest;
  int checks = 0;
  const bool same_version = PollUntil(
      [&] {
        ++checks;
        b_digest = GetDigest(b.api(), ws);
        return b_digest && b_digest->version == a.version;
      },
      counted ? 60s : 1ms, 20ms);
  // The moment B held everything is when the count got there, if the first digest asked for
  // after that agrees; otherwise when a later one did.
  n.seconds_with_check = Seconds(start);
  n.seconds = same_version && checks == 1 ? counted_s : n.seconds_with_check;
  n.converged = same_version && b_digest->state == a.state;
  if (!same_version) {
    n.error = "B did not reach A's version within " + std::to_string(timeout.count()) + " s (" +
              Num(n.received) + " of " + Num(expected) + " deltas)";
  }
  // Time B's event loop spent on Deltas frames (parse, verify, decrypt, apply, store): the rest
  // of the network time is waiting (accept, the sender encoding, the wire, polling).
  n.apply_s = b.Metric("grove_apply_duration_seconds_sum").value_or(0);
  n.apply_frames = b.Metric("grove_apply_duration_seconds_count").value_or(0);
  return n;
}

NetSync RunBacklogSync(const std::string& a_dir, const std::string& b_dir,
                       const std::string& log_prefix, std::chrono::seconds timeout,
                       const Backlog& b, const std::string& progress_tag) {
  NetSync n;
  PeerProcess pa("A", a_dir, log_prefix + "a.log");
  PeerProcess pb("B", b_dir, log_prefix + "b.log");
  const TimePoint t0 = Now();
  if (!pa.Start({}, 300s, &n.error)) return n;
  n.a_start_s = Seconds(t0);
  const TimePoint t1 = Now();
  if (!pb.Start({pa.sync_address()}, 30s, &n.error)) return n;
  if (!PollUntil([&] { return HasInvitation(pb.api(), b.ws); }, 60s, 10ms)) {
    n.error = "B saw no invitation within 60 s (logs " + log_prefix + "*.log)";
    return n;
  }
  n.invitation_s = Seconds(t1);
  auto a_digest = GetDigest(pa.api(), b.ws);
  if (!a_digest) {
    n.error = "A does not serve the workspace's digest";
    return n;
  }
  n.a_digest_matches = a_digest->version == b.version && a_digest->state == b.state;
  // The peer moves its byte counters into /metrics once a second: let them catch up.
  Sleep(1100ms);
  const double sent0 = pa.Metric("grove_sync_sent_bytes_total").value_or(0);
  uint64_t b_in0 = 0;
  (void)ConnectedDevices(pb.api(), &b_in0);
  std::fprintf(stderr, "grove-bench %s: B has the invitation; accepting (clock running)\n",
               progress_tag.c_str());

  // B holds the genesis already (it came with the invitation).
  CatchUp c = TimeCatchUp(pb, b.ws, *a_digest, b.digest_deltas - 1, timeout);
  n.error = c.error;
  n.accept_s = c.accept_s;
  n.first_delta_s = c.first_delta_s;
  n.seconds = c.seconds;
  n.seconds_with_check = c.seconds_with_check;
  n.converged = c.converged;
  n.b_apply_s = c.apply_s;
  n.b_apply_frames = c.apply_frames;
  n.b_rss_mb = pb.RssMb();
  n.a_rss_mb = pa.RssMb();
  Sleep(1100ms);
  n.sent_bytes = pa.Metric("grove_sync_sent_bytes_total").value_or(0) - sent0;
  uint64_t b_in1 = 0;
  (void)ConnectedDevices(pb.api(), &b_in1);
  n.b_bytes_in = b_in1 - b_in0;
  pb.Stop(10s);
  pa.Stop(10s);
  return n;
}

namespace {

// --- 2. Live push -----------------------------------------------------------------------------

struct LivePush {
  std::string error;
  std::vector<double> latencies_ms, patch_ms;
  uint64_t lost = 0;
  bool direct_paths = false;
  std::string c_connected_to;
};

LivePush RunLivePush(const Options& o, const std::string& root, Random& rng, Clock& clock) {
  LivePush lp;
  std::vector<std::unique_ptr<identity::Identity>> ids;
  const char* names[] = {"alice", "bob", "carol"};
  for (int i = 0; i < 3; ++i) {
    auto id = InitDevice(root + "/live-" + names[i], names[i], rng, clock);
    if (!id.ok()) {
      lp.error = id.status().ToString();
      return lp;
    }
    ids.push_back(std::move(id).value());
  }
  PeerProcess a("A", root + "/live-alice", root + "/live-alice.log");
  PeerProcess b("B", root + "/live-bob", root + "/live-bob.log");
  PeerProcess c("C", root + "/live-carol", root + "/live-carol.log");
  if (!a.Start({}, 30s, &lp.error) || !b.Start({a.sync_address()}, 30s, &lp.error) ||
      !c.Start({b.sync_address()}, 30s, &lp.error)) {
    return lp;
  }
  HttpReply made = a.api().Request("POST", "/api/v1/workspaces", "{\"name\":\"live\"}");
  auto made_json = made.Json();
  const std::string ws = made_json ? JsonString(*made_json, "id") : "";
  if (made.status != 201 || ws.empty()) {
    lp.error = "creating the workspace: HTTP " + std::to_string(made.status) + " " + made.body;
    return lp;
  }
  for (int i = 1; i < 3; ++i) {
    HttpReply r = a.api().Request("POST", "/api/v1/workspaces/" + ws + "/members",
                                  "{\"card\":\"" + ids[i]->card().text() + "\"}");
    if (r.status != 201) {
      lp.error = "adding a member: HTTP " + std::to_string(r.status) + " " + r.body;
      return lp;
    }
  }
  for (PeerProcess* p : {&b, &c}) {
    if (!PollUntil([&] { return HasInvitation(p->api(), ws); }, 30s, 10ms)) {
      lp.error = p->name() + " saw no invitation within 30 s";
      return lp;
    }
    HttpReply r = p->api().Request("POST", "/api/v1/invitations/" + ws + "/accept", "{}");
    if (r.status != 200) {
      lp.error = p->name() + " accept: HTTP " + std::to_string(r.status);
      return lp;
    }
  }
  HttpReply rec = a.api().Request("POST", "/api/v1/workspaces/" + ws + "/records",
                                  "{\"type\":\"item\",\"fields\":{\"stock\":0}}");
  auto rec_json = rec.Json();
  const std::string record = rec_json ? JsonString(*rec_json, "id") : "";
  if (rec.status != 201 || record.empty()) {
    lp.error = "creating the record: HTTP " + std::to_string(rec.status) + " " + rec.body;
    return lp;
  }
  if (!PollUntil([&] { return StockOf(c.api(), ws, record) == 0; }, 30s, 5ms)) {
    lp.error = "C did not get the record within 30 s";
    return lp;
  }
  // Peers look for members to dial every 2 s: give that a chance before and during the pushes.
  Sleep(2500ms);
  const std::string a_device = identity::DeviceIdText(ids[0]->device());
  const std::string b_device = identity::DeviceIdText(ids[1]->device());
  auto note_connections = [&] {
    std::string names_seen;
    for (const std::string& d : ConnectedDevices(c.api())) {
      const char* who = d == a_device ? "A" : d == b_device ? "B" : "?";
      if (names_seen.find(who) == std::string::npos) {
        names_seen += (names_seen.empty() ? "" : ",") + std::string(who);
      }
      lp.direct_paths = lp.direct_paths || d == a_device;
    }
    if (names_seen.size() > lp.c_connected_to.size()) lp.c_connected_to = names_seen;
  };
  note_connections();
  Progress("live push A->B->C: " + std::to_string(o.pushes) + " pushes (C connected to " +
           lp.c_connected_to + ")");

  for (uint64_t i = 1; i <= o.pushes; ++i) {
    // By default past the seal throttle (sync.seal_delay_ms, 200 ms by default): each push is
    // the first action after a quiet spell, which the peer seals and pushes at once.
    Sleep(std::chrono::milliseconds(o.push_gap_ms));
    const TimePoint t0 = Now();
    HttpReply r = a.api().Request("PATCH", "/api/v1/workspaces/" + ws + "/records/" + record,
                                  "{\"add\":{\"stock\":1}}");
    lp.patch_ms.push_back(Seconds(t0) * 1000);
    if (r.status != 200) {
      lp.error = "PATCH on A: HTTP " + std::to_string(r.status) + " " + r.body;
      return lp;
    }
    const int64_t want = static_cast<int64_t>(i);
    if (PollUntil(
            [&] {
              auto stock = StockOf(c.api(), ws, record);
              return stock && *stock >= want;
            },
            10s, 1ms)) {
      lp.latencies_ms.push_back(Seconds(t0) * 1000);
    } else {
      ++lp.lost;
    }
  }
  note_connections();
  c.Stop(10s);
  b.Stop(10s);
  a.Stop(10s);
  return lp;
}

// --- 3. Idle RSS --------------------------------------------------------------------------------

struct IdleRss {
  std::string error;
  double empty_mb = 0, loaded_mb = 0;
};

IdleRss RunIdleRss(const Options& o, const std::string& root, Random& rng, Clock& clock) {
  IdleRss out;
  auto empty = InitDevice(root + "/idle-empty", "empty", rng, clock);
  auto dev = InitDevice(root + "/idle", "idle", rng, clock);
  if (!empty.ok() || !dev.ok()) {
    out.error = "init: " + (empty.ok() ? dev.status() : empty.status()).ToString();
    return out;
  }
  {
    auto st = store::OpenSqliteStore(root + "/idle/store.db", {});
    if (!st.ok()) {
      out.error = st.status().ToString();
      return out;
    }
    for (uint64_t w = 0; w < o.workspaces; ++w) {
      auto ws = replica::Workspace::Create(**dev, "ws-" + std::to_string(w), {}, **st, clock, rng);
      if (!ws.ok()) {
        out.error = ws.status().ToString();
        return out;
      }
      for (uint64_t r = 0; r < o.ws_records; ++r) {
        auto rec = (*ws)->CreateRecord(
            "item", {{"sku", Value("SKU-" + std::to_string(r))}, {"stock", Value(int64_t{3})}});
        if (!rec.ok()) {
          out.error = rec.status().ToString();
          return out;
        }
      }
      (void)(*ws)->Seal();
    }
  }
  PeerProcess e("empty", root + "/idle-empty", root + "/idle-empty.log");
  PeerProcess p("idle", root + "/idle", root + "/idle.log");
  if (!e.Start({}, 30s, &out.error) || !p.Start({}, 60s, &out.error)) return out;
  Sleep(2000ms);
  out.empty_mb = e.RssMb();
  out.loaded_mb = p.RssMb();
  HttpReply list = p.api().Get("/api/v1/workspaces");
  auto json = list.Json();
  if (!json || !json->is_array() || json->items().size() != o.workspaces) {
    out.error = "the idle peer does not list " + std::to_string(o.workspaces) + " workspaces";
  }
  p.Stop(10s);
  e.Stop(10s);
  return out;
}

int Usage(FILE* to = stderr) {
  std::fprintf(
      to,
      "usage: grove-bench peer-sync [options]\n"
      "  --changes N       local actions in the backlog workspace (default 200000)\n"
      "  --records R       records they touch (default changes/100)\n"
      "  --seal-every K    actions per sealed delta (default 1000)\n"
      "  --pushes P        live pushes A->B->C (default 50)\n"
      "  --push-gap-ms G   pause before each push (default 250, past the 200 ms seal throttle)\n"
      "  --workspaces W    workspaces of the idle peer (default 100)\n"
      "  --ws-records K    records in each of them (default 5)\n"
      "  --tls-mib M       MiB sent for the raw TLS limit (default 256)\n"
      "  --timeout-s S     bound of the backlog sync over the network (default 600)\n"
      "  --keep            keep the data folders and logs\n");
  return to == stderr ? 2 : 0;
}

}  // namespace

int PeerSyncMain(int argc, char** argv) {
  Options o;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--keep") {
      o.keep = true;
      continue;
    }
    if (a == "--help" || a == "-h") {
      Usage(stdout);
      return 0;
    }
    uint64_t* target = a == "--changes"       ? &o.changes
                       : a == "--records"     ? &o.records
                       : a == "--seal-every"  ? &o.seal_every
                       : a == "--pushes"      ? &o.pushes
                       : a == "--push-gap-ms" ? &o.push_gap_ms
                       : a == "--workspaces"  ? &o.workspaces
                       : a == "--ws-records"  ? &o.ws_records
                       : a == "--tls-mib"     ? &o.tls_mib
                       : a == "--timeout-s"   ? &o.timeout_s
                                              : nullptr;
    char* end = nullptr;
    if (!target || i + 1 >= argc ||
        (*target = std::strtoull(argv[i + 1], &end, 10), *end != '\0')) {
      std::fprintf(stderr, "grove-bench: bad option '%s'\n", a.c_str());
      return Usage();
    }
    ++i;
  }
  if (o.changes < 1 || o.seal_every < 1 || o.tls_mib < 1 || o.timeout_s < 1) return Usage();

  const std::string root = MakeTempDir("grove-bench-peer-sync-");
  SystemClock clock;
  crypto::SystemRandom rng;
  Out out;
  out.Str("system", "grove");
  out.Str("benchmark", "peer-sync");
  std::string error;

  // 1. Backlog.
  BacklogSpec spec;
  spec.changes = o.changes;
  spec.records = o.records;
  spec.seal_every = o.seal_every;
  Backlog b = PrepareBacklog(spec, root, rng, clock);
  if (!b.error.empty()) error = "backlog: " + b.error;
  RawTlsResult tls;
  NetSync n;
  if (error.empty()) {
    tls = MeasureRawTls(o.tls_mib << 20, 64 << 10, 120);
    if (!tls.ok) error = "raw TLS: " + tls.error;
    Progress("raw TLS between two processes: " + Num(tls.bytes_per_s / 1e6) + " MB/s");
  }
  if (error.empty()) {
    n = RunBacklogSync(root + "/a", root + "/b", root + "/", std::chrono::seconds(o.timeout_s), b);
    if (!n.error.empty()) error = "network sync: " + n.error;
    Progress("network sync: " + Num(n.seconds) + " s");
  }
  const double changes = static_cast<double>(b.changes);
  const double inprocess_rate = b.inprocess_s > 0 ? changes / b.inprocess_s : 0;
  const double net_rate = n.seconds > 0 && n.converged ? changes / n.seconds : 0;
  const double net_bytes_per_s = n.seconds > 0 ? n.sent_bytes / n.seconds : 0;
  out.Int("changes", b.changes);
  out.Int("records", b.records);
  out.Int("seal_every", o.seal_every);
  out.Int("deltas", b.deltas);
  out.Int("delta_bytes", b.delta_bytes);
  out.Add("prepare_seconds", b.prepare_s);
  out.Add("inprocess_encode_seconds", b.encode_s);
  out.Add("inprocess_seconds", b.inprocess_s);
  out.Add("inprocess_changes_per_s", inprocess_rate);
  out.Add("inprocess_batched_1mib_changes_per_s",
          b.inprocess_batched_s > 0 ? changes / b.inprocess_batched_s : 0);
  out.Bool("inprocess_converged", b.inprocess_converged);
  out.Add("peer_a_start_seconds", n.a_start_s);
  out.Add("invitation_seconds", n.invitation_s);
  out.Add("net_accept_seconds", n.accept_s);
  out.Add("net_first_delta_seconds", n.first_delta_s);
  out.Add("net_seconds", n.seconds);
  out.Add("net_seconds_with_digest_check", n.seconds_with_check);
  out.Add("net_b_apply_seconds", n.b_apply_s);
  out.Add("net_b_apply_frames", n.b_apply_frames);
  out.Add("net_changes_per_s", net_rate);
  out.Add("net_vs_inprocess", inprocess_rate > 0 ? net_rate / inprocess_rate : 0);
  out.Add("net_vs_inprocess_target", 0.5);
  out.Add("wire_bytes", n.sent_bytes);
  out.Add("wire_bytes_per_change", n.sent_bytes / changes);
  out.Add("b_received_frame_bytes", static_cast<double>(n.b_bytes_in));
  out.Add("delta_bytes_per_change", static_cast<double>(b.delta_bytes) / changes);
  out.Add("net_bytes_per_s", net_bytes_per_s);
  out.Add("raw_tls_bytes", static_cast<double>(tls.bytes));
  out.Add("raw_tls_bytes_per_s", tls.bytes_per_s);
  out.Add("net_vs_raw_tls", tls.bytes_per_s > 0 ? net_bytes_per_s / tls.bytes_per_s : 0);
  out.Add("peer_a_rss_mb_after_sync", n.a_rss_mb);
  out.Add("peer_b_rss_mb_after_sync", n.b_rss_mb);
  out.Bool("a_digest_matches_prepared", n.a_digest_matches);

  // 2. Live push.
  LivePush lp;
  if (error.empty()) {
    lp = RunLivePush(o, root, rng, clock);
    if (!lp.error.empty()) error = "live push: " + lp.error;
    if (lp.lost > 0 && error.empty()) {
      error = "live push: " + std::to_string(lp.lost) + " pushes did not reach C within 10 s";
    }
  }
  out.Int("pushes", o.pushes);
  out.Int("push_gap_ms", o.push_gap_ms);
  out.Int("pushes_arrived", lp.latencies_ms.size());
  out.Add("live_push_median_ms", Percentile(lp.latencies_ms, 50));
  out.Add("live_push_p95_ms", Percentile(lp.latencies_ms, 95));
  out.Add("live_push_max_ms", Percentile(lp.latencies_ms, 100));
  out.Add("live_push_target_median_ms", 100);
  out.Add("patch_on_a_median_ms", Percentile(lp.patch_ms, 50));
  out.Str("c_connected_to", lp.c_connected_to);
  out.Bool("direct_paths", lp.direct_paths);

  // 3. Idle memory.
  IdleRss idle;
  if (error.empty()) {
    idle = RunIdleRss(o, root, rng, clock);
    if (!idle.error.empty()) error = "idle RSS: " + idle.error;
  }
  out.Add("idle_rss_mb_" + std::to_string(o.workspaces) + "_workspaces", idle.loaded_mb);
  out.Add("idle_rss_mb_empty_peer", idle.empty_mb);
  out.Add("idle_rss_mb_per_workspace",
          o.workspaces ? (idle.loaded_mb - idle.empty_mb) / static_cast<double>(o.workspaces) : 0);

  const bool converged = n.converged;
  out.Bool("converged", converged);
  if (!error.empty()) out.Str("error", error);
  std::printf("%s\n", out.Line().c_str());
  std::fflush(stdout);
  if (!error.empty()) std::fprintf(stderr, "grove-bench peer-sync: %s\n", error.c_str());
  if (error.empty() && !o.keep) {
    std::filesystem::remove_all(root);
  } else {
    std::fprintf(stderr, "grove-bench peer-sync: data folders and logs kept in %s\n", root.c_str());
  }
  return error.empty() && converged ? 0 : 1;
}

// --- Shared with other benchmarks (peer_sync.h) ---------------------------------------------

void Out::Add(const std::string& key, double v) { Raw(key, Num(v)); }
void Out::Int(const std::string& key, uint64_t v) { Raw(key, std::to_string(v)); }
void Out::Bool(const std::string& key, bool v) { Raw(key, v ? "true" : "false"); }
void Out::Str(const std::string& key, const std::string& v) {
  std::string quoted = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  }
  Raw(key, quoted + "\"");
}
void Out::Raw(const std::string& key, const std::string& v) {
  text_ += (text_.empty() ? "{" : ",") + ("\"" + key + "\":") + v;
}

// A device made like `grove init`: keys and api-token saved in `dir`.
Result<std::unique_ptr<identity::Identity>> InitDevice(const std::string& dir,
                                                       const std::string& name, Random& rng,
                                                       Clock& clock) {
  GROVE_ASSIGN_OR_RETURN(identity::Identity id, identity::Identity::Create(name, rng, clock));
  GROVE_RETURN_IF_ERROR(id.Save(dir, rng));
  return std::make_unique<identity::Identity>(std::move(id));
}

std::optional<Digest> GetDigest(Api& api, const std::string& ws) {
  HttpReply r = api.Get("/api/v1/workspaces/" + ws + "/digest");
  if (r.status != 200) return std::nullopt;
  auto json = r.Json();
  if (!json) return std::nullopt;
  return Digest{JsonString(*json, "version"), JsonString(*json, "state"),
                static_cast<uint64_t>(JsonInt(*json, "deltas").value_or(0))};
}

bool HasInvitation(Api& api, const std::string& ws) {
  HttpReply r = api.Get("/api/v1/invitations");
  auto json = r.status == 200 ? r.Json() : std::nullopt;
  if (!json || !json->is_array()) return false;
  for (const api::Json& inv : json->items()) {
    if (JsonString(inv, "workspace") == ws) return true;
  }
  return false;
}

Backlog PrepareBacklog(const BacklogSpec& o, const std::string& root, Random& rng, Clock& clock) {
  auto progress = [&](const std::string& what) {
    std::fprintf(stderr, "grove-bench %s: %s\n", o.progress_tag.c_str(), what.c_str());
    std::fflush(stderr);
  };
  Backlog b;
  auto fail = [&](const std::string& what, const Status& s) {
    b.error = what + ": " + s.ToString();
    return b;
  };
  auto alice = InitDevice(root + "/a", "alice", rng, clock);
  if (!alice.ok()) return fail("init alice", alice.status());
  auto bob = InitDevice(root + "/b", "bob", rng, clock);
  if (!bob.ok()) return fail("init bob", bob.status());

  auto store = store::OpenSqliteStore(root + "/a/store.db", {});
  if (!store.ok()) return fail("opening A's store", store.status());
  const TimePoint t0 = Now();
  auto made = replica::Workspace::Create(**alice, "backlog", {}, **store, clock, rng);
  if (!made.ok()) return fail("creating the workspace", made.status());
  std::unique_ptr<replica::Workspace> ws = std::move(made).value();
  if (Status s = ws->AddMember((*bob)->card(), replica::Role::kMember); !s.ok()) {
    return fail("adding B", s);
  }
  b.records = o.records ? o.records : std::max<uint64_t>(1, o.changes / 100);
  b.records = std::min(b.records, o.changes);
  b.changes = o.changes;
  std::vector<replica::RecordId> items;
  items.reserve(b.records);
  uint64_t actions = 0;
  auto after_action = [&]() -> Status {
    if (++actions % o.seal_every == 0) {
      auto sealed = ws->Seal();
      if (!sealed.ok()) return sealed.status();
    }
    return Status::Ok();
  };
  for (uint64_t i = 0; i < b.records; ++i) {
    char sku[32];
    std::snprintf(sku, sizeof sku, "SKU-%06llu", static_cast<unsigned long long>(i));
    auto r = ws->CreateRecord("item", {{"sku", Value(sku)},
                                       {"name", Value("Item " + std::to_string(i))},
                                       {"location", Value("A-" + std::to_string(i % 100))},
                                       {"stock", Value(int64_t{0})}});
    if (!r.ok()) return fail("creating a record", r.status());
    items.push_back(*r);
    if (Status s = after_action(); !s.ok()) return fail("sealing", s);
  }
  for (uint64_t k = 0; k < o.changes - b.records; ++k) {
    const replica::RecordId& item = items[(k / 2) % b.records];
    Status s;
    if (k % 2 == 0) {
      const char* field = (k / 2 / b.records) % 2 == 0 ? "name" : "location";
      s = ws->Set(item, field, Value(std::string(field) + "-" + std::to_string(k)));
    } else {
      s = ws->Add(item, "stock", 1);
    }
    if (!s.ok()) return fail("a local action", s);
    if (s = after_action(); !s.ok()) return fail("sealing", s);
  }
  if (auto sealed = ws->Seal(); !sealed.ok()) return fail("sealing", sealed.status());
  b.prepare_s = Seconds(t0);
  b.ws = HexEncode(ws->id());
  replica::Digests a_digests = ws->digests();
  b.version = HexEncode(a_digests.version);
  b.state = HexEncode(a_digests.state);
  b.digest_deltas = a_digests.deltas;

  const TimePoint t1 = Now();
  auto all = ws->DeltasFor({}, SIZE_MAX);
  if (!all.ok()) return fail("DeltasFor", all.status());
  b.encode_s = Seconds(t1);
  b.deltas = all->size();
  for (const Bytes& d : *all) b.delta_bytes += d.size();
  auto genesis = ws->Genesis();
  if (!genesis.ok()) return fail("genesis", genesis.status());
  progress("prepared " + std::to_string(b.changes) + " changes on " + std::to_string(b.records) +
           " records in " + std::to_string(b.deltas) + " deltas (" + std::to_string(b.delta_bytes) +
           " bytes) in " + Num(b.prepare_s) + " s");

  if (!o.inprocess_merge) return b;
  // The in-process merge: one Apply of everything, then (for comparison) batches of about 1 MiB,
  // the sync's default batch_bytes.
  for (int mode = 0; mode < 2; ++mode) {
    auto st = store::OpenSqliteStore(root + "/inprocess-" + std::to_string(mode) + ".db", {});
    if (!st.ok()) return fail("opening the in-process store", st.status());
    auto joined = replica::Workspace::Join(**bob, *genesis, **st, clock, rng);
    if (!joined.ok()) return fail("joining in-process", joined.status());
    std::unique_ptr<replica::Workspace> dst = std::move(joined).value();
    const TimePoint t2 = Now();
    if (mode == 0) {
      replica::ApplyReport report = dst->Apply(*all);
      b.inprocess_s = Seconds(t2);
      if (!report.rejected.empty()) return fail("in-process apply", report.rejected[0]);
      if (!report.store.ok()) return fail("in-process apply", report.store);
      replica::Digests d = dst->digests();
      b.inprocess_converged = d.version == a_digests.version && d.state == a_digests.state;
    } else {
      size_t i = 0;
      while (i < all->size()) {
        size_t j = i, bytes = 0;
        while (j < all->size() && (j == i || bytes < (1u << 20))) bytes += (*all)[j++].size();
        replica::ApplyReport report = dst->Apply(std::span<const Bytes>(all->data() + i, j - i));
        if (!report.rejected.empty()) return fail("in-process apply", report.rejected[0]);
        i = j;
      }
      b.inprocess_batched_s = Seconds(t2);
    }
  }
  progress("in-process merge: " + Num(static_cast<double>(b.changes) / b.inprocess_s) +
           " changes/s");
  return b;
}

}  // namespace grove::bench
