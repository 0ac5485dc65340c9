#include "bench/idle_peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "bench/bench_util.h"
#include "common/clock.h"
#include "grove/v1/sync.pb.h"
#include "identity/identity.h"
#include "sync/sync.h"

namespace grove::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr long kCertificateValiditySeconds = 10L * 365 * 24 * 3600;
// The relay closes a connection whose handshake is not done within 10 s; give up a little later.
constexpr auto kHandshakeLimit = std::chrono::seconds(15);

std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error" : out;
}

// The device's certificate, made as services/net/tls.cc makes it: self-signed, version 3,
// CN = the device id text, the device's Ed25519 signing key. The relay trusts the key, not the
// certificate: it must be the key of the card in the Hello.
X509* SelfSigned(const identity::Identity& me, EVP_PKEY* key) {
  X509* cert = X509_new();
  if (cert == nullptr) return nullptr;
  const std::string cn = identity::DeviceIdText(me.device());
  X509_NAME* name = X509_get_subject_name(cert);
  const bool ok =
      X509_set_version(cert, X509_VERSION_3) == 1 &&
      ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) == 1 &&
      X509_gmtime_adj(X509_getm_notBefore(cert), 0) != nullptr &&
      X509_gmtime_adj(X509_getm_notAfter(cert), kCertificateValiditySeconds) != nullptr &&
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) == 1 &&
      X509_set_issuer_name(cert, name) == 1 && X509_set_pubkey(cert, key) == 1 &&
      X509_sign(cert, key, nullptr) > 0;  // Ed25519: no separate digest
  if (!ok) {
    X509_free(cert);
    return nullptr;
  }
  return cert;
}

// The relay's certificate is self-signed like every device's, so OpenSSL's chain check always
// complains; what matters is the key, compared with the pinned one once the handshake is done
// and before this device sends anything.
int AcceptAnyChain(int, X509_STORE_CTX*) { return 1; }

bool PeerKeyIs(SSL* ssl, const crypto::PublicKey& expected) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  EVP_PKEY* key = cert == nullptr ? nullptr : X509_get0_pubkey(cert);
  crypto::PublicKey raw{};
  size_t length = raw.size();
  return key != nullptr && EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 &&
         EVP_PKEY_get_raw_public_key(key, raw.data(), &length) == 1 && length == raw.size() &&
         raw == expected;
}

// The first frame of the sync protocol, with its 4-byte big-endian length prefix.
std::string HelloFrame(const identity::Identity& me) {
  wire::v1::Frame frame;
  wire::v1::Hello* hello = frame.mutable_hello();
  hello->set_protocol(sync::kProtocolVersion);
  hello->set_card(std::string(me.card().encoded.begin(), me.card().encoded.end()));
  hello->set_listen_port(0);  // an idle member that accepts no connections
  hello->set_software("grove-bench/idle");
  hello->set_max_frame_bytes(16u << 20);
  const std::string body = frame.SerializeAsString();
  const uint32_t n = static_cast<uint32_t>(body.size());
  std::string out = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)};
  return out + body;
}

enum class Step { kConnecting, kHandshaking, kSending, kIdle };

struct Conn {
  int fd = -1;
  SSL* ssl = nullptr;
  Step step = Step::kConnecting;
  short events = POLLOUT;
  std::string out;  // the Hello until it is written
  size_t out_done = 0;
  SteadyClock::time_point started;

  ~Conn() {
    if (ssl != nullptr) SSL_free(ssl);
    if (fd >= 0) close(fd);
  }
};

}  // namespace

struct IdlePeers::Impl {
  SSL_CTX* ctx = nullptr;
  crypto::SystemRandom rng;
  SystemClock clock;
  std::vector<std::unique_ptr<Conn>> idle;
  uint64_t made = 0;

  ~Impl() {
    idle.clear();
    if (ctx != nullptr) SSL_CTX_free(ctx);
  }

  // Advances `c` as far as it goes without blocking. OK while in progress or done; the reason
  // when it failed.
  Status Advance(Conn& c, const crypto::PublicKey& relay_key) {
    if (c.step == Step::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err == EINPROGRESS) return Status::Ok();
      if (err != 0) return Unavailable(std::string("connect: ") + std::strerror(err));
      c.step = Step::kHandshaking;
    }
    if (c.step == Step::kHandshaking) {
      ERR_clear_error();
      const int rc = SSL_do_handshake(c.ssl);
      if (rc != 1) {
        const int e = SSL_get_error(c.ssl, rc);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          c.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
          return Status::Ok();
        }
        return IOError("TLS handshake: " + OpenSslErrors());
      }
      if (!PeerKeyIs(c.ssl, relay_key)) return PermissionDenied("the relay's key is not pinned");
      c.step = Step::kSending;
    }
    if (c.step == Step::kSending) {
      ERR_clear_error();
      const int n =
          SSL_write(c.ssl, c.out.data() + c.out_done, static_cast<int>(c.out.size() - c.out_done));
      if (n <= 0) {
        const int e = SSL_get_error(c.ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          c.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
          return Status::Ok();
        }
        return IOError("TLS write: " + OpenSslErrors());
      }
      c.out_done += static_cast<size_t>(n);
      if (c.out_done == c.out.size()) {
        std::string().swap(c.out);
        c.step = Step::kIdle;
        c.events = POLLIN;
      }
    }
    return Status::Ok();
  }

  // Reads and drops whatever is readable. false when the connection ended.
  bool Drain(Conn& c) {
    std::array<char, 16384> scratch;
    for (;;) {
      ERR_clear_error();
      const int n = SSL_read(c.ssl, scratch.data(), static_cast<int>(scratch.size()));
      if (n > 0) continue;
      const int e = SSL_get_error(c.ssl, n);
      return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
    }
  }

  // A new device and a connection for it, connecting. Null with `why` on failure.
  std::unique_ptr<Conn> Launch(uint16_t port, std::string* why, double* identity_s) {
    const TimePoint t0 = Now();
    auto id = identity::Identity::Create("idle-" + std::to_string(++made), rng, clock);
    if (!id.ok()) {
      *why = id.status().ToString();
      return nullptr;
    }
    const auto& seed = id->signing_key().seed();
    EVP_PKEY* key =
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size());
    X509* cert = key == nullptr ? nullptr : SelfSigned(*id, key);
    auto c = std::make_unique<Conn>();
    c->ssl = cert == nullptr ? nullptr : SSL_new(ctx);
    const bool ready = c->ssl != nullptr && SSL_use_certificate(c->ssl, cert) == 1 &&
                       SSL_use_PrivateKey(c->ssl, key) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ready) {
      *why = "device certificate: " + OpenSslErrors();
      return nullptr;
    }
    c->out = HelloFrame(*id);
    *identity_s += Seconds(t0);

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
      *why = std::string("socket: ") + std::strerror(errno);
      return nullptr;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (connect(c->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS) {
      *why = std::string("connect: ") + std::strerror(errno);
      return nullptr;
    }
    if (SSL_set_fd(c->ssl, c->fd) != 1) {
      *why = "SSL_set_fd: " + OpenSslErrors();
      return nullptr;
    }
    SSL_set_connect_state(c->ssl);
    c->started = SteadyClock::now();
    return c;
  }
};

IdlePeers::IdlePeers() : impl_(std::make_unique<Impl>()) {}
IdlePeers::~IdlePeers() = default;

size_t IdlePeers::open() const { return impl_->idle.size(); }
void IdlePeers::CloseAll() { impl_->idle.clear(); }

Status IdlePeers::Open(uint16_t port, const crypto::PublicKey& relay_key, size_t count,
                       size_t window, std::chrono::milliseconds timeout,
                       const std::function<void(size_t)>& progress) {
  Impl& m = *impl_;
  if (m.ctx == nullptr) {
    m.ctx = SSL_CTX_new(TLS_client_method());
    if (m.ctx == nullptr) return Internal("SSL_CTX_new: " + OpenSslErrors());
    SSL_CTX_set_min_proto_version(m.ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(m.ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(m.ctx, SSL_VERIFY_PEER, AcceptAnyChain);
    SSL_CTX_set_options(m.ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_cache_mode(m.ctx, SSL_SESS_CACHE_OFF);
    // Thousands of idle connections here: their TLS buffers go back to the heap between reads,
    // so this process stays small (the relay's memory is what is measured, not ours).
    SSL_CTX_set_mode(m.ctx, SSL_MODE_RELEASE_BUFFERS);
  }
  const auto deadline = SteadyClock::now() + timeout;
  const size_t target = m.idle.size() + count;
  std::vector<std::unique_ptr<Conn>> pending;
  std::vector<pollfd> fds;
  size_t reported = m.idle.size();
  auto fail = [&](const std::string& why) -> bool {
    ++failed_;
    last_failure_ = why;
    return failed_ <= count;
  };
  while (m.idle.size() < target) {
    if (SteadyClock::now() >= deadline) {
      return Unavailable(std::to_string(m.idle.size() - (target - count)) + " of " +
                         std::to_string(count) + " idle peers connected in time");
    }
    while (pending.size() < window && m.idle.size() + pending.size() < target) {
      std::string why;
      auto c = m.Launch(port, &why, &identity_s_);
      if (!c) {
        if (!fail(why)) return Unavailable("idle peers keep failing: " + why);
        continue;
      }
      pending.push_back(std::move(c));
    }
    fds.clear();
    for (const auto& c : pending) fds.push_back(pollfd{c->fd, c->events, 0});
    if (poll(fds.data(), fds.size(), 50) < 0 && errno != EINTR) {
      return IOError(std::string("poll: ") + std::strerror(errno));
    }
    const auto now = SteadyClock::now();
    std::vector<std::unique_ptr<Conn>> still;
    for (size_t i = 0; i < pending.size(); ++i) {
      Conn& c = *pending[i];
      Status s;
      if (fds[i].revents != 0) {
        s = m.Advance(c, relay_key);
      } else if (now - c.started > kHandshakeLimit) {
        s = Unavailable("handshake not done in 15 s");
      }
      if (!s.ok()) {
        if (!fail(s.ToString())) return Unavailable("idle peers keep failing: " + s.ToString());
      } else if (c.step == Step::kIdle) {
        m.idle.push_back(std::move(pending[i]));
      } else {
        still.push_back(std::move(pending[i]));
      }
    }
    pending.swap(still);
    if (progress && m.idle.size() >= reported + 500) {
      reported = m.idle.size();
      progress(reported);
    }
  }
  return Status::Ok();
}

size_t IdlePeers::Idle(std::chrono::milliseconds duration) {
  Impl& m = *impl_;
  const auto deadline = SteadyClock::now() + duration;
  size_t closed = 0;
  std::vector<pollfd> fds;
  for (;;) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
    if (left <= 0) break;
    fds.clear();
    for (const auto& c : m.idle) fds.push_back(pollfd{c->fd, POLLIN, 0});
    const int ready = poll(fds.data(), fds.size(), static_cast<int>(std::min<int64_t>(left, 200)));
    if (ready <= 0) continue;
    std::vector<std::unique_ptr<Conn>> still;
    still.reserve(m.idle.size());
    for (size_t i = 0; i < m.idle.size(); ++i) {
      if (fds[i].revents != 0 && !m.Drain(*m.idle[i])) {
        ++closed;
        continue;
      }
      still.push_back(std::move(m.idle[i]));
    }
    m.idle.swap(still);
  }
  return closed;
}

}  // namespace grove::bench
