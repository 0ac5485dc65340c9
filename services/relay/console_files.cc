#include "relay/console_files.h"

#include <utility>

namespace grove::relay {
namespace {

constexpr std::string_view kPrefix = "/console/";
constexpr std::string_view kIndex = "index.html";

void AddSecurityHeaders(admin::HttpReply& reply) {
  reply.headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
  reply.headers.emplace_back("X-Content-Type-Options", "nosniff");
  reply.headers.emplace_back("X-Frame-Options", "DENY");
  reply.headers.emplace_back("Referrer-Policy", "no-referrer");
}

admin::HttpReply Plain(int status, std::string body) {
  admin::HttpReply reply;
  reply.status = status;
  reply.content_type = "text/plain; charset=utf-8";
  reply.body = std::move(body);
  AddSecurityHeaders(reply);
  return reply;
}

}  // namespace

const ConsoleFile* FindConsoleFile(std::string_view name) {
  for (const ConsoleFile& file : ConsoleFiles()) {
    if (file.name == name) return &file;
  }
  return nullptr;
}

bool IsConsolePath(std::string_view path) {
  return path == "/" || path == "/console" || path.starts_with(kPrefix);
}

admin::HttpReply ConsoleReply(std::string_view method, std::string_view path,
                              const std::string* if_none_match) {
  if (method != "GET" && method != "HEAD") {
    admin::HttpReply reply = Plain(405, "405: the console's pages are only read (GET)\n");
    reply.headers.emplace_back("Allow", "GET, HEAD");
    return reply;
  }
  if (path == "/" || path == "/console") {
    admin::HttpReply reply = Plain(302, "the console is at /console/\n");
    reply.headers.emplace_back("Location", std::string(kPrefix));
    return reply;
  }
  std::string_view name = path.substr(kPrefix.size());
  if (name.empty()) name = kIndex;
  const ConsoleFile* file = FindConsoleFile(name);
  if (file == nullptr) return Plain(404, "404: no such page in the console\n");
  admin::HttpReply reply;
  reply.content_type = std::string(file->content_type);
  AddSecurityHeaders(reply);
  reply.headers.emplace_back("Cache-Control", "no-cache");
  reply.headers.emplace_back("ETag", std::string(file->etag));
  if (if_none_match != nullptr && webapp::EtagMatches(*if_none_match, file->etag)) {
    reply.status = 304;
    return reply;
  }
  reply.body = std::string(file->bytes);
  return reply;
}

}  // namespace grove::relay
