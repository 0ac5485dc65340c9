// The limit the peer-sync benchmark compares network sync against: net::Network throughput
// between two processes on 127.0.0.1 (TLS 1.3, framed), measured in the same run.
#pragma once

#include <cstdint>
#include <string>

namespace grove::bench {

struct RawTlsResult {
  bool ok = false;
  std::string error;
  uint64_t bytes = 0;  // frame payloads plus their 4-byte prefixes, as net::Network::Stats counts
  double seconds = 0;
  double bytes_per_s = 0;
};

// Forks a child that runs a net::Network receiver on 127.0.0.1 (port 0); this process dials it
// and sends `total_bytes` in frames of `frame_bytes`, keeping at most 16 MiB queued; the clock
// runs from the first Send to the receiver's acknowledgement of the last byte. Bounded by
// `timeout_s` (both sides). Call with no other threads running (it forks).
RawTlsResult MeasureRawTls(uint64_t total_bytes, size_t frame_bytes, double timeout_s);

// The same transfer between the same two processes, forwarded by a relay: a third process runs a
// net::Network with Options::splice (the relay's forwarding path, decision 0008) expecting one
// token; the receiver and the sender both dial it with that token (the receiver as TLS server),
// so TLS runs end to end through the relay's splice.
RawTlsResult MeasureRelayedTls(uint64_t total_bytes, size_t frame_bytes, double timeout_s);

// The same transfer through raw TLS forwarding: a third process is a plain TCP forwarder (it
// accepts the sender, dials the receiver, and copies bytes with read and write), as a generic
// proxy would forward the TLS stream.
RawTlsResult MeasureForwardedTls(uint64_t total_bytes, size_t frame_bytes, double timeout_s);

}  // namespace grove::bench
