// The running peer at a glance, over its API: `grove status`; and a sign-in link to its web app:
// `grove web-link`.
#include <iostream>
#include <string>

#include "cli/api_client.h"
#include "cli/command.h"
#include "cli/data_folder.h"
#include "cli/table.h"

namespace grove::cli {
namespace {

using api::Json;

std::string Duration(int64_t ms) {
  int64_t s = ms / 1000;
  std::string text;
  if (s >= 86400) text += std::to_string(s / 86400) + "d ", s %= 86400;
  if (s >= 3600 || !text.empty()) text += std::to_string(s / 3600) + "h ", s %= 3600;
  if (s >= 60 || !text.empty()) text += std::to_string(s / 60) + "m ", s %= 60;
  return text + std::to_string(s) + "s";
}

int64_t Integer(const Json& object, std::string_view key) {
  const Json* member = object.Find(key);
  return member && member->is_int() ? member->integer() : 0;
}

int RunStatus(const Args& args) {
  int exit = kExitOk;
  std::optional<ApiClient> api = OpenApi(args, exit);
  if (!api) return exit;
  Result<Json> status = api->Get("/api/v1/status");
  if (!status.ok()) return api->Fail(status.status());
  if (args.Has("json")) {
    PrintJson(*status);
    return kExitOk;
  }
  std::cout << "listen: " << JsonText(*status, "listen")
            << "\nuptime: " << Duration(Integer(*status, "uptime_ms")) << "\n";
  if (const Json* sync = status->Find("sync"); sync && sync->is_object()) {
    const std::string state = JsonText(*sync, "state");
    std::cout << "sync: " << state;
    if (state == "syncing") std::cout << " (" << Integer(*sync, "pending") << " deltas pending)";
    std::cout << "\n";
  }
  const Json* connections = status->Find("connections");
  const size_t n = connections ? connections->items().size() : 0;
  std::cout << "connections: " << n << "\n";
  if (n > 0) {
    Table table("lllllrr");
    table.Row({"device", "name", "address", "direction", "path", "in", "out"});
    for (const Json& c : connections->items()) {
      const Json* outbound = c.Find("outbound");
      const Json* relay = c.Find("relay");
      const bool is_relay = relay && relay->is_bool() && relay->boolean();
      table.Row({JsonText(c, "device").substr(0, 16),
                 JsonText(c, "name") + (is_relay ? " (relay)" : ""), JsonText(c, "address"),
                 outbound && outbound->is_bool() && outbound->boolean() ? "out" : "in",
                 JsonText(c, "path"), HumanBytes(static_cast<uint64_t>(Integer(c, "bytes_in"))),
                 HumanBytes(static_cast<uint64_t>(Integer(c, "bytes_out")))});
    }
    std::cout << table.Text("  ");
  }
  if (const Json* relay = status->Find("relay"); relay && relay->is_object()) {
    const Json* connected = relay->Find("connected");
    std::cout << "relay: " << JsonText(*relay, "address") << " ("
              << (connected && connected->is_bool() && connected->boolean() ? "connected"
                                                                            : "not connected")
              << ")\n";
    if (const Json* held = relay->Find("workspaces")) {
      for (const Json& entry : held->items()) {
        std::cout << "  " << JsonText(entry, "workspace").substr(0, 16) << ": relay holds "
                  << Integer(entry, "acked_deltas") << " of " << Integer(entry, "held_deltas")
                  << " deltas";
        if (entry.Find("refused")) std::cout << " (refused: " << JsonText(entry, "refused") << ")";
        std::cout << "\n";
      }
    }
  }
  if (const Json* org = status->Find("org"); org && org->is_object()) {
    const Json* revoked = org->Find("revoked");
    std::cout << "organisation: " << JsonText(*org, "org").substr(0, 16) << " (enrolled as "
              << JsonText(*org, "enrolled_as") << "; " << (revoked ? revoked->items().size() : 0)
              << " devices revoked, " << Integer(*org, "policies") << " workspace policies)\n";
  }
  if (const Json* audit = status->Find("audit"); audit && audit->is_object()) {
    const Json* ok = audit->Find("database_ok");
    const Json* ready = audit->Find("ready");
    const bool db_ok = ok && ok->is_bool() && ok->boolean();
    std::cout << "audit log: " << Integer(*audit, "entries") << " entries, "
              << Integer(*audit, "in_flight") << " waiting, signed up to "
              << Integer(*audit, "head_size") << " ("
              << (!(ready && ready->is_bool() && ready->boolean()) ? "opening"
                  : db_ok                                          ? "database ok"
                                                                   : "database down")
              << ")\n";
    if (!db_ok && audit->Find("error")) std::cout << "  " << JsonText(*audit, "error") << "\n";
  }
  const Json* workspaces = status->Find("workspaces");
  const size_t w = workspaces ? workspaces->items().size() : 0;
  std::cout << "workspaces: " << w << "\n";
  if (w > 0) {
    Table table("lllrrrr");
    table.Row({"id", "name", "role", "members", "records", "deltas", "pending"});
    for (const Json& ws : workspaces->items()) {
      const Json* members = ws.Find("members");
      table.Row({JsonText(ws, "id").substr(0, 16), JsonText(ws, "name"), JsonText(ws, "role"),
                 std::to_string(members ? members->items().size() : 0), JsonText(ws, "records"),
                 JsonText(ws, "deltas"), JsonText(ws, "pending")});
    }
    std::cout << table.Text("  ");
  }
  return kExitOk;
}

int RunWebLink(const Args& args) {
  int exit = kExitOk;
  std::optional<ApiClient> api = OpenApi(args, exit);
  if (!api) return exit;
  const Json none = Json::Object();
  Result<Json> link = api->Call("POST", "/api/v1/login-links", &none);
  if (!link.ok()) return api->Fail(link.status());
  if (args.Has("json")) {
    PrintJson(*link);
    return kExitOk;
  }
  std::cout << JsonText(*link, "url") << "\n";
  return kExitOk;
}

}  // namespace

std::vector<Command> StatusCommands() {
  return {
      {.name = "status",
       .summary = "What the running peer is doing: its sync address, connections and workspaces.",
       .options = {kApiDataOption, kApiAddressOption, kApiJsonOption},
       .positionals = {},
       .run = RunStatus},
      {.name = "web-link",
       .summary = "A one-time link that signs a browser in to the peer's web app (valid 10 "
                  "minutes, single use).",
       .options = {kApiDataOption, kApiAddressOption, kApiJsonOption},
       .positionals = {},
       .run = RunWebLink},
  };
}

}  // namespace grove::cli
