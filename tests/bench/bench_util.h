// Small helpers shared by benchmark programs: timing, memory, temp dirs, running the Yjs
// reference, reading numbers out of a JSON line.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace grove::bench {

using TimePoint = std::chrono::steady_clock::time_point;
inline TimePoint Now() { return std::chrono::steady_clock::now(); }
inline double Seconds(TimePoint since) {
  return std::chrono::duration<double>(Now() - since).count();
}

double PeakRssMb();
std::string MakeTempDir(const std::string& prefix);
std::string Num(double v);
// Value of "key": number in a flat JSON object; nullopt if absent.
std::optional<double> JsonNumber(const std::string& json, const std::string& key);
// Runs tests/bench/yjs/inventory-week.mjs (installing its npm packages if needed) and returns its
// JSON line, or "" when Node or the packages are unavailable (reported on stderr).
std::string RunYjs(uint64_t items, uint64_t peers, uint64_t sets, uint64_t adds, uint64_t seed);

}  // namespace grove::bench
