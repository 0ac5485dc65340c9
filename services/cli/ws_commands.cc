// Workspaces over the peer's API: `grove ws create|list|invite|accept|members|remove|tools`,
// `grove invitations`, and their history: `grove checkpoint`, `grove history`.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/command.h"
#include "cli/data_folder.h"
#include "cli/table.h"
#include "identity/identity.h"

namespace grove::cli {
namespace {

using api::Json;

// 16 hex digits tell workspaces apart by eye (and work as a prefix); --json has all 64.
std::string Short(const std::string& id) { return id.substr(0, 16); }

std::string Joined(const Json* list) {
  std::string text;
  if (list == nullptr) return text;
  for (const Json& item : list->items()) text += (text.empty() ? "" : ",") + CellText(item);
  return text;
}

// The client and the resolved workspace of a command's first positional argument.
struct Target {
  ApiClient api;
  std::string ws;
};

// Opens the client and, when there is a positional argument, resolves it as a workspace (among
// the pending invitations for `invitation`). On failure prints why and sets `exit`.
std::optional<Target> Open(const Args& args, int& exit, bool invitation = false) {
  std::optional<ApiClient> api = OpenApi(args, exit);
  if (!api) return std::nullopt;
  Target target{std::move(*api), ""};
  if (args.positional().empty()) return target;
  Result<std::string> ws = target.api.ResolveWorkspace(args.positional()[0], invitation);
  if (!ws.ok()) {
    exit = target.api.Fail(ws.status());
    return std::nullopt;
  }
  target.ws = *ws;
  return target;
}

int RunCreate(const Args& args) {
  int exit = kExitOk;
  std::optional<ApiClient> api = OpenApi(args, exit);
  if (!api) return exit;
  Json body = Json::Object();
  body.Set("name", args.positional()[0]);
  Json tools = Json::Array();
  if (const std::string* list = args.Get("tools")) {
    size_t start = 0;
    while (start <= list->size()) {
      size_t comma = list->find(',', start);
      if (comma == std::string::npos) comma = list->size();
      std::string tool = list->substr(start, comma - start);
      while (!tool.empty() && tool.front() == ' ') tool.erase(0, 1);
      while (!tool.empty() && tool.back() == ' ') tool.pop_back();
      if (!tool.empty()) tools.Add(tool);
      start = comma + 1;
    }
  }
  body.Set("tools", std::move(tools));
  Result<Json> created = api->Call("POST", "/api/v1/workspaces", &body);
  if (!created.ok()) return api->Fail(created.status());
  if (args.Has("json")) {
    PrintJson(*created);
  } else {
    std::cout << "created workspace " << JsonText(*created, "id") << " (" << args.positional()[0]
              << ")\n";
  }
  return kExitOk;
}

int RunList(const Args& args) {
  int exit = kExitOk;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  Result<Json> list = target->api.Get("/api/v1/workspaces");
  if (!list.ok()) return target->api.Fail(list.status());
  if (args.Has("json")) {
    PrintJson(*list);
    return kExitOk;
  }
  if (list->items().empty()) {
    std::cout << "no workspaces\n";
    return kExitOk;
  }
  Table table("lllrrrl");
  table.Row({"id", "name", "role", "members", "records", "pending", "tools"});
  for (const Json& ws : list->items()) {
    const Json* members = ws.Find("members");
    table.Row(
        TrimmedRow({Short(JsonText(ws, "id")), JsonText(ws, "name"), JsonText(ws, "role"),
                    std::to_string(members ? members->items().size() : 0), JsonText(ws, "records"),
                    JsonText(ws, "pending"), Joined(ws.Find("tools"))}));
  }
  std::cout << table.Text();
  return kExitOk;
}

int RunInvite(const Args& args) {
  int exit = kExitOk;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  const std::string& card = args.positional()[1];
  const std::string role = args.Get("role") ? *args.Get("role") : "member";
  Json body = Json::Object();
  body.Set("card", card);
  body.Set("role", role);
  Result<Json> added =
      target->api.Call("POST", "/api/v1/workspaces/" + target->ws + "/members", &body);
  if (!added.ok()) return target->api.Fail(added.status());
  if (args.Has("json")) {
    PrintJson(*added);
    return kExitOk;
  }
  // The peer checked the card; reading it here only names who was invited.
  Result<identity::CardInfo> info = identity::ParseCardText(card);
  const std::string who = info.ok() ? info->name + " (" + identity::DeviceIdText(info->device) + ")"
                                    : std::string("the card's device");
  std::cout << "invited " << who << " to " << Short(target->ws) << " as " << role << "\n";
  return kExitOk;
}

int RunAccept(const Args& args) {
  int exit = kExitOk;
  std::optional<Target> target = Open(args, exit, /*invitation=*/true);
  if (!target) return exit;
  Result<Json> accepted = target->api.Call("POST", "/api/v1/invitations/" + target->ws + "/accept");
  if (!accepted.ok()) return target->api.Fail(accepted.status());
  if (args.Has("json")) {
    PrintJson(*accepted);
  } else {
    std::cout << "joined workspace " << JsonText(*accepted, "id") << "\n";
  }
  return kExitOk;
}

int RunMembers(const Args& args) {
  int exit = kExitOk;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  Result<Json> ws = target->api.Get("/api/v1/workspaces/" + target->ws);
  if (!ws.ok()) return target->api.Fail(ws.status());
  if (args.Has("json")) {
    PrintJson(*ws);
    return kExitOk;
  }
  Table table;
  table.Row({"device", "name", "role"});
  if (const Json* members = ws->Find("members")) {
    for (const Json& m : members->items()) {
      table.Row({JsonText(m, "device"), JsonText(m, "name"), JsonText(m, "role")});
    }
  }
  std::cout << "members of " << Short(target->ws) << " (" << JsonText(*ws, "name") << "):\n"
            << table.Text("  ");
  return kExitOk;
}

int RunRemove(const Args& args) {
  int exit = kExitOk;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  // The device may be given by a unique prefix of a member's id, as printed by `ws members`.
  Result<Json> ws = target->api.Get("/api/v1/workspaces/" + target->ws);
  if (!ws.ok()) return target->api.Fail(ws.status());
  const std::string& given = args.positional()[1];
  std::vector<const Json*> matches;
  if (const Json* members = ws->Find("members")) {
    for (const Json& m : members->items()) {
      if (JsonText(m, "device") == given) {
        matches = {&m};
        break;
      }
      if (JsonText(m, "device").starts_with(given)) matches.push_back(&m);
    }
  }
  if (matches.size() > 1) {
    return target->api.Fail(InvalidArgument("device prefix " + given + " matches " +
                                            std::to_string(matches.size()) +
                                            " members; give more characters"));
  }
  // No match: let the peer say so (it may know the device by another name).
  const std::string device = matches.empty() ? given : JsonText(*matches[0], "device");
  Result<Json> removed = target->api.Call(
      "DELETE", "/api/v1/workspaces/" + target->ws + "/members/" + PathSegment(device));
  if (!removed.ok()) return target->api.Fail(removed.status());
  if (args.Has("json")) {
    PrintJson(*removed);
  } else {
    std::cout << "removed "
              << (matches.empty() ? device : JsonText(*matches[0], "name") + " (" + device + ")")
              << " from " << Short(target->ws) << "\n";
  }
  return kExitOk;
}

std::string Strings(const Json* list, std::string_view separator = ", ") {
  std::string text;
  if (list == nullptr) return text;
  for (const Json& item : list->items()) {
    text += (text.empty() ? "" : std::string(separator)) + CellText(item);
  }
  return text;
}

bool Flag(const Json& object, std::string_view key) {
  const Json* member = object.Find(key);
  return member != nullptr && member->is_bool() && member->boolean();
}

// A field's kind and options in a line: "reference to supplier, required".
std::string FieldLine(const Json& f) {
  std::string line = JsonText(f, "type");
  if (f.Find("to")) line += " to " + JsonText(f, "to");
  if (f.Find("of")) line += " of " + JsonText(f, "of");
  if (f.Find("currency")) line += " in " + JsonText(f, "currency");
  if (f.Find("values")) line += " (" + Strings(f.Find("values")) + ")";
  for (const char* flag : {"required", "readonly", "computed", "keyed"}) {
    if (Flag(f, flag)) line += std::string(", ") + flag;
  }
  if (f.Find("editable_in")) line += ", editable in " + Strings(f.Find("editable_in"));
  return line;
}

// "submit: draft -> submitted (owner, member) if count(...) > 0; inputs: reason*"
std::string TransitionLine(const Json& t) {
  std::string line = JsonText(t, "name") + ": " + Strings(t.Find("from"), "|") + " -> " +
                     JsonText(t, "to") + " (" + Strings(t.Find("roles")) + ")";
  if (t.Find("guard")) line += " if " + JsonText(t, "guard");
  if (const Json* inputs = t.Find("inputs"); inputs && !inputs->items().empty()) {
    std::string names;
    for (const Json& in : inputs->items()) {
      names +=
          (names.empty() ? "" : ", ") + JsonText(in, "name") + (Flag(in, "required") ? "*" : "");
    }
    line += "; inputs: " + names;
  }
  return line;
}

int RunTools(const Args& args) {
  int exit = kExitOk;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  Result<Json> tools = target->api.Get("/api/v1/workspaces/" + target->ws + "/tools");
  if (!tools.ok()) return target->api.Fail(tools.status());
  if (args.Has("json")) {
    PrintJson(*tools);
    return kExitOk;
  }
  if (tools->items().empty()) {
    std::cout << "no tools: workspace " << Short(target->ws) << " is free-form\n";
    return kExitOk;
  }
  for (const Json& tool : tools->items()) {
    std::cout << JsonText(tool, "name") << " v" << JsonText(tool, "version") << " ("
              << JsonText(tool, "title") << ") " << JsonText(tool, "hash").substr(0, 16) << "\n";
    const Json* types = tool.Find("types");
    for (const Json& type : types ? types->items() : std::vector<Json>{}) {
      std::cout << "  " << JsonText(type, "name") << ": " << JsonText(type, "title") << "\n";
      Table fields;
      if (const Json* list = type.Find("fields")) {
        for (const Json& f : list->items()) fields.Row({JsonText(f, "name"), FieldLine(f)});
      }
      std::cout << fields.Text("    ");
      if (const Json* states = type.Find("states"); states && !states->items().empty()) {
        std::cout << "    states: " << Strings(states) << " (initial " << JsonText(type, "initial")
                  << ")\n";
      }
      if (const Json* list = type.Find("transitions")) {
        for (const Json& t : list->items()) std::cout << "    " << TransitionLine(t) << "\n";
      }
    }
  }
  return kExitOk;
}

// An owner upgrades one of the workspace's tools to the version in FILE (or a built-in one).
int RunUpgradeTool(const Args& args) {
  const std::string& what = args.positional()[1];
  Json body = Json::Object();
  if (args.Has("builtin")) {
    body.Set("builtin", what);
  } else {
    std::ifstream in(what, std::ios::binary);
    if (!in) return ReportError(NotFound("cannot read " + what, "FILE"));
    std::ostringstream text;
    text << in.rdbuf();
    body.Set("yaml", text.str());
    body.Set("file", what);
  }
  int exit = kExitOk;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  Result<Json> tools =
      target->api.Call("POST", "/api/v1/workspaces/" + target->ws + "/tools", &body);
  if (!tools.ok()) return target->api.Fail(tools.status());
  if (args.Has("json")) {
    PrintJson(*tools);
    return kExitOk;
  }
  for (const Json& tool : tools->items()) {
    std::cout << JsonText(tool, "name") << " v" << JsonText(tool, "version") << " "
              << JsonText(tool, "hash").substr(0, 16) << "\n";
  }
  return kExitOk;
}

int RunInvitations(const Args& args) {
  int exit = kExitOk;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  Result<Json> list = target->api.Get("/api/v1/invitations");
  if (!list.ok()) return target->api.Fail(list.status());
  if (args.Has("json")) {
    PrintJson(*list);
    return kExitOk;
  }
  if (list->items().empty()) {
    std::cout << "no invitations\n";
    return kExitOk;
  }
  Table table;
  table.Row({"workspace", "name", "from", "role"});
  for (const Json& inv : list->items()) {
    table.Row({Short(JsonText(inv, "workspace")), JsonText(inv, "name"),
               JsonText(inv, "from_name") + " (" + JsonText(inv, "from").substr(0, 16) + ")",
               JsonText(inv, "role")});
  }
  std::cout << table.Text() << "accept one with: grove ws accept WORKSPACE\n";
  return kExitOk;
}

}  // namespace

uint64_t JsonCount(const Json& object, std::string_view key) {
  const Json* member = object.Find(key);
  return member != nullptr && member->is_int() && member->integer() > 0
             ? static_cast<uint64_t>(member->integer())
             : 0;
}

bool JsonFlag(const Json& object, std::string_view key) {
  const Json* member = object.Find(key);
  return member != nullptr && member->is_bool() && member->boolean();
}

// "1234 deltas of 3 devices, 56.7 KiB, trusted" for a checkpoint's JSON.
std::string CheckpointSummary(const Json& checkpoint) {
  const Json* version = checkpoint.Find("version");
  const size_t devices = version != nullptr ? version->items().size() : 0;
  return std::to_string(JsonCount(checkpoint, "deltas")) + " deltas of " + std::to_string(devices) +
         (devices == 1 ? " device, " : " devices, ") + HumanBytes(JsonCount(checkpoint, "bytes")) +
         ", " + (JsonFlag(checkpoint, "trusted") ? "trusted" : "not trusted yet");
}

int RunCheckpoint(const Args& args) {
  int exit = kExitOk;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  Result<Json> claimed =
      target->api.Call("POST", "/api/v1/workspaces/" + target->ws + "/checkpoints");
  if (!claimed.ok()) return target->api.Fail(claimed.status());
  if (args.Has("json")) {
    PrintJson(*claimed);
    return kExitOk;
  }
  std::cout << "claimed checkpoint " << JsonText(*claimed, "id") << " of workspace "
            << Short(target->ws) << "\n  " << CheckpointSummary(*claimed) << "\n";
  if (!JsonFlag(*claimed, "trusted")) {
    std::cout << "  (trusted once another member claims it too; their peers do when they "
                 "compute the same state)\n";
  }
  return kExitOk;
}

int RunHistory(const Args& args) {
  int exit = kExitOk;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  Result<Json> history = target->api.Get("/api/v1/workspaces/" + target->ws + "/checkpoints");
  if (!history.ok()) return target->api.Fail(history.status());
  if (args.Has("json")) {
    PrintJson(*history);
    return kExitOk;
  }
  std::cout << "workspace " << Short(target->ws) << ": " << JsonCount(*history, "deltas")
            << " deltas made; this peer " << (JsonFlag(*history, "prune") ? "prunes" : "keeps")
            << " the history under a trusted checkpoint\n";
  const Json* barrier = history->Find("barrier");
  if (barrier != nullptr && barrier->is_object()) {
    std::cout << "  checkpoint " << JsonText(*barrier, "id") << "\n    "
              << CheckpointSummary(*barrier) << "\n";
  } else {
    std::cout << "  no checkpoint yet: the state is built from the whole history\n";
  }
  const Json* missing = history->Find("missing");
  if (missing != nullptr && missing->is_string()) {
    std::cout << "  missing trusted checkpoint " << missing->text()
              << " (asked of connected members)\n";
  }
  return kExitOk;
}

std::vector<Command> WorkspaceCommands() {
  const std::vector<Option> common = {kApiDataOption, kApiAddressOption, kApiJsonOption};
  auto with = [&](std::vector<Option> more) {
    std::vector<Option> all = common;
    all.insert(all.begin() + 1, more.begin(), more.end());
    return all;
  };
  return {
      {.name = "ws create",
       .summary = "Create a workspace owned by this device; prints its id.",
       .options = with({{"tools", "a,b", false,
                         "the built-in tools it uses, comma-separated (see grove tool list)"}}),
       .positionals = {"NAME"},
       .run = RunCreate},
      {.name = "ws list",
       .summary = "The workspaces this device is a member of.",
       .options = common,
       .positionals = {},
       .run = RunList},
      {.name = "ws invite",
       .summary = "Add the device of CARD (grove-card:..., or its grove-enrolment:... in managed "
                  "mode) to workspace WS (an id or a unique prefix); it sees an invitation.",
       .options =
           with({{"role", "ROLE", false, "owner, member (the default), auditor or read-only"}}),
       .positionals = {"WS", "CARD"},
       .run = RunInvite},
      {.name = "ws accept",
       .summary = "Join workspace WS, to which this device was invited.",
       .options = common,
       .positionals = {"WS"},
       .run = RunAccept},
      {.name = "ws members",
       .summary = "The members of workspace WS and their roles.",
       .options = common,
       .positionals = {"WS"},
       .run = RunMembers},
      {.name = "ws remove",
       .summary = "Remove member DEVICE (an id or a unique prefix) from workspace WS.",
       .options = common,
       .positionals = {"WS", "DEVICE"},
       .run = RunRemove},
      {.name = "ws tools",
       .summary = "The tools of workspace WS: their record types, fields and transitions.",
       .options = common,
       .positionals = {"WS"},
       .run = RunTools},
      {.name = "ws upgrade-tool",
       .summary = "Upgrade one of the tools of workspace WS to the version in FILE (an owner's "
                  "action; records migrate as it declares); prints the tools in force.",
       .options = with({{"builtin", "", false, "FILE names a tool shipped with this release"}}),
       .positionals = {"WS", "FILE"},
       .run = RunUpgradeTool},
      {.name = "checkpoint",
       .summary = "Claim a checkpoint of workspace WS now (its state at this peer's version): "
                  "trusted at once when this device is an owner; prints its id, version, size.",
       .options = common,
       .positionals = {"WS"},
       .run = RunCheckpoint},
      {.name = "history",
       .summary = "The checkpoint workspace WS is built on, whether it is trusted, and a "
                  "trusted one this peer still lacks.",
       .options = common,
       .positionals = {"WS"},
       .run = RunHistory},
      {.name = "invitations",
       .summary = "Workspaces this device was invited to and has not joined yet.",
       .options = common,
       .positionals = {},
       .run = RunInvitations},
  };
}

}  // namespace grove::cli
