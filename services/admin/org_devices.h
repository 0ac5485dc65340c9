// OrgDevices: the organisation's devices as the admin console manages them. The organisation CA
// (org::OrgCa, DATA/org-ca.key, made on first use) enrols a device by signing its card and
// revokes it with a signed revocation; both are kept in PostgreSQL (org_devices) and handed to
// peers as text ("grove-enrolment:...", "grove-revocation:...").
//
// Several relays may share one database, and then must share one CA: the first relay to use the
// CA records its public key (org_ca); a relay whose org-ca.key differs, or that has none while
// the database names one, refuses to sign (FailedPrecondition saying to copy org-ca.key).
//
// A revoked device stays revoked: it cannot be enrolled again (its device id is burnt; the device
// makes a new key). Revocation serials come from one database sequence, so they increase across
// relays.
//
// The relay and peer side read through Revocations(), State() and EnrolmentOf(), which never
// touch the database: the cache is loaded by Reload() and updated by this process's Enrol and
// Revoke. What another relay sharing the database did is seen after the next Reload().
//
// Ownership: borrows the AdminDb, the clock and the random source (used under a lock), which must
// outlive it.
// Thread-safety: every method may be called from any thread at once.
// Failure: InvalidArgument naming the field ("card", "name", "reason"); NotFound for a device
// never enrolled (Revoke); AlreadyExists for a device enrolled already; FailedPrecondition for a
// revoked device, and for a CA key that does not match the database's; IOError/Corruption from
// the CA key file; database errors as AdminDb's.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_db.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "identity/identity.h"
#include "org/org_ca.h"
#include "org/policy.h"

namespace grove::admin {

struct DeviceRecord {
  identity::DeviceId device{};
  std::string name;
  std::string card;
  std::string enrolment;  // "grove-enrolment:..."
  uint64_t enrolled_ms = 0;
  std::string enrolled_by;
  bool revoked = false;
  uint64_t revoked_ms = 0;  // when revoked
  std::string revoked_by;
  std::string reason;
  uint64_t serial = 0;
  std::string revocation;  // "grove-revocation:..."
};

enum class DeviceState { kUnknown, kEnrolled, kRevoked };

class OrgDevices {
 public:
  // `data`: the relay's data folder, where org-ca.key is kept.
  OrgDevices(AdminDb& db, Clock& clock, Random& rng, std::string data);

  // The org card ("grove-org:..."), making the CA key on first use.
  Result<std::string> OrgCard();
  // Enrols the device of `card` under `name` (the card's own name when nullopt).
  Result<DeviceRecord> Enrol(std::string_view card, std::optional<std::string> name,
                             const std::string& actor);
  // Revokes an enrolled device with a signed revocation.
  Result<DeviceRecord> Revoke(const identity::DeviceId& device, std::string reason,
                              const std::string& actor);
  // Every device ever enrolled, enrolled first then revoked, each by name.
  Result<std::vector<DeviceRecord>> List();

  // From memory: every signed revocation, by serial.
  std::vector<std::string> Revocations() const;
  DeviceState State(const identity::DeviceId& device) const;
  // The device's enrolment text while it is enrolled and not revoked.
  std::optional<std::string> EnrolmentOf(const identity::DeviceId& device) const;
  // The CA's public key once the CA has been used (or Reload found it in the database).
  std::optional<crypto::PublicKey> CaKey() const;
  // Replaces the cache with the database's devices and CA key, and loads the CA's key file when
  // the database names a CA (so that SignPolicy works after a restart).
  Status Reload();
  // `policy` signed by the CA, as text; nullopt until the CA's key is loaded. Never touches the
  // database or the disk.
  std::optional<std::string> SignPolicy(org::Policy policy);

 private:
  Result<const org::OrgCa*> Ca();
  void Remember(const DeviceRecord& record);

  AdminDb& db_;
  Clock& clock_;
  const std::string data_;

  std::mutex ca_mu_;
  Random& rng_;                     // guarded by ca_mu_
  std::unique_ptr<org::OrgCa> ca_;  // guarded by ca_mu_; set once

  mutable std::shared_mutex mu_;
  std::map<identity::DeviceId, DeviceRecord> cache_;  // guarded by mu_
  std::optional<crypto::PublicKey> ca_key_;           // guarded by mu_
};

}  // namespace grove::admin
