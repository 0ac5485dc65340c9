#include "bench/bench_util.h"

#include <sys/resource.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#ifndef GROVE_SOURCE_DIR
#error "GROVE_SOURCE_DIR must be defined"
#endif

namespace grove::bench {

double PeakRssMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

std::string MakeTempDir(const std::string& prefix) {
  std::string templ = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  char* made = mkdtemp(templ.data());
  return made ? std::string(made) : std::string("/tmp");
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::optional<double> JsonNumber(const std::string& json, const std::string& key) {
  std::string needle = "\"" + key + "\":";
  size_t at = json.find(needle);
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(json.c_str() + at + needle.size(), nullptr);
}

std::string RunYjs(uint64_t items, uint64_t peers, uint64_t sets, uint64_t adds, uint64_t seed) {
  const std::string dir = std::string(GROVE_SOURCE_DIR) + "/tests/bench/yjs";
  if (!std::filesystem::exists(dir + "/node_modules/yjs")) {
    std::fprintf(stderr, "grove-bench: installing Yjs for the reference run (npm ci)\n");
    std::string install = "npm ci --silent --prefix '" + dir + "' >&2";
    if (std::system(install.c_str()) != 0) {
      std::fprintf(stderr, "grove-bench: npm ci failed; skipping the Yjs reference\n");
      return "";
    }
  }
  std::string cmd = "node '" + dir + "/inventory-week.mjs' --items " + std::to_string(items) +
                    " --peers " + std::to_string(peers) + " --sets " + std::to_string(sets) +
                    " --adds " + std::to_string(adds) + " --seed " + std::to_string(seed);
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return "";
  std::string out;
  std::array<char, 4096> buf;
  while (fgets(buf.data(), buf.size(), pipe)) out += buf.data();
  if (pclose(pipe) != 0) {
    std::fprintf(stderr, "grove-bench: the Yjs reference run failed\n");
    return "";
  }
  return out;
}

}  // namespace grove::bench
