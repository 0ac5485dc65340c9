// The auditor device as IT runs it: a real grove-peer with --audit-db, added to a workspace with
// the auditor role, logging into a private PostgreSQL of this test binary while two members work.
// The log takes every op; a database outage or a kill -9 of the auditor delays the log, never
// the mesh, and afterwards nothing is missing and nothing is there twice; `grove audit verify`
// accepts the result with the auditor's card.
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include <memory>
#include <thread>

#include "integration/peer_process.h"
#include "support/postgres_test.h"

namespace grove::integration {
namespace {

class AuditIntegration : public testing::PostgresTest<false> {
 protected:
  int64_t Count(const std::string& where) {
    try {
      pqxx::connection conn(url_);
      pqxx::work txn(conn);
      return txn.exec("SELECT count(*) FROM audit_entries WHERE " + where)[0][0].as<int64_t>();
    } catch (const std::exception&) {
      return -1;  // not there yet (the auditor creates the schema)
    }
  }

  // The auditor's status "audit" object.
  static JsonObject Audit(const PeerProcess& p) {
    JsonObject status = p.api().Status();
    if (!status || !status->has("audit") || status->isNull("audit")) return nullptr;
    return status->getObject("audit");
  }
};

TEST_F(AuditIntegration, TheAuditorLogsEveryOpAndCatchesUpAfterOutagesWithNothingTwice) {
  PeerProcess owner("olga"), member("mia"), auditor("audit-box");
  owner.Start();
  member.Start(ConnectTo({owner.sync_address()}));
  StartOptions audit_options = ConnectTo({owner.sync_address()});
  audit_options.extra_args = {"--audit-db", url_, "--audit.head_interval_s", "1"};
  auditor.Start(audit_options);

  const std::string ws = owner.api().CreateWorkspace("purchasing");
  ASSERT_EQ(owner.api().Invite(ws, member.identity().card, "member"), 201);
  ASSERT_EQ(owner.api().Invite(ws, auditor.identity().card, "auditor"), 201);
  for (PeerProcess* p : {&member, &auditor}) {
    ASSERT_TRUE(p->api().WaitInvitation(ws));
    ASSERT_EQ(p->api().Accept(ws), 200);
  }
  const std::string order = owner.api().CreateRecord(ws, "order", IntsOf({{"qty", 1}}));
  ASSERT_TRUE(PollUntil([&] { return member.api().GetRecord(ws, order) != nullptr; }));
  for (int i = 2; i <= 6; ++i) {
    ASSERT_EQ(member.api().PatchSet(ws, order, IntsOf({{"qty", i}})), 200);
  }
  // The auditor may read but not write.
  EXPECT_EQ(auditor.api()
                .Request("PATCH", "/api/v1/workspaces/" + ws + "/records/" + order,
                         R"({"set":{"qty":99}})")
                .status,
            403);

  ASSERT_TRUE(PollUntil([&] { return Count("op = 'set' AND field = 'qty'") == 5; }))
      << "sets logged: " << Count("op = 'set'") << "\n"
      << auditor.LogTail();
  const std::string mia = member.identity().device;
  EXPECT_EQ(Count("op = 'set' AND field = 'qty' AND device = '" + mia +
                  "' AND user_name = 'mia' AND old_value = '5' AND new_value = '6'"),
            1);
  EXPECT_EQ(Count("op = 'create' AND field = 'qty' AND new_value = '1'"), 1);
  JsonObject audit = Audit(auditor);
  ASSERT_TRUE(audit);
  EXPECT_TRUE(audit->getValue<bool>("database_ok"));

  // The audit database goes down. The members go on syncing at once; the auditor too (its
  // replica), and its log waits.
  pg_->Stop();
  ASSERT_TRUE(PollUntil([&] {
    JsonObject a = Audit(auditor);
    return a && !a->getValue<bool>("database_ok");
  })) << ToJson(*auditor.api().Status());
  for (int i = 7; i <= 16; ++i) {
    ASSERT_EQ(member.api().PatchSet(ws, order, IntsOf({{"qty", i}})), 200);
  }
  const auto edited = std::chrono::steady_clock::now();
  ASSERT_TRUE(PollUntil([&] {
    JsonObject r = owner.api().GetRecord(ws, order);
    return r && r->getObject("fields")->getValue<int64_t>("qty") == 16;
  }));
  EXPECT_LT(std::chrono::steady_clock::now() - edited, std::chrono::seconds(5))
      << "the mesh does not wait for the audit database";
  ASSERT_TRUE(PollUntil([&] {
    JsonObject r = auditor.api().GetRecord(ws, order);
    return r && r->getObject("fields")->getValue<int64_t>("qty") == 16;
  }));

  // Back up: the log catches up.
  ASSERT_TRUE(pg_->Start()) << pg_->error();
  ASSERT_TRUE(PollUntil([&] { return Count("op = 'set' AND field = 'qty'") == 15; }))
      << Count("op = 'set'") << "\n"
      << auditor.LogTail();

  // kill -9 of the auditor with work it has not logged yet; it resumes from its cursors.
  auditor.Kill();
  for (int i = 17; i <= 20; ++i) {
    ASSERT_EQ(owner.api().PatchSet(ws, order, IntsOf({{"qty", i}})), 200);
  }
  auditor.Restart();
  ASSERT_TRUE(PollUntil([&] { return Count("op = 'set' AND field = 'qty'") == 19; }))
      << Count("op = 'set'") << "\n"
      << auditor.LogTail();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(Count("op = 'set' AND field = 'qty'"), 19) << "nothing is logged twice";
  EXPECT_EQ(Count("true AND (delta_hash, op, record, field, new_value) IN (SELECT delta_hash, op, "
                  "record, field, new_value FROM audit_entries GROUP BY 1, 2, 3, 4, 5 HAVING "
                  "count(*) > 1)"),
            0);
  // Each set's old value is the one before it, across the outage and the kill.
  for (int i = 2; i <= 20; ++i) {
    EXPECT_EQ(Count("op = 'set' AND field = 'qty' AND old_value = '" + std::to_string(i - 1) +
                    "' AND new_value = '" + std::to_string(i) + "'"),
              1)
        << i;
  }

  // The log verifies against the auditor's card once a head covers everything.
  ASSERT_EQ(auditor.Stop(), 0);
  const std::string card_path = auditor.data_dir() + "/../auditor.card";
  WriteFile(card_path, auditor.identity().card);
  std::string out;
  EXPECT_EQ(RunProgram({GROVE_CLI_BIN, "audit", "verify", "--db", url_, "--key", "@" + card_path},
                       "", &out),
            0)
      << out;
  EXPECT_NE(out.find("verifies"), std::string::npos) << out;
  EXPECT_EQ(out.find("not signed yet"), std::string::npos) << out;

  // Backup and restore as docs/admin-guide.md says: pg_dump -Fc, pg_restore into an empty
  // database. The restored log verifies just the same.
  const std::string dump_path = auditor.data_dir() + "/../audit.dump";
  const std::string restored = pg_->NewDatabase();
  ASSERT_FALSE(restored.empty());
  ASSERT_EQ(RunProgram({FindOnPath("pg_dump"), "-Fc", "-f", dump_path, url_}, "", &out), 0) << out;
  ASSERT_EQ(
      RunProgram({FindOnPath("pg_restore"), "--no-owner", "-d", restored, dump_path}, "", &out), 0)
      << out;
  EXPECT_EQ(
      RunProgram({GROVE_CLI_BIN, "audit", "verify", "--db", restored, "--key", "@" + card_path}, "",
                 &out),
      0)
      << out;
  const std::string entries = std::to_string(Count("true"));
  EXPECT_NE(out.find(entries + " entries"), std::string::npos) << out;
}

}  // namespace
}  // namespace grove::integration
