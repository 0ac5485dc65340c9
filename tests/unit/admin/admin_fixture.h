// The admin console under test: a private PostgreSQL (test_postgres.h, one database per test),
// an admin::Console on it with a cheap argon2 cost and a fake clock, served by the relay's real
// AdminHttp on a loopback port, and a plain HTTP client (Poco's) that talks to it as a browser or
// script would.
#pragma once

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "admin/console.h"
#include "api/json.h"
#include "common/clock.h"
#include "common/random.h"
#include "relay/admin_http.h"
#include "support/postgres_test.h"
#include "support/temp_dir.h"

namespace grove::admin::testing {

using grove::testing::TempDir;
using grove::testing::TestPostgres;

// A FakeClock that HTTP worker threads may read while the test thread moves it.
class LockedClock final : public Clock {
 public:
  uint64_t NowMillis() override {
    std::lock_guard<std::mutex> lock(mu_);
    return fake_.NowMillis();
  }
  void Advance(uint64_t ms) {
    std::lock_guard<std::mutex> lock(mu_);
    fake_.Advance(ms);
  }

 private:
  std::mutex mu_;
  FakeClock fake_;
};

// SeededRandom behind a lock: keys and salts in tests are reproducible.
class LockedRandom final : public Random {
 public:
  explicit LockedRandom(uint64_t seed) : rng_(seed) {}
  void Fill(std::span<uint8_t> out) override {
    std::lock_guard<std::mutex> lock(mu_);
    rng_.Fill(out);
  }

 private:
  std::mutex mu_;
  SeededRandom rng_;
};

struct Reply {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  api::Json json;  // null when the body is not JSON

  const std::string* Header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (Poco::icompare(k, name) == 0) return &v;
    }
    return nullptr;
  }
  // json["error"]["code"] / ["field"], "" when absent.
  std::string ErrorCode() const { return ErrorMember("code"); }
  std::string ErrorField() const { return ErrorMember("field"); }
  std::string ErrorMember(const char* member) const {
    const api::Json* error = json.Find("error");
    const api::Json* v = error ? error->Find(member) : nullptr;
    return v && v->is_string() ? v->text() : "";
  }
  const api::Json& operator[](const char* key) const {
    static const api::Json kNull;
    const api::Json* v = json.Find(key);
    return v ? *v : kNull;
  }
};

constexpr char kPassword[] = "correct horse battery";

class ConsoleTest : public grove::testing::PostgresTest<> {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (HasFatalFailure()) return;
    Open();
  }

  void TearDown() override { Close(); }

  // The console's options; tests change them before Reopen().
  ConsoleOptions Options() {
    ConsoleOptions o;
    o.data = data_.File("relay");
    o.db_url = url_;
    o.accounts = accounts_;
    o.auditor_key = auditor_key_;
    o.relay_status = relay_status_;
    return o;
  }

  void Open() {
    Result<std::unique_ptr<Console>> console = Console::Open(Options(), clock_, rng_);
    ASSERT_TRUE(console.ok()) << console.status().ToString();
    console_ = std::move(console).value();
    relay::AdminHttp::Options http;
    http.metrics = [] { return std::string("grove_test 1\n"); };
    http.health = [] { return relay::Health{true, "", 0.001}; };
    Console* raw = console_.get();
    http.api = [raw](const HttpRequest& request) { return raw->Handle(request); };
    Result<std::unique_ptr<relay::AdminHttp>> started = relay::AdminHttp::Start(http);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    http_ = std::move(started).value();
  }

  void Close() {
    if (http_) http_->Stop();
    http_.reset();
    console_.reset();
  }

  void Reopen() {
    Close();
    Open();
  }

  Reply Call(const std::string& method, const std::string& path, const std::string& body = "",
             std::vector<std::pair<std::string, std::string>> headers = {},
             const std::string& content_type = "application/json") {
    Reply reply;
    try {
      Poco::Net::HTTPClientSession session("127.0.0.1", http_->port());
      session.setTimeout(Poco::Timespan(20, 0));
      Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
      for (const auto& [k, v] : headers) request.add(k, v);
      if (!body.empty()) {
        request.setContentType(content_type);
        request.setContentLength(static_cast<std::streamsize>(body.size()));
      }
      session.sendRequest(request) << body;
      Poco::Net::HTTPResponse response;
      std::istream& in = session.receiveResponse(response);
      std::ostringstream text;
      Poco::StreamCopier::copyStream(in, text);
      reply.status = response.getStatus();
      reply.body = text.str();
      for (const auto& [k, v] : response) reply.headers.emplace_back(k, v);
      Result<api::Json> json = api::ParseJson(reply.body);
      if (json.ok()) reply.json = std::move(json).value();
    } catch (const std::exception& e) {
      ADD_FAILURE() << method << " " << path << ": " << e.what();
    }
    return reply;
  }

  // A call signed in with `token` as a bearer token.
  Reply Authed(const std::string& token, const std::string& method, const std::string& path,
               const std::string& body = "") {
    return Call(method, path, body, {{"Authorization", "Bearer " + token}});
  }

  static std::string LoginBody(const std::string& name, const std::string& password) {
    api::Json body = api::Json::Object();
    body.Set("name", name);
    body.Set("password", password);
    return body.Dump();
  }

  Reply Login(const std::string& name, const std::string& password) {
    return Call("POST", "/api/v1/admin/login", LoginBody(name, password));
  }

  void AddAdmin(const std::string& name, const std::string& password = kPassword) {
    Status s = console_->accounts().Add(name, password, "cli:test");
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // Adds `name` and signs in: the session token.
  std::string SignIn(const std::string& name = "alice") {
    AddAdmin(name);
    Reply r = Login(name, kPassword);
    EXPECT_EQ(r.status, 200) << r.body;
    return r["token"].is_string() ? r["token"].text() : "";
  }

  struct Action {
    std::string actor, action, target, detail;
    Bytes workspace;
  };
  // The admin actions queued for the audit log, oldest first.
  std::vector<Action> Inbox() {
    std::vector<Action> out;
    pqxx::connection conn(url_);
    pqxx::work txn(conn);
    for (const pqxx::row& r :
         txn.exec("SELECT actor, action, target, detail, workspace FROM audit_inbox ORDER BY id")) {
      pqxx::binarystring ws(r[4]);
      out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                     r[3].as<std::string>(), Bytes(ws.data(), ws.data() + ws.size())});
    }
    return out;
  }
  std::vector<std::string> InboxActions() {
    std::vector<std::string> out;
    for (const Action& a : Inbox()) out.push_back(a.action);
    return out;
  }

  void Exec(const std::string& sql) {
    pqxx::connection conn(url_);
    pqxx::work txn(conn);
    txn.exec(sql);
    txn.commit();
  }

  TempDir data_{"grove_admin"};
  LockedClock clock_;
  LockedRandom rng_{42};
  AccountPolicy accounts_{.session_idle_ms = 8 * 3600 * 1000,
                          .session_max_ms = 24 * 3600 * 1000,
                          .lockout_failures = 5,
                          .lockout_ms = 15 * 60 * 1000,
                          .cost = Argon2Cost{1, 64, 1}};  // cheap: tests hash often
  std::optional<crypto::PublicKey> auditor_key_;
  std::function<RelayStatus()> relay_status_;
  std::unique_ptr<Console> console_;
  std::unique_ptr<relay::AdminHttp> http_;
};

}  // namespace grove::admin::testing
