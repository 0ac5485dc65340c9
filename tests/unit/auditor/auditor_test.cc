// The auditor pipeline (services/auditor) from real replicas into an audit log on a real
// PostgreSQL (tests/support/test_postgres.h): one entry per op with who, what, old and new
// values; rejected deltas and forks logged as such; restart and database outage with nothing
// missing and nothing twice; and Collect never waiting for the database.
#include "auditor/auditor.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_log.h"
#include "logging/log.h"
#include "support/delta_forge.h"
#include "support/postgres_test.h"
#include "support/status_assert.h"
#include "support/test_device.h"

namespace grove::auditor {
namespace {

using replica::Role;
using replica::Value;
using testing::DeltaForge;
using testing::SendMissing;
using testing::TestDevice;
using testing::TestPostgres;

struct Row {
  std::string kind, device, user_name, op, record, field, old_value, new_value;
};

class AuditorTest : public testing::PostgresTest<> {
 protected:
  void SetUp() override {
    PostgresTest::SetUp();
    if (HasFatalFailure()) return;
    owner_.Create("shop");
    ASSERT_OK(owner_->AddMember(auditor_.identity.card(), Role::kAuditor));
    ASSERT_OK(owner_->AddMember(member_.identity.card(), Role::kMember));
    ASSERT_OK(owner_->AddMember(reader_.identity.card(), Role::kReadOnly));
    auditor_.Join(*owner_.workspace);
    member_.Join(*owner_.workspace);
    reader_.Join(*owner_.workspace);
    Sync();
  }

  void TearDown() override {
    if (auditor_log_) auditor_log_->Stop();
  }

  void Sync() {
    for (TestDevice* d : {&member_, &auditor_, &reader_}) {
      SendMissing(*owner_.workspace, *d->workspace);
      SendMissing(*d->workspace, *owner_.workspace);
    }
    for (TestDevice* d : {&member_, &auditor_, &reader_}) {
      SendMissing(*owner_.workspace, *d->workspace);
    }
  }

  std::unique_ptr<Auditor> StartAuditor() {
    Options options;
    options.db_url = url_;
    options.retry_ms = 100;
    options.head_interval_ms = 200;
    options.batch_ops = 7;  // small, so that catching up takes several batches
    Result<crypto::SigningKey> key =
        crypto::SigningKey::FromSeed(auditor_.identity.signing_key().seed());
    EXPECT_TRUE(key.ok());
    auto started = Auditor::Start(options, std::move(*key), clock_, log_);
    EXPECT_TRUE(started.ok()) << started.status().ToString();
    return started.ok() ? std::move(*started) : nullptr;
  }

  // Collects until everything due is committed (or 20 s pass).
  void Drain(Auditor& a) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      bool more = a.Collect(*auditor_.workspace, *auditor_.store);
      State s = a.state();
      if (s.ready && s.db_ok && s.in_flight == 0 && !more) {
        // One more look: nothing new may be due after the last commit.
        if (!a.Collect(*auditor_.workspace, *auditor_.store) && a.state().in_flight == 0) return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "the auditor did not drain: " << a.state().error;
  }

  std::vector<Row> Rows(const std::string& where = "true") {
    pqxx::connection conn(url_);
    pqxx::work txn(conn);
    std::vector<Row> out;
    for (const pqxx::row& r :
         txn.exec("SELECT kind, device, user_name, op, record, field, old_value, new_value FROM "
                  "audit_entries WHERE " +
                  where + " ORDER BY seq")) {
      out.push_back(Row{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                        r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>(),
                        r[6].as<std::string>(), r[7].as<std::string>()});
    }
    return out;
  }

  int64_t Count(const std::string& sql) {
    pqxx::connection conn(url_);
    pqxx::work txn(conn);
    return txn.exec(sql)[0][0].as<int64_t>();
  }

  // No op of any delta is logged twice.
  void ExpectNoDuplicates() {
    EXPECT_EQ(Count("SELECT count(*) FROM (SELECT delta_hash, op, record, field, new_value, "
                    "count(*) FROM audit_entries WHERE kind <> 'admin' GROUP BY 1, 2, 3, 4, 5 "
                    "HAVING count(*) > 1) d"),
              0);
  }

  SystemClock clock_;
  logging::Logger log_{2, logging::Level::kWarn};
  TestDevice owner_{"Olga Owner", 1, clock_};
  TestDevice member_{"Mia Member", 2, clock_};
  TestDevice auditor_{"Audit Box", 3, clock_};
  TestDevice reader_{"Rex Reader", 4, clock_};
  std::unique_ptr<Auditor> auditor_log_;
};

TEST_F(AuditorTest, LogsEachOpWithWhoWhatAndOldAndNewValues) {
  Result<replica::RecordId> order =
      owner_->CreateRecord("order", {{"qty", Value(1)}, {"title", Value("bolts")}});
  ASSERT_TRUE(order.ok());
  ASSERT_OK(owner_->Set(*order, "qty", Value(2)));
  ASSERT_OK(owner_->Add(*order, "received", 5));
  ASSERT_OK(owner_->Append(*order, "comments", Value("rush")));
  Sync();
  ASSERT_OK(member_->Set(*order, "qty", Value(7)));
  ASSERT_OK(member_->Add(*order, "received", 3));
  Sync();

  auditor_log_ = StartAuditor();
  ASSERT_NE(auditor_log_, nullptr);
  Drain(*auditor_log_);
  const std::string rec = order->Text();
  std::vector<Row> rows = Rows("record = '" + rec + "'");
  const std::string owner_dev = replica::DeviceText(owner_.identity.device());
  const std::string member_dev = replica::DeviceText(member_.identity.device());
  auto find = [&](const std::string& op, const std::string& field, const std::string& device,
                  const std::string& new_value) -> const Row* {
    for (const Row& r : rows) {
      if (r.op == op && r.field == field && r.device == device && r.new_value == new_value) {
        return &r;
      }
    }
    return nullptr;
  };
  const Row* create = find("create", "", owner_dev, "\"order\"");
  ASSERT_NE(create, nullptr);
  EXPECT_EQ(create->user_name, "Olga Owner");
  EXPECT_EQ(create->kind, "op");
  const Row* qty1 = find("create", "qty", owner_dev, "1");
  ASSERT_NE(qty1, nullptr);
  EXPECT_EQ(qty1->old_value, "");
  const Row* qty2 = find("set", "qty", owner_dev, "2");
  ASSERT_NE(qty2, nullptr);
  EXPECT_EQ(qty2->old_value, "1");
  const Row* qty7 = find("set", "qty", member_dev, "7");
  ASSERT_NE(qty7, nullptr);
  EXPECT_EQ(qty7->old_value, "2");
  EXPECT_EQ(qty7->user_name, "Mia Member");
  const Row* add3 = find("add", "received", member_dev, "8");
  ASSERT_NE(add3, nullptr);
  EXPECT_EQ(add3->old_value, "5");
  EXPECT_NE(find("append", "comments", owner_dev, "\"rush\""), nullptr);
  EXPECT_NE(find("create", "title", owner_dev, "\"bolts\""), nullptr);
  // Membership is logged too: the owner added the auditor with its role.
  EXPECT_EQ(Count("SELECT count(*) FROM audit_entries WHERE op = 'member.set' AND field = '" +
                  replica::DeviceText(auditor_.identity.device()) +
                  "' AND new_value LIKE "
                  "'\"auditor%'"),
            1);
  ExpectNoDuplicates();

  // A tree head is signed (on Stop at the latest), and the log verifies with the auditor's key.
  auditor_log_->Stop();
  Result<audit::VerifyReport> report =
      audit::VerifyLog(url_, auditor_.identity.signing_key().public_key());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->unsigned_entries, 0u);
  EXPECT_EQ(report->entries, static_cast<uint64_t>(Count("SELECT count(*) FROM audit_entries")));
}

TEST_F(AuditorTest, RejectedDeltasAndForksAreLoggedAsSuch) {
  Result<replica::RecordId> order = owner_->CreateRecord("order", {{"qty", Value(1)}});
  ASSERT_TRUE(order.ok());
  Sync();
  // The read-only member signs a write anyway: every replica stores it as evidence only.
  DeltaForge forge(reader_.identity, owner_->id());
  forge.See(*owner_->DeltasFor({}, SIZE_MAX));
  const Bytes reader_dev(reader_.identity.device().begin(), reader_.identity.device().end());
  const Bytes owner_dev(owner_.identity.device().begin(), owner_.identity.device().end());
  wire::v1::OpBatch batch;
  batch.add_devices(reader_dev.data(), reader_dev.size());
  batch.add_devices(owner_dev.data(), owner_dev.size());
  batch.add_strings("qty");
  wire::v1::Op* op = batch.add_ops();
  op->set_kind(wire::v1::SET);
  op->mutable_record()->set_device(1);
  op->mutable_record()->set_n(order->n);
  op->set_field(0);
  op->mutable_value()->set_int_(999);
  // Two different deltas with the same seq: a fork.
  DeltaForge twin(reader_.identity, owner_->id());
  twin.See(*owner_->DeltasFor({}, SIZE_MAX));
  Bytes forged = forge.Forge(batch, reader_.random());
  batch.mutable_ops(0)->mutable_value()->set_int_(998);
  Bytes forked = twin.Forge(batch, reader_.random());
  replica::ApplyReport applied = auditor_->Apply(std::vector<Bytes>{forged});
  EXPECT_EQ(applied.invalid, 1u);

  auditor_log_ = StartAuditor();
  ASSERT_NE(auditor_log_, nullptr);
  Drain(*auditor_log_);
  const std::string reader = replica::DeviceText(reader_.identity.device());
  std::vector<Row> rejected = Rows("kind = 'rejected'");
  ASSERT_EQ(rejected.size(), 2u);
  EXPECT_EQ(rejected[0].op, "delta");
  EXPECT_EQ(rejected[0].device, reader);
  EXPECT_NE(rejected[0].new_value.find("read-only"), std::string::npos) << rejected[0].new_value;
  EXPECT_EQ(rejected[1].op, "set");
  EXPECT_EQ(rejected[1].new_value, "999");

  applied = auditor_->Apply(std::vector<Bytes>{forked});
  EXPECT_EQ(applied.forks, 1u);
  Drain(*auditor_log_);
  std::vector<Row> forks = Rows("kind = 'fork'");
  ASSERT_EQ(forks.size(), 1u);
  EXPECT_EQ(forks[0].device, reader);
  EXPECT_EQ(forks[0].field, "seq 1");
  // The rejected write did not become the value the next entry calls old.
  ASSERT_OK(owner_->Set(*order, "qty", Value(3)));
  SendMissing(*owner_.workspace, *auditor_.workspace);
  Drain(*auditor_log_);
  std::vector<Row> sets = Rows("op = 'set' AND kind = 'op'");
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].old_value, "1");
}

TEST_F(AuditorTest, RestartAndOutageLoseNothingAndLogNothingTwice) {
  Result<replica::RecordId> order = owner_->CreateRecord("order", {{"qty", Value(0)}});
  ASSERT_TRUE(order.ok());
  for (int i = 1; i <= 20; ++i) {
    ASSERT_OK(owner_->Set(*order, "qty", Value(i)));
    if (i % 5 == 0) {
      ASSERT_TRUE(owner_->Seal().ok());
    }
  }
  Sync();
  auditor_log_ = StartAuditor();
  ASSERT_NE(auditor_log_, nullptr);
  Drain(*auditor_log_);
  const int64_t first = Count("SELECT count(*) FROM audit_entries WHERE op = 'set'");
  EXPECT_EQ(first, 20);

  // A restarted auditor resumes from the cursors it committed: nothing is logged again.
  auditor_log_->Stop();
  auditor_log_ = StartAuditor();
  Drain(*auditor_log_);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_entries WHERE op = 'set'"), first);

  // The database goes away. The replicas keep working, and Collect never waits for it.
  pg_->Stop();
  for (int i = 21; i <= 60; ++i) {
    ASSERT_OK(member_->Set(*order, "qty", Value(i)));
    if (i % 10 == 0) {
      ASSERT_TRUE(member_->Seal().ok());
      SendMissing(*member_.workspace, *auditor_.workspace);
      const auto start = std::chrono::steady_clock::now();
      auditor_log_->Collect(*auditor_.workspace, *auditor_.store);
      EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (auditor_log_->state().db_ok && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(auditor_log_->state().db_ok);
  EXPECT_FALSE(auditor_log_->state().error.empty());

  ASSERT_TRUE(pg_->Start()) << pg_->error();
  Drain(*auditor_log_);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_entries WHERE op = 'set'"), 60);
  ExpectNoDuplicates();
  // The old values chain through the outage: each set's old value is the previous set's.
  std::vector<Row> sets = Rows("op = 'set'");
  ASSERT_EQ(sets.size(), 60u);
  for (size_t i = 1; i < sets.size(); ++i) {
    EXPECT_EQ(sets[i].old_value, sets[i - 1].new_value) << "set " << i;
  }
  auditor_log_->Stop();
  Result<audit::VerifyReport> report = audit::VerifyLog(url_, std::nullopt);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok) << report->problem;
}

TEST_F(AuditorTest, AMalformedCursorIsReportedAndItsFeedLoggedAgainNotACrash) {
  Result<replica::RecordId> order = owner_->CreateRecord("order", {{"qty", Value(1)}});
  ASSERT_TRUE(order.ok());
  ASSERT_OK(owner_->Set(*order, "qty", Value(2)));
  Sync();
  auditor_log_ = StartAuditor();
  ASSERT_NE(auditor_log_, nullptr);
  Drain(*auditor_log_);
  auditor_log_->Stop();
  ASSERT_EQ(Count("SELECT count(*) FROM audit_entries WHERE op = 'set'"), 1);
  {
    pqxx::connection conn(url_);
    pqxx::work txn(conn);
    txn.exec("UPDATE audit_cursors SET position = 'not a number' WHERE name LIKE 'feed/%'");
    txn.commit();
  }
  auditor_log_ = StartAuditor();
  Drain(*auditor_log_);
  EXPECT_TRUE(auditor_log_->state().db_ok);
  // Rather than lose entries, the feeds whose cursor it cannot read are logged from the start.
  EXPECT_EQ(Count("SELECT count(*) FROM audit_entries WHERE op = 'set'"), 2);
}

}  // namespace
}  // namespace grove::auditor
