#include "admin/password.h"

#include <argon2.h>

#include <charconv>
#include <vector>

#include "common/utf8.h"

namespace grove::admin {
namespace {

constexpr uint32_t kMaxPasses = 16;
constexpr uint32_t kMaxLanes = 16;
constexpr uint32_t kMaxMemoryKib = 4u << 20;  // 4 GiB
constexpr size_t kHashBytes = 32;

// Characters (code points) of valid UTF-8.
size_t CountChars(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Reads "<key>=<digits>" at the front of `s`, advancing it.
std::optional<uint32_t> TakeParam(std::string_view& s, std::string_view key) {
  if (!s.starts_with(key) || s.size() == key.size() || s[key.size()] != '=') return std::nullopt;
  s.remove_prefix(key.size() + 1);
  uint32_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr == s.data()) return std::nullopt;
  s.remove_prefix(static_cast<size_t>(ptr - s.data()));
  return v;
}

}  // namespace

Status CheckArgon2Cost(const Argon2Cost& cost) {
  if (cost.passes < 1 || cost.passes > kMaxPasses) {
    return InvalidArgument("argon2 passes must be 1.." + std::to_string(kMaxPasses), "passes");
  }
  if (cost.lanes < 1 || cost.lanes > kMaxLanes) {
    return InvalidArgument("argon2 lanes must be 1.." + std::to_string(kMaxLanes), "lanes");
  }
  if (cost.memory_kib < 8 * cost.lanes || cost.memory_kib > kMaxMemoryKib) {
    return InvalidArgument(
        "argon2 memory must be 8 KiB per lane .. " + std::to_string(kMaxMemoryKib) + " KiB",
        "memory_kib");
  }
  return Status::Ok();
}

Status CheckNewPassword(std::string_view password) {
  if (password.size() > kMaxPasswordBytes) {
    return InvalidArgument(
        "password must be at most " + std::to_string(kMaxPasswordBytes) + " bytes long",
        "password");
  }
  if (SanitizeUtf8(password) != password || password.find('\0') != std::string_view::npos) {
    return InvalidArgument("password must be UTF-8 text without NUL characters", "password");
  }
  const size_t chars = CountChars(password);
  if (chars < kMinPasswordChars) {
    return InvalidArgument("password must be at least " + std::to_string(kMinPasswordChars) +
                               " characters long (got " + std::to_string(chars) + ")",
                           "password");
  }
  return Status::Ok();
}

Result<std::string> HashPassword(std::string_view password, const Argon2Cost& cost, Random& rng) {
  uint8_t salt[kSaltBytes];
  rng.Fill(salt);
  return HashPasswordWithSalt(password, cost, salt);
}

Result<std::string> HashPasswordWithSalt(std::string_view password, const Argon2Cost& cost,
                                         ByteView salt) {
  GROVE_RETURN_IF_ERROR(CheckArgon2Cost(cost));
  if (password.size() > kMaxPasswordBytes) {
    return InvalidArgument("password is too long", "password");
  }
  if (salt.size() != kSaltBytes) return InvalidArgument("salt must be 16 bytes", "salt");
  std::vector<char> encoded(argon2_encodedlen(cost.passes, cost.memory_kib, cost.lanes, kSaltBytes,
                                              kHashBytes, Argon2_id) +
                            1);
  const int rc = argon2id_hash_encoded(cost.passes, cost.memory_kib, cost.lanes, password.data(),
                                       password.size(), salt.data(), salt.size(), kHashBytes,
                                       encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    return Internal(std::string("argon2id hashing failed: ") + argon2_error_message(rc));
  }
  return std::string(encoded.data());
}

std::optional<Argon2Cost> EncodedCost(std::string_view encoded) {
  constexpr std::string_view kPrefix = "$argon2id$v=19$";
  if (!encoded.starts_with(kPrefix)) return std::nullopt;
  std::string_view s = encoded.substr(kPrefix.size());
  Argon2Cost cost;
  auto m = TakeParam(s, "m");
  if (!m || !s.starts_with(',')) return std::nullopt;
  s.remove_prefix(1);
  auto t = TakeParam(s, "t");
  if (!t || !s.starts_with(',')) return std::nullopt;
  s.remove_prefix(1);
  auto p = TakeParam(s, "p");
  if (!p || !s.starts_with('$')) return std::nullopt;
  cost.memory_kib = *m;
  cost.passes = *t;
  cost.lanes = *p;
  return cost;
}

Result<bool> VerifyPassword(std::string_view encoded, std::string_view password) {
  std::optional<Argon2Cost> cost = EncodedCost(encoded);
  if (!cost || !CheckArgon2Cost(*cost).ok()) {
    return Corruption("stored password hash is not an argon2id hash of a supported cost");
  }
  if (password.size() > kMaxPasswordBytes) return false;  // no such password can have been set
  const std::string text(encoded);                        // libargon2 wants a NUL-terminated string
  const int rc = argon2id_verify(text.c_str(), password.data(), password.size());
  if (rc == ARGON2_OK) return true;
  if (rc == ARGON2_VERIFY_MISMATCH) return false;
  if (rc == ARGON2_DECODING_FAIL || rc == ARGON2_INCORRECT_TYPE) {
    return Corruption(std::string("stored password hash is malformed: ") +
                      argon2_error_message(rc));
  }
  return Internal(std::string("argon2id verification failed: ") + argon2_error_message(rc));
}

}  // namespace grove::admin
