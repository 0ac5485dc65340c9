// Internal to services/net: the reactor's state. What a connection is in each of its states
// (Conn), what other threads may touch (Outbox, under Network::Impl::mu_), and Network::Impl,
// whose methods live in network.cc (the loop, dials, TLS and frames) and traversal.cc (punches,
// splice dials, and the relay's side of splices). See network.cc for the threading split.
#pragma once

#include <poll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/status.h"
#include "net/internal.h"
#include "net/network.h"

namespace grove::net {
namespace internal {

using SteadyClock = std::chrono::steady_clock;

constexpr size_t kPrefixBytes = 4;
// A frame's buffer grows by at most this much per read, so a peer announcing a 16 MiB frame
// costs memory only as fast as it actually sends bytes.
constexpr size_t kReadGrowBytes = 256 << 10;
// Queued frames are copied into one buffer of about this size before SSL_write, so that many
// small frames share TLS records and syscalls.
constexpr size_t kWriteBatchBytes = 256 << 10;
// Per connection, per loop turn and direction: one fast peer cannot starve the others.
constexpr size_t kTurnBudgetBytes = 4 << 20;
constexpr int kMaxAcceptsPerTurn = 64;
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
// A punch starts over with a fresh socket this often while its SYN goes unanswered: a NAT that
// dropped our first SYN (the other side's had not opened it yet) lets the next one through, and
// the kernel's own SYN retransmission would wait a whole second.
constexpr auto kPunchRetry = std::chrono::milliseconds(150);
// Per splice direction: what the relay holds at most. splice(2) moves a whole pipe's worth per
// call, so this is few syscalls per MiB; larger pipes measured no faster (the cost is the extra
// TCP hop), and the kernel charges capacity against a user's pipe budget
// (fs.pipe-user-pages-soft, 64 MiB by default), past which new pipes shrink to 8 KiB.
constexpr size_t kSplicePipeBytes = 256 << 10;
constexpr uint8_t kTlsHandshakeRecord = 0x16;

inline Status ClosedByPeer() { return Status(Code::kUnavailable, "connection closed by peer"); }

enum class State {
  kConnecting,     // outbound: TCP connect (a punch retries it until punch_until)
  kSpliceHello,    // outbound to a relay: preamble out, then the relay's "OK\n" awaited
  kSniff,          // inbound: the first byte tells TLS (0x16) from a splice preamble ('G')
  kPreamble,       // inbound, relay: reading the preamble line
  kHandshaking,    // TLS handshake
  kOpen,           // reported to the Handler; frames flow
  kSpliceWaiting,  // relay: a half whose partner has not come yet
  kSpliced,        // relay: bytes copied to and from the partner
};

// States that end by a deadline (all but the two that last as long as the peers want).
inline bool HasDeadline(State state) { return state != State::kOpen && state != State::kSpliced; }

// One connection. Owned and touched by the network thread only; heap-allocated so that the
// SSL's pointer to `verify` (and a splice partner's pointer) stays valid while the map of
// connections rehashes.
struct Conn {
  ConnectionId id = 0;
  bool outbound = false;
  bool tls_server = false;  // inbound connections always; outbound ones when DialOptions say
  PeerInfo::Path path = PeerInfo::Path::kDirect;
  State state = State::kConnecting;
  UniqueFd fd;
  internal::SslPtr ssl;  // declared after fd, so freed before the socket closes
  internal::VerifyState verify;
  bool tls_failed = false;           // after a fatal TLS error OpenSSL forbids SSL_shutdown
  SteadyClock::time_point deadline;  // of the current phase (see HasDeadline)
  short handshake_events = POLLIN;   // what the handshake (or splice hello) waits for
  short revents = 0;                 // what poll() last reported for this socket
  Endpoint remote;
  internal::Address remote_address;  // inbound: as accept() gave it

  // Outbound only: where to, and the addresses still to try.
  Endpoint dialed;
  std::vector<internal::Address> addresses;
  size_t next_address = 0;
  std::string connect_error;
  bool from_listen_port = false;
  // A punch: connect retried from the listen port until punch_until.
  bool punching = false;
  int punch_ms = 0;
  SteadyClock::time_point punch_until;
  SteadyClock::time_point retry_at;
  // Through a relay: the token, the preamble, how much of it went out, and the answer so far.
  std::string splice_token;
  std::string splice_hello;
  size_t splice_hello_sent = 0;
  char splice_ok[3] = {};
  size_t splice_ok_have = 0;

  // Relay side: the preamble read so far, then the token waited on, then the partner and the
  // pipe carrying this side's bytes to it.
  std::string preamble;
  std::string token;
  Conn* partner = nullptr;
  internal::SplicePipe to_partner;
  size_t control_bytes = 0;  // the relay's own "OK\n" at the head of to_partner: not counted
  bool shut_write = false;   // the relay passed on the partner's FIN
  bool hung_up = false;      // poll said POLLHUP: left out of poll, driven by the partner

  // Receiving: the 4-byte prefix, then the body.
  uint8_t prefix[kPrefixBytes] = {};
  size_t prefix_have = 0;
  bool in_body = false;
  size_t body_length = 0;
  size_t body_have = 0;
  Bytes body;
  bool read_wants_write = false;

  // Sending: prefixed frames taken from the Outbox, and how far TLS has taken them.
  Bytes out;
  size_t out_done = 0;
  // After WANT_READ/WANT_WRITE OpenSSL requires the retry to offer the same length.
  int retry_length = 0;
  bool write_wants_write = false;

  bool more = false;  // the turn budget ran out with work left: poll without waiting
};

// The part of an open connection other threads reach, under Impl::mu_.
struct Outbox {
  std::deque<Bytes> frames;
  size_t queued = 0;  // prefixed bytes in `frames` plus those in the Conn's buffer not yet sent
  bool close_requested = false;
  Status close_reason;
  bool dirty = false;  // listed in Impl::dirty_
};

struct DialRequest {
  uint64_t id = 0;
  Endpoint to;
  Result<std::vector<internal::Address>> addresses;
  DialOptions options;
};

// What the relay knows of a token ExpectSplice registered; guarded by Impl::mu_.
struct SpliceToken {
  SteadyClock::time_point expires;
  ConnectionId waiting = 0;  // the half that came first, if any
};

// The splice token as logs show it: enough to match a coordinator's log line, too little to use.
inline std::string TokenForLog(std::string_view token) {
  return std::string(token.substr(0, 8)) + "…";
}

}  // namespace internal

class Network::Impl {
  using Conn = internal::Conn;
  using DialRequest = internal::DialRequest;
  using Outbox = internal::Outbox;
  using SpliceToken = internal::SpliceToken;
  using State = internal::State;
  using SteadyClock = internal::SteadyClock;
  using UniqueFd = internal::UniqueFd;

 public:
  Impl(const Options& options, Handler& handler, internal::SslCtxPtr ctx, UniqueFd listener,
       UniqueFd wake, Endpoint listening, internal::Address listen_address)
      : options_(options),
        handler_(handler),
        ctx_(std::move(ctx)),
        listener_(std::move(listener)),
        wake_(std::move(wake)),
        listening_(std::move(listening)),
        listen_address_(listen_address) {}
  ~Impl() { Stop(); }

  void StartThread() {
    thread_ = std::thread([this] { Run(); });
  }

  // --- Any thread --------------------------------------------------------------------------
  Endpoint listening() const { return listening_; }
  uint64_t Dial(const Endpoint& to, const DialOptions& options);
  Status ExpectSplice(std::string_view token, int ttl_ms);
  bool Send(ConnectionId id, Bytes frame);
  size_t QueuedBytes(ConnectionId id) const;
  void Close(ConnectionId id, const Status& reason);
  void Stop();
  Stats stats() const;

 private:
  // --- Network thread ----------------------------------------------------------------------
  void Run();
  bool TakeCommands();  // false once Stop() was asked
  void Accept(SteadyClock::time_point now);
  void RunTimers(SteadyClock::time_point now);
  Status Expired(const Conn& c) const;  // why `c` is closed at its deadline
  void StartDial(DialRequest request);
  Status CheckDialOptions(const DialOptions& options) const;
  Status OpenSocket(Conn& c, const internal::Address& to);
  Status ConnectNext(Conn& c);
  Status FinishConnect(Conn& c);
  Status TcpConnected(Conn& c);
  // traversal.cc: dials through a relay, punches, and the relay's side of splices.
  Status StepSpliceHello(Conn& c);
  Status PunchAttempt(Conn& c, SteadyClock::time_point now);
  void EndPunch(Conn& c);
  Conn* PunchFor(const internal::Address& from);
  bool AdoptInbound(Conn& punch, Status* result);
  Status Sniff(Conn& c);
  Status ReadPreamble(Conn& c);
  Status JoinSplice(Conn& c, const std::string& token);
  Status Pair(Conn& first, Conn& second);
  Status Pump(Conn& from, Conn& to);
  Status StepSplice(Conn& c);
  void ForgetWaitingHalf(const Conn& c);
  // network.cc: TLS and frames.
  Status StartTls(Conn& c);
  Status StepHandshake(Conn& c);
  Status FinishHandshake(Conn& c);
  Status Ready(Conn& c);
  Status Read(Conn& c);
  Status Write(Conn& c);
  Status Refill(Conn& c);
  Status Flush(Conn& c);
  Status CloseRequested(ConnectionId id);
  void CloseConn(ConnectionId id, const Status& reason);
  void Shutdown();
  static short EventsFor(const Conn& c);

  // Call with mu_ held: true when the caller must Wake() (after unlocking).
  bool NeedWakeLocked();
  void Wake();
  void DrainWake();

  const Options options_;
  Handler& handler_;
  const internal::SslCtxPtr ctx_;
  UniqueFd listener_;  // network thread after Start (closed by Shutdown)
  const UniqueFd wake_;
  const Endpoint listening_;
  const internal::Address listen_address_;

  std::atomic<uint64_t> next_id_{1};

  mutable std::mutex mu_;
  std::unordered_map<ConnectionId, Outbox> outboxes_;     // open connections; guarded by mu_
  std::vector<ConnectionId> dirty_;                       // outboxes with work; guarded by mu_
  std::vector<DialRequest> dials_;                        // guarded by mu_
  std::vector<std::pair<ConnectionId, Status>> cancels_;  // Close() of a dial; guarded by mu_
  bool stop_requested_ = false;                           // guarded by mu_
  bool wake_pending_ = false;                             // guarded by mu_
  std::unordered_map<std::string, SpliceToken> tokens_;   // guarded by mu_
  size_t purge_tokens_at_ = 64;                           // guarded by mu_

  // Network thread only.
  std::unordered_map<ConnectionId, std::unique_ptr<Conn>> conns_;
  SteadyClock::time_point accept_paused_until_{};
  bool stopping_ = false;
  size_t punches_ = 0;  // Conns with `punching` set: Accept looks for their targets

  std::mutex join_mu_;
  std::thread thread_;
  std::atomic<std::thread::id> loop_thread_{};

  struct Counters {
    std::atomic<uint64_t> connections_open{0}, bytes_in{0}, bytes_out{0}, frames_in{0},
        frames_out{0}, handshakes_failed{0}, frames_refused{0}, splices_open{0}, splices_total{0},
        bytes_spliced{0};
  };
  Counters counters_;
};

}  // namespace grove::net
