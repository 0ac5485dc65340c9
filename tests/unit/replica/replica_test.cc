#include <gtest/gtest.h>

#include <algorithm>

#include "crypto/crypto.h"
#include "grove/v1/wire.pb.h"
#include "replica/replica.h"
#include "support/test_device.h"

namespace grove {
namespace {

using replica::Role;
using replica::Value;
using testing::SendMissing;
using testing::SyncPair;
using testing::TestDevice;

class ReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a.Create("warehouse");
    ASSERT_TRUE(a->AddMember(b.identity.card(), Role::kMember).ok());
    ASSERT_TRUE(a->AddMember(c.identity.card(), Role::kMember).ok());
    b.Join(*a.workspace);
    c.Join(*a.workspace);
    SendMissing(*a.workspace, *b.workspace);
    SendMissing(*a.workspace, *c.workspace);
  }

  void SyncAll() {
    for (int round = 0; round < 2; ++round) {
      SyncPair(*a.workspace, *b.workspace);
      SyncPair(*b.workspace, *c.workspace);
      SyncPair(*a.workspace, *c.workspace);
    }
  }

  FakeClock clock;
  TestDevice a{"alice", 1, clock};
  TestDevice b{"bob", 2, clock};
  TestDevice c{"carol", 3, clock};
};

TEST_F(ReplicaTest, RecordsSyncAndDigestsAgree) {
  auto item = a->CreateRecord(
      "item", {{"sku", Value("SKU-1")}, {"price", Value(replica::Money{1250, "EUR"})}});
  ASSERT_TRUE(item.ok()) << item.status().ToString();
  ASSERT_TRUE(a->Add(*item, "stock", 5).ok());
  SyncAll();
  auto seen = c->Get(*item);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->type, "item");
  EXPECT_EQ(seen->fields.at("sku"), Value("SKU-1"));
  EXPECT_EQ(seen->fields.at("price"), Value(replica::Money{1250, "EUR"}));
  EXPECT_EQ(seen->fields.at("stock"), Value(int64_t{5}));
  EXPECT_EQ(a->digests().state, c->digests().state);
  EXPECT_EQ(a->digests().version, c->digests().version);
  EXPECT_EQ(b->Members().size(), 3u) << "members list of b";
}

TEST_F(ReplicaTest, ConcurrentIncrementsAllCount) {
  auto item = a->CreateRecord("item", {{"sku", Value("X")}});
  ASSERT_TRUE(item.ok());
  SyncAll();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(a->Add(*item, "stock", 1).ok());
    ASSERT_TRUE(b->Add(*item, "stock", 2).ok());
    ASSERT_TRUE(c->Add(*item, "stock", -1).ok());
  }
  SyncAll();
  for (TestDevice* d : {&a, &b, &c}) {
    EXPECT_EQ((*d)->Get(*item)->fields.at("stock"), Value(int64_t{20})) << d->identity.name();
  }
}

TEST_F(ReplicaTest, CounterShowsItsBasePlusEveryIncrement) {
  auto item = a->CreateRecord("item", {{"stock", Value(int64_t{5})}});
  ASSERT_TRUE(item.ok());
  SyncAll();
  ASSERT_TRUE(b->Add(*item, "stock", 1).ok());
  ASSERT_TRUE(c->Add(*item, "stock", 2).ok());
  SyncAll();
  EXPECT_EQ(a->Get(*item)->fields.at("stock"), Value(int64_t{8}));
  // Setting re-bases; earlier increments still count (decision 0003).
  ASSERT_TRUE(a->Set(*item, "stock", Value(int64_t{10})).ok());
  SyncAll();
  for (TestDevice* d : {&a, &b, &c}) {
    EXPECT_EQ((*d)->Get(*item)->fields.at("stock"), Value(int64_t{13})) << d->identity.name();
  }
}

TEST_F(ReplicaTest, ConcurrentSetsKeepLosersAsConflictsUntilSuperseded) {
  auto item = a->CreateRecord("item", {{"name", Value("bolt")}});
  ASSERT_TRUE(item.ok());
  SyncAll();
  ASSERT_TRUE(a->Set(*item, "name", Value("bolt M6")).ok());
  clock.Advance(5);
  ASSERT_TRUE(b->Set(*item, "name", Value("bolt M8")).ok());
  SyncAll();
  auto view = c->Get(*item);
  EXPECT_EQ(view->fields.at("name"), Value("bolt M8")) << "later HLC wins";
  ASSERT_EQ(view->conflicts.count("name"), 1u);
  EXPECT_EQ(view->conflicts.at("name"), std::vector<Value>{Value("bolt M6")});
  EXPECT_EQ(a->Get(*item)->conflicts, view->conflicts);

  // A set made after seeing both supersedes them: the conflict is resolved.
  ASSERT_TRUE(c->Set(*item, "name", Value("bolt M6")).ok());
  SyncAll();
  EXPECT_EQ(a->Get(*item)->fields.at("name"), Value("bolt M6"));
  EXPECT_EQ(a->Get(*item)->conflicts.count("name"), 0u);
}

TEST_F(ReplicaTest, AppendsTransitionsAndArchive) {
  auto cs = a->CreateRecord("case", {{"title", Value("broken pallet")}});
  ASSERT_TRUE(cs.ok());
  SyncAll();
  ASSERT_TRUE(a->Append(*cs, "comments", Value("photo attached")).ok());
  ASSERT_TRUE(b->Append(*cs, "comments", Value("supplier called")).ok());
  ASSERT_TRUE(b->Transition(*cs, "in_progress").ok());
  SyncAll();
  auto view = c->Get(*cs);
  EXPECT_EQ(view->lists.at("comments").size(), 2u);
  EXPECT_EQ(view->state, "in_progress");
  EXPECT_EQ(view->history, std::vector<std::string>{"in_progress"});
  ASSERT_TRUE(c->Archive(*cs).ok());
  SyncAll();
  EXPECT_TRUE(a->List("case").empty());
  EXPECT_EQ(a->List("case", true).size(), 1u);
}

TEST_F(ReplicaTest, AnyDeliveryOrderWithDuplicatesGivesTheSameState) {
  auto item = a->CreateRecord("item", {{"n", Value(int64_t{0})}});
  SyncAll();
  std::vector<Bytes> all;
  for (int round = 0; round < 4; ++round) {
    for (TestDevice* d : {&a, &b, &c}) {
      ASSERT_TRUE((*d)->Set(*item, "n", Value(int64_t{round})).ok());
      ASSERT_TRUE((*d)->Add(*item, "count", 1).ok());
      ASSERT_TRUE((*d)->Seal().ok());
    }
    SyncPair(*a.workspace, *b.workspace);
  }
  auto deltas = a->DeltasFor({}, SIZE_MAX);
  auto more = c->DeltasFor({}, SIZE_MAX);
  all = *deltas;
  all.insert(all.end(), more->begin(), more->end());

  FakeClock clock2;
  Hash32 reference{};
  for (uint64_t seed = 0; seed < 20; ++seed) {
    SeededRandom order(seed);
    std::vector<Bytes> shuffled = all;
    for (size_t i = shuffled.size(); i > 1; --i)
      std::swap(shuffled[i - 1], shuffled[order.Uniform(i)]);
    shuffled.push_back(shuffled[order.Uniform(shuffled.size())]);  // a duplicate
    TestDevice fresh("observer", 100 + seed, clock2);
    // An observer that is not a member still computes the same verdicts; it just lacks keys,
    // so compare with a member device instead: a fresh store for c.
    TestDevice again("carol", 3, clock2);
    auto ws =
        replica::Workspace::Join(again.identity, *a->Genesis(), *again.store, clock2, again.rng);
    ASSERT_TRUE(ws.ok());
    // Deliver in small random batches.
    for (size_t i = 0; i < shuffled.size();) {
      size_t n = 1 + order.Uniform(3);
      std::vector<Bytes> batch(shuffled.begin() + i,
                               shuffled.begin() + std::min(shuffled.size(), i + n));
      auto report = (*ws)->Apply(batch);
      EXPECT_TRUE(report.rejected.empty()) << report.rejected.front().ToString();
      i += n;
    }
    EXPECT_EQ((*ws)->Get(*item)->fields.at("count"), Value(int64_t{12}));
    if (seed == 0) reference = (*ws)->digests().state;
    EXPECT_EQ((*ws)->digests().state, reference) << "seed " << seed;
  }
  SyncAll();
  EXPECT_EQ(a->digests().state, reference);
}

TEST_F(ReplicaTest, RemovedMemberIsLockedOut) {
  auto item = a->CreateRecord("item", {{"name", Value("secret plan")}});
  SyncAll();
  ASSERT_TRUE(a->RemoveMember(c.identity.device()).ok());
  ASSERT_TRUE(a->Set(*item, "name", Value("after removal")).ok());
  SyncAll();  // c is still sent everything here, on purpose
  EXPECT_EQ(c->RoleOf(c.identity.device()), Role::kNone);
  EXPECT_FALSE(c->HoldsKeys()) << "the removed device must not get the new key";
  EXPECT_EQ(c->Get(*item)->fields.at("name"), Value("secret plan"));
  EXPECT_EQ(b->Get(*item)->fields.at("name"), Value("after removal"));
  // Its writes are refused locally, and a write it makes anyway is invalid everywhere.
  EXPECT_EQ(c->Set(*item, "name", Value("hijack")).code(), Code::kPermissionDenied);
  EXPECT_EQ(a->Members().size(), 2u);
}

TEST_F(ReplicaTest, WritesOfARemovedDeviceAfterItsCutoffAreInvalidEverywhere) {
  auto item = a->CreateRecord("item", {{"name", Value("x")}});
  SyncAll();
  // c writes while partitioned from the removal: its delta is past the cut-off.
  ASSERT_TRUE(a->RemoveMember(c.identity.device()).ok());
  ASSERT_TRUE(c->Set(*item, "name", Value("concurrent write by c")).ok());
  ASSERT_TRUE(c->Seal().ok());
  SendMissing(*c.workspace, *b.workspace);  // b sees c's write first
  EXPECT_EQ(b->Get(*item)->fields.at("name"), Value("concurrent write by c"));
  SyncAll();
  EXPECT_EQ(b->Get(*item)->fields.at("name"), Value("x")) << "b rebuilt without c's write";
  EXPECT_EQ(a->Get(*item)->fields.at("name"), Value("x"));
  EXPECT_EQ(a->digests().state, b->digests().state);
}

TEST_F(ReplicaTest, ReopenKeepsStateAndPendingActions) {
  auto item = a->CreateRecord("item", {{"name", Value("kept")}});
  ASSERT_TRUE(a->Add(*item, "stock", 7).ok());
  EXPECT_EQ(a->pending_actions(), 2u);
  auto before = a->digests();
  a.Reopen();
  EXPECT_EQ(a->pending_actions(), 2u);
  EXPECT_EQ(a->digests().state, before.state);
  SyncAll();
  EXPECT_EQ(b->Get(*item)->fields.at("stock"), Value(int64_t{7}));
  auto synced = a->digests();
  ASSERT_TRUE(a->Rebuild().ok());
  EXPECT_EQ(a->digests().state, synced.state) << "rebuild from feeds gives the same state";
  b.Reopen();
  EXPECT_EQ(b->digests().state, synced.state);
}

TEST_F(ReplicaTest, ReadOnlyMemberCannotWriteAndCraftedWritesAreRejectedByAll) {
  TestDevice r("reader", 9, clock);
  ASSERT_TRUE(a->AddMember(r.identity.card(), Role::kReadOnly).ok());
  r.Join(*a.workspace);
  SendMissing(*a.workspace, *r.workspace);
  auto item = a->CreateRecord("item", {{"name", Value("x")}});
  SyncPair(*a.workspace, *r.workspace);
  EXPECT_EQ(r->Get(*item)->fields.at("name"), Value("x")) << "a reader can read";
  EXPECT_EQ(r->Set(*item, "name", Value("y")).code(), Code::kPermissionDenied);
}

TEST_F(ReplicaTest, DemotedMembersConcurrentWriteIsInvalidOnEveryPeer) {
  auto item = a->CreateRecord("item", {{"name", Value("x")}});
  SyncAll();
  // a demotes c to read-only; c, not knowing yet, writes: a validly signed delta whose ops its
  // role (for seqs past the cut-off) forbids.
  ASSERT_TRUE(a->AddMember(c.identity.card(), Role::kReadOnly).ok());
  ASSERT_TRUE(c->Set(*item, "name", Value("written by c after demotion")).ok());
  ASSERT_TRUE(c->Add(*item, "stock", 5).ok());
  ASSERT_TRUE(c->Seal().ok());
  SendMissing(*c.workspace, *b.workspace);
  SyncAll();
  for (TestDevice* d : {&a, &b, &c}) {
    auto view = (*d)->Get(*item);
    EXPECT_EQ(view->fields.at("name"), Value("x")) << d->identity.name();
    EXPECT_EQ(view->fields.count("stock"), 0u) << d->identity.name();
    EXPECT_EQ((*d)->RoleOf(c.identity.device()), Role::kReadOnly);
  }
  EXPECT_EQ(a->digests().state, c->digests().state);
  EXPECT_EQ(b->digests().state, c->digests().state);
  EXPECT_TRUE(replica::CheckAgreement(a->digests(), b->digests()).ok());
}

TEST_F(ReplicaTest, DamagedStoredRecordIsRebuiltFromTheFeedsOnOpen) {
  auto item = a->CreateRecord("item", {{"name", Value("kept")}});
  ASSERT_TRUE(a->Add(*item, "stock", 4).ok());
  SyncAll();
  const auto expected = a->digests();
  Bytes key(item->device.begin(), item->device.end());
  PutVarint(key, item->n);
  store::WriteBatch wb;
  wb.PutRecord(b->id(), key, ToBytes("not a record"));
  ASSERT_TRUE(b.store->Write(wb).ok());
  b.Reopen();
  EXPECT_EQ(b->digests().state, expected.state);
  EXPECT_EQ(b->Get(*item)->fields.at("stock"), Value(int64_t{4}));
  ASSERT_FALSE(b->problems().empty());
  EXPECT_NE(b->problems().front().message().find("does not decode"), std::string::npos);
  b.Reopen();  // and the repair was written back
  EXPECT_EQ(b->digests().state, expected.state);
}

TEST_F(ReplicaTest, RemovedMemberHoldsTheSameDeltasButIsNotReportedAsABug) {
  auto item = a->CreateRecord("item", {{"name", Value("x")}});
  SyncAll();
  ASSERT_TRUE(a->RemoveMember(c.identity.device()).ok());
  ASSERT_TRUE(a->Set(*item, "name", Value("y")).ok());
  SyncAll();
  auto da = a->digests(), dc = c->digests();
  EXPECT_EQ(da.version, dc.version);
  EXPECT_NE(da.state, dc.state);
  EXPECT_GT(dc.unreadable, 0u);
  EXPECT_EQ(da.unreadable, 0u);
  EXPECT_TRUE(replica::CheckAgreement(da, dc).ok());
}

TEST(CheckAgreement, FlagsEqualVersionsWithDifferentStates) {
  replica::Digests x, y;
  x.version.fill(1);
  y.version.fill(1);
  x.state.fill(2);
  y.state.fill(3);
  Status s = replica::CheckAgreement(x, y);
  EXPECT_EQ(s.code(), Code::kInternal);
  EXPECT_NE(s.message().find("different states"), std::string::npos);
  y.version.fill(9);
  EXPECT_TRUE(replica::CheckAgreement(x, y).ok()) << "different versions only mean a sync is due";
  y = x;
  EXPECT_TRUE(replica::CheckAgreement(x, y).ok());
}

// ---- Bad input: each is refused with a reason and changes nothing. -----------------------------

class BadInputTest : public ReplicaTest {
 protected:
  void SetUp() override {
    ReplicaTest::SetUp();
    item = *a->CreateRecord("item", {{"name", Value("x")}});
    ASSERT_TRUE(a->Seal().ok());
    ASSERT_TRUE(a->Set(item, "name", Value("y")).ok());
    ASSERT_TRUE(a->Seal().ok());
    auto all = a->DeltasFor(b->Version(), SIZE_MAX);
    ASSERT_EQ(all->size(), 2u);
    first = (*all)[0];
    second = (*all)[1];
    before = b->digests();
  }

  void ExpectRejected(const Bytes& bytes, const std::string& reason_part) {
    auto report = b->Apply(std::vector<Bytes>{bytes});
    ASSERT_EQ(report.rejected.size(), 1u)
        << "expected a rejection containing '" << reason_part << "'";
    EXPECT_NE(report.rejected[0].message().find(reason_part), std::string::npos)
        << report.rejected[0].ToString();
    EXPECT_EQ(b->digests().state, before.state);
    EXPECT_EQ(b->digests().version, before.version);
  }

  static Bytes Rewrite(const Bytes& raw, const std::function<void(wire::v1::DeltaBody&)>& edit) {
    wire::v1::Delta d;
    d.ParseFromArray(raw.data(), static_cast<int>(raw.size()));
    wire::v1::DeltaBody body;
    body.ParseFromString(d.body());
    edit(body);
    body.SerializeToString(d.mutable_body());
    std::string out;
    d.SerializeToString(&out);
    return ToBytes(out);
  }

  replica::RecordId item;
  Bytes first, second;
  replica::Digests before;
};

TEST_F(BadInputTest, Truncated) {
  ExpectRejected(Bytes(first.begin(), first.begin() + first.size() / 2), "does not decode");
}

TEST_F(BadInputTest, Oversized) {
  Bytes big(17 << 20, 0x55);
  ExpectRejected(big, "exceeds the limit");
}

TEST_F(BadInputTest, BitFlippedBodyFailsSignature) {
  Bytes flipped = Rewrite(first, [](wire::v1::DeltaBody& body) { body.set_hlc(body.hlc() + 1); });
  ExpectRejected(flipped, "signature does not verify");
}

TEST_F(BadInputTest, ForgedSignature) {
  wire::v1::Delta d;
  d.ParseFromArray(first.data(), static_cast<int>(first.size()));
  std::string sig = d.signature();
  sig[10] ^= 1;
  d.set_signature(sig);
  std::string out;
  d.SerializeToString(&out);
  ExpectRejected(ToBytes(out), "signature does not verify");
}

TEST_F(BadInputTest, WrongWorkspace) {
  ExpectRejected(
      Rewrite(first, [](wire::v1::DeltaBody& body) { body.set_workspace(std::string(32, 'w')); }),
      "another workspace");
}

TEST_F(BadInputTest, BrokenChain) {
  // The second delta alone, with its predecessor replaced by a different one: prev mismatch.
  ASSERT_TRUE(b->Apply(std::vector<Bytes>{first}).rejected.empty());
  before = b->digests();
  Bytes broken =
      Rewrite(second, [](wire::v1::DeltaBody& body) { body.set_prev(std::string(32, 'p')); });
  ExpectRejected(broken, "broken chain");
}

TEST_F(BadInputTest, ReplayIsADuplicateNotAChange) {
  ASSERT_TRUE(b->Apply(std::vector<Bytes>{first, second}).rejected.empty());
  auto after = b->digests();
  auto report = b->Apply(std::vector<Bytes>{first, second, first});
  EXPECT_EQ(report.duplicates, 3u);
  EXPECT_EQ(report.accepted, 0u);
  EXPECT_EQ(b->digests().state, after.state);
}

TEST_F(BadInputTest, ForkIsKeptAsEvidenceAndTheForkedFeedStopsCounting) {
  ASSERT_TRUE(b->Apply(std::vector<Bytes>{first, second}).rejected.empty());
  // a signs a different delta with the same seq as `second`: a fork.
  wire::v1::Delta d;
  d.ParseFromArray(second.data(), static_cast<int>(second.size()));
  wire::v1::DeltaBody body;
  body.ParseFromString(d.body());
  body.set_hlc(body.hlc() + 7);
  body.SerializeToString(d.mutable_body());
  auto sig = a.identity.signing_key().Sign(AsBytes(d.body()));
  d.set_signature(sig.data(), sig.size());
  std::string out;
  d.SerializeToString(&out);
  auto report = b->Apply(std::vector<Bytes>{ToBytes(out)});
  EXPECT_EQ(report.forks, 1u);
  EXPECT_TRUE(report.rebuilt);
  EXPECT_EQ(b->Get(item)->fields.at("name"), Value("x")) << "the forked delta no longer counts";
  ASSERT_FALSE(b->problems().empty());
  EXPECT_NE(b->problems().back().message().find("two different deltas"), std::string::npos);
}

TEST_F(BadInputTest, DeltaFromANonMemberIsRefused) {
  TestDevice stranger("mallory", 66, clock);
  auto ws = replica::Workspace::Join(stranger.identity, *a->Genesis(), *stranger.store, clock,
                                     stranger.rng);
  ASSERT_TRUE(ws.ok());
  EXPECT_EQ((*ws)->CreateRecord("item", {}).status().code(), Code::kPermissionDenied);
  // A well-formed, correctly signed delta from the stranger, depending on everything b holds.
  ASSERT_TRUE(b->Apply(std::vector<Bytes>{first, second}).rejected.empty());
  before = b->digests();
  wire::v1::DeltaBody body;
  body.set_format(1);
  body.set_workspace(a->id().data(), 32);
  body.set_author(stranger.identity.device().data(), 32);
  body.set_seq(1);
  for (const auto& e : b->Version()) {
    auto* ctx = body.add_context();
    ctx->set_device(e.device.data(), 32);
    ctx->set_seq(e.seq);
  }
  body.set_hlc(uint64_t{1} << 62);
  wire::v1::PlainOp* op = body.add_plain();
  op->mutable_set_member()->set_card(ToString(stranger.identity.card().encoded));
  op->mutable_set_member()->set_role(wire::v1::OWNER);
  wire::v1::Delta d;
  body.SerializeToString(d.mutable_body());
  auto sig = stranger.identity.signing_key().Sign(AsBytes(d.body()));
  d.set_signature(sig.data(), sig.size());
  std::string out;
  d.SerializeToString(&out);
  auto report = b->Apply(std::vector<Bytes>{ToBytes(out)});
  ASSERT_EQ(report.rejected.size(), 1u);
  EXPECT_NE(report.rejected[0].message().find("not a member"), std::string::npos)
      << report.rejected[0].ToString();
  EXPECT_EQ(report.accepted, 0u);
  EXPECT_EQ(b->digests().version, before.version);
  EXPECT_EQ(b->RoleOf(stranger.identity.device()), Role::kNone);
}

}  // namespace
}  // namespace grove
