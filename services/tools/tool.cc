#include "tools/tool.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tools/format.h"

namespace grove::tools {

std::string Diagnostic::Text() const {
  // A location of line 0 is unknown (a read failure, canonical bytes): do not invent "0:0".
  std::string out = at.file;
  if (at.line > 0) {
    out += ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
  }
  if (!out.empty()) out += ": ";
  return out + message;
}

const char* FieldKindName(FieldKind kind) {
  switch (kind) {
    case FieldKind::kText:
      return "text";
    case FieldKind::kInteger:
      return "integer";
    case FieldKind::kMoney:
      return "money";
    case FieldKind::kDate:
      return "date";
    case FieldKind::kTime:
      return "time";
    case FieldKind::kFlag:
      return "flag";
    case FieldKind::kEnum:
      return "enum";
    case FieldKind::kReference:
      return "reference";
    case FieldKind::kMember:
      return "member";
    case FieldKind::kAttachment:
      return "attachment";
    case FieldKind::kList:
      return "list";
    case FieldKind::kCounter:
      return "counter";
    case FieldKind::kStock:
      return "stock";
  }
  return "?";
}

std::optional<FieldKind> ParseFieldKind(std::string_view name) {
  for (FieldKind kind : internal::kAllKinds) {
    if (name == FieldKindName(kind)) return kind;
  }
  return std::nullopt;
}

const Field* Type::FindField(std::string_view field_name) const {
  for (const Field& f : fields) {
    if (f.name == field_name) return &f;
  }
  return nullptr;
}

const Transition* Type::FindTransition(std::string_view transition_name) const {
  for (const Transition& t : transitions) {
    if (t.name == transition_name) return &t;
  }
  return nullptr;
}

const Type* Tool::FindType(std::string_view type_name) const {
  for (const Type& t : types) {
    if (t.name == type_name) return &t;
  }
  return nullptr;
}

ParseResult ParseToolFile(const std::string& path) {
  // Tool files are small; anything past this is a wrong path, not a tool.
  constexpr std::streamsize kMaxFileBytes = 4 << 20;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ParseResult r;
    r.diagnostics.push_back(
        {{path, 0, 0}, std::string("cannot read the file: ") + std::strerror(errno)});
    return r;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad() || text.tellp() > kMaxFileBytes) {
    ParseResult r;
    r.diagnostics.push_back(
        {{path, 0, 0}, in.bad() ? "cannot read the file" : "the file is larger than 4 MiB"});
    return r;
  }
  return ParseTool(text.str(), path);
}

namespace internal {

std::vector<std::string_view> FieldOptionKeys(FieldKind kind, FieldKind item) {
  switch (kind) {
    case FieldKind::kText:
      return {"max"};
    case FieldKind::kInteger:
      return {"min", "max"};
    case FieldKind::kMoney:
      return {"currency"};
    case FieldKind::kEnum:
      return {"values"};
    case FieldKind::kReference:
      return {"to"};
    case FieldKind::kAttachment:
      return {"max_bytes"};
    case FieldKind::kStock:
      return {"keyed"};
    case FieldKind::kList: {
      std::vector<std::string_view> keys{"of"};
      if (IsScalarKind(item)) {
        for (std::string_view k : FieldOptionKeys(item)) keys.push_back(k);
      }
      return keys;
    }
    case FieldKind::kDate:
    case FieldKind::kTime:
    case FieldKind::kFlag:
    case FieldKind::kMember:
    case FieldKind::kCounter:
      return {};
  }
  return {};
}

bool IsScalarKind(FieldKind kind) {
  return kind != FieldKind::kList && kind != FieldKind::kCounter && kind != FieldKind::kStock;
}

bool IsName(std::string_view name) {
  if (name.empty() || name.size() > 32 || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace internal
}  // namespace grove::tools
