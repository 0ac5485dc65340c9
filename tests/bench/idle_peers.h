// Many idle devices connected to one relay from one process, for `grove-bench relay`'s memory
// figure: each connection is a distinct device (its own Ed25519 identity), speaks TLS 1.3 with a
// self-signed certificate of that device's key as services/net does, and sends the sync Hello
// (schemas/grove/v1/sync.proto) so the relay registers it, then stays idle.
//
// Plain OpenSSL over non-blocking sockets, one thread: a window of connections handshakes at a
// time, so the relay's accept queue and handshake deadline (10 s) are never overrun.
//
// Thread-safety: none; one thread drives everything.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "crypto/crypto.h"

namespace grove::bench {

class IdlePeers {
 public:
  IdlePeers();
  ~IdlePeers();  // closes every connection
  IdlePeers(const IdlePeers&) = delete;
  IdlePeers& operator=(const IdlePeers&) = delete;

  // Opens `count` connections to 127.0.0.1:`port`, pinned to `relay_key`, each a fresh device
  // that completes the handshake and sends its Hello. At most `window` are in progress at once.
  // `progress` is called now and then with the number done. Fails (Unavailable, naming how
  // many are done) when `timeout` passes; a connection that fails is counted in failed() and
  // replaced by another, up to `count` failures (then Unavailable with the last reason).
  Status Open(uint16_t port, const crypto::PublicKey& relay_key, size_t count, size_t window,
              std::chrono::milliseconds timeout, const std::function<void(size_t)>& progress);

  // Keeps every open connection for `duration`, reading and discarding what the relay sends.
  // Returns how many connections the relay closed meanwhile (they are dropped here).
  size_t Idle(std::chrono::milliseconds duration);

  size_t open() const;  // connections that sent their Hello and are still up
  size_t failed() const { return failed_; }
  std::string last_failure() const { return last_failure_; }
  // Seconds spent making devices (keys, card, certificate), of Open's whole time.
  double identity_seconds() const { return identity_s_; }

  void CloseAll();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  size_t failed_ = 0;
  std::string last_failure_;
  double identity_s_ = 0;
};

}  // namespace grove::bench
