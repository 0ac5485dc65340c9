// grove::net — the peer's network reactor: TLS 1.3 connections between devices, authenticated by
// their Ed25519 device keys, carrying length-prefixed frames.
//
// Wire format: TCP, then TLS 1.3 only. Each side presents a self-signed X.509 certificate whose
// key is its device's Ed25519 signing key (subject CN = the device id text), and each side
// requires the other's: there is no CA; trust is by key. A certificate whose key is not Ed25519
// fails the handshake. The key the remote proved is reported in PeerInfo::sign_key; an outbound
// Dial may pin the key it expects, and a different one fails the handshake before this device's
// own certificate is sent. Inside TLS, a frame is a 4-byte big-endian length and that many bytes
// of payload. A length of 0 is allowed (an empty frame is delivered). A length above the
// receiver's Options::max_frame_bytes closes the connection with InvalidArgument("frame of N
// bytes exceeds the limit of M"); limits are the receiver's, so Send() does not check them.
//
// Ids: Dial ids and ConnectionIds come from one counter and are never reused by a Network. An
// outbound connection's ConnectionId is the id its Dial returned, so a caller can match
// OnConnected to the dial that made it.
//
// Events: every Dial (that returned an id other than 0) ends in exactly one OnConnected (with
// peer.id == the dial id) or one OnDialFailed. Every OnConnected is followed by exactly one
// OnClosed for that id, after its last OnFrame. Inbound connections that fail before their
// handshake completes (not TLS, a refused certificate, handshake_timeout_ms passed) are not
// reported to the Handler: they are counted in Stats::handshakes_failed and logged to stderr.
// Stop() reports OnClosed/OnDialFailed with Unavailable("network stopped") for everything still
// open or dialing, before it returns.
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
// Unavailable (name resolution, connect refused or timed out, handshake timed out), IOError
// (TLS handshake failed) or PermissionDenied ("pinned key mismatch", a non-Ed25519 key). Bytes
// from the network, however malformed, never crash the process.
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
  ConnectionId id = 0;
  bool outbound = false;
  Endpoint remote;               // the address observed on the socket (numeric)
  crypto::PublicKey sign_key{};  // the Ed25519 key the remote proved in the TLS handshake
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
  // closed.
  int handshake_timeout_ms = 10000;
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
    uint64_t handshakes_failed = 0;  // both directions, including timeouts and pin mismatches
    uint64_t frames_refused = 0;     // Send() calls that returned false
  };
  Stats stats() const;

 private:
  class Impl;
  explicit Network(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace grove::net
