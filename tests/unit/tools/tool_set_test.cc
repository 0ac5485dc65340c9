// CheckToolSet: what spans tools — unique names, `requires`, types of other tools.
#include <gtest/gtest.h>

#include "tool_test_util.h"
#include "tools/tool.h"

namespace grove::tools {
namespace {

using testing::AllText;
using testing::MustParse;
using testing::Replace;

constexpr std::string_view kStock = R"yaml(tool: stock
version: 3
types:
  item:
    fields:
      sku: {type: text, required: true}
      on_hand: {type: stock, keyed: true}
      sold: {type: counter}
    states: [active, retired]
    initial: active
    transitions:
      retire: {from: [active], to: retired}
)yaml";

constexpr std::string_view kBuying = R"yaml(tool: buying
version: 1
requires: [stock]
types:
  order:
    fields:
      item: {type: reference, to: item}
      location: {type: text}
      quantity: {type: integer}
    states: [open, received]
    initial: open
    transitions:
      receive:
        from: [open]
        to: received
        guard: "record.item.sku != ''"
        effects:
          - add: {record: "record.item", field: on_hand, key: "record.location", amount: "record.quantity"}
          - transition: {record: "record.item", name: retire}
          - create: {type: item, fields: {sku: "'new'"}}
)yaml";

std::vector<Diagnostic> Check(const std::vector<Tool>& tools) {
  std::vector<const Tool*> set;
  for (const Tool& t : tools) set.push_back(&t);
  return CheckToolSet(set);
}

TEST(ToolSet, ConsistentSetIsClean) {
  EXPECT_EQ(AllText(Check({MustParse(kStock, "stock.yaml"), MustParse(kBuying, "buying.yaml")})),
            "");
}

TEST(ToolSet, RequiredToolMissing) {
  const auto d = Check({MustParse(kBuying, "buying.yaml")});
  ASSERT_EQ(d.size(), 1u) << AllText(d);
  EXPECT_EQ(d[0].Text(),
            "buying.yaml:1:7: tool 'buying' requires tool 'stock', which is not among the tools "
            "(buying)");
}

TEST(ToolSet, DuplicateToolAndTypeNames) {
  const std::string other = Replace(kStock, "tool: stock", "tool: other");
  const auto d =
      Check({MustParse(kStock, "a.yaml"), MustParse(kStock, "b.yaml"), MustParse(other, "c.yaml")});
  const std::string all = AllText(d);
  EXPECT_NE(all.find("b.yaml:1:7: tool 'stock' is given twice (also a.yaml)"), std::string::npos)
      << all;
  EXPECT_NE(all.find("c.yaml:4:3: type 'item' is already declared by tool 'stock'"),
            std::string::npos)
      << all;
}

TEST(ToolSet, TypesOfToolsNotRequiredAreNotVisible) {
  const std::string buying = Replace(kBuying, "requires: [stock]", "requires: [misc]");
  const std::string misc =
      "tool: misc\nversion: 1\ntypes:\n  note: {fields: {text: {type: text}}}\n";
  const auto d = Check({MustParse(kStock, "stock.yaml"), MustParse(buying, "buying.yaml"),
                        MustParse(misc, "misc.yaml")});
  const std::string all = AllText(d);
  EXPECT_NE(all.find("buying.yaml:7:7: field 'item': 'to' names type 'item' of tool 'stock', "
                     "which tool 'buying' does not list in 'requires'"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("create effect names type 'item' of tool 'stock'"), std::string::npos) << all;
}

TEST(ToolSet, UnknownTypeInAnotherTool) {
  const std::string buying = Replace(kBuying, "to: item}", "to: itme}");
  const auto d = Check({MustParse(kStock), MustParse(buying, "buying.yaml")});
  const std::string all = AllText(d);
  EXPECT_NE(all.find("'to' names unknown type 'itme' (not declared by buying, stock)"),
            std::string::npos)
      << all;
}

// What ParseTool cannot know about another tool's type, the set check reports.
TEST(ToolSet, EffectsAndPathsOnAnotherToolsTypes) {
  std::string buying = Replace(kBuying, "field: on_hand", "field: sku");
  buying = Replace(buying, "name: retire", "name: retrie");
  buying = Replace(buying, "record.item.sku", "record.item.skux");
  buying = Replace(buying, "fields: {sku: \"'new'\"}", "fields: {sold: \"1\"}");
  const Tool parsed = MustParse(buying, "buying.yaml");  // fine on its own
  const auto d = Check({MustParse(kStock, "stock.yaml"), parsed});
  const std::string all = AllText(d);
  EXPECT_EQ(d.size(), 5u) << all;
  EXPECT_NE(all.find("field 'sku' of type 'item' is a text; add needs a counter or stock field"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("type 'item' has no transition 'retrie' (transitions: retire)"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("record.item.skux: type 'item' has no field 'skux'"), std::string::npos)
      << all;
  EXPECT_NE(all.find("field 'sold' is a counter; change it with an add effect"), std::string::npos)
      << all;
  EXPECT_NE(all.find("type 'item' requires field 'sku' at create"), std::string::npos) << all;
}

}  // namespace
}  // namespace grove::tools
