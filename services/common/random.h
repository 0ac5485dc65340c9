// Random: the only source of randomness in core code (key generation, nonces, ids), injected so
// that the deterministic simulation replays a seed exactly. The OpenSSL-backed implementation is
// crypto::SystemRandom (services/crypto). SeededRandom is deterministic and NOT for keys in
// production. Neither is thread-safe; give each thread its own.
#pragma once

#include <cstdint>
#include <span>

namespace grove {

class Random {
 public:
  virtual ~Random() = default;
  virtual void Fill(std::span<uint8_t> out) = 0;

  uint64_t NextU64();
  // Uniform in [0, bound). REQUIRES: bound > 0.
  uint64_t Uniform(uint64_t bound);
};

// xoshiro256** seeded by splitmix64: fast, reproducible from one 64-bit seed.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed);
  void Fill(std::span<uint8_t> out) override;

 private:
  uint64_t Next();
  uint64_t s_[4];
};

}  // namespace grove
