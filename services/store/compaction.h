// When a peer compacts its store, and how much per call: a pure function of the store's space
// (Store::Space), so the policy is tested without a clock or a file. The caller decides how often
// to ask (the peer: every 10 s on its event loop).
//
// Compact only when free space is both a real share of the file and worth a call, and then give
// back a bounded amount, so one call never holds the event loop for long (it costs about as much
// as writing 8 MiB and syncing it once) and a store that frees and reuses pages all the time is
// not churned: SQLite reuses free pages for new rows anyway.
#pragma once

#include <cstdint>

#include "store/store.h"

namespace grove::store {

struct CompactionPolicy {
  uint64_t min_free_bytes = uint64_t{1} << 20;      // 1 MiB: less is not worth a call
  uint64_t min_free_percent = 25;                   // of the store's size on disk
  uint64_t max_bytes_per_call = uint64_t{8} << 20;  // 8 MiB: bounds the work of one call
};

// The max_bytes to pass to Store::Compact now, or 0 to leave the store as it is.
constexpr uint64_t CompactionBudget(const StoreSpace& space, const CompactionPolicy& policy = {}) {
  if (!space.compactable || space.free_bytes <= policy.min_free_bytes) return 0;
  // free / file > percent / 100, without overflow for any realistic size (file_bytes < 2^57).
  if (space.free_bytes * 100 <= space.file_bytes * policy.min_free_percent) return 0;
  return space.free_bytes < policy.max_bytes_per_call ? space.free_bytes
                                                      : policy.max_bytes_per_call;
}

}  // namespace grove::store
