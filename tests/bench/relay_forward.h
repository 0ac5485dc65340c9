// grove-bench relay-forward: the relay's forwarding throughput between two peers as a ratio to
// raw TLS between them (issue 6, part a). See relay_forward.cc and docs/benchmarks.md.
#pragma once

namespace grove::bench {

// argv[1] is "relay-forward". Returns 0 when every transfer completed, 1 otherwise, 2 for a bad
// command line.
int RelayForwardMain(int argc, char** argv);

}  // namespace grove::bench
