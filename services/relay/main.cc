// grove-relay: the optional relay node. See `grove-relay --help`, docs/configuration.md and
// docs/operations.md.
#include <signal.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "config/relay_config.h"
#include "logging/log.h"
#include "relay/admin_http.h"
#include "relay/relay.h"

namespace {

using namespace grove;

constexpr char kUsage[] =
    "usage: grove-relay --data DIR --db POSTGRES_URL [--listen HOST:PORT] [--admin HOST:PORT]\n"
    "       grove-relay --config FILE [same options, which win over the file]\n"
    "\n"
    "Runs a relay: a blind replica of its peers' workspaces in PostgreSQL (it holds no workspace\n"
    "key), serving members what they lack. Its card is printed at start and kept in "
    "DIR/relay.card;\n"
    "peers pin it with --relay HOST:PORT --relay-card CARD. /metrics and /healthz are served on\n"
    "the admin address. Stops cleanly on SIGTERM or SIGINT. Logs are JSON lines on stderr.\n";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "grove-relay: %s\n%s", problem.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
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
  relay::AdminHttp::Options admin_options;
  admin_options.host = admin->host;
  admin_options.port = admin->port;
  admin_options.metrics = [raw] { return raw->MetricsText(); };
  admin_options.health = [raw] { return raw->health(); };
  auto http = relay::AdminHttp::Start(admin_options);
  if (!http.ok()) {
    std::fprintf(stderr, "grove-relay: %s\n", http.status().ToString().c_str());
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
  (*relay)->Stop();
  log.Info("relay", "stopped", {});
  return 0;
}
