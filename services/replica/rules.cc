#include "replica/rules.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <tuple>

#include "replica/sealed_bid.h"

namespace grove::replica {
namespace {

using tools::FieldKind;

constexpr int kMaxTransitionDepth = 4;
constexpr int kMaxComputedDepth = 8;

const char* KindName(const Value& v) {
  switch (v.v.index()) {
    case 0:
      return "null";
    case 1:
      return "integer";
    case 2:
      return "text";
    case 3:
      return "money";
    case 4:
      return "flag";
    case 5:
      return "bytes";
    case 6:
      return "reference";
  }
  return "?";
}

bool ValidDate(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  int month = (s[5] - '0') * 10 + (s[6] - '0');
  int day = (s[8] - '0') * 10 + (s[9] - '0');
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

bool Contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

std::string Joined(const std::vector<std::string>& list) {
  std::string out;
  for (const std::string& s : list) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Splits "field#key" (a keyed stock counter) into its parts.
std::pair<std::string_view, std::string_view> SplitCounter(std::string_view name) {
  size_t hash = name.find('#');
  if (hash == std::string_view::npos) return {name, {}};
  return {name.substr(0, hash), name.substr(hash + 1)};
}

bool SameOp(const Op& a, const Op& b) {
  if (a.kind != b.kind || a.name != b.name) return false;
  if (a.kind == OpKind::kCreate) {
    auto fa = a.fields, fb = b.fields;
    std::sort(fa.begin(), fa.end());
    std::sort(fb.begin(), fb.end());
    return fa == fb;
  }
  return a.record == b.record && a.value == b.value && a.amount == b.amount && a.to == b.to &&
         a.effects == b.effects;
}

}  // namespace

// The names an evaluation binds (record, input, value, for_each names): a handful at most, so a
// vector searched in order, without the allocation per name a std::map costs.
class Bindings {
 public:
  using Item = std::pair<std::string, expr::Value>;
  using iterator = std::vector<Item>::iterator;
  iterator find(std::string_view name) {
    return std::find_if(items_.begin(), items_.end(),
                        [name](const Item& i) { return i.first == name; });
  }
  iterator end() { return items_.end(); }
  expr::Value& operator[](std::string_view name) {
    auto it = find(name);
    if (it != items_.end()) return it->second;
    return items_.emplace_back(std::string(name), expr::Value()).second;
  }
  void erase(std::string_view name) {
    auto it = find(name);
    if (it != items_.end()) items_.erase(it);
  }

 private:
  std::vector<Item> items_;
};

// --- The record as of a causal past ------------------------------------------------------------

// One expression evaluation over a causal past: resolves records, inputs and list entries to
// handles, and implements the engine's functions.
class Evaluation final : public expr::Environment {
 public:
  Evaluation(Rules& rules, const Past& past, uint32_t actor, Role role, uint64_t hlc)
      : rules_(rules), past_(past), actor_(actor), role_(role), hlc_(hlc) {}

  void Bind(std::string_view name, expr::Value v) { bindings_[name] = std::move(v); }
  void BindRecord(std::string_view name, RecordKey key) { Bind(name, RecordValue(key)); }
  void BindInputs(const std::vector<std::pair<uint32_t, Value>>& inputs) {
    Object o;
    o.kind = Object::kInput;
    o.inputs = &inputs;
    objects_.push_back(o);
    Bind("input", expr::Value::Record({objects_.size() - 1}));
  }

  Result<expr::Value> Name(std::string_view name) override {
    if (auto it = bindings_.find(name); it != bindings_.end()) return it->second;
    if (name == "actor") return expr::Value::Device(rules_.host_.DeviceAt(actor_));
    if (name == "actor_role") return expr::Value::Text(RoleName(role_));
    if (name == "op_time") return expr::Value::Int(static_cast<int64_t>(hlc_ >> 16));
    return NotFound("unknown name '" + std::string(name) + "'");
  }

  Result<expr::Value> Member(const expr::Value& base, std::string_view member) override {
    const auto* handle = std::get_if<expr::RecordHandle>(&base.v);
    if (!handle || handle->id >= objects_.size()) {
      return InvalidArgument(std::string("cannot take .") + std::string(member) + " of " +
                             base.KindName());
    }
    const Object& o = objects_[handle->id];
    switch (o.kind) {
      case Object::kInput:
        for (const auto& [field, value] : *o.inputs) {
          if (rules_.host_.names().Name(field) == member) return FromValue(value, nullptr);
        }
        return expr::Value();
      case Object::kEntry:
        if (member == "value") return FromValue(o.entry->value, o.item_field);
        if (member == "by") return expr::Value::Device(rules_.host_.DeviceAt(o.entry->stamp.dev));
        if (member == "at") return expr::Value::Int(static_cast<int64_t>(o.entry->stamp.hlc >> 16));
        return NotFound("a list entry has value, by and at, not '" + std::string(member) + "'");
      case Object::kOpened:
        if (member == "value") return expr::Value::Money(o.opened.minor, o.opened.currency);
        if (member == "by") return expr::Value::Device(rules_.host_.DeviceAt(o.entry->stamp.dev));
        if (member == "at") return expr::Value::Int(static_cast<int64_t>(o.entry->stamp.hlc >> 16));
        return NotFound("an opened bid has value, by and at, not '" + std::string(member) + "'");
      case Object::kRecord:
        return RecordMember(o.key, member);
    }
    return Internal("bad handle");
  }

  Result<expr::Value> Call(std::string_view fn, const std::vector<expr::Value>& args) override {
    if (fn == "children" || fn == "records") {
      size_t want = fn == "children" ? 2 : 1;
      if (args.size() != want) return ArgCount(fn, want);
      auto type_name = Text(args[0], fn);
      if (!type_name.ok()) return type_name.status();
      uint32_t type = rules_.host_.names().Intern(*type_name);
      std::vector<RecordKey> keys;
      if (fn == "children") {
        auto field = Text(args[1], fn);
        if (!field.ok()) return field.status();
        auto self = bindings_.find("record");
        if (self == bindings_.end()) return InvalidArgument("children() needs a record");
        const RecordKey parent = objects_[std::get<expr::RecordHandle>(self->second.v).id].key;
        const RecordId parent_id = rules_.host_.IdOfKey(parent);
        uint32_t f = rules_.host_.names().Intern(*field);
        auto it = rules_.journal_.find(parent);
        if (it != rules_.journal_.end()) {
          std::vector<RecordKey> referrers = it->second.referrers;
          std::sort(referrers.begin(), referrers.end(), KeyLess());
          referrers.erase(std::unique(referrers.begin(), referrers.end()), referrers.end());
          for (RecordKey k : referrers) {
            const PastRecord& r = At(k);
            if (!r.exists || r.archived || r.type != type) continue;
            auto fv = r.fields.find(f);
            if (fv == r.fields.end()) continue;
            const auto* ref = std::get_if<RecordId>(&fv->second->value.v);
            if (ref && *ref == parent_id) keys.push_back(k);
          }
        }
      } else {
        for (const auto& [k, entries] : rules_.journal_) {
          const PastRecord& r = At(k);
          if (r.exists && !r.archived && r.type == type) keys.push_back(k);
        }
      }
      std::sort(keys.begin(), keys.end(), [this](RecordKey a, RecordKey b) {
        return rules_.host_.IdOfKey(a) < rules_.host_.IdOfKey(b);
      });
      expr::List items;
      for (RecordKey k : keys) items.push_back(RecordValue(k));
      return expr::Value::Of(std::move(items));
    }
    if (fn == "rights" || fn == "level") {
      if (args.size() < 2 || args.size() > 3) return ArgCount(fn, 2);
      const auto* handle = std::get_if<expr::RecordHandle>(&args[0].v);
      if (!handle || objects_[handle->id].kind != Object::kRecord) {
        return InvalidArgument(std::string(fn) + "() needs a record first");
      }
      auto field = Text(args[1], fn);
      if (!field.ok()) return field.status();
      RecordKey key = objects_[handle->id].key;
      if (args.size() == 3) {
        auto k = Text(args[2], fn);
        if (!k.ok()) return k.status();
        uint32_t counter = rules_.host_.names().Intern(Rules::CounterName(*field, *k));
        int64_t n = fn == "rights" ? rules_.Rights(key, counter, actor_, past_)
                                   : rules_.Level(key, counter, past_);
        return expr::Value::Int(n);
      }
      // Without a key: the sum over every key of the field.
      int64_t total = 0;
      const PastRecord& r = At(key);
      for (const auto& [counter, level] : r.counters) {
        if (SplitCounter(rules_.host_.names().Name(counter)).first != *field) continue;
        total += fn == "rights" ? rules_.Rights(key, counter, actor_, past_) : level;
      }
      return expr::Value::Int(total);
    }
    if (fn == "all_editors") {
      if (args.size() != 1) return ArgCount(fn, 1);
      const auto* list = std::get_if<std::shared_ptr<const expr::List>>(&args[0].v);
      if (!list) return InvalidArgument("all_editors() needs a list of records");
      std::set<uint32_t> devs;
      for (const expr::Value& item : **list) {
        const auto* h = std::get_if<expr::RecordHandle>(&item.v);
        if (!h || objects_[h->id].kind != Object::kRecord) continue;
        for (uint32_t d : At(objects_[h->id].key).editors) devs.insert(d);
      }
      expr::List out;
      for (uint32_t d : devs) out.push_back(expr::Value::Device(rules_.host_.DeviceAt(d)));
      return expr::Value::Of(std::move(out));
    }
    if (fn == "max_by" || fn == "min_by") {
      if (args.size() != 2) return ArgCount(fn, 2);
      const auto* list = std::get_if<std::shared_ptr<const expr::List>>(&args[0].v);
      if (!list) return InvalidArgument(std::string(fn) + "() needs a list");
      auto member = Text(args[1], fn);
      if (!member.ok()) return member.status();
      std::optional<expr::Value> best, best_key;
      for (const expr::Value& item : **list) {
        GROVE_ASSIGN_OR_RETURN(expr::Value k, Member(item, *member));
        if (k.is_null()) continue;
        if (best_key) {
          GROVE_ASSIGN_OR_RETURN(int cmp, Compare(k, *best_key));
          if (fn == "max_by" ? cmp <= 0 : cmp >= 0) continue;
        }
        best = item;
        best_key = k;
      }
      return best ? *best : expr::Value();
    }
    if (fn == "between") return Between(args);
    if (fn == "sealed_ok" || fn == "opens" || fn == "opened_bids" || fn == "unopened_bids") {
      return SealedBids(fn, args);
    }
    return NotFound("unknown function '" + std::string(fn) + "'");
  }

  expr::Value RecordValue(RecordKey key) {
    if (record_index_.empty()) {
      for (const auto& [k, handle] : record_handles_) {
        if (k == key) return expr::Value::Record({handle});
      }
    } else if (auto it = record_index_.find(key); it != record_index_.end()) {
      return expr::Value::Record({it->second});
    }
    record_handles_.emplace_back(key, objects_.size());
    if (record_handles_.size() > kScannedHandles) {
      if (record_index_.empty()) {
        record_index_.insert(record_handles_.begin(), record_handles_.end());
      } else {
        record_index_.emplace(key, objects_.size());
      }
    }
    Object o;
    o.kind = Object::kRecord;
    o.key = key;
    objects_.push_back(o);
    return expr::Value::Record({objects_.size() - 1});
  }

  const PastRecord& At(RecordKey key) {
    // Within one Check(), views are shared by every evaluation over the same past (the rules
    // drop a record's view when they journal an op on it).
    auto& cache = rules_.shared_past_ == &past_ ? rules_.views_ : cache_;
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    PastRecord r;
    r.key = key;
    auto j = rules_.journal_.find(key);
    if (j != rules_.journal_.end()) {
      const RecordTable& table = rules_.host_.table();
      // One allocation each instead of a regrowth per few fields (a bound, not a count: the
      // entries include creates, counters and lists).
      r.fields.reserve(std::min<size_t>(j->second.entries.size(), 16));
      r.editors.reserve(2);
      for (const JournalEntry& e : j->second.entries) {
        if (!past_.Contains(e.stamp)) continue;
        if (std::find(r.editors.begin(), r.editors.end(), e.stamp.dev) == r.editors.end() &&
            e.kind != OpKind::kTransition && e.kind != OpKind::kGrant && !e.sub_op) {
          r.editors.push_back(e.stamp.dev);
        }
        switch (e.kind) {
          case OpKind::kCreate:
            if (!r.exists || table.Less(e.stamp, r.created)) {
              r.exists = true;
              r.type = e.name;
              r.created = e.stamp;
            }
            break;
          case OpKind::kSet: {
            const JournalEntry*& slot = r.fields[e.name];
            if (!slot || table.Less(slot->stamp, e.stamp)) slot = &e;
            break;
          }
          case OpKind::kAdd:
            r.counters[e.name] += e.amount;
            break;
          case OpKind::kAppend:
            r.lists[e.name].push_back(&e);
            break;
          case OpKind::kTransition:
            if (!r.last_transition || table.Less(r.last_transition->stamp, e.stamp)) {
              r.last_transition = &e;
            }
            break;
          case OpKind::kArchive:
            r.archived = true;
            break;
          case OpKind::kGrant:
          case OpKind::kUpgrade:
            break;
        }
      }
      for (auto& [name, entries] : r.lists) {
        std::sort(entries.begin(), entries.end(), [&table](const auto* a, const auto* b) {
          return table.Less(a->stamp, b->stamp);
        });
      }
    }
    return cache.emplace(key, std::move(r)).first->second;
  }

  // The workflow state of a record in this past.
  std::string StateOf(const PastRecord& r) const {
    const Rules::TypeRef* ref = rules_.TypeOf(r.type, past_);
    if (!ref) return "";
    if (!r.last_transition) return ref->type->initial;
    const tools::Transition* t =
        ref->type->FindTransition(rules_.host_.names().Name(r.last_transition->name));
    return t ? t->to : "";
  }

  std::optional<RecordKey> KeyOfHandle(expr::RecordHandle h) const {
    if (h.id >= objects_.size() || objects_[h.id].kind != Object::kRecord) return std::nullopt;
    return objects_[h.id].key;
  }
  // A stored value as expressions see it.
  expr::Value Stored(const Value& v, const tools::Field* field) { return FromValue(v, field); }
  // An expression's value as a field stores it (the reverse of Stored).
  Result<Value> ToStored(const expr::Value& v) const;

 private:
  struct KeyLess {
    bool operator()(RecordKey a, RecordKey b) const {
      return a.dev != b.dev ? a.dev < b.dev : a.n < b.n;
    }
  };
  struct Object {
    // kEntry: a list entry (key: its record); kOpened: a sealed bid with its opened amount.
    enum Kind { kRecord, kInput, kEntry, kOpened } kind = kRecord;
    RecordKey key;
    expr::MoneyValue opened;
    const std::vector<std::pair<uint32_t, Value>>* inputs = nullptr;
    const JournalEntry* entry = nullptr;
    const tools::Field* item_field = nullptr;
  };

  static Status ArgCount(std::string_view fn, size_t n) {
    return InvalidArgument(std::string(fn) + "() takes " + std::to_string(n) + " arguments");
  }
  static Result<std::string> Text(const expr::Value& v, std::string_view fn) {
    const auto* s = std::get_if<std::string>(&v.v);
    if (!s)
      return InvalidArgument(std::string(fn) + "() needs a text argument, got " + v.KindName());
    return *s;
  }
  static Result<int> Compare(const expr::Value& a, const expr::Value& b) {
    if (const auto* x = std::get_if<int64_t>(&a.v)) {
      if (const auto* y = std::get_if<int64_t>(&b.v)) return *x < *y ? -1 : *x > *y ? 1 : 0;
    }
    if (const auto* x = std::get_if<expr::MoneyValue>(&a.v)) {
      if (const auto* y = std::get_if<expr::MoneyValue>(&b.v)) {
        if (x->currency != y->currency) {
          return InvalidArgument("money in " + x->currency + " compared with " + y->currency);
        }
        return x->minor < y->minor ? -1 : x->minor > y->minor ? 1 : 0;
      }
    }
    if (const auto* x = std::get_if<std::string>(&a.v)) {
      if (const auto* y = std::get_if<std::string>(&b.v))
        return x->compare(*y) < 0 ? -1 : *x == *y ? 0 : 1;
    }
    return InvalidArgument(std::string("cannot order ") + a.KindName() + " and " + b.KindName());
  }

  expr::Value FromValue(const Value& v, const tools::Field* field) {
    switch (v.v.index()) {
      case 1:
        return expr::Value::Int(std::get<int64_t>(v.v));
      case 2:
        return expr::Value::Text(std::get<std::string>(v.v));
      case 3: {
        const Money& m = std::get<Money>(v.v);
        return expr::Value::Money(m.minor, m.currency);
      }
      case 4:
        return expr::Value::Bool(std::get<bool>(v.v));
      case 5: {
        const Bytes& b = std::get<Bytes>(v.v);
        if (field && field->kind == FieldKind::kMember && b.size() == 32) {
          Hash32 d;
          std::copy(b.begin(), b.end(), d.begin());
          return expr::Value::Device(d);
        }
        return expr::Value::Blob(b);
      }
      case 6: {
        auto key = rules_.host_.KeyOfId(std::get<RecordId>(v.v));
        if (!key || !At(*key).exists) return expr::Value();
        return RecordValue(*key);
      }
    }
    return expr::Value();
  }

  Result<expr::Value> RecordMember(RecordKey key, std::string_view member) {
    const PastRecord& r = At(key);
    if (!r.exists) return expr::Value();
    const Rules::TypeRef* ref = rules_.TypeOf(r.type, past_);
    Names& names = rules_.host_.names();
    if (member == "id") return expr::Value::Text(rules_.host_.IdOfKey(key).Text());
    if (member == "type") return expr::Value::Text(names.Name(r.type));
    if (member == "state") return expr::Value::Text(StateOf(r));
    if (member == "created_by") return expr::Value::Device(rules_.host_.DeviceAt(r.created.dev));
    if (member == "created_at") return expr::Value::Int(static_cast<int64_t>(r.created.hlc >> 16));
    if (member == "archived") return expr::Value::Bool(r.archived);
    if (member == "editors") {
      expr::List out;
      for (uint32_t d : r.editors) out.push_back(expr::Value::Device(rules_.host_.DeviceAt(d)));
      return expr::Value::Of(std::move(out));
    }
    const tools::Field* field = ref ? ref->type->FindField(member) : nullptr;
    if (!field) {
      return NotFound("type " + names.Name(r.type) + " has no field '" + std::string(member) + "'");
    }
    uint32_t name = names.Intern(member);
    if (field->computed) {
      if (depth_ >= kMaxComputedDepth) return InvalidArgument("computed fields nest too deeply");
      auto saved = bindings_.find("record") != bindings_.end() ? std::optional(bindings_["record"])
                                                               : std::nullopt;
      bindings_["record"] = RecordValue(key);
      ++depth_;
      auto v = expr::Evaluate(*field->computed, *this);
      --depth_;
      if (saved) bindings_["record"] = *saved;
      if (!v.ok()) {
        return Status(v.status().code(), field->name + ": " + v.status().message());
      }
      return v;
    }
    switch (field->kind) {
      case FieldKind::kCounter:
      case FieldKind::kStock: {
        if (field->keyed) {
          return InvalidArgument("field " + field->name + " is keyed: use level(record, '" +
                                 field->name + "', key)");
        }
        auto c = r.counters.find(name);
        return expr::Value::Int(c == r.counters.end() ? 0 : c->second);
      }
      case FieldKind::kList: {
        expr::List out;
        auto l = r.lists.find(name);
        if (l != r.lists.end()) {
          for (const JournalEntry* e : l->second) {
            Object o;
            o.kind = Object::kEntry;
            o.key = key;
            o.entry = e;
            o.item_field = field;
            objects_.push_back(o);
            out.push_back(expr::Value::Record({objects_.size() - 1}));
          }
        }
        return expr::Value::Of(std::move(out));
      }
      default: {
        auto f = r.fields.find(name);
        if (f == r.fields.end()) return expr::Value();
        return FromValue(f->second->value, field);
      }
    }
  }

  // between(list, 'member', low, high): the items whose member is within [low, high] (a null
  // bound is open). Items whose member is null or cannot be compared with a bound (another
  // currency) are left out, so a list of mixed currencies filters instead of failing.
  Result<expr::Value> Between(const std::vector<expr::Value>& args) {
    if (args.size() != 4) return ArgCount("between", 4);
    const auto* list = std::get_if<std::shared_ptr<const expr::List>>(&args[0].v);
    if (!list) return InvalidArgument("between() needs a list");
    auto member = Text(args[1], "between");
    if (!member.ok()) return member.status();
    expr::List out;
    for (const expr::Value& item : **list) {
      GROVE_ASSIGN_OR_RETURN(expr::Value k, Member(item, *member));
      if (k.is_null()) continue;
      bool in = true;
      if (!args[2].is_null()) {
        auto cmp = Compare(k, args[2]);
        in = cmp.ok() && *cmp >= 0;
      }
      if (in && !args[3].is_null()) {
        auto cmp = Compare(k, args[3]);
        in = cmp.ok() && *cmp <= 0;
      }
      if (in) out.push_back(item);
    }
    return expr::Value::Of(std::move(out));
  }

  // The entries of a list value (as a list field gives them); InvalidArgument otherwise.
  Result<std::vector<const Object*>> EntriesOf(const expr::Value& v, std::string_view fn) {
    const auto* list = std::get_if<std::shared_ptr<const expr::List>>(&v.v);
    if (!list) return InvalidArgument(std::string(fn) + "() needs a list field's entries");
    std::vector<const Object*> out;
    for (const expr::Value& item : **list) {
      const auto* h = std::get_if<expr::RecordHandle>(&item.v);
      if (!h || h->id >= objects_.size() || objects_[h->id].kind != Object::kEntry) {
        return InvalidArgument(std::string(fn) + "() needs a list field's entries");
      }
      out.push_back(&objects_[h->id]);
    }
    return out;
  }

  // Which of `bids` (sealed-bid entries) an opening text opens, by index; -1 for none.
  // Decision 0007: the opening's commitment must equal the bid's, and the commitment must
  // bind the bid's own lot and bidder (the device that appended it), so an opening is checkable
  // by every peer and a copied bid cannot be opened as someone else's.
  int OpenedBy(const std::vector<const Object*>& bids, const sealed::Opening& o) {
    for (size_t i = 0; i < bids.size(); ++i) {
      const auto* text = std::get_if<std::string>(&bids[i]->entry->value.v);
      if (!text) continue;
      auto bid = sealed::ParseBid(*text);
      if (!bid || bid->commitment != o.commitment) continue;
      if (sealed::Verifies(o, rules_.host_.IdOfKey(bids[i]->key),
                           rules_.host_.DeviceAt(bids[i]->entry->stamp.dev))) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  // sealed_ok(text); opens(bids, openings, text); opened_bids(bids, openings);
  // unopened_bids(bids, openings) — docs/tools.md, "Expressions".
  Result<expr::Value> SealedBids(std::string_view fn, const std::vector<expr::Value>& args) {
    if (fn == "sealed_ok") {
      if (args.size() != 1) return ArgCount(fn, 1);
      const auto* text = std::get_if<std::string>(&args[0].v);
      return expr::Value::Bool(text && sealed::ParseBid(*text).has_value());
    }
    const size_t want = fn == "opens" ? 3 : 2;
    if (args.size() != want) return ArgCount(fn, want);
    GROVE_ASSIGN_OR_RETURN(std::vector<const Object*> bids, EntriesOf(args[0], fn));
    GROVE_ASSIGN_OR_RETURN(std::vector<const Object*> openings, EntriesOf(args[1], fn));
    // The first opening of each bid, in list (stamp) order.
    std::vector<std::optional<sealed::Opening>> opened(bids.size());
    for (const Object* e : openings) {
      const auto* text = std::get_if<std::string>(&e->entry->value.v);
      auto o = text ? sealed::ParseOpening(*text) : std::nullopt;
      if (!o) continue;
      int i = OpenedBy(bids, *o);
      if (i >= 0 && !opened[static_cast<size_t>(i)]) opened[static_cast<size_t>(i)] = std::move(o);
    }
    if (fn == "opens") {
      // True when the text opens a bid that no opening opens yet.
      const auto* text = std::get_if<std::string>(&args[2].v);
      auto o = text ? sealed::ParseOpening(*text) : std::nullopt;
      if (!o) return expr::Value::Bool(false);
      int i = OpenedBy(bids, *o);
      return expr::Value::Bool(i >= 0 && !opened[static_cast<size_t>(i)]);
    }
    // Object pointers are invalidated by the pushes below: copy what is needed first.
    std::vector<std::pair<const JournalEntry*, RecordKey>> entries;
    for (const Object* b : bids) entries.emplace_back(b->entry, b->key);
    expr::List out;
    for (size_t i = 0; i < entries.size(); ++i) {
      if (fn == "opened_bids" && opened[i]) {
        Object o;
        o.kind = Object::kOpened;
        o.key = entries[i].second;
        o.entry = entries[i].first;
        o.opened = expr::MoneyValue{opened[i]->amount.minor, opened[i]->amount.currency};
        objects_.push_back(std::move(o));
        out.push_back(expr::Value::Record({objects_.size() - 1}));
      } else if (fn == "unopened_bids" && !opened[i]) {
        out.push_back((*std::get<std::shared_ptr<const expr::List>>(args[0].v))[i]);
      }
    }
    return expr::Value::Of(std::move(out));
  }

  friend class Rules;
  Rules& rules_;
  const Past& past_;
  uint32_t actor_;
  Role role_;
  uint64_t hlc_;
  int depth_ = 0;
  Bindings bindings_;
  std::vector<Object> objects_;
  // Few records per evaluation as a rule, so a vector searched in order; records() over a large
  // type is the exception: past kScannedHandles of them, a hash index takes over.
  static constexpr size_t kScannedHandles = 32;
  std::vector<std::pair<RecordKey, size_t>> record_handles_;
  std::unordered_map<RecordKey, size_t, RecordKeyHash> record_index_;
  std::unordered_map<RecordKey, PastRecord, RecordKeyHash> cache_;
};

Result<Value> Evaluation::ToStored(const expr::Value& v) const {
  if (const auto* h = std::get_if<expr::RecordHandle>(&v.v)) {
    if (auto key = KeyOfHandle(*h)) return Value(rules_.host_.IdOfKey(*key));
    return InvalidArgument("only records can be stored in a reference field");
  }
  switch (v.v.index()) {
    case 0:
      return Value();
    case 1:
      return Value(std::get<bool>(v.v));
    case 2:
      return Value(std::get<int64_t>(v.v));
    case 3:
      return Value(std::get<std::string>(v.v));
    case 4: {
      const auto& m = std::get<expr::MoneyValue>(v.v);
      return Value(Money{m.minor, m.currency});
    }
    case 6: {
      const Hash32& d = std::get<expr::DeviceValue>(v.v).id;
      Value out;
      out.v = Bytes(d.begin(), d.end());
      return out;
    }
    case 8: {
      Value out;
      out.v = std::get<Bytes>(v.v);
      return out;
    }
  }
  return InvalidArgument(std::string("a ") + v.KindName() + " cannot be stored in a field");
}

// --- Rules -------------------------------------------------------------------------------------

Rules::Rules(RuleHost& host, std::vector<tools::Tool> tools)
    : host_(host), tools_(std::move(tools)) {
  for (const tools::Tool& tool : tools_) {
    for (const tools::Type& type : tool.types) {
      types_[host_.names().Intern(type.name)] = TypeRef{&tool, &type};
    }
  }
  current_ = tools_;
}

std::string Rules::CounterName(std::string_view field, std::string_view key) {
  std::string out(field);
  if (!key.empty()) out += "#" + std::string(key);
  return out;
}

const Rules::TypeRef* Rules::TypeOf(uint32_t type, const Past& past) const {
  auto it = types_.find(type);
  const TypeRef* best = it == types_.end() ? nullptr : &it->second;
  const Upgrade* newest = nullptr;
  for (const Upgrade& u : upgrades_) {
    auto t = u.types.find(type);
    if (t == u.types.end() || !past.Contains(u.stamp)) continue;
    if (!newest || u.tool->version > newest->tool->version ||
        (u.tool->version == newest->tool->version && host_.table().Less(newest->stamp, u.stamp))) {
      newest = &u;
      best = &t->second;
    }
  }
  return best;
}

const tools::Tool* Rules::CurrentTool(std::string_view name, const Past& past) const {
  const tools::Tool* best = nullptr;
  for (const tools::Tool& t : tools_) {
    if (t.name == name) best = &t;
  }
  const Upgrade* newest = nullptr;
  for (const Upgrade& u : upgrades_) {
    if (u.tool->name != name || !past.Contains(u.stamp)) continue;
    if (!newest || u.tool->version > newest->tool->version ||
        (u.tool->version == newest->tool->version && host_.table().Less(newest->stamp, u.stamp))) {
      newest = &u;
      best = u.tool.get();
    }
  }
  return best;
}

void Rules::RefreshCurrent() {
  current_.clear();
  for (const tools::Tool& t : tools_) current_.push_back(*CurrentTool(t.name, Past{}));
}

bool Rules::Governs(uint32_t type) const { return TypeOf(type, Past{}) != nullptr; }

void Rules::Clear() {
  journal_.clear();
  if (!upgrades_.empty()) {
    upgrades_.clear();
    RefreshCurrent();
  }
}

Result<tools::Tool> Rules::CheckUpgradeOp(Role role, const Past& past, const Op& op) const {
  if (role != Role::kOwner) {
    return PermissionDenied("role: only an owner may upgrade a tool (the author is " +
                                std::string(RoleName(role)) + ")",
                            "tools");
  }
  const auto* bytes = std::get_if<Bytes>(&op.value.v);
  if (!bytes) return InvalidArgument("an upgrade carries the tool's canonical bytes", "tools");
  auto tool = tools::ParseCanonical(*bytes);
  if (!tool.ok()) return InvalidArgument("upgrade: " + tool.status().message(), "tools");
  if (tool->name != host_.names().Name(op.name)) {
    return InvalidArgument(
        "upgrade of tool " + host_.names().Name(op.name) + " carries tool " + tool->name, "tools");
  }
  const tools::Tool* current = CurrentTool(tool->name, past);
  if (!current) {
    return InvalidArgument("upgrade: this workspace has no tool '" + tool->name + "'", "tools");
  }
  auto refused = [](const std::vector<tools::Diagnostic>& d) {
    std::string more = d.size() > 1 ? " (and " + std::to_string(d.size() - 1) + " more)" : "";
    return FailedPrecondition("upgrade: " + d.front().message + more, "tools");
  };
  if (auto d = tools::CheckUpgrade(*current, *tool); !d.empty()) return refused(d);
  std::vector<const tools::Tool*> set;
  for (const tools::Tool& t : tools_) {
    set.push_back(t.name == tool->name ? &*tool : CurrentTool(t.name, past));
  }
  if (auto d = tools::CheckToolSet(set); !d.empty()) return refused(d);
  return tool;
}

Result<std::vector<Op>> Rules::PlanMigration(uint32_t author, const Past& past,
                                             const tools::Tool& tool, uint64_t hlc) {
  Names& names = host_.names();
  std::vector<Op> out;
  for (const tools::Migration& m : tool.migrate) {
    const tools::Type* type = tool.FindType(m.type);
    if (!type) return InvalidArgument("migrate names unknown type " + m.type, "tools");
    const uint32_t type_name = names.Intern(m.type);
    // The records of the type that exist in the past, in id order (the same on every peer).
    std::vector<RecordKey> keys;
    for (const auto& [key, journal] : journal_) {
      const std::vector<JournalEntry>& entries = journal.entries;
      bool created = std::any_of(entries.begin(), entries.end(), [&](const JournalEntry& e) {
        return e.kind == OpKind::kCreate && e.name == type_name && past.Contains(e.stamp);
      });
      if (created) keys.push_back(key);
    }
    std::sort(keys.begin(), keys.end(),
              [this](RecordKey a, RecordKey b) { return host_.IdOfKey(a) < host_.IdOfKey(b); });
    for (RecordKey key : keys) {
      Evaluation eval(*this, past, author, Role::kOwner, hlc);
      eval.BindRecord("record", key);
      for (const auto& [field, e] : m.sets) {
        const std::string where =
            "migrate " + m.type + "." + field + " on record " + host_.IdOfKey(key).Text();
        auto v = expr::Evaluate(*e, eval);
        if (!v.ok()) return FailedPrecondition("upgrade: " + where + ": " + v.status().message());
        if (v->is_null()) continue;
        auto value = eval.ToStored(*v);
        if (!value.ok()) {
          return FailedPrecondition("upgrade: " + where + ": " + value.status().message());
        }
        const tools::Field* f = type->FindField(field);
        if (!f) return InvalidArgument("upgrade: " + where + ": no such field", "tools");
        if (Status s = CheckValue(*f, *value, past); !s.ok()) {
          return FailedPrecondition("upgrade: " + where + ": " + s.message());
        }
        Op op;
        op.kind = OpKind::kSet;
        op.hlc = hlc;
        op.record = key;
        op.name = names.Intern(field);
        op.value = std::move(value).value();
        out.push_back(std::move(op));
      }
    }
  }
  return out;
}

Result<std::vector<Op>> Rules::PlanUpgrade(uint32_t author, Role role, const tools::Tool& tool,
                                           uint64_t hlc) {
  Op up;
  up.kind = OpKind::kUpgrade;
  up.hlc = hlc;
  up.record = RecordKey{author, 0};
  up.name = host_.names().Intern(tool.name);
  up.value.v = tools::Canonical(tool);
  const Past now;
  GROVE_ASSIGN_OR_RETURN(tools::Tool parsed, CheckUpgradeOp(role, now, up));
  GROVE_ASSIGN_OR_RETURN(std::vector<Op> subs, PlanMigration(author, now, parsed, hlc));
  up.effects = static_cast<uint32_t>(subs.size());
  std::vector<Op> out;
  out.reserve(subs.size() + 1);
  out.push_back(std::move(up));
  for (Op& sub : subs) out.push_back(std::move(sub));
  return out;
}

void Rules::Journal(const Op& op, const Stamp& stamp, std::vector<RecordKey>* touched,
                    bool sub_op) {
  views_.erase(op.record);
  auto& entries = journal_[op.record].entries;
  if (entries.capacity() == 0) entries.reserve(8);  // a record's create alone journals its fields
  auto note_ref = [&](const Value& v) {
    if (const auto* ref = std::get_if<RecordId>(&v.v)) {
      if (auto target = host_.KeyOfId(*ref)) {
        // children() drops repeats anyway; a tentative journal followed by the real one would
        // otherwise list the same referrer twice in a row.
        std::vector<RecordKey>& list = journal_[*target].referrers;
        if (list.empty() || !(list.back() == op.record)) list.push_back(op.record);
      }
    }
  };
  auto push = [&](JournalEntry e) {
    e.sub_op = sub_op;
    entries.push_back(std::move(e));
    if (touched) touched->push_back(op.record);
  };
  switch (op.kind) {
    case OpKind::kCreate:
      push(JournalEntry{stamp, OpKind::kCreate, op.name, {}, 0, 0});
      for (const auto& [field, value] : op.fields) {
        note_ref(value);
        push(JournalEntry{stamp, OpKind::kSet, field, value, 0, 0});
      }
      break;
    case OpKind::kSet:
    case OpKind::kAppend:
      note_ref(op.value);
      push(JournalEntry{stamp, op.kind, op.name, op.value, 0, 0});
      break;
    default:
      push(JournalEntry{stamp, op.kind, op.name, {}, op.amount, op.to});
      break;
  }
}

void Rules::Note(const Op& op, const Stamp& stamp) {
  if (active()) Journal(op, stamp, nullptr);
}

void Rules::Unjournal(const std::vector<RecordKey>& touched) {
  for (auto it = touched.rbegin(); it != touched.rend(); ++it) {
    views_.erase(*it);
    // An emptied entry stays: it reads as no ops, and the real journal usually follows at once.
    journal_[*it].entries.pop_back();
  }
}

uint32_t Rules::TypeInPast(RecordKey key, const Past& past) const {
  // As Evaluation::At decides it (the earliest create in the past), without building the view.
  auto it = journal_.find(key);
  if (it == journal_.end()) return 0;
  const JournalEntry* created = nullptr;
  for (const JournalEntry& e : it->second.entries) {
    if (e.kind != OpKind::kCreate || !past.Contains(e.stamp)) continue;
    if (!created || host_.table().Less(e.stamp, created->stamp)) created = &e;
  }
  return created ? created->name : 0;
}

int64_t Rules::Level(RecordKey key, uint32_t counter, const Past& past) const {
  int64_t level = 0;
  auto it = journal_.find(key);
  if (it == journal_.end()) return 0;
  for (const JournalEntry& e : it->second.entries) {
    if (e.kind == OpKind::kAdd && e.name == counter && past.Contains(e.stamp)) level += e.amount;
  }
  return level;
}

int64_t Rules::Rights(RecordKey key, uint32_t counter, uint32_t device, const Past& past) const {
  int64_t rights = 0;
  auto it = journal_.find(key);
  if (it == journal_.end()) return 0;
  for (const JournalEntry& e : it->second.entries) {
    if (e.name != counter || !past.Contains(e.stamp)) continue;
    if (e.kind == OpKind::kAdd && e.stamp.dev == device) rights += e.amount;
    if (e.kind == OpKind::kGrant) {
      if (e.stamp.dev == device) rights -= e.amount;
      if (e.to == device) rights += e.amount;
    }
  }
  return rights;
}

int64_t Rules::RightsOf(RecordKey key, uint32_t counter, uint32_t device) const {
  return Rights(key, counter, device, Past{});
}

Status Rules::CheckValue(const tools::Field& field, const Value& value, const Past& past) const {
  const std::string where = "fields." + field.name;
  auto expected = [&](const std::string& what) {
    return InvalidArgument("field " + field.name + ": expected " + what + ", got " +
                               KindName(value) + " " + value.DebugString(),
                           where);
  };
  if (value.is_null()) {
    if (field.required) return InvalidArgument("field " + field.name + " is required", where);
    return Status::Ok();
  }
  FieldKind kind = field.kind == FieldKind::kList ? field.of : field.kind;
  switch (kind) {
    case FieldKind::kText:
    case FieldKind::kDate:
    case FieldKind::kEnum: {
      const auto* s = std::get_if<std::string>(&value.v);
      if (!s) return expected(kind == FieldKind::kDate ? "a date YYYY-MM-DD" : "text");
      if (s->empty() && field.required) {
        return InvalidArgument("field " + field.name + " is required (empty text given)", where);
      }
      if (kind == FieldKind::kText && field.max && static_cast<int64_t>(s->size()) > *field.max) {
        return InvalidArgument(
            "field " + field.name + ": longer than " + std::to_string(*field.max) + " bytes",
            where);
      }
      if (kind == FieldKind::kText && !field.max && s->size() > 4096) {
        return InvalidArgument("field " + field.name + ": longer than 4096 bytes", where);
      }
      if (kind == FieldKind::kDate && !ValidDate(*s)) return expected("a date YYYY-MM-DD");
      if (kind == FieldKind::kEnum && !Contains(field.values, *s)) {
        return expected("one of " + Joined(field.values));
      }
      return Status::Ok();
    }
    case FieldKind::kInteger:
    case FieldKind::kTime: {
      const auto* i = std::get_if<int64_t>(&value.v);
      if (!i) return expected("an integer");
      if (field.min && *i < *field.min) {
        return InvalidArgument("field " + field.name + ": " + std::to_string(*i) +
                                   " is below the minimum " + std::to_string(*field.min),
                               where);
      }
      if (kind == FieldKind::kInteger && field.max && *i > *field.max) {
        return InvalidArgument("field " + field.name + ": " + std::to_string(*i) +
                                   " is above the maximum " + std::to_string(*field.max),
                               where);
      }
      return Status::Ok();
    }
    case FieldKind::kMoney: {
      const auto* m = std::get_if<Money>(&value.v);
      if (!m) return expected("money");
      if (!field.currency.empty() && m->currency != field.currency) {
        return expected("money in " + field.currency);
      }
      return Status::Ok();
    }
    case FieldKind::kFlag:
      return std::holds_alternative<bool>(value.v) ? Status::Ok() : expected("true or false");
    case FieldKind::kMember:
    case FieldKind::kAttachment: {
      const auto* b = std::get_if<Bytes>(&value.v);
      if (!b || b->size() != 32) {
        return expected(kind == FieldKind::kMember ? "a device id" : "an attachment hash");
      }
      if (kind == FieldKind::kMember) {
        checked_members_ = true;
        DeviceId device;
        std::copy(b->begin(), b->end(), device.begin());
        if (!host_.WasMember(device, past)) {
          return InvalidArgument("field " + field.name + ": device " +
                                     identity::DeviceIdText(device) +
                                     " is not a member of the workspace (as the author saw it)",
                                 where);
        }
      }
      return Status::Ok();
    }
    case FieldKind::kReference: {
      const auto* ref = std::get_if<RecordId>(&value.v);
      if (!ref) return expected("a reference to a " + field.to);
      auto key = host_.KeyOfId(*ref);
      auto it = key ? journal_.find(*key) : journal_.end();
      bool found = false;
      uint32_t target = host_.names().Intern(field.to);
      if (it != journal_.end()) {
        for (const JournalEntry& e : it->second.entries) {
          if (e.kind == OpKind::kCreate && past.Contains(e.stamp) && e.name == target) found = true;
        }
      }
      if (!found) {
        return InvalidArgument("field " + field.name + ": no " + field.to + " " + ref->Text() +
                                   " (as the author saw it)",
                               where);
      }
      return Status::Ok();
    }
    default:
      return InvalidArgument("field " + field.name + " cannot be written this way", where);
  }
}

Status Rules::CheckRights(uint32_t author, const Past& past, const Op& op,
                          const tools::Field& field, std::string_view key) const {
  if (op.kind == OpKind::kAdd && op.amount >= 0) return Status::Ok();
  int64_t rights = Rights(op.record, op.name, author, past);
  int64_t need = op.kind == OpKind::kAdd ? -op.amount : op.amount;
  if (rights >= need) return Status::Ok();
  std::string where = key.empty() ? "" : " at " + std::string(key);
  return FailedPrecondition(
      "rights: " + std::string(op.kind == OpKind::kAdd ? "taking " : "granting ") +
      std::to_string(need) + " of " + field.name + where + " needs " + std::to_string(need) +
      " rights; this device holds " + std::to_string(rights) + " (stock level " +
      std::to_string(Level(op.record, op.name, past)) +
      "); ask a member who holds rights to grant some");
}

// A direct op (not inside a transition): field types, readonly, editable_in, field guards, the
// type's edit guard, and stock rights.
Status Rules::CheckDirect(uint32_t author, Role role, const Past& past, const Op& op,
                          const Stamp& stamp, std::vector<RecordKey>& touched) {
  Names& names = host_.names();
  Evaluation eval(*this, past, author, role, op.hlc);
  // What is needed of the record's view is taken now: guards below journal ops tentatively,
  // which drops shared views (copying the whole view instead costs an allocation per map).
  struct {
    bool exists, archived;
    uint32_t type;
    std::string state;
  } current;
  {
    const PastRecord& view = eval.At(op.record);
    current = {view.exists, view.archived, view.type, view.exists ? eval.StateOf(view) : ""};
  }
  if (op.kind != OpKind::kCreate && !current.exists) {
    return NotFound("no record " + host_.IdOfKey(op.record).Text() +
                    " in the author's causal past");
  }
  if (op.kind == OpKind::kCreate && current.exists) {
    return AlreadyExists("record " + host_.IdOfKey(op.record).Text() + " exists already");
  }
  uint32_t type_name = op.kind == OpKind::kCreate ? op.name : current.type;
  const TypeRef* ref = TypeOf(type_name, past);
  if (!ref) {
    return InvalidArgument(
        "type '" + names.Name(type_name) + "' is not defined by this workspace's tools", "type");
  }
  const tools::Type& type = *ref->type;
  const std::string state = op.kind == OpKind::kCreate ? type.initial : current.state;
  if (op.kind != OpKind::kCreate && current.archived && op.kind != OpKind::kArchive) {
    return FailedPrecondition("state: the record is archived");
  }

  auto field_of = [&](uint32_t name) -> Result<const tools::Field*> {
    auto [base, key] = SplitCounter(names.Name(name));
    const tools::Field* f = type.FindField(base);
    if (!f) {
      return InvalidArgument("type " + type.name + " has no field '" + std::string(base) + "'",
                             "fields." + std::string(base));
    }
    if (f->computed)
      return InvalidArgument("field " + f->name + " is computed", "fields." + f->name);
    if (!key.empty() && !(f->kind == FieldKind::kStock && f->keyed)) {
      return InvalidArgument("field " + f->name + " is not a keyed stock field",
                             "fields." + f->name);
    }
    if (key.empty() && f->kind == FieldKind::kStock && f->keyed) {
      return InvalidArgument("field " + f->name + " is keyed: name a key", "fields." + f->name);
    }
    return f;
  };
  auto writable = [&](const tools::Field& f) -> Status {
    if (f.readonly) {
      return PermissionDenied("field " + f.name + " is set only by transitions",
                              "fields." + f.name);
    }
    if (!f.editable_in.empty() && !Contains(f.editable_in, state)) {
      return FailedPrecondition("state: field " + f.name + " can be changed only in " +
                                    Joined(f.editable_in) + "; the record is " + state,
                                "fields." + f.name);
    }
    return Status::Ok();
  };
  // The op is journaled once, with its own stamp, as soon as a guard needs the record as it is
  // with the op (a create's field guards, the edit guard); taken back if a rule refuses it, kept
  // if it passes. Guards see the same state either way: nothing else is journaled meanwhile.
  std::vector<RecordKey> mine;
  bool journaled = false;
  auto journal = [&] {
    if (!journaled) Journal(op, stamp, &mine);
    journaled = true;
  };
  struct Undo {  // a refusal leaves the journal as it was
    Rules& rules;
    std::vector<RecordKey>& mine;
    bool keep = false;
    ~Undo() {
      if (!keep) rules.Unjournal(mine);
    }
  } undo{*this, mine};
  auto guard = [&](const tools::Field& f, const expr::Value& value) -> Status {
    if (!f.guard) return Status::Ok();
    // At create, `record` is the record as created; otherwise as it was before the op.
    if (op.kind == OpKind::kCreate) journal();
    Evaluation g(*this, past, author, role, op.hlc);
    g.BindRecord("record", op.record);
    g.Bind("value", value);
    auto ok = expr::EvaluateGuard(*f.guard, g);
    if (!ok.ok()) {
      return FailedPrecondition("guard: " + f.name + ": " + ok.status().message(),
                                "fields." + f.name);
    }
    if (*ok) return Status::Ok();
    return FailedPrecondition(
        "guard: " + (f.message.empty() ? f.name + " needs " + f.guard->text() : f.message),
        "fields." + f.name);
  };

  switch (op.kind) {
    case OpKind::kCreate: {
      // Field by field, the checks that need no journal and then the field's guard, which sees
      // the record as created. The checks run first for every field, before anything is
      // journaled (a reference must not find the record being created); the guards then run in
      // field order up to the first field whose checks failed, so the first refusal is the
      // one a field-by-field walk meets.
      std::vector<const tools::Field*> given;  // a handful: a set would allocate per field
      given.reserve(op.fields.size());
      std::vector<expr::Value> stored;  // each value as its guard sees it, taken before journaling
      Status checks;
      for (const auto& field : op.fields) {
        // Named references, not a structured binding: older clang cannot capture those.
        const auto& name = field.first;
        const auto& value = field.second;
        checks = [&]() -> Status {
          GROVE_ASSIGN_OR_RETURN(const tools::Field* f, field_of(name));
          if (f->readonly) {
            return PermissionDenied("field " + f->name + " is set only by transitions",
                                    "fields." + f->name);
          }
          if (f->kind == FieldKind::kList || f->kind == FieldKind::kCounter ||
              f->kind == FieldKind::kStock) {
            return InvalidArgument("field " + f->name + " cannot be given at create",
                                   "fields." + f->name);
          }
          if (std::find(given.begin(), given.end(), f) != given.end()) {
            return InvalidArgument("field " + f->name + " given twice", "fields." + f->name);
          }
          GROVE_RETURN_IF_ERROR(CheckValue(*f, value, past));
          given.push_back(f);
          // For every field, as before: each call may add a handle to `eval`.
          stored.push_back(eval.Stored(value, f));
          return Status::Ok();
        }();
        if (!checks.ok()) break;
      }
      for (size_t k = 0; k < given.size(); ++k) {
        GROVE_RETURN_IF_ERROR(guard(*given[k], stored[k]));
      }
      GROVE_RETURN_IF_ERROR(checks);
      for (const tools::Field& f : type.fields) {
        if (f.required && std::find(given.begin(), given.end(), &f) == given.end()) {
          return InvalidArgument("field " + f.name + " is required", "fields." + f.name);
        }
      }
      break;
    }
    case OpKind::kSet: {
      GROVE_ASSIGN_OR_RETURN(const tools::Field* f, field_of(op.name));
      if (f->kind == FieldKind::kList || f->kind == FieldKind::kCounter ||
          f->kind == FieldKind::kStock) {
        return InvalidArgument(
            "field " + f->name + " is a " + tools::FieldKindName(f->kind) + ": it cannot be set",
            "fields." + f->name);
      }
      GROVE_RETURN_IF_ERROR(writable(*f));
      GROVE_RETURN_IF_ERROR(CheckValue(*f, op.value, past));
      GROVE_RETURN_IF_ERROR(guard(*f, eval.Stored(op.value, f)));
      break;
    }
    case OpKind::kAdd:
    case OpKind::kGrant: {
      GROVE_ASSIGN_OR_RETURN(const tools::Field* f, field_of(op.name));
      bool counter = f->kind == FieldKind::kCounter || f->kind == FieldKind::kStock;
      if (!counter || (op.kind == OpKind::kGrant && f->kind != FieldKind::kStock)) {
        return InvalidArgument("field " + f->name + " is not a " +
                                   (op.kind == OpKind::kGrant ? "stock" : "counter or stock") +
                                   " field",
                               "fields." + f->name);
      }
      if (op.kind == OpKind::kAdd) {
        GROVE_RETURN_IF_ERROR(writable(*f));
        GROVE_RETURN_IF_ERROR(guard(*f, expr::Value::Int(op.amount)));
      } else if (op.to == author) {
        return InvalidArgument("a device cannot grant rights to itself", "to");
      }
      if (f->kind == FieldKind::kStock) {
        GROVE_RETURN_IF_ERROR(
            CheckRights(author, past, op, *f, SplitCounter(names.Name(op.name)).second));
      }
      break;
    }
    case OpKind::kAppend: {
      GROVE_ASSIGN_OR_RETURN(const tools::Field* f, field_of(op.name));
      if (f->kind != FieldKind::kList) {
        return InvalidArgument("field " + f->name + " is not a list", "fields." + f->name);
      }
      GROVE_RETURN_IF_ERROR(writable(*f));
      if (op.value.is_null()) return InvalidArgument("cannot append null", "fields." + f->name);
      GROVE_RETURN_IF_ERROR(CheckValue(*f, op.value, past));
      GROVE_RETURN_IF_ERROR(guard(*f, eval.Stored(op.value, f)));
      break;
    }
    case OpKind::kArchive:
      break;
    case OpKind::kTransition:
    case OpKind::kUpgrade:
      return Internal("transition or upgrade checked as a direct op");
  }

  if (type.edit_guard && op.kind != OpKind::kGrant) {
    // The record as it would be after the op.
    journal();
    Evaluation g(*this, past, author, role, op.hlc);
    g.BindRecord("record", op.record);
    auto ok = expr::EvaluateGuard(*type.edit_guard, g);
    if (!ok.ok()) return FailedPrecondition("guard: " + ok.status().message());
    if (!*ok) {
      return FailedPrecondition("guard: " + (type.edit_message.empty()
                                                 ? type.name + " cannot be changed now (needs " +
                                                       type.edit_guard->text() + ")"
                                                 : type.edit_message));
    }
  }
  journal();
  undo.keep = true;
  touched.insert(touched.end(), mine.begin(), mine.end());
  return Status::Ok();
}

// An op computed by a transition: its value must fit the field, and stock rights still hold.
Status Rules::CheckEffectOp(uint32_t author, const Past& past, const Op& op) {
  Names& names = host_.names();
  uint32_t type_name = op.kind == OpKind::kCreate ? op.name : TypeInPast(op.record, past);
  const TypeRef* ref = TypeOf(type_name, past);
  if (!ref) return InvalidArgument("effect on a record of unknown type " + names.Name(type_name));
  if (op.kind == OpKind::kCreate) {
    for (const auto& [name, value] : op.fields) {
      const tools::Field* f = ref->type->FindField(names.Name(name));
      if (!f) return InvalidArgument("effect sets unknown field " + names.Name(name));
      GROVE_RETURN_IF_ERROR(CheckValue(*f, value, past));
    }
    return Status::Ok();
  }
  auto [base, key] = SplitCounter(names.Name(op.name));
  const tools::Field* f = ref->type->FindField(base);
  if (!f) return InvalidArgument("effect on unknown field " + std::string(base));
  if (op.kind == OpKind::kSet) return CheckValue(*f, op.value, past);
  if ((op.kind == OpKind::kAdd || op.kind == OpKind::kGrant) && f->kind == FieldKind::kStock) {
    return CheckRights(author, past, op, *f, key);
  }
  if (op.kind == OpKind::kGrant) return InvalidArgument("a grant on a field that is not stock");
  return Status::Ok();
}

Result<std::vector<Op>> Rules::PlanTransition(uint32_t author, Role role, const Past& past,
                                              RecordKey record, std::string_view name,
                                              const std::vector<std::pair<uint32_t, Value>>& inputs,
                                              uint64_t hlc, bool inputs_pending) {
  Names& names = host_.names();
  Evaluation eval(*this, past, author, role, hlc);
  const PastRecord& r = eval.At(record);
  if (!r.exists) {
    return NotFound("no record " + host_.IdOfKey(record).Text() + " in the author's causal past");
  }
  const TypeRef* ref = TypeOf(r.type, past);
  if (!ref) return InvalidArgument("type '" + names.Name(r.type) + "' has no transitions");
  const tools::Type& type = *ref->type;
  const tools::Transition* t = type.FindTransition(name);
  if (!t) {
    std::vector<std::string> known;
    for (const auto& x : type.transitions) known.push_back(x.name);
    return InvalidArgument("type " + type.name + " has no transition '" + std::string(name) +
                               "' (it has: " + Joined(known) + ")",
                           "name");
  }
  if (!Contains(t->roles, RoleName(role))) {
    return PermissionDenied("role: " + t->name + " needs role " + Joined(t->roles) +
                            "; this device is " + RoleName(role));
  }
  if (r.archived) return FailedPrecondition("state: the record is archived");
  std::string state = eval.StateOf(r);
  if (!Contains(t->from, "*") && !Contains(t->from, state)) {
    return FailedPrecondition("state: " + t->name + " needs state " + Joined(t->from) + "; the " +
                              type.name + " is " + state);
  }
  for (const auto& [field, value] : inputs) {
    const tools::Input* in = nullptr;
    for (const tools::Input& i : t->inputs) {
      if (i.field == names.Name(field)) in = &i;
    }
    if (!in) {
      return InvalidArgument(t->name + " takes no input " + names.Name(field),
                             "fields." + names.Name(field));
    }
    const tools::Field* f = type.FindField(in->field);
    if (!f) return InvalidArgument("input names unknown field " + in->field);
    GROVE_RETURN_IF_ERROR(CheckValue(*f, value, past));
  }
  for (const tools::Input& i : t->inputs) {
    bool given = std::any_of(inputs.begin(), inputs.end(), [&](const auto& p) {
      const auto* text = std::get_if<std::string>(&p.second.v);
      return names.Name(p.first) == i.field && !p.second.is_null() && !(text && text->empty());
    });
    if (i.required && !given && !inputs_pending) {
      return InvalidArgument(t->name + " needs input " + i.field, "fields." + i.field);
    }
  }
  eval.BindRecord("record", record);
  eval.BindInputs(inputs);
  if (inputs_pending) {
    // A guard that reads an input cannot be judged before the inputs are given.
    if (t->guard) {
      const std::vector<std::string> used = t->guard->names();
      if (std::find(used.begin(), used.end(), "input") != used.end()) return std::vector<Op>{};
    }
  }
  if (t->guard) {
    auto ok = expr::EvaluateGuard(*t->guard, eval);
    if (!ok.ok()) return FailedPrecondition("guard: " + t->name + ": " + ok.status().message());
    if (!*ok) {
      return FailedPrecondition(
          "guard: " + (t->message.empty() ? t->name + " needs " + t->guard->text() : t->message));
    }
  }
  // Its sets and effects may read the inputs still missing: they are checked when it runs.
  if (inputs_pending) return std::vector<Op>{};

  std::vector<Op> out;
  auto make = [&](OpKind kind, RecordKey target, uint32_t field) {
    Op op;
    op.kind = kind;
    op.hlc = hlc;
    op.record = target;
    op.name = field;
    return op;
  };
  for (const auto& [field, value] : inputs) {
    Op op = make(OpKind::kSet, record, field);
    op.value = value;
    out.push_back(std::move(op));
  }
  for (const auto& [field, e] : t->sets) {
    auto v = expr::Evaluate(*e, eval);
    if (!v.ok())
      return FailedPrecondition("guard: " + t->name + " sets " + field + ": " +
                                v.status().message());
    GROVE_ASSIGN_OR_RETURN(Value value, eval.ToStored(*v));
    Op op = make(OpKind::kSet, record, names.Intern(field));
    op.value = std::move(value);
    out.push_back(std::move(op));
  }

  // Effects, in order; every expression sees the state before the transition.
  std::function<Status(const tools::Effects&, int)> run = [&](const tools::Effects& effects,
                                                              int depth) -> Status {
    for (const tools::Effect& e : effects) {
      auto fail = [&](const Status& s) {
        return FailedPrecondition("guard: " + t->name + " effect: " + s.message());
      };
      RecordKey target = record;
      if (e.record && e.kind != tools::Effect::Kind::kForEach &&
          e.kind != tools::Effect::Kind::kCreate) {
        auto v = expr::Evaluate(*e.record, eval);
        if (!v.ok()) return fail(v.status());
        const auto* h = std::get_if<expr::RecordHandle>(&v->v);
        if (!h || eval.objects_[h->id].kind != Evaluation::Object::kRecord) {
          return fail(InvalidArgument(e.record->text() + " is not a record"));
        }
        target = eval.objects_[h->id].key;
      }
      switch (e.kind) {
        case tools::Effect::Kind::kSet: {
          auto v = expr::Evaluate(*e.value, eval);
          if (!v.ok()) return fail(v.status());
          auto value = eval.ToStored(*v);
          if (!value.ok()) return fail(value.status());
          Op op = make(OpKind::kSet, target, names.Intern(e.field));
          op.value = std::move(value).value();
          out.push_back(std::move(op));
          break;
        }
        case tools::Effect::Kind::kAdd:
        case tools::Effect::Kind::kGrant: {
          const bool grant = e.kind == tools::Effect::Kind::kGrant;
          auto v = expr::Evaluate(*e.value, eval);
          if (!v.ok()) return fail(v.status());
          const auto* amount = std::get_if<int64_t>(&v->v);
          if (!amount) return fail(InvalidArgument(e.value->text() + " is not an integer"));
          if (*amount > kMaxAddAmount || *amount < -kMaxAddAmount) {
            return fail(InvalidArgument("amount out of range"));
          }
          std::string key;
          if (e.key) {
            auto k = expr::Evaluate(*e.key, eval);
            if (!k.ok()) return fail(k.status());
            const auto* text = std::get_if<std::string>(&k->v);
            if (!text || text->empty() || text->size() > 128) {
              return fail(
                  InvalidArgument(e.key->text() + " is not a key (text of 1 to 128 bytes)"));
            }
            key = *text;
          }
          if (*amount == 0) break;  // nothing to record
          Op op = make(grant ? OpKind::kGrant : OpKind::kAdd, target,
                       names.Intern(CounterName(e.field, key)));
          op.amount = *amount;
          if (grant) {
            if (*amount < 0) return fail(InvalidArgument("a grant moves a positive amount"));
            auto to = expr::Evaluate(*e.to, eval);
            if (!to.ok()) return fail(to.status());
            const auto* device = std::get_if<expr::DeviceValue>(&to->v);
            std::optional<uint32_t> index;
            if (device) index = host_.DeviceIndexOf(device->id);
            if (!index) return fail(InvalidArgument(e.to->text() + " is not a known device"));
            if (*index == author) return fail(InvalidArgument("a grant to oneself moves nothing"));
            op.to = *index;
          }
          out.push_back(std::move(op));
          break;
        }
        case tools::Effect::Kind::kCreate: {
          Op op = make(OpKind::kCreate, RecordKey{author, 0}, names.Intern(e.type));
          for (const auto& [field, fe] : e.fields) {
            auto v = expr::Evaluate(*fe, eval);
            if (!v.ok()) return fail(v.status());
            auto value = eval.ToStored(*v);
            if (!value.ok()) return fail(value.status());
            op.fields.emplace_back(names.Intern(field), std::move(value).value());
          }
          out.push_back(std::move(op));
          break;
        }
        case tools::Effect::Kind::kTransition: {
          if (depth >= kMaxTransitionDepth)
            return fail(InvalidArgument("transitions nest too deeply"));
          auto sub = PlanTransition(author, role, past, target, e.name, {}, hlc);
          if (!sub.ok()) return sub.status();
          Op op = make(OpKind::kTransition, target, names.Intern(e.name));
          op.effects = static_cast<uint32_t>(sub->size());
          out.push_back(std::move(op));
          for (Op& s : *sub) out.push_back(std::move(s));
          break;
        }
        case tools::Effect::Kind::kForEach: {
          auto v = expr::Evaluate(*e.value, eval);
          if (!v.ok()) return fail(v.status());
          const auto* list = std::get_if<std::shared_ptr<const expr::List>>(&v->v);
          if (!list) return fail(InvalidArgument(e.value->text() + " is not a list"));
          auto saved = eval.bindings_.find(e.name) != eval.bindings_.end()
                           ? std::optional(eval.bindings_[e.name])
                           : std::nullopt;
          for (const expr::Value& item : **list) {
            eval.Bind(e.name, item);
            GROVE_RETURN_IF_ERROR(run(e.body, depth));
          }
          if (saved) {
            eval.Bind(e.name, *saved);
          } else {
            eval.bindings_.erase(e.name);
          }
          break;
        }
      }
    }
    return Status::Ok();
  };
  GROVE_RETURN_IF_ERROR(run(t->effects, 0));
  return out;
}

Status Rules::Check(uint32_t author, Role role, const Past& past, const std::vector<Op>& ops,
                    uint32_t first_idx) {
  struct SharedViews {
    Rules& rules;
    SharedViews(Rules& r, const Past& past) : rules(r) {
      rules.views_.clear();
      rules.shared_past_ = &past;
    }
    ~SharedViews() {
      rules.views_.clear();
      rules.shared_past_ = nullptr;
    }
  } shared(*this, past);
  std::vector<RecordKey> touched;
  touched.reserve(ops.size() * 4);
  const size_t upgrades_before = upgrades_.size();
  auto refuse = [&](size_t i, const Status& s) {
    Unjournal(touched);
    if (upgrades_.size() != upgrades_before) {
      upgrades_.erase(upgrades_.begin() + static_cast<std::ptrdiff_t>(upgrades_before),
                      upgrades_.end());
      RefreshCurrent();
    }
    return Status(s.code(), s.message(), s.where().empty() ? "op " + std::to_string(i) : s.where());
  };
  auto journal = [&](const Op& op, size_t i, bool sub_op) {
    Journal(op, Stamp{op.hlc, author, past.seq, first_idx + static_cast<uint32_t>(i)}, &touched,
            sub_op);
  };
  // Sub-ops are checked against the plan, then journaled; nested transitions are inside the plan.
  for (size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    if (op.kind == OpKind::kUpgrade) {
      if (i + op.effects >= ops.size()) {
        return refuse(i, InvalidArgument("upgrade counts more sub-ops than follow it"));
      }
      auto tool = CheckUpgradeOp(role, past, op);
      if (!tool.ok()) return refuse(i, tool.status());
      auto plan = PlanMigration(author, past, *tool, op.hlc);
      if (!plan.ok()) return refuse(i, plan.status());
      if (plan->size() != op.effects) {
        return refuse(i, InvalidArgument("upgrade carries " + std::to_string(op.effects) +
                                         " migration sub-ops; its migrate gives " +
                                         std::to_string(plan->size())));
      }
      for (size_t k = 0; k < plan->size(); ++k) {
        if (!SameOp(ops[i + 1 + k], (*plan)[k])) {
          return refuse(i + 1 + k, InvalidArgument("sub-op differs from what the upgrade gives"));
        }
      }
      Upgrade u;
      u.stamp = Stamp{op.hlc, author, past.seq, first_idx + static_cast<uint32_t>(i)};
      u.tool = std::make_unique<tools::Tool>(std::move(tool).value());
      for (const tools::Type& type : u.tool->types) {
        u.types[host_.names().Intern(type.name)] = TypeRef{u.tool.get(), &type};
      }
      upgrades_.push_back(std::move(u));
      RefreshCurrent();
      for (size_t k = 0; k < plan->size(); ++k) journal(ops[i + 1 + k], i + 1 + k, true);
      i += op.effects;
      continue;
    }
    if (op.kind != OpKind::kTransition) {
      // Journaled by CheckDirect when it passes.
      Status s = CheckDirect(author, role, past, op,
                             Stamp{op.hlc, author, past.seq, first_idx + static_cast<uint32_t>(i)},
                             touched);
      if (!s.ok()) return refuse(i, s);
      continue;
    }
    if (i + op.effects >= ops.size()) {
      return refuse(i, InvalidArgument("transition counts more sub-ops than follow it"));
    }
    // Inputs: the leading sub-ops that set fields of the record itself and are inputs.
    std::vector<std::pair<uint32_t, Value>> inputs;
    if (op.effects > 0) {  // without sub-ops there are no inputs to look for
      Evaluation eval(*this, past, author, role, op.hlc);
      const PastRecord& r = eval.At(op.record);
      const TypeRef* ref = TypeOf(r.type, past);
      const tools::Transition* t =
          ref ? ref->type->FindTransition(host_.names().Name(op.name)) : nullptr;
      for (size_t k = 1; t && k <= op.effects; ++k) {
        const Op& sub = ops[i + k];
        bool is_input = sub.kind == OpKind::kSet && sub.record == op.record &&
                        std::any_of(t->inputs.begin(), t->inputs.end(), [&](const auto& in) {
                          return in.field == host_.names().Name(sub.name);
                        });
        if (!is_input) break;
        inputs.emplace_back(sub.name, sub.value);
      }
    }
    auto plan =
        PlanTransition(author, role, past, op.record, host_.names().Name(op.name), inputs, op.hlc);
    if (!plan.ok()) return refuse(i, plan.status());
    if (plan->size() != op.effects) {
      return refuse(
          i, InvalidArgument("transition carries " + std::to_string(op.effects) +
                             " sub-ops; its definition gives " + std::to_string(plan->size())));
    }
    journal(op, i, false);
    for (size_t k = 0; k < plan->size(); ++k) {
      const Op& got = ops[i + 1 + k];
      const Op& want = (*plan)[k];
      if (!SameOp(got, want)) {
        return refuse(i + 1 + k, InvalidArgument("sub-op differs from what the transition gives"));
      }
      if (got.kind == OpKind::kCreate) {
        Evaluation eval(*this, past, author, role, got.hlc);
        if (got.record.dev != author || eval.At(got.record).exists) {
          return refuse(i + 1 + k, InvalidArgument("an effect creates a record that exists"));
        }
      }
      if (got.kind != OpKind::kTransition) {
        Status s = CheckEffectOp(author, past, got);
        if (!s.ok()) return refuse(i + 1 + k, s);
      }
      journal(got, i + 1 + k, true);
    }
    i += op.effects;
  }
  return Status::Ok();
}

void Rules::FillDefaults(uint32_t type, std::vector<std::pair<uint32_t, Value>>& fields) {
  const TypeRef* ref = TypeOf(type, Past{});
  if (!ref) return;
  for (const tools::Field& f : ref->type->fields) {
    if (!f.default_value) continue;
    uint32_t name = host_.names().Intern(f.name);
    bool given =
        std::any_of(fields.begin(), fields.end(), [&](const auto& p) { return p.first == name; });
    if (given) continue;
    Value v;
    const auto& lit = f.default_value->v;
    switch (lit.index()) {
      case 1:
        v = Value(std::get<bool>(lit));
        break;
      case 2:
        v = Value(std::get<int64_t>(lit));
        break;
      case 3:
        v = Value(std::get<std::string>(lit));
        break;
      case 4:
        v = Value(
            Money{std::get<expr::MoneyValue>(lit).minor, std::get<expr::MoneyValue>(lit).currency});
        break;
      default:
        continue;
    }
    fields.emplace_back(name, std::move(v));
  }
}

std::string Rules::StateOf(uint32_t type, const Record& r) const {
  const TypeRef* ref = TypeOf(type, Past{});
  if (!ref) return "";
  const Entry* last = host_.table().Winner(r.state);
  if (!last) return ref->type->initial;
  const auto* name = std::get_if<std::string>(&last->value.v);
  const tools::Transition* t = name ? ref->type->FindTransition(*name) : nullptr;
  return t ? t->to : "";
}

std::map<std::string, Value> Rules::Computed(RecordKey key) {
  std::map<std::string, Value> out;
  Past all;
  Evaluation eval(*this, all, 0, Role::kNone, 0);
  const PastRecord& r = eval.At(key);
  const TypeRef* ref = TypeOf(r.type, all);
  if (!ref) return out;
  eval.BindRecord("record", key);
  for (const tools::Field& f : ref->type->fields) {
    if (!f.computed) continue;
    auto v = expr::Evaluate(*f.computed, eval);
    if (!v.ok()) continue;  // shown as absent: e.g. a total over lines in two currencies
    auto value = eval.ToStored(*v);
    if (value.ok()) out[f.name] = std::move(value).value();
  }
  return out;
}

std::vector<TransitionCheck> Rules::Transitions(uint32_t author, Role role, RecordKey key) {
  std::vector<TransitionCheck> out;
  Past all;
  Evaluation eval(*this, all, author, role, 0);
  const PastRecord& r = eval.At(key);
  const TypeRef* ref = TypeOf(r.type, all);
  if (!ref) return out;
  for (const tools::Transition& t : ref->type->transitions) {
    // Required inputs are not known yet: check everything else with them absent.
    std::vector<std::pair<uint32_t, Value>> none;
    const bool pending = std::any_of(t.inputs.begin(), t.inputs.end(),
                                     [](const tools::Input& i) { return i.required; });
    auto plan = PlanTransition(author, role, all, key, t.name, none, UINT64_MAX >> 1, pending);
    Status verdict = plan.ok() ? Status::Ok() : plan.status();
    out.push_back(TransitionCheck{t.name, verdict});
  }
  return out;
}

// --- Summaries (decision 0011) -----------------------------------------------------------------

namespace {

// 1: a table of device ids and one of names (both sorted), then the kept upgrades and the kept
// entries per record, everything naming devices and names by their position in those tables.
constexpr uint8_t kSummaryFormat = 1;
// In an entry's first byte, with its OpKind in the low bits.
constexpr uint8_t kSummarySubOp = 0x10;
constexpr uint8_t kSummaryKindMask = 0x0f;

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

void PutText(Bytes& out, std::string_view s) {
  PutVarint(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

bool GetText(ByteView in, size_t& pos, std::string& s) {
  auto n = GetVarint(in, pos);
  if (!n || *n > in.size() - pos) return false;
  s.assign(reinterpret_cast<const char*>(in.data() + pos), *n);
  pos += *n;
  return true;
}

bool HasName(OpKind kind) { return kind != OpKind::kArchive && kind != OpKind::kUpgrade; }
bool HasValue(OpKind kind) { return kind == OpKind::kSet || kind == OpKind::kAppend; }
bool HasAmount(OpKind kind) { return kind == OpKind::kAdd || kind == OpKind::kGrant; }
// Whether an entry makes its author an editor of the record (as Evaluation::At counts them).
bool IsEdit(const JournalEntry& e) {
  return e.kind != OpKind::kTransition && e.kind != OpKind::kGrant && !e.sub_op;
}

}  // namespace

Bytes Rules::Summarize(const std::vector<uint64_t>& base) const {
  const RecordTable& table = host_.table();
  const Names& names = host_.names();
  auto under = [&](const Stamp& s) { return s.dev < base.size() && s.seq <= base[s.dev]; };
  auto less = [&](const Stamp& a, const Stamp& b) { return table.Less(a, b); };

  struct Kept {
    RecordKey key;
    std::vector<JournalEntry> entries;
  };
  std::vector<Kept> records;
  for (const auto& [key, journal] : journal_) {
    std::map<uint32_t, const JournalEntry*> creates, sets;       // by type, by field
    std::map<std::pair<uint32_t, uint32_t>, JournalEntry> adds;  // by (counter, author)
    std::map<std::tuple<uint32_t, uint32_t, uint32_t>, JournalEntry> grants;  // (counter, from, to)
    std::vector<const JournalEntry*> appends;
    const JournalEntry* transition = nullptr;
    const JournalEntry* archive = nullptr;
    std::map<uint32_t, Stamp> editors;  // device -> its earliest edit
    // Sums wrap as the table's counters do; amounts are bounded, so they never do in practice.
    auto fold = [&](JournalEntry& sum, const JournalEntry& e, bool fresh) {
      if (fresh) return;
      sum.amount =
          static_cast<int64_t>(static_cast<uint64_t>(sum.amount) + static_cast<uint64_t>(e.amount));
      if (less(sum.stamp, e.stamp)) sum.stamp = e.stamp;
      sum.sub_op = sum.sub_op && e.sub_op;  // an edit if any of them was one
    };
    for (const JournalEntry& e : journal.entries) {
      if (!under(e.stamp)) continue;
      if (IsEdit(e)) {
        auto [it, fresh] = editors.try_emplace(e.stamp.dev, e.stamp);
        if (!fresh && less(e.stamp, it->second)) it->second = e.stamp;
      }
      switch (e.kind) {
        case OpKind::kCreate: {
          const JournalEntry*& c = creates[e.name];
          if (!c || less(e.stamp, c->stamp)) c = &e;
          break;
        }
        case OpKind::kSet: {
          const JournalEntry*& w = sets[e.name];
          if (!w || less(w->stamp, e.stamp)) w = &e;
          break;
        }
        case OpKind::kAdd: {
          auto [it, fresh] = adds.try_emplace({e.name, e.stamp.dev}, e);
          fold(it->second, e, fresh);
          break;
        }
        case OpKind::kGrant: {
          auto [it, fresh] = grants.try_emplace({e.name, e.stamp.dev, e.to}, e);
          fold(it->second, e, fresh);
          break;
        }
        case OpKind::kAppend:  // in full: expressions read every entry, its author and time
          appends.push_back(&e);
          break;
        case OpKind::kTransition:
          if (!transition || less(transition->stamp, e.stamp)) transition = &e;
          break;
        case OpKind::kArchive:
          if (!archive || less(e.stamp, archive->stamp)) archive = &e;
          break;
        case OpKind::kUpgrade:  // journaled by Note() only; read as an edit and nothing else
          break;
      }
    }
    Kept k{key, {}};
    for (const auto& [name, e] : creates) k.entries.push_back(*e);
    for (const auto& [name, e] : sets) k.entries.push_back(*e);
    for (const auto& [id, e] : adds) k.entries.push_back(e);
    for (const auto& [id, e] : grants) k.entries.push_back(e);
    for (const JournalEntry* e : appends) k.entries.push_back(*e);
    if (transition) k.entries.push_back(*transition);
    if (archive) {
      k.entries.push_back(*archive);
      k.entries.back().name = 0;  // read by nothing; not stored
    }
    for (const auto& [dev, first] : editors) {
      bool counted = std::any_of(k.entries.begin(), k.entries.end(), [dev = dev](const auto& e) {
        return e.stamp.dev == dev && IsEdit(e);
      });
      if (!counted) k.entries.push_back(JournalEntry{first, OpKind::kUpgrade, 0, {}, 0, 0});
    }
    if (!k.entries.empty()) records.push_back(std::move(k));
  }

  // Of the upgrades, those that TypeOf() and CurrentTool() can still choose in a past holding
  // every one under `base`.
  auto newer = [&](const Upgrade* a, const Upgrade* b) {
    return a->tool->version > b->tool->version ||
           (a->tool->version == b->tool->version && less(b->stamp, a->stamp));
  };
  std::map<std::string, const Upgrade*> newest_of_tool;
  std::map<uint32_t, const Upgrade*> newest_of_type;
  for (const Upgrade& u : upgrades_) {
    if (!under(u.stamp)) continue;
    const Upgrade*& t = newest_of_tool[u.tool->name];
    if (!t || newer(&u, t)) t = &u;
    for (const auto& [type, ref] : u.types) {
      const Upgrade*& n = newest_of_type[type];
      if (!n || newer(&u, n)) n = &u;
    }
  }
  std::vector<const Upgrade*> upgrades;
  for (const auto& [name, u] : newest_of_tool) upgrades.push_back(u);
  for (const auto& [type, u] : newest_of_type) upgrades.push_back(u);
  std::sort(upgrades.begin(), upgrades.end());
  upgrades.erase(std::unique(upgrades.begin(), upgrades.end()), upgrades.end());

  // The tables: every device and name the kept entries and upgrades use, in id / text order.
  std::vector<uint32_t> devices;
  std::vector<uint32_t> used_names;
  for (const Kept& k : records) {
    devices.push_back(k.key.dev);
    for (const JournalEntry& e : k.entries) {
      devices.push_back(e.stamp.dev);
      if (e.kind == OpKind::kGrant) devices.push_back(e.to);
      if (HasName(e.kind)) used_names.push_back(e.name);
    }
  }
  for (const Upgrade* u : upgrades) devices.push_back(u->stamp.dev);
  std::sort(devices.begin(), devices.end());
  devices.erase(std::unique(devices.begin(), devices.end()), devices.end());
  std::sort(devices.begin(), devices.end(), [this](uint32_t a, uint32_t b) {
    return std::memcmp(host_.DeviceAt(a).data(), host_.DeviceAt(b).data(), 32) < 0;
  });
  std::sort(used_names.begin(), used_names.end());
  used_names.erase(std::unique(used_names.begin(), used_names.end()), used_names.end());
  std::sort(used_names.begin(), used_names.end(),
            [&names](uint32_t a, uint32_t b) { return names.Name(a) < names.Name(b); });
  std::unordered_map<uint32_t, uint64_t> device_at, name_at;
  for (size_t i = 0; i < devices.size(); ++i) device_at[devices[i]] = i;
  for (size_t i = 0; i < used_names.size(); ++i) name_at[used_names[i]] = i;

  auto put_stamp = [&](const Stamp& s, Bytes& out) {
    PutVarint(out, s.hlc);
    PutVarint(out, device_at.at(s.dev));
    PutVarint(out, s.seq);
    PutVarint(out, s.idx);
  };
  Bytes out;
  out.push_back(kSummaryFormat);
  PutVarint(out, devices.size());
  for (uint32_t d : devices) {
    const DeviceId& id = host_.DeviceAt(d);
    out.insert(out.end(), id.begin(), id.end());
  }
  PutVarint(out, used_names.size());
  for (uint32_t n : used_names) PutText(out, names.Name(n));

  // Items of a list are written in the order of their bytes, which are canonical.
  auto put_sorted = [&out](std::vector<Bytes>& items) {
    std::sort(items.begin(), items.end());
    PutVarint(out, items.size());
    for (const Bytes& b : items) out.insert(out.end(), b.begin(), b.end());
  };
  std::vector<Bytes> items;
  for (const Upgrade* u : upgrades) {
    Bytes b;
    put_stamp(u->stamp, b);
    const Bytes tool = tools::Canonical(*u->tool);
    PutVarint(b, tool.size());
    b.insert(b.end(), tool.begin(), tool.end());
    items.push_back(std::move(b));
  }
  put_sorted(items);

  std::sort(records.begin(), records.end(), [&](const Kept& a, const Kept& b) {
    const uint64_t da = device_at.at(a.key.dev), db = device_at.at(b.key.dev);
    return da != db ? da < db : a.key.n < b.key.n;
  });
  PutVarint(out, records.size());
  for (const Kept& k : records) {
    PutVarint(out, device_at.at(k.key.dev));
    PutVarint(out, k.key.n);
    items.clear();
    for (const JournalEntry& e : k.entries) {
      Bytes b;
      b.push_back(
          static_cast<uint8_t>(static_cast<uint8_t>(e.kind) | (e.sub_op ? kSummarySubOp : 0)));
      put_stamp(e.stamp, b);
      if (HasName(e.kind)) PutVarint(b, name_at.at(e.name));
      if (HasValue(e.kind)) EncodeValue(e.value, b);
      if (HasAmount(e.kind)) PutVarint(b, ZigZag(e.amount));
      if (e.kind == OpKind::kGrant) PutVarint(b, device_at.at(e.to));
      items.push_back(std::move(b));
    }
    put_sorted(items);
  }
  return out;
}

Status Rules::LoadSummary(ByteView in) {
  Clear();
  auto bad = [this](const std::string& what) {
    Clear();
    return Corruption("rules summary: " + what);
  };
  // Read whole first, naming devices and names by table position; interned only once it is
  // known to be well formed.
  size_t pos = 0;
  auto count = [&](uint64_t& n, size_t min_bytes) {
    auto v = GetVarint(in, pos);
    if (!v || *v > (in.size() - pos) / min_bytes) return false;
    n = *v;
    return true;
  };
  if (in.empty() || in[0] != kSummaryFormat) return bad("unknown format");
  pos = 1;
  uint64_t n_devices = 0, n_names = 0, n = 0;
  if (!count(n_devices, 32)) return bad("device table");
  std::vector<DeviceId> devices(n_devices);
  for (size_t i = 0; i < devices.size(); ++i) {
    std::memcpy(devices[i].data(), in.data() + pos, 32);
    pos += 32;
    if (i > 0 && !(devices[i - 1] < devices[i])) return bad("device table out of order");
  }
  if (!count(n_names, 1)) return bad("name table");
  std::vector<std::string> texts(n_names);
  for (size_t i = 0; i < texts.size(); ++i) {
    if (!GetText(in, pos, texts[i])) return bad("name table");
    if (i > 0 && !(texts[i - 1] < texts[i])) return bad("name table out of order");
  }
  auto get_stamp = [&](Stamp& s) {
    auto hlc = GetVarint(in, pos);
    auto dev = hlc ? GetVarint(in, pos) : std::nullopt;
    auto seq = dev ? GetVarint(in, pos) : std::nullopt;
    auto idx = seq ? GetVarint(in, pos) : std::nullopt;
    if (!idx || *idx > UINT32_MAX || *dev >= n_devices) return false;
    s = Stamp{*hlc, static_cast<uint32_t>(*dev), *seq, static_cast<uint32_t>(*idx)};
    return true;
  };
  // Entries are written in the order of their bytes: anything else is not a summary.
  size_t previous = 0, previous_end = 0;
  auto in_order = [&](size_t start) {
    const bool ok =
        previous_end == 0 ||
        !std::lexicographical_compare(in.begin() + static_cast<std::ptrdiff_t>(start),
                                      in.begin() + static_cast<std::ptrdiff_t>(pos),
                                      in.begin() + static_cast<std::ptrdiff_t>(previous),
                                      in.begin() + static_cast<std::ptrdiff_t>(previous_end));
    previous = start;
    previous_end = pos;
    return ok;
  };

  struct ReadUpgrade {
    Stamp stamp;
    tools::Tool tool;
  };
  std::vector<ReadUpgrade> read_upgrades;
  if (!count(n, 5)) return bad("upgrades");
  for (uint64_t i = 0; i < n; ++i) {
    const size_t start = pos;
    Stamp stamp;
    std::string bytes;
    if (!get_stamp(stamp) || !GetText(in, pos, bytes)) return bad("upgrade");
    if (!in_order(start)) return bad("upgrades out of order");
    auto tool = tools::ParseCanonical(AsBytes(bytes));
    if (!tool.ok()) return bad("upgrade: " + tool.status().message());
    const bool ours = std::any_of(tools_.begin(), tools_.end(),
                                  [&](const tools::Tool& t) { return t.name == tool->name; });
    if (!ours) return bad("upgrade of tool " + tool->name + ", which this workspace lacks");
    read_upgrades.push_back(ReadUpgrade{stamp, std::move(tool).value()});
  }

  struct ReadRecord {
    uint32_t dev = 0;
    uint64_t n = 0;
    std::vector<JournalEntry> entries;
  };
  std::vector<ReadRecord> read_records;
  if (!count(n, 3)) return bad("records");
  for (uint64_t i = 0; i < n; ++i) {
    ReadRecord r;
    auto dev = GetVarint(in, pos);
    auto key_n = dev ? GetVarint(in, pos) : std::nullopt;
    if (!key_n || *dev >= n_devices) return bad("record key");
    r.dev = static_cast<uint32_t>(*dev);
    r.n = *key_n;
    if (!read_records.empty()) {
      const ReadRecord& last = read_records.back();
      if (last.dev > r.dev || (last.dev == r.dev && last.n >= r.n)) {
        return bad("records out of order");
      }
    }
    uint64_t n_entries = 0;
    if (!count(n_entries, 5)) return bad("entries");
    previous_end = 0;
    for (uint64_t k = 0; k < n_entries; ++k) {
      const size_t start = pos;
      if (pos >= in.size()) return bad("entry");
      const uint8_t head = in[pos++];
      const uint8_t kind = head & kSummaryKindMask;
      if ((head & ~(kSummaryKindMask | kSummarySubOp)) != 0 ||
          kind < static_cast<uint8_t>(OpKind::kCreate) ||
          kind > static_cast<uint8_t>(OpKind::kUpgrade)) {
        return bad("entry kind");
      }
      JournalEntry e;
      e.kind = static_cast<OpKind>(kind);
      e.sub_op = (head & kSummarySubOp) != 0;
      if (!get_stamp(e.stamp)) return bad("entry stamp");
      if (HasName(e.kind)) {
        auto name = GetVarint(in, pos);
        if (!name || *name >= n_names) return bad("entry name");
        e.name = static_cast<uint32_t>(*name);
      }
      if (HasValue(e.kind)) {
        auto value = DecodeValue(in, pos);
        if (!value) return bad("entry value");
        e.value = std::move(*value);
      }
      if (HasAmount(e.kind)) {
        auto amount = GetVarint(in, pos);
        if (!amount) return bad("entry amount");
        e.amount = UnZigZag(*amount);
      }
      if (e.kind == OpKind::kGrant) {
        auto to = GetVarint(in, pos);
        if (!to || *to >= n_devices) return bad("grant target");
        e.to = static_cast<uint32_t>(*to);
      }
      if (!in_order(start)) return bad("entries out of order");
      r.entries.push_back(std::move(e));
    }
    read_records.push_back(std::move(r));
  }
  if (pos != in.size()) return bad("trailing bytes");

  // Well formed: intern and take it.
  Names& names = host_.names();
  std::vector<uint32_t> dev_of(devices.size()), name_of(texts.size());
  for (size_t i = 0; i < devices.size(); ++i) dev_of[i] = host_.InternDevice(devices[i]);
  for (size_t i = 0; i < texts.size(); ++i) name_of[i] = names.Intern(texts[i]);
  for (ReadUpgrade& r : read_upgrades) {
    Upgrade u;
    u.stamp = r.stamp;
    u.stamp.dev = dev_of[r.stamp.dev];
    u.tool = std::make_unique<tools::Tool>(std::move(r.tool));
    for (const tools::Type& type : u.tool->types) {
      u.types[names.Intern(type.name)] = TypeRef{u.tool.get(), &type};
    }
    upgrades_.push_back(std::move(u));
  }
  RefreshCurrent();
  std::vector<std::pair<RecordKey, RecordKey>> references;  // (target, referrer)
  for (ReadRecord& r : read_records) {
    const RecordKey key{dev_of[r.dev], r.n};
    for (JournalEntry& e : r.entries) {
      e.stamp.dev = dev_of[e.stamp.dev];
      if (HasName(e.kind)) e.name = name_of[e.name];
      if (e.kind == OpKind::kGrant) e.to = dev_of[e.to];
      if (const auto* ref = std::get_if<RecordId>(&e.value.v)) {
        if (auto target = host_.KeyOfId(*ref)) references.emplace_back(*target, key);
      }
    }
    journal_[key].entries = std::move(r.entries);
  }
  // As Journal() notes them: every kept value that refers to a record.
  for (const auto& [target, referrer] : references) {
    std::vector<RecordKey>& list = journal_[target].referrers;
    if (list.empty() || !(list.back() == referrer)) list.push_back(referrer);
  }
  return Status::Ok();
}

}  // namespace grove::replica
