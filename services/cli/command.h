// The `grove` command line: how a subcommand is declared, parsed and reported.
//
// Each command group lives in its own file (identity_commands.cc, card_commands.cc, ...) and
// exposes a function returning its Commands; main.cc concatenates the groups into the one table
// that dispatch, `grove --help` and `grove help CMD` read. To add a group: write the file, declare
// its function below, list it in main.cc and in services/cli/CMakeLists.txt.
//
// A command's name may be several words ("card verify", "store rebuild"): dispatch matches the
// longest name that prefixes the arguments. Options are declared, so the parser rejects unknown
// or missing ones with a usage error (exit 2) before the command runs, and usage lines are
// generated from the declaration rather than written by hand.
//
// Commands print results to stdout and errors to stderr as "grove: <message>", and return one of
// the exit codes below. Single-threaded.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace grove::cli {

// Documented in `grove --help`; scripts rely on them, so never renumber.
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,
  kExitUsage = 2,
  kExitAlreadyExists = 3,
  kExitNotFound = 4,
  kExitUnreachable = 5,  // the peer's API did not answer (commands that talk to grove-peer)
};

struct Option {
  std::string_view name;   // without the leading "--"
  std::string_view value;  // the value's placeholder ("DIR"); empty for a flag such as --json
  bool required = false;
  std::string_view help;
  bool repeatable = false;  // may be given more than once (Args::All)
};

struct Command;

// The parsed arguments of one invocation, already checked against the command's declaration.
class Args {
 public:
  // The value of --name, or nullptr when it was not given. Required options are always present.
  const std::string* Get(std::string_view name) const;
  // Whether the flag --name was given.
  bool Has(std::string_view name) const;
  // Every value of a repeatable --name, in the order given.
  std::vector<std::string> All(std::string_view name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend Result<Args> ParseArgs(const Command& command, std::span<const std::string> words);
  std::vector<std::pair<std::string, std::string>> options_;
  std::vector<std::string> positional_;
};

struct Command {
  std::string_view name;     // "init", "card verify"
  std::string_view summary;  // one line, for `grove --help`
  std::vector<Option> options;
  std::vector<std::string_view> positionals;  // placeholders of required positional arguments
  int (*run)(const Args& args);
  // The last positional may be given any number of times, none included ("FIELD=VALUE...").
  bool repeat_last = false;
};

// Parses the words after the command name. InvalidArgument with a message fit for the user
// ("missing --data DIR", "unknown option --colour") when they do not fit the declaration.
Result<Args> ParseArgs(const Command& command, std::span<const std::string> words);

// "grove init --data DIR --name NAME", optional options in brackets.
std::string UsageLine(const Command& command);
// The usage line, the summary and one line per option, for `grove help CMD`.
std::string CommandHelp(const Command& command);

// Prints "grove: <message>" (and " (at <where>)") to stderr; returns the exit code for the
// status: 3 for AlreadyExists, 4 for NotFound, else 1.
int ReportError(const Status& status);

// `text` as a JSON string literal, quotes included.
std::string JsonString(std::string_view text);

// Command groups, one per file.
std::vector<Command> IdentityCommands();  // init, identity
std::vector<Command> CardCommands();      // card verify
std::vector<Command> StoreCommands();     // store info, store rebuild
std::vector<Command> DemoCommands();      // demo
// Over the running peer's HTTP API (api_client.h):
std::vector<Command> StatusCommands();  // status, web-link
// ws create|list|invite|accept|members|remove|tools, invitations, checkpoint, history
std::vector<Command> WorkspaceCommands();
std::vector<Command> RecordCommands();  // record create|set|add|get|list|transition|grant
std::vector<Command> AttachCommands();  // attach put|get
// Tool files; no peer needed:
std::vector<Command> ToolCommands();  // tool check, tool list
// The audit log in PostgreSQL; no peer needed:
std::vector<Command> AuditCommands();  // audit verify

}  // namespace grove::cli
