// grove::replica — one workspace's replica: signed per-author delta feeds, causal apply, the merged
// record state, membership and content keys, and the two digests.
//
// Data flows one way: local actions and remote deltas come in, are checked, made durable in the
// store, and change the materialized state. The merged state is a pure function of the set of
// valid deltas (docs/decisions/0001-validity-and-membership.md), so any delivery order, with
// duplicates, gives the same state digest.
//
// Durability: a local action is written to the store (one transaction) before its call returns
// OK. Applying a batch of remote deltas is one transaction. Local actions are kept as *pending*
// until Seal() packs them into one signed delta (DeltasFor() seals first, so they are sealed when
// first sent; a peer also seals after a short delay).
//
// Threading: a Workspace is not thread-safe; one thread (the peer's event loop) owns it. The
// Store, Clock and Random passed in must outlive it and are used only from that thread.
//
// Failure: bad remote input never crashes and changes nothing: Apply() reports each rejected
// delta with a Status naming what is wrong and where ("<author>/<seq>"). If the store fails, the
// call returns IOError and the Workspace refuses further work until it is reopened (the store
// holds the last committed state).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "replica/value.h"
#include "store/store.h"
#include "tools/tool.h"

namespace grove::replica {

using WorkspaceId = Hash32;
using ContentKeyId = std::array<uint8_t, 16>;

enum class Role { kNone = 0, kOwner = 1, kMember = 2, kAuditor = 3, kReadOnly = 4 };
const char* RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);
// Owners and members write records; auditors and read-only members only read.
inline bool CanWrite(Role r) { return r == Role::kOwner || r == Role::kMember; }

struct RecordView {
  RecordId id;
  std::string type;
  std::string state;  // last workflow transition, "" if none
  bool archived = false;
  // Register winners; a counter shows its base (the integer last set, 0 if none) plus every
  // increment (decision 0003).
  std::map<std::string, Value> fields;
  std::map<std::string, std::vector<Value>> conflicts;  // concurrent values that lost, per field
  std::map<std::string, std::vector<Value>> lists;      // add-only lists, in stamp order
  std::vector<std::string> history;                     // transitions, in stamp order
  // Tool records only: computed fields, and keyed stock levels (field -> key -> level).
  std::map<std::string, Value> computed;
  std::map<std::string, std::map<std::string, int64_t>> keyed;
};

// Whether this device may run a transition on a record now, and if not, the rule that refuses
// it (PermissionDenied: role; FailedPrecondition: state, guard or stock rights).
struct TransitionCheck {
  std::string name;
  Status verdict;
};

struct VersionEntry {
  DeviceId device{};
  uint64_t seq = 0;  // highest contiguous seq held of this device's feed
  Hash32 head{};     // hash of that delta
  bool operator==(const VersionEntry&) const = default;
};
using VersionVector = std::vector<VersionEntry>;  // sorted by device

struct Digests {
  Hash32 version{};  // what this replica holds (its version vector)
  Hash32 state{};    // what it computed from that
  uint64_t deltas = 0;
  // Valid deltas held whose content key this device lacks (outside the checkpoint in force: the
  // effect of those under it is in it), plus one while a trusted checkpoint is missing.
  uint64_t unreadable = 0;
};

struct MemberView {
  DeviceId device{};
  std::string name;
  Role role = Role::kNone;
};

struct ApplyReport {
  size_t accepted = 0;            // new deltas stored (valid or not)
  size_t duplicates = 0;          // already held
  size_t buffered = 0;            // waiting for their causal dependencies
  size_t invalid = 0;             // stored but not applied (see decision 0001)
  size_t forks = 0;               // evidence of a device signing two deltas with one seq
  bool rebuilt = false;           // membership or a fork changed earlier verdicts
  std::vector<Status> rejected;   // refused at the door, each naming what and where
  Status store;                   // non-OK if the store failed (nothing of the batch applied)
  std::vector<RecordId> changed;  // records whose state the batch changed
};

// What an auditor device (services/auditor) reads of a decided delta: its verdict and its ops,
// decrypted and with names resolved.
struct AuditedOp {
  // create, set, add, append, transition, archive, grant, upgrade (record ops, their effects
  // included in order), workspace.create, member.set, member.remove, key.rotate (membership),
  // checkpoint.claim (detail: the checkpoint id in hex).
  std::string op;
  std::optional<RecordId> record;  // record ops
  std::string type;                // create: the record type
  // set/add/append/grant: the field; transition: the transition's name; upgrade: the tool;
  // member.*: the member's device text.
  std::string field;
  Value value;         // set, append: the value; add, grant: the key for a keyed stock field
  int64_t amount = 0;  // add, grant
  std::vector<std::pair<std::string, Value>> fields;  // create: its fields
  std::string detail;   // member.set: the role and name; grant: the device receiving the rights
  bool effect = false;  // an effect of the transition or upgrade before it
};

struct AuditedDelta {
  DeviceId author{};
  uint64_t seq = 0;
  Hash32 hash{};
  uint64_t hlc = 0;
  uint64_t received_ms = 0;  // when this process received it; 0 when before it started
  bool applied = false;      // false: stored as evidence only; `reason` says why
  std::string reason;
  std::vector<AuditedOp> ops;  // for an invalid delta: its ops when they can be read
};

// A checkpoint: the state of a workspace at a version vector (docs/decisions/0011).
struct CheckpointInfo {
  Hash32 id{};            // SHA-256 of its canonical bytes
  VersionVector version;  // V: the deltas it holds the effect of
  uint64_t bytes = 0;
  bool trusted = false;  // an owner's claim, or the quorum's, names it
};

// What Workspace::Prune did.
struct PruneReport {
  uint64_t deltas = 0;                // deleted
  std::vector<DeviceId> waiting_for;  // active members that have not acknowledged the checkpoint
};

struct Limits {
  size_t max_delta_bytes = 16 << 20;
  size_t max_ops_per_delta = 200'000;
  size_t seal_after_ops = 50'000;        // Seal() runs by itself past this many pending actions
  size_t seal_after_bytes = 1 << 20;     // ... or past this many bytes of them (before zstd)
  size_t max_buffered_deltas = 100'000;  // waiting for dependencies
  size_t max_value_bytes = 1 << 20;
};

class Workspace {
 public:
  // Creates a workspace: seals and stores its genesis delta (whose hash is the workspace id) and
  // a first content key. The creator is its owner.
  // `tools` travel in the genesis delta (canonical form, pinned by hash): every member enforces
  // them. InvalidArgument when they do not form a consistent set (tools::CheckToolSet).
  static Result<std::unique_ptr<Workspace>> Create(const identity::Identity& me, std::string name,
                                                   std::vector<tools::Tool> tools,
                                                   store::Store& store, Clock& clock,
                                                   Random& random, Limits limits = {});
  // Starts a replica from a checkpoint (a new member or device, decision 0011): the state at its
  // version V without the deltas in V; the deltas after V follow by Apply. Its base counts as
  // untrusted (Barrier()->trusted) until claims making it trusted arrive with those deltas.
  // Corruption for bytes that are not a checkpoint; nothing is stored then.
  static Result<std::unique_ptr<Workspace>> JoinFromCheckpoint(const identity::Identity& me,
                                                               ByteView checkpoint,
                                                               store::Store& store, Clock& clock,
                                                               Random& random, Limits limits = {});
  // Starts a replica of an existing workspace from its genesis delta (as carried by an
  // invitation). Corruption if the bytes are not a valid genesis delta.
  static Result<std::unique_ptr<Workspace>> Join(const identity::Identity& me, ByteView genesis,
                                                 store::Store& store, Clock& clock, Random& random,
                                                 Limits limits = {});
  // Loads a workspace from the store. NotFound if the store does not hold it.
  static Result<std::unique_ptr<Workspace>> Open(const identity::Identity& me,
                                                 const WorkspaceId& id, store::Store& store,
                                                 Clock& clock, Random& random, Limits limits = {});
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  const WorkspaceId& id() const;
  const std::string& name() const;
  const std::vector<std::string>& tools() const;  // names
  // The tools in force: each at the newest version this replica has applied.
  // Valid until the workspace next applies or makes a change.
  const std::vector<tools::Tool>& tool_definitions() const;
  const DeviceId& device() const;

  // --- Local actions. Each is durable when it returns OK. PermissionDenied when this device's
  // role does not allow writing; InvalidArgument (with the field) for bad names or values;
  // NotFound for an unknown record.
  Result<RecordId> CreateRecord(std::string_view type,
                                const std::vector<std::pair<std::string, Value>>& fields);
  Status Set(const RecordId& record, std::string_view field, Value value);
  Status Add(const RecordId& record, std::string_view field, int64_t amount);
  Status Append(const RecordId& record, std::string_view field, Value item);
  // Several changes to one record as one action: all applied, or (on the first refusal) none.
  struct Change {
    std::vector<std::pair<std::string, Value>> set;
    std::vector<std::pair<std::string, int64_t>> add;
    std::vector<std::pair<std::string, Value>> append;
  };
  Status Update(const RecordId& record, const Change& change);
  // A workflow step. For a record of a tool type, the tool's rules decide: PermissionDenied
  // names the role rule, FailedPrecondition the state, guard or stock-rights rule, and
  // InvalidArgument the input at fault (where() = "fields.NAME"). `inputs` are the fields the
  // transition takes; its effects run with it, all or nothing.
  Status Transition(const RecordId& record, std::string_view name,
                    const std::vector<std::pair<std::string, Value>>& inputs = {});
  // Escrow: moves `amount` of this device's rights on a stock field (with `key` for a keyed
  // one) to device `to`. FailedPrecondition when this device holds less.
  Status Grant(const RecordId& record, std::string_view field, std::string_view key,
               const DeviceId& to, int64_t amount);
  // Replaces one of the workspace's tools by a new version of it (an owner's op; docs/tools.md,
  // "Upgrading a tool"): records of the tool migrate as the new version's `migrate` declares,
  // in the same action. PermissionDenied for a non-owner; FailedPrecondition ("upgrade: ...")
  // naming what the new version removes or changes incompatibly, or a migration that fails.
  Status UpgradeTool(const tools::Tool& tool);
  // The rights `device` holds on a stock field, as far as this replica knows.
  int64_t Rights(const RecordId& record, std::string_view field, std::string_view key,
                 const DeviceId& device) const;
  // The transitions of a tool record's type, each with whether this device may run it now.
  std::vector<TransitionCheck> Transitions(const RecordId& record) const;
  Status Archive(const RecordId& record);

  // Sealed-bid auctions (the auctions tool, docs/decisions/0007-sealed-bids.md).
  // PlaceSealedBid appends to the lot's `sealed_bids` a commitment to `amount` with the amount
  // sealed to the lot's creator (the auctioneer) and to this device, so that either can publish
  // the opening after the close and no other member can read it before. The tool's rules decide
  // as for Append (FailedPrecondition naming the guard or state); NotFound for an unknown lot or
  // when this replica has no card of the lot's creator; InvalidArgument for a currency of 0 or
  // more than 16 bytes.
  Status PlaceSealedBid(const RecordId& lot, const Money& amount);
  // Appends to the lot's `openings` the opening of every sealed bid that this device can open
  // (every bid for the auctioneer, its own for a bidder) and that no opening held here opens
  // yet; bids whose box does not open or does not match their commitment are skipped. Returns
  // how many were published. Each opening is one local action: on the first refusal (e.g. the
  // lot is not closed yet), returns it, keeping those published before.
  Result<size_t> RevealSealedBids(const RecordId& lot);

  // Membership (owners only). Each seals a delta at once, with the key changes it needs: a new
  // member gets every content key; a removal starts a new key the removed device never gets.
  Status AddMember(const identity::CardInfo& card, Role role);
  Status RemoveMember(const DeviceId& device);

  // Packs pending actions into one signed, encrypted delta. Returns false if there was nothing
  // to seal.
  Result<bool> Seal();
  size_t pending_actions() const;

  // --- Sync.
  ApplyReport Apply(std::span<const Bytes> deltas);
  VersionVector Version() const;
  // Deltas held here that `theirs` lacks, dependencies first, about max_bytes in all (at least
  // one when any is missing). Seals pending actions first.
  Result<std::vector<Bytes>> DeltasFor(const VersionVector& theirs, size_t max_bytes = 4 << 20);
  // The genesis delta, for invitations.
  Result<Bytes> Genesis() const;

  // --- History (docs/decisions/0011-checkpoints-settle-history.md).
  // The checkpoint of this replica's state at its current version, after sealing pending
  // actions: canonical bytes, equal on every replica at the same version. Kept in the store so
  // that this replica can serve it. FailedPrecondition while a delta held awaits its content key
  // or a trusted checkpoint is not held yet (the state would not be final).
  Result<Bytes> MakeCheckpoint();
  // Makes a checkpoint and claims it: a signed op naming its id and version. An owner's claim
  // makes it trusted at once; members' claims of the same checkpoint count toward the quorum
  // (2). Once trusted, it settles everything under it for every replica alike: later deltas
  // are judged on top of it. PermissionDenied for a device that is not a member.
  Result<CheckpointInfo> ClaimCheckpoint();
  // Claims, too, the newest checkpoint another member claimed that is not trusted yet, when
  // this replica computes the same bytes at its version (members' claims of one checkpoint make
  // it trusted at the quorum). Returns it; nullopt when there is none to attest, when this
  // replica's records changed since that version, or when it computes other bytes (then it
  // says nothing, and notes a problem).
  Result<std::optional<CheckpointInfo>> AttestClaims();
  // The checkpoint this replica's state is built on, if any.
  std::optional<CheckpointInfo> Barrier() const;
  // A checkpoint held here, by id (to serve it to another replica); nullopt when not held.
  // Corruption when the stored bytes do not match the id.
  Result<std::optional<Bytes>> CheckpointBytes(const Hash32& id);
  // The trusted checkpoint this replica needs and does not hold yet, if any (until it has it,
  // digests() count the state as not final, as for a missing content key).
  std::optional<Hash32> MissingCheckpoint() const;
  // Deletes the deltas under the trusted checkpoint in force (decision 0011), once every member
  // active within `wait_ms` has acknowledged it (holds a delta of its own made after seeing
  // all of it); members silent for longer do not hold pruning back: they catch up from the
  // checkpoint. Nothing when no trusted checkpoint is in force or a member is waited for (named
  // in the report). The state does not change; this replica can no longer send the deltas under
  // the checkpoint (DeltasFor answers FailedPrecondition to a replica that needs them, which
  // then needs the checkpoint). Older checkpoints are deleted too.
  Result<PruneReport> Prune(uint64_t wait_ms);
  // Takes a checkpoint's bytes from another replica. Kept; the state is rebuilt on it when it
  // is the trusted checkpoint this replica lacks, or when this replica is behind it (a new
  // member, or one back after the history under it was pruned elsewhere): then the deltas it
  // held under it are dropped, its own later work is kept and judged again on top of it, and
  // the checkpoint counts as untrusted until the claims naming it arrive (Barrier()).
  // Corruption for bytes that are not a checkpoint of this workspace; nothing changes then.
  Status AddCheckpoint(ByteView checkpoint);

  // --- Reading.
  std::optional<RecordView> Get(const RecordId& record) const;
  // Records of a type (all types if empty), ordered by id; archived ones only if asked.
  std::vector<RecordView> List(std::string_view type, bool include_archived = false) const;
  Result<RecordId> ResolveRecordId(std::string_view text) const;
  std::vector<MemberView> Members() const;
  Role RoleOf(const DeviceId& device) const;
  // Whether `device` holds every content key in use (a removed device does not get new ones).
  bool HoldsKeys() const;
  // Content keys for data kept outside deltas (attachments, decision 0005). CurrentContentKey:
  // the id of the key new content is sealed under, the same one Seal() uses (nullopt when this
  // device holds none it may use). ContentKey: a key this device holds, by id, or nullptr; the
  // pointer stays valid as long as the Workspace (keys are never dropped).
  std::optional<ContentKeyId> CurrentContentKey() const;
  const crypto::SymmetricKey* ContentKey(const ContentKeyId& id) const;
  Digests digests() const;
  // Every feed's deltas with their status, and every record's canonical bytes, one per line:
  // for diagnosing a digest mismatch.
  std::string DebugString() const;
  // --- Audit.
  // The deltas decided here (applied, or stored as invalid) that `done` does not cover (done:
  // per author, the highest seq already audited; authors missing from it have none), in causal
  // order, stopping once about `max_ops` ops were gathered (at least one delta when any is
  // due). An author's feed stops at its first delta still awaiting its content key, so what is
  // returned extends each author's audited prefix. IOError when the store cannot be read.
  Result<std::vector<AuditedDelta>> DecidedAfter(const std::map<DeviceId, uint64_t>& done,
                                                 size_t max_ops);

  // Fork evidence and rejections seen so far, newest last.
  std::vector<Status> problems() const;

  // Recomputes the materialized state from the stored feeds and writes it back; the state digest
  // must not change (grove store rebuild).
  Status Rebuild();

  class Impl;

 private:
  explicit Workspace(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

std::string DeviceText(const DeviceId& device);

// Compares this replica's digests with a peer's. Equal versions with unequal states, when both
// can read every delta they hold, means two replicas computed different states from the same
// deltas: a bug in Grove, never a user error. Returns Internal naming both state digests in that
// case, OK otherwise: different versions only mean a sync is due, and a replica still waiting for
// a content key (or removed, and never to get it) cannot have the same state.
Status CheckAgreement(const Digests& mine, const Digests& theirs);

}  // namespace grove::replica
