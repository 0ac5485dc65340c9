// `grove demo`: until the networked peer exists, shows the replica at work in one process with
// real keys, encryption and SQLite stores: three devices edit a workspace offline, sync, and end
// with the same state; a removed device stops being able to read. Every claim the narration makes
// is checked, and the exit code says whether all held, so the demo doubles as a smoke test.
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/demo_story.h"

namespace grove::cli {
namespace {

constexpr size_t kDefaultItems = 20;
constexpr size_t kMaxItems = 10'000;

Result<size_t> ParseItems(const std::string* text) {
  if (text == nullptr) return kDefaultItems;
  size_t n = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, n);
  if (ec != std::errc() || ptr != end || n == 0 || n > kMaxItems) {
    return InvalidArgument("--items must be a number from 1 to " + std::to_string(kMaxItems));
  }
  return n;
}

// The given folder (created if missing), or a new one under the system's temp folder.
Result<std::string> DemoDir(const std::string* given) {
  std::error_code ec;
  if (given != nullptr) {
    std::filesystem::create_directories(*given, ec);
    if (ec) return IOError("cannot create " + *given + ": " + ec.message());
    return *given;
  }
  std::string templ = (std::filesystem::temp_directory_path(ec) / "grove-demo.XXXXXX").string();
  if (ec || mkdtemp(templ.data()) == nullptr) {
    return IOError("cannot create a temporary folder for the demo");
  }
  return templ;
}

int RunDemo(const Args& args) {
  Result<size_t> items = ParseItems(args.Get("items"));
  if (!items.ok()) {
    std::cerr << "grove: " << items.status().message() << "\n";
    return kExitUsage;
  }
  Result<std::string> dir = DemoDir(args.Get("dir"));
  if (!dir.ok()) return ReportError(dir.status());
  return RunDemoStory(*dir, *items);
}

}  // namespace

std::vector<Command> DemoCommands() {
  return {
      {.name = "demo",
       .summary = "Show three devices (alice, bob, carol) editing one workspace offline and "
                  "converging, in this process, with real keys, encryption and SQLite stores. "
                  "Exit 1 if any check fails.",
       .options = {{"dir", "DIR", false,
                    "where to put the devices' data folders (default: a new temporary folder)"},
                   {"items", "N", false, "how many items alice creates (default 20)"}},
       .positionals = {},
       .run = RunDemo},
  };
}

}  // namespace grove::cli
