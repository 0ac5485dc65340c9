// Field values of records: typed, with money as integer minor units (never floating point).
// Values are plain data: copy them, compare them, share them read-only across threads.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "common/bytes.h"

namespace grove::replica {

using DeviceId = Hash32;

// A record is named by the device that created it and that device's own counter, so two devices
// never mint the same id, offline or not.
struct RecordId {
  DeviceId device{};
  uint64_t n = 0;

  auto operator<=>(const RecordId&) const = default;
  // "<base32 of the first 10 bytes of device>-<n>", e.g. "mfrggzdfmztwq2lk-42".
  std::string Text() const;
};

// The parts of a record id's text form; the device is known by a prefix until a workspace
// resolves it against its members. nullopt when the text is not of that form.
struct RecordIdText {
  Bytes device_prefix;  // 10 bytes
  uint64_t n = 0;
};
std::optional<RecordIdText> ParseRecordIdText(std::string_view text);

struct Money {
  int64_t minor = 0;     // e.g. cents
  std::string currency;  // ISO 4217, e.g. "EUR"
  auto operator<=>(const Money&) const = default;
};

struct Value {
  // Index order is part of the canonical encoding: append only.
  std::variant<std::monostate, int64_t, std::string, Money, bool, Bytes, RecordId> v;

  Value() = default;
  Value(int64_t i) : v(i) {}                    // NOLINT
  Value(int i) : v(static_cast<int64_t>(i)) {}  // NOLINT
  Value(std::string s) : v(std::move(s)) {}     // NOLINT
  Value(const char* s) : v(std::string(s)) {}   // NOLINT
  Value(Money m) : v(std::move(m)) {}           // NOLINT
  Value(bool b) : v(b) {}                       // NOLINT
  Value(RecordId r) : v(r) {}                   // NOLINT

  bool is_null() const { return v.index() == 0; }
  auto operator<=>(const Value&) const = default;
  bool operator==(const Value&) const = default;

  // Human/debug form: 42, "text", 12.50 EUR, true, <blob 3 bytes>, record:<id>, null.
  std::string DebugString() const;
};

// Appends the canonical, deterministic binary form of v (used for digests and storage).
void EncodeValue(const Value& v, Bytes& out);
// Decodes one value at pos; nullopt on malformed input.
std::optional<Value> DecodeValue(ByteView in, size_t& pos);

}  // namespace grove::replica
