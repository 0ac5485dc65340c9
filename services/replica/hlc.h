// Hybrid logical clock (Kulkarni et al.): a 64-bit timestamp (millis << 16 | logical) that never
// goes backwards, stays close to wall time, and is greater than every timestamp its owner has seen.
// Not thread-safe: one per replica, used on the replica's thread.
#pragma once

#include <cstdint>

#include "common/clock.h"

namespace grove::replica {

constexpr uint64_t HlcMillis(uint64_t hlc) { return hlc >> 16; }
constexpr uint64_t MakeHlc(uint64_t millis, uint64_t logical) { return millis << 16 | logical; }

class HybridClock {
 public:
  // max_drift_ms bounds how far a remote timestamp may drag this clock ahead of wall time, so a
  // peer with a broken or malicious clock cannot push everyone's timestamps into the future.
  explicit HybridClock(Clock& clock, uint64_t max_drift_ms = 5 * 60 * 1000)
      : clock_(clock), max_drift_ms_(max_drift_ms) {}

  // A timestamp for a local event, greater than every earlier one.
  uint64_t Now();
  // Takes note of a timestamp received from elsewhere (clamped to wall time + max drift).
  void Observe(uint64_t remote);
  uint64_t last() const { return last_; }
  void Restore(uint64_t last) {
    if (last > last_) last_ = last;
  }

 private:
  Clock& clock_;
  uint64_t max_drift_ms_;
  uint64_t last_ = 0;
};

}  // namespace grove::replica
