// grove-bench relay: the relay's benchmark (issue 6). See relay_bench.cc and docs/benchmarks.md.
#pragma once

namespace grove::bench {

// argv[1] is "relay". Returns the process exit status: 0 when every part ran and converged (and
// the idle peers all registered), 1 otherwise, 2 for a bad command line.
int RelayBenchMain(int argc, char** argv);

}  // namespace grove::bench
