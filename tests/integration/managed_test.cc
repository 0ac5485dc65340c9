// Managed mode end to end (docs/decisions/0010-managed-mode.md): IT enrols devices in the relay's
// admin console; peers started with the org card and their enrolment talk only to enrolled
// devices; a revocation made in the console reaches the peers through the relay, and the owner's
// peer removes the revoked member with a new epoch, so it gets nothing written afterwards.
#include <gtest/gtest.h>

#include <memory>
#include <regex>
#include <thread>

#include "integration/peer_process.h"
#include "support/postgres_test.h"

namespace grove::integration {
namespace {

class ManagedIntegration : public testing::PostgresTest<false> {
 protected:
  // `grove identity --json` of a device that is not running yet: its card.
  static std::string CardOf(const PeerProcess& p) {
    std::string out;
    EXPECT_EQ(RunProgram({GROVE_CLI_BIN, "identity", "--data", p.data_dir(), "--json"}, "", &out),
              0)
        << out;
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("\"card\":\\s*\"(grove-card:[^\"]+)\""))) return "";
    return m[1];
  }

  static bool IsMember(const PeerProcess& owner, const std::string& ws, const std::string& device) {
    HttpResponse r = owner.api().Get("/api/v1/workspaces/" + ws);
    JsonObject o = r.Object();
    JsonArray members = o ? o->getArray("members") : nullptr;
    for (size_t i = 0; members && i < members->size(); ++i) {
      if (members->getObject(static_cast<unsigned>(i))->optValue<std::string>("device", "") ==
          device) {
        return true;
      }
    }
    return false;
  }

  // The organisation's card, from the console, in a file for --org-card @FILE.
  static std::string OrgCardFile(const RelayProcess& relay) {
    const std::string path = relay.data_dir() + "/../org.card";
    HttpResponse org = ApiClient("127.0.0.1", relay.admin_port(), "none").Get("/api/v1/admin/org");
    EXPECT_EQ(org.status, 200) << org.Describe();
    WriteFile(path, org.Object() ? org.Object()->optValue<std::string>("card", "") : "");
    return path;
  }

  // Enrols the device of `card` under p's name in the console; its enrolment, in a file.
  static std::string Enrol(const ApiClient& admin, const PeerProcess& p, const std::string& card) {
    Poco::JSON::Object body;
    body.set("card", card);
    body.set("name", p.name());
    HttpResponse r = admin.Request("POST", "/api/v1/admin/devices", ToJson(body));
    EXPECT_EQ(r.status, 201) << r.Describe();
    const std::string path = p.data_dir() + "/../enrolment";
    WriteFile(path, r.Object() ? r.Object()->optValue<std::string>("enrolment", "") : "");
    return path;
  }

  // A peer in managed mode, syncing through `relay`.
  static StartOptions Managed(const RelayProcess& relay, const std::string& org_card_file,
                              const std::string& enrolment_file) {
    StartOptions o;
    o.extra_args = relay.PeerArgs();
    for (const std::string& a : {std::string("--org-card"), "@" + org_card_file,
                                 std::string("--enrolment"), "@" + enrolment_file}) {
      o.extra_args.push_back(a);
    }
    return o;
  }
};

TEST_F(ManagedIntegration, EnrolledDevicesMeetAndARevokedOneLosesAccess) {
  RelayProcess relay("relay", url_);
  relay.Start();
  const ApiClient admin = relay.NewAdminSession("alice");
  const std::string org_card = OrgCardFile(relay);
  PeerProcess owner("olga"), member("mia"), stranger("sam");
  const std::string member_enrolment = Enrol(admin, member, CardOf(member));
  owner.Start(Managed(relay, org_card, Enrol(admin, owner, CardOf(owner))));
  StartOptions member_options = Managed(relay, org_card, member_enrolment);
  member_options.connect = {owner.sync_address()};
  member.Start(member_options);

  // A device the organisation never enrolled is refused, with the reason in the owner's log.
  stranger.Start(ConnectTo({owner.sync_address()}));
  ASSERT_TRUE(PollUntil([&] { return owner.LogContains("is not enrolled in organisation"); }))
      << owner.LogTail();

  // In managed mode the owner invites by enrolment; a bare card is refused with what to do.
  const std::string ws = owner.api().CreateWorkspace("purchasing");
  EXPECT_EQ(owner.api().Invite(ws, stranger.identity().card, "member"), 409);
  ASSERT_EQ(owner.api().Invite(ws, ReadFile(member_enrolment), "member"), 201);
  ASSERT_TRUE(member.api().WaitInvitation(ws));
  ASSERT_EQ(member.api().Accept(ws), 200);
  const std::string before = owner.api().CreateRecord(ws, "note", JsonOf({{"text", "before"}}));
  ASSERT_TRUE(PollUntil([&] { return member.api().GetRecord(ws, before) != nullptr; }));
  const std::string mia = member.identity().device;
  ASSERT_TRUE(IsMember(owner, ws, mia));

  // IT revokes the member's device in the console.
  HttpResponse revoked = admin.Request("POST", "/api/v1/admin/devices/" + mia + "/revoke",
                                       R"({"reason":"laptop stolen"})");
  ASSERT_EQ(revoked.status, 200) << revoked.Describe();

  // The owner's peer hears of it through the relay and removes the member with a new epoch.
  ASSERT_TRUE(PollUntil([&] { return !IsMember(owner, ws, mia); })) << owner.LogTail() << "\n"
                                                                    << relay.LogTail();
  EXPECT_TRUE(owner.LogContains("revoked device removed from workspace"));
  {
    JsonObject org_status = owner.api().Status()->getObject("org");
    ASSERT_TRUE(org_status);
    EXPECT_EQ(org_status->getValue<std::string>("enrolled_as"), "olga");
    JsonArray revoked_list = org_status->getArray("revoked");
    ASSERT_TRUE(revoked_list && revoked_list->size() == 1);
    EXPECT_EQ(revoked_list->getElement<std::string>(0), mia);
  }
  // Nothing written afterwards reaches the revoked device, by any path.
  const std::string after = owner.api().CreateRecord(ws, "note", JsonOf({{"text", "after"}}));
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(member.api().GetRecord(ws, after), nullptr);
  EXPECT_TRUE(PollUntil([&] { return member.LogContains("revoked by the organisation"); }))
      << member.LogTail();

  // The owner keeps the revocation across a restart and still refuses the device.
  ASSERT_EQ(owner.Stop(), 0);
  owner.Restart();
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(member.api().GetRecord(ws, after), nullptr);
  EXPECT_FALSE(IsMember(owner, ws, mia));
}

// The held and acknowledged deltas of `ws` in `peer`'s relay status.
std::pair<int64_t, int64_t> RelayCounts(const PeerProcess& peer, const std::string& ws) {
  JsonObject status = peer.api().Status();
  JsonObject relay = status && status->has("relay") ? status->getObject("relay") : nullptr;
  JsonArray workspaces = relay ? relay->getArray("workspaces") : nullptr;
  for (size_t i = 0; workspaces && i < workspaces->size(); ++i) {
    JsonObject w = workspaces->getObject(static_cast<unsigned>(i));
    if (w && w->optValue<std::string>("workspace", "") == ws) {
      return {w->optValue<Poco::Int64>("held_deltas", -1),
              w->optValue<Poco::Int64>("acked_deltas", -1)};
    }
  }
  return {-1, -1};
}

TEST_F(ManagedIntegration, PoliciesBringTheAuditorInAndKeepDeltasOffRelaysTheyDoNotAllow) {
  PeerProcess owner("olga"), auditor("audit-box");
  const std::string auditor_card = CardOf(auditor);
  RelayProcess relay("relay", url_);
  relay.Start({"--console.auditor_card", auditor_card});
  const ApiClient admin = relay.NewAdminSession("alice");
  const std::string org_card = OrgCardFile(relay);
  owner.Start(Managed(relay, org_card, Enrol(admin, owner, CardOf(owner))));
  StartOptions auditor_options = Managed(relay, org_card, Enrol(admin, auditor, auditor_card));
  auditor_options.extra_args.insert(auditor_options.extra_args.end(), {"--audit-db", url_});
  auditor.Start(auditor_options);

  const std::string ws = owner.api().CreateWorkspace("purchasing");
  owner.api().CreateRecord(ws, "note", JsonOf({{"text", "one"}}));
  ASSERT_TRUE(PollUntil([&] {
    auto [held, acked] = RelayCounts(owner, ws);
    return held > 0 && held == acked;
  })) << "the relay stores the workspace while no policy says otherwise";

  // IT marks the workspace audited: the owner's peer adds the auditor device by itself.
  ASSERT_EQ(admin
                .Request("PUT", "/api/v1/admin/policies/" + ws,
                         R"({"audited":true,"retention_days":null,"legal_hold":false,)"
                         R"("allowed_relays":[]})")
                .status,
            200);
  const std::string box = auditor.identity().device;
  ASSERT_TRUE(PollUntil([&] { return IsMember(owner, ws, box); })) << owner.LogTail() << "\n"
                                                                   << relay.LogTail();
  EXPECT_TRUE(owner.LogContains("auditor added to an audited workspace"));
  ASSERT_TRUE(auditor.api().WaitInvitation(ws));
  ASSERT_EQ(auditor.api().Accept(ws), 200);

  // Then only another relay may store it: this one no longer gets the owner's new deltas.
  const std::string other_relay(52, 'a');
  ASSERT_EQ(admin
                .Request("PUT", "/api/v1/admin/policies/" + ws,
                         R"({"audited":true,"retention_days":null,"legal_hold":false,)"
                         R"("allowed_relays":[")" +
                             other_relay + R"("]})")
                .status,
            200)
      << "allowed_relays takes device ids";
  std::this_thread::sleep_for(2s);  // the relay passes the new policy on within a second
  const auto [held_before, acked_before] = RelayCounts(owner, ws);
  owner.api().CreateRecord(ws, "note", JsonOf({{"text", "two"}}));
  ASSERT_TRUE(PollUntil([&] { return RelayCounts(owner, ws).first > held_before; }));
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(RelayCounts(owner, ws).second, acked_before)
      << "the relay acknowledged a delta the policy keeps off it";
}

}  // namespace
}  // namespace grove::integration
