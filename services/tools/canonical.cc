// The canonical form: a version byte, then every member of the model in declaration order, with
// no tags and no optional encodings, so that equal Tools give equal bytes and a hash pins one
// definition. Integers are LEB128 varints (signed ones zigzag-encoded), texts and lists are
// length-prefixed, an absent optional is one 0 byte. Expressions travel as their source text.
//
// ParseCanonical reads bytes that a remote peer sent: every length is bounded by what remains,
// nesting is bounded, and the result must re-encode to the very same bytes and pass the same
// checks as a file, so that no peer can pin a definition that a file could not express.
#include <algorithm>

#include "crypto/crypto.h"
#include "tools/check.h"
#include "tools/format.h"
#include "tools/tool.h"

namespace grove::tools {
namespace {

constexpr uint8_t kFormatVersion = 1;
constexpr uint8_t kMaxKind = static_cast<uint8_t>(FieldKind::kStock);
constexpr uint8_t kMaxEffectKind = static_cast<uint8_t>(Effect::Kind::kGrant);

enum LiteralTag : uint8_t { kNone = 0, kBool = 1, kInt = 2, kText = 3, kMoney = 4 };

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

class Writer {
 public:
  Bytes Finish() { return std::move(out_); }

  void U8(uint8_t b) { out_.push_back(b); }
  void Bool(bool b) { U8(b ? 1 : 0); }
  void Var(uint64_t v) { PutVarint(out_, v); }
  void Int(int64_t v) { Var(ZigZag(v)); }
  void Text(const std::string& s) {
    Var(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void Texts(const std::vector<std::string>& v) {
    Var(v.size());
    for (const std::string& s : v) Text(s);
  }
  void OptInt(const std::optional<int64_t>& v) {
    Bool(v.has_value());
    if (v) Int(*v);
  }
  void Expr(const std::shared_ptr<const expr::Expr>& e) {
    Bool(e != nullptr);
    if (e) Text(e->text());
  }
  void Named(const std::vector<std::pair<std::string, std::shared_ptr<const expr::Expr>>>& v) {
    Var(v.size());
    for (const auto& [name, e] : v) {
      Text(name);
      Expr(e);
    }
  }

  void Tool(const tools::Tool& t) {
    U8(kFormatVersion);
    Text(t.name);
    Var(t.version);
    Text(t.title);
    Texts(t.requires_tools);
    Var(t.types.size());
    for (const Type& type : t.types) TypeOf(type);
    // Only when present, so that the bytes (and hash) of a tool without one are as before.
    if (!t.migrate.empty()) {
      Var(t.migrate.size());
      for (const Migration& m : t.migrate) {
        Text(m.type);
        Named(m.sets);
      }
    }
  }

  void TypeOf(const Type& t) {
    Text(t.name);
    Text(t.title);
    Var(t.fields.size());
    for (const Field& f : t.fields) FieldOf(f);
    Texts(t.states);
    Text(t.initial);
    Var(t.transitions.size());
    for (const Transition& tr : t.transitions) TransitionOf(tr);
    Expr(t.edit_guard);
    Text(t.edit_message);
  }

  void FieldOf(const Field& f) {
    Text(f.name);
    Text(f.title);
    U8(static_cast<uint8_t>(f.kind));
    Bool(f.required);
    Bool(f.readonly);
    LiteralOf(f.default_value);
    Texts(f.editable_in);
    OptInt(f.min);
    OptInt(f.max);
    Text(f.currency);
    Texts(f.values);
    Text(f.to);
    U8(static_cast<uint8_t>(f.of));
    Bool(f.keyed);
    OptInt(f.max_bytes);
    Expr(f.computed);
    Expr(f.guard);
    Text(f.message);
  }

  void LiteralOf(const std::optional<Literal>& l) {
    if (!l || std::holds_alternative<std::monostate>(l->v)) return U8(kNone);
    if (auto* b = std::get_if<bool>(&l->v)) {
      U8(kBool);
      return Bool(*b);
    }
    if (auto* i = std::get_if<int64_t>(&l->v)) {
      U8(kInt);
      return Int(*i);
    }
    if (auto* s = std::get_if<std::string>(&l->v)) {
      U8(kText);
      return Text(*s);
    }
    const auto& m = std::get<expr::MoneyValue>(l->v);
    U8(kMoney);
    Int(m.minor);
    Text(m.currency);
  }

  void TransitionOf(const Transition& t) {
    Text(t.name);
    Text(t.title);
    Texts(t.from);
    Text(t.to);
    Texts(t.roles);
    Expr(t.guard);
    Text(t.message);
    Var(t.inputs.size());
    for (const Input& in : t.inputs) {
      Text(in.field);
      Bool(in.required);
    }
    Named(t.sets);
    EffectsOf(t.effects);
  }

  void EffectsOf(const Effects& effects) {
    Var(effects.size());
    for (const Effect& e : effects) {
      U8(static_cast<uint8_t>(e.kind));
      Expr(e.record);
      Text(e.field);
      Expr(e.value);
      Expr(e.key);
      Text(e.type);
      Named(e.fields);
      Text(e.name);
      EffectsOf(e.body);
      // Only grants have a receiver, so the bytes of every other effect are as before.
      if (e.kind == Effect::Kind::kGrant) Expr(e.to);
    }
  }

 private:
  Bytes out_;
};

// Reads what Writer wrote. The first failure sticks (ok_ turns false, every later read yields
// empty values), so the decoding code reads straight through and checks once.
class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}

  bool ok() const { return ok_; }
  bool done() const { return pos_ == in_.size(); }
  const std::string& why() const { return why_; }

  Result<tools::Tool> Tool() {
    tools::Tool t;
    const uint8_t version = U8();
    if (ok_ && version != kFormatVersion) {
      return Corruption("tool definition: unknown canonical format version " +
                        std::to_string(version) + " (this release reads " +
                        std::to_string(kFormatVersion) + ")");
    }
    t.name = Text();
    const uint64_t v = Var();
    if (v > UINT32_MAX) Fail("version out of range");
    t.version = static_cast<uint32_t>(v);
    t.title = Text();
    t.requires_tools = Texts();
    const uint64_t n = Count();
    for (uint64_t i = 0; i < n && ok_; ++i) t.types.push_back(TypeOf());
    if (ok_ && !done()) {
      const uint64_t m = Count();
      if (ok_ && m == 0) Fail("an empty migrate section is written as none");
      for (uint64_t i = 0; i < m && ok_; ++i) {
        Migration mig;
        mig.type = Text();
        mig.sets = Named();
        t.migrate.push_back(std::move(mig));
      }
    }
    if (ok_ && !done()) Fail("trailing bytes");
    if (!ok_) return Corruption("tool definition: malformed canonical bytes (" + why_ + ")");
    return t;
  }

 private:
  void Fail(const std::string& why) {
    if (ok_) why_ = why + " at byte " + std::to_string(pos_);
    ok_ = false;
  }

  uint8_t U8() {
    if (!ok_ || pos_ >= in_.size()) {
      Fail("truncated");
      return 0;
    }
    return in_[pos_++];
  }
  bool Bool() {
    const uint8_t b = U8();
    if (b > 1) Fail("a boolean is neither 0 nor 1");
    return b == 1;
  }
  uint64_t Var() {
    if (!ok_) return 0;
    std::optional<uint64_t> v = GetVarint(in_, pos_);
    if (!v) {
      Fail("bad varint");
      return 0;
    }
    return *v;
  }
  int64_t Int() { return UnZigZag(Var()); }
  // A count of items that take at least one byte each: more than the bytes left is a lie, and
  // believing it would let a peer make us reserve memory.
  uint64_t Count() {
    const uint64_t n = Var();
    if (ok_ && n > in_.size() - pos_) Fail("count exceeds the bytes left");
    return ok_ ? n : 0;
  }
  std::string Text() {
    const uint64_t n = Count();
    if (!ok_) return {};
    std::string s(reinterpret_cast<const char*>(in_.data()) + pos_, n);
    pos_ += n;
    return s;
  }
  std::vector<std::string> Texts() {
    std::vector<std::string> out;
    const uint64_t n = Count();
    for (uint64_t i = 0; i < n && ok_; ++i) out.push_back(Text());
    return out;
  }
  std::optional<int64_t> OptInt() {
    if (!Bool()) return std::nullopt;
    return Int();
  }
  std::shared_ptr<const expr::Expr> Expr() {
    if (!Bool() || !ok_) return nullptr;
    const std::string text = Text();
    if (!ok_) return nullptr;
    Result<std::shared_ptr<const expr::Expr>> e = expr::Parse(text);
    if (!e.ok()) {
      Fail("expression does not parse: " + e.status().message());
      return nullptr;
    }
    return std::move(e).value();
  }
  std::vector<std::pair<std::string, std::shared_ptr<const expr::Expr>>> Named() {
    std::vector<std::pair<std::string, std::shared_ptr<const expr::Expr>>> out;
    const uint64_t n = Count();
    for (uint64_t i = 0; i < n && ok_; ++i) {
      std::string name = Text();
      out.emplace_back(std::move(name), Expr());
    }
    return out;
  }
  FieldKind Kind() {
    const uint8_t k = U8();
    if (k > kMaxKind) Fail("unknown field kind");
    return ok_ ? static_cast<FieldKind>(k) : FieldKind::kText;
  }

  Type TypeOf() {
    Type t;
    t.name = Text();
    t.title = Text();
    uint64_t n = Count();
    for (uint64_t i = 0; i < n && ok_; ++i) t.fields.push_back(FieldOf());
    t.states = Texts();
    t.initial = Text();
    n = Count();
    for (uint64_t i = 0; i < n && ok_; ++i) t.transitions.push_back(TransitionOf());
    t.edit_guard = Expr();
    t.edit_message = Text();
    return t;
  }

  Field FieldOf() {
    Field f;
    f.name = Text();
    f.title = Text();
    f.kind = Kind();
    f.required = Bool();
    f.readonly = Bool();
    f.default_value = LiteralOf();
    f.editable_in = Texts();
    f.min = OptInt();
    f.max = OptInt();
    f.currency = Text();
    f.values = Texts();
    f.to = Text();
    f.of = Kind();
    f.keyed = Bool();
    f.max_bytes = OptInt();
    f.computed = Expr();
    f.guard = Expr();
    f.message = Text();
    return f;
  }

  std::optional<Literal> LiteralOf() {
    switch (U8()) {
      case kNone:
        return std::nullopt;
      case kBool:
        return Literal{Bool()};
      case kInt:
        return Literal{Int()};
      case kText:
        return Literal{Text()};
      case kMoney: {
        expr::MoneyValue m;
        m.minor = Int();
        m.currency = Text();
        return Literal{std::move(m)};
      }
      default:
        Fail("unknown literal tag");
        return std::nullopt;
    }
  }

  Transition TransitionOf() {
    Transition t;
    t.name = Text();
    t.title = Text();
    t.from = Texts();
    t.to = Text();
    t.roles = Texts();
    t.guard = Expr();
    t.message = Text();
    const uint64_t n = Count();
    for (uint64_t i = 0; i < n && ok_; ++i) {
      Input in;
      in.field = Text();
      in.required = Bool();
      t.inputs.push_back(std::move(in));
    }
    t.sets = Named();
    t.effects = EffectsOf(0);
    return t;
  }

  Effects EffectsOf(int depth) {
    Effects out;
    const uint64_t n = Count();
    if (n > 0 && depth > internal::kMaxEffectDepth) {
      Fail("effects nested too deep");
      return out;
    }
    for (uint64_t i = 0; i < n && ok_; ++i) {
      Effect e;
      const uint8_t kind = U8();
      if (kind > kMaxEffectKind) Fail("unknown effect kind");
      e.kind = ok_ ? static_cast<Effect::Kind>(kind) : Effect::Kind::kSet;
      e.record = Expr();
      e.field = Text();
      e.value = Expr();
      e.key = Expr();
      e.type = Text();
      e.fields = Named();
      e.name = Text();
      e.body = EffectsOf(depth + 1);
      if (e.kind == Effect::Kind::kGrant) e.to = Expr();
      out.push_back(std::move(e));
    }
    return out;
  }

  ByteView in_;
  size_t pos_ = 0;
  bool ok_ = true;
  std::string why_;
};

// Inputs, `sets` and create fields are kept sorted by name (the reader sorts them), so that
// their order in a file does not change the hash; bytes out of order are not canonical.
template <typename Items, typename Name>
bool Sorted(const Items& items, Name name) {
  for (size_t i = 1; i < items.size(); ++i) {
    if (!(name(items[i - 1]) < name(items[i]))) return false;
  }
  return true;
}

bool Sorted(const Effects& effects) {
  const auto first = [](const auto& p) -> const std::string& { return p.first; };
  return std::all_of(effects.begin(), effects.end(),
                     [&](const Effect& e) { return Sorted(e.fields, first) && Sorted(e.body); });
}

bool Sorted(const Tool& tool) {
  const auto first = [](const auto& p) -> const std::string& { return p.first; };
  const auto field = [](const Input& in) -> const std::string& { return in.field; };
  for (const Type& type : tool.types) {
    for (const Transition& t : type.transitions) {
      if (!Sorted(t.inputs, field) || !Sorted(t.sets, first) || !Sorted(t.effects)) return false;
    }
  }
  return true;
}

}  // namespace

Bytes Canonical(const Tool& tool) {
  Writer w;
  w.Tool(tool);
  return w.Finish();
}

Hash32 Hash(const Tool& tool) { return crypto::Sha256(Canonical(tool)); }

Result<Tool> ParseCanonical(ByteView bytes) {
  Reader reader(bytes);
  GROVE_ASSIGN_OR_RETURN(Tool tool, reader.Tool());
  // Another encoder could spell the same Tool differently (an overlong varint, inputs out of
  // order); such bytes would hash differently from what every other peer computes.
  if (!Sorted(tool) || Canonical(tool) != Bytes(bytes.begin(), bytes.end())) {
    return Corruption("tool definition: bytes are not in canonical form");
  }
  std::vector<Diagnostic> problems;
  internal::CheckTool(tool, internal::SourceMap(), internal::CheckScope::kFile, {}, problems);
  if (!problems.empty()) {
    return Corruption(
        "tool definition " + (tool.name.empty() ? "" : "'" + tool.name + "' ") +
        "breaks the tool rules: " + problems.front().message +
        (problems.size() > 1 ? " (and " + std::to_string(problems.size() - 1) + " more)" : ""));
  }
  return tool;
}

}  // namespace grove::tools
