#include "org/codec.h"

#include <algorithm>

namespace grove::org::internal {

void PutU64(Bytes& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void PutField(Bytes& out, std::string_view field) {
  const auto n = static_cast<uint32_t>(field.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(n >> shift));
  out.insert(out.end(), field.begin(), field.end());
}

void PutRaw(Bytes& out, ByteView raw) { out.insert(out.end(), raw.begin(), raw.end()); }

bool Reader::Take(size_t n) {
  if (!ok_ || in_.size() - pos_ < n) {
    ok_ = false;
    return false;
  }
  return true;
}

std::optional<Hash32> Reader::Hash() {
  if (!Take(32)) return std::nullopt;
  Hash32 h{};
  std::copy_n(in_.begin() + static_cast<std::ptrdiff_t>(pos_), 32, h.begin());
  pos_ += 32;
  return h;
}

std::optional<uint64_t> Reader::U64() {
  if (!Take(8)) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | in_[pos_ + i];
  pos_ += 8;
  return v;
}

std::optional<std::string> Reader::Field(size_t max) {
  if (!Take(4)) return std::nullopt;
  uint32_t n = 0;
  for (size_t i = 0; i < 4; ++i) n = (n << 8) | in_[pos_ + i];
  pos_ += 4;
  if (n > max || !Take(n)) {
    ok_ = false;
    return std::nullopt;
  }
  std::string out(AsChars(in_.subspan(pos_, n)));
  pos_ += n;
  return out;
}

std::optional<Bytes> DecodeText(std::string_view text, std::string_view prefix) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return std::nullopt;
  text = text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
  if (!text.starts_with(prefix)) return std::nullopt;
  return Base64UrlDecode(text.substr(prefix.size()));
}

}  // namespace grove::org::internal
