// schemas/tool.schema.json must describe the file the parser reads: the same keys at every
// level, the same field types and their options, roles and effects. This test reads the schema
// and compares it with the parser's own lists (tools/format.h), so the two cannot drift.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "api/json.h"
#include "tools/format.h"

namespace grove::tools {
namespace {

using Names = std::set<std::string>;

template <typename List>
Names Set(const List& list) {
  Names out;
  for (const auto& s : list) out.emplace(s);
  return out;
}

class Schema : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in(std::string(GROVE_SOURCE_DIR) + "/schemas/tool.schema.json");
    ASSERT_TRUE(in) << "cannot read schemas/tool.schema.json";
    std::stringstream text;
    text << in.rdbuf();
    Result<api::Json> json = api::ParseJson(text.str());
    ASSERT_TRUE(json.ok()) << json.status().ToString();
    schema_ = std::move(*json);
  }

  // The object at a path of member names; fails the test when absent.
  const api::Json& At(std::initializer_list<std::string_view> path) const {
    static const api::Json kNull;
    const api::Json* node = &schema_;
    std::string walked;
    for (std::string_view key : path) {
      walked += "/" + std::string(key);
      node = node->Find(key);
      if (!node) {
        ADD_FAILURE() << "schema has no " << walked;
        return kNull;
      }
    }
    return *node;
  }

  static Names Keys(const api::Json& object) {
    Names out;
    for (const auto& [k, v] : object.members()) out.insert(k);
    return out;
  }

  static Names Strings(const api::Json& array) {
    Names out;
    for (const api::Json& v : array.items()) out.insert(v.text());
    return out;
  }

  api::Json schema_;
};

TEST_F(Schema, TopLevelTypeAndTransitionKeys) {
  EXPECT_EQ(Keys(At({"properties"})), Set(internal::kToolKeys));
  EXPECT_EQ(Keys(At({"$defs", "type", "properties"})), Set(internal::kTypeKeys));
  EXPECT_EQ(Keys(At({"$defs", "transition", "properties"})), Set(internal::kTransitionKeys));
  EXPECT_EQ(Keys(At({"$defs", "input", "properties"})), Set(internal::kInputKeys));
  EXPECT_EQ(Keys(At({"$defs", "money", "properties"})), Set(internal::kMoneyKeys));
  EXPECT_EQ(Keys(At({"$defs", "field_common", "properties"})), Set(internal::kFieldCommonKeys));
  EXPECT_EQ(Strings(At({"$defs", "role", "enum"})), Set(internal::kRoles));
}

TEST_F(Schema, FieldTypesAndTheirOptions) {
  Names kinds;
  for (FieldKind k : internal::kAllKinds) kinds.insert(FieldKindName(k));
  EXPECT_EQ(Strings(At({"$defs", "field_common", "properties", "type", "enum"})), kinds);
  EXPECT_EQ(Strings(At({"$defs", "field", "properties", "type", "enum"})), kinds);
  for (FieldKind k : internal::kAllKinds) {
    const std::string name = FieldKindName(k);
    SCOPED_TRACE(name);
    Names want = Set(internal::kFieldCommonKeys);
    if (k == FieldKind::kList) {
      // The schema allows every scalar option on a list; the parser those of its `of`.
      for (FieldKind item : internal::kAllKinds) {
        if (internal::IsScalarKind(item)) {
          for (auto o : internal::FieldOptionKeys(k, item)) want.emplace(o);
        }
      }
    } else {
      for (auto o : internal::FieldOptionKeys(k)) want.emplace(o);
    }
    Names got = Keys(At({"$defs", "field_common", "properties"}));
    for (const std::string& key : Keys(At({"$defs", "field_" + name, "properties"})))
      got.insert(key);
    EXPECT_EQ(got, want);
  }
  Names scalars;
  for (FieldKind k : internal::kAllKinds) {
    if (internal::IsScalarKind(k)) scalars.insert(FieldKindName(k));
  }
  EXPECT_EQ(Strings(At({"$defs", "field_list", "properties", "of", "enum"})), scalars);
}

TEST_F(Schema, Effects) {
  Names kinds;
  for (const api::Json& ref : At({"$defs", "effect", "oneOf"}).items()) {
    const std::string r = ref.Find("$ref") ? ref.Find("$ref")->text() : "";
    kinds.insert(r.substr(r.find("effect_") + 7));
  }
  EXPECT_EQ(kinds, Set(internal::kEffectKinds));
  EXPECT_EQ(Keys(At({"$defs", "effect_set", "properties", "set", "properties"})),
            Set(internal::kSetKeys));
  EXPECT_EQ(Keys(At({"$defs", "effect_add", "properties", "add", "properties"})),
            Set(internal::kAddKeys));
  EXPECT_EQ(Keys(At({"$defs", "effect_create", "properties", "create", "properties"})),
            Set(internal::kCreateKeys));
  EXPECT_EQ(Keys(At({"$defs", "effect_transition", "properties", "transition", "properties"})),
            Set(internal::kTransitionEffectKeys));
  EXPECT_EQ(Keys(At({"$defs", "effect_for_each", "properties"})), Set(internal::kForEachKeys));
}

}  // namespace
}  // namespace grove::tools
