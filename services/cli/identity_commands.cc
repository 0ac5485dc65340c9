// The device's own identity: `grove init` creates it, `grove identity` shows it.
#include <iostream>

#include "cli/command.h"
#include "common/clock.h"
#include "crypto/crypto.h"
#include "identity/identity.h"

namespace grove::cli {
namespace {

constexpr Option kDataOption{"data", "DIR", true, "the device's data folder"};

void PrintIdentity(const identity::CardInfo& card, bool json) {
  const std::string device = identity::DeviceIdText(card.device);
  if (json) {
    std::cout << "{\"device\":" << JsonString(device) << ",\"name\":" << JsonString(card.name)
              << ",\"card\":" << JsonString(card.text()) << "}\n";
  } else {
    std::cout << "device: " << device << "\nname: " << card.name << "\ncard: " << card.text()
              << "\n";
  }
}

int RunInit(const Args& args) {
  crypto::SystemRandom rng;
  SystemClock clock;
  Result<identity::Identity> id = identity::Identity::Create(*args.Get("name"), rng, clock);
  if (!id.ok()) return ReportError(id.status());
  if (Status saved = id->Save(*args.Get("data"), rng); !saved.ok()) return ReportError(saved);
  PrintIdentity(id->card(), /*json=*/false);
  return kExitOk;
}

int RunIdentity(const Args& args) {
  Result<identity::Identity> id = identity::Identity::Load(*args.Get("data"));
  if (!id.ok()) return ReportError(id.status());
  PrintIdentity(id->card(), args.Has("json"));
  return kExitOk;
}

}  // namespace

std::vector<Command> IdentityCommands() {
  return {
      {.name = "init",
       .summary =
           "Create this device's keys and card in DIR (never overwrites an existing device).",
       .options = {kDataOption,
                   {"name", "NAME", true, "a name for this device or its user, at most 128 bytes"}},
       .positionals = {},
       .run = RunInit},
      {.name = "identity",
       .summary = "Show this device's id, name and card.",
       .options = {kDataOption, {"json", "", false, "print one JSON object instead of lines"}},
       .positionals = {},
       .run = RunIdentity},
  };
}

}  // namespace grove::cli
