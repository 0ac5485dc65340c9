// Test support for grove::net's tests: devices with their own Network on loopback, a Handler
// that records every event, bounded waits, and raw sockets for peers that do not speak the
// protocol. Every wait is bounded: a condition variable with a timeout for what the Handler
// hears, and a bounded poll for the few facts only the counters show.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/random.h"
#include "identity/identity.h"
#include "net/network.h"

namespace grove::net::testing {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kWait = 10s;

// Records every event; tests wait on it with WaitUntil. Optionally stalls the network thread in
// OnFrame (a reader that stops reading) until Release().
class Recorder final : public Handler {
 public:
  struct Closed {
    ConnectionId id;
    Status reason;
  };
  struct DialFailed {
    uint64_t dial_id;
    Endpoint to;
    Status reason;
  };

  void OnConnected(const PeerInfo& peer) override {
    std::lock_guard<std::mutex> lock(mu);
    connected.push_back(peer);
    cv.notify_all();
  }
  void OnFrame(ConnectionId id, Bytes frame) override {
    std::unique_lock<std::mutex> lock(mu);
    if (stall) {
      stalled = true;
      cv.notify_all();
      // Bounded so that a failing test cannot hang the thread for good.
      cv.wait_for(lock, 30s, [&] { return !stall; });
    }
    ++frames_seen;
    bytes_seen += frame.size();
    if (check_frame) check_frame(id, frame);
    if (keep_frames) frames[id].push_back(std::move(frame));
    cv.notify_all();
  }
  void OnClosed(ConnectionId id, const Status& reason) override {
    std::lock_guard<std::mutex> lock(mu);
    closed.push_back({id, reason});
    cv.notify_all();
  }
  void OnDialFailed(uint64_t dial_id, const Endpoint& to, const Status& reason) override {
    std::lock_guard<std::mutex> lock(mu);
    dial_failed.push_back({dial_id, to, reason});
    cv.notify_all();
  }

  // Waits until `done` (evaluated with `mu` held) is true; false after `timeout`.
  bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, done);
  }
  // Copies taken under the lock: the network thread may still be adding events.
  std::vector<PeerInfo> Connected() {
    std::lock_guard<std::mutex> lock(mu);
    return connected;
  }
  std::vector<Closed> ClosedEvents() {
    std::lock_guard<std::mutex> lock(mu);
    return closed;
  }
  std::vector<DialFailed> DialFailures() {
    std::lock_guard<std::mutex> lock(mu);
    return dial_failed;
  }
  std::vector<Bytes> Frames(ConnectionId id) {
    std::lock_guard<std::mutex> lock(mu);
    return frames[id];
  }
  void Stall() {
    std::lock_guard<std::mutex> lock(mu);
    stall = true;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu);
    stall = false;
    cv.notify_all();
  }

  std::mutex mu;
  std::condition_variable cv;
  std::vector<PeerInfo> connected;
  std::map<ConnectionId, std::vector<Bytes>> frames;
  std::vector<Closed> closed;
  std::vector<DialFailed> dial_failed;
  uint64_t frames_seen = 0;
  uint64_t bytes_seen = 0;
  bool keep_frames = true;
  // If set, sees every frame (on the network thread, with `mu` held) before it is kept or not.
  std::function<void(ConnectionId, const Bytes&)> check_frame;
  bool stall = false;
  bool stalled = false;
};

inline identity::Identity MakeIdentity(const std::string& name, uint64_t seed) {
  SeededRandom rng(seed);
  FakeClock clock;
  auto made = identity::Identity::Create(name, rng, clock);
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  return std::move(made).value();
}

inline Options Loopback(const std::string& host = "127.0.0.1") {
  Options o;
  o.listen = Endpoint{host, 0};
  return o;
}

// A device with its own network. The handler outlives the network (declared first).
struct Node {
  Node(const std::string& name, uint64_t seed) : identity(MakeIdentity(name, seed)) {}
  ~Node() {
    handler.Release();  // a stalled network thread must be able to finish
    net.reset();
  }

  Status Start(const Options& options = Loopback()) {
    auto started = Network::Start(identity, options, handler);
    if (!started.ok()) return started.status();
    net = std::move(started).value();
    return Status::Ok();
  }
  const crypto::PublicKey& key() const { return identity.signing_key().public_key(); }
  Network::Stats stats() const { return net->stats(); }

  identity::Identity identity;
  Recorder handler;
  std::unique_ptr<Network> net;
};

// For facts that only the counters show: checks every millisecond until `timeout`.
inline bool Eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = kWait) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Dials `to` from `from`, pinned, and waits until both sides report the connection. Returns the
// connection's id on each side.
struct Link {
  ConnectionId at_from = 0;
  ConnectionId at_to = 0;
};
inline Link Connect(Node& from, Node& to) {
  const size_t from_before = from.handler.Connected().size();
  const size_t to_before = to.handler.Connected().size();
  const uint64_t dial = from.net->Dial(to.net->listening(), to.key());
  EXPECT_NE(dial, 0u);
  EXPECT_TRUE(from.handler.WaitUntil([&] { return from.handler.connected.size() > from_before; }));
  EXPECT_TRUE(to.handler.WaitUntil([&] { return to.handler.connected.size() > to_before; }));
  Link link;
  const std::vector<PeerInfo> at_from = from.handler.Connected();
  const std::vector<PeerInfo> at_to = to.handler.Connected();
  if (at_from.size() > from_before) link.at_from = at_from.back().id;
  if (at_to.size() > to_before) link.at_to = at_to.back().id;
  EXPECT_EQ(link.at_from, dial);
  return link;
}

inline Bytes Numbered(size_t i, size_t size) {
  Bytes b(size, static_cast<uint8_t>(i * 7));
  const std::string label = "frame " + std::to_string(i);
  for (size_t k = 0; k < label.size() && k < size; ++k) b[k] = static_cast<uint8_t>(label[k]);
  return b;
}

// --- Plain sockets, for peers that do not speak the protocol ---------------------------------

struct Fd {
  explicit Fd(int f = -1) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int fd;
};

inline sockaddr_in Loopback4(uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  return sa;
}

inline int RawConnect(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa = Loopback4(port);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << errno;
  return fd;
}

// A TCP listener that accepts in the kernel but never answers: a peer stuck before TLS.
inline int SilentListener(uint16_t* port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa = Loopback4(0);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  EXPECT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  *port = ntohs(sa.sin_port);
  return fd;
}

// True once the remote has closed `fd` (EOF or reset), reading and discarding what comes first.
inline bool ClosedByRemote(int fd, std::chrono::milliseconds timeout = kWait) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    if (recv(fd, buf, sizeof buf, 0) <= 0) return true;
  }
}

inline bool SendAll(int fd, const std::string& bytes) {
  return send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

}  // namespace grove::net::testing
