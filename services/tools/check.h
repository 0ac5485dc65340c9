// The checks of one tool's model (services/tools internal). They run on a Tool, not on YAML, so
// the same rules hold for a file (ParseTool), for canonical bytes from a peer (ParseCanonical)
// and across a workspace's tools (CheckToolSet). A SourceMap, filled by the YAML reader, points a
// diagnostic at the exact key or value it is about; without one, diagnostics carry the model's
// own locations (line 0 for canonical bytes). Not thread-safe per instance; no shared state.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "tools/tool.h"

namespace grove::tools::internal {

// Where a key's value (or an expression) sits in the file, by the owning object's `at` and key.
class SourceMap {
 public:
  struct ExprAt {
    Location start;      // first character of the expression text
    bool exact = false;  // columns inside the text map 1:1 onto the file's line
  };

  void Value(const Location& owner, std::string_view key, Location at);
  void Expression(const Location& owner, std::string_view key, ExprAt at);

  // Whether the file had this key (even when its value could not be read).
  bool Has(const Location& owner, std::string_view key) const;
  // The value's location, or `owner` when none was recorded.
  Location ValueAt(const Location& owner, std::string_view key) const;
  // Where column `column` (1-based) of the expression is; `*exact` says whether it is precise.
  Location ExprColumn(const Location& owner, std::string_view key, int column, bool* exact) const;

 private:
  using Key = std::tuple<int, int, std::string>;
  std::map<Key, Location> values_;
  std::map<Key, ExprAt> exprs_;
};

// A type resolved by name: the type, and whether it belongs to another tool.
struct TypeRef {
  const Type* type = nullptr;
  bool external = false;
};
using TypeLookup = std::function<TypeRef(std::string_view name)>;

enum class CheckScope {
  kFile,  // everything knowable from the tool alone; other tools' types are unknown
  kSet,   // only what needs other tools' types (the rest was reported per file)
};

// Appends every problem of `tool` to `out`. `external` resolves types of other tools (kSet); it
// may be empty for kFile.
void CheckTool(const Tool& tool, const SourceMap& map, CheckScope scope, const TypeLookup& external,
               std::vector<Diagnostic>& out);

// "a, b, c"
std::string JoinNames(const std::vector<std::string>& names);

}  // namespace grove::tools::internal
