// Poco glue for the API: listening, authentication, body limits, replies, the event stream and
// an orderly stop. Handlers (handlers.cc) never see Poco; this file never sees JSON shapes.
#include "api/http_api.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/ThreadPool.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <istream>
#include <mutex>
#include <optional>
#include <ostream>
#include <string_view>

#include "api/internal.h"
#include "common/bytes.h"
#include "crypto/crypto.h"

namespace grove::api {

using internal::Reply;
using internal::RouteKind;

namespace {

// A reply sent before the body was read (401, 413, 404) still has to let the client finish
// sending, or its unread bytes reset the connection and the client never sees the reply. Up to
// this much is read and dropped; past it the connection is closed instead.
constexpr std::streamsize kDrainLimit = 4 << 20;
constexpr int kWaitEventsMs = 1000;

// The web app's pages may load only from this origin, run no inline script or style, never sit
// in a frame, and post forms nowhere else.
const webapp::Headers& AppSecurityHeaders() {
  static const webapp::Headers headers = {
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
  };
  return headers;
}

// "/", "/app" and "/app/...": the web app's paths, served without a token.
bool IsAppPath(std::string_view path) {
  return path == "/" || path == "/app" || path.starts_with("/app/");
}

std::string HostForUrl(const std::string& host) {
  if (host.empty() || host == "0.0.0.0" || host == "::") return "127.0.0.1";
  if (host.find(':') != std::string::npos) return "[" + host + "]";
  return host;
}

bool HasBody(const Poco::Net::HTTPServerRequest& request) {
  // HTTP/1.1: a request without Content-Length or chunked encoding has no body. (Poco would read
  // such a body until the connection closes, which a keep-alive client never does.)
  return request.getChunkedTransferEncoding() ||
         (request.hasContentLength() && request.getContentLength64() > 0);
}

// Reads and drops what is left of the body; false when more than kDrainLimit was left.
bool DrainBody(Poco::Net::HTTPServerRequest& request) {
  if (!HasBody(request)) return true;
  if (request.hasContentLength() && request.getContentLength64() > kDrainLimit) return false;
  std::istream& in = request.stream();
  char buffer[16384];
  std::streamsize total = 0;
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    total += in.gcount();
    if (total > kDrainLimit) return false;
  }
  return true;
}

std::string SanitizeLine(std::string text) {
  // A newline in an SSE field would end it early and let the rest pose as another field.
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

// An event id's boot: this many random bytes, in lower-case hex.
constexpr size_t kBootBytes = 8;

std::optional<uint64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  uint64_t n = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (n > (UINT64_MAX - d) / 10) return std::nullopt;
    n = n * 10 + d;
  }
  return n;
}

struct EventId {
  std::string_view boot;
  uint64_t seq = 0;
};

// "<boot>-<seq>": 2 * kBootBytes lower-case hex digits, '-', a decimal seq; nullopt otherwise.
std::optional<EventId> ParseEventId(std::string_view text) {
  const size_t dash = text.find('-');
  if (dash != 2 * kBootBytes) return std::nullopt;
  const std::string_view boot = text.substr(0, dash);
  for (const char c : boot) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  std::optional<uint64_t> seq = ParseDecimal(text.substr(dash + 1));
  if (!seq) return std::nullopt;
  return EventId{boot, *seq};
}

std::string NewBoot(Random& random) {
  uint8_t bytes[kBootBytes];
  random.Fill(bytes);
  return HexEncode(ByteView(bytes, kBootBytes));
}

}  // namespace

class HttpApi::Impl {
 public:
  Impl(Backend& backend, Options options)
      : backend_(backend),
        options_(std::move(options)),
        sessions_(options_.token, options_.clock != nullptr ? *options_.clock : system_clock_,
                  options_.random != nullptr ? *options_.random : system_random_),
        boot_(NewBoot(options_.random != nullptr ? *options_.random : system_random_)),
        pool_(1, options_.threads + options_.max_streams, 60) {}

  Status Listen();
  void Stop();
  uint16_t port() const { return port_; }

  // One request, start to end. Never throws.
  void Handle(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);

 private:
  // How a request proved it may use the API.
  enum class Auth { kNone, kBearer, kCookie };

  void Serve(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);
  bool BearerAuthorized(const Poco::Net::HTTPServerRequest& request) const;
  // The request's session cookie's value, if it sends one.
  static std::optional<std::string> SessionCookie(const Poco::Net::HTTPServerRequest& request);
  // The token, or a session cookie (whose session is stored in `session`).
  Auth Authorize(const Poco::Net::HTTPServerRequest& request,
                 std::optional<BrowserSession>& session);
  void ServeApp(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
                std::string_view path);
  // Reads a JSON request's body into `routed.body`; false when it was refused (413, answered).
  bool ReadBody(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
                internal::Request& routed);
  void Send(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
            const Reply& reply, bool body_consumed);
  void SendText(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
                const std::string& content_type, const std::string& text);
  void StreamEvents(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response);
  // "<boot_>-<seq>".
  std::string FormatEventId(uint64_t seq) const;
  // A `reset` event whose id is `seq`: events up to it were missed; the stream goes on after it.
  void WriteReset(std::ostream& out, uint64_t seq) const;
  void Upload(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
              const internal::Request& routed);
  void Download(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
                const internal::Request& routed);

  Backend& backend_;
  const Options options_;
  SystemClock system_clock_;
  crypto::SystemRandom system_random_;
  BrowserSessions sessions_;
  // This process's event ids' prefix, so ids from before a restart are recognised as such.
  const std::string boot_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> streams_{0};
  uint16_t port_ = 0;
  std::mutex stop_mu_;
  bool stopped_ = false;
  // Declared before the server, so the server (whose connections run on the pool) goes first.
  Poco::ThreadPool pool_;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
};

namespace {

class RequestHandler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit RequestHandler(HttpApi::Impl& impl) : impl_(impl) {}
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override {
    impl_.Handle(request, response);
  }

 private:
  HttpApi::Impl& impl_;
};

class HandlerFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit HandlerFactory(HttpApi::Impl& impl) : impl_(impl) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new RequestHandler(impl_);
  }

 private:
  HttpApi::Impl& impl_;
};

}  // namespace

Status HttpApi::Impl::Listen() {
  try {
    Poco::Net::ServerSocket socket;
    socket.bind(Poco::Net::SocketAddress(options_.host, options_.port), /*reuseAddress=*/true);
    socket.listen(64);
    port_ = socket.address().port();
    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(options_.threads + options_.max_streams);
    params->setMaxQueued(64);
    params->setKeepAlive(true);
    // An idle keep-alive connection holds a worker; let it go soon.
    params->setKeepAliveTimeout(Poco::Timespan(5, 0));
    params->setTimeout(Poco::Timespan(30, 0));
    params->setServerName("grove");
    server_ =
        std::make_unique<Poco::Net::HTTPServer>(new HandlerFactory(*this), pool_, socket, params);
    server_->start();
  } catch (const Poco::Exception& e) {
    return IOError("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                   ": " + e.displayText());
  } catch (const std::exception& e) {
    return IOError("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                   ": " + e.what());
  }
  return Status::Ok();
}

void HttpApi::Impl::Stop() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  if (server_ == nullptr) return;
  try {
    // abortCurrent: shut the sockets of open connections down, so idle keep-alive connections
    // and event streams end now instead of at their timeouts.
    server_->stopAll(/*abortCurrent=*/true);
  } catch (...) {
    // Stopping must not fail; what is left is joined below.
  }
  // Every request runs on pool_; once its threads are idle no one is inside the Backend.
  pool_.joinAll();
}

bool HttpApi::Impl::BearerAuthorized(const Poco::Net::HTTPServerRequest& request) const {
  // A copy: get() returns a reference to its default argument when the header is missing.
  const std::string value = request.get("Authorization", std::string());
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    // The scheme is case-insensitive (RFC 9110); the token is not.
    if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) return false;
  }
  std::string_view token = std::string_view(value).substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return ConstantTimeEqual(token, options_.token);
}

std::optional<std::string> HttpApi::Impl::SessionCookie(
    const Poco::Net::HTTPServerRequest& request) {
  // Browsers send one Cookie header; a client sending several is asked for the first only.
  const std::string header = request.get("Cookie", std::string());
  std::optional<std::string_view> value = CookieValue(header, internal::kSessionCookie);
  if (!value || value->empty()) return std::nullopt;
  return std::string(*value);
}

HttpApi::Impl::Auth HttpApi::Impl::Authorize(const Poco::Net::HTTPServerRequest& request,
                                             std::optional<BrowserSession>& session) {
  if (request.has("Authorization")) return BearerAuthorized(request) ? Auth::kBearer : Auth::kNone;
  std::optional<std::string> cookie = SessionCookie(request);
  if (!cookie) return Auth::kNone;
  session = sessions_.Find(*cookie);
  return session ? Auth::kCookie : Auth::kNone;
}

void HttpApi::Impl::ServeApp(Poco::Net::HTTPServerRequest& request,
                             Poco::Net::HTTPServerResponse& response, std::string_view path) {
  if (!DrainBody(request)) response.setKeepAlive(false);
  const std::string& method = request.getMethod();
  webapp::WebReply reply;
  if (method != "GET" && method != "HEAD") {
    reply.status = 405;
    reply.headers = AppSecurityHeaders();
    reply.headers.emplace_back("Allow", "GET, HEAD");
    reply.content_type = "text/plain; charset=utf-8";
    reply.body = "405: the web app's files are only read (GET)\n";
  } else if (path == "/" || path == "/app") {
    reply.status = 302;
    reply.headers = AppSecurityHeaders();
    reply.headers.emplace_back("Location", "/app/");
    reply.content_type = "text/plain; charset=utf-8";
    reply.body = "the web app is at /app/\n";
  } else {
    std::string_view name = path.substr(std::string_view("/app/").size());
    if (name.empty()) name = "index.html";
    const std::string* if_none_match =
        request.has("If-None-Match") ? &request.get("If-None-Match") : nullptr;
    const std::string* accept_encoding =
        request.has("Accept-Encoding") ? &request.get("Accept-Encoding") : nullptr;
    static const webapp::EmbeddedWebFiles kNone({});
    const webapp::WebFiles& files = options_.web_files ? *options_.web_files : kNone;
    reply = webapp::ServeWebFile(files, name, if_none_match, accept_encoding, AppSecurityHeaders());
  }
  response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
  for (const auto& [name, value] : reply.headers) response.add(name, value);
  if (!reply.content_type.empty()) response.setContentType(reply.content_type);
  if (reply.status == 304) {
    response.send();
    return;
  }
  response.setContentLength64(static_cast<Poco::Int64>(reply.body.size()));
  std::ostream& out = response.send();
  if (method != "HEAD")
    out.write(reply.body.data(), static_cast<std::streamsize>(reply.body.size()));
}

void HttpApi::Impl::Send(Poco::Net::HTTPServerRequest& request,
                         Poco::Net::HTTPServerResponse& response, const Reply& reply,
                         bool body_consumed) {
  if (!body_consumed && !DrainBody(request)) response.setKeepAlive(false);
  response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
  response.set("Cache-Control", "no-store");
  for (const auto& [name, value] : reply.headers) response.add(name, value);
  if (!reply.body) {
    response.send();
    return;
  }
  const std::string text = reply.body->Dump();
  response.setContentType("application/json");
  response.sendBuffer(text.data(), text.size());
}

void HttpApi::Impl::SendText(Poco::Net::HTTPServerRequest& request,
                             Poco::Net::HTTPServerResponse& response,
                             const std::string& content_type, const std::string& text) {
  if (!DrainBody(request)) response.setKeepAlive(false);
  response.setStatusAndReason(Poco::Net::HTTPResponse::HTTP_OK);
  response.set("Cache-Control", "no-store");
  response.setContentType(content_type);
  response.sendBuffer(text.data(), text.size());
}

void HttpApi::Impl::Handle(Poco::Net::HTTPServerRequest& request,
                           Poco::Net::HTTPServerResponse& response) {
  std::string failure;
  try {
    Serve(request, response);
    return;
  } catch (const Poco::Exception& e) {
    failure = e.displayText();
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  // Whatever threw (the network, a Backend breaking its contract), this request ends here and
  // the server goes on. If the reply had started there is no way to say so but to close.
  try {
    response.setKeepAlive(false);
    if (!response.sent()) {
      Send(request, response,
           internal::ErrorReply(500, "internal", "the request failed: " + failure), true);
    }
  } catch (...) {
    // The connection is gone; nothing is left to tell.
  }
}

void HttpApi::Impl::Serve(Poco::Net::HTTPServerRequest& request,
                          Poco::Net::HTTPServerResponse& response) {
  if (stopping_) {
    response.setKeepAlive(false);
    Send(request, response, internal::ErrorReply(503, "unavailable", "the API is stopping"), false);
    return;
  }
  const std::string& target = request.getURI();
  const std::string_view path = std::string_view(target).substr(0, target.find('?'));
  if (IsAppPath(path)) {
    ServeApp(request, response, path);
    return;
  }
  internal::Routing routing = internal::FindRoute(request.getMethod(), target);
  const RouteKind kind = routing.route != nullptr ? routing.route->kind : RouteKind::kJson;
  if (routing.route != nullptr && kind == RouteKind::kHealth) {
    Json json = Json::Object();
    json.Set("status", "ok");
    Send(request, response, Reply{200, std::move(json)}, false);
    return;
  }
  if (routing.route != nullptr && kind == RouteKind::kMetrics) {
    SendText(request, response, "text/plain; version=0.0.4; charset=utf-8",
             options_.metrics ? options_.metrics() : std::string());
    return;
  }
  // Signing in is how a browser gets its cookie, so it takes neither; the session routes answer
  // for the cookie they are sent (signing out needs no CSRF token: it only ends the session).
  if (routing.route != nullptr && kind == RouteKind::kSignIn) {
    if (!ReadBody(request, response, routing.request)) return;
    Send(request, response, internal::SignIn(sessions_, routing.request), true);
    return;
  }
  if (routing.route != nullptr && kind == RouteKind::kSession) {
    std::optional<std::string> cookie = SessionCookie(request);
    if (request.getMethod() == "DELETE") {
      Send(request, response, internal::EndSession(sessions_, cookie), false);
    } else {
      std::optional<BrowserSession> session;
      if (cookie) session = sessions_.Find(*cookie);
      Send(request, response, internal::CurrentSession(session), false);
    }
    return;
  }
  // Everything else needs the token or a session, unknown routes included: without either, say
  // nothing more.
  std::optional<BrowserSession> session;
  const Auth auth = Authorize(request, session);
  if (auth == Auth::kNone) {
    response.set("WWW-Authenticate", "Bearer realm=\"grove\"");
    Send(request, response,
         internal::ErrorReply(401, "unauthorized",
                              "missing or wrong bearer token (Authorization: Bearer <the token "
                              "in the data folder's api-token file>) or session cookie (POST "
                              "/api/v1/sessions)"),
         false);
    return;
  }
  // A cookie rides along with any request the browser makes to this origin, including ones
  // another site's page triggers; only this app's page knows the CSRF token.
  if (auth == Auth::kCookie && request.getMethod() != "GET" && request.getMethod() != "HEAD") {
    const std::string csrf = request.get(std::string(internal::kCsrfHeader), std::string());
    if (!ConstantTimeEqual(csrf, session->csrf)) {
      Send(request, response,
           internal::ErrorReply(403, "csrf_required",
                                "a request signed in by session cookie that changes anything "
                                "must carry the header " +
                                    std::string(internal::kCsrfHeader) +
                                    " with the session's csrf token"),
           false);
      return;
    }
  }
  if (!routing.error.ok()) {
    Send(request, response, internal::ErrorReply(routing.error), false);
    return;
  }
  if (routing.route == nullptr) {
    if (!routing.allow.empty()) {
      response.set("Allow", routing.allow);
      Send(request, response,
           internal::ErrorReply(405, "method_not_allowed",
                                request.getMethod() + " is not allowed here; use " + routing.allow),
           false);
    } else {
      Send(request, response,
           internal::ErrorReply(404, "not_found",
                                "no route " + request.getMethod() + " " + request.getURI()),
           false);
    }
    return;
  }
  if (kind == RouteKind::kEvents) {
    StreamEvents(request, response);
    return;
  }
  if (kind == RouteKind::kUpload) {
    Upload(request, response, routing.request);
    return;
  }
  if (kind == RouteKind::kDownload) {
    Download(request, response, routing.request);
    return;
  }
  if (!ReadBody(request, response, routing.request)) return;
  if (kind == RouteKind::kLoginLink) {
    const std::string base = "http://" + HostForUrl(options_.host) + ":" + std::to_string(port_);
    Send(request, response, internal::CreateLoginLink(sessions_, routing.request, base), true);
    return;
  }
  const Reply reply = routing.route->handler(backend_, routing.request);
  Send(request, response, reply, true);
}

bool HttpApi::Impl::ReadBody(Poco::Net::HTTPServerRequest& request,
                             Poco::Net::HTTPServerResponse& response, internal::Request& routed) {
  const Reply too_large = internal::ErrorReply(413, "payload_too_large",
                                               "the request body is larger than 1 MiB", "body");
  if (HasBody(request) && request.hasContentLength() &&
      request.getContentLength64() > static_cast<int64_t>(internal::kMaxBodyBytes)) {
    Send(request, response, too_large, false);
    return false;
  }
  if (HasBody(request)) {
    std::istream& in = request.stream();
    std::string& body = routed.body;
    body.resize(internal::kMaxBodyBytes + 1);
    in.read(body.data(), static_cast<std::streamsize>(body.size()));
    body.resize(static_cast<size_t>(in.gcount()));
    if (body.size() > internal::kMaxBodyBytes) {
      // Chunked: the size shows only while reading.
      Send(request, response, too_large, false);
      return false;
    }
  }
  return true;
}

void HttpApi::Impl::StreamEvents(Poco::Net::HTTPServerRequest& request,
                                 Poco::Net::HTTPServerResponse& response) {
  // Without Last-Event-ID the stream starts at the events that happen from now on: fix "now"
  // once, so nothing between two waits is missed.
  uint64_t after = backend_.CurrentEventSeq();
  bool missed = false;
  if (request.has("Last-Event-ID")) {
    const std::string header = request.get("Last-Event-ID");  // `last` points into it
    std::optional<EventId> last = ParseEventId(header);
    if (!last) {
      Send(request, response,
           internal::ErrorReply(InvalidArgument("Last-Event-ID must be an event id "
                                                "(<16 hex digits>-<decimal seq>)",
                                                "Last-Event-ID")),
           false);
      return;
    }
    // Another process's seq says nothing about this one's (the peer restarted), and a seq of
    // this process past its newest event was never given out: either way the client cannot be
    // told what it missed, only that it missed something.
    if (last->boot == boot_ && last->seq <= after) {
      after = last->seq;
    } else {
      missed = true;
    }
  }
  // Counted before checking, so two racing streams cannot both take the last place.
  struct StreamSlot {
    std::atomic<int>& count;
    ~StreamSlot() { --count; }
  } slot{streams_};
  if (++streams_ > options_.max_streams) {
    Send(request, response,
         internal::ErrorReply(503, "unavailable",
                              "too many event streams are open (" +
                                  std::to_string(options_.max_streams) + "); try again later"),
         false);
    return;
  }
  if (!DrainBody(request)) {
    response.setKeepAlive(false);
    return;
  }
  response.setStatusAndReason(Poco::Net::HTTPResponse::HTTP_OK);
  response.setContentType("text/event-stream");
  response.set("Cache-Control", "no-store");
  response.setChunkedTransferEncoding(true);
  // The stream ends only when one side goes; nothing may follow it on this connection.
  response.setKeepAlive(false);
  std::ostream& out = response.send();
  // Gets the headers and a first chunk out now, so the client knows the stream is open. The
  // stream's position comes first (a bare id, which sets the client's last event id without an
  // event), so a client that loses the stream before any event can still resume without loss.
  out << ": grove events\n\n";
  if (missed) {
    WriteReset(out, after);
  } else {
    out << "id: " << FormatEventId(after) << "\n\n";
  }
  out.flush();

  auto* impl = dynamic_cast<Poco::Net::HTTPServerRequestImpl*>(&request);
  using Clock = std::chrono::steady_clock;
  Clock::time_point last_write = Clock::now();
  while (!stopping_ && out.good()) {
    // A client that went away shows as a readable socket with nothing to read (EOF): notice it
    // without waiting for the next write to fail.
    if (impl != nullptr) {
      Poco::Net::StreamSocket& socket = impl->socket();
      if (socket.poll(Poco::Timespan(0),
                      Poco::Net::Socket::SELECT_READ | Poco::Net::Socket::SELECT_ERROR) &&
          socket.available() <= 0) {
        break;
      }
    }
    const std::vector<Event> events = backend_.WaitEvents(after, kWaitEventsMs);
    if (stopping_) break;
    for (const Event& event : events) {
      if (event.seq <= after) continue;
      // Seqs have no gaps, so a gap is events the backend no longer keeps (the client resumed
      // from too far back, or fell that far behind): say so before going on.
      if (event.seq > after + 1) WriteReset(out, event.seq - 1);
      out << "id: " << FormatEventId(event.seq) << "\nevent: " << SanitizeLine(event.kind)
          << "\ndata: " << internal::EventJson(event).Dump() << "\n\n";
      after = event.seq;
    }
    if (!events.empty()) {
      out.flush();
      last_write = Clock::now();
    } else if (Clock::now() - last_write >= std::chrono::milliseconds(options_.keepalive_ms)) {
      out << ": keep-alive\n\n";
      out.flush();
      last_write = Clock::now();
    }
  }
}

std::string HttpApi::Impl::FormatEventId(uint64_t seq) const {
  return boot_ + "-" + std::to_string(seq);
}

void HttpApi::Impl::WriteReset(std::ostream& out, uint64_t seq) const {
  const Event reset{.seq = seq, .kind = "reset", .workspace = "", .id = ""};
  out << "id: " << FormatEventId(seq)
      << "\nevent: reset\ndata: " << internal::EventJson(reset).Dump() << "\n\n";
}

namespace {

std::string QueryValue(const internal::Request& request, std::string_view key) {
  for (const auto& [k, v] : request.query) {
    if (k == key) return v;
  }
  return {};
}

// For Content-Disposition: a quoted-string cannot hold '"', '\\' or control characters.
std::string QuotedFileName(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '_';
    out += c;
  }
  return out;
}

}  // namespace

// The body is read in pieces and handed to the backend as it arrives, so a file never has to
// fit in memory here; the size limit is checked before reading when the length is declared,
// and while reading when it is not (chunked), abandoning what was stored.
void HttpApi::Impl::Upload(Poco::Net::HTTPServerRequest& request,
                           Poco::Net::HTTPServerResponse& response,
                           const internal::Request& routed) {
  const uint64_t limit = backend_.MaxAttachmentBytes();
  const Reply too_large = internal::ErrorReply(
      413, "payload_too_large",
      "the file is larger than the attachment limit of " + std::to_string(limit) +
          " bytes (attachments.max_bytes in the peer config)",
      "body");
  if (request.hasContentLength() && request.getContentLength64() > 0 &&
      static_cast<uint64_t>(request.getContentLength64()) > limit) {
    Send(request, response, too_large, false);
    return;
  }
  std::string name = QueryValue(routed, "name");
  if (name.empty()) name = request.get("X-File-Name", std::string());
  std::string media_type = QueryValue(routed, "type");
  if (media_type.empty()) media_type = request.get("Content-Type", std::string());
  Result<std::unique_ptr<AttachmentUpload>> begun =
      backend_.BeginAttachment(routed.params.at(0), name, media_type);
  if (!begun.ok()) {
    Send(request, response, internal::ErrorReply(begun.status()), false);
    return;
  }
  std::unique_ptr<AttachmentUpload> upload = std::move(begun).value();
  if (HasBody(request)) {
    std::istream& in = request.stream();
    std::string buffer(256 << 10, '\0');
    uint64_t total = 0;
    while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
      const size_t n = static_cast<size_t>(in.gcount());
      total += n;
      if (total > limit) {
        upload.reset();  // abandons it: nothing of the file stays stored
        Send(request, response, too_large, false);
        return;
      }
      if (Status s = upload->Write(std::string_view(buffer.data(), n)); !s.ok()) {
        upload.reset();
        Send(request, response, internal::ErrorReply(s), false);
        return;
      }
    }
  }
  Result<AttachmentInfo> info = upload->Finish();
  if (!info.ok()) {
    upload.reset();
    Send(request, response, internal::ErrorReply(info.status()), true);
    return;
  }
  Send(request, response, Reply{201, internal::AttachmentJson(*info)}, true);
}

// Streams while fetching: the backend holds (or fetches) the manifest and the first chunk before
// the headers go out, so "nobody has this file" is still an error status; later chunks are
// waited for as they arrive, each for up to kChunkWaitMs, which only a stalled fetch reaches
// (in slices, so that stopping the API is not held up). A chunk that fails after the headers
// went out can only be signalled by closing the connection short of Content-Length, which is
// why downloads never keep alive. Nothing is lost by that: every chunk fetched so far stays
// stored, and the next GET fetches only what is still missing.
void HttpApi::Impl::Download(Poco::Net::HTTPServerRequest& request,
                             Poco::Net::HTTPServerResponse& response,
                             const internal::Request& routed) {
  constexpr int kFetchTimeoutMs = 60'000;
  constexpr int kChunkWaitMs = 60'000;
  constexpr int kWaitSliceMs = 500;
  const std::string& ws = routed.params.at(0);
  const std::string& id = routed.params.at(1);
  Result<std::unique_ptr<AttachmentDownload>> opened =
      backend_.OpenAttachment(ws, id, kFetchTimeoutMs);
  if (!opened.ok()) {
    Send(request, response, internal::ErrorReply(opened.status()), false);
    return;
  }
  std::unique_ptr<AttachmentDownload> download = std::move(opened).value();
  const AttachmentInfo& info = download->info();
  if (!DrainBody(request)) return;
  response.setKeepAlive(false);
  response.setStatusAndReason(Poco::Net::HTTPResponse::HTTP_OK);
  response.set("Cache-Control", "no-store");
  response.setContentType(info.media_type.empty() ? "application/octet-stream" : info.media_type);
  response.set("Content-Disposition", "attachment; filename=\"" + QuotedFileName(info.name) + "\"");
  response.setContentLength64(static_cast<Poco::Int64>(info.size));
  std::ostream& out = response.send();
  for (uint64_t i = 0; i < info.chunks && !stopping_ && out.good(); ++i) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kChunkWaitMs);
    std::optional<std::string> chunk;
    while (!chunk) {
      // Each return closes the connection short of Content-Length.
      if (stopping_ || std::chrono::steady_clock::now() >= deadline) return;
      Result<std::optional<std::string>> read = download->ReadChunk(i, kWaitSliceMs);
      if (!read.ok()) return;
      chunk = std::move(read).value();
    }
    out.write(chunk->data(), static_cast<std::streamsize>(chunk->size()));
  }
  out.flush();
}

HttpApi::HttpApi(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpApi::~HttpApi() { Stop(); }

Result<std::unique_ptr<HttpApi>> HttpApi::Start(Backend& backend, Options options) {
  if (options.token.empty()) {
    return InvalidArgument("the API token must not be empty: it is all that guards the API",
                           "token");
  }
  if (options.threads < 1) return InvalidArgument("threads must be at least 1", "threads");
  if (options.max_streams < 1) {
    return InvalidArgument("max_streams must be at least 1", "max_streams");
  }
  if (options.keepalive_ms < 1) {
    return InvalidArgument("keepalive_ms must be at least 1", "keepalive_ms");
  }
  auto impl = std::make_unique<Impl>(backend, std::move(options));
  GROVE_RETURN_IF_ERROR(impl->Listen());
  return std::unique_ptr<HttpApi>(new HttpApi(std::move(impl)));
}

uint16_t HttpApi::port() const { return impl_->port(); }

void HttpApi::Stop() {
  if (impl_) impl_->Stop();
}

std::vector<std::string> HttpApi::Routes() {
  std::vector<std::string> routes;
  for (const internal::Route& route : internal::Routes()) {
    routes.push_back(std::string(route.method) + " " + std::string(route.pattern));
  }
  return routes;
}

}  // namespace grove::api
