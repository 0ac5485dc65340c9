// The service-cases tool (workflows/service.yaml) between three real grove-peer processes: the
// support team (workspace owner), the customer's side (member) and a supervisor who only reads
// (auditor). A case goes through its status flow on several peers; refused steps name their rule
// (409 for state and guard, 403 for the role); the overdue view is the record list's due_before
// query; comments and links from several peers are all kept; every peer ends with the same case
// and the same workspace digest.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "integration/peer_process.h"
#include "integration/tool_steps.h"

namespace grove::integration {
namespace {

struct Team {
  PeerProcess support{"support"};        // owner: creates the workspace
  PeerProcess customer{"customer"};      // member
  PeerProcess supervisor{"supervisor"};  // auditor: reads, never writes
  std::vector<PeerProcess*> all() { return {&support, &customer, &supervisor}; }
};

// Starts the three peers (customer dials support, supervisor dials customer) and shares a
// workspace with the service tool, each member with its own role. Throws on failure.
std::string StartTeam(Team& t) {
  t.support.Start();
  t.customer.Start(ConnectTo({t.support.sync_address()}));
  t.supervisor.Start(ConnectTo({t.customer.sync_address()}));
  const ApiClient& owner = t.support.api();
  const std::string ws = owner.CreateWorkspace("service", {"inventory", "purchasing", "service"});
  for (auto [peer, role] : {std::pair{&t.customer, "member"}, {&t.supervisor, "auditor"}}) {
    if (owner.Invite(ws, peer->identity().card, role) != 201) {
      throw std::runtime_error("inviting " + peer->name());
    }
  }
  for (PeerProcess* peer : {&t.customer, &t.supervisor}) {
    if (!peer->api().WaitInvitation(ws) || peer->api().Accept(ws) != 200) {
      throw std::runtime_error(peer->name() + " did not join");
    }
  }
  return ws;
}

std::string State(const JsonObject& r) { return r ? r->optValue<std::string>("state", "") : ""; }
std::string Quoted(const std::string& text) { return "\"" + text + "\""; }

Poco::JSON::Object CaseFields(const std::string& title, const std::string& due = "") {
  Poco::JSON::Object fields = JsonOf({{"title", title}, {"customer", "ACME GmbH"}});
  if (!due.empty()) fields.set("due", due);
  return fields;
}

// Expects a refusal: `status` and, for transitions, the rule it names.
void ExpectRefused(const HttpResponse& r, int status, const std::string& rule) {
  EXPECT_EQ(r.status, status) << r.Describe();
  if (!rule.empty()) {
    EXPECT_EQ(RuleOf(r), rule) << r.Describe();
  }
}

TEST(ServiceIntegration, CaseGoesThroughItsStatusFlowAndEveryPeerAgrees) {
  Team t;
  const std::string ws = StartTeam(t);
  const ApiClient& support = t.support.api();
  const ApiClient& customer = t.customer.api();
  const ApiClient& supervisor = t.supervisor.api();
  const std::string support_id = t.support.identity().device;
  const std::string customer_id = t.customer.identity().device;
  std::string seen;

  // The customer reports a case; the priority defaults to normal.
  Poco::JSON::Object report = CaseFields("Pump leaks", "2030-01-31");
  report.set("description", "the pump from PO-7 leaks at the flange");
  const std::string id = customer.CreateRecord(ws, "case", report);
  auto new_case = [](const JsonObject& r) { return State(r) + " " + FieldJson(r, "priority"); };
  ASSERT_TRUE(AllPeersSee(t.all(), ws, id, new_case, "new \"normal\"", &seen)) << seen;

  // Steps that need another state are refused by state, on any peer.
  ExpectRefused(Step(support, ws, id, "resume"), 409, "state");
  ExpectRefused(Step(support, ws, id, "close"), 409, "state");
  ExpectRefused(Step(customer, ws, id, "reopen"), 409, "state");
  ExpectRefused(Step(customer, ws, id, "wait", JsonOf({{"waiting_on", "parts"}})), 409, "state");
  ExpectRefused(Step(customer, ws, id, "resolve", JsonOf({{"resolution", "n/a"}})), 409, "state");
  // The auditor reads but runs no step and changes nothing: 403, the role named.
  ExpectRefused(Step(supervisor, ws, id, "open"), 403, "role");
  ExpectRefused(SetFields(supervisor, ws, id, JsonOf({{"priority", "low"}})), 403, "");
  // The assignee is set only by transitions.
  ExpectRefused(SetFields(customer, ws, id, JsonOf({{"assignee", customer_id}})), 403, "");

  // Support opens it: nobody was assigned, so support is.
  HttpResponse opened = Step(support, ws, id, "open");
  ASSERT_EQ(opened.status, 200) << opened.Describe();
  EXPECT_EQ(FieldJson(opened.Object(), "assignee"), Quoted(support_id)) << opened.Describe();
  ExpectRefused(Step(support, ws, id, "open"), 409, "state");

  // The priority is an enum; support raises it.
  ExpectRefused(SetFields(support, ws, id, JsonOf({{"priority", "critical"}})), 400, "");
  HttpResponse urgent = SetFields(support, ws, id, JsonOf({{"priority", "urgent"}}));
  EXPECT_EQ(urgent.status, 200) << urgent.Describe();

  // Waiting needs to say on what; the customer's side answers and resumes it.
  HttpResponse no_reason = Step(support, ws, id, "wait");
  ExpectRefused(no_reason, 400, "");
  EXPECT_EQ(ErrorFieldOf(no_reason), "fields.waiting_on") << no_reason.Describe();
  HttpResponse waiting =
      Step(support, ws, id, "wait", JsonOf({{"waiting_on", "customer: serial number"}}));
  ASSERT_EQ(waiting.status, 200) << waiting.Describe();
  auto waiting_on = [](const JsonObject& r) { return State(r) + " " + FieldJson(r, "waiting_on"); };
  ASSERT_TRUE(
      AllPeersSee(t.all(), ws, id, waiting_on, "waiting \"customer: serial number\"", &seen))
      << seen;
  ExpectRefused(Step(customer, ws, id, "wait", JsonOf({{"waiting_on", "x"}})), 409, "state");
  HttpResponse resumed = Step(customer, ws, id, "resume");
  ASSERT_EQ(resumed.status, 200) << resumed.Describe();
  const std::string cleared = FieldJson(resumed.Object(), "waiting_on");
  EXPECT_TRUE(cleared.empty() || cleared == "null") << resumed.Describe();

  // Support hands the case to the customer's side (assign needs an assignee).
  ASSERT_TRUE(PollUntil([&] { return StateOf(support, ws, id) == "open"; }));
  HttpResponse no_one = Step(support, ws, id, "assign");
  ExpectRefused(no_one, 400, "");
  EXPECT_EQ(ErrorFieldOf(no_one), "fields.assignee") << no_one.Describe();
  HttpResponse assigned = Step(support, ws, id, "assign", JsonOf({{"assignee", customer_id}}));
  ASSERT_EQ(assigned.status, 200) << assigned.Describe();
  EXPECT_EQ(FieldJson(assigned.Object(), "assignee"), Quoted(customer_id)) << assigned.Describe();

  // Resolving needs a resolution; the customer reopens (the resolution is cleared), support
  // resolves again, the customer closes.
  ExpectRefused(Step(support, ws, id, "resolve"), 400, "");
  HttpResponse resolved =
      Step(support, ws, id, "resolve", JsonOf({{"resolution", "flange gasket replaced"}}));
  ASSERT_EQ(resolved.status, 200) << resolved.Describe();
  auto resolution = [](const JsonObject& r) { return State(r) + " " + FieldJson(r, "resolution"); };
  ASSERT_TRUE(
      AllPeersSee(t.all(), ws, id, resolution, "resolved \"flange gasket replaced\"", &seen))
      << seen;
  HttpResponse reopened = Step(customer, ws, id, "reopen");
  ASSERT_EQ(reopened.status, 200) << reopened.Describe();
  const std::string no_resolution = FieldJson(reopened.Object(), "resolution");
  EXPECT_TRUE(no_resolution.empty() || no_resolution == "null") << reopened.Describe();
  ASSERT_TRUE(PollUntil([&] { return StateOf(support, ws, id) == "open"; }));
  HttpResponse resolved_again =
      Step(support, ws, id, "resolve", JsonOf({{"resolution", "pump replaced"}}));
  ASSERT_EQ(resolved_again.status, 200) << resolved_again.Describe();
  ASSERT_TRUE(PollUntil([&] { return StateOf(customer, ws, id) == "resolved"; }));
  HttpResponse closed = Step(customer, ws, id, "close");
  ASSERT_EQ(closed.status, 200) << closed.Describe();

  // A closed case is history: no step, no change, on any peer.
  ASSERT_TRUE(PollUntil([&] { return StateOf(support, ws, id) == "closed"; }));
  ExpectRefused(Step(support, ws, id, "reopen"), 409, "state");
  ExpectRefused(Step(customer, ws, id, "assign", JsonOf({{"assignee", support_id}})), 409, "state");
  HttpResponse edited = SetFields(support, ws, id, JsonOf({{"description", "one more thing"}}));
  ExpectRefused(edited, 409, "");
  EXPECT_NE(MessageOf(edited).find("a closed case cannot be changed"), std::string::npos)
      << edited.Describe();

  // Every peer: the same case, with its whole status history.
  auto summary = [](const JsonObject& r) {
    if (!r) return std::string("unreadable");
    return State(r) + " [" + Joined(HistoryOf(r)) + "] " + FieldJson(r, "priority") + " " +
           FieldJson(r, "assignee") + " " + FieldJson(r, "resolution") + " " +
           FieldJson(r, "description");
  };
  const std::string want =
      "closed [open, wait, resume, assign, resolve, reopen, resolve, close] \"urgent\" " +
      Quoted(customer_id) + " \"pump replaced\" \"the pump from PO-7 leaks at the flange\"";
  EXPECT_TRUE(AllPeersSee(t.all(), ws, id, summary, want, &seen)) << seen;
  EXPECT_TRUE(DigestsAgree(t.all(), ws, &seen)) << seen;
}

// Overdue: due before today and neither resolved nor closed. The API's record list filters by
// due_before (and by one state); every peer lists the same cases.
TEST(ServiceIntegration, OverdueViewListsUnfinishedCasesPastTheirDueDateOnEveryPeer) {
  Team t;
  const std::string ws = StartTeam(t);
  const ApiClient& support = t.support.api();
  const ApiClient& customer = t.customer.api();
  const std::string today = TodayUtc();
  const std::string past = "2001-02-03", future = "2999-12-31";
  ASSERT_LT(past, today);
  ASSERT_LT(today, future);

  const std::string late_new = customer.CreateRecord(ws, "case", CaseFields("late, new", past));
  const std::string late_open = customer.CreateRecord(ws, "case", CaseFields("late, open", past));
  const std::string late_waiting =
      support.CreateRecord(ws, "case", CaseFields("late, waiting", past));
  const std::string late_resolved =
      support.CreateRecord(ws, "case", CaseFields("late, resolved", past));
  const std::string late_closed =
      customer.CreateRecord(ws, "case", CaseFields("late, closed", past));
  const std::string due_later = customer.CreateRecord(ws, "case", CaseFields("due later", future));
  const std::string no_due = customer.CreateRecord(ws, "case", CaseFields("no due date"));
  // Due today is not overdue yet.
  const std::string due_today = support.CreateRecord(ws, "case", CaseFields("due today", today));

  for (const std::string& id : {late_open, late_waiting, late_resolved, late_closed, due_later}) {
    ASSERT_TRUE(PollUntil([&] { return StateOf(support, ws, id) == "new"; }));
    HttpResponse r = Step(support, ws, id, "open");
    ASSERT_EQ(r.status, 200) << r.Describe();
  }
  ASSERT_EQ(Step(support, ws, late_waiting, "wait", JsonOf({{"waiting_on", "supplier"}})).status,
            200);
  for (const std::string& id : {late_resolved, late_closed}) {
    ASSERT_EQ(Step(support, ws, id, "resolve", JsonOf({{"resolution", "done"}})).status, 200);
  }
  ASSERT_EQ(Step(support, ws, late_closed, "close").status, 200);

  // Every peer lists the same cases due before today, and the same overdue ones per state.
  const std::string before = "type=case&due_before=" + today;
  std::vector<std::string> late = {late_new, late_open, late_waiting, late_resolved, late_closed};
  std::sort(late.begin(), late.end());
  // The ids listed, sorted as text (the API orders by id, not by its text).
  auto ids = [&](const ApiClient& api, const std::string& query) {
    std::optional<std::vector<std::string>> got = RecordIds(api, ws, query);
    if (!got) return std::string("(no answer)");
    std::sort(got->begin(), got->end());
    return Joined(*got);
  };
  // Overdue: the cases due before today in each unfinished state.
  auto overdue = [&](const ApiClient& api) {
    std::vector<std::string> out;
    for (const char* state : {"new", "open", "waiting"}) {
      std::optional<std::vector<std::string>> in_state =
          RecordIds(api, ws, before + "&state=" + state);
      if (!in_state) return std::string("(no answer)");
      out.insert(out.end(), in_state->begin(), in_state->end());
    }
    std::sort(out.begin(), out.end());
    return Joined(out);
  };
  std::vector<std::string> want = {late_new, late_open, late_waiting};
  std::sort(want.begin(), want.end());
  for (PeerProcess* p : t.all()) {
    std::string got;
    EXPECT_TRUE(PollUntil([&] { return (got = ids(p->api(), before)) == Joined(late); }))
        << p->name() << " lists " << got << "; want " << Joined(late);
    EXPECT_TRUE(PollUntil([&] { return (got = overdue(p->api())) == Joined(want); }))
        << p->name() << " shows overdue " << got << "; want " << Joined(want);
    // Sorted by due date, the dated cases come first and the undated last.
    std::optional<std::vector<std::string>> by_due =
        RecordIds(p->api(), ws, "type=case&sort=due&order=desc&limit=1");
    ASSERT_TRUE(by_due && by_due->size() == 1) << p->name();
    EXPECT_EQ(by_due->front(), due_later) << p->name();
  }
  // A bad date is refused, naming the parameter.
  HttpResponse bad = customer.Get("/api/v1/workspaces/" + ws + "/records?due_before=31.12.2024");
  EXPECT_EQ(bad.status, 400) << bad.Describe();
  EXPECT_EQ(ErrorFieldOf(bad), "due_before") << bad.Describe();
  (void)no_due;
  (void)due_today;
  std::string seen;
  EXPECT_TRUE(DigestsAgree(t.all(), ws, &seen)) << seen;
}

// Comments from two peers at once are all kept, in the same order everywhere; links to an item
// and a purchase order and an attachment id are added; an empty comment, a comment by the
// auditor and a comment on a closed case are refused.
TEST(ServiceIntegration, CommentsAndLinksFromSeveralPeersAreAllKept) {
  Team t;
  const std::string ws = StartTeam(t);
  const ApiClient& support = t.support.api();
  const ApiClient& customer = t.customer.api();
  std::string seen;

  const std::string supplier = support.CreateRecord(ws, "supplier", JsonOf({{"name", "ACME"}}));
  const std::string item =
      support.CreateRecord(ws, "item", JsonOf({{"sku", "PUMP-2"}, {"name", "Pump"}}));
  const std::string po = support.CreateRecord(
      ws, "purchase_order",
      JsonOf({{"number", "PO-7"}, {"supplier", supplier}, {"location", "Main"}}));
  const std::string id = customer.CreateRecord(ws, "case", CaseFields("Pump leaks"));
  ASSERT_TRUE(AllPeersSee(t.all(), ws, id, State, "new", &seen)) << seen;
  ASSERT_TRUE(AllPeersSee(t.all(), ws, po, State, "draft", &seen)) << seen;

  // Three comments from each side, sent at the same time.
  auto comment_from = [&](const ApiClient& api, const std::string& who, int* failures) {
    for (int i = 1; i <= 3; ++i) {
      if (AppendItem(api, ws, id, "comments", who + " " + std::to_string(i)).status != 200) {
        ++*failures;
      }
    }
  };
  int support_failures = 0, customer_failures = 0;
  std::thread from_support(comment_from, std::cref(support), "support", &support_failures);
  std::thread from_customer(comment_from, std::cref(customer), "customer", &customer_failures);
  from_support.join();
  from_customer.join();
  EXPECT_EQ(support_failures, 0);
  EXPECT_EQ(customer_failures, 0);

  // Links and an attachment id (32 bytes; the content store is not part of this scenario).
  HttpResponse linked_item = AppendItem(customer, ws, id, "items", item);
  EXPECT_EQ(linked_item.status, 200) << linked_item.Describe();
  HttpResponse linked_po = AppendItem(support, ws, id, "orders", po);
  EXPECT_EQ(linked_po.status, 200) << linked_po.Describe();
  // An attachment is given by the id its upload answered (64 hex digits); this one names no
  // stored file, which a record may do (the file is fetched only when opened).
  const std::string blob(64, 'a');
  HttpResponse attached = AppendItem(customer, ws, id, "attachments", blob);
  EXPECT_EQ(attached.status, 200) << attached.Describe();
  // A link must point at a record of the field's type.
  HttpResponse wrong_link = AppendItem(customer, ws, id, "orders", item);
  EXPECT_EQ(wrong_link.status, 400) << wrong_link.Describe();

  // Refused: an empty comment (the field's guard), a comment by the auditor (its role).
  HttpResponse empty = AppendItem(customer, ws, id, "comments", std::string());
  EXPECT_EQ(empty.status, 409) << empty.Describe();
  EXPECT_NE(MessageOf(empty).find("a comment cannot be empty"), std::string::npos)
      << empty.Describe();
  HttpResponse by_auditor = AppendItem(t.supervisor.api(), ws, id, "comments", "looks fine");
  EXPECT_EQ(by_auditor.status, 403) << by_auditor.Describe();

  // Every peer keeps all six comments, in one order, each side's in the order it wrote them.
  std::vector<std::string> comments;
  ASSERT_TRUE(PollUntil([&] {
    for (PeerProcess* p : t.all()) {
      if (ListJson(p->api().GetRecord(ws, id), "comments").size() != 6) return false;
    }
    return true;
  })) << "not every peer has the six comments";
  comments = ListJson(support.GetRecord(ws, id), "comments");
  for (const char* who : {"support", "customer"}) {
    std::vector<std::string> mine;
    for (const std::string& c : comments) {
      if (c.starts_with(std::string("\"") + who)) mine.push_back(c);
    }
    const std::string w = who;
    EXPECT_EQ(Joined(mine), "\"" + w + " 1\", \"" + w + " 2\", \"" + w + " 3\"") << w;
  }
  auto lists = [](const JsonObject& r) {
    return "[" + Joined(ListJson(r, "comments")) + "] [" + Joined(ListJson(r, "items")) + "] [" +
           Joined(ListJson(r, "orders")) + "] " + std::to_string(ListJson(r, "attachments").size());
  };
  std::string expected_links;
  {
    JsonObject r = support.GetRecord(ws, id);
    const std::vector<std::string> items = ListJson(r, "items");
    const std::vector<std::string> orders = ListJson(r, "orders");
    ASSERT_EQ(items.size(), 1u);
    ASSERT_EQ(orders.size(), 1u);
    EXPECT_NE(items[0].find(item), std::string::npos) << items[0];
    EXPECT_NE(orders[0].find(po), std::string::npos) << orders[0];
    expected_links = "[" + Joined(comments) + "] [" + items[0] + "] [" + orders[0] + "] 1";
  }
  EXPECT_TRUE(AllPeersSee(t.all(), ws, id, lists, expected_links, &seen)) << seen;

  // Closed: no more comments, from anyone.
  ASSERT_EQ(Step(support, ws, id, "open").status, 200);
  ASSERT_EQ(Step(support, ws, id, "resolve", JsonOf({{"resolution", "replaced"}})).status, 200);
  ASSERT_EQ(Step(support, ws, id, "close").status, 200);
  ASSERT_TRUE(PollUntil([&] { return StateOf(customer, ws, id) == "closed"; }));
  HttpResponse late = AppendItem(customer, ws, id, "comments", "still leaks");
  EXPECT_EQ(late.status, 409) << late.Describe();
  EXPECT_NE(MessageOf(late).find("a closed case cannot be changed"), std::string::npos)
      << late.Describe();
  EXPECT_TRUE(DigestsAgree(t.all(), ws, &seen)) << seen;
}

}  // namespace
}  // namespace grove::integration
