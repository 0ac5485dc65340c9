// webapp — static web files, embedded at build time or read from a folder, and how they are
// served: shared by the relay's admin console (relay/console_files.h) and the peer's web app
// (api::HttpApi under /app/).
//
//   WebFile          one embedded file: name, Content-Type, ETag and bytes (plus its gzip form
//                    when the build made one). embed_web_files.cmake generates the arrays.
//   WebFiles         where a server finds files by name: EmbeddedWebFiles over a generated array,
//                    or FolderWebFiles, which reads a folder at each request (front-end work).
//   ServeWebFile     the answer to a GET or HEAD for one name: 200 with the file (gzip-encoded
//                    when the client accepts it and there is a gzip form), 304 when If-None-Match
//                    matches, 404 for an unknown name; with the given security headers, the ETag,
//                    Cache-Control: no-cache and, for a file with a gzip form, Vary.
//
// Names are flat and lower-case ([a-z0-9][a-z0-9_.-]*, IsWebFileName): a URL path segment as it
// stands, so no name reaches outside the folder; FolderWebFiles also refuses a name whose file
// resolves (through a symbolic link) outside the folder.
//
// Thread-safety: WebFiles are immutable (FolderWebFiles reads the disk on each call) and may be
// shared by any number of threads; the functions are pure.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace grove::webapp {

struct WebFile {
  std::string_view name;          // "index.html": the path segment under the app's prefix
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view etag;          // "\"0123456789abcdef\"", quoted as HTTP sends it
  std::string_view bytes;
  std::string_view gzip = {};  // the same content gzip-compressed; empty when there is none
};

// A file as found, with its bytes owned (a folder's) or borrowed (embedded ones).
struct FoundFile {
  std::string content_type;
  std::string etag;
  std::string bytes;
  std::optional<std::string> gzip;  // nullopt: no gzip form
};

class WebFiles {
 public:
  virtual ~WebFiles() = default;
  // The file `name`, or nullopt (unknown, not a web file name, unreadable).
  virtual std::optional<FoundFile> Find(std::string_view name) const = 0;
};

// Files compiled in (the span must outlive this; generated arrays are static).
class EmbeddedWebFiles final : public WebFiles {
 public:
  explicit EmbeddedWebFiles(std::span<const WebFile> files) : files_(files) {}
  std::optional<FoundFile> Find(std::string_view name) const override;

 private:
  std::span<const WebFile> files_;
};

// Files read from `folder` at each request, NAME.gz as NAME's gzip form; the ETag is a hash of the
// bytes. For front-end development (grove-peer --api.web_dir): edits show at the next reload.
class FolderWebFiles final : public WebFiles {
 public:
  explicit FolderWebFiles(std::string folder) : folder_(std::move(folder)) {}
  std::optional<FoundFile> Find(std::string_view name) const override;

 private:
  std::string folder_;
};

// Whether `name` may name a web file: [a-z0-9][a-z0-9_.-]*, at most 255 bytes.
bool IsWebFileName(std::string_view name);

// The Content-Type for a file name by its extension (the list embed_web_files.cmake knows);
// nullopt for another extension.
std::optional<std::string_view> ContentTypeFor(std::string_view name);

// Whether an If-None-Match header value ("*" or a list of entity tags, weak or not) matches
// `etag` under the weak comparison GET uses (RFC 9110 13.1.2).
bool EtagMatches(std::string_view if_none_match, std::string_view etag);

// Whether an Accept-Encoding header value allows gzip (listed, or "*", without q=0).
bool AcceptsGzip(std::string_view accept_encoding);

using Headers = std::vector<std::pair<std::string, std::string>>;

struct WebReply {
  int status = 200;
  std::string content_type;
  Headers headers;   // besides Content-Type and Content-Length
  std::string body;  // filled for HEAD too; the server leaves it out
};

// The answer for file `name` of `files`. `if_none_match` and `accept_encoding` are the request's
// headers (nullptr when absent); `security` are added to every answer (404 included).
WebReply ServeWebFile(const WebFiles& files, std::string_view name,
                      const std::string* if_none_match, const std::string* accept_encoding,
                      const Headers& security);

}  // namespace grove::webapp
