// The vocabulary of the tool file format (docs/tools.md) in one place: the keys each mapping
// accepts, the roles, the effect kinds, the functions and names expressions may use. The YAML
// reader, the checker and the schema test (tests/unit/tools) all read these lists, so the parser,
// its messages and schemas/tool.schema.json cannot drift apart. Internal to services/tools and
// its tests; constant data, safe from any thread.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "tools/tool.h"

namespace grove::tools::internal {

inline constexpr std::string_view kToolKeys[] = {"tool",     "version", "title",
                                                 "requires", "types",   "migrate"};
inline constexpr std::string_view kTypeKeys[] = {
    "title", "fields", "states", "initial", "transitions", "edit_guard", "edit_message"};
// Keys every field accepts, whatever its type; FieldOptionKeys() adds the type's own options.
inline constexpr std::string_view kFieldCommonKeys[] = {"type",     "title",    "required",
                                                        "default",  "readonly", "editable_in",
                                                        "computed", "guard",    "message"};
inline constexpr std::string_view kTransitionKeys[] = {
    "title", "from", "to", "roles", "guard", "message", "inputs", "sets", "effects"};
inline constexpr std::string_view kInputKeys[] = {"required"};
inline constexpr std::string_view kMoneyKeys[] = {"minor", "currency"};
inline constexpr std::string_view kRoles[] = {"owner", "member", "auditor", "read-only"};

// An effect is a mapping with exactly one of these keys (for_each also takes `as` and `do`).
inline constexpr std::string_view kEffectKinds[] = {"set",        "add",      "create",
                                                    "transition", "for_each", "grant"};
inline constexpr std::string_view kSetKeys[] = {"record", "field", "value"};
inline constexpr std::string_view kAddKeys[] = {"record", "field", "amount", "key"};
inline constexpr std::string_view kGrantKeys[] = {"record", "field", "amount", "key", "to"};
inline constexpr std::string_view kCreateKeys[] = {"type", "fields"};
inline constexpr std::string_view kTransitionEffectKeys[] = {"record", "name"};
inline constexpr std::string_view kForEachKeys[] = {"for_each", "as", "do"};

inline constexpr std::string_view kFunctions[] = {
    "count",  "sum",      "min",       "max",    "len",         "if",           "is_set",
    "money",  "children", "records",   "rights", "level",       "all_editors",  "max_by",
    "min_by", "between",  "sealed_ok", "opens",  "opened_bids", "unopened_bids"};
// Top-level names of every expression in a transition; computed fields and guards outside
// transitions see all but `input`, and a field's guard also sees kGuardValue.
inline constexpr std::string_view kGlobalNames[] = {"record", "input", "actor", "actor_role",
                                                    "op_time"};
inline constexpr std::string_view kGuardValue = "value";
inline constexpr std::string_view kRecordAttributes[] = {
    "id", "type", "state", "created_by", "created_at", "editors", "archived"};

inline constexpr FieldKind kAllKinds[] = {
    FieldKind::kText,   FieldKind::kInteger,    FieldKind::kMoney, FieldKind::kDate,
    FieldKind::kTime,   FieldKind::kFlag,       FieldKind::kEnum,  FieldKind::kReference,
    FieldKind::kMember, FieldKind::kAttachment, FieldKind::kList,  FieldKind::kCounter,
    FieldKind::kStock};

// Options a field of `kind` accepts beyond kFieldCommonKeys. A list takes `of` plus the options
// of its item kind (`of: enum` needs `values`), hence `item`.
std::vector<std::string_view> FieldOptionKeys(FieldKind kind, FieldKind item = FieldKind::kText);

// Kinds a list may hold: one value each, no counters or nested lists.
bool IsScalarKind(FieldKind kind);

// Does `name` match [a-z][a-z0-9_]{0,31}, the rule for every name in a tool file?
bool IsName(std::string_view name);

// Bound on for_each nesting, so that hostile canonical bytes cannot exhaust the stack.
inline constexpr int kMaxEffectDepth = 8;

}  // namespace grove::tools::internal
