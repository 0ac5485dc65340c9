// Field values between the command line, the API's JSON and a table cell (see api_client.h).

#include "api/value_json.h"
#include "cli/api_client.h"

namespace grove::cli {
namespace {

using api::AllDigits;
using api::Digits;

// "-12" / "12" as an int64; nullopt when not an integer or out of range.
std::optional<int64_t> ParseInteger(std::string_view text) {
  const bool negative = text.starts_with('-');
  const std::string_view digits = negative ? text.substr(1) : text;
  if (!AllDigits(digits)) return std::nullopt;
  std::optional<int64_t> n = Digits(digits);
  if (!n) return std::nullopt;
  return negative ? -*n : *n;
}

std::string Minor(int64_t minor) {
  // Two decimals, by integer arithmetic: the API's money is exact and so is its display.
  const uint64_t magnitude =
      minor < 0 ? 0 - static_cast<uint64_t>(minor) : static_cast<uint64_t>(minor);
  std::string cents = std::to_string(magnitude % 100);
  if (cents.size() < 2) cents.insert(0, "0");
  return (minor < 0 ? "-" : "") + std::to_string(magnitude / 100) + "." + cents;
}

}  // namespace

Result<std::optional<api::Json>> ParseMoneyText(std::string_view text) {
  GROVE_ASSIGN_OR_RETURN(std::optional<replica::Money> money, api::ParseMoneyText(text));
  if (!money) return std::optional<api::Json>();
  api::Json json = api::Json::Object();
  json.Set("minor", money->minor);
  json.Set("currency", money->currency);
  return std::optional<api::Json>(std::move(json));
}

Result<std::pair<std::string, api::Json>> ParseFieldArg(std::string_view arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string_view::npos) {
    return InvalidArgument("\"" + std::string(arg) + "\" is not FIELD=VALUE (or FIELD:=JSON)");
  }
  const bool raw = eq > 0 && arg[eq - 1] == ':';
  const std::string name(arg.substr(0, raw ? eq - 1 : eq));
  const std::string_view value = arg.substr(eq + 1);
  if (name.empty()) return InvalidArgument("\"" + std::string(arg) + "\" has no field name");
  if (raw) {
    Result<api::Json> json = api::ParseJson(value);
    if (!json.ok()) return InvalidArgument(name + ":= " + json.status().message());
    return std::make_pair(name, std::move(json).value());
  }
  if (value == "true" || value == "false") return std::make_pair(name, api::Json(value == "true"));
  // A leading zero marks a code ("007", a postcode), not a quantity: keep it as text.
  const std::string_view digits = value.starts_with('-') ? value.substr(1) : value;
  if (AllDigits(digits) && (digits.size() == 1 || digits[0] != '0')) {
    std::optional<int64_t> n = ParseInteger(value);
    if (!n) {
      return InvalidArgument(name + "=" + std::string(value) +
                             " is out of the 64-bit integer range; for text use " + name + ":='\"" +
                             std::string(value) + "\"'");
    }
    return std::make_pair(name, api::Json(*n));
  }
  Result<std::optional<api::Json>> money = ParseMoneyText(value);
  if (!money.ok()) return InvalidArgument(name + ": " + money.status().message());
  if (money->has_value()) return std::make_pair(name, std::move(**money));
  const size_t dot = digits.find('.');
  if (dot != std::string_view::npos && AllDigits(digits.substr(0, dot)) &&
      AllDigits(digits.substr(dot + 1))) {
    // Quantities are integers and money has a currency: a bare fraction is one or the other
    // gone wrong, so it is not silently stored as text.
    return InvalidArgument(name + "=" + std::string(value) +
                           " is not an integer: for money give a currency (" + name + "=" +
                           std::string(value) + "EUR), for text write " + name + ":='\"" +
                           std::string(value) + "\"'");
  }
  return std::make_pair(name, api::Json(value));
}

std::string CellText(const api::Json& value) {
  switch (value.type()) {
    case api::Json::Type::kNull:
      return "-";
    case api::Json::Type::kBool:
      return value.boolean() ? "true" : "false";
    case api::Json::Type::kInt:
      return std::to_string(value.integer());
    case api::Json::Type::kString:
      return value.text();
    case api::Json::Type::kObject: {
      const api::Json* minor = value.Find("minor");
      const api::Json* currency = value.Find("currency");
      if (minor && minor->is_int() && currency && currency->is_string()) {
        return Minor(minor->integer()) + " " + currency->text();
      }
      if (const api::Json* ref = value.Find("ref"); ref && ref->is_string()) {
        return "record:" + ref->text();
      }
      if (const api::Json* blob = value.Find("blob_base64"); blob && blob->is_string()) {
        std::optional<Bytes> bytes = api::Base64Decode(blob->text());
        return "<blob " + (bytes ? std::to_string(bytes->size()) : std::string("?")) + " bytes>";
      }
      break;
    }
    case api::Json::Type::kNumber:
    case api::Json::Type::kArray:
      break;
  }
  return value.Dump();
}

}  // namespace grove::cli
