#include "integration/peer_process.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <Poco/Timespan.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/child_process.h"

#ifndef GROVE_PEER_BIN
#error "GROVE_PEER_BIN must be defined (path of grove-peer)"
#endif
#ifndef GROVE_CLI_BIN
#error "GROVE_CLI_BIN must be defined (path of grove)"
#endif

namespace grove::integration {
namespace {

using SteadyClock = std::chrono::steady_clock;

size_t FileSize(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
}

std::string Tail(const std::string& text, size_t lines) {
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (size_t n = 0; n < lines && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos == 0 ? 0 : pos + 1);
}

using testing::WaitExit;

pid_t Spawn(const std::vector<std::string>& argv, const std::string& stdin_path,
            const std::string& output_path, bool append, std::string* why) {
  return testing::SpawnChild(argv, stdin_path, output_path, append, why);
}

void KillAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  (void)WaitExit(pid, 10s);
}

Poco::Dynamic::Var ParseJson(const std::string& text) {
  try {
    Poco::JSON::Parser parser;
    return parser.parse(text);
  } catch (const Poco::Exception&) {
    return {};
  } catch (const std::exception&) {
    return {};
  }
}

std::string TempRoot(const std::string& name) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / ("grove_it_" + name + ".XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  }
  return pattern;
}

// SIGTERM, then wait up to `timeout`: the exit status, or -1 (killed) when it did not exit.
int StopChild(pid_t& pid, std::chrono::milliseconds timeout) {
  if (pid <= 0) return -1;
  kill(pid, SIGTERM);
  std::optional<int> status = WaitExit(pid, timeout);
  if (!status) KillAndReap(pid);
  pid = -1;
  return status.value_or(-1);
}

void KillChild(pid_t& pid) {
  if (pid <= 0) return;
  KillAndReap(pid);
  pid = -1;
}

bool ChildRunning(pid_t& pid) {
  if (pid <= 0) return false;
  if (WaitExit(pid, 0ms).has_value()) {
    pid = -1;
    return false;
  }
  return true;
}

}  // namespace

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

bool PollUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
               std::chrono::milliseconds interval) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

uint16_t PickFreePort() {
  std::string why;
  const uint16_t port = testing::FreeLoopbackPort(&why);
  if (port == 0) throw std::runtime_error("picking a free port: " + why);
  return port;
}

int RunProgram(const std::vector<std::string>& argv, const std::string& stdin_path,
               std::string* output, std::chrono::milliseconds timeout) {
  char pattern[] = "/tmp/grove_it_out.XXXXXX";
  const int fd = mkstemp(pattern);
  if (fd < 0) {
    if (output) *output = std::string("mkstemp: ") + std::strerror(errno);
    return -1;
  }
  close(fd);
  std::string why;
  const pid_t pid = Spawn(argv, stdin_path, pattern, false, &why);
  int result = -1;
  if (pid < 0) {
    if (output) *output = why;
  } else {
    std::optional<int> status = WaitExit(pid, timeout);
    if (!status) {
      KillAndReap(pid);
      why = "timed out after " + std::to_string(timeout.count()) + " ms\n";
    }
    result = status.value_or(-1);
    if (output) *output = why + ReadFile(pattern);
  }
  unlink(pattern);
  return result;
}

std::string FindOnPath(const std::string& name) {
  const char* path = getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string ToJson(const Poco::JSON::Object& object) {
  std::ostringstream out;
  object.stringify(out);
  return out.str();
}

Poco::JSON::Object JsonOf(std::initializer_list<std::pair<std::string, std::string>> strings) {
  Poco::JSON::Object o;
  for (const auto& [k, v] : strings) o.set(k, v);
  return o;
}

Poco::JSON::Object IntsOf(std::initializer_list<std::pair<std::string, int64_t>> ints) {
  Poco::JSON::Object o;
  for (const auto& [k, v] : ints) o.set(k, static_cast<Poco::Int64>(v));
  return o;
}

// --- HttpResponse ------------------------------------------------------------------------------

JsonObject HttpResponse::Object() const {
  Poco::Dynamic::Var v = ParseJson(body);
  if (v.type() != typeid(Poco::JSON::Object::Ptr)) return nullptr;
  return v.extract<Poco::JSON::Object::Ptr>();
}

JsonArray HttpResponse::Array() const {
  Poco::Dynamic::Var v = ParseJson(body);
  if (v.type() != typeid(Poco::JSON::Array::Ptr)) return nullptr;
  return v.extract<Poco::JSON::Array::Ptr>();
}

std::string HttpResponse::Describe() const {
  if (status == 0) return "no answer: " + error;
  return "HTTP " + std::to_string(status) + " " + body.substr(0, 2000);
}

std::string DigestInfo::ToString() const {
  return "{version " + version.substr(0, 16) + ", state " + state.substr(0, 16) + ", deltas " +
         std::to_string(deltas) + "}";
}

// --- ApiClient ---------------------------------------------------------------------------------

ApiClient::ApiClient(std::string host, uint16_t port, std::string token)
    : host_(std::move(host)), port_(port), token_(std::move(token)) {}

HttpResponse ApiClient::Request(const std::string& method, const std::string& path,
                                const std::optional<std::string>& body) const {
  HttpResponse out;
  try {
    Poco::Net::HTTPClientSession session(host_, port_);
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    request.set("Authorization", "Bearer " + token_);
    if (body) {
      request.setContentType("application/json");
      request.setContentLength(static_cast<std::streamsize>(body->size()));
    }
    std::ostream& os = session.sendRequest(request);
    if (body) os << *body;
    Poco::Net::HTTPResponse response;
    std::istream& is = session.receiveResponse(response);
    std::string text;
    Poco::StreamCopier::copyToString(is, text);
    out.status = static_cast<int>(response.getStatus());
    out.body = std::move(text);
  } catch (const Poco::Exception& e) {
    out.status = 0;
    out.error = e.displayText();
  } catch (const std::exception& e) {
    out.status = 0;
    out.error = e.what();
  }
  return out;
}

IdentityInfo ApiClient::Identity() const {
  HttpResponse r = Get("/api/v1/identity");
  JsonObject o = r.Object();
  if (r.status != 200 || !o) throw std::runtime_error("GET /api/v1/identity: " + r.Describe());
  return IdentityInfo{o->optValue<std::string>("device", ""), o->optValue<std::string>("name", ""),
                      o->optValue<std::string>("card", "")};
}

std::string ApiClient::CreateWorkspace(const std::string& name,
                                       const std::vector<std::string>& tools) const {
  Poco::JSON::Object body = JsonOf({{"name", name}});
  Poco::JSON::Array::Ptr names = new Poco::JSON::Array;
  for (const std::string& t : tools) names->add(t);
  body.set("tools", names);
  HttpResponse r = Request("POST", "/api/v1/workspaces", ToJson(body));
  JsonObject o = r.Object();
  if (r.status != 201 || !o || !o->has("id")) {
    throw std::runtime_error("POST /api/v1/workspaces: " + r.Describe());
  }
  return o->getValue<std::string>("id");
}

std::string ApiClient::CreateRecord(const std::string& ws, const std::string& type,
                                    const Poco::JSON::Object& fields) const {
  Poco::JSON::Object body;
  body.set("type", type);
  body.set("fields", fields);
  HttpResponse r = Request("POST", "/api/v1/workspaces/" + ws + "/records", ToJson(body));
  JsonObject o = r.Object();
  if (r.status != 201 || !o || !o->has("id")) {
    throw std::runtime_error("POST .../records: " + r.Describe());
  }
  return o->getValue<std::string>("id");
}

JsonObject ApiClient::Status() const {
  HttpResponse r = Get("/api/v1/status");
  JsonObject o = r.Object();
  if (r.status != 200 || !o) throw std::runtime_error("GET /api/v1/status: " + r.Describe());
  return o;
}

std::string ApiClient::Metrics() const {
  HttpResponse r = Get("/metrics");
  if (r.status != 200) throw std::runtime_error("GET /metrics: " + r.Describe());
  return r.body;
}

int ApiClient::Invite(const std::string& ws, const std::string& card,
                      const std::string& role) const {
  Poco::JSON::Object body = JsonOf({{"card", card}, {"role", role}});
  return Request("POST", "/api/v1/workspaces/" + ws + "/members", ToJson(body)).status;
}

int ApiClient::Accept(const std::string& ws) const {
  return Request("POST", "/api/v1/invitations/" + ws + "/accept", std::string("{}")).status;
}

int ApiClient::RemoveMember(const std::string& ws, const std::string& device) const {
  return Request("DELETE", "/api/v1/workspaces/" + ws + "/members/" + device).status;
}

int ApiClient::Patch(const std::string& ws, const std::string& id, const Poco::JSON::Object& set,
                     const Poco::JSON::Object& add) const {
  Poco::JSON::Object body;
  if (set.size() > 0) body.set("set", set);
  if (add.size() > 0) body.set("add", add);
  return Request("PATCH", "/api/v1/workspaces/" + ws + "/records/" + id, ToJson(body)).status;
}

int ApiClient::Healthz() const { return Get("/healthz").status; }

JsonArray ApiClient::Invitations() const {
  HttpResponse r = Get("/api/v1/invitations");
  return r.status == 200 ? r.Array() : nullptr;
}

JsonArray ApiClient::Workspaces() const {
  HttpResponse r = Get("/api/v1/workspaces");
  return r.status == 200 ? r.Array() : nullptr;
}

bool ApiClient::WaitInvitation(const std::string& ws, std::chrono::milliseconds timeout) const {
  return PollUntil(
      [&] {
        JsonArray list = Invitations();
        if (!list) return false;
        for (size_t i = 0; i < list->size(); ++i) {
          JsonObject inv = list->getObject(static_cast<unsigned>(i));
          if (inv && inv->optValue<std::string>("workspace", "") == ws) return true;
        }
        return false;
      },
      timeout);
}

JsonObject ApiClient::GetRecord(const std::string& ws, const std::string& id) const {
  HttpResponse r = Get("/api/v1/workspaces/" + ws + "/records/" + id);
  return r.status == 200 ? r.Object() : nullptr;
}

std::optional<DigestInfo> ApiClient::Digest(const std::string& ws) const {
  HttpResponse r = Get("/api/v1/workspaces/" + ws + "/digest");
  JsonObject o = r.Object();
  if (r.status != 200 || !o) return std::nullopt;
  return DigestInfo{o->optValue<std::string>("version", ""), o->optValue<std::string>("state", ""),
                    o->optValue<Poco::Int64>("deltas", -1)};
}

// --- PeerProcess -------------------------------------------------------------------------------

PeerProcess::PeerProcess(const std::string& name) : name_(name) {
  root_ = TempRoot(name);
  data_dir_ = root_ + "/data";
  log_path_ = root_ + "/peer.log";
  std::string output;
  const int rc =
      RunProgram({GROVE_CLI_BIN, "init", "--data", data_dir_, "--name", name}, "", &output, 30s);
  if (rc != 0) {
    throw std::runtime_error("grove init --data " + data_dir_ + " exited " + std::to_string(rc) +
                             ": " + output);
  }
  std::string token = ReadFile(data_dir_ + "/api-token");
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (token.empty()) throw std::runtime_error("no api-token in " + data_dir_);
  token_ = token;
  sync_port_ = PickFreePort();
  api_port_ = PickFreePort();
  api_ = ApiClient("127.0.0.1", api_port_, token_);
}

PeerProcess::~PeerProcess() {
  if (pid_ > 0) {
    KillAndReap(pid_);
    pid_ = -1;
  }
  if (::testing::Test::HasFailure() || getenv("GROVE_IT_SHOW_LOGS") != nullptr) {
    std::fprintf(stderr, "---- last lines of %s's log (%s) ----\n%s\n---- end of %s's log ----\n",
                 name_.c_str(), log_path_.c_str(), LogTail(40).c_str(), name_.c_str());
  }
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

std::string PeerProcess::sync_address() const { return "127.0.0.1:" + std::to_string(sync_port_); }

std::vector<std::string> PeerProcess::Argv() const {
  std::vector<std::string> argv = {GROVE_PEER_BIN};
  if (!options_.config_yaml.empty()) {
    argv.push_back("--config");
    argv.push_back(root_ + "/peer.yaml");
  }
  argv.insert(argv.end(), {"--data", data_dir_, "--listen", sync_address(), "--api",
                           "127.0.0.1:" + std::to_string(api_port_)});
  for (const std::string& c : options_.connect) {
    argv.push_back("--connect");
    argv.push_back(c);
  }
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  return argv;
}

bool PeerProcess::TryStart(std::string* why, bool* port_taken) {
  *port_taken = false;
  if (!options_.config_yaml.empty()) WriteFile(root_ + "/peer.yaml", options_.config_yaml);
  const size_t log_offset = FileSize(log_path_);
  const std::vector<std::string> argv = Argv();
  pid_ = Spawn(argv, "", log_path_, true, why);
  if (pid_ < 0) return false;
  const std::string want_sync = sync_address();
  const std::string want_api = "127.0.0.1:" + std::to_string(api_port_);
  std::string seen;  // the "started" line, once there
  std::optional<int> exited;
  const bool ok = PollUntil(
      [&] {
        const std::string log = ReadFile(log_path_);
        std::istringstream lines(log.size() > log_offset ? log.substr(log_offset) : "");
        std::string line;
        while (std::getline(lines, line)) {
          if (line.starts_with("{") && line.find("\"msg\":\"started\"") != std::string::npos) {
            seen = line;
            return true;
          }
        }
        exited = WaitExit(pid_, 0ms);
        return exited.has_value();
      },
      10s, 20ms);
  if (ok && !exited) {
    Poco::Dynamic::Var v = ParseJson(seen);
    JsonObject o = v.type() == typeid(Poco::JSON::Object::Ptr)
                       ? v.extract<Poco::JSON::Object::Ptr>()
                       : nullptr;
    if (o && o->optValue<std::string>("sync", "") == want_sync &&
        o->optValue<std::string>("api", "") == want_api) {
      return true;
    }
    *why =
        "the started line does not show sync " + want_sync + " and api " + want_api + ": " + seen;
  } else if (exited) {
    const std::string log = ReadFile(log_path_);
    const std::string run = log.size() > log_offset ? log.substr(log_offset) : "";
    *port_taken = run.find("in use") != std::string::npos;
    *why = "exited with status " + std::to_string(*exited) + " before starting";
    pid_ = -1;
    return false;
  } else {
    *why = "no \"started\" line within 10 s";
  }
  KillAndReap(pid_);
  pid_ = -1;
  return false;
}

void PeerProcess::Start(const StartOptions& options) {
  if (pid_ > 0) throw std::runtime_error(name_ + " is running already");
  options_ = options;
  std::string why;
  bool port_taken = false;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (TryStart(&why, &port_taken)) return;
    if (!port_taken) break;
    sync_port_ = PickFreePort();
    api_port_ = PickFreePort();
    api_ = ApiClient("127.0.0.1", api_port_, token_);
  }
  std::string cmd;
  for (const std::string& a : Argv()) cmd += a + " ";
  throw std::runtime_error("starting " + name_ + " (" + cmd + "): " + why + "\n" + LogTail(20));
}

void PeerProcess::Restart() {
  if (pid_ > 0) throw std::runtime_error(name_ + " is still running");
  std::string why;
  bool port_taken = false;
  if (TryStart(&why, &port_taken)) return;
  throw std::runtime_error("restarting " + name_ + " on " + sync_address() + ": " + why + "\n" +
                           LogTail(20));
}

int PeerProcess::Stop(std::chrono::milliseconds timeout) { return StopChild(pid_, timeout); }
void PeerProcess::Kill() { KillChild(pid_); }
bool PeerProcess::Running() { return ChildRunning(pid_); }

const IdentityInfo& PeerProcess::identity() {
  if (!identity_) identity_ = api_.Identity();
  return *identity_;
}

std::string PeerProcess::Log() const { return ReadFile(log_path_); }

bool PeerProcess::LogContains(std::string_view text) const {
  return Log().find(text) != std::string::npos;
}

std::string PeerProcess::LogTail(size_t lines) const { return Tail(Log(), lines); }

// --- RelayProcess ------------------------------------------------------------------------------

RelayProcess::RelayProcess(const std::string& name, std::string db_url)
    : name_(name), db_url_(std::move(db_url)) {
  root_ = TempRoot(name);
  data_dir_ = root_ + "/data";
  log_path_ = root_ + "/relay.log";
  sync_port_ = PickFreePort();
  admin_port_ = PickFreePort();
}

RelayProcess::~RelayProcess() {
  if (pid_ > 0) KillAndReap(pid_);
  if (::testing::Test::HasFailure() || getenv("GROVE_IT_SHOW_LOGS") != nullptr) {
    std::fprintf(stderr, "---- last lines of %s's log (%s) ----\n%s\n---- end of %s's log ----\n",
                 name_.c_str(), log_path_.c_str(), LogTail(40).c_str(), name_.c_str());
  }
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

std::string RelayProcess::sync_address() const { return "127.0.0.1:" + std::to_string(sync_port_); }

std::vector<std::string> RelayProcess::PeerArgs() const {
  return {"--relay", sync_address(), "--relay-card", "@" + data_dir_ + "/relay.card"};
}

bool RelayProcess::TryStart(std::string* why) {
  std::vector<std::string> argv = {GROVE_RELAY_BIN,
                                   "--data",
                                   data_dir_,
                                   "--listen",
                                   sync_address(),
                                   "--admin",
                                   "127.0.0.1:" + std::to_string(admin_port_),
                                   "--db",
                                   db_url_};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  const size_t log_offset = FileSize(log_path_);
  pid_ = Spawn(argv, "", log_path_, true, why);
  if (pid_ < 0) return false;
  std::optional<int> exited;
  const bool started = PollUntil(
      [&] {
        const std::string log = ReadFile(log_path_);
        if (log.size() > log_offset &&
            log.find("\"msg\":\"started\"", log_offset) != std::string::npos) {
          return true;
        }
        exited = WaitExit(pid_, 0ms);
        return exited.has_value();
      },
      10s, 20ms);
  if (started && !exited) {
    std::string card = ReadFile(data_dir_ + "/relay.card");
    while (!card.empty() && (card.back() == '\n' || card.back() == '\r')) card.pop_back();
    card_ = card;
    if (!card_.empty()) return true;
    *why = "no relay.card in " + data_dir_;
  } else {
    *why = exited ? "exited with status " + std::to_string(*exited) + " before starting"
                  : "no \"started\" line within 10 s";
  }
  if (!exited) KillAndReap(pid_);
  pid_ = -1;
  return false;
}

void RelayProcess::Start(std::vector<std::string> extra_args) {
  if (pid_ > 0) throw std::runtime_error(name_ + " is running already");
  extra_args_ = std::move(extra_args);
  Restart();
}

void RelayProcess::Restart() {
  if (pid_ > 0) throw std::runtime_error(name_ + " is still running");
  std::string why;
  if (!TryStart(&why)) {
    throw std::runtime_error("starting relay " + name_ + ": " + why + "\n" + LogTail(20));
  }
}

int RelayProcess::Stop(std::chrono::milliseconds timeout) { return StopChild(pid_, timeout); }
void RelayProcess::Kill() { KillChild(pid_); }
bool RelayProcess::Running() { return ChildRunning(pid_); }

HttpResponse RelayProcess::Admin(const std::string& path) const {
  return ApiClient("127.0.0.1", admin_port_, "none").Get(path);
}

ApiClient RelayProcess::NewAdminSession(const std::string& name) const {
  const std::string password = "correct horse battery";
  const std::string password_file = root_ + "/admin-password";
  WriteFile(password_file, password + "\n");
  std::string out;
  if (RunProgram({GROVE_RELAY_BIN, "admin", "add", "--db", db_url_, "--console.argon2_memory_kib",
                  "8192", name},
                 password_file, &out, 60s) != 0) {
    throw std::runtime_error("grove-relay admin add " + name + ": " + out);
  }
  Poco::JSON::Object body;
  body.set("name", name);
  body.set("password", password);
  HttpResponse login = ApiClient("127.0.0.1", admin_port_, "none")
                           .Request("POST", "/api/v1/admin/login", ToJson(body));
  JsonObject o = login.Object();
  if (login.status != 200 || !o || !o->has("token")) {
    throw std::runtime_error("admin login as " + name + ": " + login.Describe());
  }
  return ApiClient("127.0.0.1", admin_port_, o->getValue<std::string>("token"));
}

std::string RelayProcess::Log() const { return ReadFile(log_path_); }
std::string RelayProcess::LogTail(size_t lines) const { return Tail(Log(), lines); }

// --- Reading answers ---------------------------------------------------------------------------

namespace {

Poco::Dynamic::Var FieldVar(const JsonObject& record, const std::string& field) {
  if (!record) return {};
  JsonObject fields = record->getObject("fields");
  if (!fields || !fields->has(field)) return {};
  return fields->get(field);
}

}  // namespace

std::optional<int64_t> IntField(const JsonObject& record, const std::string& field) {
  Poco::Dynamic::Var v = FieldVar(record, field);
  if (v.isEmpty() || !v.isInteger()) return std::nullopt;
  return v.convert<Poco::Int64>();
}

std::optional<std::string> StringField(const JsonObject& record, const std::string& field) {
  Poco::Dynamic::Var v = FieldVar(record, field);
  if (v.isEmpty() || !v.isString()) return std::nullopt;
  return v.convert<std::string>();
}

std::vector<std::string> ConflictStrings(const JsonObject& record, const std::string& field) {
  std::vector<std::string> out;
  if (!record) return out;
  JsonObject conflicts = record->getObject("conflicts");
  if (!conflicts) return out;
  JsonArray values = conflicts->getArray(field);
  if (!values) return out;
  for (size_t i = 0; i < values->size(); ++i) {
    Poco::Dynamic::Var v = values->get(static_cast<unsigned>(i));
    out.push_back(v.isString() ? v.convert<std::string>() : v.toString());
  }
  return out;
}

std::optional<double> MetricValue(const std::string& exposition, const std::string& name) {
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > name.size() && line.starts_with(name) && line[name.size()] == ' ') {
      try {
        return std::stod(line.substr(name.size() + 1));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

bool ConnectedTo(const JsonObject& status, const std::string& device) {
  if (!status) return false;
  JsonArray connections = status->getArray("connections");
  if (!connections) return false;
  for (size_t i = 0; i < connections->size(); ++i) {
    JsonObject c = connections->getObject(static_cast<unsigned>(i));
    if (c && c->optValue<std::string>("device", "") == device) return true;
  }
  return false;
}

std::string ShareWorkspace(PeerProcess& owner, const std::vector<PeerProcess*>& members,
                           const std::string& name, const std::string& role,
                           const std::vector<std::string>& tools) {
  const std::string ws = owner.api().CreateWorkspace(name, tools);
  for (PeerProcess* m : members) {
    const int status = owner.api().Invite(ws, m->identity().card, role);
    if (status != 201) {
      throw std::runtime_error(owner.name() + " adding " + m->name() + " to " + name + ": HTTP " +
                               std::to_string(status));
    }
  }
  for (PeerProcess* m : members) {
    if (!m->api().WaitInvitation(ws)) {
      HttpResponse r = m->api().Get("/api/v1/invitations");
      throw std::runtime_error(m->name() + " got no invitation to " + name +
                               " within 20 s; last seen: " + r.Describe());
    }
    const int status = m->api().Accept(ws);
    if (status != 200) {
      throw std::runtime_error(m->name() + " accepting " + name + ": HTTP " +
                               std::to_string(status));
    }
  }
  return ws;
}

}  // namespace grove::integration
