#include "bench/peer_harness.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <Poco/Timespan.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "identity/identity.h"
#include "support/child_process.h"

#ifndef GROVE_PEER_BIN
#error "GROVE_PEER_BIN must be defined (path of grove-peer)"
#endif
#ifndef GROVE_RELAY_BIN
#error "GROVE_RELAY_BIN must be defined (path of grove-relay)"
#endif

namespace grove::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

using testing::WaitExit;

pid_t Spawn(const std::vector<std::string>& argv, const std::string& log_path, std::string* why) {
  return testing::SpawnChild(argv, "", log_path, /*append=*/true, why);
}

}  // namespace

uint16_t PickFreePort() {
  std::string why;
  return testing::FreeLoopbackPort(&why);
}

bool PollUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
               std::chrono::microseconds interval) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

std::optional<api::Json> HttpReply::Json() const {
  auto parsed = api::ParseJson(body);
  if (!parsed.ok()) return std::nullopt;
  return std::move(parsed).value();
}

// --- Api -----------------------------------------------------------------------------------------

Api::Api(std::string host, uint16_t port, std::string token)
    : host_(std::move(host)), port_(port), token_(std::move(token)) {}
Api::~Api() = default;
Api::Api(Api&&) noexcept = default;
Api& Api::operator=(Api&&) noexcept = default;

HttpReply Api::Request(const std::string& method, const std::string& path,
                       const std::string& body) {
  HttpReply reply = Once(method, path, body);
  if (reply.status == 0) {
    // A kept-alive connection the server closed: one fresh try.
    session_.reset();
    reply = Once(method, path, body);
  }
  return reply;
}

HttpReply Api::Once(const std::string& method, const std::string& path, const std::string& body) {
  HttpReply out;
  try {
    if (!session_) {
      session_ = std::make_unique<Poco::Net::HTTPClientSession>(host_, port_);
      session_->setKeepAlive(true);
      session_->setTimeout(Poco::Timespan(30, 0));
    }
    Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    request.setKeepAlive(true);
    request.set("Authorization", "Bearer " + token_);
    if (!body.empty() || method == "POST" || method == "PATCH") {
      request.setContentType("application/json");
      request.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    std::ostream& os = session_->sendRequest(request);
    os << body;
    Poco::Net::HTTPResponse response;
    std::istream& is = session_->receiveResponse(response);
    Poco::StreamCopier::copyToString(is, out.body);
    out.status = static_cast<int>(response.getStatus());
    if (!response.getKeepAlive()) session_.reset();
  } catch (const Poco::Exception& e) {
    out.status = 0;
    out.error = e.displayText();
    session_.reset();
  } catch (const std::exception& e) {
    out.status = 0;
    out.error = e.what();
    session_.reset();
  }
  return out;
}

// --- PeerProcess ---------------------------------------------------------------------------------

PeerProcess::PeerProcess(std::string name, std::string data_dir, std::string log_path)
    : name_(std::move(name)), data_dir_(std::move(data_dir)), log_path_(std::move(log_path)) {
  PickPorts();
}

void PeerProcess::PickPorts() {
  // Ports handed out by this process, so two peers never get the same one.
  static std::set<uint16_t> given;
  auto pick = [] {
    for (int i = 0; i < 100; ++i) {
      const uint16_t port = PickFreePort();
      if (port != 0 && given.insert(port).second) return port;
    }
    return uint16_t{0};
  };
  sync_port_ = pick();
  api_port_ = pick();
  auto token = identity::ReadApiToken(data_dir_);
  api_ = std::make_unique<Api>("127.0.0.1", api_port_, token.ok() ? *token : "");
}

PeerProcess::~PeerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    (void)WaitExit(pid_, std::chrono::seconds(10));
  }
}

std::string PeerProcess::sync_address() const { return "127.0.0.1:" + std::to_string(sync_port_); }

bool PeerProcess::Start(const std::vector<std::string>& connect, std::chrono::milliseconds timeout,
                        std::string* why, const std::vector<std::string>& extra_args) {
  // A port picked as free may be taken by the time the peer binds it: then new ports, twice.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0) PickPorts();
    std::vector<std::string> argv = {GROVE_PEER_BIN,
                                     "--data",
                                     data_dir_,
                                     "--listen",
                                     sync_address(),
                                     "--api",
                                     "127.0.0.1:" + std::to_string(api_port_)};
    for (const std::string& c : connect) {
      argv.push_back("--connect");
      argv.push_back(c);
    }
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    pid_ = Spawn(argv, log_path_, why);
    if (pid_ < 0) return false;
    const bool up = PollUntil(
        [&] {
          if (auto exited = WaitExit(pid_, std::chrono::milliseconds(0))) {
            *why = name_ + ": grove-peer exited with status " + std::to_string(*exited) + " (log " +
                   log_path_ + ")";
            pid_ = -1;
            return true;
          }
          return api_->Get("/healthz").status == 200;
        },
        timeout, std::chrono::milliseconds(10));
    if (pid_ < 0) continue;
    if (!up) *why = name_ + ": API did not answer in time (log " + log_path_ + ")";
    return up;
  }
  return false;
}

namespace {

// SIGTERM, then up to `timeout` for it to exit, then SIGKILL: the exit status, or -1.
int StopChild(pid_t& pid, std::chrono::milliseconds timeout) {
  if (pid <= 0) return -1;
  kill(pid, SIGTERM);
  std::optional<int> status = WaitExit(pid, timeout);
  if (!status) {
    kill(pid, SIGKILL);
    status = WaitExit(pid, std::chrono::seconds(10));
  }
  pid = -1;
  return status.value_or(-1);
}

}  // namespace

int PeerProcess::Stop(std::chrono::milliseconds timeout) { return StopChild(pid_, timeout); }

double PeerProcess::RssMb() const { return ProcessRssKb(pid_) / 1024.0; }

std::optional<double> PeerProcess::Metric(const std::string& name) {
  HttpReply r = api_->Get("/metrics");
  if (r.status != 200) return std::nullopt;
  return PrometheusValue(r.body, name);
}

// --- RelayProcess --------------------------------------------------------------------------------

RelayProcess::RelayProcess(std::string data_dir, std::string log_path, std::string db_url)
    : data_dir_(std::move(data_dir)), log_path_(std::move(log_path)), db_url_(std::move(db_url)) {}

RelayProcess::~RelayProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    (void)WaitExit(pid_, std::chrono::seconds(10));
  }
}

std::string RelayProcess::sync_address() const { return "127.0.0.1:" + std::to_string(sync_port_); }

std::vector<std::string> RelayProcess::PeerArgs() const {
  return {"--relay", sync_address(), "--relay-card", "@" + data_dir_ + "/relay.card"};
}

bool RelayProcess::Start(std::chrono::milliseconds timeout, std::string* why) {
  auto read_file = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  // As for peers: a port picked as free may be taken by the time the relay binds it.
  for (int attempt = 0; attempt < 3; ++attempt) {
    sync_port_ = PickFreePort();
    admin_port_ = PickFreePort();
    if (sync_port_ == 0 || admin_port_ == 0 || sync_port_ == admin_port_) continue;
    admin_ = std::make_unique<Api>("127.0.0.1", admin_port_, "");
    const size_t log_offset = read_file(log_path_).size();
    pid_ = Spawn({GROVE_RELAY_BIN, "--data", data_dir_, "--listen", sync_address(), "--admin",
                  "127.0.0.1:" + std::to_string(admin_port_), "--db", db_url_},
                 log_path_, why);
    if (pid_ < 0) return false;
    bool exited = false;
    const bool started = PollUntil(
        [&] {
          const std::string log = read_file(log_path_);
          if (log.size() > log_offset &&
              log.find("\"msg\":\"started\"", log_offset) != std::string::npos) {
            return true;
          }
          if (auto status = WaitExit(pid_, std::chrono::milliseconds(0))) {
            *why = "grove-relay exited with status " + std::to_string(*status) + " (log " +
                   log_path_ + ")";
            exited = true;
            pid_ = -1;
            return true;
          }
          return false;
        },
        timeout, std::chrono::milliseconds(20));
    if (exited) continue;
    if (!started) {
      *why = "grove-relay did not log \"started\" in time (log " + log_path_ + ")";
      return false;
    }
    card_ = read_file(data_dir_ + "/relay.card");
    while (!card_.empty() && (card_.back() == '\n' || card_.back() == '\r')) card_.pop_back();
    if (card_.empty()) *why = "no relay.card in " + data_dir_;
    return !card_.empty();
  }
  return false;
}

int RelayProcess::Stop(std::chrono::milliseconds timeout) { return StopChild(pid_, timeout); }

HttpReply RelayProcess::Admin(const std::string& path) {
  if (!admin_) return HttpReply{0, "", "relay not started"};
  return admin_->Get(path);
}

std::optional<double> RelayProcess::Metric(const std::string& name) {
  HttpReply r = Admin("/metrics");
  if (r.status != 200) return std::nullopt;
  return PrometheusValue(r.body, name);
}

double ProcessRssKb(pid_t pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr);
  }
  return 0;
}

std::optional<double> PrometheusValue(const std::string& exposition, const std::string& name) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
        line[name.size()] == ' ') {
      return std::strtod(line.c_str() + name.size() + 1, nullptr);
    }
  }
  return std::nullopt;
}

std::string JsonString(const api::Json& object, std::string_view key) {
  const api::Json* member = object.is_object() ? object.Find(key) : nullptr;
  return member && member->is_string() ? member->text() : "";
}

std::optional<int64_t> JsonInt(const api::Json& object, std::string_view key) {
  const api::Json* member = object.is_object() ? object.Find(key) : nullptr;
  if (!member || !member->is_int()) return std::nullopt;
  return member->integer();
}

}  // namespace grove::bench
