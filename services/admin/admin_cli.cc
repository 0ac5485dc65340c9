#include "admin/admin_cli.h"

#include <pwd.h>
#include <termios.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <istream>
#include <optional>
#include <ostream>

#include "admin/accounts.h"
#include "admin/admin_db.h"
#include "config/relay_config.h"

namespace grove::admin {
namespace {

constexpr char kUsage[] =
    "usage: grove-relay admin add    [--config FILE | --db URL] [--password-file FILE] NAME\n"
    "       grove-relay admin passwd [--config FILE | --db URL] [--password-file FILE] NAME\n"
    "       grove-relay admin unlock [--config FILE | --db URL] NAME\n"
    "       grove-relay admin remove [--config FILE | --db URL] NAME\n"
    "       grove-relay admin list   [--config FILE | --db URL]\n"
    "\n"
    "Manages the admin console's accounts in the relay's database. The password is read from\n"
    "--password-file (its first line) or standard input; at least 12 characters.\n";

int Usage(std::ostream& err, const std::string& problem) {
  err << "grove-relay admin: " << problem << "\n" << kUsage;
  return 2;
}

int Fail(std::ostream& err, const Status& s) {
  err << "grove-relay admin: " << s.ToString() << "\n";
  return 1;
}

// The first line of `in`, without its line ending; nullopt at end of input.
std::optional<std::string> FirstLine(std::istream& in) {
  std::string line;
  if (!std::getline(in, line) && line.empty()) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Reads a line from the terminal on standard input without echoing it.
std::optional<std::string> ReadHidden(CliIo& io, const char* prompt) {
  io.err << prompt << std::flush;
  termios before{};
  const bool tty = tcgetattr(STDIN_FILENO, &before) == 0;
  if (tty) {
    termios quiet = before;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::optional<std::string> line = FirstLine(io.in);
  if (tty) tcsetattr(STDIN_FILENO, TCSAFLUSH, &before);
  io.err << "\n";
  return line;
}

Result<std::string> ReadPassword(CliIo& io, const std::optional<std::string>& file,
                                 const std::string& name) {
  if (file) {
    std::ifstream in(*file);
    if (!in) return NotFound("cannot read " + *file, "--password-file");
    std::optional<std::string> line = FirstLine(in);
    if (!line) return InvalidArgument(*file + " is empty", "--password-file");
    return *line;
  }
  if (!io.terminal) {
    std::optional<std::string> line = FirstLine(io.in);
    if (!line) return InvalidArgument("no password on standard input", "password");
    return *line;
  }
  const std::string prompt = "Password for " + name + ": ";
  std::optional<std::string> first = ReadHidden(io, prompt.c_str());
  if (!first) return InvalidArgument("no password given", "password");
  GROVE_RETURN_IF_ERROR(CheckNewPassword(*first));  // say so before asking again
  std::optional<std::string> again = ReadHidden(io, "Again: ");
  if (!again || *again != *first) return InvalidArgument("the passwords differ", "password");
  return *first;
}

std::string Actor() {
  const passwd* pw = getpwuid(geteuid());
  return "cli:" + (pw != nullptr ? std::string(pw->pw_name) : std::to_string(geteuid()));
}

std::string TimeText(uint64_t ms) {
  const time_t seconds = static_cast<time_t>(ms / 1000);
  tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

}  // namespace

int RunAdminCommand(const std::vector<std::string>& args, CliIo io, Clock& clock, Random& rng) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    if (args.empty()) return Usage(io.err, "which command?");
    io.out << kUsage;
    return 0;
  }
  const std::string command = args[0];
  const bool takes_name = command != "list";
  const bool takes_password = command == "add" || command == "passwd";
  if (command != "add" && command != "passwd" && command != "unlock" && command != "remove" &&
      command != "list") {
    return Usage(io.err, "unknown command '" + command + "'");
  }
  std::optional<std::string> config_path, password_file, name;
  std::vector<std::pair<std::string, std::string>> overrides;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!arg.starts_with("--")) {
      if (!takes_name || name) return Usage(io.err, "unexpected argument '" + arg + "'");
      name = arg;
      continue;
    }
    if (i + 1 >= args.size()) return Usage(io.err, arg + " needs a value");
    const std::string& value = args[++i];
    if (arg == "--config") {
      config_path = value;
    } else if (arg == "--password-file" && takes_password) {
      password_file = value;
    } else {
      overrides.emplace_back(arg.substr(2), value);
    }
  }
  if (takes_name && !name) return Usage(io.err, command + " needs the account's NAME");

  config::RelayConfig cfg;
  if (config_path) {
    Result<config::RelayConfig> loaded = config::LoadRelayConfig(*config_path);
    if (!loaded.ok()) return Fail(io.err, loaded.status());
    cfg = std::move(loaded).value();
  }
  for (const auto& [key, value] : overrides) {
    if (Status s = config::ApplyRelayOverride(cfg, key, value); !s.ok()) {
      return Usage(io.err, s.ToString());
    }
  }
  if (cfg.db.empty()) return Usage(io.err, "the PostgreSQL URL is required (--db or --config)");
  if (name) {
    if (Status s = CheckAccountName(*name); !s.ok()) return Fail(io.err, s);
  }

  AccountPolicy policy;
  policy.cost = Argon2Cost{cfg.argon2_passes, cfg.argon2_memory_kib, cfg.argon2_lanes};
  if (Status s = CheckArgon2Cost(policy.cost); !s.ok()) return Fail(io.err, s);
  Result<std::unique_ptr<AdminDb>> db =
      AdminDb::Make(cfg.db, static_cast<int>(cfg.db_connect_timeout_s));
  if (!db.ok()) return Fail(io.err, db.status());
  if (Status s = (*db)->Ready(); !s.ok()) return Fail(io.err, s);
  Accounts accounts(**db, clock, rng, policy);

  if (command == "list") {
    Result<std::vector<AccountInfo>> all = accounts.List();
    if (!all.ok()) return Fail(io.err, all.status());
    const uint64_t now = clock.NowMillis();
    for (const AccountInfo& a : *all) {
      io.out << a.name << "\tcreated " << TimeText(a.created_ms) << "\tlast login "
             << (a.last_login_ms ? TimeText(*a.last_login_ms) : std::string("never"));
      if (a.locked_until_ms > now) io.out << "\tlocked until " << TimeText(a.locked_until_ms);
      io.out << "\n";
    }
    if (all->empty()) io.err << "no admin accounts yet: grove-relay admin add NAME\n";
    return 0;
  }

  Status done;
  if (takes_password) {
    Result<std::string> password = ReadPassword(io, password_file, *name);
    if (!password.ok()) return Fail(io.err, password.status());
    done = command == "add" ? accounts.Add(*name, *password, Actor())
                            : accounts.SetPassword(*name, *password, Actor());
    SecureWipe(password->data(), password->size());
  } else {
    done = command == "unlock" ? accounts.Unlock(*name, Actor()) : accounts.Remove(*name, Actor());
  }
  if (!done.ok()) return Fail(io.err, done);
  const char* what = command == "add"      ? "added"
                     : command == "passwd" ? "has a new password (its sessions ended)"
                     : command == "unlock" ? "unlocked"
                                           : "removed";
  io.out << "admin account '" << *name << "' " << what << "\n";
  return 0;
}

}  // namespace grove::admin
