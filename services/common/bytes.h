// Byte strings and their text forms: hex, base32 (RFC 4648, lowercase, unpadded) and base64url
// (unpadded), plus LEB128 varints for compact binary encodings. Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace grove {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;
using Hash32 = std::array<uint8_t, 32>;

inline ByteView AsBytes(std::string_view s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string_view AsChars(ByteView b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline std::string ToString(ByteView b) { return std::string(AsChars(b)); }

std::string HexEncode(ByteView data);
std::optional<Bytes> HexDecode(std::string_view text);

std::string Base32Encode(ByteView data);
std::optional<Bytes> Base32Decode(std::string_view text);

std::string Base64UrlEncode(ByteView data);
std::optional<Bytes> Base64UrlDecode(std::string_view text);

// Copies exactly 32 bytes into a Hash32; nullopt when the size is wrong.
std::optional<Hash32> ToHash32(ByteView data);

// Appends `value` as an unsigned LEB128 varint.
void PutVarint(Bytes& out, uint64_t value);
// Reads a varint at `pos`, advancing it; nullopt on truncation or overlong (> 10 bytes) input.
std::optional<uint64_t> GetVarint(ByteView in, size_t& pos);

// Overwrites memory so secrets do not linger (not optimised away).
void SecureWipe(void* data, size_t size);

// Text holding secrets (a key file's contents). Capacity is reserved up front so that appends
// never reallocate and leave an unwiped copy in freed memory; the whole buffer is wiped on
// destruction. Move-less and copy-less: the one copy stays where it was made.
class SecretText {
 public:
  explicit SecretText(size_t capacity) { text_.reserve(capacity); }
  SecretText(const SecretText&) = delete;
  SecretText& operator=(const SecretText&) = delete;
  ~SecretText() {
    text_.resize(text_.capacity());
    SecureWipe(text_.data(), text_.size());
  }
  std::string& str() { return text_; }

 private:
  std::string text_;
};

}  // namespace grove
