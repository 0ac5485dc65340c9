// Endpoints and the socket helpers the reactor builds on.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "net/internal.h"
#include "net/network.h"

namespace grove::net {
namespace {

Status BadEndpoint(std::string_view text, const std::string& why) {
  return InvalidArgument("endpoint \"" + std::string(text) + "\": " + why);
}

bool IsHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

}  // namespace

std::string Endpoint::ToString() const {
  const std::string p = std::to_string(port);
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + p;
  return host + ":" + p;
}

const char* PathName(PeerInfo::Path path) {
  switch (path) {
    case PeerInfo::Path::kDirect:
      return "direct";
    case PeerInfo::Path::kPunched:
      return "punched";
    case PeerInfo::Path::kSpliced:
      return "spliced";
  }
  return "unknown";
}

Result<Endpoint> ParseEndpoint(std::string_view text) {
  Endpoint out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return BadEndpoint(text, "missing ']'");
    out.host = std::string(text.substr(1, close - 1));
    in6_addr unused;
    if (inet_pton(AF_INET6, out.host.c_str(), &unused) != 1) {
      return BadEndpoint(text, "bracketed host must be an IPv6 address");
    }
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return BadEndpoint(text, "expected ':port' after ']'");
    }
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return BadEndpoint(text, "expected host:port");
    out.host = std::string(text.substr(0, colon));
    if (out.host.empty()) return BadEndpoint(text, "empty host");
    for (char c : out.host) {
      if (c == ':') return BadEndpoint(text, "an IPv6 address needs brackets: [addr]:port");
      if (!IsHostNameChar(c)) return BadEndpoint(text, "host has a character not allowed");
    }
    port_text = text.substr(colon + 1);
  }
  // from_chars accepts no sign or space, so digits only; the length check keeps "000007000" out.
  unsigned value = 0;
  const char* end = port_text.data() + port_text.size();
  auto [ptr, ec] = std::from_chars(port_text.data(), end, value);
  if (port_text.empty() || port_text.size() > 5 || ec != std::errc() || ptr != end ||
      value > 65535) {
    return BadEndpoint(text, "port must be a number from 0 to 65535");
  }
  out.port = static_cast<uint16_t>(value);
  return out;
}

namespace internal {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

std::string ErrnoText(int err) {
  char buf[256];
  // The GNU strerror_r returns a pointer that may or may not be `buf`.
  return std::string(strerror_r(err, buf, sizeof buf));
}

Result<std::vector<Address>> Resolve(const Endpoint& endpoint) {
  if (endpoint.host.empty()) return InvalidArgument("endpoint has no host");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(endpoint.port);
  const int rc = getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &list);
  if (rc != 0) {
    return Status(Code::kUnavailable, "cannot resolve " + endpoint.ToString() + ": " +
                                          (rc == EAI_SYSTEM ? ErrnoText(errno) : gai_strerror(rc)));
  }
  std::vector<Address> out;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
        ai->ai_addrlen > sizeof(sockaddr_storage)) {
      continue;
    }
    Address a;
    memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
    a.length = ai->ai_addrlen;
    out.push_back(a);
  }
  freeaddrinfo(list);
  if (out.empty()) {
    return Status(Code::kUnavailable, "cannot resolve " + endpoint.ToString() + ": no address");
  }
  return out;
}

Endpoint EndpointOf(const sockaddr* address) {
  Endpoint out;
  char buf[INET6_ADDRSTRLEN] = {};
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    out.port = ntohs(in->sin_port);
  } else if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    out.port = ntohs(in6->sin6_port);
  }
  out.host = buf;
  return out;
}

Endpoint PeerEndpoint(int fd) {
  Address a;
  a.length = sizeof a.storage;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.length) != 0) return {};
  return EndpointOf(a.get());
}

Endpoint LocalEndpoint(int fd) {
  Address a;
  a.length = sizeof a.storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.length) != 0) return {};
  return EndpointOf(a.get());
}

Address LocalAddress(int fd) {
  Address a;
  a.length = sizeof a.storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.length) != 0) a.length = 0;
  return a;
}

namespace {

// The IPv4 form of an IPv4 or IPv4-mapped IPv6 address; false for other IPv6 addresses.
bool AsIpv4(const Address& a, in_addr* host, in_port_t* port) {
  if (a.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&a.storage);
    *host = in->sin_addr;
    *port = in->sin_port;
    return true;
  }
  if (a.family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a.storage);
    if (!IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) return false;
    memcpy(&host->s_addr, in6->sin6_addr.s6_addr + 12, 4);
    *port = in6->sin6_port;
    return true;
  }
  return false;
}

}  // namespace

bool SameAddress(const Address& a, const Address& b) {
  in_addr host_a{}, host_b{};
  in_port_t port_a = 0, port_b = 0;
  const bool v4_a = AsIpv4(a, &host_a, &port_a);
  const bool v4_b = AsIpv4(b, &host_b, &port_b);
  if (v4_a || v4_b) {
    return v4_a && v4_b && host_a.s_addr == host_b.s_addr && port_a == port_b;
  }
  if (a.family() != AF_INET6 || b.family() != AF_INET6) return false;
  const auto* in_a = reinterpret_cast<const sockaddr_in6*>(&a.storage);
  const auto* in_b = reinterpret_cast<const sockaddr_in6*>(&b.storage);
  return IN6_ARE_ADDR_EQUAL(&in_a->sin6_addr, &in_b->sin6_addr) &&
         in_a->sin6_port == in_b->sin6_port;
}

std::optional<Address> BindAddressFor(const Address& listener, int family) {
  if (listener.family() == family) return listener;
  if (listener.family() != AF_INET6 || family != AF_INET) return std::nullopt;
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&listener.storage);
  if (!IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) return std::nullopt;
  Address out;
  auto* in = reinterpret_cast<sockaddr_in*>(&out.storage);
  in->sin_family = AF_INET;
  in->sin_addr.s_addr = htonl(INADDR_ANY);
  in->sin_port = in6->sin6_port;
  out.length = sizeof(sockaddr_in);
  return out;
}

bool SetReusePort(int fd) {
  const int one = 1;
  return setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0;
}

bool StillSynSent(int fd) {
  tcp_info info{};
  socklen_t length = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return false;
  return info.tcpi_state == TCP_SYN_SENT;
}

Result<UniqueFd> Listen(const Endpoint& endpoint, bool reuse_port) {
  GROVE_ASSIGN_OR_RETURN(std::vector<Address> addresses, Resolve(endpoint));
  std::string last_error;
  for (const Address& a : addresses) {
    UniqueFd fd(socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
      last_error = "socket: " + ErrnoText(errno);
      continue;
    }
    const int one = 1;
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
      last_error = "SO_REUSEADDR: " + ErrnoText(errno);
      continue;
    }
    if (reuse_port && setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      last_error = "SO_REUSEPORT: " + ErrnoText(errno);
      continue;
    }
    if (bind(fd.get(), a.get(), a.length) != 0) {
      last_error = "bind " + EndpointOf(a.get()).ToString() + ": " + ErrnoText(errno);
      continue;
    }
    if (listen(fd.get(), SOMAXCONN) != 0) {
      last_error = "listen: " + ErrnoText(errno);
      continue;
    }
    return fd;
  }
  return IOError("cannot listen on " + endpoint.ToString() + ": " + last_error);
}

}  // namespace internal
}  // namespace grove::net
