// The query string of GET .../records as a RecordQuery: every parameter checked, each error
// naming the parameter. A where.FIELD value is read by the field's kind when a tool declares the
// type; in a free-form workspace it is guessed as the CLI guesses values (42, true, 12.50EUR,
// else text), and the backend also matches it as text against any value's text form.
#include <limits>

#include "api/internal.h"
#include "api/value_json.h"
#include "identity/identity.h"

namespace grove::api::internal {
namespace {

constexpr size_t kMaxLimit = 1000;

const TypeInfo* FindToolType(const std::vector<ToolInfo>& tools, std::string_view type) {
  for (const ToolInfo& tool : tools) {
    for (const TypeInfo& t : tool.types) {
      if (t.name == type) return &t;
    }
  }
  return nullptr;
}

std::optional<uint64_t> ParseCount(std::string_view text) {
  if (text.empty() || text.size() > 18 ||
      text.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  return std::stoull(std::string(text));
}

std::optional<int64_t> ParseInteger(std::string_view text) {
  const bool negative = text.starts_with('-');
  const std::string_view digits = negative ? text.substr(1) : text;
  if (digits.empty() || digits.size() > 18 ||
      digits.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  const int64_t n = std::stoll(std::string(digits));
  return negative ? -n : n;
}

// A where value for a field of kind `kind` ("" when no tool declares the field).
Result<Value> WhereValue(const std::string& text, const std::string& param, std::string_view kind,
                         const FieldInfo* field) {
  if (kind == "integer" || kind == "counter" || kind == "stock" || kind == "time") {
    std::optional<int64_t> n = ParseInteger(text);
    if (!n) return InvalidArgument(param + " must be an integer, not \"" + text + "\"", param);
    return Value(*n);
  }
  if (kind == "flag") {
    if (text != "true" && text != "false") {
      return InvalidArgument(param + " must be true or false, not \"" + text + "\"", param);
    }
    return Value(text == "true");
  }
  if (kind == "money") {
    Result<std::optional<replica::Money>> money = ParseMoneyText(text);
    if (!money.ok()) return InvalidArgument(param + ": " + money.status().message(), param);
    if (!money->has_value()) {
      return InvalidArgument(param + " must be money like 12.50EUR, not \"" + text + "\"", param);
    }
    return Value(**money);
  }
  if (kind == "member") {
    std::optional<replica::DeviceId> device = identity::ParseDeviceId(text);
    if (!device) return InvalidArgument(param + " must be a device id", param);
    Value value;
    value.v = Bytes(device->begin(), device->end());
    return value;
  }
  if (kind == "date") {
    if (!IsDate(text)) return InvalidArgument(param + " must be a date YYYY-MM-DD", param);
    return Value(text);
  }
  if (kind == "enum" && field != nullptr) {
    for (const std::string& allowed : field->values) {
      if (allowed == text) return Value(text);
    }
    std::string values;
    for (const std::string& allowed : field->values)
      values += (values.empty() ? "" : ", ") + allowed;
    return InvalidArgument(param + " must be one of " + values + ", not \"" + text + "\"", param);
  }
  if (!kind.empty()) return Value(text);  // text, reference (as id text), ...
  // Free-form: guess, as the CLI reads FIELD=VALUE.
  if (text == "true" || text == "false") return Value(text == "true");
  const std::string_view digits = std::string_view(text).substr(text.starts_with('-') ? 1 : 0);
  if (!digits.empty() && (digits.size() == 1 || digits[0] != '0')) {
    if (std::optional<int64_t> n = ParseInteger(text)) return Value(*n);
  }
  Result<std::optional<replica::Money>> money = ParseMoneyText(text);
  if (money.ok() && money->has_value()) return Value(**money);
  return Value(text);
}

bool IsBuiltinSort(std::string_view name) {
  return name == "id" || name == "type" || name == "state";
}

}  // namespace

Result<RecordQuery> ParseRecordQuery(const std::vector<std::pair<std::string, std::string>>& query,
                                     const std::vector<ToolInfo>& tools) {
  RecordQuery q;
  for (const auto& [key, value] : query) {
    if (key == "type") q.type = value;
  }
  const TypeInfo* type = q.type.empty() ? nullptr : FindToolType(tools, q.type);
  // A field the type lacks is a mistake only when a tool declares the type.
  auto check_field = [&](const std::string& name, const std::string& param) -> Status {
    if (type == nullptr || type->FindField(name) != nullptr) return Status::Ok();
    return InvalidArgument(param + ": type " + type->name + " has no field \"" + name + "\"",
                           param);
  };
  for (const auto& [key, value] : query) {
    if (key == "type") continue;
    if (key == "state") {
      q.state = value;
    } else if (key.starts_with("where.")) {
      const std::string name = key.substr(6);
      GROVE_RETURN_IF_ERROR(check_field(name, key));
      const FieldInfo* field = type ? type->FindField(name) : nullptr;
      GROVE_ASSIGN_OR_RETURN(Value v, WhereValue(value, key, field ? field->type : "", field));
      q.where.emplace_back(name, std::move(v));
    } else if (key == "search") {
      q.search = value;
    } else if (key == "sort") {
      if (value.empty()) return InvalidArgument("sort must name a field", "sort");
      if (!IsBuiltinSort(value)) GROVE_RETURN_IF_ERROR(check_field(value, "sort"));
      q.sort = value;
    } else if (key == "order") {
      if (value != "asc" && value != "desc") {
        return InvalidArgument("order must be asc or desc, not \"" + value + "\"", "order");
      }
      q.descending = value == "desc";
    } else if (key == "offset") {
      std::optional<uint64_t> n = ParseCount(value);
      if (!n) return InvalidArgument("offset must be a whole number", "offset");
      q.offset = static_cast<size_t>(*n);
    } else if (key == "limit") {
      std::optional<uint64_t> n = ParseCount(value);
      if (!n || *n > kMaxLimit) {
        return InvalidArgument(
            "limit must be a whole number from 0 to " + std::to_string(kMaxLimit), "limit");
      }
      q.limit = static_cast<size_t>(*n);
    } else if (key == "archived") {
      if (value != "true" && value != "false") {
        return InvalidArgument("archived must be true or false", "archived");
      }
      q.include_archived = value == "true";
    } else if (key == "due_before") {
      if (!IsDate(value))
        return InvalidArgument("due_before must be a date YYYY-MM-DD", "due_before");
      q.due_before = value;
    }
  }
  return q;
}

}  // namespace grove::api::internal
