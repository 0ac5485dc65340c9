// The browser-session routes: signing in with the token or a one-time link code, the current
// session, signing out, and making login links. Pure request -> reply over BrowserSessions; the
// cookie and CSRF checks of other routes are http_api.cc's.
#include <string>

#include "api/internal.h"

namespace grove::api::internal {
namespace {

std::string SetCookie(std::string_view value) {
  return std::string(kSessionCookie) + "=" + std::string(value) +
         "; HttpOnly; SameSite=Strict; Path=/";
}

Json SessionJson(const BrowserSession& session) {
  Json json = Json::Object();
  json.Set("csrf", session.csrf);
  json.Set("expires_ms", session.expires_ms);
  return json;
}

Reply Unauthorized(std::string_view message) { return ErrorReply(401, "unauthorized", message); }

// The body's one string member, "token" or "link"; InvalidArgument naming what is wrong.
Result<std::pair<std::string, std::string>> Credential(const Request& request) {
  if (request.body.find_first_not_of(" \t\r\n") == std::string::npos) {
    return InvalidArgument(
        R"(the request body is empty; {"token": ...} or {"link": ...} was expected)", "body");
  }
  GROVE_ASSIGN_OR_RETURN(Json body, ParseJson(request.body));
  if (!body.is_object()) {
    return InvalidArgument(
        std::string("the request body must be a JSON object, not ") + Json::TypeName(body.type()),
        "body");
  }
  std::pair<std::string, std::string> credential;
  for (const auto& [key, value] : body.members()) {
    if (key != "token" && key != "link")
      return InvalidArgument("unknown field \"" + key + "\"", key);
    if (!value.is_string()) {
      return InvalidArgument(key + " must be a string, not " + Json::TypeName(value.type()), key);
    }
    if (!credential.first.empty()) {
      return InvalidArgument("give either token or link, not both", "body");
    }
    credential = {key, value.text()};
  }
  if (credential.first.empty()) {
    return InvalidArgument("token or link is missing", "token");
  }
  return credential;
}

}  // namespace

Reply SignIn(BrowserSessions& sessions, const Request& request) {
  Result<std::pair<std::string, std::string>> credential = Credential(request);
  if (!credential.ok()) return ErrorReply(credential.status());
  const auto& [kind, secret] = *credential;
  const BrowserSessions::SignInResult result =
      kind == "token" ? sessions.SignInWithToken(secret) : sessions.SignInWithLink(secret);
  using Outcome = BrowserSessions::SignInResult::Outcome;
  if (result.outcome == Outcome::kLocked) {
    const uint64_t seconds = (result.retry_after_ms + 999) / 1000;
    Reply reply = ErrorReply(429, "too_many_requests",
                             "too many failed sign-ins: signing in is locked for a minute; try "
                             "again in " +
                                 std::to_string(seconds) + " s");
    reply.headers.emplace_back("Retry-After", std::to_string(seconds));
    return reply;
  }
  if (result.outcome == Outcome::kRefused) {
    return Unauthorized(kind == "token"
                            ? "wrong token (the token is in the peer's data folder, api-token)"
                            : "unknown, used or expired login link: make a new one with `grove "
                              "web-link`");
  }
  Reply reply{201, SessionJson(result.session)};
  reply.headers.emplace_back("Set-Cookie", SetCookie(result.session.id));
  return reply;
}

Reply CurrentSession(const std::optional<BrowserSession>& session) {
  if (!session) return Unauthorized("not signed in: no valid session cookie");
  return Reply{200, SessionJson(*session)};
}

Reply EndSession(BrowserSessions& sessions, std::optional<std::string_view> session_id) {
  if (session_id) sessions.End(*session_id);
  Reply reply{204, std::nullopt};
  reply.headers.emplace_back("Set-Cookie", SetCookie("") + "; Max-Age=0");
  return reply;
}

Reply CreateLoginLink(BrowserSessions& sessions, const Request& request, const std::string& base) {
  if (request.body.find_first_not_of(" \t\r\n") != std::string::npos) {
    Result<Json> body = ParseJson(request.body);
    if (!body.ok()) return ErrorReply(body.status());
    if (!body->is_object() || !body->members().empty()) {
      return ErrorReply(InvalidArgument("the request body must be empty or {}", "body"));
    }
  }
  const LoginLinkCode link = sessions.CreateLink();
  Json json = Json::Object();
  json.Set("url", base + "/app/#login=" + link.code);
  json.Set("code", link.code);
  json.Set("expires_ms", link.expires_ms);
  return Reply{201, std::move(json)};
}

}  // namespace grove::api::internal
