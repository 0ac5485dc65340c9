// The business tools between real grove-peer processes: a purchase order created on one peer is
// approved on another (separation of duties), ordered and received, and the stock it adds shows
// on every peer; refusals come back as 403/409 naming the rule, from any peer.
#include <gtest/gtest.h>

#include <string>

#include "integration/peer_process.h"

namespace grove::integration {
namespace {

int64_t StockAt(const ApiClient& api, const std::string& ws, const std::string& item,
                const std::string& location) {
  JsonObject r = api.GetRecord(ws, item);
  if (!r || !r->has("keyed")) return -1;
  JsonObject keyed = r->getObject("keyed");
  if (!keyed || !keyed->has("on_hand")) return 0;
  JsonObject on_hand = keyed->getObject("on_hand");
  return on_hand && on_hand->has(location) ? on_hand->getValue<int64_t>(location) : 0;
}

std::string StateOf(const ApiClient& api, const std::string& ws, const std::string& id) {
  JsonObject r = api.GetRecord(ws, id);
  return r ? r->optValue<std::string>("state", "") : "";
}

HttpResponse Step(const ApiClient& api, const std::string& ws, const std::string& id,
                  const std::string& name) {
  Poco::JSON::Object body;
  body.set("name", name);
  body.set("fields", Poco::JSON::Object());
  return api.Request("POST", "/api/v1/workspaces/" + ws + "/records/" + id + "/transitions",
                     ToJson(body));
}

std::string RuleOf(const HttpResponse& r) {
  JsonObject o = r.Object();
  if (!o || !o->has("error")) return "";
  return o->getObject("error")->optValue<std::string>("rule", "");
}

TEST(ToolsIntegration, PurchaseOrderApprovedElsewhereReceivedIntoStockEverywhere) {
  PeerProcess a("requester"), b("approver"), c("warehouse");
  a.Start();
  b.Start(ConnectTo({a.sync_address()}));
  c.Start(ConnectTo({b.sync_address()}));
  const std::string ws =
      ShareWorkspace(a, {&b, &c}, "purchasing", "member", {"inventory", "purchasing"});

  const std::string supplier = a.api().CreateRecord(ws, "supplier", JsonOf({{"name", "ACME"}}));
  const std::string item =
      a.api().CreateRecord(ws, "item", JsonOf({{"sku", "BOLT-8"}, {"name", "Bolt M8"}}));
  const std::string po = a.api().CreateRecord(
      ws, "purchase_order",
      JsonOf({{"number", "PO-1"}, {"supplier", supplier}, {"location", "Main"}}));
  Poco::JSON::Object line = JsonOf({{"order", po}, {"item", item}});
  line.set("quantity", 40);
  Poco::JSON::Object price;
  price.set("minor", 125);
  price.set("currency", "EUR");
  line.set("unit_price", price);
  a.api().CreateRecord(ws, "po_line", line);
  HttpResponse submitted = Step(a.api(), ws, po, "submit");
  ASSERT_EQ(submitted.status, 200) << submitted.Describe();

  // The requester may not approve its own order: 409, the guard named.
  HttpResponse own = Step(a.api(), ws, po, "approve");
  EXPECT_EQ(own.status, 409) << own.Describe();
  EXPECT_EQ(RuleOf(own), "guard") << own.Describe();

  // The approver, on another peer, can once the order has arrived there.
  ASSERT_TRUE(PollUntil([&] { return StateOf(b.api(), ws, po) == "submitted"; }))
      << "the submitted order did not reach the approver";
  JsonObject seen = b.api().GetRecord(ws, po);
  ASSERT_TRUE(seen && seen->has("computed"));
  JsonObject total = seen->getObject("computed")->getObject("total");
  ASSERT_TRUE(total);
  EXPECT_EQ(total->getValue<int64_t>("minor"), 40 * 125);  // exact, in minor units
  for (const char* step : {"approve", "order", "receive"}) {
    HttpResponse r = Step(b.api(), ws, po, step);
    ASSERT_EQ(r.status, 200) << step << ": " << r.Describe();
  }
  // Receiving twice is refused by state.
  HttpResponse again = Step(b.api(), ws, po, "receive");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(RuleOf(again), "state") << again.Describe();

  // The stock reaches every peer, through the line A - B - C.
  for (PeerProcess* p : {&a, &b, &c}) {
    ASSERT_TRUE(PollUntil([&] { return StockAt(p->api(), ws, item, "Main") == 40; }))
        << p->name() << " sees stock " << StockAt(p->api(), ws, item, "Main");
  }
  ASSERT_TRUE(PollUntil([&] { return StateOf(a.api(), ws, po) == "received"; }));

  // The warehouse holds no rights on that stock (the approver's receipt gave them to the
  // approver): issuing is refused with the rights rule until the approver grants some.
  Poco::JSON::Object issue_fields = JsonOf({{"item", item}, {"location", "Main"}});
  issue_fields.set("quantity", 5);
  issue_fields.set("reason", "line 3");
  const std::string issue = c.api().CreateRecord(ws, "issue", issue_fields);
  HttpResponse refused = Step(c.api(), ws, issue, "post");
  EXPECT_EQ(refused.status, 409) << refused.Describe();
  // The inventory tool checks rights in the issue's guard (with its own message); the engine's
  // escrow check stands behind it.
  const std::string rule = RuleOf(refused);
  EXPECT_TRUE(rule == "guard" || rule == "rights") << refused.Describe();
  EXPECT_NE(refused.body.find("rights"), std::string::npos) << refused.Describe();

  Poco::JSON::Object grant =
      JsonOf({{"field", "on_hand"}, {"key", "Main"}, {"to", c.identity().device}});
  grant.set("amount", 10);
  HttpResponse granted = b.api().Request(
      "POST", "/api/v1/workspaces/" + ws + "/records/" + item + "/rights", ToJson(grant));
  ASSERT_EQ(granted.status, 200) << granted.Describe();
  ASSERT_TRUE(PollUntil([&] { return Step(c.api(), ws, issue, "post").status == 200; }))
      << "the grant did not reach the warehouse";
  for (PeerProcess* p : {&a, &b, &c}) {
    ASSERT_TRUE(PollUntil([&] { return StockAt(p->api(), ws, item, "Main") == 35; }))
        << p->name() << " sees stock " << StockAt(p->api(), ws, item, "Main");
  }
  std::optional<DigestInfo> da, dc;
  ASSERT_TRUE(PollUntil([&] {
    da = a.api().Digest(ws);
    dc = c.api().Digest(ws);
    return da && dc && *da == *dc;
  })) << "digests differ";
}

// An owner upgrades a workspace's tool with the CLI; the records migrate on every peer and every
// peer shows the new version. A member may not upgrade (403, role); a broken file is refused
// with its location (400), changing nothing.
TEST(ToolsIntegration, AnOwnerUpgradesAToolAndRecordsMigrateOnEveryPeer) {
  PeerProcess owner("owner"), member("member");
  owner.Start();
  member.Start(ConnectTo({owner.sync_address()}));
  const std::string ws = ShareWorkspace(owner, {&member}, "stores", "member", {"inventory"});
  Poco::JSON::Object fields;
  fields.set("sku", "B-8");
  fields.set("name", "Bolt");
  const std::string item = owner.api().CreateRecord(ws, "item", fields);

  // The next version of the shipped inventory tool: existing items get a name suffix.
  std::string yaml = ReadFile(std::string(GROVE_SOURCE_DIR) + "/workflows/inventory.yaml");
  const size_t at = yaml.find("\nversion: ");
  ASSERT_NE(at, std::string::npos);
  const size_t end = yaml.find('\n', at + 1);
  const int version = std::stoi(yaml.substr(at + 10, end - at - 10));
  const std::string next = std::to_string(version + 1);
  yaml.replace(at, end - at, "\nversion: " + next);
  yaml += "migrate:\n  item:\n    name: \"record.name + ' (v2)'\"\n";
  const std::string file = owner.data_dir() + "/../inventory-v2.yaml";
  WriteFile(file, yaml);
  auto cli = [&](PeerProcess& p, const std::string& path, std::string* output) {
    return RunProgram({GROVE_CLI_BIN, "ws", "upgrade-tool", "--data", p.data_dir(), "--api",
                       "127.0.0.1:" + std::to_string(p.api().port()), ws, path},
                      "", output, 30s);
  };

  std::string out;
  EXPECT_NE(cli(member, file, &out), 0) << out;
  EXPECT_NE(out.find("only an owner may upgrade"), std::string::npos) << out;
  Poco::JSON::Object by_member;
  by_member.set("yaml", yaml);
  HttpResponse refused =
      member.api().Request("POST", "/api/v1/workspaces/" + ws + "/tools", ToJson(by_member));
  EXPECT_EQ(refused.status, 403) << refused.Describe();
  EXPECT_EQ(RuleOf(refused), "role") << refused.Describe();
  Poco::JSON::Object broken;
  broken.set("yaml", yaml + "  oops: [\n");
  broken.set("file", "broken.yaml");
  HttpResponse bad =
      owner.api().Request("POST", "/api/v1/workspaces/" + ws + "/tools", ToJson(broken));
  EXPECT_EQ(bad.status, 400) << bad.Describe();
  EXPECT_NE(bad.body.find("broken.yaml:"), std::string::npos) << bad.Describe();

  ASSERT_EQ(cli(owner, file, &out), 0) << out;
  EXPECT_NE(out.find("inventory v" + next), std::string::npos) << out;
  for (PeerProcess* p : {&owner, &member}) {
    const char* who = p == &owner ? "owner" : "member";
    EXPECT_TRUE(PollUntil(
        [&] {
          JsonObject r = p->api().GetRecord(ws, item);
          return r && r->getObject("fields")->optValue<std::string>("name", "") == "Bolt (v2)";
        },
        20s))
        << who << " did not migrate the item";
    HttpResponse tools = p->api().Get("/api/v1/workspaces/" + ws + "/tools");
    EXPECT_NE(tools.body.find("\"version\":" + next), std::string::npos) << tools.Describe();
  }
}

}  // namespace
}  // namespace grove::integration
