// Tool upgrades: `migrate` is read, checked and carried in the canonical bytes; CheckUpgrade()
// refuses a new version that removes or changes what existing records depend on.
#include <gtest/gtest.h>

#include "tool_test_util.h"
#include "tools/tool.h"

namespace grove::tools {
namespace {

using testing::AllText;
using testing::ExpectDiagnostic;
using testing::kShop;
using testing::MustParse;
using testing::Replace;

std::string V2(std::string_view migrate = "") {
  std::string y = Replace(kShop, "version: 1", "version: 2");
  y += migrate;
  return y;
}

TEST(Migrate, IsReadSortedAndSurvivesTheCanonicalRoundTrip) {
  const Tool t =
      MustParse(V2("migrate:\n  order:\n    location: \"'Main'\"\n"
                   "    number: \"'N-' + record.id\"\n"));
  ASSERT_EQ(t.migrate.size(), 1u);
  EXPECT_EQ(t.migrate[0].type, "order");
  ASSERT_EQ(t.migrate[0].sets.size(), 2u);
  EXPECT_EQ(t.migrate[0].sets[0].first, "location");
  EXPECT_EQ(t.migrate[0].sets[1].second->text(), "'N-' + record.id");
  auto back = ParseCanonical(Canonical(t));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->migrate.size(), 1u);
  EXPECT_EQ(back->migrate[0].sets[1].second->text(), "'N-' + record.id");
  EXPECT_EQ(Canonical(*back), Canonical(t));
  // A tool without `migrate` has the bytes it always had (pinned hashes stay valid).
  const Tool plain = MustParse(V2());
  auto plain_back = ParseCanonical(Canonical(plain));
  ASSERT_TRUE(plain_back.ok());
  EXPECT_TRUE(plain_back->migrate.empty());
}

TEST(Migrate, MistakesAreLocated) {
  std::string y = V2("migrate:\n  gadget:\n    x: \"1\"\n");
  ExpectDiagnostic(y, testing::Pos(y, "gadget"), "migrate 'gadget': the tool declares no type");
  y = V2("migrate:\n  item:\n    colour: \"'red'\"\n");
  ExpectDiagnostic(y, testing::Pos(y, "\"'red'"), "names unknown field 'colour'");
  y = V2("migrate:\n  item:\n    sold: \"1\"\n");
  ExpectDiagnostic(y, testing::Pos(y, "\"1\"\n"), "is a counter; change it with an add effect");
  y = V2("migrate:\n  item:\n    sku: \"record.nothing\"\n");
  const ParseResult r = ParseTool(y, "t.yaml");
  EXPECT_FALSE(r.tool.has_value());
  EXPECT_NE(AllText(r.diagnostics).find("nothing"), std::string::npos) << AllText(r.diagnostics);
}

TEST(CheckUpgrade, AcceptsACompatibleNewVersion) {
  const Tool v1 = MustParse(kShop);
  std::string y = V2("migrate:\n  item:\n    sku: \"'X'\"\n");
  y = Replace(y, "      sold: {type: counter}\n",
              "      sold: {type: counter}\n      unit: {type: text}\n");
  const Tool v2 = MustParse(y);
  EXPECT_TRUE(CheckUpgrade(v1, v2).empty()) << AllText(CheckUpgrade(v1, v2));
}

TEST(CheckUpgrade, RefusesWhatExistingRecordsDependOn) {
  const Tool v1 = MustParse(kShop);
  auto refused = [&](const std::string& yaml, const std::string& want) {
    const Tool v2 = MustParse(yaml, "v2.yaml");
    const std::string got = AllText(CheckUpgrade(v1, v2));
    EXPECT_NE(got.find(want), std::string::npos) << "want ..." << want << "...\ngot:\n" << got;
    EXPECT_NE(got.find("v2.yaml:"), std::string::npos) << got;
  };
  refused(kShop.data(), "version 1 does not upgrade version 1");
  refused(Replace(V2(), "      photo: {type: attachment, max_bytes: 1000000}\n", ""),
          "field 'photo' was removed");
  refused(Replace(V2(), "photo: {type: attachment, max_bytes: 1000000}", "photo: {type: text}"),
          "field 'photo' changed its kind from attachment to text");
  Tool renamed = MustParse(Replace(V2(), "tool: shop", "tool: store"));
  EXPECT_NE(AllText(CheckUpgrade(v1, renamed)).find("cannot be tool 'store'"), std::string::npos);
}

// The shipped auctions tool went to version 2 with sealed bids (decision 0007); workspaces
// pinned to version 1 (tests/unit/tools/data/auctions_v1.yaml, the file as it shipped) must
// be able to upgrade to it.
TEST(CheckUpgrade, ShippedAuctionsUpgradesVersion1) {
  ParseResult v1 =
      ParseToolFile(std::string(GROVE_SOURCE_DIR) + "/tests/unit/tools/data/auctions_v1.yaml");
  ASSERT_TRUE(v1.tool.has_value()) << AllText(v1.diagnostics);
  auto v2 = LoadBuiltin("auctions");
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(v1.tool->version, 1u);
  EXPECT_EQ(v2->version, 2u);
  EXPECT_TRUE(CheckUpgrade(*v1.tool, *v2).empty()) << AllText(CheckUpgrade(*v1.tool, *v2));
}

}  // namespace
}  // namespace grove::tools
