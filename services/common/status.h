// Status and Result<T>: how every fallible call in Grove reports failure.
//
// Errors are values at module boundaries; exceptions never cross one. A Status carries a code,
// a human message and, for bad input, *where* it was wrong (a field name, "file:line:col", or a
// delta's "author/seq"). Status and Result are plain values: copy them, share them read-only
// across threads.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace grove {

enum class Code {
  kOk = 0,
  kInvalidArgument,     // the caller's input is malformed or breaks a rule
  kNotFound,            // the thing asked for does not exist
  kAlreadyExists,       // refusing to overwrite
  kPermissionDenied,    // the actor's role does not allow it
  kFailedPrecondition,  // the state does not allow it now (wrong state, missing dependency)
  kCorruption,          // stored or received bytes do not decode or do not verify
  kIOError,             // file system, database or network failed
  kUnavailable,         // try again later
  kResourceExhausted,   // a quota or limit is full: nothing was taken
  kInternal,            // a bug: an invariant did not hold
};

const char* CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message, std::string where = {})
      : code_(code), message_(std::move(message)), where_(std::move(where)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& where() const { return where_; }

  // "InvalidArgument: seq must be 1 for a genesis delta (at alice/1)"
  std::string ToString() const;

  // Returns a copy with `context` prefixed to the message ("opening store: ...").
  Status Annotate(const std::string& context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
  std::string where_;
};

inline Status InvalidArgument(std::string msg, std::string where = {}) {
  return Status(Code::kInvalidArgument, std::move(msg), std::move(where));
}
inline Status NotFound(std::string msg, std::string where = {}) {
  return Status(Code::kNotFound, std::move(msg), std::move(where));
}
inline Status AlreadyExists(std::string msg, std::string where = {}) {
  return Status(Code::kAlreadyExists, std::move(msg), std::move(where));
}
inline Status PermissionDenied(std::string msg, std::string where = {}) {
  return Status(Code::kPermissionDenied, std::move(msg), std::move(where));
}
inline Status FailedPrecondition(std::string msg, std::string where = {}) {
  return Status(Code::kFailedPrecondition, std::move(msg), std::move(where));
}
inline Status Corruption(std::string msg, std::string where = {}) {
  return Status(Code::kCorruption, std::move(msg), std::move(where));
}
inline Status IOError(std::string msg, std::string where = {}) {
  return Status(Code::kIOError, std::move(msg), std::move(where));
}
inline Status Unavailable(std::string msg, std::string where = {}) {
  return Status(Code::kUnavailable, std::move(msg), std::move(where));
}
inline Status ResourceExhausted(std::string msg, std::string where = {}) {
  return Status(Code::kResourceExhausted, std::move(msg), std::move(where));
}
inline Status Internal(std::string msg, std::string where = {}) {
  return Status(Code::kInternal, std::move(msg), std::move(where));
}

// Result<T>: a T or a non-OK Status.
// REQUIRES: value() only when ok(); constructing from an OK Status is a bug (asserted).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace grove

// Early return of a failed Status from a function returning Status or Result<T>.
#define GROVE_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::grove::Status grove_status_ = (expr);        \
    if (!grove_status_.ok()) return grove_status_; \
  } while (0)

#define GROVE_CONCAT_INNER(a, b) a##b
#define GROVE_CONCAT(a, b) GROVE_CONCAT_INNER(a, b)
// GROVE_ASSIGN_OR_RETURN(auto x, MakeX()); -- binds the value or returns the error.
#define GROVE_ASSIGN_OR_RETURN(lhs, expr) \
  GROVE_ASSIGN_OR_RETURN_IMPL(GROVE_CONCAT(grove_result_, __LINE__), lhs, expr)
#define GROVE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
