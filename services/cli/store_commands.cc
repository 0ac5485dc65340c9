// The device's store: `grove store info` shows what it holds (with the checkpoint each workspace
// is built on and how much history under it was pruned), `grove store rebuild` recomputes every
// workspace's materialized state from its feeds and checks the state digest did not move.
#include <cctype>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/data_folder.h"
#include "cli/store_repair.h"
#include "cli/table.h"
#include "common/clock.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "replica/replica.h"

namespace grove::cli {
namespace {

constexpr Option kDataOption{"data", "DIR", true, "the device's data folder"};
constexpr Option kJsonOption{"json", "", false, "print one JSON object instead of a table"};

// What every store command needs: the store (never created here) and the device opening it.
struct Device {
  std::unique_ptr<store::Store> store;
  std::optional<identity::Identity> identity;
  SystemClock clock;
  crypto::SystemRandom random;
};

// The store first: for a folder without one, "no store" says more than "no device" would.
Status OpenDevice(const std::string& dir, Device& device) {
  GROVE_ASSIGN_OR_RETURN(device.store, OpenDeviceStore(dir));
  GROVE_ASSIGN_OR_RETURN(identity::Identity id, identity::Identity::Load(dir));
  device.identity.emplace(std::move(id));
  return Status::Ok();
}

std::string JsonHash(const std::optional<Hash32>& hash) {
  return hash ? "\"" + HexEncode(*hash) + "\"" : "null";
}

// --- grove store info ---------------------------------------------------------------------------

struct WorkspaceInfo {
  Hash32 id{};
  std::string name;
  replica::Digests digests;
  size_t records = 0;
  std::vector<replica::MemberView> members;
  std::optional<replica::CheckpointInfo> checkpoint;  // the one its state is built on
  uint64_t stored = 0;  // deltas held in the store (digests.deltas counts pruned ones too)
};

uint64_t DeltasUnder(const replica::CheckpointInfo& checkpoint) {
  uint64_t n = 0;
  for (const replica::VersionEntry& e : checkpoint.version) n += e.seq;
  return n;
}

uint64_t Pruned(const WorkspaceInfo& w) {
  return w.digests.deltas > w.stored ? w.digests.deltas - w.stored : 0;
}

std::string MemberList(const std::vector<replica::MemberView>& members) {
  std::string text;
  for (const replica::MemberView& m : members) {
    text += (text.empty() ? "" : ", ") + m.name + " (" + replica::RoleName(m.role) + ")";
  }
  return text;
}

void PrintInfo(const std::string& path, const store::StoreSpace& space,
               const std::vector<WorkspaceInfo>& all, bool json) {
  if (json) {
    std::cout << "{\"store\":" << JsonString(path) << ",\"bytes\":" << space.file_bytes
              << ",\"free_bytes\":" << space.free_bytes << ",\"workspaces\":[";
    for (size_t i = 0; i < all.size(); ++i) {
      const WorkspaceInfo& w = all[i];
      std::cout << (i ? "," : "") << "{\"id\":\"" << HexEncode(w.id)
                << "\",\"name\":" << JsonString(w.name) << ",\"deltas\":" << w.digests.deltas
                << ",\"records\":" << w.records << ",\"members\":[";
      for (size_t j = 0; j < w.members.size(); ++j) {
        const replica::MemberView& m = w.members[j];
        std::cout << (j ? "," : "")
                  << "{\"device\":" << JsonString(identity::DeviceIdText(m.device))
                  << ",\"name\":" << JsonString(m.name) << ",\"role\":\""
                  << replica::RoleName(m.role) << "\"}";
      }
      std::cout << "],\"version\":\"" << HexEncode(w.digests.version) << "\",\"state\":\""
                << HexEncode(w.digests.state) << "\",\"checkpoint\":";
      if (w.checkpoint) {
        std::cout << "{\"id\":\"" << HexEncode(w.checkpoint->id)
                  << "\",\"deltas\":" << DeltasUnder(*w.checkpoint)
                  << ",\"bytes\":" << w.checkpoint->bytes
                  << ",\"trusted\":" << (w.checkpoint->trusted ? "true" : "false") << "}";
      } else {
        std::cout << "null";
      }
      std::cout << ",\"stored_deltas\":" << w.stored << ",\"pruned_deltas\":" << Pruned(w) << "}";
    }
    std::cout << "]}\n";
    return;
  }
  std::cout << "store " << path << ": " << all.size()
            << (all.size() == 1 ? " workspace, " : " workspaces, ") << HumanBytes(space.file_bytes)
            << " (" << HumanBytes(space.free_bytes) << " free"
            << (space.compactable ? ")" : "; not compactable until an open converts the file)")
            << "\n";
  if (all.empty()) return;
  Table table("llrrrll");
  table.Row({"workspace", "name", "deltas", "records", "members", "version", "state"});
  for (const WorkspaceInfo& w : all) {
    table.Row({ShortHex(w.id), w.name, std::to_string(w.digests.deltas), std::to_string(w.records),
               std::to_string(w.members.size()), ShortHex(w.digests.version),
               ShortHex(w.digests.state)});
  }
  std::cout << table.Text();
  for (const WorkspaceInfo& w : all) {
    std::cout << "members of " << ShortHex(w.id) << ": " << MemberList(w.members) << "\n";
  }
  for (const WorkspaceInfo& w : all) {
    if (!w.checkpoint) continue;
    std::cout << "history of " << ShortHex(w.id) << ": built on checkpoint "
              << ShortHex(w.checkpoint->id) << " (" << DeltasUnder(*w.checkpoint)
              << " deltas under it, " << HumanBytes(w.checkpoint->bytes) << ", "
              << (w.checkpoint->trusted ? "trusted" : "not trusted yet") << "); " << w.stored
              << " deltas stored, " << Pruned(w) << " pruned\n";
  }
}

int RunStoreInfo(const Args& args) {
  const std::string& dir = *args.Get("data");
  Device device;
  if (Status s = OpenDevice(dir, device); !s.ok()) return ReportError(s);
  auto listed = device.store->ListWorkspaces();
  if (!listed.ok()) return ReportError(listed.status());
  std::vector<WorkspaceInfo> all;
  for (const auto& [id, info] : *listed) {
    auto ws =
        replica::Workspace::Open(*device.identity, id, *device.store, device.clock, device.random);
    if (!ws.ok()) {
      Status s = ws.status().Annotate("workspace " + ShortHex(id));
      if (s.code() == Code::kCorruption) {
        s = Status(s.code(), s.message() + " (grove store rebuild recovers damaged records)",
                   s.where());
      }
      return ReportError(s);
    }
    uint64_t stored = 0;
    Status counted = device.store->ForEachDelta(id, [&](const store::DeltaRow&) {
      ++stored;
      return true;
    });
    if (!counted.ok()) return ReportError(counted.Annotate("workspace " + ShortHex(id)));
    all.push_back({.id = id,
                   .name = (*ws)->name(),
                   .digests = (*ws)->digests(),
                   .records = (*ws)->List("", true).size(),
                   .members = (*ws)->Members(),
                   .checkpoint = (*ws)->Barrier(),
                   .stored = stored});
  }
  auto space = device.store->Space();
  if (!space.ok()) return ReportError(space.status());
  PrintInfo(StorePath(dir), *space, all, args.Has("json"));
  return kExitOk;
}

// --- grove store rebuild ------------------------------------------------------------------------

enum class Outcome { kOk, kRepaired, kMismatch, kFailed };

struct Rebuilt {
  Hash32 id{};
  std::string name;
  std::optional<Hash32> before;  // nullopt when the stored state did not load
  std::optional<Hash32> after;   // nullopt when the rebuild failed
  Outcome outcome = Outcome::kFailed;
  Status problem;  // the damage repaired, or the error that stopped the rebuild
};

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kRepaired:
      return "repaired";
    case Outcome::kMismatch:
      return "MISMATCH";
    case Outcome::kFailed:
      break;
  }
  return "FAILED";
}

// JSON keeps values lowercase; the table shouts the bad outcomes.
std::string Lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

Rebuilt RebuildOne(Device& device, const Hash32& id) {
  Rebuilt out;
  out.id = id;
  auto opened = OpenForRebuild(*device.identity, id, *device.store, device.clock, device.random);
  if (!opened.ok()) {
    out.problem = opened.status();
    return out;
  }
  replica::Workspace& ws = *opened->workspace;
  out.name = ws.name();
  if (opened->before) out.before = opened->before->state;
  if (Status s = ws.Rebuild(); !s.ok()) {
    out.problem = s.Annotate("rebuilding");
    return out;
  }
  out.after = ws.digests().state;
  if (!opened->damage.ok()) {
    out.outcome = Outcome::kRepaired;
    out.problem = opened->damage;
  } else {
    out.outcome = out.before == out.after ? Outcome::kOk : Outcome::kMismatch;
  }
  return out;
}

// Says loudly, on stderr, what went wrong, and what a repair did, on stdout after the table.
void Explain(const Rebuilt& r) {
  const std::string ws =
      "workspace " + ShortHex(r.id) + (r.name.empty() ? "" : " (" + r.name + ")");
  switch (r.outcome) {
    case Outcome::kOk:
      return;
    case Outcome::kRepaired:
      std::cout << ws << ": a stored record was damaged (" << r.problem.message()
                << "); the records were rebuilt from the feeds\n";
      return;
    case Outcome::kMismatch:
      std::cerr << "grove: MISMATCH in " << ws << ": state digest " << HexEncode(*r.before)
                << " before the rebuild, " << HexEncode(*r.after)
                << " after. The materialized state had drifted from the feeds, which is a bug in "
                   "the replica; the store now holds the state rebuilt from the feeds.\n";
      return;
    case Outcome::kFailed:
      ReportError(r.problem.Annotate(ws));
      return;
  }
}

void PrintRebuilt(const std::string& path, const std::vector<Rebuilt>& all, bool json) {
  if (json) {
    std::cout << "{\"store\":" << JsonString(path) << ",\"workspaces\":[";
    for (size_t i = 0; i < all.size(); ++i) {
      const Rebuilt& r = all[i];
      std::cout << (i ? "," : "") << "{\"id\":\"" << HexEncode(r.id)
                << "\",\"name\":" << (r.name.empty() ? "null" : JsonString(r.name))
                << ",\"state\":" << JsonHash(r.before) << ",\"rebuilt\":" << JsonHash(r.after)
                << ",\"result\":\"" << Lowercase(OutcomeName(r.outcome)) << "\"";
      if (!r.problem.ok()) std::cout << ",\"problem\":" << JsonString(r.problem.message());
      std::cout << "}";
    }
    std::cout << "]}\n";
  } else {
    Table table;
    for (const Rebuilt& r : all) {
      table.Row({ShortHex(r.id), r.name.empty() ? "?" : r.name,
                 "state " + (r.before ? ShortHex(*r.before) : std::string("damaged")),
                 "rebuilt " + (r.after ? ShortHex(*r.after) : std::string("-")),
                 OutcomeName(r.outcome)});
    }
    std::cout << table.Text();
  }
  for (const Rebuilt& r : all) {
    if (!json || r.outcome == Outcome::kMismatch || r.outcome == Outcome::kFailed) Explain(r);
  }
}

int RunStoreRebuild(const Args& args) {
  const std::string& dir = *args.Get("data");
  Device device;
  if (Status s = OpenDevice(dir, device); !s.ok()) return ReportError(s);
  auto selected = SelectWorkspaces(*device.store, args.Get("workspace"));
  if (!selected.ok()) return ReportError(selected.status());
  // Every workspace is tried even after one fails: the others may still need the repair.
  std::vector<Rebuilt> all;
  for (const auto& [id, info] : *selected) all.push_back(RebuildOne(device, id));
  PrintRebuilt(StorePath(dir), all, args.Has("json"));
  for (const Rebuilt& r : all) {
    if (r.outcome == Outcome::kMismatch || r.outcome == Outcome::kFailed) return kExitError;
  }
  return kExitOk;
}

}  // namespace

std::vector<Command> StoreCommands() {
  return {
      {.name = "store info",
       .summary = "Show the workspaces in DIR/store.db: deltas, records, members, digests, and "
                  "the store's size.",
       .options = {kDataOption, kJsonOption},
       .positionals = {},
       .run = RunStoreInfo},
      {.name = "store rebuild",
       .summary = "Recompute each workspace's records from its feeds and check that the state "
                  "digest is unchanged; damaged records are rebuilt. Exit 1 on a mismatch.",
       .options = {kDataOption,
                   {"workspace", "ID", false, "only this workspace (hex id or unique prefix)"},
                   kJsonOption},
       .positionals = {},
       .run = RunStoreRebuild},
  };
}

}  // namespace grove::cli
