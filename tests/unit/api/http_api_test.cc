// The local HTTP API over real loopback HTTP: a FakeBackend behind HttpApi, requests made with
// Poco's HTTP client as any other client would.
#include "api/http_api.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <chrono>
#include <istream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/json.h"
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
                              .bytes_out = 20});
  info.listen = "0.0.0.0:7400";
  info.uptime_ms = 1234;
  backend_.SetStatus(info);
  CreateWorkspace();
  HttpReply status = Call("GET", "/api/v1/status");
  ASSERT_EQ(status.status, 200);
  EXPECT_EQ(Member(status.json, "listen"), R"("0.0.0.0:7400")");
  EXPECT_EQ(Member(status.json, "uptime_ms"), "1234");
  EXPECT_EQ(Member(status.json, "connections"),
            R"([{"device":"peer1","name":"Bob","address":"127.0.0.1:7400","outbound":true,)"
            R"("since_ms":5,"bytes_in":10,"bytes_out":20}])");
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
                R"(","name":"Fake","role":"owner"}],"records":0,"deltas":0,"pending":0})");

  ExpectError(Call("GET", "/api/v1/workspaces/" + std::string(64, 'f')), 404, "not_found");
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
                          R"("conflicts":{},"lists":{},"history":["created"]})");

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
  EXPECT_EQ(backend_.calls().back(), "ListRecords(" + ws + ",item)");
  HttpReply all = Call("GET", "/api/v1/workspaces/" + ws + "/records");
  EXPECT_EQ(all.json.Find("records")->items().size(), 2u);
  EXPECT_EQ(backend_.calls().back(), "ListRecords(" + ws + ",)");
  // Percent-encoding in the query.
  Call("GET", "/api/v1/workspaces/" + ws + "/records?type=stock%20item");
  EXPECT_EQ(backend_.calls().back(), "ListRecords(" + ws + ",stock item)");

  HttpReply digest = Call("GET", "/api/v1/workspaces/" + ws + "/digest");
  ASSERT_EQ(digest.status, 200);
  EXPECT_EQ(digest.body, R"({"version":")" + std::string(64, '1') + R"(","state":")" +
                             std::string(64, '2') + R"(","deltas":7})");
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
                          R"("history":["created","closed"]})");
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
  message = ExpectError(Call("POST", records, R"({"type":"item","fields":{"r":{"ref":"x-1"}}})"),
                        400, "invalid_argument", "fields.r");
  EXPECT_NE(message.find("references are not supported yet"), std::string::npos);
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

// --- event stream
// ---------------------------------------------------------------------------------------

struct SseEvent {
  std::string id, event, data;
};

// The next event on `in`, skipping comments; nullopt at the end of the stream.
std::optional<SseEvent> ReadEvent(std::istream& in, std::vector<std::string>* comments = nullptr) {
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

TEST_F(HttpApiTest, EventStreamDeliversPushedEvents) {
  EventStream stream(api_->port());
  ASSERT_EQ(stream.status(), 200);
  EXPECT_EQ(stream.content_type(), "text/event-stream");
  ASSERT_TRUE(backend_.AwaitWaiting(1, 5s));
  backend_.PushEvent("record", "ab12", "mfrggzdfmztwq2lk-1");
  backend_.PushEvent("invitation", "cd34", "");

  std::optional<SseEvent> first = ReadEvent(stream.in());
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->id, "1");
  EXPECT_EQ(first->event, "record");
  EXPECT_EQ(first->data, R"({"kind":"record","workspace":"ab12","id":"mfrggzdfmztwq2lk-1"})");
  std::optional<SseEvent> second = ReadEvent(stream.in());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->id, "2");
  EXPECT_EQ(second->event, "invitation");
}

TEST_F(HttpApiTest, EventStreamResumesAfterLastEventId) {
  backend_.PushEvent("record", "ws", "r-1");
  backend_.PushEvent("record", "ws", "r-2");
  backend_.PushEvent("sync", "", "");
  EventStream stream(api_->port(), "1");
  ASSERT_EQ(stream.status(), 200);
  std::optional<SseEvent> a = ReadEvent(stream.in());
  std::optional<SseEvent> b = ReadEvent(stream.in());
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->id, "2");
  EXPECT_EQ(a->data, R"({"kind":"record","workspace":"ws","id":"r-2"})");
  EXPECT_EQ(b->id, "3");
  EXPECT_EQ(b->event, "sync");

  EventStream bad(api_->port(), "abc");
  EXPECT_EQ(bad.status(), 400);
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
