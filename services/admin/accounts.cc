#include "admin/accounts.h"

#include <algorithm>
#include <array>

#include "crypto/crypto.h"

namespace grove::admin {
namespace {

constexpr size_t kTokenBytes = 32;
// Unknown names whose failures are remembered; past this the expired ones are forgotten first.
constexpr size_t kMaxUnknownNames = 10000;

pqxx::binarystring Blob(ByteView v) { return pqxx::binarystring(v.data(), v.size()); }

int64_t Db(uint64_t v) { return static_cast<int64_t>(v); }
uint64_t FromDb(const pqxx::field& f) { return static_cast<uint64_t>(f.as<int64_t>()); }

// What the audit log says about a name that may be anything a client sent.
std::string NameForLog(std::string_view name) {
  return CheckAccountName(name).ok() ? "admin:" + std::string(name) : "admin:(invalid name)";
}

api::Json Remote(std::string_view remote) {
  api::Json detail = api::Json::Object();
  detail.Set("remote", remote);
  return detail;
}

// The SHA-256 of a session token's bytes; nullopt when `token` is not one.
std::optional<Hash32> TokenHash(std::string_view token) {
  if (token.size() != 43) return std::nullopt;
  std::optional<Bytes> raw = Base64UrlDecode(token);
  if (!raw || raw->size() != kTokenBytes) return std::nullopt;
  return crypto::Sha256(*raw);
}

}  // namespace

Status CheckAccountName(std::string_view name) {
  const bool ok = !name.empty() && name.size() <= kMaxAccountNameBytes &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' || c == '-';
                  });
  if (ok) return Status::Ok();
  return InvalidArgument("an account name is 1 to 64 characters from A-Z a-z 0-9 . _ @ -", "name");
}

Accounts::Accounts(AdminDb& db, Clock& clock, Random& rng, AccountPolicy policy)
    : db_(db), clock_(clock), policy_(policy), rng_(rng) {}

Result<std::string> Accounts::Hash(std::string_view password) {
  std::array<uint8_t, kSaltBytes> salt{};
  {
    std::lock_guard<std::mutex> lock(mu_);
    rng_.Fill(salt);
  }
  hashing_.acquire();
  Result<std::string> hashed = HashPasswordWithSalt(password, policy_.cost, salt);
  hashing_.release();
  return hashed;
}

Result<bool> Accounts::Verify(std::string_view encoded, std::string_view password) {
  hashing_.acquire();
  Result<bool> right = VerifyPassword(encoded, password);
  hashing_.release();
  return right;
}

std::string Accounts::NewToken() {
  std::array<uint8_t, kTokenBytes> raw{};
  {
    std::lock_guard<std::mutex> lock(mu_);
    rng_.Fill(raw);
  }
  std::string token = Base64UrlEncode(raw);
  SecureWipe(raw.data(), raw.size());
  return token;
}

Status Accounts::Add(std::string_view name, std::string_view password, const std::string& actor) {
  GROVE_RETURN_IF_ERROR(CheckAccountName(name));
  GROVE_RETURN_IF_ERROR(CheckNewPassword(password));
  GROVE_ASSIGN_OR_RETURN(std::string hash, Hash(password));
  const uint64_t now = clock_.NowMillis();
  return db_.Write("adding an admin account", [&](pqxx::transaction_base& txn) {
    const pqxx::result r = txn.exec_params(
        "INSERT INTO admin_accounts (name, password_hash, created_ms, password_changed_ms) "
        "VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO NOTHING",
        std::string(name), hash, Db(now));
    if (r.affected_rows() == 0) {
      return AlreadyExists("an admin account named '" + std::string(name) + "' exists", "name");
    }
    return QueueAction(txn, now, actor, "admin.add", "admin:" + std::string(name),
                       api::Json::Object());
  });
}

Status Accounts::SetPassword(std::string_view name, std::string_view password,
                             const std::string& actor) {
  GROVE_RETURN_IF_ERROR(CheckAccountName(name));
  GROVE_RETURN_IF_ERROR(CheckNewPassword(password));
  GROVE_ASSIGN_OR_RETURN(std::string hash, Hash(password));
  const uint64_t now = clock_.NowMillis();
  return db_.Write("changing an admin password", [&](pqxx::transaction_base& txn) {
    const pqxx::result r = txn.exec_params(
        "UPDATE admin_accounts SET password_hash = $2, password_changed_ms = $3, "
        "failed_logins = 0, locked_until_ms = 0 WHERE name = $1",
        std::string(name), hash, Db(now));
    if (r.affected_rows() == 0) {
      return NotFound("no admin account named '" + std::string(name) + "'", "name");
    }
    const pqxx::result ended =
        txn.exec_params("DELETE FROM admin_sessions WHERE account = $1", std::string(name));
    api::Json detail = api::Json::Object();
    detail.Set("sessions_ended", static_cast<int64_t>(ended.affected_rows()));
    return QueueAction(txn, now, actor, "admin.passwd", "admin:" + std::string(name), detail);
  });
}

Status Accounts::Remove(std::string_view name, const std::string& actor) {
  GROVE_RETURN_IF_ERROR(CheckAccountName(name));
  const uint64_t now = clock_.NowMillis();
  return db_.Write("removing an admin account", [&](pqxx::transaction_base& txn) {
    const pqxx::result r =
        txn.exec_params("DELETE FROM admin_accounts WHERE name = $1", std::string(name));
    if (r.affected_rows() == 0) {
      return NotFound("no admin account named '" + std::string(name) + "'", "name");
    }
    return QueueAction(txn, now, actor, "admin.remove", "admin:" + std::string(name),
                       api::Json::Object());
  });
}

Status Accounts::Unlock(std::string_view name, const std::string& actor) {
  GROVE_RETURN_IF_ERROR(CheckAccountName(name));
  const uint64_t now = clock_.NowMillis();
  return db_.Write("unlocking an admin account", [&](pqxx::transaction_base& txn) {
    const pqxx::result r = txn.exec_params(
        "UPDATE admin_accounts SET failed_logins = 0, locked_until_ms = 0 WHERE name = $1",
        std::string(name));
    if (r.affected_rows() == 0) {
      return NotFound("no admin account named '" + std::string(name) + "'", "name");
    }
    return QueueAction(txn, now, actor, "admin.unlock", "admin:" + std::string(name),
                       api::Json::Object());
  });
}

Result<std::vector<AccountInfo>> Accounts::List() {
  std::vector<AccountInfo> out;
  GROVE_RETURN_IF_ERROR(db_.Read("listing admin accounts", [&](pqxx::transaction_base& txn) {
    out.clear();
    const pqxx::result rows = txn.exec(
        "SELECT name, created_ms, password_changed_ms, last_login_ms, failed_logins, "
        "locked_until_ms FROM admin_accounts ORDER BY name");
    for (const pqxx::row& r : rows) {
      AccountInfo a;
      a.name = r[0].as<std::string>();
      a.created_ms = FromDb(r[1]);
      a.password_changed_ms = FromDb(r[2]);
      if (!r[3].is_null()) a.last_login_ms = FromDb(r[3]);
      a.failed_logins = static_cast<uint32_t>(r[4].as<int>());
      a.locked_until_ms = FromDb(r[5]);
      out.push_back(std::move(a));
    }
    return Status::Ok();
  }));
  return out;
}

Result<LoginOutcome> Accounts::Login(std::string_view name, std::string_view password,
                                     std::string_view remote) {
  const uint64_t now = clock_.NowMillis();
  if (!CheckAccountName(name).ok()) return LoginUnknown(name, password, remote, now);
  std::optional<std::string> hash;
  uint64_t locked_until = 0;
  GROVE_RETURN_IF_ERROR(db_.Read("reading an admin account", [&](pqxx::transaction_base& txn) {
    hash.reset();
    const pqxx::result rows =
        txn.exec_params("SELECT password_hash, locked_until_ms FROM admin_accounts WHERE name = $1",
                        std::string(name));
    if (!rows.empty()) {
      hash = rows[0][0].as<std::string>();
      locked_until = FromDb(rows[0][1]);
    }
    return Status::Ok();
  }));
  if (!hash) return LoginUnknown(name, password, remote, now);

  // A locked account is not even asked for its password.
  bool right = false;
  if (locked_until <= now) {
    GROVE_ASSIGN_OR_RETURN(right, Verify(*hash, password));
  }
  const std::string token = right ? NewToken() : std::string();
  const std::string who = "admin:" + std::string(name);
  LoginOutcome out;
  GROVE_RETURN_IF_ERROR(db_.Write("recording an admin login", [&](pqxx::transaction_base& txn) {
    out = LoginOutcome{};
    const pqxx::result rows = txn.exec_params(
        "SELECT failed_logins, locked_until_ms FROM admin_accounts WHERE name = $1 FOR UPDATE",
        std::string(name));
    api::Json detail = Remote(remote);
    if (rows.empty()) {  // removed meanwhile
      out.kind = LoginOutcome::Kind::kRefused;
      return QueueAction(txn, now, "remote:" + std::string(remote), "admin.login_failed", who,
                         detail);
    }
    const uint32_t failed = static_cast<uint32_t>(rows[0][0].as<int>());
    const uint64_t locked = FromDb(rows[0][1]);
    if (locked > now) {  // locked before, or by a concurrent attempt
      out.kind = LoginOutcome::Kind::kLocked;
      out.unlocks_ms = locked;
      detail.Set("unlocks_ms", locked);
      return QueueAction(txn, now, "remote:" + std::string(remote), "admin.login_locked", who,
                         detail);
    }
    if (right) {
      const Hash32 token_hash = *TokenHash(token);
      txn.exec_params(
          "UPDATE admin_accounts SET failed_logins = 0, locked_until_ms = 0, last_login_ms = $2 "
          "WHERE name = $1",
          std::string(name), Db(now));
      // Housekeeping: sessions past their end are of no use to anyone.
      txn.exec_params(
          "DELETE FROM admin_sessions WHERE expires_ms <= $1 OR last_used_ms + $2 <= $1", Db(now),
          Db(policy_.session_idle_ms));
      out.kind = LoginOutcome::Kind::kSignedIn;
      out.token = token;
      out.session = SessionInfo{std::string(name), now, now + policy_.session_max_ms,
                                now + std::min(policy_.session_idle_ms, policy_.session_max_ms)};
      txn.exec_params(
          "INSERT INTO admin_sessions (token_hash, account, created_ms, last_used_ms, expires_ms) "
          "VALUES ($1, $2, $3, $3, $4)",
          Blob(token_hash), std::string(name), Db(now), Db(out.session.expires_ms));
      return QueueAction(txn, now, who, "admin.login", who, detail);
    }
    const uint32_t failures = failed + 1;
    detail.Set("failures", static_cast<int64_t>(failures));
    const Status queued =
        QueueAction(txn, now, "remote:" + std::string(remote), "admin.login_failed", who, detail);
    if (!queued.ok()) return queued;
    if (failures < policy_.lockout_failures) {
      out.kind = LoginOutcome::Kind::kRefused;
      txn.exec_params("UPDATE admin_accounts SET failed_logins = $2 WHERE name = $1",
                      std::string(name), static_cast<int>(failures));
      return Status::Ok();
    }
    out.kind = LoginOutcome::Kind::kLocked;
    out.unlocks_ms = now + policy_.lockout_ms;
    txn.exec_params(
        "UPDATE admin_accounts SET failed_logins = 0, locked_until_ms = $2 WHERE name = $1",
        std::string(name), Db(out.unlocks_ms));
    api::Json lock = Remote(remote);
    lock.Set("failures", static_cast<int64_t>(failures));
    lock.Set("unlocks_ms", out.unlocks_ms);
    return QueueAction(txn, now, "remote:" + std::string(remote), "admin.lockout", who, lock);
  }));
  return out;
}

// The same answers and the same work for a name that has no account.
Result<LoginOutcome> Accounts::LoginUnknown(std::string_view name, std::string_view password,
                                            std::string_view remote, uint64_t now) {
  const std::string key(name.substr(0, kMaxAccountNameBytes + 1));
  LoginOutcome out;
  bool check = false;
  std::string dummy;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = unknown_.find(key);
    if (it != unknown_.end() && it->second.locked_until_ms > now) {
      out.kind = LoginOutcome::Kind::kLocked;
      out.unlocks_ms = it->second.locked_until_ms;
    } else {
      check = true;
      dummy = dummy_hash_;
    }
  }
  if (check) {
    if (dummy.empty()) {
      Bytes random(32);
      {
        std::lock_guard<std::mutex> lock(mu_);
        rng_.Fill(random);
      }
      GROVE_ASSIGN_OR_RETURN(dummy, Hash(Base64UrlEncode(random)));
      std::lock_guard<std::mutex> lock(mu_);
      dummy_hash_ = dummy;
    }
    (void)Verify(dummy, password);  // never matches; spent so that timing says nothing
    std::lock_guard<std::mutex> lock(mu_);
    if (unknown_.size() >= kMaxUnknownNames) {
      std::erase_if(unknown_, [now](const auto& e) { return e.second.locked_until_ms <= now; });
      if (unknown_.size() >= kMaxUnknownNames) unknown_.clear();
    }
    Failures& f = unknown_[key];
    if (f.locked_until_ms != 0 && f.locked_until_ms <= now) f = Failures{};
    if (++f.count >= policy_.lockout_failures) {
      f.count = 0;
      f.locked_until_ms = now + policy_.lockout_ms;
      out.kind = LoginOutcome::Kind::kLocked;
      out.unlocks_ms = f.locked_until_ms;
    } else {
      out.kind = LoginOutcome::Kind::kRefused;
    }
  }
  api::Json detail = Remote(remote);
  detail.Set("reason", "no such account");
  if (out.unlocks_ms != 0) detail.Set("unlocks_ms", out.unlocks_ms);
  const char* action = !check                                    ? "admin.login_locked"
                       : out.kind == LoginOutcome::Kind::kLocked ? "admin.lockout"
                                                                 : "admin.login_failed";
  GROVE_RETURN_IF_ERROR(db_.Write("recording an admin login", [&](pqxx::transaction_base& txn) {
    return QueueAction(txn, now, "remote:" + std::string(remote), action, NameForLog(name), detail);
  }));
  return out;
}

Result<Authentication> Accounts::Authenticate(std::string_view token) {
  Authentication out;
  const std::optional<Hash32> hash = TokenHash(token);
  if (!hash) {
    out.problem = "no such session (the token is malformed)";
    return out;
  }
  const uint64_t now = clock_.NowMillis();
  GROVE_RETURN_IF_ERROR(db_.Write("checking an admin session", [&](pqxx::transaction_base& txn) {
    out = Authentication{};
    const pqxx::result rows = txn.exec_params(
        "SELECT account, created_ms, last_used_ms, expires_ms FROM admin_sessions "
        "WHERE token_hash = $1 FOR UPDATE",
        Blob(*hash));
    if (rows.empty()) {
      out.problem = "no such session (signed out, or the token is wrong)";
      return Status::Ok();
    }
    SessionInfo s;
    s.account = rows[0][0].as<std::string>();
    s.created_ms = FromDb(rows[0][1]);
    const uint64_t last_used = FromDb(rows[0][2]);
    s.expires_ms = FromDb(rows[0][3]);
    if (now >= s.expires_ms || now >= last_used + policy_.session_idle_ms) {
      txn.exec_params("DELETE FROM admin_sessions WHERE token_hash = $1", Blob(*hash));
      out.problem = "session expired; sign in again";
      return Status::Ok();
    }
    txn.exec_params("UPDATE admin_sessions SET last_used_ms = $2 WHERE token_hash = $1",
                    Blob(*hash), Db(now));
    s.idle_expires_ms = std::min(now + policy_.session_idle_ms, s.expires_ms);
    out.session = std::move(s);
    return Status::Ok();
  }));
  return out;
}

Status Accounts::Logout(std::string_view token, std::string_view remote) {
  const std::optional<Hash32> hash = TokenHash(token);
  if (!hash) return Status::Ok();
  const uint64_t now = clock_.NowMillis();
  return db_.Write("ending an admin session", [&](pqxx::transaction_base& txn) {
    const pqxx::result rows = txn.exec_params(
        "DELETE FROM admin_sessions WHERE token_hash = $1 RETURNING account", Blob(*hash));
    if (rows.empty()) return Status::Ok();
    const std::string who = "admin:" + rows[0][0].as<std::string>();
    return QueueAction(txn, now, who, "admin.logout", who, Remote(remote));
  });
}

}  // namespace grove::admin
