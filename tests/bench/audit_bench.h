// grove-bench audit-ingest and grove-bench audit-verify: the compliance audit log's write rate
// as a ratio to a plain PostgreSQL COPY of the same rows, and VerifyLog's time per million
// entries as a ratio to a plain scan of the same table (issue 7). See audit_bench.cc and
// docs/benchmarks.md.
#pragma once

namespace grove::bench {

// argv[1] is "audit-ingest" or "audit-verify". Returns 0 when the run completed (and, for
// audit-verify, the log verified), 1 otherwise, 2 for a bad command line.
int AuditBenchMain(int argc, char** argv);

}  // namespace grove::bench
