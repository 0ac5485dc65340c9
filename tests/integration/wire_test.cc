// Hostile bytes on a running peer's sync port: not TLS at all, a frame over the configured
// limit, and a frame of the right shape holding garbage. Each must close that one connection
// (with a reason in the peer's log) and leave the peer serving.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/clock.h"
#include "crypto/crypto.h"
#include "grove/v1/sync.pb.h"
#include "identity/identity.h"
#include "integration/peer_process.h"
#include "net/network.h"

namespace grove::integration {
namespace {

constexpr size_t kMaxFrame = 65536;

// Sends `bytes` on a plain TCP connection to 127.0.0.1:port, then reads until the peer closes.
// Returns "" when the peer closed within `timeout`, or what went wrong.
std::string SendRawAndWaitForClose(uint16_t port, const std::vector<uint8_t>& bytes,
                                   std::chrono::milliseconds timeout) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  std::unique_ptr<int, void (*)(int*)> closer(new int(fd), [](int* p) {
    close(*p);
    delete p;
  });
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return std::string("connect: ") + std::strerror(errno);
  }
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the peer may close before taking everything: that is fine
    sent += static_cast<size_t>(n);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t received = 0;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return "still open after " + std::to_string(timeout.count()) + " ms (" +
             std::to_string(received) + " bytes received)";
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    uint8_t buf[4096];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) return "";                   // orderly close
    if (n < 0 && errno != EINTR) return "";  // reset: closed too
    if (n > 0) received += static_cast<size_t>(n);
  }
}

// A TLS client built from grove_net with a fresh device identity: records what it hears.
class Client final : public net::Handler {
 public:
  Client() : identity_(MakeIdentity()) {
    net::Options options;
    options.listen = net::Endpoint{"127.0.0.1", 0};
    auto started = net::Network::Start(identity_, options, *this);
    if (!started.ok()) throw std::runtime_error("client network: " + started.status().ToString());
    network_ = std::move(started).value();
  }
  ~Client() override { network_.reset(); }  // Stop() reports before the handler goes

  void OnConnected(const net::PeerInfo& peer) override {
    std::lock_guard<std::mutex> lock(mu_);
    connected_.push_back(peer.id);
    cv_.notify_all();
  }
  void OnFrame(net::ConnectionId, Bytes) override {}
  void OnClosed(net::ConnectionId id, const Status& reason) override {
    std::lock_guard<std::mutex> lock(mu_);
    closed_[id] = reason.ToString();
    cv_.notify_all();
  }
  void OnDialFailed(uint64_t dial_id, const net::Endpoint&, const Status& reason) override {
    std::lock_guard<std::mutex> lock(mu_);
    dial_failed_[dial_id] = reason.ToString();
    cv_.notify_all();
  }

  // Dials and waits for the TLS connection. The connection id, or 0 with `why`.
  net::ConnectionId Connect(uint16_t port, std::string* why) {
    const uint64_t dial = network_->Dial(net::Endpoint{"127.0.0.1", port}, std::nullopt);
    std::unique_lock<std::mutex> lock(mu_);
    const bool done = cv_.wait_for(lock, 10s, [&] {
      return std::find(connected_.begin(), connected_.end(), dial) != connected_.end() ||
             dial_failed_.count(dial) > 0;
    });
    if (!done) {
      *why = "no connection within 10 s";
      return 0;
    }
    if (dial_failed_.count(dial)) {
      *why = "dial failed: " + dial_failed_[dial];
      return 0;
    }
    return dial;
  }
  bool Send(net::ConnectionId id, Bytes frame) { return network_->Send(id, std::move(frame)); }
  // A valid hello frame for this client (its card, which matches its TLS key), padded through
  // the `software` field to exactly `size` bytes when `size` is larger than the bare hello.
  Bytes Hello(size_t size = 0) const {
    wire::v1::Frame frame;
    wire::v1::Hello* hello = frame.mutable_hello();
    hello->set_protocol(1);
    hello->set_card(std::string(identity_.card().encoded.begin(), identity_.card().encoded.end()));
    hello->set_software("grove-integration-test");
    for (int i = 0; i < 4 && size > 0 && frame.ByteSizeLong() != size; ++i) {
      const int64_t missing =
          static_cast<int64_t>(size) - static_cast<int64_t>(frame.ByteSizeLong());
      hello->set_software(std::string(hello->software().size() + missing, 'x'));
    }
    const std::string bytes = frame.SerializeAsString();
    return Bytes(bytes.begin(), bytes.end());
  }
  std::string device() const { return identity::DeviceIdText(identity_.device()); }
  bool IsClosed(net::ConnectionId id) {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_.count(id) > 0;
  }
  // The reason the connection closed, once it has (10 s at most).
  std::optional<std::string> WaitClosed(net::ConnectionId id) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, 10s, [&] { return closed_.count(id) > 0; })) return std::nullopt;
    return closed_[id];
  }

 private:
  static identity::Identity MakeIdentity() {
    crypto::SystemRandom rng;
    SystemClock clock;
    auto made = identity::Identity::Create("mallory", rng, clock);
    if (!made.ok()) throw std::runtime_error("identity: " + made.status().ToString());
    return std::move(made).value();
  }

  identity::Identity identity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<net::ConnectionId> connected_;
  std::map<net::ConnectionId, std::string> closed_;
  std::map<uint64_t, std::string> dial_failed_;
  std::unique_ptr<net::Network> network_;  // last: stopped first
};

bool LogHasLine(const PeerProcess& p, const std::vector<std::string>& all_of) {
  std::istringstream lines(p.Log());
  std::string line;
  while (std::getline(lines, line)) {
    bool all = true;
    for (const std::string& s : all_of) all = all && line.find(s) != std::string::npos;
    if (all) return true;
  }
  return false;
}

TEST(PeerIntegration, GarbageAndOversizedFramesOnTheSyncPort) {
  PeerProcess a("alice");
  // batch_bytes must not exceed max_frame_bytes, and its default (1 MiB) does: set both.
  a.Start(WithConfig("data: " + a.data_dir() + "\nsync:\n  max_frame_bytes: " +
                     std::to_string(kMaxFrame) + "\n  batch_bytes: 32768\n"));
  ASSERT_EQ(MetricValue(a.api().Metrics(), "grove_sync_handshakes_failed_total"), 0.0);

  // (a) Not TLS: 4 KiB of random bytes. The first byte is no TLS record type, so the server
  // can refuse at once instead of waiting for a record that random length would announce.
  std::mt19937 rng(20240601);
  std::vector<uint8_t> garbage(4096);
  for (uint8_t& byte : garbage) byte = static_cast<uint8_t>(rng());
  garbage[0] = 0x00;
  EXPECT_EQ(SendRawAndWaitForClose(a.sync_port(), garbage, 10s), "");
  EXPECT_EQ(a.api().Healthz(), 200);
  EXPECT_TRUE(PollUntil(
      [&] {
        return LogHasLine(a, {"inbound connection from 127.0.0.1:", "failed"});
      },
      5s))
      << "no log line about the failed handshake:\n"
      << a.LogTail(10);
  std::optional<double> failed;
  EXPECT_TRUE(PollUntil(
      [&] {
        failed = MetricValue(a.api().Metrics(), "grove_sync_handshakes_failed_total");
        return failed && *failed >= 1;
      },
      5s))
      << "grove_sync_handshakes_failed_total is " << (failed ? *failed : -1);

  Client client;
  // Control: a valid hello within the limit is taken; that connection stays up throughout.
  std::string why;
  const net::ConnectionId control = client.Connect(a.sync_port(), &why);
  ASSERT_NE(control, 0u) << why;
  ASSERT_TRUE(client.Send(control, client.Hello()));
  JsonObject status;
  ASSERT_TRUE(PollUntil(
      [&] {
        status = a.api().Status();
        return ConnectedTo(status, client.device());
      },
      10s))
      << "A did not take a valid hello: " << ToJson(*status);

  // (b) The same valid hello, padded to one byte over the limit: refused for its size alone.
  {
    const Bytes big = client.Hello(kMaxFrame + 1);
    ASSERT_EQ(big.size(), kMaxFrame + 1);
    const net::ConnectionId id = client.Connect(a.sync_port(), &why);
    ASSERT_NE(id, 0u) << why;
    ASSERT_TRUE(client.Send(id, big));
    const std::optional<std::string> reason = client.WaitClosed(id);
    EXPECT_TRUE(reason) << "A kept the connection open after a frame over its limit";
    EXPECT_TRUE(PollUntil(
        [&] {
          return a.LogContains("frame of " + std::to_string(kMaxFrame + 1) +
                               " bytes exceeds the limit of " + std::to_string(kMaxFrame));
        },
        5s))
        << a.LogTail(10);
    EXPECT_EQ(a.api().Healthz(), 200);
    EXPECT_EQ(a.api().Get("/api/v1/status").status, 200);
  }
  // (c) A frame within the limit that is not a protobuf Frame (an unterminated varint).
  {
    const net::ConnectionId id = client.Connect(a.sync_port(), &why);
    ASSERT_NE(id, 0u) << why;
    ASSERT_TRUE(client.Send(id, Bytes(100, 0xff)));
    const std::optional<std::string> reason = client.WaitClosed(id);
    EXPECT_TRUE(reason) << "A kept the connection open after a garbage frame";
    EXPECT_TRUE(PollUntil(
        [&] {
          return LogHasLine(a, {"closing connection", "malformed frame"}) ||
                 LogHasLine(a, {"closing connection", "expected a hello"});
        },
        5s))
        << "no reason in A's log:\n"
        << a.LogTail(10);
    EXPECT_EQ(a.api().Healthz(), 200);
  }
  // Only the offending connections went.
  EXPECT_FALSE(client.IsClosed(control));
  EXPECT_TRUE(ConnectedTo(a.api().Status(), client.device()));
  EXPECT_TRUE(a.Running());
}

}  // namespace
}  // namespace grove::integration
