// Policies: what the organisation requires of each workspace, set by IT in the admin console and
// kept in PostgreSQL (admin_policies): whether it is audited, how long its audit entries are kept
// (retention_days; none: forever), whether a legal hold stops any deletion, and which relays its
// members may use (allowed_relays: relay cards or device ids; empty: any relay). A workspace
// without a stored policy has the defaults (not audited, kept forever, no hold, any relay).
//
// The JSON form (GET/PUT /api/v1/admin/policies/{workspace}) is
//   {"audited": bool, "retention_days": int|null, "legal_hold": bool,
//    "allowed_relays": ["grove-card:..." | "<device id>", ...]}
// and a PUT must give all four members (so that leaving one out never lifts a legal hold).
//
// The relay and peer side read policies through Cached(), which never touches the database: the
// cache is loaded by Reload() and updated by every Set() of this process. Policies set by another
// relay sharing the database are seen after the next Reload().
//
// Ownership: borrows the AdminDb and the clock, which must outlive it.
// Thread-safety: every method may be called from any thread at once.
// Failure: InvalidArgument naming the field ("audited", "retention_days", "allowed_relays[2]",
// "workspace"); database errors as AdminDb's.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_db.h"
#include "api/json.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "identity/identity.h"

namespace grove::admin {

constexpr uint32_t kMaxRetentionDays = 36500;  // a hundred years
constexpr size_t kMaxAllowedRelays = 64;

struct WorkspacePolicy {
  Hash32 workspace{};
  bool audited = false;
  std::optional<uint32_t> retention_days;  // nullopt: kept forever
  bool legal_hold = false;
  // Relay cards ("grove-card:...", as canonical text) or device ids (lower case); empty: any.
  std::vector<std::string> allowed_relays;
  bool stored = false;      // false: the defaults (no policy was ever set)
  uint64_t updated_ms = 0;  // when stored
  std::string updated_by;   // who set it ("admin:alice")

  // The device ids of allowed_relays, in order.
  std::vector<identity::DeviceId> AllowedRelayDevices() const;
  // Whether members may use the relay `device` (always when allowed_relays is empty).
  bool AllowsRelay(const identity::DeviceId& device) const;
};

// 64 hex digits (either case). InvalidArgument (where "workspace") otherwise.
Result<Hash32> ParseWorkspaceId(std::string_view text);

// The policy a PUT body describes for `workspace`. InvalidArgument naming the member at fault:
// not an object, a missing or unknown member, a value of the wrong type or out of range, an
// allowed relay that is neither a valid card nor a device id, or one named twice.
Result<WorkspacePolicy> ParsePolicy(const api::Json& body, const Hash32& workspace);
// {"workspace", "audited", "retention_days", "legal_hold", "allowed_relays", "stored",
//  "updated_ms", "updated_by"}.
api::Json PolicyJson(const WorkspacePolicy& policy);

class Policies {
 public:
  Policies(AdminDb& db, Clock& clock) : db_(db), clock_(clock) {}

  // Stores `policy` (replacing the workspace's), queueing "policy.set" (with the previous policy)
  // for the audit log in the same transaction.
  Status Set(const WorkspacePolicy& policy, const std::string& actor);
  // The workspace's policy from the database (the defaults when none is stored).
  Result<WorkspacePolicy> Get(const Hash32& workspace);
  // Every stored policy, by workspace.
  Result<std::vector<WorkspacePolicy>> List();

  // From memory: the stored policy, or nullopt when none is known (the defaults apply).
  std::optional<WorkspacePolicy> Cached(const Hash32& workspace) const;
  // Every stored policy, from memory.
  std::vector<WorkspacePolicy> AllCached() const;
  // Replaces the cache with the database's policies.
  Status Reload();

 private:
  AdminDb& db_;
  Clock& clock_;
  mutable std::shared_mutex mu_;
  std::map<Hash32, WorkspacePolicy> cache_;  // guarded by mu_
};

}  // namespace grove::admin
