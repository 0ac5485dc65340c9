// Lexer and recursive-descent parser. One function per precedence level, lowest first, as in
// docs/tools.md: or, and, not, comparisons and `in`, + -, * / %, unary -, member access.

#include <cstdint>
#include <limits>

#include "common/utf8.h"
#include "expr/ast.h"

namespace grove::expr {
namespace {

enum class Tok {
  kEnd,
  kInt,
  kText,
  kWord,  // identifiers and keywords alike; the parser tells them apart
  kLParen,
  kRParen,
  kComma,
  kDot,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kPlus,
  kMinus,
  kStar,
  kSlash,
  kPercent,
};

struct Token {
  Tok kind = Tok::kEnd;
  uint32_t begin = 0;
  uint32_t end = 0;
  std::string text;     // kWord: the word; kText: the decoded text
  uint64_t number = 0;  // kInt; up to 2^63 so that -9223372036854775808 can be written
};

// 2^63: only valid as the operand of a unary minus.
constexpr uint64_t kMaxMagnitude = uint64_t{1} << 63;

bool IsWordStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsWordChar(char c) { return IsWordStart(c) || IsDigit(c); }

bool IsKeyword(std::string_view w) {
  return w == "and" || w == "or" || w == "not" || w == "in" || w == "true" || w == "false" ||
         w == "null";
}

std::string Describe(const Token& t) {
  switch (t.kind) {
    case Tok::kEnd:
      return "end of expression";
    case Tok::kInt:
      return "number " + std::to_string(t.number);
    case Tok::kText:
      return "text " + Value::Text(t.text).DebugString();
    case Tok::kWord:
      return IsKeyword(t.text) ? "'" + t.text + "'" : "name " + t.text;
    case Tok::kLParen:
      return "'('";
    case Tok::kRParen:
      return "')'";
    case Tok::kComma:
      return "','";
    case Tok::kDot:
      return "'.'";
    case Tok::kEq:
      return "'=='";
    case Tok::kNe:
      return "'!='";
    case Tok::kLt:
      return "'<'";
    case Tok::kLe:
      return "'<='";
    case Tok::kGt:
      return "'>'";
    case Tok::kGe:
      return "'>='";
    case Tok::kPlus:
      return "'+'";
    case Tok::kMinus:
      return "'-'";
    case Tok::kStar:
      return "'*'";
    case Tok::kSlash:
      return "'/'";
    case Tok::kPercent:
      return "'%'";
  }
  return "token";
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : s_(text) {}

  Result<std::vector<Token>> Run() {
    std::vector<Token> out;
    while (true) {
      while (pos_ < s_.size() && IsSpace(s_[pos_])) ++pos_;
      Token t;
      t.begin = static_cast<uint32_t>(pos_);
      if (pos_ == s_.size()) {
        t.end = t.begin;
        out.push_back(std::move(t));
        return out;
      }
      GROVE_RETURN_IF_ERROR(Next(t));
      t.end = static_cast<uint32_t>(pos_);
      out.push_back(std::move(t));
    }
  }

 private:
  static bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

  Status Next(Token& t) {
    char c = s_[pos_];
    if (IsDigit(c)) return Number(t);
    if (c == '\'' || c == '"') return Text(t);
    if (IsWordStart(c)) {
      size_t start = pos_;
      while (pos_ < s_.size() && IsWordChar(s_[pos_])) ++pos_;
      t.kind = Tok::kWord;
      t.text = std::string(s_.substr(start, pos_ - start));
      return Status::Ok();
    }
    char next = pos_ + 1 < s_.size() ? s_[pos_ + 1] : '\0';
    auto one = [&](Tok k) {
      t.kind = k;
      pos_ += 1;
      return Status::Ok();
    };
    auto two = [&](Tok k) {
      t.kind = k;
      pos_ += 2;
      return Status::Ok();
    };
    switch (c) {
      case '(':
        return one(Tok::kLParen);
      case ')':
        return one(Tok::kRParen);
      case ',':
        return one(Tok::kComma);
      case '.':
        return one(Tok::kDot);
      case '+':
        return one(Tok::kPlus);
      case '-':
        return one(Tok::kMinus);
      case '*':
        return one(Tok::kStar);
      case '/':
        return one(Tok::kSlash);
      case '%':
        return one(Tok::kPercent);
      case '<':
        return next == '=' ? two(Tok::kLe) : one(Tok::kLt);
      case '>':
        return next == '=' ? two(Tok::kGe) : one(Tok::kGt);
      case '=':
        if (next == '=') return two(Tok::kEq);
        return InvalidArgument("'=' is not an operator; use '==' to compare", ColumnAt(pos_));
      case '!':
        if (next == '=') return two(Tok::kNe);
        return InvalidArgument("'!' is not an operator; use 'not' or '!='", ColumnAt(pos_));
      default:
        break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x21 && u < 0x7F) {
      return InvalidArgument(std::string("unexpected character '") + c + "'", ColumnAt(pos_));
    }
    static constexpr char kHex[] = "0123456789abcdef";
    return InvalidArgument(std::string("unexpected byte 0x") + kHex[u >> 4] + kHex[u & 0xF] +
                               " outside a text literal",
                           ColumnAt(pos_));
  }

  Status Number(Token& t) {
    size_t start = pos_;
    uint64_t n = 0;
    bool too_big = false;
    while (pos_ < s_.size() && IsDigit(s_[pos_])) {
      uint64_t d = static_cast<uint64_t>(s_[pos_] - '0');
      if (n > (kMaxMagnitude - d) / 10) too_big = true;
      if (!too_big) n = n * 10 + d;
      ++pos_;
    }
    if (too_big) {
      return InvalidArgument("integer literal out of range (at most 9223372036854775807)",
                             ColumnAt(start));
    }
    if (pos_ < s_.size() && (IsWordChar(s_[pos_]) || s_[pos_] == '.')) {
      // "1.5" or "12abc": say so here rather than as a confusing member access later.
      return InvalidArgument(
          s_[pos_] == '.' ? "numbers are integers: no decimal point (use money(minor, currency) "
                            "for amounts)"
                          : "expected an operator after the number, found a letter",
          ColumnAt(pos_));
    }
    t.kind = Tok::kInt;
    t.number = n;
    return Status::Ok();
  }

  Status Text(Token& t) {
    size_t start = pos_;
    char quote = s_[pos_++];
    std::string out;
    while (true) {
      if (pos_ == s_.size()) {
        return InvalidArgument(std::string("unterminated text: no closing ") + quote,
                               ColumnAt(start));
      }
      char c = s_[pos_];
      if (c == quote) {
        ++pos_;
        break;
      }
      if (c == '\\') {
        char e = pos_ + 1 < s_.size() ? s_[pos_ + 1] : '\0';
        if (e == '\\' || e == '\'' || e == '"') {
          out += e;
        } else if (e == 'n') {
          out += '\n';
        } else {
          return InvalidArgument("unknown escape in text: only \\\\ \\' \\\" \\n are allowed",
                                 ColumnAt(pos_));
        }
        pos_ += 2;
        continue;
      }
      size_t bad = 0;
      size_t len = Utf8Sequence(s_, pos_, bad);
      if (len == 0) return InvalidArgument("text is not valid UTF-8", ColumnAt(pos_));
      out.append(s_.substr(pos_, len));
      pos_ += len;
    }
    t.kind = Tok::kText;
    t.text = std::move(out);
    return Status::Ok();
  }

  std::string_view s_;
  size_t pos_ = 0;
};

struct Builtin {
  const char* name;
  size_t arity;
  const char* signature;
};
// Arity is checked at parse time so a malformed guard fails when the tool is loaded, not when
// an op first reaches it.
constexpr Builtin kBuiltins[] = {
    {"count", 1, "count(list)"},    {"sum", 2, "sum(list, 'field')"},
    {"min", 2, "min(a, b)"},        {"max", 2, "max(a, b)"},
    {"len", 1, "len(text)"},        {"if", 3, "if(condition, then, else)"},
    {"is_set", 1, "is_set(value)"}, {"money", 2, "money(minor, currency)"},
};

const Builtin* FindBuiltin(std::string_view name) {
  for (const auto& b : kBuiltins) {
    if (name == b.name) return &b;
  }
  return nullptr;
}

using NodePtr = std::unique_ptr<Node>;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  Result<NodePtr> Run() {
    if (Peek().kind == Tok::kEnd) return Expected("an expression");
    GROVE_ASSIGN_OR_RETURN(NodePtr root, Or());
    if (Peek().kind != Tok::kEnd) {
      if (Peek().kind == Tok::kRParen) return Error("unmatched ')'");
      return Expected("an operator or end of expression");
    }
    return root;
  }

 private:
  const Token& Peek() const { return toks_[pos_]; }
  const Token& Take() { return toks_[pos_++]; }
  bool PeekWord(std::string_view w) const { return Peek().kind == Tok::kWord && Peek().text == w; }

  Status Error(std::string msg) const { return InvalidArgument(std::move(msg), Column()); }
  std::string Column() const { return ColumnAt(Peek().begin); }
  Status Expected(const std::string& what) const {
    return Error("expected " + what + ", found " + Describe(Peek()));
  }

  // Every node is made here so depth is checked in one place.
  Result<NodePtr> Make(NodeKind kind, Op op, std::vector<NodePtr> kids, uint32_t begin,
                       uint32_t end, uint32_t at) {
    auto n = std::make_unique<Node>();
    n->kind = kind;
    n->op = op;
    n->begin = begin;
    n->end = end;
    for (const auto& k : kids) n->depth = std::max(n->depth, k->depth + 1);
    n->kids = std::move(kids);
    if (n->depth > kMaxTreeDepth) {
      return InvalidArgument(
          "expression nested too deeply (more than " + std::to_string(kMaxTreeDepth) + " levels)",
          ColumnAt(at));
    }
    return n;
  }

  Result<NodePtr> Binary(Op op, NodePtr l, NodePtr r, uint32_t op_at) {
    uint32_t begin = l->begin;
    uint32_t end = r->end;
    std::vector<NodePtr> kids;
    kids.push_back(std::move(l));
    kids.push_back(std::move(r));
    return Make(NodeKind::kBinary, op, std::move(kids), begin, end, op_at);
  }

  // Guards recursion through parentheses, calls and prefix operators.
  Status Enter() {
    if (++nesting_ > kMaxNesting) {
      return Error("expression nested too deeply (more than " + std::to_string(kMaxNesting) +
                   " levels of parentheses, calls or prefix operators)");
    }
    return Status::Ok();
  }

  Result<NodePtr> Or() {
    GROVE_ASSIGN_OR_RETURN(NodePtr l, And());
    while (PeekWord("or")) {
      uint32_t at = Take().begin;
      GROVE_ASSIGN_OR_RETURN(NodePtr r, And());
      GROVE_ASSIGN_OR_RETURN(l, Binary(Op::kOr, std::move(l), std::move(r), at));
    }
    return l;
  }

  Result<NodePtr> And() {
    GROVE_ASSIGN_OR_RETURN(NodePtr l, Not());
    while (PeekWord("and")) {
      uint32_t at = Take().begin;
      GROVE_ASSIGN_OR_RETURN(NodePtr r, Not());
      GROVE_ASSIGN_OR_RETURN(l, Binary(Op::kAnd, std::move(l), std::move(r), at));
    }
    return l;
  }

  Result<NodePtr> Not() {
    if (!PeekWord("not")) return Comparison();
    GROVE_RETURN_IF_ERROR(Enter());
    uint32_t at = Take().begin;
    GROVE_ASSIGN_OR_RETURN(NodePtr x, Not());
    --nesting_;
    uint32_t end = x->end;
    std::vector<NodePtr> kids;
    kids.push_back(std::move(x));
    return Make(NodeKind::kUnary, Op::kNot, std::move(kids), at, end, at);
  }

  static Op ComparisonOp(const Token& t) {
    switch (t.kind) {
      case Tok::kEq:
        return Op::kEq;
      case Tok::kNe:
        return Op::kNe;
      case Tok::kLt:
        return Op::kLt;
      case Tok::kLe:
        return Op::kLe;
      case Tok::kGt:
        return Op::kGt;
      case Tok::kGe:
        return Op::kGe;
      case Tok::kWord:
        return t.text == "in" ? Op::kIn : Op::kNone;
      default:
        return Op::kNone;
    }
  }

  Result<NodePtr> Comparison() {
    GROVE_ASSIGN_OR_RETURN(NodePtr l, Additive());
    Op op = ComparisonOp(Peek());
    if (op == Op::kNone) return l;
    uint32_t at = Take().begin;
    GROVE_ASSIGN_OR_RETURN(NodePtr r, Additive());
    if (ComparisonOp(Peek()) != Op::kNone) {
      // `a < b < c` would compare a bool with c; make the author say what they mean.
      return Error("comparisons do not chain; combine them with 'and'");
    }
    return Binary(op, std::move(l), std::move(r), at);
  }

  Result<NodePtr> Additive() {
    GROVE_ASSIGN_OR_RETURN(NodePtr l, Multiplicative());
    while (Peek().kind == Tok::kPlus || Peek().kind == Tok::kMinus) {
      Op op = Peek().kind == Tok::kPlus ? Op::kAdd : Op::kSub;
      uint32_t at = Take().begin;
      GROVE_ASSIGN_OR_RETURN(NodePtr r, Multiplicative());
      GROVE_ASSIGN_OR_RETURN(l, Binary(op, std::move(l), std::move(r), at));
    }
    return l;
  }

  Result<NodePtr> Multiplicative() {
    GROVE_ASSIGN_OR_RETURN(NodePtr l, Unary());
    while (Peek().kind == Tok::kStar || Peek().kind == Tok::kSlash ||
           Peek().kind == Tok::kPercent) {
      Op op = Peek().kind == Tok::kStar    ? Op::kMul
              : Peek().kind == Tok::kSlash ? Op::kDiv
                                           : Op::kMod;
      uint32_t at = Take().begin;
      GROVE_ASSIGN_OR_RETURN(NodePtr r, Unary());
      GROVE_ASSIGN_OR_RETURN(l, Binary(op, std::move(l), std::move(r), at));
    }
    return l;
  }

  Result<NodePtr> Unary() {
    if (Peek().kind != Tok::kMinus) return Postfix();
    GROVE_RETURN_IF_ERROR(Enter());
    uint32_t at = Take().begin;
    if (Peek().kind == Tok::kInt) {
      // Fold `-7` into a literal: docs/tools.md lists negative numbers as literals, and
      // INT64_MIN is only writable this way.
      const Token& t = Take();
      --nesting_;
      auto n = std::make_unique<Node>();
      n->literal = Value::Int(t.number == kMaxMagnitude ? std::numeric_limits<int64_t>::min()
                                                        : -static_cast<int64_t>(t.number));
      n->begin = at;
      n->end = t.end;
      return n;
    }
    GROVE_ASSIGN_OR_RETURN(NodePtr x, Unary());
    --nesting_;
    uint32_t end = x->end;
    std::vector<NodePtr> kids;
    kids.push_back(std::move(x));
    return Make(NodeKind::kUnary, Op::kNeg, std::move(kids), at, end, at);
  }

  Result<NodePtr> Postfix() {
    GROVE_ASSIGN_OR_RETURN(NodePtr base, Primary());
    while (Peek().kind == Tok::kDot) {
      uint32_t at = Take().begin;
      if (Peek().kind != Tok::kWord) return Expected("a member name after '.'");
      const Token& m = Take();
      uint32_t begin = base->begin;
      std::vector<NodePtr> kids;
      kids.push_back(std::move(base));
      GROVE_ASSIGN_OR_RETURN(base,
                             Make(NodeKind::kMember, Op::kNone, std::move(kids), begin, m.end, at));
      base->name = m.text;
      if (Peek().kind == Tok::kLParen) {
        return Error("only named functions can be called, not members like " + m.text);
      }
    }
    return base;
  }

  Result<NodePtr> Primary() {
    const Token& t = Peek();
    switch (t.kind) {
      case Tok::kInt: {
        if (t.number == kMaxMagnitude) {
          return Error("integer literal out of range (at most 9223372036854775807)");
        }
        auto n = std::make_unique<Node>();
        n->literal = Value::Int(static_cast<int64_t>(t.number));
        n->begin = t.begin;
        n->end = t.end;
        Take();
        return n;
      }
      case Tok::kText: {
        auto n = std::make_unique<Node>();
        n->literal = Value::Text(t.text);
        n->begin = t.begin;
        n->end = t.end;
        Take();
        return n;
      }
      case Tok::kLParen: {
        GROVE_RETURN_IF_ERROR(Enter());
        uint32_t open = Take().begin;
        if (Peek().kind == Tok::kRParen) return Expected("an expression inside '()'");
        GROVE_ASSIGN_OR_RETURN(NodePtr inner, Or());
        if (Peek().kind != Tok::kRParen) {
          return Expected("')' to close the '(' at column " + std::to_string(open + 1));
        }
        Take();
        --nesting_;
        return inner;
      }
      case Tok::kWord:
        return Word();
      default:
        return Expected("an expression");
    }
  }

  Result<NodePtr> Word() {
    const Token& t = Take();
    auto n = std::make_unique<Node>();
    n->begin = t.begin;
    n->end = t.end;
    if (t.text == "true" || t.text == "false") {
      n->literal = Value::Bool(t.text == "true");
      return n;
    }
    if (t.text == "null") return n;
    if (IsKeyword(t.text)) {
      --pos_;  // report at the keyword itself
      return Expected("an expression");
    }
    if (Peek().kind != Tok::kLParen) {
      n->kind = NodeKind::kName;
      n->name = t.text;
      return n;
    }
    return Call(t);
  }

  Result<NodePtr> Call(const Token& fn) {
    GROVE_RETURN_IF_ERROR(Enter());
    Take();  // '('
    std::vector<NodePtr> args;
    if (Peek().kind != Tok::kRParen) {
      while (true) {
        if (Peek().kind == Tok::kEnd || Peek().kind == Tok::kRParen || Peek().kind == Tok::kComma) {
          return Expected("an argument of " + fn.text);
        }
        GROVE_ASSIGN_OR_RETURN(NodePtr a, Or());
        args.push_back(std::move(a));
        if (Peek().kind != Tok::kComma) break;
        Take();
      }
    }
    if (Peek().kind != Tok::kRParen) {
      return Expected("',' or ')' to close the arguments of " + fn.text);
    }
    uint32_t end = Take().end;
    --nesting_;
    if (const Builtin* b = FindBuiltin(fn.text); b && args.size() != b->arity) {
      return InvalidArgument(std::string(b->signature) + " takes " + std::to_string(b->arity) +
                                 (b->arity == 1 ? " argument" : " arguments") + ", found " +
                                 std::to_string(args.size()),
                             ColumnAt(fn.begin));
    }
    GROVE_ASSIGN_OR_RETURN(
        NodePtr n, Make(NodeKind::kCall, Op::kNone, std::move(args), fn.begin, end, fn.begin));
    n->name = fn.text;
    return n;
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  int nesting_ = 0;
};

}  // namespace

Result<std::shared_ptr<const Expr>> Parse(std::string_view text) {
  if (text.size() > kMaxTextBytes) {
    return InvalidArgument("expression is longer than " + std::to_string(kMaxTextBytes) +
                               " bytes (" + std::to_string(text.size()) + ")",
                           ColumnAt(kMaxTextBytes));
  }
  GROVE_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lexer(text).Run());
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<Node> root, Parser(std::move(tokens)).Run());
  return std::shared_ptr<const Expr>(
      std::make_shared<ExprImpl>(std::string(text), std::move(root)));
}

}  // namespace grove::expr
