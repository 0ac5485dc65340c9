// grove-bench workflow: transitions with guards and effects through the shipped tools (issue 5).
// See workflow.cc and docs/benchmarks.md.
#pragma once

namespace grove::bench {

// argv[1] is "workflow". Returns 0 when the run completed (the JSON line says whether every
// order was received, stock adds up and the replicas converged), 1 on failure, 2 for a bad
// command line.
int WorkflowMain(int argc, char** argv);

}  // namespace grove::bench
