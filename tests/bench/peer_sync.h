// grove-bench peer-sync: sync between real grove-peer processes over TLS (issue 4). See
// peer_sync.cc and docs/benchmarks.md.
//
// Also the pieces other benchmarks over real peers share with it (`grove-bench relay` catches up
// the same backlog through a relay): the backlog's preparation, the JSON line, and a few reads of
// a peer's API.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "bench/peer_harness.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "identity/identity.h"

namespace grove::bench {

// argv[1] is "peer-sync". Returns the process exit status: 0 when B converged and every live
// push arrived, 1 otherwise, 2 for a bad command line.
int PeerSyncMain(int argc, char** argv);

// --- Shared with other benchmarks ------------------------------------------------------------

// One JSON object on one line, members in the order they are added.
class Out {
 public:
  void Add(const std::string& key, double v);
  void Int(const std::string& key, uint64_t v);
  void Bool(const std::string& key, bool v);
  void Str(const std::string& key, const std::string& v);
  void Raw(const std::string& key, const std::string& v);
  std::string Line() const { return text_ + "}"; }

 private:
  std::string text_;
};

// What PrepareBacklog makes.
struct BacklogSpec {
  uint64_t changes = 200000;
  uint64_t records = 0;  // 0: changes / 100 (at least 1)
  uint64_t seal_every = 1000;
  // Also time the in-process merge of the backlog (two fresh replicas of B): peer-sync's limit.
  bool inprocess_merge = true;
  std::string progress_tag = "peer-sync";  // "grove-bench TAG: ..." on stderr
};

struct Backlog {
  std::string error;
  std::string ws;  // hex id
  uint64_t changes = 0, records = 0, deltas = 0, delta_bytes = 0;
  double prepare_s = 0, encode_s = 0;
  double inprocess_s = 0, inprocess_batched_s = 0;
  bool inprocess_converged = false;
  std::string version, state;  // A's digests, hex
  uint64_t digest_deltas = 0;  // deltas in A's version, the genesis included
};

// Device A's data folder (`root`/a) with a workspace of `spec.changes` local actions (record
// creations, then field sets and stock increments alternating over the records), sealed every
// `spec.seal_every` actions, with device B (`root`/b, only its keys and api-token) as a member;
// then, if asked, the in-process merge of exactly those deltas. `error` says what failed.
Backlog PrepareBacklog(const BacklogSpec& spec, const std::string& root, Random& rng, Clock& clock);

// A device made like `grove init`: keys and api-token saved in `dir`.
Result<std::unique_ptr<identity::Identity>> InitDevice(const std::string& dir,
                                                       const std::string& name, Random& rng,
                                                       Clock& clock);

struct Digest {
  std::string version, state;
  uint64_t deltas = 0;
};
// GET /api/v1/workspaces/WS/digest; nullopt unless 200 with JSON.
std::optional<Digest> GetDigest(Api& api, const std::string& ws);
// Whether GET /api/v1/invitations lists `ws`.
bool HasInvitation(Api& api, const std::string& ws);

// B (started, holding the invitation to `ws`) accepts it; the time until B's version digest
// equals `a`'s. B's grove_deltas_received_total is polled every 2 ms up to `expected_deltas`,
// then B's digest is asked for: if that first digest already agrees the clock stops at the
// count, otherwise at the digest that does. Bounded by `timeout` (plus 60 s for the digests).
struct CatchUp {
  std::string error;
  double accept_s = 0, first_delta_s = 0;
  double seconds = 0;                    // accept to equal version
  double seconds_with_check = 0;         // the same, including the last digest request
  double apply_s = 0, apply_frames = 0;  // B's grove_apply_duration_seconds sum and count
  double received = 0;                   // B's grove_deltas_received_total at the end
  bool converged = false;                // equal version and state digests
};
CatchUp TimeCatchUp(PeerProcess& b, const std::string& ws, const Digest& a,
                    uint64_t expected_deltas, std::chrono::seconds timeout);

struct NetSync {
  std::string error;
  double a_start_s = 0, invitation_s = 0, accept_s = 0, first_delta_s = 0, seconds = 0;
  double seconds_with_check = 0;
  double b_apply_s = 0, b_apply_frames = 0;
  double sent_bytes = 0;  // A's grove_sync_sent_bytes_total over the catch-up (frame bytes)
  uint64_t b_bytes_in = 0;
  bool converged = false;
  bool a_digest_matches = false;
  double b_rss_mb = 0, a_rss_mb = 0;
};
// The direct catch-up of the backlog `b`: grove-peer A over `a_dir` (holding it) and B over
// `b_dir` (only its device), B dialing A; once B lists the invitation, TimeCatchUp. Logs go to
// `log_prefix`a.log and b.log; progress to stderr as "grove-bench `progress_tag`: ...". Both
// peers are stopped before it returns.
NetSync RunBacklogSync(const std::string& a_dir, const std::string& b_dir,
                       const std::string& log_prefix, std::chrono::seconds timeout,
                       const Backlog& b, const std::string& progress_tag = "peer-sync");

}  // namespace grove::bench
