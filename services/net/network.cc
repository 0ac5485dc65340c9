// The reactor: one thread, one poll() loop over the listener, every connection and an eventfd
// that other threads write to when they hand it work (Send, Close, Dial, Stop).
//
// Split of state: everything about a connection's socket and TLS lives in a Conn that only the
// network thread touches (OpenSSL's SSL objects are not safe to use from two threads). What
// other threads may touch, under mu_, is an Outbox per open connection (the frames Send()
// queued, their byte count, a pending Close) plus the lists of new dials, cancels and outboxes
// with work. A caller's Send() moves its frame into the Outbox; the network thread moves frames
// from the Outbox into the Conn's write buffer and through SSL_write as the socket takes them.
//
// NAT traversal adds states to a Conn (see State) but no thread: a punch is a dial whose connect
// is retried on a timer and which may take over a connection the listener accepted from its
// target; a relay's splice is a pair of Conns whose bytes move through kernel pipes, never
// through OpenSSL. Those parts are in traversal.cc; the types all share are in reactor.h.
#include "net/network.h"

#include "common/clock.h"
#include "logging/log.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/internal.h"
#include "net/reactor.h"

namespace grove::net {

using internal::ClosedByPeer;
using internal::Conn;
using internal::DialRequest;
using internal::HasDeadline;
using internal::kAcceptPause;
using internal::kMaxAcceptsPerTurn;
using internal::kPrefixBytes;
using internal::kPunchRetry;
using internal::kReadGrowBytes;
using internal::kTurnBudgetBytes;
using internal::kWriteBatchBytes;
using internal::Outbox;
using internal::State;
using internal::SteadyClock;
using internal::TokenForLog;
using internal::UniqueFd;

namespace {

// Same JSON-lines format as the peer's own log, so log consumers see one stream.
void Log(const std::string& line) {
  SystemClock clock;
  std::string out =
      logging::Logger::FormatLine(clock.NowMillis(), logging::Level::kWarn, "net", line, {});
  std::fwrite(out.data(), 1, out.size(), stderr);
}

Status NetworkStopped() { return Status(Code::kUnavailable, "network stopped"); }

uint32_t LoadBigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

void AppendBigEndian32(Bytes& out, uint32_t v) {
  const uint8_t p[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                        static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  out.insert(out.end(), p, p + 4);
}

// Why an SSL call failed. `saved_errno` is errno right after the call: SSL_get_error and the
// error queue calls may change it.
std::string TlsFailure(int ssl_error, int saved_errno) {
  if (ssl_error == SSL_ERROR_ZERO_RETURN) return "connection closed by peer";
  if (ssl_error == SSL_ERROR_SYSCALL) {
    std::string queued = internal::TakeTlsErrors("");
    if (!queued.empty()) return queued;
    return saved_errno != 0 ? internal::ErrnoText(saved_errno) : "connection closed by peer";
  }
  return internal::TakeTlsErrors("TLS error " + std::to_string(ssl_error));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Any thread
// ---------------------------------------------------------------------------------------------

bool Network::Impl::NeedWakeLocked() {
  if (wake_pending_) return false;
  wake_pending_ = true;
  return true;
}

void Network::Impl::Wake() {
  const uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the thread will wake either way.
  [[maybe_unused]] const ssize_t written = write(wake_.get(), &one, sizeof one);
}

uint64_t Network::Impl::Dial(const Endpoint& to, const DialOptions& options) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_requested_) return 0;
  }
  // Resolved here rather than on the network thread: a slow DNS server must not stall every
  // connection. A failure is still reported through OnDialFailed, like any other.
  Result<std::vector<internal::Address>> addresses = internal::Resolve(to);
  const uint64_t id = next_id_.fetch_add(1);
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_requested_) return 0;
    dials_.push_back(DialRequest{id, to, std::move(addresses), options});
    wake = NeedWakeLocked();
  }
  if (wake) Wake();
  return id;
}

bool Network::Impl::Send(ConnectionId id, Bytes frame) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = outboxes_.find(id);
    const size_t cost = kPrefixBytes + frame.size();
    if (it == outboxes_.end() || it->second.close_requested || frame.size() > UINT32_MAX ||
        cost > options_.max_queued_bytes - std::min(it->second.queued, options_.max_queued_bytes)) {
      counters_.frames_refused.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    Outbox& box = it->second;
    box.frames.push_back(std::move(frame));
    box.queued += cost;
    if (!box.dirty) {
      box.dirty = true;
      dirty_.push_back(id);
      wake = NeedWakeLocked();
    }
  }
  if (wake) Wake();
  return true;
}

size_t Network::Impl::QueuedBytes(ConnectionId id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = outboxes_.find(id);
  return it == outboxes_.end() ? 0 : it->second.queued;
}

void Network::Impl::Close(ConnectionId id, const Status& reason) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_requested_) return;
    auto it = outboxes_.find(id);
    if (it == outboxes_.end()) {
      // Not open (yet): perhaps a dial in progress. The network thread knows.
      cancels_.emplace_back(id, reason);
      wake = NeedWakeLocked();
    } else if (!it->second.close_requested) {
      Outbox& box = it->second;
      box.close_requested = true;
      box.close_reason = reason;
      if (!box.dirty) {
        box.dirty = true;
        dirty_.push_back(id);
      }
      wake = NeedWakeLocked();
    }
  }
  if (wake) Wake();
}

void Network::Impl::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_requested_ = true;
  }
  Wake();
  // From a Handler callback: the loop ends once the callback returns; joining here would wait
  // for ourselves.
  if (std::this_thread::get_id() == loop_thread_.load()) return;
  std::lock_guard<std::mutex> join(join_mu_);
  if (thread_.joinable()) thread_.join();
}

Network::Stats Network::Impl::stats() const {
  Stats s;
  s.connections_open = counters_.connections_open.load();
  s.bytes_in = counters_.bytes_in.load();
  s.bytes_out = counters_.bytes_out.load();
  s.frames_in = counters_.frames_in.load();
  s.frames_out = counters_.frames_out.load();
  s.handshakes_failed = counters_.handshakes_failed.load();
  s.frames_refused = counters_.frames_refused.load();
  s.splices_open = counters_.splices_open.load();
  s.splices_total = counters_.splices_total.load();
  s.bytes_spliced = counters_.bytes_spliced.load();
  return s;
}

// ---------------------------------------------------------------------------------------------
// Network thread
// ---------------------------------------------------------------------------------------------

void Network::Impl::DrainWake() {
  uint64_t count = 0;
  [[maybe_unused]] const ssize_t got = read(wake_.get(), &count, sizeof count);
}

short Network::Impl::EventsFor(const Conn& c) {
  switch (c.state) {
    case State::kConnecting:
      return POLLOUT;
    case State::kSpliceHello:
    case State::kHandshaking:
      return c.handshake_events;
    case State::kSniff:
    case State::kPreamble:
      return POLLIN;
    case State::kOpen:
      // Always readable-interested: a peer may send at any time, and a write waiting on
      // WANT_READ is retried on every readiness anyway.
      return POLLIN | ((c.write_wants_write || c.read_wants_write) ? POLLOUT : 0);
    case State::kSpliceWaiting:
      // Only its going away matters; bytes it sends early wait in the socket for the partner.
      return POLLRDHUP;
    case State::kSpliced: {
      const internal::SplicePipe& in = c.to_partner;
      short events = 0;
      if (!in.eof && !in.stalled && in.held < in.capacity) events |= POLLIN;
      if (c.partner != nullptr && c.partner->to_partner.held > 0) events |= POLLOUT;
      return events;
    }
  }
  return POLLIN;
}

void Network::Impl::Run() {
  loop_thread_.store(std::this_thread::get_id());
  // OpenSSL writes to sockets with write(), which raises SIGPIPE when the peer has gone. Blocked
  // on this thread, the write fails with EPIPE instead, and the process's signal dispositions
  // (which belong to the application) stay untouched.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);

  std::vector<pollfd> fds;
  std::vector<ConnectionId> polled;
  while (TakeCommands()) {
    const auto now = SteadyClock::now();
    RunTimers(now);

    fds.clear();
    polled.clear();
    fds.push_back(pollfd{wake_.get(), POLLIN, 0});
    const bool accepting = listener_.valid() && now >= accept_paused_until_;
    if (accepting) fds.push_back(pollfd{listener_.get(), POLLIN, 0});
    const size_t first_conn = fds.size();
    std::optional<SteadyClock::time_point> wake_at;
    if (listener_.valid() && !accepting) wake_at = accept_paused_until_;
    auto wake_by = [&](SteadyClock::time_point t) { wake_at = std::min(wake_at.value_or(t), t); };
    bool more = false;
    for (const auto& [id, c] : conns_) {
      // A negative fd is skipped by poll(): a punch between attempts, a hung-up splice half.
      const int fd = c->fd.valid() && !c->hung_up ? c->fd.get() : -1;
      fds.push_back(pollfd{fd, EventsFor(*c), 0});
      polled.push_back(id);
      if (HasDeadline(c->state)) wake_by(c->deadline);
      if (c->punching) wake_by(c->retry_at);
      more = more || c->more;
    }
    int timeout_ms = -1;
    if (more) {
      timeout_ms = 0;
    } else if (wake_at.has_value()) {
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(*wake_at - now).count();
      timeout_ms = static_cast<int>(std::clamp<int64_t>(wait, 0, INT_MAX));
    }

    if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno != EINTR) Log("poll: " + internal::ErrnoText(errno));
      continue;
    }
    if (fds[0].revents != 0) DrainWake();
    if (accepting && fds[1].revents != 0) Accept(SteadyClock::now());
    for (size_t i = 0; i < polled.size(); ++i) {
      auto it = conns_.find(polled[i]);
      if (it == conns_.end()) continue;  // closed earlier in this turn
      Conn& c = *it->second;
      c.revents = fds[first_conn + i].revents;
      if (c.revents == 0 && !c.more) continue;
      Status s = Ready(c);
      if (!s.ok()) CloseConn(polled[i], s);
    }
  }
  Shutdown();
}

bool Network::Impl::TakeCommands() {
  std::vector<DialRequest> dials;
  std::vector<ConnectionId> dirty;
  std::vector<std::pair<ConnectionId, Status>> cancels;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_requested_) return false;
    wake_pending_ = false;
    dials.swap(dials_);
    dirty.swap(dirty_);
    cancels.swap(cancels_);
    for (ConnectionId id : dirty) {
      auto it = outboxes_.find(id);
      if (it != outboxes_.end()) it->second.dirty = false;
    }
  }
  for (DialRequest& d : dials) StartDial(std::move(d));
  for (const auto& [id, reason] : cancels) CloseConn(id, reason);
  for (ConnectionId id : dirty) {
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    Status s = Flush(*it->second);
    if (!s.ok()) CloseConn(id, s);
  }
  return true;
}

void Network::Impl::Accept(SteadyClock::time_point now) {
  for (int i = 0; i < kMaxAcceptsPerTurn; ++i) {
    internal::Address a;
    a.length = sizeof a.storage;
    UniqueFd fd(accept4(listener_.get(), reinterpret_cast<sockaddr*>(&a.storage), &a.length,
                        SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) {
      const int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) return;
      if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;
      // Out of descriptors or memory: the connection stays in the backlog and the listener stays
      // readable, so stop polling it for a moment instead of spinning.
      Log("accept: " + internal::ErrnoText(e));
      accept_paused_until_ = now + kAcceptPause;
      return;
    }
    // The other side of a punch reached our listener (its SYN came while we had no socket
    // waiting for it): the connection is the punch's.
    if (Conn* punch = punches_ > 0 ? PunchFor(a) : nullptr; punch != nullptr) {
      punch->fd = std::move(fd);
      Status s = TcpConnected(*punch);
      if (!s.ok()) CloseConn(punch->id, s);
      continue;
    }
    auto owned = std::make_unique<Conn>();
    Conn& c = *owned;
    c.id = next_id_.fetch_add(1);
    c.outbound = false;
    c.tls_server = true;
    c.state = State::kSniff;
    c.fd = std::move(fd);
    c.remote = internal::EndpointOf(a.get());
    c.remote_address = a;
    c.deadline = now + std::chrono::milliseconds(options_.handshake_timeout_ms);
    conns_.emplace(c.id, std::move(owned));
  }
}

Status Network::Impl::Expired(const Conn& c) const {
  const std::string limit = std::to_string(options_.handshake_timeout_ms) + " ms";
  switch (c.state) {
    case State::kConnecting:
      if (c.punching) {
        return Status(Code::kUnavailable,
                      "simultaneous open with " + c.dialed.ToString() + " did not connect within " +
                          std::to_string(c.punch_ms) + " ms" +
                          (c.connect_error.empty() ? "" : " (" + c.connect_error + ")"));
      }
      return Status(Code::kUnavailable,
                    "connect to " + c.dialed.ToString() + " timed out after " + limit);
    case State::kSpliceHello:
      return Status(Code::kUnavailable,
                    "relay " + c.dialed.ToString() + " did not answer the splice within " + limit);
    case State::kSpliceWaiting:
      return Status(Code::kUnavailable,
                    "splice token " + TokenForLog(c.token) + " expired without a partner");
    default:
      return Status(Code::kUnavailable, "TLS handshake not finished within " + limit);
  }
}

void Network::Impl::RunTimers(SteadyClock::time_point now) {
  std::vector<std::pair<ConnectionId, Status>> expired;
  std::vector<ConnectionId> retry;
  for (const auto& [id, c] : conns_) {
    if (HasDeadline(c->state) && c->deadline <= now) {
      expired.emplace_back(id, Expired(*c));
    } else if (c->punching && c->retry_at <= now) {
      // Start over only while nothing answered: after the other side's SYN arrived (SYN_RECV)
      // the handshake completes on this socket.
      if (!c->fd.valid() || internal::StillSynSent(c->fd.get())) {
        retry.push_back(id);
      } else {
        c->retry_at = now + kPunchRetry;
      }
    }
  }
  for (const auto& [id, reason] : expired) CloseConn(id, reason);
  for (ConnectionId id : retry) {
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    Status s = PunchAttempt(*it->second, now);
    if (!s.ok()) CloseConn(id, s);
  }
}

Status Network::Impl::CheckDialOptions(const DialOptions& o) const {
  const bool splice = !o.splice_token.empty();
  if (o.punch_ms < 0) return InvalidArgument("punch_ms must not be negative");
  if (o.punch_ms > 0 && splice) return InvalidArgument("a dial punches or splices, not both");
  if (o.tls_server && o.punch_ms == 0 && !splice) {
    return InvalidArgument("tls_server needs punch_ms or splice_token");
  }
  if (splice && !internal::IsSpliceToken(o.splice_token)) {
    return InvalidArgument("a splice token is 64 lowercase hex characters");
  }
  if ((o.from_listen_port || o.punch_ms > 0) && !options_.reuse_port) {
    return FailedPrecondition("dialing from the listen port needs Options::reuse_port");
  }
  return Status::Ok();
}

void Network::Impl::StartDial(DialRequest request) {
  if (!request.addresses.ok()) {
    handler_.OnDialFailed(request.id, request.to, request.addresses.status());
    return;
  }
  const DialOptions& o = request.options;
  if (Status bad = CheckDialOptions(o); !bad.ok()) {
    handler_.OnDialFailed(request.id, request.to, bad);
    return;
  }
  const auto now = SteadyClock::now();
  auto owned = std::make_unique<Conn>();
  Conn& c = *owned;
  c.id = request.id;
  c.outbound = true;
  c.tls_server = o.tls_server;
  c.dialed = std::move(request.to);
  c.verify.expected = o.expected;
  c.addresses = std::move(request.addresses).value();
  c.from_listen_port = o.from_listen_port || o.punch_ms > 0;
  c.splice_token = o.splice_token;
  c.path = o.punch_ms > 0            ? PeerInfo::Path::kPunched
           : !o.splice_token.empty() ? PeerInfo::Path::kSpliced
                                     : PeerInfo::Path::kDirect;
  c.deadline = now + std::chrono::milliseconds(options_.handshake_timeout_ms);
  conns_.emplace(c.id, std::move(owned));
  Status s;
  if (o.punch_ms > 0) {
    c.punching = true;
    ++punches_;
    c.punch_ms = o.punch_ms;
    c.punch_until = now + std::chrono::milliseconds(o.punch_ms);
    c.deadline = c.punch_until;
    if (!AdoptInbound(c, &s)) s = PunchAttempt(c, now);
  } else {
    s = ConnectNext(c);
  }
  if (!s.ok()) CloseConn(c.id, s);
}

Status Network::Impl::OpenSocket(Conn& c, const internal::Address& to) {
  c.fd.reset(socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!c.fd.valid()) return Status(Code::kUnavailable, "socket: " + internal::ErrnoText(errno));
  if (!c.from_listen_port) return Status::Ok();
  const std::optional<internal::Address> local =
      internal::BindAddressFor(listen_address_, to.family());
  if (!local.has_value()) {
    c.fd.reset();
    return InvalidArgument("cannot reach " + internal::EndpointOf(to.get()).ToString() +
                           " from the listen address " + listening_.ToString());
  }
  if (!internal::SetReusePort(c.fd.get()) || bind(c.fd.get(), local->get(), local->length) != 0) {
    const std::string why = internal::ErrnoText(errno);
    c.fd.reset();
    return Status(Code::kUnavailable, "binding the listen port: " + why);
  }
  return Status::Ok();
}

Status Network::Impl::ConnectNext(Conn& c) {
  c.state = State::kConnecting;
  while (c.next_address < c.addresses.size()) {
    const internal::Address& a = c.addresses[c.next_address++];
    if (Status opened = OpenSocket(c, a); !opened.ok()) {
      c.connect_error = opened.message();
      continue;
    }
    if (connect(c.fd.get(), a.get(), a.length) == 0) return TcpConnected(c);
    // EINTR on a non-blocking connect also leaves it completing in the background.
    if (errno == EINPROGRESS || errno == EINTR) return Status::Ok();
    c.connect_error = internal::ErrnoText(errno);
  }
  c.fd.reset();
  return Status(Code::kUnavailable, "connect to " + c.dialed.ToString() + ": " + c.connect_error);
}

Status Network::Impl::FinishConnect(Conn& c) {
  int err = 0;
  socklen_t length = sizeof err;
  if (getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &length) != 0) err = errno;
  if (err != 0) {
    c.connect_error = internal::ErrnoText(err);
    if (c.punching) {
      c.fd.reset();  // the next attempt comes at retry_at
      return Status::Ok();
    }
    return ConnectNext(c);
  }
  return TcpConnected(c);
}

Status Network::Impl::TcpConnected(Conn& c) {
  EndPunch(c);
  c.remote = internal::PeerEndpoint(c.fd.get());
  if (!c.splice_token.empty()) {
    c.state = State::kSpliceHello;
    c.splice_hello = internal::SplicePreamble(c.splice_token);
    return StepSpliceHello(c);
  }
  // A punch's deadline was its own; the handshake gets the usual one.
  if (c.path == PeerInfo::Path::kPunched) {
    c.deadline = SteadyClock::now() + std::chrono::milliseconds(options_.handshake_timeout_ms);
  }
  return StartTls(c);
}

Status Network::Impl::StartTls(Conn& c) {
  c.state = State::kHandshaking;
  // Frames are often small and latency-bound; coalescing already happens in the write buffer,
  // so Nagle would only add delay.
  const int one = 1;
  setsockopt(c.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ERR_clear_error();
  c.ssl.reset(SSL_new(ctx_.get()));
  if (!c.ssl || SSL_set_fd(c.ssl.get(), c.fd.get()) != 1) {
    c.tls_failed = true;
    return Internal("setting up TLS: " + internal::TakeTlsErrors("SSL_new failed"));
  }
  internal::AttachVerifyState(c.ssl.get(), &c.verify);
  if (c.tls_server) {
    SSL_set_accept_state(c.ssl.get());
    c.handshake_events = POLLIN;  // the client speaks first
    return Status::Ok();
  }
  SSL_set_connect_state(c.ssl.get());
  return StepHandshake(c);
}

Status Network::Impl::StepHandshake(Conn& c) {
  ERR_clear_error();
  const int rc = SSL_do_handshake(c.ssl.get());
  const int saved_errno = errno;
  if (rc == 1) return FinishHandshake(c);
  const int err = SSL_get_error(c.ssl.get(), rc);
  if (err == SSL_ERROR_WANT_READ) {
    c.handshake_events = POLLIN;
    return Status::Ok();
  }
  if (err == SSL_ERROR_WANT_WRITE) {
    c.handshake_events = POLLOUT;
    return Status::Ok();
  }
  c.tls_failed = true;
  if (!c.verify.failure.ok()) {
    ERR_clear_error();
    return c.verify.failure;
  }
  return IOError("TLS handshake failed: " + TlsFailure(err, saved_errno));
}

Status Network::Impl::FinishHandshake(Conn& c) {
  // The verify callback already refused wrong keys; checking again here keeps the guarantee
  // independent of OpenSSL calling it as expected.
  GROVE_ASSIGN_OR_RETURN(const crypto::PublicKey key, internal::PeerSignKey(c.ssl.get()));
  if (c.verify.expected.has_value() && *c.verify.expected != key) {
    return PermissionDenied("pinned key mismatch");
  }
  if (c.outbound) c.remote = internal::PeerEndpoint(c.fd.get());
  c.state = State::kOpen;
  {
    std::lock_guard<std::mutex> lock(mu_);
    outboxes_.emplace(c.id, Outbox{});
  }
  counters_.connections_open.fetch_add(1);
  handler_.OnConnected(PeerInfo{c.id, c.outbound, c.remote, key, c.path});
  // The peer may have sent frames right behind its last handshake message, into OpenSSL's
  // buffer where poll() cannot see them.
  GROVE_RETURN_IF_ERROR(Read(c));
  return Write(c);
}

Status Network::Impl::Ready(Conn& c) {
  switch (c.state) {
    case State::kConnecting:
      return FinishConnect(c);
    case State::kSpliceHello:
      return StepSpliceHello(c);
    case State::kSniff:
      return Sniff(c);
    case State::kPreamble:
      return ReadPreamble(c);
    case State::kHandshaking:
      return StepHandshake(c);
    case State::kOpen:
      c.more = false;
      GROVE_RETURN_IF_ERROR(Read(c));
      return Write(c);
    case State::kSpliceWaiting:
      return Status(Code::kUnavailable, "splice half closed before its partner came");
    case State::kSpliced:
      return StepSplice(c);
  }
  return Status::Ok();
}

Status Network::Impl::CloseRequested(ConnectionId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = outboxes_.find(id);
  if (it != outboxes_.end() && it->second.close_requested) return it->second.close_reason;
  return Status::Ok();
}

Status Network::Impl::Read(Conn& c) {
  size_t taken = 0;
  c.read_wants_write = false;
  for (;;) {
    uint8_t* into;
    size_t want;
    if (!c.in_body) {
      into = c.prefix + c.prefix_have;
      want = kPrefixBytes - c.prefix_have;
    } else {
      if (c.body_have == c.body.size()) {
        c.body.resize(std::min(c.body_length, c.body_have + kReadGrowBytes));
      }
      into = c.body.data() + c.body_have;
      want = c.body.size() - c.body_have;
    }
    ERR_clear_error();
    const int n = SSL_read(c.ssl.get(), into, static_cast<int>(std::min<size_t>(want, INT_MAX)));
    const int saved_errno = errno;
    if (n <= 0) {
      const int err = SSL_get_error(c.ssl.get(), n);
      if (err == SSL_ERROR_WANT_READ) return Status::Ok();
      if (err == SSL_ERROR_WANT_WRITE) {
        c.read_wants_write = true;
        return Status::Ok();
      }
      if (err == SSL_ERROR_ZERO_RETURN) return ClosedByPeer();
      c.tls_failed = true;
      return IOError("TLS read failed: " + TlsFailure(err, saved_errno));
    }
    counters_.bytes_in.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    taken += static_cast<size_t>(n);

    if (!c.in_body) {
      c.prefix_have += static_cast<size_t>(n);
      if (c.prefix_have < kPrefixBytes) continue;
      c.prefix_have = 0;
      const uint32_t length = LoadBigEndian32(c.prefix);
      if (length > options_.max_frame_bytes) {
        Status refused =
            InvalidArgument("frame of " + std::to_string(length) + " bytes exceeds the limit of " +
                            std::to_string(options_.max_frame_bytes));
        Log("closing connection " + std::to_string(c.id) + " with " + c.remote.ToString() + ": " +
            refused.ToString());
        return refused;
      }
      c.in_body = true;
      c.body_length = length;
      c.body_have = 0;
      c.body.clear();
    } else {
      c.body_have += static_cast<size_t>(n);
    }

    if (c.in_body && c.body_have == c.body_length) {
      c.in_body = false;
      Bytes frame = std::move(c.body);
      c.body = Bytes();
      counters_.frames_in.fetch_add(1, std::memory_order_relaxed);
      handler_.OnFrame(c.id, std::move(frame));
      // A Close() from the callback (or any thread) stops delivery right here.
      GROVE_RETURN_IF_ERROR(CloseRequested(c.id));
    }
    if (taken >= kTurnBudgetBytes) {
      c.more = true;  // OpenSSL may hold decrypted bytes that poll() cannot report
      return Status::Ok();
    }
  }
}

Status Network::Impl::Refill(Conn& c) {
  std::vector<Bytes> frames;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = outboxes_.find(c.id);
    if (it == outboxes_.end()) return Status::Ok();
    Outbox& box = it->second;
    if (box.close_requested) return box.close_reason;
    size_t batch = 0;
    while (!box.frames.empty() && batch < kWriteBatchBytes) {
      batch += kPrefixBytes + box.frames.front().size();
      frames.push_back(std::move(box.frames.front()));
      box.frames.pop_front();
    }
  }
  // Copy outside the lock, so senders on other threads do not wait for a large memcpy.
  if (c.out.capacity() > 4 * kWriteBatchBytes) Bytes().swap(c.out);  // after a huge frame
  for (const Bytes& f : frames) {
    AppendBigEndian32(c.out, static_cast<uint32_t>(f.size()));
    c.out.insert(c.out.end(), f.begin(), f.end());
  }
  counters_.frames_out.fetch_add(frames.size(), std::memory_order_relaxed);
  return Status::Ok();
}

Status Network::Impl::Write(Conn& c) {
  size_t sent = 0;
  Status result;
  c.write_wants_write = false;
  for (;;) {
    if (c.out_done == c.out.size()) {
      c.out.clear();
      c.out_done = 0;
      result = Refill(c);
      if (!result.ok() || c.out.empty()) break;
    }
    const int length = c.retry_length != 0
                           ? c.retry_length
                           : static_cast<int>(std::min<size_t>(c.out.size() - c.out_done, INT_MAX));
    ERR_clear_error();
    const int n = SSL_write(c.ssl.get(), c.out.data() + c.out_done, length);
    const int saved_errno = errno;
    if (n > 0) {
      c.out_done += static_cast<size_t>(n);
      sent += static_cast<size_t>(n);
      c.retry_length = 0;
      if (sent >= kTurnBudgetBytes) {
        c.more = true;
        break;
      }
      continue;
    }
    const int err = SSL_get_error(c.ssl.get(), n);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
      c.retry_length = length;
      c.write_wants_write = err == SSL_ERROR_WANT_WRITE;
      break;
    }
    c.tls_failed = true;
    result = IOError("TLS write failed: " + TlsFailure(err, saved_errno));
    break;
  }
  if (sent > 0) {
    counters_.bytes_out.fetch_add(sent, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = outboxes_.find(c.id);
    if (it != outboxes_.end()) it->second.queued -= std::min(sent, it->second.queued);
  }
  return result;
}

Status Network::Impl::Flush(Conn& c) {
  // A Close() must win even when the write buffer still holds bytes (Refill would not look).
  GROVE_RETURN_IF_ERROR(CloseRequested(c.id));
  return Write(c);
}

void Network::Impl::CloseConn(ConnectionId id, const Status& reason) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  std::unique_ptr<Conn> owned = std::move(it->second);
  conns_.erase(it);
  EndPunch(*owned);
  const State state = owned->state;
  const bool outbound = owned->outbound;
  const Endpoint dialed = owned->dialed;
  const Endpoint remote = owned->remote;
  if (state == State::kSpliced) {
    // The two halves of a splice end together, and neither was ever the Handler's.
    Conn* partner = owned->partner;
    owned.reset();
    if (partner != nullptr) {
      partner->partner = nullptr;
      conns_.erase(partner->id);
    }
    counters_.splices_open.fetch_sub(1);
    return;
  }
  if (state == State::kSpliceWaiting) ForgetWaitingHalf(*owned);
  if (owned->ssl && !owned->tls_failed && SSL_is_init_finished(owned->ssl.get())) {
    // One non-blocking try at close_notify: a peer that does not read must not delay the close.
    ERR_clear_error();
    SSL_shutdown(owned->ssl.get());
    ERR_clear_error();
  }
  owned.reset();  // the socket closes before anyone hears of it
  if (state == State::kOpen) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      outboxes_.erase(id);
    }
    counters_.connections_open.fetch_sub(1);
    handler_.OnClosed(id, reason);
  } else if (outbound) {
    if (state == State::kHandshaking && !stopping_) counters_.handshakes_failed.fetch_add(1);
    handler_.OnDialFailed(id, dialed, reason);
  } else if (!stopping_) {
    // Every inbound connection that never got to kOpen (or to a splice) failed its handshake,
    // in the wide sense: TLS, or the splice preamble and pairing that stand in for it.
    counters_.handshakes_failed.fetch_add(1);
    Log("inbound connection from " + remote.ToString() + " failed: " + reason.ToString());
  }
}

void Network::Impl::Shutdown() {
  stopping_ = true;
  listener_.reset();  // refuse new connections while the old ones are told
  std::vector<DialRequest> dials;
  {
    std::lock_guard<std::mutex> lock(mu_);
    dials.swap(dials_);
    cancels_.clear();
  }
  for (const DialRequest& d : dials) handler_.OnDialFailed(d.id, d.to, NetworkStopped());
  std::vector<ConnectionId> ids;
  ids.reserve(conns_.size());
  for (const auto& [id, c] : conns_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (ConnectionId id : ids) CloseConn(id, NetworkStopped());
  std::lock_guard<std::mutex> lock(mu_);
  outboxes_.clear();
  dirty_.clear();
}

// ---------------------------------------------------------------------------------------------
// Network
// ---------------------------------------------------------------------------------------------

Result<std::unique_ptr<Network>> Network::Start(const identity::Identity& me,
                                                const Options& options, Handler& handler) {
  if (options.listen.host.empty()) return InvalidArgument("listen endpoint needs a host");
  if (options.max_frame_bytes > UINT32_MAX) {
    return InvalidArgument("max_frame_bytes must fit the 32-bit length prefix");
  }
  if (options.max_queued_bytes == 0) return InvalidArgument("max_queued_bytes must be positive");
  if (options.handshake_timeout_ms <= 0) {
    return InvalidArgument("handshake_timeout_ms must be positive");
  }
  GROVE_ASSIGN_OR_RETURN(internal::SslCtxPtr ctx, internal::NewTlsContext(me));
  GROVE_ASSIGN_OR_RETURN(UniqueFd listener, internal::Listen(options.listen, options.reuse_port));
  Endpoint bound = internal::LocalEndpoint(listener.get());
  const internal::Address bound_address = internal::LocalAddress(listener.get());
  UniqueFd wake(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake.valid()) return IOError("eventfd: " + internal::ErrnoText(errno));
  auto impl = std::make_unique<Impl>(options, handler, std::move(ctx), std::move(listener),
                                     std::move(wake), std::move(bound), bound_address);
  impl->StartThread();
  return std::unique_ptr<Network>(new Network(std::move(impl)));
}

Network::Network(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Network::~Network() { impl_->Stop(); }

Endpoint Network::listening() const { return impl_->listening(); }
uint64_t Network::Dial(const Endpoint& to, std::optional<crypto::PublicKey> expected) {
  DialOptions options;
  options.expected = expected;
  return impl_->Dial(to, options);
}
uint64_t Network::Dial(const Endpoint& to, const DialOptions& options) {
  return impl_->Dial(to, options);
}
Status Network::ExpectSplice(std::string_view token, int ttl_ms) {
  return impl_->ExpectSplice(token, ttl_ms);
}
bool Network::Send(ConnectionId id, Bytes frame) { return impl_->Send(id, std::move(frame)); }
size_t Network::QueuedBytes(ConnectionId id) const { return impl_->QueuedBytes(id); }
void Network::Close(ConnectionId id, const Status& reason) { impl_->Close(id, reason); }
void Network::Stop() { impl_->Stop(); }
Network::Stats Network::stats() const { return impl_->stats(); }

}  // namespace grove::net
