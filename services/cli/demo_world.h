// The devices of `grove demo`: real identities, data folders and SQLite stores, all in this one
// process, and sync done by handing deltas from one replica to another directly, which is what
// grove-peer will do over the network (DeltasFor on one side, Apply on the other).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "identity/identity.h"
#include "replica/replica.h"
#include "store/store.h"

namespace grove::cli {

// Heap-allocated and never moved once its workspace exists: the Workspace keeps references to
// the identity and the store. Members are destroyed bottom-up, so the workspace goes first.
struct DemoDevice {
  std::string name;
  std::string dir;  // the data folder, layout as in data_folder.h
  identity::Identity identity;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<replica::Workspace> ws;
};

// A new device in `parent`/`name`: device.key and api-token (as `grove init` writes them) and an
// empty store.db. AlreadyExists if that folder exists: the demo never reuses a device's data.
Result<std::unique_ptr<DemoDevice>> MakeDemoDevice(const std::string& parent, std::string name,
                                                   Random& random, Clock& clock);

struct SyncStats {
  size_t deltas = 0;                  // sent, duplicates included
  uint64_t bytes = 0;                 // sent
  size_t accepted = 0;                // new to their receiver
  std::vector<std::string> problems;  // deltas rejected or found invalid, stores that failed

  SyncStats& operator+=(const SyncStats& other);
};

// Sends `to` everything `from` holds that `to` lacks, in batches of DeltasFor's default size, as a
// peer would. A Status only when `from` cannot produce deltas; what `to` refuses is counted in
// stats.problems.
Status SendMissing(DemoDevice& from, DemoDevice& to, SyncStats& stats);

// One round: every pair, both ways.
Status SyncRound(std::span<DemoDevice* const> devices, SyncStats& stats);

}  // namespace grove::cli
