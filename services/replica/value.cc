#include "replica/value.h"

#include <cstdio>

namespace grove::replica {
namespace {

constexpr size_t kDevicePrefix = 10;

void PutString(Bytes& out, std::string_view s) {
  PutVarint(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

std::optional<std::string> GetString(ByteView in, size_t& pos) {
  auto n = GetVarint(in, pos);
  if (!n || *n > in.size() - pos) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(in.data() + pos), *n);
  pos += *n;
  return s;
}

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

}  // namespace

std::string RecordId::Text() const {
  return Base32Encode(ByteView(device.data(), kDevicePrefix)) + "-" + std::to_string(n);
}

std::optional<RecordIdText> ParseRecordIdText(std::string_view text) {
  size_t dash = text.find('-');
  if (dash == std::string_view::npos || dash + 1 >= text.size()) return std::nullopt;
  auto prefix = Base32Decode(text.substr(0, dash));
  if (!prefix || prefix->size() != kDevicePrefix) return std::nullopt;
  uint64_t n = 0;
  for (char c : text.substr(dash + 1)) {
    if (c < '0' || c > '9' || n > (UINT64_MAX - 9) / 10) return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return RecordIdText{std::move(*prefix), n};
}

std::string Value::DebugString() const {
  struct Visitor {
    std::string operator()(std::monostate) const { return "null"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(const std::string& s) const { return "\"" + s + "\""; }
    std::string operator()(const Money& m) const {
      // Minor units shown with two decimals; the currency decides the real exponent in the UI.
      char buf[64];
      uint64_t mag =
          m.minor < 0 ? 0 - static_cast<uint64_t>(m.minor) : static_cast<uint64_t>(m.minor);
      std::snprintf(buf, sizeof buf, "%s%llu.%02llu %s", m.minor < 0 ? "-" : "",
                    static_cast<unsigned long long>(mag / 100),
                    static_cast<unsigned long long>(mag % 100), m.currency.c_str());
      return buf;
    }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const Bytes& b) const {
      return "<blob " + std::to_string(b.size()) + " bytes>";
    }
    std::string operator()(const RecordId& r) const { return "record:" + r.Text(); }
  };
  return std::visit(Visitor{}, v);
}

void EncodeValue(const Value& value, Bytes& out) {
  out.push_back(static_cast<uint8_t>(value.v.index()));
  switch (value.v.index()) {
    case 0:
      break;
    case 1:
      PutVarint(out, ZigZag(std::get<int64_t>(value.v)));
      break;
    case 2:
      PutString(out, std::get<std::string>(value.v));
      break;
    case 3: {
      const Money& m = std::get<Money>(value.v);
      PutVarint(out, ZigZag(m.minor));
      PutString(out, m.currency);
      break;
    }
    case 4:
      out.push_back(std::get<bool>(value.v) ? 1 : 0);
      break;
    case 5: {
      const Bytes& b = std::get<Bytes>(value.v);
      PutVarint(out, b.size());
      out.insert(out.end(), b.begin(), b.end());
      break;
    }
    case 6: {
      const RecordId& r = std::get<RecordId>(value.v);
      out.insert(out.end(), r.device.begin(), r.device.end());
      PutVarint(out, r.n);
      break;
    }
  }
}

std::optional<Value> DecodeValue(ByteView in, size_t& pos) {
  if (pos >= in.size()) return std::nullopt;
  uint8_t tag = in[pos++];
  Value out;
  switch (tag) {
    case 0:
      return out;
    case 1: {
      auto v = GetVarint(in, pos);
      if (!v) return std::nullopt;
      out.v = UnZigZag(*v);
      return out;
    }
    case 2: {
      auto s = GetString(in, pos);
      if (!s) return std::nullopt;
      out.v = std::move(*s);
      return out;
    }
    case 3: {
      auto minor = GetVarint(in, pos);
      if (!minor) return std::nullopt;
      auto currency = GetString(in, pos);
      if (!currency) return std::nullopt;
      out.v = Money{UnZigZag(*minor), std::move(*currency)};
      return out;
    }
    case 4:
      if (pos >= in.size() || in[pos] > 1) return std::nullopt;
      out.v = in[pos++] == 1;
      return out;
    case 5: {
      auto n = GetVarint(in, pos);
      if (!n || *n > in.size() - pos) return std::nullopt;
      out.v = Bytes(in.begin() + static_cast<std::ptrdiff_t>(pos),
                    in.begin() + static_cast<std::ptrdiff_t>(pos + *n));
      pos += *n;
      return out;
    }
    case 6: {
      if (in.size() - pos < 32) return std::nullopt;
      RecordId r;
      std::copy(in.begin() + static_cast<std::ptrdiff_t>(pos),
                in.begin() + static_cast<std::ptrdiff_t>(pos + 32), r.device.begin());
      pos += 32;
      auto n = GetVarint(in, pos);
      if (!n) return std::nullopt;
      r.n = *n;
      out.v = r;
      return out;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace grove::replica
