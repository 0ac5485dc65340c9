// Benchmark harness for real `grove-peer` and `grove-relay` processes on 127.0.0.1: spawn, talk
// to the local HTTP API over a kept-alive connection, read /proc, stop. Used by
// `grove-bench peer-sync` and `grove-bench relay`.
//
// Everything is bounded: every wait takes a deadline, every process is SIGKILLed and reaped when
// its PeerProcess goes (and gets SIGKILL if the benchmark dies: PR_SET_PDEATHSIG).
//
// Errors: nothing throws; HTTP failures are status 0 with the reason in `error`.
// Thread-safety: none; one thread drives everything.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/json.h"

namespace Poco::Net {
class HTTPClientSession;
}

namespace grove::bench {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
uint16_t PickFreePort();

// Calls `done` every `interval` until it returns true (true) or `timeout` passed (false).
bool PollUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
               std::chrono::microseconds interval);

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string body;
  std::string error;
  // The body as JSON; nullopt when it is not JSON.
  std::optional<api::Json> Json() const;
};

// One kept-alive HTTP/1.1 connection to a peer's API, reopened on failure (one retry).
class Api {
 public:
  Api(std::string host, uint16_t port, std::string token);
  ~Api();
  Api(Api&&) noexcept;
  Api& operator=(Api&&) noexcept;

  HttpReply Request(const std::string& method, const std::string& path,
                    const std::string& body = "");
  HttpReply Get(const std::string& path) { return Request("GET", path); }

 private:
  HttpReply Once(const std::string& method, const std::string& path, const std::string& body);
  std::string host_;
  uint16_t port_ = 0;
  std::string token_;
  std::unique_ptr<Poco::Net::HTTPClientSession> session_;
};

// A `grove-peer` process over a data folder made beforehand (device.key, api-token, maybe a
// store.db).
class PeerProcess {
 public:
  // Picks two free ports (new ones if Start finds one taken); does not start anything.
  PeerProcess(std::string name, std::string data_dir, std::string log_path);
  ~PeerProcess();  // SIGKILL and reap if still running
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;

  // Starts grove-peer (--listen, --api, --connect each of `connect`, then `extra_args`) and waits
  // until /healthz answers. false with `why` if it exits or does not answer within `timeout`.
  bool Start(const std::vector<std::string>& connect, std::chrono::milliseconds timeout,
             std::string* why, const std::vector<std::string>& extra_args = {});
  // SIGTERM and wait up to `timeout` (then SIGKILL). The exit status, 128+N for signal N.
  int Stop(std::chrono::milliseconds timeout);

  const std::string& name() const { return name_; }
  std::string sync_address() const;
  pid_t pid() const { return pid_; }
  Api& api() { return *api_; }
  // VmRSS of the process in MB (from /proc/PID/status); 0 when unknown.
  double RssMb() const;
  // grove_sync_sent_bytes_total and the like from GET /metrics; nullopt when absent.
  std::optional<double> Metric(const std::string& name);

 private:
  void PickPorts();

  std::string name_;
  std::string data_dir_;
  std::string log_path_;
  uint16_t sync_port_ = 0;
  uint16_t api_port_ = 0;
  pid_t pid_ = -1;
  std::unique_ptr<Api> api_;
};

// A `grove-relay` process (docs/decisions/0009-relay.md) over `data_dir`, with its sync and admin
// addresses on picked loopback ports and its stderr in `log_path`.
class RelayProcess {
 public:
  RelayProcess(std::string data_dir, std::string log_path, std::string db_url);
  ~RelayProcess();  // SIGKILL and reap if still running
  RelayProcess(const RelayProcess&) = delete;
  RelayProcess& operator=(const RelayProcess&) = delete;

  // Starts grove-relay and waits for its "started" log line and DATA/relay.card. false with
  // `why` if it exits or does not start within `timeout`.
  bool Start(std::chrono::milliseconds timeout, std::string* why);
  // SIGTERM and wait up to `timeout` (then SIGKILL). The exit status, 128+N for signal N.
  int Stop(std::chrono::milliseconds timeout);

  pid_t pid() const { return pid_; }
  std::string sync_address() const;
  uint16_t sync_port() const { return sync_port_; }
  const std::string& card() const { return card_; }  // "grove-card:..."
  // What makes a grove-peer use this relay: --relay ADDRESS --relay-card @DATA/relay.card.
  std::vector<std::string> PeerArgs() const;
  // GET on the admin address (/metrics, /healthz).
  HttpReply Admin(const std::string& path);
  // An unlabelled sample of GET /metrics; nullopt when absent or unreachable.
  std::optional<double> Metric(const std::string& name);

 private:
  std::string data_dir_;
  std::string log_path_;
  std::string db_url_;
  uint16_t sync_port_ = 0;
  uint16_t admin_port_ = 0;
  pid_t pid_ = -1;
  std::string card_;
  std::unique_ptr<Api> admin_;
};

// VmRSS of process `pid` in KB (from /proc/PID/status); 0 when unknown.
double ProcessRssKb(pid_t pid);

// The value of an unlabelled sample `name` in a Prometheus text exposition.
std::optional<double> PrometheusValue(const std::string& exposition, const std::string& name);

// A JSON member that is a string ("" when absent or of another type) / an integer.
std::string JsonString(const api::Json& object, std::string_view key);
std::optional<int64_t> JsonInt(const api::Json& object, std::string_view key);

}  // namespace grove::bench
