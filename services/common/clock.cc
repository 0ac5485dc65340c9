#include "common/clock.h"

#include <chrono>

namespace grove {

uint64_t SystemClock::NowMillis() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace grove
