// The binary layout shared by enrolments and revocations (internal to services/org): big-endian
// fixed-width integers, variable fields as a u32 length then the bytes, and a bounds-checked
// reader that never reads past its input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"

namespace grove::org::internal {

void PutU64(Bytes& out, uint64_t v);
void PutField(Bytes& out, std::string_view field);
void PutRaw(Bytes& out, ByteView raw);

// Reads the layout above from `in`. Every call returns nullopt once the input ran short (or a
// field is longer than `max`), and stays failed.
class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}
  std::optional<Hash32> Hash();
  std::optional<uint64_t> U64();
  std::optional<std::string> Field(size_t max);
  // True when every byte was read and nothing failed.
  bool Done() const { return ok_ && pos_ == in_.size(); }
  size_t pos() const { return pos_; }

 private:
  bool Take(size_t n);
  ByteView in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// The text after `prefix` (surrounding whitespace ignored) decoded from base64url, or nullopt.
std::optional<Bytes> DecodeText(std::string_view text, std::string_view prefix);

}  // namespace grove::org::internal
