#include "cli/command.h"

#include "common/utf8.h"

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace grove::cli {
namespace {

const Option* FindOption(const Command& command, std::string_view name) {
  for (const Option& option : command.options) {
    if (option.name == name) return &option;
  }
  return nullptr;
}

std::string OptionUsage(const Option& option) {
  std::string text = "--" + std::string(option.name);
  if (!option.value.empty()) text += " " + std::string(option.value);
  text = option.required ? text : "[" + text + "]";
  return option.repeatable ? text + "..." : text;
}

}  // namespace

const std::string* Args::Get(std::string_view name) const {
  for (const auto& [key, value] : options_) {
    if (key == name) return &value;
  }
  return nullptr;
}

bool Args::Has(std::string_view name) const { return Get(name) != nullptr; }

std::vector<std::string> Args::All(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [key, value] : options_) {
    if (key == name) values.push_back(value);
  }
  return values;
}

Result<Args> ParseArgs(const Command& command, std::span<const std::string> words) {
  Args args;
  bool options_done = false;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (options_done || !word.starts_with("--")) {
      args.positional_.push_back(word);
      continue;
    }
    if (word == "--") {
      options_done = true;
      continue;
    }
    // Both "--data DIR" and "--data=DIR".
    const size_t eq = word.find('=');
    const std::string name = word.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const Option* option = FindOption(command, name);
    if (option == nullptr) return InvalidArgument("unknown option --" + name);
    if (args.Has(name) && !option->repeatable) {
      return InvalidArgument("--" + name + " given twice");
    }
    std::string value;
    if (option->value.empty()) {
      if (eq != std::string::npos) return InvalidArgument("--" + name + " takes no value");
    } else if (eq != std::string::npos) {
      value = word.substr(eq + 1);
    } else if (i + 1 < words.size()) {
      value = words[++i];
    } else {
      return InvalidArgument("--" + name + " needs a value (" + std::string(option->value) + ")");
    }
    args.options_.emplace_back(name, std::move(value));
  }
  for (const Option& option : command.options) {
    if (option.required && !args.Has(option.name)) {
      return InvalidArgument("missing --" + std::string(option.name) + " " +
                             std::string(option.value));
    }
  }
  const size_t required = command.positionals.size() - (command.repeat_last ? 1 : 0);
  if (args.positional_.size() < required) {
    return InvalidArgument("missing " + std::string(command.positionals[args.positional_.size()]));
  }
  if (!command.repeat_last && args.positional_.size() > command.positionals.size()) {
    return InvalidArgument("unexpected argument \"" + args.positional_[command.positionals.size()] +
                           "\"");
  }
  return args;
}

std::string UsageLine(const Command& command) {
  std::string line = "grove " + std::string(command.name);
  for (const Option& option : command.options) line += " " + OptionUsage(option);
  for (std::string_view positional : command.positionals) line += " " + std::string(positional);
  return line;
}

std::string CommandHelp(const Command& command) {
  std::string text = "usage: " + UsageLine(command) + "\n\n" + std::string(command.summary) + "\n";
  if (command.options.empty()) return text;
  size_t width = 0;
  for (const Option& option : command.options) {
    width = std::max(width, option.name.size() + option.value.size() + 3);
  }
  text += "\nOptions:\n";
  for (const Option& option : command.options) {
    std::string left = "--" + std::string(option.name);
    if (!option.value.empty()) left += " " + std::string(option.value);
    left.resize(width, ' ');
    text += "  " + left + "  " + std::string(option.help) + "\n";
  }
  return text;
}

int ReportError(const Status& status) {
  std::string line = "grove: " + status.message();
  if (!status.where().empty()) line += " (at " + status.where() + ")";
  std::cerr << line << "\n";
  switch (status.code()) {
    case Code::kAlreadyExists:
      return kExitAlreadyExists;
    case Code::kNotFound:
      return kExitNotFound;
    default:
      return kExitError;
  }
}

std::string JsonString(std::string_view text) {
  std::string out;
  AppendJsonString(out, text);
  return out;
}

}  // namespace grove::cli
