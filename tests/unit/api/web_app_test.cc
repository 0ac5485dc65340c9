// The web app's side of the local HTTP API over real loopback HTTP: its static files (embedded
// and from a folder) with their headers, and browser sessions (cookie, CSRF token, login links,
// lockout) on a fake clock.
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "api/http_api.h"
#include "api/json.h"
#include "common/clock.h"
#include "common/random.h"
#include "support/temp_dir.h"
#include "unit/api/fake_backend.h"
#include "webapp/web_files.h"

namespace grove::api {
namespace {

using grove::testing::FakeBackend;
using grove::testing::TempDir;

constexpr char kToken[] = "s3cret-token-for-tests-0123456789abcdefghij";
constexpr char kCsp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

constexpr char kIndex[] = "<!doctype html><title>app</title>";
constexpr char kAppJs[] = "console.log('app');";
constexpr char kAppJsGz[] = "\x1f\x8b pretend-gzip";  // served as is: the server never inflates
const webapp::WebFile kFiles[] = {
    {"index.html", "text/html; charset=utf-8", "\"1111111111111111\"", kIndex},
    {"app.js", "text/javascript; charset=utf-8", "\"2222222222222222\"", kAppJs, kAppJsGz},
};

struct Answer {
  int status = 0;
  std::map<std::string, std::string> headers;  // first of each name
  std::vector<std::string> set_cookies;
  std::string body;
  Json json;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "<absent>" : it->second;
  }
  std::string ErrorCode() const {
    const Json* error = json.Find("error");
    const Json* code = error ? error->Find("code") : nullptr;
    return code ? code->text() : "<none>";
  }
  std::string ErrorMessage() const {
    const Json* error = json.Find("error");
    const Json* message = error ? error->Find("message") : nullptr;
    return message ? message->text() : "";
  }
};

class WebAppTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(std::make_shared<webapp::EmbeddedWebFiles>(kFiles)); }

  void Start(std::shared_ptr<const webapp::WebFiles> files) {
    api_.reset();
    HttpApi::Options options;
    options.token = kToken;
    options.web_files = std::move(files);
    options.clock = &clock_;
    options.random = &random_;
    Result<std::unique_ptr<HttpApi>> api = HttpApi::Start(backend_, std::move(options));
    ASSERT_TRUE(api.ok()) << api.status().ToString();
    api_ = std::move(api).value();
  }

  Answer Call(const std::string& method, const std::string& path,
              const std::map<std::string, std::string>& headers = {},
              const std::string& body = "") {
    Poco::Net::HTTPClientSession session("127.0.0.1", api_->port());
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [name, value] : headers) request.set(name, value);
    if (!body.empty()) {
      request.setContentType("application/json");
      request.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    session.sendRequest(request) << body;
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    Answer answer;
    answer.status = response.getStatus();
    for (const auto& [name, value] : response) {
      answer.headers.emplace(name, value);
      if (name == "Set-Cookie") answer.set_cookies.push_back(value);
    }
    std::ostringstream text;
    Poco::StreamCopier::copyStream(in, text);
    answer.body = text.str();
    if (response.getContentType() == "application/json") {
      Result<Json> json = ParseJson(answer.body);
      if (json.ok()) answer.json = *json;
    }
    return answer;
  }

  // Signs in with `body`; returns the answer (the cookie in set_cookies).
  Answer SignIn(const std::string& body) { return Call("POST", "/api/v1/sessions", {}, body); }

  // The cookie's value from a sign-in answer.
  static std::string CookieOf(const Answer& answer) {
    if (answer.set_cookies.empty()) return "";
    const std::string& c = answer.set_cookies.front();
    const size_t eq = c.find('=');
    return c.substr(eq + 1, c.find(';') - eq - 1);
  }

  FakeBackend backend_;
  FakeClock clock_;
  SeededRandom random_{42};
  std::unique_ptr<HttpApi> api_;
};

// --- static files --------------------------------------------------------------------------------

TEST_F(WebAppTest, RootRedirectsToTheAppWithoutAToken) {
  for (const char* path : {"/", "/app"}) {
    Answer root = Call("GET", path);
    EXPECT_EQ(root.status, 302) << path;
    EXPECT_EQ(root.Header("Location"), "/app/") << path;
    EXPECT_EQ(root.Header("Content-Security-Policy"), kCsp) << path;
  }
  EXPECT_TRUE(backend_.calls().empty());
}

TEST_F(WebAppTest, ServesTheIndexAndFilesWithTheSecurityHeaders) {
  Answer index = Call("GET", "/app/");
  ASSERT_EQ(index.status, 200);
  EXPECT_EQ(index.body, kIndex);
  EXPECT_EQ(index.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(index.Header("Content-Security-Policy"), kCsp);
  EXPECT_EQ(index.Header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(index.Header("Referrer-Policy"), "no-referrer");
  EXPECT_EQ(index.Header("Cache-Control"), "no-cache");
  EXPECT_EQ(index.Header("ETag"), "\"1111111111111111\"");
  EXPECT_EQ(index.Header("Vary"), "<absent>") << "index.html has no gzip form";

  Answer named = Call("GET", "/app/index.html");
  EXPECT_EQ(named.body, kIndex);
  Answer js = Call("GET", "/app/app.js?v=1");
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(js.body, kAppJs);
  EXPECT_EQ(js.Header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js.Header("Content-Encoding"), "<absent>") << "no Accept-Encoding: plain";
  EXPECT_EQ(js.Header("Vary"), "Accept-Encoding");

  Answer head = Call("HEAD", "/app/app.js");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.Header("Content-Length"), std::to_string(std::string(kAppJs).size()));
  EXPECT_TRUE(backend_.calls().empty());
}

TEST_F(WebAppTest, GzipFormGoesToClientsThatAcceptIt) {
  Answer gz = Call("GET", "/app/app.js", {{"Accept-Encoding", "br, gzip;q=0.8"}});
  ASSERT_EQ(gz.status, 200);
  EXPECT_EQ(gz.body, kAppJsGz);
  EXPECT_EQ(gz.Header("Content-Encoding"), "gzip");
  EXPECT_EQ(gz.Header("Vary"), "Accept-Encoding");
  EXPECT_EQ(gz.Header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(gz.Header("ETag"), "\"2222222222222222-gz\"") << "its own representation";

  Answer refused = Call("GET", "/app/app.js", {{"Accept-Encoding", "gzip;q=0, br"}});
  EXPECT_EQ(refused.body, kAppJs);
  EXPECT_EQ(refused.Header("Content-Encoding"), "<absent>");
  Answer no_gz_form = Call("GET", "/app/", {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(no_gz_form.body, kIndex);
  EXPECT_EQ(no_gz_form.Header("Content-Encoding"), "<absent>");
}

TEST_F(WebAppTest, MatchingIfNoneMatchGets304) {
  Answer fresh = Call("GET", "/app/", {{"If-None-Match", "\"1111111111111111\""}});
  EXPECT_EQ(fresh.status, 304);
  EXPECT_EQ(fresh.body, "");
  EXPECT_EQ(fresh.Header("ETag"), "\"1111111111111111\"");
  EXPECT_EQ(fresh.Header("Content-Security-Policy"), kCsp);
  Answer weak = Call("GET", "/app/", {{"If-None-Match", "\"x\", W/\"1111111111111111\""}});
  EXPECT_EQ(weak.status, 304);
  Answer stale = Call("GET", "/app/", {{"If-None-Match", "\"0000000000000000\""}});
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.body, kIndex);
  // The plain form's tag does not stand for the gzip form.
  Answer gz = Call("GET", "/app/app.js",
                   {{"Accept-Encoding", "gzip"}, {"If-None-Match", "\"2222222222222222\""}});
  EXPECT_EQ(gz.status, 200);
  Answer gz_fresh =
      Call("GET", "/app/app.js",
           {{"Accept-Encoding", "gzip"}, {"If-None-Match", "\"2222222222222222-gz\""}});
  EXPECT_EQ(gz_fresh.status, 304);
}

TEST_F(WebAppTest, UnknownNamesAre404AndOtherMethods405) {
  for (const char* path : {"/app/nothing.js", "/app/App.js", "/app/a/app.js", "/app/..%2Fapp.js",
                           "/app/.hidden", "/app/app.js.gz"}) {
    Answer missing = Call("GET", path);
    EXPECT_EQ(missing.status, 404) << path;
    EXPECT_EQ(missing.Header("Content-Security-Policy"), kCsp) << path;
    EXPECT_EQ(missing.body.find("console.log"), std::string::npos) << path;
  }
  Answer post = Call("POST", "/app/app.js");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.Header("Allow"), "GET, HEAD");
}

TEST_F(WebAppTest, WithoutFilesTheAppIs404) {
  Start(nullptr);
  EXPECT_EQ(Call("GET", "/app/").status, 404);
  EXPECT_EQ(Call("GET", "/").status, 302);
}

TEST_F(WebAppTest, FolderFilesAreReadAtEachRequestAndStayInTheFolder) {
  TempDir root;
  const std::string web = root.File("web");
  std::filesystem::create_directory(web);
  auto write = [](const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  };
  write(web + "/index.html", "v1");
  write(web + "/style.css", "body{}");
  write(web + "/style.css.gz", "gzipped-css");
  write(root.File("secret.txt"), "outside");
  std::filesystem::create_symlink(root.File("secret.txt"), web + "/leak.txt");
  write(web + "/notes.unknownext", "x");
  Start(std::make_shared<webapp::FolderWebFiles>(web));

  Answer v1 = Call("GET", "/app/");
  ASSERT_EQ(v1.status, 200);
  EXPECT_EQ(v1.body, "v1");
  EXPECT_EQ(v1.Header("Content-Security-Policy"), kCsp);
  const std::string etag = v1.Header("ETag");
  EXPECT_EQ(Call("GET", "/app/", {{"If-None-Match", etag}}).status, 304);
  write(web + "/index.html", "v2");
  Answer v2 = Call("GET", "/app/", {{"If-None-Match", etag}});
  EXPECT_EQ(v2.status, 200) << "an edit shows at once";
  EXPECT_EQ(v2.body, "v2");
  EXPECT_NE(v2.Header("ETag"), etag);

  Answer css = Call("GET", "/app/style.css", {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(css.body, "gzipped-css");
  EXPECT_EQ(css.Header("Content-Encoding"), "gzip");
  EXPECT_EQ(css.Header("Content-Type"), "text/css; charset=utf-8");

  for (const char* path : {"/app/leak.txt", "/app/..%2Fsecret.txt", "/app/../secret.txt",
                           "/app/%2e%2e/secret.txt", "/app/notes.unknownext"}) {
    Answer refused = Call("GET", path);
    EXPECT_EQ(refused.status, 404) << path;
    EXPECT_EQ(refused.body.find("outside"), std::string::npos) << path;
  }
}

// --- sessions ------------------------------------------------------------------------------------

TEST_F(WebAppTest, SignInWithTheTokenGivesACookieThatOpensTheApi) {
  Answer signed_in = SignIn(std::string(R"({"token":")") + kToken + R"("})");
  ASSERT_EQ(signed_in.status, 201) << signed_in.body;
  ASSERT_EQ(signed_in.set_cookies.size(), 1u);
  const std::string cookie = CookieOf(signed_in);
  EXPECT_EQ(cookie.size(), 43u);
  EXPECT_EQ(signed_in.set_cookies[0],
            "grove_session=" + cookie + "; HttpOnly; SameSite=Strict; Path=/");
  const std::string csrf = signed_in.json.Find("csrf")->text();
  EXPECT_EQ(csrf.size(), 43u);
  EXPECT_NE(csrf, cookie);
  EXPECT_EQ(signed_in.json.Find("expires_ms")->Dump(),
            std::to_string(clock_.NowMillis() + 12 * 3600 * 1000ull));

  Answer list =
      Call("GET", "/api/v1/workspaces", {{"Cookie", "theme=dark; grove_session=" + cookie}});
  EXPECT_EQ(list.status, 200) << list.body;
  Answer current = Call("GET", "/api/v1/sessions/current", {{"Cookie", "grove_session=" + cookie}});
  ASSERT_EQ(current.status, 200);
  EXPECT_EQ(current.json.Find("csrf")->text(), csrf) << "a reloaded page recovers it";

  // A cookie that is not a session opens nothing; neither does a wrong bearer beside a good one.
  EXPECT_EQ(Call("GET", "/api/v1/workspaces", {{"Cookie", "grove_session=" + csrf}}).status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/sessions/current", {{"Cookie", "grove_session=x"}}).status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/sessions/current").status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/workspaces",
                 {{"Cookie", "grove_session=" + cookie}, {"Authorization", "Bearer wrong"}})
                .status,
            401);
}

TEST_F(WebAppTest, ChangesByCookieNeedTheCsrfHeader) {
  Answer signed_in = SignIn(std::string(R"({"token":")") + kToken + R"("})");
  const std::string cookie = "grove_session=" + CookieOf(signed_in);
  const std::string csrf = signed_in.json.Find("csrf")->text();
  const std::string body = R"({"name":"Shop"})";

  Answer bare = Call("POST", "/api/v1/workspaces", {{"Cookie", cookie}}, body);
  EXPECT_EQ(bare.status, 403);
  EXPECT_EQ(bare.ErrorCode(), "csrf_required");
  EXPECT_NE(bare.ErrorMessage().find("X-Grove-CSRF"), std::string::npos) << bare.ErrorMessage();
  Answer wrong =
      Call("POST", "/api/v1/workspaces", {{"Cookie", cookie}, {"X-Grove-CSRF", csrf + "x"}}, body);
  EXPECT_EQ(wrong.status, 403);
  Answer other_csrf = Call("POST", "/api/v1/workspaces",
                           {{"Cookie", cookie}, {"X-Grove-CSRF", CookieOf(signed_in)}}, body);
  EXPECT_EQ(other_csrf.status, 403);
  EXPECT_TRUE(backend_.calls().empty()) << "nothing refused reached the backend";

  Answer ok =
      Call("POST", "/api/v1/workspaces", {{"Cookie", cookie}, {"X-Grove-CSRF", csrf}}, body);
  EXPECT_EQ(ok.status, 201) << ok.body;
  // The bearer token needs no CSRF header: it is never sent by a browser on its own.
  Answer bearer = Call("POST", "/api/v1/workspaces",
                       {{"Authorization", std::string("Bearer ") + kToken}}, body);
  EXPECT_EQ(bearer.status, 201) << bearer.body;
}

TEST_F(WebAppTest, WrongSignInsAre401AndTenInAMinuteLockSignInForAMinute) {
  Answer bad = SignIn(R"({"token":"nope"})");
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.ErrorCode(), "unauthorized");
  EXPECT_TRUE(bad.set_cookies.empty());
  EXPECT_EQ(SignIn(R"({"link":"nope"})").status, 401);
  EXPECT_EQ(SignIn(R"({"token":"a","link":"b"})").status, 400);
  EXPECT_EQ(SignIn(R"({"password":"a"})").status, 400);
  EXPECT_EQ(SignIn("{}").status, 400);
  clock_.Advance(61'000);  // the first two failures leave the window
  for (int i = 0; i < 9; ++i) EXPECT_EQ(SignIn(R"({"token":"nope"})").status, 401) << i;
  clock_.Advance(1000);
  EXPECT_EQ(SignIn(R"({"token":"nope"})").status, 401) << "the tenth failure";
  Answer locked = SignIn(std::string(R"({"token":")") + kToken + R"("})");
  EXPECT_EQ(locked.status, 429) << "even the right token, while locked";
  EXPECT_EQ(locked.ErrorCode(), "too_many_requests");
  EXPECT_NE(locked.ErrorMessage().find("a minute"), std::string::npos) << locked.ErrorMessage();
  EXPECT_EQ(locked.Header("Retry-After"), "60");
  EXPECT_TRUE(locked.set_cookies.empty());
  // The bearer token still works.
  EXPECT_EQ(Call("GET", "/api/v1/workspaces", {{"Authorization", std::string("Bearer ") + kToken}})
                .status,
            200);
  clock_.Advance(59'000);
  EXPECT_EQ(SignIn(std::string(R"({"token":")") + kToken + R"("})").status, 429);
  clock_.Advance(1000);
  EXPECT_EQ(SignIn(std::string(R"({"token":")") + kToken + R"("})").status, 201);
}

TEST_F(WebAppTest, LoginLinksSignInOnceWithinTenMinutes) {
  const std::map<std::string, std::string> bearer = {
      {"Authorization", std::string("Bearer ") + kToken}};
  EXPECT_EQ(Call("POST", "/api/v1/login-links").status, 401);
  Answer link = Call("POST", "/api/v1/login-links", bearer);
  ASSERT_EQ(link.status, 201) << link.body;
  const std::string code = link.json.Find("code")->text();
  EXPECT_EQ(code.size(), 43u);
  EXPECT_EQ(link.json.Find("url")->text(),
            "http://127.0.0.1:" + std::to_string(api_->port()) + "/app/#login=" + code);
  EXPECT_EQ(link.json.Find("expires_ms")->Dump(), std::to_string(clock_.NowMillis() + 600'000));

  clock_.Advance(599'000);
  Answer used = SignIn(R"({"link":")" + code + R"("})");
  EXPECT_EQ(used.status, 201) << used.body;
  EXPECT_EQ(CookieOf(used).size(), 43u);
  Answer again = SignIn(R"({"link":")" + code + R"("})");
  EXPECT_EQ(again.status, 401) << "single use";
  EXPECT_NE(again.ErrorMessage().find("grove web-link"), std::string::npos);

  Answer late = Call("POST", "/api/v1/login-links", bearer);
  clock_.Advance(600'000);
  EXPECT_EQ(SignIn(R"({"link":")" + late.json.Find("code")->text() + R"("})").status, 401)
      << "expired";

  // A session makes links too, with its CSRF token.
  const std::string cookie = "grove_session=" + CookieOf(used);
  const std::string csrf = used.json.Find("csrf")->text();
  EXPECT_EQ(Call("POST", "/api/v1/login-links", {{"Cookie", cookie}}).status, 403);
  EXPECT_EQ(
      Call("POST", "/api/v1/login-links", {{"Cookie", cookie}, {"X-Grove-CSRF", csrf}}).status,
      201);
}

TEST_F(WebAppTest, SignOutEndsTheSessionAndClearsTheCookie) {
  Answer signed_in = SignIn(std::string(R"({"token":")") + kToken + R"("})");
  const std::string cookie = "grove_session=" + CookieOf(signed_in);
  Answer out = Call("DELETE", "/api/v1/sessions/current", {{"Cookie", cookie}});
  EXPECT_EQ(out.status, 204);
  ASSERT_EQ(out.set_cookies.size(), 1u);
  EXPECT_EQ(out.set_cookies[0], "grove_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
  EXPECT_EQ(Call("GET", "/api/v1/workspaces", {{"Cookie", cookie}}).status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/sessions/current", {{"Cookie", cookie}}).status, 401);
  EXPECT_EQ(Call("DELETE", "/api/v1/sessions/current").status, 204) << "idempotent";
}

TEST_F(WebAppTest, SessionsExpireAfterTwelveHoursIdle) {
  Answer signed_in = SignIn(std::string(R"({"token":")") + kToken + R"("})");
  const std::map<std::string, std::string> cookie = {
      {"Cookie", "grove_session=" + CookieOf(signed_in)}};
  clock_.Advance(11 * 3600 * 1000ull);
  Answer used = Call("GET", "/api/v1/sessions/current", cookie);
  ASSERT_EQ(used.status, 200);
  EXPECT_EQ(used.json.Find("expires_ms")->Dump(),
            std::to_string(clock_.NowMillis() + 12 * 3600 * 1000ull))
      << "use extends it";
  clock_.Advance(12 * 3600 * 1000ull - 1);
  EXPECT_EQ(Call("GET", "/api/v1/workspaces", cookie).status, 200);
  clock_.Advance(12 * 3600 * 1000ull);
  EXPECT_EQ(Call("GET", "/api/v1/workspaces", cookie).status, 401);
}

}  // namespace
}  // namespace grove::api
