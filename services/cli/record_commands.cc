// Records over the peer's API: `grove record create|set|add|get|list`. Values are read as
// described in api_client.h.
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/command.h"
#include "cli/table.h"

namespace grove::cli {
namespace {

using api::Json;

int Usage(const std::string& message) {
  std::cerr << "grove: " << message << "\n";
  return kExitUsage;
}

// The FIELD=VALUE arguments from positional `from` on, as a JSON object; false after printing
// a usage error.
bool FieldArgs(const Args& args, size_t from, Json& fields, int& exit) {
  fields = Json::Object();
  for (size_t i = from; i < args.positional().size(); ++i) {
    Result<std::pair<std::string, Json>> field = ParseFieldArg(args.positional()[i]);
    if (!field.ok()) {
      exit = Usage(field.status().message());
      return false;
    }
    if (fields.Find(field->first) != nullptr) {
      exit = Usage("field " + field->first + " given twice");
      return false;
    }
    fields.Set(field->first, std::move(field->second));
  }
  return true;
}

std::string Values(const Json* list, std::string_view separator) {
  std::string text;
  if (list == nullptr) return text;
  for (const Json& item : list->items()) {
    if (!text.empty()) text += separator;
    text += CellText(item);
  }
  return text;
}

void PrintRecord(const Json& record) {
  const Json* archived = record.Find("archived");
  std::cout << "id: " << JsonText(record, "id") << "\ntype: " << JsonText(record, "type")
            << "\nstate: " << JsonText(record, "state") << "\narchived: "
            << (archived && archived->is_bool() && archived->boolean() ? "yes" : "no") << "\n";
  auto section = [](const char* title, const Json* object, bool multi, std::string_view sep) {
    if (object == nullptr || object->members().empty()) return;
    Table table;
    for (const auto& [name, value] : object->members()) {
      table.Row({name, multi ? Values(&value, sep) : CellText(value)});
    }
    std::cout << title << ":\n" << table.Text("  ");
  };
  section("fields", record.Find("fields"), false, "");
  // Concurrent writes the record has not settled: every competing value.
  section("conflicts", record.Find("conflicts"), true, " | ");
  section("lists", record.Find("lists"), true, ", ");
  if (const Json* history = record.Find("history"); history && !history->items().empty()) {
    std::cout << "history:\n";
    for (const Json& line : history->items()) std::cout << "  " << CellText(line) << "\n";
  }
}

struct Target {
  ApiClient api;
  std::string ws;
};

std::optional<Target> Open(const Args& args, int& exit) {
  std::optional<ApiClient> api = OpenApi(args, exit);
  if (!api) return std::nullopt;
  Result<std::string> ws = api->ResolveWorkspace(args.positional()[0]);
  if (!ws.ok()) {
    exit = api->Fail(ws.status());
    return std::nullopt;
  }
  return Target{std::move(*api), *ws};
}

std::string RecordsPath(const Target& target) {
  return "/api/v1/workspaces/" + target.ws + "/records";
}

int RunCreate(const Args& args) {
  int exit = kExitOk;
  Json fields;
  if (!FieldArgs(args, 2, fields, exit)) return exit;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  Json body = Json::Object();
  body.Set("type", args.positional()[1]);
  body.Set("fields", std::move(fields));
  Result<Json> created = target->api.Call("POST", RecordsPath(*target), &body);
  if (!created.ok()) return target->api.Fail(created.status());
  if (args.Has("json")) {
    PrintJson(*created);
  } else {
    std::cout << JsonText(*created, "id") << "\n";
  }
  return kExitOk;
}

// set and add: one PATCH, then the record as it is now.
int Patch(const Args& args, const Json& body) {
  int exit = kExitOk;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  Result<Json> record = target->api.Call(
      "PATCH", RecordsPath(*target) + "/" + PathSegment(args.positional()[1]), &body);
  if (!record.ok()) return target->api.Fail(record.status());
  if (args.Has("json")) {
    PrintJson(*record);
  } else {
    PrintRecord(*record);
  }
  return kExitOk;
}

int RunSet(const Args& args) {
  int exit = kExitOk;
  Json fields;
  if (!FieldArgs(args, 2, fields, exit)) return exit;
  if (fields.members().empty()) return Usage("missing FIELD=VALUE");
  Json body = Json::Object();
  body.Set("set", std::move(fields));
  return Patch(args, body);
}

int RunAdd(const Args& args) {
  Json amounts = Json::Object();
  for (size_t i = 2; i < args.positional().size(); ++i) {
    const std::string& arg = args.positional()[i];
    const size_t eq = arg.find('=');
    const bool raw = eq != std::string::npos && eq > 0 && arg[eq - 1] == ':';
    Result<std::pair<std::string, Json>> field = ParseFieldArg(arg);
    if (raw || !field.ok() || !field->second.is_int()) {
      return Usage("\"" + arg + "\" is not FIELD=N with N an integer (negative to subtract)");
    }
    if (amounts.Find(field->first) != nullptr) {
      return Usage("field " + field->first + " given twice");
    }
    amounts.Set(field->first, std::move(field->second));
  }
  if (amounts.members().empty()) return Usage("missing FIELD=N");
  Json body = Json::Object();
  body.Set("add", std::move(amounts));
  return Patch(args, body);
}

int RunGet(const Args& args) {
  int exit = kExitOk;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  Result<Json> record =
      target->api.Get(RecordsPath(*target) + "/" + PathSegment(args.positional()[1]));
  if (!record.ok()) return target->api.Fail(record.status());
  if (args.Has("json")) {
    PrintJson(*record);
  } else {
    PrintRecord(*record);
  }
  return kExitOk;
}

int RunList(const Args& args) {
  int exit = kExitOk;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  std::string path = RecordsPath(*target);
  if (const std::string* type = args.Get("type")) path += "?type=" + PathSegment(*type);
  Result<Json> list = target->api.Get(path);
  if (!list.ok()) return target->api.Fail(list.status());
  if (args.Has("json")) {
    PrintJson(*list);
    return kExitOk;
  }
  const Json* records = list->Find("records");
  if (records == nullptr || records->items().empty()) {
    std::cout << "no records\n";
    return kExitOk;
  }
  // One column per field name any listed record has, in name order.
  std::set<std::string> names;
  for (const Json& record : records->items()) {
    if (const Json* fields = record.Find("fields")) {
      for (const auto& [name, unused] : fields->members()) names.insert(name);
    }
  }
  std::vector<std::string> header = {"id", "type", "state"};
  header.insert(header.end(), names.begin(), names.end());
  Table table;
  table.Row(header);
  for (const Json& record : records->items()) {
    std::vector<std::string> row = {JsonText(record, "id"), JsonText(record, "type"),
                                    JsonText(record, "state")};
    const Json* fields = record.Find("fields");
    for (const std::string& name : names) {
      const Json* value = fields ? fields->Find(name) : nullptr;
      row.push_back(value ? CellText(*value) : "");
    }
    table.Row(TrimmedRow(std::move(row)));
  }
  std::cout << table.Text();
  return kExitOk;
}

}  // namespace

std::vector<Command> RecordCommands() {
  const std::vector<Option> common = {kApiDataOption, kApiAddressOption, kApiJsonOption};
  std::vector<Option> list_options = common;
  list_options.insert(list_options.begin() + 1, {"type", "T", false, "only records of type T"});
  return {
      {.name = "record create",
       .summary = "Create a record of TYPE in workspace WS; prints its id. Values: 42, true, "
                  "12.50EUR, text, or FIELD:=JSON.",
       .options = common,
       .positionals = {"WS", "TYPE", "FIELD=VALUE..."},
       .run = RunCreate,
       .repeat_last = true},
      {.name = "record set",
       .summary = "Set fields of record ID, as one change; prints the record.",
       .options = common,
       .positionals = {"WS", "ID", "FIELD=VALUE..."},
       .run = RunSet,
       .repeat_last = true},
      {.name = "record add",
       .summary = "Add N (negative to subtract) to integer fields of record ID; prints the "
                  "record.",
       .options = common,
       .positionals = {"WS", "ID", "FIELD=N..."},
       .run = RunAdd,
       .repeat_last = true},
      {.name = "record get",
       .summary = "Show record ID: fields, conflicts, lists and history.",
       .options = common,
       .positionals = {"WS", "ID"},
       .run = RunGet},
      {.name = "record list",
       .summary = "The records of workspace WS, one column per field.",
       .options = list_options,
       .positionals = {"WS"},
       .run = RunList},
  };
}

}  // namespace grove::cli
