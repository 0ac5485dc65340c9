#include "expr/ast.h"

#include <algorithm>

namespace grove::expr {
namespace {

// Messages quote sub-expressions; a 4 KB expression would drown the reason.
constexpr size_t kMaxQuotedSource = 120;

void AddUnique(std::vector<std::string>& out, std::string s) {
  if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
}

}  // namespace

const char* OpText(Op op) {
  switch (op) {
    case Op::kNone:
      return "";
    case Op::kOr:
      return "or";
    case Op::kAnd:
      return "and";
    case Op::kNot:
      return "not";
    case Op::kEq:
      return "==";
    case Op::kNe:
      return "!=";
    case Op::kLt:
      return "<";
    case Op::kLe:
      return "<=";
    case Op::kGt:
      return ">";
    case Op::kGe:
      return ">=";
    case Op::kIn:
      return "in";
    case Op::kAdd:
      return "+";
    case Op::kSub:
    case Op::kNeg:
      return "-";
    case Op::kMul:
      return "*";
    case Op::kDiv:
      return "/";
    case Op::kMod:
      return "%";
  }
  return "?";
}

std::string ColumnAt(size_t offset) { return "column " + std::to_string(offset + 1); }

ExprImpl::ExprImpl(std::string text, std::unique_ptr<Node> root)
    : text_(std::move(text)), root_(std::move(root)) {
  Collect(*root_);
}

std::string ExprImpl::SourceOf(const Node& node) const {
  std::string_view src = std::string_view(text_).substr(node.begin, node.end - node.begin);
  if (src.size() <= kMaxQuotedSource) return std::string(src);
  size_t cut = kMaxQuotedSource;
  // Never split a UTF-8 sequence: back up over continuation bytes.
  while (cut > 0 && (static_cast<unsigned char>(src[cut]) & 0xC0) == 0x80) --cut;
  return std::string(src.substr(0, cut)) + "…";
}

void ExprImpl::Collect(const Node& node) {
  switch (node.kind) {
    case NodeKind::kName:
      AddUnique(names_, node.name);
      return;
    case NodeKind::kMember: {
      // Only the longest chain matters for static checks: "a.b.c" implies "a.b".
      std::vector<const Node*> chain;
      const Node* n = &node;
      while (n->kind == NodeKind::kMember) {
        chain.push_back(n);
        n = n->kids[0].get();
      }
      if (n->kind == NodeKind::kName) {
        std::string path = n->name;
        for (auto it = chain.rbegin(); it != chain.rend(); ++it) path += "." + (*it)->name;
        AddUnique(names_, n->name);
        AddUnique(paths_, std::move(path));
      } else {
        Collect(*n);
      }
      return;
    }
    case NodeKind::kCall:
      AddUnique(functions_, node.name);
      break;
    case NodeKind::kLiteral:
    case NodeKind::kUnary:
    case NodeKind::kBinary:
      break;
  }
  for (const auto& kid : node.kids) Collect(*kid);
}

}  // namespace grove::expr
