#include "cli/demo_story.h"

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/data_folder.h"
#include "cli/demo_world.h"
#include "cli/table.h"
#include "common/clock.h"
#include "crypto/crypto.h"
#include "replica/replica.h"

namespace grove::cli {
namespace {

using replica::RecordId;
using replica::Value;

constexpr size_t kItemsShown = 4;
constexpr const char* kProducts[] = {
    "Steel bolt M6", "Blue widget", "Hex nut M6",   "Cable tie",     "Wood screw 4x40",
    "Washer M8",     "Hinge 60mm",  "Drawer slide", "Shelf bracket", "Wall plug 6mm"};
constexpr size_t kProductCount = sizeof kProducts / sizeof kProducts[0];

enum Who : size_t { kAlice = 0, kBob = 1, kCarol = 2 };

struct Item {
  RecordId id;
  std::string sku;
  std::string name;
  int64_t start = 0;
  int64_t added[3] = {0, 0, 0};  // by alice, bob and carol while offline
  int64_t expected() const { return start + added[0] + added[1] + added[2]; }
};

std::string Quoted(const std::string& text) { return "\"" + text + "\""; }

std::string Signed(int64_t n) { return (n >= 0 ? "+" : "") + std::to_string(n); }

class Demo {
 public:
  Demo(std::string dir, size_t items) : dir_(std::move(dir)), n_(items) {}

  // The story, step by step. A Status only for what should never fail (a store, a replica call);
  // the claims it checks are collected and judged by Verdict().
  Status Run() {
    GROVE_RETURN_IF_ERROR(Setup());
    GROVE_RETURN_IF_ERROR(CreateItems());
    GROVE_RETURN_IF_ERROR(WorkOffline());
    GROVE_RETURN_IF_ERROR(SyncEveryone());
    ShowConverged();
    GROVE_RETURN_IF_ERROR(RemoveCarol());
    Summary();
    return Status::Ok();
  }

  int Verdict() const {
    if (failures_.empty()) {
      std::cout << "all " << checks_ << " checks passed\n";
      return kExitOk;
    }
    std::cout << failures_.size() << " of " << checks_ << " checks FAILED\n";
    for (const std::string& f : failures_) std::cerr << "grove: demo check failed: " << f << "\n";
    return kExitError;
  }

 private:
  DemoDevice& alice() { return *devices_[kAlice]; }
  DemoDevice& bob() { return *devices_[kBob]; }
  DemoDevice& carol() { return *devices_[kCarol]; }

  void Check(bool ok, std::string what) {
    ++checks_;
    if (!ok) failures_.push_back(std::move(what));
  }

  // Sync problems are failures of the demo's claims, not of the program: count them as checks.
  void CheckClean(const SyncStats& stats, const std::string& when) {
    Check(stats.problems.empty(), "deltas refused while " + when + ": " +
                                      (stats.problems.empty() ? "" : stats.problems.front()));
  }

  Status SyncRounds(int rounds, SyncStats& total, bool print) {
    for (int round = 1; round <= rounds; ++round) {
      SyncStats stats;
      GROVE_RETURN_IF_ERROR(SyncRound(all_, stats));
      if (print) {
        std::cout << "   round " << round << ": " << stats.deltas << " deltas sent ("
                  << stats.accepted << " new), " << HumanBytes(stats.bytes) << "\n";
      }
      total += stats;
    }
    return Status::Ok();
  }

  std::optional<Value> Field(DemoDevice& d, const RecordId& id, const std::string& field) {
    std::optional<replica::RecordView> view = d.ws->Get(id);
    if (!view) return std::nullopt;
    auto it = view->fields.find(field);
    if (it == view->fields.end()) return std::nullopt;
    return it->second;
  }

  std::string StockText(DemoDevice& d, const Item& item) {
    std::optional<Value> stock = Field(d, item.id, "stock");
    return stock ? stock->DebugString() : "-";
  }

  Status Setup() {
    for (const char* name : {"alice", "bob", "carol"}) {
      GROVE_ASSIGN_OR_RETURN(auto device, MakeDemoDevice(dir_, name, random_, clock_));
      devices_.push_back(std::move(device));
      all_.push_back(devices_.back().get());
    }
    std::cout << "grove demo: three devices in one process, with real keys, encrypted deltas and "
                 "a SQLite store each\ndata: "
              << dir_ << "\n";
    Table table;
    for (DemoDevice* d : all_) {
      table.Row({d->name, "device " + identity::DeviceIdText(d->identity.device()).substr(0, 16),
                 d->dir});
    }
    std::cout << table.Text("  ");

    GROVE_ASSIGN_OR_RETURN(alice().ws,
                           replica::Workspace::Create(alice().identity, "Demo warehouse", {},
                                                      *alice().store, clock_, random_));
    for (DemoDevice* d : {&bob(), &carol()}) {
      GROVE_RETURN_IF_ERROR(alice().ws->AddMember(d->identity.card(), replica::Role::kMember));
    }
    // What an invitation carries: the genesis delta, whose hash is the workspace id.
    GROVE_ASSIGN_OR_RETURN(Bytes genesis, alice().ws->Genesis());
    for (DemoDevice* d : {&bob(), &carol()}) {
      GROVE_ASSIGN_OR_RETURN(
          d->ws, replica::Workspace::Join(d->identity, genesis, *d->store, clock_, random_));
    }
    SyncStats stats;
    GROVE_RETURN_IF_ERROR(SyncRounds(1, stats, false));
    CheckClean(stats, "joining");
    std::cout << "alice creates \"Demo warehouse\" (workspace " << ShortHex(alice().ws->id())
              << ") and adds bob and carol;\nthey join from its genesis delta and sync\n";
    return Status::Ok();
  }

  Status CreateItems() {
    for (size_t i = 0; i < n_; ++i) {
      Item item;
      char sku[32];
      std::snprintf(sku, sizeof sku, "SKU-%04zu", i + 1);
      item.sku = sku;
      item.name = kProducts[i % kProductCount];
      if (i >= kProductCount) item.name += " #" + std::to_string(i / kProductCount + 1);
      item.start = static_cast<int64_t>(10 * (i % 5 + 1));
      GROVE_ASSIGN_OR_RETURN(
          item.id, alice().ws->CreateRecord("item", {{"sku", item.sku}, {"name", item.name}}));
      // A counter: adds from several devices merge by summing, none is lost.
      GROVE_RETURN_IF_ERROR(alice().ws->Add(item.id, "stock", item.start));
      items_.push_back(std::move(item));
    }
    SyncStats stats;
    GROVE_RETURN_IF_ERROR(SendMissing(alice(), bob(), stats));
    GROVE_RETURN_IF_ERROR(SendMissing(alice(), carol(), stats));
    CheckClean(stats, "sending the items");
    const size_t at_bob = bob().ws->List("item").size();
    const size_t at_carol = carol().ws->List("item").size();
    Check(at_bob == n_ && at_carol == n_, "bob and carol should hold " + std::to_string(n_) +
                                              " items, hold " + std::to_string(at_bob) + " and " +
                                              std::to_string(at_carol));
    std::cout << "\n1. alice creates " << n_
              << " items (sku, name, stock) and syncs them: " << stats.deltas
              << " deltas to bob and carol, " << HumanBytes(stats.bytes) << "\n   bob holds "
              << at_bob << " items, carol holds " << at_carol << "\n";
    return Status::Ok();
  }

  Status WorkOffline() {
    // Distinct amounts per device and item, so that a lost or doubled increment shows.
    int64_t sums[3] = {0, 0, 0};
    for (size_t i = 0; i < items_.size(); ++i) {
      Item& item = items_[i];
      const int64_t amounts[3] = {static_cast<int64_t>(1 + i % 3), static_cast<int64_t>(2 + i % 2),
                                  1};
      for (size_t who : {kAlice, kBob, kCarol}) {
        GROVE_RETURN_IF_ERROR(devices_[who]->ws->Add(item.id, "stock", amounts[who]));
        item.added[who] += amounts[who];
        sums[who] += amounts[who];
      }
      // carol counts twice: two increments by one device add up too.
      GROVE_RETURN_IF_ERROR(carol().ws->Add(item.id, "stock", 1));
      item.added[kCarol] += 1;
      sums[kCarol] += 1;
    }
    renamed_ = items_.size() > 1 ? 1 : 0;
    const Item& item = items_[renamed_];
    bob_name_ = item.name + ", large";
    carol_name_ = item.name + " XL";
    GROVE_RETURN_IF_ERROR(bob().ws->Set(item.id, "name", bob_name_));
    GROVE_RETURN_IF_ERROR(carol().ws->Set(item.id, "name", carol_name_));

    std::cout << "\n2. offline, each device changes the stock of every item; bob and carol both "
                 "rename "
              << item.sku << "\n";
    Table table("lrl");
    table.Row(
        {"alice", std::to_string(n_), "stock increments, " + Signed(sums[kAlice]) + " in all"});
    table.Row(
        {"bob", std::to_string(n_),
         "stock increments, " + Signed(sums[kBob]) + " in all; renames it " + Quoted(bob_name_)});
    table.Row({"carol", std::to_string(2 * n_),
               "stock increments, " + Signed(sums[kCarol]) + " in all; renames it " +
                   Quoted(carol_name_)});
    std::cout << table.Text("   ");
    return Status::Ok();
  }

  Status SyncEveryone() {
    std::cout << "\n3. everyone syncs, each pair both ways, twice\n";
    SyncStats stats;
    GROVE_RETURN_IF_ERROR(SyncRounds(2, stats, true));
    CheckClean(stats, "syncing the offline work");
    return Status::Ok();
  }

  void ShowConverged() {
    std::cout << "\n4. the result: stock at the start, offline increments, expected total, and on "
                 "each device\n";
    Table table("llrrrrrrrr");
    table.Row(
        {"sku", "name", "start", "+alice", "+bob", "+carol", "expected", "alice", "bob", "carol"});
    size_t wrong = 0;
    for (size_t i = 0; i < items_.size(); ++i) {
      const Item& item = items_[i];
      const Value expected(item.expected());
      for (DemoDevice* d : all_) {
        if (Field(*d, item.id, "stock") != expected) ++wrong;
      }
      if (i >= kItemsShown) continue;
      std::optional<Value> name = Field(alice(), item.id, "name");
      const std::string* text = name ? std::get_if<std::string>(&name->v) : nullptr;
      table.Row({item.sku, text ? *text : "-", std::to_string(item.start),
                 Signed(item.added[kAlice]), Signed(item.added[kBob]), Signed(item.added[kCarol]),
                 std::to_string(item.expected()), StockText(alice(), item), StockText(bob(), item),
                 StockText(carol(), item)});
    }
    std::cout << table.Text("   ");
    if (items_.size() > kItemsShown) {
      std::cout << "   ... and " << items_.size() - kItemsShown << " more items\n";
    }
    Check(wrong == 0, std::to_string(wrong) + " item stocks differ from start + all increments");
    std::cout << "   stock = start + every increment, for all " << items_.size()
              << " items on all three devices: " << (wrong == 0 ? "yes" : "NO") << "\n";

    ShowConflict();

    const replica::Digests d = alice().ws->digests();
    bool same = true;
    for (DemoDevice* other : all_) {
      const replica::Digests o = other->ws->digests();
      same = same && o.state == d.state && o.version == d.version;
    }
    Check(same, "state and version digests should be equal on all three devices");
    std::cout << "   digests: version " << ShortHex(d.version) << ", state " << ShortHex(d.state)
              << (same ? ", equal on alice, bob and carol" : ", NOT equal everywhere") << "\n";
  }

  void ShowConflict() {
    const Item& item = items_[renamed_];
    std::optional<replica::RecordView> first = alice().ws->Get(item.id);
    if (!first) {
      Check(false, item.sku + " is missing at alice");
      return;
    }
    const Value winner = first->fields["name"];
    const std::vector<Value> losers = first->conflicts["name"];
    bool same = true;
    for (DemoDevice* d : all_) {
      std::optional<replica::RecordView> view = d->ws->Get(item.id);
      same = same && view && view->fields["name"] == winner && view->conflicts["name"] == losers;
    }
    const bool bob_won = winner == Value(bob_name_);
    const Value loser(bob_won ? carol_name_ : bob_name_);
    const bool kept =
        (bob_won || winner == Value(carol_name_)) && losers.size() == 1 && losers[0] == loser;
    Check(same && kept, item.sku +
                            " should show one rename as winner and the other under "
                            "conflicts, alike everywhere; alice shows " +
                            winner.DebugString());
    std::cout << "   " << item.sku << " name: " << winner.DebugString() << " won"
              << (same ? " everywhere" : " at alice only") << "; "
              << (losers.empty() ? "nothing" : losers[0].DebugString())
              << " is kept under conflicts\n";
  }

  Status RemoveCarol() {
    const std::string note = "recount on Friday";
    const Item& item = items_[0];
    GROVE_RETURN_IF_ERROR(alice().ws->RemoveMember(carol().identity.device()));
    GROVE_RETURN_IF_ERROR(alice().ws->Set(item.id, "note", note));
    std::cout << "\n5. alice removes carol (and starts a content key carol never gets), then "
                 "notes on "
              << item.sku << ":\n   " << Quoted(note) << "\n";
    SyncStats stats;
    GROVE_RETURN_IF_ERROR(SyncRounds(2, stats, false));
    CheckClean(stats, "syncing after the removal");
    std::cout << "   everyone syncs, carol still sent everything on purpose: " << stats.deltas
              << " deltas, " << HumanBytes(stats.bytes) << "\n";

    const std::optional<Value> at_bob = Field(bob(), item.id, "note");
    const std::optional<Value> at_carol = Field(carol(), item.id, "note");
    Check(at_bob == Value(note), "bob should see the note");
    Check(!at_carol && !carol().ws->HoldsKeys(),
          "carol should neither see the note nor hold the key");
    Check(alice().ws->digests().state == bob().ws->digests().state,
          "alice and bob should have equal state digests after the removal");
    std::cout << "   bob   sees " << (at_bob ? at_bob->DebugString() : "no note") << "\n"
              << "   carol sees " << (at_carol ? at_carol->DebugString() : "no note")
              << (carol().ws->HoldsKeys() ? "" : ": she holds the delta but not the key to open it")
              << "\n";

    const std::vector<replica::MemberView> members = alice().ws->Members();
    std::string names;
    bool carol_gone = true;
    for (const replica::MemberView& m : members) {
      names += (names.empty() ? "" : ", ") + m.name + " (" + replica::RoleName(m.role) + ")";
      carol_gone = carol_gone && m.device != carol().identity.device();
    }
    Check(members.size() == 2 && carol_gone, "alice should list 2 members without carol");
    std::cout << "   members now: " << names << "\n";
    return Status::Ok();
  }

  void Summary() {
    std::cout << "\nsummary\n";
    Table table("llrrll");
    table.Row({"device", "role", "items", "deltas", "version", "state"});
    for (DemoDevice* d : all_) {
      const replica::Digests digests = d->ws->digests();
      table.Row({d->name, replica::RoleName(alice().ws->RoleOf(d->identity.device())),
                 std::to_string(d->ws->List("item").size()), std::to_string(digests.deltas),
                 ShortHex(digests.version), ShortHex(digests.state)});
    }
    std::cout << table.Text("   ");
    const replica::Digests at_alice = alice().ws->digests(), at_carol = carol().ws->digests();
    if (at_carol.version == at_alice.version && at_carol.state != at_alice.state) {
      std::cout
          << "   carol holds every delta (same version) but cannot open those after her removal\n";
    }
    std::cout << "\n6. the data stays in " << dir_ << "; inspect it with\n"
              << "   grove store info --data " << alice().dir << "\n"
              << "   grove store rebuild --data " << bob().dir << "\n";
  }

  std::string dir_;
  size_t n_;
  // Before the devices: their workspaces use the clock and the random source until destroyed.
  SystemClock clock_;
  crypto::SystemRandom random_;
  std::vector<std::unique_ptr<DemoDevice>> devices_;  // alice, bob, carol
  std::vector<DemoDevice*> all_;
  std::vector<Item> items_;
  size_t renamed_ = 0;
  std::string bob_name_, carol_name_;
  size_t checks_ = 0;
  std::vector<std::string> failures_;
};

}  // namespace

int RunDemoStory(const std::string& dir, size_t items) {
  Demo demo(dir, items);
  if (Status s = demo.Run(); !s.ok()) return ReportError(s);
  return demo.Verdict();
}

}  // namespace grove::cli
