// The local HTTP API over real loopback HTTP: a FakeBackend behind HttpApi, requests made with
// Poco's HTTP client as any other client would.
#include "api/http_api.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <istream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/json.h"
#include "identity/identity.h"
#include "unit/api/fake_backend.h"

namespace grove::api {
namespace {

using grove::testing::FakeBackend;
using namespace std::chrono_literals;

constexpr char kToken[] = "s3cret-token-for-tests-0123456789abcdefghij";

struct HttpReply {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string allow;
  Json json;  // parsed body when it is JSON
};

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override { StartApi({}); }

  void StartApi(HttpApi::Options options) {
    api_.reset();
    options.token = kToken;
    options.metrics = [] { return std::string("# TYPE grove_up gauge\ngrove_up 1\n"); };
    Result<std::unique_ptr<HttpApi>> api = HttpApi::Start(backend_, std::move(options));
    ASSERT_TRUE(api.ok()) << api.status().ToString();
    api_ = std::move(api).value();
    ASSERT_NE(api_->port(), 0);
  }

  std::unique_ptr<Poco::Net::HTTPClientSession> Session() {
    auto session = std::make_unique<Poco::Net::HTTPClientSession>("127.0.0.1", api_->port());
    session->setTimeout(Poco::Timespan(10, 0));
    return session;
  }

  HttpReply Call(const std::string& method, const std::string& path, const std::string& body = "",
                 const std::string& authorization = std::string("Bearer ") + kToken) {
    std::unique_ptr<Poco::Net::HTTPClientSession> session = Session();
    return CallOn(*session, method, path, body, authorization);
  }

  static HttpReply CallOn(Poco::Net::HTTPClientSession& session, const std::string& method,
                          const std::string& path, const std::string& body = "",
                          const std::string& authorization = std::string("Bearer ") + kToken) {
    Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    if (!authorization.empty()) request.set("Authorization", authorization);
    if (!body.empty()) {
      request.setContentType("application/json");
      request.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    session.sendRequest(request) << body;
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    HttpReply reply;
    reply.status = response.getStatus();
    reply.content_type = response.getContentType();
    reply.allow = response.get("Allow", "");
    std::ostringstream text;
    Poco::StreamCopier::copyStream(in, text);
    reply.body = text.str();
    if (reply.content_type == "application/json") {
      Result<Json> json = ParseJson(reply.body);
      EXPECT_TRUE(json.ok()) << reply.body;
      if (json.ok()) reply.json = *json;
    }
    return reply;
  }

  // Checks the error JSON's code and field; returns its message.
  static std::string ExpectError(const HttpReply& reply, int status, const std::string& code,
                                 const std::string& field = "") {
    EXPECT_EQ(reply.status, status) << reply.body;
    EXPECT_EQ(reply.content_type, "application/json");
    const Json* error = reply.json.Find("error");
    if (error == nullptr) {
      ADD_FAILURE() << "no error object: " << reply.body;
      return "";
    }
    const Json* c = error->Find("code");
    EXPECT_TRUE(c != nullptr && c->text() == code) << reply.body;
    const Json* f = error->Find("field");
    if (field.empty()) {
      EXPECT_EQ(f, nullptr) << reply.body;
    } else {
      EXPECT_TRUE(f != nullptr && f->text() == field)
          << "want field " << field << ": " << reply.body;
    }
    const Json* message = error->Find("message");
    EXPECT_TRUE(message != nullptr && !message->text().empty()) << reply.body;
    return message ? message->text() : "";
  }

  std::string CreateWorkspace(const std::string& name = "Shop") {
    HttpReply reply = Call("POST", "/api/v1/workspaces",
                           R"({"name":)" + JsonQuote(name) + R"(,"tools":["inventory","orders"]})");
    EXPECT_EQ(reply.status, 201) << reply.body;
    const Json* id = reply.json.Find("id");
    return id ? id->text() : "";
  }

  FakeBackend backend_;
  std::unique_ptr<HttpApi> api_;
};

std::string Member(const Json& json, const std::string& key) {
  const Json* m = json.Find(key);
  return m == nullptr ? "<absent>" : m->Dump();
}

// --- no token needed
// -------------------------------------------------------------------------------

TEST_F(HttpApiTest, HealthzAndMetricsNeedNoToken) {
  HttpReply health = Call("GET", "/healthz", "", "");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, R"({"status":"ok"})");

  HttpReply metrics = Call("GET", "/metrics", "", "");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_TRUE(metrics.content_type.starts_with("text/plain; version=0.0.4"))
      << metrics.content_type;
  EXPECT_EQ(metrics.body, "# TYPE grove_up gauge\ngrove_up 1\n");
  EXPECT_TRUE(backend_.calls().empty());
}

// --- authorization
// ----------------------------------------------------------------------------------

TEST_F(HttpApiTest, EverythingElseNeedsTheToken) {
  ExpectError(Call("GET", "/api/v1/identity", "", ""), 401, "unauthorized");
  ExpectError(Call("GET", "/api/v1/identity", "", "Bearer wrong"), 401, "unauthorized");
  std::string almost = kToken;
  almost.back() = almost.back() == 'j' ? 'k' : 'j';
  ExpectError(Call("GET", "/api/v1/identity", "", "Bearer " + almost), 401, "unauthorized");
  ExpectError(Call("GET", "/api/v1/identity", "", std::string("Basic ") + kToken), 401,
              "unauthorized");
  ExpectError(Call("GET", "/api/v1/identity", "", std::string("Bearer ") + kToken + "x"), 401,
              "unauthorized");
  // Unknown routes and bodies alike: nothing is said or done without the token.
  ExpectError(Call("GET", "/api/v1/nothing-here", "", ""), 401, "unauthorized");
  ExpectError(Call("POST", "/api/v1/workspaces", R"({"name":"x"})", ""), 401, "unauthorized");
  EXPECT_TRUE(backend_.calls().empty());

  // The scheme is case-insensitive.
  EXPECT_EQ(Call("GET", "/api/v1/identity", "", std::string("bearer ") + kToken).status, 200);
}

TEST_F(HttpApiTest, StartRefusesAnEmptyToken) {
  FakeBackend backend;
  HttpApi::Options options;
  Result<std::unique_ptr<HttpApi>> api = HttpApi::Start(backend, options);
  ASSERT_FALSE(api.ok());
  EXPECT_EQ(api.status().code(), Code::kInvalidArgument);
}

TEST_F(HttpApiTest, ARefusedRequestKeepsTheConnectionUsable) {
  std::unique_ptr<Poco::Net::HTTPClientSession> session = Session();
  session->setKeepAlive(true);
  // A body the server never reads (401 comes first) must not be taken for the next request.
  HttpReply refused = CallOn(*session, "POST", "/api/v1/workspaces", R"({"name":"x"})", "");
  ExpectError(refused, 401, "unauthorized");
  HttpReply ok = CallOn(*session, "GET", "/api/v1/identity");
  EXPECT_EQ(ok.status, 200) << ok.body;
}

// --- each route's shape
// ------------------------------------------------------------------------------

TEST_F(HttpApiTest, IdentityAndStatus) {
  HttpReply identity = Call("GET", "/api/v1/identity");
  ASSERT_EQ(identity.status, 200);
  EXPECT_EQ(identity.body, R"({"device":")" + std::string(52, 'd') +
                               R"(","name":"Fake","card":"grove-card:fake"})");

  api::StatusInfo info;
  info.connections.push_back({.device = "peer1",
                              .name = "Bob",
                              .address = "127.0.0.1:7400",
                              .outbound = true,
                              .since_ms = 5,
                              .bytes_in = 10,
                              .bytes_out = 20,
                              .path = "spliced"});
  info.listen = "0.0.0.0:7400";
  info.uptime_ms = 1234;
  info.sync = {.state = "syncing", .pending = 7, .offline_since_ms = std::nullopt};
  backend_.SetStatus(info);
  CreateWorkspace();
  HttpReply status = Call("GET", "/api/v1/status");
  ASSERT_EQ(status.status, 200);
  EXPECT_EQ(Member(status.json, "listen"), R"("0.0.0.0:7400")");
  EXPECT_EQ(Member(status.json, "uptime_ms"), "1234");
  EXPECT_EQ(Member(status.json, "connections"),
            R"([{"device":"peer1","name":"Bob","address":"127.0.0.1:7400","outbound":true,)"
            R"("since_ms":5,"bytes_in":10,"bytes_out":20,"path":"spliced","relay":false}])");
  EXPECT_EQ(Member(status.json, "relay"), "null") << "no relay configured";
  EXPECT_EQ(Member(status.json, "sync"),
            R"({"state":"syncing","pending":7,"offline_since_ms":null})");
  const Json* workspaces = status.json.Find("workspaces");
  ASSERT_TRUE(workspaces != nullptr && workspaces->items().size() == 1) << status.body;
  EXPECT_EQ(Member(workspaces->items()[0], "name"), R"("Shop")");
}

TEST_F(HttpApiTest, Workspaces) {
  const std::string id = CreateWorkspace("Shop \"one\"");
  ASSERT_EQ(id.size(), 64u);
  EXPECT_EQ(backend_.calls().back(), "CreateWorkspace(Shop \"one\",inventory|orders)");

  HttpReply minimal = Call("POST", "/api/v1/workspaces", R"({"name":"Bare"})");
  EXPECT_EQ(minimal.status, 201) << minimal.body;
  EXPECT_EQ(backend_.calls().back(), "CreateWorkspace(Bare,)");

  HttpReply list = Call("GET", "/api/v1/workspaces");
  ASSERT_EQ(list.status, 200);
  ASSERT_TRUE(list.json.is_array());
  ASSERT_EQ(list.json.items().size(), 2u);

  HttpReply one = Call("GET", "/api/v1/workspaces/" + id);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.body,
            R"({"id":")" + id +
                R"(","name":"Shop \"one\"","tools":["inventory","orders"],"role":"owner",)"
                R"("members":[{"device":")" +
                std::string(52, 'd') +
                R"(","name":"Fake","role":"owner","online":true,"path":null}],)"
                R"("records":0,"deltas":0,"pending":0})");

  ExpectError(Call("GET", "/api/v1/workspaces/" + std::string(64, 'f')), 404, "not_found");
}

TEST_F(HttpApiTest, MembersListShowsWhoIsOnlineAndHow) {
  const std::string ws = std::string(64, 'e');
  api::WorkspaceInfo info;
  info.id = ws;
  info.name = "Mesh";
  info.role = "owner";
  info.members = {
      {.device = "me", .name = "Me", .role = "owner", .online = true},
      {.device = "bob", .name = "Bob", .role = "member", .online = true, .path = "spliced"},
      {.device = "carol", .name = "Carol", .role = "member"}};
  backend_.PutWorkspace(info);
  HttpReply members = Call("GET", "/api/v1/workspaces/" + ws + "/members");
  ASSERT_EQ(members.status, 200) << members.body;
  EXPECT_EQ(members.body,
            R"([{"device":"me","name":"Me","role":"owner","online":true,"path":null},)"
            R"({"device":"bob","name":"Bob","role":"member","online":true,"path":"spliced"},)"
            R"({"device":"carol","name":"Carol","role":"member","online":false,"path":null}])");
  ExpectError(Call("GET", "/api/v1/workspaces/" + std::string(64, 'f') + "/members"), 404,
              "not_found");
}

TEST_F(HttpApiTest, MembersAndInvitations) {
  const std::string ws = CreateWorkspace();
  HttpReply added = Call("POST", "/api/v1/workspaces/" + ws + "/members",
                         R"({"card":"grove-card:bob","role":"auditor"})");
  EXPECT_EQ(added.status, 201) << added.body;
  EXPECT_EQ(added.body, "{}");
  EXPECT_EQ(backend_.calls().back(), "AddMember(" + ws + ",grove-card:bob,auditor)");

  HttpReply default_role =
      Call("POST", "/api/v1/workspaces/" + ws + "/members", R"({"card":"grove-card:carol"})");
  EXPECT_EQ(default_role.status, 201);
  EXPECT_EQ(backend_.calls().back(), "AddMember(" + ws + ",grove-card:carol,member)");

  HttpReply removed = Call("DELETE", "/api/v1/workspaces/" + ws + "/members/dev-grove-card:bob");
  EXPECT_EQ(removed.status, 204) << removed.body;
  EXPECT_EQ(removed.body, "");
  ExpectError(Call("DELETE", "/api/v1/workspaces/" + ws + "/members/nobody"), 404, "not_found",
              "device");

  backend_.AddInvitation({.workspace = std::string(64, 'c'),
                          .name = "Club",
                          .from = "alice-device",
                          .from_name = "Alice",
                          .role = "member"});
  HttpReply invitations = Call("GET", "/api/v1/invitations");
  ASSERT_EQ(invitations.status, 200);
  EXPECT_EQ(invitations.body, R"([{"workspace":")" + std::string(64, 'c') +
                                  R"(","name":"Club","from":"alice-device","from_name":"Alice",)"
                                  R"("role":"member"}])");
  HttpReply accepted = Call("POST", "/api/v1/invitations/" + std::string(64, 'c') + "/accept");
  EXPECT_EQ(accepted.status, 200) << accepted.body;
  EXPECT_EQ(accepted.body, R"({"id":")" + std::string(64, 'c') + R"("})");
  ExpectError(Call("POST", "/api/v1/invitations/" + std::string(64, 'c') + "/accept", "{}"), 404,
              "not_found");
  ExpectError(Call("POST", "/api/v1/invitations/abc/accept", R"({"now":true})"), 400,
              "invalid_argument", "now");
}

TEST_F(HttpApiTest, RecordsRoundTripEveryKindOfValue) {
  const std::string ws = CreateWorkspace();
  HttpReply created = Call("POST", "/api/v1/workspaces/" + ws + "/records",
                           R"({"type":"item","fields":{"name":"Tea \u00e9\ud83c\udf75",)"
                           R"("stock":12,"price":{"minor":1250,"currency":"EUR"},"organic":true,)"
                           R"("note":null,"photo":{"blob_base64":"AAEC/w=="}}})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = created.json.Find("id")->text();
  const std::map<std::string, Value> fields = backend_.last_fields();
  EXPECT_EQ(fields.at("name"), Value("Tea \xC3\xA9\xF0\x9F\x8D\xB5"));
  EXPECT_EQ(fields.at("stock"), Value(12));
  EXPECT_EQ(fields.at("price"), Value(replica::Money{1250, "EUR"}));
  EXPECT_EQ(fields.at("organic"), Value(true));
  EXPECT_TRUE(fields.at("note").is_null());
  Value photo;
  photo.v = Bytes{0, 1, 2, 255};
  EXPECT_EQ(fields.at("photo"), photo);

  HttpReply got = Call("GET", "/api/v1/workspaces/" + ws + "/records/" + id);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, R"({"id":")" + id +
                          R"(","type":"item","state":"open","archived":false,"fields":{)"
                          R"("name":"Tea é🍵","note":null,"organic":true,)"
                          R"("photo":{"blob_base64":"AAEC/w=="},)"
                          R"("price":{"minor":1250,"currency":"EUR"},"stock":12},)"
                          R"("conflicts":{},"lists":{},"history":["created"],)"
                          R"("computed":{},"keyed":{},"transitions":[]})");

  HttpReply patched = Call("PATCH", "/api/v1/workspaces/" + ws + "/records/" + id,
                           R"({"set":{"name":"Green tea"},"add":{"stock":-2}})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(Member(*patched.json.Find("fields"), "stock"), "10");
  EXPECT_EQ(Member(*patched.json.Find("fields"), "name"), R"("Green tea")");
  ASSERT_TRUE(backend_.last_patch().has_value());
  EXPECT_EQ(backend_.last_patch()->add.at("stock"), -2);

  Call("POST", "/api/v1/workspaces/" + ws + "/records", R"({"type":"order","fields":{}})");
  HttpReply items = Call("GET", "/api/v1/workspaces/" + ws + "/records?type=item");
  ASSERT_EQ(items.status, 200) << items.body;
  ASSERT_EQ(items.json.Find("records")->items().size(), 1u);
  EXPECT_EQ(backend_.calls().back(), "QueryRecords(" + ws + ",item)");
  HttpReply all = Call("GET", "/api/v1/workspaces/" + ws + "/records");
  EXPECT_EQ(all.json.Find("records")->items().size(), 2u);
  EXPECT_EQ(backend_.calls().back(), "QueryRecords(" + ws + ",)");
  // Percent-encoding in the query.
  Call("GET", "/api/v1/workspaces/" + ws + "/records?type=stock%20item");
  EXPECT_EQ(backend_.calls().back(), "QueryRecords(" + ws + ",stock item)");

  HttpReply digest = Call("GET", "/api/v1/workspaces/" + ws + "/digest");
  ASSERT_EQ(digest.status, 200);
  EXPECT_EQ(digest.body, R"({"version":")" + std::string(64, '1') + R"(","state":")" +
                             std::string(64, '2') + R"(","deltas":7})");

  const std::string checkpoints = "/api/v1/workspaces/" + ws + "/checkpoints";
  HttpReply none = Call("GET", checkpoints);
  ASSERT_EQ(none.status, 200) << none.body;
  EXPECT_EQ(none.body, R"({"barrier":null,"trusted":false,"missing":null,"deltas":20,)"
                       R"("prune":true})");
  HttpReply claimed = Call("POST", checkpoints);
  ASSERT_EQ(claimed.status, 201) << claimed.body;
  const std::string checkpoint = R"({"id":")" + std::string(64, 'c') +
                                 R"(","version":[{"device":")" + std::string(52, 'd') +
                                 R"(","seq":12}],"deltas":12,"bytes":2048,"trusted":true})";
  EXPECT_EQ(claimed.body, checkpoint);
  EXPECT_EQ(backend_.calls().back(), "ClaimCheckpoint(" + ws + ")");
  HttpReply after = Call("GET", checkpoints);
  EXPECT_EQ(after.body, R"({"barrier":)" + checkpoint +
                            R"(,"trusted":true,"missing":null,"deltas":20,)" + R"("prune":true})");
  backend_.FailNext(FailedPrecondition("a delta held here awaits its content key"));
  HttpReply refused = Call("POST", checkpoints);
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_EQ(Call("POST", checkpoints, R"({"now":true})").status, 400);
}

TEST_F(HttpApiTest, ReferencesAndConflictsRenderInResponses) {
  const std::string ws = CreateWorkspace();
  replica::RecordId ref;
  ref.device.fill(0x61);
  ref.n = 3;
  backend_.PutRecord(ws, {.id = "r-1",
                          .type = "order",
                          .state = "done",
                          .archived = true,
                          .fields = {{"item", Value(ref)}},
                          .conflicts = {{"qty", {Value(1), Value(2)}}},
                          .lists = {{"tags", {Value("a")}}},
                          .history = {"created", "closed"}});
  HttpReply got = Call("GET", "/api/v1/workspaces/" + ws + "/records/r-1");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.body, R"({"id":"r-1","type":"order","state":"done","archived":true,)"
                      R"("fields":{"item":{"ref":")" +
                          ref.Text() +
                          R"("}},"conflicts":{"qty":[1,2]},"lists":{"tags":["a"]},)"
                          R"("history":["created","closed"],"computed":{},"keyed":{},)"
                          R"("transitions":[]})");
}

// --- refused requests: 400 naming the field, nothing reaches the backend
// -----------------------------

TEST_F(HttpApiTest, BadRequestsNameTheFieldAndChangeNothing) {
  const std::string ws = CreateWorkspace();
  const std::string records = "/api/v1/workspaces/" + ws + "/records";
  const std::string record = records + "/mfrggzdfmztwq2lk-1";
  backend_.ClearCalls();

  std::string message =
      ExpectError(Call("POST", records, R"({"type":"item","fields":{"price":12.5}})"), 400,
                  "invalid_argument", "fields.price");
  EXPECT_NE(message.find("money and quantities are integers: use minor units"), std::string::npos)
      << message;
  ExpectError(Call("POST", records, R"({"type":"item","fields":{"n":1e3}})"), 400,
              "invalid_argument", "fields.n");
  ExpectError(Call("POST", records, R"({"type":"item","fields":{"n":99999999999999999999}})"), 400,
              "invalid_argument", "fields.n");
  ExpectError(
      Call("POST", records, R"({"type":"item","fields":{"p":{"minor":1.5,"currency":"EUR"}}})"),
      400, "invalid_argument", "fields.p.minor");
  ExpectError(
      Call("POST", records, R"({"type":"item","fields":{"p":{"minor":150,"currency":"euro"}}})"),
      400, "invalid_argument", "fields.p.currency");
  ExpectError(Call("POST", records, R"({"type":"item","fields":{"p":{"minor":150}}})"), 400,
              "invalid_argument", "fields.p.currency");
  ExpectError(Call("POST", records, R"({"type":"item","fields":{"p":{"colour":"red"}}})"), 400,
              "invalid_argument", "fields.p");
  ExpectError(Call("POST", records, R"({"type":"item","fields":{"l":[1]}})"), 400,
              "invalid_argument", "fields.l");
  ExpectError(Call("POST", records, R"({"type":"item","fields":{"b":{"blob_base64":"!!"}}})"), 400,
              "invalid_argument", "fields.b.blob_base64");
  ExpectError(Call("POST", records, R"({"type":"item","colour":"red"})"), 400, "invalid_argument",
              "colour");
  ExpectError(Call("POST", records, R"({"fields":{}})"), 400, "invalid_argument", "type");
  ExpectError(Call("POST", records, R"({"type":7})"), 400, "invalid_argument", "type");
  ExpectError(Call("POST", records, R"({"type":"item","fields":[]})"), 400, "invalid_argument",
              "fields");
  ExpectError(Call("POST", records, "[1,2]"), 400, "invalid_argument", "body");
  ExpectError(Call("POST", "/api/v1/workspaces", ""), 400, "invalid_argument", "body");
  ExpectError(Call("POST", "/api/v1/workspaces", R"({"name":"x","tools":"a"})"), 400,
              "invalid_argument", "tools");
  ExpectError(Call("POST", "/api/v1/workspaces", R"({"name":"x","tools":["a",2]})"), 400,
              "invalid_argument", "tools[1]");
  ExpectError(Call("POST", "/api/v1/workspaces/" + ws + "/members", R"({"role":"member"})"), 400,
              "invalid_argument", "card");

  message = ExpectError(Call("PATCH", record, R"({"add":{"stock":"two"}})"), 400,
                        "invalid_argument", "add.stock");
  EXPECT_NE(message.find("add.stock must be an integer"), std::string::npos) << message;
  message = ExpectError(Call("PATCH", record, R"({"add":{"stock":1.5}})"), 400, "invalid_argument",
                        "add.stock");
  EXPECT_NE(message.find("use minor units"), std::string::npos) << message;
  ExpectError(Call("PATCH", record, R"({"set":{"a":1},"add":{"a":1}})"), 400, "invalid_argument",
              "add.a");
  ExpectError(Call("PATCH", record, R"({})"), 400, "invalid_argument", "body");
  ExpectError(Call("PATCH", record, R"({"set":{"a":1},"remove":["b"]})"), 400, "invalid_argument",
              "remove");

  // Malformed JSON: where is the byte offset.
  message =
      ExpectError(Call("POST", records, R"({"type":"item",})"), 400, "invalid_argument", "byte 15");
  EXPECT_NE(message.find("malformed JSON"), std::string::npos) << message;
  ExpectError(Call("POST", records, R"({"type":"item","type":"x"})"), 400, "invalid_argument",
              "byte 15");
  ExpectError(Call("POST", records, "{\"type\":\"\xff\"}"), 400, "invalid_argument", "byte 9");
  ExpectError(Call("POST", records, std::string(100, '[') + std::string(100, ']')), 400,
              "invalid_argument", "byte 64");

  EXPECT_TRUE(backend_.calls().empty()) << backend_.calls().front();
}

TEST_F(HttpApiTest, BodiesOverOneMebibyteAre413) {
  const std::string ws = CreateWorkspace();
  backend_.ClearCalls();
  const std::string big =
      R"({"type":"item","fields":{"blob":")" + std::string(1 << 20, 'a') + "\"}}";
  ExpectError(Call("POST", "/api/v1/workspaces/" + ws + "/records", big), 413, "payload_too_large",
              "body");

  // Chunked: the size shows only while reading.
  std::unique_ptr<Poco::Net::HTTPClientSession> session = Session();
  Poco::Net::HTTPRequest request("POST", "/api/v1/workspaces/" + ws + "/records",
                                 Poco::Net::HTTPMessage::HTTP_1_1);
  request.set("Authorization", std::string("Bearer ") + kToken);
  request.setChunkedTransferEncoding(true);
  session->sendRequest(request) << big;
  Poco::Net::HTTPResponse response;
  std::istream& in = session->receiveResponse(response);
  std::ostringstream text;
  Poco::StreamCopier::copyStream(in, text);
  EXPECT_EQ(response.getStatus(), 413) << text.str();
  EXPECT_TRUE(backend_.calls().empty());

  // Just under the limit is fine.
  const std::string fits =
      R"({"type":"item","fields":{"blob":")" + std::string((1 << 20) - 40, 'a') + "\"}}";
  ASSERT_LE(fits.size(), 1u << 20);
  EXPECT_EQ(Call("POST", "/api/v1/workspaces/" + ws + "/records", fits).status, 201);
}

// --- routes and methods
// --------------------------------------------------------------------------------

TEST_F(HttpApiTest, UnknownRoutesAndMethods) {
  ExpectError(Call("GET", "/api/v1/nothing"), 404, "not_found");
  ExpectError(Call("GET", "/api/v2/identity"), 404, "not_found");
  ExpectError(Call("GET", "/api/v1/workspaces/a/b/c/d"), 404, "not_found");
  HttpReply wrong = Call("DELETE", "/api/v1/workspaces");
  ExpectError(wrong, 405, "method_not_allowed");
  EXPECT_EQ(wrong.allow, "POST, GET");
  HttpReply put = Call("PUT", "/api/v1/workspaces/abc/records/x", "{}");
  ExpectError(put, 405, "method_not_allowed");
  EXPECT_EQ(put.allow, "GET, PATCH");
  ExpectError(Call("GET", "/api/v1/workspaces?colour=red"), 400, "invalid_argument", "colour");
  ExpectError(Call("GET", "/api/v1/workspaces/a/records?type=a&type=b"), 400, "invalid_argument",
              "type");
  ExpectError(Call("GET", "/api/v1/workspaces/%zz"), 400, "invalid_argument", "path");
  // Path parameters are decoded after splitting: an encoded '/' stays in the id.
  Call("GET", "/api/v1/workspaces/a%2Fb");
  EXPECT_EQ(backend_.calls().back(), "GetWorkspace(a/b)");
}

// --- backend errors
// -----------------------------------------------------------------------------------

TEST_F(HttpApiTest, BackendErrorsMapToStatuses) {
  const std::string ws = CreateWorkspace();
  const std::string path = "/api/v1/workspaces/" + ws;
  struct Case {
    grove::Status status;
    int http;
    const char* code;
  };
  const Case cases[] = {
      {InvalidArgument("bad price", "fields.price"), 400, "invalid_argument"},
      {PermissionDenied("auditors cannot write"), 403, "permission_denied"},
      {NotFound("gone"), 404, "not_found"},
      {AlreadyExists("twice"), 409, "already_exists"},
      {FailedPrecondition("archived"), 409, "failed_precondition"},
      {Status(Code::kUnavailable, "busy"), 503, "unavailable"},
      {Internal("bug"), 500, "internal"},
      {IOError("disk"), 500, "io_error"},
      {Corruption("bad bytes"), 500, "corruption"},
  };
  for (const Case& c : cases) {
    backend_.FailNext(c.status);
    HttpReply reply = Call("GET", path);
    const std::string message = ExpectError(reply, c.http, c.code, c.status.where());
    EXPECT_EQ(message, c.status.message());
  }
  backend_.FailNext(FailedPrecondition("record archived", "id"));
  ExpectError(Call("PATCH", path + "/records/x", R"({"set":{"a":1}})"), 409, "failed_precondition",
              "id");
}

// --- tool workspaces: tools, typed values, transitions, rights, record queries
// -----------------------------

// One tool with one type that has a field of each kind whose JSON differs.
std::vector<ToolInfo> OrderTool() {
  TypeInfo order;
  order.name = "order";
  order.title = "Order";
  order.fields = {
      {.name = "number", .title = "Number", .type = "text", .required = true},
      {.name = "qty", .title = "Quantity", .type = "integer"},
      {.name = "total", .title = "Total", .type = "money", .computed = true, .currency = "EUR"},
      {.name = "due", .title = "Due", .type = "date"},
      {.name = "at", .title = "At", .type = "time"},
      {.name = "owner", .title = "Owner", .type = "member", .readonly = true},
      {.name = "item", .title = "Item", .type = "reference", .to = "item"},
      {.name = "priority", .title = "Priority", .type = "enum", .values = {"low", "high"}},
      {.name = "urgent", .title = "Urgent", .type = "flag"},
      {.name = "on_hand", .title = "On hand", .type = "stock", .keyed = true},
  };
  order.states = {"draft", "submitted"};
  order.initial = "draft";
  order.transitions = {{.name = "submit",
                        .title = "Submit",
                        .from = {"draft"},
                        .to = "submitted",
                        .roles = {"owner", "member"},
                        .guard = "record.qty > 0",
                        .message = "an order needs a quantity",
                        .inputs = {{.name = "due", .required = true}}}};
  return {{.name = "orders",
           .version = 2,
           .title = "Orders",
           .hash = std::string(64, 'f'),
           .types = {order}}};
}

std::string DeviceText(uint8_t fill) {
  replica::DeviceId device;
  device.fill(fill);
  return identity::DeviceIdText(device);
}

class ToolApiTest : public HttpApiTest {
 protected:
  void SetUp() override {
    HttpApiTest::SetUp();
    ws_ = CreateWorkspace();
    backend_.SetTools(ws_, OrderTool());
    records_ = "/api/v1/workspaces/" + ws_ + "/records";
  }
  std::string ws_;
  std::string records_;
};

TEST_F(ToolApiTest, ToolsAreListedWithTheirTypes) {
  HttpReply reply = Call("GET", "/api/v1/workspaces/" + ws_ + "/tools");
  ASSERT_EQ(reply.status, 200) << reply.body;
  ASSERT_EQ(reply.json.items().size(), 1u);
  const Json& tool = reply.json.items()[0];
  EXPECT_EQ(Member(tool, "name"), R"("orders")");
  EXPECT_EQ(Member(tool, "version"), "2");
  EXPECT_EQ(Member(tool, "hash"), "\"" + std::string(64, 'f') + "\"");
  const Json& type = tool.Find("types")->items()[0];
  EXPECT_EQ(Member(type, "states"), R"(["draft","submitted"])");
  EXPECT_EQ(Member(type, "initial"), R"("draft")");
  EXPECT_EQ(type.Find("fields")->items()[2].Dump(),
            R"({"name":"total","title":"Total","type":"money","required":false,)"
            R"("readonly":false,"computed":true,"currency":"EUR"})");
  EXPECT_EQ(type.Find("fields")->items()[6].Dump(),
            R"({"name":"item","title":"Item","type":"reference","required":false,)"
            R"("readonly":false,"computed":false,"to":"item"})");
  EXPECT_EQ(type.Find("transitions")->items()[0].Dump(),
            R"({"name":"submit","title":"Submit","from":["draft"],"to":"submitted",)"
            R"("roles":["owner","member"],"guard":"record.qty > 0",)"
            R"("message":"an order needs a quantity","inputs":[{"name":"due","required":true}]})");

  // A free-form workspace has none; an unknown one is 404.
  const std::string bare = CreateWorkspace("Bare");
  EXPECT_EQ(Call("GET", "/api/v1/workspaces/" + bare + "/tools").body, "[]");
  ExpectError(Call("GET", "/api/v1/workspaces/nope/tools"), 404, "not_found");
}

TEST_F(ToolApiTest, ValuesAreReadAndShownByFieldKind) {
  const std::string device = DeviceText(0x42);
  HttpReply created =
      Call("POST", records_,
           R"({"type":"order","fields":{"number":"PO-1","owner":")" + device +
               R"(","item":"mfrggzdfmztwq2lk-7","due":"2024-02-29","at":1700000000000}})");
  ASSERT_EQ(created.status, 201) << created.body;
  std::map<std::string, Value> fields = backend_.last_fields();
  Value owner;
  owner.v = Bytes(32, 0x42);
  EXPECT_EQ(fields.at("owner"), owner);
  // A reference goes to the backend as its id text, for the workspace to resolve.
  EXPECT_EQ(fields.at("item"), Value("mfrggzdfmztwq2lk-7"));
  EXPECT_EQ(fields.at("due"), Value("2024-02-29"));
  EXPECT_EQ(fields.at("at"), Value(int64_t{1700000000000}));
  // {"ref": id} works as well.
  ASSERT_EQ(
      Call("POST", records_, R"({"type":"order","fields":{"item":{"ref":"mfrggzdfmztwq2lk-7"}}})")
          .status,
      201);
  EXPECT_EQ(backend_.last_fields().at("item"), Value("mfrggzdfmztwq2lk-7"));

  // A member shows as its device id text.
  HttpReply got = Call("GET", records_ + "/" + created.json.Find("id")->text());
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(Member(*got.json.Find("fields"), "owner"), "\"" + device + "\"");

  backend_.ClearCalls();
  ExpectError(Call("POST", records_, R"({"type":"order","fields":{"owner":"bob"}})"), 400,
              "invalid_argument", "fields.owner");
  ExpectError(Call("POST", records_, R"({"type":"order","fields":{"item":"not an id"}})"), 400,
              "invalid_argument", "fields.item");
  ExpectError(Call("POST", records_, R"({"type":"order","fields":{"due":"2023-02-29"}})"), 400,
              "invalid_argument", "fields.due");
  ExpectError(Call("POST", records_, R"({"type":"order","fields":{"at":"noon"}})"), 400,
              "invalid_argument", "fields.at");
  // PATCH reads the record's type first.
  ExpectError(Call("PATCH", records_ + "/mfrggzdfmztwq2lk-1", R"({"set":{"due":"tomorrow"}})"), 400,
              "invalid_argument", "set.due");
  EXPECT_TRUE(backend_.calls_except_tools().size() == 1u &&
              backend_.calls_except_tools()[0].starts_with("GetRecord("))
      << backend_.calls_except_tools().size();

  // In a free-form workspace a reference has no field to tell the backend what it is.
  const std::string bare = CreateWorkspace("Bare");
  backend_.ClearCalls();
  const std::string message =
      ExpectError(Call("POST", "/api/v1/workspaces/" + bare + "/records",
                       R"({"type":"item","fields":{"r":{"ref":"mfrggzdfmztwq2lk-7"}}})"),
                  400, "invalid_argument", "fields.r");
  EXPECT_NE(message.find("field of type reference"), std::string::npos) << message;
  EXPECT_TRUE(backend_.calls_except_tools().empty());
}

TEST_F(ToolApiTest, PatchReadsValuesByTheRecordsType) {
  backend_.PutRecord(ws_, {.id = "r-1", .type = "order", .state = "draft"});
  const std::string device = DeviceText(7);
  HttpReply patched = Call("PATCH", records_ + "/r-1", R"({"set":{"owner":")" + device + R"("}})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  Value owner;
  owner.v = Bytes(32, 7);
  EXPECT_EQ(backend_.last_patch()->set.at("owner"), owner);
  EXPECT_EQ(Member(*patched.json.Find("fields"), "owner"), "\"" + device + "\"");
}

TEST_F(ToolApiTest, GetRecordShowsComputedKeyedAndTransitions) {
  backend_.PutRecord(
      ws_,
      {.id = "r-1",
       .type = "order",
       .state = "draft",
       .computed = {{"total", Value(replica::Money{500, "EUR"})}},
       .keyed = {{"on_hand", {{"shelf-a", 3}, {"shelf-b", 0}}}},
       .transitions = {
           {.name = "submit", .allowed = true},
           {.name = "approve", .allowed = false, .reason = "role: owner only", .code = "role"}}});
  HttpReply got = Call("GET", records_ + "/r-1");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(Member(got.json, "computed"), R"({"total":{"minor":500,"currency":"EUR"}})");
  EXPECT_EQ(Member(got.json, "keyed"), R"({"on_hand":{"shelf-a":3,"shelf-b":0}})");
  EXPECT_EQ(Member(got.json, "transitions"),
            R"([{"name":"submit","allowed":true},)"
            R"({"name":"approve","allowed":false,"reason":"role: owner only","code":"role"}])");
}

TEST_F(ToolApiTest, TransitionsRunOrNameTheRuleThatRefused) {
  backend_.PutRecord(ws_, {.id = "r-1", .type = "order", .state = "draft"});
  const std::string path = records_ + "/r-1/transitions";
  HttpReply ran = Call("POST", path, R"({"name":"submit","fields":{"due":"2030-01-31"}})");
  ASSERT_EQ(ran.status, 200) << ran.body;
  EXPECT_EQ(Member(ran.json, "state"), R"("submit")");
  EXPECT_EQ(backend_.last_fields().at("due"), Value("2030-01-31"));
  EXPECT_EQ(backend_.calls_except_tools()[backend_.calls_except_tools().size() - 2],
            "RunTransition(" + ws_ + ",r-1,submit)");

  struct Case {
    const char* name;
    grove::Status refusal;
    int http;
    const char* code;
    const char* rule;
  };
  const Case cases[] = {
      {"approve", PermissionDenied("role: approve needs role owner; this device is a member"), 403,
       "permission_denied", "role"},
      {"receive", FailedPrecondition("state: receive runs from ordered; the order is draft"), 409,
       "failed_precondition", "state"},
      {"close", FailedPrecondition("guard: an order needs at least one line"), 409,
       "failed_precondition", "guard"},
      {"ship", FailedPrecondition("rights: this device holds 2 of on_hand, needs 5"), 409,
       "failed_precondition", "rights"},
      {"merge", FailedPrecondition("the record is archived"), 409, "failed_precondition", "rule"},
  };
  for (const Case& c : cases) {
    backend_.RefuseTransition(c.name, c.refusal);
    HttpReply refused = Call("POST", path, std::string(R"({"name":")") + c.name + R"("})");
    EXPECT_EQ(ExpectError(refused, c.http, c.code), c.refusal.message());
    EXPECT_EQ(Member(*refused.json.Find("error"), "rule"), std::string("\"") + c.rule + "\"")
        << refused.body;
  }
  // An input at fault is a 400 naming it, without a rule.
  backend_.RefuseTransition("cancel",
                            InvalidArgument("cancel needs cancel_reason", "fields.cancel_reason"));
  HttpReply bad = Call("POST", path, R"({"name":"cancel"})");
  ExpectError(bad, 400, "invalid_argument", "fields.cancel_reason");
  EXPECT_EQ(bad.json.Find("error")->Find("rule"), nullptr);

  backend_.ClearCalls();
  ExpectError(Call("POST", path, R"({"fields":{}})"), 400, "invalid_argument", "name");
  ExpectError(Call("POST", path, R"({"name":""})"), 400, "invalid_argument", "name");
  ExpectError(Call("POST", path, R"({"name":"submit","fields":{"qty":1.5}})"), 400,
              "invalid_argument", "fields.qty");
  ExpectError(Call("POST", path, R"({"name":"submit","inputs":{}})"), 400, "invalid_argument",
              "inputs");
  EXPECT_TRUE(backend_.calls().empty()) << backend_.calls().front();
  ExpectError(Call("POST", path, R"({"name":"submit","fields":{"due":"31.01.2030"}})"), 400,
              "invalid_argument", "fields.due");
  ExpectError(Call("POST", records_ + "/r-9/transitions", R"({"name":"submit"})"), 404, "not_found",
              "id");
}

TEST_F(ToolApiTest, RightsAreGranted) {
  backend_.PutRecord(ws_, {.id = "r-1", .type = "order", .state = "draft"});
  const std::string path = records_ + "/r-1/rights";
  const std::string to = DeviceText(9);
  HttpReply granted =
      Call("POST", path, R"({"field":"on_hand","key":"shelf-a","to":")" + to + R"(","amount":5})");
  ASSERT_EQ(granted.status, 200) << granted.body;
  EXPECT_EQ(Member(granted.json, "id"), R"("r-1")");
  EXPECT_EQ(backend_.calls_except_tools()[backend_.calls_except_tools().size() - 2],
            "GrantRights(" + ws_ + ",r-1,on_hand,shelf-a," + to + ",5)");

  backend_.FailNext(FailedPrecondition("rights: this device holds 2 of on_hand"));
  HttpReply refused = Call("POST", path, R"({"field":"on_hand","to":")" + to + R"(","amount":5})");
  ExpectError(refused, 409, "failed_precondition");
  EXPECT_EQ(Member(*refused.json.Find("error"), "rule"), R"("rights")");

  backend_.ClearCalls();
  ExpectError(Call("POST", path, R"({"field":"on_hand","to":"x","amount":0})"), 400,
              "invalid_argument", "amount");
  ExpectError(Call("POST", path, R"({"field":"on_hand","to":"x","amount":1.5})"), 400,
              "invalid_argument", "amount");
  ExpectError(Call("POST", path, R"({"field":"on_hand","amount":1})"), 400, "invalid_argument",
              "to");
  ExpectError(Call("POST", path, R"({"to":"x","amount":1})"), 400, "invalid_argument", "field");
  EXPECT_TRUE(backend_.calls().empty()) << backend_.calls().front();
}

TEST_F(ToolApiTest, RecordQueriesAreReadByFieldKind) {
  backend_.PutRecord(
      ws_,
      {.id = "r-1", .type = "order", .state = "draft", .fields = {{"number", Value("PO-1 Tea")}}});
  backend_.PutRecord(ws_, {.id = "r-2",
                           .type = "order",
                           .state = "draft",
                           .fields = {{"number", Value("PO-2 Coffee")}}});
  backend_.PutRecord(ws_, {.id = "r-3",
                           .type = "order",
                           .state = "submitted",
                           .fields = {{"number", Value("PO-3 tea")}}});
  HttpReply page = Call("GET", records_ + "?type=order&search=TEA&limit=1&offset=1");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(Member(page.json, "total"), "2");
  EXPECT_EQ(Member(page.json, "offset"), "1");
  EXPECT_EQ(Member(page.json, "limit"), "1");
  ASSERT_EQ(page.json.Find("records")->items().size(), 1u);
  EXPECT_EQ(Member(page.json.Find("records")->items()[0], "id"), R"("r-3")");

  const std::string device = DeviceText(3);
  ASSERT_EQ(Call("GET", records_ +
                            "?type=order&state=draft&where.qty=-4&where.urgent=true"
                            "&where.total=12.50EUR&where.owner=" +
                            device +
                            "&where.priority=high&where.item=mfrggzdfmztwq2lk-7"
                            "&where.due=2024-01-31&sort=due&order=desc&archived=true"
                            "&due_before=2025-01-01")
                .status,
            200);
  const std::optional<RecordQuery> q = backend_.last_query();
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->type, "order");
  EXPECT_EQ(q->state, "draft");
  Value owner;
  owner.v = Bytes(32, 3);
  const std::vector<std::pair<std::string, Value>> where = {
      {"qty", Value(-4)},
      {"urgent", Value(true)},
      {"total", Value(replica::Money{1250, "EUR"})},
      {"owner", owner},
      {"priority", Value("high")},
      {"item", Value("mfrggzdfmztwq2lk-7")},
      {"due", Value("2024-01-31")}};
  EXPECT_EQ(q->where, where);
  EXPECT_EQ(q->sort, "due");
  EXPECT_TRUE(q->descending);
  EXPECT_TRUE(q->include_archived);
  EXPECT_EQ(q->due_before, "2025-01-01");
  EXPECT_EQ(q->limit, 100u);
  EXPECT_EQ(q->offset, 0u);

  // Free-form: guessed like the CLI's values.
  const std::string bare = CreateWorkspace("Bare");
  ASSERT_EQ(
      Call("GET", "/api/v1/workspaces/" + bare +
                      "/records?where.n=42&where.code=007&where.ok=false&where.name=Tea%20pot")
          .status,
      200);
  const std::vector<std::pair<std::string, Value>> guessed = {
      {"n", Value(42)}, {"code", Value("007")}, {"ok", Value(false)}, {"name", Value("Tea pot")}};
  EXPECT_EQ(backend_.last_query()->where, guessed);
}

TEST_F(ToolApiTest, BadQueryParametersAreNamed) {
  backend_.ClearCalls();
  const struct {
    const char* query;
    const char* field;
  } cases[] = {
      {"order=up", "order"},
      {"limit=abc", "limit"},
      {"limit=1001", "limit"},
      {"offset=-1", "offset"},
      {"archived=yes", "archived"},
      {"due_before=2024-13-01", "due_before"},
      {"sort=", "sort"},
      {"type=order&sort=colour", "sort"},
      {"type=order&where.colour=red", "where.colour"},
      {"type=order&where.qty=many", "where.qty"},
      {"type=order&where.urgent=yes", "where.urgent"},
      {"type=order&where.priority=urgent", "where.priority"},
      {"type=order&where.total=12.505EUR", "where.total"},
      {"type=order&where.owner=bob", "where.owner"},
      {"type=order&where.due=soon", "where.due"},
      {"colour=red", "colour"},
      {"where.=1", "where."},
  };
  for (const auto& c : cases) {
    ExpectError(Call("GET", records_ + "?" + c.query), 400, "invalid_argument", c.field);
  }
  EXPECT_TRUE(backend_.calls_except_tools().empty()) << backend_.calls_except_tools().front();
}

// --- event stream
// ---------------------------------------------------------------------------------------

struct SseEvent {
  std::string id, event, data;
};

// The next block of fields on `in`, skipping comments; nullopt at the end of the stream.
std::optional<SseEvent> ReadBlock(std::istream& in, std::vector<std::string>* comments = nullptr) {
  SseEvent event;
  bool any = false;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) {
      if (any) return event;
      continue;
    }
    if (line.starts_with(":")) {
      if (comments) comments->push_back(line);
      continue;
    }
    any = true;
    if (line.starts_with("id: ")) event.id = line.substr(4);
    if (line.starts_with("event: ")) event.event = line.substr(7);
    if (line.starts_with("data: ")) event.data = line.substr(6);
  }
  return std::nullopt;
}

// The next event on `in`: a block with data (a bare id sets the position, no event).
std::optional<SseEvent> ReadEvent(std::istream& in, std::vector<std::string>* comments = nullptr) {
  for (;;) {
    std::optional<SseEvent> block = ReadBlock(in, comments);
    if (!block || !block->data.empty()) return block;
  }
}

// "<boot>-<seq>" -> boot; "" when `id` is not of that shape.
std::string BootOf(const std::string& id) {
  const size_t dash = id.find('-');
  if (dash != 16) return "";
  for (const char c : id.substr(0, dash)) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(c)) return "";
  }
  return id.substr(0, dash);
}

class EventStream {
 public:
  EventStream(uint16_t port, const std::string& last_event_id = "") : session_("127.0.0.1", port) {
    session_.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest request("GET", "/api/v1/events", Poco::Net::HTTPMessage::HTTP_1_1);
    request.set("Authorization", std::string("Bearer ") + kToken);
    if (!last_event_id.empty()) request.set("Last-Event-ID", last_event_id);
    session_.sendRequest(request);
    in_ = &session_.receiveResponse(response_);
  }
  int status() const { return response_.getStatus(); }
  const std::string& content_type() const { return response_.getContentType(); }
  std::istream& in() { return *in_; }
  void Close() { session_.reset(); }

 private:
  Poco::Net::HTTPClientSession session_;
  Poco::Net::HTTPResponse response_;
  std::istream* in_ = nullptr;
};

// The stream's opening position, "<boot>-<seq>", read from a stream opened without an id.
std::string OpeningId(uint16_t port) {
  EventStream stream(port);
  std::optional<SseEvent> opening = ReadBlock(stream.in());
  return opening ? opening->id : "";
}

TEST_F(HttpApiTest, EventStreamDeliversPushedEvents) {
  EventStream stream(api_->port());
  ASSERT_EQ(stream.status(), 200);
  EXPECT_EQ(stream.content_type(), "text/event-stream");
  // First the stream's position: a bare id, no event.
  std::optional<SseEvent> opening = ReadBlock(stream.in());
  ASSERT_TRUE(opening.has_value());
  const std::string boot = BootOf(opening->id);
  ASSERT_FALSE(boot.empty()) << opening->id;
  EXPECT_EQ(opening->id, boot + "-0");
  EXPECT_EQ(opening->event, "");
  EXPECT_EQ(opening->data, "");
  ASSERT_TRUE(backend_.AwaitWaiting(1, 5s));
  backend_.PushEvent("record", "ab12", "mfrggzdfmztwq2lk-1");
  backend_.PushEvent("invitation", "cd34", "");

  std::optional<SseEvent> first = ReadEvent(stream.in());
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->id, boot + "-1");
  EXPECT_EQ(first->event, "record");
  EXPECT_EQ(first->data, R"({"kind":"record","workspace":"ab12","id":"mfrggzdfmztwq2lk-1"})");
  std::optional<SseEvent> second = ReadEvent(stream.in());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->id, boot + "-2");
  EXPECT_EQ(second->event, "invitation");
}

TEST_F(HttpApiTest, EventStreamResumesAfterAnIdOfThisBoot) {
  const std::string boot = BootOf(OpeningId(api_->port()));
  ASSERT_FALSE(boot.empty());
  backend_.PushEvent("record", "ws", "r-1");
  backend_.PushEvent("record", "ws", "r-2");
  backend_.PushEvent("sync", "", "");
  EventStream stream(api_->port(), boot + "-1");
  ASSERT_EQ(stream.status(), 200);
  std::optional<SseEvent> opening = ReadBlock(stream.in());
  ASSERT_TRUE(opening.has_value());
  EXPECT_EQ(opening->id, boot + "-1");
  EXPECT_EQ(opening->data, "") << "no reset: nothing was missed";
  std::optional<SseEvent> a = ReadEvent(stream.in());
  std::optional<SseEvent> b = ReadEvent(stream.in());
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->id, boot + "-2");
  EXPECT_EQ(a->data, R"({"kind":"record","workspace":"ws","id":"r-2"})");
  EXPECT_EQ(b->id, boot + "-3");
  EXPECT_EQ(b->event, "sync");
}

TEST_F(HttpApiTest, EventStreamResetsForAnIdOfAnotherBoot) {
  const std::string boot = BootOf(OpeningId(api_->port()));
  ASSERT_FALSE(boot.empty());
  backend_.PushEvent("record", "ws", "r-1");
  backend_.PushEvent("record", "ws", "r-2");
  // The id a client kept from before the peer restarted: seq 1 of another process means nothing.
  const std::string other = boot == "0123456789abcdef" ? "fedcba9876543210" : "0123456789abcdef";
  EventStream stream(api_->port(), other + "-1");
  ASSERT_EQ(stream.status(), 200);
  std::optional<SseEvent> reset = ReadEvent(stream.in());
  ASSERT_TRUE(reset.has_value());
  EXPECT_EQ(reset->event, "reset");
  EXPECT_EQ(reset->id, boot + "-2") << "the stream goes on from now";
  EXPECT_EQ(reset->data, R"({"kind":"reset","workspace":"","id":""})");
  ASSERT_TRUE(backend_.AwaitWaiting(1, 5s));
  backend_.PushEvent("sync", "", "");
  std::optional<SseEvent> next = ReadEvent(stream.in());
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->id, boot + "-3");
  EXPECT_EQ(next->event, "sync");

  // A seq of this boot that was never given out is no better.
  EventStream future(api_->port(), boot + "-99");
  ASSERT_EQ(future.status(), 200);
  std::optional<SseEvent> future_reset = ReadEvent(future.in());
  ASSERT_TRUE(future_reset.has_value());
  EXPECT_EQ(future_reset->event, "reset");
  EXPECT_EQ(future_reset->id, boot + "-3");
}

TEST_F(HttpApiTest, EventStreamResetsWhenTheBacklogWasTrimmed) {
  const std::string boot = BootOf(OpeningId(api_->port()));
  ASSERT_FALSE(boot.empty());
  for (int i = 1; i <= 5; ++i) backend_.PushEvent("record", "ws", "r-" + std::to_string(i));
  backend_.TrimEvents(2);  // 1, 2 and 3 are gone; 4 and 5 are kept

  EventStream stream(api_->port(), boot + "-1");
  ASSERT_EQ(stream.status(), 200);
  std::optional<SseEvent> reset = ReadEvent(stream.in());
  ASSERT_TRUE(reset.has_value());
  EXPECT_EQ(reset->event, "reset");
  EXPECT_EQ(reset->id, boot + "-3");
  std::optional<SseEvent> four = ReadEvent(stream.in());
  std::optional<SseEvent> five = ReadEvent(stream.in());
  ASSERT_TRUE(four && five);
  EXPECT_EQ(four->id, boot + "-4");
  EXPECT_EQ(five->id, boot + "-5");

  // Resuming right where the backlog starts misses nothing.
  EventStream recent(api_->port(), boot + "-3");
  ASSERT_EQ(recent.status(), 200);
  std::optional<SseEvent> next = ReadEvent(recent.in());
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->event, "record");
  EXPECT_EQ(next->id, boot + "-4");
}

TEST_F(HttpApiTest, EventStreamRefusesAMalformedLastEventId) {
  for (const char* id : {"abc", "7", "0123456789abcdef", "0123456789abcdef-", "0123456789ABCDEF-1",
                         "0123456789abcde-1", "0123456789abcdef-1x", "0123456789abcdef--1",
                         "0123456789abcdef-99999999999999999999"}) {
    EventStream bad(api_->port(), id);
    EXPECT_EQ(bad.status(), 400) << id;
  }
}

TEST_F(HttpApiTest, EventStreamSendsKeepAliveComments) {
  HttpApi::Options options;
  options.keepalive_ms = 50;
  StartApi(options);
  EventStream stream(api_->port());
  ASSERT_EQ(stream.status(), 200);
  std::vector<std::string> comments;
  // Waits (the fake times out every second) until two keep-alives have come, then an event.
  ASSERT_TRUE(backend_.AwaitWaiting(1, 5s));
  std::thread pusher([&] {
    std::this_thread::sleep_for(2500ms);
    backend_.PushEvent("sync", "", "");
  });
  std::optional<SseEvent> event = ReadEvent(stream.in(), &comments);
  pusher.join();
  ASSERT_TRUE(event.has_value());
  int keepalives = 0;
  for (const std::string& c : comments) keepalives += c == ": keep-alive";
  EXPECT_GE(keepalives, 1) << comments.size();
}

TEST_F(HttpApiTest, StopReturnsPromptlyWithAStreamOpen) {
  EventStream stream(api_->port());
  ASSERT_EQ(stream.status(), 200);
  ASSERT_TRUE(backend_.AwaitWaiting(1, 5s));
  const auto start = std::chrono::steady_clock::now();
  api_->Stop();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 2500ms);
  EXPECT_EQ(backend_.waiting(), 0) << "a worker is still inside the backend after Stop";
  // The client sees the stream end.
  EXPECT_FALSE(ReadEvent(stream.in()).has_value());
  api_->Stop();  // idempotent
}

TEST_F(HttpApiTest, AStreamEndsWhenItsClientGoes) {
  {
    EventStream stream(api_->port());
    ASSERT_EQ(stream.status(), 200);
    ASSERT_TRUE(backend_.AwaitWaiting(1, 5s));
    stream.Close();
  }
  // The server notices within a WaitEvents round or two and leaves the backend.
  EXPECT_TRUE(backend_.AwaitNoneWaiting(5s));
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(backend_.waiting(), 0);
}

TEST_F(HttpApiTest, TooManyStreamsAreRefused) {
  HttpApi::Options options;
  options.max_streams = 1;
  StartApi(options);
  EventStream first(api_->port());
  ASSERT_EQ(first.status(), 200);
  EventStream second(api_->port());
  EXPECT_EQ(second.status(), 503);
  // Ordinary requests are still served.
  EXPECT_EQ(Call("GET", "/api/v1/identity").status, 200);
}

}  // namespace
}  // namespace grove::api
