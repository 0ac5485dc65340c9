// Tool files (docs/tools.md), without a peer: `grove tool check FILE...` and `grove tool list`.
#include <iostream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/table.h"
#include "tools/tool.h"

namespace grove::cli {
namespace {

// Every file parsed and checked on its own, then all of them as one set (as a workspace would
// use them together). Each diagnostic goes to stderr as FILE:LINE:COLUMN: message.
int RunCheck(const Args& args) {
  const std::vector<std::string>& files = args.positional();
  if (files.empty()) {
    std::cerr << "grove: missing FILE\n";
    return kExitUsage;
  }
  std::vector<tools::ParseResult> results;
  results.reserve(files.size());
  bool failed = false;
  for (const std::string& file : files) {
    results.push_back(tools::ParseToolFile(file));
    for (const tools::Diagnostic& d : results.back().diagnostics) {
      std::cerr << d.Text() << "\n";
      failed = true;
    }
  }
  std::vector<const tools::Tool*> parsed;
  for (const tools::ParseResult& r : results) {
    if (r.tool) parsed.push_back(&*r.tool);
  }
  const std::vector<tools::Diagnostic> set = tools::CheckToolSet(parsed);
  for (const tools::Diagnostic& d : set) {
    std::cerr << d.Text() << "\n";
    failed = true;
  }
  for (size_t i = 0; i < files.size(); ++i) {
    const tools::ParseResult& r = results[i];
    if (!r.tool) continue;
    bool blamed = false;
    for (const tools::Diagnostic& d : set) blamed = blamed || d.at.file == files[i];
    if (blamed) continue;
    std::cout << files[i] << ": ok (tool " << r.tool->name << " v" << r.tool->version << ", "
              << r.tool->types.size() << (r.tool->types.size() == 1 ? " type" : " types") << ")\n";
  }
  return failed ? kExitError : kExitOk;
}

int RunList(const Args& args) {
  Table table("lrl");
  table.Row({"name", "version", "title"});
  std::string json = "[";
  for (const std::string& name : tools::BuiltinNames()) {
    Result<tools::Tool> tool = tools::LoadBuiltin(name);
    if (!tool.ok()) return ReportError(tool.status());
    table.Row({tool->name, std::to_string(tool->version), tool->title});
    json += (json.size() > 1 ? "," : "") + std::string("{\"name\":") + JsonString(tool->name) +
            ",\"version\":" + std::to_string(tool->version) +
            ",\"title\":" + JsonString(tool->title) + "}";
  }
  if (args.Has("json")) {
    std::cout << json << "]\n";
  } else {
    std::cout << table.Text();
  }
  return kExitOk;
}

}  // namespace

std::vector<Command> ToolCommands() {
  return {
      {.name = "tool check",
       .summary = "Check tool files (workflows/*.yaml) on their own and as one set; prints each "
                  "problem as FILE:LINE:COLUMN: message.",
       .options = {},
       .positionals = {"FILE..."},
       .run = RunCheck,
       .repeat_last = true},
      {.name = "tool list",
       .summary = "The tools built into this release, for `grove ws create NAME --tools a,b`.",
       .options = {{"json", "", false, "print JSON"}},
       .positionals = {},
       .run = RunList},
  };
}

}  // namespace grove::cli
