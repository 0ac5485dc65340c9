// The admin console's policies, devices (enrol, revoke, the org card and revocations), status and
// audit verification over real HTTP against a real PostgreSQL; and that every admin action ends up
// in the audit log itself.
#include <sys/stat.h>

#include <algorithm>
#include <set>

#include "admin_fixture.h"
#include "audit/audit_log.h"
#include "identity/identity.h"
#include "org/enrolment.h"
#include "org/org_id.h"
#include "org/revocation.h"

namespace grove::admin::testing {
namespace {

const std::string kWs(64, 'a');
const std::string kPolicyPath = "/api/v1/admin/policies/" + kWs;

identity::Identity Device(const std::string& name, uint64_t seed) {
  SeededRandom rng(seed);
  FakeClock clock;
  return std::move(identity::Identity::Create(name, rng, clock)).value();
}

std::string EnrolBody(const std::string& card, const std::string& name) {
  api::Json body = api::Json::Object();
  body.Set("card", card);
  if (!name.empty()) body.Set("name", name);
  return body.Dump();
}

std::string Policy(const std::string& audited, const std::string& days, const std::string& hold,
                   const std::string& relays) {
  return R"({"audited":)" + audited + R"(,"retention_days":)" + days + R"(,"legal_hold":)" + hold +
         R"(,"allowed_relays":)" + relays + "}";
}

TEST_F(ConsoleTest, PolicyValidationNamesTheField) {
  const std::string token = SignIn();
  const identity::Identity relay = Device("relay", 3);
  const std::string card = "\"" + relay.card().text() + "\"";
  const std::string id = "\"" + identity::DeviceIdText(relay.device()) + "\"";
  const std::pair<std::string, std::string> cases[] = {
      {Policy("\"yes\"", "30", "false", "[]"), "audited"},
      {Policy("true", "0", "false", "[]"), "retention_days"},
      {Policy("true", "36501", "false", "[]"), "retention_days"},
      {Policy("true", "1.5", "false", "[]"), "retention_days"},
      {Policy("true", "\"30\"", "false", "[]"), "retention_days"},
      {Policy("true", "30", "null", "[]"), "legal_hold"},
      {Policy("true", "30", "false", "{}"), "allowed_relays"},
      {Policy("true", "30", "false", "[7]"), "allowed_relays[0]"},
      {Policy("true", "30", "false", "[\"relay.example.com\"]"), "allowed_relays[0]"},
      {Policy("true", "30", "false", "[" + card + ",\"grove-card:AAAA\"]"), "allowed_relays[1]"},
      {Policy("true", "30", "false", "[" + card + "," + id + "]"), "allowed_relays[1]"},
      {R"({"audited":true,"retention_days":30,"allowed_relays":[]})", "legal_hold"},
      {R"({"audited":true,"retention_days":30,"legal_hold":false,"allowed_relays":[],"x":1})", "x"},
      {"[]", "body"},
      {"{", "body"},
  };
  for (const auto& [body, field] : cases) {
    Reply r = Authed(token, "PUT", kPolicyPath, body);
    EXPECT_EQ(r.status, 400) << body << ": " << r.body;
    EXPECT_EQ(r.ErrorField(), field) << body << ": " << r.body;
    EXPECT_FALSE(r.ErrorMember("message").empty());
  }
  Reply bad_ws =
      Authed(token, "PUT", "/api/v1/admin/policies/xyz", Policy("true", "1", "false", "[]"));
  EXPECT_EQ(bad_ws.status, 400);
  EXPECT_EQ(bad_ws.ErrorField(), "workspace");
  EXPECT_EQ(Authed(token, "GET", "/api/v1/admin/policies/xyz").ErrorField(), "workspace");
  // Nothing was stored or queued for the audit log.
  Reply list = Authed(token, "GET", "/api/v1/admin/policies");
  EXPECT_EQ(list["policies"].items().size(), 0u);
  const std::vector<std::string> actions = InboxActions();
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "policy.set"), 0);
}

TEST_F(ConsoleTest, PoliciesAreStoredListedAndCached) {
  const std::string token = SignIn();
  Reply fresh = Authed(token, "GET", kPolicyPath);
  ASSERT_EQ(fresh.status, 200) << fresh.body;
  EXPECT_FALSE(fresh["stored"].boolean());
  EXPECT_FALSE(fresh["audited"].boolean());
  EXPECT_TRUE(fresh["retention_days"].is_null());

  const identity::Identity relay = Device("relay", 3);
  const std::string body = Policy("true", "90", "true", "[\"" + relay.card().text() + "\"]");
  Reply put = Authed(token, "PUT", kPolicyPath, body);
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_TRUE(put["stored"].boolean());
  EXPECT_TRUE(put["audited"].boolean());
  EXPECT_EQ(put["retention_days"].integer(), 90);
  EXPECT_TRUE(put["legal_hold"].boolean());
  EXPECT_EQ(put["updated_by"].text(), "admin:alice");
  EXPECT_EQ(put["workspace"].text(), kWs);

  Reply got = Authed(token, "GET", kPolicyPath);
  EXPECT_EQ(got.body, put.body);
  Reply list = Authed(token, "GET", "/api/v1/admin/policies");
  ASSERT_EQ(list["policies"].items().size(), 1u);
  EXPECT_EQ(list["policies"].items()[0].Dump(), put.json.Dump());

  // Upper-case hex names the same workspace; null retention is "forever".
  std::string upper = kWs;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  Reply forever = Authed(token, "PUT", "/api/v1/admin/policies/" + upper,
                         Policy("false", "null", "false", "[]"));
  ASSERT_EQ(forever.status, 200) << forever.body;
  EXPECT_TRUE(forever["retention_days"].is_null());
  EXPECT_EQ(Authed(token, "GET", "/api/v1/admin/policies")["policies"].items().size(), 1u);

  // The relay side reads it from memory.
  Hash32 ws{};
  ws.fill(0xaa);
  std::optional<WorkspacePolicy> cached = console_->PolicyFor(ws);
  ASSERT_TRUE(cached.has_value());
  EXPECT_FALSE(cached->audited);
  EXPECT_TRUE(cached->AllowsRelay(relay.device())) << "an empty list allows any relay";

  // The audit log has both changes, the second with the first as its previous value.
  std::vector<Action> sets;
  for (const Action& a : Inbox()) {
    if (a.action == "policy.set") sets.push_back(a);
  }
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(sets[0].target, kWs);
  EXPECT_EQ(sets[0].workspace, Bytes(32, 0xaa));
  EXPECT_EQ(sets[0].actor, "admin:alice");
  EXPECT_NE(sets[1].detail.find("\"previous\":{"), std::string::npos) << sets[1].detail;
  EXPECT_NE(sets[0].detail.find("\"previous\":null"), std::string::npos) << sets[0].detail;

  // Another console on the same database sees it after a Refresh.
  Reopen();
  EXPECT_FALSE(console_->PolicyFor(ws).has_value());
  ASSERT_TRUE(console_->Refresh().ok());
  ASSERT_TRUE(console_->PolicyFor(ws).has_value());
}

TEST_F(ConsoleTest, AllowedRelaysByCardOrDeviceId) {
  const std::string token = SignIn();
  const identity::Identity a = Device("relay-a", 3), b = Device("relay-b", 4), c = Device("c", 5);
  const std::string body =
      Policy("false", "null", "false",
             "[\"" + a.card().text() + "\",\"" + identity::DeviceIdText(b.device()) + "\"]");
  ASSERT_EQ(Authed(token, "PUT", kPolicyPath, body).status, 200);
  Hash32 ws{};
  ws.fill(0xaa);
  std::optional<WorkspacePolicy> p = console_->PolicyFor(ws);
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->AllowsRelay(a.device()));
  EXPECT_TRUE(p->AllowsRelay(b.device()));
  EXPECT_FALSE(p->AllowsRelay(c.device()));
}

TEST_F(ConsoleTest, EnrolListRevoke) {
  const std::string token = SignIn();
  Reply org = Call("GET", "/api/v1/admin/org");
  ASSERT_EQ(org.status, 200) << org.body;
  Result<crypto::PublicKey> ca = org::ParseOrgCard(org["card"].text());
  ASSERT_TRUE(ca.ok()) << org.body;
  EXPECT_EQ(org["org"].text(), org::OrgIdText(org::OrgIdOf(*ca)));
  struct stat st {};
  ASSERT_EQ(stat((data_.File("relay") + "/org-ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  const identity::Identity laptop = Device("laptop", 7), phone = Device("phone", 8);
  Reply enrolled = Authed(token, "POST", "/api/v1/admin/devices",
                          EnrolBody(laptop.card().text(), "Bob's laptop"));
  ASSERT_EQ(enrolled.status, 201) << enrolled.body;
  EXPECT_EQ(enrolled["device"].text(), identity::DeviceIdText(laptop.device()));
  EXPECT_EQ(enrolled["state"].text(), "enrolled");
  Result<org::Enrolment> e = org::ParseAndVerifyEnrolment(enrolled["enrolment"].text(), *ca);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->name, "Bob's laptop");
  EXPECT_EQ(e->device, laptop.device());
  // Without a name, the card's.
  Reply second = Authed(token, "POST", "/api/v1/admin/devices", EnrolBody(phone.card().text(), ""));
  ASSERT_EQ(second.status, 201) << second.body;
  EXPECT_EQ(second["name"].text(), "phone");

  Reply again =
      Authed(token, "POST", "/api/v1/admin/devices", EnrolBody(laptop.card().text(), "again"));
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.ErrorCode(), "already_exists");
  Reply bad = Authed(token, "POST", "/api/v1/admin/devices", EnrolBody("grove-card:AAAA", "x"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.ErrorField(), "card");
  bad = Authed(token, "POST", "/api/v1/admin/devices", R"({"name":"x"})");
  EXPECT_EQ(bad.ErrorField(), "card");
  bad = Authed(token, "POST", "/api/v1/admin/devices",
               EnrolBody(Device("d", 9).card().text(), "a\x01"));
  EXPECT_EQ(bad.ErrorField(), "name");

  Reply list = Authed(token, "GET", "/api/v1/admin/devices");
  ASSERT_EQ(list["devices"].items().size(), 2u) << list.body;
  EXPECT_EQ(console_->DeviceStateOf(laptop.device()), DeviceState::kEnrolled);
  EXPECT_EQ(console_->EnrolmentOf(laptop.device()), enrolled["enrolment"].text());

  const std::string revoke_path =
      "/api/v1/admin/devices/" + identity::DeviceIdText(laptop.device()) + "/revoke";
  Reply revoked = Authed(token, "POST", revoke_path, R"({"reason":"stolen"})");
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(revoked["state"].text(), "revoked");
  EXPECT_EQ(revoked["serial"].integer(), 1);
  EXPECT_EQ(revoked["revoked_by"].text(), "admin:alice");
  Result<org::Revocation> r = org::ParseAndVerifyRevocation(revoked["revocation"].text(), *ca);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->device, laptop.device());
  EXPECT_EQ(r->reason, "stolen");
  EXPECT_EQ(r->serial, 1u);

  EXPECT_EQ(Authed(token, "POST", revoke_path, "{}").status, 409) << "revoked already";
  Reply re_enrol =
      Authed(token, "POST", "/api/v1/admin/devices", EnrolBody(laptop.card().text(), "back"));
  EXPECT_EQ(re_enrol.status, 409);
  EXPECT_EQ(re_enrol.ErrorCode(), "failed_precondition");
  Reply unknown = Authed(
      token, "POST",
      "/api/v1/admin/devices/" + identity::DeviceIdText(Device("x", 10).device()) + "/revoke",
      "{}");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(Authed(token, "POST", "/api/v1/admin/devices/nonsense/revoke", "{}").status, 404);
  Reply long_reason = Authed(
      token, "POST", "/api/v1/admin/devices/" + identity::DeviceIdText(phone.device()) + "/revoke",
      R"({"reason":")" + std::string(1025, 'x') + R"("})");
  EXPECT_EQ(long_reason.status, 400);
  EXPECT_EQ(long_reason.ErrorField(), "reason");

  // Peers fetch revocations without a session; the relay side reads them from memory.
  Reply revocations = Call("GET", "/api/v1/admin/revocations");
  ASSERT_EQ(revocations.status, 200) << revocations.body;
  ASSERT_EQ(revocations["revocations"].items().size(), 1u);
  EXPECT_EQ(revocations["revocations"].items()[0].text(), revoked["revocation"].text());
  EXPECT_EQ(revocations["org_card"].text(), org["card"].text());
  EXPECT_EQ(console_->Revocations(), std::vector<std::string>{revoked["revocation"].text()});
  EXPECT_EQ(console_->DeviceStateOf(laptop.device()), DeviceState::kRevoked);
  EXPECT_FALSE(console_->EnrolmentOf(laptop.device()).has_value());
  EXPECT_EQ(console_->DeviceStateOf(Device("x", 10).device()), DeviceState::kUnknown);

  list = Authed(token, "GET", "/api/v1/admin/devices");
  ASSERT_EQ(list["devices"].items().size(), 2u);
  EXPECT_EQ(list["devices"].items()[1].Find("state")->text(), "revoked") << "revoked ones last";

  std::vector<std::string> actions = InboxActions();
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "device.enrol"), 2);
  EXPECT_EQ(std::count(actions.begin(), actions.end(), "device.revoke"), 1);

  // A restarted console reads the same CA key and the devices back.
  Reopen();
  EXPECT_TRUE(console_->Revocations().empty()) << "nothing before Refresh";
  ASSERT_TRUE(console_->Refresh().ok());
  EXPECT_EQ(console_->Revocations().size(), 1u);
  EXPECT_EQ(console_->OrgCard(), org["card"].text());
  EXPECT_EQ(Call("GET", "/api/v1/admin/org")["card"].text(), org["card"].text());
}

TEST_F(ConsoleTest, AnotherCaKeyIsRefused) {
  const std::string token = SignIn();
  ASSERT_EQ(Call("GET", "/api/v1/admin/org").status, 200);
  // A relay sharing the database with its own, different org-ca.key.
  Close();
  TempDir other("grove_admin_other");
  ConsoleOptions options = Options();
  options.data = other.path();
  Result<std::unique_ptr<Console>> console = Console::Open(options, clock_, rng_);
  ASSERT_TRUE(console.ok());
  {
    SeededRandom rng(99);
    FakeClock clock;
    ASSERT_TRUE(org::OrgCa::LoadOrCreate(other.path(), rng, clock).ok());
  }
  Result<std::string> card = (*console)->devices().OrgCard();
  EXPECT_EQ(card.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(card.status().message().find("share one org-ca.key"), std::string::npos)
      << card.status().ToString();
  // And one without any key does not make a new one.
  TempDir empty("grove_admin_empty");
  options.data = empty.path();
  console = Console::Open(options, clock_, rng_);
  ASSERT_TRUE(console.ok());
  card = (*console)->devices().OrgCard();
  EXPECT_EQ(card.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(card.status().message().find("copy it"), std::string::npos);
  struct stat st {};
  EXPECT_NE(stat((empty.path() + "/org-ca.key").c_str(), &st), 0);
}

TEST_F(ConsoleTest, StatusShowsTheRelayAndItsPeers) {
  relay_status_ = [] {
    RelayStatus s;
    s.version = "0.1.0";
    s.device = "relaydevice";
    s.card = "grove-card:relay";
    s.started_ms = 1'000'000;
    s.now_ms = 1'061'000;
    s.database_ok = true;
    s.database_latency_seconds = 0.0025;
    s.connections = 2;
    s.workspaces = 3;
    s.stored_deltas = 40;
    s.peers.push_back(PeerSeen{"dev1", "laptop", 1'060'000, "10.0.0.5:4242", "direct", true});
    s.peers.push_back(PeerSeen{"dev2", "", 1'000'500, "10.0.0.6:5151", "direct", false});
    return s;
  };
  Reopen();
  const std::string token = SignIn();
  Reply r = Authed(token, "GET", "/api/v1/admin/status");
  ASSERT_EQ(r.status, 200) << r.body;
  const api::Json& relay = r["relay"];
  EXPECT_EQ(relay.Find("version")->text(), "0.1.0");
  EXPECT_EQ(relay.Find("uptime_s")->integer(), 61);
  EXPECT_EQ(relay.Find("connections")->integer(), 2);
  EXPECT_EQ(relay.Find("workspaces")->integer(), 3);
  EXPECT_EQ(relay.Find("stored_deltas")->integer(), 40);
  EXPECT_TRUE(relay.Find("database")->Find("ok")->boolean());
  EXPECT_EQ(relay.Find("database")->Find("latency_seconds")->text(), "0.002500");
  ASSERT_EQ(r["peers"].items().size(), 2u);
  const api::Json& peer = r["peers"].items()[0];
  EXPECT_EQ(peer.Find("device")->text(), "dev1");
  EXPECT_EQ(peer.Find("name")->text(), "laptop");
  EXPECT_EQ(peer.Find("last_seen_ms")->integer(), 1'060'000);
  EXPECT_EQ(peer.Find("address")->text(), "10.0.0.5:4242");
  EXPECT_EQ(peer.Find("path")->text(), "direct");
  EXPECT_TRUE(peer.Find("connected")->boolean());
  EXPECT_FALSE(r["peers"].items()[1].Find("connected")->boolean());
  EXPECT_TRUE(r["stored_bytes"].is_null()) << "no relay tables in this database";
  EXPECT_TRUE(r["console_database"].Find("ok")->boolean());

  Exec(
      "CREATE TABLE usage_workspace (workspace bytea, bytes bigint, deltas bigint);"
      "INSERT INTO usage_workspace VALUES ('\\x01', 1000, 1), ('\\x02', 234, 2)");
  r = Authed(token, "GET", "/api/v1/admin/status");
  EXPECT_EQ(r["stored_bytes"].integer(), 1234);
}

// Drains the inbox into the log with `key` and signs a head: what the auditor does.
void Audit(const std::string& url, uint8_t key_fill) {
  FakeClock clock;
  Result<crypto::SigningKey> key = crypto::SigningKey::FromSeed(Bytes(32, key_fill));
  ASSERT_TRUE(key.ok());
  Result<std::unique_ptr<audit::AuditLog>> log = audit::AuditLog::Open(url, std::move(*key), clock);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  ASSERT_TRUE((*log)->DrainInbox().ok());
  ASSERT_TRUE((*log)->SignHead().ok());
}

crypto::PublicKey PublicOf(uint8_t fill) {
  return crypto::SigningKey::FromSeed(Bytes(32, fill))->public_key();
}

TEST_F(ConsoleTest, VerifyReportsAGoodLogAndATamperedOne) {
  auditor_key_ = PublicOf(5);
  Reopen();
  const std::string token = SignIn();
  ASSERT_EQ(Authed(token, "PUT", kPolicyPath, Policy("true", "30", "true", "[]")).status, 200);
  Audit(url_, 5);

  Reply good = Authed(token, "GET", "/api/v1/admin/audit/verify");
  ASSERT_EQ(good.status, 200) << good.body;
  EXPECT_TRUE(good["ok"].boolean()) << good.body;
  EXPECT_EQ(good["entries"].integer(), 3);  // admin.add, admin.login, policy.set
  EXPECT_EQ(good["entries_checked"].integer(), 3);
  EXPECT_EQ(good["heads_checked"].integer(), 1);
  EXPECT_TRUE(good["bad_seq"].is_null());
  EXPECT_TRUE(good["problem"].is_null());
  EXPECT_EQ(good["auditor_key"].text(), HexEncode(PublicOf(5)));

  Exec("UPDATE audit_entries SET new_value = '{}' WHERE seq = 1");
  Reply bad = Authed(token, "GET", "/api/v1/admin/audit/verify");
  ASSERT_EQ(bad.status, 200) << bad.body;
  EXPECT_FALSE(bad["ok"].boolean());
  EXPECT_EQ(bad["bad_seq"].integer(), 1);
  EXPECT_NE(bad["problem"].text().find("entry 1"), std::string::npos) << bad.body;
}

TEST_F(ConsoleTest, AuditSearchPagesAndFiltersAndExportIsOnTheRecord) {
  auditor_key_ = PublicOf(5);
  Reopen();
  const std::string token = SignIn();
  for (const char* days : {"30", "60", "90"}) {
    ASSERT_EQ(Authed(token, "PUT", kPolicyPath, Policy("true", days, "false", "[]")).status, 200);
  }
  Audit(url_, 5);  // admin.add, admin.login, 3 x policy.set

  Reply all = Authed(token, "GET", "/api/v1/admin/audit/entries?kind=admin&limit=2");
  ASSERT_EQ(all.status, 200) << all.body;
  ASSERT_EQ(all["entries"].items().size(), 2u);
  EXPECT_EQ(all["entries"].items()[0].Find("seq")->integer(), 0);
  EXPECT_EQ(all["entries"].items()[0].Find("op")->text(), "admin.add");
  ASSERT_TRUE(all["next_after"].is_int());
  Reply next = Authed(token, "GET",
                      "/api/v1/admin/audit/entries?kind=admin&limit=2&after=" +
                          std::to_string(all["next_after"].integer()));
  ASSERT_EQ(next.status, 200) << next.body;
  ASSERT_EQ(next["entries"].items().size(), 2u);
  EXPECT_EQ(next["entries"].items()[0].Find("seq")->integer(), 2);

  Reply sets = Authed(token, "GET", "/api/v1/admin/audit/entries?op=policy.set&user=admin:alice");
  ASSERT_EQ(sets.status, 200) << sets.body;
  EXPECT_EQ(sets["entries"].items().size(), 3u);
  EXPECT_TRUE(sets["next_after"].is_null());
  EXPECT_EQ(sets["entries"].items()[0].Find("leaf_hash")->text().size(), 64u);

  for (const auto& [query, field] :
       std::vector<std::pair<std::string, std::string>>{{"kind=ops", "kind"},
                                                        {"workspace=abc", "workspace"},
                                                        {"limit=0", "limit"},
                                                        {"limit=1001", "limit"},
                                                        {"after=-1", "after"},
                                                        {"from=yesterday", "from"}}) {
    Reply bad = Authed(token, "GET", "/api/v1/admin/audit/entries?" + query);
    EXPECT_EQ(bad.status, 400) << query << " " << bad.body;
    EXPECT_EQ(bad.ErrorField(), field) << query << " " << bad.body;
  }

  Reply csv = Authed(token, "GET", "/api/v1/admin/audit/export?format=csv&op=policy.set");
  ASSERT_EQ(csv.status, 200) << csv.body;
  EXPECT_NE(csv.body.find("policy.set"), std::string::npos);
  ASSERT_NE(csv.Header("Content-Disposition"), nullptr);
  EXPECT_NE(csv.Header("Content-Disposition")->find("grove-audit.csv"), std::string::npos);
  Reply jsonl = Authed(token, "GET", "/api/v1/admin/audit/export?format=jsonl");
  ASSERT_EQ(jsonl.status, 200) << jsonl.body;
  EXPECT_NE(jsonl.body.find("\"proof\""), std::string::npos) << jsonl.body;
  EXPECT_EQ(Authed(token, "GET", "/api/v1/admin/audit/export?format=pdf").ErrorField(), "format");
  // Each export was queued to the audit log before it was handed out.
  pqxx::connection conn(url_);
  pqxx::work txn(conn);
  EXPECT_EQ(
      txn.exec("SELECT count(*) FROM audit_inbox WHERE action = 'audit.export'")[0][0].as<int>(),
      2);
}

TEST_F(ConsoleTest, RetentionFollowsThePoliciesAndLegalHold) {
  const std::string token = SignIn();
  // Two workspaces with entries 40 days old; one keeps 30 days, the other is under legal hold.
  const std::string held_ws(64, 'b');
  ASSERT_EQ(Authed(token, "PUT", kPolicyPath, Policy("true", "30", "false", "[]")).status, 200);
  ASSERT_EQ(
      Authed(token, "PUT", "/api/v1/admin/policies/" + held_ws, Policy("true", "30", "true", "[]"))
          .status,
      200);
  {
    FakeClock old(clock_.NowMillis() - 40ull * 86'400'000);
    Result<crypto::SigningKey> key = crypto::SigningKey::FromSeed(Bytes(32, 5));
    ASSERT_TRUE(key.ok());
    Result<std::unique_ptr<audit::AuditLog>> log =
        audit::AuditLog::Open(url_, std::move(*key), old);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    std::vector<audit::Entry> entries;
    for (const std::string& ws : {kWs, held_ws}) {
      audit::Entry e;
      e.workspace = *HexDecode(ws);
      e.device = "d";
      e.op = "set";
      e.record = "r";
      e.field = "qty";
      e.new_value = "1";
      e.received_at_ms = old.NowMillis();
      entries.push_back(e);
    }
    ASSERT_TRUE((*log)->Append(entries).ok());
  }
  Result<uint64_t> pruned = console_->ApplyRetention();
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 1u);
  EXPECT_EQ(*console_->ApplyRetention(), 0u);  // idempotent
  pqxx::connection conn(url_);
  pqxx::work txn(conn);
  EXPECT_EQ(txn.exec("SELECT count(*) FROM audit_entries WHERE pruned")[0][0].as<int>(), 1);
  EXPECT_EQ(txn.exec("SELECT count(*) FROM audit_entries WHERE workspace = '\\x" + held_ws +
                     "'::bytea AND NOT pruned AND new_value = '1'")[0][0]
                .as<int>(),
            1);
}

TEST_F(ConsoleTest, VerifyChecksTheConfiguredAuditorKey) {
  auditor_key_ = PublicOf(6);  // not the key that signs below
  Reopen();
  const std::string token = SignIn();
  Audit(url_, 5);
  Reply r = Authed(token, "GET", "/api/v1/admin/audit/verify");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r["ok"].boolean()) << r.body;
}

TEST_F(ConsoleTest, EveryAdminActionIsInTheAuditLog) {
  // Through the console: login failure, lockout, login refused while locked, login, enrol,
  // revoke, policy change, logout; through the CLI's calls: add, passwd, unlock, remove.
  AddAdmin("alice");
  AddAdmin("bob");
  for (int i = 0; i < 5; ++i) Login("bob", "wrong password");
  Login("bob", kPassword);
  ASSERT_TRUE(console_->accounts().Unlock("bob", "cli:test").ok());
  ASSERT_TRUE(console_->accounts().SetPassword("bob", "another password", "cli:test").ok());
  ASSERT_TRUE(console_->accounts().Remove("bob", "cli:test").ok());
  const std::string token = Login("alice", kPassword)["token"].text();
  const identity::Identity laptop = Device("laptop", 7);
  ASSERT_EQ(
      Authed(token, "POST", "/api/v1/admin/devices", EnrolBody(laptop.card().text(), "l")).status,
      201);
  ASSERT_EQ(
      Authed(token, "POST",
             "/api/v1/admin/devices/" + identity::DeviceIdText(laptop.device()) + "/revoke", "{}")
          .status,
      200);
  ASSERT_EQ(Authed(token, "PUT", kPolicyPath, Policy("true", "30", "false", "[]")).status, 200);
  ASSERT_EQ(Authed(token, "POST", "/api/v1/admin/logout").status, 204);
  Audit(url_, 5);

  std::set<std::string> ops;
  std::vector<std::string> revoke_rows;
  pqxx::connection conn(url_);
  pqxx::work txn(conn);
  for (const pqxx::row& r :
       txn.exec("SELECT op, device, record FROM audit_entries WHERE kind = 'admin' ORDER BY seq")) {
    ops.insert(r[0].as<std::string>());
    if (r[0].as<std::string>() == "device.revoke") {
      revoke_rows.push_back(r[1].as<std::string>() + " " + r[2].as<std::string>());
    }
  }
  EXPECT_EQ(ops, (std::set<std::string>{"admin.add", "admin.login_failed", "admin.lockout",
                                        "admin.login_locked", "admin.unlock", "admin.passwd",
                                        "admin.remove", "admin.login", "device.enrol",
                                        "device.revoke", "policy.set", "admin.logout"}));
  ASSERT_EQ(revoke_rows.size(), 1u);
  EXPECT_EQ(revoke_rows[0], "admin:alice " + identity::DeviceIdText(laptop.device()));
  EXPECT_EQ(txn.exec("SELECT count(*) FROM audit_inbox")[0][0].as<int>(), 0);
}

TEST_F(ConsoleTest, DatabaseDownIsUnavailable) {
  ConsoleOptions options = Options();
  options.db_url = "postgresql://grove@127.0.0.1:1/none";
  options.db_connect_timeout_s = 2;
  Close();
  Result<std::unique_ptr<Console>> console = Console::Open(options, clock_, rng_);
  ASSERT_TRUE(console.ok()) << "opening does not need the database";
  console_ = std::move(console).value();
  relay::AdminHttp::Options http;
  Console* raw = console_.get();
  http.api = [raw](const HttpRequest& request) { return raw->Handle(request); };
  http_ = std::move(relay::AdminHttp::Start(http)).value();
  Reply r = Login("alice", kPassword);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.ErrorCode(), "unavailable");
  EXPECT_EQ(console_->Refresh().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace grove::admin::testing
