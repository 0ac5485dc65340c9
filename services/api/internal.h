// Internals of the HTTP API shared by its .cc files: the route table, request/reply values and
// the error mapping. Not for use outside services/api.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/backend.h"
#include "api/browser_sessions.h"
#include "api/http_util.h"
#include "api/json.h"
#include "common/status.h"

namespace grove::api::internal {

constexpr size_t kMaxBodyBytes = 1 << 20;

// One request as the handlers see it: already routed, authorized and size-checked.
struct Request {
  std::vector<std::string> params;  // path parameters, in the pattern's order, decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::string body;
};

struct Reply {
  int status = 200;
  std::optional<Json> body;                                       // nullopt: no body (204)
  std::vector<std::pair<std::string, std::string>> headers = {};  // extra: Set-Cookie, ...
};

using Handler = Reply (*)(Backend& backend, const Request& request);

// kUpload and kDownload stream their bodies (attachments) instead of going through a Handler.
// kApp routes are the web app's files (no token); kSignIn, kSession and kLoginLink are answered
// from the browser sessions (session_routes.cc), not the Backend.
enum class RouteKind {
  kJson,
  kHealth,
  kMetrics,
  kEvents,
  kUpload,
  kDownload,
  kApp,
  kSignIn,
  kSession,
  kLoginLink
};

struct Route {
  std::string_view method;
  std::string_view pattern;  // "/api/v1/workspaces/{ws}"
  RouteKind kind;
  Handler handler;  // kJson only
  // The query parameters it takes; "p.*" takes every "p.NAME" with a non-empty NAME.
  std::vector<std::string_view> query;
};

const std::vector<Route>& Routes();

// The outcome of routing a method and a raw request target ("/api/v1/x?type=a%20b").
struct Routing {
  const Route* route = nullptr;  // set when both path and method matched
  Request request;               // params and query filled when routed
  std::string allow;             // methods of the path when only the method is wrong ("GET, POST")
  Status error;                  // a malformed target (bad percent-encoding, unknown query)
};
Routing FindRoute(std::string_view method, std::string_view target);

Reply ErrorReply(const Status& status);
// ErrorReply plus "rule" (backend.h's RefusalRule) for a refused transition or grant.
Reply RefusalReply(const Status& status);
Reply ErrorReply(int http_status, std::string_view code, std::string_view message,
                 std::string_view field = {});

// The query of GET .../records as a RecordQuery; `tools` give the kinds of where.FIELD values
// and the fields a tool type has. InvalidArgument naming the parameter at fault.
Result<RecordQuery> ParseRecordQuery(const std::vector<std::pair<std::string, std::string>>& query,
                                     const std::vector<ToolInfo>& tools);

// The JSON shapes of the backend's values, also used for events.
Json EventJson(const Event& event);
Json AttachmentJson(const AttachmentInfo& info);  // {id, size, chunks, name, media_type}
Json AttachmentStatusJson(
    const AttachmentStatus& status);  // + {manifest, chunks_held, bytes_held, state}

// --- Browser sessions (session_routes.cc) -------------------------------------------------------

constexpr std::string_view kSessionCookie = "grove_session";
constexpr std::string_view kCsrfHeader = "X-Grove-CSRF";

// POST /api/v1/sessions: {"token"} or {"link"} -> 201 {csrf, expires_ms} + Set-Cookie; 401 for a
// wrong one; 429 (Retry-After) while sign-in is locked.
Reply SignIn(BrowserSessions& sessions, const Request& request);
// GET /api/v1/sessions/current for the request's session (nullopt: none) -> 200 or 401.
Reply CurrentSession(const std::optional<BrowserSession>& session);
// DELETE /api/v1/sessions/current: ends `session_id`'s session (if any) -> 204, cookie cleared.
Reply EndSession(BrowserSessions& sessions, std::optional<std::string_view> session_id);
// POST /api/v1/login-links -> 201 {url, code, expires_ms}; `base` is "http://HOST:PORT".
Reply CreateLoginLink(BrowserSessions& sessions, const Request& request, const std::string& base);

}  // namespace grove::api::internal
