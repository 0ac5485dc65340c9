// The admin console's sign-in over real HTTP against a real PostgreSQL: login, the session token
// and cookie, logout, expiry (idle and absolute, on a fake clock), lockout after repeated
// failures and its end, CSRF protection of cookie sessions, and what each of those queues for
// the audit log.
#include <algorithm>

#include "admin/console_api.h"
#include "admin_fixture.h"

namespace grove::admin::testing {
namespace {

constexpr uint64_t kHour = 3600 * 1000;

int Count(const std::vector<std::string>& actions, const std::string& action) {
  return static_cast<int>(std::count(actions.begin(), actions.end(), action));
}

// A path for `pattern` with its parameters filled in.
std::string Fill(std::string pattern) {
  for (const char* param : {"{workspace}", "{device}"}) {
    const size_t at = pattern.find(param);
    if (at != std::string::npos) pattern.replace(at, std::string(param).size(), "x");
  }
  return pattern;
}

TEST_F(ConsoleTest, LoginMeLogout) {
  AddAdmin("alice");
  Reply login = Login("alice", kPassword);
  ASSERT_EQ(login.status, 200) << login.body;
  const std::string token = login["token"].text();
  EXPECT_EQ(token.size(), 43u);
  EXPECT_EQ(login["name"].text(), "alice");
  const uint64_t now = clock_.NowMillis();
  EXPECT_EQ(login["session"].Find("expires_ms")->integer(), static_cast<int64_t>(now + 24 * kHour));
  EXPECT_EQ(login["session"].Find("idle_expires_ms")->integer(),
            static_cast<int64_t>(now + 8 * kHour));
  const std::string* cookie = login.Header("Set-Cookie");
  ASSERT_NE(cookie, nullptr);
  EXPECT_TRUE(cookie->starts_with("grove_admin_session=" + token + ";")) << *cookie;
  EXPECT_NE(cookie->find("HttpOnly"), std::string::npos) << *cookie;
  EXPECT_NE(cookie->find("SameSite=Strict"), std::string::npos) << *cookie;
  EXPECT_NE(cookie->find("Max-Age=86400"), std::string::npos) << *cookie;
  EXPECT_EQ(cookie->find("Secure"), std::string::npos) << "not asked for";
  EXPECT_EQ(*login.Header("Cache-Control"), "no-store");

  Reply me = Authed(token, "GET", "/api/v1/admin/me");
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(me["name"].text(), "alice");
  EXPECT_EQ(me["auth"].text(), "bearer");

  Reply out = Authed(token, "POST", "/api/v1/admin/logout");
  EXPECT_EQ(out.status, 204) << out.body;
  ASSERT_NE(out.Header("Set-Cookie"), nullptr);
  EXPECT_NE(out.Header("Set-Cookie")->find("Max-Age=0"), std::string::npos);
  Reply after = Authed(token, "GET", "/api/v1/admin/me");
  EXPECT_EQ(after.status, 401);
  EXPECT_EQ(after.ErrorCode(), "unauthorized");

  const std::vector<Action> inbox = Inbox();
  ASSERT_EQ(inbox.size(), 3u);
  EXPECT_EQ(inbox[0].action, "admin.add");
  EXPECT_EQ(inbox[0].actor, "cli:test");
  EXPECT_EQ(inbox[0].target, "admin:alice");
  EXPECT_EQ(inbox[1].action, "admin.login");
  EXPECT_EQ(inbox[1].actor, "admin:alice");
  EXPECT_NE(inbox[1].detail.find("\"remote\":\"127.0.0.1\""), std::string::npos) << inbox[1].detail;
  EXPECT_EQ(inbox[2].action, "admin.logout");
  for (const Action& a : inbox) {
    EXPECT_EQ(a.detail.find(kPassword), std::string::npos) << "a password in the audit log";
  }
}

TEST_F(ConsoleTest, WrongPasswordAndUnknownAccountLookTheSame) {
  AddAdmin("alice");
  Reply wrong = Login("alice", "not the password");
  Reply unknown = Login("mallory", kPassword);
  Reply invalid = Login("no such name!", kPassword);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.ErrorCode(), "unauthorized");
  EXPECT_EQ(unknown.status, wrong.status);
  EXPECT_EQ(unknown.body, wrong.body);
  EXPECT_EQ(invalid.body, wrong.body);
  EXPECT_EQ(wrong["token"].is_null(), true);
  const std::vector<std::string> actions = InboxActions();
  EXPECT_EQ(Count(actions, "admin.login_failed"), 3);
  EXPECT_EQ(Count(actions, "admin.login"), 0);
}

TEST_F(ConsoleTest, LoginBodyIsChecked) {
  Reply r = Call("POST", "/api/v1/admin/login", R"({"name":"alice"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.ErrorField(), "password");
  r = Call("POST", "/api/v1/admin/login", R"({"name":7,"password":"x"})");
  EXPECT_EQ(r.ErrorField(), "name");
  r = Call("POST", "/api/v1/admin/login", R"({"name":"a","password":"x","remember":true})");
  EXPECT_EQ(r.ErrorField(), "remember");
  r = Call("POST", "/api/v1/admin/login", R"({"name":)");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.ErrorField(), "body");
  // A form post (what another site could make a browser send) is refused before anything else.
  r = Call("POST", "/api/v1/admin/login", "name=alice&password=x", {},
           "application/x-www-form-urlencoded");
  EXPECT_EQ(r.status, 415);
  r = Call("POST", "/api/v1/admin/login", LoginBody("alice", kPassword), {}, "text/plain");
  EXPECT_EQ(r.status, 415);
}

TEST_F(ConsoleTest, EveryRouteButTheOpenOnesNeedsASession) {
  int checked = 0;
  for (const ConsoleApi::RouteInfo& route : ConsoleApi::Routes()) {
    const std::string path = Fill(route.pattern);
    Reply r = Call(route.method, path);
    if (!route.session) {
      EXPECT_NE(r.status, 401) << route.method << " " << path;
      continue;
    }
    EXPECT_EQ(r.status, 401) << route.method << " " << path << ": " << r.body;
    EXPECT_EQ(r.ErrorCode(), "unauthorized") << route.method << " " << path;
    ASSERT_NE(r.Header("WWW-Authenticate"), nullptr);
    Reply bad = Call(route.method, path, "", {{"Authorization", "Bearer nonsense"}});
    EXPECT_EQ(bad.status, 401) << route.method << " " << path;
    Reply basic = Call(route.method, path, "", {{"Authorization", "Basic YWxpY2U6eA=="}});
    EXPECT_EQ(basic.status, 401) << route.method << " " << path;
    ++checked;
  }
  EXPECT_GE(checked, 12);
  // The open ones: login (which answers 400 without a body), org and revocations.
  EXPECT_EQ(Call("GET", "/api/v1/admin/revocations").status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/admin/org").status, 200);
}

TEST_F(ConsoleTest, LockoutAfterFiveFailuresThenUnlock) {
  AddAdmin("alice");
  for (int i = 1; i <= 4; ++i) {
    Reply r = Login("alice", "wrong password " + std::to_string(i));
    EXPECT_EQ(r.status, 401) << "failure " << i << ": " << r.body;
  }
  const uint64_t now = clock_.NowMillis();
  Reply fifth = Login("alice", "wrong password 5");
  ASSERT_EQ(fifth.status, 429) << fifth.body;
  EXPECT_EQ(fifth.ErrorCode(), "account_locked");
  const int64_t unlocks = fifth.json.Find("error")->Find("unlocks_ms")->integer();
  EXPECT_EQ(unlocks, static_cast<int64_t>(now + 15 * 60 * 1000));
  ASSERT_NE(fifth.Header("Retry-After"), nullptr);
  EXPECT_EQ(*fifth.Header("Retry-After"), "900");

  // Locked: the right password gets exactly the answer a wrong one gets.
  clock_.Advance(60 * 1000);
  Reply right = Login("alice", kPassword);
  Reply wrong = Login("alice", "still wrong!!");
  EXPECT_EQ(right.status, 429);
  EXPECT_EQ(right.body, wrong.body);
  EXPECT_TRUE(right["token"].is_null());

  // Just before the end it is still locked; at the end the right password works.
  clock_.Advance(14 * 60 * 1000 - 1);
  EXPECT_EQ(Login("alice", kPassword).status, 429);
  clock_.Advance(1);
  Reply in = Login("alice", kPassword);
  EXPECT_EQ(in.status, 200) << in.body;

  const std::vector<std::string> actions = InboxActions();
  EXPECT_EQ(Count(actions, "admin.login_failed"), 5);
  EXPECT_EQ(Count(actions, "admin.lockout"), 1);
  EXPECT_EQ(Count(actions, "admin.login_locked"), 3);
  EXPECT_EQ(Count(actions, "admin.login"), 1);
  Result<std::vector<AccountInfo>> accounts = console_->accounts().List();
  ASSERT_TRUE(accounts.ok());
  EXPECT_EQ((*accounts)[0].failed_logins, 0u) << "a success resets the count";
}

TEST_F(ConsoleTest, UnknownNamesLockTheSameWay) {
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(Login("ghost", "wrong password").status, 401);
  Reply fifth = Login("ghost", "wrong password");
  EXPECT_EQ(fifth.status, 429);
  EXPECT_EQ(*fifth.Header("Retry-After"), "900");
  EXPECT_EQ(Count(InboxActions(), "admin.lockout"), 1);
}

TEST_F(ConsoleTest, FailuresCountOnlyWhenConsecutive) {
  AddAdmin("alice");
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 4; ++i) EXPECT_EQ(Login("alice", "wrong password").status, 401);
    EXPECT_EQ(Login("alice", kPassword).status, 200);
  }
}

TEST_F(ConsoleTest, LockoutIsConfigurable) {
  accounts_.lockout_failures = 2;
  accounts_.lockout_ms = 60 * 1000;
  Reopen();
  AddAdmin("alice");
  EXPECT_EQ(Login("alice", "wrong password").status, 401);
  Reply second = Login("alice", "wrong password");
  EXPECT_EQ(second.status, 429);
  EXPECT_EQ(*second.Header("Retry-After"), "60");
  clock_.Advance(60 * 1000);
  EXPECT_EQ(Login("alice", kPassword).status, 200);
}

TEST_F(ConsoleTest, SessionEndsWhenIdle) {
  const std::string token = SignIn();
  clock_.Advance(8 * kHour - 1);
  EXPECT_EQ(Authed(token, "GET", "/api/v1/admin/me").status, 200) << "used just in time";
  clock_.Advance(8 * kHour - 1);
  EXPECT_EQ(Authed(token, "GET", "/api/v1/admin/me").status, 200) << "each use moves the end";
  clock_.Advance(8 * kHour);
  Reply r = Authed(token, "GET", "/api/v1/admin/me");
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.ErrorMember("message").find("expired"), std::string::npos) << r.body;
  clock_.Advance(1);
  EXPECT_EQ(Authed(token, "GET", "/api/v1/admin/me").status, 401) << "and it stays ended";
}

TEST_F(ConsoleTest, SessionEndsAfterItsMaximumEvenWhenUsed) {
  const std::string token = SignIn();
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(7 * kHour);
    ASSERT_EQ(Authed(token, "GET", "/api/v1/admin/me").status, 200) << "after " << 7 * (i + 1);
  }
  clock_.Advance(3 * kHour - 1);  // 24 h - 1 ms after login
  EXPECT_EQ(Authed(token, "GET", "/api/v1/admin/me").status, 200);
  clock_.Advance(1);
  EXPECT_EQ(Authed(token, "GET", "/api/v1/admin/me").status, 401);
}

TEST_F(ConsoleTest, CookieSessionsNeedTheCsrfHeaderToChangeAnything) {
  const std::string token = SignIn();
  const std::string cookie = "theme=dark; grove_admin_session=" + token;
  Reply me = Call("GET", "/api/v1/admin/me", "", {{"Cookie", cookie}});
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(me["auth"].text(), "cookie");

  const std::string path = "/api/v1/admin/policies/" + std::string(64, 'a');
  const std::string policy =
      R"({"audited":true,"retention_days":30,"legal_hold":false,"allowed_relays":[]})";
  Reply refused = Call("PUT", path, policy, {{"Cookie", cookie}});
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.ErrorCode(), "csrf_header_required");
  Reply wrong = Call("PUT", path, policy, {{"Cookie", cookie}, {"X-Grove-CSRF", "yes"}});
  EXPECT_EQ(wrong.status, 403);
  EXPECT_FALSE(console_->PolicyFor(Hash32{}).has_value());
  EXPECT_EQ(Count(InboxActions(), "policy.set"), 0) << "nothing changed";

  Reply done = Call("PUT", path, policy, {{"Cookie", cookie}, {"X-Grove-CSRF", "1"}});
  EXPECT_EQ(done.status, 200) << done.body;
  // A bearer token is not sent by browsers on their own: no header needed.
  EXPECT_EQ(Authed(token, "PUT", path, policy).status, 200);
  // Logout by cookie is a change too.
  EXPECT_EQ(Call("POST", "/api/v1/admin/logout", "", {{"Cookie", cookie}}).status, 403);
  EXPECT_EQ(
      Call("POST", "/api/v1/admin/logout", "", {{"Cookie", cookie}, {"X-Grove-CSRF", "1"}}).status,
      204);
}

TEST_F(ConsoleTest, PasswordChangeEndsSessionsAndUnlocks) {
  const std::string token = SignIn();
  for (int i = 0; i < 5; ++i) Login("alice", "wrong password");
  EXPECT_EQ(Login("alice", kPassword).status, 429);
  ASSERT_TRUE(console_->accounts().SetPassword("alice", "a new password!", "cli:test").ok());
  EXPECT_EQ(Authed(token, "GET", "/api/v1/admin/me").status, 401);
  EXPECT_EQ(Login("alice", kPassword).status, 401);
  EXPECT_EQ(Login("alice", "a new password!").status, 200);
  EXPECT_EQ(Count(InboxActions(), "admin.passwd"), 1);
}

TEST_F(ConsoleTest, RoutingErrors) {
  const std::string token = SignIn();
  Reply r = Authed(token, "GET", "/api/v1/admin/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.ErrorCode(), "not_found");
  r = Authed(token, "DELETE", "/api/v1/admin/devices");
  EXPECT_EQ(r.status, 405);
  ASSERT_NE(r.Header("Allow"), nullptr);
  EXPECT_EQ(*r.Header("Allow"), "GET, POST");
  r = Authed(token, "GET", "/api/v1/admin/devices?x=1");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.ErrorField(), "x");
  r = Authed(token, "GET", "/api/v1/admin/audit/entries?workspace=ab&limit=10");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.ErrorField(), "workspace");
  r = Authed(token, "GET", "/api/v1/admin/audit/entries?limit=10&y=2");
  EXPECT_EQ(r.ErrorField(), "y");
  // The operations endpoints are still served beside the API.
  EXPECT_EQ(Call("GET", "/metrics").body, "grove_test 1\n");
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
}

TEST_F(ConsoleTest, BodiesOverOneMebibyteAreRefused) {
  const std::string token = SignIn();
  const std::string big(admin::kMaxAdminBodyBytes + 1, ' ');
  Reply r = Authed(token, "POST", "/api/v1/admin/devices", big);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.ErrorCode(), "payload_too_large");
}

}  // namespace
}  // namespace grove::admin::testing
