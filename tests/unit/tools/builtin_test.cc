// The tools shipped in workflows/ (whichever exist): each parses without diagnostics, survives
// the canonical round trip, and together they form a consistent set.
#include <gtest/gtest.h>

#include "tools/tool.h"

namespace grove::tools {
namespace {

TEST(Builtin, NamesAreSorted) {
  const std::vector<std::string> names = BuiltinNames();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(Builtin, EveryBuiltinParsesCleanly) {
  for (const std::string& name : BuiltinNames()) {
    SCOPED_TRACE(name);
    Result<Tool> tool = LoadBuiltin(name);
    ASSERT_TRUE(tool.ok()) << tool.status().ToString();
    EXPECT_EQ(tool->name, name) << "a builtin's file name is its tool name";
    EXPECT_EQ(tool->file, "workflows/" + name + ".yaml");
    Result<Tool> back = ParseCanonical(Canonical(*tool));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(Canonical(*back), Canonical(*tool));
  }
}

TEST(Builtin, AllBuiltinsTogetherAreConsistent) {
  std::vector<Tool> tools;
  for (const std::string& name : BuiltinNames()) {
    Result<Tool> tool = LoadBuiltin(name);
    ASSERT_TRUE(tool.ok()) << tool.status().ToString();
    tools.push_back(std::move(*tool));
  }
  std::vector<const Tool*> set;
  for (const Tool& t : tools) set.push_back(&t);
  std::string all;
  for (const Diagnostic& d : CheckToolSet(set)) all += d.Text() + "\n";
  EXPECT_EQ(all, "");
}

TEST(Builtin, UnknownNameIsNotFoundAndListsTheAvailableOnes) {
  Result<Tool> tool = LoadBuiltin("no_such_tool");
  ASSERT_FALSE(tool.ok());
  EXPECT_EQ(tool.status().code(), Code::kNotFound);
  EXPECT_NE(tool.status().message().find("no_such_tool"), std::string::npos);
  for (const std::string& name : BuiltinNames()) {
    EXPECT_NE(tool.status().message().find(name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace grove::tools
