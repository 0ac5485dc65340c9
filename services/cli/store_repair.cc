#include "cli/store_repair.h"

#include <utility>

namespace grove::cli {

Result<OpenedForRebuild> OpenForRebuild(const identity::Identity& me, const Hash32& id,
                                        store::Store& store, Clock& clock, Random& random) {
  auto opened = replica::Workspace::Open(me, id, store, clock, random);
  if (!opened.ok()) {
    if (opened.status().code() != Code::kCorruption) return opened.status();
    return opened.status().Annotate(
        "the stored deltas or pending actions are damaged, which no rebuild can recover");
  }
  OpenedForRebuild out;
  out.workspace = std::move(opened).value();
  for (const Status& problem : out.workspace->problems()) {
    if (problem.code() == Code::kCorruption) {
      out.damage = problem;  // Open found damaged records and rebuilt them from the feeds
      return out;
    }
  }
  out.before = out.workspace->digests();
  return out;
}

}  // namespace grove::cli
