// Opening a workspace for `grove store rebuild`, reporting whether its stored records were damaged.
//
// The records table is a cache of what the feeds imply. Workspace::Open rebuilds records that do
// not decode from the feeds, in one transaction, and says so in problems(); this reports that as
// a repair. Damage in the feeds themselves (a stored delta that does not decode) cannot be
// recovered by a rebuild: Open fails with Corruption and the store is left untouched.
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
  // The digests of the stored state, or nullopt when it was damaged and rebuilt while opening.
  std::optional<replica::Digests> before;
  // What was damaged and repaired, OK when nothing was.
  Status damage;
};

// Opens the workspace. Corruption (annotated) when the feeds are damaged; other errors (NotFound,
// IOError) as they come.
Result<OpenedForRebuild> OpenForRebuild(const identity::Identity& me, const Hash32& id,
                                        store::Store& store, Clock& clock, Random& random);

}  // namespace grove::cli
