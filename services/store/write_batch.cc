#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <variant>

#include "store/internal.h"
#include "store/store.h"

namespace grove::store {

namespace {

struct PutWorkspaceOp {
  WorkspaceId ws;
  Bytes info;
};
struct DeleteWorkspaceOp {
  WorkspaceId ws;
};
struct PutDeltaOp {
  DeltaRow row;
};
struct SetDeltaStatusOp {
  WorkspaceId ws;
  Hash32 author;
  uint64_t seq;
  int32_t status;
};
struct PutRecordOp {
  WorkspaceId ws;
  Bytes key;
  Bytes state;
};
struct DeleteRecordOp {
  WorkspaceId ws;
  Bytes key;
};
struct ClearRecordsOp {
  WorkspaceId ws;
};
struct PutPendingOp {
  WorkspaceId ws;
  uint64_t index;
  Bytes op;
};
struct ClearPendingOp {
  WorkspaceId ws;
  uint64_t up_to_index;
};
struct PutEvidenceOp {
  EvidenceRow row;
};
struct PutMetaOp {
  WorkspaceId ws;
  std::string key;
  Bytes value;
};
struct PutChunkOp {
  WorkspaceId ws;
  Hash32 id;
  Bytes data;
};
struct DeleteChunkOp {
  WorkspaceId ws;
  Hash32 id;
};
struct PutCheckpointOp {
  WorkspaceId ws;
  Hash32 id;
  Bytes bytes;
};
struct DeleteCheckpointOp {
  WorkspaceId ws;
  Hash32 id;
};
struct DeleteDeltasUpToOp {
  WorkspaceId ws;
  Hash32 author;
  uint64_t up_to_seq;
};

constexpr uint64_t kMaxStorable = std::numeric_limits<int64_t>::max();

Bytes Copy(ByteView v) { return Bytes(v.begin(), v.end()); }

}  // namespace

struct WriteBatch::Mutation {
  std::variant<PutWorkspaceOp, DeleteWorkspaceOp, PutDeltaOp, SetDeltaStatusOp, PutRecordOp,
               DeleteRecordOp, ClearRecordsOp, PutPendingOp, ClearPendingOp, PutEvidenceOp,
               PutMetaOp, PutChunkOp, DeleteChunkOp, PutCheckpointOp, DeleteCheckpointOp,
               DeleteDeltasUpToOp>
      op;
};

WriteBatch::WriteBatch() = default;
WriteBatch::~WriteBatch() = default;
WriteBatch::WriteBatch(const WriteBatch&) = default;
WriteBatch& WriteBatch::operator=(const WriteBatch&) = default;
WriteBatch::WriteBatch(WriteBatch&&) noexcept = default;
WriteBatch& WriteBatch::operator=(WriteBatch&&) noexcept = default;

namespace {

// Reported at Write rather than here so that building a batch stays infallible, like LevelDB.
Status CheckStorable(const char* what, uint64_t value, size_t mutation) {
  if (value <= kMaxStorable) return Status::Ok();
  return InvalidArgument(
      std::string(what) + " " + std::to_string(value) + " is above the storable maximum 2^63-1",
      "mutation " + std::to_string(mutation));
}

}  // namespace

void WriteBatch::PutWorkspace(const WorkspaceId& ws, ByteView info) {
  mutations_.push_back({PutWorkspaceOp{ws, Copy(info)}});
}

void WriteBatch::DeleteWorkspace(const WorkspaceId& ws) {
  mutations_.push_back({DeleteWorkspaceOp{ws}});
}

void WriteBatch::PutDelta(const DeltaRow& row) {
  if (invalid_.ok()) invalid_ = CheckStorable("seq", row.seq, mutations_.size());
  mutations_.push_back({PutDeltaOp{row}});
}

void WriteBatch::SetDeltaStatus(const WorkspaceId& ws, const Hash32& author, uint64_t seq,
                                int32_t status) {
  if (invalid_.ok()) invalid_ = CheckStorable("seq", seq, mutations_.size());
  mutations_.push_back({SetDeltaStatusOp{ws, author, seq, status}});
}

void WriteBatch::PutRecord(const WorkspaceId& ws, ByteView key, ByteView state) {
  mutations_.push_back({PutRecordOp{ws, Copy(key), Copy(state)}});
}

void WriteBatch::PutRecord(const WorkspaceId& ws, Bytes&& key, Bytes&& state) {
  mutations_.push_back({PutRecordOp{ws, std::move(key), std::move(state)}});
}

void WriteBatch::DeleteRecord(const WorkspaceId& ws, ByteView key) {
  mutations_.push_back({DeleteRecordOp{ws, Copy(key)}});
}

void WriteBatch::ClearRecords(const WorkspaceId& ws) { mutations_.push_back({ClearRecordsOp{ws}}); }

void WriteBatch::PutPending(const WorkspaceId& ws, uint64_t index, ByteView op) {
  if (invalid_.ok()) invalid_ = CheckStorable("pending index", index, mutations_.size());
  mutations_.push_back({PutPendingOp{ws, index, Copy(op)}});
}

void WriteBatch::ClearPending(const WorkspaceId& ws, uint64_t up_to_index) {
  // No stored index exceeds the maximum, so clamping keeps "clear everything" callable as
  // UINT64_MAX without the stores having to handle unsigned bounds.
  mutations_.push_back({ClearPendingOp{ws, std::min(up_to_index, kMaxStorable)}});
}

void WriteBatch::PutEvidence(const EvidenceRow& row) {
  if (invalid_.ok()) invalid_ = CheckStorable("evidence seq", row.seq, mutations_.size());
  if (invalid_.ok()) invalid_ = CheckStorable("received_ms", row.received_ms, mutations_.size());
  mutations_.push_back({PutEvidenceOp{row}});
}

void WriteBatch::PutMeta(const WorkspaceId& ws, std::string_view key, ByteView value) {
  mutations_.push_back({PutMetaOp{ws, std::string(key), Copy(value)}});
}

void WriteBatch::PutChunk(const WorkspaceId& ws, const Hash32& id, ByteView data) {
  mutations_.push_back({PutChunkOp{ws, id, Copy(data)}});
}

void WriteBatch::DeleteChunk(const WorkspaceId& ws, const Hash32& id) {
  mutations_.push_back({DeleteChunkOp{ws, id}});
}

void WriteBatch::PutCheckpoint(const WorkspaceId& ws, const Hash32& id, ByteView bytes) {
  mutations_.push_back({PutCheckpointOp{ws, id, Copy(bytes)}});
}

void WriteBatch::DeleteCheckpoint(const WorkspaceId& ws, const Hash32& id) {
  mutations_.push_back({DeleteCheckpointOp{ws, id}});
}

void WriteBatch::DeleteDeltasUpTo(const WorkspaceId& ws, const Hash32& author, uint64_t up_to_seq) {
  if (invalid_.ok()) invalid_ = CheckStorable("seq", up_to_seq, mutations_.size());
  mutations_.push_back({DeleteDeltasUpToOp{ws, author, up_to_seq}});
}

void WriteBatch::Clear() {
  mutations_.clear();
  invalid_ = Status::Ok();
}

size_t WriteBatch::size() const { return mutations_.size(); }

bool WriteBatch::empty() const { return mutations_.empty(); }

namespace {

// Dispatches one mutation and names it for the error message.
class Dispatcher {
 public:
  explicit Dispatcher(WriteBatch::Handler& h) : h_(h) {}

  Status operator()(const PutWorkspaceOp& m) {
    return Named("PutWorkspace", m.ws, h_.PutWorkspace(m.ws, m.info));
  }
  Status operator()(const DeleteWorkspaceOp& m) {
    return Named("DeleteWorkspace", m.ws, h_.DeleteWorkspace(m.ws));
  }
  Status operator()(const PutDeltaOp& m) {
    return Named("PutDelta", m.row.workspace, h_.PutDelta(m.row));
  }
  Status operator()(const SetDeltaStatusOp& m) {
    return Named("SetDeltaStatus", m.ws, h_.SetDeltaStatus(m.ws, m.author, m.seq, m.status));
  }
  Status operator()(const PutRecordOp& m) {
    return Named("PutRecord", m.ws, h_.PutRecord(m.ws, m.key, m.state));
  }
  Status operator()(const DeleteRecordOp& m) {
    return Named("DeleteRecord", m.ws, h_.DeleteRecord(m.ws, m.key));
  }
  Status operator()(const ClearRecordsOp& m) {
    return Named("ClearRecords", m.ws, h_.ClearRecords(m.ws));
  }
  Status operator()(const PutPendingOp& m) {
    return Named("PutPending", m.ws, h_.PutPending(m.ws, m.index, m.op));
  }
  Status operator()(const ClearPendingOp& m) {
    return Named("ClearPending", m.ws, h_.ClearPending(m.ws, m.up_to_index));
  }
  Status operator()(const PutEvidenceOp& m) {
    return Named("PutEvidence", m.row.workspace, h_.PutEvidence(m.row));
  }
  Status operator()(const PutMetaOp& m) {
    return Named("PutMeta", m.ws, h_.PutMeta(m.ws, m.key, m.value));
  }
  Status operator()(const PutChunkOp& m) {
    return Named("PutChunk", m.ws, h_.PutChunk(m.ws, m.id, m.data));
  }
  Status operator()(const DeleteChunkOp& m) {
    return Named("DeleteChunk", m.ws, h_.DeleteChunk(m.ws, m.id));
  }
  Status operator()(const PutCheckpointOp& m) {
    return Named("PutCheckpoint", m.ws, h_.PutCheckpoint(m.ws, m.id, m.bytes));
  }
  Status operator()(const DeleteCheckpointOp& m) {
    return Named("DeleteCheckpoint", m.ws, h_.DeleteCheckpoint(m.ws, m.id));
  }
  Status operator()(const DeleteDeltasUpToOp& m) {
    return Named("DeleteDeltasUpTo", m.ws, h_.DeleteDeltasUpTo(m.ws, m.author, m.up_to_seq));
  }

 private:
  static Status Named(const char* what, const WorkspaceId& ws, Status s) {
    if (s.ok()) return s;
    return s.Annotate(std::string(what) + " in workspace " + internal::ShortId(ws));
  }

  WriteBatch::Handler& h_;
};

}  // namespace

Status WriteBatch::Iterate(Handler& handler) const {
  GROVE_RETURN_IF_ERROR(invalid_);
  Dispatcher dispatch(handler);
  for (size_t i = 0; i < mutations_.size(); ++i) {
    Status s = std::visit(dispatch, mutations_[i].op);
    if (!s.ok()) return s.Annotate("mutation " + std::to_string(i));
  }
  return Status::Ok();
}

}  // namespace grove::store
