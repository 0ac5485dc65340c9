// device.key and api-token on disk: the text format documented in identity.h, written atomically
// and never over an existing device.
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <optional>
#include <set>

#include "common/file_io.h"
#include "identity/identity.h"

namespace grove::identity {
namespace {

constexpr std::string_view kKeyFileHeader = "grove-device-key v1";
// A device.key is about 250 bytes; anything much larger is not one, and reading it whole into
// memory that is then wiped must stay cheap.
constexpr size_t kMaxKeyFileSize = 16 * 1024;
constexpr size_t kApiTokenBytes = 32;

std::string PathIn(const std::string& dir, std::string_view file) {
  return (std::filesystem::path(dir) / file).string();
}

// Appends hex of a secret without leaving a stray copy of it behind.
void AppendSecretHex(std::string& out, ByteView secret) {
  std::string hex = HexEncode(secret);
  out += hex;
  SecureWipe(hex.data(), hex.size());
}

// ---------------------------------------------------------------------------------------------
// Parsing device.key

struct KeyFileFields {
  std::string name;
  uint64_t created_ms = 0;
  std::optional<crypto::SigningKey> sign;
  std::optional<crypto::AgreementKey> agree;
};

class KeyFileParser {
 public:
  explicit KeyFileParser(std::string path) : path_(std::move(path)) {}

  Result<KeyFileFields> Parse(std::string_view text) {
    KeyFileFields fields;
    std::set<std::string, std::less<>> seen;
    for (size_t start = 0; start < text.size() || line_ == 0;) {
      const size_t end = std::min(text.find('\n', start), text.size());
      std::string_view line = text.substr(start, end - start);
      if (line.ends_with('\r')) line.remove_suffix(1);
      start = end + 1;
      ++line_;
      if (line_ == 1) {
        if (line != kKeyFileHeader) return Error("first line must be \"grove-device-key v1\"");
        continue;
      }
      if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
      const size_t colon = line.find(": ");
      if (colon == std::string_view::npos) return Error("expected \"field: value\"");
      const std::string_view key = line.substr(0, colon);
      if (!seen.emplace(key).second) {
        return Error("field \"" + std::string(key) + "\" appears twice");
      }
      GROVE_RETURN_IF_ERROR(ParseField(key, line.substr(colon + 2), fields));
    }
    for (const char* required : {"name", "created_ms", "sign_seed", "agree_secret"}) {
      if (!seen.contains(required)) {
        return Corruption("device key has no \"" + std::string(required) + "\" field", path_);
      }
    }
    return fields;
  }

 private:
  Status Error(const std::string& message) const {
    return Corruption("malformed device key: " + message, path_ + ":" + std::to_string(line_));
  }

  Status ParseField(std::string_view key, std::string_view value, KeyFileFields& fields) {
    if (key == "name") {
      Status name = CheckName(value);
      if (!name.ok()) return Error(name.message());
      fields.name = std::string(value);
    } else if (key == "created_ms") {
      const char* const last = value.data() + value.size();
      const auto [end, ec] = std::from_chars(value.data(), last, fields.created_ms);
      if (ec != std::errc() || end != last || value.empty()) {
        return Error("created_ms must be a decimal number");
      }
    } else if (key == "sign_seed") {
      GROVE_ASSIGN_OR_RETURN(Bytes seed, SecretHex(key, value));
      Result<crypto::SigningKey> sign = crypto::SigningKey::FromSeed(seed);
      SecureWipe(seed.data(), seed.size());
      GROVE_RETURN_IF_ERROR(sign.status());
      fields.sign.emplace(std::move(sign).value());
    } else if (key == "agree_secret") {
      GROVE_ASSIGN_OR_RETURN(Bytes secret, SecretHex(key, value));
      Result<crypto::AgreementKey> agree = crypto::AgreementKey::FromSecret(secret);
      SecureWipe(secret.data(), secret.size());
      GROVE_RETURN_IF_ERROR(agree.status());
      fields.agree.emplace(std::move(agree).value());
    } else {
      return Error("unknown field \"" + std::string(key) + "\"");
    }
    return Status::Ok();
  }

  Result<Bytes> SecretHex(std::string_view key, std::string_view value) const {
    std::optional<Bytes> bytes = HexDecode(value);
    if (!bytes || bytes->size() != crypto::kKeySize) {
      if (bytes) SecureWipe(bytes->data(), bytes->size());
      return Error(std::string(key) + " must be 64 hex digits");
    }
    return std::move(*bytes);
  }

  std::string path_;
  int line_ = 0;
};

}  // namespace

Status Identity::Save(const std::string& dir, Random& rng) const {
  const std::string key_path = PathIn(dir, kDeviceKeyFile);
  GROVE_RETURN_IF_ERROR(EnsureDir(dir));
  // Checked before anything is written so that a refused Save changes nothing; the no-replace
  // rename below still guards against a device created meanwhile.
  struct stat st;
  if (lstat(key_path.c_str(), &st) == 0) {
    return AlreadyExists(key_path + " already exists; refusing to overwrite");
  }

  // The token goes first: device.key is the commit point, so a crash in between leaves a folder
  // that a new Save completes.
  Bytes token(kApiTokenBytes);
  rng.Fill(token);
  GROVE_RETURN_IF_ERROR(
      WriteFileAtomic(PathIn(dir, kApiTokenFile), Base64UrlEncode(token) + "\n", /*replace=*/true));
  SecureWipe(token.data(), token.size());

  SecretText text(kKeyFileHeader.size() + name().size() + 256);
  std::string& out = text.str();
  out.append(kKeyFileHeader).append("\nname: ").append(name());
  out.append("\ncreated_ms: ").append(std::to_string(card_.created_ms));
  out.append("\nsign_seed: ");
  AppendSecretHex(out, sign_.seed());
  out.append("\nagree_secret: ");
  AppendSecretHex(out, agree_.secret());
  out.append("\n");
  return WriteFileAtomic(key_path, out, /*replace=*/false);
}

Result<Identity> Identity::Load(const std::string& dir) {
  const std::string path = PathIn(dir, kDeviceKeyFile);
  SecretText text(kMaxKeyFileSize);
  Status read = ReadSmallFile(path, text.str());
  if (read.code() == Code::kNotFound) {
    return NotFound("no device in " + dir + " (" + path + " does not exist; run grove init)");
  }
  GROVE_RETURN_IF_ERROR(read);
  GROVE_ASSIGN_OR_RETURN(KeyFileFields fields, KeyFileParser(path).Parse(text.str()));
  Result<Identity> identity = FromKeys(std::move(fields.name), fields.created_ms,
                                       std::move(*fields.sign), std::move(*fields.agree));
  if (!identity.ok()) return identity.status().Annotate("loading " + path);
  return identity;
}

Result<std::string> ReadApiToken(const std::string& dir) {
  const std::string path = PathIn(dir, kApiTokenFile);
  std::string token;
  token.reserve(256);
  GROVE_RETURN_IF_ERROR(ReadSmallFile(path, token));
  if (token.ends_with('\n')) token.pop_back();
  const std::optional<Bytes> bytes = Base64UrlDecode(token);
  if (!bytes || bytes->size() != kApiTokenBytes) {
    return Corruption(path + " must hold 32 bytes as base64url", path);
  }
  return token;
}

}  // namespace grove::identity
