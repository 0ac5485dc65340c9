// PeerConfig: the peer's configuration, read from a YAML file (`grove-peer --config FILE`) and
// adjusted by command-line flags, which win over the file. docs/configuration.md documents every
// key; deploy/peer.example.yaml shows them all.
//
//   data: /var/lib/grove          # required
//   listen: 0.0.0.0:7400          # HOST:PORT, "[v6]:PORT" for IPv6 (quoted: [ starts a YAML list)
//   api: 127.0.0.1:7401           # or api: { address: 127.0.0.1:7401, web_dir: /src/web/dist }
//   connect: [ "10.0.0.5:7400" ]
//   log: { level: info, format: json }
//   sync: { seal_delay_ms: 200, max_frame_bytes: 16777216, batch_bytes: 1048576,
//           reconnect_min_ms: 500, reconnect_max_ms: 30000 }
//   store: { sync_full: false }
//   attachments: { max_bytes: 17179869184 }   # 16 GiB; at most 100 GiB
//   relay: { address: "relay.example.org:7500", card: "grove-card:..." }   # both, or neither
//   audit: { db: "postgresql://grove@db/audit", head_interval_s: 60 }      # an auditor device
//   org: { card: "grove-org:...", enrolment: "grove-enrolment:..." }       # managed mode
//   history: { checkpoint_every: 10000, prune: true, prune_wait: 7d, keep_full: false }
//
// Parsing is strict, and every error is an InvalidArgument whose where() is "FILE:LINE:COL"
// (1-based) of the offending key or value: an unknown key (the message names the known ones), a
// key given twice, a value of the wrong type ("sync.seal_delay_ms must be a non-negative integer,
// got 'soon'"; numbers and booleans must not be quoted; booleans are true or false), a number out
// of range, a HOST:PORT that does not parse, a value out of step with another one
// (reconnect_min_ms above reconnect_max_ms, batch_bytes above max_frame_bytes, relay.address
// without relay.card or the reverse; an empty string for both means no relay), or malformed YAML
// (yaml-cpp's message and position). A missing `data` key is an InvalidArgument whose where() is
// the file name. LoadPeerConfig returns NotFound naming the path when the file does not exist,
// IOError when it cannot be read, and InvalidArgument when it is larger than 1 MiB. No exception
// escapes these functions (an unexpected one from yaml-cpp becomes Internal).
//
// Values keep the text they were given (addresses are checked, not rewritten), so the caller
// parses addresses with its own endpoint type. relay.card is checked only for its shape (one line
// starting with "grove-card:"); the peer decodes and verifies it.
//
// Thread safety: the functions are pure (LoadPeerConfig reads the file); a PeerConfig is a plain
// value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace grove::config {

// The largest attachments.max_bytes: the largest file one attachment manifest can list
// (attachments::kMaxFileBytes, 100 GiB; grove-peer checks the two agree).
constexpr uint64_t kMaxAttachmentBytes = 100ull << 30;

struct PeerConfig {
  std::string data;                       // data folder: device.key, api-token, store.db
  std::string listen = "127.0.0.1:7400";  // sync address (TLS), HOST:PORT
  std::string api = "127.0.0.1:7401";     // local HTTP API, HOST:PORT (also api.address)
  // api.web_dir: serve the web app's files from this folder, read at each request, instead of
  // the ones built into grove-peer (front-end development). "": the built-in ones.
  std::string api_web_dir;
  std::vector<std::string> connect;     // peers to dial at start, HOST:PORT each, no repeats
  std::string log_level = "info";       // debug | info | warn | error
  std::string log_format = "json";      // json (the only format for now)
  uint32_t seal_delay_ms = 200;         // local actions sealed into a delta after at most this
  uint64_t max_frame_bytes = 16 << 20;  // largest frame sent or accepted, 1..4294967295
  uint64_t batch_bytes = 1 << 20;       // deltas per sync batch, 1..max_frame_bytes
  uint32_t reconnect_min_ms = 500;      // first redial delay, doubling up to reconnect_max_ms
  uint32_t reconnect_max_ms = 30000;
  bool discover = true;          // dial fellow members whose addresses peers share
  bool store_sync_full = false;  // fsync every commit (survives power loss, slower)
  // Largest attachment stored, 1..kMaxAttachmentBytes (16 GiB by default).
  uint64_t attachment_max_bytes = 16ull << 30;
  std::string relay_address;  // relay.address: a grove-relay's sync address, HOST:PORT; "": none
  std::string relay_card;     // relay.card: its card text ("grove-card:..."), which pins its key
  // audit.db: the compliance audit log's PostgreSQL (libpq URI or key=value); "": this device
  // does not keep the log (docs/audit.md). audit.head_interval_s: how often it signs a tree head.
  std::string audit_db;
  uint32_t audit_head_interval_s = 60;
  // Managed mode (docs/decisions/0010-managed-mode.md): org.card pins the organisation CA
  // ("grove-org:..."), org.enrolment is this device's enrolment ("grove-enrolment:..."). Both,
  // or neither.
  std::string org_card;
  std::string org_enrolment;
  // History (docs/decisions/0011-checkpoints-settle-history.md). history.checkpoint_every: the
  // deltas since the checkpoint in force after which the peer of an owner claims a new one by
  // itself (0: never by itself). history.prune: delete the deltas under a trusted checkpoint
  // once the members active within history.prune_wait acknowledged it. history.keep_full: keep
  // the whole history and never prune (an archive), whatever history.prune says.
  uint64_t history_checkpoint_every = 10000;
  bool history_prune = true;
  uint64_t history_prune_wait_ms = 7ull * 24 * 3600 * 1000;
  bool history_keep_full = false;

  bool operator==(const PeerConfig&) const = default;
};

// Parses `yaml`, naming `file_name` in error positions. Keys not in the text keep their defaults.
Result<PeerConfig> ParsePeerConfig(std::string_view yaml, std::string_view file_name);

// Reads and parses the file at `path`.
Result<PeerConfig> LoadPeerConfig(const std::string& path);

// Applies one command-line flag (`key` without the leading "--"): "data", "listen", "api",
// "connect", or any key of the file by its dotted name ("log.level", "sync.seal_delay_ms",
// "store.sync_full", "relay.address", "audit.db"). The value is checked as in the file. "connect"
// adds one peer to the list (one given twice is kept once); to make the command line's peers
// replace the file's, clear `config.connect` before the first one. InvalidArgument (where "--KEY")
// for an unknown key or a bad value. Cross-key rules are not checked here: call ValidatePeerConfig
// after the last flag.
Status ApplyOverride(PeerConfig& config, std::string_view key, std::string_view value);

// The rules that span keys, plus the required data folder. InvalidArgument whose where() is the
// key to blame ("relay.card" when relay.address is set without it).
// Also resolves defaults that depend on other keys (batch_bytes follows a smaller
// max_frame_bytes when left at its default).
Status ValidatePeerConfig(PeerConfig& config);

// Every key of the file by dotted name ("data", ..., "log.level", "sync.seal_delay_ms", ...), in
// documentation order.
const std::vector<std::string>& PeerConfigKeys();

// Checks "HOST:PORT" or "[IPV6]:PORT" (port 1..65535; a host name, IPv4 or IPv6 address). OK or
// InvalidArgument saying what is wrong (where() empty).
Status CheckHostPort(std::string_view text);

}  // namespace grove::config
