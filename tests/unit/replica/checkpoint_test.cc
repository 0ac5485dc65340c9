// Checkpoints (docs/decisions/0011-checkpoints-settle-history.md): a replica started from a
// checkpoint reaches the same state as the replicas with the whole history, carries on from it
// (also after a restart), and a trusted checkpoint settles the history under it for every replica
// alike: late work concurrent with it is judged on top of it, by full-history and checkpoint-
// started replicas the same way.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "support/status_assert.h"
#include "support/test_device.h"
#include "tools/tool.h"

namespace grove::replica {
namespace {

using grove::testing::SendMissing;
using grove::testing::SyncPair;
using grove::testing::TestDevice;

Money Eur(int64_t minor) { return Money{minor, "EUR"}; }

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<tools::Tool> tools;
    for (const char* name : {"inventory", "purchasing"}) {
      auto tool = tools::LoadBuiltin(name);
      ASSERT_TRUE(tool.ok()) << tool.status().ToString();
      tools.push_back(std::move(tool).value());
    }
    owner_.Create("grove", tools);
    alice_.Join(*owner_.workspace);
    bob_.Join(*owner_.workspace);
    ASSERT_OK(owner_->AddMember(alice_.identity.card(), Role::kMember));
    ASSERT_OK(owner_->AddMember(bob_.identity.card(), Role::kMember));
    ASSERT_OK(owner_->AddMember(carol_.identity.card(), Role::kMember));
    SyncAll();
    item_ = Create(owner_, "item", {{"sku", "A-1"}, {"name", "Bolt"}, {"unit", "pcs"}});
    supplier_ = Create(owner_, "supplier", {{"name", "ACME"}});
    SyncAll();
  }

  RecordId Create(TestDevice& d, const std::string& type,
                  const std::vector<std::pair<std::string, Value>>& fields) {
    auto id = d->CreateRecord(type, fields);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : RecordId{};
  }

  // An order by `d` with one line, submitted.
  RecordId SubmittedOrder(TestDevice& d, const std::string& number) {
    RecordId order = Create(
        d, "purchase_order",
        {{"number", number}, {"supplier", supplier_}, {"location", "Main"}, {"currency", "EUR"}});
    Create(d, "po_line",
           {{"order", order}, {"item", item_}, {"quantity", int64_t{3}}, {"unit_price", Eur(250)}});
    EXPECT_TRUE(d->Transition(order, "submit").ok());
    return order;
  }

  std::string State(TestDevice& d, const RecordId& id) {
    auto v = d->Get(id);
    return v ? v->state : "(missing)";
  }

  void SyncAll() {
    for (int round = 0; round < 2; ++round) {
      SyncPair(*owner_.workspace, *alice_.workspace);
      SyncPair(*owner_.workspace, *bob_.workspace);
      SyncPair(*alice_.workspace, *bob_.workspace);
    }
  }

  // The same deltas and the same state on every replica given.
  void ExpectAgree(std::initializer_list<TestDevice*> devices) {
    const Digests first = (*devices.begin())->workspace->digests();
    for (TestDevice* d : devices) {
      const Digests got = d->workspace->digests();
      EXPECT_EQ(got.version, first.version) << d->identity.card().name;
      EXPECT_EQ(got.state, first.state) << d->identity.card().name;
      EXPECT_EQ(got.unreadable, 0u) << d->identity.card().name;
    }
  }

  SystemClock clock_;
  TestDevice owner_{"owner", 1, clock_};
  TestDevice alice_{"alice", 2, clock_};
  TestDevice bob_{"bob", 3, clock_};
  TestDevice carol_{"carol", 4, clock_};
  RecordId item_, supplier_;
};

TEST_F(CheckpointTest, ANewMemberStartsFromTheCheckpointAndReachesTheSameState) {
  RecordId order = SubmittedOrder(owner_, "PO-1");
  SyncAll();
  ASSERT_OK(bob_->Transition(order, "approve"));
  ASSERT_OK(alice_->Set(item_, "reorder_point", Value(int64_t{5})));
  SyncAll();
  for (int i = 0; i < 20; ++i) SubmittedOrder(alice_, "PO-A" + std::to_string(i));
  SyncAll();

  auto claim = owner_->ClaimCheckpoint();
  ASSERT_OK(claim.status());
  EXPECT_TRUE(claim->trusted) << "an owner's claim is trusted at once";
  ASSERT_TRUE(owner_->Barrier());
  EXPECT_EQ(owner_->Barrier()->id, claim->id);
  auto bytes = owner_->MakeCheckpoint();
  ASSERT_OK(bytes.status());
  // The claim's own delta is after V: the checkpoint at the new version differs, the one named
  // in the claim is the one served.
  EXPECT_NE(crypto::Sha256(*bytes), claim->id);

  // Work after the checkpoint, then carol joins from the claimed checkpoint.
  SubmittedOrder(owner_, "PO-2");
  SyncAll();
  // The checkpoint named by the claim is kept by the owner's store; carol gets those bytes.
  auto served = owner_->CheckpointBytes(claim->id);
  ASSERT_OK(served.status());
  ASSERT_TRUE(served->has_value());
  EXPECT_EQ(crypto::Sha256(**served), claim->id);
  // Kept compressed in the store.
  auto listed = owner_.store->ListCheckpoints(owner_->id());
  ASSERT_OK(listed.status());
  ASSERT_FALSE(listed->empty());
  EXPECT_LT(listed->front().second, (*served)->size() / 2);
  auto carol =
      Workspace::JoinFromCheckpoint(carol_.identity, **served, *carol_.store, clock_, carol_.rng);
  ASSERT_OK(carol.status());
  carol_.workspace = std::move(carol).value();
  EXPECT_EQ(carol_->name(), "grove");
  ASSERT_TRUE(carol_->Barrier());
  EXPECT_FALSE(carol_->Barrier()->trusted) << "no claim seen yet";
  ApplyReport report = SendMissing(*owner_.workspace, *carol_.workspace);
  EXPECT_TRUE(report.rejected.empty()) << report.rejected.front().ToString();
  EXPECT_TRUE(carol_->Barrier()->trusted);
  ExpectAgree({&owner_, &alice_, &bob_, &carol_});
  EXPECT_EQ(State(carol_, order), "approved");
  EXPECT_EQ(carol_->List("purchase_order").size(), 22u);
  // carol received only the deltas after the checkpoint.
  EXPECT_LT(report.accepted, 10u);

  // carol works on: her actions are judged by everyone the same way, and she can read them.
  RecordId hers = SubmittedOrder(carol_, "PO-C");
  EXPECT_TRUE(carol_->Transition(hers, "approve").code() == Code::kFailedPrecondition)
      << "separation of duties holds on a replica without the history";
  SendMissing(*carol_.workspace, *owner_.workspace);
  SyncAll();
  ASSERT_OK(bob_->Transition(hers, "approve"));
  SyncAll();
  SendMissing(*owner_.workspace, *carol_.workspace);
  ExpectAgree({&owner_, &alice_, &bob_, &carol_});
  EXPECT_EQ(State(carol_, hers), "approved");

  // And after a restart, from the store.
  const Digests before = carol_->digests();
  carol_.Reopen();
  EXPECT_EQ(carol_->digests().state, before.state);
  EXPECT_EQ(carol_->digests().version, before.version);
  ASSERT_TRUE(carol_->Barrier());
  EXPECT_TRUE(carol_->Barrier()->trusted);
  EXPECT_EQ(State(carol_, hers), "approved");

  // A replica started from the checkpoint cannot serve the history under it.
  TestDevice dave{"dave", 5, clock_};
  dave.Join(*owner_.workspace);
  auto deltas = carol_->DeltasFor(dave->Version());
  EXPECT_EQ(deltas.status().code(), Code::kFailedPrecondition);
}

TEST_F(CheckpointTest, ACheckpointSettlesWorkConcurrentWithIt) {
  RecordId order = SubmittedOrder(owner_, "PO-1");
  SyncAll();
  // alice goes offline and approves; meanwhile the owner cancels the order and claims a
  // checkpoint that has the cancellation but not alice's approval.
  ASSERT_OK(alice_->Transition(order, "approve"));
  ASSERT_OK(owner_->Transition(order, "cancel", {{"cancel_reason", Value(std::string("wrong"))}}));
  SyncPair(*owner_.workspace, *bob_.workspace);
  auto claim = owner_->ClaimCheckpoint();
  ASSERT_OK(claim.status());
  ASSERT_TRUE(claim->trusted);
  auto cp = owner_->CheckpointBytes(claim->id);
  ASSERT_OK(cp.status());
  ASSERT_TRUE(cp->has_value());

  // bob has the whole history, and records changed since the checkpoint's version: he cannot
  // compute it, and until he gets its bytes his state is not final.
  ASSERT_OK(bob_->Set(supplier_, "name", Value(std::string("ACME Ltd"))));
  ASSERT_OK(bob_->Seal().status());
  SendMissing(*owner_.workspace, *bob_.workspace);
  EXPECT_EQ(bob_->MissingCheckpoint(), claim->id);
  EXPECT_GT(bob_->digests().unreadable, 0u);
  ASSERT_OK(bob_->AddCheckpoint(**cp));
  EXPECT_FALSE(bob_->MissingCheckpoint());

  // carol starts from the checkpoint.
  auto carol =
      Workspace::JoinFromCheckpoint(carol_.identity, **cp, *carol_.store, clock_, carol_.rng);
  ASSERT_OK(carol.status());
  carol_.workspace = std::move(carol).value();
  SendMissing(*owner_.workspace, *carol_.workspace);

  // alice comes back: her approval, made before she saw the cancellation, is judged on top of
  // the checkpoint by everyone, the owner and bob (whole history) and carol (checkpoint) alike.
  SendMissing(*alice_.workspace, *owner_.workspace);
  SendMissing(*alice_.workspace, *bob_.workspace);
  SendMissing(*alice_.workspace, *carol_.workspace);
  SendMissing(*owner_.workspace, *alice_.workspace);
  ASSERT_EQ(alice_->MissingCheckpoint(), claim->id);
  ASSERT_OK(alice_->AddCheckpoint(**cp));
  for (int round = 0; round < 2; ++round) {
    for (TestDevice* a : {&owner_, &alice_, &bob_, &carol_}) {
      for (TestDevice* b : {&owner_, &alice_, &bob_, &carol_}) {
        if (a != b) SendMissing(*a->workspace, *b->workspace);
      }
    }
  }
  ExpectAgree({&owner_, &alice_, &bob_, &carol_});
  for (TestDevice* d : {&owner_, &alice_, &bob_, &carol_}) {
    EXPECT_EQ(State(*d, order), "cancelled") << d->identity.card().name;
  }
  // Refused because the order is cancelled in the settled state, which alice had not seen.
  for (TestDevice* d : {&owner_, &bob_, &carol_}) {
    bool reported = false;
    for (const Status& p : (*d)->problems()) {
      reported |= p.message().find(
                      "state: approve needs state submitted; the purchase_order is "
                      "cancelled") != std::string::npos;
    }
    EXPECT_TRUE(reported) << d->identity.card().name << " did not judge it on the checkpoint";
  }
}

// The creator hands ownership to alice and stays a member: its proposals then need a member's
// attestation.
class QuorumTest : public CheckpointTest {
 protected:
  void SetUp() override {
    CheckpointTest::SetUp();
    ASSERT_OK(owner_->AddMember(alice_.identity.card(), Role::kOwner));
    SyncAll();
    ASSERT_OK(alice_->AddMember(owner_.identity.card(), Role::kMember));
    SyncAll();
    ASSERT_EQ(owner_->RoleOf(owner_.identity.device()), Role::kMember);
  }
};

TEST_F(QuorumTest, OnlyTheCreatorProposesAndAMemberAttests) {
  // One proposer: its claims come one after another, so trusted checkpoints form a chain.
  EXPECT_EQ(alice_->ClaimCheckpoint().status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(bob_->ClaimCheckpoint().status().code(), Code::kFailedPrecondition);

  SubmittedOrder(bob_, "PO-1");
  SyncAll();
  auto claim = owner_->ClaimCheckpoint();
  ASSERT_OK(claim.status());
  EXPECT_FALSE(claim->trusted) << "a member's proposal alone is not trusted";
  // Nothing to attest before the claim arrives.
  auto none = bob_->AttestClaims();
  ASSERT_OK(none.status());
  EXPECT_FALSE(none->has_value());
  SendMissing(*owner_.workspace, *bob_.workspace);
  auto attested = bob_->AttestClaims();
  ASSERT_OK(attested.status());
  ASSERT_TRUE(attested->has_value());
  EXPECT_EQ((*attested)->id, claim->id) << "equal versions give equal checkpoints";
  EXPECT_TRUE((*attested)->trusted) << "two members' claims are the quorum";
  SyncAll();
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    ASSERT_TRUE((*d)->Barrier()) << d->identity.card().name;
    EXPECT_EQ((*d)->Barrier()->id, claim->id);
    EXPECT_TRUE((*d)->Barrier()->trusted);
  }
  ExpectAgree({&owner_, &alice_, &bob_});

  // A member whose records moved on since the proposed version does not attest it.
  auto next = owner_->ClaimCheckpoint();
  ASSERT_OK(next.status());
  SubmittedOrder(bob_, "PO-2");
  SendMissing(*owner_.workspace, *bob_.workspace);
  auto moved = bob_->AttestClaims();
  ASSERT_OK(moved.status());
  EXPECT_FALSE(moved->has_value());
}

TEST_F(QuorumTest, TrustOnceGivenIsNotTakenBackByALaterRemoval) {
  SubmittedOrder(bob_, "PO-1");
  SyncAll();
  auto claim = owner_->ClaimCheckpoint();
  ASSERT_OK(claim.status());
  SendMissing(*owner_.workspace, *bob_.workspace);
  auto attested = bob_->AttestClaims();
  ASSERT_OK(attested.status());
  ASSERT_TRUE(attested->has_value());
  SendMissing(*bob_.workspace, *owner_.workspace);
  ASSERT_TRUE(owner_->Barrier() && owner_->Barrier()->trusted);
  // alice, who had seen neither, removes bob: his later deltas are void by the cut-off, but the
  // attestation he made as a member stands, so nobody's settled history changes under them.
  ASSERT_OK(alice_->RemoveMember(bob_.identity.device()));
  SyncPair(*owner_.workspace, *alice_.workspace);
  SyncPair(*owner_.workspace, *alice_.workspace);
  for (TestDevice* d : {&owner_, &alice_}) {
    ASSERT_TRUE((*d)->Barrier()) << d->identity.card().name;
    EXPECT_EQ((*d)->Barrier()->id, claim->id);
    EXPECT_TRUE((*d)->Barrier()->trusted) << d->identity.card().name;
    EXPECT_FALSE((*d)->MissingCheckpoint());
  }
  ExpectAgree({&owner_, &alice_});
}

size_t StoredDeltas(TestDevice& d) {
  size_t n = 0;
  EXPECT_TRUE(d.store
                  ->ForEachDelta(d->id(),
                                 [&](const store::DeltaRow&) {
                                   ++n;
                                   return true;
                                 })
                  .ok());
  return n;
}

TEST_F(CheckpointTest, PrunedHistoryAndAMemberBackFromWeeksAway) {
  // alice goes away for "weeks" with work of her own that nobody has seen.
  RecordId hers = Create(alice_, "supplier", {{"name", "Offline Supplies"}});
  ASSERT_OK(alice_->Set(supplier_, "name", Value(std::string("ACME (renamed offline)"))));
  ASSERT_OK(alice_->Seal().status());

  // The others carry on, checkpoint, and acknowledge it.
  for (int i = 0; i < 30; ++i) {
    TestDevice& d = i % 2 ? owner_ : bob_;
    SubmittedOrder(d, "PO-" + std::to_string(i));
    ASSERT_OK(d->Seal().status());
  }
  SyncPair(*owner_.workspace, *bob_.workspace);
  auto claim = owner_->ClaimCheckpoint();
  ASSERT_OK(claim.status());
  SyncPair(*owner_.workspace, *bob_.workspace);
  ASSERT_OK(bob_->AddCheckpoint(**owner_->CheckpointBytes(claim->id)));
  SubmittedOrder(bob_, "PO-after");  // bob's acknowledgement: a delta made after seeing it
  SyncPair(*owner_.workspace, *bob_.workspace);

  // alice was active recently (her admission): within a week she is waited for.
  auto waiting = owner_->Prune(7ull * 24 * 3600 * 1000);
  ASSERT_OK(waiting.status());
  EXPECT_EQ(waiting->deltas, 0u);
  // alice, and carol, admitted but never seen.
  ASSERT_EQ(waiting->waiting_for.size(), 2u);
  EXPECT_TRUE(std::count(waiting->waiting_for.begin(), waiting->waiting_for.end(),
                         alice_.identity.device()));
  // With no wait (she counts as gone), the history under the checkpoint goes.
  const size_t before = StoredDeltas(owner_);
  auto pruned = owner_->Prune(0);
  ASSERT_OK(pruned.status());
  EXPECT_GT(pruned->deltas, 30u);
  EXPECT_EQ(StoredDeltas(owner_), before - pruned->deltas);
  const Digests owner_before = owner_->digests();
  owner_.Reopen();
  EXPECT_EQ(owner_->digests().state, owner_before.state) << "pruning changes no state";
  EXPECT_EQ(owner_->digests().version, owner_before.version);

  // alice is back: the owner cannot send her the history any more; she takes the checkpoint,
  // keeps her own work, and everyone converges.
  EXPECT_EQ(owner_->DeltasFor(alice_->Version()).status().code(), Code::kFailedPrecondition);
  auto cp = owner_->CheckpointBytes(owner_->Barrier()->id);
  ASSERT_OK(cp.status());
  ASSERT_TRUE(cp->has_value());
  ASSERT_OK(alice_->AddCheckpoint(**cp));
  ApplyReport report = SendMissing(*owner_.workspace, *alice_.workspace);
  EXPECT_TRUE(report.rejected.empty()) << report.rejected.front().ToString();
  ASSERT_TRUE(alice_->Barrier());
  EXPECT_TRUE(alice_->Barrier()->trusted);
  SendMissing(*alice_.workspace, *owner_.workspace);
  SyncPair(*owner_.workspace, *bob_.workspace);
  ExpectAgree({&owner_, &alice_, &bob_});
  for (TestDevice* d : {&owner_, &alice_, &bob_}) {
    auto v = (*d)->Get(hers);
    ASSERT_TRUE(v) << d->identity.card().name << " lacks alice's offline record";
    EXPECT_EQ(v->fields["name"], Value(std::string("Offline Supplies")));
  }
  EXPECT_EQ(owner_->List("purchase_order").size(), 31u);
  // Nothing needs the pruned history any more.
  EXPECT_TRUE(owner_->DeltasFor(alice_->Version()).ok());
  EXPECT_TRUE(owner_->DeltasFor(bob_->Version()).ok());
}

TEST_F(CheckpointTest, DeltasHeldUnderAnAdoptedCheckpointAreNotUnreadable) {
  // dave is invited (he holds the genesis) and syncs before his admission: he holds deltas
  // sealed under a key he does not have yet.
  TestDevice dave{"dave", 5, clock_};
  dave.Join(*owner_.workspace);
  SubmittedOrder(alice_, "PO-1");
  ASSERT_OK(alice_->Seal().status());
  SendMissing(*alice_.workspace, *dave.workspace);
  EXPECT_GT(dave->digests().unreadable, 0u);

  // The owner admits him and claims a checkpoint over all of it; dave, behind it, adopts it. The
  // deltas he held under it are settled by it (their effect is in it): nothing is left to read.
  SyncAll();
  ASSERT_OK(owner_->AddMember(dave.identity.card(), Role::kMember));
  auto claim = owner_->ClaimCheckpoint();
  ASSERT_OK(claim.status());
  auto cp = owner_->CheckpointBytes(claim->id);
  ASSERT_OK(cp.status());
  ASSERT_TRUE(cp->has_value());
  ASSERT_OK(dave->AddCheckpoint(**cp));
  ASSERT_TRUE(dave->Barrier());
  EXPECT_EQ(dave->Barrier()->id, claim->id);
  SendMissing(*owner_.workspace, *dave.workspace);
  EXPECT_TRUE(dave->Barrier()->trusted);
  EXPECT_FALSE(dave->MissingCheckpoint());
  ExpectAgree({&owner_, &dave});
  // His state is final: he can checkpoint it, and a checkpoint at the same version is the same.
  auto mine = dave->MakeCheckpoint();
  ASSERT_OK(mine.status());
  auto theirs = owner_->MakeCheckpoint();
  ASSERT_OK(theirs.status());
  EXPECT_EQ(crypto::Sha256(*mine), crypto::Sha256(*theirs));
}

TEST_F(CheckpointTest, GarbageIsRefusedAndChangesNothing) {
  Bytes junk = {1, 2, 3, 4, 5};
  auto ws = Workspace::JoinFromCheckpoint(carol_.identity, junk, *carol_.store, clock_, carol_.rng);
  EXPECT_EQ(ws.status().code(), Code::kCorruption);
  auto listed = carol_.store->ListWorkspaces();
  ASSERT_OK(listed.status());
  EXPECT_TRUE(listed->empty());
  EXPECT_EQ(owner_->AddCheckpoint(junk).code(), Code::kCorruption);
  // A checkpoint of another workspace.
  TestDevice other{"other", 9, clock_};
  other.Create("elsewhere");
  auto theirs = other->MakeCheckpoint();
  ASSERT_OK(theirs.status());
  EXPECT_EQ(owner_->AddCheckpoint(*theirs).code(), Code::kCorruption);
}

}  // namespace
}  // namespace grove::replica
