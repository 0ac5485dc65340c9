#include "org/policy.h"

#include <algorithm>

#include "org/codec.h"

namespace grove::org {
namespace {

constexpr std::string_view kLabel = "grove-policy-v1";
constexpr size_t kMaxCardText = 4096;

}  // namespace

bool Policy::AllowsRelay(const identity::DeviceId& relay) const {
  return allowed_relays.empty() ||
         std::find(allowed_relays.begin(), allowed_relays.end(), relay) != allowed_relays.end();
}

Bytes PolicyBody(const Policy& p) {
  Bytes out;
  internal::PutRaw(out, AsBytes(kLabel));
  internal::PutRaw(out, p.org);
  internal::PutRaw(out, p.workspace);
  internal::PutU64(out, p.audited ? 1 : 0);
  internal::PutField(out, p.auditor_card);
  internal::PutU64(out, p.allowed_relays.size());
  for (const identity::DeviceId& relay : p.allowed_relays) internal::PutRaw(out, relay);
  internal::PutU64(out, p.issued_ms);
  return out;
}

Result<Policy> SignPolicy(const crypto::SigningKey& ca, Policy p) {
  if (!p.auditor_card.empty()) {
    if (p.auditor_card.size() > kMaxCardText) {
      return InvalidArgument("the auditor card is too long", "auditor_card");
    }
    Result<identity::CardInfo> card = identity::ParseCardText(p.auditor_card);
    if (!card.ok()) return InvalidArgument(card.status().message(), "auditor_card");
  }
  if (p.allowed_relays.size() > kMaxPolicyRelays) {
    return InvalidArgument("at most " + std::to_string(kMaxPolicyRelays) + " relays",
                           "allowed_relays");
  }
  p.org = OrgIdOf(ca.public_key());
  p.signature = ca.Sign(PolicyBody(p));
  return p;
}

std::string EncodePolicy(const Policy& p) {
  Bytes all = PolicyBody(p);
  internal::PutRaw(all, p.signature);
  return std::string(kPolicyPrefix) + Base64UrlEncode(all);
}

Result<Policy> ParsePolicy(std::string_view text) {
  std::optional<Bytes> raw = internal::DecodeText(text, kPolicyPrefix);
  if (!raw) return Corruption("not a policy: expected \"grove-policy:\" and base64url");
  if (raw->size() < kLabel.size() + crypto::kSignatureSize ||
      AsChars(ByteView(*raw).first(kLabel.size())) != kLabel) {
    return Corruption("policy is truncated or malformed");
  }
  const ByteView body = ByteView(*raw).first(raw->size() - crypto::kSignatureSize);
  internal::Reader reader(body.subspan(kLabel.size()));
  Policy p;
  auto org = reader.Hash();
  auto workspace = reader.Hash();
  auto audited = reader.U64();
  auto card = reader.Field(kMaxCardText);
  auto count = reader.U64();
  if (!org || !workspace || !audited || *audited > 1 || !card || !count ||
      *count > kMaxPolicyRelays) {
    return Corruption("policy is truncated or malformed");
  }
  for (uint64_t i = 0; i < *count; ++i) {
    auto relay = reader.Hash();
    if (!relay) return Corruption("policy is truncated or malformed");
    p.allowed_relays.push_back(*relay);
  }
  auto issued = reader.U64();
  if (!issued || !reader.Done()) return Corruption("policy is truncated or malformed");
  p.org = *org;
  p.workspace = *workspace;
  p.audited = *audited == 1;
  p.auditor_card = std::move(*card);
  p.issued_ms = *issued;
  std::copy(raw->end() - crypto::kSignatureSize, raw->end(), p.signature.begin());
  return p;
}

Status VerifyPolicy(const Policy& p, const crypto::PublicKey& ca) {
  const OrgId expected = OrgIdOf(ca);
  if (p.org != expected) {
    return Corruption("policy is for organisation " + OrgIdText(p.org) + ", not " +
                      OrgIdText(expected));
  }
  if (!crypto::Verify(ca, PolicyBody(p), p.signature)) {
    return Corruption("policy signature does not verify");
  }
  if (!p.auditor_card.empty()) {
    Result<identity::CardInfo> card = identity::ParseCardText(p.auditor_card);
    if (!card.ok())
      return Corruption("policy auditor card does not verify: " + card.status().message());
  }
  return Status::Ok();
}

Result<Policy> ParseAndVerifyPolicy(std::string_view text, const crypto::PublicKey& ca) {
  GROVE_ASSIGN_OR_RETURN(Policy p, ParsePolicy(text));
  GROVE_RETURN_IF_ERROR(VerifyPolicy(p, ca));
  return p;
}

}  // namespace grove::org
