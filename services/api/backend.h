// api::Backend — what the local HTTP API (and so the CLI and the web app) can ask of a peer.
//
// The HTTP layer (services/api) owns parsing, authentication, JSON and HTTP status codes; the
// peer (services/peer) implements this interface on its event loop. Every method may be called
// from any HTTP worker thread and blocks until the peer has answered; implementations make that
// safe (they post to the peer's single event loop and wait).
//
// Errors are Status values whose code chooses the HTTP status: InvalidArgument 400,
// PermissionDenied 403, NotFound 404, AlreadyExists and FailedPrecondition 409, Unavailable 503,
// anything else 500. Status::where() names the request field at fault ("fields.price").
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "replica/value.h"

namespace grove::api {

using replica::Value;

struct IdentityInfo {
  std::string device;  // device id text (52 base32 chars)
  std::string name;
  std::string card;  // "grove-card:..."
};

struct ConnectionInfo {
  std::string device;  // remote device id text, "" until known
  std::string name;
  std::string address;  // "127.0.0.1:7400" as observed
  bool outbound = false;
  uint64_t since_ms = 0;
  uint64_t bytes_in = 0, bytes_out = 0;
  std::string path = "direct";  // how it was made: direct, punched (NAT), spliced (via relay)
  bool relay = false;           // the remote is this peer's relay
};

struct MemberInfo {
  std::string device;
  std::string name;
  std::string role;  // owner, member, auditor, read-only
  // Whether this peer has a connection with the member's device now (this device itself: true),
  // and the path of that connection: "direct", "punched", "spliced" or "relay" (the member is
  // reached only through the relay's store-and-forward); "" when offline and for this device.
  bool online = false;
  std::string path = {};
};

struct WorkspaceInfo {
  std::string id;  // hex
  std::string name;
  std::vector<std::string> tools;
  std::string role;  // this device's role
  std::vector<MemberInfo> members;
  uint64_t records = 0;
  uint64_t deltas = 0;
  uint64_t pending = 0;  // local actions not yet sealed
};

// The relay this peer is configured with (docs/decisions/0009-relay.md), and what it holds.
struct RelayWorkspaceInfo {
  std::string workspace;     // hex id
  uint64_t held = 0;         // deltas this peer holds
  uint64_t acked = 0;        // of those, how many the relay acknowledged storing
  std::string refused = {};  // why the relay refused this workspace's deltas, "" if it did not
};
struct RelayInfo {
  std::string address;  // HOST:PORT
  std::string device;   // the relay's device id text (from its pinned card)
  bool connected = false;
  std::vector<RelayWorkspaceInfo> workspaces;  // while connected
};

// The audit log this device keeps, when it is an auditor device (services/auditor/auditor.h).
struct AuditInfo {
  bool ready = false;  // the log is open
  bool database_ok = false;
  std::string error = {};  // the last database error, when !database_ok
  uint64_t entries = 0;    // in the log
  uint64_t in_flight = 0;  // collected, not yet committed
  uint64_t head_size = 0;  // the newest signed tree head
  uint64_t head_timestamp_ms = 0;
};

// The organisation this device belongs to, in managed mode (decision 0010).
struct OrgInfo {
  std::string org;                   // the organisation id text
  std::string enrolled_as;           // the name IT enrolled this device under
  std::vector<std::string> revoked;  // device ids the organisation revoked, as this peer knows
  size_t policies = 0;               // workspace policies held
};

// The sync state a UI shows as a badge (see Peer for how it is measured).
struct SyncInfo {
  std::string state = "offline";             // "up_to_date" | "syncing" | "offline"
  uint64_t pending = 0;                      // deltas known to be missing on either side (see Peer)
  std::optional<uint64_t> offline_since_ms;  // when offline: since when (ms since the epoch)
};

struct StatusInfo {
  std::vector<ConnectionInfo> connections;
  std::optional<OrgInfo> org;      // in managed mode
  std::optional<RelayInfo> relay;  // when configured
  std::optional<AuditInfo> audit;  // when this is an auditor device
  std::vector<WorkspaceInfo> workspaces;
  SyncInfo sync;
  std::string listen;  // sync address
  uint64_t uptime_ms = 0;
};

struct Invitation {
  std::string workspace;  // hex id
  std::string name;
  std::string from;  // device id text of the member who added us
  std::string from_name;
  std::string role;
};

// Whether this device may run a transition on a record now; when not, the rule that refuses it.
struct TransitionAvailability {
  std::string name = {};
  bool allowed = false;
  std::string reason = {};  // the refusal's message, "" when allowed
  std::string code = {};    // "role" | "state" | "guard" | "rights" | "rule"; "" when allowed
};

// Members are initialized so designated initializers may leave them out.
struct RecordInfo {
  std::string id = {};  // record id text
  std::string type = {};
  std::string state = {};
  bool archived = false;
  std::map<std::string, Value> fields = {};
  std::map<std::string, std::vector<Value>> conflicts = {};
  std::map<std::string, std::vector<Value>> lists = {};
  std::vector<std::string> history = {};
  // Tool records only: computed fields, and keyed stock levels (field -> key -> level).
  std::map<std::string, Value> computed = {};
  std::map<std::string, std::map<std::string, int64_t>> keyed = {};
  // Filled by GetRecord for a tool record; list queries leave it empty.
  std::vector<TransitionAvailability> transitions = {};
};

// A tool's definitions as a UI needs them (docs/tools.md has the meaning of each part). Members
// are initialized so designated initializers may leave them out.
struct FieldInfo {
  std::string name = {};
  std::string title = {};
  std::string type = {};  // kind name: text, integer, money, date, time, flag, enum, reference, ...
  bool required = false;
  bool readonly = false;
  bool computed = false;
  std::vector<std::string> values = {};  // enum
  std::string to = {};                   // reference: target type
  std::string of = {};                   // list: item kind name
  std::string currency = {};             // money: fixed currency, "" = any
  bool keyed = false;                    // stock: one counter per key
  std::vector<std::string> editable_in = {};
};

struct TransitionInput {
  std::string name = {};  // a field of the record type
  bool required = false;
};

struct TransitionInfo {
  std::string name = {};
  std::string title = {};
  std::vector<std::string> from = {};  // {"*"} = any
  std::string to = {};
  std::vector<std::string> roles = {};
  std::string guard = {};    // expression text, "" = none
  std::string message = {};  // shown when the guard refuses
  std::vector<TransitionInput> inputs = {};
};

struct TypeInfo {
  std::string name = {};
  std::string title = {};
  std::vector<FieldInfo> fields = {};
  std::vector<std::string> states = {};
  std::string initial = {};
  std::vector<TransitionInfo> transitions = {};

  const FieldInfo* FindField(std::string_view field) const {
    for (const FieldInfo& f : fields) {
      if (f.name == field) return &f;
    }
    return nullptr;
  }
};

struct ToolInfo {
  std::string name = {};
  uint32_t version = 0;
  std::string title = {};
  std::string hash = {};  // hex SHA-256 of the canonical form
  std::vector<TypeInfo> types = {};
};

// What GET .../records asks: filters, then sort, then one page.
struct RecordQuery {
  std::string type;                                  // "" = all types
  std::string state;                                 // "" = any
  std::vector<std::pair<std::string, Value>> where;  // field == value, all of them
  std::string search;       // case-insensitive substring of any text field; "" = no filter
  std::string sort = "id";  // "id", "type", "state" or a field (nulls last, then by id)
  bool descending = false;
  size_t offset = 0;
  size_t limit = 100;
  bool include_archived = false;
  std::string due_before;  // YYYY-MM-DD: only records whose date field `due` is before it
};

struct RecordPage {
  std::vector<RecordInfo> records;
  uint64_t total = 0;  // records matching the filters, before paging
};

struct DigestInfo {
  std::string version;  // hex
  std::string state;    // hex
  uint64_t deltas = 0;
};

// A checkpoint of a workspace (docs/decisions/0011-checkpoints-settle-history.md): its state at
// a version, named by the SHA-256 of its canonical bytes.
struct CheckpointInfo {
  std::string id;                                         // hex
  std::vector<std::pair<std::string, uint64_t>> version;  // device id text, seq; by device
  uint64_t deltas = 0;                                    // under it: the sum of the version's seqs
  uint64_t bytes = 0;                                     // canonical size, before compression
  bool trusted = false;  // an owner's claim, or the quorum of members', names it
};

// Where a workspace's history stands on this peer.
struct HistoryInfo {
  std::optional<CheckpointInfo> barrier;  // the checkpoint its state is built on, if any
  std::string missing;  // hex id of a trusted checkpoint this peer needs and lacks; "" if none
  uint64_t deltas = 0;  // deltas made in the workspace as far as this peer knows, pruned or not
  bool prune = false;   // this peer prunes the history under a trusted checkpoint
};

// An attachment (docs/decisions/0005-attachments.md): `id` is the hex id of its manifest chunk,
// the value a record field of kind `attachment` holds.
struct AttachmentInfo {
  std::string id = {};
  uint64_t size = 0;  // plaintext bytes
  uint64_t chunks = 0;
  std::string name = {};
  std::string media_type = {};
};

// How much of an attachment this peer holds. Name, media type, size and chunks are known once
// the manifest is held.
struct AttachmentStatus {
  AttachmentInfo info = {};
  bool manifest = false;
  uint64_t chunks_held = 0;
  uint64_t bytes_held = 0;  // plaintext bytes of the chunks held (of info.size)
  // "complete" (every chunk held), "fetching" (asked of connected members) or "unavailable"
  // (missing, and no connected member left to ask).
  std::string state = {};
};

// One upload in progress, fed from one HTTP worker thread. Destroying it before Finish
// abandons it: chunks it stored that no other attachment uses are removed again.
class AttachmentUpload {
 public:
  virtual ~AttachmentUpload() = default;
  // InvalidArgument once the file passes the peer's size limit; IOError when storing fails.
  virtual grove::Status Write(std::string_view data) = 0;
  // Stores the manifest; the attachment is complete and durable when this returns OK.
  virtual Result<AttachmentInfo> Finish() = 0;
};

// One download in progress, read from one HTTP worker thread: the attachment's manifest (held
// here) and its chunks, in order, as they arrive. It holds at most one chunk at a time.
class AttachmentDownload {
 public:
  virtual ~AttachmentDownload() = default;
  virtual const AttachmentInfo& info() const = 0;
  // The plaintext of chunk `index` (< info().chunks), checked against its id and the manifest;
  // nullopt when it has not arrived within wait_ms (it is still being fetched, or no member is
  // connected now: one may reconnect). Corruption when the stored chunk does not verify;
  // FailedPrecondition when the workspace is gone; Unavailable when the peer stopped.
  virtual Result<std::optional<std::string>> ReadChunk(uint64_t index, int wait_ms) = 0;
};

// One change, for GET /api/v1/events (server-sent events). `kind` is "record" (id set),
// "workspace" (membership or name), "invitation", or "sync" (a connection came or went, or the
// sync state or its pending count changed: read GET /api/v1/status). (The stream adds "reset"
// itself, for events the client missed.)
struct Event {
  uint64_t seq = 0;  // 1, 2, 3, ... per peer process, without gaps
  std::string kind;
  std::string workspace;  // hex, "" when not about one
  std::string id;         // record id when kind == "record"
};

struct RecordPatch {
  std::map<std::string, Value> set;
  std::map<std::string, int64_t> add;
  std::map<std::string, Value> append;  // one item added to each list field
};

// The rule a refused transition names: "role" for PermissionDenied; for FailedPrecondition the
// message's prefix before ':' when it is "state", "guard" or "rights", else "rule"; "" for any
// other status.
inline std::string RefusalRule(const grove::Status& status) {
  if (status.code() == Code::kPermissionDenied) return "role";
  if (status.code() != Code::kFailedPrecondition) return "";
  const std::string& message = status.message();
  for (const char* rule : {"state", "guard", "rights"}) {
    if (message.starts_with(std::string(rule) + ":")) return rule;
  }
  return "rule";
}

class Backend {
 public:
  virtual ~Backend() = default;

  virtual IdentityInfo Identity() = 0;
  virtual StatusInfo Status() = 0;

  virtual Result<std::string> CreateWorkspace(const std::string& name,
                                              const std::vector<std::string>& tools) = 0;
  virtual std::vector<WorkspaceInfo> ListWorkspaces() = 0;
  virtual Result<WorkspaceInfo> GetWorkspace(const std::string& ws) = 0;
  // card: "grove-card:..." text; role: owner|member|auditor|read-only.
  virtual grove::Status AddMember(const std::string& ws, const std::string& card,
                                  const std::string& role) = 0;
  virtual grove::Status RemoveMember(const std::string& ws, const std::string& device) = 0;

  virtual std::vector<Invitation> Invitations() = 0;
  virtual grove::Status AcceptInvitation(const std::string& ws) = 0;

  // Values of a tool type's fields are as value_json.h reads them: a reference field may hold
  // record id text (the backend resolves it), a member field the device's 32 bytes.
  virtual Result<std::string> CreateRecord(const std::string& ws, const std::string& type,
                                           const std::map<std::string, Value>& fields) = 0;
  virtual grove::Status PatchRecord(const std::string& ws, const std::string& id,
                                    const RecordPatch& patch) = 0;
  virtual Result<RecordInfo> GetRecord(const std::string& ws, const std::string& id) = 0;
  // The records matching `q`, one page of them, and how many match in all.
  virtual Result<RecordPage> QueryRecords(const std::string& ws, const RecordQuery& q) = 0;
  // Runs transition `name` on record `id` with `fields` as its inputs. PermissionDenied when the
  // role rule refuses, FailedPrecondition for the state, guard or rights rule (the message names
  // the rule), InvalidArgument (where = "fields.NAME") for a bad input.
  virtual grove::Status RunTransition(const std::string& ws, const std::string& id,
                                      const std::string& name,
                                      const std::map<std::string, Value>& fields) = 0;
  // Escrow: moves `amount` of this device's rights on stock field `field` (`key` for a keyed
  // one; "" otherwise) of record `id` to device `to_device` (device id text).
  virtual grove::Status GrantRights(const std::string& ws, const std::string& id,
                                    const std::string& field, const std::string& key,
                                    const std::string& to_device, int64_t amount) = 0;
  // The tools of a workspace (empty for a free-form one), in the workspace's order.
  virtual Result<std::vector<ToolInfo>> ListTools(const std::string& ws) = 0;
  // Replaces one of the workspace's tools by a new version of it (docs/tools.md, "Upgrading a
  // tool"), an owner's action: `yaml` is the new version's file text (`file` names it in
  // diagnostics), or `builtin` names a tool shipped with this release. InvalidArgument (field
  // "yaml", each problem as FILE:LINE:COL on its own line) for a file that does not parse;
  // PermissionDenied ("role: ...") for a non-owner; FailedPrecondition ("upgrade: ...") for a
  // version that is not a compatible upgrade or a migration that fails.
  struct ToolSource {
    std::string builtin;
    std::string yaml;
    std::string file;
  };
  // Sealed-bid auctions (docs/decisions/0007-sealed-bids.md). PlaceSealedBid appends to lot
  // `id` a bid of `amount` that only the auctioneer (and this device) can open before the close;
  // refusals as for a transition. RevealSealedBids publishes the openings this device can make
  // (all for the auctioneer, its own for a bidder) and answers how many it published.
  virtual grove::Status PlaceSealedBid(const std::string& ws, const std::string& id,
                                       const replica::Money& amount) {
    (void)ws, (void)id, (void)amount;
    return grove::Status(Code::kUnavailable, "sealed bids are not supported here");
  }
  virtual Result<size_t> RevealSealedBids(const std::string& ws, const std::string& id) {
    (void)ws, (void)id;
    return grove::Status(Code::kUnavailable, "sealed bids are not supported here");
  }
  virtual grove::Status UpgradeTool(const std::string& ws, const ToolSource& source) {
    (void)ws, (void)source;
    return grove::Status(Code::kUnavailable, "tool upgrades are not supported here");
  }
  virtual Result<DigestInfo> Digest(const std::string& ws) = 0;

  // --- History (decision 0011). Defaults answer Unavailable, for backends without it.
  // Claims a checkpoint of the workspace at this peer's version now: trusted at once when this
  // device is an owner, else once another member claims the same. PermissionDenied for a
  // device that is not a member; FailedPrecondition while the state here is not final (a
  // content key or a trusted checkpoint still missing).
  virtual Result<CheckpointInfo> ClaimCheckpoint(const std::string& ws) {
    (void)ws;
    return grove::Status(Code::kUnavailable, "checkpoints are not supported here");
  }
  virtual Result<HistoryInfo> History(const std::string& ws) {
    (void)ws;
    return grove::Status(Code::kUnavailable, "checkpoints are not supported here");
  }

  // --- Attachments. Defaults answer Unavailable, for backends without them.
  // The largest attachment this peer stores, in bytes (the config's attachments.max_bytes).
  virtual uint64_t MaxAttachmentBytes() { return 0; }
  // Starts an upload into workspace `ws`. PermissionDenied for a read-only role.
  virtual Result<std::unique_ptr<AttachmentUpload>> BeginAttachment(const std::string& ws,
                                                                    const std::string& name,
                                                                    const std::string& media_type) {
    (void)ws, (void)name, (void)media_type;
    return grove::Status(Code::kUnavailable, "attachments are not supported here");
  }
  virtual Result<AttachmentStatus> GetAttachmentStatus(const std::string& ws,
                                                       const std::string& id) {
    (void)ws, (void)id;
    return grove::Status(Code::kUnavailable, "attachments are not supported here");
  }
  // Opens attachment `id` for reading, fetching what is missing from connected members: its
  // manifest first (waiting up to timeout_ms), then every data chunk not held here, asked for
  // in file order; returns once the first chunk is held (or the file is empty), so the caller
  // can stream while the rest arrives. Unavailable, saying how much is held, when no connected
  // member has the manifest or the first chunk (or time ran out); Corruption when the stored
  // manifest does not verify. What was asked for goes on arriving after the download ends.
  virtual Result<std::unique_ptr<AttachmentDownload>> OpenAttachment(const std::string& ws,
                                                                     const std::string& id,
                                                                     int timeout_ms) {
    (void)ws, (void)id, (void)timeout_ms;
    return grove::Status(Code::kUnavailable, "attachments are not supported here");
  }

  // The seq of the newest event so far (0 before the first): where a new stream starts.
  virtual uint64_t CurrentEventSeq() = 0;
  // Events with seq > after_seq that are still retained, oldest first (a first seq past
  // after_seq + 1 tells the stream that older ones were dropped); blocks up to timeout_ms
  // for the first one and returns an empty vector on timeout. The SSE stream loops on it.
  virtual std::vector<Event> WaitEvents(uint64_t after_seq, int timeout_ms) = 0;
};

}  // namespace grove::api
