// Enrolment: the organisation CA's statement that a device belongs to the organisation (managed
// mode: peers accept only enrolled devices). It binds the org id, the device id, the device's card
// (as text, "grove-card:..."), the name IT gave the device, and when it was issued, under the CA's
// Ed25519 signature. Shared as text:
//
//   "grove-enrolment:" + base64url(body || signature)
//   body = "grove-enrolment-v1" (18 ASCII bytes) || org id (32) || device id (32)
//          || card text || name || issued_ms (u64 BE)
//
// where card text and name are each a u32 BE length then the bytes; the signature (64 bytes) is
// the CA's over the whole body, so the label keeps it from being mistaken for any other signed
// Grove message.
//
// Parse only decodes; Verify is what makes an enrolment trustworthy: the org id must be the
// expected CA's, the signature must be that CA's, and the card must decode, verify and be the
// device named. Callers that accept enrolments from anywhere use ParseAndVerifyEnrolment.
//
// Thread-safety: pure functions; an Enrolment is a plain value.
// Failure: SignEnrolment returns InvalidArgument naming the field ("card", "name"); parsing and
// verification return Corruption with the reason (never abort on any input).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "org/org_id.h"

namespace grove::org {

constexpr std::string_view kEnrolmentPrefix = "grove-enrolment:";
constexpr size_t kMaxCardTextBytes = 4096;

struct Enrolment {
  OrgId org{};
  identity::DeviceId device{};
  std::string card;  // "grove-card:..."
  std::string name;  // 1 to 128 bytes (identity::CheckName)
  uint64_t issued_ms = 0;
  crypto::Signature signature{};

  bool operator==(const Enrolment&) const = default;
};

// The bytes the CA signs (the body above).
Bytes EnrolmentBody(const Enrolment& enrolment);

// Enrols the device of `card_text` under `ca`. InvalidArgument (where "card") when the card does
// not parse or verify or is longer than kMaxCardTextBytes; (where "name") when identity::CheckName
// refuses the name.
Result<Enrolment> SignEnrolment(const crypto::SigningKey& ca, std::string_view card_text,
                                std::string name, uint64_t issued_ms);

std::string EncodeEnrolment(const Enrolment& enrolment);

// Decodes the text form (surrounding whitespace ignored). Corruption: "not an enrolment" for a
// wrong prefix or bad base64url, "enrolment is truncated or malformed" for a bad layout.
Result<Enrolment> ParseEnrolment(std::string_view text);

// Checks `enrolment` against the CA public key `ca`. Corruption: "enrolment is for organisation
// X, not Y" (another CA's), "enrolment signature does not verify", "enrolment card does not
// verify: ...", "enrolment card is of another device", "enrolment name ...".
Status VerifyEnrolment(const Enrolment& enrolment, const crypto::PublicKey& ca);

// ParseEnrolment then VerifyEnrolment.
Result<Enrolment> ParseAndVerifyEnrolment(std::string_view text, const crypto::PublicKey& ca);

}  // namespace grove::org
