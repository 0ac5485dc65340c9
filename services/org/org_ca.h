// OrgCa: the organisation CA, an Ed25519 key kept in the relay's data folder that signs
// enrolments and revocations (enrolment.h, revocation.h). The key never leaves the relay: only
// its public half is shared, as the org card (org_id.h).
//
// On disk, DIR/org-ca.key (mode 0600), a line-oriented UTF-8 text file:
//
//   grove-org-ca-key v1
//   created_ms: <decimal milliseconds since the Unix epoch>
//   sign_seed: <64 hex digits: the Ed25519 private seed>
//
// The first line comes first, the others in any order, each exactly once. The file is written to
// a temporary, fsynced and moved into place only if no key is there yet, so two relays starting
// at once in one folder end up with the same key, and a key is never overwritten.
//
// Ownership: an OrgCa owns its key (move-only; the seed is wiped when it is destroyed).
// Thread-safety: const methods may run on many threads at once; Load and LoadOrCreate touch only
// the named folder.
// Failure: NotFound when the folder has no key (Load); Corruption naming FILE:LINE for a malformed
// key file; IOError from the file system.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "crypto/crypto.h"
#include "org/enrolment.h"
#include "org/org_id.h"
#include "org/policy.h"
#include "org/revocation.h"

namespace grove::org {

constexpr std::string_view kOrgCaKeyFile = "org-ca.key";

class OrgCa {
 public:
  // Reads DIR/org-ca.key.
  static Result<OrgCa> Load(const std::string& dir);
  // Reads DIR/org-ca.key, or makes a key from `rng` (created_ms from `clock`) and writes it
  // there (creating DIR, mode 0700, if needed) when there is none.
  static Result<OrgCa> LoadOrCreate(const std::string& dir, Random& rng, Clock& clock);

  const crypto::PublicKey& public_key() const { return key_.public_key(); }
  OrgId org() const { return OrgIdOf(public_key()); }
  // "grove-org:..." for peers to pin.
  std::string card() const { return OrgCardText(public_key()); }
  uint64_t created_ms() const { return created_ms_; }

  // SignEnrolment / SignRevocation with this CA's key.
  Result<Enrolment> Enrol(std::string_view card_text, std::string name, uint64_t issued_ms) const;
  Result<Revocation> Revoke(const identity::DeviceId& device, uint64_t revoked_ms,
                            std::string reason, uint64_t serial) const;
  // SignPolicy (policy.h) with this CA's key.
  Result<Policy> Sign(Policy policy) const;

 private:
  OrgCa(crypto::SigningKey key, uint64_t created_ms)
      : key_(std::move(key)), created_ms_(created_ms) {}

  crypto::SigningKey key_;
  uint64_t created_ms_ = 0;
};

}  // namespace grove::org
