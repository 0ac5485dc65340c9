// Opening a workspace for `grove store rebuild`, recovering when its materialized records are
// damaged.
//
// The records table is a cache: the replica derives it from the feeds (the schema says "rebuilt
// from the deltas if lost"). But Workspace::Open decodes every stored record and fails with
// Corruption when one does not decode, so one damaged blob would leave a workspace unopenable
// although everything needed to recompute it is intact. When Open reports Corruption, this first
// checks, on an in-memory copy of the workspace without its records, that the feeds and pending
// actions load on their own; only then does it drop the stored records (one transaction) and open
// again, so that Rebuild() writes them anew. If the copy does not load either, the damage is in
// the feeds, which no rebuild can fix, and the store is left untouched.
#pragma once

#include <memory>
#include <optional>

#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "identity/identity.h"
#include "replica/replica.h"
#include "store/store.h"

namespace grove::cli {

struct OpenedForRebuild {
  std::unique_ptr<replica::Workspace> workspace;
  // The digests of the stored state, or nullopt when it did not load and its records were dropped.
  std::optional<replica::Digests> before;
  // Why the records were dropped (the error Open gave), OK when they were not.
  Status damage;
};

// Opens the workspace, dropping its stored records if they alone keep it from opening. The
// error of the first Open (Corruption, with the reason) when the feeds are damaged too; other
// errors (NotFound, IOError) as they come.
Result<OpenedForRebuild> OpenForRebuild(const identity::Identity& me, const Hash32& id,
                                        store::Store& store, Clock& clock, Random& random);

}  // namespace grove::cli
