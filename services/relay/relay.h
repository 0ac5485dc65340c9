// grove::relay::Relay — the optional relay node (docs/decisions/0009-relay.md): a blind replica
// of the workspaces its peers use, kept in PostgreSQL, that serves members what they lack.
//
// Wiring: one EventLoop thread owns the blind SyncNode, the workspaces (each a replica::Workspace
// of the relay's own device, which is no member and holds no content key, so it checks
// signatures, hash chains and membership but reads nothing) and the PgStore. The network
// reactor's thread posts into it; a listener thread waits on PostgreSQL's LISTEN grove_deltas
// and posts the workspaces another relay stored deltas for, so relays sharing one database wake
// each other without polling.
//
// Durability: a Deltas frame is acknowledged (sync Ack) only after its rows are committed in
// PostgreSQL, so an acknowledged delta survives kill -9 of the relay and a restart of the
// database. The relay keeps nothing of its own on disk except its device key and card.
//
// Database outages: Start() does not wait for PostgreSQL. While the database cannot be used the
// relay says so (log, /healthz 503, grove_relay_database_up 0), closes peer connections with the
// reason, and retries every `db_retry_ms`; once it is back, the relay reloads its workspaces from
// the database and takes peers again. Peers meanwhile sync directly with each other.
//
// Quotas: stored delta bytes per workspace and per author device (0: no limit). A frame that
// would exceed either is refused whole, with the reason sent to the peer; nothing stored is ever
// dropped to make room.
//
// Thread-safety: every public method may be called from any thread except the event loop's.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "admin/relay_status.h"
#include "common/status.h"
#include "identity/identity.h"
#include "net/network.h"
#include "relay/admin_http.h"

namespace grove::logging {
class Logger;
}

namespace grove::relay {

struct RelayOptions {
  std::string data;  // the relay's device key (device.key) and card (relay.card)
  std::string name = "relay";
  net::Endpoint listen{"127.0.0.1", 7500};
  std::string db_url;
  int db_retry_ms = 1000;
  int db_connect_timeout_s = 5;
  size_t max_frame_bytes = 16 << 20;
  size_t batch_bytes = 1 << 20;
  uint64_t quota_workspace_bytes = 1ull << 30;  // 0: no limit
  uint64_t quota_device_bytes = 256ull << 20;   // 0: no limit
};

class Relay {
 public:
  // Loads the relay's device from options.data, creating it (and DATA/relay.card) on first start,
  // starts the network, and starts connecting to the database. IOError when the listen address
  // is taken; Corruption for a damaged device key.
  static Result<std::unique_ptr<Relay>> Start(const RelayOptions& options, logging::Logger& log);
  ~Relay();
  // Stops the network and the database threads. Idempotent.
  void Stop();

  net::Endpoint sync_address() const;
  // The relay's card ("grove-card:..."): peers pin the relay by it.
  std::string card() const;
  identity::DeviceId device() const;
  std::string MetricsText();
  Health health() const;
  // The relay's status and the peers it has seen (device, name, last seen, address, path), for
  // the admin console. Counts and peers are refreshed once a second by the event loop; at most
  // the 1000 most recently seen peers are kept.
  admin::RelayStatus status() const;

  // The organisation's side of managed mode (docs/decisions/0010-managed-mode.md), from the admin
  // console: `notices` gives every signed revocation and workspace policy; the relay sends them
  // all to each peer at hello and each new one to every connected peer within a second.
  // `revoked` names devices the relay refuses (and drops within a second). `stores` says whether
  // the workspace's policy lets this relay store it (a frame of a workspace it may not store is
  // refused with the reason). All are called on the relay's event loop and must be thread-safe
  // and quick (admin::Console answers from memory).
  struct OrgHooks {
    std::function<std::vector<std::string>()> notices;
    std::function<bool(const identity::DeviceId&)> revoked;
    std::function<bool(const Hash32& workspace)> stores;
  };
  void SetOrgHooks(OrgHooks hooks);

  class Impl;

 private:
  Relay() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace grove::relay
