// Retention with legal hold for the compliance audit log (audit_log.h): Prune removes the content
// of a workspace's entries older than its retention period, except what a legal hold keeps;
// PlaceHold / ReleaseHold / ListHolds manage the holds (`grove audit prune`, `grove audit hold`).
//
// What pruning keeps: the row, with seq, kind, workspace, received_at and leaf_hash, marked
// pruned; device, user_name, op, record, field, old_value, new_value and delta_hash become empty
// and hlc 0. The Merkle tree is untouched (a pruned row is checked by its stored leaf hash:
// VerifyLog), so the log still verifies and signed heads and proofs of other entries stay valid.
// Admin entries are never pruned: they are the record of what was done to the log itself
// (holds, prunes, revocations), and a retention rule must not be able to erase its own trail.
//
// Every Prune that removes something, and every hold placed or released, is queued as an admin
// action (inbox.h: "audit.prune", "audit.hold.place", "audit.hold.release") in the same
// transaction, so the auditor's next DrainInbox puts it in the signed log.
//
// Holds and prunes serialise (Prune locks audit_holds against new holds while it runs): once
// PlaceHold returns, no prune removes what it holds.
//
// Ownership and threads: free functions; each call opens its own connection (applying missing
// migrations: they write), so calls may run on any threads at once. Failure: InvalidArgument
// naming the field for a bad argument (checked before connecting); NotFound for an unknown hold;
// FailedPrecondition for releasing a released hold; Unavailable / IOError / InvalidArgument("url")
// as AuditLog::Open.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace grove::audit {

struct Hold {
  uint64_t id = 0;  // assigned by PlaceHold
  Bytes workspace;
  std::optional<std::string> record;  // nullopt: the whole workspace
  std::string reason;                 // e.g. the matter or case number
  std::string placed_by;
  uint64_t placed_at_ms = 0;  // Unix ms
  std::optional<std::string> released_by;
  std::optional<uint64_t> released_at_ms;

  bool operator==(const Hold&) const = default;
};

// Places a hold from hold.workspace, record, reason, placed_by and placed_at_ms (the rest is
// ignored) and returns it with its id. InvalidArgument for an empty workspace, reason or
// placed_by, an empty record (give nullopt for the whole workspace), or text with a NUL byte.
Result<Hold> PlaceHold(std::string_view url, const Hold& hold);

// Releases hold `id`. NotFound when there is no such hold; FailedPrecondition when it is already
// released; InvalidArgument for an empty released_by.
Status ReleaseHold(std::string_view url, uint64_t id, std::string_view released_by,
                   uint64_t now_ms);

// The holds, by id: only active ones unless include_released; only `workspace`'s when given.
Result<std::vector<Hold>> ListHolds(std::string_view url, const std::optional<Bytes>& workspace,
                                    bool include_released);

constexpr uint32_t kMaxKeepDays = 100'000;

struct RetentionRule {
  Bytes workspace;
  uint32_t keep_days = 0;  // 1..kMaxKeepDays
};

struct PruneReport {
  uint64_t cutoff_ms = 0;  // entries received before this were due
  uint64_t pruned = 0;     // entries whose content this call removed
  uint64_t held = 0;       // due entries kept because a hold covers them
};

// Removes the content of rule.workspace's entries received before now_ms - keep_days (whole
// days of 86,400,000 ms), except admin entries, entries already pruned, and entries under an
// active hold on the workspace or on the entry's record. Idempotent: a second call with the same
// arguments prunes nothing. InvalidArgument for an empty workspace ("workspace") or keep_days
// outside 1..kMaxKeepDays ("keep_days").
Result<PruneReport> Prune(std::string_view url, const RetentionRule& rule, uint64_t now_ms);

}  // namespace grove::audit
