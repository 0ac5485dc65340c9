#include "common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace grove {
namespace {

Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  const std::string message = what + " " + path + ": " + std::strerror(err);
  if (err == ENOENT) return NotFound(message);
  return IOError(message);
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

Status SyncDir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", dir, errno);
  const bool ok = fsync(fd) == 0;
  const int err = errno;
  close(fd);
  return ok ? Status::Ok() : ErrnoStatus("cannot fsync", dir, err);
}

// Moves `from` to `to` only if `to` does not exist, atomically: a check-then-rename could still
// overwrite a file created in between.
int RenameNoReplace(const char* from, const char* to) {
  if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  // The file system lacks RENAME_NOREPLACE; link() also refuses an existing target.
  if (link(from, to) != 0) return -1;
  unlink(from);
  return 0;
}

}  // namespace

Status EnsureDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) {
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) return ErrnoStatus("cannot stat", dir, errno);
    if (!S_ISDIR(st.st_mode)) return IOError(dir + " exists and is not a directory");
    return Status::Ok();
  }
  if (errno != ENOENT) return ErrnoStatus("cannot create", dir, errno);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
  if (ec) return IOError("cannot create parents of " + dir + ": " + ec.message());
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoStatus("cannot create", dir, errno);
  }
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, std::string_view data, bool replace,
                       unsigned mode) {
  std::string temp = path + ".tmp-XXXXXX";
  const int fd = mkostemp(temp.data(), O_CLOEXEC);  // creates the file with mode 0600
  if (fd < 0) return ErrnoStatus("cannot create a temporary file for", path, errno);
  const bool written = (mode == 0600 || fchmod(fd, static_cast<mode_t>(mode)) == 0) &&
                       WriteAll(fd, data) && fsync(fd) == 0;
  int err = errno;
  if (close(fd) != 0 && written) err = errno;
  if (!written) {
    unlink(temp.c_str());
    return ErrnoStatus("cannot write", temp, err);
  }
  const int renamed = replace ? std::rename(temp.c_str(), path.c_str())
                              : RenameNoReplace(temp.c_str(), path.c_str());
  if (renamed != 0) {
    err = errno;
    unlink(temp.c_str());
    if (err == EEXIST) return AlreadyExists(path + " already exists; refusing to overwrite");
    return ErrnoStatus("cannot rename into", path, err);
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return SyncDir(dir.empty() ? "." : dir);
}

Status AppendDurably(const std::string& path, std::string_view data) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("cannot open", path, errno);
  const bool written = WriteAll(fd, data) && fsync(fd) == 0;
  int err = errno;
  if (close(fd) != 0 && written) err = errno;
  return written ? Status::Ok() : ErrnoStatus("cannot write", path, err);
}

Status ReadSmallFile(const std::string& path, std::string& out) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", path, errno);
  out.resize(out.capacity());
  size_t size = 0;
  Status status;
  while (true) {
    if (size == out.size()) {
      status = Corruption(path + " is too large (more than " + std::to_string(out.size() - 1) +
                          " bytes)");
      break;
    }
    const ssize_t n = read(fd, out.data() + size, out.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) status = ErrnoStatus("cannot read", path, errno);
    if (n <= 0) break;
    size += static_cast<size_t>(n);
  }
  close(fd);
  out.resize(size);
  return status;
}

}  // namespace grove
