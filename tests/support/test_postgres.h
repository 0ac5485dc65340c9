// TestPostgres: a private PostgreSQL server for one test binary, in a fresh temp folder, on a free
// loopback port, with trust authentication for the user "grove". Header-only.
//
//   TestPostgres pg;                       // initdb + start; pg.error() says why not
//   ASSERT_TRUE(pg.ok()) << pg.error();
//   std::string url = pg.NewDatabase();    // a fresh database per test
//   pg.Stop(); pg.Start();                 // same data, same port (durability tests)
//
// The server binaries come from /usr/lib/postgresql/<newest>/bin (Debian's postgresql package),
// else from `pg_config --bindir` or PATH. Missing binaries are an error, not a skip: the test
// command installs them (deploy/install-deps.sh).
//
// PostgreSQL refuses to run as root: when the test runs as root, the folder is given to the
// "postgres" user and every server program runs as that user, switched to in the forked child
// (no runuser in between), so the postmaster is our own child. It gets SIGQUIT (immediate
// shutdown) if the thread that started it dies, so a crashed test leaves no server behind. The
// destructor stops the server and removes the folder.
//
// Thread-safety: none; use from the thread that created it (the server is tied to that thread).
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.h"

namespace grove::testing {

class TestPostgres {
 public:
  struct Options {
    // Off: commits are not flushed to disk. A clean Stop/Start still keeps everything (the
    // shutdown checkpoint writes it out), so only a machine crash would lose data.
    bool fsync = true;
  };

  TestPostgres() : TestPostgres(Options{}) {}
  explicit TestPostgres(Options options) : options_(options) {
    if (!FindBinaries() || !MakeFolder() || !InitDb() || !Start()) return;
    CreateDatabase("grove");
  }

  ~TestPostgres() {
    Stop();
    if (!root_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(root_, ec);
    }
  }

  TestPostgres(const TestPostgres&) = delete;
  TestPostgres& operator=(const TestPostgres&) = delete;

  bool ok() const { return error_.empty(); }
  // Why the server is not usable; empty when it is.
  const std::string& error() const { return error_; }
  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  const std::string& folder() const { return root_; }

  std::string url(const std::string& db = "grove") const {
    return "postgresql://grove@127.0.0.1:" + std::to_string(port_) + "/" + db;
  }

  // Creates a fresh, empty database and returns its url ("" and error() on failure).
  std::string NewDatabase() {
    const std::string name = "t" + std::to_string(++databases_);
    return CreateDatabase(name) ? url(name) : std::string();
  }

  // Starts the server on the folder's data (the same port every time). True when it accepts
  // connections; false with error() otherwise.
  bool Start() {
    if (pid_ > 0) return true;
    if (data_.empty()) return Fail("no data folder (initdb failed)");
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (port_ == 0 || attempt > 0) {
        std::string why;
        port_ = FreeLoopbackPort(&why);
        if (port_ == 0) return Fail("no free port: " + why);
      }
      std::vector<std::string> argv = {bin_ + "/postgres",
                                       "-D",
                                       data_,
                                       "-p",
                                       std::to_string(port_),
                                       "-k",
                                       root_,
                                       "-c",
                                       "listen_addresses=127.0.0.1",
                                       "-c",
                                       "shared_buffers=16MB",
                                       "-c",
                                       "max_connections=40",
                                       "-c",
                                       "fsync=" + std::string(options_.fsync ? "on" : "off")};
      std::string why;
      pid_ = Spawn(argv, log_, /*append=*/true, SIGQUIT, &why);
      if (pid_ < 0) {
        pid_ = 0;
        return Fail("cannot start postgres: " + why);
      }
      if (WaitReady()) {
        error_.clear();
        return true;
      }
      // Most likely the port was taken between picking it and binding it: try another.
      Stop();
    }
    return Fail("postgres did not become ready; server log:\n" + LogTail());
  }

  // Fast shutdown (SIGINT: running transactions are rolled back, a checkpoint is written).
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGINT);
    if (!WaitExit(pid_, std::chrono::seconds(30))) {
      kill(pid_, SIGQUIT);
      if (!WaitExit(pid_, std::chrono::seconds(10))) {
        kill(pid_, SIGKILL);
        WaitExit(pid_, std::chrono::seconds(10));
      }
    }
    pid_ = 0;
  }

  bool Restart() {
    Stop();
    return Start();
  }

  // The last lines of the server log, for failure messages.
  std::string LogTail(size_t max_bytes = 4000) const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    return text.size() > max_bytes ? text.substr(text.size() - max_bytes) : text;
  }

 private:
  bool Fail(std::string why) {
    error_ = "TestPostgres: " + std::move(why);
    return false;
  }

  static bool IsFile(const std::string& path) {
    std::error_code ec;
    return std::filesystem::is_regular_file(path, ec);
  }

  bool FindBinaries() {
    std::vector<std::string> candidates;
    std::error_code ec;
    std::vector<std::pair<int, std::string>> versions;
    for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
      const std::string name = entry.path().filename().string();
      if (!name.empty() && std::all_of(name.begin(), name.end(), ::isdigit)) {
        versions.emplace_back(std::stoi(name), entry.path().string() + "/bin");
      }
    }
    std::sort(versions.rbegin(), versions.rend());
    for (const auto& [version, dir] : versions) candidates.push_back(dir);
    if (FILE* p = popen("pg_config --bindir 2>/dev/null", "r")) {
      char buf[512] = {};
      if (fgets(buf, sizeof buf, p) != nullptr) {
        std::string dir(buf);
        while (!dir.empty() && (dir.back() == '\n' || dir.back() == '\r')) dir.pop_back();
        candidates.push_back(dir);
      }
      pclose(p);
    }
    if (const char* path = getenv("PATH")) {
      std::stringstream ss(path);
      for (std::string dir; std::getline(ss, dir, ':');) candidates.push_back(dir);
    }
    for (const std::string& dir : candidates) {
      if (IsFile(dir + "/initdb") && IsFile(dir + "/postgres")) {
        bin_ = dir;
        return true;
      }
    }
    return Fail(
        "PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin, "
        "pg_config --bindir or PATH; install the postgresql package (deploy/install-deps.sh)");
  }

  bool MakeFolder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "grove_pg.XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) return Fail("mkdtemp " + pattern);
    root_ = pattern;
    data_ = root_ + "/data";
    log_ = root_ + "/server.log";
    if (geteuid() == 0) {
      // getpwnam is not async-signal-safe: look the user up here, not in the forked child.
      const passwd* pw = getpwnam("postgres");
      if (pw == nullptr) {
        return Fail("running as root, and there is no 'postgres' user to run the server as");
      }
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
      if (chown(root_.c_str(), *uid_, *gid_) != 0) return Fail("chown " + root_);
    }
    return true;
  }

  bool InitDb() {
    std::vector<std::string> argv = {bin_ + "/initdb", "-D", data_,  "-A",         "trust",    "-U",
                                     "grove",          "-E", "UTF8", "--locale=C", "--no-sync"};
    if (!Run(argv, root_ + "/initdb.log", std::chrono::seconds(120))) {
      std::ifstream in(root_ + "/initdb.log");
      std::stringstream ss;
      ss << in.rdbuf();
      data_.clear();
      return Fail("initdb failed:\n" + ss.str());
    }
    return true;
  }

  bool CreateDatabase(const std::string& name) {
    std::vector<std::string> argv = {bin_ + "/createdb",    "-h", "127.0.0.1", "-p",
                                     std::to_string(port_), "-U", "grove",     name};
    if (!IsFile(argv[0])) argv[0] = "/usr/bin/createdb";
    if (!Run(argv, root_ + "/createdb.log", std::chrono::seconds(60))) {
      std::ifstream in(root_ + "/createdb.log");
      std::stringstream ss;
      ss << in.rdbuf();
      return Fail("createdb " + name + " failed:\n" + ss.str());
    }
    return true;
  }

  // postmaster.pid's 8th line becomes "ready" once the server accepts connections.
  bool WaitReady() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (WaitExit(pid_, std::chrono::milliseconds(0)).has_value()) {
        pid_ = 0;
        return false;
      }
      std::ifstream in(data_ + "/postmaster.pid");
      std::string line;
      for (int i = 0; i < 8 && std::getline(in, line); ++i) {
      }
      if (line.rfind("ready", 0) == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // Runs argv to completion (as the server user when root); true when it exits 0.
  bool Run(const std::vector<std::string>& argv, const std::string& log,
           std::chrono::seconds timeout) {
    std::string why;
    const pid_t pid = Spawn(argv, log, /*append=*/false, SIGKILL, &why);
    if (pid < 0) return Fail(argv[0] + ": " + why);
    std::optional<int> code = WaitExit(pid, timeout);
    if (!code) {
      kill(pid, SIGKILL);
      WaitExit(pid, std::chrono::seconds(5));
      return false;
    }
    return *code == 0;
  }

  // fork + exec with output to `log`, in the folder, as the server user when root. The child gets
  // `death_signal` when the forking thread ends.
  pid_t Spawn(const std::vector<std::string>& argv, const std::string& log, bool append,
              int death_signal, std::string* why) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const bool switch_user = uid_.has_value();
    const uid_t uid = uid_.value_or(0);
    const gid_t gid = gid_.value_or(0);
    const char* dir = root_.c_str();
    const int out_flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
      *why = std::string("fork: ") + std::strerror(errno);
      return -1;
    }
    if (pid == 0) {
      // Only async-signal-safe calls from here on.
      if (switch_user && (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) {
        _exit(124);
      }
      // After the switch: changing credentials clears the parent-death signal.
      prctl(PR_SET_PDEATHSIG, death_signal);
      if (getppid() != parent) _exit(126);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      if (chdir(dir) != 0) _exit(123);
      const int in = open("/dev/null", O_RDONLY);
      const int out = open(log.c_str(), out_flags, 0644);
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

  Options options_;
  std::string error_;
  std::string bin_;
  std::string root_;  // also the unix socket folder
  std::string data_;
  std::string log_;
  std::optional<uid_t> uid_;
  std::optional<gid_t> gid_;
  uint16_t port_ = 0;
  pid_t pid_ = 0;
  int databases_ = 0;
};

}  // namespace grove::testing
