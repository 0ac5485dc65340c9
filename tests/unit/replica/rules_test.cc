// The tools' rules in the merge: local refusals name the rule, and deltas that break a rule —
// forged with a valid signature by a member that skips its own checks — are refused by every
// peer alike, whatever else each peer has seen.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>

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

constexpr char kShop[] = R"yaml(tool: shop
version: 1
title: Shop
types:
  item:
    fields:
      sku: {type: text, required: true, max: 16}
      reorder_point: {type: integer, min: 0, default: 0}
      on_hand: {type: stock, keyed: true}
      low: {type: flag, computed: "level(record, 'on_hand') < record.reorder_point"}
  movement:
    fields:
      item: {type: reference, to: item, required: true}
      location: {type: text, required: true}
      quantity: {type: integer, required: true}
    states: [draft, posted]
    initial: draft
    edit_guard: "record.state == 'draft'"
    edit_message: "a posted movement cannot be changed"
    transitions:
      receive:
        from: [draft]
        to: posted
        guard: "record.quantity > 0"
        effects:
          - add: {record: "record.item", field: on_hand, key: "record.location", amount: "record.quantity"}
      issue:
        from: [draft]
        to: posted
        guard: "record.quantity > 0"
        effects:
          - add: {record: "record.item", field: on_hand, key: "record.location", amount: "-record.quantity"}
  order:
    fields:
      title: {type: text, required: true}
      amount: {type: money, required: true}
      approved_by: {type: member, readonly: true}
      cancel_reason: {type: text, readonly: true}
      notes: {type: list, of: text}
    states: [draft, submitted, approved, cancelled]
    initial: draft
    transitions:
      submit: {from: [draft], to: submitted}
      approve:
        from: [submitted]
        to: approved
        roles: [owner]
        guard: "not (actor in record.editors)"
        message: "nobody approves an order they created or changed"
        sets: {approved_by: actor}
      cancel:
        from: [draft, submitted]
        to: cancelled
        inputs: {cancel_reason: {required: true}}
)yaml";

tools::Tool Shop() {
  auto parsed = tools::ParseTool(kShop, "shop.yaml");
  for (const auto& d : parsed.diagnostics) ADD_FAILURE() << d.Text();
  return *parsed.tool;
}

class RulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    owner_.Create("shop", {Shop()});
    member_.Join(*owner_.workspace);
    other_.Join(*owner_.workspace);
    ASSERT_OK(owner_->AddMember(member_.identity.card(), Role::kMember));
    ASSERT_OK(owner_->AddMember(other_.identity.card(), Role::kMember));
    SyncPair(*owner_.workspace, *member_.workspace);
    SyncPair(*owner_.workspace, *other_.workspace);
  }

  RecordId Create(TestDevice& d, std::string_view type,
                  std::vector<std::pair<std::string, Value>> fields) {
    auto id = d->CreateRecord(type, fields);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : RecordId{};
  }

  RecordId Item(TestDevice& d) { return Create(d, "item", {{"sku", "A-1"}}); }
  RecordId Movement(TestDevice& d, const RecordId& item, std::string location, int64_t q) {
    return Create(d, "movement", {{"item", item}, {"location", location}, {"quantity", q}});
  }
  int64_t Stock(TestDevice& d, const RecordId& item, const std::string& location) {
    auto v = d->Get(item);
    if (!v) return -1;
    auto f = v->keyed.find("on_hand");
    if (f == v->keyed.end()) return 0;
    auto l = f->second.find(location);
    return l == f->second.end() ? 0 : l->second;
  }

  FakeClock clock_{1'700'000'000'000};
  TestDevice owner_{"owner", 1, clock_};
  TestDevice member_{"member", 2, clock_};
  TestDevice other_{"other", 3, clock_};
};

TEST_F(RulesTest, FieldsAreTypedAndRequired) {
  auto bad = owner_->CreateRecord("item", {{"sku", int64_t{7}}});
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.status().where(), "fields.sku");
  EXPECT_NE(bad.status().message().find("expected text"), std::string::npos);

  auto missing = owner_->CreateRecord("item", {});
  EXPECT_EQ(missing.status().where(), "fields.sku");

  auto unknown = owner_->CreateRecord("gadget", {});
  EXPECT_NE(unknown.status().message().find("not defined by this workspace's tools"),
            std::string::npos);

  auto too_long = owner_->CreateRecord("item", {{"sku", "0123456789abcdefXYZ"}});
  EXPECT_EQ(too_long.status().code(), Code::kInvalidArgument);

  RecordId item = Item(owner_);
  EXPECT_EQ(owner_->Get(item)->fields.at("reorder_point"), Value(int64_t{0}));  // the default
  EXPECT_EQ(owner_->Set(item, "reorder_point", int64_t{-1}).code(), Code::kInvalidArgument);
  EXPECT_EQ(owner_->Set(item, "colour", "red").code(), Code::kInvalidArgument);
  EXPECT_EQ(owner_->Set(item, "low", true).code(), Code::kInvalidArgument);  // computed
  EXPECT_EQ(owner_->Add(item, "sku", 1).code(), Code::kInvalidArgument);
  ASSERT_OK(owner_->Set(item, "reorder_point", int64_t{5}));
  EXPECT_EQ(owner_->Get(item)->computed.at("low"), Value(true));
}

TEST_F(RulesTest, TransitionsCheckStateRoleGuardAndInputs) {
  RecordId order = Create(member_, "order", {{"title", "paper"}, {"amount", Money{12000, "EUR"}}});
  Status wrong_state = member_->Transition(order, "cancel", {{"cancel_reason", "x"}});
  ASSERT_OK(wrong_state);
  RecordId cancelled = order;
  wrong_state = member_->Transition(cancelled, "submit");
  EXPECT_EQ(wrong_state.code(), Code::kFailedPrecondition);
  EXPECT_EQ(wrong_state.message().rfind("state:", 0), 0u) << wrong_state.ToString();
  order = Create(member_, "order", {{"title", "paper"}, {"amount", Money{12000, "EUR"}}});
  ASSERT_OK(member_->Transition(order, "submit"));
  EXPECT_EQ(member_->Get(order)->state, "submitted");

  Status role = member_->Transition(order, "approve");
  EXPECT_EQ(role.code(), Code::kPermissionDenied);
  EXPECT_EQ(role.message().rfind("role:", 0), 0u) << role.ToString();

  EXPECT_EQ(member_->Set(order, "approved_by", Value(std::string("x"))).code(),
            Code::kPermissionDenied);  // readonly

  // The owner created nothing here, but after changing the order it may not approve it.
  SyncPair(*member_.workspace, *owner_.workspace);
  ASSERT_OK(owner_->Append(order, "notes", "looks fine"));
  Status sod = owner_->Transition(order, "approve");
  EXPECT_EQ(sod.code(), Code::kFailedPrecondition);
  EXPECT_NE(sod.message().find("nobody approves an order they created or changed"),
            std::string::npos);

  RecordId second = Create(member_, "order", {{"title", "ink"}, {"amount", Money{500, "EUR"}}});
  ASSERT_OK(member_->Transition(second, "submit"));
  SyncPair(*member_.workspace, *owner_.workspace);
  ASSERT_OK(owner_->Transition(second, "approve"));
  auto approved = owner_->Get(second);
  EXPECT_EQ(approved->state, "approved");
  const auto& by = std::get<Bytes>(approved->fields.at("approved_by").v);
  EXPECT_EQ(Bytes(owner_.identity.device().begin(), owner_.identity.device().end()), by);

  Status no_reason = member_->Transition(order, "cancel");
  EXPECT_EQ(no_reason.code(), Code::kInvalidArgument);
  EXPECT_EQ(no_reason.where(), "fields.cancel_reason");
  ASSERT_OK(member_->Transition(order, "cancel", {{"cancel_reason", "duplicate"}}));
  EXPECT_EQ(member_->Get(order)->state, "cancelled");
  EXPECT_EQ(member_->Get(order)->fields.at("cancel_reason"), Value("duplicate"));

  // Peers reach the same state and agree.
  SyncPair(*member_.workspace, *owner_.workspace);
  EXPECT_EQ(owner_->digests().state, member_->digests().state);
}

TEST_F(RulesTest, EffectsMoveStockAndEditGuardsHold) {
  RecordId item = Item(owner_);
  RecordId in = Movement(owner_, item, "Main", 10);
  ASSERT_OK(owner_->Transition(in, "receive"));
  EXPECT_EQ(Stock(owner_, item, "Main"), 10);
  Status posted = owner_->Set(in, "quantity", int64_t{11});
  EXPECT_EQ(posted.code(), Code::kFailedPrecondition);
  EXPECT_NE(posted.message().find("a posted movement cannot be changed"), std::string::npos);

  RecordId out = Movement(owner_, item, "Main", 11);
  Status beyond = owner_->Transition(out, "issue");
  EXPECT_EQ(beyond.code(), Code::kFailedPrecondition);
  EXPECT_EQ(beyond.message().rfind("rights:", 0), 0u) << beyond.ToString();
  EXPECT_EQ(Stock(owner_, item, "Main"), 10);  // nothing changed
  EXPECT_EQ(owner_->Get(out)->state, "draft");
  // A direct add on stock is checked the same way.
  EXPECT_EQ(owner_->Add(item, "on_hand", -1).code(), Code::kInvalidArgument);  // no key given

  SyncPair(*owner_.workspace, *member_.workspace);
  EXPECT_EQ(Stock(member_, item, "Main"), 10);
  EXPECT_EQ(member_->digests().state, owner_->digests().state);
}

TEST_F(RulesTest, PartitionedIssuesNeverDriveStockNegative) {
  RecordId item = Item(owner_);
  RecordId in = Movement(owner_, item, "Main", 10);
  ASSERT_OK(owner_->Transition(in, "receive"));
  ASSERT_OK(owner_->Grant(item, "on_hand", "Main", member_.identity.device(), 4));
  EXPECT_EQ(owner_->Rights(item, "on_hand", "Main", owner_.identity.device()), 6);
  EXPECT_EQ(owner_->Grant(item, "on_hand", "Main", member_.identity.device(), 7).code(),
            Code::kFailedPrecondition);
  SyncPair(*owner_.workspace, *member_.workspace);
  EXPECT_EQ(member_->Rights(item, "on_hand", "Main", member_.identity.device()), 4);

  // Partitioned: each site issues what it holds rights to, and not one piece more.
  RecordId a = Movement(owner_, item, "Main", 6);
  ASSERT_OK(owner_->Transition(a, "issue"));
  RecordId b = Movement(member_, item, "Main", 4);
  ASSERT_OK(member_->Transition(b, "issue"));
  RecordId c = Movement(member_, item, "Main", 1);
  Status refused = member_->Transition(c, "issue");
  EXPECT_EQ(refused.code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.message().find("this device holds 0"), std::string::npos) << refused.ToString();

  SyncPair(*owner_.workspace, *member_.workspace);
  SyncPair(*owner_.workspace, *member_.workspace);
  EXPECT_EQ(Stock(owner_, item, "Main"), 0);
  EXPECT_EQ(Stock(member_, item, "Main"), 0);
  EXPECT_EQ(owner_->digests().state, member_->digests().state);
}

// A member that skips its own checks signs deltas that break the rules; every peer refuses them
// and reports why, and the merged state is what it would be without them.
TEST_F(RulesTest, ForgedRuleBreakingDeltasAreRefusedByEveryPeer) {
  RecordId item = Item(owner_);
  RecordId in = Movement(owner_, item, "Main", 5);
  ASSERT_OK(owner_->Transition(in, "receive"));
  RecordId order = Create(owner_, "order", {{"title", "x"}, {"amount", Money{1, "EUR"}}});
  SyncPair(*owner_.workspace, *member_.workspace);
  SyncPair(*owner_.workspace, *other_.workspace);
  const Digests before = owner_->digests();

  DeltaForge forge(other_.identity, owner_->id());
  forge.See(*owner_->DeltasFor({}, SIZE_MAX));

  const Bytes owner_dev(owner_.identity.device().begin(), owner_.identity.device().end());
  const Bytes other_dev(other_.identity.device().begin(), other_.identity.device().end());
  // Device 1 of each batch is the records' creator (the owner).
  auto batch_on = [&](const RecordId& record) {
    wire::v1::OpBatch batch;
    batch.add_devices(other_dev.data(), other_dev.size());
    batch.add_devices(owner_dev.data(), owner_dev.size());
    wire::v1::Op* op = batch.add_ops();
    op->mutable_record()->set_device(1);
    op->mutable_record()->set_n(record.n);
    return batch;
  };

  struct Case {
    const char* what;
    wire::v1::OpBatch batch;
    const char* reason;
  };
  std::vector<Case> cases;
  {  // Stock taken beyond the forger's rights (it holds none).
    auto b = batch_on(item);
    b.add_strings("on_hand#Main");
    b.mutable_ops(0)->set_kind(wire::v1::ADD);
    b.mutable_ops(0)->set_field(0);
    b.mutable_ops(0)->set_amount(-3);
    cases.push_back({"stock beyond rights", b, "rights:"});
  }
  {  // A transition from the wrong state (the movement is posted already).
    auto b = batch_on(in);
    b.add_strings("receive");
    b.mutable_ops(0)->set_kind(wire::v1::TRANSITION);
    b.mutable_ops(0)->set_name(0);
    cases.push_back({"wrong state", b, "state:"});
  }
  {  // A role the forger does not have (approve needs owner), with the state made right first.
    auto b = batch_on(order);
    b.add_strings("submit");
    b.add_strings("approve");
    b.mutable_ops(0)->set_kind(wire::v1::TRANSITION);
    b.mutable_ops(0)->set_name(0);
    auto* op = b.add_ops();
    *op = b.ops(0);
    op->set_name(1);
    cases.push_back({"wrong role", b, "role:"});
  }
  {  // An unknown field.
    auto b = batch_on(item);
    b.add_strings("colour");
    b.mutable_ops(0)->set_kind(wire::v1::SET);
    b.mutable_ops(0)->set_field(0);
    b.mutable_ops(0)->mutable_value()->set_text("red");
    cases.push_back({"unknown field", b, "has no field"});
  }
  {  // A value of the wrong type.
    auto b = batch_on(item);
    b.add_strings("reorder_point");
    b.mutable_ops(0)->set_kind(wire::v1::SET);
    b.mutable_ops(0)->set_field(0);
    b.mutable_ops(0)->mutable_value()->set_text("five");
    cases.push_back({"wrong type", b, "expected an integer"});
  }
  {  // A readonly field.
    auto b = batch_on(order);
    b.add_strings("approved_by");
    b.mutable_ops(0)->set_kind(wire::v1::SET);
    b.mutable_ops(0)->set_field(0);
    b.mutable_ops(0)->mutable_value()->set_blob(other_dev.data(), other_dev.size());
    cases.push_back({"readonly field", b, "set only by transitions"});
  }

  for (Case& c : cases) {
    Bytes forged = forge.Forge(c.batch, other_.random());
    for (TestDevice* peer : {&owner_, &member_}) {
      ApplyReport report = peer->workspace->Apply(std::vector<Bytes>{forged});
      EXPECT_EQ(report.accepted, 1u) << c.what;
      EXPECT_EQ(report.invalid, 1u) << c.what;
      auto problems = peer->workspace->problems();
      ASSERT_FALSE(problems.empty());
      EXPECT_NE(problems.back().message().find(c.reason), std::string::npos)
          << c.what << ": " << problems.back().ToString();
    }
  }
  // The state is as before on both peers; their versions moved on (the evidence is held).
  EXPECT_EQ(owner_->digests().state, before.state);
  EXPECT_EQ(member_->digests().state, before.state);
  EXPECT_EQ(owner_->digests().version, member_->digests().version);
  EXPECT_EQ(Stock(owner_, item, "Main"), 5);

  // The verdicts survive a restart (the rules' journal is rebuilt from the feeds).
  owner_.Reopen();
  EXPECT_EQ(owner_->digests().state, before.state);
  EXPECT_EQ(Stock(owner_, item, "Main"), 5);
}

// Sub-ops are recomputed by every peer: a transition whose effect claims more than its
// definition gives is refused.
TEST_F(RulesTest, ForgedEffectsAreRecomputedAndRefused) {
  RecordId item = Item(owner_);
  RecordId mv = Movement(owner_, item, "Main", 5);
  SyncPair(*owner_.workspace, *other_.workspace);
  SyncPair(*owner_.workspace, *member_.workspace);
  DeltaForge forge(other_.identity, owner_->id());
  forge.See(*owner_->DeltasFor({}, SIZE_MAX));

  const Bytes owner_dev(owner_.identity.device().begin(), owner_.identity.device().end());
  const Bytes other_dev(other_.identity.device().begin(), other_.identity.device().end());
  wire::v1::OpBatch b;
  b.add_devices(other_dev.data(), other_dev.size());
  b.add_devices(owner_dev.data(), owner_dev.size());
  b.add_strings("receive");
  b.add_strings("on_hand#Main");
  auto* t = b.add_ops();
  t->set_kind(wire::v1::TRANSITION);
  t->mutable_record()->set_device(1);
  t->mutable_record()->set_n(mv.n);
  t->set_name(0);
  t->set_effects(1);
  auto* add = b.add_ops();
  add->set_kind(wire::v1::ADD);
  add->mutable_record()->set_device(1);
  add->mutable_record()->set_n(item.n);
  add->set_field(1);
  add->set_amount(500);

  Bytes forged = forge.Forge(b, other_.random());
  for (TestDevice* peer : {&owner_, &member_}) {
    ApplyReport report = peer->workspace->Apply(std::vector<Bytes>{forged});
    EXPECT_EQ(report.invalid, 1u);
    EXPECT_NE(peer->workspace->problems().back().message().find("sub-op differs"),
              std::string::npos)
        << peer->workspace->problems().back().ToString();
    EXPECT_EQ(Stock(*peer, item, "Main"), 0);
    EXPECT_EQ(peer->workspace->Get(mv)->state, "draft");
  }

  // The honest version of the same transition is accepted everywhere (the forger's replica
  // first takes in its forged delta, so that its next delta does not fork its feed).
  EXPECT_EQ(other_->Apply(std::vector<Bytes>{forged}).invalid, 1u);
  RecordId honest = Movement(other_, item, "Main", 5);
  ASSERT_OK(other_->Transition(honest, "receive"));
  SendMissing(*other_.workspace, *owner_.workspace);
  EXPECT_EQ(Stock(owner_, item, "Main"), 5);
}

// Several changes as one action: a refusal of any part changes nothing, on this peer or others.
TEST_F(RulesTest, AnUpdateIsAppliedWholeOrNotAtAll) {
  RecordId item = Item(owner_);
  RecordId order = Create(owner_, "order", {{"title", "x"}, {"amount", Money{100, "EUR"}}});
  Workspace::Change bad;
  bad.set = {{"reorder_point", Value(int64_t{5})}, {"colour", Value("red")}};
  EXPECT_EQ(owner_->Update(item, bad).code(), Code::kInvalidArgument);
  EXPECT_EQ(owner_->Get(item)->fields.at("reorder_point"), Value(int64_t{0}));
  Workspace::Change mixed;
  mixed.set = {{"title", Value("y")}};
  mixed.append = {{"notes", Value("first")}};
  mixed.add = {{"amount", 1}};  // money is no counter: the whole change is refused
  EXPECT_FALSE(owner_->Update(order, mixed).ok());
  EXPECT_EQ(owner_->Get(order)->fields.at("title"), Value("x"));
  EXPECT_TRUE(owner_->Get(order)->lists["notes"].empty());

  Workspace::Change good;
  good.set = {{"title", Value("y")}};
  good.append = {{"notes", Value("first")}};
  ASSERT_OK(owner_->Update(order, good));
  SyncPair(*owner_.workspace, *member_.workspace);
  EXPECT_EQ(member_->Get(order)->fields.at("title"), Value("y"));
  EXPECT_EQ(member_->Get(order)->lists["notes"], std::vector<Value>{Value("first")});
  EXPECT_EQ(owner_->digests().state, member_->digests().state);
}

// --- Upgrading a tool ---------------------------------------------------------------------------

// Version 2 of the shop: items get a unit (filled in for existing items by `migrate`), orders a
// priority, and approving needs a note-free order. Nothing that records depend on is removed.
tools::Tool ShopV2(std::string_view patch = "") {
  std::string yaml = kShop;
  yaml.replace(yaml.find("version: 1"), 10, "version: 2");
  auto at = yaml.find("      on_hand: {type: stock, keyed: true}\n");
  yaml.insert(at, "      unit: {type: text, max: 8}\n");
  yaml += "migrate:\n  item:\n    unit: \"if(record.reorder_point > 0, 'box', 'pcs')\"\n";
  yaml += patch;
  auto parsed = tools::ParseTool(yaml, "shop-v2.yaml");
  for (const auto& d : parsed.diagnostics) ADD_FAILURE() << d.Text();
  return *parsed.tool;
}

TEST_F(RulesTest, AnUpgradeMigratesRecordsAndGovernsTheDeltasThatFollowIt) {
  RecordId plain = Item(owner_);
  RecordId boxed = Create(owner_, "item", {{"sku", "B-1"}, {"reorder_point", int64_t{4}}});
  SyncPair(*owner_.workspace, *member_.workspace);
  SyncPair(*owner_.workspace, *other_.workspace);
  // Before the upgrade, `unit` is no field of an item.
  EXPECT_EQ(member_->Set(plain, "unit", "kg").code(), Code::kInvalidArgument);

  ASSERT_OK(owner_->UpgradeTool(ShopV2()));
  EXPECT_EQ(owner_->tool_definitions().front().version, 2u);
  EXPECT_EQ(owner_->Get(plain)->fields.at("unit"), Value("pcs"));
  EXPECT_EQ(owner_->Get(boxed)->fields.at("unit"), Value("box"));

  // Once the member has the upgrade in its past, version 2 governs what it does.
  SyncPair(*owner_.workspace, *member_.workspace);
  EXPECT_EQ(member_->tool_definitions().front().version, 2u);
  EXPECT_EQ(member_->Get(boxed)->fields.at("unit"), Value("box"));
  ASSERT_OK(member_->Set(plain, "unit", "kg"));  // version 2 allows it
  EXPECT_EQ(member_->Set(plain, "unit", "kilograms").code(), Code::kInvalidArgument);  // max 8
  SyncPair(*owner_.workspace, *member_.workspace);
  SyncPair(*owner_.workspace, *other_.workspace);
  SyncPair(*member_.workspace, *other_.workspace);
  EXPECT_EQ(other_->Get(plain)->fields.at("unit"), Value("kg"));
  EXPECT_EQ(owner_->digests().state, other_->digests().state);
  EXPECT_EQ(member_->digests().state, other_->digests().state);

  // The verdicts and the version survive a restart (rebuilt from the feeds).
  const Digests before = owner_->digests();
  owner_.Reopen();
  EXPECT_EQ(owner_->digests().state, before.state);
  EXPECT_EQ(owner_->tool_definitions().front().version, 2u);
}

TEST_F(RulesTest, OnlyAnOwnerUpgradesAndOnlyToACompatibleHigherVersion) {
  RecordId item = Item(owner_);
  SyncPair(*owner_.workspace, *member_.workspace);
  const Digests before = owner_->digests();

  Status by_member = member_->UpgradeTool(ShopV2());
  EXPECT_EQ(by_member.code(), Code::kPermissionDenied) << by_member.ToString();
  EXPECT_NE(by_member.message().find("role:"), std::string::npos);

  // The same version again, and a version that drops a field records hold.
  tools::Tool same = Shop();
  Status not_higher = owner_->UpgradeTool(same);
  EXPECT_EQ(not_higher.code(), Code::kFailedPrecondition);
  EXPECT_NE(not_higher.message().find("must be higher"), std::string::npos)
      << not_higher.ToString();
  std::string dropped = kShop;
  dropped.replace(dropped.find("version: 1"), 10, "version: 3");
  dropped.erase(dropped.find("      reorder_point:"),
                dropped.find("      on_hand:") - dropped.find("      reorder_point:"));
  dropped.replace(dropped.find(" < record.reorder_point"), 23, " < 0");
  auto parsed = tools::ParseTool(dropped, "shop-v3.yaml");
  ASSERT_TRUE(parsed.tool) << (parsed.diagnostics.empty() ? "" : parsed.diagnostics[0].Text());
  Status removed = owner_->UpgradeTool(*parsed.tool);
  EXPECT_EQ(removed.code(), Code::kFailedPrecondition);
  EXPECT_NE(removed.message().find("field 'reorder_point' was removed"), std::string::npos)
      << removed.ToString();

  // A migration whose value does not fit the field refuses the whole upgrade.
  tools::Tool bad = ShopV2("    reorder_point: \"'many'\"\n");
  Status failed = owner_->UpgradeTool(bad);
  EXPECT_EQ(failed.code(), Code::kFailedPrecondition);
  EXPECT_NE(failed.message().find("migrate item.reorder_point on record"), std::string::npos)
      << failed.ToString();

  EXPECT_EQ(owner_->digests().state, before.state);
  EXPECT_EQ(owner_->tool_definitions().front().version, 1u);
  EXPECT_EQ(owner_->Get(item)->fields.count("unit"), 0u);
}

// An UPGRADE op to `tool` as `author` sends it, followed by `sub_ops` (0 or 1) migration sets of
// `unit` on `item` (an item of `owner`).
wire::v1::OpBatch UpgradeBatch(const TestDevice& author, const TestDevice& owner,
                               const RecordId& item, const tools::Tool& tool, uint32_t sub_ops,
                               const std::string& unit) {
  wire::v1::OpBatch b;
  const DeviceId& a = author.identity.device();
  const DeviceId& o = owner.identity.device();
  b.add_devices(a.data(), a.size());
  if (o != a) b.add_devices(o.data(), o.size());
  b.add_strings("shop");
  b.add_strings("unit");
  const Bytes bytes = tools::Canonical(tool);
  auto* op = b.add_ops();
  op->set_kind(wire::v1::UPGRADE);
  op->set_name(0);
  op->mutable_record();
  op->mutable_value()->set_blob(bytes.data(), bytes.size());
  op->set_effects(sub_ops);
  if (sub_ops > 0) {
    auto* set = b.add_ops();
    set->set_kind(wire::v1::SET);
    if (o != a) set->mutable_record()->set_device(1);
    set->mutable_record()->set_n(item.n);
    set->set_field(1);
    set->mutable_value()->set_text(unit);
  }
  return b;
}

// Every one of `peers` refuses `forged` for `reason` and keeps version 1 of the tool.
void ExpectUpgradeRefused(const Bytes& forged, const std::vector<TestDevice*>& peers,
                          const char* what, const char* reason) {
  SCOPED_TRACE(what);
  for (TestDevice* peer : peers) {
    ApplyReport report = peer->workspace->Apply(std::vector<Bytes>{forged});
    EXPECT_EQ(report.invalid, 1u);
    auto problems = peer->workspace->problems();
    ASSERT_FALSE(problems.empty());
    EXPECT_NE(problems.back().message().find(reason), std::string::npos)
        << problems.back().ToString();
    EXPECT_EQ(peer->workspace->tool_definitions().front().version, 1u);
  }
}

TEST_F(RulesTest, AForgedUpgradeIsRefusedByEveryPeer) {
  RecordId item = Item(owner_);
  SyncPair(*owner_.workspace, *member_.workspace);
  SyncPair(*owner_.workspace, *other_.workspace);
  const Digests before = owner_->digests();
  DeltaForge forge(other_.identity, owner_->id());
  forge.See(*owner_->DeltasFor({}, SIZE_MAX));
  ExpectUpgradeRefused(
      forge.Forge(UpgradeBatch(other_, owner_, item, ShopV2(), 1, "pcs"), other_.random()),
      {&owner_, &member_}, "upgrade by a member", "role:");
  EXPECT_EQ(owner_->digests().state, before.state);
  EXPECT_EQ(member_->digests().state, before.state);
}

// An owner's upgrade whose migration claims other values than the new version gives, or leaves
// it out, is refused by every peer: migrations are recomputed like a transition's effects.
TEST_F(RulesTest, AForgedMigrationIsRecomputedAndRefused) {
  RecordId item = Item(owner_);
  SyncPair(*owner_.workspace, *member_.workspace);
  SyncPair(*owner_.workspace, *other_.workspace);
  const Digests before = member_->digests();
  DeltaForge forge(owner_.identity, owner_->id());  // the owner's own key, skipping its checks
  forge.See(*owner_->DeltasFor({}, SIZE_MAX));
  ExpectUpgradeRefused(
      forge.Forge(UpgradeBatch(owner_, owner_, item, ShopV2(), 1, "box"), owner_.random()),
      {&member_, &other_}, "a migrated value changed", "differs");
  ExpectUpgradeRefused(
      forge.Forge(UpgradeBatch(owner_, owner_, item, ShopV2(), 0, ""), owner_.random()),
      {&member_, &other_}, "the migration left out", "migrate gives 1");
  EXPECT_EQ(member_->digests().state, before.state);
  EXPECT_EQ(other_->digests().state, before.state);
}

// A create is checked field by field (the field's checks, then its guard over the record as
// created), then for required fields, then against the edit guard; the rules journal the op
// once and keep it when it passes (decision 0012). Random creates and sets, seeded (the seed is
// printed; GROVE_TEST_SEED replays one), are checked against that walk written out plainly
// here: each refusal must be the first rule the walk meets, and every peer merging the
// accepted ones must reach the same state.
constexpr char kGauge[] = R"yaml(tool: gauge
version: 1
title: Gauge
types:
  gauge:
    fields:
      a: {type: integer, required: true, guard: "value > 0", message: "a must be positive"}
      b: {type: text, max: 4}
      c: {type: integer, guard: "value < record.a", message: "c must be below a"}
      d: {type: text, readonly: true}
      e: {type: integer, guard: "value != record.c", message: "e must differ from c"}
    edit_guard: "record.a != 13"
    edit_message: "13 is unlucky"
)yaml";

TEST(RulesWalkTest, RandomCreatesAndSetsMeetTheFirstRuleOfAFieldByFieldWalk) {
  uint64_t seed = 20261125;
  if (const char* env = std::getenv("GROVE_TEST_SEED")) seed = std::strtoull(env, nullptr, 10);
  std::printf("RandomCreatesAndSetsMeetTheFirstRuleOfAFieldByFieldWalk: seed %llu\n",
              static_cast<unsigned long long>(seed));
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };

  auto parsed = tools::ParseTool(kGauge, "gauge.yaml");
  for (const auto& d : parsed.diagnostics) ADD_FAILURE() << d.Text();
  ASSERT_TRUE(parsed.tool);
  FakeClock clock{1'700'000'000'000};
  TestDevice owner{"owner", 1, clock}, member{"member", 2, clock};
  owner.Create("gauges", {*parsed.tool});
  member.Join(*owner.workspace);
  ASSERT_OK(owner->AddMember(member.identity.card(), Role::kMember));
  SyncPair(*owner.workspace, *member.workspace);

  const std::vector<std::pair<std::string, std::vector<Value>>> choices = {
      {"a", {int64_t{-1}, int64_t{5}, int64_t{13}, "5"}},
      {"b", {"ok", "too long"}},
      {"c", {int64_t{1}, int64_t{9}}},
      {"d", {"x"}},
      {"e", {int64_t{1}, int64_t{9}}},
      {"z", {int64_t{1}}},
  };
  std::vector<RecordId> made;
  int refused = 0;
  for (int round = 0; round < 400; ++round) {
    std::vector<std::pair<std::string, Value>> fields;
    for (size_t n = pick(5); n > 0; --n) {
      const auto& [name, values] = choices[pick(choices.size())];
      fields.emplace_back(name, values[pick(values.size())]);
    }
    if (pick(2) == 0) {  // half the rounds mostly valid, with a valid `a` somewhere
      std::erase_if(fields, [&](const auto& f) { return f.first == "d" || f.first == "z"; });
      fields.insert(fields.begin() + static_cast<std::ptrdiff_t>(pick(fields.size() + 1)),
                    {"a", Value(int64_t{5} + static_cast<int64_t>(pick(2)) * 4)});
    }
    // The record as created: the first value of each field.
    auto first = [&](const std::string& name) -> const Value* {
      for (const auto& [n, v] : fields) {
        if (n == name) return &v;
      }
      return nullptr;
    };
    auto integer = [](const Value* v) -> std::optional<int64_t> {
      if (!v) return std::nullopt;
      if (const auto* i = std::get_if<int64_t>(&v->v)) return *i;
      return std::nullopt;
    };
    // The walk: the first rule broken, as the start of its message ("" when none is).
    std::string expect;
    std::vector<std::string> given;
    for (const auto& [name, value] : fields) {
      if (name == "z") {
        expect = "type gauge has no field 'z'";
      } else if (name == "d") {
        expect = "field d is set only by transitions";
      } else if (std::find(given.begin(), given.end(), name) != given.end()) {
        expect = "field " + name + " given twice";
      } else if (name == "a" && !integer(&value)) {
        expect = "field a: expected an integer";
      } else if (name == "b" && std::get<std::string>(value.v).size() > 4) {
        expect = "field b: longer than 4 bytes";
      } else if (name == "a" && *integer(&value) <= 0) {
        expect = "guard: a must be positive";
      } else if (name == "c" && !(integer(first("a")) && *integer(&value) < *integer(first("a")))) {
        expect = "guard: c";  // false, or not comparable (a missing or not an integer)
      } else if (name == "e" && integer(first("c")) && *integer(first("c")) == *integer(&value)) {
        expect = "guard: e must differ from c";
      }
      if (!expect.empty()) break;
      given.push_back(name);
    }
    if (expect.empty() && !first("a")) expect = "field a is required";
    if (expect.empty() && integer(first("a")) == 13) expect = "guard: 13 is unlucky";

    auto id = owner->CreateRecord("gauge", fields);
    if (expect.empty()) {
      ASSERT_TRUE(id.ok()) << "round " << round << ": " << id.status().ToString();
      made.push_back(*id);
    } else {
      ++refused;
      ASSERT_FALSE(id.ok()) << "round " << round << ": accepted, expected " << expect;
      EXPECT_EQ(id.status().message().rfind(expect, 0), 0u)
          << "round " << round << ": " << id.status().message() << "; expected " << expect;
    }
    // Now and then a set on an accepted record: its field guard sees the record before the
    // set, the edit guard the record after it.
    if (!made.empty() && pick(3) == 0) {
      const RecordId& target = made[pick(made.size())];
      auto view = owner->Get(target);
      ASSERT_TRUE(view);
      const int64_t a = std::get<int64_t>(view->fields.at("a").v);
      const int64_t value = std::vector<int64_t>{1, 9, 13}[pick(3)];
      const bool set_a = pick(2) == 0;
      Status s = owner->Set(target, set_a ? "a" : "c", Value(value));
      if (set_a) {
        EXPECT_EQ(s.ok(), value != 13) << "round " << round << ": " << s.ToString();
      } else if (a == 13) {
        ADD_FAILURE() << "a record with a == 13 was accepted";
      } else {
        EXPECT_EQ(s.ok(), value < a) << "round " << round << ": " << s.ToString();
      }
    }
  }
  EXPECT_GT(refused, 50);
  EXPECT_GT(made.size(), 40u);
  // The accepted ones merge on the member, judged again in one batch, to the same state.
  SyncPair(*owner.workspace, *member.workspace);
  EXPECT_TRUE(member->problems().empty());
  EXPECT_EQ(member->digests().state, owner->digests().state);
}

}  // namespace
}  // namespace grove::replica
