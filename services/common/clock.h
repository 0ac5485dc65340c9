// Clock: the only way core code learns the time, so tests and the simulation can fake it.
// SystemClock is thread-safe; FakeClock is for one thread (tests) unless externally locked.
#pragma once

#include <cstdint>

namespace grove {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual uint64_t NowMillis() = 0;
};

class SystemClock final : public Clock {
 public:
  uint64_t NowMillis() override;
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(uint64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  uint64_t NowMillis() override { return now_; }
  void Advance(uint64_t ms) { now_ += ms; }
  void Set(uint64_t ms) { now_ = ms; }

 private:
  uint64_t now_;
};

}  // namespace grove
