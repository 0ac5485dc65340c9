// api::BrowserSessions — sign-in for the peer's web app (api/http_api.h, /api/v1/sessions).
//
// A browser cannot send "Authorization: Bearer" with an EventSource, so it signs in once, with the
// API token or a one-time login link code, and then carries a session cookie. Each session has
// a CSRF token the page sends back in X-Grove-CSRF on every request that changes something.
//
//   sessions     in memory only (a restarted peer signs everyone out); each expires after
//                `idle_ms` without use (every use extends it); at most `max_sessions` at once:
//                signing in beyond that drops the least recently used one.
//   login links  one-time codes, valid `link_ttl_ms` from creation, gone once used (or expired);
//                at most `max_links` outstanding (the oldest is dropped).
//   failures     a wrong token or an unknown, used or expired code counts as a failure; after
//                `max_failures` within `failure_window_ms`, every sign-in (right or wrong) is
//                refused as locked for `lockout_ms`. Bearer-token API use is not affected.
//
// Session ids, CSRF tokens and codes are 32 random bytes in base64url (43 characters). Every
// comparison with a secret runs in time that does not depend on how much of a guess was right
// (all stored ids are compared, none is looked up by the guess).
//
// Ownership: the clock and the random source are borrowed and must outlive this object.
// Thread-safety: every method may be called from any thread at once (one mutex; the random
// source is only used under it, so it need not be thread-safe itself).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/random.h"

namespace grove::api {

struct BrowserSession {
  std::string id;    // the cookie's value
  std::string csrf;  // what X-Grove-CSRF must carry
  uint64_t expires_ms = 0;
};

struct LoginLinkCode {
  std::string code;
  uint64_t expires_ms = 0;
};

class BrowserSessions {
 public:
  struct Limits {
    uint64_t idle_ms = 12 * 3600 * 1000ull;
    size_t max_sessions = 64;
    uint64_t link_ttl_ms = 10 * 60 * 1000ull;
    size_t max_links = 256;
    int max_failures = 10;
    uint64_t failure_window_ms = 60'000;
    uint64_t lockout_ms = 60'000;
  };

  struct SignInResult {
    enum class Outcome { kSignedIn, kRefused, kLocked };
    Outcome outcome = Outcome::kRefused;
    BrowserSession session;       // kSignedIn
    uint64_t retry_after_ms = 0;  // kLocked: until the lock ends
  };

  // `token` is the API token (must not be empty).
  BrowserSessions(std::string token, Clock& clock, Random& random);
  BrowserSessions(std::string token, Clock& clock, Random& random, Limits limits);

  // A new session when `token` is the API token.
  SignInResult SignInWithToken(std::string_view token);
  // A new session when `code` is an outstanding login link code; the code is used up.
  SignInResult SignInWithLink(std::string_view code);

  // The session whose id is `id`, its expiry extended; nullopt when none is (or it expired).
  std::optional<BrowserSession> Find(std::string_view id);
  // Ends the session `id`, if there is one.
  void End(std::string_view id);

  // A new one-time login link code.
  LoginLinkCode CreateLink();

  size_t session_count();

 private:
  std::string RandomText();
  void Sweep(uint64_t now);
  // Counts a failure (the tenth within the window starts the lock); a kRefused result.
  SignInResult Failure(uint64_t now);
  SignInResult NewSession(uint64_t now);
  std::optional<SignInResult> Locked(uint64_t now);

  struct Session {
    BrowserSession public_part;
    uint64_t last_used_ms = 0;
  };

  const std::string token_;
  Clock& clock_;
  const Limits limits_;
  std::mutex mu_;
  Random& random_;                   // GUARDED_BY(mu_)
  std::vector<Session> sessions_;    // GUARDED_BY(mu_)
  std::deque<LoginLinkCode> links_;  // GUARDED_BY(mu_), oldest first
  std::deque<uint64_t> failures_;    // GUARDED_BY(mu_), times within the window
  uint64_t locked_until_ms_ = 0;     // GUARDED_BY(mu_)
};

}  // namespace grove::api
