// Reading and writing audit_entries rows with libpqxx: what audit_log.cc, search.cc, export.cc
// and retention.cc share. Internal to services/audit: no public header includes it.
//
// Thread-safety: the functions are pure or work in the caller's transaction; use a transaction
// from one thread. Failure: libpqxx exceptions propagate to the caller's pgsql::Session::Transact
// (or Guard), which turns them into a Status.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_log.h"
#include "audit/search.h"
#include "common/bytes.h"
#include "common/status.h"
#include "pgsql/session.h"

namespace grove::audit::internal {

using ReadTxn = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

// The schema version the readers below need (the last NNN of schemas/sql/audit).
constexpr int kSchemaVersion = 2;

// Connects to `url`, applying missing migrations when `migrate` (writers do; readers must work
// with read-only credentials, so they do not).
Result<std::unique_ptr<pgsql::Session>> Connect(std::string_view url, bool migrate);

// OK when the database holds an audit log at kSchemaVersion or later; NotFound "no audit log at
// <where>" when it holds none; FailedPrecondition when its schema is older (the writer, on
// opening it, migrates it).
Status CheckSchema(pqxx::transaction_base& txn, const std::string& where);

pqxx::binarystring Blob(ByteView v);
Bytes ReadBytes(const pqxx::field& f);
// A stored hash or key that must be 32 bytes; nullopt otherwise.
std::optional<Hash32> Read32(const pqxx::field& f);

// The canonical encoding with the kind as a string, so that a row whose kind is not one of ours
// still has an encoding (which will not match its leaf hash).
Bytes Encode(const Entry& e, std::string_view kind);
std::optional<EntryKind> ParseKind(std::string_view name);

// The columns ReadEntry reads, in its order: the fields EncodeEntry covers, then leaf_hash and
// pruned.
extern const char* const kEntryColumns;

// One stored row.
struct StoredEntry {
  Entry entry;
  std::string kind;                 // as stored (entry.kind is kOp when it is not one of ours)
  std::optional<Hash32> leaf_hash;  // nullopt: not 32 bytes
  bool pruned = false;              // content removed by retention (retention.h)
  bool operator==(const StoredEntry&) const = default;
};

// REQUIRES: `r` selected kEntryColumns.
StoredEntry ReadEntry(const pqxx::row& r);

// Whether the content fields (everything but seq, kind, workspace, received_at) are empty, as
// retention leaves them.
bool ContentIsEmpty(const Entry& e);

// Every signed tree head, by size.
void ReadHeads(pqxx::transaction_base& txn, std::vector<SignedHead>& out);

// Runs `sql` page by page: `sql` must end in "seq > $N ORDER BY seq LIMIT $M" where $N and $M
// are the two parameters after `params`; fn sees every row in seq order (returning false stops).
// Each page holds at most `page` rows, so memory is bounded by a page whatever the log's size.
// Run it in a repeatable-read transaction so the pages form one snapshot.
void ForEachPage(pqxx::transaction_base& txn, const std::string& sql,
                 std::vector<std::string> params, size_t page,
                 const std::function<bool(const pqxx::row&)>& fn);

// A Query's filters as SQL: `where` is "" or conditions each followed by " AND ", with
// placeholders $1..$params.size() (only parameters: never a value in the text).
struct Filter {
  std::string where;
  std::vector<std::string> params;
};
// REQUIRES: CheckQuery(q) is OK.
Filter BuildFilter(const Query& q);

FoundEntry ToFound(StoredEntry s);

// Every row of audit_entries in seq order (`columns` must start with seq), a page at a time like
// ForEachPage, but with the next page requested before fn sees the current one, so that
// PostgreSQL reads it while the caller works (VerifyLog hashes). REQUIRES: no other statement
// on txn until it returns.
void ForEachLogRow(pqxx::transaction_base& txn, const std::string& columns, size_t page,
                   const std::function<bool(const pqxx::row&)>& fn);

// PostgreSQL's input form of a bytea ("\x" then hex) and of a timestamptz from Unix ms, as text
// parameters and COPY fields take them.
std::string ByteaText(ByteView v);
std::string TimestampText(uint64_t unix_ms);

}  // namespace grove::audit::internal
