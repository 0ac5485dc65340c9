#include "pgsql/session.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cctype>
#include <map>
#include <string>
#include <utility>

namespace grove::pgsql {

namespace {

// libpq's keyword/value quoting: single quotes around the value, backslash before ' and \.
std::string Quote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string Describe(const std::map<std::string, std::string>& opts) {
  auto get = [&](const char* key) {
    auto it = opts.find(key);
    return it == opts.end() ? std::string() : it->second;
  };
  std::string host = get("host");
  if (host.empty()) host = get("hostaddr");
  if (host.empty()) host = "localhost";
  std::string port = get("port");
  if (port.empty()) port = "5432";
  std::string db = get("dbname");
  if (db.empty()) db = get("user");
  return host + ":" + port + (db.empty() ? "" : "/" + db);
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The password of a url libpq could not parse, found the simple way, so that its error message
// (which may quote the url) can be scrubbed: "scheme://user:PASSWORD@host" or "password=PASSWORD".
std::string GuessPassword(std::string_view url) {
  if (size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    std::string_view rest = url.substr(scheme + 3);
    const size_t at = rest.rfind('@', rest.find('/'));
    const size_t colon = rest.find(':');
    if (at != std::string_view::npos && colon < at) {
      return std::string(rest.substr(colon + 1, at - colon - 1));
    }
  }
  if (size_t key = url.find("password"); key != std::string_view::npos) {
    std::string_view rest = url.substr(key + 8);
    const size_t eq = rest.find('=');
    if (eq != std::string_view::npos) {
      rest = rest.substr(eq + 1);
      const size_t start = rest.find_first_not_of(" \t'");
      if (start == std::string_view::npos) return "";
      rest = rest.substr(start);
      return std::string(rest.substr(0, rest.find_first_of(" \t'")));
    }
  }
  return "";
}

}  // namespace

std::string CleanMessage(std::string_view message, const Target& target) {
  std::string out;
  bool space = false;
  for (char c : message) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  // libpq echoes a password only when quoting a url it cannot parse. A very short one would make
  // the scrubbing mangle the text; such a password is no secret anyway.
  if (target.password.size() >= 4) {
    for (size_t at = out.find(target.password); at != std::string::npos;
         at = out.find(target.password, at)) {
      out.replace(at, target.password.size(), "***");
    }
  }
  return out.empty() ? "unknown error" : out;
}

Result<Target> ParseTarget(std::string_view url, int connect_timeout_s,
                           std::string_view application_name) {
  const std::string url_text(url);
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(url_text.c_str(), &error);
  if (parsed == nullptr) {
    std::string why = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    Target scrub;
    scrub.password = GuessPassword(url);
    return InvalidArgument(
        "PostgreSQL url is not a libpq URI or keyword/value string: " + CleanMessage(why, scrub),
        "url");
  }
  std::map<std::string, std::string> opts;
  for (const PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) opts[o->keyword] = o->val;
  }
  PQconninfoFree(parsed);
  if (!opts.contains("connect_timeout") && connect_timeout_s > 0) {
    opts["connect_timeout"] = std::to_string(connect_timeout_s);
  }
  // A database host that vanishes (a partition, a dead machine) must fail the relay's calls
  // within seconds, not hang them until the kernel's default of two hours: keepalives probe an
  // idle connection, and tcp_user_timeout bounds data left unacknowledged. The url may override.
  for (const auto& [key, value] :
       {std::pair{"keepalives", "1"}, std::pair{"keepalives_idle", "10"},
        std::pair{"keepalives_interval", "5"}, std::pair{"keepalives_count", "3"},
        std::pair{"tcp_user_timeout", "30000"}}) {
    if (!opts.contains(key)) opts[key] = value;
  }
  if (!opts.contains("fallback_application_name")) {
    opts["fallback_application_name"] = std::string(application_name);
  }
  Target target;
  for (const auto& [key, value] : opts) {
    if (!target.conninfo.empty()) target.conninfo += ' ';
    target.conninfo += key + "=" + Quote(value);
  }
  target.where = Describe(opts);
  if (auto it = opts.find("password"); it != opts.end()) target.password = it->second;
  return target;
}

Status Session::Connect() {
  if (conn_) return Status::Ok();
  try {
    conn_ = std::make_unique<pqxx::connection>(target_.conninfo);
    return Status::Ok();
  } catch (const std::exception& e) {
    conn_.reset();
    return Unavailable("cannot reach PostgreSQL at " + target_.where + ": " +
                       CleanMessage(e.what(), target_));
  }
}

void Session::DropIfClosed() {
  if (!conn_) return;
  // An idle connection has nothing to read unless the server spoke unasked: a notice, or a FATAL
  // followed by the end of the stream when it shut down. libpq sees the end on its second read.
  try {
    for (int reads = 0; reads < 4; ++reads) {
      pollfd pfd{conn_->sock(), POLLIN, 0};
      if (pfd.fd < 0 || !conn_->is_open()) {
        Drop();
        return;
      }
      if (poll(&pfd, 1, 0) <= 0) return;
      conn_->get_notifs();  // reads what arrived; throws when the stream has ended
    }
  } catch (const std::exception&) {
    Drop();
  }
}

void Session::Observe(std::chrono::steady_clock::time_point start) {
  if (!observer_) return;
  observer_(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

Status Session::Translate(std::string_view op) {
  const std::string at = " (PostgreSQL at " + target_.where + ")";
  auto lost = [&](const std::exception& e) {
    fate_ = Fate::kLost;
    return Unavailable(std::string(op) + ": lost the connection" + at + ": " +
                       CleanMessage(e.what(), target_));
  };
  try {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    fate_ = Fate::kInDoubt;
    return IOError(std::string(op) + ": the connection broke during COMMIT, so whether it" +
                   " committed is unknown" + at + ": " + CleanMessage(e.what(), target_));
  } catch (const pqxx::statement_completion_unknown& e) {
    return lost(e);
  } catch (const pqxx::transaction_rollback& e) {
    fate_ = Fate::kRetry;
    return Unavailable(std::string(op) + ": conflict with a concurrent transaction" + at + ": " +
                       CleanMessage(e.what(), target_));
  } catch (const pqxx::broken_connection& e) {
    return lost(e);
  } catch (const pqxx::sql_error& e) {
    const std::string& state = e.sqlstate();
    // 08: connection exception; 57P01-03: the server is shutting down or restarting.
    if (StartsWith(state, "08") || StartsWith(state, "57P") || (conn_ && !conn_->is_open())) {
      return lost(e);
    }
    const std::string what = std::string(op) + ": " + CleanMessage(e.what(), target_);
    if (state == "23503") return FailedPrecondition(foreign_key_message_);
    if (StartsWith(state, "22")) return InvalidArgument(what);
    if (state == "40001" || state == "40P01") {
      fate_ = Fate::kRetry;
      return Unavailable(what);
    }
    return IOError(what + (state.empty() ? "" : " [SQLSTATE " + state + "]"));
  } catch (const std::exception& e) {
    if (conn_ && !conn_->is_open()) return lost(e);
    return IOError(std::string(op) + ": " + CleanMessage(e.what(), target_));
  } catch (...) {
    return Internal(std::string(op) + ": unknown exception");
  }
}

namespace {

std::string NewerVersionMessage(const MigrationSet& set, int version) {
  return set.kind + " database schema version " + std::to_string(version) +
         " is newer than this grove (knows up to " + std::to_string(set.migrations.size()) +
         "); upgrade grove";
}

// Applies the next migration the database lacks, in one transaction under the migration lock.
// Sets *done when there was none left.
Status MigrateOne(pqxx::transaction_base& txn, const MigrationSet& set, bool* done) {
  // The two-key advisory lock space does not overlap the one-key space used per workspace.
  txn.exec("SELECT pg_advisory_xact_lock(1196576598, " + std::to_string(set.lock_key) +
           ")");  // "GROV"
  // Checked rather than CREATE TABLE IF NOT EXISTS, which sends a notice every time.
  if (txn.exec_params("SELECT to_regclass($1) IS NULL", set.table)[0][0].as<bool>()) {
    txn.exec("CREATE TABLE " + set.table +
             " (version integer PRIMARY KEY, name text NOT NULL, "
             "applied_at timestamptz NOT NULL DEFAULT now())");
  }
  const pqxx::result applied = txn.exec("SELECT version, name FROM " + set.table + " ORDER BY 1");
  const auto known = set.migrations;
  int version = 0;
  for (const pqxx::row& r : applied) {
    const int v = r[0].as<int>();
    if (v != version + 1) {
      return FailedPrecondition(set.table + " lacks version " + std::to_string(version + 1));
    }
    if (static_cast<size_t>(v) > known.size()) {
      return FailedPrecondition(NewerVersionMessage(set, v));
    }
    const std::string name = r[1].as<std::string>();
    if (name != known[v - 1].name) {
      return FailedPrecondition(set.kind + " database migration " + std::to_string(v) + " is " +
                                name + ", this grove's is " + known[v - 1].name);
    }
    version = v;
  }
  *done = static_cast<size_t>(version) == known.size();
  if (*done) return Status::Ok();
  const Migration& next = known[version];
  txn.exec(next.sql);
  txn.exec_params("INSERT INTO " + set.table + " (version, name) VALUES ($1, $2)", next.version,
                  std::string(next.name));
  return Status::Ok();
}

}  // namespace

Status Migrate(Session& session, const MigrationSet& set) {
  for (;;) {
    bool done = false;
    GROVE_RETURN_IF_ERROR(session.Transact<pqxx::work>(
        "applying schema migrations",
        [&](pqxx::transaction_base& txn) { return MigrateOne(txn, set, &done); }));
    if (done) return Status::Ok();
  }
}

}  // namespace grove::pgsql
