// The `grove` commands that talk to a peer's API, run as a user would run them: the real binary
// against an HttpApi served in this process by a FakeBackend.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "api/http_api.h"
#include "api/json.h"
#include "support/temp_dir.h"
#include "unit/api/fake_backend.h"

extern char** environ;

namespace grove {
namespace {

using api::Json;
using api::Value;
using testing::FakeBackend;

// 32 bytes as base64url, as `grove init` writes them.
constexpr char kToken[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// A port nothing listens on: bound, then released.
uint16_t ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return ntohs(addr.sin_port);
}

class ApiCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = tmp_.path() + "/data";
    std::filesystem::create_directories(data_);
    WriteFile(data_ + "/api-token", std::string(kToken) + "\n");
    api::HttpApi::Options options;
    options.token = kToken;
    Result<std::unique_ptr<api::HttpApi>> api = api::HttpApi::Start(backend_, options);
    ASSERT_TRUE(api.ok()) << api.status().ToString();
    api_ = std::move(api).value();
    address_ = "127.0.0.1:" + std::to_string(api_->port());
  }

  // Runs `grove args... --data DIR --api ADDRESS` (posix_spawn: this process has server threads,
  // so no fork without exec).
  Outcome Grove(std::vector<std::string> args, bool with_connection = true) {
    if (with_connection) {
      args.insert(args.end(), {"--data", data_, "--api", address_});
    }
    const std::string out_path = tmp_.path() + "/stdout", err_path = tmp_.path() + "/stderr";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    std::string bin = GROVE_BIN;
    std::vector<char*> argv = {bin.data()};
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    Outcome run;
    const int spawned = posix_spawn(&pid, bin.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    EXPECT_EQ(spawned, 0);
    if (spawned != 0) return run;
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status)) << "grove did not exit normally";
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.out = ReadFile(out_path);
    run.err = ReadFile(err_path);
    return run;
  }

  Json ParseOut(const Outcome& run) {
    Result<Json> json = api::ParseJson(run.out);
    EXPECT_TRUE(json.ok()) << "not JSON: " << run.out;
    return json.ok() ? *json : Json();
  }

  // A workspace made through the CLI; its full id.
  std::string MakeWorkspace(const std::string& name) {
    const Outcome run = Grove({"ws", "create", name, "--json"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    const Json json = ParseOut(run);
    const Json* id = json.Find("id");
    return id ? id->text() : "";
  }

  grove::testing::TempDir tmp_{"api_cli_test"};
  std::string data_;
  FakeBackend backend_;
  std::unique_ptr<api::HttpApi> api_;
  std::string address_;
};

TEST_F(ApiCliTest, WorkspacesAsTablesAndJson) {
  const Outcome created = Grove({"ws", "create", "Corner shop", "--tools", "inventory, orders"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(backend_.calls().back(), "CreateWorkspace(Corner shop,inventory|orders)");
  const std::string id = std::string("01") + std::string(62, 'a');
  EXPECT_EQ(created.out, "created workspace " + id + " (Corner shop)\n");
  MakeWorkspace("Club");

  const Outcome table = Grove({"ws", "list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out,
            "id                name         role   members  records  pending  tools\n"
            "01aaaaaaaaaaaaaa  Corner shop  owner        1        0        0  inventory,orders\n"
            "02aaaaaaaaaaaaaa  Club         owner        1        0        0\n");

  const Outcome json = Grove({"ws", "list", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const Json list = ParseOut(json);
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.items().size(), 2u);
  EXPECT_EQ(list.items()[0].Find("id")->text(), id);

  const Outcome members = Grove({"ws", "members", "01"});
  ASSERT_EQ(members.exit_code, 0) << members.err;
  EXPECT_EQ(members.out, "members of 01aaaaaaaaaaaaaa (Corner shop):\n  device" +
                             std::string(52 - 6, ' ') + "  name  role\n  " + std::string(52, 'd') +
                             "  Fake  owner\n");
}

TEST_F(ApiCliTest, CheckpointClaimsAndHistoryShows) {
  const std::string ws = MakeWorkspace("Shop");
  const Outcome before = Grove({"history", "01"});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_EQ(before.out,
            "workspace 01aaaaaaaaaaaaaa: 20 deltas made; this peer prunes the history under a "
            "trusted checkpoint\n  no checkpoint yet: the state is built from the whole history\n");

  const Outcome claimed = Grove({"checkpoint", "01"});
  ASSERT_EQ(claimed.exit_code, 0) << claimed.err;
  EXPECT_EQ(backend_.calls().back(), "ClaimCheckpoint(" + ws + ")");
  EXPECT_EQ(claimed.out, "claimed checkpoint " + std::string(64, 'c') +
                             " of workspace 01aaaaaaaaaaaaaa\n  12 deltas of 1 device, 2.0 KiB, "
                             "trusted\n");
  const Outcome json = Grove({"checkpoint", "01", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(ParseOut(json).Find("deltas")->integer(), 12);

  const Outcome after = Grove({"history", "01"});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_NE(after.out.find("  checkpoint " + std::string(64, 'c') +
                           "\n    12 deltas of 1 device, 2.0 KiB, trusted\n"),
            std::string::npos)
      << after.out;

  backend_.FailNext(PermissionDenied("only members may claim a checkpoint"));
  const Outcome refused = Grove({"checkpoint", "01"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("only members may claim a checkpoint"), std::string::npos)
      << refused.err;
}

TEST_F(ApiCliTest, MembersInvitationsAndPrefixes) {
  const std::string ws = MakeWorkspace("Shop");
  const Outcome invited = Grove({"ws", "invite", "01a", "grove-card:bob", "--role", "auditor"});
  ASSERT_EQ(invited.exit_code, 0) << invited.err;
  EXPECT_EQ(backend_.calls().back(), "AddMember(" + ws + ",grove-card:bob,auditor)");
  EXPECT_EQ(invited.out, "invited the card's device to 01aaaaaaaaaaaaaa as auditor\n");

  // The fake names the new member's device "dev-<card>"; a prefix of it is enough.
  const Outcome removed = Grove({"ws", "remove", "01", "dev-grove"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(backend_.calls().back(), "RemoveMember(" + ws + ",dev-grove-card:bob)");
  EXPECT_EQ(removed.out, "removed grove-card:bob (dev-grove-card:bob) from 01aaaaaaaaaaaaaa\n");

  const std::string club = "c0ffee" + std::string(58, '0');
  backend_.AddInvitation({.workspace = club,
                          .name = "Club",
                          .from = std::string(52, 'a'),
                          .from_name = "Alice",
                          .role = "member"});
  const Outcome invitations = Grove({"invitations"});
  ASSERT_EQ(invitations.exit_code, 0) << invitations.err;
  EXPECT_EQ(invitations.out,
            "workspace         name  from                      role\n"
            "c0ffee0000000000  Club  Alice (aaaaaaaaaaaaaaaa)  member\n"
            "accept one with: grove ws accept WORKSPACE\n");
  const Outcome accepted = Grove({"ws", "accept", "C0FF"});
  ASSERT_EQ(accepted.exit_code, 0) << accepted.err;
  EXPECT_EQ(accepted.out, "joined workspace " + club + "\n");
  EXPECT_EQ(Grove({"invitations", "--json"}).out, "[]\n");

  // Ambiguous prefix: an error, not a guess. Unknown: not found.
  MakeWorkspace("Second");
  const Outcome ambiguous = Grove({"ws", "members", "0"});
  EXPECT_EQ(ambiguous.exit_code, 1);
  EXPECT_NE(ambiguous.err.find("matches 2 workspaces"), std::string::npos) << ambiguous.err;
  const Outcome unknown = Grove({"ws", "members", "ff"});
  EXPECT_EQ(unknown.exit_code, 4);
  EXPECT_EQ(unknown.err, "grove: no workspace ff on this device\n");
  EXPECT_EQ(Grove({"ws", "members", "xyz"}).exit_code, 1);
}

TEST_F(ApiCliTest, RecordValuesAreParsedExactly) {
  MakeWorkspace("Shop");
  const Outcome created =
      Grove({"record", "create", "01", "item", "name=Green tea", "stock=12", "price=12.50EUR",
             "deposit=-0.5EUR", "cheap=3 USD", "organic=true", "code=007", "note:=null",
             "raw:={\"minor\":5,\"currency\":\"CHF\"}", "label:=\"42\"", "empty="});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(created.out, "mfrggzdfmztwq2lk-1\n");
  const std::map<std::string, Value> fields = backend_.last_fields();
  EXPECT_EQ(fields.at("name"), Value("Green tea"));
  EXPECT_EQ(fields.at("stock"), Value(12));
  EXPECT_EQ(fields.at("price"), Value(replica::Money{1250, "EUR"}));
  EXPECT_EQ(fields.at("deposit"), Value(replica::Money{-50, "EUR"}));
  EXPECT_EQ(fields.at("cheap"), Value(replica::Money{300, "USD"}));
  EXPECT_EQ(fields.at("organic"), Value(true));
  EXPECT_EQ(fields.at("code"), Value("007"));
  EXPECT_TRUE(fields.at("note").is_null());
  EXPECT_EQ(fields.at("raw"), Value(replica::Money{5, "CHF"}));
  EXPECT_EQ(fields.at("label"), Value("42"));
  EXPECT_EQ(fields.at("empty"), Value(""));

  // Refused before anything is sent: usage errors.
  backend_.ClearCalls();
  const Outcome decimals = Grove({"record", "create", "01", "item", "price=12.505EUR"});
  EXPECT_EQ(decimals.exit_code, 2);
  EXPECT_NE(decimals.err.find("12.505EUR has 3 decimals"), std::string::npos) << decimals.err;
  const Outcome fraction = Grove({"record", "create", "01", "item", "stock=1.5"});
  EXPECT_EQ(fraction.exit_code, 2);
  EXPECT_NE(fraction.err.find("stock=1.5 is not an integer"), std::string::npos) << fraction.err;
  EXPECT_EQ(Grove({"record", "create", "01", "item", "novalue"}).exit_code, 2);
  EXPECT_EQ(Grove({"record", "create", "01", "item", "=5"}).exit_code, 2);
  EXPECT_EQ(Grove({"record", "create", "01", "item", "a:={"}).exit_code, 2);
  EXPECT_EQ(Grove({"record", "create", "01", "item", "a=1", "a=2"}).exit_code, 2);
  EXPECT_EQ(Grove({"record", "create", "01", "item", "n=99999999999999999999"}).exit_code, 2);
  EXPECT_TRUE(backend_.calls().empty()) << backend_.calls().front();

  // The API's own refusal (a float through :=) comes back naming the field, exit 1.
  const Outcome api_refused = Grove({"record", "create", "01", "item", "price:=12.5"});
  EXPECT_EQ(api_refused.exit_code, 1);
  EXPECT_EQ(api_refused.err,
            "grove: fields.price is 12.5: money and quantities are integers: use minor units "
            "(field fields.price)\n");
}

TEST_F(ApiCliTest, SetAddGetAndList) {
  const std::string ws = MakeWorkspace("Shop");
  ASSERT_EQ(
      Grove({"record", "create", "01", "item", "name=Tea", "stock=12", "price=3.20EUR"}).exit_code,
      0);
  ASSERT_EQ(Grove({"record", "create", "01", "order", "qty=2"}).exit_code, 0);
  const std::string id = "mfrggzdfmztwq2lk-1";

  const Outcome set = Grove({"record", "set", "01", id, "name=Black tea", "price=3.5EUR"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_EQ(set.out,
            "id: mfrggzdfmztwq2lk-1\ntype: item\nstate: open\narchived: no\nfields:\n"
            "  name   Black tea\n  price  3.50 EUR\n  stock  12\nhistory:\n  created\n  patched\n");

  const Outcome add = Grove({"record", "add", "01", id, "stock=-2", "--json"});
  ASSERT_EQ(add.exit_code, 0) << add.err;
  const Json record = ParseOut(add);
  EXPECT_EQ(record.Find("fields")->Find("stock")->integer(), 10);
  EXPECT_EQ(backend_.last_patch()->add.at("stock"), -2);
  EXPECT_EQ(Grove({"record", "add", "01", id, "stock=two"}).exit_code, 2);
  EXPECT_EQ(Grove({"record", "add", "01", id, "stock:=1"}).exit_code, 2);
  EXPECT_EQ(Grove({"record", "add", "01", id}).exit_code, 2);
  EXPECT_EQ(Grove({"record", "set", "01", id}).exit_code, 2);

  const Outcome get = Grove({"record", "get", "01", id, "--json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(ParseOut(get).Find("fields")->Find("price")->Dump(),
            R"({"minor":350,"currency":"EUR"})");

  const Outcome list = Grove({"record", "list", "01"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out,
            "id                  type   state  name       price     qty  stock\n"
            "mfrggzdfmztwq2lk-1  item   open   Black tea  3.50 EUR       10\n"
            "mfrggzdfmztwq2lk-2  order  open                        2\n");
  const Outcome orders = Grove({"record", "list", "01", "--type", "order", "--json"});
  ASSERT_EQ(orders.exit_code, 0) << orders.err;
  EXPECT_EQ(ParseOut(orders).Find("records")->items().size(), 1u);
  EXPECT_EQ(backend_.calls().back(), "QueryRecords(" + ws + ",order)");
}

api::ToolInfo OrdersTool() {
  api::TypeInfo order{.name = "order", .title = "Order"};
  order.fields = {
      {.name = "number", .title = "Number", .type = "text", .required = true},
      {.name = "item", .title = "Item", .type = "reference", .to = "item"},
      {.name = "priority", .title = "Priority", .type = "enum", .values = {"low", "high"}},
      {.name = "due", .title = "Due", .type = "date"}};
  order.states = {"draft", "submitted"};
  order.initial = "draft";
  order.transitions = {{.name = "submit",
                        .title = "Submit",
                        .from = {"draft"},
                        .to = "submitted",
                        .roles = {"owner", "member"},
                        .guard = "record.number != ''",
                        .inputs = {{.name = "due", .required = true}}}};
  return {.name = "orders",
          .version = 2,
          .title = "Orders",
          .hash = std::string(64, 'c'),
          .types = {order}};
}

TEST_F(ApiCliTest, WorkspaceToolsAreShown) {
  const std::string ws = MakeWorkspace("Shop");
  const Outcome none = Grove({"ws", "tools", "01"});
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, "no tools: workspace 01aaaaaaaaaaaaaa is free-form\n");
  backend_.SetTools(ws, {OrdersTool()});
  const Outcome tools = Grove({"ws", "tools", "01"});
  ASSERT_EQ(tools.exit_code, 0) << tools.err;
  EXPECT_EQ(
      tools.out,
      "orders v2 (Orders) cccccccccccccccc\n"
      "  order: Order\n"
      "    number    text, required\n"
      "    item      reference to item\n"
      "    priority  enum (low, high)\n"
      "    due       date\n"
      "    states: draft, submitted (initial draft)\n"
      "    submit: draft -> submitted (owner, member) if record.number != ''; inputs: due*\n");
  const Outcome json = Grove({"ws", "tools", "01", "--json"});
  ASSERT_EQ(json.exit_code, 0);
  EXPECT_EQ(ParseOut(json).items().at(0).Find("hash")->text(), std::string(64, 'c'));
}

TEST_F(ApiCliTest, TransitionsRunAndRefusalsExitOne) {
  const std::string ws = MakeWorkspace("Shop");
  backend_.SetTools(ws, {OrdersTool()});
  backend_.PutRecord(ws, {.id = "r-1", .type = "order", .state = "draft"});
  const Outcome ran = Grove({"record", "transition", "01", "r-1", "submit", "due=2030-01-31"});
  ASSERT_EQ(ran.exit_code, 0) << ran.err;
  EXPECT_EQ(ran.out,
            "id: r-1\ntype: order\nstate: submit\narchived: no\nfields:\n  due  2030-01-31\n"
            "history:\n  submit\n");
  EXPECT_EQ(backend_.last_fields().at("due"), Value("2030-01-31"));

  backend_.RefuseTransition("approve", PermissionDenied("role: approve needs role owner"));
  const Outcome denied = Grove({"record", "transition", "01", "r-1", "approve"});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_EQ(denied.err, "grove: role: approve needs role owner\n");
  backend_.RefuseTransition("close", FailedPrecondition("guard: an order needs a line"));
  const Outcome guarded = Grove({"record", "transition", "01", "r-1", "close"});
  EXPECT_EQ(guarded.exit_code, 1);
  EXPECT_EQ(guarded.err, "grove: guard: an order needs a line\n");
  EXPECT_EQ(Grove({"record", "transition", "01", "r-1"}).exit_code, 2);
  EXPECT_EQ(Grove({"record", "transition", "01", "r-1", "submit", "due"}).exit_code, 2);
  EXPECT_EQ(Grove({"record", "transition", "01", "r-9", "submit"}).exit_code, 4);

  const std::string to = std::string(52, 'b');
  const Outcome granted =
      Grove({"record", "grant", "01", "r-1", "on_hand", "5", "--to", to, "--key", "shelf"});
  ASSERT_EQ(granted.exit_code, 0) << granted.err;
  EXPECT_EQ(backend_.calls_except_tools()[backend_.calls_except_tools().size() - 2],
            "GrantRights(" + ws + ",r-1,on_hand,shelf," + to + ",5)");
  EXPECT_EQ(Grove({"record", "grant", "01", "r-1", "on_hand", "-5", "--to", to}).exit_code, 2);
  EXPECT_EQ(Grove({"record", "grant", "01", "r-1", "on_hand", "5"}).exit_code, 2);
}

TEST_F(ApiCliTest, RecordListFiltersSortsAndPages) {
  const std::string ws = MakeWorkspace("Shop");
  backend_.SetTools(ws, {OrdersTool()});
  for (int i = 1; i <= 3; ++i) {
    backend_.PutRecord(ws, {.id = "r-" + std::to_string(i),
                            .type = "order",
                            .state = "draft",
                            .fields = {{"number", Value("PO-" + std::to_string(i))},
                                       {"priority", Value(i == 2 ? "high" : "low")}}});
  }
  const Outcome page =
      Grove({"record",   "list",    "01",           "--type",     "order",       "--state",
             "draft",    "--where", "priority=low", "--where",    "number=PO-3", "--search",
             "po",       "--sort",  "due",          "--desc",     "--limit",     "1",
             "--offset", "0",       "--due-before", "2031-01-01", "--archived"});
  ASSERT_EQ(page.exit_code, 0) << page.err;
  const std::optional<api::RecordQuery> q = backend_.last_query();
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->type, "order");
  EXPECT_EQ(q->state, "draft");
  const std::vector<std::pair<std::string, Value>> where = {{"priority", Value("low")},
                                                            {"number", Value("PO-3")}};
  EXPECT_EQ(q->where, where);
  EXPECT_EQ(q->search, "po");
  EXPECT_EQ(q->sort, "due");
  EXPECT_TRUE(q->descending);
  EXPECT_EQ(q->limit, 1u);
  EXPECT_EQ(q->due_before, "2031-01-01");
  EXPECT_TRUE(q->include_archived);

  const Outcome some = Grove({"record", "list", "01", "--where", "priority=low", "--limit", "1"});
  ASSERT_EQ(some.exit_code, 0) << some.err;
  EXPECT_EQ(some.out,
            "id   type   state  number  priority\n"
            "r-1  order  draft  PO-1    low\n"
            "(1 of 2 records; see --offset and --limit)\n");

  const Outcome bad = Grove({"record", "list", "01", "--type", "order", "--where", "colour=red"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err,
            "grove: where.colour: type order has no field \"colour\" (field where.colour)\n");
  EXPECT_EQ(Grove({"record", "list", "01", "--where", "colour"}).exit_code, 2);
  EXPECT_EQ(Grove({"record", "list", "01", "--limit", "many"}).exit_code, 1);
}

TEST_F(ApiCliTest, NotFoundExitsFourAndErrorsNameTheField) {
  MakeWorkspace("Shop");
  const Outcome missing = Grove({"record", "get", "01", "nosuch-9"});
  EXPECT_EQ(missing.exit_code, 4);
  EXPECT_EQ(missing.err, "grove: no record nosuch-9\n");
  EXPECT_EQ(missing.out, "");

  backend_.FailNext(InvalidArgument("price must be positive", "fields.price"));
  // The first call (resolving the workspace) does not fail; FailNext hits the create.
  const Outcome refused = Grove({"record", "create", "01", "item", "price=-1EUR"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.err, "grove: price must be positive (field fields.price)\n");

  backend_.FailNext(AlreadyExists("a workspace named Shop exists"));
  EXPECT_EQ(Grove({"ws", "create", "Shop"}).exit_code, 3);
  backend_.FailNext(FailedPrecondition("record archived"));
  EXPECT_EQ(Grove({"record", "set", "01", "mfrggzdfmztwq2lk-1", "a=1"}).exit_code, 1);
}

TEST_F(ApiCliTest, AnUnreachablePeerExitsFive) {
  const std::string address = "127.0.0.1:" + std::to_string(ClosedPort());
  for (std::vector<std::string> command :
       {std::vector<std::string>{"status"}, {"ws", "list"}, {"record", "list", "01"}}) {
    command.insert(command.end(), {"--data", data_, "--api", address});
    const Outcome run = Grove(command, /*with_connection=*/false);
    EXPECT_EQ(run.exit_code, 5) << command[0];
    EXPECT_EQ(run.err, "grove: cannot reach the peer at " + address + ": is grove-peer running?\n");
    EXPECT_EQ(run.out, "");
  }
}

TEST_F(ApiCliTest, TokenAndAddressProblems) {
  const std::string elsewhere = tmp_.path() + "/elsewhere";
  std::filesystem::create_directories(elsewhere);
  const Outcome no_token =
      Grove({"ws", "list", "--data", elsewhere, "--api", address_}, /*with_connection=*/false);
  EXPECT_EQ(no_token.exit_code, 4) << no_token.err;

  WriteFile(elsewhere + "/api-token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
  const Outcome wrong =
      Grove({"ws", "list", "--data", elsewhere, "--api", address_}, /*with_connection=*/false);
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_TRUE(wrong.err.starts_with("grove: missing or wrong bearer token")) << wrong.err;

  const Outcome bad_api =
      Grove({"ws", "list", "--data", data_, "--api", "localhost"}, /*with_connection=*/false);
  EXPECT_EQ(bad_api.exit_code, 2);
  EXPECT_NE(bad_api.err.find("--api must be HOST:PORT"), std::string::npos) << bad_api.err;
  EXPECT_EQ(Grove({"ws", "list"}, /*with_connection=*/false).exit_code, 2) << "--data required";
}

TEST_F(ApiCliTest, Status) {
  api::StatusInfo info;
  info.listen = "0.0.0.0:7400";
  info.uptime_ms = 3723000;
  info.connections.push_back({.device = std::string(52, 'b'),
                              .name = "Bob",
                              .address = "10.0.0.2:7400",
                              .outbound = true,
                              .since_ms = 1,
                              .bytes_in = 2048,
                              .bytes_out = 10});
  info.connections.push_back({.device = std::string(52, 'r'),
                              .name = "relay",
                              .address = "203.0.113.1",
                              .outbound = true,
                              .bytes_in = 1,
                              .bytes_out = 2,
                              .relay = true});
  info.relay = api::RelayInfo{.address = "203.0.113.1:7500",
                              .device = std::string(52, 'r'),
                              .connected = true,
                              .workspaces = {{.workspace = std::string(64, 'a'),
                                              .held = 7,
                                              .acked = 5,
                                              .refused = "ResourceExhausted: quota full"}}};
  info.sync = {.state = "syncing", .pending = 3, .offline_since_ms = std::nullopt};
  backend_.SetStatus(info);
  MakeWorkspace("Shop");
  const Outcome status = Grove({"status"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(
      status.out,
      "listen: 0.0.0.0:7400\nuptime: 1h 2m 3s\nsync: syncing (3 deltas pending)\n"
      "connections: 2\n"
      "  device            name           address        direction  path         in   out\n"
      "  bbbbbbbbbbbbbbbb  Bob            10.0.0.2:7400  out        direct  2.0 KiB  10 B\n"
      "  rrrrrrrrrrrrrrrr  relay (relay)  203.0.113.1    out        direct      1 B   2 B\n"
      "relay: 203.0.113.1:7500 (connected)\n"
      "  aaaaaaaaaaaaaaaa: relay holds 5 of 7 deltas (refused: ResourceExhausted: quota full)\n"
      "workspaces: 1\n"
      "  id                name  role   members  records  deltas  pending\n"
      "  01aaaaaaaaaaaaaa  Shop  owner        1        0       0        0\n");
  const Outcome json = Grove({"status", "--json"});
  ASSERT_EQ(json.exit_code, 0);
  EXPECT_EQ(ParseOut(json).Find("uptime_ms")->integer(), 3723000);
}

TEST_F(ApiCliTest, WebLinkPrintsAOneTimeSignInLink) {
  const Outcome link = Grove({"web-link"});
  ASSERT_EQ(link.exit_code, 0) << link.err;
  const std::string prefix = "http://" + address_ + "/app/#login=";
  ASSERT_TRUE(link.out.starts_with(prefix)) << link.out;
  EXPECT_EQ(link.out.size(), prefix.size() + 43 + 1) << link.out;  // the code and a newline
  const Outcome other = Grove({"web-link"});
  EXPECT_NE(other.out, link.out) << "each link is new";
  const Outcome json = Grove({"web-link", "--json"});
  ASSERT_EQ(json.exit_code, 0);
  EXPECT_EQ(ParseOut(json).Find("code")->text().size(), 43u);
}

}  // namespace
}  // namespace grove
