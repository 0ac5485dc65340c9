// grove-relay: the optional relay node. See `grove-relay --help`, docs/configuration.md and
// docs/operations.md.
#include <signal.h>
#include <sys/resource.h>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin_cli.h"
#include "admin/console.h"
#include "config/relay_config.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "logging/log.h"
#include "relay/admin_http.h"
#include "relay/relay.h"

namespace {

using namespace grove;

constexpr char kUsage[] =
    "usage: grove-relay --data DIR --db POSTGRES_URL [--listen HOST:PORT] [--admin HOST:PORT]\n"
    "       grove-relay --config FILE [same options, which win over the file]\n"
    "       grove-relay admin add|passwd|unlock|remove|list ... (grove-relay admin --help)\n"
    "\n"
    "Runs a relay: a blind replica of its peers' workspaces in PostgreSQL (it holds no workspace\n"
    "key), serving members what they lack. Its card is printed at start and kept in "
    "DIR/relay.card;\n"
    "peers pin it with --relay HOST:PORT --relay-card CARD. /metrics and /healthz are served on\n"
    "the admin address, with the admin console: web pages at /console/ and its API under\n"
    "/api/v1/admin/ (docs/admin-console.md, docs/admin-api.md; make the first admin account\n"
    "with `grove-relay admin add`). Stops cleanly on SIGTERM or SIGINT. Logs are JSON lines on\n"
    "stderr.\n";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "grove-relay: %s\n%s", problem.c_str(), kUsage);
  return 2;
}

// Reloads the console's caches (revocations, policies) from the database every 10 s, so the
// relay sees what other relays sharing the database changed, and applies the policies' audit
// retention every hour; logs only when that starts or stops failing.
class ConsoleRefresher {
 public:
  ConsoleRefresher(admin::Console& console, logging::Logger& log)
      : console_(console), log_(log), thread_([this] { Run(); }) {}
  ~ConsoleRefresher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Run() {
    bool failing = false;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      const Status s = console_.Refresh();
      if (!s.ok() && !failing) {
        log_.Warn("admin", "cannot load the admin console's data", {{"error", s.ToString()}});
      } else if (s.ok() && failing) {
        log_.Info("admin", "admin console's data loaded", {});
      }
      failing = !s.ok();
      // Retention runs hourly, starting once the console's data could be loaded.
      if (s.ok() && std::chrono::steady_clock::now() >= next_retention_) {
        Result<uint64_t> pruned = console_.ApplyRetention();
        if (!pruned.ok()) {
          log_.Warn("admin", "audit retention failed; it runs again in an hour",
                    {{"error", pruned.status().ToString()}});
        } else if (*pruned > 0) {
          log_.Info("admin", "audit retention pruned entries",
                    {{"entries", static_cast<int64_t>(*pruned)}});
        }
        next_retention_ = std::chrono::steady_clock::now() + std::chrono::hours(1);
      }
      lock.lock();
      cv_.wait_for(lock, std::chrono::seconds(10), [this] { return stop_; });
    }
  }

  admin::Console& console_;
  logging::Logger& log_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::chrono::steady_clock::time_point next_retention_{};
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "admin") {
    SystemClock clock;
    crypto::SystemRandom random;
    return admin::RunAdminCommand(std::vector<std::string>(argv + 2, argv + argc),
                                  admin::CliIo{std::cin, std::cout, std::cerr, isatty(0) == 1},
                                  clock, random);
  }
  std::string config_path;
  std::vector<std::pair<std::string, std::string>> overrides;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (!arg.starts_with("--") || arg.size() < 3) return Usage("unknown argument '" + arg + "'");
    if (i + 1 >= argc) return Usage(arg + " needs a value");
    std::string value = argv[++i];
    if (arg == "--config") {
      config_path = value;
    } else {
      overrides.emplace_back(arg.substr(2), value);
    }
  }

  config::RelayConfig cfg;
  if (!config_path.empty()) {
    auto loaded = config::LoadRelayConfig(config_path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "grove-relay: %s\n", loaded.status().ToString().c_str());
      return 1;
    }
    cfg = std::move(loaded).value();
  }
  for (const auto& [key, value] : overrides) {
    Status s = config::ApplyRelayOverride(cfg, key, value);
    if (!s.ok()) return Usage(s.ToString());
  }
  if (Status s = config::ValidateRelayConfig(cfg); !s.ok()) return Usage(s.ToString());

  logging::Logger log(stderr);
  log.SetLevel(logging::ParseLevel(cfg.log_level).value_or(logging::Level::kInfo));

  // Every peer is a socket, and a relay holds its peers' connections while they idle: the usual
  // soft limit of 1024 descriptors would refuse peers long before memory runs short. The hard
  // limit is what the administrator allows, so the relay takes all of it.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    rlimit raised = files;
    raised.rlim_cur = files.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      files = raised;
    } else {
      log.Warn("relay", "cannot raise the open file limit",
               {{"soft", static_cast<int64_t>(files.rlim_cur)},
                {"hard", static_cast<int64_t>(files.rlim_max)},
                {"error", std::strerror(errno)}});
    }
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  relay::RelayOptions options;
  options.data = cfg.data;
  options.name = cfg.name;
  auto listen = net::ParseEndpoint(cfg.listen);
  auto admin = net::ParseEndpoint(cfg.admin);
  if (!listen.ok() || !admin.ok()) return Usage("bad listen or admin address");
  options.listen = *listen;
  options.db_url = cfg.db;
  options.db_retry_ms = static_cast<int>(cfg.db_retry_ms);
  options.db_connect_timeout_s = static_cast<int>(cfg.db_connect_timeout_s);
  options.max_frame_bytes = cfg.max_frame_bytes;
  options.batch_bytes = cfg.batch_bytes;
  options.quota_workspace_bytes = cfg.quota_workspace_bytes;
  options.quota_device_bytes = cfg.quota_device_bytes;

  auto relay = relay::Relay::Start(options, log);
  if (!relay.ok()) {
    std::fprintf(stderr, "grove-relay: %s\n", relay.status().ToString().c_str());
    return 1;
  }
  relay::Relay* raw = relay->get();

  admin::ConsoleOptions console_options;
  console_options.data = cfg.data;
  console_options.db_url = cfg.db;
  console_options.db_connect_timeout_s = static_cast<int>(cfg.db_connect_timeout_s);
  console_options.accounts.session_idle_ms = uint64_t{cfg.session_idle_s} * 1000;
  console_options.accounts.session_max_ms = uint64_t{cfg.session_max_s} * 1000;
  console_options.accounts.lockout_failures = cfg.lockout_failures;
  console_options.accounts.lockout_ms = uint64_t{cfg.lockout_s} * 1000;
  console_options.accounts.cost = {cfg.argon2_passes, cfg.argon2_memory_kib, cfg.argon2_lanes};
  console_options.secure_cookie = cfg.secure_cookie;
  if (!cfg.auditor_card.empty()) {
    auto card = identity::ParseCardText(cfg.auditor_card);
    if (!card.ok()) {
      std::fprintf(stderr, "grove-relay: console.auditor_card: %s\n",
                   card.status().ToString().c_str());
      (*relay)->Stop();
      return 1;
    }
    console_options.auditor_key = card->sign_key;
    console_options.auditor_card = card->text();
  }
  console_options.relay_status = [raw] { return raw->status(); };
  SystemClock console_clock;
  crypto::SystemRandom console_random;
  auto console = admin::Console::Open(std::move(console_options), console_clock, console_random);
  if (!console.ok()) {
    std::fprintf(stderr, "grove-relay: %s\n", console.status().ToString().c_str());
    (*relay)->Stop();
    return 1;
  }
  admin::Console* console_raw = console->get();
  raw->SetOrgHooks(relay::Relay::OrgHooks{
      .notices =
          [console_raw] {
            std::vector<std::string> all = console_raw->Revocations();
            for (std::string& p : console_raw->PolicyStatements()) all.push_back(std::move(p));
            return all;
          },
      .revoked =
          [console_raw](const identity::DeviceId& device) {
            return console_raw->DeviceStateOf(device) == admin::DeviceState::kRevoked;
          },
      .stores =
          [console_raw, device = raw->device()](const Hash32& workspace) {
            std::optional<admin::WorkspacePolicy> policy = console_raw->PolicyFor(workspace);
            return !policy || policy->AllowsRelay(device);
          },
  });
  auto refresher = std::make_unique<ConsoleRefresher>(*console_raw, log);

  relay::AdminHttp::Options admin_options;
  admin_options.host = admin->host;
  admin_options.port = admin->port;
  admin_options.metrics = [raw] { return raw->MetricsText(); };
  admin_options.health = [raw] { return raw->health(); };
  admin_options.api = [console_raw](const admin::HttpRequest& request) {
    return console_raw->Handle(request);
  };
  auto http = relay::AdminHttp::Start(admin_options);
  if (!http.ok()) {
    std::fprintf(stderr, "grove-relay: %s\n", http.status().ToString().c_str());
    refresher.reset();
    (*relay)->Stop();
    return 1;
  }
  log.Info("relay", "started",
           {{"sync", (*relay)->sync_address().ToString()},
            {"admin", admin->host + ":" + std::to_string((*http)->port())},
            {"db", config::RedactDbUrl(cfg.db)},
            {"card", (*relay)->card()},
            {"open_files_limit", static_cast<int64_t>(files.rlim_cur)}});

  int sig = 0;
  sigwait(&signals, &sig);
  log.Info("relay", "stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  (*http)->Stop();
  refresher.reset();
  (*relay)->Stop();
  log.Info("relay", "stopped", {});
  return 0;
}
