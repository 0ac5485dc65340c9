#include <type_traits>

#include "expr/expr.h"

namespace grove::expr {
namespace {

// DebugString feeds error messages; a 10,000-item list or a long text would bury the reason.
constexpr size_t kMaxShownItems = 10;
constexpr size_t kMaxShownText = 80;
constexpr size_t kShownDeviceBytes = 2;

std::string QuoteText(const std::string& s) {
  size_t shown = s.size();
  if (shown > kMaxShownText) {
    shown = kMaxShownText;
    while (shown > 0 && (static_cast<unsigned char>(s[shown]) & 0xC0) == 0x80) --shown;
  }
  std::string out = "'";
  for (size_t i = 0; i < shown; ++i) {
    char c = s[i];
    if (c == '\\' || c == '\'') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  if (shown < s.size()) out += "…";
  return out + "'";
}

std::string MoneyString(const MoneyValue& m) {
  // Unsigned magnitude so INT64_MIN prints without overflow. Two decimals is a display choice
  // only: arithmetic never looks at it.
  uint64_t mag = m.minor < 0 ? 0 - static_cast<uint64_t>(m.minor) : static_cast<uint64_t>(m.minor);
  std::string frac = std::to_string(mag % 100);
  if (frac.size() < 2) frac.insert(0, "0");
  return (m.minor < 0 ? "-" : "") + std::to_string(mag / 100) + "." + frac + " " + m.currency;
}

std::string HexPrefix(const uint8_t* data, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 0xF];
  }
  return out;
}

const List& ItemsOf(const std::shared_ptr<const List>& l) {
  static const List kEmpty;
  return l ? *l : kEmpty;
}

}  // namespace

Value Value::Bool(bool b) {
  Value v;
  v.v = b;
  return v;
}
Value Value::Int(int64_t i) {
  Value v;
  v.v = i;
  return v;
}
Value Value::Text(std::string s) {
  Value v;
  v.v = std::move(s);
  return v;
}
Value Value::Money(int64_t minor, std::string currency) {
  Value v;
  v.v = MoneyValue{minor, std::move(currency)};
  return v;
}
Value Value::Record(RecordHandle r) {
  Value v;
  v.v = r;
  return v;
}
Value Value::Device(const Hash32& d) {
  Value v;
  v.v = DeviceValue{d};
  return v;
}
Value Value::Of(List items) {
  Value v;
  v.v = std::make_shared<const List>(std::move(items));
  return v;
}
Value Value::Blob(Bytes b) {
  Value v;
  v.v = std::move(b);
  return v;
}

const char* Value::KindName() const {
  static constexpr const char* kNames[] = {"null",   "bool",   "integer", "text", "money",
                                           "record", "device", "list",    "bytes"};
  static_assert(std::size(kNames) == std::variant_size_v<decltype(v)>);
  return kNames[v.index()];
}

std::string Value::DebugString() const {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return "null";
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return std::to_string(x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          return QuoteText(x);
        } else if constexpr (std::is_same_v<T, MoneyValue>) {
          return MoneyString(x);
        } else if constexpr (std::is_same_v<T, RecordHandle>) {
          return "record";
        } else if constexpr (std::is_same_v<T, DeviceValue>) {
          return "device:" + HexPrefix(x.id.data(), kShownDeviceBytes) + "…";
        } else if constexpr (std::is_same_v<T, std::shared_ptr<const List>>) {
          const List& items = ItemsOf(x);
          std::string out = "[";
          for (size_t i = 0; i < items.size() && i < kMaxShownItems; ++i) {
            if (i > 0) out += ", ";
            out += items[i].DebugString();
          }
          if (items.size() > kMaxShownItems) {
            out += ", … (" + std::to_string(items.size()) + " items)";
          }
          return out + "]";
        } else {
          static_assert(std::is_same_v<T, Bytes>);
          return "bytes(" + std::to_string(x.size()) + ")";
        }
      },
      v);
}

bool operator==(const Value& a, const Value& b) {
  if (a.v.index() != b.v.index()) return false;
  if (const auto* la = std::get_if<std::shared_ptr<const List>>(&a.v)) {
    const List& x = ItemsOf(*la);
    const List& y = ItemsOf(std::get<std::shared_ptr<const List>>(b.v));
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!(x[i] == y[i])) return false;
    }
    return true;
  }
  // Every other alternative has value equality.
  return a.v == b.v;
}

}  // namespace grove::expr
