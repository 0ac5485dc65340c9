// AuditLog and VerifyLog against a real PostgreSQL (tests/support/test_postgres.h): the log
// verifies as written, and each kind of tampering done with SQL behind its back is caught and
// named. Also runs `grove audit verify` for its exit codes.
#include "audit/audit_log.h"
#include "audit/inbox.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/status_assert.h"
#include "unit/audit/audit_test_util.h"

namespace grove::audit {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared fixtures

TEST_F(AuditLogTest, AppendedLogVerifies) {
  std::unique_ptr<AuditLog> log = Fill();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->size(), 12u);
  const VerifyReport report = Verify(Key(1).public_key());
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.entries, 12u);
  EXPECT_EQ(report.entries_checked, 12u);
  EXPECT_EQ(report.heads_checked, 3u);
  EXPECT_EQ(report.unsigned_entries, 2u);
  EXPECT_FALSE(report.bad_seq.has_value());
  EXPECT_EQ(report.where.find("@"), std::string::npos);
}

TEST_F(AuditLogTest, ReopenLoadsTheSameTree) {
  std::unique_ptr<AuditLog> log = Fill();
  ASSERT_NE(log, nullptr);
  const Hash32 root = log->Root();
  log.reset();
  Result<std::unique_ptr<AuditLog>> again = AuditLog::Open(url_, Key(1), clock_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->size(), 12u);
  EXPECT_EQ((*again)->Root(), root);
  // Appending after reopening continues the seqs and still verifies.
  ASSERT_OK((*again)->Append(Entries(12, 1)));
  ASSERT_TRUE((*again)->SignHead().ok());
  const VerifyReport report = Verify();
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.heads_checked, 4u);
}

TEST_F(AuditLogTest, SecondWriterIsRefused) {
  std::unique_ptr<AuditLog> first = Fill();
  ASSERT_NE(first, nullptr);
  Result<std::unique_ptr<AuditLog>> second = AuditLog::Open(url_, Key(1), clock_);
  ASSERT_TRUE(second.ok());
  ASSERT_OK((*second)->Append(Entries(12, 1)));
  const Status s = first->Append(Entries(12, 1));
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(first->size(), 13u);  // reloaded
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditLogTest, SigningTheSameSizeTwiceKeepsTheFirstHead) {
  std::unique_ptr<AuditLog> log = Fill();
  ASSERT_NE(log, nullptr);
  Result<SignedHead> a = log->SignHead();
  ASSERT_TRUE(a.ok());
  clock_.Advance(5000);
  Result<SignedHead> b = log->SignHead();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->head, b->head);
  EXPECT_EQ(a->signature, b->signature);
}

TEST_F(AuditLogTest, ProofsVerifyAgainstStoredHeads) {
  std::unique_ptr<AuditLog> log = Fill();
  ASSERT_NE(log, nullptr);
  Result<std::vector<SignedHead>> heads = log->Heads();
  ASSERT_TRUE(heads.ok());
  ASSERT_EQ(heads->size(), 3u);
  const crypto::PublicKey key = Key(1).public_key();
  for (const SignedHead& h : *heads) {
    ASSERT_OK(VerifyTreeHead(h.head, h.signature, key));
    for (uint64_t seq = 0; seq < h.head.size; ++seq) {
      Entry e = MakeEntry(static_cast<int>(seq));
      e.seq = seq;
      Result<std::vector<Hash32>> proof = log->InclusionProof(seq, h.head.size);
      ASSERT_TRUE(proof.ok());
      EXPECT_TRUE(
          IsOk(VerifyInclusion(LeafHash(EncodeEntry(e)), seq, h.head.size, *proof, h.head.root)))
          << "seq " << seq << " in head " << h.head.size;
    }
  }
  for (size_t i = 0; i < heads->size(); ++i) {
    for (size_t j = i; j < heads->size(); ++j) {
      const TreeHead& a = (*heads)[i].head;
      const TreeHead& b = (*heads)[j].head;
      Result<std::vector<Hash32>> proof = log->ConsistencyProof(a.size, b.size);
      ASSERT_TRUE(proof.ok());
      EXPECT_TRUE(IsOk(VerifyConsistency(a.size, b.size, a.root, b.root, *proof)));
    }
  }
  // A proof for an entry with one field changed does not verify.
  Entry forged = MakeEntry(2);
  forged.seq = 2;
  forged.new_value = "\"forged\"";
  const TreeHead& last = heads->back().head;
  Result<std::vector<Hash32>> proof = log->InclusionProof(2, last.size);
  ASSERT_TRUE(proof.ok());
  EXPECT_FALSE(
      VerifyInclusion(LeafHash(EncodeEntry(forged)), 2, last.size, *proof, last.root).ok());
  EXPECT_EQ(log->InclusionProof(12, 12).status().code(), Code::kInvalidArgument);
}

TEST_F(AuditLogTest, ChangedFieldNamesTheEntry) {
  ASSERT_NE(Fill(), nullptr);
  Exec(url_, "UPDATE audit_entries SET new_value = '\"v99\"' WHERE seq = 5");
  const VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.bad_seq, 5u);
  EXPECT_EQ(report.problem, "entry 5: fields do not match its leaf hash");
  EXPECT_EQ(report.entries_checked, 5u);
}

TEST_F(AuditLogTest, ChangedTimestampNamesTheEntry) {
  ASSERT_NE(Fill(), nullptr);
  Exec(url_,
       "UPDATE audit_entries SET received_at = received_at + interval '1 millisecond' "
       "WHERE seq = 11");
  const VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.bad_seq, 11u);
}

TEST_F(AuditLogTest, DeletedRowNamesTheGap) {
  ASSERT_NE(Fill(), nullptr);
  Exec(url_, "DELETE FROM audit_entries WHERE seq = 4");
  const VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.bad_seq, 4u);
  EXPECT_EQ(report.problem, "entry 4 missing (seq jumps from 3 to 5)");
}

TEST_F(AuditLogTest, DeletedFirstAndLastRows) {
  ASSERT_NE(Fill(), nullptr);
  Exec(url_, "DELETE FROM audit_entries WHERE seq = 0");
  VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.bad_seq, 0u);
  EXPECT_EQ(report.problem, "entry 0 missing (the log starts at seq 1)");

  url_ = pg_->NewDatabase();
  ASSERT_NE(Fill(), nullptr);
  // The tail of a signed head: rows 7..11 gone, so the head at size 10 has too few entries.
  Exec(url_, "DELETE FROM audit_entries WHERE seq >= 7");
  report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.bad_seq, 7u);
  EXPECT_EQ(report.problem,
            "tree head at size 10: the log has only 7 entries (entries at the end were deleted)");
}

TEST_F(AuditLogTest, SwappedSeqsAreCaught) {
  ASSERT_NE(Fill(), nullptr);
  // Rows 2 and 6 trade places (through a free seq: the primary key is checked per row).
  Exec(url_,
       "UPDATE audit_entries SET seq = 1000 WHERE seq = 2; "
       "UPDATE audit_entries SET seq = 2 WHERE seq = 6; "
       "UPDATE audit_entries SET seq = 6 WHERE seq = 1000");
  const VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.bad_seq, 2u);
  EXPECT_EQ(report.problem, "entry 2: fields do not match its leaf hash");
}

TEST_F(AuditLogTest, RewrittenLeafHashesAreCaughtByTheHeads) {
  std::unique_ptr<AuditLog> log = Fill();
  ASSERT_NE(log, nullptr);
  // A forger who also fixes the stored leaf hash: only the signed heads can tell.
  Entry forged = MakeEntry(8);
  forged.seq = 8;
  forged.new_value = "\"forged\"";
  const Hash32 leaf = LeafHash(EncodeEntry(forged));
  Exec(url_, "UPDATE audit_entries SET new_value = '\"forged\"', leaf_hash = '\\x" +
                 HexEncode(leaf) + "' WHERE seq = 8");
  const VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.entries_checked, 12u);
  EXPECT_EQ(report.heads_checked, 2u);
  EXPECT_EQ(report.bad_seq, 7u);  // the first entry no good head covers
  EXPECT_EQ(report.problem.rfind("tree head at size 10: root differs from the entries", 0), 0u)
      << report.problem;
}

TEST_F(AuditLogTest, LongLogVerifiesAcrossPagesAndNamesABadEntry) {
  // VerifyLog reads 10,000 rows a page with the next page already requested: a log of several
  // pages verifies with heads inside and at the ends of pages, and a bad row in the first page
  // stops it with the page after in flight, yet the report still counts every row.
  Result<std::unique_ptr<AuditLog>> log = AuditLog::Open(url_, Key(1), clock_);
  ASSERT_TRUE(log.ok());
  for (int from = 0; from < 25000; from += 5000) {
    ASSERT_OK((*log)->Append(Entries(from, 5000)));
    clock_.Advance(1000);
    ASSERT_TRUE((*log)->SignHead().ok());  // sizes 5000, 10000, ..., 25000
  }
  ASSERT_OK((*log)->Append(Entries(25000, 7)));
  VerifyReport report = Verify(Key(1).public_key());
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.entries_checked, 25007u);
  EXPECT_EQ(report.heads_checked, 5u);
  EXPECT_EQ(report.unsigned_entries, 7u);

  Exec(url_, "UPDATE audit_entries SET op = 'add' WHERE seq = 9999");
  report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.bad_seq, 9999u);
  EXPECT_EQ(report.entries, 25007u);
  EXPECT_EQ(report.entries_checked, 9999u);
}

TEST_F(AuditLogTest, ChangedHeadRootIsCaught) {
  ASSERT_NE(Fill(), nullptr);
  Exec(url_, "UPDATE audit_tree_heads SET root = '\\x" + std::string(64, 'a') + "' WHERE size = 7");
  const VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.heads_checked, 1u);
  // The signature covers the root, so it no longer verifies.
  EXPECT_EQ(report.problem, "tree head at size 7: signature does not verify");
}

TEST_F(AuditLogTest, TamperedHeadSignatureIsCaught) {
  ASSERT_NE(Fill(), nullptr);
  Exec(url_,
       "UPDATE audit_tree_heads SET signature = set_byte(signature, 0, "
       "get_byte(signature, 0) # 1) WHERE size = 3");
  const VerifyReport report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.heads_checked, 0u);
  EXPECT_EQ(report.problem, "tree head at size 3: signature does not verify");
}

TEST_F(AuditLogTest, HeadsByAnotherKeyAreCaught) {
  ASSERT_NE(Fill(), nullptr);
  VerifyReport report = Verify(Key(2).public_key());
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.problem, "tree head at size 3: signed by another key than the one expected");

  // A head re-signed by another key (its own signature valid) among the auditor's.
  Result<std::unique_ptr<AuditLog>> other = AuditLog::Open(url_, Key(2), clock_);
  ASSERT_TRUE(other.ok());
  Exec(url_, "DELETE FROM audit_tree_heads WHERE size = 10");
  clock_.Advance(1000);
  ASSERT_TRUE((*other)->SignHead().ok());  // size 12, by key 2
  report = Verify();
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.problem, "tree head at size 12: signed by another key than the earlier heads");
}

TEST_F(AuditLogTest, CursorsCommitWithTheEntries) {
  std::unique_ptr<AuditLog> log = Fill();
  ASSERT_NE(log, nullptr);
  ASSERT_OK(log->Append(Entries(12, 2), {{"ws/a", "7"}, {"ws/b", "3"}}));
  ASSERT_OK(log->Append({}, {{"ws/a", "9"}}));
  Result<std::map<std::string, std::string>> cursors = log->Cursors();
  ASSERT_TRUE(cursors.ok()) << cursors.status().ToString();
  EXPECT_EQ(*cursors, (std::map<std::string, std::string>{{"ws/a", "9"}, {"ws/b", "3"}}));
  // A failed append sets no cursor either.
  Entry bad = MakeEntry(14);
  bad.hlc = uint64_t{1} << 63;
  EXPECT_EQ(log->Append({bad}, {{"ws/a", "10"}}).code(), Code::kInvalidArgument);
  Entry nul = MakeEntry(14);
  nul.new_value = std::string("a\0b", 3);
  EXPECT_EQ(log->Append({nul}, {{"ws/a", "10"}}).code(), Code::kInvalidArgument);
  Entry latin1 = MakeEntry(14);
  latin1.user_name = "\xe9";  // not UTF-8: PostgreSQL refuses it
  EXPECT_FALSE(log->Append({latin1}, {{"ws/a", "10"}}).ok());
  EXPECT_EQ(log->Cursors()->at("ws/a"), "9");
  EXPECT_EQ(log->size(), 14u);
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditLogTest, InboxDrainsIntoTheLogOnceInOrder) {
  std::unique_ptr<AuditLog> log = Fill();
  ASSERT_NE(log, nullptr);
  {
    pqxx::connection conn(url_);
    pqxx::work txn(conn);
    for (int i = 0; i < 3; ++i) {
      ASSERT_OK(QueueAdminAction(txn, AdminAction{.at_ms = 1'700'000'000'000u + i,
                                                  .actor = "admin:alice",
                                                  .action = "device.revoke",
                                                  .target = "dev" + std::to_string(i),
                                                  .detail = "{}",
                                                  .workspace = {}}));
    }
    txn.commit();
  }
  {
    // A queued action whose transaction rolls back never reaches the log.
    pqxx::connection conn(url_);
    pqxx::work txn(conn);
    AdminAction rolled_back;
    rolled_back.actor = "admin:mallory";
    rolled_back.action = "x";
    ASSERT_OK(QueueAdminAction(txn, rolled_back));
    // What the writer could not append is refused when queued, naming the field.
    AdminAction bad = rolled_back;
    bad.detail = std::string("a\0b", 3);
    EXPECT_EQ(QueueAdminAction(txn, bad).where(), "detail");
    bad.detail = "ok";
    bad.target = "\xff";
    EXPECT_EQ(QueueAdminAction(txn, bad).where(), "target");
    txn.abort();
  }
  Result<size_t> moved = log->DrainInbox(2);
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(*moved, 2u);
  moved = log->DrainInbox();
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, 1u);
  EXPECT_EQ(*log->DrainInbox(), 0u);
  EXPECT_EQ(log->size(), 15u);
  pqxx::connection conn(url_);
  pqxx::work txn(conn);
  const pqxx::result rows = txn.exec(
      "SELECT seq, kind, device, op, record FROM audit_entries WHERE seq >= 12 ORDER BY seq");
  ASSERT_EQ(rows.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(rows[i][1].as<std::string>(), "admin");
    EXPECT_EQ(rows[i][2].as<std::string>(), "admin:alice");
    EXPECT_EQ(rows[i][3].as<std::string>(), "device.revoke");
    EXPECT_EQ(rows[i][4].as<std::string>(), "dev" + std::to_string(i));
  }
  EXPECT_EQ(txn.exec("SELECT count(*) FROM audit_inbox")[0][0].as<int>(), 0);
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditLogTest, MissingLogIsNotFound) {
  Result<VerifyReport> report = VerifyLog(url_, std::nullopt);
  EXPECT_EQ(report.status().code(), Code::kNotFound) << report.status().ToString();
}

TEST_F(AuditLogTest, UnreachableDatabaseIsUnavailableWithoutPassword) {
  Result<VerifyReport> report = VerifyLog(
      "postgresql://grove:hunter2secret@127.0.0.1:1/none?connect_timeout=2", std::nullopt);
  EXPECT_EQ(report.status().code(), Code::kUnavailable);
  EXPECT_EQ(report.status().ToString().find("hunter2secret"), std::string::npos);
}

// --- grove audit verify ------------------------------------------------------------------------

TEST_F(AuditCliTest, ExitsZeroWhenTheLogVerifies) {
  ASSERT_NE(Fill(), nullptr);
  const Outcome run = Grove({"audit", "verify", "--db", UrlWithPassword()});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("verifies: 12 entries, 3 signed tree heads"), std::string::npos)
      << run.out;
  EXPECT_EQ((run.out + run.err).find("pw-s3cret-42"), std::string::npos);
}

TEST_F(AuditCliTest, ExitsOneNamingTheFirstBadEntry) {
  ASSERT_NE(Fill(), nullptr);
  Exec(url_, "UPDATE audit_entries SET user_name = 'mallory' WHERE seq = 9");
  const Outcome run = Grove({"audit", "verify", "--db", UrlWithPassword()});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_NE(run.err.find("entry 9: fields do not match its leaf hash"), std::string::npos)
      << run.err;
  EXPECT_EQ((run.out + run.err).find("pw-s3cret-42"), std::string::npos);
}

TEST_F(AuditCliTest, BadKeyIsAnError) {
  ASSERT_NE(Fill(), nullptr);
  const Outcome run = Grove({"audit", "verify", "--db", url_, "--key", "grove-card:nonsense"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_NE(run.err.find("grove: "), std::string::npos);
}

}  // namespace
}  // namespace grove::audit
