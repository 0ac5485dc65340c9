#include "common/bytes.h"

#include <cstring>

namespace grove {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char kBase32[] = "abcdefghijklmnopqrstuvwxyz234567";
constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int Base32Value(char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Generic radix-2^bits encoder/decoder shared by base32 and base64url (unpadded).
std::string EncodeBits(ByteView data, int bits, const char* alphabet) {
  std::string out;
  out.reserve((data.size() * 8 + bits - 1) / bits);
  uint32_t buffer = 0;
  int held = 0;
  for (uint8_t byte : data) {
    buffer = (buffer << 8) | byte;
    held += 8;
    while (held >= bits) {
      held -= bits;
      out.push_back(alphabet[(buffer >> held) & ((1u << bits) - 1)]);
    }
  }
  if (held > 0) out.push_back(alphabet[(buffer << (bits - held)) & ((1u << bits) - 1)]);
  return out;
}

std::optional<Bytes> DecodeBits(std::string_view text, int bits, int (*value_of)(char)) {
  Bytes out;
  out.reserve(text.size() * bits / 8);
  uint32_t buffer = 0;
  int held = 0;
  for (char c : text) {
    int v = value_of(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << bits) | static_cast<uint32_t>(v);
    held += bits;
    if (held >= 8) {
      held -= 8;
      out.push_back(static_cast<uint8_t>(buffer >> held));
    }
  }
  // Leftover bits must be zero padding, or the text was not produced by the encoder.
  if (held >= bits || (buffer & ((1u << held) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace

std::string HexEncode(ByteView data) {
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::optional<Bytes> HexDecode(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  Bytes out(text.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(text[2 * i]);
    int lo = HexValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::string Base32Encode(ByteView data) { return EncodeBits(data, 5, kBase32); }
std::optional<Bytes> Base32Decode(std::string_view text) {
  return DecodeBits(text, 5, Base32Value);
}
std::string Base64UrlEncode(ByteView data) { return EncodeBits(data, 6, kBase64Url); }
std::optional<Bytes> Base64UrlDecode(std::string_view text) {
  return DecodeBits(text, 6, Base64UrlValue);
}

std::optional<Hash32> ToHash32(ByteView data) {
  if (data.size() != 32) return std::nullopt;
  Hash32 h;
  std::memcpy(h.data(), data.data(), 32);
  return h;
}

void PutVarint(Bytes& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<uint8_t>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<uint8_t>(value));
}

std::optional<uint64_t> GetVarint(ByteView in, size_t& pos) {
  uint64_t result = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (pos >= in.size()) return std::nullopt;
    uint8_t byte = in[pos++];
    if (shift == 63 && byte > 1) return std::nullopt;
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return result;
  }
  return std::nullopt;
}

void SecureWipe(void* data, size_t size) {
  volatile uint8_t* p = static_cast<volatile uint8_t*>(data);
  while (size--) *p++ = 0;
}

}  // namespace grove
