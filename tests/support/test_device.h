// A device for tests: identity from a seeded Random, an in-memory (or SQLite) store, and helpers
// to create or join workspaces and sync two replicas directly.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/random.h"
#include "identity/identity.h"
#include "replica/replica.h"
#include "store/store.h"

namespace grove::testing {

struct TestDevice {
  TestDevice(std::string name, uint64_t seed, Clock& shared_clock)
      : rng(seed),
        clock(shared_clock),
        identity(std::move(identity::Identity::Create(std::move(name), rng, clock)).value()),
        store(store::NewMemoryStore()) {}

  Random& random() { return rng; }

  replica::Workspace& Create(const std::string& name, std::vector<tools::Tool> tools = {}) {
    auto ws = replica::Workspace::Create(identity, name, std::move(tools), *store, clock, rng);
    EXPECT_TRUE(ws.ok()) << ws.status().ToString();
    workspace = std::move(ws).value();
    return *workspace;
  }

  replica::Workspace& Join(const replica::Workspace& from) {
    auto genesis = from.Genesis();
    EXPECT_TRUE(genesis.ok());
    auto ws = replica::Workspace::Join(identity, *genesis, *store, clock, rng);
    EXPECT_TRUE(ws.ok()) << ws.status().ToString();
    workspace = std::move(ws).value();
    return *workspace;
  }

  void Reopen() {
    replica::WorkspaceId id = workspace->id();
    workspace.reset();
    auto ws = replica::Workspace::Open(identity, id, *store, clock, rng);
    ASSERT_TRUE(ws.ok()) << ws.status().ToString();
    workspace = std::move(ws).value();
  }

  replica::Workspace* operator->() { return workspace.get(); }

  SeededRandom rng;
  Clock& clock;
  identity::Identity identity;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<replica::Workspace> workspace;
};

// Sends `from` everything `to` lacks; returns the apply report.
inline replica::ApplyReport SendMissing(replica::Workspace& from, replica::Workspace& to) {
  auto deltas = from.DeltasFor(to.Version(), SIZE_MAX);
  EXPECT_TRUE(deltas.ok()) << deltas.status().ToString();
  return to.Apply(*deltas);
}

inline void SyncPair(replica::Workspace& a, replica::Workspace& b) {
  SendMissing(a, b);
  SendMissing(b, a);
}

}  // namespace grove::testing
