// grove-peer: one device's peer process. See `grove-peer --help` and docs/configuration.md.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "api/http_api.h"
#include "attachments/attachments.h"
#include "config/peer_config.h"
#include "identity/identity.h"
#include "logging/log.h"
#include "peer/peer.h"
#include "webapp/app_files.h"
#include "webapp/web_files.h"

namespace {

using namespace grove;

// The config lets no limit through that a manifest could not describe.
static_assert(config::kMaxAttachmentBytes == attachments::kMaxFileBytes);

constexpr char kUsage[] =
    "usage: grove-peer --data DIR [--listen HOST:PORT] [--api HOST:PORT] [--connect HOST:PORT]...\n"
    "                  [--relay HOST:PORT --relay-card CARD|@FILE] [--audit-db URL]\n"
    "                  [--org-card ORG|@FILE --enrolment ENROLMENT|@FILE]\n"
    "       grove-peer --config FILE [same options, which win over the file]\n"
    "\n"
    "Runs one device's peer: syncs its workspaces with other peers over TLS and serves the\n"
    "local HTTP API (token in DIR/api-token) and the web app at http://API/app/ (sign in with\n"
    "`grove web-link`; --api.web_dir DIR serves the app's files from DIR instead of the built-in\n"
    "ones). Create the device first with `grove init`.\n"
    "--relay syncs through a grove-relay as well; --relay-card gives the relay's card (the text\n"
    "grove-relay prints at start, or @FILE to read it from a file such as its DATA/relay.card),\n"
    "which pins the relay's key. --audit-db makes this device an auditor: it writes what its\n"
    "workspaces decide to the compliance audit log in that PostgreSQL. --org-card and\n"
    "--enrolment put the peer in managed mode: it talks only to devices its organisation\n"
    "enrolled and applies the organisation's revocations. Any key of the config file\n"
    "may be given as --KEY VALUE (--sync.seal_delay_ms 50). Stops cleanly on SIGTERM or\n"
    "SIGINT. Logs are JSON lines on stderr.\n";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "grove-peer: %s\n%s", problem.c_str(), kUsage);
  return 2;
}

// The card (or org card, or enrolment) in `path`, without surrounding whitespace; "" with `error`
// (naming `flag`) set when it cannot be read.
std::string ReadCardFile(const std::string& flag, const std::string& path, std::string& error) {
  constexpr size_t kMaxCardFileBytes = 64 << 10;  // a card is a few hundred bytes
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = flag + ": cannot open " + path + ": " + std::strerror(errno);
    return "";
  }
  std::string text;
  char buf[4096];
  while (text.size() <= kMaxCardFileBytes) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = flag + ": cannot read " + path + ": " + std::strerror(errno);
      close(fd);
      return "";
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (text.size() > kMaxCardFileBytes) {
    error = flag + ": " + path + " is larger than 64 KiB, not a card";
    return "";
  }
  const char* space = " \t\r\n\f\v";
  const size_t begin = text.find_first_not_of(space);
  if (begin == std::string::npos) {
    error = flag + ": " + path + " is empty";
    return "";
  }
  return text.substr(begin, text.find_last_not_of(space) + 1 - begin);
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
    if (arg != "--config" && arg != "--data" && arg != "--listen" && arg != "--api" &&
        arg != "--connect" && arg != "--relay" && arg != "--relay-card" && arg != "--audit-db" &&
        arg != "--org-card" && arg != "--enrolment" &&
        !(arg.starts_with("--") && arg.find('.') != std::string::npos)) {
      return Usage("unknown option '" + arg + "'");
    }
    if (i + 1 >= argc) return Usage(arg + " needs a value");
    std::string value = argv[++i];
    if (arg == "--config") {
      config_path = value;
    } else if (arg == "--relay") {
      overrides.emplace_back("relay.address", value);
    } else if (arg == "--audit-db") {
      overrides.emplace_back("audit.db", value);
    } else if (arg == "--relay-card" || arg == "--org-card" || arg == "--enrolment") {
      if (value.starts_with("@")) {
        std::string error;
        value = ReadCardFile(arg, value.substr(1), error);
        if (!error.empty()) {
          std::fprintf(stderr, "grove-peer: %s\n", error.c_str());
          return 1;
        }
      }
      overrides.emplace_back(arg == "--relay-card" ? "relay.card"
                             : arg == "--org-card" ? "org.card"
                                                   : "org.enrolment",
                             value);
    } else {
      overrides.emplace_back(arg.substr(2), value);
    }
  }

  config::PeerConfig cfg;
  if (!config_path.empty()) {
    auto loaded = config::LoadPeerConfig(config_path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "grove-peer: %s\n", loaded.status().ToString().c_str());
      return 1;
    }
    cfg = std::move(loaded).value();
  }
  for (const auto& [key, value] : overrides) {
    Status s = config::ApplyOverride(cfg, key, value);
    if (!s.ok()) return Usage(s.message());
  }
  if (cfg.data.empty()) return Usage("--data (or data: in the config file) is required");
  if (Status s = config::ValidatePeerConfig(cfg); !s.ok()) {
    std::fprintf(stderr, "grove-peer: %s\n", s.ToString().c_str());
    return 1;
  }

  logging::Logger log(stderr);
  log.SetLevel(logging::ParseLevel(cfg.log_level).value_or(logging::Level::kInfo));

  // Signals are taken by sigwait() below, not by handlers: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  peer::PeerOptions options;
  options.data = cfg.data;
  auto listen = net::ParseEndpoint(cfg.listen);
  auto api_address = net::ParseEndpoint(cfg.api);
  if (!listen.ok() || !api_address.ok()) return Usage("bad listen or api address");
  options.listen = *listen;
  for (const std::string& c : cfg.connect) {
    auto ep = net::ParseEndpoint(c);
    if (!ep.ok()) return Usage(ep.status().message());
    options.connect.push_back(*ep);
  }
  options.seal_delay_ms = static_cast<int>(cfg.seal_delay_ms);
  options.max_frame_bytes = cfg.max_frame_bytes;
  options.batch_bytes = cfg.batch_bytes;
  options.reconnect_min_ms = static_cast<int>(cfg.reconnect_min_ms);
  options.reconnect_max_ms = static_cast<int>(cfg.reconnect_max_ms);
  options.sync_full = cfg.store_sync_full;
  options.discover = cfg.discover;
  options.attachment_max_bytes = cfg.attachment_max_bytes;
  options.relay_address = cfg.relay_address;
  options.relay_card = cfg.relay_card;
  options.audit_db = cfg.audit_db;
  options.org_card = cfg.org_card;
  options.enrolment = cfg.org_enrolment;
  options.audit_head_interval_ms = static_cast<int>(cfg.audit_head_interval_s) * 1000;
  options.checkpoint_every = cfg.history_checkpoint_every;
  options.prune = cfg.history_prune;
  options.prune_wait_ms = cfg.history_prune_wait_ms;
  options.keep_full = cfg.history_keep_full;

  auto token = identity::ReadApiToken(cfg.data);
  if (!token.ok()) {
    std::fprintf(stderr, "grove-peer: %s (run `grove init --data %s --name NAME` first)\n",
                 token.status().ToString().c_str(), cfg.data.c_str());
    return 1;
  }
  auto peer = peer::Peer::Start(options, log);
  if (!peer.ok()) {
    std::fprintf(stderr, "grove-peer: %s\n", peer.status().ToString().c_str());
    return 1;
  }
  api::HttpApi::Options api_options;
  api_options.host = api_address->host;
  api_options.port = api_address->port;
  api_options.token = *token;
  if (cfg.api_web_dir.empty()) {
    api_options.web_files = std::make_shared<webapp::EmbeddedWebFiles>(webapp::AppFiles());
  } else {
    std::error_code ec;
    if (!std::filesystem::is_directory(cfg.api_web_dir, ec)) {
      std::fprintf(stderr, "grove-peer: api.web_dir: %s is not a folder\n",
                   cfg.api_web_dir.c_str());
      (*peer)->Stop();
      return 1;
    }
    api_options.web_files = std::make_shared<webapp::FolderWebFiles>(cfg.api_web_dir);
  }
  peer::Peer* raw = peer->get();
  api_options.metrics = [raw] { return raw->MetricsText(); };
  auto api = api::HttpApi::Start(**peer, api_options);
  if (!api.ok()) {
    std::fprintf(stderr, "grove-peer: %s\n", api.status().ToString().c_str());
    (*peer)->Stop();
    return 1;
  }
  auto id = (*peer)->Identity();
  log.Info("peer", "started",
           {{"device", id.device},
            {"name", id.name},
            {"sync", (*peer)->sync_address().ToString()},
            {"api", api_address->host + ":" + std::to_string((*api)->port())}});

  int sig = 0;
  sigwait(&signals, &sig);
  log.Info("peer", "stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  (*api)->Stop();
  (*peer)->Stop();
  log.Info("peer", "stopped", {});
  return 0;
}
