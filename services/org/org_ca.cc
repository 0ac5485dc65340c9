#include "org/org_ca.h"

#include <charconv>
#include <filesystem>
#include <set>

#include "common/file_io.h"

namespace grove::org {
namespace {

constexpr std::string_view kHeader = "grove-org-ca-key v1";
constexpr size_t kMaxKeyFileBytes = 4096;

std::string PathIn(const std::string& dir) {
  return (std::filesystem::path(dir) / kOrgCaKeyFile).string();
}

struct OrgCaFields {
  uint64_t created_ms = 0;
  std::optional<crypto::SigningKey> key;
};

Result<OrgCaFields> ParseKeyFile(const std::string& path, std::string_view text) {
  OrgCaFields fields;
  std::set<std::string, std::less<>> seen;
  size_t line_no = 0;
  for (size_t start = 0; start < text.size() || line_no == 0;) {
    const size_t end = std::min(text.find('\n', start), text.size());
    std::string_view line = text.substr(start, end - start);
    if (line.ends_with('\r')) line.remove_suffix(1);
    start = end + 1;
    ++line_no;
    const std::string where = path + ":" + std::to_string(line_no);
    if (line_no == 1) {
      if (line != kHeader) return Corruption("first line must be \"grove-org-ca-key v1\"", where);
      continue;
    }
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    const size_t colon = line.find(": ");
    if (colon == std::string_view::npos) return Corruption("expected \"field: value\"", where);
    const std::string_view key = line.substr(0, colon);
    const std::string_view value = line.substr(colon + 2);
    if (!seen.emplace(key).second) {
      return Corruption("field \"" + std::string(key) + "\" appears twice", where);
    }
    if (key == "created_ms") {
      auto [ptr, ec] =
          std::from_chars(value.data(), value.data() + value.size(), fields.created_ms);
      if (ec != std::errc() || ptr != value.data() + value.size()) {
        return Corruption("created_ms must be a decimal integer", where);
      }
    } else if (key == "sign_seed") {
      std::optional<Bytes> seed = value.size() == 64 ? HexDecode(value) : std::nullopt;
      if (!seed) return Corruption("sign_seed must be 64 hex digits", where);
      Result<crypto::SigningKey> made = crypto::SigningKey::FromSeed(*seed);
      SecureWipe(seed->data(), seed->size());
      if (!made.ok()) return Corruption(made.status().message(), where);
      fields.key.emplace(std::move(made).value());
    } else {
      return Corruption("unknown field \"" + std::string(key) + "\"", where);
    }
  }
  for (const char* required : {"created_ms", "sign_seed"}) {
    if (!seen.contains(required)) {
      return Corruption("org CA key has no \"" + std::string(required) + "\" field", path);
    }
  }
  return fields;
}

}  // namespace

Result<OrgCa> OrgCa::Load(const std::string& dir) {
  const std::string path = PathIn(dir);
  SecretText text(kMaxKeyFileBytes + 1);
  GROVE_RETURN_IF_ERROR(ReadSmallFile(path, text.str()));
  GROVE_ASSIGN_OR_RETURN(OrgCaFields fields, ParseKeyFile(path, text.str()));
  return OrgCa(std::move(*fields.key), fields.created_ms);
}

Result<OrgCa> OrgCa::LoadOrCreate(const std::string& dir, Random& rng, Clock& clock) {
  Result<OrgCa> loaded = Load(dir);
  if (loaded.ok() || loaded.status().code() != Code::kNotFound) return loaded;
  GROVE_RETURN_IF_ERROR(EnsureDir(dir));
  crypto::SigningKey key = crypto::SigningKey::Generate(rng);
  const uint64_t created_ms = clock.NowMillis();
  SecretText text(256);
  std::string& out = text.str();
  out.append(kHeader).append("\ncreated_ms: ").append(std::to_string(created_ms));
  out.append("\nsign_seed: ");
  std::string hex = HexEncode(key.seed());
  out.append(hex).append("\n");
  SecureWipe(hex.data(), hex.size());
  // Without replace, a key another process wrote meanwhile is kept.
  Status written = WriteFileAtomic(PathIn(dir), out, /*replace=*/false);
  if (written.code() == Code::kAlreadyExists) return Load(dir);  // another process won the race
  GROVE_RETURN_IF_ERROR(written);
  return OrgCa(std::move(key), created_ms);
}

Result<Enrolment> OrgCa::Enrol(std::string_view card_text, std::string name,
                               uint64_t issued_ms) const {
  return SignEnrolment(key_, card_text, std::move(name), issued_ms);
}

Result<Revocation> OrgCa::Revoke(const identity::DeviceId& device, uint64_t revoked_ms,
                                 std::string reason, uint64_t serial) const {
  return SignRevocation(key_, device, revoked_ms, std::move(reason), serial);
}

Result<Policy> OrgCa::Sign(Policy policy) const { return SignPolicy(key_, std::move(policy)); }

}  // namespace grove::org
