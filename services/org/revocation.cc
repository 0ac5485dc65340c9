#include "org/revocation.h"

#include "common/utf8.h"
#include "org/codec.h"

namespace grove::org {
namespace {

constexpr std::string_view kLabel = "grove-revocation-v1";

}  // namespace

Status CheckReason(std::string_view reason) {
  if (reason.size() > kMaxReasonBytes) {
    return InvalidArgument("reason is longer than " + std::to_string(kMaxReasonBytes) + " bytes",
                           "reason");
  }
  for (char c : reason) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t' && c != '\n') || u == 0x7f) {
      return InvalidArgument("reason must not contain control characters", "reason");
    }
  }
  if (SanitizeUtf8(reason) != reason) return InvalidArgument("reason must be UTF-8", "reason");
  return Status::Ok();
}

Bytes RevocationBody(const Revocation& r) {
  Bytes out;
  internal::PutRaw(out, AsBytes(kLabel));
  internal::PutRaw(out, r.org);
  internal::PutRaw(out, r.device);
  internal::PutU64(out, r.revoked_ms);
  internal::PutField(out, r.reason);
  internal::PutU64(out, r.serial);
  return out;
}

Result<Revocation> SignRevocation(const crypto::SigningKey& ca, const identity::DeviceId& device,
                                  uint64_t revoked_ms, std::string reason, uint64_t serial) {
  GROVE_RETURN_IF_ERROR(CheckReason(reason));
  Revocation r;
  r.org = OrgIdOf(ca.public_key());
  r.device = device;
  r.revoked_ms = revoked_ms;
  r.reason = std::move(reason);
  r.serial = serial;
  r.signature = ca.Sign(RevocationBody(r));
  return r;
}

std::string EncodeRevocation(const Revocation& r) {
  Bytes all = RevocationBody(r);
  internal::PutRaw(all, r.signature);
  return std::string(kRevocationPrefix) + Base64UrlEncode(all);
}

Result<Revocation> ParseRevocation(std::string_view text) {
  std::optional<Bytes> raw = internal::DecodeText(text, kRevocationPrefix);
  if (!raw) return Corruption("not a revocation: expected \"grove-revocation:\" and base64url");
  if (raw->size() < kLabel.size() + crypto::kSignatureSize ||
      AsChars(ByteView(*raw).first(kLabel.size())) != kLabel) {
    return Corruption("revocation is truncated or malformed");
  }
  const ByteView body = ByteView(*raw).first(raw->size() - crypto::kSignatureSize);
  internal::Reader reader(body.subspan(kLabel.size()));
  auto org = reader.Hash();
  auto device = reader.Hash();
  auto revoked = reader.U64();
  auto reason = reader.Field(kMaxReasonBytes);
  auto serial = reader.U64();
  if (!reader.Done()) return Corruption("revocation is truncated or malformed");
  Revocation r;
  r.org = *org;
  r.device = *device;
  r.revoked_ms = *revoked;
  r.reason = std::move(*reason);
  r.serial = *serial;
  std::copy(raw->end() - crypto::kSignatureSize, raw->end(), r.signature.begin());
  return r;
}

Status VerifyRevocation(const Revocation& r, const crypto::PublicKey& ca) {
  const OrgId expected = OrgIdOf(ca);
  if (r.org != expected) {
    return Corruption("revocation is for organisation " + OrgIdText(r.org) + ", not " +
                      OrgIdText(expected));
  }
  if (!crypto::Verify(ca, RevocationBody(r), r.signature)) {
    return Corruption("revocation signature does not verify");
  }
  if (Status s = CheckReason(r.reason); !s.ok()) {
    return Corruption("revocation reason: " + s.message());
  }
  return Status::Ok();
}

Result<Revocation> ParseAndVerifyRevocation(std::string_view text, const crypto::PublicKey& ca) {
  GROVE_ASSIGN_OR_RETURN(Revocation r, ParseRevocation(text));
  GROVE_RETURN_IF_ERROR(VerifyRevocation(r, ca));
  return r;
}

}  // namespace grove::org
