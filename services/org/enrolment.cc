#include "org/enrolment.h"

#include "org/codec.h"

namespace grove::org {
namespace {

constexpr std::string_view kLabel = "grove-enrolment-v1";

}  // namespace

Bytes EnrolmentBody(const Enrolment& e) {
  Bytes out;
  internal::PutRaw(out, AsBytes(kLabel));
  internal::PutRaw(out, e.org);
  internal::PutRaw(out, e.device);
  internal::PutField(out, e.card);
  internal::PutField(out, e.name);
  internal::PutU64(out, e.issued_ms);
  return out;
}

Result<Enrolment> SignEnrolment(const crypto::SigningKey& ca, std::string_view card_text,
                                std::string name, uint64_t issued_ms) {
  if (card_text.size() > kMaxCardTextBytes) {
    return InvalidArgument("card is longer than " + std::to_string(kMaxCardTextBytes) + " bytes",
                           "card");
  }
  Result<identity::CardInfo> card = identity::ParseCardText(card_text);
  if (!card.ok()) return InvalidArgument("card: " + card.status().message(), "card");
  if (Status s = identity::CheckName(name); !s.ok()) {
    return InvalidArgument("name: " + s.message(), "name");
  }
  Enrolment e;
  e.org = OrgIdOf(ca.public_key());
  e.device = card->device;
  e.card = card->text();  // canonical: without the whitespace the caller may have pasted
  e.name = std::move(name);
  e.issued_ms = issued_ms;
  e.signature = ca.Sign(EnrolmentBody(e));
  return e;
}

std::string EncodeEnrolment(const Enrolment& e) {
  Bytes all = EnrolmentBody(e);
  internal::PutRaw(all, e.signature);
  return std::string(kEnrolmentPrefix) + Base64UrlEncode(all);
}

Result<Enrolment> ParseEnrolment(std::string_view text) {
  std::optional<Bytes> raw = internal::DecodeText(text, kEnrolmentPrefix);
  if (!raw) return Corruption("not an enrolment: expected \"grove-enrolment:\" and base64url");
  if (raw->size() < kLabel.size() + crypto::kSignatureSize ||
      AsChars(ByteView(*raw).first(kLabel.size())) != kLabel) {
    return Corruption("enrolment is truncated or malformed");
  }
  const ByteView body = ByteView(*raw).first(raw->size() - crypto::kSignatureSize);
  internal::Reader r(body.subspan(kLabel.size()));
  Enrolment e;
  auto org = r.Hash();
  auto device = r.Hash();
  auto card = r.Field(kMaxCardTextBytes);
  auto name = r.Field(identity::kMaxNameBytes);
  auto issued = r.U64();
  if (!r.Done()) return Corruption("enrolment is truncated or malformed");
  e.org = *org;
  e.device = *device;
  e.card = std::move(*card);
  e.name = std::move(*name);
  e.issued_ms = *issued;
  std::copy(raw->end() - crypto::kSignatureSize, raw->end(), e.signature.begin());
  return e;
}

Status VerifyEnrolment(const Enrolment& e, const crypto::PublicKey& ca) {
  const OrgId expected = OrgIdOf(ca);
  if (e.org != expected) {
    return Corruption("enrolment is for organisation " + OrgIdText(e.org) + ", not " +
                      OrgIdText(expected));
  }
  if (!crypto::Verify(ca, EnrolmentBody(e), e.signature)) {
    return Corruption("enrolment signature does not verify");
  }
  // Signed by our CA, so these hold unless the CA signed nonsense; checked all the same, since a
  // peer must never trust an enrolment more than the card inside it.
  Result<identity::CardInfo> card = identity::ParseCardText(e.card);
  if (!card.ok()) return Corruption("enrolment card does not verify: " + card.status().message());
  if (card->device != e.device) return Corruption("enrolment card is of another device");
  if (Status s = identity::CheckName(e.name); !s.ok()) {
    return Corruption("enrolment name: " + s.message());
  }
  return Status::Ok();
}

Result<Enrolment> ParseAndVerifyEnrolment(std::string_view text, const crypto::PublicKey& ca) {
  GROVE_ASSIGN_OR_RETURN(Enrolment e, ParseEnrolment(text));
  GROVE_RETURN_IF_ERROR(VerifyEnrolment(e, ca));
  return e;
}

}  // namespace grove::org
