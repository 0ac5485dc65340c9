// `grove audit search|export|prune|hold` run as a process against a real PostgreSQL: exit codes,
// what they print, and the files they write.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/audit/audit_test_util.h"

namespace grove::audit {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared fixtures

std::string WsHex() { return HexEncode(Bytes(32, 7)); }  // Fill()'s workspace

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_F(AuditCliTest, SearchPrintsATableAndTheNextPage) {
  ASSERT_NE(Fill(), nullptr);
  Outcome run = Grove({"audit", "search", "--db", url_, "--user", "alice", "--limit", "3"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(run.out.rfind("SEQ", 0), 0u) << run.out;
  EXPECT_NE(run.out.find("order/5"), std::string::npos) << run.out;
  EXPECT_EQ(run.out.find("order/7"), std::string::npos) << run.out;  // on the next page
  EXPECT_NE(run.out.find("2023-11-14T22:13:21.124Z"), std::string::npos) << run.out;  // seq 1
  EXPECT_NE(run.out.find("more entries match: add --after 5"), std::string::npos) << run.out;

  run = Grove({"audit", "search", "--db", url_, "--user", "alice", "--after", "5", "--kind",
               "rejected", "--workspace", WsHex()});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("order/9"), std::string::npos) << run.out;
  EXPECT_EQ(Count(run.out, "\n"), 2u) << run.out;  // header + seq 9
  EXPECT_EQ(run.out.find("more entries"), std::string::npos);

  // From entry 10's time (ISO 8601) on.
  run = Grove({"audit", "search", "--db", url_, "--from", "2023-11-14T22:13:30.133Z"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Count(run.out, "order/"), 2u) << run.out;  // 10 and 11

  run = Grove({"audit", "search", "--db", url_, "--record", "nothing"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "no matching entries\n");
}

TEST_F(AuditCliTest, SearchRefusesBadArgumentsByName) {
  ASSERT_NE(Fill(), nullptr);
  Outcome run = Grove({"audit", "search", "--db", url_, "--from", "yesterday"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("(at --from)"), std::string::npos) << run.err;
  run = Grove({"audit", "search", "--db", url_, "--limit", "0"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("(at --limit)"), std::string::npos) << run.err;
  run = Grove({"audit", "search", "--db", url_, "--kind", "everything"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("(at --kind)"), std::string::npos) << run.err;
  run = Grove({"audit", "search", "--db", url_, "--workspace", "xyz"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("(at --workspace)"), std::string::npos) << run.err;
  run = Grove({"audit", "search", "--db", url_, "--colour", "red"});
  EXPECT_EQ(run.exit_code, 2) << run.err;
  url_ = pg_->NewDatabase();  // no log there
  run = Grove({"audit", "search", "--db", url_});
  EXPECT_EQ(run.exit_code, 4) << run.err;
}

TEST_F(AuditCliTest, ExportWritesJsonLinesToAFileAndCsvToStdout) {
  ASSERT_NE(Fill(), nullptr);
  const std::string path = tmp_.path() + "/export.jsonl";
  Outcome run = Grove({"audit", "export", "--db", url_, "--workspace", WsHex(), "--format", "jsonl",
                       "--out", path});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(run.out.empty());
  EXPECT_NE(run.err.find("exported 12 entries, 10 with an inclusion proof against the tree head "
                         "of size 10"),
            std::string::npos)
      << run.err;
  const std::string jsonl = ReadFile(path);
  EXPECT_EQ(Count(jsonl, "\n"), 13u);
  EXPECT_EQ(jsonl.rfind("{\"grove_audit_export\":1,", 0), 0u) << jsonl.substr(0, 200);
  EXPECT_EQ(Count(jsonl, "\"proof\":null"), 2u);

  run = Grove({"audit", "export", "--db", url_, "--format", "csv", "--record", "order/3"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Count(run.out, "\r\n"), 2u) << run.out;
  EXPECT_EQ(run.out.rfind("seq,kind,workspace,", 0), 0u);
  EXPECT_EQ(run.out.find("\r\n3,op," + WsHex() + ",device-0,alice,set,order/3,qty,"),
            run.out.find("\r\n"))
      << run.out;

  run = Grove({"audit", "export", "--db", url_, "--format", "xml"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("(at --format)"), std::string::npos) << run.err;
}

TEST_F(AuditCliTest, HoldsKeepEntriesFromPrune) {
  ASSERT_NE(Fill(), nullptr);
  Outcome run = Grove({"audit", "hold", "place", "--db", url_, "--workspace", WsHex(), "--reason",
                       "matter 17", "--by", "legal:carol"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "placed hold 1\n");
  run = Grove({"audit", "hold", "list", "--db", url_});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("matter 17"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("(all)"), std::string::npos) << run.out;

  // The entries are from 2023: a day's retention makes all 12 due, and the hold keeps them.
  run = Grove({"audit", "prune", "--db", url_, "--workspace", WsHex(), "--keep-days", "1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("pruned 0 entries"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("12 kept by legal holds"), std::string::npos) << run.out;

  run = Grove({"audit", "hold", "release", "--db", url_, "--id", "1", "--by", "legal:carol"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  run = Grove({"audit", "hold", "release", "--db", url_, "--id", "1", "--by", "legal:carol"});
  EXPECT_EQ(run.exit_code, 1) << run.err;
  run = Grove({"audit", "hold", "release", "--db", url_, "--id", "99", "--by", "legal:carol"});
  EXPECT_EQ(run.exit_code, 4) << run.err;
  run = Grove({"audit", "hold", "list", "--db", url_});
  EXPECT_EQ(run.out, "no holds\n");
  run = Grove({"audit", "hold", "list", "--db", url_, "--all"});
  EXPECT_NE(run.out.find(" by legal:carol"), std::string::npos) << run.out;

  run = Grove({"audit", "prune", "--db", url_, "--workspace", WsHex(), "--keep-days", "1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("pruned 12 entries"), std::string::npos) << run.out;
  run = Grove({"audit", "verify", "--db", url_});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("12 pruned entries checked by their leaf hash only"), std::string::npos)
      << run.out;
  run = Grove({"audit", "search", "--db", url_, "--limit", "1"});
  EXPECT_NE(run.out.find("(pruned)"), std::string::npos) << run.out;

  run = Grove({"audit", "prune", "--db", url_, "--workspace", WsHex(), "--keep-days", "0"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("(at --keep-days)"), std::string::npos) << run.err;
  run = Grove({"audit", "prune", "--db", url_, "--workspace", WsHex()});
  EXPECT_EQ(run.exit_code, 2) << run.err;  // --keep-days is required
}

}  // namespace
}  // namespace grove::audit
