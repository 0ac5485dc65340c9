// Child processes and ports for tests and benchmarks that run real grove binaries: one way to
// start a child (it dies with the thread that forked it), wait for it, and pick a free loopback
// port. Header-only; the functions are thread-safe.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace grove::testing {

// fork + exec of argv[0] (a path) with stdin from `stdin_path` ("" = /dev/null) and stdout and
// stderr to `output_path` (appended or truncated). The child gets SIGKILL when the forking
// thread ends, so a crashed test leaves no processes behind. The pid, or -1 with `why`.
inline pid_t SpawnChild(const std::vector<std::string>& argv, const std::string& stdin_path,
                        const std::string& output_path, bool append, std::string* why) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const char* in_path = stdin_path.empty() ? "/dev/null" : stdin_path.c_str();
  const int out_flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    *why = std::string("fork: ") + std::strerror(errno);
    return -1;
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    const int in = open(in_path, O_RDONLY);
    const int out = open(output_path.c_str(), out_flags, 0644);
    if (in < 0 || out < 0) _exit(125);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    if (close_range(3, ~0U, 0) != 0) {
      const long max = sysconf(_SC_OPEN_MAX);
      for (long fd = 3; fd < (max > 0 ? max : 1024); ++fd) close(static_cast<int>(fd));
    }
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// Waits for `pid` up to `timeout`: its exit status (128+N for signal N), -1 if it is not our
// child any more, or nullopt if it is still running.
inline std::optional<int> WaitExit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// A loopback port that was free a moment ago (bound to port 0, then released), or 0 with `why`.
inline uint16_t FreeLoopbackPort(std::string* why) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *why = std::string("socket: ") + std::strerror(errno);
    return 0;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  } else {
    *why = std::strerror(errno);
  }
  close(fd);
  return port;
}

}  // namespace grove::testing
