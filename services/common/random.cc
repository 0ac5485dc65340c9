#include "common/random.h"

#include <cstring>

namespace grove {

uint64_t Random::NextU64() {
  uint64_t v;
  uint8_t buf[8];
  Fill(buf);
  std::memcpy(&v, buf, 8);
  return v;
}

uint64_t Random::Uniform(uint64_t bound) {
  // Rejection sampling keeps the distribution exact.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t v;
  do {
    v = NextU64();
  } while (v >= limit);
  return v % bound;
}

SeededRandom::SeededRandom(uint64_t seed) {
  for (auto& s : s_) {
    seed += 0x9e3779b97f4a7c15ULL;
    uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    s = z ^ (z >> 31);
  }
}

uint64_t SeededRandom::Next() {
  auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

void SeededRandom::Fill(std::span<uint8_t> out) {
  size_t i = 0;
  while (i < out.size()) {
    uint64_t v = Next();
    size_t n = out.size() - i < 8 ? out.size() - i : 8;
    std::memcpy(out.data() + i, &v, n);
    i += n;
  }
}

}  // namespace grove
