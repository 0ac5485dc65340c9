// The story `grove demo` tells (see demo_commands.cc for what it shows and why), step by step,
// each claim checked as it is made.
#pragma once

#include <cstddef>
#include <string>

namespace grove::cli {

// Runs the demo with three new devices under `dir`, alice creating `items` items. Prints the
// narration to stdout; returns kExitOk when every check held, kExitError (with the failed checks
// on stderr) when one did not, or the exit code of an error that stopped it.
int RunDemoStory(const std::string& dir, size_t items);

}  // namespace grove::cli
