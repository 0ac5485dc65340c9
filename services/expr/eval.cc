// Tree-walking evaluator. Recursion depth is bounded by the tree depth Parse() allows, and every
// node and visited list item costs a step, so any evaluation ends within Limits.

#include <limits>

#include "expr/ast.h"

namespace grove::expr {
namespace {

using ListPtr = std::shared_ptr<const List>;

const List& ItemsOf(const ListPtr& l) {
  static const List kEmpty;
  return l ? *l : kEmpty;
}

std::string Show(const Value& v) {
  if (v.is_null()) return "null";
  return std::string(v.KindName()) + " " + v.DebugString();
}

std::string ShowKind(const Value& v) {
  if (const auto* m = std::get_if<MoneyValue>(&v.v)) return "money in " + m->currency;
  return v.KindName();
}

bool IsCurrency(const std::string& c) {
  if (c.size() != 3) return false;
  for (char ch : c) {
    if (ch < 'A' || ch > 'Z') return false;
  }
  return true;
}

class Evaluator {
 public:
  Evaluator(const ExprImpl& expr, Environment& env, const Limits& limits)
      : expr_(expr), env_(env), limits_(limits) {}

  Result<Value> Eval(const Node& n) {
    GROVE_RETURN_IF_ERROR(Charge(n, 1));
    switch (n.kind) {
      case NodeKind::kLiteral:
        return n.literal;
      case NodeKind::kName:
        return FromEnv(n, env_.Name(n.name));
      case NodeKind::kMember: {
        GROVE_ASSIGN_OR_RETURN(Value base, Eval(*n.kids[0]));
        return MemberOf(n, base, n.name);
      }
      case NodeKind::kCall:
        return Call(n);
      case NodeKind::kUnary:
        return n.op == Op::kNot ? Not(n) : Negate(n);
      case NodeKind::kBinary:
        return Binary(n);
    }
    return Fail(Code::kInternal, n, "unknown node");
  }

 private:
  Status Fail(Code code, const Node& n, const std::string& detail) const {
    return Status(code, expr_.SourceOf(n) + ": " + detail, ColumnAt(n.begin));
  }
  Status Invalid(const Node& n, const std::string& detail) const {
    return Fail(Code::kInvalidArgument, n, detail);
  }

  Status Charge(const Node& n, uint64_t steps) {
    // steps_ never exceeds max_steps, so the subtraction cannot wrap.
    if (steps > limits_.max_steps - steps_) {
      return Fail(kOutOfRange, n,
                  "evaluation exceeded " + std::to_string(limits_.max_steps) + " steps");
    }
    steps_ += steps;
    return Status::Ok();
  }

  Status CheckList(const Node& n, const Value& v) const {
    const auto* l = std::get_if<ListPtr>(&v.v);
    if (l && ItemsOf(*l).size() > limits_.max_list) {
      return Fail(kOutOfRange, n,
                  "list of " + std::to_string(ItemsOf(*l).size()) + " items exceeds the limit of " +
                      std::to_string(limits_.max_list));
    }
    return Status::Ok();
  }

  // Environment errors get the sub-expression prefixed; values entering from outside are
  // checked against the list limit.
  Result<Value> FromEnv(const Node& n, Result<Value> r) const {
    if (!r.ok()) {
      const Status& s = r.status();
      return Status(s.code(), expr_.SourceOf(n) + ": " + s.message(),
                    s.where().empty() ? ColumnAt(n.begin) : s.where());
    }
    GROVE_RETURN_IF_ERROR(CheckList(n, *r));
    return r;
  }

  Result<Value> MemberOf(const Node& n, const Value& base, std::string_view member) {
    if (base.is_null()) return Value();
    if (!std::holds_alternative<RecordHandle>(base.v)) {
      return Invalid(n, "cannot read member " + std::string(member) + " of " + Show(base) +
                            " (only records have members)");
    }
    return FromEnv(n, env_.Member(base, member));
  }

  // `side`, when given, is the operator of an and/or whose operand this is. The message is built
  // only on failure: guards run once per op checked, and building it costs an allocation.
  Result<bool> Bool(const Node& n, const Value& v, std::string_view role,
                    const char* side = nullptr) const {
    if (const auto* b = std::get_if<bool>(&v.v)) return *b;
    std::string who(role);
    if (side) who += std::string(" side of '") + side + "'";
    return Invalid(n, who + " must be true or false, not " + Show(v));
  }

  Result<Value> Not(const Node& n) {
    GROVE_ASSIGN_OR_RETURN(Value x, Eval(*n.kids[0]));
    GROVE_ASSIGN_OR_RETURN(bool b, Bool(n, x, "the operand of 'not'"));
    return Value::Bool(!b);
  }

  Result<Value> Negate(const Node& n) {
    GROVE_ASSIGN_OR_RETURN(Value x, Eval(*n.kids[0]));
    if (const auto* i = std::get_if<int64_t>(&x.v)) {
      int64_t r;
      if (__builtin_sub_overflow(int64_t{0}, *i, &r)) {
        return Fail(kOutOfRange, n, "integer overflow negating " + std::to_string(*i));
      }
      return Value::Int(r);
    }
    if (const auto* m = std::get_if<MoneyValue>(&x.v)) {
      int64_t r;
      if (__builtin_sub_overflow(int64_t{0}, m->minor, &r)) {
        return Fail(kOutOfRange, n, "integer overflow negating " + Show(x));
      }
      return Value::Money(r, m->currency);
    }
    return Invalid(n, "cannot negate " + Show(x));
  }

  Result<Value> Binary(const Node& n) {
    if (n.op == Op::kAnd || n.op == Op::kOr) return Logical(n);
    GROVE_ASSIGN_OR_RETURN(Value l, Eval(*n.kids[0]));
    GROVE_ASSIGN_OR_RETURN(Value r, Eval(*n.kids[1]));
    switch (n.op) {
      case Op::kEq:
      case Op::kNe: {
        GROVE_RETURN_IF_ERROR(ChargeEquality(n, l, r));
        return Value::Bool((l == r) == (n.op == Op::kEq));
      }
      case Op::kLt:
      case Op::kLe:
      case Op::kGt:
      case Op::kGe: {
        GROVE_ASSIGN_OR_RETURN(int c, Compare(n, l, r));
        bool b = n.op == Op::kLt   ? c < 0
                 : n.op == Op::kLe ? c <= 0
                 : n.op == Op::kGt ? c > 0
                                   : c >= 0;
        return Value::Bool(b);
      }
      case Op::kIn:
        return In(n, l, r);
      default:
        return Arithmetic(n, l, r);
    }
  }

  Result<Value> Logical(const Node& n) {
    const bool is_and = n.op == Op::kAnd;
    GROVE_ASSIGN_OR_RETURN(Value l, Eval(*n.kids[0]));
    GROVE_ASSIGN_OR_RETURN(bool lb, Bool(n, l, "the left", OpText(n.op)));
    // Short-circuit: the right side may be unsafe to evaluate (e.g. is_set(x) and x.y > 0).
    if (lb != is_and) return Value::Bool(lb);
    GROVE_ASSIGN_OR_RETURN(Value r, Eval(*n.kids[1]));
    GROVE_ASSIGN_OR_RETURN(bool rb, Bool(n, r, "the right", OpText(n.op)));
    return Value::Bool(rb);
  }

  // Structural equality walks lists; charge for it so comparing huge lists is bounded too.
  Status ChargeEquality(const Node& n, const Value& l, const Value& r) {
    const auto* a = std::get_if<ListPtr>(&l.v);
    const auto* b = std::get_if<ListPtr>(&r.v);
    if (a && b) return Charge(n, std::min(ItemsOf(*a).size(), ItemsOf(*b).size()));
    return Status::Ok();
  }

  // <0, 0, >0 for values that can be ordered: integers, texts (bytewise), money in one currency.
  Result<int> Compare(const Node& n, const Value& l, const Value& r) const {
    if (l.v.index() == r.v.index()) {
      if (const auto* a = std::get_if<int64_t>(&l.v)) {
        int64_t b = std::get<int64_t>(r.v);
        return *a < b ? -1 : *a > b ? 1 : 0;
      }
      if (const auto* a = std::get_if<std::string>(&l.v)) {
        // std::string compares char_traits<char>, which compares as unsigned char: bytewise.
        int c = a->compare(std::get<std::string>(r.v));
        return c < 0 ? -1 : c > 0 ? 1 : 0;
      }
      if (const auto* a = std::get_if<MoneyValue>(&l.v)) {
        const auto& b = std::get<MoneyValue>(r.v);
        if (a->currency != b.currency) {
          return Invalid(n, "money in " + a->currency + " compared with money in " + b.currency);
        }
        return a->minor < b.minor ? -1 : a->minor > b.minor ? 1 : 0;
      }
      return Invalid(n, std::string(l.KindName()) + " values have no order");
    }
    return Invalid(n, "cannot order " + Show(l) + " against " + Show(r));
  }

  Result<Value> In(const Node& n, const Value& x, const Value& list) {
    const auto* l = std::get_if<ListPtr>(&list.v);
    if (!l) return Invalid(n, "the right side of 'in' must be a list, not " + Show(list));
    for (const Value& item : ItemsOf(*l)) {
      GROVE_RETURN_IF_ERROR(Charge(n, 1));
      GROVE_RETURN_IF_ERROR(ChargeEquality(n, x, item));
      if (x == item) return Value::Bool(true);
    }
    return Value::Bool(false);
  }

  Result<Value> Arithmetic(const Node& n, const Value& l, const Value& r) {
    const auto* li = std::get_if<int64_t>(&l.v);
    const auto* ri = std::get_if<int64_t>(&r.v);
    const auto* lm = std::get_if<MoneyValue>(&l.v);
    const auto* rm = std::get_if<MoneyValue>(&r.v);
    if (li && ri) {
      GROVE_ASSIGN_OR_RETURN(int64_t v, IntOp(n, *li, *ri));
      return Value::Int(v);
    }
    switch (n.op) {
      case Op::kAdd:
      case Op::kSub:
        if (lm && rm) {
          if (lm->currency != rm->currency) {
            return Invalid(n, std::string("cannot ") + (n.op == Op::kAdd ? "add" : "subtract") +
                                  " money in " + lm->currency + " and money in " + rm->currency);
          }
          GROVE_ASSIGN_OR_RETURN(int64_t v, IntOp(n, lm->minor, rm->minor));
          return Value::Money(v, lm->currency);
        }
        if (n.op == Op::kAdd) {
          const auto* lt = std::get_if<std::string>(&l.v);
          const auto* rt = std::get_if<std::string>(&r.v);
          if (lt && rt) return Value::Text(*lt + *rt);
        }
        break;
      case Op::kMul:
        if (lm && ri) {
          GROVE_ASSIGN_OR_RETURN(int64_t v, IntOp(n, lm->minor, *ri));
          return Value::Money(v, lm->currency);
        }
        if (li && rm) {
          GROVE_ASSIGN_OR_RETURN(int64_t v, IntOp(n, *li, rm->minor));
          return Value::Money(v, rm->currency);
        }
        break;
      case Op::kDiv:
        if (lm && ri) {
          GROVE_ASSIGN_OR_RETURN(int64_t v, IntOp(n, lm->minor, *ri));
          return Value::Money(v, lm->currency);
        }
        break;
      default:
        break;
    }
    return Invalid(
        n, std::string("'") + OpText(n.op) + "' cannot combine " + Show(l) + " and " + Show(r));
  }

  Result<int64_t> IntOp(const Node& n, int64_t a, int64_t b) const {
    int64_t r = 0;
    bool overflow = false;
    switch (n.op) {
      case Op::kAdd:
        overflow = __builtin_add_overflow(a, b, &r);
        break;
      case Op::kSub:
        overflow = __builtin_sub_overflow(a, b, &r);
        break;
      case Op::kMul:
        overflow = __builtin_mul_overflow(a, b, &r);
        break;
      case Op::kDiv:
      case Op::kMod:
        if (b == 0) return Fail(kOutOfRange, n, "division by zero");
        if (a == std::numeric_limits<int64_t>::min() && b == -1) {
          // The one quotient that does not fit; its remainder is 0 but the hardware traps.
          if (n.op == Op::kMod) return int64_t{0};
          overflow = true;
          break;
        }
        // C++ division truncates toward zero, as the language specifies.
        r = n.op == Op::kDiv ? a / b : a % b;
        break;
      default:
        return Fail(Code::kInternal, n, "not an arithmetic operator");
    }
    if (overflow) {
      return Fail(kOutOfRange, n,
                  "integer overflow in " + std::to_string(a) + " " + OpText(n.op) + " " +
                      std::to_string(b));
    }
    return r;
  }

  Result<Value> Call(const Node& n) {
    const std::string& f = n.name;
    if (f == "if") {
      GROVE_ASSIGN_OR_RETURN(Value c, Eval(*n.kids[0]));
      GROVE_ASSIGN_OR_RETURN(bool b, Bool(n, c, "the condition of if"));
      return Eval(*n.kids[b ? 1 : 2]);
    }
    std::vector<Value> args;
    args.reserve(n.kids.size());
    for (const auto& k : n.kids) {
      GROVE_ASSIGN_OR_RETURN(Value a, Eval(*k));
      args.push_back(std::move(a));
    }
    if (f == "count") return Count(n, args[0]);
    if (f == "sum") return Sum(n, args[0], args[1]);
    if (f == "min" || f == "max") {
      GROVE_ASSIGN_OR_RETURN(int c, Compare(n, args[0], args[1]));
      // Ties keep the first argument: deterministic whichever way it is written.
      bool first = f == "min" ? c <= 0 : c >= 0;
      return std::move(args[first ? 0 : 1]);
    }
    if (f == "len") {
      const auto* t = std::get_if<std::string>(&args[0].v);
      if (!t) return Invalid(n, "len needs text, not " + Show(args[0]));
      if (t->size() > static_cast<size_t>(std::numeric_limits<int64_t>::max())) {
        return Fail(kOutOfRange, n, "text too long");
      }
      return Value::Int(static_cast<int64_t>(t->size()));
    }
    if (f == "is_set") return Value::Bool(!args[0].is_null());
    if (f == "money") return MakeMoney(n, args[0], args[1]);
    return FromEnv(n, env_.Call(f, args));
  }

  Result<Value> Count(const Node& n, const Value& v) {
    const auto* l = std::get_if<ListPtr>(&v.v);
    if (!l) return Invalid(n, "count needs a list, not " + Show(v));
    size_t size = ItemsOf(*l).size();
    GROVE_RETURN_IF_ERROR(Charge(n, size));
    return Value::Int(static_cast<int64_t>(size));
  }

  Result<Value> Sum(const Node& n, const Value& list, const Value& field) {
    const auto* l = std::get_if<ListPtr>(&list.v);
    if (!l) return Invalid(n, "sum needs a list as its first argument, not " + Show(list));
    const auto* name = std::get_if<std::string>(&field.v);
    if (!name) return Invalid(n, "sum needs a field name (text) second, not " + Show(field));
    Value total;
    for (const Value& item : ItemsOf(*l)) {
      GROVE_RETURN_IF_ERROR(Charge(n, 1));
      GROVE_ASSIGN_OR_RETURN(Value x, MemberOf(n, item, *name));
      // A field never set adds nothing, like an empty list adds nothing.
      if (x.is_null()) continue;
      if (!std::holds_alternative<int64_t>(x.v) && !std::holds_alternative<MoneyValue>(x.v)) {
        return Invalid(n, "sum adds integers or money, but " + *name + " is " + Show(x));
      }
      if (total.is_null()) {
        total = std::move(x);
        continue;
      }
      if (total.v.index() != x.v.index() ||
          (std::holds_alternative<MoneyValue>(x.v) &&
           std::get<MoneyValue>(x.v).currency != std::get<MoneyValue>(total.v).currency)) {
        return Invalid(n, "sum cannot add " + ShowKind(x) + " to " + ShowKind(total));
      }
      int64_t& acc = std::holds_alternative<int64_t>(total.v) ? std::get<int64_t>(total.v)
                                                              : std::get<MoneyValue>(total.v).minor;
      int64_t add = std::holds_alternative<int64_t>(x.v) ? std::get<int64_t>(x.v)
                                                         : std::get<MoneyValue>(x.v).minor;
      if (__builtin_add_overflow(acc, add, &acc)) {
        return Fail(kOutOfRange, n, "integer overflow adding up " + *name);
      }
    }
    return total;
  }

  Result<Value> MakeMoney(const Node& n, const Value& minor, const Value& currency) const {
    const auto* m = std::get_if<int64_t>(&minor.v);
    if (!m) return Invalid(n, "money needs an integer amount in minor units, not " + Show(minor));
    const auto* c = std::get_if<std::string>(&currency.v);
    if (!c || !IsCurrency(*c)) {
      return Invalid(
          n, "money needs a currency of 3 uppercase letters (e.g. 'EUR'), not " + Show(currency));
    }
    return Value::Money(*m, *c);
  }

  const ExprImpl& expr_;
  Environment& env_;
  const Limits& limits_;
  uint64_t steps_ = 0;
};

}  // namespace

Result<Value> Evaluate(const Expr& expr, Environment& env, const Limits& limits) {
  const auto* impl = dynamic_cast<const ExprImpl*>(&expr);
  if (impl == nullptr) return InvalidArgument("Evaluate needs an Expr made by expr::Parse()");
  return Evaluator(*impl, env, limits).Eval(impl->root());
}

Result<bool> EvaluateGuard(const Expr& expr, Environment& env, const Limits& limits) {
  const auto* impl = dynamic_cast<const ExprImpl*>(&expr);
  if (impl == nullptr) return InvalidArgument("Evaluate needs an Expr made by expr::Parse()");
  GROVE_ASSIGN_OR_RETURN(Value v, Evaluator(*impl, env, limits).Eval(impl->root()));
  if (const auto* b = std::get_if<bool>(&v.v)) return *b;
  return InvalidArgument(
      impl->SourceOf(impl->root()) + ": a guard must be true or false, not " + Show(v),
      ColumnAt(impl->root().begin));
}

}  // namespace grove::expr
