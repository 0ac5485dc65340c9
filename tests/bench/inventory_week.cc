// grove-bench inventory-week: the foundation benchmark (issue 3). `grove-bench peer-sync` (issue
// 4) is in peer_sync.cc.
//
// Peer A creates N item records (6 fields) and syncs them to the others; then every peer, offline,
// makes S field sets and A stock increments, one user action (one durable local transaction) each;
// then every peer merges the others' changes. Real signing, encryption and SQLite stores.
// The workload mirrors tests/bench/yjs/inventory-week.mjs exactly (same PRNG and choices), which
// this program runs too, so the ratios printed come from one run on one machine.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/audit_bench.h"
#include "bench/bench_util.h"
#include "bench/inventory_week.h"
#include "bench/peer_sync.h"
#include "bench/relay_bench.h"
#include "bench/relay_forward.h"
#include "bench/workflow.h"
#include "common/clock.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "replica/replica.h"
#include "store/store.h"

namespace grove::bench {
namespace {

using replica::Value;

uint32_t Mulberry32(uint32_t& state) {
  state += 0x6D2B79F5u;
  uint32_t t = state;
  t = (t ^ (t >> 15)) * (t | 1u);
  t = (t + (t ^ (t >> 7)) * (t | 61u)) ^ t;
  return t ^ (t >> 14);
}

struct Peer {
  std::unique_ptr<identity::Identity> identity;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<replica::Workspace> ws;
};

int Fail(const std::string& what) {
  std::fprintf(stderr, "grove-bench: %s\n", what.c_str());
  return 1;
}

// Raw Ed25519 verifications per second, and single-op signed deltas applied per second.
struct SingleOpFigures {
  double verify_per_s = 0, apply_batched_per_s = 0, apply_one_by_one_per_s = 0;
};

SingleOpFigures MeasureSingleOps(uint64_t count, const std::string& dir, Clock& clock,
                                 Random& rng) {
  SingleOpFigures f;
  auto author = std::move(identity::Identity::Create("author", rng, clock)).value();
  auto reader = std::move(identity::Identity::Create("reader", rng, clock)).value();
  auto src_store = std::move(store::OpenSqliteStore(dir + "/single-src.db", {})).value();
  auto ws =
      std::move(replica::Workspace::Create(author, "single", {}, *src_store, clock, rng)).value();
  (void)ws->AddMember(reader.card(), replica::Role::kMember);
  auto rec = *ws->CreateRecord("item", {{"n", Value(int64_t{0})}});
  (void)ws->Seal();
  auto base = ws->Version();
  for (uint64_t i = 0; i < count; ++i) {
    (void)ws->Add(rec, "stock", 1);
    (void)ws->Seal();  // one op per signed delta
  }
  auto all = std::move(ws->DeltasFor({}, SIZE_MAX)).value();

  // Raw verification of the same number of signatures.
  crypto::SigningKey key = crypto::SigningKey::Generate(rng);
  Bytes msg(120, 7);
  auto sig = key.Sign(msg);
  auto t0 = Now();
  size_t ok = 0;
  for (uint64_t i = 0; i < count; ++i) ok += crypto::Verify(key.public_key(), msg, sig);
  f.verify_per_s = static_cast<double>(ok) / Seconds(t0);

  for (int mode = 0; mode < 2; ++mode) {
    auto st = std::move(store::OpenSqliteStore(dir + "/single-" + std::to_string(mode) + ".db", {}))
                  .value();
    auto dst = std::move(replica::Workspace::Join(reader, *ws->Genesis(), *st, clock, rng)).value();
    // The deltas up to the benchmark's own ones (membership, the record) first, untimed.
    std::vector<Bytes> prefix(all.begin(), all.end() - static_cast<std::ptrdiff_t>(count));
    dst->Apply(prefix);
    std::vector<Bytes> ops(all.end() - static_cast<std::ptrdiff_t>(count), all.end());
    auto t1 = Now();
    if (mode == 0) {
      for (size_t i = 0; i < ops.size(); i += 500) {
        std::vector<Bytes> batch(
            ops.begin() + static_cast<std::ptrdiff_t>(i),
            ops.begin() + static_cast<std::ptrdiff_t>(std::min(ops.size(), i + 500)));
        dst->Apply(batch);
      }
      f.apply_batched_per_s = static_cast<double>(count) / Seconds(t1);
    } else {
      for (const Bytes& d : ops) dst->Apply(std::span<const Bytes>(&d, 1));
      f.apply_one_by_one_per_s = static_cast<double>(count) / Seconds(t1);
    }
  }
  (void)base;
  return f;
}

}  // namespace

Result<WeekFigures> RunInventoryWeek(const WeekOptions& o, const std::string& dir) {
  SystemClock clock;
  crypto::SystemRandom rng;
  std::vector<Peer> peers(o.peers);
  for (uint64_t p = 0; p < o.peers; ++p) {
    auto id = identity::Identity::Create("peer" + std::to_string(p), rng, clock);
    if (!id.ok()) return id.status();
    peers[p].identity = std::make_unique<identity::Identity>(std::move(id).value());
    auto st = store::OpenSqliteStore(dir + "/peer" + std::to_string(p) + ".db", {});
    if (!st.ok()) return st.status();
    peers[p].store = std::move(st).value();
  }
  // Setup (untimed): A creates the workspace, the members and the items.
  auto ws =
      replica::Workspace::Create(*peers[0].identity, "inventory", {}, *peers[0].store, clock, rng);
  if (!ws.ok()) return ws.status();
  peers[0].ws = std::move(ws).value();
  for (uint64_t p = 1; p < o.peers; ++p) {
    Status s = peers[0].ws->AddMember(peers[p].identity->card(), replica::Role::kMember);
    if (!s.ok()) return s;
  }
  std::vector<replica::RecordId> items;
  items.reserve(o.items);
  for (uint64_t i = 0; i < o.items; ++i) {
    char sku[32];
    std::snprintf(sku, sizeof sku, "SKU-%06llu", static_cast<unsigned long long>(i));
    auto r =
        peers[0].ws->CreateRecord("item", {{"sku", Value(sku)},
                                           {"name", Value("Item " + std::to_string(i))},
                                           {"unit", Value("pcs")},
                                           {"location", Value("A-" + std::to_string(i % 100))},
                                           {"price", Value(static_cast<int64_t>(100 + i % 900))},
                                           {"stock", Value(int64_t{0})}});
    if (!r.ok()) return r.status();
    items.push_back(*r);
  }
  auto genesis = peers[0].ws->Genesis();
  for (uint64_t p = 1; p < o.peers; ++p) {
    auto joined =
        replica::Workspace::Join(*peers[p].identity, *genesis, *peers[p].store, clock, rng);
    if (!joined.ok()) return joined.status();
    peers[p].ws = std::move(joined).value();
    auto deltas = peers[0].ws->DeltasFor(peers[p].ws->Version(), SIZE_MAX);
    auto report = peers[p].ws->Apply(*deltas);
    if (!report.rejected.empty()) return report.rejected[0];
  }
  std::fprintf(stderr, "grove-bench: setup done (%llu items on %llu peers)\n",
               static_cast<unsigned long long>(o.items), static_cast<unsigned long long>(o.peers));

  // Offline work (untimed): one durable local action each.
  for (uint64_t p = 0; p < o.peers; ++p) {
    uint32_t state = static_cast<uint32_t>(o.seed * 1000 + p);
    uint64_t sets = 0, adds = 0;
    for (uint64_t k = 0; k < o.sets + o.adds; ++k) {
      uint32_t r = Mulberry32(state);
      const replica::RecordId& item = items[(static_cast<uint64_t>(r) * o.items) >> 32];
      bool is_set = sets < o.sets && (adds >= o.adds || sets <= adds);
      Status s;
      if (is_set) {
        const char* field = sets % 2 == 0 ? "name" : "location";
        s = peers[p].ws->Set(
            item, field,
            Value(std::string(field) + "-p" + std::to_string(p) + "-" + std::to_string(k)));
        ++sets;
      } else {
        s = peers[p].ws->Add(item, "stock", 1);
        ++adds;
      }
      if (!s.ok()) return s;
    }
  }
  const double rss_after_offline = PeakRssMb();

  // Merge (timed): every peer seals and encodes what each other peer lacks, then every peer
  // applies what it was sent; as in the Yjs program, encoding uses the versions from before.
  std::vector<replica::VersionVector> before;
  for (auto& peer : peers) before.push_back(peer.ws->Version());
  auto t0 = Now();
  std::vector<std::vector<std::vector<Bytes>>> outbox(o.peers,
                                                      std::vector<std::vector<Bytes>>(o.peers));
  uint64_t wire_bytes = 0;
  for (uint64_t q = 0; q < o.peers; ++q) {
    for (uint64_t p = 0; p < o.peers; ++p) {
      if (p == q) continue;
      auto deltas = peers[q].ws->DeltasFor(before[p], SIZE_MAX);
      if (!deltas.ok()) return deltas.status();
      for (const Bytes& d : *deltas) wire_bytes += d.size();
      outbox[q][p] = std::move(deltas).value();
    }
  }
  const double encode_s = Seconds(t0);
  for (uint64_t p = 0; p < o.peers; ++p) {
    for (uint64_t q = 0; q < o.peers; ++q) {
      if (p == q) continue;
      auto report = peers[p].ws->Apply(outbox[q][p]);
      if (!report.rejected.empty()) return report.rejected[0];
      if (!report.store.ok()) return report.store;
    }
  }
  const double merge_s = Seconds(t0);
  const uint64_t changes = o.peers * (o.peers - 1) * (o.sets + o.adds);

  int64_t stock_total = 0;
  for (const auto& item : items) {
    auto view = peers[0].ws->Get(item);
    if (view) stock_total += std::get<int64_t>(view->fields.at("stock").v);
  }
  bool converged = true;
  auto ref = peers[0].ws->digests();
  for (auto& peer : peers) {
    auto d = peer.ws->digests();
    converged = converged && d.state == ref.state && d.version == ref.version;
  }
  WeekFigures f;
  f.changes = changes;
  f.merge_s = merge_s;
  f.encode_s = encode_s;
  f.wire_bytes = wire_bytes;
  f.stock_total = stock_total;
  f.converged = converged;
  f.peak_rss_mb = std::max(rss_after_offline, PeakRssMb());
  auto state_bytes = peers[0].store->SizeBytes();
  f.state_bytes = state_bytes.ok() ? *state_bytes : 0;
  return f;
}

namespace {

int Run(const WeekOptions& o) {
  std::string dir = MakeTempDir("grove-bench-");
  SystemClock clock;
  crypto::SystemRandom rng;
  auto week = RunInventoryWeek(o, dir);
  if (!week.ok()) return Fail(week.status().ToString());
  const uint64_t changes = week->changes;
  const double merge_s = week->merge_s, encode_s = week->encode_s;
  const uint64_t wire_bytes = week->wire_bytes;
  const int64_t stock_total = week->stock_total;
  const bool converged = week->converged;
  auto single = MeasureSingleOps(o.single_ops, dir, clock, rng);

  double merge_rate = static_cast<double>(changes) / merge_s;
  double bytes_per_change = static_cast<double>(wire_bytes) / static_cast<double>(changes);
  std::string out =
      "{\"system\":\"grove\",\"items\":" + std::to_string(o.items) +
      ",\"peers\":" + std::to_string(o.peers) + ",\"sets\":" + std::to_string(o.sets) +
      ",\"adds\":" + std::to_string(o.adds) + ",\"changes_merged\":" + std::to_string(changes) +
      ",\"merge_seconds\":" + Num(merge_s) + ",\"merge_encode_seconds\":" + Num(encode_s) +
      ",\"merge_changes_per_s\":" + Num(merge_rate) +
      ",\"wire_bytes\":" + std::to_string(wire_bytes) +
      ",\"wire_bytes_per_change\":" + Num(bytes_per_change) +
      ",\"state_bytes\":" + std::to_string(week->state_bytes) +
      ",\"peak_rss_mb\":" + Num(week->peak_rss_mb) +
      ",\"expected_stock_total\":" + std::to_string(o.peers * o.adds) +
      ",\"stock_total\":" + std::to_string(stock_total) + ",\"lost_increments\":" +
      std::to_string(static_cast<int64_t>(o.peers * o.adds) - stock_total) +
      ",\"converged\":" + (converged ? "true" : "false") +
      ",\"ed25519_verify_per_s\":" + Num(single.verify_per_s) +
      ",\"single_op_apply_per_s_one_by_one\":" + Num(single.apply_one_by_one_per_s) +
      ",\"single_op_apply_per_s_batched\":" + Num(single.apply_batched_per_s) +
      ",\"single_op_apply_vs_verify\":" + Num(single.apply_one_by_one_per_s / single.verify_per_s) +
      ",\"single_op_apply_vs_verify_batched\":" +
      Num(single.apply_batched_per_s / single.verify_per_s);
  if (o.yjs) {
    std::string yjs = RunYjs(o.items, o.peers, o.sets, o.adds, o.seed);
    auto yrate = JsonNumber(yjs, "merge_changes_per_s");
    auto ybytes = JsonNumber(yjs, "wire_bytes_per_change");
    auto ylost = JsonNumber(yjs, "lost_increments");
    if (yrate && ybytes) {
      out += ",\"yjs_merge_changes_per_s\":" + Num(*yrate) +
             ",\"yjs_wire_bytes_per_change\":" + Num(*ybytes) +
             ",\"yjs_lost_increments\":" + Num(ylost.value_or(-1)) +
             ",\"merge_rate_vs_yjs\":" + Num(merge_rate / *yrate) +
             ",\"wire_bytes_vs_yjs\":" + Num(bytes_per_change / *ybytes);
    } else {
      out += ",\"yjs\":\"unavailable\"";
    }
  }
  out += "}";
  std::printf("%s\n", out.c_str());
  std::filesystem::remove_all(dir);
  return converged && stock_total == static_cast<int64_t>(o.peers * o.adds) ? 0 : 1;
}

}  // namespace
}  // namespace grove::bench

int main(int argc, char** argv) {
  grove::bench::WeekOptions o;
  if (argc >= 2 && std::string(argv[1]) == "peer-sync") {
    return grove::bench::PeerSyncMain(argc, argv);
  }
  if (argc >= 2 &&
      (std::string(argv[1]) == "audit-ingest" || std::string(argv[1]) == "audit-verify")) {
    return grove::bench::AuditBenchMain(argc, argv);
  }
  if (argc >= 2 && std::string(argv[1]) == "relay-forward") {
    return grove::bench::RelayForwardMain(argc, argv);
  }
  if (argc >= 2 && std::string(argv[1]) == "workflow") {
    return grove::bench::WorkflowMain(argc, argv);
  }
  if (argc >= 2 && std::string(argv[1]) == "relay") {
    return grove::bench::RelayBenchMain(argc, argv);
  }
  if (argc < 2 || std::string(argv[1]) != "inventory-week") {
    std::fprintf(stderr,
                 "usage: grove-bench inventory-week [--items N] [--peers P] [--sets S] [--adds A]\n"
                 "                                  [--seed X] [--single-ops N] [--no-yjs]\n"
                 "       grove-bench peer-sync [options]   (see grove-bench peer-sync --help)\n"
                 "       grove-bench workflow [--orders N] [--items M]\n"
                 "       grove-bench relay [options]       (see grove-bench relay --help)\n"
                 "       grove-bench relay-forward [--mib N] [--rounds R]\n"
                 "       grove-bench audit-ingest|audit-verify [options] (see --help)\n");
    return 2;
  }
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--no-yjs") {
      o.yjs = false;
      continue;
    }
    uint64_t* target = a == "--items"        ? &o.items
                       : a == "--peers"      ? &o.peers
                       : a == "--sets"       ? &o.sets
                       : a == "--adds"       ? &o.adds
                       : a == "--seed"       ? &o.seed
                       : a == "--single-ops" ? &o.single_ops
                                             : nullptr;
    char* end = nullptr;
    if (!target || i + 1 >= argc ||
        (*target = std::strtoull(argv[i + 1], &end, 10), *end != '\0')) {
      std::fprintf(stderr, "grove-bench: bad option '%s'\n", a.c_str());
      return 2;
    }
    ++i;
  }
  if (o.peers < 2 || o.items < 1) {
    std::fprintf(stderr, "grove-bench: need --peers >= 2 and --items >= 1\n");
    return 2;
  }
  return grove::bench::Run(o);
}
