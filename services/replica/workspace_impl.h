// Workspace::Impl — internal state of one replica. See replica.h for the contract and
// docs/decisions/0001-validity-and-membership.md for which deltas count.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <zstd.h>

#include "crypto/crypto.h"
#include "grove/v1/wire.pb.h"
#include "replica/hlc.h"
#include "replica/membership.h"
#include "replica/op_codec.h"
#include "replica/records.h"
#include "replica/replica.h"
#include "replica/rules.h"

namespace grove::replica {

// Stored status of a delta (store::DeltaRow::status).
enum class DeltaStatus : int32_t {
  kApplied = 1,      // valid, its ops are in the materialized state
  kInvalid = 2,      // stored as evidence, not applied
  kAwaitingKey = 3,  // valid so far, but this device does not hold its content key
};

struct DeltaMeta {
  Hash32 hash{};
  uint64_t hlc = 0;
  std::vector<uint64_t> vv;  // full causal context by device index; vv[author] = seq - 1
  DeltaStatus status = DeltaStatus::kInvalid;
  bool has_sealed = false;
  std::optional<KeyId> key;
  std::string malformed;  // why its ops break a structural rule, "" if they do not
  std::string refused;    // why its record ops break a tool's rule, "" if they do not
  bool judged = false;    // checked against the tools' rules, with this role:
  Role judged_role = Role::kNone;
  std::vector<std::unique_ptr<PlainOp>> plain;
  uint64_t received_ms = 0;  // Unix ms when this process took it in; 0 if loaded from the store
};

// One author's feed. A replica that started from a checkpoint (or pruned) holds only the deltas
// after `base`; the checkpoint gave what the next delta needs of delta `base`: its hash (the
// link), its timestamp and its causal context.
struct Feed {
  uint64_t base = 0;
  Hash32 base_hash{};
  uint64_t base_hlc = 0;
  std::vector<uint64_t> base_vv;
  std::vector<DeltaMeta> deltas;  // deltas[i] has seq base + i + 1
  uint64_t forked_at = 0;         // first seq of a fork, 0 if none
  uint64_t head() const { return base + deltas.size(); }
  bool Holds(uint64_t seq) const { return seq > base && seq <= head(); }
  DeltaMeta& at(uint64_t seq) { return deltas[seq - base - 1]; }
  const DeltaMeta& at(uint64_t seq) const { return deltas[seq - base - 1]; }
  const Hash32& head_hash() const { return deltas.empty() ? base_hash : deltas.back().hash; }
  uint64_t head_hlc() const { return deltas.empty() ? base_hlc : deltas.back().hlc; }
  const std::vector<uint64_t>& head_vv() const {
    return deltas.empty() ? base_vv : deltas.back().vv;
  }
};

// A received delta that passed the checks needing nothing else, waiting for its turn.
struct Incoming {
  Bytes raw;
  wire::v1::DeltaBody body;
  Hash32 hash{};
  Bytes signature;
  std::string body_bytes;  // exactly what the signature covers
  uint32_t author = 0;
  uint64_t seq = 0;
  bool authenticated = false;
};

struct PendingAction {
  uint64_t index = 0;  // in the store's pending table
  Op op;
};

class Workspace::Impl final : public Causality, public RuleHost {
 public:
  Impl(const identity::Identity& me, store::Store& store, Clock& clock, Random& random,
       Limits limits);

  // Causality
  bool Precedes(const Stamp& a, const Stamp& b) const override;
  const DeviceId& Device(uint32_t dev) const override { return devices_[dev]; }
  uint32_t DeviceIndex(const DeviceId& device) override;
  std::optional<uint32_t> FindDevice(const DeviceId& device) const;

  // RuleHost
  Names& names() override { return names_; }
  const RecordTable& table() const override { return table_; }
  const DeviceId& DeviceAt(uint32_t dev) const override { return devices_[dev]; }
  std::optional<uint32_t> DeviceIndexOf(const DeviceId& device) const override {
    return FindDevice(device);
  }
  std::optional<RecordKey> KeyOfId(const RecordId& id) const override { return KeyOf(id); }
  RecordId IdOfKey(RecordKey key) const override { return IdOf(key); }
  bool WasMember(const DeviceId& device, const Past& past) const override;
  uint32_t InternDevice(const DeviceId& device) override { return DeviceIndex(device); }
  // Every membership grant as (member, by.hlc, by.dev, by.seq, by.idx, role), sorted.
  using GrantKey = std::tuple<uint32_t, uint64_t, uint32_t, uint64_t, uint32_t, int>;
  std::vector<GrantKey> GrantKeys() const;

  Status InitGenesis(std::string name, const std::vector<tools::Tool>& tools);
  Status InitTools(const wire::v1::Genesis& genesis);
  Status InitJoin(ByteView genesis);
  Status Load(const WorkspaceId& id);

  // Checks what every action on an existing record needs (writable, a valid name when `what`
  // names one, the record exists) and starts its op with a fresh HLC.
  Result<Op> ActionOn(const RecordId& record, OpKind kind, std::string_view name, const char* what);
  Status CommitLocal(Op op) { return CommitLocal(std::vector<Op>{std::move(op)}); }
  // Checks a local action's ops against the tools (when the workspace has any), then makes them
  // durable as one pending row and applies them.
  Status CommitLocal(std::vector<Op> ops);
  Bytes LocalCounters(uint64_t next_pending) const;
  Status SealWith(std::vector<wire::v1::PlainOp> plain, bool force);
  Status CheckWritable() const;
  ApplyReport Apply(std::span<const Bytes> deltas);
  Result<std::vector<Bytes>> DeltasFor(const VersionVector& theirs, size_t max_bytes);
  Status RebuildAll(store::WriteBatch& wb);
  RecordView View(RecordKey key, const Record& r) const;
  std::optional<RecordKey> KeyOf(const RecordId& id) const;
  RecordId IdOf(RecordKey key) const { return RecordId{devices_[key.dev], key.n}; }
  Digests ComputeDigests() const;
  VersionVector Version() const;
  std::optional<KeyId> ChooseKey() const;
  Status Fail(Status s);

  const identity::Identity& me_;
  store::Store& store_;
  Clock& clock_;
  Random& random_;
  Limits limits_;
  HybridClock hlc_;

  WorkspaceId id_{};
  std::string name_;
  std::vector<std::string> tools_;
  std::vector<tools::Tool> tool_definitions_;
  std::unique_ptr<Rules> rules_;
  uint64_t max_judged_hlc_ = 0;  // newest delta judged by the rules since the last rebuild
  uint32_t me_dev_ = 0;
  Status broken_;  // set when the store failed; the replica must be reopened

  std::deque<DeviceId> devices_;  // deque: references stay valid as devices are interned
  std::map<DeviceId, uint32_t> device_index_;
  std::deque<Feed> feeds_;  // by device index
  std::vector<uint64_t> current_vv_;

  Names names_;
  RecordTable table_{*this, names_};
  Membership membership_;
  std::map<KeyId, crypto::SymmetricKey> keys_;  // content keys this device can open

  std::map<std::pair<uint32_t, uint64_t>, Incoming> incoming_;
  std::map<std::pair<uint32_t, uint64_t>, Bytes>
      unsaved_;  // delivered in this batch, not yet in store
  std::vector<PendingAction> pending_;
  uint64_t next_pending_index_ = 1;
  size_t pending_bytes_ = 0;  // encoded size of pending_, to keep sealed deltas small
  uint64_t next_record_n_ = 1;
  bool rebuild_needed_ = false;
  // Set when membership or keys changed, so verdicts of stored deltas may have changed too.
  bool statuses_dirty_ = false;
  // Compression contexts, reused: creating one per delta costs more than the work itself.
  struct ZstdContexts {
    ZstdContexts();
    ~ZstdContexts();
    ZSTD_CCtx* compress;
    ZSTD_DCtx* decompress;
  } zstd_;
  std::vector<Status> problems_;

  // Apply pipeline (everything here is internal to the replica module)
  void Ingest(const Bytes& raw, ApplyReport& report, store::WriteBatch& wb);
  void Authenticate(uint32_t dev, ApplyReport& report);
  bool DepsMet(const Incoming& in) const;
  Status Deliver(Incoming& in, store::WriteBatch& wb, ApplyReport& report, bool local);
  void RecordFork(uint32_t dev, uint64_t seq, const Bytes& raw, const Hash32& hash,
                  store::WriteBatch& wb, ApplyReport& report);
  void Reject(Status s, ApplyReport& report);
  // Statuses
  void RecomputeStatuses(store::WriteBatch& wb);
  void EvaluateStatuses();
  DeltaStatus StatusOf(uint32_t dev, uint64_t seq) const;
  void ApplyReadyDeltas(store::WriteBatch& wb);
  Result<Bytes> RawDelta(uint32_t dev, uint64_t seq);
  Result<std::vector<Op>> OpenOps(uint32_t dev, uint64_t seq, const wire::v1::DeltaBody& body);
  // Applies a valid delta's record ops; a refusal by a tool's rule is recorded in its
  // DeltaMeta::refused and leaves the state as it was.
  void ApplyDeltaOps(uint32_t dev, uint64_t seq, const std::vector<Op>& ops);
  // Every (device, seq) held, in an order compatible with causality (by HLC).
  std::vector<std::pair<uint32_t, uint64_t>> CausalOrder() const;
  void PersistDirty(store::WriteBatch& wb, std::vector<RecordId>* changed = nullptr);
  bool HasMembershipInPast(uint32_t dev, const std::vector<uint64_t>& vv) const;
  void OpenBoxes(const PlainOp& op);
  std::vector<PlainEntry> PlainEntries() const;
  const std::vector<uint64_t>* VvOf(uint32_t dev, uint64_t seq) const;
  // Sealing
  Result<Bytes> BuildDelta(std::vector<wire::v1::PlainOp> plain, const std::vector<Op>& ops,
                           bool genesis);
  wire::v1::PlainOp RotationFor(const std::vector<uint32_t>& recipients);
  std::string Where(uint32_t dev, uint64_t seq) const;
  std::set<std::pair<uint32_t, uint64_t>> excluded_;
  // Every op that made a device a member (genesis, set_member), for the "member in the causal
  // past" check without scanning feeds.
  struct Admission {
    uint32_t dev;
    uint64_t seq;
    uint32_t target;
  };
  std::vector<Admission> admissions_;
  void NoteAdmissions(uint32_t dev, uint64_t seq, const DeltaMeta& meta);
  void NoteAdmission(uint32_t dev, uint64_t seq, const PlainOp& op);

  // --- History (checkpoint.cc; docs/decisions/0011-checkpoints-settle-history.md)
  // The checkpoint this replica's state is built on: its state at V, then the deltas outside V.
  // Deltas in V that this replica holds keep the status they had; their ops are not applied
  // again (the checkpoint holds their effect), and later ops are judged in past(d) ∪ V.
  struct Base {
    Hash32 id{};
    Bytes bytes;
    std::vector<uint64_t> vv;  // V, by device index
    Bytes genesis;
    std::vector<std::unique_ptr<PlainOp>> ops;  // the plain ops that counted in V
    std::vector<PlainEntry> plain;              // the same, pinned, with their stamps
    std::vector<wire::v1::CheckpointPlain> wire_plain;
    bool trusted = false;
  };
  std::optional<Base> base_;
  std::optional<Hash32> awaiting_base_;  // trusted, but this replica lacks its bytes
  const std::vector<uint64_t>* BarrierVv() const { return base_ ? &base_->vv : nullptr; }
  bool InBase(uint32_t dev, uint64_t seq) const {
    return base_ && dev < base_->vv.size() && seq <= base_->vv[dev];
  }
  // The timestamp of a delta, also of a feed's base delta; 0 when neither is held.
  uint64_t HlcOf(uint32_t dev, uint64_t seq) const;
  // The checkpoint at version `at` (by device index; null: the current version), after sealing
  // pending actions. FailedPrecondition unless the state here is the state at `at`: every
  // delta outside it changes no records (claims, key shares), and none awaits its key.
  // Without `seal`, pending actions make it FailedPrecondition instead.
  Result<Bytes> BuildCheckpoint(const std::vector<uint64_t>* at, bool seal);
  // Parses checkpoint bytes and makes them the base: the state is rebuilt on them by the next
  // RebuildAll. With `wb` (a replica adopting a checkpoint it is behind), feeds that end before
  // V start at V: the deltas they held are all in V, and are dropped (from the store via `wb`).
  Status UseBase(const Hash32& id, Bytes bytes, store::WriteBatch* wb);
  // Loads the base's records and journal summary into the (cleared) table and rules.
  Status LoadBaseState();
  // Chooses the newest trusted checkpoint among the claims counted so far; switches the base to
  // it when its bytes are held here. Returns true when the base changed.
  bool UpdateBarrier();
  // Checkpoints are proposed by one device, the workspace's creator: its claims come one after
  // another, each at a version holding the one before, so the checkpoints that can become
  // trusted form a chain, and a replica that pruned under one never needs deltas a later one
  // lacks. Other members' claims of a proposed checkpoint are attestations.
  std::optional<uint32_t> Proposer() const;
  struct ClaimTally {
    std::vector<uint64_t> version;  // by device index
    uint64_t weight = 0;
    bool proposed = false;  // claimed by the proposer
    bool owner = false;     // by the proposer as an owner
    std::set<uint32_t> members;
    // An owner's proposal, or a proposal with the members' quorum.
    bool Trusted() const;
  };
  // Every checkpoint claimed in ops that count, with who claimed it.
  std::map<Hash32, ClaimTally> Claims() const;
  Status InitFromCheckpoint(ByteView checkpoint);
  // Checkpoints in the store, compressed there; LoadCheckpoint checks the bytes against the id.
  void PutCheckpoint(store::WriteBatch& wb, const Hash32& id, ByteView bytes);
  Result<std::optional<Bytes>> LoadCheckpoint(const Hash32& id);
  // Sum of the seqs under a version vector: how much history a checkpoint settles.
  static uint64_t Weight(const std::vector<uint64_t>& vv);
};

}  // namespace grove::replica
