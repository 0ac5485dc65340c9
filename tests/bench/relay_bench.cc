// grove-bench relay: the relay (issue 6, docs/decisions/0009-relay.md) between real processes on
// 127.0.0.1, over a private PostgreSQL of this run (tests/support/test_postgres.h).
//
// (a) Forwarding throughput through the relay's splice against raw TLS is its own subcommand,
//     `grove-bench relay-forward` (relay_forward.cc): it needs no database or peers.
// (b) Store-and-forward catch-up. The backlog of peer-sync (PrepareBacklog) sealed after every
//     action, so --deltas actions are as many deltas, is in device A's data folder. A starts with
//     --relay and uploads it; the upload is timed from A's API answering until A's status shows
//     the relay acknowledged every delta A holds (acked_deltas == held_deltas == the backlog).
//     A stops. B, a member that was offline all along, starts with only --relay (no --connect):
//     the invitation comes from the relay; B accepts and the clock runs until B's version digest
//     equals A's (TimeCatchUp: B's grove_deltas_received_total polled every 2 ms, then the
//     digest). The limit, in the same run: the direct catch-up of the same backlog, B dialing A
//     with no relay (RunBacklogSync, exactly as peer-sync measures it), on copies of A's and B's
//     folders taken before the relay run. Wire bytes: the relay's received and forwarded byte
//     counters; A's sent bytes for the direct run. The relay's RSS after each step.
// (c) Idle memory. A fresh relay on a fresh database, idle 2 s: VmRSS (baseline). Then
//     --idle-peers connections from this process (idle_peers.h), each a distinct device with
//     its own key, certificate and Hello; once the relay's grove_relay_connections gauge shows
//     them all (it is updated once a second), they stay idle --idle-seconds and VmRSS is read
//     again. The figure is the difference per peer, against a target of 100 KB. Then they
//     close, and VmRSS is read once more.
//
// One JSON line on stdout; progress on stderr. Every wait is bounded; every child process is
// stopped (and SIGKILLed if the benchmark dies: PR_SET_PDEATHSIG).
#include "bench/relay_bench.h"

#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "bench/idle_peers.h"
#include "bench/peer_harness.h"
#include "bench/peer_sync.h"
#include "common/clock.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "support/test_postgres.h"

namespace grove::bench {
namespace {

using namespace std::chrono_literals;

constexpr double kIdleTargetKb = 100;

struct Options {
  uint64_t deltas = 100000;
  uint64_t records = 0;  // 0: deltas / 100
  uint64_t idle_peers = 5000;
  uint64_t idle_seconds = 5;
  uint64_t window = 64;      // idle peers handshaking at once
  uint64_t open_s = 120;     // bound for opening the idle peers
  uint64_t timeout_s = 600;  // bound of each upload and catch-up
  bool skip_direct = false;
  bool skip_catchup = false;
  bool skip_idle = false;
  bool keep = false;
};

void Progress(const std::string& what) {
  std::fprintf(stderr, "grove-bench relay: %s\n", what.c_str());
  std::fflush(stderr);
}

void Sleep(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }

// Raises this process's soft RLIMIT_NOFILE to the hard limit (children inherit it). The limit.
uint64_t RaiseOpenFiles() {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0) return 0;
  if (files.rlim_cur < files.rlim_max) {
    rlimit raised = files;
    raised.rlim_cur = files.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) files = raised;
  }
  return files.rlim_cur;
}

// The soft "Max open files" of process `pid`, from /proc/PID/limits; 0 when unknown.
uint64_t OpenFilesLimitOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Max open files", 0) == 0) {
      return std::strtoull(line.c_str() + std::string("Max open files").size(), nullptr, 10);
    }
  }
  return 0;
}

double Mb(double kb) { return kb / 1024.0; }

bool WaitHealthy(RelayProcess& relay, std::chrono::milliseconds timeout) {
  return PollUntil([&] { return relay.Admin("/healthz").status == 200; }, timeout, 20ms);
}

// The peer's view of the relay for `ws` (GET /api/v1/status, "relay").
struct RelayView {
  bool connected = false;
  int64_t held = -1, acked = -1;
  std::string refused;
};

RelayView ViewOfRelay(Api& api, const std::string& ws) {
  RelayView v;
  HttpReply r = api.Get("/api/v1/status");
  auto json = r.status == 200 ? r.Json() : std::nullopt;
  const api::Json* relay = json ? json->Find("relay") : nullptr;
  if (!relay || !relay->is_object()) return v;
  const api::Json* connected = relay->Find("connected");
  v.connected = connected && connected->is_bool() && connected->boolean();
  const api::Json* list = relay->Find("workspaces");
  if (!list || !list->is_array()) return v;
  for (const api::Json& w : list->items()) {
    if (JsonString(w, "workspace") != ws) continue;
    v.held = JsonInt(w, "held_deltas").value_or(-1);
    v.acked = JsonInt(w, "acked_deltas").value_or(-1);
    v.refused = JsonString(w, "refused");
  }
  return v;
}

// --- (b) Store-and-forward catch-up ----------------------------------------------------------

struct RelayRun {
  std::string error;
  double a_start_s = 0, relay_connected_s = 0, upload_s = 0;
  double upload_bytes = 0;   // the relay's grove_relay_received_bytes_total over the upload
  double a_sent_deltas = 0;  // A's grove_deltas_sent_total (to the relay: A has no one else)
  double stored_deltas = 0;  // grove_relay_stored_deltas after it
  bool a_digest_matches = false;
  double invitation_s = 0;
  CatchUp catchup;
  double forwarded_bytes = 0;  // grove_relay_forwarded_bytes_total over B's catch-up
  double relay_rss_empty_kb = 0, relay_rss_uploaded_kb = 0, relay_rss_caught_up_kb = 0;
  double b_rss_mb = 0;
  uint64_t relay_open_files = 0;
};

RelayRun RunRelayCatchUp(const Options& o, const std::string& root, const std::string& db,
                         const Backlog& b) {
  RelayRun r;
  RelayProcess relay(root + "/relay", root + "/relay.log", db);
  if (!relay.Start(30s, &r.error)) return r;
  if (!WaitHealthy(relay, 30s)) {
    r.error = "the relay did not report a usable database within 30 s (log " + root + "/relay.log)";
    return r;
  }
  r.relay_open_files = OpenFilesLimitOf(relay.pid());
  r.relay_rss_empty_kb = ProcessRssKb(relay.pid());
  const std::chrono::seconds timeout(o.timeout_s);

  // Upload: A holds the backlog and offers it to the relay as soon as it connects.
  PeerProcess a("A", root + "/a", root + "/relay-a.log");
  const TimePoint t0 = Now();
  if (!a.Start({}, 300s, &r.error, relay.PeerArgs())) return r;
  r.a_start_s = Seconds(t0);
  Progress("A is up with " + std::to_string(b.digest_deltas) + " deltas; uploading to the relay");
  const TimePoint up = Now();
  RelayView view;
  const int64_t want = static_cast<int64_t>(b.digest_deltas);
  const bool uploaded = PollUntil(
      [&] {
        view = ViewOfRelay(a.api(), b.ws);
        if (view.connected && r.relay_connected_s == 0) r.relay_connected_s = Seconds(up);
        return !view.refused.empty() || (view.held == want && view.acked == want);
      },
      timeout, 50ms);
  r.upload_s = Seconds(up);
  if (!view.refused.empty()) {
    r.error = "the relay refused A's deltas: " + view.refused;
    return r;
  }
  if (!uploaded) {
    r.error = "the relay acknowledged " + std::to_string(view.acked) + " of " +
              std::to_string(want) + " deltas within " + std::to_string(o.timeout_s) + " s";
    return r;
  }
  Progress("upload: " + Num(static_cast<double>(want) / r.upload_s) + " deltas/s");
  auto a_digest = GetDigest(a.api(), b.ws);
  if (!a_digest) {
    r.error = "A does not serve the workspace's digest";
    return r;
  }
  r.a_digest_matches = a_digest->version == b.version && a_digest->state == b.state;
  // The relay moves its byte counters and gauges into /metrics once a second.
  Sleep(1100ms);
  r.upload_bytes = relay.Metric("grove_relay_received_bytes_total").value_or(0);
  r.stored_deltas = relay.Metric("grove_relay_stored_deltas").value_or(0);
  r.a_sent_deltas = a.Metric("grove_deltas_sent_total").value_or(0);
  r.relay_rss_uploaded_kb = ProcessRssKb(relay.pid());
  a.Stop(30s);

  // Catch-up: B has been offline all along and knows only the relay.
  PeerProcess pb("B", root + "/b", root + "/relay-b.log");
  const TimePoint t1 = Now();
  if (!pb.Start({}, 30s, &r.error, relay.PeerArgs())) return r;
  if (!PollUntil([&] { return HasInvitation(pb.api(), b.ws); }, 60s, 10ms)) {
    r.error = "B saw no invitation from the relay within 60 s (logs in " + root + ")";
    return r;
  }
  r.invitation_s = Seconds(t1);
  Sleep(1100ms);
  const double forwarded0 = relay.Metric("grove_relay_forwarded_bytes_total").value_or(0);
  Progress("B has the invitation from the relay; accepting (clock running)");
  r.catchup = TimeCatchUp(pb, b.ws, *a_digest, b.digest_deltas - 1, timeout);
  if (!r.catchup.error.empty()) r.error = "B from the relay: " + r.catchup.error;
  r.b_rss_mb = pb.RssMb();
  r.relay_rss_caught_up_kb = ProcessRssKb(relay.pid());
  Sleep(1100ms);
  r.forwarded_bytes = relay.Metric("grove_relay_forwarded_bytes_total").value_or(0) - forwarded0;
  pb.Stop(10s);
  relay.Stop(10s);
  return r;
}

// --- (c) Idle memory ---------------------------------------------------------------------------

struct IdleRun {
  std::string error;
  uint64_t opened = 0, failed = 0, closed_while_idle = 0;
  double open_s = 0, identity_s = 0;
  double registered = 0, registered_after_idle = 0;
  double baseline_kb = 0, loaded_kb = 0, after_close_kb = 0;
  bool all_registered = false;
  std::string last_failure;
};

IdleRun RunIdleRelay(const Options& o, const std::string& root, const std::string& db) {
  IdleRun r;
  RelayProcess relay(root + "/relay-idle", root + "/relay-idle.log", db);
  if (!relay.Start(30s, &r.error)) return r;
  if (!WaitHealthy(relay, 30s)) {
    r.error = "the idle relay did not report a usable database within 30 s";
    return r;
  }
  auto card = identity::ParseCardText(relay.card());
  if (!card.ok()) {
    r.error = "the relay's card: " + card.status().ToString();
    return r;
  }
  Sleep(2000ms);
  r.baseline_kb = ProcessRssKb(relay.pid());
  Progress("idle relay: " + Num(Mb(r.baseline_kb)) + " MB; opening " +
           std::to_string(o.idle_peers) + " idle peers");

  IdlePeers peers;
  const TimePoint t0 = Now();
  Status opened = peers.Open(
      relay.sync_port(), card->sign_key, o.idle_peers, o.window, std::chrono::seconds(o.open_s),
      [](size_t done) { Progress("  " + std::to_string(done) + " idle peers connected"); });
  r.open_s = Seconds(t0);
  r.identity_s = peers.identity_seconds();
  r.opened = peers.open();
  r.failed = peers.failed();
  r.last_failure = peers.last_failure();
  if (!opened.ok()) {
    r.error = "opening idle peers: " + opened.ToString();
    return r;
  }
  // The gauge counts connections whose Hello the relay took; it is set once a second.
  const double want = static_cast<double>(o.idle_peers);
  r.all_registered = PollUntil(
      [&] {
        r.registered = relay.Metric("grove_relay_connections").value_or(0);
        // Keep draining while waiting, so nothing piles up on either side.
        r.closed_while_idle += peers.Idle(100ms);
        return r.registered >= want;
      },
      30s, 150ms);
  r.closed_while_idle += peers.Idle(std::chrono::seconds(o.idle_seconds));
  r.loaded_kb = ProcessRssKb(relay.pid());
  Sleep(1100ms);
  r.registered_after_idle = relay.Metric("grove_relay_connections").value_or(0);
  r.all_registered = r.all_registered && r.registered_after_idle >= want;
  if (!r.all_registered) {
    r.error = "the relay shows " + Num(r.registered_after_idle) + " of " + Num(want) +
              " idle peers connected (" + std::to_string(r.closed_while_idle) +
              " closed by the relay" +
              (r.last_failure.empty() ? "" : "; last failure: " + r.last_failure) + ")";
  }
  Progress("idle relay with " + Num(r.registered_after_idle) + " peers: " + Num(Mb(r.loaded_kb)) +
           " MB");
  peers.CloseAll();
  // Let the relay notice the closes and free what it can.
  PollUntil([&] { return relay.Metric("grove_relay_connections").value_or(-1) == 0; }, 30s, 200ms);
  Sleep(1000ms);
  r.after_close_kb = ProcessRssKb(relay.pid());
  relay.Stop(10s);
  return r;
}

int Usage(FILE* to = stderr) {
  std::fprintf(
      to,
      "usage: grove-bench relay [options]\n"
      "  --deltas N         deltas in the backlog, one action each (default 100000)\n"
      "  --records R        records they touch (default deltas/100)\n"
      "  --idle-peers N     idle registered peers for the relay's memory (default 5000)\n"
      "  --idle-seconds S   how long they idle before the relay's RSS is read (default 5)\n"
      "  --window W         idle peers handshaking at once (default 64)\n"
      "  --open-s S         bound for opening the idle peers (default 120)\n"
      "  --timeout-s S      bound of the upload and of each catch-up (default 600)\n"
      "  --skip-direct      no direct A -> B catch-up (no relay_vs_direct)\n"
      "  --skip-catchup     only the idle memory part\n"
      "  --skip-idle        only the catch-up part\n"
      "  --keep             keep the data folders and logs\n"
      "Forwarding through the relay's splice (issue 6 part a): grove-bench relay-forward.\n");
  return to == stderr ? 2 : 0;
}

}  // namespace

int RelayBenchMain(int argc, char** argv) {
  Options o;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    bool* flag = a == "--skip-direct"    ? &o.skip_direct
                 : a == "--skip-catchup" ? &o.skip_catchup
                 : a == "--skip-idle"    ? &o.skip_idle
                 : a == "--keep"         ? &o.keep
                                         : nullptr;
    if (flag) {
      *flag = true;
      continue;
    }
    if (a == "--help" || a == "-h") return Usage(stdout);
    uint64_t* target = a == "--deltas"         ? &o.deltas
                       : a == "--records"      ? &o.records
                       : a == "--idle-peers"   ? &o.idle_peers
                       : a == "--idle-seconds" ? &o.idle_seconds
                       : a == "--window"       ? &o.window
                       : a == "--open-s"       ? &o.open_s
                       : a == "--timeout-s"    ? &o.timeout_s
                                               : nullptr;
    char* end = nullptr;
    if (!target || i + 1 >= argc ||
        (*target = std::strtoull(argv[i + 1], &end, 10), *end != '\0')) {
      std::fprintf(stderr, "grove-bench: bad option '%s'\n", a.c_str());
      return Usage();
    }
    ++i;
  }
  if (o.deltas < 1 || o.idle_peers < 1 || o.window < 1 || o.timeout_s < 1 || o.open_s < 1) {
    return Usage();
  }

  // A peer's write to a connection the relay closed must fail with EPIPE, not kill the
  // benchmark. Blocked rather than ignored: children start with an empty mask, so they keep
  // the default disposition.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
  const uint64_t open_files = RaiseOpenFiles();

  Out out;
  out.Str("system", "grove");
  out.Str("benchmark", "relay");
  std::string error;
  if (!o.skip_idle && open_files < o.idle_peers + 256) {
    error = "RLIMIT_NOFILE is " + std::to_string(open_files) + ", too low for " +
            std::to_string(o.idle_peers) + " idle peers";
  }

  const std::string root = MakeTempDir("grove-bench-relay-");
  SystemClock clock;
  crypto::SystemRandom rng;
  std::unique_ptr<testing::TestPostgres> pg;
  if (error.empty()) {
    Progress("starting a private PostgreSQL");
    pg = std::make_unique<testing::TestPostgres>();
    if (!pg->ok()) error = pg->error();
  }

  // (b) Store-and-forward catch-up, and the direct catch-up as its limit.
  Backlog b;
  RelayRun rr;
  NetSync direct;
  const bool catchup = !o.skip_catchup;
  if (error.empty() && catchup) {
    BacklogSpec spec;
    spec.changes = o.deltas;
    spec.records = o.records;
    spec.seal_every = 1;  // one delta per action: a member's day of edits, each pushed alone
    spec.inprocess_merge = false;
    spec.progress_tag = "relay";
    b = PrepareBacklog(spec, root, rng, clock);
    if (!b.error.empty()) error = "backlog: " + b.error;
  }
  if (error.empty() && catchup) {
    // The direct run gets the folders as they are now: the relay run changes both.
    std::error_code ec;
    std::filesystem::copy(root + "/a", root + "/direct-a", std::filesystem::copy_options::recursive,
                          ec);
    if (!ec) {
      std::filesystem::copy(root + "/b", root + "/direct-b",
                            std::filesystem::copy_options::recursive, ec);
    }
    if (ec) error = "copying the folders for the direct run: " + ec.message();
  }
  if (error.empty() && catchup) {
    const std::string db = pg->NewDatabase();
    if (db.empty()) {
      error = pg->error();
    } else {
      rr = RunRelayCatchUp(o, root, db, b);
      if (!rr.error.empty()) error = "relay catch-up: " + rr.error;
      Progress("catch-up from the relay: " + Num(rr.catchup.seconds) + " s");
    }
  }
  if (error.empty() && catchup && !o.skip_direct) {
    direct = RunBacklogSync(root + "/direct-a", root + "/direct-b", root + "/direct-",
                            std::chrono::seconds(o.timeout_s), b, "relay (direct)");
    if (!direct.error.empty()) error = "direct catch-up: " + direct.error;
    Progress("direct catch-up: " + Num(direct.seconds) + " s");
  }
  const double changes = static_cast<double>(b.changes);
  const double relay_rate =
      rr.catchup.converged && rr.catchup.seconds > 0 ? changes / rr.catchup.seconds : 0;
  const double direct_rate = direct.converged && direct.seconds > 0 ? changes / direct.seconds : 0;
  const double uploaded = static_cast<double>(b.digest_deltas);
  out.Int("deltas", b.deltas);
  out.Int("changes", b.changes);
  out.Int("records", b.records);
  out.Int("delta_bytes", b.delta_bytes);
  out.Add("prepare_seconds", b.prepare_s);
  out.Add("peer_a_start_seconds", rr.a_start_s);
  out.Add("upload_relay_connected_seconds", rr.relay_connected_s);
  out.Add("upload_seconds", rr.upload_s);
  out.Add("upload_deltas_per_s", rr.upload_s > 0 ? uploaded / rr.upload_s : 0);
  out.Add("upload_wire_bytes", rr.upload_bytes);
  out.Add("upload_deltas_sent_by_a", rr.a_sent_deltas);
  out.Add("relay_stored_deltas", rr.stored_deltas);
  out.Bool("a_digest_matches_prepared", rr.a_digest_matches);
  out.Add("relay_invitation_seconds", rr.invitation_s);
  out.Add("relay_accept_seconds", rr.catchup.accept_s);
  out.Add("relay_first_delta_seconds", rr.catchup.first_delta_s);
  out.Add("relay_catchup_seconds", rr.catchup.seconds);
  out.Add("relay_catchup_seconds_with_digest_check", rr.catchup.seconds_with_check);
  out.Add("relay_catchup_b_apply_seconds", rr.catchup.apply_s);
  out.Add("relay_catchup_b_apply_frames", rr.catchup.apply_frames);
  out.Add("relay_catchup_changes_per_s", relay_rate);
  out.Add("relay_catchup_wire_bytes", rr.forwarded_bytes);
  out.Add("relay_catchup_wire_bytes_per_change", changes > 0 ? rr.forwarded_bytes / changes : 0);
  out.Bool("relay_catchup_converged", rr.catchup.converged);
  out.Add("direct_seconds", direct.seconds);
  out.Add("direct_seconds_with_digest_check", direct.seconds_with_check);
  out.Add("direct_b_apply_seconds", direct.b_apply_s);
  out.Add("direct_b_apply_frames", direct.b_apply_frames);
  out.Add("direct_changes_per_s", direct_rate);
  out.Add("direct_wire_bytes", direct.sent_bytes);
  out.Bool("direct_converged", direct.converged);
  out.Add("relay_vs_direct", direct_rate > 0 ? relay_rate / direct_rate : 0);
  out.Add("relay_rss_mb_empty", Mb(rr.relay_rss_empty_kb));
  out.Add("relay_rss_mb_after_upload", Mb(rr.relay_rss_uploaded_kb));
  out.Add("relay_rss_mb_after_catchup", Mb(rr.relay_rss_caught_up_kb));
  out.Add("peer_b_rss_mb_after_relay_catchup", rr.b_rss_mb);
  out.Add("peer_b_rss_mb_after_direct_catchup", direct.b_rss_mb);
  out.Int("relay_open_files_limit", rr.relay_open_files);

  // (c) Idle memory.
  IdleRun idle;
  if (error.empty() && !o.skip_idle) {
    const std::string db = pg->NewDatabase();
    if (db.empty()) {
      error = pg->error();
    } else {
      idle = RunIdleRelay(o, root, db);
      if (!idle.error.empty()) error = "idle peers: " + idle.error;
    }
  }
  const double per_peer_kb =
      idle.opened > 0 ? (idle.loaded_kb - idle.baseline_kb) / static_cast<double>(idle.opened) : 0;
  out.Int("idle_peers", o.idle_peers);
  out.Int("idle_peers_opened", idle.opened);
  out.Int("idle_peers_failed", idle.failed);
  out.Add("idle_peers_open_seconds", idle.open_s);
  out.Add("idle_peers_identity_seconds", idle.identity_s);
  out.Add("idle_relay_connections", idle.registered_after_idle);
  out.Int("idle_peers_closed_by_relay", idle.closed_while_idle);
  out.Int("idle_seconds", o.idle_seconds);
  out.Add("idle_relay_rss_mb_baseline", Mb(idle.baseline_kb));
  out.Add("idle_relay_rss_mb_loaded", Mb(idle.loaded_kb));
  out.Add("idle_relay_rss_mb_after_close", Mb(idle.after_close_kb));
  out.Add("idle_rss_kb_per_peer", per_peer_kb);
  out.Add("idle_rss_kb_per_peer_target", kIdleTargetKb);
  out.Add("idle_rss_vs_target", per_peer_kb / kIdleTargetKb);
  out.Add("bench_peak_rss_mb", PeakRssMb());

  const bool converged =
      o.skip_catchup || (rr.catchup.converged && (o.skip_direct || direct.converged));
  const bool registered = o.skip_idle || idle.all_registered;
  out.Bool("idle_peers_registered", registered);
  out.Bool("converged", converged);
  if (!error.empty()) out.Str("error", error);
  std::printf("%s\n", out.Line().c_str());
  std::fflush(stdout);
  if (!error.empty()) std::fprintf(stderr, "grove-bench relay: %s\n", error.c_str());
  pg.reset();
  if (error.empty() && !o.keep) {
    std::filesystem::remove_all(root);
  } else {
    std::fprintf(stderr, "grove-bench relay: data folders and logs kept in %s\n", root.c_str());
  }
  return error.empty() && converged && registered ? 0 : 1;
}

}  // namespace grove::bench
