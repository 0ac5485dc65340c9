#include "org/org_id.h"

#include "org/codec.h"

namespace grove::org {

OrgId OrgIdOf(const crypto::PublicKey& ca) { return crypto::Sha256(ca); }

std::string OrgIdText(const OrgId& id) { return Base32Encode(id); }

std::string OrgCardText(const crypto::PublicKey& ca) {
  return std::string(kOrgCardPrefix) + Base64UrlEncode(ca);
}

Result<crypto::PublicKey> ParseOrgCard(std::string_view text) {
  std::optional<Bytes> raw = internal::DecodeText(text, kOrgCardPrefix);
  if (!raw) return Corruption("not an org card: expected \"grove-org:\" and base64url");
  std::optional<Hash32> key = ToHash32(*raw);
  if (!key) return Corruption("not an org card: the key must be 32 bytes");
  return *key;
}

}  // namespace grove::org
