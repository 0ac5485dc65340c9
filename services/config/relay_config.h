// RelayConfig: the configuration of grove-relay, read from a YAML file (`grove-relay --config
// FILE`) and adjusted by command-line flags, which win over the file. docs/configuration.md
// ("Relay (grove-relay)") documents every key; deploy/relay.example.yaml shows them all.
//
//   data: /var/lib/grove-relay      # required: the relay's device key and card
//   name: relay
//   listen: 0.0.0.0:7500            # sync address (TLS) peers dial
//   admin: 127.0.0.1:7501           # HTTP: /metrics, /healthz
//   db: "postgresql://grove@db.internal/grove"   # required: libpq URI or keyword string
//   log: { level: info, format: json }
//   sync: { max_frame_bytes: 16777216, batch_bytes: 1048576 }
//   database: { retry_ms: 1000, connect_timeout_s: 5 }
//   quotas: { workspace_bytes: 1073741824, device_bytes: 268435456 }   # 0: no limit
//   console:                        # the admin console's API on the admin address
//     session_idle_s: 28800         # a session ends this long after its last use (8 h) ...
//     session_max_s: 86400          # ... or this long after login (24 h), whichever is first
//     lockout_failures: 5           # consecutive failed logins that lock an account ...
//     lockout_s: 900                # ... for this long (15 min)
//     argon2_passes: 3              # argon2id cost of password hashes: passes (1..16),
//     argon2_memory_kib: 65536      # memory in KiB (8 per lane .. 4194304), and
//     argon2_lanes: 1               # lanes (1..16)
//     auditor_card: ""              # the auditor's card: audit/verify checks heads against it
//     secure_cookie: false          # mark the session cookie Secure (console behind HTTPS)
//
// Parsing is as strict as the peer's (peer_config.h), with the same error forms: InvalidArgument
// whose where() is "FILE:LINE:COL" for an unknown key (with a suggestion), a key given twice, a
// value of the wrong type or out of range, a bad HOST:PORT, sync.batch_bytes above
// sync.max_frame_bytes, malformed YAML; "missing required key 'data'" / "... 'db'" with where() the
// file name; console.argon2_memory_kib below 8 KiB per lane. LoadRelayConfig: NotFound, IOError, or
// InvalidArgument over 1 MiB. No exception escapes.
//
// console.auditor_card is checked for its shape only (one line starting with "grove-card:"); the
// relay decodes it at start and refuses to start when it does not verify.
//
// `db` is checked for its shape only (a postgresql:// or postgres:// URI, or libpq keyword=value
// pairs); whether it connects is the relay's business. No error message repeats a db value, since
// it may hold a password; use RedactDbUrl to show one.
//
// Thread safety: the functions are pure (LoadRelayConfig reads the file); a RelayConfig is a plain
// value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace grove::config {

struct RelayConfig {
  std::string data;                       // required: the relay's device key and card
  std::string name = "relay";             // the device's name, used when its key is first made
  std::string listen = "127.0.0.1:7500";  // sync address (TLS) peers dial
  std::string admin = "127.0.0.1:7501";   // HTTP: /metrics, /healthz, /api/v1/admin/
  std::string db;                         // required: PostgreSQL URL (libpq URI or keyword string)
  std::string log_level = "info";         // debug | info | warn | error
  std::string log_format = "json";        // json (the only format for now)
  uint64_t max_frame_bytes = 16 << 20;    // sync.max_frame_bytes, 1..4294967295
  uint64_t batch_bytes = 1 << 20;         // sync.batch_bytes, 1..max_frame_bytes
  uint32_t db_retry_ms = 1000;            // database.retry_ms: wait between attempts to reach it
  uint32_t db_connect_timeout_s = 5;      // database.connect_timeout_s, 1..86400
  // Stored delta bytes per workspace (quotas.workspace_bytes) and per author device
  // (quotas.device_bytes); 0: no limit.
  uint64_t quota_workspace_bytes = 1ull << 30;
  uint64_t quota_device_bytes = 256ull << 20;
  // console.*: the admin console (docs/admin-api.md).
  uint32_t session_idle_s = 8 * 3600;  // console.session_idle_s, 60..31536000
  uint32_t session_max_s = 24 * 3600;  // console.session_max_s, 60..31536000
  uint32_t lockout_failures = 5;       // console.lockout_failures, 1..1000
  uint32_t lockout_s = 15 * 60;        // console.lockout_s, 1..31536000
  uint32_t argon2_passes = 3;          // console.argon2_passes, 1..16
  uint32_t argon2_memory_kib = 65536;  // console.argon2_memory_kib, 8*lanes..4194304
  uint32_t argon2_lanes = 1;           // console.argon2_lanes, 1..16
  std::string auditor_card;            // console.auditor_card: "" or "grove-card:..."
  bool secure_cookie = false;          // console.secure_cookie

  bool operator==(const RelayConfig&) const = default;
};

// Parses `yaml`, naming `file_name` in error positions. Keys not in the text keep their defaults;
// `data` and `db` must be in the text.
Result<RelayConfig> ParseRelayConfig(std::string_view yaml, std::string_view file_name);

// Reads and parses the file at `path`.
Result<RelayConfig> LoadRelayConfig(const std::string& path);

// Applies one command-line flag by its dotted key: "data", "name", "listen", "admin", "db",
// "log.level", "log.format", "sync.*", "database.*", "quotas.*", "console.*". The value is checked
// as in the file; InvalidArgument (where "--KEY") for an unknown key or a bad value, which leaves
// `config` as it was. Call ValidateRelayConfig after the last flag.
Status ApplyRelayOverride(RelayConfig& config, std::string_view key, std::string_view value);

// The required keys (data, db) and the rules that span keys (sync.batch_bytes at most
// sync.max_frame_bytes; left at its default, batch_bytes follows a smaller max_frame_bytes;
// console.argon2_memory_kib at least 8 per console.argon2_lanes).
// InvalidArgument whose where() is the key to blame.
Status ValidateRelayConfig(RelayConfig& config);

// Every key of the file by dotted name, in documentation order.
const std::vector<std::string>& RelayConfigKeys();

// `db` with its password replaced by ***, for logs and messages: the password of a URI's user
// info ("postgresql://grove:***@db/grove"), and the value of every parameter (in a URI's query or
// a keyword string) that is not a known harmless one such as host, port, dbname, user or sslmode:
// "host=db password=***", and "pasword=***" too. Text that does not parse is hidden from the point
// where it stops parsing ("host=db ***"), so a malformed value shows no secret either.
std::string RedactDbUrl(std::string_view db);

}  // namespace grove::config
