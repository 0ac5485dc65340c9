// Shared by the audit log's tests (tests/unit/audit): a private PostgreSQL per suite
// (tests/support/test_postgres.h) with a fresh database per test, a log filled with known
// entries, and running the `grove` binary (GROVE_BIN) for the CLI's exit codes and output.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pqxx/pqxx>

#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "common/clock.h"
#include "crypto/crypto.h"
#include "support/postgres_test.h"
#include "support/temp_dir.h"

namespace grove::audit::test {

using testing::TestPostgres;

inline ::testing::AssertionResult IsOk(const Status& s) {
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << s.ToString();
}

inline crypto::SigningKey Key(uint8_t fill) {
  Bytes seed(32, fill);
  Result<crypto::SigningKey> key = crypto::SigningKey::FromSeed(seed);
  EXPECT_TRUE(key.ok());
  return std::move(*key);
}

inline Entry MakeEntry(int i) {
  Entry e;
  e.kind = i % 5 == 4 ? EntryKind::kRejected : EntryKind::kOp;
  e.workspace = Bytes(32, static_cast<uint8_t>(7));
  e.device = "device-" + std::to_string(i % 3);
  e.user_name = i % 2 ? "alice" : "bob";
  e.op = "set";
  e.record = "order/" + std::to_string(i);
  e.field = i % 4 == 0 ? "" : "qty";
  e.old_value = i == 0 ? "" : "\"v" + std::to_string(i - 1) + "\"";
  e.new_value = "\"v" + std::to_string(i) + "\"";
  e.hlc = 1000 + static_cast<uint64_t>(i);
  e.received_at_ms = 1'700'000'000'123 + static_cast<uint64_t>(i) * 1001;
  e.delta_hash = Bytes(32, static_cast<uint8_t>(i));
  return e;
}

inline std::vector<Entry> Entries(int from, int count) {
  std::vector<Entry> out;
  for (int i = from; i < from + count; ++i) out.push_back(MakeEntry(i));
  return out;
}

inline void Exec(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::work txn(conn);
  txn.exec(sql);
  txn.commit();
}

class AuditLogTest : public testing::PostgresTest<> {
 protected:
  // 12 entries; heads signed at sizes 3, 7 and 10; the last 2 entries unsigned.
  std::unique_ptr<AuditLog> Fill() {
    Result<std::unique_ptr<AuditLog>> log = AuditLog::Open(url_, Key(1), clock_);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    if (!log.ok()) return nullptr;
    int next = 0;
    for (int count : {3, 4, 3}) {
      EXPECT_TRUE(IsOk((*log)->Append(Entries(next, count))));
      next += count;
      clock_.Advance(1000);
      EXPECT_TRUE((*log)->SignHead().ok());
    }
    EXPECT_TRUE(IsOk((*log)->Append(Entries(next, 2))));
    return std::move(*log);
  }

  VerifyReport Verify(std::optional<crypto::PublicKey> key = std::nullopt) {
    Result<VerifyReport> report = VerifyLog(url_, key);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : VerifyReport{};
  }

  FakeClock clock_;
};

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream all;
  all << in.rdbuf();
  return all.str();
}

class AuditCliTest : public AuditLogTest {
 protected:
  Outcome Grove(const std::vector<std::string>& args) {
    const std::string out_path = tmp_.path() + "/stdout", err_path = tmp_.path() + "/stderr";
    std::vector<std::string> copies = {GROVE_BIN};
    copies.insert(copies.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : copies) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
      execv(argv[0], argv.data());
      _exit(127);
    }
    Outcome run;
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.out = ReadFile(out_path);
    run.err = ReadFile(err_path);
    return run;
  }

  // The url with a password in it (trust authentication ignores it).
  std::string UrlWithPassword() const {
    std::string url = url_;
    url.replace(url.find("grove@"), 6, "grove:pw-s3cret-42@");
    return url;
  }

  grove::testing::TempDir tmp_{"audit_cli_test"};
};

}  // namespace grove::audit::test
