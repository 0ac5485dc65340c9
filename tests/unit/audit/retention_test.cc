// Retention and legal holds against a real PostgreSQL: Prune removes content but keeps rows, leaf
// hashes and verification; holds (workspace, record) keep entries; admin entries stay; pruning
// is idempotent and recorded; tampering with pruned rows is still caught.
#include "audit/retention.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include <string>
#include <vector>

#include "audit/inbox.h"
#include "audit/search.h"
#include "support/status_assert.h"
#include "unit/audit/audit_test_util.h"

namespace grove::audit {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared fixtures

constexpr uint64_t kDay = 86'400'000;
const Bytes kWs = Bytes(32, 7);     // Fill()'s workspace
const Bytes kOther = Bytes(32, 9);  // another workspace

class AuditRetentionTest : public AuditLogTest {
 protected:
  // Fill()'s 12 entries of kWs (seq i received at MakeEntry(i).received_at_ms), 2 of kOther
  // (seqs 12, 13, as old as entry 0), an admin entry of kWs (seq 14) as old as entry 0, and a
  // head over all 15.
  void SetUp() override {
    AuditLogTest::SetUp();
    log_ = Fill();
    ASSERT_NE(log_, nullptr);
    std::vector<Entry> other = Entries(0, 2);
    for (Entry& e : other) e.workspace = kOther;
    ASSERT_OK(log_->Append(other));
    {
      pqxx::connection conn(url_);
      pqxx::work txn(conn);
      AdminAction a;
      a.at_ms = MakeEntry(0).received_at_ms;
      a.actor = "admin:alice";
      a.action = "policy.set";
      a.target = "ws";
      a.detail = "{}";
      a.workspace = kWs;
      ASSERT_OK(QueueAdminAction(txn, a));
      txn.commit();
    }
    ASSERT_EQ(*log_->DrainInbox(), 1u);
    clock_.Advance(1000);
    ASSERT_TRUE(log_->SignHead().ok());
  }

  // Prunes kWs (keep 1 day) as if now were one day after entry `i` was received: entries before
  // i are due.
  PruneReport PruneBefore(int i, const Bytes& ws = kWs) {
    RetentionRule rule;
    rule.workspace = ws;
    rule.keep_days = 1;
    Result<PruneReport> r = Prune(url_, rule, MakeEntry(i).received_at_ms + kDay);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : PruneReport{};
  }

  std::vector<FoundEntry> All() {
    Query q;
    q.limit = kMaxSearchLimit;
    Result<SearchPage> page = Search(url_, q);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    return page.ok() ? page->entries : std::vector<FoundEntry>{};
  }

  std::vector<uint64_t> PrunedSeqs() {
    std::vector<uint64_t> out;
    for (const FoundEntry& f : All()) {
      if (f.pruned) out.push_back(f.entry.seq);
    }
    return out;
  }

  Hold HoldOn(const Bytes& ws, std::optional<std::string> record) {
    Hold h;
    h.workspace = ws;
    h.record = std::move(record);
    h.reason = "matter 2024-17";
    h.placed_by = "legal:carol";
    h.placed_at_ms = 1'800'000'000'000;
    Result<Hold> placed = PlaceHold(url_, h);
    EXPECT_TRUE(placed.ok()) << placed.status().ToString();
    return placed.ok() ? *placed : Hold{};
  }

  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditRetentionTest, PruneRemovesContentKeepsRowsAndTheLogVerifies) {
  const std::vector<FoundEntry> before = All();
  const PruneReport r = PruneBefore(5);
  EXPECT_EQ(r.pruned, 5u);  // seqs 0..4 of kWs; not kOther's, not the admin entry
  EXPECT_EQ(r.held, 0u);
  EXPECT_EQ(r.cutoff_ms, MakeEntry(5).received_at_ms);
  const std::vector<FoundEntry> after = All();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    const FoundEntry& a = after[i];
    const FoundEntry& b = before[i];
    EXPECT_EQ(a.entry.seq, b.entry.seq);
    EXPECT_EQ(a.leaf_hash, b.leaf_hash);  // the tree is untouched
    EXPECT_EQ(a.entry.kind, b.entry.kind);
    EXPECT_EQ(a.entry.workspace, b.entry.workspace);
    EXPECT_EQ(a.entry.received_at_ms, b.entry.received_at_ms);
    if (a.entry.seq < 5) {
      EXPECT_TRUE(a.pruned);
      EXPECT_EQ(a.entry.device, "");
      EXPECT_EQ(a.entry.user_name, "");
      EXPECT_EQ(a.entry.record, "");
      EXPECT_EQ(a.entry.new_value, "");
      EXPECT_EQ(a.entry.hlc, 0u);
      EXPECT_TRUE(a.entry.delta_hash.empty());
    } else {
      EXPECT_FALSE(a.pruned) << a.entry.seq;
      EXPECT_EQ(a.entry, b.entry);
    }
  }
  const VerifyReport report = Verify(Key(1).public_key());
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.entries, 15u);
  EXPECT_EQ(report.entries_checked, 15u);
  EXPECT_EQ(report.entries_pruned, 5u);
  // The writer carries on over a pruned log.
  ASSERT_OK(log_->Append(Entries(20, 1)));
  ASSERT_TRUE(log_->SignHead().ok());
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditRetentionTest, AdminEntriesAreNeverPruned) {
  PruneBefore(11);
  std::vector<uint64_t> want = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(PrunedSeqs(), want);  // 14, the admin entry of kWs as old as entry 0, stays
  PruneBefore(11, kOther);
  want.push_back(12);
  want.push_back(13);
  EXPECT_EQ(PrunedSeqs(), want);
}

TEST_F(AuditRetentionTest, TheCutoffIsExclusive) {
  RetentionRule rule;
  rule.workspace = kWs;
  rule.keep_days = 1;
  // Entry 3 received exactly at the cutoff stays; entry 2, 1001 ms earlier, goes.
  Result<PruneReport> r = Prune(url_, rule, MakeEntry(3).received_at_ms + kDay);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(PrunedSeqs(), (std::vector<uint64_t>{0, 1, 2}));
  // keep_days counts whole days: the same instant with 2 days prunes nothing more.
  rule.keep_days = 2;
  r = Prune(url_, rule, MakeEntry(11).received_at_ms + kDay);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pruned, 0u);
}

TEST_F(AuditRetentionTest, PruningTwiceIsANoOp) {
  EXPECT_EQ(PruneBefore(6).pruned, 6u);
  const std::vector<FoundEntry> once = All();
  const PruneReport again = PruneBefore(6);
  EXPECT_EQ(again.pruned, 0u);
  const std::vector<FoundEntry> twice = All();
  ASSERT_EQ(once.size(), twice.size());
  for (size_t i = 0; i < once.size(); ++i) {
    EXPECT_EQ(once[i].entry, twice[i].entry);
    EXPECT_EQ(once[i].pruned, twice[i].pruned);
  }
  // Only the pruning that removed something was queued for the log.
  pqxx::connection conn(url_);
  pqxx::work txn(conn);
  EXPECT_EQ(txn.exec1("SELECT count(*) FROM audit_inbox WHERE action = 'audit.prune'")[0].as<int>(),
            1);
}

TEST_F(AuditRetentionTest, PruningIsRecordedInTheLog) {
  PruneBefore(4);
  ASSERT_EQ(*log_->DrainInbox(), 1u);
  Query q;
  q.op = "audit.prune";
  Result<SearchPage> page = Search(url_, q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 1u);
  const Entry& e = page->entries[0].entry;
  EXPECT_EQ(e.kind, EntryKind::kAdmin);
  EXPECT_EQ(e.device, "retention");
  EXPECT_EQ(e.workspace, kWs);
  EXPECT_NE(e.new_value.find("\"pruned\":4"), std::string::npos) << e.new_value;
  EXPECT_NE(e.new_value.find("\"first_seq\":0,\"last_seq\":3"), std::string::npos) << e.new_value;
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditRetentionTest, WorkspaceHoldKeepsEverythingUntilReleased) {
  const Hold hold = HoldOn(kWs, std::nullopt);
  PruneReport r = PruneBefore(8);
  EXPECT_EQ(r.pruned, 0u);
  EXPECT_EQ(r.held, 8u);
  EXPECT_TRUE(PrunedSeqs().empty());
  // A hold on one workspace does not keep another's.
  EXPECT_EQ(PruneBefore(8, kOther).pruned, 2u);
  ASSERT_OK(ReleaseHold(url_, hold.id, "legal:carol", 1'800'000'100'000));
  r = PruneBefore(8);
  EXPECT_EQ(r.pruned, 8u);
  EXPECT_EQ(r.held, 0u);
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditRetentionTest, RecordHoldKeepsOnlyThatRecord) {
  HoldOn(kWs, "order/2");
  HoldOn(kWs, "order/5");
  HoldOn(kOther, "order/3");  // another workspace's record of the same name
  const PruneReport r = PruneBefore(6);
  EXPECT_EQ(r.held, 2u);
  EXPECT_EQ(r.pruned, 4u);
  EXPECT_EQ(PrunedSeqs(), (std::vector<uint64_t>{0, 1, 3, 4}));
  Query q;
  q.record = "order/2";
  Result<SearchPage> kept = Search(url_, q);
  ASSERT_TRUE(kept.ok());
  ASSERT_EQ(kept->entries.size(), 1u);
  EXPECT_EQ(kept->entries[0].entry.new_value, MakeEntry(2).new_value);
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditRetentionTest, HoldsAreListedReleasedOnceAndRecorded) {
  const Hold a = HoldOn(kWs, std::nullopt);
  const Hold b = HoldOn(kWs, "order/1");
  const Hold c = HoldOn(kOther, std::nullopt);
  EXPECT_NE(a.id, b.id);
  Result<std::vector<Hold>> active = ListHolds(url_, kWs, false);
  ASSERT_TRUE(active.ok()) << active.status().ToString();
  ASSERT_EQ(active->size(), 2u);
  EXPECT_EQ((*active)[0], a);
  EXPECT_EQ((*active)[1].record, std::optional<std::string>("order/1"));
  ASSERT_OK(ReleaseHold(url_, b.id, "legal:dave", 1'800'000'500'000));
  EXPECT_EQ(ReleaseHold(url_, b.id, "legal:dave", 1'800'000'600'000).code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(ReleaseHold(url_, 9999, "legal:dave", 1).code(), Code::kNotFound);
  active = ListHolds(url_, std::nullopt, false);
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 2u);
  EXPECT_EQ((*active)[1].id, c.id);
  Result<std::vector<Hold>> all = ListHolds(url_, std::nullopt, true);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[1].released_by, std::optional<std::string>("legal:dave"));
  EXPECT_EQ((*all)[1].released_at_ms, std::optional<uint64_t>(1'800'000'500'000));
  // Four actions for the log: three placed, one released.
  ASSERT_EQ(*log_->DrainInbox(), 4u);
  Query q;
  q.kind = EntryKind::kAdmin;
  q.op = "audit.hold.release";
  Result<SearchPage> page = Search(url_, q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 1u);
  EXPECT_EQ(page->entries[0].entry.user_name, "legal:dave");
  EXPECT_EQ(page->entries[0].entry.record, "hold/" + std::to_string(b.id));
}

TEST_F(AuditRetentionTest, BadArgumentsNameTheField) {
  RetentionRule rule;
  rule.workspace = kWs;
  rule.keep_days = 0;
  EXPECT_EQ(Prune(url_, rule, 1).status().where(), "keep_days");
  rule.keep_days = kMaxKeepDays + 1;
  EXPECT_EQ(Prune(url_, rule, 1).status().where(), "keep_days");
  rule.keep_days = 1;
  rule.workspace.clear();
  EXPECT_EQ(Prune(url_, rule, 1).status().where(), "workspace");
  // Now before the retention period: nothing is due.
  rule.workspace = kWs;
  Result<PruneReport> early = Prune(url_, rule, kDay);
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->pruned, 0u);

  Hold h;
  h.workspace = kWs;
  h.reason = "r";
  h.placed_by = "p";
  h.record = "";
  EXPECT_EQ(PlaceHold(url_, h).status().where(), "record");
  h.record.reset();
  h.reason = "";
  EXPECT_EQ(PlaceHold(url_, h).status().where(), "reason");
  h.reason = "r";
  h.placed_by = std::string("a\0b", 3);
  EXPECT_EQ(PlaceHold(url_, h).status().where(), "placed_by");
  h.placed_by = "p";
  h.workspace.clear();
  EXPECT_EQ(PlaceHold(url_, h).status().where(), "workspace");
  EXPECT_EQ(ReleaseHold(url_, 1, "", 1).where(), "released_by");
}

// --- tampering with pruned rows ------------------------------------------------------------------

TEST_F(AuditRetentionTest, DeletedPrunedRowIsCaught) {
  PruneBefore(5);
  Exec(url_, "DELETE FROM audit_entries WHERE seq = 2");
  const VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.bad_seq, 2u);
  EXPECT_EQ(report.problem, "entry 2 missing (seq jumps from 1 to 3)");
}

TEST_F(AuditRetentionTest, ChangedLeafHashOfAPrunedRowIsCaughtByTheHeads) {
  PruneBefore(5);
  Exec(url_,
       "UPDATE audit_entries SET leaf_hash = '\\x" + std::string(64, 'd') + "' WHERE seq = 1");
  const VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.problem.rfind("tree head at size 3: root differs from the entries", 0), 0u)
      << report.problem;
  EXPECT_EQ(report.bad_seq, 0u);
}

TEST_F(AuditRetentionTest, PrunedRowsMovedAroundAreCaught) {
  PruneBefore(5);
  // Two pruned rows trade places: both have empty content, but their leaf hashes differ.
  Exec(url_,
       "UPDATE audit_entries SET seq = 1000 WHERE seq = 1; "
       "UPDATE audit_entries SET seq = 1 WHERE seq = 3; "
       "UPDATE audit_entries SET seq = 3 WHERE seq = 1000");
  const VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.problem.rfind("tree head at size 3: root differs", 0), 0u) << report.problem;
}

TEST_F(AuditRetentionTest, UnprunedWithMadeUpContentIsCaught) {
  PruneBefore(5);
  Exec(url_,
       "UPDATE audit_entries SET pruned = false, device = 'device-0', user_name = 'mallory', "
       "op = 'set', record = 'order/3', new_value = '\"v3\"', hlc = 1003 WHERE seq = 3");
  const VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.bad_seq, 3u);
  EXPECT_EQ(report.problem, "entry 3: fields do not match its leaf hash");
}

TEST_F(AuditRetentionTest, ContentOnAPrunedRowIsCaught) {
  PruneBefore(5);
  // The schema refuses it; SQL behind our back can drop the check first.
  Exec(url_,
       "ALTER TABLE audit_entries DROP CONSTRAINT audit_entries_pruned_is_empty; "
       "UPDATE audit_entries SET user_name = 'mallory' WHERE seq = 4");
  VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.bad_seq, 4u);
  EXPECT_EQ(report.problem, "entry 4: pruned but has content");
  // An admin entry marked pruned (with its content gone) is caught too.
  Exec(url_,
       "UPDATE audit_entries SET user_name = '' WHERE seq = 4; "
       "UPDATE audit_entries SET pruned = true, device = '', user_name = '', op = '', "
       "record = '', field = '', old_value = '', new_value = '', hlc = 0, "
       "delta_hash = ''::bytea WHERE seq = 14");
  report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.bad_seq, 14u);
  EXPECT_EQ(report.problem,
            "entry 14: an admin entry is marked pruned (admin entries are never pruned)");
}

TEST_F(AuditRetentionTest, TheSchemaRefusesContentOnPrunedRows) {
  PruneBefore(5);
  EXPECT_THROW(Exec(url_, "UPDATE audit_entries SET user_name = 'x' WHERE seq = 1"),
               pqxx::check_violation);
  EXPECT_THROW(Exec(url_, "UPDATE audit_entries SET pruned = true WHERE seq = 7"),
               pqxx::check_violation);
}

}  // namespace
}  // namespace grove::audit
