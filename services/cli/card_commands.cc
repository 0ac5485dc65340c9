// Cards of other devices: `grove card verify`.
#include <iostream>

#include "cli/command.h"
#include "identity/identity.h"

namespace grove::cli {
namespace {

int RunCardVerify(const Args& args) {
  Result<identity::CardInfo> card = identity::ParseCardText(args.positional()[0]);
  if (!card.ok()) return ReportError(card.status());
  std::cout << "device: " << identity::DeviceIdText(card->device) << "\nname: " << card->name
            << "\n";
  return kExitOk;
}

}  // namespace

std::vector<Command> CardCommands() {
  return {
      {.name = "card verify",
       .summary = "Check that a card (grove-card:...) is well formed and self-signed, and show "
                  "whose it is.",
       .options = {},
       .positionals = {"CARD"},
       .run = RunCardVerify},
  };
}

}  // namespace grove::cli
