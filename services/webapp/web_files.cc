#include "webapp/web_files.h"

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace grove::webapp {
namespace {

constexpr size_t kMaxNameBytes = 255;
// A folder's file is read whole for each request; anything this large is not a web app file.
constexpr std::uintmax_t kMaxFolderFileBytes = 64 << 20;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// FNV-1a, 64 bits: a cache validator for files that change while the peer runs, not a
// security measure (the embedded files use SHA-256 because the build has it at hand).
std::string HashEtag(std::string_view bytes) {
  uint64_t h = 14695981039346656037ull;
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  char text[24];
  std::snprintf(text, sizeof text, "\"%016llx\"", static_cast<unsigned long long>(h));
  return text;
}

std::optional<std::string> ReadWhole(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxFolderFileBytes) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(text).str();
}

// Whether `path` resolves to a place inside `folder` (both made canonical: symbolic links and
// ".." resolved), so a link in the folder cannot serve the rest of the disk.
bool Inside(const std::filesystem::path& folder, const std::filesystem::path& path) {
  std::error_code ec;
  const std::filesystem::path root = std::filesystem::canonical(folder, ec);
  if (ec) return false;
  const std::filesystem::path real = std::filesystem::canonical(path, ec);
  if (ec) return false;
  auto r = root.begin();
  auto p = real.begin();
  for (; r != root.end(); ++r, ++p) {
    if (p == real.end() || *p != *r) return false;
  }
  return p != real.end();
}

}  // namespace

bool IsWebFileName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-'))) return false;
  }
  return true;
}

std::optional<std::string_view> ContentTypeFor(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const auto& [extension, type] : kTypes) {
    if (name.size() > extension.size() && name.ends_with(extension)) return type;
  }
  return std::nullopt;
}

bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    const size_t comma = if_none_match.find(',');
    std::string_view tag = Trim(if_none_match.substr(0, comma));
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

bool AcceptsGzip(std::string_view accept_encoding) {
  while (!accept_encoding.empty()) {
    const size_t comma = accept_encoding.find(',');
    std::string_view item = Trim(accept_encoding.substr(0, comma));
    std::string_view coding = Trim(item.substr(0, item.find(';')));
    if (EqualsIgnoringCase(coding, "gzip") || EqualsIgnoringCase(coding, "x-gzip") ||
        coding == "*") {
      // "gzip;q=0" refuses it; any other weight accepts.
      bool refused = false;
      if (const size_t semi = item.find(';'); semi != std::string_view::npos) {
        std::string_view params = item.substr(semi + 1);
        while (!params.empty()) {
          const size_t next = params.find(';');
          std::string_view param = Trim(params.substr(0, next));
          if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
            std::string_view weight = param.substr(2);
            refused = !weight.empty() && weight.find_first_not_of("0.") == std::string_view::npos;
          }
          if (next == std::string_view::npos) break;
          params.remove_prefix(next + 1);
        }
      }
      return !refused;
    }
    if (comma == std::string_view::npos) break;
    accept_encoding.remove_prefix(comma + 1);
  }
  return false;
}

std::optional<FoundFile> EmbeddedWebFiles::Find(std::string_view name) const {
  for (const WebFile& file : files_) {
    if (file.name != name) continue;
    FoundFile found{std::string(file.content_type), std::string(file.etag), std::string(file.bytes),
                    std::nullopt};
    if (!file.gzip.empty()) found.gzip = std::string(file.gzip);
    return found;
  }
  return std::nullopt;
}

std::optional<FoundFile> FolderWebFiles::Find(std::string_view name) const {
  if (!IsWebFileName(name) || name.ends_with(".gz")) return std::nullopt;
  std::optional<std::string_view> type = ContentTypeFor(name);
  if (!type) return std::nullopt;
  const std::filesystem::path folder(folder_);
  const std::filesystem::path path = folder / std::string(name);
  if (!Inside(folder, path)) return std::nullopt;
  std::optional<std::string> bytes = ReadWhole(path);
  if (!bytes) return std::nullopt;
  FoundFile found{std::string(*type), HashEtag(*bytes), std::move(*bytes), std::nullopt};
  const std::filesystem::path gz = folder / (std::string(name) + ".gz");
  if (Inside(folder, gz)) found.gzip = ReadWhole(gz);
  return found;
}

WebReply ServeWebFile(const WebFiles& files, std::string_view name,
                      const std::string* if_none_match, const std::string* accept_encoding,
                      const Headers& security) {
  WebReply reply;
  reply.headers = security;
  std::optional<FoundFile> file =
      IsWebFileName(name) ? files.Find(name) : std::optional<FoundFile>();
  if (!file) {
    reply.status = 404;
    reply.content_type = "text/plain; charset=utf-8";
    reply.body = "404: no such file in the web app\n";
    return reply;
  }
  const bool gzip =
      file->gzip.has_value() && accept_encoding != nullptr && AcceptsGzip(*accept_encoding);
  // Each encoding is its own representation, with its own entity tag.
  std::string etag = file->etag;
  if (gzip && etag.size() >= 2 && etag.back() == '"') etag.insert(etag.size() - 1, "-gz");
  reply.content_type = file->content_type;
  reply.headers.emplace_back("Cache-Control", "no-cache");
  reply.headers.emplace_back("ETag", etag);
  if (file->gzip) reply.headers.emplace_back("Vary", "Accept-Encoding");
  if (if_none_match != nullptr && EtagMatches(*if_none_match, etag)) {
    reply.status = 304;
    return reply;
  }
  if (gzip) {
    reply.headers.emplace_back("Content-Encoding", "gzip");
    reply.body = std::move(*file->gzip);
  } else {
    reply.body = std::move(file->bytes);
  }
  return reply;
}

}  // namespace grove::webapp
