// peer::ManagedMode — a peer that belongs to an organisation (docs/decisions/0010-managed-mode.md).
//
// Configured with the organisation's card (org.card: "grove-org:...", which pins the CA's key) and
// this device's enrolment (org.enrolment: "grove-enrolment:...", which IT issues in the admin
// console), a peer
//   - says hello with its enrolment, and talks only to devices whose hello carries an enrolment
//     by the same CA for the same device and which are not revoked (its pinned relay excepted:
//     the relay is pinned by its own card);
//   - takes the CA's revocations from any connection (the relay sends them all at hello; peers
//     pass on what is new to them), keeps them in DATA/revocations, and applies each: it drops
//     the revoked device's connections and refuses it from then on, and in every workspace this
//     device owns, removes it with a new epoch (replica::Workspace::RemoveMember), so it gets no
//     key for anything written afterwards;
//   - takes the CA's signed workspace policies the same way (org/policy.h; kept in DATA/policies,
//     the newest per workspace wins): in a workspace this device owns whose policy is audited,
//     it adds the named auditor device with the auditor role; and it stores a workspace's
//     deltas only on the relays its policy allows;
//   - invites only enrolled devices: by their enrolment text rather than a bare card.
//
// Ownership: Open returns an owning pointer. Thread-safety: none (the peer's event loop).
// Failure: Open returns InvalidArgument naming the config key for a card or enrolment that does
// not parse or verify, or an enrolment of another device; IOError when DATA/revocations cannot
// be read or written. Bad notices are never an error: they are skipped and reported.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "identity/identity.h"
#include "org/enrolment.h"
#include "org/policy.h"
#include "org/revocation.h"

namespace grove::peer {

class ManagedMode {
 public:
  static Result<std::unique_ptr<ManagedMode>> Open(std::string_view org_card,
                                                   std::string_view enrolment,
                                                   const identity::Identity& me,
                                                   const std::string& data_dir);

  const org::OrgId& org() const { return org_; }
  const org::Enrolment& enrolment() const { return enrolment_; }
  // This device's enrolment text, for hello.
  const std::string& credential() const { return credential_; }

  // Whether to talk to the device of `card` that said hello with `credential`.
  // PermissionDenied naming the device and why otherwise.
  Status Admit(const identity::CardInfo& card, const std::string& credential, bool relay) const;

  // What Take kept that was new.
  struct Taken {
    std::vector<org::Revocation> revocations;
    std::vector<org::Policy> policies;
  };
  // Verifies `items`, keeps the revocations and policies of this organisation that are new (a
  // device not revoked yet; a policy newer than the one held for its workspace), written to
  // DATA/revocations and DATA/policies before this returns, and returns them. Items that are
  // neither, are of another organisation, or do not verify, are skipped and described in
  // `skipped`.
  Result<Taken> Take(const std::vector<std::string>& items, std::vector<std::string>& skipped);

  bool Revoked(const identity::DeviceId& device) const { return revoked_.count(device) > 0; }
  const std::vector<org::Revocation>& revocations() const { return revocations_; }
  // Every revocation and policy held, as text, for a new connection.
  std::vector<std::string> NoticeTexts() const;
  // The newest policy held for `workspace`, or nullptr.
  const org::Policy* PolicyFor(const Hash32& workspace) const;
  const std::map<Hash32, org::Policy>& policies() const { return policies_; }

  // The card to invite from `text`: an enrolment by this organisation's CA (its card), never a
  // bare card, and never a revoked device. FailedPrecondition saying what to give instead.
  Result<identity::CardInfo> CardToInvite(std::string_view text) const;

 private:
  ManagedMode() = default;

  crypto::PublicKey ca_{};
  org::OrgId org_{};
  org::Enrolment enrolment_;
  std::string credential_;
  std::string path_;           // DATA/revocations
  std::string policies_path_;  // DATA/policies
  std::vector<org::Revocation> revocations_;
  std::set<identity::DeviceId> revoked_;
  std::map<Hash32, org::Policy> policies_;
};

}  // namespace grove::peer
