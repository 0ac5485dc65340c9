// grove::net — the peer's network reactor: TLS 1.3 connections between devices, authenticated by
// their Ed25519 device keys, carrying length-prefixed frames; and, for NAT traversal, TCP
// simultaneous open and a relay's byte splice.
//
// Wire format: TCP, then TLS 1.3 only. Each side presents a self-signed X.509 certificate whose
// key is its device's Ed25519 signing key (subject CN = the device id text), and each side
// requires the other's: there is no CA; trust is by key. A certificate whose key is not Ed25519
// fails the handshake. The key the remote proved is reported in PeerInfo::sign_key; an outbound
// Dial may pin the key it expects, and a different one fails the handshake (as TLS client before
// this device's own certificate is sent; as TLS server, see DialOptions::tls_server, after it).
// Inside TLS, a frame is a 4-byte big-endian length and that many bytes of payload. A length of
// 0 is allowed (an empty frame is delivered). A length above the receiver's
// Options::max_frame_bytes closes the connection with InvalidArgument("frame of N bytes exceeds
// the limit of M"); limits are the receiver's, so Send() does not check them.
//
// NAT traversal (docs/protocol.md, "Rendezvous and splices"; decision 0008). Three ways a Dial
// reaches a device, reported in PeerInfo::path:
//   kDirect   connect() to the remote's listener.
//   kPunched  TCP simultaneous open: both devices dial each other at once from their listen ports
//             (Options::reuse_port), so each one's outbound SYN opens its own NAT for the other's.
//             Whichever way TCP comes up (a true simultaneous open, or one side's SYN meeting
//             the other's listener), the connection belongs to the punching Dial: a connection
//             accepted from the punch's target while it runs, or before it started and not yet
//             past its TLS handshake, is taken over by it. (Only where nothing filters the path
//             can the other side's connection complete as an ordinary inbound one first; it is
//             then reported as such, and the late punch fails.)
//   kSpliced  through a relay: both devices dial the relay with the same token; the relay (a
//             Network with Options::splice, told of the token by ExpectSplice) pairs the two
//             TCP connections and copies bytes between them; TLS runs end to end inside, so the
//             relay sees only ciphertext and pinning holds as for any dial.
// In both of the last two, neither side is the natural TLS client, so the coordinator assigns the
// roles: exactly one side dials with tls_server = true.
//
// Ids: Dial ids and ConnectionIds come from one counter and are never reused by a Network. An
// outbound connection's ConnectionId is the id its Dial returned, so a caller can match
// OnConnected to the dial that made it.
//
// Events: every Dial (that returned an id other than 0) ends in exactly one OnConnected (with
// peer.id == the dial id) or one OnDialFailed. Every OnConnected is followed by exactly one
// OnClosed for that id, after its last OnFrame. Inbound connections that fail before their
// handshake completes (not TLS, a refused certificate, handshake_timeout_ms passed, a refused
// splice preamble, a splice half whose token expired without a partner) are not reported to the
// Handler: they are counted in Stats::handshakes_failed and logged to stderr. Spliced
// connections on a relay are never reported to its Handler either (Stats::splices_*). Stop()
// reports OnClosed/OnDialFailed with Unavailable("network stopped") for everything still open or
// dialing, before it returns.
//
// Threading: one network thread owns every socket and every OpenSSL object and runs all Handler
// callbacks, one at a time, in order per connection. Every public method of Network may be
// called from any thread, including from inside a callback (Send, Close and Dial then take
// effect when the callback returns). Handler methods must not block (post work to another
// thread) and must not throw: an exception escaping a callback terminates the process. Stop()
// called from a callback asks the thread to finish and returns at once; the Network must not be
// destroyed from a callback.
//
// Failure: nothing here throws. Start() returns InvalidArgument for bad options, IOError when the
// listener cannot be set up, Internal when OpenSSL cannot build the certificate. A connection's
// end is a Status: the reason given to Close(), Unavailable("connection closed by peer"),
// InvalidArgument for an oversized frame, IOError for socket and TLS errors. A dial fails with
// Unavailable (name resolution, connect refused or timed out, a punch that never connected, a
// relay that closed the splice, handshake timed out), IOError (TLS handshake failed),
// PermissionDenied ("pinned key mismatch", a non-Ed25519 key), InvalidArgument (DialOptions that
// do not fit together, a malformed splice token) or FailedPrecondition (from_listen_port or a
// punch without Options::reuse_port). Bytes from the network, however malformed, never crash the
// process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/crypto.h"
#include "identity/identity.h"

namespace grove::net {

using ConnectionId = uint64_t;

struct Endpoint {
  std::string host;  // a name, an IPv4 literal, or an IPv6 literal without brackets
  uint16_t port = 0;

  // "127.0.0.1:7000", "[::1]:7000", "localhost:7000": brackets when the host contains ':'.
  std::string ToString() const;
  bool operator==(const Endpoint&) const = default;
};

// Parses "host:port" with an IPv6 literal in brackets ("[::1]:7000"). The port is 0 to 65535
// (0 means "pick one" when listening). InvalidArgument naming the text when it does not parse.
Result<Endpoint> ParseEndpoint(std::string_view text);

struct PeerInfo {
  // How the connection was made (see "NAT traversal" above). Inbound ones are always kDirect.
  enum class Path { kDirect, kPunched, kSpliced };

  ConnectionId id = 0;
  bool outbound = false;
  Endpoint remote;               // the address observed on the socket (numeric; for kSpliced,
                                 // the relay's)
  crypto::PublicKey sign_key{};  // the Ed25519 key the remote proved in the TLS handshake
  Path path = Path::kDirect;
};

// "direct", "punched", "spliced".
const char* PathName(PeerInfo::Path path);

// A splice token is 32 random bytes in lowercase hex (64 characters); the relay's coordinator
// makes it and gives it to the relay (ExpectSplice) and to both devices (DialOptions).
constexpr size_t kSpliceTokenHexChars = 64;

// How an outbound connection is made. The default is a plain dial.
struct DialOptions {
  // A remote proving another key fails the dial with PermissionDenied("pinned key mismatch").
  std::optional<crypto::PublicKey> expected;
  // Bind the outbound socket to the listener's port before connecting, so a NAT maps it like
  // the listener's (a relay then observes the port a punch will leave from). REQUIRES
  // Options::reuse_port, else the dial fails with FailedPrecondition.
  bool from_listen_port = false;
  // > 0: TCP simultaneous open with `to` (whose device dials us at the same moment). Implies
  // from_listen_port. connect() is retried from the listen port with a fresh socket every
  // 150 ms until TCP connects or punch_ms has passed (Unavailable); the TLS handshake then has
  // its own handshake_timeout_ms.
  int punch_ms = 0;
  // Non-empty: `to` is a relay. After TCP connects, the preamble "GROVE-SPLICE 1 <token>\n" is
  // sent and the relay's "OK\n" awaited (both within handshake_timeout_ms of the Dial), then TLS
  // runs end to end with the device that dialled the relay with the same token, within a fresh
  // handshake_timeout_ms. A relay that closes instead (unknown or expired token, no partner in
  // time) fails the dial with Unavailable. See kSpliceTokenHexChars.
  std::string splice_token;
  // Act as the TLS server once TCP is up. Only with punch_ms or splice_token (InvalidArgument
  // otherwise), and the other device must dial as client.
  bool tls_server = false;
};

// Receives the network's events, on the network thread. See "Events" and "Threading" above.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual void OnConnected(const PeerInfo& peer) = 0;
  virtual void OnFrame(ConnectionId id, Bytes frame) = 0;
  virtual void OnClosed(ConnectionId id, const Status& reason) = 0;
  virtual void OnDialFailed(uint64_t dial_id, const Endpoint& to, const Status& reason) = 0;
};

struct Options {
  // Where to listen; required. Port 0 picks a free port (see Network::listening()). Use
  // "0.0.0.0" or "::" (which on Linux also accepts IPv4) for every interface.
  Endpoint listen;
  // A received frame longer than this closes the connection. At most 2^32 - 1.
  size_t max_frame_bytes = 16 << 20;
  // Per connection: Send() refuses a frame when the bytes queued and not yet handed to TLS, plus
  // this frame and its 4-byte prefix, would exceed this. A larger frame can never be sent.
  size_t max_queued_bytes = 64 << 20;
  // TCP connect (for dials) plus the TLS handshake must finish within this, or the connection is
  // closed. (A punch's and a splice's phases are timed apart: see DialOptions.)
  int handshake_timeout_ms = 10000;
  // The listener sets SO_REUSEADDR and SO_REUSEPORT, so that outbound sockets may bind its port
  // (DialOptions::from_listen_port, punch_ms). Any process of the same user may then bind the
  // port too.
  bool reuse_port = false;
  // Relay side: besides TLS, the listener accepts splice preambles (their first byte is 'G'
  // where TLS's is 0x16) and pairs the connections that present the same token, registered
  // first with ExpectSplice. Unknown, malformed or expired tokens are closed at once.
  bool splice = false;
};

class Network {
 public:
  // Builds the TLS certificate from `me` (which need not outlive the call), binds and listens on
  // options.listen (resolving a host name blocks), and starts the network thread. `handler`
  // must outlive the Network.
  static Result<std::unique_ptr<Network>> Start(const identity::Identity& me,
                                                const Options& options, Handler& handler);
  ~Network();  // Stop()s. REQUIRES: not called from a Handler callback.
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // The bound address and actual port.
  Endpoint listening() const;

  // Starts an outbound connection and returns its id (never 0), or 0 after Stop(), when nothing
  // is reported. If `expected` is set, a remote proving another key fails the dial with
  // PermissionDenied("pinned key mismatch"). A host name is resolved here, on the calling
  // thread (blocking); numeric hosts never block. Every address the name resolves to is tried
  // in turn until one accepts the TCP connection.
  uint64_t Dial(const Endpoint& to, std::optional<crypto::PublicKey> expected);
  // The same with every option (see DialOptions); misfitting options fail through OnDialFailed.
  uint64_t Dial(const Endpoint& to, const DialOptions& options);

  // Relay side: accept, for ttl_ms from now, the two connections that will present `token` in a
  // splice preamble; pair them, answer each "OK\n", and copy bytes between them both ways until
  // either end closes (a half-close is passed on; the pair is closed once both directions
  // ended, or at once on an error). Copying uses bounded kernel buffers and stops reading a side
  // while the other does not take its bytes. A half that comes alone waits at most until the
  // token expires. Each token pairs once. InvalidArgument for a malformed token or ttl_ms <= 0,
  // FailedPrecondition without Options::splice or after Stop(), AlreadyExists for a token
  // already registered.
  Status ExpectSplice(std::string_view token, int ttl_ms);

  // Queues a frame for an open connection; never blocks. false when the connection is not open
  // (unknown, closed, or Close() was called) or when its queue is full (see
  // Options::max_queued_bytes): backpressure, try again once QueuedBytes() has fallen.
  bool Send(ConnectionId id, Bytes frame);
  // Bytes accepted by Send() (frames plus prefixes) not yet handed to TLS; 0 when not open.
  size_t QueuedBytes(ConnectionId id) const;
  // Closes a connection: frames still queued are dropped, the remote is sent a TLS close_notify
  // if its socket takes it at once, and OnClosed(id, reason) follows. With the id of a dial in
  // progress, cancels it: OnDialFailed(id, to, reason). Unknown or finished ids are ignored.
  void Close(ConnectionId id, const Status& reason);
  // Closes everything (see "Events"), joins the network thread; idempotent.
  void Stop();

  struct Stats {
    uint64_t connections_open = 0;   // OnConnected given, OnClosed not yet
    uint64_t bytes_in = 0;           // frame bytes and prefixes read from TLS (not TLS overhead)
    uint64_t bytes_out = 0;          // frame bytes and prefixes written to TLS
    uint64_t frames_in = 0;          // frames delivered to OnFrame
    uint64_t frames_out = 0;         // frames handed to TLS
    uint64_t handshakes_failed = 0;  // both directions, including timeouts and pin mismatches,
                                     // refused splice preambles and lone splice halves
    uint64_t frames_refused = 0;     // Send() calls that returned false
    uint64_t splices_open = 0;       // relay: pairs being copied between
    uint64_t splices_total = 0;      // relay: pairs made
    uint64_t bytes_spliced = 0;      // relay: bytes copied, both directions
  };
  Stats stats() const;

 private:
  class Impl;
  explicit Network(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace grove::net
