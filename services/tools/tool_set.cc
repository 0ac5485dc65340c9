// CheckToolSet: the rules that span a workspace's tools. A tool sees its own types and those of
// the tools it requires (docs/tools.md: `requires` lists the tools whose types it references or
// changes), not every type that happens to be in the workspace: otherwise a tool would work in
// one workspace and break in another that lacks an unstated dependency.
#include <algorithm>
#include <map>
#include <set>

#include "tools/check.h"
#include "tools/format.h"
#include "tools/tool.h"

namespace grove::tools {
namespace {

using internal::JoinNames;

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

Location At(const Tool& tool, Location at) {
  if (at.file.empty()) at.file = tool.file;
  return at;
}

class SetChecker {
 public:
  explicit SetChecker(const std::vector<const Tool*>& tools) : tools_(tools) {}

  std::vector<Diagnostic> Run() {
    for (const Tool* tool : tools_) {
      if (!tool) continue;
      auto [first, inserted] = by_name_.emplace(tool->name, tool);
      if (!inserted) {
        Error(*tool, tool->at,
              "tool " + Quote(tool->name) + " is given twice" +
                  (first->second->file.empty() ? "" : " (also " + first->second->file + ")"));
        continue;
      }
      for (const Type& type : tool->types) {
        auto [owner, fresh] = type_owner_.emplace(type.name, tool);
        if (!fresh) {
          Error(*tool, type.at,
                "type " + Quote(type.name) + " is already declared by tool " +
                    Quote(owner->second->name) + "; type names are unique across a workspace");
        }
      }
    }
    for (const auto& [name, tool] : by_name_) CheckTool(*tool);
    return std::move(out_);
  }

 private:
  void Error(const Tool& tool, const Location& at, std::string message) {
    out_.push_back({At(tool, at), std::move(message)});
  }

  // The type `name` as `tool` sees it: its own, or one of a tool it requires.
  internal::TypeRef Visible(const Tool& tool, std::string_view name) const {
    if (const Type* t = tool.FindType(name)) return {t, false};
    for (const std::string& r : tool.requires_tools) {
      auto it = by_name_.find(r);
      if (it == by_name_.end()) continue;
      if (const Type* t = it->second->FindType(name)) return {t, true};
    }
    return {};
  }

  void CheckTypeName(const Tool& tool, const Location& at, const std::string& what,
                     const std::string& name) {
    if (Visible(tool, name).type) return;
    // With a required tool missing (reported once), its types are unknown, not wrong.
    for (const std::string& r : tool.requires_tools) {
      if (!by_name_.count(r)) return;
    }
    auto owner = type_owner_.find(name);
    if (owner != type_owner_.end()) {
      Error(tool, at,
            what + " names type " + Quote(name) + " of tool " + Quote(owner->second->name) +
                ", which tool " + Quote(tool.name) + " does not list in 'requires'");
      return;
    }
    std::vector<std::string> visible;
    visible.push_back(tool.name);
    for (const std::string& r : tool.requires_tools) visible.push_back(r);
    Error(tool, at,
          what + " names unknown type " + Quote(name) + " (not declared by " + JoinNames(visible) +
              ")");
  }

  void CheckEffects(const Tool& tool, const Effects& effects, const std::string& what) {
    for (const Effect& e : effects) {
      if (e.kind == Effect::Kind::kCreate && !e.type.empty()) {
        CheckTypeName(tool, e.at, what + ": create effect", e.type);
      }
      CheckEffects(tool, e.body, what);
    }
  }

  void CheckTool(const Tool& tool) {
    for (const std::string& r : tool.requires_tools) {
      if (by_name_.count(r)) continue;
      std::vector<std::string> names;
      for (const auto& [name, t] : by_name_) names.push_back(name);
      Error(tool, tool.at,
            "tool " + Quote(tool.name) + " requires tool " + Quote(r) +
                ", which is not among the tools (" + JoinNames(names) + ")");
    }
    for (const Type& type : tool.types) {
      for (const Field& f : type.fields) {
        if (!f.to.empty()) CheckTypeName(tool, f.at, "field " + Quote(f.name) + ": 'to'", f.to);
      }
      for (const Transition& t : type.transitions) {
        CheckEffects(tool, t.effects, "transition " + Quote(t.name));
      }
    }
    // What only other tools' types reveal: effects on their fields, paths through references.
    internal::CheckTool(
        tool, internal::SourceMap(), internal::CheckScope::kSet,
        [&](std::string_view name) { return Visible(tool, name); }, out_);
  }

  const std::vector<const Tool*>& tools_;
  std::map<std::string, const Tool*> by_name_;
  std::map<std::string, const Tool*> type_owner_;
  std::vector<Diagnostic> out_;
};

}  // namespace

std::vector<Diagnostic> CheckToolSet(const std::vector<const Tool*>& tools) {
  return SetChecker(tools).Run();
}

}  // namespace grove::tools

namespace grove::tools {

std::vector<Diagnostic> CheckUpgrade(const Tool& from, const Tool& to) {
  std::vector<Diagnostic> out;
  auto error = [&](Location at, std::string message) {
    out.push_back({At(to, std::move(at)), std::move(message)});
  };
  if (from.name != to.name) {
    error(to.at, "an upgrade of tool " + Quote(from.name) + " cannot be tool " + Quote(to.name));
    return out;
  }
  if (to.version <= from.version) {
    error(to.at, "version " + std::to_string(to.version) + " does not upgrade version " +
                     std::to_string(from.version) + " (it must be higher)");
  }
  for (const Type& old_type : from.types) {
    const Type* type = to.FindType(old_type.name);
    const std::string what = "type " + Quote(old_type.name);
    if (!type) {
      error(to.at, what + " was removed; records of it exist (keep it, or add a new type)");
      continue;
    }
    for (const Field& old_field : old_type.fields) {
      const Field* f = type->FindField(old_field.name);
      if (!f) {
        error(type->at, what + ": field " + Quote(old_field.name) +
                            " was removed; records hold values of it");
        continue;
      }
      const bool stored_before = !old_field.computed, stored_now = !f->computed;
      if (f->kind != old_field.kind || f->of != old_field.of || f->to != old_field.to ||
          f->keyed != old_field.keyed || stored_before != stored_now) {
        error(f->at, what + ": field " + Quote(f->name) + " changed its kind from " +
                         FieldKindName(old_field.kind) + (old_field.computed ? " (computed)" : "") +
                         " to " + FieldKindName(f->kind) + (f->computed ? " (computed)" : "") +
                         "; existing values would change meaning (add a new field and migrate)");
      }
    }
    if (type->initial != old_type.initial) {
      error(type->at, what + ": the initial state changed from " + Quote(old_type.initial) +
                          " to " + Quote(type->initial) +
                          "; records never transitioned would change state");
    }
    for (const std::string& state : old_type.states) {
      if (std::find(type->states.begin(), type->states.end(), state) == type->states.end()) {
        error(type->at, what + ": state " + Quote(state) + " was removed; records may be in it");
      }
    }
    for (const Transition& old_t : old_type.transitions) {
      const Transition* t = type->FindTransition(old_t.name);
      if (!t) {
        error(type->at, what + ": transition " + Quote(old_t.name) +
                            " was removed; a record's state is named by its last transition");
      } else if (t->to != old_t.to) {
        error(t->at, what + ": transition " + Quote(t->name) + " now leads to " + Quote(t->to) +
                         " instead of " + Quote(old_t.to) +
                         "; records it led there would change state");
      }
    }
  }
  return out;
}

}  // namespace grove::tools
