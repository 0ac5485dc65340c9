// grove::tools — tool definitions (workflows/*.yaml, docs/tools.md): parsing with located
// diagnostics, static checks, and the canonical form that workspaces pin by hash.
//
// ParseTool() reads one YAML file into a Tool and checks everything that can be checked within
// one file (names, field types and options, states, transitions, expressions parse, expression
// paths resolve against the declared fields). CheckToolSet() checks what spans tools (unique type
// names, `requires`, references to other tools' types). Every problem is reported, not only the
// first, each with file:line:column.
//
// Canonical(): a deterministic byte form of a Tool (independent of YAML formatting, comments and
// key order), from which ParseCanonical() gives back an equal Tool. Types, fields, states and
// transitions keep their file order (UIs show them so); inputs, `sets` and a create's fields are
// sorted by name when parsed, as their order means nothing. ParseCanonical() holds the bytes to
// the same rules as a file (they come from peers): Corruption for anything else. The workspace's
// genesis delta carries the canonical bytes; Hash() = SHA-256 of them pins the definition.
//
// Tools are immutable values after parsing; share them read-only across threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "expr/expr.h"

namespace grove::tools {

struct Location {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown (e.g. a tool read from canonical bytes)
  int column = 0;  // 1-based
};

struct Diagnostic {
  Location at;
  std::string message;  // what is wrong and what was expected
  // "FILE:LINE:COLUMN: message"
  std::string Text() const;
};

enum class FieldKind {
  kText,
  kInteger,
  kMoney,
  kDate,
  kTime,
  kFlag,
  kEnum,
  kReference,
  kMember,
  kAttachment,
  kList,
  kCounter,
  kStock,
};
const char* FieldKindName(FieldKind kind);
std::optional<FieldKind> ParseFieldKind(std::string_view name);

// A literal of a field's type, as written in YAML defaults.
struct Literal {
  std::variant<std::monostate, bool, int64_t, std::string, expr::MoneyValue> v;
  bool operator==(const Literal&) const = default;
};

struct Field {
  std::string name;
  std::string title;
  FieldKind kind = FieldKind::kText;
  bool required = false;
  bool readonly = false;
  std::optional<Literal> default_value;
  std::vector<std::string> editable_in;        // states; empty = any
  std::optional<int64_t> min, max;             // integer bounds; text: max bytes
  std::string currency;                        // money: fixed currency, "" = any
  std::vector<std::string> values;             // enum
  std::string to;                              // reference: target type
  FieldKind of = FieldKind::kText;             // list: item kind
  bool keyed = false;                          // stock: one counter per key
  std::optional<int64_t> max_bytes;            // attachment
  std::shared_ptr<const expr::Expr> computed;  // computed fields only
  // `guard:` checked on every direct set/add/append of the field, with `value` bound to the new
  // value; `message:` is shown when it refuses.
  std::shared_ptr<const expr::Expr> guard;
  std::string message;
  Location at;
};

struct Effect;
using Effects = std::vector<Effect>;

struct Effect {
  // kGrant (last, so canonical kind numbers stay): moves escrow rights on a stock field from the
  // actor to device `to`, like a GRANT op (docs/tools.md, "Stock and escrow rights").
  enum class Kind { kSet, kAdd, kCreate, kTransition, kForEach, kGrant } kind = Kind::kSet;
  std::shared_ptr<const expr::Expr> record;  // target record; null = the transitioned record
  std::string field;                         // set, add
  std::shared_ptr<const expr::Expr> value;   // set: value; add, grant: amount; for_each: list
  std::shared_ptr<const expr::Expr> key;     // add, grant on a keyed stock field
  std::shared_ptr<const expr::Expr> to;      // grant: the device receiving the rights
  std::string type;                          // create
  std::vector<std::pair<std::string, std::shared_ptr<const expr::Expr>>> fields;  // create
  std::string name;  // transition: its name; for_each: the `as` name
  Effects body;      // for_each
  Location at;
};

struct Input {
  std::string field;  // a field of the record type
  bool required = false;
  Location at;
};

struct Transition {
  std::string name;
  std::string title;
  std::vector<std::string> from;  // states; {"*"} = any
  std::string to;
  std::vector<std::string> roles{"owner", "member"};
  std::shared_ptr<const expr::Expr> guard;  // null = always
  std::string message;                      // refusal text when the guard is false
  std::vector<Input> inputs;
  std::vector<std::pair<std::string, std::shared_ptr<const expr::Expr>>> sets;
  Effects effects;
  Location at;
};

struct Type {
  std::string name;
  std::string title;
  std::vector<Field> fields;  // in file order
  std::vector<std::string> states;
  std::string initial;  // "" when the type has no states
  std::vector<Transition> transitions;
  // `edit_guard:` checked on every direct change of a record of the type (docs/tools.md);
  // `edit_message:` is shown when it refuses.
  std::shared_ptr<const expr::Expr> edit_guard;
  std::string edit_message;
  Location at;

  const Field* FindField(std::string_view name) const;
  const Transition* FindTransition(std::string_view name) const;
};

// `migrate:` of a new version: when an owner upgrades a workspace to it, every record of `type`
// that exists then gets each field set to its expression, evaluated on the record as it was
// (`record`); a null result sets nothing. The sets are sub-ops of the upgrade op, recomputed and
// compared by every peer like a transition's effects.
struct Migration {
  std::string type;
  std::vector<std::pair<std::string, std::shared_ptr<const expr::Expr>>> sets;  // sorted by field
  Location at;
};

struct Tool {
  std::string name;
  uint32_t version = 0;
  std::string title;
  std::vector<std::string> requires_tools;
  std::vector<Type> types;
  std::vector<Migration> migrate;  // in file order
  std::string file;                // where it was read from ("" from canonical bytes)
  Location at;                     // of the tool's name in the file (line 0 from canonical bytes)

  const Type* FindType(std::string_view name) const;
};

// Parses and checks one tool file's text. On failure, every diagnostic found (at least one).
// `file` is used in locations only.
struct ParseResult {
  std::optional<Tool> tool;  // set only when diagnostics is empty
  std::vector<Diagnostic> diagnostics;
};
ParseResult ParseTool(std::string_view yaml_text, std::string file);
// Reads the file, then ParseTool. A file that cannot be read is one diagnostic at line 0.
ParseResult ParseToolFile(const std::string& path);

// Checks a set of tools used together (a workspace's): unique tool and type names, every
// `requires` present, every reference/effect type resolvable.
std::vector<Diagnostic> CheckToolSet(const std::vector<const Tool*>& tools);

// Whether `to` may replace `from` in a workspace that has records of `from`: the same tool, a
// higher version, and nothing that existing records depend on removed or changed in meaning
// (every type, every field with its kind, every state and every transition with its target
// state stay; guards, roles, messages, computed fields and new types, fields, states and
// transitions may change or be added). Every problem is reported, located in `to`'s file.
std::vector<Diagnostic> CheckUpgrade(const Tool& from, const Tool& to);

// Canonical bytes and their SHA-256.
Bytes Canonical(const Tool& tool);
Hash32 Hash(const Tool& tool);
// Parses canonical bytes (as carried in a genesis delta). Corruption if malformed.
Result<Tool> ParseCanonical(ByteView bytes);

// The tools shipped with this release: workflows/*.yaml, compiled into the binary at build time
// (so an installed peer needs no data files). NotFound names the missing tool and lists the
// available ones.
Result<Tool> LoadBuiltin(std::string_view name);
std::vector<std::string> BuiltinNames();

}  // namespace grove::tools
