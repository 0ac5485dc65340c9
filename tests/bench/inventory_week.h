// The foundation benchmark's workload (issue 3), callable from other benchmarks so that they can
// state their figures as a ratio to its merge rate measured in the same run.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace grove::bench {

struct WeekOptions {
  uint64_t items = 10000, peers = 3, sets = 20000, adds = 20000, seed = 1;
  uint64_t single_ops = 2000;
  bool yjs = true;
};

struct WeekFigures {
  uint64_t changes = 0;  // merged in all: peers * (peers - 1) * (sets + adds)
  double merge_s = 0;    // encoding what each peer lacks plus applying it, SQLite stores
  double encode_s = 0;
  uint64_t wire_bytes = 0;
  int64_t stock_total = 0;
  bool converged = false;
  double peak_rss_mb = 0;
  uint64_t state_bytes = 0;  // peer A's store
  double changes_per_s() const { return static_cast<double>(changes) / merge_s; }
};

// Runs the workload (items on peer A synced to all; offline sets and increments on every peer,
// one durable action each; then the timed all-to-all merge) with SQLite stores under `dir`.
// Yjs and the single-op figures are not part of it.
Result<WeekFigures> RunInventoryWeek(const WeekOptions& options, const std::string& dir);

}  // namespace grove::bench
