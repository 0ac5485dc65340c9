// The admin web console as grove-relay serves it: every file of web/console/ embedded byte for
// byte with its type, the security headers on every answer, revalidation by ETag, 404 for
// unknown paths, and the routing in AdminHttp over real HTTP (beside the API, which it must not
// shadow).
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "relay/admin_http.h"
#include "relay/console_files.h"

namespace grove::relay {
namespace {

const std::string* HeaderOf(const admin::HttpReply& reply, std::string_view name) {
  for (const auto& [key, value] : reply.headers) {
    if (key == name) return &value;
  }
  return nullptr;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void ExpectSecurityHeaders(const admin::HttpReply& reply, std::string_view what) {
  const std::string* csp = HeaderOf(reply, "Content-Security-Policy");
  ASSERT_NE(csp, nullptr) << what;
  EXPECT_NE(csp->find("default-src 'self'"), std::string::npos) << what;
  EXPECT_NE(csp->find("frame-ancestors 'none'"), std::string::npos) << what;
  EXPECT_EQ(csp->find("unsafe-inline"), std::string::npos) << what;
  const std::string* nosniff = HeaderOf(reply, "X-Content-Type-Options");
  ASSERT_NE(nosniff, nullptr) << what;
  EXPECT_EQ(*nosniff, "nosniff") << what;
}

TEST(ConsoleFiles, EveryFileOfTheWebFolderIsEmbeddedByteForByteWithItsType) {
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(GROVE_CONSOLE_WEB_DIR)) {
    if (entry.is_regular_file()) on_disk.insert(entry.path().filename().string());
  }
  std::set<std::string> embedded;
  for (const ConsoleFile& file : ConsoleFiles()) {
    embedded.insert(std::string(file.name));
    EXPECT_EQ(file.bytes, ReadFile(std::filesystem::path(GROVE_CONSOLE_WEB_DIR) / file.name))
        << file.name;
    EXPECT_FALSE(file.content_type.empty()) << file.name;
  }
  EXPECT_EQ(embedded, on_disk);
  ASSERT_NE(FindConsoleFile("index.html"), nullptr);
  EXPECT_EQ(FindConsoleFile("index.html")->content_type, "text/html; charset=utf-8");
  ASSERT_NE(FindConsoleFile("app.js"), nullptr);
  EXPECT_EQ(FindConsoleFile("app.js")->content_type, "text/javascript; charset=utf-8");
  ASSERT_NE(FindConsoleFile("console.css"), nullptr);
  EXPECT_EQ(FindConsoleFile("console.css")->content_type, "text/css; charset=utf-8");
  EXPECT_EQ(FindConsoleFile("nope.js"), nullptr);
}

TEST(ConsoleFiles, PagesHaveNoInlineScriptOrStyle) {
  // The CSP forbids them, so they would silently not run.
  for (const ConsoleFile& file : ConsoleFiles()) {
    if (!file.name.ends_with(".html")) continue;
    const std::string html(file.bytes);
    size_t at = 0;
    while ((at = html.find("<script", at)) != std::string::npos) {
      const size_t end = html.find('>', at);
      EXPECT_NE(html.substr(at, end - at).find("src="), std::string::npos)
          << file.name << ": inline <script> at byte " << at;
      at = end;
    }
    EXPECT_EQ(html.find("<style"), std::string::npos) << file.name;
    EXPECT_EQ(html.find(" style="), std::string::npos) << file.name;
    EXPECT_EQ(html.find(" onclick="), std::string::npos) << file.name;
  }
}

TEST(ConsoleReply, ServesTheIndexAndFilesWithCachingAndSecurityHeaders) {
  const admin::HttpReply index = ConsoleReply("GET", "/console/", nullptr);
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(index.body, FindConsoleFile("index.html")->bytes);
  ExpectSecurityHeaders(index, "index");
  ASSERT_NE(HeaderOf(index, "Cache-Control"), nullptr);
  EXPECT_EQ(*HeaderOf(index, "Cache-Control"), "no-cache");
  const std::string* etag = HeaderOf(index, "ETag");
  ASSERT_NE(etag, nullptr);
  EXPECT_EQ(etag->size(), 18u) << *etag;

  const admin::HttpReply js = ConsoleReply("GET", "/console/app.js", nullptr);
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  ExpectSecurityHeaders(js, "app.js");
  ASSERT_NE(HeaderOf(js, "ETag"), nullptr);
  EXPECT_NE(*HeaderOf(js, "ETag"), *etag) << "each file has its own tag";

  const admin::HttpReply head = ConsoleReply("HEAD", "/console/index.html", nullptr);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body.size(), index.body.size()) << "the length HEAD announces";
}

TEST(ConsoleReply, RevalidatesByETag) {
  const std::string etag = *HeaderOf(ConsoleReply("GET", "/console/", nullptr), "ETag");
  for (const std::string& given :
       {etag, "W/" + etag, "\"0000000000000000\", " + etag, std::string("*")}) {
    const admin::HttpReply same = ConsoleReply("GET", "/console/", &given);
    EXPECT_EQ(same.status, 304) << given;
    EXPECT_TRUE(same.body.empty()) << given;
    ExpectSecurityHeaders(same, "304");
  }
  const std::string other = "\"0000000000000000\"";
  EXPECT_EQ(ConsoleReply("GET", "/console/", &other).status, 200);
}

TEST(ConsoleReply, RedirectsTheRootAndRefusesUnknownPathsAndMethods) {
  for (const char* path : {"/", "/console"}) {
    const admin::HttpReply r = ConsoleReply("GET", path, nullptr);
    EXPECT_EQ(r.status, 302) << path;
    ASSERT_NE(HeaderOf(r, "Location"), nullptr) << path;
    EXPECT_EQ(*HeaderOf(r, "Location"), "/console/") << path;
  }
  for (const char* path : {"/console/nope.js", "/console/../relay.card", "/console/app.js/",
                           "/console/%61pp.js", "/console//app.js"}) {
    const admin::HttpReply r = ConsoleReply("GET", path, nullptr);
    EXPECT_EQ(r.status, 404) << path;
    ExpectSecurityHeaders(r, path);
  }
  const admin::HttpReply post = ConsoleReply("POST", "/console/", nullptr);
  EXPECT_EQ(post.status, 405);
  ASSERT_NE(HeaderOf(post, "Allow"), nullptr);
  EXPECT_EQ(*HeaderOf(post, "Allow"), "GET, HEAD");
  EXPECT_TRUE(IsConsolePath("/"));
  EXPECT_TRUE(IsConsolePath("/console/x"));
  EXPECT_FALSE(IsConsolePath("/consolex"));
  EXPECT_FALSE(IsConsolePath("/api/v1/admin/me"));
}

struct Fetched {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string location;
  std::string csp;
};

Fetched Fetch(uint16_t port, const std::string& method, const std::string& path,
              const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  Fetched out;
  Poco::Net::HTTPClientSession session("127.0.0.1", port);
  session.setTimeout(Poco::Timespan(10, 0));
  Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
  for (const auto& [k, v] : headers) request.add(k, v);
  session.sendRequest(request);
  Poco::Net::HTTPResponse response;
  std::istream& in = session.receiveResponse(response);
  std::ostringstream text;
  Poco::StreamCopier::copyStream(in, text);
  out.status = response.getStatus();
  out.body = text.str();
  out.content_type = response.getContentType();
  out.location = response.get("Location", "");
  out.csp = response.get("Content-Security-Policy", "");
  return out;
}

TEST(AdminHttpConsole, RoutesTheConsoleBesideTheApiAndTheOperationsEndpoints) {
  int api_calls = 0;
  AdminHttp::Options options;
  options.metrics = [] { return std::string("grove_up 1\n"); };
  options.api = [&api_calls](const admin::HttpRequest&) {
    ++api_calls;
    admin::HttpReply reply;
    reply.body = R"({"api":true})";
    return reply;
  };
  auto http = AdminHttp::Start(options);
  ASSERT_TRUE(http.ok()) << http.status().ToString();
  const uint16_t port = (*http)->port();

  const Fetched root = Fetch(port, "GET", "/");
  EXPECT_EQ(root.status, 302);
  EXPECT_EQ(root.location, "/console/");
  const Fetched page = Fetch(port, "GET", "/console/?x=1");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(page.body, FindConsoleFile("index.html")->bytes);
  EXPECT_NE(page.csp.find("default-src 'self'"), std::string::npos);
  const std::string etag(FindConsoleFile("index.html")->etag);
  const Fetched again = Fetch(port, "GET", "/console/", {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  const Fetched head = Fetch(port, "HEAD", "/console/app.js");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(Fetch(port, "GET", "/console/missing.html").status, 404);
  EXPECT_EQ(Fetch(port, "DELETE", "/console/").status, 405);

  EXPECT_EQ(api_calls, 0);
  EXPECT_EQ(Fetch(port, "GET", "/api/v1/admin/me").body, R"({"api":true})");
  EXPECT_EQ(api_calls, 1);
  EXPECT_EQ(Fetch(port, "GET", "/metrics").body, "grove_up 1\n");
  EXPECT_EQ(Fetch(port, "GET", "/nothing").status, 404);
  (*http)->Stop();
}

TEST(AdminHttpConsole, ABrowsersSixKeptAliveConnectionsDoNotStallTheNextRequest) {
  AdminHttp::Options options;
  options.api = [](const admin::HttpRequest&) { return admin::HttpReply{}; };
  auto http = AdminHttp::Start(options);
  ASSERT_TRUE(http.ok()) << http.status().ToString();
  const uint16_t port = (*http)->port();
  // Six connections, each kept alive after one request (what a browser holds after a page load).
  std::vector<std::unique_ptr<Poco::Net::HTTPClientSession>> held;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) {
    auto session = std::make_unique<Poco::Net::HTTPClientSession>("127.0.0.1", port);
    session->setKeepAlive(true);
    session->setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest request("GET", "/console/", Poco::Net::HTTPMessage::HTTP_1_1);
    request.setKeepAlive(true);
    session->sendRequest(request);
    Poco::Net::HTTPResponse response;
    std::istream& in = session->receiveResponse(response);
    std::ostringstream ignored;
    Poco::StreamCopier::copyStream(in, ignored);
    ASSERT_EQ(response.getStatus(), 200);
    held.push_back(std::move(session));
  }
  EXPECT_EQ(Fetch(port, "GET", "/console/app.js").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3))
      << "a connection waited for a kept-alive one to time out";
}

TEST(AdminHttpConsole, NoConsoleWithoutTheApi) {
  AdminHttp::Options options;
  auto http = AdminHttp::Start(options);
  ASSERT_TRUE(http.ok()) << http.status().ToString();
  EXPECT_EQ(Fetch((*http)->port(), "GET", "/console/").status, 404);
  EXPECT_EQ(Fetch((*http)->port(), "GET", "/").status, 404);
}

}  // namespace
}  // namespace grove::relay
