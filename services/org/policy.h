// Policy: the organisation CA's signed statement of what peers must do for one workspace
// (docs/decisions/0010-managed-mode.md): whether it is audited, and by which auditor device, and
// which relays its deltas may be stored on. The admin console signs one whenever an admin sets a
// workspace's policy; relays pass it to peers with the revocations, and managed peers apply the
// newest they hold per workspace. Shared as text:
//
//   "grove-policy:" + base64url(body || signature)
//   body = "grove-policy-v1" (15 ASCII bytes) || org id (32) || workspace (32)
//          || audited (u64 BE, 0 or 1) || auditor card text || relay count (u64 BE)
//          || relay device ids (32 each) || issued_ms (u64 BE)
//
// with the auditor card a u32 BE length then its text ("" when none), and the signature the
// CA's Ed25519 signature (64 bytes) over the whole body.
//
// Thread-safety: pure functions; a Policy is a plain value.
// Failure: SignPolicy returns InvalidArgument naming the field; parsing and verification return
// Corruption with the reason (never abort on any input).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "org/org_id.h"

namespace grove::org {

constexpr std::string_view kPolicyPrefix = "grove-policy:";
constexpr size_t kMaxPolicyRelays = 64;

struct Policy {
  OrgId org{};
  Hash32 workspace{};
  bool audited = false;
  std::string auditor_card;  // "grove-card:..." of the auditor device; "" when none is named
  std::vector<identity::DeviceId> allowed_relays;  // empty: any relay
  uint64_t issued_ms = 0;                          // the newest statement per workspace wins
  crypto::Signature signature{};

  bool operator==(const Policy&) const = default;
  // Whether members may store this workspace's deltas on `relay`.
  bool AllowsRelay(const identity::DeviceId& relay) const;
};

Bytes PolicyBody(const Policy& policy);

// Signs `policy` (its org and signature are set here). InvalidArgument (where "auditor_card")
// for a card that does not parse or verify, (where "allowed_relays") for more than
// kMaxPolicyRelays.
Result<Policy> SignPolicy(const crypto::SigningKey& ca, Policy policy);

std::string EncodePolicy(const Policy& policy);
Result<Policy> ParsePolicy(std::string_view text);
// Corruption: "policy is for organisation X, not Y", "policy signature does not verify",
// "policy auditor card does not verify: ...".
Status VerifyPolicy(const Policy& policy, const crypto::PublicKey& ca);
Result<Policy> ParseAndVerifyPolicy(std::string_view text, const crypto::PublicKey& ca);

}  // namespace grove::org
