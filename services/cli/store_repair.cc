#include "cli/store_repair.h"

#include <utility>

namespace grove::cli {
namespace {

// Whether the workspace opens from its feeds and pending actions alone: they are copied into a
// memory store, records left out. Per-workspace meta values are not copied either: they are
// replica internals (counters, the clock, fork marks), and without them Open only re-derives more
// (a missing fork mark makes it recompute verdicts and rebuild), which tests the feeds harder.
Status OpensWithoutRecords(const identity::Identity& me, const Hash32& id, store::Store& store,
                           Clock& clock, Random& random) {
  GROVE_ASSIGN_OR_RETURN(auto workspaces, store.ListWorkspaces());
  store::WriteBatch copy;
  for (const auto& [ws, info] : workspaces) {
    if (ws == id) copy.PutWorkspace(ws, info);
  }
  GROVE_RETURN_IF_ERROR(store.ForEachDelta(id, [&](const store::DeltaRow& row) {
    copy.PutDelta(row);
    return true;
  }));
  GROVE_ASSIGN_OR_RETURN(auto pending, store.LoadPending(id));
  for (const auto& [index, op] : pending) copy.PutPending(id, index, op);
  std::unique_ptr<store::Store> scratch = store::NewMemoryStore();
  GROVE_RETURN_IF_ERROR(scratch->Write(copy));
  return replica::Workspace::Open(me, id, *scratch, clock, random).status();
}

}  // namespace

Result<OpenedForRebuild> OpenForRebuild(const identity::Identity& me, const Hash32& id,
                                        store::Store& store, Clock& clock, Random& random) {
  OpenedForRebuild out;
  auto opened = replica::Workspace::Open(me, id, store, clock, random);
  if (opened.ok()) {
    out.workspace = std::move(opened).value();
    out.before = out.workspace->digests();
    return out;
  }
  if (opened.status().code() != Code::kCorruption) return opened.status();
  if (!OpensWithoutRecords(me, id, store, clock, random).ok()) {
    return opened.status().Annotate("the feeds are damaged, not only the records; cannot rebuild");
  }
  store::WriteBatch drop;
  drop.ClearRecords(id);
  GROVE_RETURN_IF_ERROR(store.Write(drop));
  GROVE_ASSIGN_OR_RETURN(out.workspace, replica::Workspace::Open(me, id, store, clock, random));
  out.damage = opened.status();
  return out;
}

}  // namespace grove::cli
