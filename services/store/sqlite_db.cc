#include "store/sqlite_db.h"

#include <string>

namespace grove::store::sqlite {

namespace {

Code CodeFor(int rc) {
  switch (rc) {
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      // The only foreign keys point at workspaces: a row for a workspace that is not stored.
      return Code::kFailedPrecondition;
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Code::kCorruption;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_NOMEM:
      return Code::kUnavailable;
    case SQLITE_TOOBIG:
      return Code::kInvalidArgument;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
    case SQLITE_AUTH:
      return Code::kIOError;
    default:
      // SQLITE_ERROR (bad SQL), MISUSE, RANGE, other constraints: our bug, not the caller's.
      return Code::kInternal;
  }
}

// A non-null pointer for empty values: SQLite binds NULL for a null pointer, which would turn
// an empty blob into a NOT NULL violation.
const char kEmpty[] = "";

}  // namespace

Status Error(sqlite3* db, int rc, std::string_view op) {
  const char* msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return Status(CodeFor(rc), std::string(op) + ": " + msg);
}

Statement& Statement::Bound(int rc) {
  if (rc != SQLITE_OK && bind_error_.ok()) bind_error_ = Error(db_, rc, op_ + " (binding)");
  return *this;
}

Statement& Statement::BindBlob(int index, ByteView value) {
  const void* data = value.empty() ? kEmpty : static_cast<const void*>(value.data());
  // SQLITE_STATIC: the caller's bytes outlive the step; Reset drops the pointer before they die.
  return Bound(sqlite3_bind_blob64(stmt_.get(), index, data, value.size(), SQLITE_STATIC));
}

Statement& Statement::BindText(int index, std::string_view value) {
  const char* data = value.empty() ? kEmpty : value.data();
  return Bound(
      sqlite3_bind_text64(stmt_.get(), index, data, value.size(), SQLITE_STATIC, SQLITE_UTF8));
}

Statement& Statement::BindInt64(int index, int64_t value) {
  return Bound(sqlite3_bind_int64(stmt_.get(), index, value));
}

Result<bool> Statement::Step() {
  if (!bind_error_.ok()) return bind_error_;
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Error(db_, rc, op_);
}

Status Statement::Run() {
  GROVE_ASSIGN_OR_RETURN(bool row, Step());
  if (row) return Internal(op_ + ": returned a row where none was expected");
  return Status::Ok();
}

int Statement::Changes() const { return sqlite3_changes(db_); }

void Statement::Reset() {
  // reset repeats the last step's error, which Step already reported.
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
  bind_error_ = Status::Ok();
}

ByteView Statement::ColumnBlob(int column) const {
  // Fetch the pointer before the size, as the SQLite docs prescribe.
  const void* data = sqlite3_column_blob(stmt_.get(), column);
  size_t size = static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), column));
  if (data == nullptr || size == 0) return {};
  return ByteView(static_cast<const uint8_t*>(data), size);
}

std::string_view Statement::ColumnText(int column) const {
  const unsigned char* data = sqlite3_column_text(stmt_.get(), column);
  size_t size = static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), column));
  if (data == nullptr || size == 0) return {};
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

int64_t Statement::ColumnInt64(int column) const {
  return sqlite3_column_int64(stmt_.get(), column);
}

Result<Database> Database::Open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  // open_v2 hands back a handle even on failure; own it so it is closed either way.
  Database db(raw);
  if (rc != SQLITE_OK) return Error(raw, rc, "opening database");
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

Status Database::Exec(const std::string& sql, std::string_view op) {
  int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Error(db_.get(), rc, op);
  return Status::Ok();
}

Result<Statement> Database::Prepare(std::string_view sql, std::string_view op) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return Error(db_.get(), rc, "preparing " + std::string(op));
  return Statement(db_.get(), stmt, std::string(op));
}

Result<int64_t> Database::QueryInt(const std::string& sql, std::string_view op) {
  GROVE_ASSIGN_OR_RETURN(Statement s, Prepare(sql, op));
  GROVE_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Internal(std::string(op) + ": returned no row");
  return s.ColumnInt64(0);
}

Result<std::string> Database::QueryText(const std::string& sql, std::string_view op) {
  GROVE_ASSIGN_OR_RETURN(Statement s, Prepare(sql, op));
  GROVE_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Internal(std::string(op) + ": returned no row");
  return std::string(s.ColumnText(0));
}

Transaction::~Transaction() {
  // Some errors (SQLITE_FULL, IOERR) already rolled SQLite back; a second ROLLBACK would fail.
  if (open_ && sqlite3_get_autocommit(db_.get()) == 0) {
    (void)db_.Exec("ROLLBACK", "rolling back");
  }
}

Status Transaction::Begin() {
  GROVE_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE", "beginning transaction"));
  open_ = true;
  return Status::Ok();
}

Status Transaction::Commit() {
  GROVE_RETURN_IF_ERROR(db_.Exec("COMMIT", "committing transaction"));
  open_ = false;
  return Status::Ok();
}

}  // namespace grove::store::sqlite
