// Internal to services/net: RAII owners for file descriptors and OpenSSL objects, address
// resolution, and the TLS context with its certificate and peer-key checks.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "net/network.h"

namespace grove::net::internal {

// ---------------------------------------------------------------------------------------------
// Sockets (socket.cc)
// ---------------------------------------------------------------------------------------------

// Owns a file descriptor; closes it when destroyed or reset.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
};

// strerror(err) without the thread-safety problem of strerror.
std::string ErrnoText(int err);

// Every address `endpoint` names, in the resolver's order. Blocks on DNS for a host name;
// numeric hosts are parsed without a lookup. Unavailable naming the endpoint when the name does
// not resolve.
Result<std::vector<Address>> Resolve(const Endpoint& endpoint);

// The numeric endpoint of a socket address (IPv4 or IPv6).
Endpoint EndpointOf(const sockaddr* address);

// The remote (getpeername) or local (getsockname) endpoint of a connected or bound socket; an
// empty Endpoint if the kernel cannot tell.
Endpoint PeerEndpoint(int fd);
Endpoint LocalEndpoint(int fd);

// A non-blocking listening socket bound to the first of `endpoint`'s addresses that works, with
// SO_REUSEADDR so a restarted peer can rebind while old connections sit in TIME_WAIT.
Result<UniqueFd> Listen(const Endpoint& endpoint);

// ---------------------------------------------------------------------------------------------
// TLS (tls.cc)
// ---------------------------------------------------------------------------------------------

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

// What the certificate verify callback checks for one SSL, and what it found wrong. The
// callback reaches it through the SSL's app data (AttachVerifyState).
struct VerifyState {
  std::optional<crypto::PublicKey> expected;  // pinned key of an outbound dial
  Status failure;                             // set when the callback refused the certificate
};

// The TLS 1.3 context shared by all of a Network's connections, in both directions: a fresh
// self-signed certificate for `me`'s Ed25519 key, peer certificates required and checked by key
// (VerifyState), no session tickets or resumption. Internal when OpenSSL fails.
Result<SslCtxPtr> NewTlsContext(const identity::Identity& me);

// Makes `state` visible to the verify callback of `ssl`. `state` must outlive `ssl`.
void AttachVerifyState(SSL* ssl, VerifyState* state);

// The raw Ed25519 key of the peer's certificate, once the handshake is done. PermissionDenied
// when there is no certificate or its key is not Ed25519.
Result<crypto::PublicKey> PeerSignKey(SSL* ssl);

// Drains this thread's OpenSSL error queue into one line ("wrong version number; ..."); `fallback`
// when the queue is empty.
std::string TakeTlsErrors(const std::string& fallback);

}  // namespace grove::net::internal
