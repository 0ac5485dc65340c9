// grove-bench peer-sync: sync between real grove-peer processes over TLS (issue 4). See
// peer_sync.cc and docs/benchmarks.md.
#pragma once

namespace grove::bench {

// argv[1] is "peer-sync". Returns the process exit status: 0 when B converged and every live
// push arrived, 1 otherwise, 2 for a bad command line.
int PeerSyncMain(int argc, char** argv);

}  // namespace grove::bench
