#include "tools/check.h"

#include <algorithm>
#include <set>
#include <span>

#include "tools/format.h"

namespace grove::tools::internal {

void SourceMap::Value(const Location& owner, std::string_view key, Location at) {
  values_[{owner.line, owner.column, std::string(key)}] = std::move(at);
}

void SourceMap::Expression(const Location& owner, std::string_view key, ExprAt at) {
  exprs_[{owner.line, owner.column, std::string(key)}] = std::move(at);
}

bool SourceMap::Has(const Location& owner, std::string_view key) const {
  return values_.count({owner.line, owner.column, std::string(key)}) > 0;
}

Location SourceMap::ValueAt(const Location& owner, std::string_view key) const {
  auto it = values_.find({owner.line, owner.column, std::string(key)});
  return it == values_.end() ? owner : it->second;
}

Location SourceMap::ExprColumn(const Location& owner, std::string_view key, int column,
                               bool* exact) const {
  auto it = exprs_.find({owner.line, owner.column, std::string(key)});
  if (it == exprs_.end()) {
    *exact = false;
    return ValueAt(owner, key);
  }
  Location at = it->second.start;
  *exact = it->second.exact;
  if (it->second.exact && column > 0) at.column += column - 1;
  return at;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

namespace {

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string Join(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

bool In(std::span<const std::string_view> list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

bool In(const std::vector<std::string>& list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

const std::string kNameRule = "[a-z][a-z0-9_]{0,31}";

bool IsCurrency(std::string_view c) {
  return c.size() == 3 &&
         std::all_of(c.begin(), c.end(), [](char x) { return x >= 'A' && x <= 'Z'; });
}

bool IsDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  const int year = std::stoi(std::string(s.substr(0, 4)));
  const int month = std::stoi(std::string(s.substr(5, 2)));
  const int day = std::stoi(std::string(s.substr(8, 2)));
  if (month < 1 || month > 12 || day < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    out.emplace_back(path.substr(start, dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

// The type of the items of `children('T', ...)` or `records('T')`, read from the expression's
// text: the one place where a for_each binding's type is known statically.
std::string ListItemType(std::string_view text) {
  auto skip = [&](size_t i) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) ++i;
    return i;
  };
  size_t i = skip(0);
  for (std::string_view fn : {std::string_view("children"), std::string_view("records")}) {
    if (text.substr(i, fn.size()) != fn) continue;
    size_t j = skip(i + fn.size());
    if (j >= text.size() || text[j] != '(') return "";
    j = skip(j + 1);
    if (j >= text.size() || (text[j] != '\'' && text[j] != '"')) return "";
    const char quote = text[j];
    const size_t end = text.find(quote, j + 1);
    if (end == std::string_view::npos) return "";
    return std::string(text.substr(j + 1, end - j - 1));
  }
  return "";
}

// What an expression may see.
struct Scope {
  const Type* type = nullptr;                          // `record`
  const Transition* transition = nullptr;              // null outside transitions: no `input`
  bool value = false;                                  // a field's guard: `value` is the new value
  std::vector<std::pair<std::string, TypeRef>> bound;  // for_each names, innermost last

  // The type `name` is bound to by the innermost for_each that binds it; none if unbound.
  TypeRef Bound(std::string_view name) const {
    for (auto it = bound.rbegin(); it != bound.rend(); ++it) {
      if (it->first == name) return it->second;
    }
    return {};
  }
};

class Checker {
 public:
  Checker(const Tool& tool, const SourceMap& map, CheckScope scope, const TypeLookup& external,
          std::vector<Diagnostic>& out)
      : tool_(tool), map_(map), scope_(scope), external_(external), out_(out) {}

  void Run() {
    CheckToolLevel();
    std::set<std::string> names;
    for (const Type& type : tool_.types) {
      if (!names.insert(type.name).second) {
        Error(type.at, "type " + Quote(type.name) + " is declared twice");
      }
      CheckType(type);
    }
    CheckMigrations();
  }

 private:
  // Per-file diagnostics are reported by the kFile pass, those that need another tool's types
  // by the kSet pass; each problem is reported once.
  void Error(Location at, std::string message, bool external = false) {
    if (external != (scope_ == CheckScope::kSet)) return;
    if (at.file.empty()) at.file = tool_.file;
    out_.push_back({std::move(at), std::move(message)});
  }

  Location ValueAt(const Location& owner, std::string_view key) const {
    return map_.ValueAt(owner, key);
  }

  TypeRef Resolve(std::string_view name) const {
    if (const Type* t = tool_.FindType(name)) return {t, false};
    if (external_) return external_(name);
    return {};
  }

  std::vector<std::string> TypeNames() const {
    std::vector<std::string> names;
    for (const Type& t : tool_.types) names.push_back(t.name);
    return names;
  }

  // A type that is neither here nor resolvable: an error in the file only when the tool
  // requires no other tool (otherwise CheckToolSet decides).
  void UnknownType(const Location& at, const std::string& what, const std::string& name) {
    if (!tool_.requires_tools.empty()) return;
    Error(at, what + " names unknown type " + Quote(name) + " (types: " + JoinNames(TypeNames()) +
                  "; a type of another tool needs that tool in 'requires')");
  }

  // ---- tool and types -----------------------------------------------------------------------

  void CheckToolLevel() {
    const Location top;
    if (tool_.name.empty() && !map_.Has(top, "tool")) {
      Error(tool_.at, "missing key 'tool' (the tool's name, e.g. tool: purchasing)");
    } else if (!tool_.name.empty() && !IsName(tool_.name)) {
      Error(ValueAt(top, "tool"), "tool name " + Quote(tool_.name) + " must match " + kNameRule);
    }
    if (tool_.version == 0 && !map_.Has(top, "version")) {
      Error(tool_.at, "missing key 'version' (a positive integer, e.g. version: 1)");
    }
    if (tool_.types.empty() && !map_.Has(top, "types")) {
      Error(tool_.at, "missing key 'types' (the record types the tool declares)");
    }
    std::set<std::string> seen;
    for (const std::string& r : tool_.requires_tools) {
      const Location at = ValueAt(top, "requires");
      if (!IsName(r)) {
        Error(at, "requires: " + Quote(r) + " is not a tool name (" + kNameRule + ")");
      } else if (r == tool_.name) {
        Error(at, "requires: a tool cannot require itself");
      } else if (!seen.insert(r).second) {
        Error(at, "requires: " + Quote(r) + " is listed twice");
      }
    }
  }

  void CheckType(const Type& type) {
    const std::string what = "type " + Quote(type.name);
    if (!IsName(type.name))
      Error(type.at, "type name " + Quote(type.name) + " must match " + kNameRule);

    std::set<std::string> states;
    for (const std::string& s : type.states) {
      if (!IsName(s)) {
        Error(ValueAt(type.at, "states"),
              what + ": state " + Quote(s) + " is not a name (" + kNameRule + ")");
      } else if (!states.insert(s).second) {
        Error(ValueAt(type.at, "states"), what + ": state " + Quote(s) + " is listed twice");
      }
    }
    if (type.states.empty()) {
      if (!type.initial.empty()) {
        Error(ValueAt(type.at, "initial"),
              what + ": 'initial' is given but the type has no states");
      }
      if (!type.transitions.empty()) {
        Error(ValueAt(type.at, "transitions"),
              what + ": transitions need 'states' (and 'initial')");
      }
    } else if (type.initial.empty()) {
      if (!map_.Has(type.at, "initial")) {
        Error(type.at,
              what + " needs 'initial' (one of its states: " + JoinNames(type.states) + ")");
      }
    } else if (!In(type.states, type.initial)) {
      Error(ValueAt(type.at, "initial"), what + ": 'initial' names unknown state " +
                                             Quote(type.initial) +
                                             " (states: " + JoinNames(type.states) + ")");
    }

    std::set<std::string> fields;
    for (const Field& f : type.fields) {
      if (!IsName(f.name)) {
        Error(f.at, "field name " + Quote(f.name) + " must match " + kNameRule);
      } else if (In(kRecordAttributes, f.name)) {
        Error(f.at, "field " + Quote(f.name) + " clashes with a built-in attribute (" +
                        Join(kRecordAttributes) + ")");
      } else if (!fields.insert(f.name).second) {
        Error(f.at, what + ": field " + Quote(f.name) + " is declared twice");
      }
      CheckField(type, f);
    }

    Scope edit;
    edit.type = &type;
    CheckExpr(type.edit_guard.get(), type.at, "edit_guard", what + ": edit_guard", edit);

    std::set<std::string> transitions;
    for (const Transition& t : type.transitions) {
      if (!IsName(t.name)) {
        Error(t.at, "transition name " + Quote(t.name) + " must match " + kNameRule);
      } else if (!transitions.insert(t.name).second) {
        Error(t.at, what + ": transition " + Quote(t.name) + " is declared twice");
      }
      CheckTransition(type, t);
    }
  }

  // ---- fields -------------------------------------------------------------------------------

  void CheckField(const Type& type, const Field& f) {
    const std::string what = "field " + Quote(f.name);
    const char* kind = FieldKindName(f.kind);
    // Options belong to the kind, or to the item kind of a list. The reader refuses keys that do
    // not apply; canonical bytes are checked here.
    const FieldKind opt = f.kind == FieldKind::kList ? f.of : f.kind;
    auto stray = [&](bool present, std::string_view option) {
      if (present) {
        Error(f.at, what + ": option '" + std::string(option) + "' does not apply to a " + kind +
                        " field");
      }
    };
    stray(!f.values.empty() && opt != FieldKind::kEnum, "values");
    stray(!f.to.empty() && opt != FieldKind::kReference, "to");
    stray(!f.currency.empty() && opt != FieldKind::kMoney, "currency");
    stray(f.min.has_value() && opt != FieldKind::kInteger, "min");
    stray(f.max.has_value() && opt != FieldKind::kInteger && opt != FieldKind::kText, "max");
    stray(f.max_bytes.has_value() && opt != FieldKind::kAttachment, "max_bytes");
    stray(f.keyed && f.kind != FieldKind::kStock, "keyed");
    stray(f.of != FieldKind::kText && f.kind != FieldKind::kList, "of");
    if (f.kind == FieldKind::kList && !IsScalarKind(f.of)) {
      Error(ValueAt(f.at, "of"),
            what + ": a list holds scalar values, not " + std::string(FieldKindName(f.of)));
    }

    if (opt == FieldKind::kEnum) {
      if (f.values.empty()) {
        if (!map_.Has(f.at, "values")) {
          Error(f.at, what + ": an enum needs 'values' (a list of names)");
        } else {
          Error(ValueAt(f.at, "values"), what + ": 'values' must not be empty");
        }
      }
      std::set<std::string> seen;
      for (const std::string& v : f.values) {
        if (v.empty()) Error(ValueAt(f.at, "values"), what + ": enum values must not be empty");
        if (!seen.insert(v).second) {
          Error(ValueAt(f.at, "values"), what + ": value " + Quote(v) + " is listed twice");
        }
      }
    }
    if (opt == FieldKind::kReference) {
      if (f.to.empty()) {
        if (!map_.Has(f.at, "to")) Error(f.at, what + ": a reference needs 'to' (a type name)");
      } else if (!IsName(f.to)) {
        Error(ValueAt(f.at, "to"), what + ": 'to' must be a type name (" + kNameRule + ")");
      } else if (!Resolve(f.to).type) {
        UnknownType(ValueAt(f.at, "to"), what + ": 'to'", f.to);
      }
    }
    if (f.kind == FieldKind::kList && !map_.Has(f.at, "of") && f.of == FieldKind::kText &&
        map_.Has(f.at, "type")) {
      Error(f.at, what + ": a list needs 'of' (the item type, e.g. of: text)");
    }
    if (opt == FieldKind::kInteger && f.min && f.max && *f.min > *f.max) {
      Error(ValueAt(f.at, "min"),
            what + ": min " + std::to_string(*f.min) + " is above max " + std::to_string(*f.max));
    }
    if (opt == FieldKind::kText && f.max && *f.max < 1) {
      Error(ValueAt(f.at, "max"), what + ": max (bytes) must be positive");
    }
    if (f.max_bytes && *f.max_bytes < 1) {
      Error(ValueAt(f.at, "max_bytes"), what + ": max_bytes must be positive");
    }
    if (!f.currency.empty() && !IsCurrency(f.currency)) {
      Error(ValueAt(f.at, "currency"),
            what + ": currency " + Quote(f.currency) + " is not an ISO 4217 code (three capitals)");
    }

    if (f.computed || map_.Has(f.at, "computed")) {
      std::vector<std::string> clash;
      if (f.required) clash.push_back("required");
      if (f.readonly) clash.push_back("readonly");
      if (f.default_value) clash.push_back("default");
      if (!f.editable_in.empty()) clash.push_back("editable_in");
      if (f.guard) clash.push_back("guard");
      if (!clash.empty()) {
        Error(
            ValueAt(f.at, "computed"),
            what + ": a computed field is not stored, so it cannot also have " + JoinNames(clash));
      }
    }
    for (const std::string& s : f.editable_in) {
      if (!In(type.states, s)) {
        Error(ValueAt(f.at, "editable_in"),
              what + ": 'editable_in' names unknown state " + Quote(s) +
                  " (states: " + (type.states.empty() ? "none" : JoinNames(type.states)) + ")");
      }
    }
    if (f.default_value) CheckDefault(f);
    Scope scope;
    scope.type = &type;
    CheckExpr(f.computed.get(), f.at, "computed", what + ": computed", scope);
    scope.value = true;
    CheckExpr(f.guard.get(), f.at, "guard", what + ": guard", scope);
  }

  void CheckDefault(const Field& f) {
    const Location at = ValueAt(f.at, "default");
    const std::string what = "field " + Quote(f.name) + ": default";
    const auto& v = f.default_value->v;
    auto wrong = [&](const char* expect) {
      Error(at, what + " must be " + expect + " for a " + FieldKindName(f.kind) + " field");
    };
    switch (f.kind) {
      case FieldKind::kText:
        if (!std::holds_alternative<std::string>(v)) return wrong("text");
        if (std::get<std::string>(v).size() > static_cast<size_t>(f.max.value_or(4096))) {
          Error(at,
                what + " is longer than max (" + std::to_string(f.max.value_or(4096)) + " bytes)");
        }
        return;
      case FieldKind::kDate:
        if (!std::holds_alternative<std::string>(v)) return wrong("a date");
        if (!IsDate(std::get<std::string>(v))) {
          Error(at, what + " must be a date YYYY-MM-DD, got " + Quote(std::get<std::string>(v)));
        }
        return;
      case FieldKind::kEnum:
        if (!std::holds_alternative<std::string>(v)) return wrong("one of the values");
        if (!f.values.empty() && !In(f.values, std::get<std::string>(v))) {
          Error(at, what + " " + Quote(std::get<std::string>(v)) + " is not one of the values (" +
                        JoinNames(f.values) + ")");
        }
        return;
      case FieldKind::kInteger:
      case FieldKind::kTime:
        if (!std::holds_alternative<int64_t>(v)) return wrong("an integer");
        if ((f.min && std::get<int64_t>(v) < *f.min) || (f.max && std::get<int64_t>(v) > *f.max)) {
          Error(at, what + " " + std::to_string(std::get<int64_t>(v)) + " is outside min/max");
        }
        return;
      case FieldKind::kFlag:
        if (!std::holds_alternative<bool>(v)) return wrong("true or false");
        return;
      case FieldKind::kMoney: {
        if (!std::holds_alternative<expr::MoneyValue>(v)) return wrong("{minor: N, currency: C}");
        const std::string& c = std::get<expr::MoneyValue>(v).currency;
        if (!IsCurrency(c)) {
          Error(at, what + ": currency " + Quote(c) + " is not an ISO 4217 code (three capitals)");
        } else if (!f.currency.empty() && c != f.currency) {
          Error(at, what + " is in " + c + " but the field's currency is " + f.currency);
        }
        return;
      }
      default:
        Error(at, what + ": a " + std::string(FieldKindName(f.kind)) + " field takes no default");
    }
  }

  // ---- migrate ---------------------------------------------------------------------------------

  void CheckMigrations() {
    std::set<std::string> types;
    for (const Migration& m : tool_.migrate) {
      const std::string what = "migrate " + Quote(m.type);
      const Type* type = tool_.FindType(m.type);
      if (!type) {
        Error(m.at, what + ": the tool declares no type " + Quote(m.type));
        continue;
      }
      if (!types.insert(m.type).second) Error(m.at, what + " is given twice");
      Scope scope;
      scope.type = type;
      for (const auto& [field, e] : m.sets) {
        CheckWritable(*type, field, ValueAt(m.at, field), what, false);
        CheckExpr(e.get(), m.at, field, what + ": " + Quote(field), scope);
      }
    }
  }

  // ---- transitions ---------------------------------------------------------------------------

  // A field that transitions may write (`inputs`, `sets`, `set` effects): declared, stored, and
  // not a counter (counters change only by `add`, so that concurrent increments all count).
  void CheckWritable(const Type& type, const std::string& field, const Location& at,
                     const std::string& what, bool external) {
    const Field* f = type.FindField(field);
    if (!f) {
      std::vector<std::string> names;
      for (const Field& x : type.fields) names.push_back(x.name);
      Error(at,
            what + " names unknown field " + Quote(field) + " of type " + Quote(type.name) +
                " (fields: " + (names.empty() ? "none" : JoinNames(names)) + ")",
            external);
    } else if (f->computed) {
      Error(at, what + ": field " + Quote(field) + " is computed and cannot be set", external);
    } else if (f->kind == FieldKind::kCounter || f->kind == FieldKind::kStock) {
      Error(at,
            what + ": field " + Quote(field) + " is a " + FieldKindName(f->kind) +
                "; change it with an add effect",
            external);
    }
  }

  void CheckTransition(const Type& type, const Transition& t) {
    const std::string what = "transition " + Quote(t.name);
    const std::string states = " (states: " + JoinNames(type.states) + ")";
    if (t.from.empty()) {
      if (!map_.Has(t.at, "from")) {
        Error(t.at, what + " needs 'from' (a list of states, or [\"*\"] for any)");
      } else {
        Error(ValueAt(t.at, "from"), what + ": 'from' must not be empty");
      }
    } else if (In(t.from, "*")) {
      if (t.from.size() != 1) {
        Error(ValueAt(t.at, "from"), what + ": \"*\" stands alone in 'from' (it means any state)");
      }
    } else {
      std::set<std::string> seen;
      for (const std::string& s : t.from) {
        if (!In(type.states, s)) {
          Error(ValueAt(t.at, "from"), what + ": 'from' names unknown state " + Quote(s) + states);
        } else if (!seen.insert(s).second) {
          Error(ValueAt(t.at, "from"), what + ": 'from' lists " + Quote(s) + " twice");
        }
      }
    }
    if (t.to.empty()) {
      if (!map_.Has(t.at, "to")) Error(t.at, what + " needs 'to' (the state it leads to)");
    } else if (!In(type.states, t.to)) {
      Error(ValueAt(t.at, "to"), what + ": 'to' names unknown state " + Quote(t.to) + states);
    }
    std::set<std::string> roles;
    if (t.roles.empty()) {
      Error(ValueAt(t.at, "roles"), what + ": 'roles' must not be empty (nobody could run it)");
    }
    for (const std::string& r : t.roles) {
      if (!In(kRoles, r)) {
        Error(ValueAt(t.at, "roles"),
              what + ": unknown role " + Quote(r) + " (roles: " + Join(kRoles) + ")");
      } else if (!roles.insert(r).second) {
        Error(ValueAt(t.at, "roles"), what + ": role " + Quote(r) + " is listed twice");
      }
    }

    Scope scope;
    scope.type = &type;
    scope.transition = &t;
    CheckExpr(t.guard.get(), t.at, "guard", what + ": guard", scope);

    std::set<std::string> inputs;
    for (const Input& in : t.inputs) {
      if (!inputs.insert(in.field).second) {
        Error(in.at, what + ": input " + Quote(in.field) + " is given twice");
      }
      CheckWritable(type, in.field, in.at, what + ": input", false);
    }
    std::set<std::string> sets;
    for (const auto& [field, e] : t.sets) {
      const std::string key = "sets." + field;
      if (!sets.insert(field).second) {
        Error(ValueAt(t.at, key), what + ": sets " + Quote(field) + " twice");
      }
      CheckWritable(type, field, ValueAt(t.at, key), what + ": sets", false);
      if (!e && !map_.Has(t.at, key)) {
        Error(t.at, what + ": sets " + Quote(field) + " has no expression");
      }
      CheckExpr(e.get(), t.at, key, what + ": sets " + Quote(field), scope);
    }
    CheckEffects(t.effects, what, scope);
  }

  // ---- effects -------------------------------------------------------------------------------

  // The record type an effect's `record:` expression denotes, when it is a path the checker can
  // follow (record, record.ref, line.item, ...); unknown otherwise.
  TypeRef Target(const Effect& e, const Scope& scope) const {
    if (!e.record) return {scope.type, false};
    std::string text = e.record->text();
    text.erase(std::remove_if(text.begin(), text.end(),
                              [](char c) { return c == ' ' || c == '\t' || c == '\n'; }),
               text.end());
    const std::vector<std::string> segs = Split(text);
    TypeRef at;
    if (segs[0] == "record") {
      at = {scope.type, false};
    } else {
      at = scope.Bound(segs[0]);
    }
    for (size_t i = 1; i < segs.size() && at.type; ++i) {
      const Field* f = at.type->FindField(segs[i]);
      if (!f || f->kind != FieldKind::kReference) return {};
      const TypeRef next = Resolve(f->to);
      at = {next.type, at.external || next.external};
    }
    return at;
  }

  void Needs(bool missing, const Effect& e, std::string_view key, const std::string& what,
             std::string_view explain) {
    if (missing && !map_.Has(e.at, key)) {
      Error(e.at, what + " needs '" + std::string(key) + "' (" + std::string(explain) + ")");
    }
  }

  void CheckEffects(const Effects& effects, const std::string& owner, Scope& scope) {
    for (const Effect& e : effects) CheckEffect(e, owner, scope);
  }

  void CheckEffect(const Effect& e, const std::string& owner, Scope& scope) {
    using K = Effect::Kind;
    static constexpr const char* kNames[] = {"set",        "add",      "create",
                                             "transition", "for_each", "grant"};
    const char* kind = kNames[static_cast<int>(e.kind)];
    const std::string what = owner + ": " + kind + " effect";
    // Members of other kinds are never filled by the reader; canonical bytes are checked here.
    auto stray = [&](bool present, std::string_view member) {
      if (present)
        Error(e.at, what + " carries '" + std::string(member) + "', which it has no use for");
    };
    stray(e.record && (e.kind == K::kCreate || e.kind == K::kForEach), "record");
    stray(!e.field.empty() && e.kind != K::kSet && e.kind != K::kAdd && e.kind != K::kGrant,
          "field");
    stray(e.value && (e.kind == K::kCreate || e.kind == K::kTransition), "value");
    stray(e.key && e.kind != K::kAdd && e.kind != K::kGrant, "key");
    stray(e.to && e.kind != K::kGrant, "to");
    stray(!e.type.empty() && e.kind != K::kCreate, "type");
    stray(!e.fields.empty() && e.kind != K::kCreate, "fields");
    stray(!e.name.empty() && e.kind != K::kTransition && e.kind != K::kForEach, "name");
    stray(!e.body.empty() && e.kind != K::kForEach, "do");

    CheckExpr(e.record.get(), e.at, "record", what + ": record", scope);
    const TypeRef target = Target(e, scope);
    switch (e.kind) {
      case K::kSet:
        Needs(e.field.empty(), e, "field", what, "the field to set");
        Needs(!e.value, e, "value", what, "an expression");
        CheckExpr(e.value.get(), e.at, "value", what + ": value", scope);
        if (target.type && !e.field.empty()) {
          CheckWritable(*target.type, e.field, ValueAt(e.at, "field"), what, target.external);
        }
        return;
      case K::kAdd:
        Needs(e.field.empty(), e, "field", what, "a counter or stock field");
        Needs(!e.value, e, "amount", what, "an integer expression");
        CheckExpr(e.value.get(), e.at, "amount", what + ": amount", scope);
        CheckExpr(e.key.get(), e.at, "key", what + ": key", scope);
        if (target.type && !e.field.empty()) CheckAdd(e, *target.type, what, target.external);
        return;
      case K::kGrant:
        Needs(e.field.empty(), e, "field", what, "a stock field");
        Needs(!e.value, e, "amount", what, "an integer expression");
        Needs(!e.to, e, "to", what, "the device that receives the rights");
        CheckExpr(e.value.get(), e.at, "amount", what + ": amount", scope);
        CheckExpr(e.key.get(), e.at, "key", what + ": key", scope);
        CheckExpr(e.to.get(), e.at, "to", what + ": to", scope);
        if (target.type && !e.field.empty()) {
          CheckAdd(e, *target.type, what, target.external);
          const Field* f = target.type->FindField(e.field);
          if (f && f->kind != FieldKind::kStock) {
            Error(ValueAt(e.at, "field"),
                  what + ": field " + Quote(e.field) + " is a " + FieldKindName(f->kind) +
                      "; rights exist only on stock fields",
                  target.external);
          }
        }
        return;
      case K::kCreate:
        CheckCreate(e, what, scope);
        return;
      case K::kTransition:
        Needs(e.name.empty(), e, "name", what, "the transition to run");
        if (target.type && !e.name.empty() && !target.type->FindTransition(e.name)) {
          std::vector<std::string> names;
          for (const Transition& t : target.type->transitions) names.push_back(t.name);
          Error(ValueAt(e.at, "name"),
                what + ": type " + Quote(target.type->name) + " has no transition " +
                    Quote(e.name) +
                    " (transitions: " + (names.empty() ? "none" : JoinNames(names)) + ")",
                target.external);
        }
        return;
      case K::kForEach:
        CheckForEach(e, what, scope);
        return;
    }
  }

  void CheckAdd(const Effect& e, const Type& type, const std::string& what, bool external) {
    const Field* f = type.FindField(e.field);
    const Location at = ValueAt(e.at, "field");
    if (!f) {
      std::vector<std::string> counters;
      for (const Field& x : type.fields) {
        if (x.kind == FieldKind::kCounter || x.kind == FieldKind::kStock)
          counters.push_back(x.name);
      }
      Error(at,
            what + " names unknown field " + Quote(e.field) + " of type " + Quote(type.name) +
                " (counter and stock fields: " + (counters.empty() ? "none" : JoinNames(counters)) +
                ")",
            external);
      return;
    }
    if (f->kind != FieldKind::kCounter && f->kind != FieldKind::kStock) {
      Error(at,
            what + ": field " + Quote(e.field) + " of type " + Quote(type.name) + " is a " +
                FieldKindName(f->kind) + "; add needs a counter or stock field",
            external);
      return;
    }
    if (f->kind == FieldKind::kStock && f->keyed && !e.key && !map_.Has(e.at, "key")) {
      Error(e.at, what + " needs 'key': stock field " + Quote(e.field) + " is keyed", external);
    } else if (e.key && !(f->kind == FieldKind::kStock && f->keyed)) {
      Error(ValueAt(e.at, "key"),
            what + ": 'key' applies only to a keyed stock field, and " + Quote(e.field) +
                " is not one",
            external);
    }
  }

  void CheckCreate(const Effect& e, const std::string& what, Scope& scope) {
    Needs(e.type.empty(), e, "type", what, "the type of the new record");
    std::set<std::string> seen;
    for (const auto& [name, value] : e.fields) {
      const std::string key = "fields." + name;
      if (!seen.insert(name).second)
        Error(ValueAt(e.at, key), what + ": field " + Quote(name) + " is given twice");
      if (!value && !map_.Has(e.at, key)) {
        Error(e.at, what + ": field " + Quote(name) + " has no expression");
      }
      CheckExpr(value.get(), e.at, key, what + ": field " + Quote(name), scope);
    }
    if (e.type.empty()) return;
    if (!IsName(e.type)) {
      Error(ValueAt(e.at, "type"), what + ": 'type' must be a type name (" + kNameRule + ")");
      return;
    }
    const TypeRef target = Resolve(e.type);
    if (!target.type) {
      UnknownType(ValueAt(e.at, "type"), what + ": 'type'", e.type);
      return;
    }
    for (const auto& [name, value] : e.fields) {
      CheckWritable(*target.type, name, ValueAt(e.at, "fields." + name), what, target.external);
    }
    for (const Field& f : target.type->fields) {
      const bool given = std::any_of(e.fields.begin(), e.fields.end(),
                                     [&](const auto& p) { return p.first == f.name; });
      if (f.required && !f.default_value && !given) {
        Error(e.at,
              what + ": type " + Quote(e.type) + " requires field " + Quote(f.name) + " at create",
              target.external);
      }
    }
  }

  void CheckForEach(const Effect& e, const std::string& what, Scope& scope) {
    Needs(!e.value, e, "for_each", what, "a list expression");
    Needs(e.name.empty(), e, "as", what, "the name each item is bound to");
    CheckExpr(e.value.get(), e.at, "for_each", what + ": for_each", scope);
    if (!e.name.empty()) {
      const bool shadows =
          In(kGlobalNames, e.name) || std::any_of(scope.bound.begin(), scope.bound.end(),
                                                  [&](const auto& b) { return b.first == e.name; });
      if (!IsName(e.name)) {
        Error(ValueAt(e.at, "as"), what + ": 'as' must be a name (" + kNameRule + ")");
      } else if (shadows) {
        Error(ValueAt(e.at, "as"), what + ": 'as' name " + Quote(e.name) +
                                       " hides a name already in scope; choose another");
      }
    }
    TypeRef item;
    if (e.value) {
      const std::string type = ListItemType(e.value->text());
      if (!type.empty()) item = Resolve(type);
    }
    scope.bound.emplace_back(e.name, item);
    CheckEffects(e.body, what, scope);
    scope.bound.pop_back();
  }

  // ---- expressions ---------------------------------------------------------------------------

  // Reports at the first occurrence of `needle` in the expression when the text maps onto the
  // file; otherwise at the expression.
  void ExprError(const expr::Expr& e, const Location& owner, const std::string& key,
                 std::string_view needle, std::string message, bool external = false) {
    const size_t pos = e.text().find(needle);
    bool exact = false;
    const Location at = map_.ExprColumn(
        owner, key, pos == std::string::npos ? 0 : static_cast<int>(pos) + 1, &exact);
    Error(at, std::move(message), external);
  }

  void CheckExpr(const expr::Expr* e, const Location& owner, const std::string& key,
                 const std::string& what, const Scope& scope) {
    if (!e) return;
    std::vector<std::string> known;
    for (std::string_view n : kGlobalNames) {
      if (n != "input" || scope.transition) known.emplace_back(n);
    }
    if (scope.value) known.emplace_back(kGuardValue);
    for (const auto& b : scope.bound) known.push_back(b.first);
    for (const std::string& n : e->names()) {
      if (In(known, n)) continue;
      if (n == "input") {
        ExprError(*e, owner, key, n, what + ": 'input' exists only in transitions");
      } else {
        ExprError(*e, owner, key, n,
                  what + ": unknown name " + Quote(n) + " (names: " + JoinNames(known) + ")");
      }
    }
    for (const std::string& f : e->functions()) {
      if (!In(kFunctions, f)) {
        ExprError(
            *e, owner, key, f + "(",
            what + ": unknown function " + Quote(f) + " (functions: " + Join(kFunctions) + ")");
      }
    }
    for (const std::string& p : e->paths()) CheckPath(*e, p, owner, key, what, scope);
  }

  void CheckPath(const expr::Expr& e, const std::string& path, const Location& owner,
                 const std::string& key, const std::string& what, const Scope& scope) {
    const std::vector<std::string> segs = Split(path);
    if (segs.size() < 2) return;
    TypeRef at;
    if (segs[0] == "record") {
      at = {scope.type, false};
    } else if (segs[0] == "input") {
      if (!scope.transition) return;  // reported as a name
      const auto& inputs = scope.transition->inputs;
      const bool declared = std::any_of(inputs.begin(), inputs.end(),
                                        [&](const Input& in) { return in.field == segs[1]; });
      if (!declared) {
        std::vector<std::string> names;
        for (const Input& in : inputs) names.push_back(in.field);
        ExprError(e, owner, key, path,
                  what + ": " + path + ": transition " + Quote(scope.transition->name) +
                      " has no input " + Quote(segs[1]) +
                      " (inputs: " + (names.empty() ? "none" : JoinNames(names)) + ")");
        return;
      }
      at = {scope.type, false};  // input.X has the type of field X
    } else {
      at = scope.Bound(segs[0]);
    }
    for (size_t i = 1; i < segs.size() && at.type; ++i) {
      if (In(kRecordAttributes, segs[i])) return;
      const Field* f = at.type->FindField(segs[i]);
      if (!f) {
        std::vector<std::string> names;
        for (const Field& x : at.type->fields) names.push_back(x.name);
        ExprError(e, owner, key, path,
                  what + ": " + path + ": type " + Quote(at.type->name) + " has no field " +
                      Quote(segs[i]) + " (fields: " + (names.empty() ? "none" : JoinNames(names)) +
                      "; built-in: " + Join(kRecordAttributes) + ")",
                  at.external);
        return;
      }
      if (i + 1 == segs.size()) return;
      if (f->kind != FieldKind::kReference) {
        ExprError(e, owner, key, path,
                  what + ": " + path + ": field " + Quote(segs[i]) + " is a " +
                      FieldKindName(f->kind) + ", not a reference, so it has no member " +
                      Quote(segs[i + 1]),
                  at.external);
        return;
      }
      const TypeRef next = Resolve(f->to);
      at = {next.type, at.external || next.external};
    }
  }

  const Tool& tool_;
  const SourceMap& map_;
  CheckScope scope_;
  const TypeLookup& external_;
  std::vector<Diagnostic>& out_;
};

}  // namespace

void CheckTool(const Tool& tool, const SourceMap& map, CheckScope scope, const TypeLookup& external,
               std::vector<Diagnostic>& out) {
  Checker(tool, map, scope, external, out).Run();
}

}  // namespace grove::tools::internal
