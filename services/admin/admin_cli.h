// `grove-relay admin ...`: managing the admin console's accounts from the relay's host, where
// the first admin must come from (there is no sign-up). Reads the relay's configuration for the
// database and the argon2 cost, so run it with the same --config (or --db) as the relay:
//
//   grove-relay admin add    [--config FILE | --db URL] [--password-file FILE] NAME
//   grove-relay admin passwd [--config FILE | --db URL] [--password-file FILE] NAME
//   grove-relay admin unlock [--config FILE | --db URL] NAME
//   grove-relay admin remove [--config FILE | --db URL] NAME
//   grove-relay admin list   [--config FILE | --db URL]
//
// Any other relay flag (--data, --console.argon2_memory_kib ...) is accepted as for the relay.
// The password is the first line of --password-file, else of standard input; on a terminal it
// is asked for twice without echo. It is never printed or logged. Each change is queued to the
// audit log with the actor "cli:<unix user>".
//
// Thread-safety: run from one thread. Failure: returns the exit code (0 done, 1 failed, 2 usage)
// after writing the reason to `err`.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/random.h"

namespace grove::admin {

struct CliIo {
  std::istream& in;       // where the password comes from without --password-file
  std::ostream& out;      // results
  std::ostream& err;      // prompts and errors
  bool terminal = false;  // `in` is a terminal: prompt, without echo, and ask twice
};

// `args` follow "admin": {"add", "--db", "postgresql://...", "alice"}.
int RunAdminCommand(const std::vector<std::string>& args, CliIo io, Clock& clock, Random& rng);

}  // namespace grove::admin
