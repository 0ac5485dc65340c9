// Summaries of the rules' journal (decision 0011). A peer that starts from a checkpoint at a
// version vector V holds Rules::Summarize(V) instead of the ops under V, and must reach the same
// verdicts as a peer holding the whole journal for every judgement whose past contains V: here
// over seeded random histories of the shipped tools on four devices (the seed is printed;
// GROVE_TEST_SEED replays one), with a device working offline so that deltas after V are
// concurrent with it, and a probe tool whose computed fields read what the shipped tools' rules
// do not (list entries, editors). Also: the bytes are canonical (same ops, any order, any
// interning), do not grow with a record's history, and malformed bytes are refused without harm.
//
// The rules are driven directly, through a stand-in for the workspace (SimHost): a workspace
// does not expose its rules, and what is under test is exactly what they see.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "replica/op_codec.h"
#include "replica/rules.h"
#include "support/status_assert.h"
#include "tools/tool.h"

namespace grove::replica {
namespace {

using tools::FieldKind;

uint64_t SeedFromEnv(uint64_t fallback, const char* test) {
  uint64_t seed = fallback;
  if (const char* env = std::getenv("GROVE_TEST_SEED")) seed = std::strtoull(env, nullptr, 10);
  std::printf("%s: seed %llu\n", test, static_cast<unsigned long long>(seed));
  return seed;
}

// What the rules need from a workspace: devices, names, a record table (for the stamp order and
// StateOf) and the version vector of every delta (for the table's causality).
class SimHost final : public Causality, public RuleHost {
 public:
  // Causality
  bool Precedes(const Stamp& a, const Stamp& b) const override {
    if (a.dev == b.dev) return a.seq < b.seq || (a.seq == b.seq && a.idx < b.idx);
    auto it = vvs_.find({b.dev, b.seq});
    if (it == vvs_.end()) return false;
    return a.dev < it->second.size() && it->second[a.dev] >= a.seq;
  }
  const DeviceId& Device(uint32_t dev) const override { return devices_[dev]; }
  uint32_t DeviceIndex(const DeviceId& device) override {
    auto [it, fresh] = index_.try_emplace(device, static_cast<uint32_t>(devices_.size()));
    if (fresh) devices_.push_back(device);
    return it->second;
  }

  // RuleHost
  Names& names() override { return names_; }
  const RecordTable& table() const override { return table_; }
  const DeviceId& DeviceAt(uint32_t dev) const override { return devices_[dev]; }
  std::optional<uint32_t> DeviceIndexOf(const DeviceId& device) const override {
    auto it = index_.find(device);
    if (it == index_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<RecordKey> KeyOfId(const RecordId& id) const override {
    auto dev = DeviceIndexOf(id.device);
    if (!dev) return std::nullopt;
    return RecordKey{*dev, id.n};
  }
  RecordId IdOfKey(RecordKey key) const override { return RecordId{devices_[key.dev], key.n}; }
  // Every device of the simulation is a member throughout.
  bool WasMember(const DeviceId& device, const Past&) const override {
    return DeviceIndexOf(device).has_value();
  }
  uint32_t InternDevice(const DeviceId& device) override { return DeviceIndex(device); }

  size_t device_count() const { return devices_.size(); }
  RecordTable& mutable_table() { return table_; }
  void NoteDelta(uint32_t dev, uint64_t seq, std::vector<uint64_t> vv) {
    vvs_[{dev, seq}] = std::move(vv);
  }

 private:
  std::deque<DeviceId> devices_;
  std::map<DeviceId, uint32_t> index_;
  Names names_;
  RecordTable table_{*this, names_};
  std::map<std::pair<uint32_t, uint64_t>, std::vector<uint64_t>> vvs_;
};

// One peer: its host and rules, with the simulation's devices (and some names) interned in an
// order of its own, so that nothing local can pass for canonical.
struct Peer {
  Peer(const std::vector<DeviceId>& devices, const std::vector<size_t>& order,
       const std::vector<std::string>& names, std::vector<tools::Tool> tools) {
    dev.resize(devices.size());
    for (size_t s : order) dev[s] = host.DeviceIndex(devices[s]);
    for (const std::string& n : names) host.names().Intern(n);
    rules = std::make_unique<Rules>(host, std::move(tools));
  }
  // A version vector of the simulation (by simulated device) in this peer's device indices.
  std::vector<uint64_t> Vv(const std::vector<uint64_t>& sim) const {
    std::vector<uint64_t> out(host.device_count(), 0);
    for (size_t s = 0; s < sim.size(); ++s) out[dev[s]] = sim[s];
    return out;
  }
  uint32_t Name(std::string_view name) { return host.names().Intern(name); }

  SimHost host;
  std::vector<uint32_t> dev;  // by simulated device
  std::unique_ptr<Rules> rules;
};

// An op of peer `from` in the names and device indices of peer `to`.
Op Translate(const Op& op, Peer& from, Peer& to) {
  auto dev = [&](uint32_t d) { return to.host.DeviceIndex(from.host.DeviceAt(d)); };
  auto name = [&](uint32_t n) { return to.Name(from.host.names().Name(n)); };
  Op out = op;
  out.record.dev = dev(op.record.dev);
  out.name = name(op.name);
  if (op.kind == OpKind::kGrant) out.to = dev(op.to);
  for (auto& [field, value] : out.fields) field = name(field);
  return out;
}
std::vector<Op> Translate(const std::vector<Op>& ops, Peer& from, Peer& to) {
  std::vector<Op> out;
  for (const Op& op : ops) out.push_back(Translate(op, from, to));
  return out;
}

bool SameOps(const std::vector<Op>& a, const std::vector<Op>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const Op &x = a[i], &y = b[i];
    if (x.kind != y.kind || x.hlc != y.hlc || !(x.record == y.record) || x.name != y.name ||
        x.value != y.value || x.amount != y.amount || x.fields != y.fields ||
        x.effects != y.effects || x.to != y.to) {
      return false;
    }
  }
  return true;
}

std::string Show(const Status& s) { return s.ok() ? "OK" : s.ToString(); }

constexpr uint32_t kDevices = 4;
Role RoleOf(uint32_t sim_dev) { return sim_dev < 2 ? Role::kOwner : Role::kMember; }

// Records that read others through computed fields, for Computed() to show what the shipped
// tools' own rules do not read (list entries and their authors, editors, the archive flag).
constexpr char kProbe[] = R"yaml(tool: probe
version: 1
title: Probe
requires: [inventory, purchasing, auctions, service]
types:
  probe:
    fields:
      case: {type: reference, to: case, required: true}
      lot: {type: reference, to: lot}
      item: {type: reference, to: item}
      order: {type: reference, to: purchase_order}
      requisition: {type: reference, to: requisition}
      comments:
        type: integer
        computed: "count(record.case.comments) * 100 + count(record.case.items)"
      last_comment_by:
        type: member
        computed: >-
          if(count(record.case.comments) > 0, max_by(record.case.comments, 'at').by, null)
      first_comment:
        type: text
        computed: >-
          if(count(record.case.comments) > 0, min_by(record.case.comments, 'at').value, null)
      case_editors: {type: integer, computed: "count(record.case.editors)"}
      case_archived: {type: flag, computed: "record.case.archived"}
      case_state: {type: text, computed: "record.case.state"}
      bids:
        type: integer
        computed: "if(is_set(record.lot), count(record.lot.bids) + count(record.lot.sealed_bids), -1)"
      level: {type: integer, computed: "if(is_set(record.item), level(record.item, 'on_hand'), -1)"}
      order_editors:
        type: integer
        computed: "if(is_set(record.order), count(record.order.editors), -1)"
      requisition_editors:
        type: integer
        computed: "if(is_set(record.requisition), count(record.requisition.editors), -1)"
)yaml";

// The shipped tools, and the probe reading them.
std::vector<tools::Tool> ShippedAndProbe() {
  std::vector<tools::Tool> out;
  for (const char* name : {"inventory", "purchasing", "auctions", "service"}) {
    auto tool = tools::LoadBuiltin(name);
    EXPECT_TRUE(tool.ok()) << tool.status().ToString();
    if (tool.ok()) out.push_back(std::move(tool).value());
  }
  auto probe = tools::ParseTool(kProbe, "probe.yaml");
  for (const auto& d : probe.diagnostics) ADD_FAILURE() << d.Text();
  if (probe.tool) out.push_back(*probe.tool);
  return out;
}

// Upgrades of the service tool an owner may try: with a new type `note`, or with a changed
// message only. Two owners trying them concurrently leave a type that only an older version
// defines.
tools::Tool ServiceUpgrade(int64_t version, bool with_note) {
  auto tool = tools::LoadBuiltin("service");
  EXPECT_TRUE(tool.ok());
  tool->version = version;
  if (with_note) {
    auto extra = tools::ParseTool(R"yaml(tool: extra
version: 1
title: Extra
types:
  note:
    fields:
      text: {type: text, required: true, max: 64}
)yaml",
                                  "extra.yaml");
    for (const auto& d : extra.diagnostics) ADD_FAILURE() << d.Text();
    tool->types.push_back(extra.tool->types.front());
  } else {
    for (tools::Type& t : tool->types) t.edit_message = "closed (v" + std::to_string(version) + ")";
  }
  return std::move(tool).value();
}

// A record made in the history: by whom, in which delta (its simulated device and seq).
struct Made {
  RecordId id;
  std::string type;
  uint32_t dev = 0;
  uint64_t seq = 0;
};

// Random actions of one device in one past: creates, sets, transitions (with their sub-ops as
// the rules plan them), appends, grants, archives and upgrades, valid or not: the rules judge.
class Actions {
 public:
  Actions(std::mt19937_64& rng, const std::vector<DeviceId>& devices)
      : rng_(rng), devices_(devices) {}

  // Ops in `p`'s names and device indices. `vv` (by simulated device) and `seq` say which
  // records of `made` are in the past; a create makes record n of `d`, noted in `*created`.
  std::vector<Op> Make(Peer& p, uint32_t d, const Past& past, const std::vector<uint64_t>& vv,
                       uint64_t seq, uint64_t hlc, uint64_t n, const std::vector<Made>& made,
                       std::optional<Made>* created) {
    ms_ = static_cast<int64_t>(hlc >> 16);
    in_past_.clear();
    for (const Made& m : made) {
      if (vv[m.dev] >= m.seq || (m.dev == d && m.seq == seq)) in_past_.push_back(&m);
    }
    const uint64_t r = Pick(100);
    Op op;
    op.hlc = hlc;
    if (r < 28 || in_past_.empty()) {
      std::vector<const tools::Type*> types;
      for (const tools::Tool& t : p.rules->CurrentTools()) {
        for (const tools::Type& type : t.types) types.push_back(&type);
      }
      const tools::Type& type = *types[Pick(types.size())];
      op.kind = OpKind::kCreate;
      op.record = RecordKey{p.dev[d], n};
      op.name = p.Name(type.name);
      for (const tools::Field& f : type.fields) {
        if (f.computed || f.kind == FieldKind::kList || f.kind == FieldKind::kCounter ||
            f.kind == FieldKind::kStock || (f.readonly && Pick(30) != 0) ||
            (!f.required && Pick(2) == 0)) {
          continue;
        }
        if (auto v = ValueFor(f, f.kind)) op.fields.emplace_back(p.Name(f.name), std::move(*v));
      }
      p.rules->FillDefaults(op.name, op.fields);
      *created = Made{p.host.IdOfKey(op.record), type.name, d, seq};
      return {op};
    }
    // Appends go to records with lists, grants to items, anything else to any record.
    std::vector<const Made*> targets;
    for (const Made* m : in_past_) {
      const tools::Type* t = TypeNamed(p, m->type);
      const bool lists = t && std::any_of(t->fields.begin(), t->fields.end(),
                                          [](const auto& f) { return f.kind == FieldKind::kList; });
      if ((r >= 80 && r < 88 && lists) || (r >= 88 && r < 94 && m->type == "item")) {
        targets.push_back(m);
      }
    }
    if (targets.empty()) targets = in_past_;
    const Made& m = *targets[Pick(targets.size())];
    op.record = *p.host.KeyOfId(m.id);
    const tools::Type* type = TypeNamed(p, m.type);
    if (!type) return {};
    if (r < 40) {
      std::vector<const tools::Field*> fields;
      for (const tools::Field& f : type->fields) {
        if (!f.computed && f.kind != FieldKind::kList && f.kind != FieldKind::kCounter &&
            f.kind != FieldKind::kStock && (!f.readonly || Pick(10) == 0)) {
          fields.push_back(&f);
        }
      }
      if (fields.empty()) return {};
      const tools::Field& f = *fields[Pick(fields.size())];
      auto v = ValueFor(f, f.kind);
      if (!v) return {};
      op.kind = OpKind::kSet;
      op.name = p.Name(f.name);
      op.value = std::move(*v);
      return {op};
    }
    if (r < 80) {
      // Mostly one that the rules let through (tried in a random order), else any.
      if (type->transitions.empty()) return {};
      std::vector<const tools::Transition*> order;
      for (const tools::Transition& t : type->transitions) order.push_back(&t);
      std::shuffle(order.begin(), order.end(), rng_);
      if (Pick(5) != 0) {  // mostly forward: the ways out last
        std::stable_partition(order.begin(), order.end(), [](const tools::Transition* t) {
          return t->name != "cancel" && t->name != "withdraw" && t->name != "decline" &&
                 t->name != "reject" && t->name != "close_short";
        });
      }
      if (Pick(4) == 0) order.resize(1);
      std::vector<std::pair<uint32_t, Value>> inputs;
      Result<std::vector<Op>> plan = NotFound("");
      for (const tools::Transition* t : order) {
        inputs.clear();
        for (const tools::Input& in : t->inputs) {
          const tools::Field* f = type->FindField(in.field);
          if (!f || (!in.required && Pick(2) == 0)) continue;
          if (auto v = ValueFor(*f, f->kind)) inputs.emplace_back(p.Name(in.field), std::move(*v));
        }
        plan = p.rules->PlanTransition(p.dev[d], RoleOf(d), past, op.record, t->name, inputs, hlc);
        op.name = p.Name(t->name);
        if (plan.ok()) break;
      }
      op.kind = OpKind::kTransition;
      std::vector<Op> out{op};
      if (plan.ok()) {
        for (Op& sub : *plan) out.push_back(std::move(sub));
      } else {
        for (const auto& [field, value] : inputs) {  // refused: with its inputs, as sent
          Op in;
          in.kind = OpKind::kSet;
          in.hlc = hlc;
          in.record = op.record;
          in.name = field;
          in.value = value;
          out.push_back(std::move(in));
        }
      }
      out[0].effects = static_cast<uint32_t>(out.size() - 1);
      return out;
    }
    if (r < 88) {
      std::vector<const tools::Field*> lists;
      for (const tools::Field& f : type->fields) {
        if (f.kind == FieldKind::kList) lists.push_back(&f);
      }
      if (lists.empty()) return {};
      const tools::Field& f = *lists[Pick(lists.size())];
      auto v = ValueFor(f, f.of);
      if (!v) return {};
      op.kind = OpKind::kAppend;
      op.name = p.Name(f.name);
      op.value = std::move(*v);
      return {op};
    }
    if (r < 94) {
      op.kind = OpKind::kGrant;
      op.name = p.Name(Rules::CounterName("on_hand", Pick(2) ? "north" : "south"));
      op.amount = 1 + static_cast<int64_t>(Pick(2));
      op.to = p.dev[(d + 1 + Pick(kDevices - 1)) % kDevices];
      return {op};
    }
    if (r < 97) {
      op.kind = OpKind::kArchive;
      return {op};
    }
    const int64_t version = 2 + static_cast<int64_t>(Pick(3));
    op.kind = OpKind::kUpgrade;
    op.record = RecordKey{p.dev[d], 0};
    op.name = p.Name("service");
    op.value.v = tools::Canonical(ServiceUpgrade(version, Pick(2) == 0));
    return {op};
  }

 private:
  uint64_t Pick(uint64_t n) { return rng_() % n; }

  static const tools::Type* TypeNamed(Peer& p, const std::string& name) {
    for (const tools::Tool& t : p.rules->CurrentTools()) {
      if (const tools::Type* type = t.FindType(name)) return type;
    }
    return nullptr;
  }

  // A value for field `f` (of kind `kind`: the item kind for a list), now and then a wrong one.
  std::optional<Value> ValueFor(const tools::Field& f, FieldKind kind) {
    switch (kind) {
      case FieldKind::kText: {
        if (f.name.find("location") != std::string::npos) return Value(Pick(2) ? "north" : "south");
        static const char* const kTexts[] = {"A-1", "Widget", "ok", "delayed", "", "Acme Ltd"};
        std::string s = kTexts[Pick(6)];
        if (f.max && static_cast<int64_t>(s.size()) > *f.max) s.resize(static_cast<size_t>(*f.max));
        return Value(s);
      }
      case FieldKind::kInteger: {
        if (Pick(20) == 0) return Value(int64_t{-1});
        int64_t v = f.min.value_or(0) + static_cast<int64_t>(Pick(6));
        if (f.max) v = std::min(v, *f.max);
        return Value(v);
      }
      case FieldKind::kMoney: {
        std::string currency = !f.currency.empty() ? f.currency : Pick(10) ? "EUR" : "USD";
        return Value(Money{100 * (1 + static_cast<int64_t>(Pick(3000))), currency});
      }
      case FieldKind::kDate:
        return Value("2026-03-1" + std::to_string(Pick(10)));
      case FieldKind::kTime: {
        static const int64_t kOffsets[] = {-60'000, -1'000, 30'000, 120'000, 600'000};
        return Value(ms_ + kOffsets[Pick(5)]);
      }
      case FieldKind::kFlag:
        return Value(Pick(10) == 0);
      case FieldKind::kEnum:
        if (f.values.empty()) return std::nullopt;
        return Value(f.values[Pick(f.values.size())]);
      case FieldKind::kReference: {
        std::vector<const Made*> targets;
        for (const Made* m : in_past_) {
          if (m->type == f.to) targets.push_back(m);
        }
        if (targets.empty()) return std::nullopt;
        return Value(targets[Pick(targets.size())]->id);
      }
      case FieldKind::kMember: {
        const DeviceId& id = devices_[Pick(kDevices)];
        Value v;
        v.v = Bytes(id.begin(), id.end());
        return v;
      }
      case FieldKind::kAttachment: {
        Value v;
        v.v = Bytes(32, static_cast<uint8_t>(Pick(256)));
        return v;
      }
      default:
        return std::nullopt;
    }
  }

  std::mt19937_64& rng_;
  const std::vector<DeviceId>& devices_;
  std::vector<const Made*> in_past_;
  int64_t ms_ = 0;
};

// A delta of the history: its author and seq (simulated), causal context (by simulated device;
// vv[dev] = seq - 1) and ops (in the generator's names; its device indices are the simulated
// ones).
struct Delta {
  uint32_t dev = 0;
  uint64_t seq = 0;
  std::vector<uint64_t> vv;
  std::vector<Op> ops;
};

// A random history on kDevices devices, each judged in its own causal past by a generating peer
// as it is made (only accepted actions go into deltas). Devices sync in pairs now and then;
// device 3 stays offline from 35% to 80% of the steps.
class History {
 public:
  explicit History(uint64_t seed) : rng(seed), actions(rng, devices) {
    for (uint32_t d = 0; d < kDevices; ++d) {
      DeviceId id;
      for (uint8_t& b : id) b = static_cast<uint8_t>(rng());
      devices.push_back(id);
    }
    std::vector<size_t> order;
    for (size_t d = 0; d < kDevices; ++d) order.push_back(d);
    gen = std::make_unique<Peer>(devices, order, std::vector<std::string>{}, ShippedAndProbe());
    known.assign(kDevices, std::vector<uint64_t>(kDevices, 0));
  }

  void Run(int steps) {
    for (int step = 0; step < steps; ++step) {
      const bool offline = step >= steps * 35 / 100 && step < steps * 80 / 100;
      if (step == steps * 35 / 100) offline_at = known[3];
      if (step == steps * 70 / 100) snapshot = known;
      const uint32_t d = static_cast<uint32_t>(rng() % kDevices);
      if (rng() % 4 == 0) {
        const uint32_t other = static_cast<uint32_t>(rng() % kDevices);
        if (offline && (d == 3 || other == 3)) continue;
        for (uint32_t e = 0; e < kDevices; ++e) {
          known[d][e] = known[other][e] = std::max(known[d][e], known[other][e]);
        }
        continue;
      }
      Seal(d);
    }
  }

  // A downward-closed version vector: the heads devices 0-2 had at 70% of the run and device
  // 3's when it went offline, lowered until every delta under it has its past under it.
  std::vector<uint64_t> Cut() const {
    std::vector<uint64_t> v(kDevices);
    for (uint32_t d = 0; d < kDevices; ++d) v[d] = d == 3 ? offline_at[3] : snapshot[d][d];
    return Close(v);
  }
  std::vector<uint64_t> Close(std::vector<uint64_t> v) const {
    for (bool changed = true; changed;) {
      changed = false;
      for (uint32_t d = 0; d < kDevices; ++d) {
        while (v[d] > 0 && !Covers(v, At(d, v[d]).vv)) {
          --v[d];
          changed = true;
        }
      }
    }
    return v;
  }
  std::vector<uint64_t> Heads() const {
    std::vector<uint64_t> v(kDevices);
    for (uint32_t d = 0; d < kDevices; ++d) v[d] = known[d][d];
    return v;
  }
  static bool Covers(const std::vector<uint64_t>& v, const std::vector<uint64_t>& vv) {
    for (size_t e = 0; e < vv.size(); ++e) {
      if (vv[e] > v[e]) return false;
    }
    return true;
  }
  static bool Under(const std::vector<uint64_t>& v, const Delta& d) { return d.seq <= v[d.dev]; }
  const Delta& At(uint32_t dev, uint64_t seq) const { return deltas[index.at({dev, seq})]; }

  std::mt19937_64 rng;
  std::vector<DeviceId> devices;
  Actions actions;
  std::unique_ptr<Peer> gen;
  std::vector<std::vector<uint64_t>> known;  // per device, the deltas it has: vv[d] = its head
  std::vector<std::vector<uint64_t>> snapshot;
  std::vector<uint64_t> offline_at;
  std::vector<Delta> deltas;  // in the order they were made: a causal order
  std::map<std::pair<uint32_t, uint64_t>, size_t> index;
  std::vector<Made> made;
  std::vector<uint64_t> next_n = std::vector<uint64_t>(kDevices, 1);
  uint64_t ms = 1'700'000'000'000;

 private:
  void Seal(uint32_t d) {
    const uint64_t seq = known[d][d] + 1;
    const std::vector<uint64_t> vv = known[d];
    ms += 1'000 + rng() % 15'000;
    const Past past{&vv, d, seq};
    std::vector<Op> ops;
    for (uint64_t a = 1 + rng() % 3; a > 0; --a) {
      std::optional<Made> created;
      std::vector<Op> action =
          actions.Make(*gen, d, past, vv, seq, (ms << 16) + ops.size(), next_n[d], made, &created);
      if (action.empty()) continue;
      Status s = gen->rules->Check(d, RoleOf(d), past, action, static_cast<uint32_t>(ops.size()));
      if (!s.ok()) continue;
      if (created) {
        made.push_back(*created);
        ++next_n[d];
      }
      for (Op& op : action) ops.push_back(std::move(op));
    }
    if (ops.empty()) return;
    gen->host.NoteDelta(d, seq, vv);
    index[{d, seq}] = deltas.size();
    deltas.push_back(Delta{d, seq, vv, std::move(ops)});
    known[d][d] = seq;
  }
};

// Judges delta `dl` of history `h` on peer `p` (in `base`, a simulated version vector, when
// given); applies its ops to the peer's table when they pass.
Status Replay(Peer& p, History& h, const Delta& dl, const std::vector<uint64_t>* base) {
  const std::vector<uint64_t> vv = p.Vv(dl.vv);
  const std::vector<uint64_t> b = base ? p.Vv(*base) : std::vector<uint64_t>{};
  const uint32_t dev = p.dev[dl.dev];
  p.host.NoteDelta(dev, dl.seq, vv);
  std::vector<Op> ops = Translate(dl.ops, *h.gen, p);
  Status s = p.rules->Check(dev, RoleOf(dl.dev), Past{&vv, dev, dl.seq, base ? &b : nullptr}, ops);
  if (s.ok()) {
    for (uint32_t i = 0; i < ops.size(); ++i) {
      ApplyOp(p.host.mutable_table(), ops[i], Stamp{ops[i].hlc, dev, dl.seq, i});
    }
  }
  return s;
}

void ApplyOnly(Peer& p, History& h, const Delta& dl) {
  const uint32_t dev = p.dev[dl.dev];
  p.host.NoteDelta(dev, dl.seq, p.Vv(dl.vv));
  std::vector<Op> ops = Translate(dl.ops, *h.gen, p);
  for (uint32_t i = 0; i < ops.size(); ++i) {
    ApplyOp(p.host.mutable_table(), ops[i], Stamp{ops[i].hlc, dev, dl.seq, i});
  }
}

std::vector<size_t> Shuffled(size_t n, std::mt19937_64& rng) {
  std::vector<size_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = i;
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

// Names a peer interned before anything else, in a random order.
std::vector<std::string> ShuffledNames(std::mt19937_64& rng) {
  std::vector<std::string> out = {"on_hand#north", "order", "item", "state", "zeta", "comments",
                                  "quantity",      "post",  "lot",  "bids",  "case", "note"};
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

::testing::AssertionResult SameStatus(const Status& a, const Status& b) {
  if (a.code() == b.code() && a.message() == b.message() && a.where() == b.where()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "whole journal: " << Show(a) << "; summary: " << Show(b);
}

TEST(RulesSummaryTest, ASummaryJudgesLikeTheWholeJournalInEveryPastAboveItsBase) {
  const uint64_t seed = SeedFromEnv(20261201, "ASummaryJudgesLikeTheWholeJournal");
  SCOPED_TRACE("seed " + std::to_string(seed));
  History h(seed);
  h.Run(1500);
  const std::vector<uint64_t> v = h.Cut();
  std::mt19937_64 rng(seed ^ 0x5eed);

  size_t under = 0, concurrent = 0;
  for (const Delta& dl : h.deltas) {
    if (History::Under(v, dl)) {
      ++under;
    } else if (!History::Covers(dl.vv, v)) {
      ++concurrent;
    }
  }
  std::printf("%zu deltas, %zu under V, %zu after V concurrent with it, %zu records\n",
              h.deltas.size(), under, concurrent, h.made.size());
  std::map<OpKind, int> kinds;
  for (const Delta& dl : h.deltas) {
    for (const Op& op : dl.ops) ++kinds[op.kind];
  }
  std::printf(
      "ops: %d creates, %d sets, %d adds, %d appends, %d transitions, %d archives, %d grants, %d "
      "upgrades\n",
      kinds[OpKind::kCreate], kinds[OpKind::kSet], kinds[OpKind::kAdd], kinds[OpKind::kAppend],
      kinds[OpKind::kTransition], kinds[OpKind::kArchive], kinds[OpKind::kGrant],
      kinds[OpKind::kUpgrade]);
  EXPECT_GT(kinds[OpKind::kTransition], 100);
  EXPECT_GT(kinds[OpKind::kAdd], 10);
  EXPECT_GT(kinds[OpKind::kAppend], 20);
  EXPECT_GT(kinds[OpKind::kGrant], 0);
  ASSERT_GT(under, 40u);
  ASSERT_LT(under, h.deltas.size());
  ASSERT_GT(concurrent, 0u);

  // The peer with the whole journal: the deltas under V in their own past, then the others in
  // past ∪ V (decision 0011, rule 2).
  Peer full(h.devices, Shuffled(kDevices, rng), ShuffledNames(rng), ShippedAndProbe());
  for (const Delta& dl : h.deltas) {
    if (History::Under(v, dl)) ASSERT_OK(Replay(full, h, dl, nullptr));
  }
  std::vector<Status> verdicts;
  size_t refused_after = 0;
  for (const Delta& dl : h.deltas) {
    if (History::Under(v, dl)) continue;
    verdicts.push_back(Replay(full, h, dl, &v));
    if (!verdicts.back().ok()) ++refused_after;
  }
  std::printf("%zu of the deltas after V refused in past ∪ V\n", refused_after);

  const Bytes summary = full.rules->Summarize(full.Vv(v));
  std::printf("summary: %zu bytes\n", summary.size());
  // Canonical: the generator journaled the same ops under V interleaved with the others, judged
  // in their own pasts, with other local indices.
  EXPECT_EQ(h.gen->rules->Summarize(v), summary);

  // The peer from the checkpoint: the summary, the table rows under V, then the same deltas.
  Peer from(h.devices, Shuffled(kDevices, rng), ShuffledNames(rng), ShippedAndProbe());
  ASSERT_OK(from.rules->LoadSummary(summary));
  for (const Delta& dl : h.deltas) {
    if (History::Under(v, dl)) ApplyOnly(from, h, dl);
  }
  size_t k = 0;
  for (const Delta& dl : h.deltas) {
    if (History::Under(v, dl)) continue;
    EXPECT_TRUE(SameStatus(verdicts[k++], Replay(from, h, dl, &v)))
        << "delta " << dl.dev << "/" << dl.seq;
  }
  // Its own summary at V is the one it started from.
  EXPECT_EQ(from.rules->Summarize(from.Vv(v)), summary);

  // Candidates in past (vv ∪ V) of each device: every verdict, and every plan, the same.
  int accepted = 0, refused = 0, plans = 0;
  for (int c = 0; c < 300; ++c) {
    SCOPED_TRACE("candidate " + std::to_string(c));
    const uint32_t d = static_cast<uint32_t>(rng() % kDevices);
    std::vector<uint64_t> vv = h.known[d];
    for (uint32_t e = 0; e < kDevices; ++e) vv[e] = std::max(vv[e], v[e]);
    const uint64_t seq = 1'000'000 + static_cast<uint64_t>(c);  // in no one's past
    const uint64_t hlc = (h.ms + 1'000 + static_cast<uint64_t>(c)) << 16;
    const std::vector<uint64_t> fvv = full.Vv(h.known[d]), fv = full.Vv(v);
    const std::vector<uint64_t> svv = from.Vv(h.known[d]), sv = from.Vv(v);
    const Past pf{&fvv, full.dev[d], seq, &fv}, ps{&svv, from.dev[d], seq, &sv};

    // A transition's plan, with no inputs (refused when it needs some) and as an action.
    const Made& m = h.made[rng() % h.made.size()];
    if (auto kf = full.host.KeyOfId(m.id)) {
      for (const tools::Tool& t : full.rules->CurrentTools()) {
        const tools::Type* type = t.FindType(m.type);
        if (!type || type->transitions.empty()) continue;
        const std::string& name = type->transitions[rng() % type->transitions.size()].name;
        auto a = full.rules->PlanTransition(full.dev[d], RoleOf(d), pf, *kf, name, {}, hlc);
        auto b = from.rules->PlanTransition(from.dev[d], RoleOf(d), ps, *from.host.KeyOfId(m.id),
                                            name, {}, hlc);
        EXPECT_TRUE(SameStatus(a.status(), b.status())) << m.type << "." << name;
        if (a.ok() && b.ok()) {
          EXPECT_TRUE(SameOps(Translate(*a, full, from), *b)) << m.type << "." << name;
          ++plans;
        }
      }
    }

    std::optional<Made> created;
    std::vector<Op> ops = h.actions.Make(full, d, pf, vv, seq, hlc, seq, h.made, &created);
    if (ops.empty()) continue;
    std::vector<Op> theirs = Translate(ops, full, from);
    const Status a = full.rules->Check(full.dev[d], RoleOf(d), pf, ops);
    const Status b = from.rules->Check(from.dev[d], RoleOf(d), ps, theirs);
    EXPECT_TRUE(SameStatus(a, b)) << "op kind " << static_cast<int>(ops[0].kind);
    (a.ok() ? accepted : refused)++;
  }
  std::printf("candidates: %d accepted, %d refused, %d plans compared\n", accepted, refused, plans);
  EXPECT_GT(accepted, 20);
  EXPECT_GT(refused, 20);
  EXPECT_GT(plans, 10);

  // Reading over everything applied.
  ASSERT_EQ(full.rules->CurrentTools().size(), from.rules->CurrentTools().size());
  for (size_t i = 0; i < full.rules->CurrentTools().size(); ++i) {
    EXPECT_EQ(full.rules->CurrentTools()[i].name, from.rules->CurrentTools()[i].name);
    EXPECT_EQ(full.rules->CurrentTools()[i].version, from.rules->CurrentTools()[i].version);
  }
  int states = 0;
  for (const Made& m : h.made) {
    SCOPED_TRACE(m.type + " " + m.id.Text());
    const RecordKey kf = *full.host.KeyOfId(m.id), ks = *from.host.KeyOfId(m.id);
    EXPECT_EQ(full.rules->Computed(kf), from.rules->Computed(ks));
    for (uint32_t e = 0; e < kDevices; ++e) {
      auto a = full.rules->Transitions(full.dev[e], RoleOf(e), kf);
      auto b = from.rules->Transitions(from.dev[e], RoleOf(e), ks);
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].name, b[i].name);
        EXPECT_TRUE(SameStatus(a[i].verdict, b[i].verdict)) << a[i].name;
      }
      for (const char* location : {"north", "south"}) {
        const std::string counter = Rules::CounterName("on_hand", location);
        EXPECT_EQ(full.rules->RightsOf(kf, full.Name(counter), full.dev[e]),
                  from.rules->RightsOf(ks, from.Name(counter), from.dev[e]));
      }
    }
    const Record* rf = full.host.table().Find(kf);
    const Record* rs = from.host.table().Find(ks);
    ASSERT_EQ(rf == nullptr, rs == nullptr);
    if (rf && rf->exists && full.rules->Governs(rf->type)) {
      EXPECT_EQ(full.rules->StateOf(rf->type, *rf), from.rules->StateOf(rs->type, *rs));
      ++states;
    }
  }
  EXPECT_GT(states, 20);
}

TEST(RulesSummaryTest, TheSameOpsInAnotherCausalOrderSummarizeToTheSameBytes) {
  const uint64_t seed = SeedFromEnv(20261202, "TheSameOpsInAnotherCausalOrder");
  SCOPED_TRACE("seed " + std::to_string(seed));
  History h(seed);
  h.Run(300);
  std::mt19937_64 rng(seed ^ 0xcafe);

  // Another peer takes the deltas in a random order that respects causality, with devices and
  // names interned in another order.
  Peer other(h.devices, Shuffled(kDevices, rng), ShuffledNames(rng), ShippedAndProbe());
  std::vector<uint64_t> have(kDevices, 0);
  std::vector<const Delta*> left;
  for (const Delta& dl : h.deltas) left.push_back(&dl);
  bool reordered = false;
  size_t position = 0;
  while (!left.empty()) {
    std::vector<size_t> ready;
    for (size_t i = 0; i < left.size(); ++i) {
      if (left[i]->seq == have[left[i]->dev] + 1 && History::Covers(have, left[i]->vv)) {
        ready.push_back(i);
      }
    }
    ASSERT_FALSE(ready.empty());
    const size_t i = ready[rng() % ready.size()];
    const Delta& dl = *left[i];
    if (&dl != &h.deltas[position]) reordered = true;
    ++position;
    ASSERT_OK(Replay(other, h, dl, nullptr));
    have[dl.dev] = dl.seq;
    left.erase(left.begin() + static_cast<std::ptrdiff_t>(i));
  }
  ASSERT_TRUE(reordered);

  const std::vector<uint64_t> cuts[] = {h.Heads(), h.Cut(), h.Close({3, 5, 2, 4}),
                                        std::vector<uint64_t>(kDevices, 0)};
  std::vector<Bytes> seen;
  for (const auto& v : cuts) {
    const Bytes mine = h.gen->rules->Summarize(v);
    EXPECT_EQ(other.rules->Summarize(other.Vv(v)), mine);
    seen.push_back(mine);
  }
  EXPECT_NE(seen[0], seen[1]);
  EXPECT_NE(seen[1], seen[3]);
}

// A tool whose fields take direct adds and grants, for histories of one record.
constexpr char kTally[] = R"yaml(tool: tally
version: 1
title: Tally
types:
  tally:
    fields:
      label: {type: text, required: true, max: 64}
      count: {type: counter}
      stock: {type: stock}
      total: {type: integer, computed: "record.count + record.stock"}
)yaml";

tools::Tool Tally() {
  auto parsed = tools::ParseTool(kTally, "tally.yaml");
  for (const auto& d : parsed.diagnostics) ADD_FAILURE() << d.Text();
  return *parsed.tool;
}

// One record on three devices that all see everything: a create, then `rounds` deltas, each by
// the next device: an increment, a set, stock added and, every fifth, rights granted on.
struct TallyRun {
  explicit TallyRun(int rounds, std::vector<size_t> order = {0, 1, 2}) {
    for (uint8_t d = 0; d < 3; ++d) devices.push_back(DeviceId{static_cast<uint8_t>(0x40 + d)});
    peer = std::make_unique<Peer>(devices, order, std::vector<std::string>{},
                                  std::vector<tools::Tool>{Tally()});
    heads.assign(3, 0);
    Op create;
    create.kind = OpKind::kCreate;
    create.record = RecordKey{peer->dev[0], 1};
    create.name = peer->Name("tally");
    create.fields = {{peer->Name("label"), Value("start")}};
    Seal(0, {create});
    for (int i = 0; i < rounds; ++i) {
      const uint32_t d = static_cast<uint32_t>(i % 3);
      std::vector<Op> ops(3);
      ops[0].kind = OpKind::kAdd;
      ops[0].name = peer->Name("count");
      ops[0].amount = i % 4 == 3 ? -1 : 1;
      ops[1].kind = OpKind::kSet;
      ops[1].name = peer->Name("label");
      ops[1].value = Value("v" + std::to_string(i));
      ops[2].kind = OpKind::kAdd;
      ops[2].name = peer->Name("stock");
      ops[2].amount = 2;
      if (i % 5 == 4) {  // to each of the two others in turn
        Op grant;
        grant.kind = OpKind::kGrant;
        grant.name = peer->Name("stock");
        grant.amount = 1;
        grant.to = peer->dev[(d + 1 + static_cast<uint32_t>(i / 5) % 2) % 3];
        ops.push_back(grant);
      }
      for (Op& op : ops) op.record = key();
      Seal(d, ops);
    }
  }
  RecordKey key() const { return RecordKey{peer->dev[0], 1}; }
  void Seal(uint32_t d, std::vector<Op> ops) {
    const uint64_t seq = heads[d] + 1;
    const std::vector<uint64_t> vv = peer->Vv(heads);
    hlc += 1 << 16;
    for (Op& op : ops) op.hlc = hlc;
    Status s = peer->rules->Check(peer->dev[d], Role::kMember, Past{&vv, peer->dev[d], seq}, ops);
    EXPECT_TRUE(s.ok()) << s.ToString();
    peer->host.NoteDelta(peer->dev[d], seq, vv);
    heads[d] = seq;
  }
  std::vector<DeviceId> devices;
  std::unique_ptr<Peer> peer;
  std::vector<uint64_t> heads;
  uint64_t hlc = uint64_t{1'700'000'000'000} << 16;
};

TEST(RulesSummaryTest, ASummaryDoesNotGrowWithARecordsHistory) {
  TallyRun small(30), large(1'000);
  const Bytes a = small.peer->rules->Summarize(small.peer->Vv(small.heads));
  const Bytes b = large.peer->rules->Summarize(large.peer->Vv(large.heads));
  std::printf("summary after 30 rounds: %zu bytes; after 1,000: %zu bytes\n", a.size(), b.size());
  // One create, one label, three increments and three stock adds (one per device), six grants
  // (one per ordered pair): only their varints (seqs, sums) grow, by a few bytes in all.
  EXPECT_LT(b.size(), 600u);
  EXPECT_LE(b.size(), a.size() + 32);

  // And it still reads as the whole journal does, for a later op too.
  Peer from(large.devices, {2, 0, 1}, {}, {Tally()});
  ASSERT_OK(from.rules->LoadSummary(b));
  const RecordKey kf = large.key(), ks{from.dev[0], 1};
  EXPECT_EQ(large.peer->rules->Computed(kf), from.rules->Computed(ks));
  EXPECT_EQ(std::get<int64_t>(from.rules->Computed(ks).at("total").v),
            1'000 - 2 * (1'000 / 4) + 2 * 1'000);
  for (uint32_t d = 0; d < 3; ++d) {
    const int64_t rights =
        large.peer->rules->RightsOf(kf, large.peer->Name("stock"), large.peer->dev[d]);
    EXPECT_EQ(rights, from.rules->RightsOf(ks, from.Name("stock"), from.dev[d]));
    // Taking exactly the rights passes, one more is refused, alike.
    for (int64_t take : {rights, rights + 1}) {
      Op op;
      op.kind = OpKind::kAdd;
      op.hlc = large.hlc + (uint64_t{1} << 20);
      op.record = kf;
      op.name = large.peer->Name("stock");
      op.amount = -take;
      const std::vector<uint64_t> vf = large.peer->Vv(large.heads), vs = from.Vv(large.heads);
      const uint64_t seq = 1'000'000 + static_cast<uint64_t>(take);
      Status x = large.peer->rules->Check(large.peer->dev[d], Role::kMember,
                                          Past{&vf, large.peer->dev[d], seq, &vf}, {op});
      Status y = from.rules->Check(from.dev[d], Role::kMember, Past{&vs, from.dev[d], seq, &vs},
                                   {Translate(op, *large.peer, from)});
      EXPECT_TRUE(SameStatus(x, y));
      EXPECT_EQ(x.ok(), take == rights) << x.ToString();
    }
  }
}

TEST(RulesSummaryTest, MalformedSummariesAreCorruptionAndLeaveTheRulesCleared) {
  const uint64_t seed = SeedFromEnv(20261203, "MalformedSummaries");
  std::mt19937_64 rng(seed);
  TallyRun run(40);
  const Bytes tally = run.peer->rules->Summarize(run.peer->Vv(run.heads));
  History h(seed);
  h.Run(150);
  const Bytes history = h.gen->rules->Summarize(h.Heads());

  auto check = [&](const std::vector<tools::Tool>& tools, const std::vector<DeviceId>& devices,
                   const Bytes& good, const std::vector<Bytes>& bad_ones, bool all_bad) {
    Peer p(devices, Shuffled(devices.size(), rng), {}, tools);
    const Bytes empty = p.rules->Summarize(std::vector<uint64_t>(devices.size(), UINT64_MAX));
    size_t corrupt = 0;
    for (const Bytes& bytes : bad_ones) {
      const size_t device_count = p.host.device_count();
      Status s = p.rules->LoadSummary(bytes);
      if (s.ok()) {
        EXPECT_FALSE(all_bad) << "accepted " << bytes.size() << " bytes";
        continue;
      }
      ++corrupt;
      EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
      // Cleared, and nothing taken from the bytes (no device interned).
      EXPECT_EQ(p.rules->Summarize(std::vector<uint64_t>(devices.size(), UINT64_MAX)), empty);
      EXPECT_EQ(p.host.device_count(), device_count);
    }
    // The good bytes still load, and give themselves back.
    Status s = p.rules->LoadSummary(good);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(p.rules->Summarize(std::vector<uint64_t>(p.host.device_count(), UINT64_MAX)), good);
    return corrupt;
  };

  // Every truncation of the small one, a sample of the large one's, and trailing bytes.
  std::vector<Bytes> truncated;
  for (size_t n = 0; n < tally.size(); ++n)
    truncated.emplace_back(tally.begin(), tally.begin() + n);
  Bytes longer = tally;
  longer.push_back(0);
  truncated.push_back(longer);
  check({Tally()}, run.devices, tally, truncated, true);
  truncated.clear();
  for (int i = 0; i < 300; ++i) {
    const size_t n = rng() % history.size();
    truncated.emplace_back(history.begin(), history.begin() + static_cast<std::ptrdiff_t>(n));
  }
  check(ShippedAndProbe(), h.devices, history, truncated, true);

  // Garbled: bytes flipped at random places, and random bytes after a valid format byte. They
  // may happen to decode; what matters is that nothing else happens (run under ASan/UBSan).
  for (const Bytes* base : {&tally, &history}) {
    std::vector<Bytes> garbled;
    for (int i = 0; i < 400; ++i) {
      Bytes b = *base;
      for (uint64_t f = 1 + rng() % 3; f > 0; --f) {
        b[rng() % b.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
      }
      garbled.push_back(std::move(b));
    }
    for (int i = 0; i < 200; ++i) {
      Bytes b(1 + rng() % 200);
      for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
      b[0] = 1;
      garbled.push_back(std::move(b));
    }
    const size_t corrupt = base == &tally
                               ? check({Tally()}, run.devices, tally, garbled, false)
                               : check(ShippedAndProbe(), h.devices, history, garbled, false);
    EXPECT_GT(corrupt, 300u);
  }
}

TEST(RulesSummaryTest, AnOlderConcurrentUpgradeStillDefinesTheTypeOnlyItHas) {
  // Owners 0 and 1 upgrade the service tool without seeing each other's upgrade: 0 to version 2
  // with a type `note`, 1 to version 3 without it. In a past holding both, version 3 is the tool
  // in force and `note` is still defined, by version 2.
  const std::vector<DeviceId> devices = {DeviceId{1}, DeviceId{2}, DeviceId{3}};
  Peer full(devices, {0, 1, 2}, {}, ShippedAndProbe());
  const uint64_t hlc = uint64_t{1'700'000'000'000} << 16;
  auto upgrade = [&](uint32_t d, int64_t version, bool note) {
    Op op;
    op.kind = OpKind::kUpgrade;
    op.hlc = hlc + d;
    op.record = RecordKey{full.dev[d], 0};
    op.name = full.Name("service");
    op.value.v = tools::Canonical(ServiceUpgrade(version, note));
    return op;
  };
  const std::vector<uint64_t> none(3, 0);
  ASSERT_OK(full.rules->Check(full.dev[0], Role::kOwner, Past{&none, full.dev[0], 1},
                              {upgrade(0, 2, true)}));
  ASSERT_OK(full.rules->Check(full.dev[1], Role::kOwner, Past{&none, full.dev[1], 1},
                              {upgrade(1, 3, false)}));
  const std::vector<uint64_t> v = {1, 1, 0};
  const Bytes summary = full.rules->Summarize(full.Vv(v));

  Peer from(devices, {2, 1, 0}, {}, ShippedAndProbe());
  ASSERT_OK(from.rules->LoadSummary(summary));
  for (Peer* p : {&full, &from}) {
    Op note;
    note.kind = OpKind::kCreate;
    note.hlc = hlc + 10;
    note.record = RecordKey{p->dev[2], 1};
    note.name = p->Name("note");
    note.fields = {{p->Name("text"), Value("hello")}};
    const std::vector<uint64_t> vv = p->Vv({0, 0, 0}), base = p->Vv(v);
    Status s = p->rules->Check(p->dev[2], Role::kMember, Past{&vv, p->dev[2], 1, &base}, {note});
    EXPECT_TRUE(s.ok()) << s.ToString();
    const tools::Tool* service = nullptr;
    for (const tools::Tool& t : p->rules->CurrentTools()) {
      if (t.name == "service") service = &t;
    }
    ASSERT_NE(service, nullptr);
    EXPECT_EQ(service->version, 3);
  }
  EXPECT_EQ(from.rules->Summarize(from.Vv(v)), summary);
}

TEST(RulesSummaryTest, ThePastSeesEverythingUnderItsBase) {
  const std::vector<uint64_t> vv = {3, 0}, base = {1, 5};
  const Past with{&vv, 1, 1, &base}, without{&vv, 1, 1};
  EXPECT_TRUE(with.Contains(Stamp{0, 1, 5, 0}));
  EXPECT_FALSE(without.Contains(Stamp{0, 1, 5, 0}));
  EXPECT_FALSE(with.Contains(Stamp{0, 1, 6, 0}));
  EXPECT_TRUE(with.Contains(Stamp{0, 0, 3, 0}));
  EXPECT_FALSE(with.Contains(Stamp{0, 0, 4, 0}));
  EXPECT_FALSE(with.Contains(Stamp{0, 2, 1, 0}));  // a device neither knows
  const Past everything{nullptr, 0, 0, &base};
  EXPECT_TRUE(everything.Contains(Stamp{0, 7, 9, 0}));
}

}  // namespace
}  // namespace grove::replica
