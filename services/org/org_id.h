// The organisation's identity as peers see it: the organisation CA's Ed25519 public key, shared as
// an org card ("grove-org:" + base64url of the 32-byte key) that peers in managed mode pin, and
// the org id derived from it (SHA-256 of the key), which every enrolment and revocation names.
//
// Thread-safety: pure functions of their arguments.
// Failure: ParseOrgCard returns Corruption with the reason; nothing else fails.
#pragma once

#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/crypto.h"

namespace grove::org {

using OrgId = Hash32;

constexpr std::string_view kOrgCardPrefix = "grove-org:";

// SHA-256 of the CA public key.
OrgId OrgIdOf(const crypto::PublicKey& ca);
// Lowercase unpadded base32, 52 characters (as device ids are written).
std::string OrgIdText(const OrgId& id);

// "grove-org:<base64url(ca)>".
std::string OrgCardText(const crypto::PublicKey& ca);
// The CA public key of an org card, ignoring surrounding whitespace. Corruption ("not an org
// card: ...") when the prefix is missing, the rest is not base64url, or it is not 32 bytes.
Result<crypto::PublicKey> ParseOrgCard(std::string_view text);

}  // namespace grove::org
