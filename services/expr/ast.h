// Internal to grove_expr: the syntax tree Parse() builds and Evaluate() walks.
//
// A tree is immutable once built and owned by its ExprImpl; its depth is bounded at parse time
// (kMaxTreeDepth), so recursive walks and destruction cannot exhaust the stack.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "expr/expr.h"

namespace grove::expr {

// Bounds on expression text, checked by Parse(); adversarial input must fail cleanly.
inline constexpr size_t kMaxTextBytes = 4096;
// Nesting of parentheses, calls and prefix operators: bounds the parser's recursion.
inline constexpr int kMaxNesting = 64;
// Depth of the tree, which also grows with chains like `a + b + c` or `a.b.c`: bounds the
// evaluator's recursion.
inline constexpr int kMaxTreeDepth = 256;

enum class NodeKind { kLiteral, kName, kMember, kCall, kUnary, kBinary };

enum class Op {
  kNone,
  kOr,
  kAnd,
  kNot,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kIn,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kNeg,
};

// The operator as written ("==", "and", ...).
const char* OpText(Op op);

struct Node {
  NodeKind kind = NodeKind::kLiteral;
  Op op = Op::kNone;                        // kUnary, kBinary
  Value literal;                            // kLiteral
  std::string name;                         // kName; kMember: the member; kCall: the function
  std::vector<std::unique_ptr<Node>> kids;  // kMember: {base}; kCall: args; operators: operands
  uint32_t begin = 0;                       // source span [begin, end) in the expression text
  uint32_t end = 0;
  int depth = 1;  // 1 + the deepest kid's depth
};

class ExprImpl final : public Expr {
 public:
  ExprImpl(std::string text, std::unique_ptr<Node> root);

  const std::string& text() const override { return text_; }
  std::vector<std::string> names() const override { return names_; }
  std::vector<std::string> paths() const override { return paths_; }
  std::vector<std::string> functions() const override { return functions_; }

  const Node& root() const { return *root_; }
  // The source text of `node`, shortened for messages.
  std::string SourceOf(const Node& node) const;

 private:
  void Collect(const Node& node);

  std::string text_;
  std::unique_ptr<Node> root_;
  std::vector<std::string> names_;
  std::vector<std::string> paths_;
  std::vector<std::string> functions_;
};

// "column N" for a byte offset into the expression text.
std::string ColumnAt(size_t offset);

}  // namespace grove::expr
