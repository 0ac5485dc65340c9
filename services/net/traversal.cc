// NAT traversal in the reactor (network.h, "NAT traversal"): a punch, a dial through a relay's
// splice, and the relay's side of splices. Same thread and rules as network.cc: everything here
// runs on the network thread except ExpectSplice.
//
// A punch is a Conn in kConnecting whose connect() is retried from the listen port on a timer
// (RunTimers); besides its own socket, it may end up with a connection the listener accepted
// from its target (Accept -> PunchFor) or one accepted before it started (AdoptInbound).
//
// The relay's side: an inbound Conn's first byte tells TLS from a splice preamble (Sniff); the
// preamble names a token registered by ExpectSplice (tokens_, under mu_); the first half waits
// (kSpliceWaiting), the second pairs with it (Pair), and from then on each half's readable bytes
// go through its pipe to the other (Pump), with splice(2).
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

#include "net/internal.h"
#include "net/network.h"
#include "net/reactor.h"

namespace grove::net {

using internal::ClosedByPeer;
using internal::Conn;
using internal::kPunchRetry;
using internal::kSplicePipeBytes;
using internal::kTlsHandshakeRecord;
using internal::kTurnBudgetBytes;
using internal::SpliceToken;
using internal::State;
using internal::SteadyClock;
using internal::TokenForLog;

// --- Any thread ------------------------------------------------------------------------------

Status Network::Impl::ExpectSplice(std::string_view token, int ttl_ms) {
  if (!options_.splice) return FailedPrecondition("splices need Options::splice");
  if (!internal::IsSpliceToken(token)) {
    return InvalidArgument("a splice token is 64 lowercase hex characters");
  }
  if (ttl_ms <= 0) return InvalidArgument("a splice token needs a positive ttl_ms");
  const auto now = SteadyClock::now();
  std::lock_guard<std::mutex> lock(mu_);
  if (stop_requested_) return FailedPrecondition("network stopped");
  // Tokens nobody used pile up: drop the expired ones whenever the table has doubled, so the
  // cost stays constant per token.
  if (tokens_.size() >= purge_tokens_at_) {
    std::erase_if(tokens_, [&](const auto& entry) {
      return entry.second.expires <= now && entry.second.waiting == 0;
    });
    purge_tokens_at_ = std::max<size_t>(64, 2 * tokens_.size());
  }
  auto [it, added] = tokens_.try_emplace(std::string(token));
  if (!added && it->second.expires > now) {
    return AlreadyExists("splice token " + TokenForLog(token) + " is already expected");
  }
  it->second = SpliceToken{now + std::chrono::milliseconds(ttl_ms), 0};
  return Status::Ok();
}

// --- Dialing: through a relay, and punches --------------------------------------------------

Status Network::Impl::StepSpliceHello(Conn& c) {
  const std::string relay = "relay " + c.dialed.ToString();
  while (c.splice_hello_sent < c.splice_hello.size()) {
    const ssize_t n = send(c.fd.get(), c.splice_hello.data() + c.splice_hello_sent,
                           c.splice_hello.size() - c.splice_hello_sent, MSG_NOSIGNAL);
    if (n > 0) {
      c.splice_hello_sent += static_cast<size_t>(n);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      c.handshake_events = POLLOUT;
      return Status::Ok();
    } else if (errno != EINTR) {
      return Status(Code::kUnavailable, relay + ": " + internal::ErrnoText(errno));
    }
  }
  // Exactly the answer's length: what follows it is the far device's TLS, for OpenSSL.
  while (c.splice_ok_have < sizeof c.splice_ok) {
    const ssize_t n =
        recv(c.fd.get(), c.splice_ok + c.splice_ok_have, sizeof c.splice_ok - c.splice_ok_have, 0);
    if (n > 0) {
      c.splice_ok_have += static_cast<size_t>(n);
    } else if (n == 0) {
      return Status(Code::kUnavailable,
                    relay + " closed the splice (unknown or expired token, or no partner in time)");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      c.handshake_events = POLLIN;
      return Status::Ok();
    } else if (errno != EINTR) {
      return Status(Code::kUnavailable, relay + ": " + internal::ErrnoText(errno));
    }
  }
  if (std::string_view(c.splice_ok, sizeof c.splice_ok) != internal::kSpliceOk) {
    return Status(Code::kUnavailable, relay + " did not answer the splice with OK");
  }
  c.deadline = SteadyClock::now() + std::chrono::milliseconds(options_.handshake_timeout_ms);
  return StartTls(c);
}

Status Network::Impl::PunchAttempt(Conn& c, SteadyClock::time_point now) {
  c.state = State::kConnecting;
  c.retry_at = now + kPunchRetry;
  // Addresses in turn, one per attempt (a punch target is almost always one numeric address).
  const internal::Address& a = c.addresses[c.next_address++ % c.addresses.size()];
  if (Status opened = OpenSocket(c, a); !opened.ok()) {
    if (opened.code() == Code::kInvalidArgument) return opened;  // no attempt can do better
    c.connect_error = opened.message();
    return Status::Ok();
  }
  if (connect(c.fd.get(), a.get(), a.length) == 0) return TcpConnected(c);
  if (errno == EINPROGRESS || errno == EINTR) return Status::Ok();
  // EADDRNOTAVAIL here usually means the other side's SYN already made this very connection in
  // our listener's queue: Accept() hands it to this punch.
  c.connect_error = internal::ErrnoText(errno);
  c.fd.reset();
  return Status::Ok();
}

void Network::Impl::EndPunch(Conn& c) {
  if (!c.punching) return;
  c.punching = false;
  --punches_;
}

Conn* Network::Impl::PunchFor(const internal::Address& from) {
  for (const auto& [id, c] : conns_) {
    if (!c->punching) continue;
    for (const internal::Address& a : c->addresses) {
      if (internal::SameAddress(a, from)) return c.get();
    }
  }
  return nullptr;
}

// A punch that starts after the other side's SYN already reached our listener (on a network
// without NAT filtering, or on loopback) finds that connection among the inbound ones. It takes
// it over if nothing has been decided on it yet, or if it is a TLS server handshake and the
// punch wants that role anyway. True when it did (with `result` the outcome).
bool Network::Impl::AdoptInbound(Conn& punch, Status* result) {
  Conn* found = nullptr;
  for (const auto& [id, c] : conns_) {
    if (c->outbound) continue;
    const bool fits = c->state == State::kSniff ||
                      (c->state == State::kHandshaking && punch.tls_server && c->ssl != nullptr);
    if (!fits) continue;
    for (const internal::Address& a : punch.addresses) {
      if (internal::SameAddress(a, c->remote_address)) found = c.get();
    }
    if (found != nullptr) break;
  }
  if (found == nullptr) return false;
  std::unique_ptr<Conn> inbound = std::move(conns_[found->id]);
  conns_.erase(found->id);
  punch.fd = std::move(inbound->fd);
  if (inbound->state == State::kSniff) {
    *result = TcpConnected(punch);
    return true;
  }
  // Mid-handshake as server: keep OpenSSL's state, now checking the punch's pinned key.
  EndPunch(punch);
  punch.remote = inbound->remote;
  punch.ssl = std::move(inbound->ssl);
  internal::AttachVerifyState(punch.ssl.get(), &punch.verify);
  punch.handshake_events = inbound->handshake_events;
  punch.state = State::kHandshaking;
  punch.deadline = SteadyClock::now() + std::chrono::milliseconds(options_.handshake_timeout_ms);
  *result = StepHandshake(punch);
  return true;
}

// --- Relay side ------------------------------------------------------------------------------

Status Network::Impl::Sniff(Conn& c) {
  uint8_t first = 0;
  const ssize_t n = recv(c.fd.get(), &first, 1, MSG_PEEK);
  if (n == 0) return Status(Code::kUnavailable, "closed before saying anything");
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Status::Ok();
    return IOError(internal::ErrnoText(errno));
  }
  if (first == kTlsHandshakeRecord) {
    GROVE_RETURN_IF_ERROR(StartTls(c));
    return StepHandshake(c);  // the ClientHello is already here
  }
  if (options_.splice && first == static_cast<uint8_t>(internal::kSplicePreambleStart[0])) {
    c.state = State::kPreamble;
    return ReadPreamble(c);
  }
  return InvalidArgument(options_.splice ? "neither TLS nor a splice preamble" : "not TLS");
}

Status Network::Impl::ReadPreamble(Conn& c) {
  // A valid preamble is exactly kSplicePreambleBytes long and its sender waits for our answer,
  // so reading up to that length never takes a byte that belongs to the splice.
  char buf[internal::kSplicePreambleBytes];
  const size_t want = internal::kSplicePreambleBytes - c.preamble.size();
  const ssize_t n = recv(c.fd.get(), buf, want, 0);
  if (n == 0) return Status(Code::kUnavailable, "closed during the splice preamble");
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Status::Ok();
    return IOError(internal::ErrnoText(errno));
  }
  c.preamble.append(buf, static_cast<size_t>(n));
  const std::string_view start = internal::kSplicePreambleStart;
  const size_t compare = std::min(c.preamble.size(), start.size());
  if (c.preamble.compare(0, compare, start.substr(0, compare)) != 0) {
    return InvalidArgument("not a splice preamble");
  }
  const size_t newline = c.preamble.find('\n');
  if (newline == std::string::npos && c.preamble.size() < internal::kSplicePreambleBytes) {
    return Status::Ok();  // more to come
  }
  GROVE_ASSIGN_OR_RETURN(std::string token, internal::ParseSplicePreamble(c.preamble));
  c.preamble.clear();
  return JoinSplice(c, token);
}

Status Network::Impl::JoinSplice(Conn& c, const std::string& token) {
  const auto now = SteadyClock::now();
  Conn* partner = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tokens_.find(token);
    if (it == tokens_.end() || it->second.expires <= now) {
      if (it != tokens_.end() && it->second.waiting == 0) tokens_.erase(it);
      return PermissionDenied("unknown or expired splice token " + TokenForLog(token));
    }
    SpliceToken& t = it->second;
    auto waiting = t.waiting == 0 ? conns_.end() : conns_.find(t.waiting);
    if (waiting == conns_.end()) {
      t.waiting = c.id;
      c.token = token;
      c.state = State::kSpliceWaiting;
      c.deadline = t.expires;
      return Status::Ok();
    }
    partner = waiting->second.get();
    tokens_.erase(it);  // each token pairs once
  }
  partner->token.clear();
  Status paired = Pair(*partner, c);
  if (!paired.ok()) CloseConn(partner->id, paired);  // `c` is closed by the caller
  return paired;
}

Status Network::Impl::Pair(Conn& first, Conn& second) {
  GROVE_ASSIGN_OR_RETURN(first.to_partner, internal::NewSplicePipe(kSplicePipeBytes));
  GROVE_ASSIGN_OR_RETURN(second.to_partner, internal::NewSplicePipe(kSplicePipeBytes));
  // Each half's "OK" leads the pipe that feeds it, so it arrives before any of the partner's
  // bytes.
  GROVE_RETURN_IF_ERROR(internal::PutInPipe(first.to_partner, internal::kSpliceOk));
  GROVE_RETURN_IF_ERROR(internal::PutInPipe(second.to_partner, internal::kSpliceOk));
  first.control_bytes = second.control_bytes = internal::kSpliceOk.size();
  first.partner = &second;
  second.partner = &first;
  first.state = second.state = State::kSpliced;
  counters_.splices_open.fetch_add(1);
  counters_.splices_total.fetch_add(1);
  // From here a failure of either closes both (CloseConn follows `partner`).
  GROVE_RETURN_IF_ERROR(Pump(first, second));
  return Pump(second, first);
}

Status Network::Impl::Pump(Conn& from, Conn& to) {
  internal::SplicePipe& pipe = from.to_partner;
  size_t moved = 0;
  for (;;) {
    size_t in = 0;
    if (!pipe.stalled) {
      Result<size_t> got = internal::SpliceIn(from.fd.get(), pipe, kTurnBudgetBytes);
      if (!got.ok()) return got.status().Annotate("splice from " + from.remote.ToString());
      in = *got;
    }
    Result<size_t> put = internal::SpliceOut(pipe, to.fd.get());
    if (!put.ok()) return put.status().Annotate("splice to " + to.remote.ToString());
    const size_t out = *put;
    if (out > 0) {
      const size_t control = std::min(out, from.control_bytes);
      from.control_bytes -= control;
      counters_.bytes_spliced.fetch_add(out - control, std::memory_order_relaxed);
      moved += out;
    }
    if (in == 0 && out == 0) break;
    if (moved >= kTurnBudgetBytes) {
      from.more = true;
      break;
    }
  }
  // Pass a FIN on once everything before it went through; the other direction goes on.
  if (pipe.eof && pipe.held == 0 && !to.shut_write) {
    shutdown(to.fd.get(), SHUT_WR);
    to.shut_write = true;
  }
  return Status::Ok();
}

Status Network::Impl::StepSplice(Conn& c) {
  c.more = false;
  Conn& partner = *c.partner;
  if (c.revents & POLLERR) {
    int err = 0;
    socklen_t length = sizeof err;
    getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &length);
    return IOError("splice " + c.remote.ToString() + ": " +
                   (err != 0 ? internal::ErrnoText(err) : std::string("socket error")));
  }
  GROVE_RETURN_IF_ERROR(Pump(c, partner));
  GROVE_RETURN_IF_ERROR(Pump(partner, c));
  const auto finished = [](const Conn& x) { return x.to_partner.eof && x.to_partner.held == 0; };
  if (finished(c) && finished(partner)) return ClosedByPeer();
  // POLLHUP: this side is closed both ways (or reset) and would be reported on every poll; what
  // is left is reading its last bytes, which the partner's writability drives.
  if (c.revents & POLLHUP) c.hung_up = true;
  return Status::Ok();
}

void Network::Impl::ForgetWaitingHalf(const Conn& c) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(c.token);
  if (it == tokens_.end() || it->second.waiting != c.id) return;
  it->second.waiting = 0;
  if (it->second.expires <= SteadyClock::now()) tokens_.erase(it);
}

}  // namespace grove::net
