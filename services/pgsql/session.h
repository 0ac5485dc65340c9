// The PostgreSQL connection shared by the modules that keep data there (services/pgstore: the
// relay's store and its Listener; services/audit: the audit log): where to connect, connecting,
// running a transaction with libpqxx, turning libpqxx exceptions into a Status at this boundary,
// and applying a module's numbered schema migrations (Migrate). Internal to those modules: their
// public headers do not expose it.
//
// Thread-safety: none; a Session is used from one thread.
//
// Failure: nothing throws out of here. Unavailable when PostgreSQL cannot be reached or the
// connection was lost (messages name host:port/db, never a password), IOError for other database
// failures, InvalidArgument for a url libpq cannot parse or data PostgreSQL refuses (SQLSTATE 22).
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace grove::pgsql {

// Where to connect, parsed from a url.
struct Target {
  std::string conninfo;  // keyword/value string for libpq, connect_timeout included
  std::string where;     // "host:port/db", for messages (never the password)
  std::string password;  // only to scrub it from libpq's messages
};

// InvalidArgument (field "url") when the url is neither a libpq URI nor a keyword/value string.
// connect_timeout_s applies unless the url sets connect_timeout (0: libpq's default);
// application_name is the fallback_application_name PostgreSQL shows for the connection.
Result<Target> ParseTarget(std::string_view url, int connect_timeout_s,
                           std::string_view application_name);

// libpq's message on one line, without a password it might echo.
std::string CleanMessage(std::string_view message, const Target& target);

class Session {
 public:
  explicit Session(Target target) : target_(std::move(target)) {}

  const Target& target() const { return target_; }

  // Connects unless connected. Unavailable "cannot reach PostgreSQL at <where>: <why>".
  Status Connect();
  bool connected() const { return conn_ != nullptr; }
  pqxx::connection& conn() { return *conn_; }
  // Closes the connection; the next Connect opens a new one.
  void Drop() { conn_.reset(); }
  // Drops an idle connection that the server has closed, so the next Connect replaces it before a
  // statement is sent on it (libpqxx 6.4 leaks a result when a statement meets a dead connection).
  // Cannot see a connection cut without a word (a network partition): the statement finds it.
  void DropIfClosed();

  // Runs body in a transaction of type Txn and commits when it returns OK (aborts otherwise).
  // Connects first if needed. A transaction that fails because the existing connection was dead
  // (before COMMIT: nothing applied), or that lost a deadlock or serialization conflict, runs once
  // more; body must then start over (it is called again). in_doubt() tells afterwards whether
  // the connection broke during COMMIT.
  template <typename Txn>
  Status Transact(std::string_view op, const std::function<Status(pqxx::transaction_base&)>& body);

  // Runs fn, turning a libpqxx exception into a Status for `op` and noting what it means for the
  // connection (see Transact). For use inside Transact's body, around each statement.
  template <typename Fn>
  Status Guard(std::string_view op, Fn&& fn) {
    try {
      return fn();
    } catch (...) {
      return Translate(op);
    }
  }

  bool in_doubt() const { return fate_ == Fate::kInDoubt; }

  // The message of the FailedPrecondition a foreign-key violation (SQLSTATE 23503) becomes;
  // "foreign key violation" unless set.
  void set_foreign_key_message(std::string message) { foreign_key_message_ = std::move(message); }

  void SetObserver(std::function<void(double)> fn) { observer_ = std::move(fn); }
  // Reports the seconds since start to the observer.
  void Observe(std::chrono::steady_clock::time_point start);

 private:
  enum class Fate {
    kNone,     // no failure, or one that says nothing about the connection
    kLost,     // the connection is dead; nothing was committed
    kInDoubt,  // the connection died during COMMIT
    kRetry,    // deadlock or serialization failure: the transaction may succeed if run again
  };

  // Classifies the exception being handled. REQUIRES: called from a catch block.
  Status Translate(std::string_view op);

  Target target_;
  std::unique_ptr<pqxx::connection> conn_;
  Fate fate_ = Fate::kNone;
  std::function<void(double)> observer_;
  std::string foreign_key_message_ = "foreign key violation";
};

template <typename Txn>
Status Session::Transact(std::string_view op,
                         const std::function<Status(pqxx::transaction_base&)>& body) {
  for (int attempt = 0;; ++attempt) {
    DropIfClosed();
    const bool fresh = !connected();
    GROVE_RETURN_IF_ERROR(Connect());
    fate_ = Fate::kNone;
    const auto start = std::chrono::steady_clock::now();
    Status s = Guard(op, [&] {
      Txn txn(*conn_);
      GROVE_RETURN_IF_ERROR(body(txn));
      txn.commit();
      return Status::Ok();
    });
    Observe(start);
    if (s.ok()) return s;
    if (fate_ == Fate::kLost || fate_ == Fate::kInDoubt) Drop();
    const bool again = (fate_ == Fate::kLost && !fresh) || fate_ == Fate::kRetry;
    if (!again || attempt > 0) return s;
  }
}

// One numbered schema migration, as embedded by services/store/embed_sql.cmake: migration i
// (1-based) takes the database from schema version i-1 to i.
struct Migration {
  int version;       // the NNN of the file name
  const char* name;  // the file name, recorded in the migrations table
  const char* sql;   // one or more statements, run in one transaction
};

// Which module's migrations, and where their progress is recorded.
struct MigrationSet {
  std::span<const Migration> migrations;  // in version order, without gaps
  std::string table;                      // "schema_migrations": version, name, applied_at
  std::string kind;                       // for messages: "relay" -> "relay database ..."
  int lock_key = 1;  // second key of pg_advisory_xact_lock(1196576598, key), one per module
};

// Applies the migrations the database lacks, each in its own transaction under the set's
// advisory lock, so concurrent openers serialise. FailedPrecondition when the database is newer
// than `set` (a version it does not know) or its recorded history differs (a gap or a different
// name for a version); database failures as for Transact.
Status Migrate(Session& session, const MigrationSet& set);

}  // namespace grove::pgsql
