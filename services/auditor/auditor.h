// grove::auditor::Auditor — an auditor device's pipeline from its replicas into the compliance
// audit log (DESIGN.md, "Relay/audit node"; docs/audit.md).
//
// An auditor device is an ordinary peer that IT enrolled and that owners added to their audited
// workspaces with the auditor role: it receives every delta, holds the content keys, and may
// not write. Its peer, given an audit database, runs an Auditor, which turns what the replicas
// decided into audit entries:
//   - each op of each accepted delta, one entry per op (a create also gets one per field), with
//     who (author device and its member name), what (workspace, record, op, field, old and new
//     value as JSON), when (the delta's HLC and when the peer received it), and the delta hash;
//   - each delta stored as evidence instead of applied: a `rejected` entry with the reason, and
//     its ops when they can be read;
//   - each fork (a device that signed two deltas with one seq): a `fork` entry;
//   - admin actions queued by the admin console (audit_inbox), moved into the log in order;
// and signs a tree head every `head_interval_ms` when entries were added (and on Stop).
//
// old_value is the value the log itself last recorded for that record and field, so it follows
// the log's order: under concurrent writes it can differ from the merged state (the entries'
// HLCs tell which write won). A counter's entries carry the running total.
//
// Never slows the mesh: Collect runs on the peer's event loop but does no database work; it
// decrypts at most `batch_ops` ops and stops while `max_in_flight` entries wait for the
// database. A writer thread appends them, each batch with the cursors it advances (per
// workspace and author: the highest seq logged) in one transaction, and retries every
// `retry_ms` for as long as the database fails. The replicas keep every delta meanwhile, so the
// log catches up after an outage or a restart from the cursors it committed: nothing missing and
// nothing twice.
//
// Memory: the last value of every (record, field) the log has seen, for old_value, loaded from
// the log at start (one query), so about the size of the workspaces' state.
//
// Ownership: Start returns an owning pointer. The clock and logger must outlive the Auditor.
// Thread-safety: Collect only from one thread (the peer's event loop); state() and Stop from
// any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/crypto.h"
#include "replica/replica.h"
#include "store/store.h"

namespace grove::logging {
class Logger;
}

namespace grove::auditor {

struct Options {
  std::string db_url;
  int head_interval_ms = 60'000;
  int retry_ms = 1'000;
  size_t batch_ops = 5'000;
  size_t max_in_flight = 50'000;
};

struct State {
  bool ready = false;      // the log is open and its cursors loaded
  bool db_ok = false;      // the last database operation succeeded
  std::string error;       // the last database error, when !db_ok
  uint64_t entries = 0;    // entries in the log
  uint64_t appended = 0;   // entries this process appended (admin actions included)
  uint64_t in_flight = 0;  // entries collected and not yet committed
  uint64_t head_size = 0;  // the newest signed tree head
  uint64_t head_timestamp_ms = 0;
};

class Auditor {
 public:
  // Starts the writer thread, which connects (retrying until it can) and loads the log. `key`
  // signs tree heads (the auditor device's own key). InvalidArgument for a bad db url.
  static Result<std::unique_ptr<Auditor>> Start(Options options, crypto::SigningKey key,
                                                Clock& clock, logging::Logger& log);
  ~Auditor();
  Auditor(const Auditor&) = delete;
  Auditor& operator=(const Auditor&) = delete;

  // Collects what `ws` decided since the last call (or since the log's cursors), and the forks
  // in `store`'s evidence for it, and hands them to the writer. Cheap when nothing is due or
  // the writer is busy. Returns true when there may be more to collect at once.
  bool Collect(replica::Workspace& ws, store::Store& store);

  State state() const;
  // Signs a last tree head when entries were added, and stops the writer (waiting at most
  // `retry_ms` for a database that does not answer). Idempotent.
  void Stop();

  class Impl;

 private:
  explicit Auditor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace grove::auditor
