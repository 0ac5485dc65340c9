// `grove-relay admin ...` (run in-process) against a real PostgreSQL: bootstrapping the first
// admin, the password rules, passwd/unlock/remove/list, and that the account it makes can sign
// in through the API. One test runs the real grove-relay binary for the same.
#include "admin/admin_cli.h"

#include <fstream>
#include <sstream>

#include "admin_fixture.h"
#include "support/child_process.h"

namespace grove::admin::testing {
namespace {

struct CliRun {
  int code = 0;
  std::string out, err;
};

class AdminCliTest : public ConsoleTest {
 protected:
  CliRun Run(std::vector<std::string> args, const std::string& input = "") {
    std::istringstream in(input);
    std::ostringstream out, err;
    CliRun run;
    run.code = RunAdminCommand(args, CliIo{in, out, err, false}, clock_, rng_);
    run.out = out.str();
    run.err = err.str();
    return run;
  }
  // Cheap hashes for the CLI too.
  std::vector<std::string> Db() {
    return {"--db", url_, "--console.argon2_passes", "1", "--console.argon2_memory_kib", "64"};
  }
  std::vector<std::string> Args(std::vector<std::string> head, std::vector<std::string> tail) {
    std::vector<std::string> db = Db();
    head.insert(head.end(), db.begin(), db.end());
    head.insert(head.end(), tail.begin(), tail.end());
    return head;
  }
};

TEST_F(AdminCliTest, AddListAndSignIn) {
  CliRun add = Run(Args({"add"}, {"alice"}), std::string(kPassword) + "\n");
  ASSERT_EQ(add.code, 0) << add.err;
  EXPECT_EQ(add.out, "admin account 'alice' added\n");
  EXPECT_EQ(add.out.find(kPassword), std::string::npos);
  EXPECT_EQ(add.err.find(kPassword), std::string::npos);
  EXPECT_EQ(Login("alice", kPassword).status, 200);

  CliRun again = Run(Args({"add"}, {"alice"}), std::string(kPassword) + "\n");
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("exists"), std::string::npos) << again.err;

  CliRun list = Run(Args({"list"}, {}));
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_TRUE(list.out.starts_with("alice\tcreated ")) << list.out;
  EXPECT_NE(list.out.find("last login 2023-"), std::string::npos) << list.out;

  const std::vector<Action> inbox = Inbox();
  ASSERT_FALSE(inbox.empty());
  EXPECT_EQ(inbox[0].action, "admin.add");
  EXPECT_TRUE(inbox[0].actor.starts_with("cli:")) << inbox[0].actor;
}

TEST_F(AdminCliTest, ShortPasswordIsRefusedClearly) {
  CliRun r = Run(Args({"add"}, {"alice"}), "short\n");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("password must be at least 12 characters long (got 5)"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("short"), std::string::npos) << "the password is not echoed";
  EXPECT_EQ(Login("alice", "short").status, 401);
  r = Run(Args({"add"}, {"alice"}), "");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no password"), std::string::npos) << r.err;
}

TEST_F(AdminCliTest, PasswordFile) {
  const std::string file = data_.File("pw");
  {
    std::ofstream out(file);
    out << kPassword << "\nsecond line ignored\n";
  }
  CliRun r = Run(Args({"add"}, {"--password-file", file, "alice"}));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Login("alice", kPassword).status, 200);
  r = Run(Args({"add"}, {"--password-file", data_.File("missing"), "bob"}));
  EXPECT_EQ(r.code, 1);
}

TEST_F(AdminCliTest, PasswdUnlockRemove) {
  ASSERT_EQ(Run(Args({"add"}, {"alice"}), std::string(kPassword) + "\n").code, 0);
  const std::string token = Login("alice", kPassword)["token"].text();
  for (int i = 0; i < 5; ++i) Login("alice", "wrong password");
  EXPECT_EQ(Login("alice", kPassword).status, 429);
  CliRun list = Run(Args({"list"}, {}));
  EXPECT_NE(list.out.find("locked until"), std::string::npos) << list.out;

  CliRun unlock = Run(Args({"unlock"}, {"alice"}));
  ASSERT_EQ(unlock.code, 0) << unlock.err;
  EXPECT_EQ(Authed(token, "GET", "/api/v1/admin/me").status, 200) << "unlock keeps sessions";
  EXPECT_EQ(Login("alice", kPassword).status, 200);

  CliRun passwd = Run(Args({"passwd"}, {"alice"}), "a brand new password\n");
  ASSERT_EQ(passwd.code, 0) << passwd.err;
  EXPECT_EQ(Authed(token, "GET", "/api/v1/admin/me").status, 401) << "passwd ends sessions";
  EXPECT_EQ(Login("alice", "a brand new password").status, 200);

  CliRun remove = Run(Args({"remove"}, {"alice"}));
  ASSERT_EQ(remove.code, 0) << remove.err;
  EXPECT_EQ(Login("alice", "a brand new password").status, 401);
  EXPECT_EQ(Run(Args({"remove"}, {"alice"})).code, 1);
  EXPECT_EQ(Run(Args({"passwd"}, {"ghost"}), "a brand new password\n").code, 1);
}

TEST_F(AdminCliTest, Usage) {
  EXPECT_EQ(Run({}).code, 2);
  EXPECT_EQ(Run({"frobnicate"}).code, 2);
  EXPECT_EQ(Run(Args({"add"}, {})).code, 2) << "NAME is required";
  EXPECT_EQ(Run({"list"}).code, 2) << "the database is required";
  EXPECT_EQ(Run(Args({"add"}, {"bad name!"}), std::string(kPassword) + "\n").code, 1);
  EXPECT_EQ(Run(Args({"list"}, {"--no-such-key", "1"})).code, 2);
  CliRun help = Run({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("grove-relay admin add"), std::string::npos);
}

// The real binary: `grove-relay admin add` with the password on stdin, then the relay itself
// serving the console on its admin address.
TEST_F(AdminCliTest, RelayBinaryBootstrapsAnAdmin) {
  const std::string input = data_.File("stdin");
  {
    std::ofstream out(input);
    out << kPassword << "\n";
  }
  std::vector<std::string> argv = {GROVE_RELAY_BIN, "admin", "add",
                                   "--db",          url_,    "--console.argon2_memory_kib",
                                   "1024",          "carol"};
  std::string why;
  const pid_t pid = grove::testing::SpawnChild(argv, input, data_.File("cli.log"), false, &why);
  ASSERT_GT(pid, 0) << why;
  std::optional<int> code = grove::testing::WaitExit(pid, std::chrono::seconds(60));
  std::ifstream log(data_.File("cli.log"));
  std::stringstream text;
  text << log.rdbuf();
  ASSERT_EQ(code, 0) << text.str();
  EXPECT_EQ(text.str(), "admin account 'carol' added\n");

  const uint16_t admin_port = grove::testing::FreeLoopbackPort(&why);
  const uint16_t sync_port = grove::testing::FreeLoopbackPort(&why);
  ASSERT_NE(admin_port, 0) << why;
  const std::vector<std::string> relay = {GROVE_RELAY_BIN,
                                          "--data",
                                          data_.File("relaydata"),
                                          "--db",
                                          url_,
                                          "--listen",
                                          "127.0.0.1:" + std::to_string(sync_port),
                                          "--admin",
                                          "127.0.0.1:" + std::to_string(admin_port)};
  const pid_t relay_pid =
      grove::testing::SpawnChild(relay, "", data_.File("relay.log"), false, &why);
  ASSERT_GT(relay_pid, 0) << why;
  bool reaped = false;
  struct Reap {  // the relay goes with the test, however it ends
    pid_t pid;
    bool& reaped;
    ~Reap() {
      if (reaped) return;
      kill(pid, SIGKILL);
      grove::testing::WaitExit(pid, std::chrono::seconds(10));
    }
  } reap{relay_pid, reaped};
  Close();  // the fixture's server; talk to the relay's instead
  Reply login;
  for (int i = 0; i < 200 && login.status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    try {
      Poco::Net::HTTPClientSession session("127.0.0.1", admin_port);
      session.setTimeout(Poco::Timespan(20, 0));
      Poco::Net::HTTPRequest request("POST", "/api/v1/admin/login",
                                     Poco::Net::HTTPMessage::HTTP_1_1);
      const std::string body = LoginBody("carol", kPassword);
      request.setContentType("application/json");
      request.setContentLength(static_cast<std::streamsize>(body.size()));
      session.sendRequest(request) << body;
      Poco::Net::HTTPResponse response;
      std::istream& in = session.receiveResponse(response);
      std::ostringstream out;
      Poco::StreamCopier::copyStream(in, out);
      login.status = response.getStatus();
      login.json = api::ParseJson(out.str()).value();
    } catch (const std::exception&) {
      // not listening yet
    }
  }
  ASSERT_EQ(login.status, 200);
  // The relay's own status is wired in.
  Poco::Net::HTTPClientSession session("127.0.0.1", admin_port);
  Poco::Net::HTTPRequest request("GET", "/api/v1/admin/status", Poco::Net::HTTPMessage::HTTP_1_1);
  request.set("Authorization", "Bearer " + login["token"].text());
  session.sendRequest(request);
  Poco::Net::HTTPResponse response;
  std::istream& in = session.receiveResponse(response);
  std::ostringstream out;
  Poco::StreamCopier::copyStream(in, out);
  EXPECT_EQ(response.getStatus(), 200) << out.str();
  Result<api::Json> status = api::ParseJson(out.str());
  ASSERT_TRUE(status.ok()) << out.str();
  const api::Json* relay_json = status->Find("relay");
  ASSERT_NE(relay_json, nullptr);
  EXPECT_TRUE(relay_json->Find("card")->text().starts_with("grove-card:")) << out.str();
  EXPECT_FALSE(relay_json->Find("version")->text().empty());
  kill(relay_pid, SIGTERM);
  const std::optional<int> exited = grove::testing::WaitExit(relay_pid, std::chrono::seconds(20));
  reaped = exited.has_value();
  EXPECT_EQ(exited, 0) << "a clean stop on SIGTERM";
}

}  // namespace
}  // namespace grove::admin::testing
