// grove::expr — the small deterministic expression language of tool guards, computed fields,
// `sets` and effects (docs/tools.md, "Expressions").
//
// Parse() turns text into an immutable Expr (thread-compatible; share it read-only). Evaluate()
// runs it against an Environment that resolves names, record fields and engine functions. No
// floating point, no clock, no I/O: the same expression over the same environment gives the same
// result on every peer, so every peer accepts and rejects the same ops.
//
// Errors carry where they are: Parse() errors name the 1-based column in the expression text
// (Status::where() is "column N"); evaluation errors name what failed ("record.total: money in
// EUR compared with USD"). Evaluation is bounded in steps and list sizes (Limits).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace grove::expr {

struct MoneyValue {
  int64_t minor = 0;
  std::string currency;
  bool operator==(const MoneyValue&) const = default;
};

// A record, as the environment knows it: an opaque handle the environment resolves.
struct RecordHandle {
  uint64_t id = 0;
  bool operator==(const RecordHandle&) const = default;
};

// A device (32-byte id), e.g. `actor` or a `member` field.
struct DeviceValue {
  Hash32 id{};
  bool operator==(const DeviceValue&) const = default;
};

struct Value;
using List = std::vector<Value>;

struct Value {
  // null, bool, integer, text, money, record, device, list, bytes (attachments)
  std::variant<std::monostate, bool, int64_t, std::string, MoneyValue, RecordHandle, DeviceValue,
               std::shared_ptr<const List>, Bytes>
      v;

  Value() = default;
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Text(std::string s);
  static Value Money(int64_t minor, std::string currency);
  static Value Record(RecordHandle r);
  static Value Device(const Hash32& d);
  static Value Of(List items);
  static Value Blob(Bytes b);

  bool is_null() const { return v.index() == 0; }
  // "null", "bool", "integer", "text", "money", "record", "device", "list", "bytes"
  const char* KindName() const;
  // Human form for messages: 42, 'text', 12.50 EUR, true, [1, 2], record, device:ab12…
  std::string DebugString() const;
};
// Structural equality (lists element-wise, records by handle). Different kinds are unequal.
bool operator==(const Value& a, const Value& b);

// What an expression can see. Implemented by the engine (the replica) over a record state at a
// causal past; by tests with plain maps.
class Environment {
 public:
  virtual ~Environment() = default;
  // A top-level name (record, input, actor, actor_role, op_time, for_each bindings).
  // NotFound names an unknown name.
  virtual Result<Value> Name(std::string_view name) = 0;
  // `base.member` where base is a record: a field, a built-in attribute, or, for a reference
  // field, the referenced record (as a RecordHandle). NotFound for a member the type lacks.
  virtual Result<Value> Member(const Value& base, std::string_view member) = 0;
  // Functions the language does not define itself (children, records, rights, ...).
  // NotFound for an unknown function; InvalidArgument for wrong arguments.
  virtual Result<Value> Call(std::string_view function, const std::vector<Value>& args) = 0;
};

struct Limits {
  uint64_t max_steps = 100'000;  // nodes evaluated, list items visited
  size_t max_list = 10'000;
};

class Expr {
 public:
  virtual ~Expr() = default;
  // The expression's source text, as given to Parse().
  virtual const std::string& text() const = 0;
  // Top-level names it uses (e.g. {"record", "input"}), for static checks.
  virtual std::vector<std::string> names() const = 0;
  // Member paths rooted at a top-level name, e.g. {"record.total", "input.reason",
  // "line.item.sku"}, for static checks against a type's fields.
  virtual std::vector<std::string> paths() const = 0;
  // Function names called, for static checks.
  virtual std::vector<std::string> functions() const = 0;
};

// Parses expression text. InvalidArgument with where() = "column N" (1-based byte offset) and a
// message saying what was expected ("expected ',' or ')' to close the arguments of count, found
// end of expression"). Bounded so that hostile text fails cleanly: at most 4096 bytes, 64 levels
// of parentheses, calls and prefix operators, and a tree at most 256 deep (long chains such as
// `a + b + ...` count). Built-in functions are checked for their number of arguments here.
Result<std::shared_ptr<const Expr>> Parse(std::string_view text);

// The code of "out of range" evaluation errors: integer overflow, division by zero, exceeded
// Limits. common/status.h has no OutOfRange code yet; FailedPrecondition fits (the expression
// is well-formed, the state it ran on makes it fail) until one exists — compare against this
// constant, not against the code it stands for.
inline constexpr Code kOutOfRange = Code::kFailedPrecondition;

// Evaluates. Errors: InvalidArgument for type errors and bad arguments, kOutOfRange for integer
// overflow, division by zero and exceeded limits, NotFound (and whatever else) from the
// environment; each message starts with the source text of the sub-expression at fault
// ("record.total > money(100, 'USD'): money in EUR compared with money in USD") and where() is
// that sub-expression's "column N".
//
// Member access on null is null, so `record.ref.field` is null while the reference `ref` is
// unset (test it with is_set()); member access on any other non-record value is an error.
// sum(list, 'field') skips items whose field is null.
Result<Value> Evaluate(const Expr& expr, Environment& env, const Limits& limits = {});

// Evaluates and requires a bool (a guard). A non-bool result is InvalidArgument.
Result<bool> EvaluateGuard(const Expr& expr, Environment& env, const Limits& limits = {});

}  // namespace grove::expr
