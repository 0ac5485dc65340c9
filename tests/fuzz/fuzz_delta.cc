// libFuzzer target: the delta decoder and the whole apply path of a replica.
//
// Each input is turned into deltas for a member's replica that already holds a small valid
// workspace. Inputs starting with a byte < 0x80 mutate one of the valid deltas (pairs of
// (position varint, xor byte)), which reaches the deep checks (signatures, chains, membership,
// decryption, op decoding); other inputs are fed as raw delta bytes. Whatever the input, Apply must
// not crash, and a rejected delta must leave the state digest as it was.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "common/clock.h"
#include "common/random.h"
#include "identity/identity.h"
#include "replica/replica.h"
#include "store/store.h"

namespace {

using namespace grove;

struct World {
  FakeClock clock;
  SeededRandom rng{42};
  identity::Identity owner = std::move(identity::Identity::Create("owner", rng, clock)).value();
  identity::Identity member = std::move(identity::Identity::Create("member", rng, clock)).value();
  std::unique_ptr<store::Store> owner_store = store::NewMemoryStore();
  std::vector<Bytes> valid;  // genesis, membership, records: what the member gets first
  std::vector<Bytes> later;  // more valid deltas, targets for mutation

  World() {
    auto ws =
        std::move(replica::Workspace::Create(owner, "fuzz", {}, *owner_store, clock, rng)).value();
    (void)ws->AddMember(member.card(), replica::Role::kMember);
    auto rec = *ws->CreateRecord("item", {{"name", replica::Value("bolt")}});
    (void)ws->Seal();
    valid = std::move(ws->DeltasFor({}, SIZE_MAX)).value();
    auto base = ws->Version();
    (void)ws->Set(rec, "name", replica::Value("nut"));
    (void)ws->Add(rec, "stock", 3);
    (void)ws->Append(rec, "log", replica::Value("x"));
    (void)ws->Seal();
    (void)ws->Transition(rec, "done");
    (void)ws->Seal();
    later = std::move(ws->DeltasFor(base, SIZE_MAX)).value();
  }
};

World& TheWorld() {
  static World* world = new World();
  return *world;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = TheWorld();
  auto st = store::NewMemoryStore();
  SeededRandom rng(7);
  auto ws = replica::Workspace::Join(w.member, w.valid.front(), *st, w.clock, rng);
  if (!ws.ok()) std::abort();
  (*ws)->Apply(w.valid);
  const auto before = (*ws)->digests();

  std::vector<Bytes> input;
  if (size >= 2 && data[0] < 0x80) {
    size_t k = data[1] % w.later.size();
    for (size_t i = 0; i < k; ++i) input.push_back(w.later[i]);
    Bytes mutated = w.later[k];
    ByteView rest(data + 2, size - 2);
    size_t pos = 0;
    while (pos < rest.size()) {
      auto at = GetVarint(rest, pos);
      if (!at || pos >= rest.size()) break;
      if (!mutated.empty()) mutated[*at % mutated.size()] ^= rest[pos];
      ++pos;
    }
    input.push_back(std::move(mutated));
  } else {
    input.emplace_back(data, data + size);
  }
  auto report = (*ws)->Apply(input);
  if (!report.store.ok()) std::abort();
  if (input.size() == 1 && !report.rejected.empty() && (*ws)->digests().state != before.state) {
    std::abort();  // a rejected delta changed the state
  }
  return 0;
}
