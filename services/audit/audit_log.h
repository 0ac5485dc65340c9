// AuditLog: the compliance audit log in PostgreSQL (DESIGN.md, "Relay/audit node"), and
// VerifyLog, which checks a whole log against its signed tree heads (`grove audit verify`).
//
// The log is append-only and tamper-evident: entry i (seq i, from 0) is leaf i of an RFC 9162
// Merkle tree (merkle.h) with leaf LeafHash(EncodeEntry(entry)); the auditor signs tree heads
// (size, root, timestamp) with its Ed25519 key and stores them beside the entries. The schema is
// schemas/sql/audit/NNN_*.sql, embedded at build time and applied by Open; its progress is kept
// in audit_schema_migrations, so the log may share a database with a relay.
//
// Memory: Open loads every leaf hash into a MerkleLog (about 64 bytes per entry; a log of
// hundreds of millions of entries will want stored subtree hashes). VerifyLog streams the log a
// page of rows at a time and keeps O(log n) hashes, so its memory does not grow with the log.
//
// Entries may later lose their content to retention (retention.h): the row keeps its seq, kind,
// workspace, received_at and leaf hash, is marked pruned, and VerifyLog checks it by the stored
// leaf hash (see VerifyLog). Search and export: search.h, export.h.
//
// Ownership: Open returns an owning pointer; it borrows the clock, which must outlive it.
// Thread-safety: an AuditLog is used from one thread. Only one AuditLog may append to a database
// at a time: Append refuses (FailedPrecondition) when another writer appended since it loaded.
//
// Failure: nothing throws; libpqxx exceptions become a Status. Unavailable when PostgreSQL cannot
// be reached or the connection was lost (messages name host:port/db, never a password); IOError
// for other database failures; InvalidArgument for a bad url or argument (naming it).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/merkle.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/crypto.h"

namespace pqxx {
class transaction_base;
}
namespace grove::pgsql {
class Session;
}

namespace grove::audit {

enum class EntryKind { kOp, kRejected, kFork, kAdmin };

// "op", "rejected", "fork", "admin" (the stored spelling).
std::string_view EntryKindName(EntryKind kind);

struct Entry {
  uint64_t seq = 0;  // assigned by Append; ignored in its input
  EntryKind kind = EntryKind::kOp;
  Bytes workspace;
  std::string device;
  std::string user_name;
  std::string op;
  std::string record;
  std::string field;  // the field an op changed ("" for ops on a whole record)
  std::string old_value;
  std::string new_value;
  uint64_t hlc = 0;             // at most 2^63-1
  uint64_t received_at_ms = 0;  // Unix ms; at most 8e15 (stored as timestamptz)
  Bytes delta_hash;

  bool operator==(const Entry&) const = default;
};

// The bytes an entry's leaf hashes (LeafHash(EncodeEntry(e))). Fixed order, every field present:
//   "grove-audit-entry-v1" (20 ASCII bytes) || seq (u64 BE) || kind || workspace || device
//   || user_name || op || record || field || old_value || new_value || hlc (u64 BE)
//   || received_at_ms (u64 BE) || delta_hash
// where each variable field (kind as its stored name) is its length (u32 BE) then its bytes. The
// seq is part of the leaf, so moving a row to another seq changes its hash.
Bytes EncodeEntry(const Entry& entry);

// A tree head as stored: the head, the signature and the signer's public key.
struct SignedHead {
  TreeHead head;
  Bytes signature;
  crypto::PublicKey key{};
};

class AuditLog {
 public:
  // Connects to `url` (libpq URI or keyword/value string), applies missing migrations and loads
  // the leaf hashes. `key` signs tree heads; `clock` stamps them.
  static Result<std::unique_ptr<AuditLog>> Open(std::string_view url, crypto::SigningKey key,
                                                Clock& clock);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  uint64_t size() const { return tree_.size(); }
  Hash32 Root() const { return tree_.Root(); }

  // Where a writer has got to in one of its sources, stored with the entries it appends.
  struct Cursor {
    std::string name;
    std::string position;
  };

  // Appends the entries, in order, and sets the cursors, in one transaction, giving the entries
  // seqs size(), size()+1, ... Nothing is written on failure. InvalidArgument (naming the field)
  // for an hlc above 2^63-1, received_at_ms above 8e15, text with a NUL byte, or text PostgreSQL
  // refuses (invalid UTF-8); FailedPrecondition when another writer appended meanwhile (this log
  // then reloads).
  Status Append(const std::vector<Entry>& entries, const std::vector<Cursor>& cursors = {});
  // Every cursor set so far, by name.
  Result<std::map<std::string, std::string>> Cursors();
  // Moves up to `max` queued admin actions (inbox.h), oldest first, into the log as kAdmin
  // entries (device and user_name: the actor; op: the action; record: the target; new_value:
  // the detail; received_at: when it was done) and removes them from the queue, in one
  // transaction. Returns how many moved.
  Result<size_t> DrainInbox(size_t max = 1000);

  // Signs the current (size, root) with the clock's time and stores it. When a head of this size
  // is already stored, returns the stored one unchanged.
  Result<SignedHead> SignHead();

  // merkle.h's proofs over the stored entries (InvalidArgument as MerkleLog's).
  Result<std::vector<Hash32>> InclusionProof(uint64_t seq, uint64_t tree_size) const;
  Result<std::vector<Hash32>> ConsistencyProof(uint64_t old_size, uint64_t new_size) const;

  // Every stored tree head, by size.
  Result<std::vector<SignedHead>> Heads();

 private:
  AuditLog(std::unique_ptr<pgsql::Session> session, crypto::SigningKey key, Clock& clock);
  Status Load();
  static Status CheckEntry(const Entry& e);
  // Inserts entries after the tree and the `leaves` already inserted in this transaction.
  Status InsertEntries(pqxx::transaction_base& txn, const std::vector<Entry>& entries,
                       std::vector<Hash32>& leaves);
  // Runs body in a write transaction holding the log's lock; adds `leaves` to the tree on commit.
  Status Write(std::string_view op, std::vector<Hash32>& leaves,
               const std::function<Status(pqxx::transaction_base&)>& body);

  std::unique_ptr<pgsql::Session> session_;
  crypto::SigningKey key_;
  Clock& clock_;
  MerkleLog tree_;
};

struct VerifyReport {
  std::string where;              // host:port/db of the log (never a password)
  uint64_t entries = 0;           // rows in the log
  uint64_t entries_checked = 0;   // rows in order whose fields matched their leaf hash (pruned
                                  // rows: whose stored leaf hash was taken, see entries_pruned)
  uint64_t entries_pruned = 0;    // of those, rows whose content retention removed
  uint64_t heads_checked = 0;     // signed heads that verified
  uint64_t unsigned_entries = 0;  // entries after the last signed head (not yet covered)
  bool ok = false;
  // On failure: the first bad entry's seq when one can be named (for a head whose root differs,
  // the first seq after the last good head), and why, e.g. "entry 17: fields do not match its
  // leaf hash", "entry 17 missing (seq jumps from 16 to 18)", "tree head at size 40: root
  // differs from the entries (an entry before 40 was changed, deleted or reordered)".
  std::optional<uint64_t> bad_seq;
  std::string problem;
};

// Reads the whole log at `url` in one snapshot, a page of rows at a time, and checks it: seqs
// contiguous from 0, each row's fields hash to its stored leaf hash, and every signed head has a
// valid signature (by `expected_key` when given; otherwise every head must be by the same key), a
// root equal to the root recomputed from the entries at its size (so consecutive heads are
// consistent), and a timestamp not before the previous head's. A pruned row's content is gone, so
// its stored leaf hash stands for it: it must still sit at its seq, carry no content, not be an
// admin entry, and the heads over it must still match, so deleting, moving or re-hashing a pruned
// row is caught, and so is un-pruning it with made-up content (which does not match the hash).
// What cannot be told from the rows is whether a pruning was authorised: Prune records each one
// as an admin entry (retention.h). A log that does not verify is an OK Result with report.ok
// false. Errors: NotFound when there is no audit log at the url; FailedPrecondition when its
// schema is older than this code reads; else as Open. Needs only read access.
Result<VerifyReport> VerifyLog(std::string_view url, std::optional<crypto::PublicKey> expected_key);

}  // namespace grove::audit
