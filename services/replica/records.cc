#include "replica/records.h"

#include <algorithm>
#include <cstring>

namespace grove::replica {
namespace {

// 2: stamps name their device by position in a per-record table of device ids (sorted by id, so
// the bytes stay canonical) instead of spelling out 32 bytes each time.
constexpr uint8_t kRecordFormat = 2;

template <typename T>
T& Slot(std::vector<std::pair<uint32_t, T>>& slots, uint32_t id) {
  for (auto& [k, v] : slots) {
    if (k == id) return v;
  }
  slots.emplace_back(id, T{});
  return slots.back().second;
}

void PutString(Bytes& out, std::string_view s) {
  PutVarint(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

bool GetString(ByteView in, size_t& pos, std::string& s) {
  auto n = GetVarint(in, pos);
  if (!n || *n > in.size() - pos) return false;
  s.assign(reinterpret_cast<const char*>(in.data() + pos), *n);
  pos += *n;
  return true;
}

}  // namespace

uint32_t Names::Intern(std::string_view name) {
  auto it = ids_.find(name);
  if (it != ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(names_.size());
  names_.emplace_back(name);
  ids_.emplace(names_.back(), id);
  return id;
}

bool RecordTable::Less(const Stamp& a, const Stamp& b) const {
  if (a.hlc != b.hlc) return a.hlc < b.hlc;
  if (a.dev != b.dev) {
    return std::memcmp(causality_.Device(a.dev).data(), causality_.Device(b.dev).data(), 32) < 0;
  }
  if (a.seq != b.seq) return a.seq < b.seq;
  return a.idx < b.idx;
}

Record& RecordTable::At(RecordKey key) {
  Record& r = records_[key];
  if (!r.dirty) {
    r.dirty = true;
    dirty_.emplace_back(key, &r);
  }
  return r;
}

void RecordTable::InsertInto(Register& reg, Entry entry) {
  for (const Entry& e : reg.entries) {
    if (e.stamp == entry.stamp || causality_.Precedes(entry.stamp, e.stamp)) return;
  }
  std::erase_if(reg.entries,
                [&](const Entry& e) { return causality_.Precedes(e.stamp, entry.stamp); });
  reg.entries.push_back(std::move(entry));
}

void RecordTable::Create(RecordKey key, uint32_t type, Stamp stamp) {
  Record& r = At(key);
  // Only the record's own device can create it, so a second create is that device re-creating:
  // the earliest stamp keeps the type, whatever order the two arrive in.
  if (!r.exists || Less(stamp, r.created)) {
    r.type = type;
    r.created = stamp;
  }
  r.exists = true;
}

void RecordTable::Set(RecordKey key, uint32_t field, Value value, Stamp stamp) {
  InsertInto(Slot(At(key).fields, field), Entry{std::move(value), stamp});
}

void RecordTable::Add(RecordKey key, uint32_t field, int64_t amount) {
  int64_t& sum = Slot(At(key).counters, field);
  // Wrapping addition commutes; amounts are bounded at validation so it never wraps in practice.
  sum = static_cast<int64_t>(static_cast<uint64_t>(sum) + static_cast<uint64_t>(amount));
}

void RecordTable::Append(RecordKey key, uint32_t field, Value value, Stamp stamp) {
  auto& list = Slot(At(key).lists, field);
  for (const Entry& e : list) {
    if (e.stamp == stamp) return;
  }
  list.push_back(Entry{std::move(value), stamp});
}

void RecordTable::Transition(RecordKey key, uint32_t name, Stamp stamp) {
  Record& r = At(key);
  for (const Entry& e : r.history) {
    if (e.stamp == stamp) return;
  }
  r.history.push_back(Entry{Value(names_.Name(name)), stamp});
  InsertInto(r.state, Entry{Value(names_.Name(name)), stamp});
}

void RecordTable::Archive(RecordKey key) { At(key).archived = true; }

const Record* RecordTable::Find(RecordKey key) const {
  auto it = records_.find(key);
  return it == records_.end() ? nullptr : &it->second;
}

void RecordTable::Clear() {
  for (const auto& [k, v] : records_) removed_.push_back(k);
  records_.clear();
  dirty_.clear();
}

const Entry* RecordTable::Winner(const Register& reg) const {
  const Entry* best = nullptr;
  for (const Entry& e : reg.entries) {
    if (!best || Less(best->stamp, e.stamp)) best = &e;
  }
  return best;
}

std::vector<const Entry*> RecordTable::Losers(const Register& reg) const {
  const Entry* winner = Winner(reg);
  std::vector<const Entry*> out;
  for (const Entry& e : reg.entries) {
    if (&e != winner) out.push_back(&e);
  }
  std::sort(out.begin(), out.end(),
            [this](const Entry* a, const Entry* b) { return Less(a->stamp, b->stamp); });
  return out;
}

std::vector<std::pair<RecordKey, const Record*>> RecordTable::TakeDirty() {
  std::vector<std::pair<RecordKey, const Record*>> out;
  out.reserve(dirty_.size());
  for (auto [k, r] : dirty_) {
    r->dirty = false;
    out.emplace_back(k, r);
  }
  dirty_.clear();
  // Cleared records not re-created since are reported too, so their stored copies go.
  for (const RecordKey& k : removed_) {
    if (!records_.count(k)) out.emplace_back(k, nullptr);
  }
  removed_.clear();
  return out;
}

void RecordTable::EncodeStamp(const Stamp& s, const std::vector<uint32_t>& devices,
                              Bytes& out) const {
  PutVarint(out, s.hlc);
  PutVarint(out, static_cast<uint64_t>(std::find(devices.begin(), devices.end(), s.dev) -
                                       devices.begin()));
  PutVarint(out, s.seq);
  PutVarint(out, s.idx);
}

void RecordTable::EncodeEntries(const std::vector<Entry>& entries,
                                const std::vector<uint32_t>& devices, Bytes& out) const {
  PutVarint(out, entries.size());
  if (entries.size() == 1) {  // most registers: nothing to sort, nothing to allocate
    EncodeValue(entries[0].value, out);
    EncodeStamp(entries[0].stamp, devices, out);
    return;
  }
  std::vector<const Entry*> sorted;
  sorted.reserve(entries.size());
  for (const Entry& e : entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [this](const Entry* a, const Entry* b) { return Less(a->stamp, b->stamp); });
  for (const Entry* e : sorted) {
    EncodeValue(e->value, out);
    EncodeStamp(e->stamp, devices, out);
  }
}

Bytes RecordTable::Encode(const Record& r) const {
  // Named slots sorted by name, not by local id, so every peer writes the same bytes.
  auto by_name = [this](const auto& slots) {
    std::vector<const std::remove_reference_t<decltype(slots[0])>*> out;
    out.reserve(slots.size());
    for (const auto& s : slots) out.push_back(&s);
    std::sort(out.begin(), out.end(), [this](const auto* a, const auto* b) {
      return names_.Name(a->first) < names_.Name(b->first);
    });
    return out;
  };

  // The devices the record's stamps name, in device-id order. Scratch space reused from one
  // record to the next (a merge encodes every record it touched): no allocation per record.
  thread_local std::vector<uint32_t> devices;
  devices.clear();
  auto note = [&](const Stamp& st) {
    if (std::find(devices.begin(), devices.end(), st.dev) == devices.end()) {
      devices.push_back(st.dev);
    }
  };
  if (r.exists) note(r.created);
  for (const auto& [f, reg] : r.fields) {
    for (const Entry& e : reg.entries) note(e.stamp);
  }
  for (const auto& [f, list] : r.lists) {
    for (const Entry& e : list) note(e.stamp);
  }
  for (const Entry& e : r.state.entries) note(e.stamp);
  for (const Entry& e : r.history) note(e.stamp);
  std::sort(devices.begin(), devices.end(), [this](uint32_t a, uint32_t b) {
    return std::memcmp(causality_.Device(a).data(), causality_.Device(b).data(), 32) < 0;
  });

  Bytes out;
  out.reserve(64 + 32 * devices.size() + 24 * r.fields.size());
  out.push_back(kRecordFormat);
  out.push_back(static_cast<uint8_t>((r.exists ? 1 : 0) | (r.archived ? 2 : 0)));
  PutVarint(out, devices.size());
  for (uint32_t d : devices) {
    const DeviceId& id = causality_.Device(d);
    out.insert(out.end(), id.begin(), id.end());
  }
  // Only a created record has a type and creation stamp; an uncreated one (ops whose create is
  // not valid) must not leak a local device index into canonical bytes.
  if (r.exists) {
    PutString(out, names_.Name(r.type));
    EncodeStamp(r.created, devices, out);
  }
  PutVarint(out, r.fields.size());
  for (const auto* f : by_name(r.fields)) {
    PutString(out, names_.Name(f->first));
    EncodeEntries(f->second.entries, devices, out);
  }
  PutVarint(out, r.counters.size());
  for (const auto* c : by_name(r.counters)) {
    PutString(out, names_.Name(c->first));
    PutVarint(out, static_cast<uint64_t>(c->second));
  }
  PutVarint(out, r.lists.size());
  for (const auto* l : by_name(r.lists)) {
    PutString(out, names_.Name(l->first));
    EncodeEntries(l->second, devices, out);
  }
  EncodeEntries(r.state.entries, devices, out);
  EncodeEntries(r.history, devices, out);
  return out;
}

bool RecordTable::Decode(RecordKey key, ByteView in) {
  size_t pos = 0;
  Record r;
  std::string name;
  std::vector<uint32_t> devices;
  auto stamp = [&](Stamp& s) {
    auto hlc = GetVarint(in, pos);
    auto dev = hlc ? GetVarint(in, pos) : std::nullopt;
    auto seq = dev ? GetVarint(in, pos) : std::nullopt;
    auto idx = seq ? GetVarint(in, pos) : std::nullopt;
    if (!idx || *idx > UINT32_MAX || *dev >= devices.size()) return false;
    s = Stamp{*hlc, devices[*dev], *seq, static_cast<uint32_t>(*idx)};
    return true;
  };
  auto entries = [&](std::vector<Entry>& out) {
    auto n = GetVarint(in, pos);
    if (!n || *n > in.size()) return false;
    for (uint64_t i = 0; i < *n; ++i) {
      auto v = DecodeValue(in, pos);
      Entry e;
      if (!v || !stamp(e.stamp)) return false;
      e.value = std::move(*v);
      out.push_back(std::move(e));
    }
    return true;
  };
  auto count = [&](uint64_t& n) {
    auto v = GetVarint(in, pos);
    if (!v || *v > in.size()) return false;
    n = *v;
    return true;
  };

  if (in.size() < 2 || in[0] != kRecordFormat) return false;
  r.exists = in[1] & 1;
  r.archived = in[1] & 2;
  pos = 2;
  auto table = GetVarint(in, pos);
  if (!table || *table > (in.size() - pos) / 32) return false;
  for (uint64_t i = 0; i < *table; ++i) {
    DeviceId d;
    std::memcpy(d.data(), in.data() + pos, 32);
    pos += 32;
    devices.push_back(causality_.DeviceIndex(d));
  }
  if (r.exists) {
    if (!GetString(in, pos, name) || !stamp(r.created)) return false;
    r.type = names_.Intern(name);
  }
  uint64_t n = 0;
  if (!count(n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    if (!GetString(in, pos, name)) return false;
    Register reg;
    if (!entries(reg.entries)) return false;
    r.fields.emplace_back(names_.Intern(name), std::move(reg));
  }
  if (!count(n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    if (!GetString(in, pos, name)) return false;
    auto sum = GetVarint(in, pos);
    if (!sum) return false;
    r.counters.emplace_back(names_.Intern(name), static_cast<int64_t>(*sum));
  }
  if (!count(n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    if (!GetString(in, pos, name)) return false;
    std::vector<Entry> list;
    if (!entries(list)) return false;
    r.lists.emplace_back(names_.Intern(name), std::move(list));
  }
  if (!entries(r.state.entries) || !entries(r.history) || pos != in.size()) return false;
  r.dirty = records_.count(key) ? records_[key].dirty : false;
  records_[key] = std::move(r);
  return true;
}

}  // namespace grove::replica
