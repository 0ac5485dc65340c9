// Search: finding entries of the compliance audit log (audit_log.h) by workspace, record, device,
// user, op, kind and time, a page at a time, for `grove audit search`, the admin console and
// export (export.h). Also the text form of times that search and export read and write.
//
// Search reads one snapshot of the log with parameterised SQL only, over the indexes of
// schemas/sql/audit/002_search_retention.sql (workspace+seq, record+seq, device+seq,
// user_name+seq, received_at). It does not verify anything: a row is returned as stored; use
// VerifyLog or an export's proofs (export.h) for evidence.
//
// Entries whose content retention removed (retention.h) are returned with `pruned` set: they keep
// seq, kind, workspace, received_at and leaf hash; every other field is empty (hlc 0). A filter
// on record, device, user or op therefore never matches them.
//
// Ownership and threads: free functions; each call opens its own connection and closes it, so
// calls may run on any threads at once. Failure: InvalidArgument naming the Query field for a bad
// argument (checked before connecting); NotFound when there is no audit log at the url;
// FailedPrecondition when its schema predates search (the writer migrates it on opening);
// Unavailable / IOError / InvalidArgument("url") as AuditLog::Open.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_log.h"
#include "common/bytes.h"
#include "common/status.h"

namespace grove::audit {

constexpr size_t kDefaultSearchLimit = 100;
constexpr size_t kMaxSearchLimit = 10000;

// Every given filter must hold (AND). Text filters match exactly (no patterns).
struct Query {
  std::optional<Bytes> workspace;  // not empty
  std::optional<std::string> record;
  std::optional<std::string> device;
  std::optional<std::string> user_name;
  std::optional<std::string> op;
  std::optional<EntryKind> kind;
  std::optional<uint64_t> from_ms;  // received_at >= from_ms (Unix ms)
  std::optional<uint64_t> to_ms;    // received_at < to_ms; when both are given, from_ms < to_ms
  // Paging: only entries with seq > after_seq (optional because seqs start at 0: a plain 0 would
  // skip entry 0). Pass the previous page's next_after.
  std::optional<uint64_t> after_seq;
  size_t limit = kDefaultSearchLimit;  // 1..kMaxSearchLimit entries per page
};

// One entry as stored.
struct FoundEntry {
  Entry entry;
  bool pruned = false;  // content removed by retention
  Hash32 leaf_hash{};   // as stored (VerifyLog checks it; search does not)
};

struct SearchPage {
  std::vector<FoundEntry> entries;  // in seq order, at most query.limit
  // When more entries match: pass it as the next query's after_seq. nullopt on the last page.
  std::optional<uint64_t> next_after;
};

// OK, or InvalidArgument naming the first bad field ("workspace", "record", ..., "to_ms",
// "after_seq", "limit"): an empty workspace, text with a NUL byte, a time above 8e15 ms, an
// empty or reversed time range, after_seq above 2^63-1, limit 0 or above kMaxSearchLimit.
Status CheckQuery(const Query& query);

// The entries matching `query` with seq > query.after_seq, in seq order, at most query.limit.
Result<SearchPage> Search(std::string_view url, const Query& query);

// ---------------------------------------------------------------------------------------------
// Times as text
// ---------------------------------------------------------------------------------------------

// "2023-11-14T22:13:20.123Z" for 1700000000123 (UTC, milliseconds; years past 9999 get more
// digits).
std::string FormatTimestampMs(uint64_t unix_ms);

// Unix ms from either a number of milliseconds ("1700000000123") or ISO 8601 / RFC 3339:
// "2023-11-14", "2023-11-14T22:13", "2023-11-14T22:13:20", "2023-11-14T22:13:20.5" (a space may
// replace the T), with "Z" or "+HH:MM"/"-HH:MM" (none means UTC). InvalidArgument (field `what`)
// for anything else, a date that does not exist, or a time before 1970 or after 8e15 ms.
Result<uint64_t> ParseTimestampMs(std::string_view text, std::string_view what = "time");

}  // namespace grove::audit
