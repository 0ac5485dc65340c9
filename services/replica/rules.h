// Rules: the tools' business rules, enforced in the merge (docs/decisions/0004).
//
// Every op on a record of a tool type is checked against the tool definitions pinned in the
// workspace, in the *causal past of its delta*: the state made of exactly the ops the author had
// applied when it sealed the delta (its version vector) plus the earlier ops of the same delta.
// That state is the same on every peer, whatever else each peer has received since, so all honest
// peers accept and reject the same deltas. To evaluate in the past, the rules keep a journal of
// every applied op per tool record (the materialized RecordTable only keeps the merged present).
//
// A transition op is followed in its delta by its *sub-ops*: the inputs it was given (sets), the
// `sets` of its definition, and its effects, in that order; the transition op counts them. Every
// peer recomputes the sub-ops from the definition and refuses the delta when they differ, so an
// effect (a receipt adding to stock) is never trusted, only checked.
//
// Stock fields are bounded counters: a device's rights are its own increments plus grants to it
// minus grants it made, all in its causal past, and a decrement beyond them is refused. A device's
// own ops are always in its own causal past, so rights never go below zero and neither does stock.
//
// Internal to the replica module; not thread-safe (the workspace's thread owns it).
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "expr/expr.h"
#include "replica/op_codec.h"
#include "replica/records.h"
#include "replica/replica.h"
#include "tools/tool.h"

namespace grove::replica {

// Which ops an evaluation may see: those of deltas in `vv`, those under `base`, and every op of
// the delta being checked that is already journaled (the earlier ones). `vv == nullptr` sees
// every applied op (a local action: everything applied here is in the causal past of the delta
// it will be sealed in). `base` is the version vector of a trusted checkpoint (decision 0011):
// a delta outside it is judged in past(d) ∪ base, the same on a peer that holds the history and
// on one that started from the checkpoint and holds only the rules' Summarize()d journal, which
// answers only for pasts that contain all of `base`. `base == nullptr`: no checkpoint. Both are
// by device index, and an op is under one when its seq is at most the entry of its device.
struct Past {
  const std::vector<uint64_t>* vv = nullptr;
  uint32_t author = 0;
  uint64_t seq = 0;
  const std::vector<uint64_t>* base = nullptr;
  bool Contains(const Stamp& s) const {
    if (!vv || (s.dev == author && s.seq == seq)) return true;
    if (base && s.dev < base->size() && s.seq <= (*base)[s.dev]) return true;
    return s.dev < vv->size() && s.seq <= (*vv)[s.dev];
  }
};

// One applied op on a tool record, as the journal keeps it.
struct JournalEntry {
  Stamp stamp;
  OpKind kind = OpKind::kSet;
  uint32_t name = 0;  // field (interned; "field#key" for keyed stock), type for create
  Value value;
  int64_t amount = 0;
  uint32_t to = 0;  // grant: the device receiving rights
  // A sub-op of a transition (an input, a `sets`, an effect): running a transition is not
  // editing, so these do not make their author an editor of the record (separation of duties).
  bool sub_op = false;
};

// A tool record as of a causal past, built from the journal.
// A small map by interned name: records have a handful of fields, so a vector searched in
// order beats a hash table (built once per view, many times per second).
template <typename V>
class NameMap {
 public:
  using Item = std::pair<uint32_t, V>;
  V& operator[](uint32_t name) {
    for (Item& i : items_) {
      if (i.first == name) return i.second;
    }
    return items_.emplace_back(name, V{}).second;
  }
  auto find(uint32_t name) const {
    return std::find_if(items_.begin(), items_.end(),
                        [name](const Item& i) { return i.first == name; });
  }
  void reserve(size_t n) { items_.reserve(n); }
  auto begin() { return items_.begin(); }
  auto end() { return items_.end(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<Item> items_;
};

struct PastRecord {
  RecordKey key;
  bool exists = false;
  uint32_t type = 0;
  Stamp created;
  bool archived = false;
  NameMap<const JournalEntry*> fields;  // register winners
  NameMap<int64_t> counters;
  NameMap<std::vector<const JournalEntry*>> lists;
  const JournalEntry* last_transition = nullptr;
  std::vector<uint32_t> editors;
};

// What the rules need from the workspace that owns them.
class RuleHost {
 public:
  virtual ~RuleHost() = default;
  virtual Names& names() = 0;
  virtual const RecordTable& table() const = 0;
  virtual const DeviceId& DeviceAt(uint32_t dev) const = 0;
  virtual std::optional<uint32_t> DeviceIndexOf(const DeviceId& device) const = 0;
  virtual std::optional<RecordKey> KeyOfId(const RecordId& id) const = 0;
  virtual RecordId IdOfKey(RecordKey key) const = 0;
  // Whether `device` was a member (any role) in `past`: its last membership grant there.
  virtual bool WasMember(const DeviceId& device, const Past& past) const = 0;
  // The workspace-local index of `device`, interning it if new (a summary names devices by id).
  virtual uint32_t InternDevice(const DeviceId& device) = 0;
};

class Rules {
 public:
  Rules(RuleHost& host, std::vector<tools::Tool> tools);
  bool active() const { return !tools_.empty(); }
  const std::vector<tools::Tool>& tools() const { return tools_; }

  // Checks ops[0..] (one delta, or one local action with its sub-ops) by `author` acting with
  // `role`, journaling each op as it passes so later ops see it. On refusal, the journal is
  // left as before and the Status names the op and the rule: PermissionDenied (role),
  // FailedPrecondition ("state: ...", "guard: ...", "rights: ..."), InvalidArgument (a field).
  // Op i is journaled with stamp index first_idx + i.
  Status Check(uint32_t author, Role role, const Past& past, const std::vector<Op>& ops,
               uint32_t first_idx = 0);

  // The sub-ops of a transition (see above) that `author` would run now, with every rule checked.
  // With `inputs_pending` (a UI asking whether to offer the transition before its inputs are
  // typed), required inputs may be missing: role, state and a guard that reads no input are
  // checked, and OK means "offer it" (the sub-ops returned are then empty).
  Result<std::vector<Op>> PlanTransition(uint32_t author, Role role, const Past& past,
                                         RecordKey record, std::string_view name,
                                         const std::vector<std::pair<uint32_t, Value>>& inputs,
                                         uint64_t hlc, bool inputs_pending = false);

  // An upgrade of one of the workspace's tools by `author` now (docs/tools.md, "Upgrading a
  // tool"): the UPGRADE op and its migration sub-ops, with every rule checked.
  Result<std::vector<Op>> PlanUpgrade(uint32_t author, Role role, const tools::Tool& tool,
                                      uint64_t hlc);
  // The tools in force over everything applied: each at its newest version. Valid until the
  // next Check() or Clear().
  const std::vector<tools::Tool>& CurrentTools() const { return current_; }

  // Default values of a type's fields not given, for a local create.
  void FillDefaults(uint32_t type, std::vector<std::pair<uint32_t, Value>>& fields);

  // Journals an op that was applied without a check (a workspace without tools never calls it).
  void Note(const Op& op, const Stamp& stamp);
  void Clear();

  // Reading, over everything applied.
  bool Governs(uint32_t type) const;
  // The workflow state of a tool record: the last transition's target, or the initial state.
  std::string StateOf(uint32_t type, const Record& r) const;
  std::map<std::string, Value> Computed(RecordKey key);
  int64_t RightsOf(RecordKey key, uint32_t counter, uint32_t device) const;
  std::vector<TransitionCheck> Transitions(uint32_t author, Role role, RecordKey key);

  // Canonical bytes of the journal restricted to the ops of a checkpoint's version vector `base`
  // (by device index; an op is in it when stamp.seq <= base[stamp.dev]), collapsed to what a
  // judgement whose past contains all of `base` reads. Per record, of the ops under `base`:
  //   - per type, the earliest create (by the stamp order): the earliest overall gives the
  //     record's type and creation, and a reference check asks whether any create of its target
  //     type is in the past;
  //   - per field, the winning set (the greatest stamp): every other set under `base` loses to it
  //     in any such past;
  //   - per counter and author device, one add of the sum of that device's adds, with the
  //     greatest of their stamps (levels and every device's rights stay the same, and so does
  //     the set of counters a record has);
  //   - per counter, granting device and receiving device, one grant of the sum;
  //   - every list entry, with its stamp (lists are data: entries, authors and times are read);
  //   - the last transition (the state), and one archive (the flag);
  //   - per device that edited the record (an op that is neither a transition, a grant nor a
  //     transition's or upgrade's sub-op), a kept entry of it that counts as an edit, or else an
  //     edit marker (an entry of kind kUpgrade, which only the editors read), so `editors` is
  //     unchanged (as a set: its order is the journal's, already local to each peer).
  // Kept entries keep their real stamps, so they order against later ops as before. The records
  // that refer to each record (for children()) are not stored: LoadSummary() derives them from
  // the kept entries, which include every register winner that can hold such a reference. Of
  // the upgrades under `base`, per tool the newest and per type the newest that defines it (a
  // concurrent upgrade may define a type the newest lacks), with their canonical tool bytes.
  // Equal sets of journaled ops give equal bytes on every peer, whatever order they were
  // journaled in (devices and names are spelled out, not interned indices).
  Bytes Summarize(const std::vector<uint64_t>& base) const;
  // Replaces the journal and the upgrades by a Summarize()d one (a peer starting from a
  // checkpoint). Corruption when the bytes are malformed; the rules are then left cleared (and
  // nothing is interned: the bytes are read whole before anything is taken from them).
  Status LoadSummary(ByteView summary);

  // Whether any verdict so far depended on membership through a `member` field; the workspace
  // then re-judges when a membership grant changes under judged deltas.
  bool checked_members() const { return checked_members_; }

  // "field#key" for a keyed stock counter, else "field".
  static std::string CounterName(std::string_view field, std::string_view key);

 private:
  struct TypeRef {
    const tools::Tool* tool = nullptr;
    const tools::Type* type = nullptr;
  };
  friend class Evaluation;

  // A tool version that an UPGRADE op brought, in force for the deltas that have it in their
  // causal past.
  struct Upgrade {
    Stamp stamp;
    std::unique_ptr<tools::Tool> tool;  // heap: TypeRefs point into it
    std::unordered_map<uint32_t, TypeRef> types;
  };

  // The definition of `type` in force in `past`: the genesis one, or that of the newest upgrade
  // of its tool in the past (highest version; equal versions by the canonical stamp order).
  const TypeRef* TypeOf(uint32_t type, const Past& past) const;
  const tools::Tool* CurrentTool(std::string_view name, const Past& past) const;
  Result<tools::Tool> CheckUpgradeOp(Role role, const Past& past, const Op& op) const;
  Result<std::vector<Op>> PlanMigration(uint32_t author, const Past& past, const tools::Tool& tool,
                                        uint64_t hlc);
  // Checks a direct op and, when it passes, journals it with `stamp` (appending what it touched
  // to `touched`); when it is refused, the journal is left as it was.
  Status CheckDirect(uint32_t author, Role role, const Past& past, const Op& op, const Stamp& stamp,
                     std::vector<RecordKey>& touched);
  Status CheckEffectOp(uint32_t author, const Past& past, const Op& op);
  Status CheckValue(const tools::Field& field, const Value& value, const Past& past) const;
  Status CheckRights(uint32_t author, const Past& past, const Op& op, const tools::Field& field,
                     std::string_view key) const;
  int64_t Rights(RecordKey key, uint32_t counter, uint32_t device, const Past& past) const;
  int64_t Level(RecordKey key, uint32_t counter, const Past& past) const;
  // The type of a record in `past` (its earliest create there), 0 if it has none.
  uint32_t TypeInPast(RecordKey key, const Past& past) const;
  void Journal(const Op& op, const Stamp& stamp, std::vector<RecordKey>* touched,
               bool sub_op = false);
  void Unjournal(const std::vector<RecordKey>& touched);

  RuleHost& host_;
  std::vector<tools::Tool> tools_;
  std::unordered_map<uint32_t, TypeRef> types_;  // by interned type name, genesis versions
  std::vector<Upgrade> upgrades_;                // in the order they were applied
  std::vector<tools::Tool> current_;             // CurrentTools(), refreshed as upgrades come
  void RefreshCurrent();
  // Per record, in one table (each lookup in a table of every record is a cache miss or two):
  // its ops, and the records that ever held a reference to it, for children().
  struct RecordJournal {
    std::vector<JournalEntry> entries;
    std::vector<RecordKey> referrers;
  };
  std::unordered_map<RecordKey, RecordJournal, RecordKeyHash> journal_;
  // Views of records in the past being checked, shared by the evaluations of one Check().
  std::unordered_map<RecordKey, PastRecord, RecordKeyHash> views_;
  const Past* shared_past_ = nullptr;
  mutable bool checked_members_ = false;
};

}  // namespace grove::replica
