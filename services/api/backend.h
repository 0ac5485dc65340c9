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
#include <optional>
#include <string>
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
};

struct MemberInfo {
  std::string device;
  std::string name;
  std::string role;  // owner, member, auditor, read-only
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

struct StatusInfo {
  std::vector<ConnectionInfo> connections;
  std::vector<WorkspaceInfo> workspaces;
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

struct RecordInfo {
  std::string id;  // record id text
  std::string type;
  std::string state;
  bool archived = false;
  std::map<std::string, Value> fields;
  std::map<std::string, std::vector<Value>> conflicts;
  std::map<std::string, std::vector<Value>> lists;
  std::vector<std::string> history;
};

struct DigestInfo {
  std::string version;  // hex
  std::string state;    // hex
  uint64_t deltas = 0;
};

// One change, for GET /api/v1/events (server-sent events). `kind` is "record" (id set),
// "workspace" (membership or name), "invitation", or "sync" (connections, progress).
struct Event {
  uint64_t seq = 0;  // increasing per peer process
  std::string kind;
  std::string workspace;  // hex, "" when not about one
  std::string id;         // record id when kind == "record"
};

struct RecordPatch {
  std::map<std::string, Value> set;
  std::map<std::string, int64_t> add;
};

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

  virtual Result<std::string> CreateRecord(const std::string& ws, const std::string& type,
                                           const std::map<std::string, Value>& fields) = 0;
  virtual grove::Status PatchRecord(const std::string& ws, const std::string& id,
                                    const RecordPatch& patch) = 0;
  virtual Result<RecordInfo> GetRecord(const std::string& ws, const std::string& id) = 0;
  // Records of a type ("" = all), ordered by id.
  virtual Result<std::vector<RecordInfo>> ListRecords(const std::string& ws,
                                                      const std::string& type) = 0;
  virtual Result<DigestInfo> Digest(const std::string& ws) = 0;

  // The seq of the newest event so far (0 before the first): where a new stream starts.
  virtual uint64_t CurrentEventSeq() = 0;
  // Events with seq > after_seq that are still retained, oldest first; blocks up to timeout_ms
  // for the first one and returns an empty vector on timeout. The SSE stream loops on it.
  virtual std::vector<Event> WaitEvents(uint64_t after_seq, int timeout_ms) = 0;
};

}  // namespace grove::api
