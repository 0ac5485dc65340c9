// grove-bench workflow: issue 5's benchmark. Purchase orders go through the shipped purchasing
// and inventory tools: a requester creates each order with a line and submits it; an approver
// (a different device: separation of duties) approves, orders and receives it, which adds the
// line to stock. A fresh member then merges the whole history, judging every op against the
// tools in its causal past. Its rate (transitions merged per second) is printed as a ratio to the
// merge rate of the foundation benchmark (inventory-week: sets and increments without tools),
// measured in the same run, both on SQLite stores as the product runs (--memory for profiling the
// rules without the store).
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/workflow.h"

#include "bench/bench_util.h"
#include "bench/inventory_week.h"
#include "common/clock.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "replica/replica.h"
#include "store/store.h"
#include "tools/tool.h"

namespace grove::bench {
namespace {

using replica::RecordId;
using replica::Value;

struct Device {
  std::unique_ptr<identity::Identity> identity;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<replica::Workspace> ws;
};

int Fail(const std::string& what) {
  std::fprintf(stderr, "grove-bench workflow: %s\n", what.c_str());
  return 1;
}

Result<Device> NewDevice(const std::string& name, Random& rng, Clock& clock,
                         const std::string& dir) {
  Device d;
  if (dir.empty()) {
    d.store = store::NewMemoryStore();
  } else {
    GROVE_ASSIGN_OR_RETURN(d.store, store::OpenSqliteStore(dir + "/" + name + ".db", {}));
  }
  GROVE_ASSIGN_OR_RETURN(auto id, identity::Identity::Create(name, rng, clock));
  d.identity = std::make_unique<identity::Identity>(std::move(id));
  return d;
}

// Merges everything `from` holds into a fresh replica of `joiner`; returns seconds.
Result<double> MergeAll(replica::Workspace& from, Device& joiner, Clock& clock, Random& rng) {
  GROVE_ASSIGN_OR_RETURN(Bytes genesis, from.Genesis());
  GROVE_ASSIGN_OR_RETURN(
      auto ws, replica::Workspace::Join(*joiner.identity, genesis, *joiner.store, clock, rng));
  joiner.ws = std::move(ws);
  GROVE_ASSIGN_OR_RETURN(auto deltas, from.DeltasFor(joiner.ws->Version(), SIZE_MAX));
  TimePoint start = Now();
  timespec cpu0{}, cpu1{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
  replica::ApplyReport report = joiner.ws->Apply(deltas);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
  double seconds = Seconds(start);
  // On a shared machine the wall time moves with the load; the CPU time much less.
  std::fprintf(stderr, "grove-bench workflow: merge took %.3f s (%.3f s of CPU)\n", seconds,
               static_cast<double>(cpu1.tv_sec - cpu0.tv_sec) +
                   static_cast<double>(cpu1.tv_nsec - cpu0.tv_nsec) / 1e9);
  if (!report.rejected.empty()) return report.rejected.front();
  if (report.invalid) return Internal(std::to_string(report.invalid) + " deltas invalid");
  if (report.buffered) {
    return Internal(std::to_string(report.buffered) + " deltas still wait for dependencies");
  }
  return seconds;
}

int Run(uint64_t orders, uint64_t items, bool memory) {
  const std::string dir = MakeTempDir("grove-bench-workflow-");
  struct RemoveDir {  // declared before the stores, so removed after they close
    std::string path;
    ~RemoveDir() { std::filesystem::remove_all(path); }
  } remove_dir{dir};
  const std::string store_dir = memory ? "" : dir;
  SystemClock clock;
  crypto::SystemRandom rng;
  auto inventory = tools::LoadBuiltin("inventory");
  auto purchasing = tools::LoadBuiltin("purchasing");
  if (!inventory.ok() || !purchasing.ok()) return Fail("the shipped tools do not load");

  auto requester = NewDevice("requester", rng, clock, store_dir);
  auto approver = NewDevice("approver", rng, clock, store_dir);
  auto fresh = NewDevice("fresh", rng, clock, store_dir);
  for (auto* d : {&requester, &approver, &fresh}) {
    if (!d->ok()) return Fail(d->status().ToString());
  }

  // --- The workflow (untimed): requester and approver work, syncing now and then.
  auto ws = replica::Workspace::Create(*requester->identity, "purchasing",
                                       {*inventory, *purchasing}, *requester->store, clock, rng);
  if (!ws.ok()) return Fail(ws.status().ToString());
  requester->ws = std::move(ws).value();
  replica::Workspace& req = *requester->ws;
  for (Device* d : {&*approver, &*fresh}) {
    Status s = req.AddMember(d->identity->card(), replica::Role::kMember);
    if (!s.ok()) return Fail(s.ToString());
  }
  auto genesis = req.Genesis();
  auto joined =
      replica::Workspace::Join(*approver->identity, *genesis, *approver->store, clock, rng);
  if (!joined.ok()) return Fail(joined.status().ToString());
  approver->ws = std::move(joined).value();
  replica::Workspace& app = *approver->ws;
  auto sync = [&](replica::Workspace& a, replica::Workspace& b) -> Status {
    GROVE_ASSIGN_OR_RETURN(auto d, a.DeltasFor(b.Version(), SIZE_MAX));
    replica::ApplyReport r = b.Apply(d);
    if (!r.rejected.empty()) return r.rejected.front();
    if (r.invalid) return Internal("invalid deltas during the workflow");
    return Status::Ok();
  };

  auto supplier = req.CreateRecord("supplier", {{"name", Value("ACME")}});
  if (!supplier.ok()) return Fail(supplier.status().ToString());
  std::vector<RecordId> item_ids;
  for (uint64_t i = 0; i < items; ++i) {
    auto item = req.CreateRecord("item", {{"sku", Value("SKU-" + std::to_string(i))},
                                          {"name", Value("Item " + std::to_string(i))}});
    if (!item.ok()) return Fail(item.status().ToString());
    item_ids.push_back(*item);
  }
  const uint64_t batch = 500;
  int64_t expected_stock = 0;
  std::vector<RecordId> pos;
  TimePoint work_start = Now();
  for (uint64_t first = 0; first < orders; first += batch) {
    uint64_t last = std::min(orders, first + batch);
    pos.clear();
    for (uint64_t o = first; o < last; ++o) {
      auto po = req.CreateRecord("purchase_order", {{"number", Value("PO-" + std::to_string(o))},
                                                    {"supplier", Value(*supplier)},
                                                    {"location", Value("Main")}});
      if (!po.ok()) return Fail(po.status().ToString());
      int64_t quantity = 1 + static_cast<int64_t>(o % 5);
      auto line = req.CreateRecord("po_line", {{"order", Value(*po)},
                                               {"item", Value(item_ids[o % items])},
                                               {"quantity", Value(quantity)},
                                               {"unit_price", Value(replica::Money{1250, "EUR"})}});
      if (!line.ok()) return Fail(line.status().ToString());
      Status s = req.Transition(*po, "submit");
      if (!s.ok()) return Fail("submit: " + s.ToString());
      expected_stock += quantity;
      pos.push_back(*po);
    }
    if (Status s = sync(req, app); !s.ok()) return Fail(s.ToString());
    for (const RecordId& po : pos) {
      for (const char* t : {"approve", "order", "receive"}) {
        Status s = app.Transition(po, t);
        if (!s.ok()) return Fail(std::string(t) + ": " + s.ToString());
      }
    }
    if (Status s = sync(app, req); !s.ok()) return Fail(s.ToString());
  }
  const double work_seconds = Seconds(work_start);
  const uint64_t transitions = orders * 4;
  std::fprintf(stderr, "grove-bench workflow: %" PRIu64 " orders worked in %.1f s\n", orders,
               work_seconds);

  // --- Timed: a fresh member merges the workflow's history.
  auto merge = MergeAll(app, *fresh, clock, rng);
  if (!merge.ok()) return Fail("merge: " + merge.status().ToString());
  int64_t stock = 0;
  for (const auto& view : fresh->ws->List("item")) {
    auto it = view.keyed.find("on_hand");
    if (it != view.keyed.end()) {
      for (const auto& [location, level] : it->second) stock += level;
    }
  }
  bool received = true;
  for (const auto& view : fresh->ws->List("purchase_order")) received &= view.state == "received";
  const bool converged = fresh->ws->digests().state == app.digests().state &&
                         app.digests().state == req.digests().state;

  // --- Timed reference, same run: the foundation benchmark's merge (inventory-week: sets and
  // increments without tools, SQLite stores), at a size that takes about as long.
  WeekOptions week;
  week.items = std::min<uint64_t>(2000, std::max<uint64_t>(100, orders / 10));
  week.sets = week.adds = std::min<uint64_t>(10000, std::max<uint64_t>(500, orders * 2 / 5));
  week.yjs = false;
  std::filesystem::create_directories(dir + "/reference");
  auto reference = RunInventoryWeek(week, dir + "/reference");
  if (!reference.ok()) return Fail("reference: " + reference.status().ToString());
  if (!reference->converged) return Fail("reference: the foundation workload did not converge");

  const double rate = static_cast<double>(transitions) / *merge;
  const double plain_rate = reference->changes_per_s();
  std::printf("{\"benchmark\":\"workflow\",\"orders\":%" PRIu64 ",\"transitions\":%" PRIu64
              ",\"store\":\"%s\",\"transitions_merged_per_s\":%s,"
              "\"foundation_merge_changes_per_s\":%s,\"ratio_to_foundation_merge\":%s,"
              "\"target\":0.5,\"stock\":%" PRId64 ",\"expected_stock\":%" PRId64
              ",\"all_received\":%s,\"converged\":%s}\n",
              orders, transitions, memory ? "memory" : "sqlite", Num(rate).c_str(),
              Num(plain_rate).c_str(), Num(rate / plain_rate).c_str(), stock, expected_stock,
              received ? "true" : "false",
              converged && stock == expected_stock && received ? "true" : "false");
  return 0;
}

}  // namespace

int WorkflowMain(int argc, char** argv) {
  uint64_t orders = 25'000, items = 500;
  bool memory = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--memory") {
      memory = true;
    } else if ((a == "--orders" || a == "--items") && i + 1 < argc) {
      (a == "--orders" ? orders : items) = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr,
                   "usage: grove-bench workflow [--orders N] [--items M] [--memory]\n"
                   "  N purchase orders (4 transitions each: submit, approve, order, receive)\n");
      return 2;
    }
  }
  if (orders == 0 || items == 0) return Fail("--orders and --items must be positive");
  return Run(orders, items, memory);
}

}  // namespace grove::bench
