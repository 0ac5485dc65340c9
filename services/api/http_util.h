// Pieces of HTTP handling shared by Grove's JSON APIs (the peer's, services/api, and the relay's
// admin console, services/admin): splitting and percent-decoding request targets, and the one
// mapping from a Status to an HTTP status and the error body {"error": {"code", "message",
// "field"}}. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/json.h"
#include "common/status.h"

namespace grove::api {

// `text` cut at every `sep` (empty parts kept; "" gives one empty part).
std::vector<std::string_view> SplitOn(std::string_view text, char sep);

// Percent-decoding; `plus_is_space` for query strings. nullopt for a malformed escape.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space);

// The HTTP status and the "code" of the error body for a Status code: InvalidArgument 400,
// PermissionDenied 403, NotFound 404, AlreadyExists and FailedPrecondition 409, Unavailable 503,
// ResourceExhausted 507, anything else 500.
int HttpStatusFor(Code code);
const char* ErrorCodeFor(Code code);

// Whether `given` equals `expected`, in time that depends only on expected's length, so response
// timing does not reveal how much of a guessed secret was right.
bool ConstantTimeEqual(std::string_view given, std::string_view expected);

// The value of cookie `name` in a Cookie header ("a=1; grove_session=xyz"), or nullopt.
std::optional<std::string_view> CookieValue(std::string_view cookie_header, std::string_view name);

// {"error": {"code", "message", "field"}}; field left out when empty.
Json ErrorJson(std::string_view code, std::string_view message, std::string_view field);

}  // namespace grove::api
