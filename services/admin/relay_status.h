// RelayStatus: what a relay tells its admin console about itself and the peers it has seen
// (GET /api/v1/admin/status). The relay fills it (relay::Relay::status()); the console adds what
// it reads from the database. Plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace grove::admin {

struct PeerSeen {
  std::string device;         // device id text (52 base32 characters)
  std::string name;           // from its hello ("" until known)
  uint64_t last_seen_ms = 0;  // Unix ms: now while connected, else when it was last connected
  std::string address;        // the address it connected from, host:port
  std::string path;           // "direct", "punched" or "spliced" (net::PathName)
  bool connected = false;
};

struct RelayStatus {
  std::string version;  // grove's version ("0.1.0")
  std::string device;   // the relay's device id
  std::string card;     // the relay's card
  uint64_t started_ms = 0;
  uint64_t now_ms = 0;
  bool database_ok = false;
  std::string database_error;  // when !database_ok
  double database_latency_seconds = 0;
  uint64_t connections = 0;     // peers connected (hello done)
  uint64_t workspaces = 0;      // workspaces the relay holds
  uint64_t stored_deltas = 0;   // deltas held, all workspaces
  std::vector<PeerSeen> peers;  // most recently seen first
};

}  // namespace grove::admin
