// The shipped tools (workflows/*.yaml, docs/tools.md "The shipped tools"), rule by rule, through
// the public Workspace API on three devices of one workspace: an owner and two members. Every
// rule is shown both ways (what it allows, and what it refuses with which code and message), and
// for each tool a forged delta that breaks one of its rules with a valid signature is shown
// refused by two other peers, naming the rule.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "replica/sealed_bid.h"
#include "support/delta_forge.h"
#include "support/status_assert.h"
#include "support/test_device.h"
#include "tools/tool.h"

namespace grove::replica {
namespace {

using grove::testing::DeltaForge;
using grove::testing::SendMissing;
using grove::testing::SyncPair;
using grove::testing::TestDevice;

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;

Money Eur(int64_t minor) { return Money{minor, "EUR"}; }

// A refusal with `code` whose message starts with `prefix` (may be "") and contains `text`.
::testing::AssertionResult Refused(const Status& s, Code code, std::string_view prefix,
                                   std::string_view text = {}) {
  if (s.ok()) return ::testing::AssertionFailure() << "accepted; expected a refusal";
  if (s.code() != code) {
    return ::testing::AssertionFailure() << "code " << CodeName(s.code()) << ", expected "
                                         << CodeName(code) << ": " << s.ToString();
  }
  if (s.message().rfind(prefix, 0) != 0) {
    return ::testing::AssertionFailure()
           << "message does not start with '" << prefix << "': " << s.ToString();
  }
  if (!text.empty() && s.message().find(text) == std::string::npos) {
    return ::testing::AssertionFailure() << "message lacks '" << text << "': " << s.ToString();
  }
  return ::testing::AssertionSuccess();
}

// InvalidArgument naming the field at fault.
::testing::AssertionResult BadField(const Status& s, std::string_view field) {
  if (s.ok()) return ::testing::AssertionFailure() << "accepted; expected a refusal";
  if (s.code() != Code::kInvalidArgument) {
    return ::testing::AssertionFailure() << "expected InvalidArgument: " << s.ToString();
  }
  if (s.where() != "fields." + std::string(field)) {
    return ::testing::AssertionFailure()
           << "where() is '" << s.where() << "', expected fields." << field << ": " << s.ToString();
  }
  return ::testing::AssertionSuccess();
}

Bytes DevBytes(const TestDevice& d) {
  return Bytes(d.identity.device().begin(), d.identity.device().end());
}

Value MemberValue(const TestDevice& d) {
  Value v;
  v.v = DevBytes(d);
  return v;
}

// Builds an op batch for DeltaForge: device 0 is the forger.
class Batch {
 public:
  explicit Batch(const TestDevice& author) { Dev(author.identity.device()); }

  wire::v1::Op* Op(wire::v1::OpKind kind, const RecordId& record) {
    wire::v1::Op* op = batch_.add_ops();
    op->set_kind(kind);
    op->mutable_record()->set_device(Dev(record.device));
    op->mutable_record()->set_n(record.n);
    return op;
  }
  uint32_t Str(const std::string& s) {
    auto [it, fresh] = strings_.try_emplace(s, batch_.strings_size());
    if (fresh) batch_.add_strings(s);
    return it->second;
  }
  uint32_t Dev(const DeviceId& d) {
    auto [it, fresh] = devices_.try_emplace(d, batch_.devices_size());
    if (fresh) batch_.add_devices(d.data(), d.size());
    return it->second;
  }
  const wire::v1::OpBatch& batch() const { return batch_; }

 private:
  wire::v1::OpBatch batch_;
  std::map<std::string, uint32_t> strings_;
  std::map<DeviceId, uint32_t> devices_;
};

class BuiltinToolsTest : public ::testing::Test {
 protected:
  void Start(const std::vector<std::string>& names) {
    std::vector<tools::Tool> tools;
    for (const std::string& name : names) {
      auto tool = tools::LoadBuiltin(name);
      ASSERT_TRUE(tool.ok()) << tool.status().ToString();
      tools.push_back(std::move(tool).value());
    }
    owner_.Create("grove", tools);
    alice_.Join(*owner_.workspace);
    bob_.Join(*owner_.workspace);
    ASSERT_OK(owner_->AddMember(alice_.identity.card(), Role::kMember));
    ASSERT_OK(owner_->AddMember(bob_.identity.card(), Role::kMember));
    SyncAll();
    ASSERT_EQ(alice_->RoleOf(alice_.identity.device()), Role::kMember);
    ASSERT_EQ(bob_->RoleOf(bob_.identity.device()), Role::kMember);
  }

  void SyncAll() {
    SyncPair(*owner_.workspace, *alice_.workspace);
    SyncPair(*owner_.workspace, *bob_.workspace);
    SyncPair(*owner_.workspace, *alice_.workspace);
  }

  // Same deltas, same state, on all three.
  void ExpectConverged() {
    const Digests o = owner_->digests(), a = alice_->digests(), b = bob_->digests();
    EXPECT_EQ(o.version, a.version);
    EXPECT_EQ(o.version, b.version);
    EXPECT_EQ(o.state, a.state);
    EXPECT_EQ(o.state, b.state);
    EXPECT_TRUE(owner_->problems().empty()) << owner_->problems().back().ToString();
  }

  RecordId Create(TestDevice& d, std::string_view type,
                  const std::vector<std::pair<std::string, Value>>& fields) {
    auto id = d->CreateRecord(type, fields);
    EXPECT_TRUE(id.ok()) << type << ": " << id.status().ToString();
    return id.ok() ? *id : RecordId{};
  }

  RecordView View(TestDevice& d, const RecordId& id) {
    auto v = d->Get(id);
    EXPECT_TRUE(v.has_value()) << id.Text();
    return v ? *v : RecordView{};
  }
  std::string State(TestDevice& d, const RecordId& id) { return View(d, id).state; }
  Value FieldOf(TestDevice& d, const RecordId& id, const std::string& field) {
    RecordView v = View(d, id);
    auto it = v.fields.find(field);
    return it == v.fields.end() ? Value() : it->second;
  }
  Value ComputedOf(TestDevice& d, const RecordId& id, const std::string& field) {
    RecordView v = View(d, id);
    auto it = v.computed.find(field);
    return it == v.computed.end() ? Value() : it->second;
  }
  std::vector<Value> ListOf(TestDevice& d, const RecordId& id, const std::string& field) {
    RecordView v = View(d, id);
    auto it = v.lists.find(field);
    return it == v.lists.end() ? std::vector<Value>{} : it->second;
  }
  int64_t Stock(TestDevice& d, const RecordId& item, const std::string& location) {
    RecordView v = View(d, item);
    auto f = v.keyed.find("on_hand");
    if (f == v.keyed.end()) return 0;
    auto l = f->second.find(location);
    return l == f->second.end() ? 0 : l->second;
  }
  int64_t RightsOf(TestDevice& viewer, const RecordId& item, const std::string& location,
                   const TestDevice& holder) {
    return viewer->Rights(item, "on_hand", location, holder.identity.device());
  }

  // --- Inventory helpers.
  RecordId Item(TestDevice& d, const std::string& sku) {
    return Create(d, "item", {{"sku", sku}, {"name", "Item " + sku}});
  }
  RecordId Movement(TestDevice& d, std::string_view type, const RecordId& item,
                    const std::string& location, int64_t quantity) {
    std::vector<std::pair<std::string, Value>> fields{{"item", item}};
    if (type == "stock_count") {
      fields.emplace_back("location", location);
      fields.emplace_back("counted", quantity);
      fields.emplace_back("reason", "cycle count");
    } else {
      fields.emplace_back("location", location);
      fields.emplace_back("quantity", quantity);
    }
    return Create(d, type, fields);
  }
  // Receives `quantity` at `location` on `d` (giving `d` the rights to it).
  void Receive(TestDevice& d, const RecordId& item, const std::string& location, int64_t quantity) {
    RecordId r = Movement(d, "receipt", item, location, quantity);
    ASSERT_OK(d->Transition(r, "post"));
  }
  RecordId Transfer(TestDevice& d, const RecordId& item, const std::string& from,
                    const std::string& to, int64_t quantity) {
    return Create(
        d, "transfer",
        {{"item", item}, {"from_location", from}, {"to_location", to}, {"quantity", quantity}});
  }

  // --- Forgery: bob signs whatever he likes; owner and alice must refuse it, naming the rule.
  DeltaForge Forger() {
    SyncAll();
    DeltaForge forge(bob_.identity, owner_->id());
    Advance(forge);
    return forge;
  }
  // The owner and alice each seal a delta bob has not seen, exchange them, and the forger learns
  // of them. (A forged delta names every other feed in its causal context, so each must have
  // moved past what bob's own last honest delta named.)
  void Advance(DeltaForge& forge) {
    Create(owner_, "item", {{"sku", "tick-o"}, {"name", "tick"}});
    Create(alice_, "item", {{"sku", "tick-a"}, {"name", "tick"}});
    SyncPair(*owner_.workspace, *alice_.workspace);
    forge.See(*owner_->DeltasFor({}, SIZE_MAX));
  }
  void ExpectRefusedByPeers(DeltaForge& forge, const Batch& batch, std::string_view reason,
                            const char* what) {
    SCOPED_TRACE(what);
    const Digests before = owner_->digests();
    Bytes forged = forge.Forge(batch.batch(), bob_.random());
    for (TestDevice* peer : {&owner_, &alice_}) {
      ApplyReport report = peer->workspace->Apply(std::vector<Bytes>{forged});
      EXPECT_EQ(report.accepted, 1u);
      EXPECT_EQ(report.invalid, 1u);
      for (const Status& r : report.rejected) ADD_FAILURE() << r.ToString();
      auto problems = peer->workspace->problems();
      ASSERT_FALSE(problems.empty());
      EXPECT_NE(problems.back().message().find(reason), std::string::npos)
          << problems.back().ToString();
    }
    EXPECT_EQ(owner_->digests().state, before.state);
    EXPECT_EQ(alice_->digests().state, before.state);
    EXPECT_EQ(owner_->digests().version, alice_->digests().version);
  }

  FakeClock clock_{1'700'000'000'000};
  TestDevice owner_{"owner", 1, clock_};
  TestDevice alice_{"alice", 2, clock_};
  TestDevice bob_{"bob", 3, clock_};
};

// ================================================================================================
// Inventory
// ================================================================================================

class InventoryTest : public BuiltinToolsTest {
 protected:
  void SetUp() override { Start({"inventory"}); }
};

TEST_F(InventoryTest, ItemFieldsAndDefaults) {
  EXPECT_TRUE(BadField(owner_->CreateRecord("item", {{"name", "Bolt"}}).status(), "sku"));
  EXPECT_TRUE(BadField(owner_->CreateRecord("item", {{"sku", "B-1"}}).status(), "name"));
  EXPECT_TRUE(BadField(
      owner_->CreateRecord("item", {{"sku", std::string(65, 'x')}, {"name", "Bolt"}}).status(),
      "sku"));
  RecordId item = Item(owner_, "B-1");
  EXPECT_EQ(FieldOf(owner_, item, "unit"), Value("pcs"));
  EXPECT_EQ(FieldOf(owner_, item, "reorder_point"), Value(int64_t{0}));
  EXPECT_TRUE(BadField(owner_->Set(item, "reorder_point", int64_t{-1}), "reorder_point"));
  ASSERT_OK(owner_->Set(item, "default_location", "Main"));
  // Stock is read-only: never edited by hand, only by posting movements.
  EXPECT_TRUE(BadField(owner_->Add(item, "on_hand", 5), "on_hand"));
  EXPECT_EQ(Stock(owner_, item, "Main"), 0);
  EXPECT_TRUE(Refused(owner_->Set(item, "below_reorder", true), Code::kInvalidArgument, ""));
}

TEST_F(InventoryTest, MovementsPostWithTheirStockEffectsPerLocation) {
  RecordId item = Item(owner_, "A-1");

  RecordId receipt = Movement(owner_, "receipt", item, "Main", 10);
  EXPECT_EQ(State(owner_, receipt), "draft");
  EXPECT_EQ(Stock(owner_, item, "Main"), 0);  // a draft changes nothing
  ASSERT_OK(owner_->Transition(receipt, "post"));
  EXPECT_EQ(State(owner_, receipt), "posted");
  EXPECT_EQ(View(owner_, receipt).history, std::vector<std::string>{"post"});
  EXPECT_EQ(Stock(owner_, item, "Main"), 10);
  EXPECT_EQ(RightsOf(owner_, item, "Main", owner_), 10);

  RecordId issue = Movement(owner_, "issue", item, "Main", 3);
  ASSERT_OK(owner_->Set(issue, "reason", "workshop"));
  ASSERT_OK(owner_->Transition(issue, "post"));
  EXPECT_EQ(Stock(owner_, item, "Main"), 7);
  EXPECT_EQ(RightsOf(owner_, item, "Main", owner_), 7);

  RecordId transfer = Transfer(owner_, item, "Main", "Van 3", 2);
  ASSERT_OK(owner_->Transition(transfer, "post"));
  EXPECT_EQ(Stock(owner_, item, "Main"), 5);
  EXPECT_EQ(Stock(owner_, item, "Van 3"), 2);
  EXPECT_EQ(RightsOf(owner_, item, "Van 3", owner_), 2);

  // A count below the level shown books a negative adjustment, and records both numbers.
  RecordId short_count = Movement(owner_, "stock_count", item, "Main", 4);
  ASSERT_OK(owner_->Transition(short_count, "post"));
  EXPECT_EQ(Stock(owner_, item, "Main"), 4);
  EXPECT_EQ(FieldOf(owner_, short_count, "expected"), Value(int64_t{5}));
  EXPECT_EQ(FieldOf(owner_, short_count, "adjustment"), Value(int64_t{-1}));
  // A count above adds stock like a receipt.
  RecordId long_count = Movement(owner_, "stock_count", item, "Van 3", 5);
  ASSERT_OK(owner_->Transition(long_count, "post"));
  EXPECT_EQ(Stock(owner_, item, "Van 3"), 5);
  EXPECT_EQ(FieldOf(owner_, long_count, "expected"), Value(int64_t{2}));
  EXPECT_EQ(FieldOf(owner_, long_count, "adjustment"), Value(int64_t{3}));
  EXPECT_EQ(RightsOf(owner_, item, "Van 3", owner_), 5);
  // A count that agrees books nothing.
  RecordId same = Movement(owner_, "stock_count", item, "Van 3", 5);
  ASSERT_OK(owner_->Transition(same, "post"));
  EXPECT_EQ(Stock(owner_, item, "Van 3"), 5);
  EXPECT_EQ(FieldOf(owner_, same, "adjustment"), Value(int64_t{0}));
  // Counting zero is allowed (min 0).
  RecordId zero = Movement(owner_, "stock_count", item, "Van 3", 0);
  ASSERT_OK(owner_->Transition(zero, "post"));
  EXPECT_EQ(Stock(owner_, item, "Van 3"), 0);

  SyncAll();
  for (TestDevice* d : {&alice_, &bob_}) {
    EXPECT_EQ(Stock(*d, item, "Main"), 4);
    EXPECT_EQ(Stock(*d, item, "Van 3"), 0);
    EXPECT_EQ(State(*d, transfer), "posted");
    EXPECT_EQ(RightsOf(*d, item, "Main", owner_), 4);
  }
  ExpectConverged();
}

TEST_F(InventoryTest, MovementFieldsAreChecked) {
  RecordId item = Item(owner_, "A-1");
  for (const char* type : {"receipt", "issue"}) {
    SCOPED_TRACE(type);
    EXPECT_TRUE(BadField(
        owner_->CreateRecord(type, {{"item", item}, {"location", "Main"}, {"quantity", int64_t{0}}})
            .status(),
        "quantity"));
    EXPECT_TRUE(
        BadField(owner_->CreateRecord(type, {{"item", item}, {"quantity", int64_t{1}}}).status(),
                 "location"));
    EXPECT_TRUE(BadField(
        owner_->CreateRecord(type, {{"location", "Main"}, {"quantity", int64_t{1}}}).status(),
        "item"));
    // The item reference must name an item.
    RecordId receipt = Movement(owner_, "receipt", item, "Main", 1);
    EXPECT_TRUE(
        BadField(owner_
                     ->CreateRecord(
                         type, {{"item", receipt}, {"location", "Main"}, {"quantity", int64_t{1}}})
                     .status(),
                 "item"));
  }
  EXPECT_TRUE(BadField(
      owner_
          ->CreateRecord("transfer",
                         {{"item", item}, {"from_location", "Main"}, {"quantity", int64_t{1}}})
          .status(),
      "to_location"));
  EXPECT_TRUE(BadField(
      owner_
          ->CreateRecord(
              "stock_count",
              {{"item", item}, {"location", "Main"}, {"counted", int64_t{-1}}, {"reason", "x"}})
          .status(),
      "counted"));
}

TEST_F(InventoryTest, StockCountNeedsAReasonAndNeverOverwritesConcurrentMovements) {
  RecordId item = Item(owner_, "A-1");
  // The reason is required.
  EXPECT_TRUE(
      BadField(owner_
                   ->CreateRecord("stock_count",
                                  {{"item", item}, {"location", "Main"}, {"counted", int64_t{3}}})
                   .status(),
               "reason"));
  // Expected and adjustment are booked by post, never written by hand.
  RecordId count = Movement(owner_, "stock_count", item, "Main", 3);
  EXPECT_TRUE(
      Refused(owner_->Set(count, "adjustment", int64_t{3}), Code::kPermissionDenied, "field"));
  EXPECT_EQ(owner_->Set(count, "expected", int64_t{3}).where(), "fields.expected");
  ASSERT_OK(owner_->Transition(count, "cancel"));

  Receive(owner_, item, "Main", 10);
  SyncAll();
  // Partitioned: alice receives 5 while the owner counts 8 where it shows 10.
  Receive(alice_, item, "Main", 5);
  RecordId owner_count = Create(
      owner_, "stock_count",
      {{"item", item}, {"location", "Main"}, {"counted", int64_t{8}}, {"reason", "breakage"}});
  ASSERT_OK(owner_->Transition(owner_count, "post"));
  EXPECT_EQ(FieldOf(owner_, owner_count, "expected"), Value(int64_t{10}));
  EXPECT_EQ(FieldOf(owner_, owner_count, "adjustment"), Value(int64_t{-2}));
  EXPECT_EQ(Stock(owner_, item, "Main"), 8);
  SyncAll();
  // The count booked a difference; alice's receipt is not lost.
  for (TestDevice* d : {&owner_, &alice_, &bob_}) EXPECT_EQ(Stock(*d, item, "Main"), 13);
  ExpectConverged();

  // A count below the level shown spends rights: bob holds none, alice holds 5 (of 13).
  RecordId bob_count = Movement(bob_, "stock_count", item, "Main", 12);
  EXPECT_TRUE(Refused(bob_->Transition(bob_count, "post"), Code::kFailedPrecondition,
                      "guard:", "the count is below the level shown"));
  RecordId alice_count = Movement(alice_, "stock_count", item, "Main", 7);
  EXPECT_TRUE(Refused(alice_->Transition(alice_count, "post"), Code::kFailedPrecondition,
                      "guard:", "does not hold rights to the missing quantity"));
  EXPECT_EQ(State(alice_, alice_count), "draft");
  RecordId alice_ok = Movement(alice_, "stock_count", item, "Main", 8);
  ASSERT_OK(alice_->Transition(alice_ok, "post"));  // 5 missing, and alice holds 5
  EXPECT_EQ(Stock(alice_, item, "Main"), 8);
  EXPECT_EQ(RightsOf(alice_, item, "Main", alice_), 0);
  // A count above the level needs no rights.
  RecordId bob_more = Movement(bob_, "stock_count", item, "Main", 20);
  SyncAll();
  ASSERT_OK(bob_->Transition(bob_more, "post"));
  EXPECT_EQ(Stock(bob_, item, "Main"), 20);
  EXPECT_EQ(RightsOf(bob_, item, "Main", bob_), 12);
  SyncAll();
  ExpectConverged();
}

TEST_F(InventoryTest, IssueAndTransferBeyondRightsAreRefusedUntilGranted) {
  RecordId item = Item(owner_, "A-1");
  Receive(owner_, item, "Main", 10);
  SyncAll();
  EXPECT_EQ(Stock(alice_, item, "Main"), 10);
  EXPECT_EQ(RightsOf(alice_, item, "Main", alice_), 0);

  constexpr char kRightsMessage[] =
      "this device does not hold enough stock of this item at this location";
  RecordId issue = Movement(alice_, "issue", item, "Main", 3);
  EXPECT_TRUE(Refused(alice_->Transition(issue, "post"), Code::kFailedPrecondition,
                      "guard:", kRightsMessage));
  RecordId transfer = Transfer(alice_, item, "Main", "Van 3", 2);
  EXPECT_TRUE(Refused(alice_->Transition(transfer, "post"), Code::kFailedPrecondition,
                      "guard:", "must hold enough stock of the item at the source location"));
  EXPECT_EQ(State(alice_, issue), "draft");
  EXPECT_EQ(Stock(alice_, item, "Main"), 10);
  // Whoever holds no rights cannot grant any either.
  EXPECT_TRUE(Refused(alice_->Grant(item, "on_hand", "Main", bob_.identity.device(), 1),
                      Code::kFailedPrecondition, "rights:"));
  // A transfer needs two different locations, whatever the rights.
  RecordId nowhere = Transfer(owner_, item, "Main", "Main", 1);
  EXPECT_TRUE(Refused(owner_->Transition(nowhere, "post"), Code::kFailedPrecondition,
                      "guard:", "the two locations must differ"));

  // The holder grants 5; then alice may issue and transfer up to 5, and no more.
  ASSERT_OK(owner_->Grant(item, "on_hand", "Main", alice_.identity.device(), 5));
  EXPECT_EQ(RightsOf(owner_, item, "Main", owner_), 5);
  SyncPair(*owner_.workspace, *alice_.workspace);
  EXPECT_EQ(RightsOf(alice_, item, "Main", alice_), 5);
  ASSERT_OK(alice_->Transition(issue, "post"));
  ASSERT_OK(alice_->Transition(transfer, "post"));
  EXPECT_EQ(Stock(alice_, item, "Main"), 5);
  EXPECT_EQ(Stock(alice_, item, "Van 3"), 2);
  EXPECT_EQ(RightsOf(alice_, item, "Main", alice_), 0);
  EXPECT_EQ(RightsOf(alice_, item, "Van 3", alice_), 2);
  RecordId more = Transfer(alice_, item, "Main", "Van 3", 1);
  EXPECT_TRUE(Refused(alice_->Transition(more, "post"), Code::kFailedPrecondition, "guard:"));
  // Rights at another location are other rights: alice's 2 at Van 3 issue there only.
  RecordId van = Movement(alice_, "issue", item, "Van 3", 2);
  ASSERT_OK(alice_->Transition(van, "post"));
  SyncAll();
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    EXPECT_EQ(Stock(*d, item, "Main"), 5);
    EXPECT_EQ(Stock(*d, item, "Van 3"), 0);
  }
  ExpectConverged();
}

TEST_F(InventoryTest, PartitionedSitesNeverDriveStockBelowZero) {
  RecordId item = Item(owner_, "A-1");
  Receive(owner_, item, "Main", 10);
  ASSERT_OK(owner_->Grant(item, "on_hand", "Main", alice_.identity.device(), 4));
  SyncAll();

  // Partitioned (no sync below): every site sees 10 on hand, and each spends only its share.
  RecordId a = Movement(owner_, "issue", item, "Main", 6);
  ASSERT_OK(owner_->Transition(a, "post"));
  RecordId b = Movement(alice_, "issue", item, "Main", 4);
  ASSERT_OK(alice_->Transition(b, "post"));
  EXPECT_EQ(Stock(owner_, item, "Main"), 4);  // each sees its own issue only
  EXPECT_EQ(Stock(alice_, item, "Main"), 6);
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    RecordId extra = Movement(*d, "issue", item, "Main", 1);
    EXPECT_TRUE(Refused((*d)->Transition(extra, "post"), Code::kFailedPrecondition,
                        "guard:", "does not hold enough stock"))
        << d->identity.card().name;
  }

  SyncAll();
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    EXPECT_EQ(Stock(*d, item, "Main"), 0);
    EXPECT_EQ(RightsOf(*d, item, "Main", owner_), 0);
    EXPECT_EQ(RightsOf(*d, item, "Main", alice_), 0);
    EXPECT_FALSE(ComputedOf(*d, item, "below_reorder") == Value(true));
  }
  ExpectConverged();
}

TEST_F(InventoryTest, PostedAndCancelledMovementsCannotBeChanged) {
  RecordId item = Item(owner_, "A-1");
  Receive(owner_, item, "Main", 10);
  constexpr char kEdit[] = "only a draft movement can be changed";

  // A draft can be changed.
  RecordId receipt = Movement(owner_, "receipt", item, "Main", 1);
  ASSERT_OK(owner_->Set(receipt, "quantity", int64_t{2}));
  ASSERT_OK(owner_->Set(receipt, "note", "delivery 17"));
  ASSERT_OK(owner_->Transition(receipt, "post"));
  EXPECT_EQ(Stock(owner_, item, "Main"), 12);
  // Posted: no change, no archive, no second post, no cancel.
  EXPECT_TRUE(Refused(owner_->Set(receipt, "quantity", int64_t{200}), Code::kFailedPrecondition,
                      "guard:", kEdit));
  EXPECT_TRUE(
      Refused(owner_->Set(receipt, "note", "oops"), Code::kFailedPrecondition, "guard:", kEdit));
  EXPECT_TRUE(Refused(owner_->Archive(receipt), Code::kFailedPrecondition, "guard:", kEdit));
  EXPECT_TRUE(Refused(owner_->Transition(receipt, "post"), Code::kFailedPrecondition, "state:"));
  EXPECT_TRUE(Refused(owner_->Transition(receipt, "cancel"), Code::kFailedPrecondition, "state:"));
  EXPECT_EQ(FieldOf(owner_, receipt, "quantity"), Value(int64_t{2}));
  EXPECT_EQ(Stock(owner_, item, "Main"), 12);

  // Every movement type: posted or cancelled, it is history.
  for (const char* type : {"receipt", "issue", "transfer", "stock_count"}) {
    SCOPED_TRACE(type);
    RecordId posted = std::string(type) == "transfer" ? Transfer(owner_, item, "Main", "Van", 1)
                                                      : Movement(owner_, type, item, "Main", 1);
    RecordId cancelled = std::string(type) == "transfer" ? Transfer(owner_, item, "Main", "Van", 1)
                                                         : Movement(owner_, type, item, "Main", 1);
    const char* text_field = std::string(type) == "issue"         ? "reason"
                             : std::string(type) == "stock_count" ? "reason"
                                                                  : "note";
    ASSERT_OK(owner_->Set(posted, text_field, "draft edit"));
    ASSERT_OK(owner_->Transition(posted, "post"));
    ASSERT_OK(owner_->Transition(cancelled, "cancel"));
    EXPECT_EQ(State(owner_, cancelled), "cancelled");
    for (const RecordId& id : {posted, cancelled}) {
      EXPECT_TRUE(Refused(owner_->Set(id, text_field, "later edit"), Code::kFailedPrecondition,
                          "guard:", kEdit));
      EXPECT_TRUE(Refused(owner_->Transition(id, "post"), Code::kFailedPrecondition, "state:"));
    }
    EXPECT_TRUE(
        Refused(owner_->Transition(cancelled, "cancel"), Code::kFailedPrecondition, "state:"));
  }
  SyncAll();
  ExpectConverged();
}

TEST_F(InventoryTest, BelowReorderPointFlag) {
  RecordId item = Item(owner_, "A-1");
  // A reorder point of 0 never flags.
  EXPECT_EQ(ComputedOf(owner_, item, "below_reorder"), Value(false));
  ASSERT_OK(owner_->Set(item, "reorder_point", int64_t{5}));
  EXPECT_EQ(ComputedOf(owner_, item, "below_reorder"), Value(true));
  // All locations together count.
  Receive(owner_, item, "Main", 3);
  EXPECT_EQ(ComputedOf(owner_, item, "below_reorder"), Value(true));
  Receive(owner_, item, "Van 3", 2);
  EXPECT_EQ(ComputedOf(owner_, item, "below_reorder"), Value(false));  // 5 is not below 5
  RecordId issue = Movement(owner_, "issue", item, "Van 3", 1);
  ASSERT_OK(owner_->Transition(issue, "post"));
  EXPECT_EQ(ComputedOf(owner_, item, "below_reorder"), Value(true));
  SyncAll();
  EXPECT_EQ(ComputedOf(alice_, item, "below_reorder"), Value(true));
  EXPECT_EQ(ComputedOf(bob_, item, "below_reorder"), Value(true));
  // Another site's receipt clears it everywhere once synced.
  ASSERT_OK(alice_->Set(item, "reorder_point", int64_t{4}));
  SyncAll();
  EXPECT_EQ(ComputedOf(bob_, item, "below_reorder"), Value(false));
  ExpectConverged();
}

// Auditors and read-only members cannot run transitions (docs/tools.md).
TEST_F(InventoryTest, AuditorsCannotRunTransitions) {
  TestDevice auditor{"auditor", 4, clock_};
  auditor.Join(*owner_.workspace);
  ASSERT_OK(owner_->AddMember(auditor.identity.card(), Role::kAuditor));
  RecordId item = Item(owner_, "A-1");
  RecordId receipt = Movement(owner_, "receipt", item, "Main", 1);
  SyncPair(*owner_.workspace, *auditor.workspace);
  EXPECT_TRUE(
      Refused(auditor->Transition(receipt, "post"), Code::kPermissionDenied, "", "auditor"));
  for (const TransitionCheck& t : auditor->Transitions(receipt)) {
    EXPECT_FALSE(t.verdict.ok()) << t.name;
  }
  EXPECT_EQ(State(auditor, receipt), "draft");
}

TEST_F(InventoryTest, ForgedRuleBreakingDeltasAreRefusedByTheOtherPeers) {
  RecordId item = Item(owner_, "A-1");
  Receive(owner_, item, "Main", 10);
  RecordId posted = Movement(owner_, "receipt", item, "Main", 1);
  ASSERT_OK(owner_->Transition(posted, "post"));
  SyncAll();
  RecordId issue = Movement(bob_, "issue", item, "Main", 3);  // bob holds no rights
  RecordId transfer = Transfer(bob_, item, "Main", "Main", 1);
  DeltaForge forge = Forger();

  {  // An issue posted beyond the forger's rights (the effect is what post gives).
    Batch b(bob_);
    auto* t = b.Op(wire::v1::TRANSITION, issue);
    t->set_name(b.Str("post"));
    t->set_effects(1);
    auto* add = b.Op(wire::v1::ADD, item);
    add->set_field(b.Str("on_hand#Main"));
    add->set_amount(-3);
    ExpectRefusedByPeers(forge, b, "this device does not hold enough stock", "issue beyond rights");
  }
  {  // Stock added by hand, without a movement.
    Batch b(bob_);
    auto* add = b.Op(wire::v1::ADD, item);
    add->set_field(b.Str("on_hand#Main"));
    add->set_amount(100);
    ExpectRefusedByPeers(forge, b, "set only by transitions", "stock by hand");
  }
  {  // A posted receipt changed afterwards.
    Batch b(bob_);
    auto* set = b.Op(wire::v1::SET, posted);
    set->set_field(b.Str("quantity"));
    set->mutable_value()->set_int_(1000);
    ExpectRefusedByPeers(forge, b, "only a draft movement can be changed", "posted edited");
  }
  {  // A transfer to the same location.
    Batch b(bob_);
    auto* t = b.Op(wire::v1::TRANSITION, transfer);
    t->set_name(b.Str("post"));
    t->set_effects(2);
    auto* out = b.Op(wire::v1::ADD, item);
    out->set_field(b.Str("on_hand#Main"));
    out->set_amount(-1);
    auto* in = b.Op(wire::v1::ADD, item);
    in->set_field(b.Str("on_hand#Main"));
    in->set_amount(1);
    ExpectRefusedByPeers(forge, b, "the two locations must differ", "transfer in place");
  }
  EXPECT_EQ(Stock(owner_, item, "Main"), 11);
  EXPECT_EQ(Stock(alice_, item, "Main"), 11);
  EXPECT_EQ(State(owner_, issue), "draft");
}

// A device short of rights asks for them with a rights_request; another member who holds
// enough grants them in one transition, whose grant effect moves the rights (checked by every
// peer); then the issue goes through. Nobody grants their own request or rights they lack.
TEST_F(InventoryTest, ADeviceShortOfRightsAsksAnotherForThem) {
  RecordId item = Item(owner_, "R-1");
  RecordId receipt = Movement(owner_, "receipt", item, "Main", 10);
  ASSERT_OK(owner_->Transition(receipt, "post"));
  SyncAll();
  RecordId issue = Movement(alice_, "issue", item, "Main", 4);
  ASSERT_OK(alice_->Set(issue, "reason", "van"));
  EXPECT_TRUE(Refused(alice_->Transition(issue, "post"), Code::kFailedPrecondition, "", ""));

  RecordId ask = Create(alice_, "rights_request",
                        {{"item", item}, {"location", "Main"}, {"quantity", int64_t{4}}});
  EXPECT_TRUE(Refused(alice_->Transition(ask, "grant"), Code::kFailedPrecondition,
                      "guard:", "cannot grant your own request"));
  SyncAll();
  // Bob holds no rights at Main: he cannot grant them.
  EXPECT_TRUE(Refused(bob_->Transition(ask, "grant"), Code::kFailedPrecondition, "guard:"));
  ASSERT_OK(owner_->Transition(ask, "grant"));
  EXPECT_EQ(State(owner_, ask), "granted");
  EXPECT_EQ(FieldOf(owner_, ask, "granted_by"), MemberValue(owner_));
  EXPECT_EQ(RightsOf(owner_, item, "Main", owner_), 6);
  EXPECT_EQ(RightsOf(owner_, item, "Main", alice_), 4);
  EXPECT_EQ(Stock(owner_, item, "Main"), 10);  // rights moved, not stock
  SyncAll();
  EXPECT_EQ(RightsOf(alice_, item, "Main", alice_), 4);
  ASSERT_OK(alice_->Transition(issue, "post"));
  EXPECT_EQ(Stock(alice_, item, "Main"), 6);
  // Granted once: the request cannot be granted again or withdrawn.
  EXPECT_TRUE(Refused(owner_->Transition(ask, "grant"), Code::kFailedPrecondition, "state:"));
  EXPECT_TRUE(Refused(alice_->Transition(ask, "withdraw"), Code::kFailedPrecondition, "state:"));
  SyncAll();
  for (TestDevice* d : {&owner_, &alice_, &bob_}) EXPECT_EQ(Stock(*d, item, "Main"), 6);
  ExpectConverged();
}

// Every peer judges a grant transition itself: one forged by a device that holds no rights, whose
// grant effect moves more than was asked for, is refused.
TEST_F(InventoryTest, AForgedGrantEffectIsRefused) {
  RecordId item = Item(owner_, "R-2");
  RecordId receipt = Movement(owner_, "receipt", item, "Main", 10);
  ASSERT_OK(owner_->Transition(receipt, "post"));
  SyncAll();
  RecordId ask = Create(alice_, "rights_request",
                        {{"item", item}, {"location", "Main"}, {"quantity", int64_t{2}}});
  SyncAll();
  DeltaForge forge = Forger();
  {
    Batch b(bob_);
    auto* t = b.Op(wire::v1::TRANSITION, ask);
    t->set_name(b.Str("grant"));
    t->set_effects(2);
    auto* set = b.Op(wire::v1::SET, ask);
    set->set_field(b.Str("granted_by"));
    set->mutable_value()->set_blob(
        std::string(bob_.identity.device().begin(), bob_.identity.device().end()));
    auto* grant = b.Op(wire::v1::GRANT, item);
    grant->set_field(b.Str("on_hand#Main"));
    grant->set_amount(9);
    grant->set_to_device(b.Dev(alice_.identity.device()));
    ExpectRefusedByPeers(forge, b, "guard:", "grant without rights");
  }
  EXPECT_EQ(State(owner_, ask), "open");
  EXPECT_EQ(RightsOf(owner_, item, "Main", alice_), 0);
}

// ================================================================================================
// Purchasing
// ================================================================================================

class PurchasingTest : public BuiltinToolsTest {
 protected:
  void SetUp() override {
    Start({"inventory", "purchasing"});
    item_a_ = Item(owner_, "A-1");
    item_b_ = Item(owner_, "B-2");
    supplier_ = Create(owner_, "supplier", {{"name", "ACME"}});
    SyncAll();
  }

  RecordId Order(TestDevice& d, const std::string& number, const std::string& currency = "EUR") {
    return Create(d, "purchase_order",
                  {{"number", number},
                   {"supplier", supplier_},
                   {"location", "Main"},
                   {"currency", currency}});
  }
  RecordId Line(TestDevice& d, const RecordId& order, const RecordId& item, int64_t quantity,
                Money unit_price) {
    return Create(d, "po_line",
                  {{"order", order},
                   {"item", item},
                   {"quantity", quantity},
                   {"unit_price", std::move(unit_price)}});
  }
  // An order created and submitted by the owner with one line, approved by bob and ordered.
  RecordId OrderedOrder(std::vector<std::pair<RecordId, int64_t>> lines) {
    RecordId order = Order(owner_, "PO-ORD");
    for (const auto& [item, quantity] : lines) Line(owner_, order, item, quantity, Eur(100));
    EXPECT_TRUE(owner_->Transition(order, "submit").ok());
    SyncAll();
    EXPECT_TRUE(bob_->Transition(order, "approve").ok());
    SyncAll();
    EXPECT_TRUE(owner_->Transition(order, "order").ok());
    SyncAll();
    EXPECT_EQ(State(alice_, order), "ordered");
    return order;
  }
  std::vector<RecordId> LinesOf(TestDevice& d, const RecordId& order) {
    std::vector<RecordId> out;
    for (const RecordView& v : d->List("po_line")) {
      auto it = v.fields.find("order");
      if (it != v.fields.end() && it->second == Value(order)) out.push_back(v.id);
    }
    return out;
  }

  RecordId item_a_, item_b_, supplier_;
};

TEST_F(PurchasingTest, TotalsAreExactSumsOfLinesInMinorUnits) {
  RecordId order = Order(owner_, "PO-1");
  EXPECT_TRUE(ComputedOf(owner_, order, "total").is_null());  // no lines: no total
  RecordId l1 = Line(owner_, order, item_a_, 3, Eur(1999));   // 3 x 19.99
  RecordId l2 = Line(owner_, order, item_b_, 7, Eur(1));      // 7 x 0.01
  RecordId l3 = Line(owner_, order, item_a_, 1, Eur(123456));
  EXPECT_EQ(ComputedOf(owner_, l1, "amount"), Value(Eur(5997)));
  EXPECT_EQ(ComputedOf(owner_, l2, "amount"), Value(Eur(7)));
  EXPECT_EQ(ComputedOf(owner_, order, "total"), Value(Eur(5997 + 7 + 123456)));
  ASSERT_OK(owner_->Set(l2, "quantity", int64_t{10}));
  EXPECT_EQ(ComputedOf(owner_, order, "total"), Value(Eur(5997 + 10 + 123456)));
  // An archived line no longer counts.
  ASSERT_OK(owner_->Archive(l3));
  EXPECT_EQ(ComputedOf(owner_, order, "total"), Value(Eur(5997 + 10)));
  SyncAll();
  EXPECT_EQ(ComputedOf(alice_, order, "total"), Value(Eur(6007)));
  EXPECT_EQ(ComputedOf(bob_, l1, "amount"), Value(Eur(5997)));
  // Lines: quantity at least 1, price in the order's currency and not negative.
  EXPECT_TRUE(BadField(owner_
                           ->CreateRecord("po_line", {{"order", order},
                                                      {"item", item_a_},
                                                      {"quantity", int64_t{0}},
                                                      {"unit_price", Eur(1)}})
                           .status(),
                       "quantity"));
  Status usd = owner_
                   ->CreateRecord("po_line", {{"order", order},
                                              {"item", item_a_},
                                              {"quantity", int64_t{1}},
                                              {"unit_price", Money{100, "USD"}}})
                   .status();
  EXPECT_TRUE(Refused(usd, Code::kFailedPrecondition,
                      "guard:", "the unit price must be in the order's currency"));
  EXPECT_EQ(usd.where(), "fields.unit_price");
  EXPECT_TRUE(Refused(owner_->Set(l1, "unit_price", Eur(-1)), Code::kFailedPrecondition,
                      "guard:", "not negative"));
  EXPECT_TRUE(BadField(owner_->Set(l1, "unit_price", int64_t{100}), "unit_price"));
  EXPECT_TRUE(BadField(owner_->Set(order, "currency", "JPY"), "currency"));
  EXPECT_TRUE(BadField(owner_->Set(order, "total", Eur(1)), "total"));  // computed
  EXPECT_TRUE(BadField(
      owner_->CreateRecord("purchase_order", {{"number", "PO-2"}, {"location", "Main"}}).status(),
      "supplier"));
  EXPECT_EQ(FieldOf(owner_, Order(owner_, "PO-3", "GBP"), "currency"), Value("GBP"));
  RecordId defaulted = Create(owner_, "purchase_order",
                              {{"number", "PO-4"}, {"supplier", supplier_}, {"location", "Main"}});
  EXPECT_EQ(FieldOf(owner_, defaulted, "currency"), Value("EUR"));
}

TEST_F(PurchasingTest, SubmitNeedsALineAllInTheOrdersCurrency) {
  RecordId order = Order(owner_, "PO-1");
  EXPECT_TRUE(Refused(owner_->Transition(order, "submit"), Code::kFailedPrecondition,
                      "guard:", "an order needs at least one line"));
  Line(owner_, order, item_a_, 2, Eur(500));
  // The order's currency changed after its lines were priced: the lines no longer match.
  ASSERT_OK(owner_->Set(order, "currency", "USD"));
  EXPECT_TRUE(Refused(owner_->Transition(order, "submit"), Code::kFailedPrecondition, "guard:"));
  // Lines in two currencies: no total, and no submit.
  Line(owner_, order, item_b_, 1, Money{300, "USD"});
  EXPECT_TRUE(ComputedOf(owner_, order, "total").is_null());
  EXPECT_TRUE(Refused(owner_->Transition(order, "submit"), Code::kFailedPrecondition, "guard:"));
  EXPECT_EQ(State(owner_, order), "draft");

  RecordId good = Order(owner_, "PO-2", "USD");
  Line(owner_, good, item_a_, 2, Money{250, "USD"});
  ASSERT_OK(owner_->Transition(good, "submit"));
  EXPECT_EQ(State(owner_, good), "submitted");
  EXPECT_EQ(ComputedOf(owner_, good, "total"), Value(Money{500, "USD"}));
  EXPECT_TRUE(Refused(owner_->Transition(good, "submit"), Code::kFailedPrecondition, "state:"));
}

TEST_F(PurchasingTest, SeparationOfDutiesOnApproval) {
  RecordId order = Order(owner_, "PO-1");
  Line(owner_, order, item_a_, 2, Eur(1000));
  SyncAll();
  Line(alice_, order, item_b_, 1, Eur(250));  // alice edits a line
  SyncAll();
  EXPECT_TRUE(Refused(owner_->Transition(order, "approve"), Code::kFailedPrecondition, "state:"));
  ASSERT_OK(owner_->Transition(order, "submit"));
  SyncAll();

  constexpr char kSod[] = "you created or changed this order or one of its lines";
  // The creator of the order cannot approve it; neither can the editor of a line.
  EXPECT_TRUE(
      Refused(owner_->Transition(order, "approve"), Code::kFailedPrecondition, "guard:", kSod));
  EXPECT_TRUE(
      Refused(alice_->Transition(order, "approve"), Code::kFailedPrecondition, "guard:", kSod));
  // Transitions() tells each device the same before it tries.
  auto verdict = [&](TestDevice& d, const std::string& name) {
    for (const TransitionCheck& t : d->Transitions(order)) {
      if (t.name == name) return t.verdict;
    }
    return Status(Code::kNotFound, "no transition " + name);
  };
  EXPECT_EQ(verdict(alice_, "approve").code(), Code::kFailedPrecondition);
  EXPECT_TRUE(verdict(bob_, "approve").ok()) << verdict(bob_, "approve").ToString();
  // Up to the limit, approve_first is not the way.
  EXPECT_TRUE(Refused(bob_->Transition(order, "approve_first"), Code::kFailedPrecondition,
                      "guard:", "orders up to 5,000.00 need one approval"));
  // The approved_by field is written by approval only.
  EXPECT_TRUE(Refused(bob_->Set(order, "approved_by", MemberValue(bob_)), Code::kPermissionDenied,
                      "field"));
  ASSERT_OK(bob_->Transition(order, "approve"));
  EXPECT_EQ(State(bob_, order), "approved");
  EXPECT_EQ(FieldOf(bob_, order, "approved_by"), MemberValue(bob_));
  SyncAll();
  EXPECT_EQ(FieldOf(owner_, order, "approved_by"), MemberValue(bob_));
  EXPECT_EQ(State(alice_, order), "approved");
  ExpectConverged();
}

TEST_F(PurchasingTest, ApprovalLimitIsExactlyFiveThousand) {
  RecordId at_limit = Order(owner_, "PO-1");
  Line(owner_, at_limit, item_a_, 4, Eur(125000));  // 5,000.00
  RecordId above = Order(owner_, "PO-2");
  Line(owner_, above, item_a_, 4, Eur(125000));
  Line(owner_, above, item_b_, 1, Eur(1));  // 5,000.01
  ASSERT_OK(owner_->Transition(at_limit, "submit"));
  ASSERT_OK(owner_->Transition(above, "submit"));
  SyncAll();
  EXPECT_TRUE(
      Refused(alice_->Transition(at_limit, "approve_first"), Code::kFailedPrecondition, "guard:"));
  ASSERT_OK(alice_->Transition(at_limit, "approve"));
  EXPECT_EQ(State(alice_, at_limit), "approved");
  EXPECT_TRUE(Refused(alice_->Transition(above, "approve"), Code::kFailedPrecondition,
                      "guard:", "orders above 5,000.00 need two approvals"));
  EXPECT_EQ(State(alice_, above), "submitted");
}

TEST_F(PurchasingTest, AboveTheLimitNeedsTwoDifferentApprovers) {
  RecordId order = Order(owner_, "PO-1");
  Line(owner_, order, item_a_, 10, Eur(60000));  // 6,000.00
  ASSERT_OK(owner_->Transition(order, "submit"));
  SyncAll();
  EXPECT_TRUE(Refused(owner_->Transition(order, "approve_first"), Code::kFailedPrecondition,
                      "guard:", "you created or changed this order"));
  EXPECT_TRUE(
      Refused(alice_->Transition(order, "approve_second"), Code::kFailedPrecondition, "state:"));
  ASSERT_OK(alice_->Transition(order, "approve_first"));
  EXPECT_EQ(State(alice_, order), "awaiting_second_approval");
  EXPECT_EQ(FieldOf(alice_, order, "approved_by"), MemberValue(alice_));
  SyncAll();
  constexpr char kSecond[] = "the second approval must come from someone other than the first";
  EXPECT_TRUE(Refused(alice_->Transition(order, "approve_second"), Code::kFailedPrecondition,
                      "guard:", kSecond));
  EXPECT_TRUE(Refused(owner_->Transition(order, "approve_second"), Code::kFailedPrecondition,
                      "guard:", kSecond));
  EXPECT_TRUE(
      Refused(bob_->Transition(order, "approve_first"), Code::kFailedPrecondition, "state:"));
  EXPECT_TRUE(Refused(bob_->Transition(order, "approve"), Code::kFailedPrecondition, "state:"));
  ASSERT_OK(bob_->Transition(order, "approve_second"));
  EXPECT_EQ(State(bob_, order), "approved");
  EXPECT_EQ(FieldOf(bob_, order, "approved_by"), MemberValue(alice_));
  EXPECT_EQ(FieldOf(bob_, order, "second_approved_by"), MemberValue(bob_));
  SyncAll();
  EXPECT_EQ(View(owner_, order).history,
            (std::vector<std::string>{"submit", "approve_first", "approve_second"}));
  ExpectConverged();
}

TEST_F(PurchasingTest, RejectNeedsAReasonAndClearsApprovals) {
  RecordId order = Order(owner_, "PO-1");
  RecordId line = Line(owner_, order, item_a_, 10, Eur(60000));
  EXPECT_TRUE(Refused(owner_->Transition(order, "reject", {{"reject_reason", "x"}}),
                      Code::kFailedPrecondition, "state:"));
  ASSERT_OK(owner_->Transition(order, "submit"));
  SyncAll();
  ASSERT_OK(alice_->Transition(order, "approve_first"));
  SyncAll();
  EXPECT_TRUE(BadField(owner_->Transition(order, "reject"), "reject_reason"));
  EXPECT_TRUE(
      BadField(owner_->Transition(order, "reject", {{"reject_reason", Value()}}), "reject_reason"));
  // Rejected from awaiting_second_approval: back to draft, approvals cleared.
  ASSERT_OK(owner_->Transition(order, "reject", {{"reject_reason", "price too high"}}));
  EXPECT_EQ(State(owner_, order), "draft");
  EXPECT_TRUE(FieldOf(owner_, order, "approved_by").is_null());
  EXPECT_TRUE(FieldOf(owner_, order, "second_approved_by").is_null());
  EXPECT_EQ(FieldOf(owner_, order, "reject_reason"), Value("price too high"));
  SyncAll();
  EXPECT_TRUE(FieldOf(bob_, order, "approved_by").is_null());
  EXPECT_EQ(State(alice_, order), "draft");
  // Back in draft, the lines can be changed again (here by alice); the new total (3,000.00)
  // needs only one approval.
  ASSERT_OK(alice_->Set(line, "quantity", int64_t{5}));
  SyncAll();
  ASSERT_OK(owner_->Transition(order, "submit"));
  // Rejected from submitted too.
  ASSERT_OK(owner_->Transition(order, "reject", {{"reject_reason", "wrong supplier"}}));
  ASSERT_OK(owner_->Transition(order, "submit"));
  SyncAll();
  EXPECT_EQ(View(bob_, order).history,
            (std::vector<std::string>{"submit", "approve_first", "reject", "submit", "reject",
                                      "submit"}));
  // Whoever changed the rejected order (alice, a line) cannot approve it afterwards.
  EXPECT_TRUE(Refused(alice_->Transition(order, "approve"), Code::kFailedPrecondition,
                      "guard:", "you created or changed this order or one of its lines"));
  EXPECT_TRUE(Refused(owner_->Transition(order, "approve"), Code::kFailedPrecondition, "guard:"));
  ASSERT_OK(bob_->Transition(order, "approve"));  // bob never changed the order or its lines
  EXPECT_EQ(FieldOf(bob_, order, "approved_by"), MemberValue(bob_));
  EXPECT_TRUE(Refused(bob_->Transition(order, "reject", {{"reject_reason", "late"}}),
                      Code::kFailedPrecondition, "state:"));
  SyncAll();
  ExpectConverged();
}

// docs/tools.md: "Earlier approvals are cleared: a changed order is approved afresh", and only
// those who created or changed the order or its lines are barred from approving. Running a
// transition (approving, rejecting) is not changing the order.
TEST_F(PurchasingTest, AnEarlierApproverMayApproveAgainAfterAReject) {
  RecordId order = Order(owner_, "PO-1");
  Line(owner_, order, item_a_, 10, Eur(60000));
  ASSERT_OK(owner_->Transition(order, "submit"));
  SyncAll();
  ASSERT_OK(alice_->Transition(order, "approve_first"));
  SyncAll();
  ASSERT_OK(bob_->Transition(order, "reject", {{"reject_reason", "check the quantity"}}));
  SyncAll();
  ASSERT_OK(owner_->Transition(order, "submit"));
  SyncAll();
  // Approving and rejecting are transitions, not edits: alice approved before, bob rejected,
  // and neither changed the order, so alice may approve again.
  ASSERT_OK(alice_->Transition(order, "approve_first"));
  SyncAll();
  ASSERT_OK(bob_->Transition(order, "approve_second"));
  EXPECT_EQ(State(bob_, order), "approved");
}

TEST_F(PurchasingTest, OrderAndLinesChangeOnlyAsDraft) {
  RecordId order = Order(owner_, "PO-1");
  RecordId line = Line(owner_, order, item_a_, 2, Eur(1000));
  ASSERT_OK(owner_->Set(order, "notes", "urgent"));
  ASSERT_OK(owner_->Transition(order, "submit"));
  constexpr char kLines[] = "lines can be changed only while their order is a draft";
  EXPECT_TRUE(Refused(owner_->Set(line, "quantity", int64_t{200}), Code::kFailedPrecondition,
                      "guard:", kLines));
  EXPECT_TRUE(Refused(owner_->Archive(line), Code::kFailedPrecondition, "guard:", kLines));
  EXPECT_TRUE(Refused(owner_
                          ->CreateRecord("po_line", {{"order", order},
                                                     {"item", item_b_},
                                                     {"quantity", int64_t{1}},
                                                     {"unit_price", Eur(1)}})
                          .status(),
                      Code::kFailedPrecondition, "guard:", kLines));
  EXPECT_TRUE(Refused(owner_->Set(order, "notes", "changed"), Code::kFailedPrecondition,
                      "guard:", "only a draft order can be changed"));
  EXPECT_EQ(ComputedOf(owner_, order, "total"), Value(Eur(2000)));
  // Approved and ordered: still closed to changes.
  SyncAll();
  ASSERT_OK(bob_->Transition(order, "approve"));
  ASSERT_OK(bob_->Transition(order, "order"));
  EXPECT_TRUE(Refused(bob_->Set(line, "quantity", int64_t{3}), Code::kFailedPrecondition,
                      "guard:", kLines));
  EXPECT_TRUE(
      Refused(bob_->Set(order, "location", "Elsewhere"), Code::kFailedPrecondition, "guard:"));
  // received is a counter only receiving moves.
  EXPECT_TRUE(Refused(bob_->Add(line, "received", 1), Code::kPermissionDenied, "field"));
}

TEST_F(PurchasingTest, OrderThenReceiveAddsOutstandingToStockOnEveryPeer) {
  RecordId order = Order(owner_, "PO-1");
  RecordId la = Line(owner_, order, item_a_, 5, Eur(100));
  RecordId lb = Line(owner_, order, item_b_, 3, Eur(200));
  ASSERT_OK(owner_->Transition(order, "submit"));
  SyncAll();
  EXPECT_TRUE(Refused(bob_->Transition(order, "order"), Code::kFailedPrecondition, "state:"));
  EXPECT_TRUE(Refused(bob_->Transition(order, "receive"), Code::kFailedPrecondition, "state:"));
  ASSERT_OK(bob_->Transition(order, "approve"));
  EXPECT_TRUE(Refused(bob_->Transition(order, "receive"), Code::kFailedPrecondition, "state:"));
  ASSERT_OK(bob_->Transition(order, "order"));
  EXPECT_EQ(State(bob_, order), "ordered");
  SyncAll();
  EXPECT_EQ(ComputedOf(alice_, la, "outstanding"), Value(int64_t{5}));
  ASSERT_OK(alice_->Transition(order, "receive"));
  EXPECT_EQ(State(alice_, order), "received");
  EXPECT_EQ(Stock(alice_, item_a_, "Main"), 5);
  EXPECT_EQ(Stock(alice_, item_b_, "Main"), 3);
  EXPECT_EQ(FieldOf(alice_, la, "received"), Value(int64_t{5}));
  EXPECT_EQ(ComputedOf(alice_, lb, "outstanding"), Value(int64_t{0}));
  // The received stock belongs to the receiving device's rights.
  EXPECT_EQ(RightsOf(alice_, item_a_, "Main", alice_), 5);
  EXPECT_TRUE(Refused(alice_->Transition(order, "receive"), Code::kFailedPrecondition, "state:"));
  EXPECT_TRUE(Refused(alice_->Transition(order, "cancel", {{"cancel_reason", "x"}}),
                      Code::kFailedPrecondition, "state:"));
  SyncAll();
  for (TestDevice* d : {&owner_, &bob_}) {
    EXPECT_EQ(Stock(*d, item_a_, "Main"), 5);
    EXPECT_EQ(Stock(*d, item_b_, "Main"), 3);
    EXPECT_EQ(State(*d, order), "received");
    EXPECT_EQ(RightsOf(*d, item_b_, "Main", alice_), 3);
  }
  ExpectConverged();
}

TEST_F(PurchasingTest, PartialReceiptsAreBoundedByOutstandingThenMarked) {
  RecordId order = OrderedOrder({{item_a_, 10}, {item_b_, 4}});
  std::vector<RecordId> lines = LinesOf(alice_, order);
  ASSERT_EQ(lines.size(), 2u);
  RecordId la = FieldOf(alice_, lines[0], "item") == Value(item_a_) ? lines[0] : lines[1];
  RecordId lb = la == lines[0] ? lines[1] : lines[0];

  constexpr char kNothing[] = "nothing has been received on this order yet, or everything has";
  EXPECT_TRUE(Refused(alice_->Transition(order, "mark_partially_received"),
                      Code::kFailedPrecondition, "guard:", kNothing));
  constexpr char kBound[] = "at most the quantity still outstanding on the line";
  RecordId too_many = Create(alice_, "po_receipt", {{"line", la}, {"quantity", int64_t{11}}});
  EXPECT_TRUE(
      Refused(alice_->Transition(too_many, "post"), Code::kFailedPrecondition, "guard:", kBound));
  EXPECT_TRUE(BadField(
      alice_->CreateRecord("po_receipt", {{"line", la}, {"quantity", int64_t{0}}}).status(),
      "quantity"));
  RecordId first =
      Create(alice_, "po_receipt", {{"line", la}, {"quantity", int64_t{4}}, {"note", "DN-1"}});
  ASSERT_OK(alice_->Transition(first, "post"));
  EXPECT_EQ(Stock(alice_, item_a_, "Main"), 4);
  EXPECT_EQ(FieldOf(alice_, la, "received"), Value(int64_t{4}));
  EXPECT_EQ(ComputedOf(alice_, la, "outstanding"), Value(int64_t{6}));
  EXPECT_EQ(RightsOf(alice_, item_a_, "Main", alice_), 4);
  // A posted goods receipt is stock history.
  EXPECT_TRUE(Refused(alice_->Set(first, "quantity", int64_t{9}), Code::kFailedPrecondition,
                      "guard:", "only a draft receipt can be changed"));
  EXPECT_TRUE(Refused(alice_->Transition(first, "cancel"), Code::kFailedPrecondition, "state:"));
  // The outstanding quantity, as the poster sees it, bounds the next one.
  ASSERT_OK(alice_->Set(too_many, "quantity", int64_t{7}));
  EXPECT_TRUE(
      Refused(alice_->Transition(too_many, "post"), Code::kFailedPrecondition, "guard:", kBound));
  ASSERT_OK(alice_->Transition(too_many, "cancel"));

  EXPECT_TRUE(Refused(alice_->Transition(order, "mark_received"), Code::kFailedPrecondition,
                      "guard:", "some lines are not fully received yet"));
  EXPECT_TRUE(Refused(alice_->Transition(order, "close_short", {{"short_close_reason", "x"}}),
                      Code::kFailedPrecondition, "state:"));
  ASSERT_OK(alice_->Transition(order, "mark_partially_received"));
  EXPECT_EQ(State(alice_, order), "partially_received");
  // Partially received: no cancel (it is closed short instead), receipts still allowed.
  EXPECT_TRUE(Refused(alice_->Transition(order, "cancel", {{"cancel_reason", "x"}}),
                      Code::kFailedPrecondition, "state:"));
  SyncAll();
  RecordId rest_a = Create(bob_, "po_receipt", {{"line", la}, {"quantity", int64_t{6}}});
  RecordId rest_b = Create(bob_, "po_receipt", {{"line", lb}, {"quantity", int64_t{4}}});
  ASSERT_OK(bob_->Transition(rest_a, "post"));
  EXPECT_TRUE(
      Refused(bob_->Transition(order, "mark_received"), Code::kFailedPrecondition, "guard:"));
  ASSERT_OK(bob_->Transition(rest_b, "post"));
  ASSERT_OK(bob_->Transition(order, "mark_received"));
  EXPECT_EQ(State(bob_, order), "received");
  // A received order takes no more receipts.
  RecordId late = Create(bob_, "po_receipt", {{"line", lb}, {"quantity", int64_t{1}}});
  EXPECT_TRUE(Refused(bob_->Transition(late, "post"), Code::kFailedPrecondition, "guard:", kBound));
  SyncAll();
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    EXPECT_EQ(Stock(*d, item_a_, "Main"), 10);
    EXPECT_EQ(Stock(*d, item_b_, "Main"), 4);
    EXPECT_EQ(RightsOf(*d, item_a_, "Main", alice_), 4);
    EXPECT_EQ(RightsOf(*d, item_a_, "Main", bob_), 6);
  }
  ExpectConverged();
}

TEST_F(PurchasingTest, ReceiveAfterPartialReceiptsBooksOnlyWhatIsOutstanding) {
  RecordId order = OrderedOrder({{item_a_, 10}, {item_b_, 4}});
  std::vector<RecordId> lines = LinesOf(alice_, order);
  RecordId la = FieldOf(alice_, lines[0], "item") == Value(item_a_) ? lines[0] : lines[1];
  RecordId part = Create(alice_, "po_receipt", {{"line", la}, {"quantity", int64_t{3}}});
  ASSERT_OK(alice_->Transition(part, "post"));
  ASSERT_OK(alice_->Transition(order, "mark_partially_received"));
  ASSERT_OK(alice_->Transition(order, "receive"));
  EXPECT_EQ(Stock(alice_, item_a_, "Main"), 10);
  EXPECT_EQ(Stock(alice_, item_b_, "Main"), 4);
  EXPECT_EQ(FieldOf(alice_, la, "received"), Value(int64_t{10}));
  SyncAll();
  EXPECT_EQ(Stock(owner_, item_a_, "Main"), 10);
  ExpectConverged();
}

TEST_F(PurchasingTest, CloseShortNeedsAReason) {
  RecordId order = OrderedOrder({{item_a_, 10}});
  RecordId line = LinesOf(owner_, order).at(0);
  RecordId part = Create(owner_, "po_receipt", {{"line", line}, {"quantity", int64_t{3}}});
  ASSERT_OK(owner_->Transition(part, "post"));
  ASSERT_OK(owner_->Transition(order, "mark_partially_received"));
  EXPECT_TRUE(BadField(owner_->Transition(order, "close_short"), "short_close_reason"));
  ASSERT_OK(owner_->Transition(order, "close_short",
                               {{"short_close_reason", "supplier discontinued the item"}}));
  EXPECT_EQ(State(owner_, order), "received");
  EXPECT_EQ(FieldOf(owner_, order, "short_close_reason"), Value("supplier discontinued the item"));
  EXPECT_EQ(Stock(owner_, item_a_, "Main"), 3);
  EXPECT_EQ(ComputedOf(owner_, line, "outstanding"), Value(int64_t{7}));
}

// Decision 0004: concurrent receipts of one line are each bounded by what their author saw, so
// together they can over-receive; the over-receipt shows on the line and `receive` adds nothing.
TEST_F(PurchasingTest, ConcurrentPartialReceiptsCanOverReceiveVisibly) {
  RecordId order = OrderedOrder({{item_a_, 10}});
  RecordId line = LinesOf(owner_, order).at(0);
  RecordId a = Create(alice_, "po_receipt", {{"line", line}, {"quantity", int64_t{6}}});
  RecordId b = Create(bob_, "po_receipt", {{"line", line}, {"quantity", int64_t{6}}});
  ASSERT_OK(alice_->Transition(a, "post"));
  ASSERT_OK(bob_->Transition(b, "post"));
  SyncAll();
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    EXPECT_EQ(FieldOf(*d, line, "received"), Value(int64_t{12}));
    EXPECT_EQ(ComputedOf(*d, line, "outstanding"), Value(int64_t{0}));
    EXPECT_EQ(Stock(*d, item_a_, "Main"), 12);
  }
  ASSERT_OK(owner_->Transition(order, "mark_received"));
  SyncAll();
  ExpectConverged();
}

TEST_F(PurchasingTest, CancelNeedsAReasonAndNeverAddsStock) {
  RecordId draft = Order(owner_, "PO-1");
  EXPECT_TRUE(BadField(owner_->Transition(draft, "cancel"), "cancel_reason"));
  ASSERT_OK(owner_->Transition(draft, "cancel", {{"cancel_reason", "duplicate"}}));
  EXPECT_EQ(State(owner_, draft), "cancelled");
  EXPECT_EQ(FieldOf(owner_, draft, "cancel_reason"), Value("duplicate"));
  EXPECT_TRUE(Refused(owner_->Transition(draft, "submit"), Code::kFailedPrecondition, "state:"));
  EXPECT_TRUE(Refused(owner_->Transition(draft, "cancel", {{"cancel_reason", "again"}}),
                      Code::kFailedPrecondition, "state:"));
  EXPECT_TRUE(Refused(owner_->Set(draft, "notes", "x"), Code::kFailedPrecondition, "guard:"));

  // An ordered order can be cancelled while nothing was received; it then takes no receipts.
  RecordId ordered = OrderedOrder({{item_a_, 5}});
  RecordId line = LinesOf(owner_, ordered).at(0);
  RecordId receipt = Create(alice_, "po_receipt", {{"line", line}, {"quantity", int64_t{1}}});
  ASSERT_OK(owner_->Transition(ordered, "cancel", {{"cancel_reason", "supplier bankrupt"}}));
  SyncAll();
  EXPECT_TRUE(Refused(alice_->Transition(receipt, "post"), Code::kFailedPrecondition,
                      "guard:", "goods can be received only on an ordered"));
  EXPECT_TRUE(Refused(alice_->Transition(ordered, "receive"), Code::kFailedPrecondition, "state:"));
  EXPECT_EQ(Stock(alice_, item_a_, "Main"), 0);
  ExpectConverged();
}

// docs/tools.md: "an order that already received goods is closed short instead of cancelled" —
// also when its goods receipts were posted while it was still `ordered`.
TEST_F(PurchasingTest, AnOrderThatReceivedGoodsIsClosedShortNotCancelled) {
  RecordId order = OrderedOrder({{item_a_, 5}});
  RecordId line = LinesOf(owner_, order).at(0);
  RecordId receipt = Create(owner_, "po_receipt", {{"line", line}, {"quantity", int64_t{2}}});
  ASSERT_OK(owner_->Transition(receipt, "post"));
  EXPECT_EQ(State(owner_, order), "ordered");
  EXPECT_TRUE(Refused(owner_->Transition(order, "cancel", {{"cancel_reason", "x"}}),
                      Code::kFailedPrecondition, "guard:", "close it short"));
  ASSERT_OK(owner_->Transition(order, "mark_partially_received"));
  ASSERT_OK(owner_->Transition(order, "close_short", {{"short_close_reason", "rest not coming"}}));
  EXPECT_EQ(Stock(owner_, item_a_, "Main"), 2);
}

TEST_F(PurchasingTest, RequisitionsSeparateRequesterAndApprover) {
  RecordId req = Create(alice_, "requisition",
                        {{"item", item_a_},
                         {"quantity", int64_t{2}},
                         {"location", "Main"},
                         {"needed_by", "2024-03-01"}});
  EXPECT_TRUE(BadField(alice_->Set(req, "needed_by", "tomorrow"), "needed_by"));
  EXPECT_TRUE(BadField(alice_->Set(req, "quantity", int64_t{0}), "quantity"));
  ASSERT_OK(alice_->Transition(req, "submit"));
  constexpr char kDraftOnly[] = "only a draft requisition can be changed";
  EXPECT_TRUE(Refused(alice_->Set(req, "quantity", int64_t{3}), Code::kFailedPrecondition,
                      "guard:", kDraftOnly));
  EXPECT_TRUE(Refused(alice_->Transition(req, "approve"), Code::kFailedPrecondition,
                      "guard:", "so someone else must approve it"));
  EXPECT_TRUE(Refused(alice_->Transition(req, "reject", {{"reject_reason", "no"}}),
                      Code::kFailedPrecondition, "guard:", "so someone else must decide on it"));
  // Withdraw to change it, then submit again.
  ASSERT_OK(alice_->Transition(req, "withdraw"));
  ASSERT_OK(alice_->Set(req, "quantity", int64_t{3}));
  ASSERT_OK(alice_->Transition(req, "submit"));
  SyncAll();
  EXPECT_TRUE(Refused(bob_->Transition(req, "mark_ordered"), Code::kFailedPrecondition, "state:"));
  ASSERT_OK(bob_->Transition(req, "approve"));
  EXPECT_EQ(State(bob_, req), "approved");
  EXPECT_EQ(FieldOf(bob_, req, "approved_by"), MemberValue(bob_));
  EXPECT_TRUE(Refused(bob_->Set(req, "approved_by", MemberValue(alice_)), Code::kPermissionDenied,
                      "field"));
  RecordId order = Order(bob_, "PO-9");
  EXPECT_TRUE(BadField(bob_->Transition(req, "mark_ordered"), "purchase_order"));
  EXPECT_TRUE(BadField(bob_->Transition(req, "mark_ordered", {{"purchase_order", item_a_}}),
                       "purchase_order"));
  ASSERT_OK(bob_->Transition(req, "mark_ordered", {{"purchase_order", order}}));
  EXPECT_EQ(State(bob_, req), "ordered");
  EXPECT_EQ(FieldOf(bob_, req, "purchase_order"), Value(order));
  EXPECT_TRUE(Refused(bob_->Transition(req, "withdraw"), Code::kFailedPrecondition, "state:"));

  RecordId other = Create(alice_, "requisition", {{"item", item_b_}, {"quantity", int64_t{1}}});
  ASSERT_OK(alice_->Transition(other, "submit"));
  SyncAll();
  EXPECT_TRUE(BadField(owner_->Transition(other, "reject"), "reject_reason"));
  ASSERT_OK(owner_->Transition(other, "reject", {{"reject_reason", "use stock on hand"}}));
  EXPECT_EQ(State(owner_, other), "rejected");
  EXPECT_TRUE(Refused(owner_->Transition(other, "approve"), Code::kFailedPrecondition, "state:"));
  SyncAll();
  ExpectConverged();
}

TEST_F(PurchasingTest, ForgedRuleBreakingDeltasAreRefusedByTheOtherPeers) {
  // Bob writes and submits an order honestly, then forges his own approval.
  RecordId order = Order(bob_, "PO-B");
  RecordId line = Line(bob_, order, item_a_, 2, Eur(1000));
  ASSERT_OK(bob_->Transition(order, "submit"));
  DeltaForge forge = Forger();
  {
    Batch b(bob_);
    auto* t = b.Op(wire::v1::TRANSITION, order);
    t->set_name(b.Str("approve"));
    t->set_effects(1);
    auto* set = b.Op(wire::v1::SET, order);
    set->set_field(b.Str("approved_by"));
    const Bytes me = DevBytes(bob_);
    set->mutable_value()->set_blob(me.data(), me.size());
    ExpectRefusedByPeers(forge, b, "you created or changed this order", "self-approval");
  }
  {  // A line changed after submission.
    Batch b(bob_);
    auto* set = b.Op(wire::v1::SET, line);
    set->set_field(b.Str("quantity"));
    set->mutable_value()->set_int_(2000);
    ExpectRefusedByPeers(forge, b, "lines can be changed only while their order is a draft",
                         "line edited after submit");
  }
  {  // approved_by written directly.
    Batch b(bob_);
    auto* set = b.Op(wire::v1::SET, order);
    set->set_field(b.Str("approved_by"));
    const Bytes owner = DevBytes(owner_);
    set->mutable_value()->set_blob(owner.data(), owner.size());
    ExpectRefusedByPeers(forge, b, "set only by transitions", "approved_by by hand");
  }
  EXPECT_EQ(State(owner_, order), "submitted");
  EXPECT_EQ(State(alice_, order), "submitted");
  EXPECT_EQ(ComputedOf(alice_, order, "total"), Value(Eur(2000)));
}

// ================================================================================================
// Auctions
// ================================================================================================

class AuctionsTest : public BuiltinToolsTest {
 protected:
  void SetUp() override { Start({"inventory", "auctions"}); }

  int64_t Now() { return static_cast<int64_t>(clock_.NowMillis()); }
  RecordId Lot(TestDevice& d, const std::string& kind, Money reserve, Money increment,
               int64_t opens_at, int64_t closes_at) {
    return Create(d, "lot",
                  {{"title", "Lot " + kind},
                   {"kind", kind},
                   {"reserve", std::move(reserve)},
                   {"min_increment", std::move(increment)},
                   {"opens_at", opens_at},
                   {"closes_at", closes_at}});
  }
  Status Bid(TestDevice& d, const RecordId& lot, Money amount) {
    return d->Append(lot, "bids", Value(std::move(amount)));
  }
};

constexpr char kBidRefused[] = "bid refused";

TEST_F(AuctionsTest, ForwardLotBidsRiseByTheIncrementAndTheHighestWins) {
  const int64_t closes = Now() + kHour;
  RecordId lot = Lot(owner_, "forward", Eur(10000), Eur(500), Now(), closes);
  SyncAll();
  // Not open yet: no bids.
  EXPECT_TRUE(Refused(Bid(alice_, lot, Eur(20000)), Code::kFailedPrecondition, "state:"));
  // Only the creator or an owner opens a lot.
  EXPECT_TRUE(Refused(alice_->Transition(lot, "open"), Code::kFailedPrecondition,
                      "guard:", "only the lot's creator or an owner opens it"));
  ASSERT_OK(owner_->Transition(lot, "open"));
  SyncAll();

  EXPECT_TRUE(Refused(Bid(owner_, lot, Eur(20000)), Code::kFailedPrecondition, "guard:",
                      kBidRefused));  // the auctioneer does not bid on its own lot
  EXPECT_TRUE(Refused(Bid(alice_, lot, Eur(9999)), Code::kFailedPrecondition, "guard:",
                      kBidRefused));  // below the reserve
  EXPECT_TRUE(Refused(Bid(alice_, lot, Money{20000, "USD"}), Code::kFailedPrecondition, "guard:",
                      kBidRefused));                                           // another currency
  EXPECT_TRUE(BadField(alice_->Append(lot, "bids", int64_t{20000}), "bids"));  // not money
  ASSERT_OK(Bid(alice_, lot, Eur(10000)));                                     // the reserve
  SyncAll();
  EXPECT_TRUE(Refused(Bid(bob_, lot, Eur(10499)), Code::kFailedPrecondition, "guard:",
                      kBidRefused));  // beats the best by less than the increment
  ASSERT_OK(Bid(bob_, lot, Eur(10500)));
  SyncAll();
  EXPECT_TRUE(
      Refused(Bid(alice_, lot, Eur(10500)), Code::kFailedPrecondition, "guard:", kBidRefused));
  EXPECT_EQ(ComputedOf(alice_, lot, "best_bid"), Value(Eur(10500)));
  EXPECT_TRUE(ComputedOf(alice_, lot, "winner").is_null());  // not closed yet
  EXPECT_TRUE(ComputedOf(alice_, lot, "winning_bid").is_null());

  // The terms are fixed once open, for everyone.
  EXPECT_TRUE(Refused(owner_->Set(lot, "reserve", Eur(1)), Code::kFailedPrecondition, "state:"));
  EXPECT_TRUE(Refused(owner_->Set(lot, "closes_at", Now()), Code::kFailedPrecondition, "state:"));
  // No early close, by anyone.
  EXPECT_TRUE(Refused(owner_->Transition(lot, "close"), Code::kFailedPrecondition,
                      "guard:", "not before its closing time"));

  // A bid at the last millisecond counts; at the closing time it does not.
  clock_.Set(static_cast<uint64_t>(closes - 1));
  ASSERT_OK(Bid(alice_, lot, Eur(11000)));
  clock_.Set(static_cast<uint64_t>(closes));
  EXPECT_TRUE(
      Refused(Bid(bob_, lot, Eur(50000)), Code::kFailedPrecondition, "guard:", kBidRefused));
  SyncAll();
  EXPECT_TRUE(Refused(alice_->Transition(lot, "close"), Code::kFailedPrecondition,
                      "guard:", "only the lot's creator or an owner closes it"));
  ASSERT_OK(owner_->Transition(lot, "close"));
  SyncAll();
  EXPECT_TRUE(Refused(Bid(bob_, lot, Eur(60000)), Code::kFailedPrecondition, "state:"));
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    EXPECT_EQ(State(*d, lot), "closed");
    EXPECT_EQ(ComputedOf(*d, lot, "winner"), MemberValue(alice_));
    EXPECT_EQ(ComputedOf(*d, lot, "winning_bid"), Value(Eur(11000)));
    EXPECT_EQ(ListOf(*d, lot, "bids"),
              (std::vector<Value>{Value(Eur(10000)), Value(Eur(10500)), Value(Eur(11000))}));
  }
  ExpectConverged();
}

TEST_F(AuctionsTest, ReverseLotBidsFallByTheIncrementAndTheLowestWins) {
  const int64_t closes = Now() + kHour;
  RecordId lot = Lot(alice_, "reverse", Eur(100000), Eur(1000), Now(), closes);
  ASSERT_OK(alice_->Transition(lot, "open"));
  SyncAll();
  EXPECT_TRUE(Refused(Bid(alice_, lot, Eur(90000)), Code::kFailedPrecondition, "guard:",
                      kBidRefused));  // the creator
  EXPECT_TRUE(Refused(Bid(bob_, lot, Eur(100001)), Code::kFailedPrecondition, "guard:",
                      kBidRefused));  // above the reserve
  ASSERT_OK(Bid(bob_, lot, Eur(100000)));
  SyncAll();
  EXPECT_TRUE(Refused(Bid(owner_, lot, Eur(99001)), Code::kFailedPrecondition, "guard:",
                      kBidRefused));        // not low enough
  ASSERT_OK(Bid(owner_, lot, Eur(99000)));  // an owner who is not the creator may bid
  SyncAll();
  ASSERT_OK(Bid(bob_, lot, Eur(95000)));
  SyncAll();
  EXPECT_EQ(ComputedOf(owner_, lot, "best_bid"), Value(Eur(95000)));
  clock_.Set(static_cast<uint64_t>(closes));
  // The creator (a member) closes it.
  ASSERT_OK(alice_->Transition(lot, "close"));
  SyncAll();
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    EXPECT_EQ(ComputedOf(*d, lot, "winner"), MemberValue(bob_));
    EXPECT_EQ(ComputedOf(*d, lot, "winning_bid"), Value(Eur(95000)));
  }
  ExpectConverged();
}

TEST_F(AuctionsTest, BidsBeforeTheOpeningTimeAreRefused) {
  const int64_t opens = Now() + 10 * kMinute;
  RecordId lot = Lot(owner_, "forward", Eur(100), Eur(10), opens, opens + kHour);
  ASSERT_OK(owner_->Transition(lot, "open"));  // opened early; bidding starts at opens_at
  SyncAll();
  EXPECT_TRUE(
      Refused(Bid(alice_, lot, Eur(100)), Code::kFailedPrecondition, "guard:", kBidRefused));
  clock_.Set(static_cast<uint64_t>(opens - 1));
  EXPECT_TRUE(
      Refused(Bid(alice_, lot, Eur(100)), Code::kFailedPrecondition, "guard:", kBidRefused));
  clock_.Set(static_cast<uint64_t>(opens));
  ASSERT_OK(Bid(alice_, lot, Eur(100)));
  SyncAll();
  EXPECT_EQ(ListOf(bob_, lot, "bids").size(), 1u);
  ExpectConverged();
}

TEST_F(AuctionsTest, OpeningChecksTheTermsAndOnlyTheAuctioneerChangesThem) {
  const int64_t now = Now();
  constexpr char kTerms[] = "needs a closing time after its opening time and still ahead";
  RecordId backwards = Lot(alice_, "forward", Eur(100), Eur(10), now + kHour, now + kMinute);
  EXPECT_TRUE(
      Refused(alice_->Transition(backwards, "open"), Code::kFailedPrecondition, "guard:", kTerms));
  RecordId past = Lot(alice_, "forward", Eur(100), Eur(10), now - kHour, now - kMinute);
  EXPECT_TRUE(
      Refused(alice_->Transition(past, "open"), Code::kFailedPrecondition, "guard:", kTerms));
  RecordId no_increment = Lot(alice_, "forward", Eur(100), Eur(0), now, now + kHour);
  EXPECT_TRUE(Refused(alice_->Transition(no_increment, "open"), Code::kFailedPrecondition,
                      "guard:", kTerms));
  RecordId dollars = Lot(alice_, "forward", Eur(100), Money{10, "USD"}, now, now + kHour);
  EXPECT_TRUE(
      Refused(alice_->Transition(dollars, "open"), Code::kFailedPrecondition, "guard:", kTerms));
  EXPECT_TRUE(BadField(alice_
                           ->CreateRecord("lot", {{"title", "x"},
                                                  {"kind", "dutch"},
                                                  {"reserve", Eur(1)},
                                                  {"min_increment", Eur(1)},
                                                  {"opens_at", now},
                                                  {"closes_at", now + 1}})
                           .status(),
                       "kind"));

  // A draft's terms are changed by its creator or an owner only.
  SyncAll();
  constexpr char kWho[] = "only the lot's creator or an owner changes a lot";
  EXPECT_TRUE(
      Refused(bob_->Set(dollars, "title", "mine"), Code::kFailedPrecondition, "guard:", kWho));
  EXPECT_TRUE(Refused(bob_->Archive(dollars), Code::kFailedPrecondition, "guard:", kWho));
  ASSERT_OK(owner_->Set(dollars, "min_increment", Eur(10)));
  SyncAll();
  ASSERT_OK(alice_->Set(dollars, "title", "Surplus pallets"));
  ASSERT_OK(alice_->Transition(dollars, "open"));
  EXPECT_TRUE(Refused(alice_->Set(dollars, "title", "x"), Code::kFailedPrecondition, "state:"));

  // Bidders may append bids to an open lot, but not archive it: that would end the auction
  // (an archived record takes no more bids) behind the auctioneer's back.
  SyncAll();
  ASSERT_OK(Bid(bob_, dollars, Eur(100)));
  EXPECT_TRUE(Refused(bob_->Archive(dollars), Code::kFailedPrecondition, "guard:", kWho));
  EXPECT_FALSE(View(bob_, dollars).archived);

  // Cancel: creator or owner, with a reason; then no bids. Transitions() says so before the
  // reason is typed: a required input does not hide a guard that reads no input.
  SyncAll();
  auto offered = [&](TestDevice& d, const std::string& name) {
    for (const TransitionCheck& t : d->Transitions(dollars)) {
      if (t.name == name) return t.verdict;
    }
    return Status(Code::kNotFound, "no transition " + name);
  };
  EXPECT_TRUE(Refused(offered(bob_, "cancel"), Code::kFailedPrecondition,
                      "guard:", "only the lot's creator or an owner"));
  EXPECT_TRUE(offered(alice_, "cancel").ok()) << offered(alice_, "cancel").ToString();
  EXPECT_TRUE(offered(owner_, "cancel").ok()) << offered(owner_, "cancel").ToString();
  EXPECT_TRUE(Refused(bob_->Transition(dollars, "cancel", {{"cancel_reason", "x"}}),
                      Code::kFailedPrecondition, "guard:", "only the lot's creator or an owner"));
  EXPECT_TRUE(BadField(alice_->Transition(dollars, "cancel"), "cancel_reason"));
  ASSERT_OK(alice_->Transition(dollars, "cancel", {{"cancel_reason", "withdrawn"}}));
  EXPECT_EQ(State(alice_, dollars), "cancelled");
  EXPECT_EQ(FieldOf(alice_, dollars, "cancel_reason"), Value("withdrawn"));
  SyncAll();
  EXPECT_TRUE(Refused(Bid(bob_, dollars, Eur(1000)), Code::kFailedPrecondition, "state:"));
  EXPECT_TRUE(Refused(owner_->Transition(dollars, "open"), Code::kFailedPrecondition, "state:"));
  EXPECT_TRUE(Refused(owner_->Transition(dollars, "close"), Code::kFailedPrecondition, "state:"));
  ASSERT_OK(owner_->Transition(past, "cancel", {{"cancel_reason", "bad dates"}}));  // an owner
}

// Bids are judged in their own causal past (decision 0004): two bidders partitioned from each
// other each only have to beat the bids *they* saw. So two concurrent bids that each beat the best
// bid their author saw by the increment are both kept, even when they do not beat each other by
// the increment (110 and 115 here, increment 10), and even when they are equal. That is the
// expected behaviour of causal-past rules: no peer can know of a bid its author never saw, and
// every peer keeps the same set of valid bids. The winner is then computed from that set — the
// best bid, and on a tie the earlier one in stamp order — so every peer shows the same winner.
TEST_F(AuctionsTest, ConcurrentBidsWhilePartitionedAreBothKeptAndTheWinnerAgrees) {
  const int64_t closes = Now() + kHour;
  RecordId lot = Lot(owner_, "forward", Eur(10000), Eur(1000), Now(), closes);
  ASSERT_OK(owner_->Transition(lot, "open"));
  SyncAll();
  ASSERT_OK(Bid(bob_, lot, Eur(10000)));
  SyncAll();

  // Partitioned: both saw 100.00; each beats it by the increment, not each other.
  clock_.Advance(1000);
  ASSERT_OK(Bid(alice_, lot, Eur(11000)));
  clock_.Advance(1000);
  ASSERT_OK(Bid(bob_, lot, Eur(11500)));
  // Each sees only its own.
  EXPECT_EQ(ComputedOf(alice_, lot, "best_bid"), Value(Eur(11000)));
  EXPECT_EQ(ComputedOf(bob_, lot, "best_bid"), Value(Eur(11500)));
  SyncAll();
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    EXPECT_EQ(ListOf(*d, lot, "bids"),
              (std::vector<Value>{Value(Eur(10000)), Value(Eur(11000)), Value(Eur(11500))}));
    EXPECT_EQ(ComputedOf(*d, lot, "best_bid"), Value(Eur(11500)));
  }
  ExpectConverged();
  // Now that both are seen, a bid must beat 115.00 by the increment.
  EXPECT_TRUE(
      Refused(Bid(alice_, lot, Eur(12000)), Code::kFailedPrecondition, "guard:", kBidRefused));

  // Partitioned again, an equal pair: the earlier bid (alice's) wins the tie.
  clock_.Advance(1000);
  ASSERT_OK(Bid(alice_, lot, Eur(13000)));
  clock_.Advance(1000);
  ASSERT_OK(Bid(bob_, lot, Eur(13000)));
  clock_.Set(static_cast<uint64_t>(closes));
  ASSERT_OK(owner_->Transition(lot, "close"));  // the owner saw neither of the two
  EXPECT_EQ(ComputedOf(owner_, lot, "winner"), MemberValue(bob_));
  EXPECT_EQ(ComputedOf(owner_, lot, "winning_bid"), Value(Eur(11500)));
  SyncAll();
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    SCOPED_TRACE(d->identity.card().name);
    EXPECT_EQ(ListOf(*d, lot, "bids").size(), 5u);
    EXPECT_EQ(State(*d, lot), "closed");
    EXPECT_EQ(ComputedOf(*d, lot, "winner"), MemberValue(alice_));
    EXPECT_EQ(ComputedOf(*d, lot, "winning_bid"), Value(Eur(13000)));
  }
  ExpectConverged();
}

TEST_F(AuctionsTest, ForgedBidsAreRefusedByTheOtherPeers) {
  const int64_t closes = Now() + kHour;
  RecordId lot = Lot(owner_, "forward", Eur(10000), Eur(500), Now(), closes);
  ASSERT_OK(owner_->Transition(lot, "open"));
  auto bid = [&](int64_t minor, const char* currency) {
    Batch b(bob_);
    auto* op = b.Op(wire::v1::APPEND, lot);
    op->set_field(b.Str("bids"));
    op->mutable_value()->mutable_money()->set_minor(minor);
    op->mutable_value()->mutable_money()->set_currency(currency);
    return b;
  };
  DeltaForge forge = Forger();
  ExpectRefusedByPeers(forge, bid(9000, "EUR"), kBidRefused, "below the reserve");
  ExpectRefusedByPeers(forge, bid(20000, "USD"), kBidRefused, "another currency");
  // The same forger's valid bid is accepted by both: the refusals were the rules'.
  {
    Bytes ok = forge.Forge(bid(10000, "EUR").batch(), bob_.random());
    for (TestDevice* peer : {&owner_, &alice_}) {
      EXPECT_EQ(peer->workspace->Apply(std::vector<Bytes>{ok}).invalid, 0u);
    }
    EXPECT_EQ(ListOf(alice_, lot, "bids"), std::vector<Value>{Value(Eur(10000))});
  }
  // After the closing time (as the owner's next delta carries it, which the forger builds on), a
  // bid that would otherwise be valid is refused by its own timestamp.
  clock_.Set(static_cast<uint64_t>(closes + kMinute));
  Advance(forge);
  ExpectRefusedByPeers(forge, bid(20000, "EUR"), kBidRefused, "after the close");
  EXPECT_EQ(ListOf(owner_, lot, "bids"), std::vector<Value>{Value(Eur(10000))});
}

// ------------------------------------------------------------------------------------------------
// Auctions, sealed-bid mode (docs/decisions/0007-sealed-bids.md)
// ------------------------------------------------------------------------------------------------

constexpr char kSealedRefused[] = "sealed bid refused";
constexpr char kOpeningRefused[] = "opening refused";
constexpr char kAwardRefused[] = "only once every sealed bid is opened";

class SealedAuctionsTest : public AuctionsTest {
 protected:
  RecordId SealedLot(TestDevice& d, Money reserve, int64_t closes_at, int64_t reveal_until) {
    return Create(d, "lot",
                  {{"title", "Sealed lot"},
                   {"kind", "forward"},
                   {"reserve", std::move(reserve)},
                   {"min_increment", Eur(100)},
                   {"opens_at", Now()},
                   {"closes_at", closes_at},
                   {"sealed", true},
                   {"reveal_until", reveal_until}});
  }
  std::vector<std::string> SealedTexts(TestDevice& d, const RecordId& lot,
                                       const std::string& field = "sealed_bids") {
    std::vector<std::string> out;
    for (const Value& v : ListOf(d, lot, field)) {
      const auto* text = std::get_if<std::string>(&v.v);
      EXPECT_NE(text, nullptr) << field << " holds a " << v.DebugString();
      if (text) out.push_back(*text);
    }
    return out;
  }
  static sealed::Bid ParsedBid(const std::string& text) {
    auto bid = sealed::ParseBid(text);
    EXPECT_TRUE(bid.has_value()) << text;
    return bid.value_or(sealed::Bid{});
  }
  // Same deltas and same state on all three (forged deltas among them are reported problems).
  void ExpectSameState() {
    EXPECT_EQ(owner_->digests().version, alice_->digests().version);
    EXPECT_EQ(owner_->digests().version, bob_->digests().version);
    EXPECT_EQ(owner_->digests().state, alice_->digests().state);
    EXPECT_EQ(owner_->digests().state, bob_->digests().state);
  }
  // How many openings `d` publishes; 99 when it fails.
  size_t Revealed(TestDevice& d, const RecordId& lot) {
    auto n = d->RevealSealedBids(lot);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : 99;
  }
  // A batch appending `text` to `field` of `lot`, by bob.
  Batch AppendText(const RecordId& lot, const std::string& field, const std::string& text) {
    Batch b(bob_);
    auto* op = b.Op(wire::v1::APPEND, lot);
    op->set_field(b.Str(field));
    op->mutable_value()->set_text(text);
    return b;
  }
  // Bob's sealed bid of `amount` on `lot`, run by `auctioneer`, made without his replica.
  std::string BobsSealedBid(const RecordId& lot, const TestDevice& auctioneer, Money amount) {
    auto text =
        sealed::Seal(lot, bob_.identity.device(), auctioneer.identity.agreement_key().public_key(),
                     bob_.identity.agreement_key().public_key(), amount, bob_.random());
    EXPECT_TRUE(text.ok()) << text.status().ToString();
    return text.ok() ? *text : std::string();
  }
};

TEST_F(SealedAuctionsTest, SealedBidsAreHiddenFromEveryoneButTheAuctioneer) {
  const int64_t closes = Now() + kHour;
  RecordId lot = SealedLot(owner_, Eur(10000), closes, closes + kHour);
  ASSERT_OK(owner_->Transition(lot, "open"));
  SyncAll();
  ASSERT_OK(alice_->PlaceSealedBid(lot, Eur(15000)));
  clock_.Advance(1000);
  ASSERT_OK(bob_->PlaceSealedBid(lot, Eur(20000)));
  // A sealed lot takes no open bids, and the auctioneer does not bid on its own lot.
  EXPECT_TRUE(
      Refused(Bid(alice_, lot, Eur(30000)), Code::kFailedPrecondition, "guard:", kBidRefused));
  EXPECT_TRUE(Refused(owner_->PlaceSealedBid(lot, Eur(30000)), Code::kFailedPrecondition,
                      "guard:", kSealedRefused));
  // Nothing can be opened before the close.
  EXPECT_TRUE(Refused(alice_->RevealSealedBids(lot).status(), Code::kFailedPrecondition,
                      "state:", "openings"));
  SyncAll();
  ExpectConverged();

  // Every replica holds the two sealed bids, and no amount: no money in any list, field or
  // computed field beyond the lot's terms, and not the amounts' bytes either.
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    SCOPED_TRACE(d->identity.card().name);
    RecordView v = View(*d, lot);
    EXPECT_TRUE(ListOf(*d, lot, "bids").empty());
    EXPECT_TRUE(ListOf(*d, lot, "openings").empty());
    ASSERT_EQ(SealedTexts(*d, lot).size(), 2u);
    for (const auto& [name, value] : v.fields) {
      if (name != "reserve" && name != "min_increment") {
        EXPECT_FALSE(std::holds_alternative<Money>(value.v)) << name;
      }
    }
    for (const auto& [name, value] : v.computed) {
      EXPECT_FALSE(std::holds_alternative<Money>(value.v)) << name;
    }
    for (const std::string& text : SealedTexts(*d, lot)) {
      auto raw = Base64UrlDecode(text);
      ASSERT_TRUE(raw.has_value());
      for (int64_t amount : {15000, 20000}) {
        Bytes be;
        for (int shift = 56; shift >= 0; shift -= 8) be.push_back(uint8_t(amount >> shift));
        EXPECT_EQ(std::search(raw->begin(), raw->end(), be.begin(), be.end()), raw->end());
      }
      EXPECT_EQ(text.find("EUR"), std::string::npos);
    }
  }
  const std::vector<std::string> texts = SealedTexts(bob_, lot);
  const sealed::Bid alices = ParsedBid(texts[0]), bobs = ParsedBid(texts[1]);
  const DeviceId& alice = alice_.identity.device();
  const DeviceId& bob = bob_.identity.device();
  // Another bidder cannot open a bid; the auctioneer and the bidder itself can.
  EXPECT_FALSE(sealed::Open(alices, bob_.identity.agreement_key(), lot, alice).has_value());
  EXPECT_FALSE(sealed::Open(bobs, alice_.identity.agreement_key(), lot, bob).has_value());
  auto by_owner = sealed::Open(alices, owner_.identity.agreement_key(), lot, alice);
  ASSERT_TRUE(by_owner.has_value());
  EXPECT_EQ(by_owner->amount, Eur(15000));
  auto by_alice = sealed::Open(alices, alice_.identity.agreement_key(), lot, alice);
  ASSERT_TRUE(by_alice.has_value());
  EXPECT_EQ(by_alice->amount, Eur(15000));
  // The commitment binds the bidder: alice's bid does not open as bob's.
  EXPECT_FALSE(sealed::Open(alices, owner_.identity.agreement_key(), lot, bob).has_value());
}

TEST_F(SealedAuctionsTest, ForgedSealedBidsAreRefusedByEveryPeer) {
  const int64_t closes = Now() + kHour;
  RecordId lot = SealedLot(owner_, Eur(10000), closes, closes + kHour);
  ASSERT_OK(owner_->Transition(lot, "open"));
  RecordId bobs_lot = SealedLot(bob_, Eur(10000), closes, closes + kHour);
  ASSERT_OK(bob_->Transition(bobs_lot, "open"));
  DeltaForge forge = Forger();
  ExpectRefusedByPeers(forge,
                       AppendText(bobs_lot, "sealed_bids", BobsSealedBid(bobs_lot, bob_, Eur(1))),
                       kSealedRefused, "the auctioneer bids on its own lot");
  ExpectRefusedByPeers(forge, AppendText(lot, "sealed_bids", "not a sealed bid"), kSealedRefused,
                       "malformed");
  ExpectRefusedByPeers(forge, AppendText(lot, "bids", "x"), "", "open bid of the wrong kind");
  // The same forger's well-formed sealed bid is accepted by both.
  {
    Bytes ok =
        forge.Forge(AppendText(lot, "sealed_bids", BobsSealedBid(lot, owner_, Eur(12000))).batch(),
                    bob_.random());
    for (TestDevice* peer : {&owner_, &alice_}) {
      EXPECT_EQ(peer->workspace->Apply(std::vector<Bytes>{ok}).invalid, 0u);
    }
    EXPECT_EQ(SealedTexts(alice_, lot).size(), 1u);
  }
  // After the closing time, by the bid's own timestamp.
  clock_.Set(static_cast<uint64_t>(closes + kMinute));
  Advance(forge);
  ExpectRefusedByPeers(forge,
                       AppendText(lot, "sealed_bids", BobsSealedBid(lot, owner_, Eur(13000))),
                       kSealedRefused, "after the close");
  EXPECT_EQ(SealedTexts(owner_, lot).size(), 1u);
}

TEST_F(SealedAuctionsTest, OpeningsAreVerifiedAndEveryPeerAwardsTheSameWinner) {
  const int64_t closes = Now() + kHour;
  RecordId lot = SealedLot(owner_, Eur(10000), closes, closes + kHour);
  ASSERT_OK(owner_->Transition(lot, "open"));
  SyncAll();
  ASSERT_OK(alice_->PlaceSealedBid(lot, Eur(15000)));
  ASSERT_OK(alice_->PlaceSealedBid(lot, Eur(9000)));  // below the reserve: opened, not eligible
  ASSERT_OK(bob_->PlaceSealedBid(lot, Eur(20000)));
  ASSERT_OK(bob_->PlaceSealedBid(lot, Money{99900, "USD"}));  // another currency: not eligible
  SyncAll();
  clock_.Set(static_cast<uint64_t>(closes));
  ASSERT_OK(owner_->Transition(lot, "close"));
  EXPECT_TRUE(Refused(owner_->Transition(lot, "award"), Code::kFailedPrecondition,
                      "guard:", kAwardRefused));
  EXPECT_TRUE(ComputedOf(owner_, lot, "winner").is_null());

  // Wrong openings, signed by bob, are refused by both other peers.
  const std::vector<std::string> texts = SealedTexts(bob_, lot);
  ASSERT_EQ(texts.size(), 4u);
  auto bobs_opening =
      sealed::Open(ParsedBid(texts[2]), bob_.identity.agreement_key(), lot, bob_.identity.device());
  ASSERT_TRUE(bobs_opening.has_value());
  DeltaForge forge = Forger();
  {
    sealed::Opening more = *bobs_opening;
    more.amount = Eur(25000);  // a higher amount than committed to
    ExpectRefusedByPeers(forge, AppendText(lot, "openings", sealed::EncodeOpening(more)),
                         kOpeningRefused, "wrong amount");
    sealed::Opening other = *bobs_opening;
    other.commitment = ParsedBid(texts[0]).commitment;  // alice's bid, bob's amount
    ExpectRefusedByPeers(forge, AppendText(lot, "openings", sealed::EncodeOpening(other)),
                         kOpeningRefused, "another bidder's commitment");
    ExpectRefusedByPeers(forge, AppendText(lot, "openings", "garbage"), kOpeningRefused,
                         "malformed");
  }

  // The auctioneer opens every bid; doing it again publishes nothing new.
  auto published = owner_->RevealSealedBids(lot);
  ASSERT_OK(published.status());
  EXPECT_EQ(*published, 4u);
  EXPECT_EQ(Revealed(owner_, lot), 0u);
  SyncAll();
  // A second opening of an opened bid is refused.
  EXPECT_TRUE(Refused(bob_->Append(lot, "openings", sealed::EncodeOpening(*bobs_opening)),
                      Code::kFailedPrecondition, "guard:", kOpeningRefused));
  ASSERT_OK(owner_->Transition(lot, "award"));
  SyncAll();
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    SCOPED_TRACE(d->identity.card().name);
    EXPECT_EQ(State(*d, lot), "awarded");
    EXPECT_EQ(ComputedOf(*d, lot, "winner"), MemberValue(bob_));
    EXPECT_EQ(ComputedOf(*d, lot, "winning_bid"), Value(Eur(20000)));
  }
  ExpectSameState();
}

TEST_F(SealedAuctionsTest, AnAuctioneerCannotLeaveOutAValidBid) {
  // Bob runs this lot, and would like alice to win it.
  const int64_t closes = Now() + kHour;
  RecordId lot = SealedLot(bob_, Eur(10000), closes, closes + kHour);
  ASSERT_OK(bob_->Transition(lot, "open"));
  SyncAll();
  ASSERT_OK(alice_->PlaceSealedBid(lot, Eur(15000)));
  ASSERT_OK(owner_->PlaceSealedBid(lot, Eur(30000)));  // an owner who is not the creator bids
  SyncAll();
  clock_.Set(static_cast<uint64_t>(closes));
  ASSERT_OK(bob_->Transition(lot, "close"));
  SyncAll();

  // Bob publishes only alice's opening and awards.
  const std::vector<std::string> texts = SealedTexts(bob_, lot);
  ASSERT_EQ(texts.size(), 2u);
  auto alices = sealed::Open(ParsedBid(texts[0]), bob_.identity.agreement_key(), lot,
                             alice_.identity.device());
  ASSERT_TRUE(alices.has_value());
  ASSERT_OK(bob_->Append(lot, "openings", sealed::EncodeOpening(*alices)));
  EXPECT_TRUE(
      Refused(bob_->Transition(lot, "award"), Code::kFailedPrecondition, "guard:", kAwardRefused));
  // Forged, with the sub-ops his award would need, it is refused by both other peers.
  DeltaForge forge = Forger();
  {
    Batch b(bob_);
    auto* t = b.Op(wire::v1::TRANSITION, lot);
    t->set_name(b.Str("award"));
    t->set_effects(2);
    auto* winner = b.Op(wire::v1::SET, lot);
    winner->set_field(b.Str("sealed_winner"));
    const Bytes alice = DevBytes(alice_);
    winner->mutable_value()->set_blob(alice.data(), alice.size());
    auto* amount = b.Op(wire::v1::SET, lot);
    amount->set_field(b.Str("sealed_winning_bid"));
    amount->mutable_value()->mutable_money()->set_minor(15000);
    amount->mutable_value()->mutable_money()->set_currency("EUR");
    ExpectRefusedByPeers(forge, b, kAwardRefused, "award leaving out the owner's bid");
  }
  // The owner publishes its own opening (its box to itself); the award then counts it.
  auto own = owner_->RevealSealedBids(lot);
  ASSERT_OK(own.status());
  EXPECT_EQ(*own, 1u);
  SyncAll();
  ASSERT_OK(bob_->Transition(lot, "award"));
  SyncAll();
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    SCOPED_TRACE(d->identity.card().name);
    EXPECT_EQ(ListOf(*d, lot, "openings").size(), 2u);
    EXPECT_EQ(ComputedOf(*d, lot, "winner"), MemberValue(owner_));
    EXPECT_EQ(ComputedOf(*d, lot, "winning_bid"), Value(Eur(30000)));
  }
  ExpectSameState();
}

TEST_F(SealedAuctionsTest, AfterTheRevealDeadlineUnopenedBidsAreForfeit) {
  const int64_t closes = Now() + kHour;
  const int64_t reveal_until = closes + kHour;
  RecordId lot = SealedLot(owner_, Eur(10000), closes, reveal_until);
  // A reveal deadline after the close is required.
  RecordId bad = SealedLot(owner_, Eur(10000), closes, closes);
  EXPECT_TRUE(Refused(owner_->Transition(bad, "open"), Code::kFailedPrecondition,
                      "guard:", "a reveal deadline after the close"));
  ASSERT_OK(owner_->Transition(lot, "open"));
  SyncAll();
  ASSERT_OK(alice_->PlaceSealedBid(lot, Eur(15000)));
  // Bob seals a well-formed bid whose boxes hold another amount than its commitment: nobody
  // can open it, and only the auctioneer could tell why.
  sealed::Bid cheat = ParsedBid(BobsSealedBid(lot, owner_, Eur(50000)));
  cheat.commitment[0] ^= 1;
  ASSERT_OK(bob_->Append(lot, "sealed_bids", Value(sealed::EncodeBid(cheat))));
  SyncAll();
  clock_.Set(static_cast<uint64_t>(closes));
  ASSERT_OK(owner_->Transition(lot, "close"));
  EXPECT_EQ(Revealed(owner_, lot), 1u);  // alice's only
  SyncAll();
  EXPECT_EQ(Revealed(bob_, lot), 0u);
  EXPECT_TRUE(Refused(owner_->Transition(lot, "award"), Code::kFailedPrecondition,
                      "guard:", kAwardRefused));
  clock_.Set(static_cast<uint64_t>(reveal_until));
  ASSERT_OK(owner_->Transition(lot, "award"));
  SyncAll();
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    SCOPED_TRACE(d->identity.card().name);
    EXPECT_EQ(State(*d, lot), "awarded");
    EXPECT_EQ(ComputedOf(*d, lot, "winner"), MemberValue(alice_));
    EXPECT_EQ(ComputedOf(*d, lot, "winning_bid"), Value(Eur(15000)));
  }
  ExpectConverged();
}

// ================================================================================================
// Service cases
// ================================================================================================

class ServiceTest : public BuiltinToolsTest {
 protected:
  void SetUp() override { Start({"inventory", "purchasing", "service"}); }
  RecordId Case(TestDevice& d) {
    return Create(d, "case", {{"title", "Pump leaks"}, {"customer", "Stadtwerke"}});
  }
};

TEST_F(ServiceTest, CaseLifecycle) {
  EXPECT_TRUE(BadField(alice_->CreateRecord("case", {{"title", "x"}}).status(), "customer"));
  EXPECT_TRUE(BadField(
      alice_->CreateRecord("case", {{"title", "x"}, {"customer", "y"}, {"priority", "asap"}})
          .status(),
      "priority"));
  EXPECT_TRUE(BadField(
      alice_->CreateRecord("case", {{"title", "x"}, {"customer", "y"}, {"due", "31.12.2024"}})
          .status(),
      "due"));
  RecordId c = Case(alice_);
  EXPECT_EQ(State(alice_, c), "new");
  EXPECT_EQ(FieldOf(alice_, c, "priority"), Value("normal"));
  ASSERT_OK(alice_->Set(c, "priority", "urgent"));
  ASSERT_OK(alice_->Set(c, "due", "2024-12-31"));
  EXPECT_TRUE(
      Refused(alice_->Set(c, "assignee", MemberValue(alice_)), Code::kPermissionDenied, "field"));
  EXPECT_TRUE(Refused(alice_->Set(c, "resolution", "done"), Code::kPermissionDenied, "field"));
  for (const char* name : {"wait", "resume", "resolve", "reopen", "close"}) {
    EXPECT_TRUE(Refused(alice_->Transition(c, name), Code::kFailedPrecondition, "state:")) << name;
  }
  SyncAll();

  // Opening assigns whoever opens it.
  ASSERT_OK(bob_->Transition(c, "open"));
  EXPECT_EQ(State(bob_, c), "open");
  EXPECT_EQ(FieldOf(bob_, c, "assignee"), MemberValue(bob_));
  SyncAll();
  EXPECT_TRUE(BadField(alice_->Transition(c, "assign"), "assignee"));
  EXPECT_TRUE(BadField(alice_->Transition(c, "assign", {{"assignee", "owner"}}), "assignee"));
  ASSERT_OK(alice_->Transition(c, "assign", {{"assignee", MemberValue(owner_)}}));
  EXPECT_EQ(FieldOf(alice_, c, "assignee"), MemberValue(owner_));
  EXPECT_EQ(State(alice_, c), "open");

  EXPECT_TRUE(BadField(alice_->Transition(c, "wait"), "waiting_on"));
  ASSERT_OK(alice_->Transition(c, "wait", {{"waiting_on", "customer: photos of the seal"}}));
  EXPECT_EQ(State(alice_, c), "waiting");
  EXPECT_EQ(FieldOf(alice_, c, "waiting_on"), Value("customer: photos of the seal"));
  EXPECT_TRUE(Refused(alice_->Transition(c, "assign", {{"assignee", MemberValue(bob_)}}),
                      Code::kFailedPrecondition, "state:"));
  EXPECT_TRUE(Refused(alice_->Transition(c, "wait", {{"waiting_on", "x"}}),
                      Code::kFailedPrecondition, "state:"));
  ASSERT_OK(alice_->Transition(c, "resume"));
  EXPECT_EQ(State(alice_, c), "open");
  EXPECT_TRUE(FieldOf(alice_, c, "waiting_on").is_null());
  ASSERT_OK(alice_->Transition(c, "wait", {{"waiting_on", "supplier"}}));

  // Resolve (from waiting), with a resolution; it clears what it waited on.
  EXPECT_TRUE(Refused(alice_->Transition(c, "close"), Code::kFailedPrecondition, "state:"));
  EXPECT_TRUE(BadField(alice_->Transition(c, "resolve"), "resolution"));
  ASSERT_OK(alice_->Transition(c, "resolve", {{"resolution", "seal replaced"}}));
  EXPECT_EQ(State(alice_, c), "resolved");
  EXPECT_EQ(FieldOf(alice_, c, "resolution"), Value("seal replaced"));
  EXPECT_TRUE(FieldOf(alice_, c, "waiting_on").is_null());
  EXPECT_TRUE(Refused(alice_->Transition(c, "resume"), Code::kFailedPrecondition, "state:"));
  SyncAll();
  // Reopen clears the resolution.
  ASSERT_OK(bob_->Transition(c, "reopen"));
  EXPECT_EQ(State(bob_, c), "open");
  EXPECT_TRUE(FieldOf(bob_, c, "resolution").is_null());
  ASSERT_OK(bob_->Transition(c, "resolve", {{"resolution", "pump replaced"}}));  // from open
  ASSERT_OK(bob_->Transition(c, "close"));
  EXPECT_EQ(State(bob_, c), "closed");
  EXPECT_EQ(View(bob_, c).history,
            (std::vector<std::string>{"open", "assign", "wait", "resume", "wait", "resolve",
                                      "reopen", "resolve", "close"}));

  // Closed: nothing changes any more.
  constexpr char kClosed[] = "a closed case cannot be changed";
  EXPECT_TRUE(Refused(bob_->Append(c, "comments", "still leaking"), Code::kFailedPrecondition,
                      "guard:", kClosed));
  EXPECT_TRUE(
      Refused(bob_->Set(c, "priority", "low"), Code::kFailedPrecondition, "guard:", kClosed));
  EXPECT_TRUE(Refused(bob_->Archive(c), Code::kFailedPrecondition, "guard:", kClosed));
  for (const char* name : {"open", "reopen", "resolve", "close", "resume"}) {
    EXPECT_TRUE(Refused(bob_->Transition(c, name), Code::kFailedPrecondition, "state:")) << name;
  }
  EXPECT_TRUE(Refused(bob_->Transition(c, "assign", {{"assignee", MemberValue(bob_)}}),
                      Code::kFailedPrecondition, "state:"));
  SyncAll();
  EXPECT_EQ(State(owner_, c), "closed");
  EXPECT_EQ(FieldOf(owner_, c, "resolution"), Value("pump replaced"));
  ExpectConverged();
}

TEST_F(ServiceTest, CommentsAreAppendOnlyAndNotEmpty) {
  RecordId c = Case(owner_);
  SyncAll();
  Status empty = alice_->Append(c, "comments", "");
  EXPECT_TRUE(Refused(empty, Code::kFailedPrecondition, "guard:", "a comment cannot be empty"));
  EXPECT_EQ(empty.where(), "fields.comments");
  EXPECT_TRUE(BadField(alice_->Append(c, "comments", int64_t{5}), "comments"));
  // No set, no add: only append.
  EXPECT_TRUE(BadField(alice_->Set(c, "comments", "replaced"), "comments"));
  EXPECT_TRUE(BadField(alice_->Add(c, "comments", 1), "comments"));
  // Concurrent comments are all kept, in stamp order, each with its author.
  ASSERT_OK(alice_->Append(c, "comments", "called the customer"));
  clock_.Advance(5);
  ASSERT_OK(bob_->Append(c, "comments", "ordered a seal"));
  SyncAll();
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    EXPECT_EQ(ListOf(*d, c, "comments"),
              (std::vector<Value>{Value("called the customer"), Value("ordered a seal")}));
  }
  // Attachments are content hashes (32 bytes).
  Value hash;
  hash.v = Bytes(32, 0xab);
  ASSERT_OK(owner_->Append(c, "attachments", hash));
  Value bad;
  bad.v = Bytes(3, 0xab);
  EXPECT_TRUE(BadField(owner_->Append(c, "attachments", bad), "attachments"));
  SyncAll();
  EXPECT_EQ(ListOf(bob_, c, "attachments"), std::vector<Value>{hash});
  ExpectConverged();
}

TEST_F(ServiceTest, LinksToItemsAndOrders) {
  RecordId item = Item(owner_, "P-7");
  RecordId supplier = Create(owner_, "supplier", {{"name", "ACME"}});
  RecordId order = Create(owner_, "purchase_order",
                          {{"number", "PO-1"}, {"supplier", supplier}, {"location", "Main"}});
  SyncAll();
  RecordId c = Case(alice_);
  ASSERT_OK(alice_->Append(c, "items", item));
  ASSERT_OK(alice_->Append(c, "orders", order));
  EXPECT_TRUE(BadField(alice_->Append(c, "items", order), "items"));   // not an item
  EXPECT_TRUE(BadField(alice_->Append(c, "orders", item), "orders"));  // not an order
  EXPECT_TRUE(BadField(alice_->Append(c, "items", "P-7"), "items"));   // not a reference
  RecordId nowhere{owner_.identity.device(), 999};
  EXPECT_FALSE(alice_->Append(c, "items", nowhere).ok());
  // Links are add-only: a second link adds, nothing replaces.
  ASSERT_OK(alice_->Append(c, "items", item));
  EXPECT_TRUE(BadField(alice_->Set(c, "items", item), "items"));
  SyncAll();
  EXPECT_EQ(ListOf(bob_, c, "items"), (std::vector<Value>{Value(item), Value(item)}));
  EXPECT_EQ(ListOf(owner_, c, "orders"), std::vector<Value>{Value(order)});
  ExpectConverged();
}

// docs/tools.md: a `member` field holds a device that "must be a member of the workspace".
TEST_F(ServiceTest, TheAssigneeMustBeAMember) {
  RecordId c = Case(owner_);
  Value stranger;
  stranger.v = Bytes(32, 0x42);
  Status s = owner_->Transition(c, "assign", {{"assignee", stranger}});
  EXPECT_TRUE(BadField(s, "assignee"));
  EXPECT_NE(s.message().find("not a member"), std::string::npos) << s.ToString();
  EXPECT_EQ(State(owner_, c), "new");
  ASSERT_OK(owner_->Transition(c, "assign", {{"assignee", MemberValue(bob_)}}));
  SyncAll();
  EXPECT_EQ(FieldOf(alice_, c, "assignee"), MemberValue(bob_));
  ExpectConverged();
}

// A required input given as empty text is not given: a case is not resolved with "".
TEST_F(ServiceTest, AnEmptyRequiredInputIsRefused) {
  RecordId c = Case(owner_);
  ASSERT_OK(owner_->Transition(c, "open"));
  EXPECT_TRUE(BadField(owner_->Transition(c, "resolve", {{"resolution", ""}}), "resolution"));
  EXPECT_EQ(State(owner_, c), "open");
  ASSERT_OK(owner_->Transition(c, "resolve", {{"resolution", "replaced the pump"}}));
  EXPECT_EQ(State(owner_, c), "resolved");
}

TEST_F(ServiceTest, ForgedRuleBreakingDeltasAreRefusedByTheOtherPeers) {
  RecordId open_case = Case(owner_);
  ASSERT_OK(owner_->Transition(open_case, "open"));
  RecordId closed = Case(owner_);
  ASSERT_OK(owner_->Transition(closed, "open"));
  ASSERT_OK(owner_->Transition(closed, "resolve", {{"resolution", "done"}}));
  ASSERT_OK(owner_->Transition(closed, "close"));
  DeltaForge forge = Forger();
  auto comment = [&](const RecordId& c, const std::string& text) {
    Batch b(bob_);
    auto* op = b.Op(wire::v1::APPEND, c);
    op->set_field(b.Str("comments"));
    op->mutable_value()->set_text(text);
    return b;
  };
  ExpectRefusedByPeers(forge, comment(closed, "reopening this myself"),
                       "a closed case cannot be changed", "comment on a closed case");
  ExpectRefusedByPeers(forge, comment(open_case, ""), "a comment cannot be empty", "empty comment");
  {  // Closed without being resolved.
    Batch b(bob_);
    auto* t = b.Op(wire::v1::TRANSITION, open_case);
    t->set_name(b.Str("close"));
    ExpectRefusedByPeers(forge, b, "state:", "close from open");
  }
  {  // Resolved without a resolution.
    Batch b(bob_);
    auto* t = b.Op(wire::v1::TRANSITION, open_case);
    t->set_name(b.Str("resolve"));
    t->set_effects(1);
    auto* clear = b.Op(wire::v1::SET, open_case);
    clear->set_field(b.Str("waiting_on"));
    ExpectRefusedByPeers(forge, b, "resolve needs input resolution", "resolve without resolution");
  }
  EXPECT_EQ(State(owner_, open_case), "open");
  EXPECT_EQ(State(alice_, closed), "closed");
  EXPECT_TRUE(ListOf(alice_, closed, "comments").empty());
}

}  // namespace
}  // namespace grove::replica
