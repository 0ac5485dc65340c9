// A device's identity: its keys, its device id and its card, and how they are kept on disk.
//
// Device id = SHA-256(sign_key || agree_key), shown as 52 characters of lowercase base32. A card
// (grove.wire.v1.Card) is the self-signed public half, shared as "grove-card:" + base64url(Card);
// others add a device to a workspace by its card. DecodeCard is the single gate for card bytes from
// anywhere (pasted text, a peer's op): it returns only cards that verify.
//
// On disk, a device's data folder holds (both mode 0600, the folder 0700 when Save creates it):
//
//   device.key   the secret keys, a line-oriented UTF-8 text file:
//                    grove-device-key v1
//                    name: <device name, exactly as in the card>
//                    created_ms: <decimal milliseconds since the Unix epoch>
//                    sign_seed: <64 hex digits: the Ed25519 private seed>
//                    agree_secret: <64 hex digits: the X25519 private scalar>
//                The first line comes first; the others in any order, each exactly once; blank
//                lines are ignored. The card is not stored: Ed25519 signatures are deterministic,
//                so Load rebuilds the same card bytes from these fields.
//   api-token    32 random bytes as base64url and a newline: the bearer token of the local HTTP
//                API. Not a device secret; it may be replaced without changing the identity.
//
// Errors: InvalidArgument for a bad name; Corruption for card bytes that do not decode or verify
// and for a malformed device.key (`where` is "FILE:LINE"); NotFound when a folder has no device;
// AlreadyExists when Save would overwrite one; IOError from the file system.
//
// Thread-safety: all functions are pure or touch only the named folder. An Identity is immutable
// and may be shared read-only between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "crypto/crypto.h"

namespace grove::identity {

using DeviceId = Hash32;

constexpr uint32_t kCardFormat = 1;
constexpr size_t kMaxNameBytes = 128;
constexpr std::string_view kCardPrefix = "grove-card:";
constexpr std::string_view kDeviceKeyFile = "device.key";
constexpr std::string_view kApiTokenFile = "api-token";

DeviceId DeviceIdOf(const crypto::PublicKey& sign_key, const crypto::PublicKey& agree_key);
// Lowercase unpadded base32, 52 characters.
std::string DeviceIdText(const DeviceId& id);
// Accepts exactly what DeviceIdText produces (upper case too); nullopt for anything else.
std::optional<DeviceId> ParseDeviceId(std::string_view text);

// A card that decoded and verified.
struct CardInfo {
  std::string name;
  crypto::PublicKey sign_key{};
  crypto::PublicKey agree_key{};
  uint64_t created_ms = 0;
  DeviceId device{};
  Bytes encoded;  // the serialized grove.wire.v1.Card, exactly the bytes that were decoded

  // "grove-card:" + base64url(encoded)
  std::string text() const;
};

// Checks a name against the card's rules: 1 to 128 bytes of UTF-8 without control characters (a
// name is printed on terminals and stored on one line of device.key). InvalidArgument naming the
// rule otherwise.
Status CheckName(std::string_view name);

// Decodes and verifies a serialized Card: it must parse, have format 1, 32-byte keys, a valid name
// (CheckName) and a signature by its own sign_key over its body. Corruption with a reason ("card
// signature does not verify", "card sign_key must be 32 bytes", ...) and the field in `where`.
Result<CardInfo> DecodeCard(ByteView encoded);

// Parses "grove-card:<base64url>", ignoring surrounding whitespace, then DecodeCard.
Result<CardInfo> ParseCardText(std::string_view text);

// A device's own keys and card. Move-only: it owns the secret keys.
class Identity {
 public:
  // New keys from `rng`, created_ms from `clock`. InvalidArgument when CheckName fails.
  static Result<Identity> Create(std::string name, Random& rng, Clock& clock);

  // Writes `dir`/device.key and `dir`/api-token (a fresh token from `rng`), creating `dir` (mode
  // 0700) if needed. Each file is written to a temporary, fsynced, then renamed into place.
  // AlreadyExists, naming the file, if `dir`/device.key exists: a device is never overwritten,
  // and then nothing is written. IOError on file-system failure.
  Status Save(const std::string& dir, Random& rng) const;

  // Reads `dir`/device.key. NotFound when it does not exist; Corruption naming FILE:LINE when it
  // is malformed; IOError when it cannot be read.
  static Result<Identity> Load(const std::string& dir);

  const std::string& name() const { return card_.name; }
  const DeviceId& device() const { return card_.device; }
  const CardInfo& card() const { return card_; }
  const crypto::SigningKey& signing_key() const { return sign_; }
  const crypto::AgreementKey& agreement_key() const { return agree_; }

 private:
  Identity(crypto::SigningKey sign, crypto::AgreementKey agree, CardInfo card)
      : sign_(std::move(sign)), agree_(std::move(agree)), card_(std::move(card)) {}

  // Builds and self-verifies the card for these keys.
  static Result<Identity> FromKeys(std::string name, uint64_t created_ms, crypto::SigningKey sign,
                                   crypto::AgreementKey agree);

  crypto::SigningKey sign_;
  crypto::AgreementKey agree_;
  CardInfo card_;
};

// The local HTTP API token from `dir`/api-token (without the newline). NotFound when missing;
// Corruption when it is not 32 bytes of base64url; IOError when it cannot be read.
Result<std::string> ReadApiToken(const std::string& dir);

}  // namespace grove::identity
