#include "bench/raw_tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

#include "bench/bench_util.h"
#include "common/clock.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "net/network.h"

namespace grove::bench {
namespace {

constexpr size_t kMaxQueued = 16 << 20;

// Counts what arrives; acknowledges with one empty frame once `expected` bytes are in.
class Sink final : public net::Handler {
 public:
  explicit Sink(uint64_t expected) : expected_(expected) {}
  void Attach(net::Network* net) { net_ = net; }

  void OnConnected(const net::PeerInfo&) override {}
  void OnFrame(net::ConnectionId id, Bytes frame) override {
    received_ += frame.size() + 4;
    if (!acked_ && received_ >= expected_) {
      acked_ = true;
      net_->Send(id, Bytes{});
    }
  }
  void OnClosed(net::ConnectionId, const Status&) override {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  void OnDialFailed(uint64_t, const net::Endpoint&, const Status&) override {}

  void WaitClosed(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, deadline, [&] { return closed_; });
  }

 private:
  uint64_t expected_;
  net::Network* net_ = nullptr;
  uint64_t received_ = 0;
  bool acked_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
};

// The sending side: waits for the connection and the acknowledgement.
class Source final : public net::Handler {
 public:
  void OnConnected(const net::PeerInfo& peer) override {
    std::lock_guard<std::mutex> lock(mu_);
    connection_ = peer.id;
    cv_.notify_all();
  }
  void OnFrame(net::ConnectionId, Bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    acked_ = true;
    cv_.notify_all();
  }
  void OnClosed(net::ConnectionId, const Status& reason) override {
    std::lock_guard<std::mutex> lock(mu_);
    failed_ = failed_.empty() ? "closed: " + reason.ToString() : failed_;
    cv_.notify_all();
  }
  void OnDialFailed(uint64_t, const net::Endpoint&, const Status& reason) override {
    std::lock_guard<std::mutex> lock(mu_);
    failed_ = "dial failed: " + reason.ToString();
    cv_.notify_all();
  }

  // The connection id, or 0 (with `why`) when it failed or the deadline passed.
  net::ConnectionId WaitConnected(std::chrono::steady_clock::time_point deadline,
                                  std::string* why) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, deadline, [&] { return connection_ != 0 || !failed_.empty(); });
    if (connection_ == 0) *why = failed_.empty() ? "connection timed out" : failed_;
    return connection_;
  }
  bool WaitAcked(std::chrono::steady_clock::time_point deadline, std::string* why) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, deadline, [&] { return acked_ || !failed_.empty(); });
    if (!acked_) *why = failed_.empty() ? "no acknowledgement in time" : failed_;
    return acked_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  net::ConnectionId connection_ = 0;
  bool acked_ = false;
  std::string failed_;
};

// The relay: splices the two halves that present `token`, until killed or `timeout_s` passed.
[[noreturn]] void RunSpliceRelay(int port_fd, const std::string& token, double timeout_s) {
  SystemClock clock;
  crypto::SystemRandom rng;
  auto me = identity::Identity::Create("relay", rng, clock);
  Sink idle(UINT64_MAX);  // never reported anything: spliced connections are not the relay's
  uint16_t port = 0;
  std::unique_ptr<net::Network> net;
  if (me.ok()) {
    net::Options options;
    options.listen = net::Endpoint{"127.0.0.1", 0};
    options.splice = true;
    auto started = net::Network::Start(*me, options, idle);
    if (started.ok() && (*started)->ExpectSplice(token, static_cast<int>(timeout_s * 1000)).ok()) {
      net = std::move(started).value();
      port = net->listening().port;
    }
  }
  if (write(port_fd, &port, sizeof port) != sizeof port || port == 0) _exit(1);
  close(port_fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  net->Stop();
  _exit(0);
}

// A raw TCP forwarder, as a plain proxy forwards a TLS stream: accepts one connection, dials
// the receiver at `to_port`, and copies bytes both ways with read(2) and write(2) through a
// 256 KiB buffer per direction (one thread each), until either side closes.
[[noreturn]] void RunRawForwarder(int port_fd, uint16_t to_port, double timeout_s) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (listener >= 0 && bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      listen(listener, 4) == 0 &&
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (write(port_fd, &port, sizeof port) != sizeof port || port == 0) _exit(1);
  close(port_fd);
  const int from = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  const int to = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  target.sin_port = htons(to_port);
  if (from < 0 || to < 0 || connect(to, reinterpret_cast<sockaddr*>(&target), sizeof target) != 0) {
    _exit(1);
  }
  auto copy = [](int in, int out) {
    std::vector<char> buffer(256 << 10);
    for (;;) {
      const ssize_t n = read(in, buffer.data(), buffer.size());
      if (n <= 0) break;
      for (ssize_t done = 0; done < n;) {
        const ssize_t w = write(out, buffer.data() + done, static_cast<size_t>(n - done));
        if (w <= 0) return;
        done += w;
      }
    }
    shutdown(out, SHUT_WR);
  };
  std::thread back([&] { copy(to, from); });
  std::thread forth([&] { copy(from, to); });
  (void)timeout_s;  // the parent's deadline kills this process if the transfer hangs
  forth.join();
  back.join();
  _exit(0);
}

// `relay_port` 0: listens for the sender. Otherwise dials the relay with `token`.
[[noreturn]] void RunReceiver(int port_fd, uint64_t expected, double timeout_s,
                              uint16_t relay_port = 0, const std::string& token = "") {
  SystemClock clock;
  crypto::SystemRandom rng;
  auto me = identity::Identity::Create("tls-sink", rng, clock);
  Sink sink(expected);
  uint16_t port = 0;
  std::unique_ptr<net::Network> net;
  if (me.ok()) {
    net::Options options;
    options.listen = net::Endpoint{"127.0.0.1", 0};
    auto started = net::Network::Start(*me, options, sink);
    if (started.ok()) {
      net = std::move(started).value();
      sink.Attach(net.get());
      port = net->listening().port;
      if (relay_port != 0) {
        net::DialOptions dial;
        dial.splice_token = token;
        dial.tls_server = true;
        net->Dial(net::Endpoint{"127.0.0.1", relay_port}, dial);
      }
    }
  }
  if (write(port_fd, &port, sizeof port) != sizeof port || port == 0) _exit(1);
  close(port_fd);
  sink.WaitClosed(std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  net->Stop();
  _exit(0);
}

// Forks a child running `body(write end of a pipe)`, which reports a port through the pipe.
// Returns the child's pid and the port (0 when it did not start).
template <typename Body>
std::pair<pid_t, uint16_t> ForkReporter(Body body, std::string* why) {
  int fds[2];
  if (pipe(fds) != 0) {
    *why = std::string("pipe: ") + std::strerror(errno);
    return {-1, 0};
  }
  const pid_t parent = getpid();
  const pid_t child = fork();
  if (child < 0) {
    *why = std::string("fork: ") + std::strerror(errno);
    return {-1, 0};
  }
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    close(fds[0]);
    body(fds[1]);
  }
  close(fds[1]);
  uint16_t port = 0;
  if (read(fds[0], &port, sizeof port) != sizeof port) port = 0;
  close(fds[0]);
  return {child, port};
}

void Reap(pid_t child, bool kill_now) {
  if (child <= 0) return;
  for (int i = 0; !kill_now && i < 2000; ++i) {
    if (waitpid(child, nullptr, WNOHANG) == child) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}

enum class Route { kDirect, kRawForwarder, kRelaySplice };

RawTlsResult Measure(uint64_t total_bytes, size_t frame_bytes, double timeout_s, Route route) {
  const bool relayed = route == Route::kRelaySplice;
  RawTlsResult result;
  const uint64_t frames = (total_bytes + frame_bytes - 1) / frame_bytes;
  const uint64_t wire = frames * (frame_bytes + 4);
  std::string token;
  pid_t relay = -1;
  uint16_t relay_port = 0;
  if (relayed) {
    SystemClock clock;
    crypto::SystemRandom rng;
    uint8_t raw[32];
    rng.Fill(raw);
    token = HexEncode(ByteView(raw, sizeof raw));
    std::tie(relay, relay_port) =
        ForkReporter([&](int fd) { RunSpliceRelay(fd, token, timeout_s + 5); }, &result.error);
    if (relay_port == 0) {
      if (result.error.empty()) result.error = "the relay did not start";
      Reap(relay, true);
      return result;
    }
  }
  auto [child, port] = ForkReporter(
      [&](int fd) { RunReceiver(fd, wire, timeout_s + 5, relay_port, token); }, &result.error);
  auto reap = [&, child = child] {
    Reap(child, false);
    Reap(relay, true);
  };
  if (port == 0) {
    if (result.error.empty()) result.error = "the receiver did not start";
    reap();
    return result;
  }
  pid_t forwarder = -1;
  uint16_t forwarder_port = 0;
  if (route == Route::kRawForwarder) {
    std::tie(forwarder, forwarder_port) = ForkReporter(
        [&, to = port](int fd) { RunRawForwarder(fd, to, timeout_s + 5); }, &result.error);
    relay = forwarder;  // reaped (killed) with the others
    if (forwarder_port == 0) {
      if (result.error.empty()) result.error = "the forwarder did not start";
      kill(child, SIGKILL);
      reap();
      return result;
    }
  }

  SystemClock clock;
  crypto::SystemRandom rng;
  auto me = identity::Identity::Create("tls-source", rng, clock);
  Source source;
  net::Options options;
  options.listen = net::Endpoint{"127.0.0.1", 0};
  std::unique_ptr<net::Network> net;
  if (me.ok()) {
    auto started = net::Network::Start(*me, options, source);
    if (started.ok()) net = std::move(started).value();
  }
  if (!net) {
    result.error = "the sender's network did not start";
    kill(child, SIGKILL);
    reap();
    return result;
  }
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  if (relayed) {
    net::DialOptions dial;
    dial.splice_token = token;
    net->Dial(net::Endpoint{"127.0.0.1", relay_port}, dial);
  } else if (route == Route::kRawForwarder) {
    net->Dial(net::Endpoint{"127.0.0.1", forwarder_port}, std::nullopt);
  } else {
    net->Dial(net::Endpoint{"127.0.0.1", port}, std::nullopt);
  }
  const net::ConnectionId id = source.WaitConnected(deadline, &result.error);
  if (id != 0) {
    Bytes frame(frame_bytes);
    for (size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<uint8_t>(i * 131 + 7);
    const TimePoint t0 = Now();
    uint64_t sent = 0;
    bool ok = true;
    while (sent < frames) {
      if (std::chrono::steady_clock::now() >= deadline) {
        ok = false;
        result.error = "sending timed out";
        break;
      }
      if (net->QueuedBytes(id) + frame_bytes + 4 > kMaxQueued) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        continue;
      }
      if (!net->Send(id, frame)) {
        ok = false;
        result.error = "the connection closed while sending";
        break;
      }
      ++sent;
    }
    if (ok && source.WaitAcked(deadline, &result.error)) {
      result.seconds = Seconds(t0);
      result.bytes = wire;
      result.bytes_per_s = static_cast<double>(wire) / result.seconds;
      result.ok = true;
    }
    net->Close(id, Status::Ok());
  }
  net->Stop();
  reap();
  return result;
}

}  // namespace

RawTlsResult MeasureRawTls(uint64_t total_bytes, size_t frame_bytes, double timeout_s) {
  return Measure(total_bytes, frame_bytes, timeout_s, Route::kDirect);
}

RawTlsResult MeasureRelayedTls(uint64_t total_bytes, size_t frame_bytes, double timeout_s) {
  return Measure(total_bytes, frame_bytes, timeout_s, Route::kRelaySplice);
}

RawTlsResult MeasureForwardedTls(uint64_t total_bytes, size_t frame_bytes, double timeout_s) {
  return Measure(total_bytes, frame_bytes, timeout_s, Route::kRawForwarder);
}

}  // namespace grove::bench
