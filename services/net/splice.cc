// The relay's byte splice: the preamble a device opens with, and the kernel pipes that carry each
// direction from one socket to the other with splice(2), so the relay never copies a byte into
// user space and holds at most a pipe's capacity per direction.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "net/internal.h"

namespace grove::net::internal {
namespace {

constexpr std::string_view kVersion = "1 ";

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

bool IsSpliceToken(std::string_view token) {
  if (token.size() != kSpliceTokenHexChars) return false;
  for (char c : token) {
    if (!IsLowerHex(c)) return false;
  }
  return true;
}

std::string SplicePreamble(std::string_view token) {
  std::string line;
  line.reserve(kSplicePreambleBytes);
  line.append(kSplicePreambleStart).append(kVersion).append(token).push_back('\n');
  return line;
}

Result<std::string> ParseSplicePreamble(std::string_view line) {
  if (line.substr(0, kSplicePreambleStart.size()) != kSplicePreambleStart) {
    return InvalidArgument("not a splice preamble");
  }
  line.remove_prefix(kSplicePreambleStart.size());
  if (line.substr(0, kVersion.size()) != kVersion) {
    return InvalidArgument("unsupported splice preamble version");
  }
  line.remove_prefix(kVersion.size());
  if (line.empty() || line.back() != '\n') return InvalidArgument("splice preamble not ended");
  line.remove_suffix(1);
  if (!IsSpliceToken(line)) return InvalidArgument("malformed splice token");
  return std::string(line);
}

Result<SplicePipe> NewSplicePipe(size_t capacity) {
  int ends[2];
  if (pipe2(ends, O_NONBLOCK | O_CLOEXEC) != 0) return IOError("pipe: " + ErrnoText(errno));
  SplicePipe pipe;
  pipe.read_end.reset(ends[0]);
  pipe.write_end.reset(ends[1]);
  // Past /proc/sys/fs/pipe-max-size or the user's pipe budget the kernel refuses the size; a
  // smaller pipe still works, only with more syscalls per byte.
  fcntl(pipe.write_end.get(), F_SETPIPE_SZ, static_cast<int>(std::min<size_t>(capacity, INT_MAX)));
  const int size = fcntl(pipe.write_end.get(), F_GETPIPE_SZ);
  if (size <= 0) return IOError("F_GETPIPE_SZ: " + ErrnoText(errno));
  pipe.capacity = static_cast<size_t>(size);
  return pipe;
}

Result<size_t> SpliceIn(int from, SplicePipe& pipe, size_t limit) {
  if (pipe.eof || pipe.held >= pipe.capacity || limit == 0) return size_t{0};
  const size_t want = std::min(limit, pipe.capacity - pipe.held);
  for (;;) {
    const ssize_t n = splice(from, nullptr, pipe.write_end.get(), nullptr, want,
                             SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      pipe.held += static_cast<size_t>(n);
      pipe.stalled = false;
      return static_cast<size_t>(n);
    }
    if (n == 0) {
      pipe.eof = true;
      return size_t{0};
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      pipe.stalled = pipe.held > 0;
      return size_t{0};
    }
    return IOError(ErrnoText(errno));
  }
}

Result<size_t> SpliceOut(SplicePipe& pipe, int to) {
  if (pipe.held == 0) return size_t{0};
  for (;;) {
    const ssize_t n = splice(pipe.read_end.get(), nullptr, to, nullptr, pipe.held,
                             SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      pipe.held -= static_cast<size_t>(n);
      pipe.stalled = false;
      return static_cast<size_t>(n);
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return size_t{0};
    // n == 0 cannot happen with bytes in the pipe; treat it as the socket refusing.
    return IOError(n == 0 ? "splice wrote nothing" : ErrnoText(errno));
  }
}

Status PutInPipe(SplicePipe& pipe, std::string_view bytes) {
  const ssize_t n = write(pipe.write_end.get(), bytes.data(), bytes.size());
  if (n != static_cast<ssize_t>(bytes.size())) {
    return IOError("pipe write: " + (n < 0 ? ErrnoText(errno) : std::string("short write")));
  }
  pipe.held += bytes.size();
  return Status::Ok();
}

}  // namespace grove::net::internal
