// Internal to services/net: RAII owners for file descriptors and OpenSSL objects, address
// resolution, the TLS context with its certificate and peer-key checks, and the splice
// preamble and kernel pipes a relay copies bytes through.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
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

// The local address of a bound socket (getsockname); length 0 if the kernel cannot tell.
Address LocalAddress(int fd);

// True when both name the same host and port, an IPv4-mapped IPv6 address ("::ffff:1.2.3.4")
// matching its IPv4 form.
bool SameAddress(const Address& a, const Address& b);

// The address an outbound socket of `family` binds to so that it leaves from `listener`'s port:
// `listener` itself when the families match, the IPv4 wildcard with its port when `listener`
// is the IPv6 wildcard (which accepts IPv4 too). nullopt when no such address exists.
std::optional<Address> BindAddressFor(const Address& listener, int family);

// Sets SO_REUSEADDR and SO_REUSEPORT on `fd`; false with errno on failure.
bool SetReusePort(int fd);

// True while a connecting socket is still waiting for any answer to its SYN (TCP_SYN_SENT):
// a punch may then start over with a fresh socket without losing a handshake under way.
bool StillSynSent(int fd);

// A non-blocking listening socket bound to the first of `endpoint`'s addresses that works, with
// SO_REUSEADDR so a restarted peer can rebind while old connections sit in TIME_WAIT, and with
// SO_REUSEPORT too when `reuse_port` (see Options::reuse_port).
Result<UniqueFd> Listen(const Endpoint& endpoint, bool reuse_port);

// ---------------------------------------------------------------------------------------------
// Splices (splice.cc)
// ---------------------------------------------------------------------------------------------

// "GROVE-SPLICE 1 <token>\n": what a device sends a relay before anything else.
constexpr std::string_view kSplicePreambleStart = "GROVE-SPLICE ";
constexpr size_t kSplicePreambleBytes = 80;  // the whole line of version 1, newline included
constexpr std::string_view kSpliceOk = "OK\n";

// True for 64 lowercase hex characters.
bool IsSpliceToken(std::string_view token);
// The preamble line for `token`. REQUIRES: IsSpliceToken(token).
std::string SplicePreamble(std::string_view token);
// The token of a complete preamble line (newline included); InvalidArgument saying what is
// wrong otherwise.
Result<std::string> ParseSplicePreamble(std::string_view line);

// One direction of a splice: a kernel pipe the bytes pass through between two sockets, with
// splice(2) so they are never copied to user space. `held` is what the pipe holds; `capacity`
// bounds it, and so bounds what the relay buffers per direction.
struct SplicePipe {
  UniqueFd read_end, write_end;
  size_t held = 0;
  size_t capacity = 0;
  // The source said EAGAIN while the pipe held bytes: the pipe may have no slot left even with
  // held < capacity, so reading waits until some bytes leave.
  bool stalled = false;
  bool eof = false;  // the source sent FIN; nothing more will come in
};

// A non-blocking pipe grown to `capacity` bytes if the kernel allows (else what it gives).
// IOError when no pipe can be made.
Result<SplicePipe> NewSplicePipe(size_t capacity);

// Moves bytes from socket `from` into `pipe` (at most `limit`): the count moved (0 when the
// socket had nothing or the pipe no room; sets pipe.eof on end of stream), IOError on a socket
// error.
Result<size_t> SpliceIn(int from, SplicePipe& pipe, size_t limit);
// Moves bytes from `pipe` to socket `to`: the count moved (0 when the socket takes nothing now),
// IOError on a socket error (the remote reset or closed it).
Result<size_t> SpliceOut(SplicePipe& pipe, int to);
// Puts `bytes` into the pipe ahead of anything spliced later (the relay's "OK\n"). IOError if
// the pipe does not take them all at once (it is empty and far larger, so it always does).
Status PutInPipe(SplicePipe& pipe, std::string_view bytes);

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
