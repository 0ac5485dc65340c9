#include "replica/hlc.h"

#include <algorithm>

namespace grove::replica {

uint64_t HybridClock::Now() {
  uint64_t wall = MakeHlc(clock_.NowMillis(), 0);
  last_ = std::max(last_ + 1, wall);
  return last_;
}

void HybridClock::Observe(uint64_t remote) {
  uint64_t ceiling = MakeHlc(clock_.NowMillis() + max_drift_ms_, 0);
  last_ = std::max(last_, std::min(remote, ceiling));
}

}  // namespace grove::replica
