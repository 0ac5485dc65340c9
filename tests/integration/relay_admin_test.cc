// The relay's admin console as an operator meets it: the first admin made with
// `grove-relay admin add`, then the console on the relay's admin address showing the real peers
// the relay has seen (and when a peer leaves, when it was last seen).
#include <gtest/gtest.h>

#include <memory>
#include <regex>

#include "integration/peer_process.h"
#include "support/postgres_test.h"

namespace grove::integration {
namespace {

class RelayAdminIntegration : public testing::PostgresTest<false> {
 protected:
  // The peer entry for `device` in the console's status, or nullptr.
  static JsonObject PeerIn(const JsonObject& status, const std::string& device) {
    JsonArray peers = status ? status->getArray("peers") : nullptr;
    for (size_t i = 0; peers && i < peers->size(); ++i) {
      JsonObject p = peers->getObject(static_cast<unsigned>(i));
      if (p && p->optValue<std::string>("device", "") == device) return p;
    }
    return nullptr;
  }
};

TEST_F(RelayAdminIntegration, FirstAdminFromTheCliSeesThePeersTheRelaySees) {
  RelayProcess relay("relay", url_);
  relay.Start();
  const uint16_t port = relay.admin_port();
  ASSERT_NE(port, 0) << relay.LogTail();

  // Bootstrap: the password on standard input, never on the command line.
  const std::string password_file = relay.data_dir() + "/../admin-password";
  WriteFile(password_file, "correct horse battery\n");
  std::string out;
  ASSERT_EQ(RunProgram({GROVE_RELAY_BIN, "admin", "add", "--db", url_, "alice"}, password_file,
                       &out, 60s),
            0)
      << out;
  EXPECT_EQ(out, "admin account 'alice' added\n");

  const ApiClient anonymous("127.0.0.1", port, "none");
  HttpResponse login = anonymous.Request("POST", "/api/v1/admin/login",
                                         R"({"name":"alice","password":"correct horse battery"})");
  ASSERT_EQ(login.status, 200) << login.Describe();
  const ApiClient admin("127.0.0.1", port, login.Object()->getValue<std::string>("token"));
  EXPECT_EQ(anonymous.Get("/api/v1/admin/status").status, 401);

  PeerProcess a("alice-laptop");
  StartOptions via;
  via.extra_args = relay.PeerArgs();
  a.Start(via);
  const std::string device = a.identity().device;
  JsonObject peer;
  ASSERT_TRUE(PollUntil([&] {
    HttpResponse status = admin.Get("/api/v1/admin/status");
    peer = status.status == 200 ? PeerIn(status.Object(), device) : nullptr;
    return peer && peer->getValue<bool>("connected");
  })) << admin.Get("/api/v1/admin/status").Describe();
  EXPECT_EQ(peer->getValue<std::string>("name"), a.identity().name);
  EXPECT_EQ(peer->getValue<std::string>("path"), "direct");
  EXPECT_TRUE(peer->getValue<std::string>("address").starts_with("127.0.0.1:"));
  JsonObject status = admin.Get("/api/v1/admin/status").Object();
  JsonObject relay_json = status->getObject("relay");
  ASSERT_TRUE(relay_json);
  EXPECT_EQ(relay_json->getValue<std::string>("card"), relay.card());
  EXPECT_GE(relay_json->getValue<int64_t>("connections"), 1);
  EXPECT_TRUE(relay_json->getObject("database")->getValue<bool>("ok"));

  const int64_t seen = peer->getValue<int64_t>("last_seen_ms");
  ASSERT_EQ(a.Stop(), 0);
  ASSERT_TRUE(PollUntil([&] {
    peer = PeerIn(admin.Get("/api/v1/admin/status").Object(), device);
    return peer && !peer->getValue<bool>("connected");
  })) << "the relay notices the peer left";
  EXPECT_GE(peer->getValue<int64_t>("last_seen_ms"), seen) << "and remembers when it last saw it";
}

}  // namespace
}  // namespace grove::integration
