#include "cli/api_client.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/StreamCopier.h>

#include <cctype>
#include <iostream>
#include <sstream>

#include "identity/identity.h"

namespace grove::cli {
namespace {

// The Status code an API error names (api/internal.h has the other direction).
Code CodeForError(std::string_view code, int http_status) {
  if (code == "invalid_argument" || code == "payload_too_large") return Code::kInvalidArgument;
  if (code == "not_found") return Code::kNotFound;
  if (code == "already_exists") return Code::kAlreadyExists;
  if (code == "permission_denied" || code == "unauthorized") return Code::kPermissionDenied;
  if (code == "failed_precondition") return Code::kFailedPrecondition;
  if (code == "unavailable") return Code::kUnavailable;
  if (code == "resource_exhausted") return Code::kResourceExhausted;
  if (code == "corruption") return Code::kCorruption;
  if (!code.empty()) return Code::kInternal;
  // Not our API's error JSON (a proxy, another server on the port): go by the status alone.
  switch (http_status) {
    case 400:
      return Code::kInvalidArgument;
    case 403:
      return Code::kPermissionDenied;
    case 404:
      return Code::kNotFound;
    case 409:
      return Code::kFailedPrecondition;
    case 503:
      return Code::kUnavailable;
    default:
      return Code::kInternal;
  }
}

Status ErrorFromReply(int http_status, const std::string& body) {
  Result<api::Json> json = api::ParseJson(body);
  const api::Json* error = json.ok() ? json->Find("error") : nullptr;
  const api::Json* code = error ? error->Find("code") : nullptr;
  const api::Json* message = error ? error->Find("message") : nullptr;
  const api::Json* field = error ? error->Find("field") : nullptr;
  const std::string code_text = code && code->is_string() ? code->text() : "";
  std::string text = message && message->is_string()
                         ? message->text()
                         : "the API answered HTTP " + std::to_string(http_status);
  if (code_text == "unauthorized") {
    text += "; is --data the folder of the peer at --api?";
  }
  return Status(CodeForError(code_text, http_status), text,
                field && field->is_string() ? field->text() : "");
}

bool PrefixMatches(const std::string& id, const std::string& prefix) {
  if (prefix.size() > id.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(prefix[i])) != id[i]) return false;
  }
  return true;
}

}  // namespace

std::optional<std::pair<std::string, uint16_t>> ParseApiAddress(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return std::nullopt;
  }
  std::string host(text.substr(0, colon));
  if (host.starts_with('[')) {
    if (!host.ends_with(']') || host.size() < 3) return std::nullopt;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return std::nullopt;  // an IPv6 address needs brackets
  }
  uint32_t port = 0;
  for (const char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<uint32_t>(c - '0');
    if (port > 65535) return std::nullopt;
  }
  if (port == 0) return std::nullopt;
  return std::make_pair(host, static_cast<uint16_t>(port));
}

std::string PathSegment(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

Result<ApiClient> ApiClient::FromArgs(const Args& args) {
  const std::string* given = args.Get("api");
  const std::string address = given ? *given : std::string(kDefaultApiAddress);
  std::optional<std::pair<std::string, uint16_t>> parsed = ParseApiAddress(address);
  if (!parsed) {
    return InvalidArgument("--api must be HOST:PORT (like 127.0.0.1:7401), not \"" + address +
                           "\"");
  }
  GROVE_ASSIGN_OR_RETURN(std::string token, identity::ReadApiToken(*args.Get("data")));
  return ApiClient(parsed->first, parsed->second, address, std::move(token));
}

Result<api::Json> ApiClient::ReadReply(Poco::Net::HTTPClientSession& session) {
  int status = 0;
  std::string reply;
  try {
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    status = response.getStatus();
    std::ostringstream collected;
    Poco::StreamCopier::copyStream(in, collected);
    reply = collected.str();
  } catch (const Poco::Exception& e) {
    // The request went out: the peer may have acted on it. Not "unreachable".
    return IOError("the peer at " + address_ + " did not answer: " + e.displayText());
  }
  if (status >= 400) return ErrorFromReply(status, reply);
  if (reply.empty()) return api::Json::Object();
  Result<api::Json> json = api::ParseJson(reply);
  if (!json.ok()) {
    return Internal("the peer at " + address_ +
                    " answered with malformed JSON: " + json.status().message());
  }
  return json;
}

Result<api::Json> ApiClient::Call(std::string_view method, const std::string& path,
                                  const api::Json* body) {
  Poco::Net::HTTPClientSession session(host_, port_);
  // Connecting to loopback is immediate or refused; the answer may take the peer a while.
  session.setTimeout(Poco::Timespan(5, 0), Poco::Timespan(30, 0), Poco::Timespan(60, 0));
  Poco::Net::HTTPRequest request(std::string(method), path, Poco::Net::HTTPMessage::HTTP_1_1);
  request.set("Authorization", "Bearer " + token_);
  request.set("Accept", "application/json");
  const std::string text = body ? body->Dump() : std::string();
  if (body != nullptr) {
    request.setContentType("application/json");
    request.setContentLength(static_cast<std::streamsize>(text.size()));
  }
  try {
    std::ostream& out = session.sendRequest(request);
    out << text;
    out.flush();
  } catch (const Poco::Exception& e) {
    // Nothing reached the peer: it is not running, or not at this address.
    unreachable_ = true;
    return IOError(e.displayText());
  }
  return ReadReply(session);
}

Result<api::Json> ApiClient::Upload(const std::string& path, std::istream& body, uint64_t size) {
  Poco::Net::HTTPClientSession session(host_, port_);
  session.setTimeout(Poco::Timespan(5, 0), Poco::Timespan(300, 0), Poco::Timespan(300, 0));
  Poco::Net::HTTPRequest request("POST", path, Poco::Net::HTTPMessage::HTTP_1_1);
  request.set("Authorization", "Bearer " + token_);
  request.set("Accept", "application/json");
  request.setContentType("application/octet-stream");
  request.setContentLength64(static_cast<Poco::Int64>(size));
  try {
    std::ostream& out = session.sendRequest(request);
    Poco::StreamCopier::copyStream64(body, out);
    out.flush();
  } catch (const Poco::Exception& e) {
    // The peer may refuse an oversized file before reading it and close: its answer still
    // says why, so read it below rather than report a broken pipe.
    (void)e;
  }
  return ReadReply(session);
}

Status ApiClient::Download(const std::string& path, std::ostream& out) {
  Poco::Net::HTTPClientSession session(host_, port_);
  // Fetching from other members may take the peer up to a minute before the first byte.
  session.setTimeout(Poco::Timespan(5, 0), Poco::Timespan(30, 0), Poco::Timespan(90, 0));
  Poco::Net::HTTPRequest request("GET", path, Poco::Net::HTTPMessage::HTTP_1_1);
  request.set("Authorization", "Bearer " + token_);
  try {
    session.sendRequest(request).flush();
  } catch (const Poco::Exception& e) {
    unreachable_ = true;
    return IOError(e.displayText());
  }
  try {
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    if (response.getStatus() >= 400) {
      std::ostringstream collected;
      Poco::StreamCopier::copyStream(in, collected);
      return ErrorFromReply(response.getStatus(), collected.str());
    }
    const uint64_t copied = Poco::StreamCopier::copyStream64(in, out);
    if (response.hasContentLength() &&
        copied != static_cast<uint64_t>(response.getContentLength64())) {
      return IOError("the download ended after " + std::to_string(copied) + " of " +
                     std::to_string(response.getContentLength64()) + " bytes");
    }
  } catch (const Poco::Exception& e) {
    return IOError("the peer at " + address_ + " did not answer: " + e.displayText());
  }
  out.flush();
  if (!out) return IOError("writing the file failed");
  return Status::Ok();
}

Result<std::string> ApiClient::ResolveWorkspace(const std::string& prefix, bool invitations) {
  std::string lower = prefix;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.empty() || lower.size() > 64 ||
      lower.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return InvalidArgument("workspace \"" + prefix + "\" is not a hex id or id prefix");
  }
  GROVE_ASSIGN_OR_RETURN(api::Json list,
                         Get(invitations ? "/api/v1/invitations" : "/api/v1/workspaces"));
  const char* key = invitations ? "workspace" : "id";
  std::vector<std::string> matches;
  for (const api::Json& item : list.items()) {
    const api::Json* id = item.Find(key);
    if (id != nullptr && id->is_string() && PrefixMatches(id->text(), lower)) {
      matches.push_back(id->text());
    }
  }
  if (matches.empty()) {
    return NotFound(invitations ? "no invitation to a workspace " + lower
                                : "no workspace " + lower + " on this device");
  }
  if (matches.size() > 1) {
    return InvalidArgument("workspace prefix " + lower + " matches " +
                           std::to_string(matches.size()) + " workspaces; give more digits");
  }
  return matches[0];
}

std::optional<ApiClient> OpenApi(const Args& args, int& exit) {
  Result<ApiClient> api = ApiClient::FromArgs(args);
  if (api.ok()) return std::move(api).value();
  if (api.status().code() == Code::kInvalidArgument) {
    std::cerr << "grove: " << api.status().message() << "\n";
    exit = kExitUsage;
  } else {
    exit = ReportError(api.status());
  }
  return std::nullopt;
}

void PrintJson(const api::Json& json) { std::cout << json.Dump() << "\n"; }

std::string JsonText(const api::Json& object, std::string_view key) {
  const api::Json* member = object.Find(key);
  if (member == nullptr) return "";
  return member->is_string() ? member->text() : member->Dump();
}

std::vector<std::string> TrimmedRow(std::vector<std::string> cells) {
  while (!cells.empty() && cells.back().empty()) cells.pop_back();
  return cells;
}

int ApiClient::Fail(const Status& status) const {
  if (unreachable_) {
    std::cerr << "grove: cannot reach the peer at " << address_ << ": is grove-peer running?\n";
    return kExitUnreachable;
  }
  std::string line = "grove: " + status.message();
  if (!status.where().empty()) line += " (field " + status.where() + ")";
  std::cerr << line << "\n";
  switch (status.code()) {
    case Code::kNotFound:
      return kExitNotFound;
    case Code::kAlreadyExists:
      return kExitAlreadyExists;
    default:
      return kExitError;
  }
}

}  // namespace grove::cli
