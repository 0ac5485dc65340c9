// Tests of grove::net over real loopback sockets (helpers in net_fixture.h).
#include "net/network.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "unit/net/net_fixture.h"

namespace grove::net {
namespace {

using namespace grove::net::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// --- Tests -----------------------------------------------------------------------------------

TEST(EndpointTest, ParsesHostAndPort) {
  struct Case {
    std::string text, host;
    uint16_t port;
  };
  for (const Case& c :
       {Case{"127.0.0.1:7000", "127.0.0.1", 7000}, Case{"[::1]:7000", "::1", 7000},
        Case{"localhost:7000", "localhost", 7000}, Case{"localhost:0", "localhost", 0},
        Case{"peer-1.example.org:65535", "peer-1.example.org", 65535},
        Case{"[fe80::1:2]:1", "fe80::1:2", 1}}) {
    auto ep = ParseEndpoint(c.text);
    ASSERT_TRUE(ep.ok()) << c.text << ": " << ep.status().ToString();
    EXPECT_EQ(ep->host, c.host);
    EXPECT_EQ(ep->port, c.port);
    EXPECT_EQ(ep->ToString(), c.text);
  }
}

TEST(EndpointTest, RefusesMalformedTextNamingIt) {
  for (const std::string text : {"", "127.0.0.1", "::1:7000", "[::1]", "[::1]7000", "[::1:7000",
                                 "[host]:1", "host:", ":7000", "host:65536", "host:-1", "host:+1",
                                 "host: 1", "host:1x", "ho st:1", "host:0000001", "[::1]:7000x"}) {
    auto ep = ParseEndpoint(text);
    ASSERT_FALSE(ep.ok()) << text;
    EXPECT_EQ(ep.status().code(), Code::kInvalidArgument);
    EXPECT_NE(ep.status().message().find("\"" + text + "\""), std::string::npos)
        << ep.status().ToString();
  }
}

TEST(NetTest, StartRefusesBadOptions) {
  Node a("alice", 1);
  Options no_host;
  EXPECT_EQ(a.Start(no_host).code(), Code::kInvalidArgument);
  Options no_timeout = Loopback();
  no_timeout.handshake_timeout_ms = 0;
  EXPECT_EQ(a.Start(no_timeout).code(), Code::kInvalidArgument);
}

TEST(NetTest, ConnectsAndCarriesFramesBothWaysInOrder) {
  Node a("alice", 1), b("bob", 2);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  EXPECT_EQ(b.net->listening().host, "127.0.0.1");
  EXPECT_NE(b.net->listening().port, 0);

  const uint64_t dial = a.net->Dial(b.net->listening(), b.key());
  ASSERT_TRUE(a.handler.WaitUntil([&] { return a.handler.connected.size() == 1; }));
  ASSERT_TRUE(b.handler.WaitUntil([&] { return b.handler.connected.size() == 1; }));
  const PeerInfo at_a = a.handler.Connected()[0];
  const PeerInfo at_b = b.handler.Connected()[0];
  EXPECT_EQ(at_a.id, dial);  // an outbound connection keeps its dial id
  EXPECT_TRUE(at_a.outbound);
  EXPECT_EQ(at_a.sign_key, b.key());
  EXPECT_EQ(at_a.remote, b.net->listening());
  EXPECT_FALSE(at_b.outbound);
  EXPECT_EQ(at_b.sign_key, a.key());
  EXPECT_EQ(at_b.remote.host, "127.0.0.1");

  // a -> b: one 1 MiB frame, 1000 small ones, an empty one. b -> a: 1000 small ones.
  constexpr size_t kSmall = 1000;
  std::vector<Bytes> to_b, to_a;
  to_b.push_back(Numbered(0, 1 << 20));
  for (size_t i = 1; i <= kSmall; ++i) to_b.push_back(Numbered(i, 1 + i % 50));
  to_b.push_back(Bytes());
  for (size_t i = 0; i < kSmall; ++i) to_a.push_back(Numbered(i, 10 + i % 90));
  uint64_t wire_bytes = 0;
  for (const Bytes& f : to_b) {
    ASSERT_TRUE(a.net->Send(at_a.id, f));
    wire_bytes += 4 + f.size();
  }
  for (const Bytes& f : to_a) ASSERT_TRUE(b.net->Send(at_b.id, f));

  ASSERT_TRUE(b.handler.WaitUntil([&] { return b.handler.frames[at_b.id].size() == to_b.size(); }));
  ASSERT_TRUE(a.handler.WaitUntil([&] { return a.handler.frames[at_a.id].size() == to_a.size(); }));
  {
    std::lock_guard<std::mutex> lock(b.handler.mu);
    EXPECT_TRUE(b.handler.frames[at_b.id] == to_b);
  }
  {
    std::lock_guard<std::mutex> lock(a.handler.mu);
    EXPECT_TRUE(a.handler.frames[at_a.id] == to_a);
  }
  EXPECT_EQ(b.stats().frames_in, to_b.size());
  EXPECT_EQ(b.stats().bytes_in, wire_bytes);
  EXPECT_EQ(a.stats().frames_out, to_b.size());
  EXPECT_EQ(a.stats().connections_open, 1u);
  EXPECT_EQ(b.stats().connections_open, 1u);
  EXPECT_EQ(a.stats().handshakes_failed + b.stats().handshakes_failed, 0u);
}

TEST(NetTest, UnpinnedDialReportsTheKeyProved) {
  Node a("alice", 1), b("bob", 2);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  // By name, unpinned: the key comes from the handshake.
  a.net->Dial(Endpoint{"localhost", b.net->listening().port}, std::nullopt);
  ASSERT_TRUE(a.handler.WaitUntil([&] { return a.handler.connected.size() == 1; }));
  EXPECT_EQ(a.handler.Connected()[0].sign_key, b.key());
}

TEST(NetTest, WorksOverIpv6Loopback) {
  Node a("alice", 1), b("bob", 2);
  ASSERT_TRUE(a.Start(Loopback("::1")).ok());
  Status started = b.Start(Loopback("::1"));
  if (!started.ok()) GTEST_SKIP() << "no IPv6 loopback: " << started.ToString();
  EXPECT_EQ(b.net->listening().host, "::1");
  const Link link = Connect(a, b);
  ASSERT_NE(link.at_to, 0u);
  EXPECT_EQ(a.handler.Connected()[0].remote.ToString(), b.net->listening().ToString());
  ASSERT_TRUE(a.net->Send(link.at_from, ToBytes("over v6")));
  ASSERT_TRUE(b.handler.WaitUntil([&] { return b.handler.frames[link.at_to].size() == 1; }));
  std::lock_guard<std::mutex> lock(b.handler.mu);
  EXPECT_EQ(ToString(b.handler.frames[link.at_to][0]), "over v6");
}

TEST(NetTest, PinnedKeyMismatchFailsTheDialBeforeConnecting) {
  Node a("alice", 1), b("bob", 2), c("carol", 3);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  const uint64_t dial = a.net->Dial(b.net->listening(), c.key());  // expects carol at bob's
  ASSERT_TRUE(a.handler.WaitUntil([&] { return a.handler.dial_failed.size() == 1; }));
  const Recorder::DialFailed failed = a.handler.DialFailures()[0];
  EXPECT_EQ(failed.dial_id, dial);
  EXPECT_EQ(failed.to, b.net->listening());
  EXPECT_EQ(failed.reason.code(), Code::kPermissionDenied);
  EXPECT_EQ(failed.reason.message(), "pinned key mismatch");
  EXPECT_EQ(a.stats().handshakes_failed, 1u);
  // bob sees the handshake closed on him: counted, never connected.
  EXPECT_TRUE(Eventually([&] { return b.stats().handshakes_failed == 1; }));
  EXPECT_EQ(b.stats().connections_open, 0u);
  {
    std::lock_guard<std::mutex> lock(a.handler.mu);
    EXPECT_TRUE(a.handler.connected.empty());
  }
  {
    std::lock_guard<std::mutex> lock(b.handler.mu);
    EXPECT_TRUE(b.handler.connected.empty());
    EXPECT_TRUE(b.handler.closed.empty());
  }
  // The right key still gets through.
  const Link link = Connect(a, b);
  EXPECT_NE(link.at_to, 0u);
}

TEST(NetTest, OversizedFrameClosesTheConnectionWithTheReason) {
  Node a("alice", 1), b("bob", 2);
  Options small = Loopback();
  small.max_frame_bytes = 1024;
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start(small).ok());
  const Link link = Connect(a, b);
  ASSERT_TRUE(a.net->Send(link.at_from, Bytes(1024, 1)));  // exactly the limit: fine
  ASSERT_TRUE(a.net->Send(link.at_from, Bytes(2000, 2)));  // the receiver's limit applies
  ASSERT_TRUE(b.handler.WaitUntil([&] { return b.handler.closed.size() == 1; }));
  EXPECT_EQ(b.handler.Frames(link.at_to).size(), 1u);
  EXPECT_EQ(b.handler.ClosedEvents()[0].id, link.at_to);
  EXPECT_EQ(b.handler.ClosedEvents()[0].reason.code(), Code::kInvalidArgument);
  EXPECT_EQ(b.handler.ClosedEvents()[0].reason.message(),
            "frame of 2000 bytes exceeds the limit of 1024");
  ASSERT_TRUE(a.handler.WaitUntil([&] { return a.handler.closed.size() == 1; }));
  EXPECT_EQ(a.handler.ClosedEvents()[0].id, link.at_from);
  EXPECT_EQ(a.stats().connections_open, 0u);
  EXPECT_EQ(b.stats().connections_open, 0u);
}

TEST(NetTest, GarbageClientsAreClosedAndCountedAndOthersStillServed) {
  Node a("alice", 1), b("bob", 2);
  ASSERT_TRUE(b.Start().ok());
  const uint16_t port = b.net->listening().port;

  Fd http(RawConnect(port));
  ASSERT_TRUE(SendAll(http.fd, "GET / HTTP/1.1\r\nHost: grove\r\n\r\n"));
  EXPECT_TRUE(ClosedByRemote(http.fd));

  // A TLS handshake record whose ClientHello is nonsense.
  Fd tlsish(RawConnect(port));
  ASSERT_TRUE(SendAll(tlsish.fd, std::string("\x16\x03\x01\x00\x08\x01\x00\x00\x04zzzz", 13)));
  EXPECT_TRUE(ClosedByRemote(tlsish.fd));

  EXPECT_TRUE(Eventually([&] { return b.stats().handshakes_failed == 2; }));
  ASSERT_TRUE(a.Start().ok());
  const Link link = Connect(a, b);
  ASSERT_TRUE(a.net->Send(link.at_from, ToBytes("still here")));
  ASSERT_TRUE(b.handler.WaitUntil([&] { return b.handler.frames[link.at_to].size() == 1; }));
  std::lock_guard<std::mutex> lock(b.handler.mu);
  EXPECT_TRUE(b.handler.connected.size() == 1);  // the garbage never reached the Handler
  EXPECT_TRUE(b.handler.closed.empty());
}

TEST(NetTest, SlowHandshakesTimeOutBothWays) {
  Node a("alice", 1), b("bob", 2);
  Options quick = Loopback();
  quick.handshake_timeout_ms = 200;
  ASSERT_TRUE(a.Start(quick).ok());
  ASSERT_TRUE(b.Start(quick).ok());

  // Inbound: a client that connects and says nothing.
  Fd mute(RawConnect(b.net->listening().port));
  EXPECT_TRUE(ClosedByRemote(mute.fd));
  EXPECT_TRUE(Eventually([&] { return b.stats().handshakes_failed == 1; }));

  // Outbound: a server that accepts TCP and never answers the ClientHello.
  uint16_t port = 0;
  Fd silent(SilentListener(&port));
  const uint64_t dial = a.net->Dial(Endpoint{"127.0.0.1", port}, std::nullopt);
  ASSERT_TRUE(a.handler.WaitUntil([&] { return a.handler.dial_failed.size() == 1; }));
  EXPECT_EQ(a.handler.DialFailures()[0].dial_id, dial);
  EXPECT_EQ(a.handler.DialFailures()[0].reason.code(), Code::kUnavailable);
  EXPECT_EQ(a.handler.DialFailures()[0].reason.message(),
            "TLS handshake not finished within 200 ms");
  EXPECT_EQ(a.stats().handshakes_failed, 1u);
}

TEST(NetTest, RefusesACertificateWhoseKeyIsNotEd25519) {
  Node b("bob", 2);
  ASSERT_TRUE(b.Start().ok());

  // A TLS 1.3 client with a self-signed P-256 certificate.
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  ASSERT_TRUE(key);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("not-a-device"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  ASSERT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  ASSERT_EQ(SSL_CTX_use_certificate(ctx.get(), cert.get()), 1);
  ASSERT_EQ(SSL_CTX_use_PrivateKey(ctx.get(), key.get()), 1);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);

  Fd fd(RawConnect(b.net->listening().port));
  timeval limit{10, 0};  // blocking I/O below, bounded
  setsockopt(fd.fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd.fd);
  // In TLS 1.3 the client may finish before the server has judged its certificate; either way
  // nothing can be read afterwards.
  if (SSL_connect(ssl.get()) == 1) {
    char byte;
    EXPECT_LE(SSL_read(ssl.get(), &byte, 1), 0);
  }
  EXPECT_TRUE(Eventually([&] { return b.stats().handshakes_failed == 1; }));
  std::lock_guard<std::mutex> lock(b.handler.mu);
  EXPECT_TRUE(b.handler.connected.empty());
}

TEST(NetTest, SendRefusesPastMaxQueuedBytes) {
  Node a("alice", 1), b("bob", 2);
  Options bounded = Loopback();
  bounded.max_queued_bytes = 1 << 20;
  ASSERT_TRUE(a.Start(bounded).ok());
  ASSERT_TRUE(b.Start().ok());
  const Link link = Connect(a, b);

  // A frame that can never fit is refused even with an empty queue.
  EXPECT_FALSE(a.net->Send(link.at_from, Bytes(1 << 20)));
  EXPECT_EQ(a.stats().frames_refused, 1u);
  EXPECT_FALSE(a.net->Send(link.at_from + 1000, Bytes(1)));  // no such connection
  EXPECT_EQ(a.stats().frames_refused, 2u);

  // bob's network thread blocks in OnFrame on the first frame, so bob stops reading: the socket
  // buffers fill, then alice's queue, and Send must refuse. The bound (512 MiB) is far beyond
  // what any socket buffer holds, so the loop ends by refusal.
  b.handler.Stall();
  constexpr size_t kFrame = 64 << 10;
  size_t accepted = 0;
  bool refused = false;
  while (!refused && accepted < 8192) {
    if (a.net->Send(link.at_from, Numbered(accepted, kFrame))) {
      ++accepted;
    } else {
      refused = true;
    }
  }
  ASSERT_TRUE(refused);
  EXPECT_LE(a.net->QueuedBytes(link.at_from), bounded.max_queued_bytes);
  EXPECT_GT(a.net->QueuedBytes(link.at_from), 0u);
  EXPECT_EQ(a.stats().frames_refused, 3u);
  ASSERT_TRUE(b.handler.WaitUntil([&] { return b.handler.stalled; }));

  // Once bob reads again, everything that was accepted arrives, in order, and the queue drains.
  b.handler.Release();
  ASSERT_TRUE(b.handler.WaitUntil([&] { return b.handler.frames[link.at_to].size() == accepted; }));
  {
    std::lock_guard<std::mutex> lock(b.handler.mu);
    const auto& got = b.handler.frames[link.at_to];
    for (size_t i = 0; i < accepted; ++i) ASSERT_EQ(got[i], Numbered(i, kFrame)) << i;
  }
  EXPECT_EQ(a.net->QueuedBytes(link.at_from), 0u);
  EXPECT_TRUE(a.net->Send(link.at_from, Bytes(kFrame)));
}

TEST(NetTest, CloseFromAnotherThreadDeliversOnClosed) {
  Node a("alice", 1), b("bob", 2);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  const Link link = Connect(a, b);
  const Status reason(Code::kFailedPrecondition, "done with you");
  std::thread closer([&] { a.net->Close(link.at_from, reason); });
  closer.join();
  ASSERT_TRUE(a.handler.WaitUntil([&] { return a.handler.closed.size() == 1; }));
  EXPECT_EQ(a.handler.ClosedEvents()[0].id, link.at_from);
  EXPECT_EQ(a.handler.ClosedEvents()[0].reason.code(), reason.code());
  EXPECT_EQ(a.handler.ClosedEvents()[0].reason.message(), reason.message());
  ASSERT_TRUE(b.handler.WaitUntil([&] { return b.handler.closed.size() == 1; }));
  EXPECT_EQ(b.handler.ClosedEvents()[0].id, link.at_to);
  EXPECT_EQ(b.handler.ClosedEvents()[0].reason.code(), Code::kUnavailable);
  EXPECT_EQ(b.handler.ClosedEvents()[0].reason.message(), "connection closed by peer");
  EXPECT_FALSE(a.net->Send(link.at_from, Bytes(1)));
  EXPECT_EQ(a.net->QueuedBytes(link.at_from), 0u);
  a.net->Close(link.at_from, reason);  // already closed: ignored
  // Exactly one OnClosed each, whatever else happens.
  EXPECT_FALSE(a.handler.WaitUntil([&] { return a.handler.closed.size() > 1; }, 100ms));
}

TEST(NetTest, StopWithOpenConnectionsIsPromptAndReportsEverything) {
  Node a("alice", 1), b("bob", 2), c("carol", 3);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  ASSERT_TRUE(c.Start().ok());
  const Link ab = Connect(a, b);
  const Link ca = Connect(c, a);
  // bob stops reading and alice has plenty queued for him: Stop must not wait for it.
  b.handler.Stall();
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(a.net->Send(ab.at_from, Bytes(256 << 10)));
  uint16_t port = 0;
  Fd silent(SilentListener(&port));
  const uint64_t pending = a.net->Dial(Endpoint{"127.0.0.1", port}, std::nullopt);

  const auto started = Clock::now();
  a.net->Stop();
  EXPECT_LT(Clock::now() - started, 2s);
  {
    // Stop() returned after the events were delivered, so no wait is needed.
    std::lock_guard<std::mutex> lock(a.handler.mu);
    ASSERT_EQ(a.handler.closed.size(), 2u);
    for (const auto& closed : a.handler.closed) {
      EXPECT_EQ(closed.reason.message(), "network stopped");
    }
    ASSERT_EQ(a.handler.dial_failed.size(), 1u);
    EXPECT_EQ(a.handler.dial_failed[0].dial_id, pending);
    EXPECT_EQ(a.handler.dial_failed[0].reason.message(), "network stopped");
  }
  EXPECT_EQ(a.stats().connections_open, 0u);
  a.net->Stop();  // idempotent
  EXPECT_EQ(a.net->Dial(b.net->listening(), std::nullopt), 0u);
  EXPECT_FALSE(a.net->Send(ab.at_from, Bytes(1)));
  ASSERT_TRUE(c.handler.WaitUntil([&] { return c.handler.closed.size() == 1; }));
  EXPECT_EQ(c.handler.ClosedEvents()[0].id, ca.at_from);
  b.handler.Release();
  ASSERT_TRUE(b.handler.WaitUntil([&] { return b.handler.closed.size() == 1; }));
}

TEST(NetTest, DialsThatCannotConnectFail) {
  Node a("alice", 1);
  ASSERT_TRUE(a.Start().ok());

  // A port nobody listens on (bound and released, so it was free a moment ago).
  uint16_t closed_port = 0;
  {
    Fd probe(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sa = Loopback4(0);
    ASSERT_EQ(bind(probe.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    socklen_t len = sizeof sa;
    getsockname(probe.fd, reinterpret_cast<sockaddr*>(&sa), &len);
    closed_port = ntohs(sa.sin_port);
  }
  const Endpoint nowhere{"127.0.0.1", closed_port};
  const uint64_t refused = a.net->Dial(nowhere, std::nullopt);
  ASSERT_TRUE(a.handler.WaitUntil([&] { return a.handler.dial_failed.size() == 1; }));
  EXPECT_EQ(a.handler.DialFailures()[0].dial_id, refused);
  EXPECT_EQ(a.handler.DialFailures()[0].to, nowhere);
  EXPECT_EQ(a.handler.DialFailures()[0].reason.code(), Code::kUnavailable);
  EXPECT_NE(a.handler.DialFailures()[0].reason.message().find("refused"), std::string::npos)
      << a.handler.DialFailures()[0].reason.ToString();

  // A name that does not resolve fails through the same callback.
  const uint64_t unknown = a.net->Dial(Endpoint{"no-such-host.invalid", 7000}, std::nullopt);
  ASSERT_TRUE(a.handler.WaitUntil([&] { return a.handler.dial_failed.size() == 2; }));
  EXPECT_EQ(a.handler.DialFailures()[1].dial_id, unknown);
  EXPECT_EQ(a.handler.DialFailures()[1].reason.code(), Code::kUnavailable);

  // Close() cancels a dial in progress.
  uint16_t port = 0;
  Fd silent(SilentListener(&port));
  const uint64_t stuck = a.net->Dial(Endpoint{"127.0.0.1", port}, std::nullopt);
  a.net->Close(stuck, Status(Code::kUnavailable, "changed my mind"));
  ASSERT_TRUE(a.handler.WaitUntil([&] { return a.handler.dial_failed.size() == 3; }));
  EXPECT_EQ(a.handler.DialFailures()[2].dial_id, stuck);
  EXPECT_EQ(a.handler.DialFailures()[2].reason.message(), "changed my mind");
  EXPECT_TRUE(a.handler.Connected().empty());
}

// Not run by default (it moves 1 GiB); run with --gtest_also_run_disabled_tests.
TEST(NetTest, DISABLED_Throughput) {
  Node a("alice", 1), b("bob", 2);
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  b.handler.keep_frames = false;
  const Link link = Connect(a, b);
  constexpr size_t kFrame = 64 << 10;
  constexpr uint64_t kFrames = (1ull << 30) / kFrame;
  const auto started = Clock::now();
  for (uint64_t sent = 0; sent < kFrames;) {
    if (a.net->Send(link.at_from, Bytes(kFrame, 0x5a))) {
      ++sent;
    } else {
      std::this_thread::sleep_for(50us);  // backpressure: the queue is full
    }
  }
  ASSERT_TRUE(b.handler.WaitUntil([&] { return b.handler.frames_seen == kFrames; }, 300s));
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("one connection, %zu KiB frames: %.0f MB/s (%.2f s for %llu MiB)\n", kFrame >> 10,
              static_cast<double>(kFrames * kFrame) / seconds / 1e6, seconds,
              static_cast<unsigned long long>((kFrames * kFrame) >> 20));
}

}  // namespace
}  // namespace grove::net
