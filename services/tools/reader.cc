// ParseTool: YAML text -> Tool. This file knows YAML (shapes of values, keys, where things are);
// what the values mean is checked on the model by check.cc, so that canonical bytes from a peer
// meet the same rules as a file.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <functional>
#include <span>

#include "tools/check.h"
#include "tools/format.h"
#include "tools/tool.h"

namespace grove::tools {
namespace {

using internal::SourceMap;

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string Join(std::span<const std::string_view> names) {
  std::string out;
  for (std::string_view n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

const char* KindOf(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "a scalar";
  }
}

std::string Describe(const YAML::Node& node) {
  return node.IsScalar() ? Quote(node.Scalar()) : KindOf(node);
}

// Keys of mappings whose keys are names the author chooses (types, fields, transitions, ...).
constexpr std::span<const std::string_view> kAnyKey{};

class Reader {
 public:
  Reader(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {}

  ParseResult Run() {
    ParseResult result;
    Tool tool;
    tool.file = file_;
    tool.at = {file_, 1, 1};
    bool loaded = false;
    try {
      std::vector<YAML::Node> docs = YAML::LoadAll(std::string(text_));
      if (docs.empty() || docs[0].IsNull()) {
        Error({file_, 1, 1}, "the file is empty; a tool file starts with 'tool: NAME'");
      } else if (docs.size() > 1) {
        Error(At(docs[1]), "the file holds " + std::to_string(docs.size()) +
                               " YAML documents; a tool file is one");
      } else {
        ReadTool(docs[0], tool);
        loaded = true;
      }
    } catch (const YAML::Exception& e) {
      Error(At(e.mark), "malformed YAML: " + e.msg);
    } catch (const std::exception& e) {
      Error({file_, 0, 0}, std::string("reading the tool file: ") + e.what());
    }
    // The model checks run even after errors in the file's shape, so that one pass reports
    // everything; they skip keys the reader saw but could not read (SourceMap::Has), so that one
    // mistake is not reported twice in different words. Without a document there is no model.
    if (loaded) internal::CheckTool(tool, map_, internal::CheckScope::kFile, {}, diags_);
    std::stable_sort(diags_.begin(), diags_.end(), [](const Diagnostic& a, const Diagnostic& b) {
      return std::tie(a.at.line, a.at.column) < std::tie(b.at.line, b.at.column);
    });
    result.diagnostics = std::move(diags_);
    if (result.diagnostics.empty()) result.tool = std::move(tool);
    return result;
  }

 private:
  using Visit = std::function<void(const std::string& key, const Location& key_at,
                                   const YAML::Node& value, const Location& value_at)>;

  Location At(const YAML::Mark& m) const {
    if (m.is_null() || m.line < 0 || m.column < 0) return {file_, 0, 0};
    return {file_, m.line + 1, m.column + 1};
  }
  Location At(const YAML::Node& n) const { return At(n.Mark()); }

  void Error(Location at, std::string message) {
    diags_.push_back({std::move(at), std::move(message)});
  }

  // Visits a mapping's entries in order. Keys that are not scalars, given twice or not in
  // `allowed` (unless kAnyKey) are reported, naming the allowed keys, and not visited. An empty
  // value is located at its key: yaml-cpp marks it at the next token, which misleads.
  bool Mapping(const YAML::Node& node, const Location& at, const std::string& what,
               std::span<const std::string_view> allowed, const Visit& visit,
               std::string_view hint = {}) {
    if (!node.IsMap()) {
      Error(at, what + " must be a mapping, got " + Describe(node));
      return false;
    }
    std::map<std::string, Location> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      const Location key_at = At(key);
      if (!key.IsScalar()) {
        Error(key_at, what + ": keys must be names, got " + KindOf(key));
        continue;
      }
      const std::string name = key.Scalar();
      auto [first, inserted] = seen.emplace(name, key_at);
      if (!inserted) {
        Error(key_at, what + ": key " + Quote(name) + " is given twice (first at line " +
                          std::to_string(first->second.line) + ")");
        continue;
      }
      if (allowed.data() != kAnyKey.data() &&
          std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        Error(key_at, what + ": unknown key " + Quote(name) + " (allowed: " + Join(allowed) + ")" +
                          std::string(hint));
        continue;
      }
      visit(name, key_at, value, value.IsNull() ? key_at : At(value));
    }
    return true;
  }

  std::optional<std::string> Text(const YAML::Node& v, const Location& at, const std::string& what,
                                  std::string_view expect = "text") {
    if (!v.IsScalar()) {
      Error(at, what + " must be " + std::string(expect) + ", got " + Describe(v));
      return std::nullopt;
    }
    return v.Scalar();
  }

  std::optional<int64_t> Integer(const YAML::Node& v, const Location& at, const std::string& what) {
    if (v.IsScalar() && v.Tag() == "?") {
      const std::string& s = v.Scalar();
      int64_t n = 0;
      const char* end = s.data() + s.size();
      const auto [ptr, ec] = std::from_chars(s.data(), end, n);
      if (ec == std::errc() && ptr == end && !s.empty()) return n;
      if (ec == std::errc::result_out_of_range) {
        Error(at, what + " must be an integer that fits 64 bits, got " + Quote(s));
        return std::nullopt;
      }
    }
    Error(at, what + " must be an integer, got " +
                  (v.IsScalar() && v.Tag() != "?" ? "the quoted " + Describe(v) : Describe(v)));
    return std::nullopt;
  }

  std::optional<bool> Bool(const YAML::Node& v, const Location& at, const std::string& what) {
    if (v.IsScalar() && v.Tag() == "?") {
      const std::string& s = v.Scalar();
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
    }
    Error(at, what + " must be true or false, got " + Describe(v));
    return std::nullopt;
  }

  std::optional<std::vector<std::string>> TextList(const YAML::Node& v, const Location& at,
                                                   const std::string& what,
                                                   std::string_view expect) {
    if (!v.IsSequence()) {
      Error(at, what + " must be " + std::string(expect) + ", got " + Describe(v));
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (const YAML::Node& item : v) {
      if (!item.IsScalar()) {
        Error(At(item), what + " entries must be names, got " + Describe(item));
        ok = false;
        continue;
      }
      out.push_back(item.Scalar());
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // Parses an expression and records where its text starts, so that later checks can point
  // inside it. A parse error is reported at its column in the file when the text sits on one
  // line as written (plain or quoted without escapes); otherwise at the scalar, naming the column.
  std::shared_ptr<const expr::Expr> Expression(const YAML::Node& v, const Location& at,
                                               const Location& owner, const std::string& key,
                                               const std::string& what) {
    std::optional<std::string> text = Text(v, at, what, "an expression (text)");
    if (!text) return nullptr;
    SourceMap::ExprAt where{at, false};
    const YAML::Mark mark = v.Mark();
    if (!mark.is_null() && mark.pos >= 0 && static_cast<size_t>(mark.pos) < text_.size()) {
      size_t pos = static_cast<size_t>(mark.pos);
      const char c = text_[pos];
      if (c == '"' || c == '\'') {
        ++pos;
        where.start.column += 1;
      }
      where.exact = text_.substr(pos, text->size()) == *text;
    }
    map_.Expression(owner, key, where);
    Result<std::shared_ptr<const expr::Expr>> parsed = expr::Parse(*text);
    if (parsed.ok()) return std::move(parsed).value();
    int column = 0;
    const std::string& w = parsed.status().where();
    if (w.rfind("column ", 0) == 0) {
      std::from_chars(w.data() + 7, w.data() + w.size(), column);
    }
    bool exact = false;
    const Location err_at = map_.ExprColumn(owner, key, column, &exact);
    std::string msg = what + ": " + parsed.status().message();
    if (!exact && column > 0) msg += " (column " + std::to_string(column) + " of the expression)";
    Error(err_at, std::move(msg));
    return nullptr;
  }

  // ---- the tool ---------------------------------------------------------------------------

  void ReadTool(const YAML::Node& root, Tool& tool) {
    const Location owner;  // tool-level keys belong to no object
    const Location root_at = At(root);
    Mapping(root, root_at, "the tool file", internal::kToolKeys,
            [&](const std::string& key, const Location& key_at, const YAML::Node& v,
                const Location& at) {
              map_.Value(owner, key, at);
              if (key == "tool") {
                if (auto s = Text(v, at, "tool", "the tool's name")) tool.name = *s;
                tool.at = at;
              } else if (key == "version") {
                if (auto n = Integer(v, at, "version")) {
                  if (*n < 1 || *n > UINT32_MAX) {
                    Error(at, "version must be a positive integer below 2^32, got " +
                                  std::to_string(*n));
                  } else {
                    tool.version = static_cast<uint32_t>(*n);
                  }
                }
              } else if (key == "title") {
                if (auto s = Text(v, at, "title")) tool.title = *s;
              } else if (key == "requires") {
                if (auto l = TextList(v, at, "requires", "a list of tool names")) {
                  tool.requires_tools = *l;
                }
              } else if (key == "types") {
                Mapping(v, at, "types", kAnyKey,
                        [&](const std::string& name, const Location& name_at, const YAML::Node& tv,
                            const Location& tv_at) {
                          tool.types.push_back(ReadType(name, name_at, tv, tv_at));
                        });
              } else if (key == "migrate") {
                Mapping(v, at, "migrate", kAnyKey,
                        [&](const std::string& type, const Location& type_at, const YAML::Node& mv,
                            const Location& mv_at) {
                          tool.migrate.push_back(ReadMigration(type, type_at, mv, mv_at));
                        });
              }
              (void)key_at;
            });
  }

  Migration ReadMigration(const std::string& type, const Location& type_at, const YAML::Node& v,
                          const Location& at) {
    Migration m;
    m.type = type;
    m.at = type_at;
    const std::string what = "migrate " + Quote(type);
    Mapping(
        v, at, what, kAnyKey,
        [&](const std::string& field, const Location&, const YAML::Node& e, const Location& e_at) {
          map_.Value(m.at, field, e_at);
          m.sets.emplace_back(field, Expression(e, e_at, m.at, field, what + ": " + Quote(field)));
        });
    std::sort(m.sets.begin(), m.sets.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return m;
  }

  Type ReadType(const std::string& name, const Location& name_at, const YAML::Node& v,
                const Location& at) {
    Type type;
    type.name = name;
    type.at = name_at;
    const std::string what = "type " + Quote(name);
    Mapping(
        v, at, what, internal::kTypeKeys,
        [&](const std::string& key, const Location&, const YAML::Node& kv, const Location& kat) {
          map_.Value(type.at, key, kat);
          if (key == "title") {
            if (auto s = Text(kv, kat, what + ": title")) type.title = *s;
          } else if (key == "fields") {
            Mapping(kv, kat, what + ": fields", kAnyKey,
                    [&](const std::string& f, const Location& f_at, const YAML::Node& fv,
                        const Location& fv_at) {
                      type.fields.push_back(ReadField(f, f_at, fv, fv_at));
                    });
          } else if (key == "states") {
            if (auto l = TextList(kv, kat, what + ": states", "a list of state names")) {
              type.states = *l;
            }
          } else if (key == "initial") {
            if (auto s = Text(kv, kat, what + ": initial", "a state name")) type.initial = *s;
          } else if (key == "edit_guard") {
            type.edit_guard = Expression(kv, kat, type.at, key, what + ": edit_guard");
          } else if (key == "edit_message") {
            if (auto s = Text(kv, kat, what + ": edit_message")) type.edit_message = *s;
          } else if (key == "transitions") {
            Mapping(kv, kat, what + ": transitions", kAnyKey,
                    [&](const std::string& t, const Location& t_at, const YAML::Node& tv,
                        const Location& tv_at) {
                      type.transitions.push_back(ReadTransition(t, t_at, tv, tv_at));
                    });
          }
        });
    return type;
  }

  // ---- fields -----------------------------------------------------------------------------

  std::optional<FieldKind> Kind(const YAML::Node& v, const Location& at, const std::string& what,
                                bool scalar_only) {
    std::string names;
    for (FieldKind k : internal::kAllKinds) {
      if (scalar_only && !internal::IsScalarKind(k)) continue;
      names += (names.empty() ? "" : ", ") + std::string(FieldKindName(k));
    }
    if (v.IsScalar()) {
      std::optional<FieldKind> kind = ParseFieldKind(v.Scalar());
      if (kind && (!scalar_only || internal::IsScalarKind(*kind))) return kind;
    }
    Error(at, what + " must be one of " + names + ", got " + Describe(v));
    return std::nullopt;
  }

  Field ReadField(const std::string& name, const Location& name_at, const YAML::Node& v,
                  const Location& at) {
    Field field;
    field.name = name;
    field.at = name_at;
    const std::string what = "field " + Quote(name);
    if (!v.IsMap()) {
      Error(at, what + " must be a mapping such as {type: text}, got " + Describe(v));
      return field;
    }
    // The type decides which keys are allowed, so it is read first.
    std::optional<FieldKind> kind;
    std::optional<FieldKind> item;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      const YAML::Node value = it->second;
      const std::string key = it->first.Scalar();
      const Location value_at = value.IsNull() ? At(it->first) : At(value);
      if (key == "type" && !kind) {
        map_.Value(field.at, "type", value_at);
        kind = Kind(value, value_at, what + ": type", false);
        if (!kind) return field;  // its keys cannot be judged without a type
      } else if (key == "of" && !item) {
        map_.Value(field.at, "of", value_at);
        item = Kind(value, value_at, what + ": of", true);
      }
    }
    if (!kind) {
      std::string names;
      for (FieldKind k : internal::kAllKinds)
        names += (names.empty() ? "" : ", ") + std::string(FieldKindName(k));
      Error(field.at, what + " needs 'type' (one of " + names + ")");
      return field;
    }
    field.kind = *kind;
    if (item) field.of = *item;
    std::vector<std::string_view> allowed(std::begin(internal::kFieldCommonKeys),
                                          std::end(internal::kFieldCommonKeys));
    for (std::string_view k : internal::FieldOptionKeys(field.kind, field.of)) allowed.push_back(k);
    std::string hint;
    if (field.kind == FieldKind::kCounter) {
      hint =
          "; min is not enforceable on a counter (increments from partitioned devices all count)";
    }
    std::optional<std::pair<YAML::Node, Location>> default_node;
    const std::string kind_what = what + " (" + FieldKindName(field.kind) + ")";
    Mapping(
        v, at, kind_what, allowed,
        [&](const std::string& key, const Location&, const YAML::Node& kv, const Location& kat) {
          map_.Value(field.at, key, kat);
          if (key == "title") {
            if (auto s = Text(kv, kat, what + ": title")) field.title = *s;
          } else if (key == "required") {
            if (auto b = Bool(kv, kat, what + ": required")) field.required = *b;
          } else if (key == "readonly") {
            if (auto b = Bool(kv, kat, what + ": readonly")) field.readonly = *b;
          } else if (key == "keyed") {
            if (auto b = Bool(kv, kat, what + ": keyed")) field.keyed = *b;
          } else if (key == "default") {
            default_node.emplace(kv, kat);
          } else if (key == "editable_in") {
            if (auto l = TextList(kv, kat, what + ": editable_in", "a list of state names")) {
              field.editable_in = *l;
            }
          } else if (key == "computed") {
            field.computed = Expression(kv, kat, field.at, "computed", what + ": computed");
          } else if (key == "guard") {
            field.guard = Expression(kv, kat, field.at, "guard", what + ": guard");
          } else if (key == "message") {
            if (auto s = Text(kv, kat, what + ": message")) field.message = *s;
          } else if (key == "min") {
            field.min = Integer(kv, kat, what + ": min");
          } else if (key == "max") {
            field.max = Integer(kv, kat, what + ": max");
          } else if (key == "max_bytes") {
            field.max_bytes = Integer(kv, kat, what + ": max_bytes");
          } else if (key == "currency") {
            if (auto s = Text(kv, kat, what + ": currency", "an ISO 4217 code such as EUR")) {
              field.currency = *s;
            }
          } else if (key == "values") {
            if (auto l = TextList(kv, kat, what + ": values", "a list of names")) field.values = *l;
          } else if (key == "to") {
            if (auto s = Text(kv, kat, what + ": to", "a type name")) field.to = *s;
          }
          // "type" and "of" were read above.
        },
        hint);
    if (default_node) {
      field.default_value = ReadLiteral(field, default_node->first, default_node->second, what);
    }
    return field;
  }

  // A default as a literal of the field's type; whether its value fits (enum values, bounds,
  // dates) is the checker's business.
  std::optional<Literal> ReadLiteral(const Field& field, const YAML::Node& v, const Location& at,
                                     const std::string& what) {
    const std::string w = what + ": default";
    switch (field.kind) {
      case FieldKind::kText:
      case FieldKind::kDate:
      case FieldKind::kEnum:
        if (auto s = Text(v, at, w)) return Literal{*s};
        return std::nullopt;
      case FieldKind::kInteger:
      case FieldKind::kTime:
        if (auto n = Integer(v, at, w)) return Literal{*n};
        return std::nullopt;
      case FieldKind::kFlag:
        if (auto b = Bool(v, at, w)) return Literal{*b};
        return std::nullopt;
      case FieldKind::kMoney: {
        std::optional<int64_t> minor;
        std::optional<std::string> currency;
        const bool is_map =
            Mapping(v, at, w + " (money: {minor: 1250, currency: EUR})", internal::kMoneyKeys,
                    [&](const std::string& key, const Location&, const YAML::Node& kv,
                        const Location& kat) {
                      if (key == "minor") {
                        minor = Integer(kv, kat, w + ": minor");
                      } else {
                        currency = Text(kv, kat, w + ": currency", "an ISO 4217 code such as EUR");
                      }
                    });
        if (!is_map) return std::nullopt;
        if (!minor || !currency) {
          Error(at, w + " needs both 'minor' (integer minor units) and 'currency'");
          return std::nullopt;
        }
        return Literal{expr::MoneyValue{*minor, *currency}};
      }
      case FieldKind::kReference:
      case FieldKind::kMember:
      case FieldKind::kAttachment:
      case FieldKind::kList:
      case FieldKind::kCounter:
      case FieldKind::kStock:
        break;
    }
    Error(at, what + ": a " + std::string(FieldKindName(field.kind)) +
                  " field takes no default (counters and stock start at zero; ids and hashes "
                  "are not known in advance)");
    return std::nullopt;
  }

  // ---- transitions ------------------------------------------------------------------------

  Transition ReadTransition(const std::string& name, const Location& name_at, const YAML::Node& v,
                            const Location& at) {
    Transition t;
    t.name = name;
    t.at = name_at;
    const std::string what = "transition " + Quote(name);
    Mapping(
        v, at, what, internal::kTransitionKeys,
        [&](const std::string& key, const Location&, const YAML::Node& kv, const Location& kat) {
          map_.Value(t.at, key, kat);
          if (key == "title") {
            if (auto s = Text(kv, kat, what + ": title")) t.title = *s;
          } else if (key == "from") {
            if (auto l = TextList(kv, kat, what + ": from", "a list of states or [\"*\"]")) {
              t.from = *l;
            }
          } else if (key == "to") {
            if (auto s = Text(kv, kat, what + ": to", "a state name")) t.to = *s;
          } else if (key == "roles") {
            if (auto l = TextList(kv, kat, what + ": roles", "a list of roles")) t.roles = *l;
          } else if (key == "guard") {
            t.guard = Expression(kv, kat, t.at, "guard", what + ": guard");
          } else if (key == "message") {
            if (auto s = Text(kv, kat, what + ": message")) t.message = *s;
          } else if (key == "inputs") {
            ReadInputs(kv, kat, t, what);
          } else if (key == "sets") {
            Mapping(kv, kat, what + ": sets", kAnyKey,
                    [&](const std::string& f, const Location& f_at, const YAML::Node& e,
                        const Location& e_at) {
                      map_.Value(t.at, "sets." + f, f_at);
                      t.sets.emplace_back(
                          f, Expression(e, e_at, t.at, "sets." + f, what + ": sets " + Quote(f)));
                    });
            SortByName(t.sets);
          } else if (key == "effects") {
            t.effects = ReadEffects(kv, kat, what, 0);
          }
        });
    return t;
  }

  void ReadInputs(const YAML::Node& v, const Location& at, Transition& t, const std::string& what) {
    Mapping(v, at, what + ": inputs", kAnyKey,
            [&](const std::string& f, const Location& f_at, const YAML::Node& iv,
                const Location& iv_at) {
              Input input;
              input.field = f;
              input.at = f_at;
              if (!iv.IsNull()) {
                Mapping(
                    iv, iv_at, what + ": input " + Quote(f), internal::kInputKeys,
                    [&](const std::string&, const Location&, const YAML::Node& rv,
                        const Location& rv_at) {
                      if (auto b = Bool(rv, rv_at, what + ": input " + Quote(f) + ": required")) {
                        input.required = *b;
                      }
                    });
              }
              t.inputs.push_back(std::move(input));
            });
    std::sort(t.inputs.begin(), t.inputs.end(),
              [](const Input& a, const Input& b) { return a.field < b.field; });
  }

  template <typename Pairs>
  static void SortByName(Pairs& pairs) {
    std::stable_sort(pairs.begin(), pairs.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
  }

  // ---- effects ----------------------------------------------------------------------------

  Effects ReadEffects(const YAML::Node& v, const Location& at, const std::string& what, int depth) {
    Effects out;
    if (!v.IsSequence()) {
      Error(at, what + ": effects must be a list, got " + Describe(v));
      return out;
    }
    if (depth >= internal::kMaxEffectDepth) {
      Error(at, what + ": for_each is nested more than " +
                    std::to_string(internal::kMaxEffectDepth) + " deep");
      return out;
    }
    for (const YAML::Node& item : v) {
      if (auto e = ReadEffect(item, what, depth)) out.push_back(std::move(*e));
    }
    return out;
  }

  std::optional<Effect> ReadEffect(const YAML::Node& item, const std::string& what, int depth) {
    Effect e;
    e.at = At(item);
    const std::string shape =
        "an effect must be a mapping with one of the keys " + Join(internal::kEffectKinds);
    if (!item.IsMap()) {
      Error(e.at, what + ": " + shape + ", got " + Describe(item));
      return std::nullopt;
    }
    if (item["for_each"]) {
      e.kind = Effect::Kind::kForEach;
      const std::string w = what + ": for_each effect";
      Mapping(
          item, e.at, w, internal::kForEachKeys,
          [&](const std::string& key, const Location&, const YAML::Node& kv, const Location& kat) {
            map_.Value(e.at, key, kat);
            if (key == "for_each") {
              e.value = Expression(kv, kat, e.at, "for_each", w + ": for_each");
            } else if (key == "as") {
              if (auto s = Text(kv, kat, w + ": as", "a name")) e.name = *s;
            } else if (key == "do") {
              e.body = ReadEffects(kv, kat, what, depth + 1);
            }
          });
      return e;
    }
    if (item.size() != 1 || !item.begin()->first.IsScalar()) {
      Error(e.at, what + ": " + shape + " (for_each also takes 'as' and 'do')");
      return std::nullopt;
    }
    const std::string kind = item.begin()->first.Scalar();
    const YAML::Node body = item.begin()->second;
    const Location body_at = body.IsNull() ? At(item.begin()->first) : At(body);
    std::span<const std::string_view> keys;
    if (kind == "set") {
      e.kind = Effect::Kind::kSet;
      keys = internal::kSetKeys;
    } else if (kind == "add") {
      e.kind = Effect::Kind::kAdd;
      keys = internal::kAddKeys;
    } else if (kind == "grant") {
      e.kind = Effect::Kind::kGrant;
      keys = internal::kGrantKeys;
    } else if (kind == "create") {
      e.kind = Effect::Kind::kCreate;
      keys = internal::kCreateKeys;
    } else if (kind == "transition") {
      e.kind = Effect::Kind::kTransition;
      keys = internal::kTransitionEffectKeys;
    } else {
      Error(At(item.begin()->first), what + ": unknown effect " + Quote(kind) + " (" + shape + ")");
      return std::nullopt;
    }
    const std::string w = what + ": " + kind + " effect";
    Mapping(
        body, body_at, w, keys,
        [&](const std::string& key, const Location&, const YAML::Node& kv, const Location& kat) {
          map_.Value(e.at, key, kat);
          if (key == "record") {
            e.record = Expression(kv, kat, e.at, key, w + ": record");
          } else if (key == "value" || key == "amount") {
            e.value = Expression(kv, kat, e.at, key, w + ": " + key);
          } else if (key == "key") {
            e.key = Expression(kv, kat, e.at, key, w + ": key");
          } else if (key == "to") {
            e.to = Expression(kv, kat, e.at, key, w + ": to");
          } else if (key == "field") {
            if (auto s = Text(kv, kat, w + ": field", "a field name")) e.field = *s;
          } else if (key == "type") {
            if (auto s = Text(kv, kat, w + ": type", "a type name")) e.type = *s;
          } else if (key == "name") {
            if (auto s = Text(kv, kat, w + ": name", "a transition name")) e.name = *s;
          } else if (key == "fields") {
            Mapping(kv, kat, w + ": fields", kAnyKey,
                    [&](const std::string& f, const Location& f_at, const YAML::Node& fv,
                        const Location& fv_at) {
                      map_.Value(e.at, "fields." + f, f_at);
                      e.fields.emplace_back(
                          f, Expression(fv, fv_at, e.at, "fields." + f, w + ": field " + Quote(f)));
                    });
            SortByName(e.fields);
          }
        });
    return e;
  }

  std::string_view text_;
  std::string file_;
  SourceMap map_;
  std::vector<Diagnostic> diags_;
};

}  // namespace

ParseResult ParseTool(std::string_view yaml_text, std::string file) {
  return Reader(yaml_text, std::move(file)).Run();
}

}  // namespace grove::tools
