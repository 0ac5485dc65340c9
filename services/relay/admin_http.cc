#include "relay/admin_http.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/ThreadPool.h>

#include <cctype>
#include <cstdio>
#include <istream>

#include "admin/console_api.h"
#include "api/json.h"
#include "metrics/metrics.h"
#include "relay/console_files.h"

namespace grove::relay {

std::string HealthJson(const Health& health) {
  api::Json db = api::Json::Object();
  db.Set("ok", health.database_ok);
  if (health.database_ok) {
    char latency[32];
    std::snprintf(latency, sizeof latency, "%.6f", health.database_latency_seconds);
    db.Set("latency_seconds", api::Json::Number(latency));
  } else {
    db.Set("error", health.database_error);
  }
  api::Json body = api::Json::Object();
  body.Set("status", health.database_ok ? "ok" : "degraded");
  body.Set("database", std::move(db));
  return body.Dump();
}

class AdminHttp::Impl {
 public:
  explicit Impl(Options options) : options_(std::move(options)), pool_(1, kMaxThreads) {}

  Status Start() {
    try {
      Poco::Net::ServerSocket socket;
      socket.bind(Poco::Net::SocketAddress(options_.host, options_.port), /*reuseAddress=*/true);
      socket.listen(64);
      port_ = socket.address().port();
      Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
      params->setMaxThreads(kMaxThreads);
      params->setKeepAliveTimeout(Poco::Timespan(5, 0));
      params->setTimeout(Poco::Timespan(10, 0));
      server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), pool_, socket, params);
      server_->start();
    } catch (const Poco::Exception& e) {
      return IOError("cannot serve the admin endpoint on " + options_.host + ":" +
                     std::to_string(options_.port) + ": " + e.displayText());
    }
    return Status::Ok();
  }

  void Stop() {
    if (server_) {
      server_->stopAll(true);
      server_.reset();
    }
    pool_.joinAll();
  }

  void Handle(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) {
    const std::string path = request.getURI().substr(0, request.getURI().find('?'));
    if (options_.api && (path == kApiRoot || path.starts_with(std::string(kApiRoot) + "/"))) {
      return HandleApi(request, response);
    }
    if (options_.api && IsConsolePath(path)) {
      const std::string* etags =
          request.has("If-None-Match") ? &request.get("If-None-Match") : nullptr;
      return Send(request, response, ConsoleReply(request.getMethod(), path, etags));
    }
    int status = 200;
    std::string type = "application/json";
    std::string body;
    if (path != "/metrics" && path != "/healthz") {
      status = 404;
      body = R"({"error":{"code":"not_found","message":"no such path"}})";
    } else if (request.getMethod() != "GET" && request.getMethod() != "HEAD") {
      status = 405;
      body = R"({"error":{"code":"method_not_allowed","message":"only GET"}})";
    } else if (path == "/metrics") {
      type = std::string(metrics::kExpositionContentType);
      body = options_.metrics ? options_.metrics() : "";
    } else {
      Health h = options_.health ? options_.health() : Health{};
      status = h.database_ok ? 200 : 503;
      body = HealthJson(h);
    }
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
    response.setContentType(type);
    response.setContentLength(static_cast<std::streamsize>(body.size()));
    std::ostream& out = response.send();
    if (request.getMethod() != "HEAD") out << body;
  }

  // The admin API: the request read whole, the reply sent as the console made it.
  void HandleApi(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response) {
    admin::HttpReply reply;
    admin::HttpRequest in;
    in.method = request.getMethod();
    in.target = request.getURI();
    in.remote = request.clientAddress().host().toString();
    for (const auto& [name, value] : request) {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      in.headers.emplace_back(std::move(lower), value);
    }
    // A body over the limit is read on and thrown away (up to kDrainBytes), so that the client,
    // still sending, gets the 413 instead of a reset connection.
    const bool declared =
        request.hasContentLength() &&
        request.getContentLength64() > static_cast<Poco::Int64>(admin::kMaxAdminBodyBytes);
    const bool hopeless =
        declared && request.getContentLength64() > static_cast<Poco::Int64>(kDrainBytes);
    bool too_big = declared;
    if (!hopeless) {
      std::istream& body = request.stream();
      char buffer[16384];
      size_t total = 0;
      while (total <= kDrainBytes && (body.read(buffer, sizeof buffer) || body.gcount() > 0)) {
        const auto got = static_cast<size_t>(body.gcount());
        total += got;
        if (total > admin::kMaxAdminBodyBytes) too_big = true;
        if (!too_big) in.body.append(buffer, got);
      }
    }
    if (too_big) {
      reply.status = 413;
      reply.body =
          R"({"error":{"code":"payload_too_large","message":"the body is larger than 1 MiB"}})";
      response.setKeepAlive(false);  // what is past kDrainBytes was not read
    } else {
      reply = options_.api(in);
    }
    Send(request, response, reply);
  }

  static void Send(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
                   const admin::HttpReply& reply) {
    response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
    for (const auto& [name, value] : reply.headers) response.add(name, value);
    if (!reply.content_type.empty()) response.setContentType(reply.content_type);
    // A 304 has no body, and its headers describe the representation the client holds.
    if (reply.status != 304) {
      response.setContentLength(static_cast<std::streamsize>(reply.body.size()));
    }
    std::ostream& out = response.send();
    if (request.getMethod() != "HEAD") out << reply.body;
  }

  uint16_t port_ = 0;

 private:
  static constexpr std::string_view kApiRoot = "/api/v1/admin";
  static constexpr size_t kDrainBytes = 8 << 20;
  // Poco serves a connection on one thread until it closes, and a browser opens up to 6 kept-alive
  // connections to load the console: with fewer threads, its last requests wait for a kept-alive
  // connection to time out (5 s). 16 serves two browsers and the scrapers at once.
  static constexpr int kMaxThreads = 16;

  class Handler : public Poco::Net::HTTPRequestHandler {
   public:
    explicit Handler(Impl& impl) : impl_(impl) {}
    void handleRequest(Poco::Net::HTTPServerRequest& request,
                       Poco::Net::HTTPServerResponse& response) override {
      try {
        impl_.Handle(request, response);
      } catch (const std::exception& e) {
        // The client went away mid-answer; nothing to do but not to crash.
        std::fprintf(stderr, "grove-relay: admin request failed: %s\n", e.what());
      }
    }

   private:
    Impl& impl_;
  };
  class Factory : public Poco::Net::HTTPRequestHandlerFactory {
   public:
    explicit Factory(Impl& impl) : impl_(impl) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
      return new Handler(impl_);
    }

   private:
    Impl& impl_;
  };

  Options options_;
  Poco::ThreadPool pool_;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
};

Result<std::unique_ptr<AdminHttp>> AdminHttp::Start(Options options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  GROVE_RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<AdminHttp>(new AdminHttp(std::move(impl)));
}

AdminHttp::AdminHttp(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminHttp::~AdminHttp() { Stop(); }
uint16_t AdminHttp::port() const { return impl_->port_; }
void AdminHttp::Stop() { impl_->Stop(); }

}  // namespace grove::relay
