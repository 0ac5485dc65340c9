// The PostgreSQL connection under PgStore and Listener: where to connect, connecting, running a
// transaction with libpqxx, and turning libpqxx exceptions into a Status at this boundary.
// Internal to services/pgstore.
//
// Thread-safety: none; a Session is used from one thread.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "pgstore/pg_store.h"

namespace grove::pgstore::internal {

// Where to connect, parsed from Options::url.
struct Target {
  std::string conninfo;  // keyword/value string for libpq, connect_timeout included
  std::string where;     // "host:port/db", for messages (never the password)
  std::string password;  // only to scrub it from libpq's messages
};

// InvalidArgument when the url is neither a libpq URI nor a keyword/value string.
Result<Target> ParseTarget(const Options& options);

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

}  // namespace grove::pgstore::internal
