// Export: the entries a Query (search.h) matches, each with the evidence that it is in the
// audit log as the auditor signed it, in JSON Lines or CSV for e-discovery tools
// (`grove audit export`); and VerifyExportedEntry, which checks one exported entry with nothing
// but the export (docs/audit.md shows the same by hand).
//
// Evidence: every entry carries its leaf hash and an RFC 9162 inclusion proof (merkle.h) against
// the newest signed tree head, which covers every entry with seq < its size; the export carries
// that head (size, root, timestamp, Ed25519 signature and public key). Entries appended after the
// newest head have no proof yet ("proof": null; empty head columns in CSV): sign a head
// (AuditLog::SignHead) and export again. Before writing anything, Export checks the head's
// signature and that its root matches the stored leaf hashes, so it never hands out proofs that
// cannot verify (Corruption: run `grove audit verify`).
//
// Binary values (workspace, delta_hash, leaf_hash, root, signature, key, proof hashes) are
// lowercase hex. Formats (docs/audit.md has examples):
//   JSON Lines: line 1 is a header object {"grove_audit_export":1, "query":{...},
//     "heads":[{size, root, timestamp_ms, timestamp, signature, key}]} (heads empty when nothing
//     is signed); then one object per entry: seq, kind, workspace, device, user_name, op, record,
//     field, old_value, new_value, hlc (a decimal string: it may exceed 2^53), received_at_ms,
//     received_at (ISO 8601 UTC), delta_hash, pruned, leaf_hash, head_size (null without proof),
//     proof (an array of hex hashes, leaf upwards, or null).
//   CSV (RFC 4180: a header row, CRLF line ends, fields with a comma, quote, CR or LF quoted,
//     quotes doubled): the same entry columns, then head_size, head_root, head_timestamp_ms,
//     head_signature, head_key on every row (so each row verifies alone), then proof: the hashes
//     joined by ':' (empty for a tree of one entry; the head columns are empty when there is no
//     proof). Cells are written exactly as stored, never altered: a spreadsheet may read a cell
//     starting with '=' as a formula, so open exports as text.
//
// Memory: the leaf hashes of the log up to the head, in a MerkleLog (about 64 bytes per entry of
// the log, not of the export), plus one page of rows; the output is streamed.
//
// Ownership and threads: free functions; Export opens its own connection, reads one snapshot and
// writes to `out`, which it borrows. Failure: as Search (search.h), plus Corruption as above and
// IOError when `out` fails; the output is then incomplete.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string_view>
#include <vector>

#include "audit/audit_log.h"
#include "audit/search.h"
#include "common/status.h"
#include "crypto/crypto.h"

namespace grove::audit {

enum class ExportFormat { kJsonLines, kCsv };

struct ExportSummary {
  uint64_t entries = 0;            // entries written
  uint64_t with_proof = 0;         // of those, with an inclusion proof
  std::optional<SignedHead> head;  // the head the proofs are against; nullopt when none signed
};

// How often Export reports progress (entries written).
constexpr uint64_t kExportProgressEvery = 10000;

// Writes every entry matching `query` with seq > query.after_seq, in seq order (query.limit is
// ignored: an export has no page size). `progress`, when set, is called with the number of
// entries written so far every kExportProgressEvery entries.
Result<ExportSummary> Export(std::string_view url, const Query& query, ExportFormat format,
                             std::ostream& out, const std::function<void(uint64_t)>& progress = {});

// One exported entry, as read back from an export.
struct ExportedEntry {
  Entry entry;  // seq and fields
  bool pruned = false;
  Hash32 leaf_hash{};
  std::vector<Hash32> proof;  // against the head
};

// Checks `row` with nothing but the export: the head's signature (by `expected_key` when given:
// without it, the key in the export is taken on trust), then the leaf hash, recomputed from the
// fields (EncodeEntry; for a pruned entry, whose content is gone, the exported leaf hash is taken
// and the content must be empty), then the inclusion proof of that leaf at seq against the head's
// root. OK when all hold; Corruption naming the first that does not; FailedPrecondition when the
// head does not cover the entry (seq >= head size).
Status VerifyExportedEntry(const ExportedEntry& row, const SignedHead& head,
                           const std::optional<crypto::PublicKey>& expected_key);

// The CSV proof column: hex hashes joined by ':' ("" is the empty proof). InvalidArgument
// ("proof") for anything else.
Result<std::vector<Hash32>> ParseProofText(std::string_view text);

}  // namespace grove::audit
