// Membership and content keys of a workspace, evaluated from its plain (signed, unencrypted) ops.
//
// Ops are applied in one canonical total order, (HLC, author id, seq, op index), which extends
// causality; each counts only if its author's role allows it at that point. SetMember and
// RemoveMember carry a cut-off: they govern the target's deltas with seq > cut-off
// (docs/decisions/0001-validity-and-membership.md). Internal to the replica; not thread-safe.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "common/status.h"
#include "grove/v1/wire.pb.h"
#include "identity/identity.h"
#include "replica/records.h"
#include "replica/replica.h"

namespace grove::replica {

using KeyId = std::array<uint8_t, 16>;

// One plain op, checked for form and with its card (if any) verified.
struct PlainOp {
  enum class Kind { kGenesis, kSetMember, kRemoveMember, kRotateKey, kShareKey, kClaim } kind;
  uint32_t target = 0;  // SetMember, RemoveMember, Genesis: local device index
  std::optional<identity::CardInfo> card;
  Role role = Role::kNone;
  uint64_t cutoff = 0;
  KeyId key{};
  std::vector<std::pair<uint32_t, Bytes>> boxes;  // (recipient, sealed key)
  // Claim: a checkpoint's id and version (by device index, seq), sorted by device id.
  Hash32 checkpoint{};
  std::vector<std::pair<uint32_t, uint64_t>> version;
};

// Checks one wire op; InvalidArgument naming the problem. Interns devices it names.
Result<PlainOp> ParsePlainOp(const wire::v1::PlainOp& op, Causality& devices);

struct PlainEntry {
  Stamp stamp;  // (delta hlc, author, seq, op index)
  const PlainOp* op = nullptr;
  // From the checkpoint in force: settled there, so it counts whatever comes later (decision
  // 0011); only ops that counted at the checkpoint are pinned.
  bool pinned = false;
};

struct Grant {
  uint64_t cutoff = 0;
  Role role = Role::kNone;
  Stamp by;  // the op that made it
};

struct MemberInfo {
  identity::CardInfo card;
  std::vector<Grant> grants;  // in canonical order
};

struct KeyInfo {
  Stamp introduced;
  std::set<uint32_t> recipients;
};

class Membership {
 public:
  // Re-evaluates from scratch. `excluded(dev, seq)` names deltas whose ops must not count;
  // pinned entries always count.
  // `less` is the canonical stamp order.
  void Evaluate(std::vector<PlainEntry> entries,
                const std::function<bool(uint32_t, uint64_t)>& excluded,
                const std::function<bool(const Stamp&, const Stamp&)>& less);

  // The role that governs `dev`'s delta number `seq`.
  Role RoleFor(uint32_t dev, uint64_t seq) const;
  Role CurrentRole(uint32_t dev) const { return RoleFor(dev, UINT64_MAX); }
  // Deltas with an op whose author lacked the role for it.
  const std::set<std::pair<uint32_t, uint64_t>>& refused() const { return refused_; }
  const std::map<uint32_t, MemberInfo>& members() const { return members_; }
  const std::map<KeyId, KeyInfo>& keys() const { return keys_; }

 private:
  std::map<uint32_t, MemberInfo> members_;
  std::map<KeyId, KeyInfo> keys_;
  std::set<std::pair<uint32_t, uint64_t>> refused_;
};

}  // namespace grove::replica
