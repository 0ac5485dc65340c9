// grove: the command-line tool. Finds the command named by the leading words of the arguments in
// the table built from the command groups (cli/command.h), parses its options and runs it.
#include <iostream>
#include <span>
#include <string>
#include <vector>

#include "cli/command.h"

namespace grove::cli {
namespace {

const std::vector<Command>& AllCommands() {
  static const std::vector<Command> commands = [] {
    std::vector<Command> all;
    for (auto group :
         {IdentityCommands, CardCommands, StoreCommands, DemoCommands, ToolCommands, StatusCommands,
          WorkspaceCommands, RecordCommands, AttachCommands, AuditCommands}) {
      std::vector<Command> more = group();
      all.insert(all.end(), more.begin(), more.end());
    }
    return all;
  }();
  return commands;
}

std::string GeneralHelp() {
  std::string text =
      "usage: grove COMMAND [OPTIONS] [ARGS]\n"
      "       grove help COMMAND    details of one command\n\nCommands:\n";
  for (const Command& command : AllCommands()) {
    text += "  " + UsageLine(command) + "\n      " + std::string(command.summary) + "\n";
  }
  text +=
      "\nExit codes: 0 ok, 1 error, 2 usage, 3 already exists, 4 not found, 5 peer not "
      "reachable.\n";
  return text;
}

// How many leading `words` spell `name` ("card verify" is two words); 0 if they do not.
size_t MatchWords(std::string_view name, std::span<const std::string> words) {
  size_t used = 0;
  while (!name.empty()) {
    const size_t space = name.find(' ');
    if (used == words.size() || words[used] != name.substr(0, space)) return 0;
    ++used;
    name = space == std::string_view::npos ? std::string_view{} : name.substr(space + 1);
  }
  return used;
}

// The command with the longest name that prefixes `words`, or nullptr; `used` gets its length.
const Command* FindCommand(std::span<const std::string> words, size_t& used) {
  const Command* best = nullptr;
  used = 0;
  for (const Command& command : AllCommands()) {
    const size_t n = MatchWords(command.name, words);
    if (n > used) best = &command, used = n;
  }
  return best;
}

int UsageError(const std::string& message, const std::string& usage) {
  std::cerr << "grove: " << message << "\n" << usage;
  return kExitUsage;
}

std::string Joined(std::span<const std::string> words) {
  std::string text;
  for (const std::string& word : words) text += (text.empty() ? "" : " ") + word;
  return text;
}

int Help(std::span<const std::string> words) {
  if (words.empty()) {
    std::cout << GeneralHelp();
    return kExitOk;
  }
  size_t used = 0;
  const Command* command = FindCommand(words, used);
  if (command == nullptr || used != words.size()) {
    return UsageError("no command \"" + Joined(words) + "\"", GeneralHelp());
  }
  std::cout << CommandHelp(*command);
  return kExitOk;
}

int Main(std::span<const std::string> words) {
  if (words.empty()) return UsageError("no command given", GeneralHelp());
  if (words[0] == "--help" || words[0] == "-h") return Help({});
  if (words[0] == "help") return Help(words.subspan(1));
  size_t used = 0;
  const Command* command = FindCommand(words, used);
  if (command == nullptr) {
    // Name the words that could be a command ("card frobnicate"), not the options after them.
    size_t n = 0;
    while (n < words.size() && n < 2 && !words[n].starts_with("-")) ++n;
    return UsageError("unknown command \"" + Joined(words.first(n)) + "\"", GeneralHelp());
  }
  const std::span<const std::string> rest = words.subspan(used);
  for (const std::string& word : rest) {
    if (word == "--") break;
    if (word == "--help") return Help(words.first(used));
  }
  Result<Args> args = ParseArgs(*command, rest);
  if (!args.ok()) {
    return UsageError(args.status().message(), "usage: " + UsageLine(*command) + "\n");
  }
  return command->run(*args);
}

}  // namespace
}  // namespace grove::cli

int main(int argc, char** argv) {
  const std::vector<std::string> words(argv + 1, argv + argc);
  return grove::cli::Main(words);
}
