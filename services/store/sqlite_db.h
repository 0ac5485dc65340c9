// Thin RAII layer over the SQLite C API for the store: a connection, prepared statements and a
// transaction guard, with SQLite result codes turned into grove::Status at this boundary. Error
// messages name the operation and carry sqlite3_errmsg. Internal to services/store.
//
// Thread-safety: none; a Database and its Statements are used from one thread at a time.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/bytes.h"
#include "common/status.h"

namespace grove::store::sqlite {

// The Status for a failed SQLite call: code mapped from rc, message "<op>: <errmsg>".
Status Error(sqlite3* db, int rc, std::string_view op);

// A prepared statement, prepared once and reused: bind, step, and Reset (or let a ScopedReset do
// it). Bind errors are remembered and reported by the next Step, so call sites stay flat.
// REQUIRES: the Database it came from outlives it.
class Statement {
 public:
  Statement() = default;

  Statement& BindBlob(int index, ByteView value);
  Statement& BindText(int index, std::string_view value);
  Statement& BindInt64(int index, int64_t value);

  // true: a row is ready; false: the statement is done.
  Result<bool> Step();
  // Step for statements that return no rows.
  Status Run();
  // Rows changed by the last Run (INSERT/UPDATE/DELETE).
  int Changes() const;
  // Makes the statement reusable and drops bindings, which may point at caller memory.
  void Reset();

  ByteView ColumnBlob(int column) const;
  std::string_view ColumnText(int column) const;
  int64_t ColumnInt64(int column) const;

  const std::string& op() const { return op_; }

 private:
  friend class Database;
  struct Finalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::string op)
      : db_(db), stmt_(stmt), op_(std::move(op)) {}
  Statement& Bound(int rc);

  sqlite3* db_ = nullptr;
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  std::string op_;  // names the statement in error messages
  Status bind_error_;
};

// Resets a statement when leaving scope, so that early returns cannot leave it mid-step (which
// would hold a read transaction open and block WAL checkpoints).
class ScopedReset {
 public:
  explicit ScopedReset(Statement& s) : s_(s) {}
  ~ScopedReset() { s_.Reset(); }
  ScopedReset(const ScopedReset&) = delete;
  ScopedReset& operator=(const ScopedReset&) = delete;

 private:
  Statement& s_;
};

// One owned connection.
class Database {
 public:
  // flags: SQLITE_OPEN_* (the connection is always opened NOMUTEX with extended result codes).
  static Result<Database> Open(const std::string& path, int flags);

  // Runs one or more statements that return no rows we need (pragmas, migrations, BEGIN).
  Status Exec(const std::string& sql, std::string_view op);
  // Prepares for reuse over the connection's lifetime.
  Result<Statement> Prepare(std::string_view sql, std::string_view op);
  // The first column of the first row of a one-off query (pragmas).
  Result<int64_t> QueryInt(const std::string& sql, std::string_view op);
  Result<std::string> QueryText(const std::string& sql, std::string_view op);

  sqlite3* get() const { return db_.get(); }

 private:
  struct Closer {
    // close_v2: if a statement somehow outlives us, the close completes when it is finalized.
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  explicit Database(sqlite3* db) : db_(db) {}

  std::unique_ptr<sqlite3, Closer> db_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed uncommitted. IMMEDIATE takes the write
// lock up front so that a concurrent writer surfaces as a busy wait at Begin, not as a failure
// halfway through a batch.
class Transaction {
 public:
  explicit Transaction(Database& db) : db_(db) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status Begin();
  Status Commit();

 private:
  Database& db_;
  bool open_ = false;
};

}  // namespace grove::store::sqlite
