// RecordTable: the materialized state of one workspace's records, a CRDT over business records.
//
//   set        multi-value register: a set supersedes the values in its causal past; values
//              concurrent with each other all stay, the greatest (HLC, device, seq, op) wins and
//              the others are reported as conflicts until a later set supersedes them.
//   add        counter: the sum of every increment, so concurrent increments all count.
//   append     add-only list, ordered by stamp.
//   transition workflow state (a register) plus an entry in the record's status history.
//   archive    a flag that, once set, stays set.
//
// Every operation commutes and is idempotent per stamp, so applying any set of ops in any order
// (with duplicates) gives the same table: the merged state is a function of the set of ops.
// Internal to the replica module; not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/bytes.h"
#include "replica/value.h"

namespace grove::replica {

// Where an op comes from: its HLC, its author (a workspace-local device index), the delta's seq
// and the op's position in the delta. Total order: (hlc, device id, seq, idx).
struct Stamp {
  uint64_t hlc = 0;
  uint32_t dev = 0;
  uint64_t seq = 0;
  uint32_t idx = 0;
  bool operator==(const Stamp&) const = default;
};

// What the table needs to know about the deltas ops come from.
class Causality {
 public:
  virtual ~Causality() = default;
  // True when the op at `a` is in the causal past of the op at `b`.
  virtual bool Precedes(const Stamp& a, const Stamp& b) const = 0;
  virtual const DeviceId& Device(uint32_t dev) const = 0;
  // Workspace-local index for a device id (interning it if new).
  virtual uint32_t DeviceIndex(const DeviceId& device) = 0;
};

// Interned names (types, fields, transitions): local to one process, never on the wire.
class Names {
 public:
  uint32_t Intern(std::string_view name);
  const std::string& Name(uint32_t id) const { return names_[id]; }
  size_t size() const { return names_.size(); }

 private:
  // Transparent: looking a name up by string_view allocates nothing.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::vector<std::string> names_{""};
  std::unordered_map<std::string, uint32_t, NameHash, std::equal_to<>> ids_;
};

struct Entry {
  Value value;
  Stamp stamp;
};

struct Register {
  std::vector<Entry> entries;  // mutually concurrent
};

struct Record {
  bool exists = false;  // a create op has been applied
  bool dirty = false;   // changed since the last RecordTable::TakeDirty()
  bool archived = false;
  uint32_t type = 0;
  Stamp created;
  std::vector<std::pair<uint32_t, Register>> fields;
  std::vector<std::pair<uint32_t, int64_t>> counters;
  std::vector<std::pair<uint32_t, std::vector<Entry>>> lists;
  Register state;
  std::vector<Entry> history;  // transitions, value = transition name
};

struct RecordKey {
  uint32_t dev = 0;
  uint64_t n = 0;
  bool operator==(const RecordKey&) const = default;
};
struct RecordKeyHash {
  size_t operator()(const RecordKey& k) const {
    return std::hash<uint64_t>()(k.n * 0x9e3779b97f4a7c15ULL ^ k.dev);
  }
};

class RecordTable {
 public:
  RecordTable(Causality& causality, Names& names) : causality_(causality), names_(names) {}

  void Create(RecordKey key, uint32_t type, Stamp stamp);
  void Set(RecordKey key, uint32_t field, Value value, Stamp stamp);
  void Add(RecordKey key, uint32_t field, int64_t amount);
  void Append(RecordKey key, uint32_t field, Value value, Stamp stamp);
  void Transition(RecordKey key, uint32_t name, Stamp stamp);
  void Archive(RecordKey key);

  const Record* Find(RecordKey key) const;
  const std::unordered_map<RecordKey, Record, RecordKeyHash>& all() const { return records_; }
  void Clear();

  // The greatest entry of a register, or nullptr when it is empty.
  const Entry* Winner(const Register& reg) const;
  // Entries of a register other than the winner, in stamp order.
  std::vector<const Entry*> Losers(const Register& reg) const;
  // Stamp total order.
  bool Less(const Stamp& a, const Stamp& b) const;

  // Records changed since the last TakeDirty(), each with its state (nullptr: gone). The
  // pointers stay valid until the table changes next.
  std::vector<std::pair<RecordKey, const Record*>> TakeDirty();

  // Canonical bytes of a record: device ids and names spelled out, everything sorted, so equal
  // states give equal bytes on every peer. Used for storage and the state digest.
  Bytes Encode(const Record& record) const;
  // Replaces (or adds) `key` from Encode()d bytes; false when the bytes are malformed.
  bool Decode(RecordKey key, ByteView bytes);

 private:
  Record& At(RecordKey key);
  void InsertInto(Register& reg, Entry entry);
  void EncodeStamp(const Stamp& s, const std::vector<uint32_t>& devices, Bytes& out) const;
  // Entries in stamp order.
  void EncodeEntries(const std::vector<Entry>& entries, const std::vector<uint32_t>& devices,
                     Bytes& out) const;

  Causality& causality_;
  Names& names_;
  std::unordered_map<RecordKey, Record, RecordKeyHash> records_;
  // A list, not a set: clearing a large hash set costs its whole bucket array every time.
  // With the records themselves: nodes of an unordered_map stay put, and only Clear() removes
  // them (which empties this list too).
  std::vector<std::pair<RecordKey, Record*>> dirty_;
  std::vector<RecordKey> removed_;  // cleared records, reported dirty once
};

}  // namespace grove::replica
