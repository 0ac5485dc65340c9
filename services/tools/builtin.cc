#include <algorithm>

#include "tools/builtin_files.h"
#include "tools/tool.h"

namespace grove::tools {

std::vector<std::string> BuiltinNames() {
  std::vector<std::string> names;
  for (size_t i = 0; i < internal::kBuiltinFileCount; ++i) {
    names.emplace_back(internal::kBuiltinFiles[i].name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<Tool> LoadBuiltin(std::string_view name) {
  for (size_t i = 0; i < internal::kBuiltinFileCount; ++i) {
    const internal::BuiltinFile& file = internal::kBuiltinFiles[i];
    if (name != file.name) continue;
    const std::string path = "workflows/" + std::string(file.name) + ".yaml";
    ParseResult parsed =
        ParseTool(std::string_view(reinterpret_cast<const char*>(file.data), file.size), path);
    if (parsed.tool) return std::move(*parsed.tool);
    // A shipped tool that does not parse is a bug of the release; say exactly where.
    std::string message = "built-in tool " + std::string(name) + " does not parse:";
    for (const Diagnostic& d : parsed.diagnostics) message += "\n" + d.Text();
    return Internal(std::move(message), path);
  }
  std::string names;
  for (const std::string& n : BuiltinNames()) names += (names.empty() ? "" : ", ") + n;
  return NotFound("no built-in tool " + std::string(name) +
                  " (available: " + (names.empty() ? "none" : names) + ")");
}

}  // namespace grove::tools
