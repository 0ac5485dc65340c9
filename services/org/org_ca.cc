#include "org/org_ca.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

namespace grove::org {
namespace {

constexpr std::string_view kHeader = "grove-org-ca-key v1";
constexpr size_t kMaxKeyFileBytes = 4096;

// A string holding a secret, wiped when it goes out of scope.
class Wiped {
 public:
  Wiped() = default;
  Wiped(const Wiped&) = delete;
  Wiped& operator=(const Wiped&) = delete;
  ~Wiped() {
    text.resize(text.capacity());
    SecureWipe(text.data(), text.size());
  }
  std::string text;
};

std::string PathIn(const std::string& dir) {
  return (std::filesystem::path(dir) / kOrgCaKeyFile).string();
}

Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  const std::string message = what + " " + path + ": " + std::strerror(err);
  return err == ENOENT ? NotFound(message) : IOError(message);
}

Status ReadKeyFile(const std::string& path, std::string& out) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", path, errno);
  out.resize(kMaxKeyFileBytes + 1);
  size_t size = 0;
  Status status;
  while (size < out.size()) {
    const ssize_t n = read(fd, out.data() + size, out.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) status = ErrnoStatus("cannot read", path, errno);
    if (n <= 0) break;
    size += static_cast<size_t>(n);
  }
  close(fd);
  if (status.ok() && size > kMaxKeyFileBytes) {
    status = Corruption(path + " is too large to be an org CA key");
  }
  out.resize(size);
  return status;
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

Status EnsureDir(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return Status::Ok();
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus("cannot create", dir, errno);
  }
  return Status::Ok();
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Writes `data` to `path` (mode 0600) unless it exists: AlreadyExists then.
Status WriteNew(const std::string& dir, const std::string& path, std::string_view data) {
  std::string temp = path + ".tmp-XXXXXX";
  const int fd = mkostemp(temp.data(), O_CLOEXEC);  // mode 0600
  if (fd < 0) return ErrnoStatus("cannot create a temporary file for", path, errno);
  const bool written = WriteAll(fd, data) && fsync(fd) == 0;
  int err = errno;
  if (close(fd) != 0 && written) err = errno;
  if (!written) {
    unlink(temp.c_str());
    return ErrnoStatus("cannot write", temp, err);
  }
  // link() refuses an existing target, so a key another process wrote meanwhile is kept.
  const bool linked = link(temp.c_str(), path.c_str()) == 0;
  err = errno;
  unlink(temp.c_str());
  if (!linked) {
    if (err == EEXIST) return AlreadyExists(path + " already exists");
    return ErrnoStatus("cannot create", path, err);
  }
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return Status::Ok();
}

}  // namespace

Result<OrgCa> OrgCa::Load(const std::string& dir) {
  const std::string path = PathIn(dir);
  Wiped text;
  GROVE_RETURN_IF_ERROR(ReadKeyFile(path, text.text));
  GROVE_ASSIGN_OR_RETURN(OrgCaFields fields, ParseKeyFile(path, text.text));
  return OrgCa(std::move(*fields.key), fields.created_ms);
}

Result<OrgCa> OrgCa::LoadOrCreate(const std::string& dir, Random& rng, Clock& clock) {
  Result<OrgCa> loaded = Load(dir);
  if (loaded.ok() || loaded.status().code() != Code::kNotFound) return loaded;
  GROVE_RETURN_IF_ERROR(EnsureDir(dir));
  crypto::SigningKey key = crypto::SigningKey::Generate(rng);
  const uint64_t created_ms = clock.NowMillis();
  Wiped text;
  text.text.reserve(256);
  text.text.append(kHeader).append("\ncreated_ms: ").append(std::to_string(created_ms));
  text.text.append("\nsign_seed: ");
  std::string hex = HexEncode(key.seed());
  text.text.append(hex).append("\n");
  SecureWipe(hex.data(), hex.size());
  Status written = WriteNew(dir, PathIn(dir), text.text);
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
