// The relay forwards a member's encrypted stream by splicing two TCP connections (decision
// 0008): TLS runs end to end inside, so what it costs is one more TCP hop through a process that
// moves bytes with splice(2). The limit, measured in the same run, is raw TLS forwarding: the
// same TLS stream through a plain TCP forwarder (read and write in a third process), the way a
// generic proxy forwards it; a direct TLS connection (no third process) is printed beside it.
// Rounds rotate the three routes and each figure is a ratio of medians, so drift in the
// machine's load hits all alike.
#include "bench/relay_forward.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/raw_tls.h"

namespace grove::bench {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int RelayForwardMain(int argc, char** argv) {
  uint64_t mib = 512;
  int rounds = 3;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--mib" || a == "--rounds") && i + 1 < argc) {
      const long v = std::strtol(argv[++i], nullptr, 10);
      if (v <= 0) {
        std::fprintf(stderr, "relay-forward: %s needs a positive number\n", a.c_str());
        return 2;
      }
      if (a == "--mib") {
        mib = static_cast<uint64_t>(v);
      } else {
        rounds = static_cast<int>(v);
      }
      continue;
    }
    std::fprintf(
        stderr,
        "usage: grove-bench relay-forward [--mib N] [--rounds R]\n"
        "  N MiB per transfer (default 512), R rounds of direct and relayed (default 3)\n");
    return a == "--help" ? 0 : 2;
  }
  const uint64_t bytes = mib << 20;
  const size_t frame = 64 << 10;
  struct Route {
    const char* name;
    RawTlsResult (*measure)(uint64_t, size_t, double);
    std::vector<double> rates;
  };
  Route routes[] = {{"direct", MeasureRawTls, {}},
                    {"raw-forwarder", MeasureForwardedTls, {}},
                    {"relay", MeasureRelayedTls, {}}};
  for (int r = 0; r < rounds; ++r) {
    for (Route& route : routes) {
      RawTlsResult res = route.measure(bytes, frame, 120);
      if (!res.ok) {
        std::fprintf(stderr, "relay-forward: %s transfer failed: %s\n", route.name,
                     res.error.c_str());
        std::printf("{\"benchmark\":\"relay-forward\",\"ok\":false}\n");
        return 1;
      }
      route.rates.push_back(res.bytes_per_s);
      std::fprintf(stderr, "round %d %s: %.0f MB/s\n", r + 1, route.name, res.bytes_per_s / 1e6);
    }
  }
  const double direct = Median(routes[0].rates), forwarded = Median(routes[1].rates),
               relay = Median(routes[2].rates);
  std::printf(
      "{\"benchmark\":\"relay-forward\",\"ok\":true,\"mib\":%llu,\"rounds\":%d,"
      "\"direct_tls_mb_per_s\":%s,\"raw_forwarder_mb_per_s\":%s,\"relay_mb_per_s\":%s,"
      "\"relay_vs_raw_tls_forwarding\":%s,\"relay_vs_direct_tls\":%s,\"target\":0.7}\n",
      static_cast<unsigned long long>(mib), rounds, Num(direct / 1e6).c_str(),
      Num(forwarded / 1e6).c_str(), Num(relay / 1e6).c_str(), Num(relay / forwarded).c_str(),
      Num(relay / direct).c_str());
  return 0;
}

}  // namespace grove::bench
