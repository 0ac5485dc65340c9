// Revocation: the organisation CA's signed statement that a device no longer belongs to the
// organisation. Every peer of the organisation applies it (removing the device from the
// organisation's workspaces with a new epoch); the serial orders revocations and lets a peer see
// whether it has missed one. Shared as text:
//
//   "grove-revocation:" + base64url(body || signature)
//   body = "grove-revocation-v1" (19 ASCII bytes) || org id (32) || device id (32)
//          || revoked_ms (u64 BE) || reason || serial (u64 BE)
//
// with the reason a u32 BE length then its UTF-8 bytes, and the signature (64 bytes) the CA's
// Ed25519 signature over the whole body.
//
// Thread-safety: pure functions; a Revocation is a plain value.
// Failure: SignRevocation returns InvalidArgument (where "reason"); parsing and verification
// return Corruption with the reason (never abort on any input).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "org/org_id.h"

namespace grove::org {

constexpr std::string_view kRevocationPrefix = "grove-revocation:";
constexpr size_t kMaxReasonBytes = 1024;

struct Revocation {
  OrgId org{};
  identity::DeviceId device{};
  uint64_t revoked_ms = 0;
  std::string reason;  // may be empty
  uint64_t serial = 0;
  crypto::Signature signature{};

  bool operator==(const Revocation&) const = default;
};

// A reason a revocation may carry: at most kMaxReasonBytes of UTF-8 without control characters
// other than tab and newline. InvalidArgument (where "reason") otherwise.
Status CheckReason(std::string_view reason);

Bytes RevocationBody(const Revocation& revocation);

// Signs a revocation of `device` under `ca`. InvalidArgument when CheckReason fails.
Result<Revocation> SignRevocation(const crypto::SigningKey& ca, const identity::DeviceId& device,
                                  uint64_t revoked_ms, std::string reason, uint64_t serial);

std::string EncodeRevocation(const Revocation& revocation);

// Decodes the text form (surrounding whitespace ignored). Corruption: "not a revocation" for a
// wrong prefix or bad base64url, "revocation is truncated or malformed" for a bad layout.
Result<Revocation> ParseRevocation(std::string_view text);

// Corruption: "revocation is for organisation X, not Y", "revocation signature does not verify",
// "revocation reason ..." (a reason CheckReason refuses).
Status VerifyRevocation(const Revocation& revocation, const crypto::PublicKey& ca);

// ParseRevocation then VerifyRevocation.
Result<Revocation> ParseAndVerifyRevocation(std::string_view text, const crypto::PublicKey& ca);

}  // namespace grove::org
