// ConsoleApi: the admin console's REST API (JSON over HTTP/1.1 under /api/v1/admin/), described
// in schemas/admin-openapi.yaml and docs/admin-api.md. It is transport-free: relay::AdminHttp
// hands it each request (http_types.h) and sends back the reply.
//
// Authentication: POST .../login {name, password} answers a session token, also set as the
// HttpOnly, SameSite=Strict cookie "grove_admin_session". Every route but login, org and
// revocations needs the session, as "Authorization: Bearer TOKEN" or the cookie; with the cookie
// a request that changes anything (POST, PUT, DELETE) must also carry "X-Grove-CSRF: 1" (a
// header another site's page cannot add without a CORS preflight, which the console never
// allows). A body must be sent as application/json (415 otherwise), so an HTML form cannot
// forge one either.
//
// Errors are {"error": {"code", "message", "field"?}} with the field at fault for bad input;
// 401 "unauthorized" (no, a wrong or an expired session, or a wrong name or password); 403
// "csrf_header_required"; 429 "account_locked" with "unlocks_ms" and Retry-After; 404, 405 (with
// Allow), 409, 413, 415, 501 for the reserved audit search/export routes, 503 while the database
// cannot be reached.
//
// Ownership: borrows the Console. Thread-safety: Handle may run on many threads at once.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "admin/http_types.h"

namespace grove::admin {

class Console;

constexpr std::string_view kSessionCookie = "grove_admin_session";
constexpr std::string_view kCsrfHeader = "x-grove-csrf";
constexpr size_t kMaxAdminBodyBytes = 1 << 20;

class ConsoleApi {
 public:
  explicit ConsoleApi(Console& console) : console_(console) {}

  HttpReply Handle(const HttpRequest& request);

  struct RouteInfo {
    std::string method;
    std::string pattern;             // "/api/v1/admin/devices/{device}/revoke"
    std::vector<std::string> query;  // query parameters it takes
    bool session = true;             // needs a session
  };
  // Every route served (for the OpenAPI consistency test).
  static std::vector<RouteInfo> Routes();

 private:
  Console& console_;
};

}  // namespace grove::admin
