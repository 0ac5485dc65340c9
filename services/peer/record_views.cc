#include "peer/record_views.h"

#include <algorithm>
#include <cctype>

#include "identity/identity.h"

namespace grove::peer {
namespace {

using replica::RecordView;
using replica::Value;

api::FieldInfo FieldInfoOf(const tools::Field& f) {
  api::FieldInfo info;
  info.name = f.name;
  info.title = f.title;
  info.type = tools::FieldKindName(f.kind);
  info.required = f.required;
  info.readonly = f.readonly;
  info.computed = f.computed != nullptr;
  info.values = f.values;
  info.to = f.to;
  if (f.kind == tools::FieldKind::kList) info.of = tools::FieldKindName(f.of);
  info.currency = f.currency;
  info.keyed = f.keyed;
  info.editable_in = f.editable_in;
  return info;
}

api::TransitionInfo TransitionInfoOf(const tools::Transition& t) {
  api::TransitionInfo info;
  info.name = t.name;
  info.title = t.title;
  info.from = t.from;
  info.to = t.to;
  info.roles = t.roles;
  if (t.guard) info.guard = t.guard->text();
  info.message = t.message;
  for (const tools::Input& input : t.inputs) info.inputs.push_back({input.field, input.required});
  return info;
}

// A field's value, computed ones included; nullptr when the record has none (null).
const Value* FieldOf(const RecordView& r, const std::string& name) {
  auto it = r.fields.find(name);
  if (it != r.fields.end()) return it->second.is_null() ? nullptr : &it->second;
  auto c = r.computed.find(name);
  if (c != r.computed.end()) return c->second.is_null() ? nullptr : &c->second;
  return nullptr;
}

// How a value reads as text in a query string, for values no kind told the API how to read.
std::string TextForm(const Value& value) {
  if (const auto* s = std::get_if<std::string>(&value.v)) return *s;
  if (const auto* i = std::get_if<int64_t>(&value.v)) return std::to_string(*i);
  if (const auto* b = std::get_if<bool>(&value.v)) return *b ? "true" : "false";
  if (const auto* r = std::get_if<replica::RecordId>(&value.v)) return r->Text();
  if (const auto* bytes = std::get_if<Bytes>(&value.v); bytes && bytes->size() == 32) {
    return identity::DeviceIdText(*ToHash32(*bytes));
  }
  return value.DebugString();
}

bool Matches(const Value* actual, const Value& wanted) {
  if (actual == nullptr) return wanted.is_null();
  if (*actual == wanted) return true;
  // Text stands for a value the API could not type (a free-form field, a reference's id text).
  const auto* text = std::get_if<std::string>(&wanted.v);
  return text != nullptr && TextForm(*actual) == *text;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool ContainsText(const RecordView& r, const std::string& needle_lower) {
  for (const auto& [name, value] : r.fields) {
    const auto* s = std::get_if<std::string>(&value.v);
    if (s != nullptr && Lower(*s).find(needle_lower) != std::string::npos) return true;
  }
  return false;
}

bool Selected(const RecordView& r, const api::RecordQuery& q, const std::string& search_lower) {
  if (!q.state.empty() && r.state != q.state) return false;
  for (const auto& [name, wanted] : q.where) {
    if (!Matches(FieldOf(r, name), wanted)) return false;
  }
  if (!search_lower.empty() && !ContainsText(r, search_lower)) return false;
  if (!q.due_before.empty()) {
    const Value* due = FieldOf(r, "due");
    const auto* date = due ? std::get_if<std::string>(&due->v) : nullptr;
    // YYYY-MM-DD orders as text.
    if (date == nullptr || !(*date < q.due_before)) return false;
  }
  return true;
}

}  // namespace

api::ToolInfo ToolInfoOf(const tools::Tool& tool) {
  api::ToolInfo info;
  info.name = tool.name;
  info.version = tool.version;
  info.title = tool.title;
  info.hash = HexEncode(tools::Hash(tool));
  for (const tools::Type& type : tool.types) {
    api::TypeInfo t;
    t.name = type.name;
    t.title = type.title;
    for (const tools::Field& f : type.fields) t.fields.push_back(FieldInfoOf(f));
    t.states = type.states;
    t.initial = type.initial;
    for (const tools::Transition& tr : type.transitions) {
      t.transitions.push_back(TransitionInfoOf(tr));
    }
    info.types.push_back(std::move(t));
  }
  return info;
}

std::vector<const RecordView*> SelectRecords(const std::vector<RecordView>& all,
                                             const api::RecordQuery& q, uint64_t& total) {
  const std::string search_lower = Lower(q.search);
  std::vector<const RecordView*> chosen;
  for (const RecordView& r : all) {
    if (Selected(r, q, search_lower)) chosen.push_back(&r);
  }
  total = chosen.size();
  if (q.sort == "id") {
    if (q.descending) std::reverse(chosen.begin(), chosen.end());
  } else {
    // Records without the value go last either way; ties keep id order (the sort is stable).
    auto key = [&](const RecordView* r) -> std::optional<Value> {
      if (q.sort == "type") return Value(r->type);
      if (q.sort == "state")
        return r->state.empty() ? std::nullopt : std::optional(Value(r->state));
      const Value* v = FieldOf(*r, q.sort);
      return v ? std::optional<Value>(*v) : std::nullopt;
    };
    std::vector<std::pair<std::optional<Value>, const RecordView*>> keyed;
    keyed.reserve(chosen.size());
    for (const RecordView* r : chosen) keyed.emplace_back(key(r), r);
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
      if (!a.first || !b.first) return a.first.has_value() && !b.first.has_value();
      return q.descending ? *b.first < *a.first : *a.first < *b.first;
    });
    for (size_t i = 0; i < keyed.size(); ++i) chosen[i] = keyed[i].second;
  }
  if (q.offset >= chosen.size()) return {};
  const size_t end = q.offset + std::min(q.limit, chosen.size() - q.offset);
  return std::vector<const RecordView*>(chosen.begin() + static_cast<std::ptrdiff_t>(q.offset),
                                        chosen.begin() + static_cast<std::ptrdiff_t>(end));
}

const tools::Field* ToolField(const replica::Workspace& ws, std::string_view type,
                              std::string_view name) {
  for (const tools::Tool& tool : ws.tool_definitions()) {
    if (const tools::Type* t = tool.FindType(type)) return t->FindField(name);
  }
  return nullptr;
}

Status ResolveReferences(const replica::Workspace& ws, std::string_view type,
                         const std::string& prefix, std::map<std::string, Value>& values) {
  for (auto& [name, value] : values) {
    const tools::Field* field = ToolField(ws, type, name);
    const auto* text = std::get_if<std::string>(&value.v);
    const bool reference =
        field != nullptr &&
        (field->kind == tools::FieldKind::kReference ||
         (field->kind == tools::FieldKind::kList && field->of == tools::FieldKind::kReference));
    if (!reference || text == nullptr) {
      continue;
    }
    Result<replica::RecordId> id = ws.ResolveRecordId(*text);
    if (!id.ok()) {
      return InvalidArgument(prefix + "." + name + ": " + id.status().message(),
                             prefix + "." + name);
    }
    value = Value(*id);
  }
  return Status::Ok();
}

std::vector<api::TransitionAvailability> Availability(
    const std::vector<replica::TransitionCheck>& checks) {
  std::vector<api::TransitionAvailability> out;
  for (const replica::TransitionCheck& check : checks) {
    api::TransitionAvailability a;
    a.name = check.name;
    a.allowed = check.verdict.ok();
    if (!a.allowed) {
      a.reason = check.verdict.message();
      a.code = api::RefusalRule(check.verdict);
      if (a.code.empty()) a.code = "rule";
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace grove::peer
