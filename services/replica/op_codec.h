// Record ops between their wire form (grove.wire.v1.OpBatch, inside a delta's sealed part) and the
// replica's internal form, with every structural rule checked on the way in. Internal to the
// replica module; stateless functions, thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "grove/v1/wire.pb.h"
#include "replica/records.h"
#include "replica/value.h"

namespace grove::replica {

enum class OpKind : uint8_t {
  kCreate = 1,
  kSet,
  kAdd,
  kAppend,
  kTransition,
  kArchive,
  kGrant,
  kUpgrade,  // name: the tool; value: its new canonical bytes; effects: migration sub-ops
};

// Largest |amount| of one add: keeps counter sums far from overflow.
constexpr int64_t kMaxAddAmount = int64_t{1} << 40;
// Record counters stay below this so a key fits in 48 bits.
constexpr uint64_t kMaxRecordN = uint64_t{1} << 48;

struct Op {
  OpKind kind = OpKind::kSet;
  uint64_t hlc = 0;
  RecordKey record;
  uint32_t name = 0;  // field (set/add/append), type (create) or transition name; interned
  Value value;
  int64_t amount = 0;
  std::vector<std::pair<uint32_t, Value>> fields;  // create
  uint32_t effects = 0;  // transition, upgrade: number of following sub-ops
  uint32_t to = 0;       // grant: device receiving the rights (local index)
};

// Workspace-side tables the codec resolves against.
struct OpContext {
  Names& names;
  Causality& devices;
  uint32_t author = 0;  // local index of the delta's author
  size_t max_value_bytes = 1 << 20;
};

// Encodes ops (all by `ctx.author`) into an OpBatch.
wire::v1::OpBatch EncodeOps(const std::vector<Op>& ops, const OpContext& ctx);

// Decodes and checks an OpBatch: every index in range, a create only in the author's own record
// namespace, names non-empty, values within limits, HLCs not after `delta_hlc`. The error names
// the op ("op 12: field index 9 out of range").
Result<std::vector<Op>> DecodeOps(const wire::v1::OpBatch& batch, uint64_t delta_hlc,
                                  size_t max_ops, const OpContext& ctx);

// Applies one op to the table with its stamp.
void ApplyOp(RecordTable& table, const Op& op, const Stamp& stamp);

}  // namespace grove::replica
