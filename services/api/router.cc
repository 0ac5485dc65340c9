// Routing: splitting a request target into decoded path segments and query parameters, and
// matching them against the route table. Pure functions.
#include <algorithm>

#include "api/internal.h"

namespace grove::api::internal {
namespace {

// Matches raw (still encoded) segments against a pattern: decoding happens per segment, after
// splitting, so an encoded '/' inside an id cannot change which route is meant.
bool MatchPattern(std::string_view pattern, const std::vector<std::string_view>& segments,
                  std::vector<std::string_view>& params) {
  const std::vector<std::string_view> want = SplitOn(pattern.substr(1), '/');
  if (want.size() != segments.size()) return false;
  params.clear();
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i].starts_with('{')) {
      if (segments[i].empty()) return false;
      params.push_back(segments[i]);
    } else if (want[i] != segments[i]) {
      return false;
    }
  }
  return true;
}

bool QueryParameterTaken(const Route& route, std::string_view key) {
  for (std::string_view taken : route.query) {
    if (taken == key) return true;
    if (taken.ends_with(".*")) {
      const std::string_view prefix = taken.substr(0, taken.size() - 1);  // "where."
      if (key.size() > prefix.size() && key.starts_with(prefix)) return true;
    }
  }
  return false;
}

}  // namespace

Routing FindRoute(std::string_view method, std::string_view target) {
  Routing routing;
  const size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);
  if (!path.starts_with('/')) {
    routing.error = InvalidArgument("the request target must be a path", "path");
    return routing;
  }
  const std::vector<std::string_view> segments = SplitOn(path.substr(1), '/');
  std::vector<std::string_view> raw_params;
  const Route* matched = nullptr;
  for (const Route& route : Routes()) {
    if (!MatchPattern(route.pattern, segments, raw_params)) continue;
    if (route.method == method) {
      matched = &route;
      break;
    }
    if (routing.allow.find(route.method) == std::string::npos) {
      routing.allow += (routing.allow.empty() ? "" : ", ") + std::string(route.method);
    }
  }
  if (matched == nullptr) return routing;
  for (std::string_view raw : raw_params) {
    std::optional<std::string> decoded = PercentDecode(raw, false);
    if (!decoded) {
      routing.error = InvalidArgument("bad percent-encoding in the path", "path");
      return routing;
    }
    routing.request.params.push_back(std::move(*decoded));
  }
  if (!query.empty()) {
    for (std::string_view pair : SplitOn(query, '&')) {
      if (pair.empty()) continue;
      const size_t eq = pair.find('=');
      std::optional<std::string> key = PercentDecode(pair.substr(0, eq), true);
      std::optional<std::string> value = PercentDecode(
          eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
      if (!key || !value) {
        routing.error = InvalidArgument("bad percent-encoding in the query", "query");
        return routing;
      }
      if (!QueryParameterTaken(*matched, *key)) {
        routing.error = InvalidArgument("unknown query parameter \"" + *key + "\"", *key);
        return routing;
      }
      for (const auto& [seen, unused] : routing.request.query) {
        if (seen == *key) {
          routing.error = InvalidArgument("query parameter \"" + *key + "\" given twice", *key);
          return routing;
        }
      }
      routing.request.query.emplace_back(std::move(*key), std::move(*value));
    }
  }
  routing.route = matched;
  return routing;
}

}  // namespace grove::api::internal
