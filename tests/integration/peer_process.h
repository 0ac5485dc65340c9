// Integration-test harness: real `grove-peer` processes on loopback, driven through their HTTP API.
//
//   PeerProcess a("alice");            // `grove init` in a fresh temp dir, two free ports picked
//   a.Start();                         // waits for the "started" log line
//   PeerProcess b("bob");
//   b.Start(ConnectTo({a.sync_address()}));
//   std::string ws = a.api().CreateWorkspace("w");
//   ...
//   b.Kill();  b.Restart();            // SIGKILL, then the same ports, data folder and arguments
//   EXPECT_EQ(a.Stop(), 0);            // SIGTERM, waits; the exit status
//
// Every process is killed (SIGKILL) and reaped when its PeerProcess goes, also when the test
// fails; children also get SIGKILL if the test binary dies (PR_SET_PDEATHSIG, which fires when
// the *thread* that started them ends: start processes from the test's main thread only).
// stderr (and stdout) of every run of a peer is appended to one log file; when the test has
// failed (or GROVE_IT_SHOW_LOGS is set), the destructor prints its last lines.
//
// Errors: helpers that must succeed for the test to go on (init, Start, CreateWorkspace,
// Identity...) throw std::runtime_error with what was seen; gtest reports it as a failure of the
// test and the destructors clean up. Helpers whose outcome the test asserts return the HTTP
// status (0 when there was no answer at all: refused, reset, timed out).
//
// Thread-safety: an ApiClient is a small value; copies may be used from any thread at once (one
// HTTP connection per request). A PeerProcess is used from the test's main thread only.
#pragma once

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace grove::integration {

using namespace std::chrono_literals;
using JsonObject = Poco::JSON::Object::Ptr;
using JsonArray = Poco::JSON::Array::Ptr;

// Calls `done` every `interval` until it returns true (true) or `timeout` has passed (false).
// The whole file ("" when it cannot be read); writing throws std::runtime_error on failure.
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& text);

bool PollUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = 20s,
               std::chrono::milliseconds interval = 50ms);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
uint16_t PickFreePort();

// Runs a program to completion with stdin from `stdin_path` (or /dev/null when empty); stdout
// and stderr go to `output`. Returns the exit status, 128+N for signal N, -1 when it could not
// start or ran past `timeout` (then it is killed).
int RunProgram(const std::vector<std::string>& argv, const std::string& stdin_path,
               std::string* output, std::chrono::milliseconds timeout = 30s);

// The full path of `name` found on PATH, or "" when it is not there.
std::string FindOnPath(const std::string& name);

// Serializes a JSON object (Poco keeps keys sorted).
std::string ToJson(const Poco::JSON::Object& object);
// {"key": value, ...} from pairs; values are strings or int64 (see the overloads).
Poco::JSON::Object JsonOf(std::initializer_list<std::pair<std::string, std::string>> strings);
Poco::JSON::Object IntsOf(std::initializer_list<std::pair<std::string, int64_t>> ints);

struct HttpResponse {
  int status = 0;     // 0: no answer (see `error`)
  std::string body;   // as received
  std::string error;  // why there was no answer

  // The body as a JSON object or array; nullptr when it is not one.
  JsonObject Object() const;
  JsonArray Array() const;
  // "HTTP 404 {...}" or "no answer: Connection refused", for failure messages.
  std::string Describe() const;
};

struct DigestInfo {
  std::string version;
  std::string state;
  int64_t deltas = 0;
  bool operator==(const DigestInfo&) const = default;
  std::string ToString() const;
};

struct IdentityInfo {
  std::string device;
  std::string name;
  std::string card;
};

class ApiClient {
 public:
  ApiClient() = default;
  ApiClient(std::string host, uint16_t port, std::string token);

  // One request on a fresh connection, with the bearer token. `body` is sent (as JSON) when
  // given. Never throws.
  HttpResponse Request(const std::string& method, const std::string& path,
                       const std::optional<std::string>& body = std::nullopt) const;
  HttpResponse Get(const std::string& path) const { return Request("GET", path); }

  // Throw std::runtime_error when the answer is not the documented success.
  IdentityInfo Identity() const;
  std::string CreateWorkspace(const std::string& name,
                              const std::vector<std::string>& tools = {}) const;
  std::string CreateRecord(const std::string& ws, const std::string& type,
                           const Poco::JSON::Object& fields) const;
  JsonObject Status() const;
  std::string Metrics() const;  // GET /metrics (no token needed)

  // The HTTP status.
  int Invite(const std::string& ws, const std::string& card, const std::string& role) const;
  int Accept(const std::string& ws) const;
  int RemoveMember(const std::string& ws, const std::string& device) const;
  int Patch(const std::string& ws, const std::string& id, const Poco::JSON::Object& set,
            const Poco::JSON::Object& add) const;
  int PatchSet(const std::string& ws, const std::string& id, const Poco::JSON::Object& set) const {
    return Patch(ws, id, set, Poco::JSON::Object());
  }
  int PatchAdd(const std::string& ws, const std::string& id, const Poco::JSON::Object& add) const {
    return Patch(ws, id, Poco::JSON::Object(), add);
  }
  int Healthz() const;

  // Polls GET /api/v1/invitations until one for `ws` is listed.
  bool WaitInvitation(const std::string& ws, std::chrono::milliseconds timeout = 20s) const;
  // nullptr unless 200.
  JsonObject GetRecord(const std::string& ws, const std::string& id) const;
  std::optional<DigestInfo> Digest(const std::string& ws) const;
  JsonArray Invitations() const;  // nullptr unless 200
  JsonArray Workspaces() const;   // nullptr unless 200

  uint16_t port() const { return port_; }

 private:
  std::string host_;
  uint16_t port_ = 0;
  std::string token_;
};

class PeerProcess;

// Start options: peers to dial (--connect), a config file's text (--config), other arguments.
struct StartOptions {
  std::vector<std::string> connect;
  std::string config_yaml;
  std::vector<std::string> extra_args;
};
inline StartOptions ConnectTo(std::vector<std::string> addresses) {
  StartOptions o;
  o.connect = std::move(addresses);
  return o;
}
inline StartOptions WithConfig(std::string yaml) {
  StartOptions o;
  o.config_yaml = std::move(yaml);
  return o;
}

class PeerProcess {
 public:
  // `grove init --data <tmp>/data --name NAME`; picks the sync and API ports.
  explicit PeerProcess(const std::string& name);
  ~PeerProcess();
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;

  // Starts grove-peer on this peer's ports and waits (up to 10 s) for its "started" line, whose
  // addresses must be the ports asked for. If the first start finds a port taken (another
  // program got it since it was picked), new ports are picked and it tries again.
  void Start(const StartOptions& options);
  void Start() { Start(StartOptions{}); }
  // Starts again with the options of the last Start (same ports and data folder).
  void Restart();
  // SIGTERM, then waits up to `timeout`: the exit status (128+N for signal N), or -1 when it
  // did not exit in time (it is then killed).
  int Stop(std::chrono::milliseconds timeout = 5s);
  // SIGKILL and reap.
  void Kill();
  bool Running();

  const std::string& name() const { return name_; }
  const std::string& data_dir() const { return data_dir_; }
  pid_t pid() const { return pid_; }  // -1 when not running
  std::string sync_address() const;
  uint16_t sync_port() const { return sync_port_; }
  const ApiClient& api() const { return api_; }
  // Device id, name and card, read from the running peer on first use.
  const IdentityInfo& identity();

  // Everything the peer wrote to stderr so far, over all its runs.
  std::string Log() const;
  bool LogContains(std::string_view text) const;
  std::string LogTail(size_t lines = 40) const;

 private:
  // One attempt: spawn and wait for the "started" line. false (with `why`) on failure.
  bool TryStart(std::string* why, bool* port_taken);
  std::vector<std::string> Argv() const;

  std::string name_;
  std::string root_;  // temp dir: data/, peer.log, peer.yaml
  std::string data_dir_;
  std::string log_path_;
  uint16_t sync_port_ = 0;
  uint16_t api_port_ = 0;
  std::string token_;
  ApiClient api_;
  StartOptions options_;
  pid_t pid_ = -1;
  std::optional<IdentityInfo> identity_;
};

// A real `grove-relay` (decision 0009) on two picked loopback ports (sync, admin), with its data
// folder in a temp dir, over the PostgreSQL at `db_url`. Same lifecycle as PeerProcess; the log
// is printed on failure.
class RelayProcess {
 public:
  RelayProcess(const std::string& name, std::string db_url);
  ~RelayProcess();
  RelayProcess(const RelayProcess&) = delete;
  RelayProcess& operator=(const RelayProcess&) = delete;

  // Starts and waits (10 s) for the "started" line; `extra_args` are added to the command line.
  void Start(std::vector<std::string> extra_args = {});
  void Restart();  // same ports, data folder, arguments
  int Stop(std::chrono::milliseconds timeout = 5s);
  void Kill();  // SIGKILL and reap
  bool Running();

  std::string sync_address() const;
  // The arguments that make a peer use this relay: --relay ADDRESS --relay-card @FILE.
  std::vector<std::string> PeerArgs() const;
  const std::string& card() const { return card_; }
  const std::string& data_dir() const { return data_dir_; }
  // GET on the admin address (/metrics, /healthz).
  HttpResponse Admin(const std::string& path) const;
  uint16_t admin_port() const { return admin_port_; }
  // Makes the admin account `name` with `grove-relay admin add` (at a cheap argon2 cost) and
  // signs it in: a client of the admin console with that session. Throws on failure.
  ApiClient NewAdminSession(const std::string& name) const;
  std::string Log() const;
  std::string LogTail(size_t lines = 40) const;

 private:
  bool TryStart(std::string* why);

  std::string name_, db_url_, root_, data_dir_, log_path_, card_;
  uint16_t sync_port_ = 0, admin_port_ = 0;
  std::vector<std::string> extra_args_;
  pid_t pid_ = -1;
};

// --- Reading answers ---------------------------------------------------------------------------

// record["fields"][field] when it is an integer / a string.
std::optional<int64_t> IntField(const JsonObject& record, const std::string& field);
std::optional<std::string> StringField(const JsonObject& record, const std::string& field);
// record["conflicts"][field] (the values that lost), as strings; empty when none.
std::vector<std::string> ConflictStrings(const JsonObject& record, const std::string& field);
// The value of an unlabelled sample `name` in a Prometheus text exposition.
std::optional<double> MetricValue(const std::string& exposition, const std::string& name);
// Whether /api/v1/status lists a ready connection with `device`.
bool ConnectedTo(const JsonObject& status, const std::string& device);

// `owner` creates a workspace, adds every member by its card with `role`, and each member waits
// for its invitation (20 s) and accepts it, in order. Throws on any failure.
std::string ShareWorkspace(PeerProcess& owner, const std::vector<PeerProcess*>& members,
                           const std::string& name, const std::string& role = "member",
                           const std::vector<std::string>& tools = {});

}  // namespace grove::integration
