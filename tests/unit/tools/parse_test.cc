// ParseTool: a valid file gives the model; each class of mistake gives a diagnostic at the
// offending key or value (line:column) that says what was expected; all are reported at once.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "support/temp_dir.h"
#include "tool_test_util.h"
#include "tools/tool.h"

namespace grove::tools {
namespace {

using testing::ExpectDiagnostic;
using testing::kShop;
using testing::MustParse;
using testing::Pos;
using testing::Replace;

TEST(Parse, ValidFileGivesTheModel) {
  const ParseResult r = ParseTool(kShop, "shop.yaml");
  ASSERT_TRUE(r.tool.has_value()) << testing::AllText(r.diagnostics);
  ASSERT_TRUE(r.diagnostics.empty());
  const Tool& t = *r.tool;
  EXPECT_EQ(t.name, "shop");
  EXPECT_EQ(t.version, 1u);
  EXPECT_EQ(t.title, "Shop");
  EXPECT_EQ(t.file, "shop.yaml");
  ASSERT_EQ(t.types.size(), 3u);
  const Type* order = t.FindType("order");
  ASSERT_NE(order, nullptr);
  EXPECT_EQ(order->at.line, Pos(kShop, "order:").first);
  EXPECT_EQ(order->states,
            (std::vector<std::string>{"draft", "submitted", "approved", "cancelled"}));
  EXPECT_EQ(order->initial, "draft");
  ASSERT_NE(order->edit_guard, nullptr);

  const Field* priority = order->FindField("priority");
  ASSERT_NE(priority, nullptr);
  EXPECT_EQ(priority->kind, FieldKind::kEnum);
  EXPECT_EQ(priority->values, (std::vector<std::string>{"low", "normal", "high"}));
  EXPECT_EQ(priority->default_value, Literal{std::string("normal")});
  EXPECT_EQ(order->FindField("price")->default_value, (Literal{expr::MoneyValue{1250, "EUR"}}));
  EXPECT_EQ(order->FindField("price")->currency, "EUR");
  EXPECT_EQ(order->FindField("quantity")->default_value, Literal{int64_t{1}});
  EXPECT_EQ(order->FindField("quantity")->min, 1);
  EXPECT_EQ(order->FindField("urgent")->default_value, Literal{false});
  EXPECT_EQ(order->FindField("tags")->of, FieldKind::kEnum);
  EXPECT_EQ(order->FindField("item")->to, "item");
  EXPECT_EQ(order->FindField("total")->computed->text(),
            "sum(children('line', 'order'), 'amount')");
  EXPECT_EQ(order->FindField("reason")->message, "too long");
  EXPECT_TRUE(t.FindType("item")->FindField("on_hand")->keyed);

  const Transition* approve = order->FindTransition("approve");
  ASSERT_NE(approve, nullptr);
  EXPECT_EQ(approve->roles, std::vector<std::string>{"owner"});
  ASSERT_EQ(approve->sets.size(), 1u);
  EXPECT_EQ(approve->sets[0].second->text(), "actor");
  ASSERT_EQ(approve->effects.size(), 4u);
  const Effect& each = approve->effects[0];
  EXPECT_EQ(each.kind, Effect::Kind::kForEach);
  EXPECT_EQ(each.name, "line");
  ASSERT_EQ(each.body.size(), 2u);
  EXPECT_EQ(each.body[0].kind, Effect::Kind::kAdd);
  EXPECT_EQ(each.body[0].field, "on_hand");
  EXPECT_EQ(each.body[0].key->text(), "record.location");
  EXPECT_EQ(approve->effects[1].kind, Effect::Kind::kCreate);
  EXPECT_EQ(approve->effects[1].type, "line");
  EXPECT_EQ(approve->effects[2].record, nullptr) << "record: defaults to the transitioned record";
  EXPECT_EQ(approve->effects[3].kind, Effect::Kind::kTransition);

  const Transition* submit = order->FindTransition("submit");
  EXPECT_EQ(submit->roles, (std::vector<std::string>{"owner", "member"})) << "default roles";
  EXPECT_EQ(submit->message, "an order needs at least one line");
  const Transition* cancel = order->FindTransition("cancel");
  EXPECT_EQ(cancel->from, std::vector<std::string>{"*"});
  ASSERT_EQ(cancel->inputs.size(), 1u);
  EXPECT_TRUE(cancel->inputs[0].required);
}

TEST(Parse, DiagnosticText) {
  EXPECT_EQ((Diagnostic{{"f.yaml", 3, 5}, "bad"}).Text(), "f.yaml:3:5: bad");
  EXPECT_EQ((Diagnostic{{"f.yaml", 0, 0}, "bad"}).Text(), "f.yaml: bad");
  EXPECT_EQ((Diagnostic{{"", 0, 0}, "bad"}).Text(), "bad");
}

TEST(Parse, FieldKindNamesRoundTrip) {
  for (int k = 0; k <= static_cast<int>(FieldKind::kStock); ++k) {
    const FieldKind kind = static_cast<FieldKind>(k);
    EXPECT_EQ(ParseFieldKind(FieldKindName(kind)), kind);
  }
  EXPECT_EQ(ParseFieldKind("txt"), std::nullopt);
}

// ---- states and transitions ---------------------------------------------------------------

TEST(Parse, TransitionToUnknownState) {
  const std::string y = Replace(kShop, "to: approved", "to: aproved");
  ExpectDiagnostic(y, Pos(y, "aproved"),
                   "transition 'approve': 'to' names unknown state 'aproved' (states: draft, "
                   "submitted, approved, cancelled)");
}

TEST(Parse, TransitionFromUnknownState) {
  const std::string y = Replace(kShop, "from: [submitted]", "from: [submited]");
  ExpectDiagnostic(y, Pos(y, "[submited]"), "'from' names unknown state 'submited'");
}

TEST(Parse, TransitionNeedsFromAndTo) {
  const std::string y = Replace(kShop, "        from: [draft]\n        to: submitted\n", "");
  const ParseResult r = ParseTool(y, "t.yaml");
  ASSERT_EQ(r.diagnostics.size(), 2u) << testing::AllText(r.diagnostics);
  EXPECT_EQ(r.diagnostics[0].at.line, Pos(y, "submit:").first);
  EXPECT_NE(r.diagnostics[0].message.find("needs 'from'"), std::string::npos);
  EXPECT_NE(r.diagnostics[1].message.find("needs 'to'"), std::string::npos);
}

TEST(Parse, StarStandsAlone) {
  const std::string y = Replace(kShop, R"(from: ["*"])", R"(from: ["*", draft])");
  ExpectDiagnostic(y, Pos(y, R"(["*", draft])"), "stands alone");
}

TEST(Parse, UnknownRole) {
  const std::string y = Replace(kShop, "roles: [owner]", "roles: [owner, admin]");
  ExpectDiagnostic(y, Pos(y, "[owner, admin]"),
                   "unknown role 'admin' (roles: owner, member, auditor, read-only)");
}

TEST(Parse, InitialMustBeAState) {
  const std::string y = Replace(kShop, "initial: draft", "initial: new");
  ExpectDiagnostic(y, Pos(y, "new", "initial:"), "'initial' names unknown state 'new'");
}

TEST(Parse, StatesAreUnique) {
  const std::string y = Replace(kShop, "cancelled]", "cancelled, draft]");
  ExpectDiagnostic(y, Pos(y, "[draft, submitted", "states:"), "state 'draft' is listed twice");
}

TEST(Parse, TypeWithStatesNeedsInitial) {
  const std::string y = Replace(kShop, "    initial: draft\n", "");
  ExpectDiagnostic(y, Pos(y, "order:"), "needs 'initial'");
}

TEST(Parse, EditableInNamesStates) {
  const std::string y = Replace(kShop, "editable_in: [draft, submitted]", "editable_in: [drafts]");
  ExpectDiagnostic(y, Pos(y, "[drafts]"), "'editable_in' names unknown state 'drafts'");
}

// ---- fields ---------------------------------------------------------------------------------

TEST(Parse, UnknownFieldType) {
  const std::string y = Replace(kShop, "location: {type: text}", "location: {type: txt}");
  ExpectDiagnostic(y, Pos(y, "txt"), "must be one of text, integer, money, date");
}

TEST(Parse, FieldNeedsAType) {
  const std::string y = Replace(kShop, "location: {type: text}", "location: {title: Where}");
  ExpectDiagnostic(y, Pos(y, "location:"), "field 'location' needs 'type'");
}

TEST(Parse, OptionOfAnotherTypeIsAnUnknownKeyNamingTheAllowedOnes) {
  const std::string y =
      Replace(kShop, "location: {type: text}", "location: {type: text, values: [a]}");
  ExpectDiagnostic(y, Pos(y, "values", "location:"),
                   "unknown key 'values' (allowed: type, title, required, default, readonly, "
                   "editable_in, computed, guard, message, max)");
}

TEST(Parse, RequiredOptions) {
  std::string y = Replace(kShop, "values: [low, normal, high], default: normal", "default: normal");
  ExpectDiagnostic(y, Pos(y, "priority:"), "an enum needs 'values'");
  y = Replace(kShop, "item: {type: reference, to: item}", "item: {type: reference}");
  ExpectDiagnostic(y, Pos(y, "item: {type: reference}"), "a reference needs 'to'");
  y = Replace(kShop, "tags: {type: list, of: enum, values: [a, b]}", "tags: {type: list}");
  ExpectDiagnostic(y, Pos(y, "tags:"), "a list needs 'of'");
  y = Replace(kShop, "tags: {type: list, of: enum, values: [a, b]}",
              "tags: {type: list, of: enum}");
  ExpectDiagnostic(y, Pos(y, "tags:"), "an enum needs 'values'");
}

TEST(Parse, ListOfNonScalar) {
  const std::string y = Replace(kShop, "of: enum, values: [a, b]", "of: counter");
  ExpectDiagnostic(y, Pos(y, "counter}", "tags:"), "of must be one of text, integer");
}

TEST(Parse, CounterMinExplainsWhy) {
  const std::string y = Replace(kShop, "sold: {type: counter}", "sold: {type: counter, min: 0}");
  ExpectDiagnostic(y, Pos(y, "min", "sold:"), "min is not enforceable on a counter");
}

TEST(Parse, BadOptionValues) {
  std::string y = Replace(kShop, "min: 1, max: 1000", "min: 10, max: 1");
  // The default 1 is then out of bounds, too.
  ExpectDiagnostic(y, Pos(y, "10, max"), "min 10 is above max 1", false);
  y = Replace(kShop, "currency: EUR, default", "currency: euro, default");
  ExpectDiagnostic(y, Pos(y, "euro"), "not an ISO 4217 code", false);
  y = Replace(kShop, "required: true, max: 32", "required: yes, max: 32");
  ExpectDiagnostic(y, Pos(y, "yes"), "required must be true or false, got 'yes'");
  y = Replace(kShop, "max: 32", "max: \"32\"");
  ExpectDiagnostic(y, Pos(y, "\"32\""), "must be an integer, got the quoted '32'");
  y = Replace(kShop, "values: [low, normal, high]", "values: [low, low, high]");
  ExpectDiagnostic(y, Pos(y, "[low, low"), "value 'low' is listed twice", false);
}

TEST(Parse, DefaultsAreLiteralsOfTheFieldType) {
  std::string y = Replace(kShop, "default: normal", "default: urgent");
  ExpectDiagnostic(y, Pos(y, "urgent}"),
                   "default 'urgent' is not one of the values (low, normal, high)");
  y = Replace(kShop, "\"2024-02-29\"", "\"2023-02-29\"");
  ExpectDiagnostic(y, Pos(y, "\"2023"), "must be a date YYYY-MM-DD");
  y = Replace(kShop, "default: {minor: 1250, currency: EUR}",
              "default: {minor: 1250, currency: USD}");
  ExpectDiagnostic(y, Pos(y, "{minor: 1250"), "is in USD but the field's currency is EUR");
  y = Replace(kShop, "default: {minor: 1250, currency: EUR}", "default: \"12.50 EUR\"");
  ExpectDiagnostic(y, Pos(y, "\"12.50"), "must be a mapping");
  y = Replace(kShop, "max: 1000, default: 1", "max: 1000, default: 5000");
  ExpectDiagnostic(y, Pos(y, "5000"), "outside min/max");
  y = Replace(kShop, "default: false", "default: 0");
  ExpectDiagnostic(y, Pos(y, "0}", "urgent:"), "must be true or false");
  y = Replace(kShop, "sold: {type: counter}", "sold: {type: counter, default: 3}");
  ExpectDiagnostic(y, Pos(y, "3}", "sold:"), "a counter field takes no default");
  y = Replace(kShop, "sku: {type: text, required: true, max: 32}",
              "sku: {type: text, max: 2, default: abc}");
  ExpectDiagnostic(y, Pos(y, "abc"), "longer than max (2 bytes)");
}

TEST(Parse, ComputedFieldsAreNotStored) {
  const std::string y = Replace(
      kShop, "total: {type: money, computed:", "total: {type: money, required: true, computed:");
  ExpectDiagnostic(y, Pos(y, "\"sum(children('line', 'order')"),
                   "a computed field is not stored, so it cannot also have required");
}

TEST(Parse, FieldNamesAreNamesAndNotBuiltIns) {
  std::string y = Replace(kShop, "location: {type: text}", "state: {type: text}");
  // The transitions that use `location` now name an unknown field, too.
  ExpectDiagnostic(y, Pos(y, "state: {type: text}"), "clashes with a built-in attribute", false);
  y = Replace(kShop, "location: {type: text}", "Location: {type: text}");
  // The transition that sets `location` now names an unknown field, too.
  ExpectDiagnostic(y, Pos(y, "Location"), "field name 'Location' must match [a-z][a-z0-9_]{0,31}",
                   false);
}

// ---- expressions ----------------------------------------------------------------------------

TEST(Parse, ExpressionSyntaxErrorPointsInsideTheExpression) {
  const std::string bad = "count(children('line', 'order') > 0";
  const std::string y = Replace(kShop, "count(children('line', 'order')) > 0", bad);
  auto parsed = expr::Parse(bad);
  ASSERT_FALSE(parsed.ok());
  const int column = std::stoi(parsed.status().where().substr(7));
  auto [line, start] = Pos(y, bad);
  ExpectDiagnostic(y, {line, start + column - 1}, "transition 'submit': guard: ");
}

TEST(Parse, ExpressionSyntaxErrorInABlockScalarNamesTheColumn) {
  const std::string y = Replace(kShop, "guard: \"count(children('line', 'order')) > 0\"",
                                "guard: >-\n          count(children('line', 'order') > 0");
  const ParseResult r = ParseTool(y, "t.yaml");
  ASSERT_EQ(r.diagnostics.size(), 1u) << testing::AllText(r.diagnostics);
  EXPECT_NE(r.diagnostics[0].message.find("of the expression)"), std::string::npos);
}

TEST(Parse, UnknownFieldInPath) {
  const std::string y = Replace(kShop, "record.item.sku != ''", "record.item.skux != ''");
  ExpectDiagnostic(y, Pos(y, "record.item.skux"),
                   "record.item.skux: type 'item' has no field 'skux' (fields: sku, on_hand, sold, "
                   "photo; built-in: id, type, state");
}

TEST(Parse, BuiltInAttributesResolve) {
  const std::string y = Replace(kShop, "record.item.sku != ''", "record.item.created_by != actor");
  MustParse(y);
}

TEST(Parse, MemberOfANonReference) {
  const std::string y = Replace(kShop, "record.item.sku != ''", "record.number.x != ''");
  ExpectDiagnostic(y, Pos(y, "record.number.x"),
                   "field 'number' is a text, not a reference, so it has no member 'x'");
}

TEST(Parse, InputMustBeATransitionInput) {
  const std::string y = Replace(kShop, "is_set(input.reason)", "is_set(input.reson)");
  ExpectDiagnostic(y, Pos(y, "input.reson"),
                   "transition 'cancel' has no input 'reson' (inputs: reason)");
}

TEST(Parse, InputOnlyInTransitions) {
  const std::string y = Replace(kShop, "\"len(value) < 200\"", "\"len(input.reason) < 200\"");
  ExpectDiagnostic(y, Pos(y, "input.reason) < 200"), "'input' exists only in transitions");
}

TEST(Parse, ValueOnlyInFieldGuards) {
  const std::string y = Replace(kShop, "\"record.state == 'draft'\"", "\"value == 'draft'\"");
  ExpectDiagnostic(y, Pos(y, "value == 'draft'"), "unknown name 'value'");
}

TEST(Parse, UnknownNameAndFunction) {
  std::string y = Replace(kShop, "is_set(input.reason)", "is_set(inputs.reason)");
  ExpectDiagnostic(y, Pos(y, "inputs.reason"),
                   "unknown name 'inputs' (names: record, input, actor, actor_role, op_time)");
  y = Replace(kShop, "count(children('line', 'order')) > 0", "cnt(children('line', 'order')) > 0");
  ExpectDiagnostic(y, Pos(y, "cnt("), "unknown function 'cnt' (functions: count, sum");
}

TEST(Parse, InputsAndSetsNameWritableFields) {
  std::string y = Replace(kShop, "inputs: {reason:", "inputs: {raeson:");
  // The guard's input.reason is then no input either.
  ExpectDiagnostic(y, Pos(y, "raeson"), "input names unknown field 'raeson' of type 'order'",
                   false);
  y = Replace(kShop, "sets: {approved_by: actor}", "sets: {total: actor}");
  ExpectDiagnostic(y, Pos(y, "total: actor"), "field 'total' is computed and cannot be set");
}

// ---- effects --------------------------------------------------------------------------------

TEST(Parse, AddNeedsACounterOrStockField) {
  const std::string y = Replace(kShop, "field: sold,", "field: sku,");
  ExpectDiagnostic(y, Pos(y, "sku,"),
                   "add effect: field 'sku' of type 'item' is a text; add needs a counter or stock "
                   "field");
}

TEST(Parse, KeyedStockNeedsAKey) {
  const std::string y = Replace(kShop, "key: \"record.location\", ", "");
  ExpectDiagnostic(y, Pos(y, "add: {record: \"line.item\", field: on_hand"),
                   "add effect needs 'key': stock field 'on_hand' is keyed");
}

TEST(Parse, KeyOnlyForKeyedStock) {
  const std::string y = Replace(kShop, "field: sold, amount", "field: sold, key: \"'x'\", amount");
  ExpectDiagnostic(y, Pos(y, "\"'x'\""), "'key' applies only to a keyed stock field");
}

TEST(Parse, SetOfAnUnknownField) {
  const std::string y = Replace(kShop, "set: {field: location", "set: {field: lokation");
  ExpectDiagnostic(y, Pos(y, "lokation"),
                   "set effect names unknown field 'lokation' of type 'order'");
}

TEST(Parse, TransitionEffectNamesATransitionOfTheTarget) {
  const std::string y = Replace(kShop, "name: submit}", "name: sumbit}");
  ExpectDiagnostic(
      y, Pos(y, "sumbit"),
      "type 'order' has no transition 'sumbit' (transitions: submit, approve, cancel)");
}

TEST(Parse, CreateOfUnknownTypeWithoutRequires) {
  const std::string y = Replace(kShop, "create: {type: line,", "create: {type: lines,");
  ExpectDiagnostic(y, Pos(y, "lines,"), "names unknown type 'lines' (types: item, order, line;");
}

TEST(Parse, CreateMissesARequiredField) {
  const std::string y = Replace(kShop, ", quantity: \"1\"}", "}");
  ExpectDiagnostic(y, Pos(y, "create:"), "type 'line' requires field 'quantity' at create");
}

TEST(Parse, ForEachNameMustNotHideAName) {
  const std::string y = Replace(kShop, "as: line", "as: record");
  const ParseResult r = ParseTool(y, "t.yaml");
  bool found = false;
  for (const Diagnostic& d : r.diagnostics) {
    found |= d.at.line == Pos(y, "as: record").first &&
             d.message.find("hides a name") != std::string::npos;
  }
  EXPECT_TRUE(found) << testing::AllText(r.diagnostics);
}

TEST(Parse, UnknownEffect) {
  const std::string y = Replace(kShop, "- set: {field: location", "- delete: {field: location");
  ExpectDiagnostic(y, Pos(y, "delete"),
                   "unknown effect 'delete' (an effect must be a mapping with one of the keys set, "
                   "add, create, transition, for_each, grant)");
}

TEST(Parse, UnknownEffectKey) {
  const std::string y = Replace(kShop, "amount: \"line.quantity\"}\n              - add",
                                "amount: \"line.quantity\", qty: 1}\n              - add");
  ExpectDiagnostic(y, Pos(y, "qty"), "unknown key 'qty' (allowed: record, field, amount, key)");
}

TEST(Parse, ForEachNestingIsBounded) {
  std::string nested = "effects:\n";
  std::string indent = "          ";
  for (int i = 0; i < 10; ++i) {
    nested += indent + "- for_each: \"records('line')\"\n" + indent + "  as: l" +
              std::to_string(i) + "\n" + indent + "  do:\n";
    indent += "    ";
  }
  nested += indent + "- set: {field: location, value: \"'x'\"}\n";
  const ParseResult r = ParseTool(Replace(kShop, "effects:\n", nested), "t.yaml");
  ASSERT_FALSE(r.tool.has_value());
  EXPECT_NE(testing::AllText(r.diagnostics).find("nested more than 8 deep"), std::string::npos)
      << testing::AllText(r.diagnostics);
}

// ---- the file as a whole ---------------------------------------------------------------------

TEST(Parse, MissingTopLevelKeys) {
  const ParseResult r = ParseTool("title: x\n", "t.yaml");
  const std::string all = testing::AllText(r.diagnostics);
  EXPECT_NE(all.find("missing key 'tool'"), std::string::npos) << all;
  EXPECT_NE(all.find("missing key 'version'"), std::string::npos) << all;
  EXPECT_NE(all.find("missing key 'types'"), std::string::npos) << all;
}

TEST(Parse, ToolNameAndVersion) {
  std::string y = Replace(kShop, "tool: shop", "tool: Shop");
  ExpectDiagnostic(y, {1, 7}, "tool name 'Shop' must match [a-z][a-z0-9_]{0,31}");
  y = Replace(kShop, "version: 1", "version: 0");
  ExpectDiagnostic(y, {2, 10}, "version must be a positive integer");
  y = Replace(kShop, "version: 1", "version: one");
  ExpectDiagnostic(y, {2, 10}, "version must be an integer, got 'one'");
}

TEST(Parse, UnknownTopLevelKeyListsTheKnownOnes) {
  const std::string y = Replace(kShop, "title: Shop", "titel: Shop");
  ExpectDiagnostic(y, {3, 1},
                   "unknown key 'titel' (allowed: tool, version, title, requires, types, migrate)");
}

TEST(Parse, KeyGivenTwice) {
  const std::string y = Replace(kShop, "title: Order\n", "title: Order\n    title: Again\n");
  ExpectDiagnostic(y, Pos(y, "title: Again"), "key 'title' is given twice (first at line");
}

TEST(Parse, MalformedYaml) {
  const ParseResult r = ParseTool("tool: shop\nversion: [1\n", "t.yaml");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_NE(r.diagnostics[0].message.find("malformed YAML"), std::string::npos);
  EXPECT_GT(r.diagnostics[0].at.line, 0);
  EXPECT_FALSE(ParseTool("", "t.yaml").diagnostics.empty());
  EXPECT_FALSE(ParseTool("- a\n- b\n", "t.yaml").diagnostics.empty());
  EXPECT_FALSE(ParseTool("a: 1\n---\nb: 2\n", "t.yaml").diagnostics.empty());
}

TEST(Parse, EveryErrorInAFileIsReportedInOrder) {
  std::string y = Replace(kShop, "title: Shop", "titel: Shop");
  y = Replace(y, "location: {type: text}", "location: {type: txt}");
  y = Replace(y, "to: approved", "to: aproved");
  y = Replace(y, "is_set(input.reason)", "is_set(input.reson)");
  const ParseResult r = ParseTool(y, "t.yaml");
  ASSERT_EQ(r.diagnostics.size(), 4u) << testing::AllText(r.diagnostics);
  EXPECT_EQ(r.diagnostics[0].at.line, Pos(y, "titel").first);
  EXPECT_EQ(r.diagnostics[1].at.line, Pos(y, "txt").first);
  EXPECT_EQ(r.diagnostics[2].at.line, Pos(y, "aproved").first);
  EXPECT_EQ(r.diagnostics[3].at.line, Pos(y, "input.reson").first);
  EXPECT_FALSE(r.tool.has_value());
}

TEST(Parse, ReadsAFile) {
  grove::testing::TempDir dir;
  const std::string path = dir.path() + "/shop.yaml";
  std::ofstream(path) << kShop;
  const ParseResult r = ParseToolFile(path);
  ASSERT_TRUE(r.tool.has_value()) << testing::AllText(r.diagnostics);
  EXPECT_EQ(r.tool->file, path);
  const ParseResult missing = ParseToolFile(dir.path() + "/none.yaml");
  ASSERT_EQ(missing.diagnostics.size(), 1u);
  EXPECT_EQ(missing.diagnostics[0].at.line, 0);
  EXPECT_NE(missing.diagnostics[0].message.find("cannot read"), std::string::npos);
}

}  // namespace
}  // namespace grove::tools
