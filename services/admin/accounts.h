// Accounts: the relay's admin accounts, their sessions and login lockout, in PostgreSQL
// (schemas/sql/admin). Passwords are argon2id hashes (password.h); a session token is 32 random
// bytes shown as base64url (43 characters), of which only the SHA-256 is stored.
//
// Login: a wrong password and an unknown account get the same answer (kRefused) after the same
// work (an unknown name is checked against a dummy hash of the same cost). After
// `lockout_failures` consecutive failures an account is locked for `lockout_ms`: every login to it
// then answers kLocked with the time it unlocks, without checking the password, so the answer
// says nothing about whether the password was right. Unknown names are locked the same way, in
// memory (bounded), so the lockout does not reveal which names exist. Failures, lockouts, logins
// refused while locked and successful logins are all queued to the audit log in the transaction
// that records them.
//
// Sessions end `session_idle_ms` after their last use or `session_max_ms` after login, whichever
// comes first; Authenticate refreshes the last use. Changing a password ends the account's
// sessions; removing an account ends them too.
//
// Every change (add, passwd, remove, unlock, login, logout) is queued to the audit log with the
// actor given ("admin:NAME" from the console, "cli:USER" from `grove-relay admin`).
//
// Ownership: borrows the AdminDb, the clock and the random source, which must outlive it.
// Thread-safety: every method may be called from any thread at once (the clock must be safe to
// call from several threads; `rng` is used under a lock). At most two password hashes are
// computed at a time, to bound memory (each takes Argon2Cost::memory_kib).
// Failure: InvalidArgument naming the field ("name", "password"); NotFound for an account that
// does not exist (except from Login); AlreadyExists from Add; database errors as AdminDb's.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <semaphore>
#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_db.h"
#include "admin/password.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"

namespace grove::admin {

constexpr size_t kMaxAccountNameBytes = 64;

struct AccountPolicy {
  uint64_t session_idle_ms = 8 * 3600 * 1000;
  uint64_t session_max_ms = 24 * 3600 * 1000;
  uint32_t lockout_failures = 5;
  uint64_t lockout_ms = 15 * 60 * 1000;
  Argon2Cost cost;
};

struct AccountInfo {
  std::string name;
  uint64_t created_ms = 0;
  uint64_t password_changed_ms = 0;
  std::optional<uint64_t> last_login_ms;
  uint32_t failed_logins = 0;    // consecutive, since the last success or lockout
  uint64_t locked_until_ms = 0;  // 0 (or a past time): not locked
};

struct SessionInfo {
  std::string account;
  uint64_t created_ms = 0;
  uint64_t expires_ms = 0;       // the absolute end
  uint64_t idle_expires_ms = 0;  // the end unless it is used before
};

struct LoginOutcome {
  enum class Kind { kSignedIn, kRefused, kLocked };
  Kind kind = Kind::kRefused;
  std::string token;        // kSignedIn: the session token (base64url)
  SessionInfo session;      // kSignedIn
  uint64_t unlocks_ms = 0;  // kLocked: when a login may be tried again
};

struct Authentication {
  std::optional<SessionInfo> session;  // set when the token names a live session
  std::string problem;                 // otherwise why not: "no such session", "session expired"
};

// An account name: 1 to 64 characters from A-Z a-z 0-9 . _ @ -. InvalidArgument (where "name").
Status CheckAccountName(std::string_view name);

class Accounts {
 public:
  // REQUIRES: CheckArgon2Cost(policy.cost) is OK.
  Accounts(AdminDb& db, Clock& clock, Random& rng, AccountPolicy policy);

  Status Add(std::string_view name, std::string_view password, const std::string& actor);
  // Sets a new password, unlocks the account and ends its sessions.
  Status SetPassword(std::string_view name, std::string_view password, const std::string& actor);
  Status Remove(std::string_view name, const std::string& actor);
  // Clears the lockout and the failure count.
  Status Unlock(std::string_view name, const std::string& actor);
  // Every account, by name.
  Result<std::vector<AccountInfo>> List();

  // `remote` (the client's address) goes into the audit log.
  Result<LoginOutcome> Login(std::string_view name, std::string_view password,
                             std::string_view remote);
  // The session `token` names, refreshing its last use; an expired session is deleted.
  Result<Authentication> Authenticate(std::string_view token);
  // Ends the session; OK when there was none.
  Status Logout(std::string_view token, std::string_view remote);

  const AccountPolicy& policy() const { return policy_; }

 private:
  struct Failures {
    uint32_t count = 0;
    uint64_t locked_until_ms = 0;
  };

  Result<std::string> Hash(std::string_view password);
  // Runs a password check with the hashing slots held.
  Result<bool> Verify(std::string_view encoded, std::string_view password);
  Result<LoginOutcome> LoginUnknown(std::string_view name, std::string_view password,
                                    std::string_view remote, uint64_t now);
  std::string NewToken();

  AdminDb& db_;
  Clock& clock_;
  AccountPolicy policy_;
  std::counting_semaphore<2> hashing_{2};

  std::mutex mu_;
  Random& rng_;                              // guarded by mu_
  std::string dummy_hash_;                   // guarded by mu_; made on first need
  std::map<std::string, Failures> unknown_;  // guarded by mu_: failures of unknown names
};

}  // namespace grove::admin
