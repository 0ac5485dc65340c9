#include "peer/managed_mode.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/file_io.h"
#include "org/org_id.h"

namespace grove::peer {
namespace {

constexpr std::string_view kRevocationsFile = "revocations";
constexpr std::string_view kPoliciesFile = "policies";

// The non-empty lines of `path`; none when it does not exist.
Result<std::vector<std::string>> ReadLines(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return std::vector<std::string>{};
    return IOError("cannot read " + path + ": " + std::strerror(errno));
  }
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace

Result<std::unique_ptr<ManagedMode>> ManagedMode::Open(std::string_view org_card,
                                                       std::string_view enrolment,
                                                       const identity::Identity& me,
                                                       const std::string& data_dir) {
  std::unique_ptr<ManagedMode> m(new ManagedMode());
  Result<crypto::PublicKey> ca = org::ParseOrgCard(org_card);
  if (!ca.ok()) return InvalidArgument(ca.status().message(), "org.card");
  m->ca_ = *ca;
  m->org_ = org::OrgIdOf(*ca);
  if (enrolment.empty()) {
    return InvalidArgument(
        "managed mode needs this device's enrolment: IT enrols the device's card in the admin "
        "console and gives back a grove-enrolment:... text",
        "org.enrolment");
  }
  Result<org::Enrolment> own = org::ParseAndVerifyEnrolment(enrolment, *ca);
  if (!own.ok()) return InvalidArgument(own.status().message(), "org.enrolment");
  if (own->device != me.device()) {
    return InvalidArgument("the enrolment is for device " + identity::DeviceIdText(own->device) +
                               ", not this one (" + identity::DeviceIdText(me.device()) + ")",
                           "org.enrolment");
  }
  m->enrolment_ = std::move(own).value();
  m->credential_ = org::EncodeEnrolment(m->enrolment_);
  m->path_ = data_dir + "/" + std::string(kRevocationsFile);

  m->policies_path_ = data_dir + "/" + std::string(kPoliciesFile);
  // Every line was verified before it was written; a line that no longer verifies (edited by
  // hand, a partial last line after a crash) is dropped, and the relay sends it again.
  GROVE_ASSIGN_OR_RETURN(std::vector<std::string> revocations, ReadLines(m->path_));
  for (const std::string& text : revocations) {
    Result<org::Revocation> r = org::ParseAndVerifyRevocation(text, m->ca_);
    if (!r.ok() || m->revoked_.count(r->device)) continue;
    m->revoked_.insert(r->device);
    m->revocations_.push_back(std::move(r).value());
  }
  GROVE_ASSIGN_OR_RETURN(std::vector<std::string> policies, ReadLines(m->policies_path_));
  for (const std::string& text : policies) {
    Result<org::Policy> p = org::ParseAndVerifyPolicy(text, m->ca_);
    if (!p.ok()) continue;
    auto held = m->policies_.find(p->workspace);
    if (held == m->policies_.end() || held->second.issued_ms < p->issued_ms) {
      m->policies_[p->workspace] = std::move(p).value();
    }
  }
  return m;
}

Status ManagedMode::Admit(const identity::CardInfo& card, const std::string& credential,
                          bool relay) const {
  const std::string who = card.name + " (" + identity::DeviceIdText(card.device) + ")";
  if (revoked_.count(card.device)) {
    return PermissionDenied("device " + who + " was revoked by the organisation");
  }
  if (relay) return Status::Ok();
  if (credential.empty()) {
    return PermissionDenied("device " + who + " is not enrolled in organisation " +
                            org::OrgIdText(org_) + " (its hello carries no enrolment)");
  }
  Result<org::Enrolment> e = org::ParseAndVerifyEnrolment(credential, ca_);
  if (!e.ok()) {
    return PermissionDenied("device " + who + " is not enrolled in organisation " +
                            org::OrgIdText(org_) + ": " + e.status().message());
  }
  if (e->device != card.device) {
    return PermissionDenied("device " + who + " presented the enrolment of another device");
  }
  return Status::Ok();
}

Result<ManagedMode::Taken> ManagedMode::Take(const std::vector<std::string>& items,
                                             std::vector<std::string>& skipped) {
  Taken fresh;
  std::map<Hash32, org::Policy> newest;  // per workspace, among the new policies of this batch
  std::string revocation_lines, policy_lines;
  for (const std::string& item : items) {
    if (item.starts_with(org::kPolicyPrefix)) {
      Result<org::Policy> p = org::ParseAndVerifyPolicy(item, ca_);
      if (!p.ok()) {
        skipped.push_back(p.status().message());
        continue;
      }
      const org::Policy* held = PolicyFor(p->workspace);
      auto [in_batch, first] = newest.try_emplace(p->workspace, *p);
      if (held && held->issued_ms >= p->issued_ms) {
        if (first) newest.erase(in_batch);
      } else if (!first && in_batch->second.issued_ms < p->issued_ms) {
        in_batch->second = *p;
      }
      continue;
    }
    if (!item.starts_with(org::kRevocationPrefix)) {
      skipped.push_back("not a revocation or policy: " + item.substr(0, 32));
      continue;
    }
    Result<org::Revocation> r = org::ParseAndVerifyRevocation(item, ca_);
    if (!r.ok()) {
      skipped.push_back(r.status().message());
      continue;
    }
    if (revoked_.count(r->device) ||
        std::any_of(fresh.revocations.begin(), fresh.revocations.end(),
                    [&](const org::Revocation& f) { return f.device == r->device; })) {
      continue;  // one revocation per device is enough
    }
    revocation_lines += org::EncodeRevocation(*r) + "\n";
    fresh.revocations.push_back(std::move(r).value());
  }
  for (auto& [ws, p] : newest) {
    policy_lines += org::EncodePolicy(p) + "\n";
    fresh.policies.push_back(std::move(p));
  }
  if (!revocation_lines.empty()) GROVE_RETURN_IF_ERROR(AppendDurably(path_, revocation_lines));
  if (!policy_lines.empty()) GROVE_RETURN_IF_ERROR(AppendDurably(policies_path_, policy_lines));
  for (const org::Revocation& r : fresh.revocations) {
    revoked_.insert(r.device);
    revocations_.push_back(r);
  }
  for (const org::Policy& p : fresh.policies) policies_[p.workspace] = p;
  return fresh;
}

const org::Policy* ManagedMode::PolicyFor(const Hash32& workspace) const {
  auto it = policies_.find(workspace);
  return it == policies_.end() ? nullptr : &it->second;
}

std::vector<std::string> ManagedMode::NoticeTexts() const {
  std::vector<std::string> out;
  for (const org::Revocation& r : revocations_) out.push_back(org::EncodeRevocation(r));
  for (const auto& [ws, p] : policies_) out.push_back(org::EncodePolicy(p));
  return out;
}

Result<identity::CardInfo> ManagedMode::CardToInvite(std::string_view text) const {
  std::string_view trimmed = text;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front()))) {
    trimmed.remove_prefix(1);
  }
  if (!trimmed.starts_with(org::kEnrolmentPrefix)) {
    return FailedPrecondition(
        "this peer is in managed mode: invite a device by its enrolment (grove-enrolment:..., "
        "which IT issues in the admin console), not by its card",
        "card");
  }
  Result<org::Enrolment> e = org::ParseAndVerifyEnrolment(trimmed, ca_);
  if (!e.ok()) return FailedPrecondition(e.status().message(), "card");
  if (revoked_.count(e->device)) {
    return FailedPrecondition(
        "device " + identity::DeviceIdText(e->device) + " was revoked by the organisation", "card");
  }
  Result<identity::CardInfo> card = identity::ParseCardText(e->card);
  if (!card.ok()) return FailedPrecondition(card.status().message(), "card");
  return card;
}

}  // namespace grove::peer
