#include <climits>
#include <cstring>

#include "crypto/crypto.h"
#include "grove/v1/wire.pb.h"
#include "identity/identity.h"

namespace grove::identity {
namespace {

constexpr size_t kDeviceIdTextSize = 52;

// Decodes one UTF-8 sequence at `pos`, advancing it; -1 for malformed, overlong or surrogate input.
int32_t NextCodePoint(std::string_view s, size_t& pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t lead = byte(pos);
  if (lead < 0x80) return s[pos++];
  size_t extra;
  int32_t cp, min;
  if ((lead & 0xe0) == 0xc0) {
    extra = 1, cp = lead & 0x1f, min = 0x80;
  } else if ((lead & 0xf0) == 0xe0) {
    extra = 2, cp = lead & 0x0f, min = 0x800;
  } else if ((lead & 0xf8) == 0xf0) {
    extra = 3, cp = lead & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (pos + extra >= s.size()) return -1;
  for (size_t i = 1; i <= extra; ++i) {
    if ((byte(pos + i) & 0xc0) != 0x80) return -1;
    cp = (cp << 6) | (byte(pos + i) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
  pos += extra + 1;
  return cp;
}

// C0 and C1 controls and DEL: a name with them could rewrite a terminal (CSI is U+009B).
bool IsControl(int32_t cp) { return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f); }

}  // namespace

DeviceId DeviceIdOf(const crypto::PublicKey& sign_key, const crypto::PublicKey& agree_key) {
  std::array<uint8_t, 64> both;
  std::memcpy(both.data(), sign_key.data(), sign_key.size());
  std::memcpy(both.data() + sign_key.size(), agree_key.data(), agree_key.size());
  return crypto::Sha256(both);
}

std::string DeviceIdText(const DeviceId& id) { return Base32Encode(id); }

std::optional<DeviceId> ParseDeviceId(std::string_view text) {
  if (text.size() != kDeviceIdTextSize) return std::nullopt;
  std::optional<Bytes> bytes = Base32Decode(text);
  if (!bytes) return std::nullopt;
  return ToHash32(*bytes);
}

std::string CardInfo::text() const { return std::string(kCardPrefix) + Base64UrlEncode(encoded); }

Status CheckName(std::string_view name) {
  if (name.empty()) return InvalidArgument("name must not be empty", "name");
  if (name.size() > kMaxNameBytes) {
    return InvalidArgument("name must be at most 128 bytes, not " + std::to_string(name.size()),
                           "name");
  }
  for (size_t pos = 0; pos < name.size();) {
    const int32_t cp = NextCodePoint(name, pos);
    if (cp < 0) return InvalidArgument("name must be valid UTF-8", "name");
    if (IsControl(cp)) return InvalidArgument("name must not contain control characters", "name");
  }
  return Status::Ok();
}

Result<CardInfo> DecodeCard(ByteView encoded) {
  wire::v1::Card card;
  wire::v1::CardBody body;
  if (encoded.size() > INT_MAX || !card.ParseFromArray(encoded.data(), encoded.size())) {
    return Corruption("card does not decode", "card");
  }
  if (!body.ParseFromString(card.body())) return Corruption("card body does not decode", "card");
  if (body.format() != kCardFormat) {
    return Corruption("card format " + std::to_string(body.format()) + " is not supported (want " +
                          std::to_string(kCardFormat) + ")",
                      "card.format");
  }
  std::optional<Hash32> sign_key = ToHash32(AsBytes(body.sign_key()));
  if (!sign_key) return Corruption("card sign_key must be 32 bytes", "card.sign_key");
  std::optional<Hash32> agree_key = ToHash32(AsBytes(body.agree_key()));
  if (!agree_key) return Corruption("card agree_key must be 32 bytes", "card.agree_key");
  if (Status name = CheckName(body.name()); !name.ok()) {
    return Corruption("card " + name.message(), "card.name");
  }
  if (!crypto::Verify(*sign_key, AsBytes(card.body()), AsBytes(card.signature()))) {
    return Corruption("card signature does not verify", "card.signature");
  }
  CardInfo info;
  info.name = std::move(*body.mutable_name());
  info.sign_key = *sign_key;
  info.agree_key = *agree_key;
  info.created_ms = body.created_ms();
  info.device = DeviceIdOf(info.sign_key, info.agree_key);
  info.encoded.assign(encoded.begin(), encoded.end());
  return info;
}

Result<CardInfo> ParseCardText(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t first = text.find_first_not_of(kSpace);
  text = first == std::string_view::npos ? std::string_view{} : text.substr(first);
  text = text.substr(0, text.find_last_not_of(kSpace) + 1);
  if (!text.starts_with(kCardPrefix)) {
    return InvalidArgument("card text must start with \"grove-card:\"", "card");
  }
  std::optional<Bytes> encoded = Base64UrlDecode(text.substr(kCardPrefix.size()));
  if (!encoded) return InvalidArgument("card text is not valid base64url", "card");
  return DecodeCard(*encoded);
}

}  // namespace grove::identity
