// The `grove` commands that talk to a running grove-peer through its local HTTP API
// (api/http_api.h): the client they share, and how they read values and show them.
//
// Every such command takes --data DIR (the token is DIR/api-token), --api HOST:PORT (default
// 127.0.0.1:7401) and --json (print the API's JSON instead of a table). Errors the API returns are
// printed as "grove: <message> (field <f>)"; exit codes: 4 for not_found, 3 for already_exists,
// 5 when the peer does not answer at all, 2 for a malformed command line, 1 for everything else.
//
// Field values on the command line (record create|set):
//   name=42          integer (int64; with a leading zero, "007", it stays text)
//   name=true|false  flag
//   name=12.50EUR    money, exactly: whole units and up to 2 decimals, then a 3-letter currency
//                    (also "-3EUR", "12.5 EUR"); more decimals are refused, never rounded
//   name=1.5         refused: a number with a fraction is money without a currency or a
//                    quantity that is not an integer; say which (1.50EUR, or name:='"1.5"')
//   name=anything    text
//   name:=JSON       the JSON value as is (null, {"minor":5,"currency":"USD"}, "007", ...)
//
// Single-threaded, like the rest of the CLI.
#pragma once

#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/json.h"
#include "cli/command.h"
#include "common/status.h"

namespace Poco::Net {
class HTTPClientSession;
}

namespace grove::cli {

constexpr std::string_view kDefaultApiAddress = "127.0.0.1:7401";

inline constexpr Option kApiDataOption{"data", "DIR", true,
                                       "the device's data folder (its api-token is used)"};
inline constexpr Option kApiAddressOption{"api", "HOST:PORT", false,
                                          "the peer's API address (default 127.0.0.1:7401)"};
inline constexpr Option kApiJsonOption{"json", "", false, "print the API's JSON"};

class ApiClient {
 public:
  // The client for --data and --api. InvalidArgument (a usage error) for a malformed --api; the
  // token file's own errors (NotFound when DIR has no api-token).
  static Result<ApiClient> FromArgs(const Args& args);

  // One request. The reply's JSON (an empty object for 204 No Content), or the API's error as a
  // Status: code from the error's "code", where = its "field". When the peer did not answer,
  // IOError, and unreachable() is true from then on.
  Result<api::Json> Call(std::string_view method, const std::string& path,
                         const api::Json* body = nullptr);
  Result<api::Json> Get(const std::string& path) { return Call("GET", path); }
  // POSTs `size` bytes read from `body` as the raw request body (an attachment), streamed; the
  // reply's JSON or the API's error, as Call.
  Result<api::Json> Upload(const std::string& path, std::istream& body, uint64_t size);
  // GETs `path` and copies the reply body to `out` as it arrives; the API's error as Call.
  // IOError when the body ends short of its Content-Length (the peer failed mid-stream).
  Status Download(const std::string& path, std::ostream& out);

  // The full id of the workspace whose hex id starts with `prefix`, among those this device is a
  // member of (or, with `invitations`, among its pending invitations). NotFound when none,
  // InvalidArgument when several match.
  Result<std::string> ResolveWorkspace(const std::string& prefix, bool invitations = false);

  // Prints the error as "grove: <message> (field <f>)" (or the cannot-reach message) and returns
  // its exit code.
  int Fail(const Status& status) const;

  bool unreachable() const { return unreachable_; }
  const std::string& address() const { return address_; }

 private:
  // The answer on `session` to the request just sent: its JSON, or the error it carries.
  Result<api::Json> ReadReply(Poco::Net::HTTPClientSession& session);
  ApiClient(std::string host, uint16_t port, std::string address, std::string token)
      : host_(std::move(host)),
        port_(port),
        address_(std::move(address)),
        token_(std::move(token)) {}

  std::string host_;
  uint16_t port_ = 0;
  std::string address_;  // as given, for messages
  std::string token_;
  bool unreachable_ = false;
};

// The client for a command's --data and --api. On failure prints why and sets `exit`: 2 for a
// malformed --api, 4 when DIR has no api-token, 1 otherwise.
std::optional<ApiClient> OpenApi(const Args& args, int& exit);

// `json` on one line, for --json.
void PrintJson(const api::Json& json);

// Member `key` of an object as text for a table: strings as they are, "" when absent.
std::string JsonText(const api::Json& object, std::string_view key);

// `cells` without its trailing empty ones, so a table's lines end without padding.
std::vector<std::string> TrimmedRow(std::vector<std::string> cells);

// Splits "HOST:PORT" ("[::1]:7401" too). nullopt when malformed.
std::optional<std::pair<std::string, uint16_t>> ParseApiAddress(std::string_view text);

// Percent-encodes one path segment (ids are hex or base32, but a typo may hold anything).
std::string PathSegment(std::string_view text);

// "name=value" or "name:=json" as a field name and its JSON (see the table above).
// InvalidArgument, naming the argument, when it cannot be read.
Result<std::pair<std::string, api::Json>> ParseFieldArg(std::string_view arg);

// "12.50EUR" as {"minor":1250,"currency":"EUR"}; nullopt when `text` is not shaped like money;
// InvalidArgument when it is but cannot be exact (3 decimals, out of range).
Result<std::optional<api::Json>> ParseMoneyText(std::string_view text);

// A value's JSON for a table cell: 12.50 EUR, text as is, true, -, <blob 4 bytes>, record:<id>.
std::string CellText(const api::Json& value);

}  // namespace grove::cli
