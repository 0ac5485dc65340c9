#include "api/value_json.h"

#include <limits>
#include <variant>

#include "identity/identity.h"

namespace grove::api {
namespace {

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Base64Digit(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool IsFloatLiteral(const std::string& literal) {
  return literal.find_first_of(".eE") != std::string::npos;
}

Status NotAnInteger(const Json& json, const std::string& field) {
  if (IsFloatLiteral(json.text())) {
    return InvalidArgument(
        field + " is " + json.text() + ": money and quantities are integers: use minor units",
        field);
  }
  return InvalidArgument(field + " is " + json.text() + ": out of the 64-bit integer range", field);
}

Result<replica::Value> MoneyFromJson(const Json& json, const std::string& field) {
  for (const auto& [key, member] : json.members()) {
    if (key != "minor" && key != "currency") {
      return InvalidArgument(field + ": unknown member \"" + key +
                                 "\" (money is {\"minor\": integer, \"currency\": \"EUR\"})",
                             field + "." + key);
    }
  }
  const Json* minor = json.Find("minor");
  const Json* currency = json.Find("currency");
  if (currency == nullptr)
    return InvalidArgument(field + ".currency is missing", field + ".currency");
  if (!currency->is_string() || !IsCurrencyCode(currency->text())) {
    return InvalidArgument(field + ".currency must be three capital letters (ISO 4217, \"EUR\")",
                           field + ".currency");
  }
  if (minor == nullptr) return InvalidArgument(field + ".minor is missing", field + ".minor");
  if (minor->is_number()) return NotAnInteger(*minor, field + ".minor");
  if (!minor->is_int()) {
    return InvalidArgument(field + ".minor must be an integer (minor units: cents)",
                           field + ".minor");
  }
  return replica::Value(replica::Money{minor->integer(), currency->text()});
}

}  // namespace

bool IsCurrencyCode(std::string_view code) {
  if (code.size() != 3) return false;
  for (const char c : code) {
    if (c < 'A' || c > 'Z') return false;
  }
  return true;
}

std::string Base64Encode(ByteView data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t n = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kBase64Alphabet[(n >> 18) & 63];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += kBase64Alphabet[(n >> 6) & 63];
    out += kBase64Alphabet[n & 63];
  }
  if (i + 1 == data.size()) {
    const uint32_t n = uint32_t{data[i]} << 16;
    out += kBase64Alphabet[(n >> 18) & 63];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == data.size()) {
    const uint32_t n = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out += kBase64Alphabet[(n >> 18) & 63];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += kBase64Alphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<Bytes> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  Bytes out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int pad = 0;
    if (last && text[i + 3] == '=') pad = text[i + 2] == '=' ? 2 : 1;
    uint32_t n = 0;
    for (size_t k = 0; k < 4; ++k) {
      if (k >= 4 - static_cast<size_t>(pad)) {
        n <<= 6;
        continue;
      }
      const int d = Base64Digit(text[i + k]);
      if (d < 0) return std::nullopt;
      n = (n << 6) | static_cast<uint32_t>(d);
    }
    out.push_back(static_cast<uint8_t>(n >> 16));
    if (pad < 2) out.push_back(static_cast<uint8_t>(n >> 8));
    if (pad < 1) out.push_back(static_cast<uint8_t>(n));
    // Canonical form only: the bits the padding drops must be zero.
    if ((pad == 1 && (n & 0xFF) != 0) || (pad == 2 && (n & 0xFFFF) != 0)) return std::nullopt;
  }
  return out;
}

Json ValueToJson(const replica::Value& value) {
  struct Visitor {
    Json operator()(std::monostate) const { return Json(); }
    Json operator()(int64_t i) const { return Json(i); }
    Json operator()(const std::string& s) const { return Json(s); }
    Json operator()(const replica::Money& m) const {
      Json json = Json::Object();
      json.Set("minor", m.minor);
      json.Set("currency", m.currency);
      return json;
    }
    Json operator()(bool b) const { return Json(b); }
    Json operator()(const Bytes& b) const {
      Json json = Json::Object();
      json.Set("blob_base64", Base64Encode(b));
      return json;
    }
    Json operator()(const replica::RecordId& r) const {
      Json json = Json::Object();
      json.Set("ref", r.Text());
      return json;
    }
  };
  return std::visit(Visitor{}, value.v);
}

Result<replica::Value> ValueFromJson(const Json& json, const std::string& field) {
  switch (json.type()) {
    case Json::Type::kNull:
      return replica::Value();
    case Json::Type::kBool:
      return replica::Value(json.boolean());
    case Json::Type::kInt:
      return replica::Value(json.integer());
    case Json::Type::kNumber:
      return NotAnInteger(json, field);
    case Json::Type::kString:
      return replica::Value(json.text());
    case Json::Type::kArray:
      return InvalidArgument(field + " is an array; a field holds one value", field);
    case Json::Type::kObject:
      break;
  }
  if (json.Find("ref") != nullptr) {
    return InvalidArgument(field +
                               ": a reference can only be given to a field of type reference "
                               "of a tool type",
                           field);
  }
  if (const Json* blob = json.Find("blob_base64"); blob != nullptr) {
    if (json.members().size() != 1) {
      return InvalidArgument(field + ": a blob is {\"blob_base64\": \"...\"} and nothing else",
                             field);
    }
    std::optional<Bytes> bytes;
    if (blob->is_string()) bytes = Base64Decode(blob->text());
    if (!bytes) {
      return InvalidArgument(field + ".blob_base64 must be a base64 string",
                             field + ".blob_base64");
    }
    replica::Value value;
    value.v = std::move(*bytes);
    return value;
  }
  if (json.Find("minor") != nullptr || json.Find("currency") != nullptr) {
    return MoneyFromJson(json, field);
  }
  return InvalidArgument(field +
                             " is an object that is no value: money is {\"minor\": 1250, "
                             "\"currency\": \"EUR\"}, a blob {\"blob_base64\": \"...\"}",
                         field);
}

bool AllDigits(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

std::optional<int64_t> Digits(std::string_view digits) {
  int64_t n = 0;
  for (const char c : digits) {
    const int d = c - '0';
    if (n > (std::numeric_limits<int64_t>::max() - d) / 10) return std::nullopt;
    n = n * 10 + d;
  }
  return n;
}

namespace {

// The record id text of a reference: "id" or {"ref": "id"}; nullopt for anything else.
std::optional<std::string> ReferenceText(const Json& json) {
  if (json.is_string()) return json.text();
  if (json.is_object() && json.members().size() == 1) {
    const Json* ref = json.Find("ref");
    if (ref != nullptr && ref->is_string()) return ref->text();
  }
  return std::nullopt;
}

}  // namespace

bool IsDate(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  if (!AllDigits(text.substr(0, 4)) || !AllDigits(text.substr(5, 2)) ||
      !AllDigits(text.substr(8, 2))) {
    return false;
  }
  const int year = std::stoi(std::string(text.substr(0, 4)));
  const int month = std::stoi(std::string(text.substr(5, 2)));
  const int day = std::stoi(std::string(text.substr(8, 2)));
  if (month < 1 || month > 12 || day < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

Result<std::optional<replica::Money>> ParseMoneyText(std::string_view text) {
  // [-]DIGITS[.DIGITS][ ]CUR
  if (text.size() < 4) return std::optional<replica::Money>();
  const std::string_view currency = text.substr(text.size() - 3);
  std::string_view amount = text.substr(0, text.size() - 3);
  if (!IsCurrencyCode(currency)) return std::optional<replica::Money>();
  if (amount.ends_with(' ')) amount.remove_suffix(1);
  const bool negative = amount.starts_with('-');
  if (negative) amount.remove_prefix(1);
  const size_t dot = amount.find('.');
  const std::string_view units = amount.substr(0, dot);
  const std::string_view decimals =
      dot == std::string_view::npos ? std::string_view{} : amount.substr(dot + 1);
  if (!AllDigits(units) || (dot != std::string_view::npos && !AllDigits(decimals))) {
    return std::optional<replica::Money>();
  }
  if (decimals.size() > 2) {
    return InvalidArgument(std::string(text) + " has " + std::to_string(decimals.size()) +
                           " decimals; money takes at most 2 (minor units are never rounded)");
  }
  std::string cents(decimals);
  cents.resize(2, '0');
  std::optional<int64_t> whole = Digits(units);
  const int64_t fraction = (cents[0] - '0') * 10 + (cents[1] - '0');
  if (!whole || *whole > (std::numeric_limits<int64_t>::max() - fraction) / 100) {
    return InvalidArgument(std::string(text) + " is too large an amount");
  }
  const int64_t minor = *whole * 100 + fraction;
  return std::optional<replica::Money>(
      replica::Money{negative ? -minor : minor, std::string(currency)});
}

Status CheckValueShape(const Json& json, const std::string& field) {
  if (ReferenceText(json)) return Status::Ok();
  Result<replica::Value> value = ValueFromJson(json, field);
  return value.ok() ? Status::Ok() : value.status();
}

Result<replica::Value> ValueFromJsonAs(const Json& json, const std::string& field,
                                       std::string_view kind) {
  if (json.is_null()) return replica::Value();
  if (kind == "reference") {
    std::optional<std::string> id = ReferenceText(json);
    if (!id || !replica::ParseRecordIdText(*id)) {
      return InvalidArgument(field + " is a reference: give a record id (\"mfrggzdfmztwq2lk-42\")",
                             field);
    }
    return replica::Value(*id);
  }
  if (kind == "member") {
    std::optional<replica::DeviceId> device;
    if (json.is_string()) device = identity::ParseDeviceId(json.text());
    if (!device) {
      return InvalidArgument(field + " is a member: give a device id (52 base32 characters)",
                             field);
    }
    replica::Value value;
    value.v = Bytes(device->begin(), device->end());
    return value;
  }
  if (kind == "attachment") {
    // The id upload answered: 64 hex digits, stored as the 32 bytes the rules engine checks.
    std::optional<Bytes> id = json.is_string() ? HexDecode(json.text()) : std::nullopt;
    if (!id || id->size() != 32) {
      return InvalidArgument(field + " is an attachment: give its id (64 hex digits)", field);
    }
    replica::Value value;
    value.v = std::move(*id);
    return value;
  }
  if (kind == "date") {
    if (!json.is_string() || !IsDate(json.text())) {
      return InvalidArgument(field + " is a date: give \"YYYY-MM-DD\"", field);
    }
    return replica::Value(json.text());
  }
  if (kind == "time" && !json.is_int()) {
    if (json.is_number()) return NotAnInteger(json, field);
    return InvalidArgument(field + " is a time: give integer milliseconds since 1970 UTC", field);
  }
  return ValueFromJson(json, field);
}

Json ValueToJsonAs(const replica::Value& value, std::string_view kind) {
  if (kind == "member") {
    const Bytes* bytes = std::get_if<Bytes>(&value.v);
    if (bytes != nullptr && bytes->size() == 32) {
      return Json(identity::DeviceIdText(*ToHash32(*bytes)));
    }
  }
  return ValueToJson(value);
}

}  // namespace grove::api
