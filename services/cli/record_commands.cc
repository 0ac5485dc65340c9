// Records over the peer's API: `grove record create|set|add|get|list|transition|grant`. Values
// are read as described in api_client.h.
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
  section("computed", record.Find("computed"), false, "");
  if (const Json* keyed = record.Find("keyed"); keyed && !keyed->members().empty()) {
    Table table;
    for (const auto& [field, levels] : keyed->members()) {
      for (const auto& [key, level] : levels.members()) table.Row({field, key, CellText(level)});
    }
    std::cout << "stock by key:\n" << table.Text("  ");
  }
  // Concurrent writes the record has not settled: every competing value.
  section("conflicts", record.Find("conflicts"), true, " | ");
  section("lists", record.Find("lists"), true, ", ");
  if (const Json* history = record.Find("history"); history && !history->items().empty()) {
    std::cout << "history:\n";
    for (const Json& line : history->items()) std::cout << "  " << CellText(line) << "\n";
  }
  if (const Json* transitions = record.Find("transitions");
      transitions && !transitions->items().empty()) {
    Table table;
    for (const Json& t : transitions->items()) {
      const Json* allowed = t.Find("allowed");
      const bool yes = allowed && allowed->is_bool() && allowed->boolean();
      table.Row(TrimmedRow({JsonText(t, "name"),
                            yes ? "allowed" : "refused (" + JsonText(t, "code") + ")",
                            yes ? "" : JsonText(t, "reason")}));
    }
    std::cout << "transitions:\n" << table.Text("  ");
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

int RunAppend(const Args& args) {
  int exit = kExitOk;
  Json items;
  if (!FieldArgs(args, 2, items, exit)) return exit;
  if (items.members().empty()) return Usage("missing FIELD=ITEM");
  Json body = Json::Object();
  body.Set("append", std::move(items));
  return Patch(args, body);
}

// A sealed bid: only the auctioneer (and this device) can read AMOUNT until the close.
int RunSealedBid(const Args& args) {
  int exit = kExitOk;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  Result<std::pair<std::string, Json>> amount = ParseFieldArg("amount=" + args.positional()[2]);
  if (!amount.ok()) return Usage("\"" + args.positional()[2] + "\" is not an amount (12.50EUR)");
  Json body = Json::Object();
  body.Set("amount", std::move(amount->second));
  Result<Json> record = target->api.Call(
      "POST", RecordsPath(*target) + "/" + PathSegment(args.positional()[1]) + "/sealed-bids",
      &body);
  if (!record.ok()) return target->api.Fail(record.status());
  if (args.Has("json")) {
    PrintJson(*record);
  } else {
    std::cout << "sealed bid placed on " << args.positional()[1] << "\n";
  }
  return kExitOk;
}

// After the close: publishes the openings of the sealed bids this device can open.
int RunReveal(const Args& args) {
  int exit = kExitOk;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  Json body = Json::Object();
  Result<Json> result = target->api.Call(
      "POST", RecordsPath(*target) + "/" + PathSegment(args.positional()[1]) + "/openings", &body);
  if (!result.ok()) return target->api.Fail(result.status());
  if (args.Has("json")) {
    PrintJson(*result);
  } else {
    std::cout << "published " << JsonText(*result, "published") << " opening(s)\n";
  }
  return kExitOk;
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
  std::string query;
  auto param = [&](const std::string& key, const std::string& value) {
    query += (query.empty() ? "?" : "&") + key + "=" + PathSegment(value);
  };
  for (const char* option : {"type", "state", "search", "sort", "limit", "offset"}) {
    if (const std::string* value = args.Get(option)) param(option, *value);
  }
  if (const std::string* due = args.Get("due-before")) param("due_before", *due);
  if (args.Has("desc")) param("order", "desc");
  if (args.Has("archived")) param("archived", "true");
  for (const std::string& where : args.All("where")) {
    const size_t eq = where.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Usage("--where \"" + where + "\" is not FIELD=VALUE");
    }
    param("where." + PathSegment(where.substr(0, eq)), where.substr(eq + 1));
  }
  Result<Json> list = target->api.Get(RecordsPath(*target) + query);
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
  const Json* total = list->Find("total");
  if (total && total->is_int() && static_cast<size_t>(total->integer()) > records->items().size()) {
    std::cout << "(" << records->items().size() << " of " << total->integer()
              << " records; see --offset and --limit)\n";
  }
  return kExitOk;
}

int RunTransition(const Args& args) {
  int exit = kExitOk;
  Json fields;
  if (!FieldArgs(args, 3, fields, exit)) return exit;
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  Json body = Json::Object();
  body.Set("name", args.positional()[2]);
  body.Set("fields", std::move(fields));
  Result<Json> record = target->api.Call(
      "POST", RecordsPath(*target) + "/" + PathSegment(args.positional()[1]) + "/transitions",
      &body);
  if (!record.ok()) return target->api.Fail(record.status());
  if (args.Has("json")) {
    PrintJson(*record);
  } else {
    PrintRecord(*record);
  }
  return kExitOk;
}

int RunGrant(const Args& args) {
  int exit = kExitOk;
  Result<std::pair<std::string, Json>> amount = ParseFieldArg("amount=" + args.positional()[3]);
  if (!amount.ok() || !amount->second.is_int() || amount->second.integer() <= 0) {
    return Usage("AMOUNT must be a positive integer, not \"" + args.positional()[3] + "\"");
  }
  std::optional<Target> target = Open(args, exit);
  if (!target) return exit;
  Json body = Json::Object();
  body.Set("field", args.positional()[2]);
  if (const std::string* key = args.Get("key")) body.Set("key", *key);
  body.Set("to", *args.Get("to"));
  body.Set("amount", amount->second);
  Result<Json> record = target->api.Call(
      "POST", RecordsPath(*target) + "/" + PathSegment(args.positional()[1]) + "/rights", &body);
  if (!record.ok()) return target->api.Fail(record.status());
  if (args.Has("json")) {
    PrintJson(*record);
  } else {
    PrintRecord(*record);
  }
  return kExitOk;
}

}  // namespace

std::vector<Command> RecordCommands() {
  const std::vector<Option> common = {kApiDataOption, kApiAddressOption, kApiJsonOption};
  std::vector<Option> list_options = common;
  list_options.insert(
      list_options.begin() + 1,
      {{"type", "T", false, "only records of type T"},
       {"state", "S", false, "only records in state S"},
       {"where", "FIELD=VALUE", false, "only records whose FIELD is VALUE", true},
       {"search", "TEXT", false, "only records with TEXT in a text field (any case)"},
       {"sort", "FIELD", false, "sort by FIELD (default id); records without it last"},
       {"desc", "", false, "sort in descending order"},
       {"limit", "N", false, "at most N records (default 100, at most 1000)"},
       {"offset", "N", false, "skip the first N records"},
       {"due-before", "YYYY-MM-DD", false, "only records whose date field due is before it"},
       {"archived", "", false, "archived records too"}});
  std::vector<Option> grant_options = common;
  grant_options.insert(grant_options.begin() + 1,
                       {{"to", "DEVICE", true, "the device that gets the rights"},
                        {"key", "KEY", false, "the key of a keyed stock field"}});
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
      {.name = "record append",
       .summary = "Add an item to add-only list fields of record ID (a comment, a bid, a link); "
                  "prints the record.",
       .options = common,
       .positionals = {"WS", "ID", "FIELD=ITEM..."},
       .run = RunAppend,
       .repeat_last = true},
      {.name = "record sealed-bid",
       .summary = "Place a sealed bid of AMOUNT (e.g. 120.00EUR) on auction lot ID: only the "
                  "auctioneer can read it before the close.",
       .options = common,
       .positionals = {"WS", "ID", "AMOUNT"},
       .run = RunSealedBid},
      {.name = "record reveal",
       .summary = "After a sealed lot closes, publish the openings of the bids this device can "
                  "open (all for the auctioneer, its own for a bidder).",
       .options = common,
       .positionals = {"WS", "ID"},
       .run = RunReveal},
      {.name = "record get",
       .summary = "Show record ID: fields, conflicts, lists and history.",
       .options = common,
       .positionals = {"WS", "ID"},
       .run = RunGet},
      {.name = "record list",
       .summary = "The records of workspace WS, one column per field: filtered, sorted, one page.",
       .options = list_options,
       .positionals = {"WS"},
       .run = RunList},
      {.name = "record transition",
       .summary = "Run transition NAME of record ID (a tool record), with its inputs as "
                  "FIELD=VALUE; prints the record. A refusal names the rule.",
       .options = common,
       .positionals = {"WS", "ID", "NAME", "FIELD=VALUE..."},
       .run = RunTransition,
       .repeat_last = true},
      {.name = "record grant",
       .summary = "Move AMOUNT of this device's rights on stock FIELD of record ID to --to "
                  "DEVICE; prints the record.",
       .options = grant_options,
       .positionals = {"WS", "ID", "FIELD", "AMOUNT"},
       .run = RunGrant},
  };
}

}  // namespace grove::cli
