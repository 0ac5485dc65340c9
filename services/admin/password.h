// Admin passwords: the rules a new password must meet, and argon2id hashing (libargon2) in the
// encoded form "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>", which carries its
// salt (16 random bytes) and cost, so a hash stays verifiable after the configured cost changes.
//
// Cost: RFC 9106 / OWASP suggest at least 19 MiB of memory; Grove's default is 64 MiB, 3 passes,
// one lane (about 0.1 to 0.3 s per hash on a server core). Tests configure a tiny cost.
//
// Thread-safety: pure functions (HashPassword draws from `rng`, which the caller must not share
// with another thread during the call). Each hash or verification allocates memory_kib KiB.
// Failure: InvalidArgument naming the field ("password", or the cost's field); Corruption for an
// encoded hash that is not argon2id or whose cost is beyond kMaxArgon2Cost (never verified, so a
// tampered row cannot make the relay allocate gigabytes); Internal when libargon2 fails.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/random.h"
#include "common/status.h"

namespace grove::admin {

constexpr size_t kMinPasswordChars = 12;    // Unicode code points
constexpr size_t kMaxPasswordBytes = 1024;  // longer adds nothing and costs hashing time
constexpr size_t kSaltBytes = 16;

struct Argon2Cost {
  uint32_t passes = 3;          // t_cost, 1..16
  uint32_t memory_kib = 65536;  // m_cost in KiB, 8*lanes..4194304 (4 GiB)
  uint32_t lanes = 1;           // parallelism, 1..16

  bool operator==(const Argon2Cost&) const = default;
};

// InvalidArgument (where "passes", "memory_kib" or "lanes") for a cost outside the ranges above.
Status CheckArgon2Cost(const Argon2Cost& cost);

// The rules for a new password: at least kMinPasswordChars characters, at most kMaxPasswordBytes
// bytes, valid UTF-8 without NUL. InvalidArgument (where "password") with a message saying which
// rule failed ("password must be at least 12 characters long (got 7)").
Status CheckNewPassword(std::string_view password);

// The encoded argon2id hash of `password` with a fresh 16-byte salt from `rng`.
// REQUIRES: CheckArgon2Cost(cost) is OK (InvalidArgument otherwise).
Result<std::string> HashPassword(std::string_view password, const Argon2Cost& cost, Random& rng);
// The same with a given salt. InvalidArgument unless `salt` is kSaltBytes long.
Result<std::string> HashPasswordWithSalt(std::string_view password, const Argon2Cost& cost,
                                         ByteView salt);

// Whether `password` matches `encoded` (in constant time for the hash comparison). Corruption for
// an `encoded` that is not an argon2id hash within kMaxArgon2Cost.
Result<bool> VerifyPassword(std::string_view encoded, std::string_view password);

// The cost recorded in an encoded argon2id hash; nullopt when it is not one.
std::optional<Argon2Cost> EncodedCost(std::string_view encoded);

}  // namespace grove::admin
