#include "cli/data_folder.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>

namespace grove::cli {

std::string StorePath(const std::string& dir) {
  return (std::filesystem::path(dir) / kStoreFile).string();
}

Result<std::unique_ptr<store::Store>> OpenDeviceStore(const std::string& dir) {
  const std::string path = StorePath(dir);
  // The store's own NotFound does not name the file; the user needs to know which one was meant.
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) {
    return NotFound("no store in " + dir + " (" + path + " does not exist)");
  }
  Result<std::unique_ptr<store::Store>> store =
      store::OpenSqliteStore(path, {.sync_full = false, .create_if_missing = false});
  if (!store.ok()) return store.status().Annotate(path);
  return store;
}

Result<std::unique_ptr<store::Store>> CreateDeviceStore(const std::string& dir) {
  const std::string path = StorePath(dir);
  Result<std::unique_ptr<store::Store>> store =
      store::OpenSqliteStore(path, {.sync_full = false, .create_if_missing = true});
  if (!store.ok()) return store.status().Annotate(path);
  return store;
}

Result<std::vector<std::pair<Hash32, Bytes>>> SelectWorkspaces(store::Store& store,
                                                               const std::string* id_prefix) {
  GROVE_ASSIGN_OR_RETURN(auto all, store.ListWorkspaces());
  if (id_prefix == nullptr) return all;
  std::string prefix = *id_prefix;
  std::transform(prefix.begin(), prefix.end(), prefix.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (prefix.empty() || prefix.size() > 64 ||
      !std::all_of(prefix.begin(), prefix.end(),
                   [](unsigned char c) { return std::isxdigit(c); })) {
    return InvalidArgument("workspace \"" + *id_prefix + "\" is not a hex id or id prefix",
                           "--workspace");
  }
  std::vector<std::pair<Hash32, Bytes>> matches;
  for (auto& workspace : all) {
    if (HexEncode(workspace.first).starts_with(prefix)) matches.push_back(std::move(workspace));
  }
  if (matches.empty()) return NotFound("no workspace " + prefix + " in this store");
  if (matches.size() > 1) {
    return InvalidArgument("workspace prefix " + prefix + " matches " +
                               std::to_string(matches.size()) + " workspaces; give more digits",
                           "--workspace");
  }
  return matches;
}

std::string ShortHex(const Hash32& hash) { return HexEncode(hash).substr(0, 16); }

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  char text[32];
  const double kib = static_cast<double>(bytes) / 1024;
  if (kib < 1024) {
    std::snprintf(text, sizeof text, "%.1f KiB", kib);
  } else {
    std::snprintf(text, sizeof text, "%.1f MiB", kib / 1024);
  }
  return text;
}

}  // namespace grove::cli
