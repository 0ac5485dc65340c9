// HttpRequest and HttpReply: one admin API exchange as the console sees it, independent of the
// HTTP server that carried it (relay::AdminHttp adapts Poco's). Plain values.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace grove::admin {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // the raw request target: "/api/v1/admin/devices?x=1"
  // Header names in lower case, values as sent, in order (a name may repeat).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote;  // the client's address, for the audit log

  // The first header named `name` (lower case), or nullptr.
  const std::string* Header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return &value;
    }
    return nullptr;
  }
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra: Set-Cookie, Retry-After...
};

}  // namespace grove::admin
