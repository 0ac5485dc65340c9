#include "pgstore/pg_store.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "replica/replica.h"
#include "store/memory_store.h"
#include "support/child_process.h"
#include "support/postgres_test.h"
#include "support/status_assert.h"
#include "support/test_device.h"

namespace grove::pgstore {
namespace {

using store::DeltaRow;
using store::EvidenceRow;
using store::WorkspaceId;
using store::WriteBatch;
using testing::TestPostgres;

Hash32 Id(uint8_t fill) {
  Hash32 h;
  h.fill(fill);
  return h;
}

Bytes B(std::string_view s) { return ToBytes(s); }

DeltaRow Delta(const WorkspaceId& ws, uint8_t author, uint64_t seq, std::string_view body,
               int32_t status = 1) {
  DeltaRow row;
  row.workspace = ws;
  row.author = Id(author);
  row.seq = seq;
  row.hash = Id(static_cast<uint8_t>(author * 16 + seq));
  row.bytes = B(body);
  row.status = status;
  return row;
}

// Every row a Store holds for the given workspaces, read through the Store interface.
struct Dump {
  std::vector<std::pair<WorkspaceId, Bytes>> workspaces;
  std::vector<DeltaRow> deltas;
  std::vector<std::pair<Bytes, Bytes>> records;
  std::vector<EvidenceRow> evidence;
  std::vector<std::optional<Bytes>> meta;
  friend bool operator==(const Dump&, const Dump&) = default;
};

const std::vector<std::string> kMetaKeys = {"local", "hlc", "forked:ab"};

Dump DumpOf(store::Store& s, const std::vector<WorkspaceId>& wss) {
  Dump d;
  d.workspaces = s.ListWorkspaces().value();
  for (const WorkspaceId& ws : wss) {
    EXPECT_TRUE(s.ForEachDelta(ws, [&](const DeltaRow& r) {
                   d.deltas.push_back(r);
                   return true;
                 }).ok());
    EXPECT_TRUE(s.ForEachRecord(ws, [&](ByteView k, ByteView v) {
                   d.records.emplace_back(Bytes(k.begin(), k.end()), Bytes(v.begin(), v.end()));
                   return true;
                 }).ok());
    std::vector<EvidenceRow> evidence = s.ListEvidence(ws).value();
    d.evidence.insert(d.evidence.end(), evidence.begin(), evidence.end());
    for (const std::string& key : kMetaKeys) d.meta.push_back(s.GetMeta(ws, key).value());
    EXPECT_TRUE(s.LoadPending(ws).value().empty());
  }
  return d;
}

// Direct SQL, to look at the database behind the store's back.
std::string Sql(const std::string& url, const std::string& query) {
  try {
    pqxx::connection conn(url);
    pqxx::work txn(conn);
    pqxx::result r = txn.exec(query);
    txn.commit();
    if (r.empty() || r[0].empty() || r[0][0].is_null()) return "";
    return r[0][0].as<std::string>();
  } catch (const std::exception& e) {
    ADD_FAILURE() << query << ": " << e.what();
    return "";
  }
}

int64_t Count(const std::string& url, const std::string& table) {
  return std::stoll(Sql(url, "SELECT count(*) FROM " + table));
}

// One server for the whole binary, a fresh database for each test; the restarts here are clean
// shutdowns, which keep every commit with fsync off.
class PgStoreTest : public testing::PostgresTest<> {
 protected:
  std::unique_ptr<PgStore> OpenStore() {
    auto s = PgStore::Open(Options{url_});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
};

// --- Schema ------------------------------------------------------------------------------------

TEST_F(PgStoreTest, MigrationsApplyOnceAndReopenIsNoOp) {
  auto first = OpenStore();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(Sql(url_, "SELECT string_agg(version || ':' || name, ',') FROM schema_migrations"),
            "1:001_feeds.sql");
  const std::string applied = Sql(url_, "SELECT applied_at FROM schema_migrations");
  auto second = OpenStore();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(Count(url_, "schema_migrations"), 1);
  EXPECT_EQ(Sql(url_, "SELECT applied_at FROM schema_migrations"), applied);
}

TEST_F(PgStoreTest, ConcurrentOpensOnAFreshDatabaseBothSucceed) {
  constexpr int kOpeners = 4;
  std::vector<Status> results(kOpeners);
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < kOpeners) std::this_thread::yield();
      auto s = PgStore::Open(Options{url_});
      results[i] = s.status();
    });
  }
  for (std::thread& t : threads) t.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Count(url_, "schema_migrations"), 1);
}

TEST_F(PgStoreTest, NewerSchemaIsRefused) {
  ASSERT_NE(OpenStore(), nullptr);
  Sql(url_, "INSERT INTO schema_migrations (version, name) VALUES (2, '002_future.sql')");
  auto s = PgStore::Open(Options{url_});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kFailedPrecondition) << s.status().ToString();
  EXPECT_NE(s.status().message().find("newer"), std::string::npos) << s.status().ToString();
}

TEST_F(PgStoreTest, ForeignMigrationHistoryIsRefused) {
  ASSERT_NE(OpenStore(), nullptr);
  Sql(url_, "UPDATE schema_migrations SET name = '001_other.sql'");
  auto s = PgStore::Open(Options{url_});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kFailedPrecondition) << s.status().ToString();
}

// --- Store contract ----------------------------------------------------------------------------

TEST_F(PgStoreTest, WritesAndReadsMatchMemoryStoreAndSurviveReopen) {
  auto pg = OpenStore();
  ASSERT_NE(pg, nullptr);
  store::MemoryStore mem;
  const WorkspaceId a = Id(0xa1), b = Id(0xb2), gone = Id(0xc3);
  const std::vector<WorkspaceId> all = {a, b, gone};

  std::vector<WriteBatch> batches(4);
  batches[0].PutWorkspace(a, B("alpha"));
  batches[0].PutWorkspace(b, B(""));
  batches[0].PutWorkspace(gone, B("doomed"));
  batches[0].PutDelta(Delta(a, 1, 1, "genesis"));
  batches[0].PutDelta(Delta(a, 1, 2, std::string("with\0nul", 8)));
  batches[0].PutDelta(Delta(a, 2, 1, ""));
  batches[0].PutDelta(Delta(gone, 1, 1, "x"));
  batches[0].PutRecord(a, B(std::string("k\0one", 5)), B("state-1"));
  batches[0].PutRecord(a, B("k2"), B(""));
  batches[0].PutRecord(gone, B("k"), B("v"));
  batches[0].PutMeta(a, "local", B(std::string(24, '\0')));
  batches[0].PutMeta(a, "hlc", B("\xff\xfe"));
  EvidenceRow e{a, "fork", Id(1), 2, Id(9), B("forked bytes"), "hash differs: ünïcode", 1234};
  batches[0].PutEvidence(e);
  batches[0].PutEvidence(e);  // identical evidence is stored twice

  batches[1].SetDeltaStatus(a, Id(1), 2, -7);
  batches[1].PutRecord(a, B("k2"), B("state-2"));
  batches[1].DeleteRecord(a, B(std::string("k\0one", 5)));
  batches[1].DeleteRecord(a, B("never there"));
  batches[1].PutMeta(a, "hlc", B("later"));
  batches[1].PutWorkspace(a, B("alpha renamed"));
  batches[1].DeleteWorkspace(gone);
  batches[1].DeleteWorkspace(Id(0xee));  // not stored: a no-op

  batches[2].PutDelta(Delta(b, 3, 1, "b's first"));
  batches[2].PutRecord(b, B("r"), B("1"));
  batches[2].PutRecord(b, B("s"), B("2"));
  batches[2].ClearRecords(b);
  batches[2].PutRecord(b, B("t"), B("3"));
  batches[2].ClearPending(b, UINT64_MAX);  // nothing pending on a relay: a no-op
  batches[2].DeleteChunk(b, Id(5));
  batches[2].DeleteCheckpoint(b, Id(6));  // no checkpoints on a relay: a no-op

  batches[3].PutDelta(Delta(a, 1, 1, "genesis"));  // same hash: a no-op
  batches[3].PutWorkspace(gone, B("back"));        // recreated empty
  batches[3].PutMeta(gone, "forked:ab", B("1"));

  for (size_t i = 0; i < batches.size(); ++i) {
    ASSERT_OK(mem.Write(batches[i]));
    ASSERT_OK(pg->Write(batches[i]));
    ASSERT_EQ(DumpOf(*pg, all), DumpOf(mem, all)) << "after batch " << i;
  }
  const Dump expected = DumpOf(mem, all);
  EXPECT_EQ(expected.deltas.size(), 4u);
  EXPECT_EQ(expected.evidence.size(), 2u);
  EXPECT_EQ(pg->SizeBytes().value(), mem.SizeBytes().value());
  EXPECT_EQ(pg->GetDelta(a, Id(1), 2).value()->status, -7);
  EXPECT_FALSE(pg->GetDelta(a, Id(1), 3).value().has_value());
  EXPECT_FALSE(pg->HasChunk(a, Id(5)).value());
  EXPECT_FALSE(pg->GetChunk(a, Id(5)).value().has_value());
  EXPECT_FALSE(pg->GetCheckpoint(b, Id(6)).value().has_value());
  EXPECT_TRUE(pg->ListCheckpoints(b).value().empty());

  // A second store on the same database loads the same rows.
  auto again = OpenStore();
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(DumpOf(*again, all), expected);
  EXPECT_EQ(again->LastDeltaId(a), pg->LastDeltaId(a));
  EXPECT_GT(pg->LastDeltaId(a), 0);
  EXPECT_EQ(again->LastDeltaId(Id(0x77)), 0);
}

TEST_F(PgStoreTest, EmptyBatchIsOk) {
  auto pg = OpenStore();
  ASSERT_NE(pg, nullptr);
  ASSERT_OK(pg->Write(WriteBatch()));
}

TEST_F(PgStoreTest, SameHashIsANoOpAndAnotherHashFailsTheWholeBatch) {
  auto pg = OpenStore();
  ASSERT_NE(pg, nullptr);
  const WorkspaceId ws = Id(0x42);
  WriteBatch first;
  first.PutWorkspace(ws, B("w"));
  first.PutDelta(Delta(ws, 1, 1, "original", 3));
  ASSERT_OK(pg->Write(first));

  WriteBatch same;
  DeltaRow again = Delta(ws, 1, 1, "other bytes, same hash", 9);
  same.PutDelta(again);
  ASSERT_OK(pg->Write(same));
  EXPECT_EQ(pg->GetDelta(ws, Id(1), 1).value()->bytes, B("original"));
  EXPECT_EQ(pg->GetDelta(ws, Id(1), 1).value()->status, 3);

  const Dump before = DumpOf(*pg, {ws});
  const int64_t last = pg->LastDeltaId(ws);
  WriteBatch fork;
  fork.PutRecord(ws, B("r"), B("applied before the fork"));
  fork.PutDelta(Delta(ws, 2, 1, "new row before the fork"));
  DeltaRow forked = Delta(ws, 1, 1, "forked");
  forked.hash = Id(0xff);
  fork.PutDelta(forked);
  Status s = pg->Write(fork);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_EQ(s.where(), HexEncode(ByteView(Id(1)).first(4)) + "/1");
  EXPECT_EQ(DumpOf(*pg, {ws}), before);
  EXPECT_EQ(pg->LastDeltaId(ws), last);
  EXPECT_EQ(Count(url_, "records"), 0);
  EXPECT_EQ(Count(url_, "deltas"), 1);
  EXPECT_EQ(Sql(url_, "SELECT deltas FROM usage_workspace"), "1");
  EXPECT_EQ(DumpOf(*OpenStore(), {ws}), before);
}

TEST_F(PgStoreTest, FailedBatchesLeaveCacheAndDatabaseUnchanged) {
  auto pg = OpenStore();
  ASSERT_NE(pg, nullptr);
  const WorkspaceId ws = Id(0x10), missing = Id(0x11);
  WriteBatch setup;
  setup.PutWorkspace(ws, B("w"));
  setup.PutDelta(Delta(ws, 1, 1, "d"));
  setup.PutRecord(ws, B("k"), B("v"));
  ASSERT_OK(pg->Write(setup));
  const Dump before = DumpOf(*pg, {ws, missing});
  const std::string rows =
      Sql(url_,
          "SELECT (SELECT count(*) FROM deltas) || '/' || (SELECT count(*) FROM records) || '/' "
          "|| (SELECT count(*) FROM meta) || '/' || (SELECT count(*) FROM evidence)");

  auto refused = [&](WriteBatch& wb, Code code, std::string_view text) {
    wb.PutMeta(ws, "local", B("must not stay"));  // after the failing mutation: never reached
    Status s = pg->Write(wb);
    EXPECT_EQ(s.code(), code) << s.ToString();
    EXPECT_NE(s.ToString().find(text), std::string::npos) << s.ToString();
    EXPECT_EQ(DumpOf(*pg, {ws, missing}), before);
    EXPECT_EQ(Sql(url_,
                  "SELECT (SELECT count(*) FROM deltas) || '/' || (SELECT count(*) FROM records) "
                  "|| '/' || (SELECT count(*) FROM meta) || '/' || (SELECT count(*) FROM "
                  "evidence)"),
              rows);
  };
  {
    WriteBatch wb;
    wb.PutRecord(ws, B("k"), B("changed"));
    wb.PutDelta(Delta(missing, 1, 1, "no workspace"));
    refused(wb, Code::kFailedPrecondition, "workspace is not stored");
  }
  {
    WriteBatch wb;
    wb.PutRecord(ws, B("k2"), B("v2"));
    wb.SetDeltaStatus(ws, Id(1), 99, 1);
    refused(wb, Code::kNotFound, "no stored delta");
  }
  {
    WriteBatch wb;
    wb.PutDelta(Delta(ws, 1, 2, "new"));
    wb.PutPending(ws, 1, B("op"));
    refused(wb, Code::kFailedPrecondition, "a relay stores no pending");
  }
  {
    WriteBatch wb;
    wb.DeleteRecord(ws, B("k"));
    wb.PutChunk(ws, Id(3), B("chunk"));
    refused(wb, Code::kFailedPrecondition, "a relay stores no attachment chunks");
  }
  {
    WriteBatch wb;
    wb.PutRecord(ws, B("k"), B("changed"));
    wb.PutCheckpoint(ws, Id(4), B("checkpoint"));
    refused(wb, Code::kFailedPrecondition, "a relay stores no checkpoints");
  }
  {
    WriteBatch wb;
    wb.PutDelta(Delta(ws, 1, 2, "new"));
    wb.DeleteDeltasUpTo(ws, Id(1), 1);
    refused(wb, Code::kFailedPrecondition, "a relay keeps full history");
  }
  {
    WriteBatch wb;
    wb.PutEvidence(EvidenceRow{ws, "fork", Id(1), 1, Id(2), B("x"), std::string("nul\0", 4), 1});
    refused(wb, Code::kInvalidArgument, "evidence");
  }
  {
    WriteBatch wb;
    wb.PutRecord(ws, B("k"), B("changed"));
    wb.PutDelta(Delta(ws, 1, uint64_t{1} << 63, "too far"));
    refused(wb, Code::kInvalidArgument, "");
  }
  // The connection is still good after all that.
  WriteBatch ok;
  ok.PutDelta(Delta(ws, 1, 2, "next"));
  ASSERT_OK(pg->Write(ok));
}

TEST_F(PgStoreTest, UsageCountsOnlyRowsActuallyInserted) {
  auto pg = OpenStore();
  auto other = OpenStore();
  ASSERT_NE(pg, nullptr);
  ASSERT_NE(other, nullptr);
  const WorkspaceId ws = Id(0x20), ws2 = Id(0x21);
  EXPECT_EQ(pg->WorkspaceUsage(ws).value(), Usage{});
  EXPECT_EQ(pg->DeviceUsage(Id(1)).value(), Usage{});

  WriteBatch wb;
  wb.PutWorkspace(ws, B("w"));
  wb.PutWorkspace(ws2, B("w2"));
  wb.PutDelta(Delta(ws, 1, 1, "0123456789"));  // 10 bytes
  wb.PutDelta(Delta(ws, 1, 2, "01234"));       // 5
  wb.PutDelta(Delta(ws, 2, 1, "012"));         // 3
  wb.PutDelta(Delta(ws2, 1, 1, "0"));          // 1
  wb.PutDelta(Delta(ws, 1, 1, "0123456789"));  // the same again, in the same batch
  ASSERT_OK(pg->Write(wb));
  EXPECT_EQ(pg->WorkspaceUsage(ws).value(), (Usage{18, 3}));
  EXPECT_EQ(pg->WorkspaceUsage(ws2).value(), (Usage{1, 1}));
  EXPECT_EQ(pg->DeviceUsage(Id(1)).value(), (Usage{16, 3}));
  EXPECT_EQ(pg->DeviceUsage(Id(2)).value(), (Usage{3, 1}));

  // Stored already, through this store or another: nothing grows.
  WriteBatch dup;
  dup.PutDelta(Delta(ws, 1, 2, "01234"));
  dup.SetDeltaStatus(ws, Id(1), 2, 5);
  ASSERT_OK(pg->Write(dup));
  ASSERT_OK(other->LoadWorkspace(ws));
  ASSERT_OK(other->Write(dup));
  WriteBatch more;
  more.PutDelta(Delta(ws, 2, 2, "0123456"));  // 7
  ASSERT_OK(other->Write(more));
  EXPECT_EQ(pg->WorkspaceUsage(ws).value(), (Usage{25, 4}));
  EXPECT_EQ(other->WorkspaceUsage(ws).value(), (Usage{25, 4}));
  EXPECT_EQ(pg->DeviceUsage(Id(1)).value(), (Usage{16, 3}));
  EXPECT_EQ(pg->DeviceUsage(Id(2)).value(), (Usage{10, 2}));

  // A deleted workspace's usage goes with it; a device keeps what it uploaded.
  WriteBatch del;
  del.DeleteWorkspace(ws2);
  ASSERT_OK(pg->Write(del));
  EXPECT_EQ(pg->WorkspaceUsage(ws2).value(), Usage{});
  EXPECT_EQ(pg->DeviceUsage(Id(1)).value(), (Usage{16, 3}));
}

// --- Several relays on one database ------------------------------------------------------------

TEST_F(PgStoreTest, SecondStoreSeesAnotherStoresWorkspacesAndDeltas) {
  auto one = OpenStore();
  auto two = OpenStore();
  ASSERT_NE(one, nullptr);
  ASSERT_NE(two, nullptr);
  const WorkspaceId ws = Id(0x30);
  WriteBatch create;
  create.PutWorkspace(ws, B("shared"));
  create.PutDelta(Delta(ws, 1, 1, "first"));
  create.PutRecord(ws, B("k"), B("v"));
  ASSERT_OK(one->Write(create));

  EXPECT_TRUE(two->ListWorkspaces().value().empty());
  EXPECT_EQ(two->UnloadedWorkspaces().value(), std::vector<WorkspaceId>{ws});
  EXPECT_TRUE(one->UnloadedWorkspaces().value().empty());
  ASSERT_OK(two->LoadWorkspace(ws));
  EXPECT_TRUE(two->UnloadedWorkspaces().value().empty());
  EXPECT_EQ(DumpOf(*two, {ws}), DumpOf(*one, {ws}));
  EXPECT_EQ(two->LastDeltaId(ws), one->LastDeltaId(ws));
  EXPECT_EQ(two->LoadWorkspace(Id(0x31)).code(), Code::kNotFound);

  const int64_t seen = two->LastDeltaId(ws);
  WriteBatch more;
  for (uint64_t seq = 2; seq <= 6; ++seq)
    more.PutDelta(Delta(ws, 1, seq, "d" + std::to_string(seq)));
  ASSERT_OK(one->Write(more));
  auto page = two->DeltasAfter(ws, seen, 3);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->size(), 3u);
  for (size_t i = 0; i < page->size(); ++i) {
    EXPECT_EQ((*page)[i].second, *one->GetDelta(ws, Id(1), 2 + i).value());
    if (i > 0) {
      EXPECT_GT((*page)[i].first, (*page)[i - 1].first);
    }
  }
  EXPECT_EQ(two->LastDeltaId(ws), page->back().first);
  auto rest = two->DeltasAfter(ws, two->LastDeltaId(ws), 100);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ(rest->back().second.seq, 6u);
  EXPECT_EQ(two->LastDeltaId(ws), one->LastDeltaId(ws));
  EXPECT_TRUE(two->DeltasAfter(ws, two->LastDeltaId(ws), 100).value().empty());
  EXPECT_TRUE(two->DeltasAfter(ws, 0, 0).value().empty());
  // DeltasAfter reads; the cache learns the rows when the caller writes them.
  EXPECT_FALSE(two->GetDelta(ws, Id(1), 6).value().has_value());
  WriteBatch apply;
  for (const auto& [id, row] : *page) apply.PutDelta(row);
  for (const auto& [id, row] : *rest) apply.PutDelta(row);
  ASSERT_OK(two->Write(apply));
  EXPECT_EQ(DumpOf(*two, {ws}), DumpOf(*one, {ws}));
}

TEST_F(PgStoreTest, CacheBehindTheDatabaseIsReloadedAfterAWriteItRefuses) {
  auto one = OpenStore();
  auto two = OpenStore();
  ASSERT_NE(one, nullptr);
  ASSERT_NE(two, nullptr);
  const WorkspaceId ws = Id(0x38);
  WriteBatch create;
  create.PutWorkspace(ws, B("by one"));
  create.PutDelta(Delta(ws, 1, 1, "first"));
  ASSERT_OK(one->Write(create));
  // two never loaded ws; PostgreSQL accepts the row, the cache alone would not.
  WriteBatch wb;
  wb.PutDelta(Delta(ws, 1, 2, "second"));
  ASSERT_OK(two->Write(wb));
  EXPECT_EQ(two->ListWorkspaces().value().size(), 1u);
  EXPECT_TRUE(two->GetDelta(ws, Id(1), 1).value().has_value());
  EXPECT_TRUE(two->GetDelta(ws, Id(1), 2).value().has_value());
}

TEST_F(PgStoreTest, ListenerWakesWhenAnotherStoreWrites) {
  auto writer = OpenStore();
  ASSERT_NE(writer, nullptr);
  auto opened = Listener::Open(Options{url_});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Listener& listener = **opened;
  const WorkspaceId ws = Id(0x40);

  // Nothing written: the wait ends at its timeout, empty.
  auto start = std::chrono::steady_clock::now();
  auto none = listener.Wait(200);
  auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  EXPECT_GE(waited, std::chrono::milliseconds(190));
  EXPECT_LT(waited, std::chrono::seconds(2));

  // A write from another connection while the listener waits on its own thread.
  Result<std::vector<WorkspaceId>> got = std::vector<WorkspaceId>{};
  std::chrono::steady_clock::time_point woke;
  std::thread waiter([&] {
    got = listener.Wait(10'000);
    woke = std::chrono::steady_clock::now();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  WriteBatch wb;
  wb.PutWorkspace(ws, B("w"));
  wb.PutDelta(Delta(ws, 1, 1, "a"));
  wb.PutDelta(Delta(ws, 1, 2, "b"));
  const auto written = std::chrono::steady_clock::now();
  ASSERT_OK(writer->Write(wb));
  waiter.join();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, std::vector<WorkspaceId>{ws});
  EXPECT_LT(woke - written, std::chrono::seconds(2));

  // Two writes before the next wait: the id once (the second may come in a later call).
  WriteBatch c, d, e;
  c.PutDelta(Delta(ws, 1, 3, "c"));
  d.PutDelta(Delta(ws, 1, 4, "d"));
  ASSERT_OK(writer->Write(c));
  ASSERT_OK(writer->Write(d));
  EXPECT_EQ(listener.Wait(2'000).value(), std::vector<WorkspaceId>{ws});
  auto late = listener.Wait(300);
  ASSERT_TRUE(late.ok());
  EXPECT_TRUE(late->empty() || *late == std::vector<WorkspaceId>{ws});
  // A batch without new delta rows notifies nothing.
  e.PutRecord(ws, B("k"), B("v"));
  e.PutDelta(Delta(ws, 1, 4, "d"));
  ASSERT_OK(writer->Write(e));
  EXPECT_TRUE(listener.Wait(300).value().empty());

  // Someone else's payload on the channel is ignored.
  Sql(url_, "SELECT pg_notify('grove_deltas', 'not a workspace')");
  EXPECT_TRUE(listener.Wait(200).value().empty());
}

// --- Durability and failures -------------------------------------------------------------------

TEST_F(PgStoreTest, RowsSurviveAPostgresRestart) {
  const WorkspaceId ws = Id(0x50);
  Dump before;
  {
    auto pg = OpenStore();
    ASSERT_NE(pg, nullptr);
    WriteBatch wb;
    wb.PutWorkspace(ws, B("durable"));
    wb.PutDelta(Delta(ws, 1, 1, "kept"));
    wb.PutRecord(ws, B("k"), B("v"));
    wb.PutMeta(ws, "local", B("counters"));
    wb.PutEvidence(EvidenceRow{ws, "invalid", Id(2), 1, Id(3), B("x"), "bad signature", 7});
    ASSERT_OK(pg->Write(wb));
    before = DumpOf(*pg, {ws});
  }
  ASSERT_TRUE(pg_->Restart()) << pg_->error();
  auto pg = OpenStore();
  ASSERT_NE(pg, nullptr);
  EXPECT_EQ(DumpOf(*pg, {ws}), before);
  EXPECT_EQ(pg->WorkspaceUsage(ws).value(), (Usage{4, 1}));
}

TEST_F(PgStoreTest, WriteFailsWhilePostgresIsDownAndSucceedsAfterRestart) {
  auto pg = OpenStore();
  ASSERT_NE(pg, nullptr);
  auto listener = Listener::Open(Options{url_});
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  const WorkspaceId ws = Id(0x60);
  WriteBatch create;
  create.PutWorkspace(ws, B("w"));
  create.PutDelta(Delta(ws, 1, 1, "before"));
  ASSERT_OK(pg->Write(create));
  EXPECT_EQ((*listener)->Wait(2'000).value(), std::vector<WorkspaceId>{ws});
  const Dump before = DumpOf(*pg, {ws});
  std::vector<double> latencies;
  pg->SetLatencyObserver([&](double s) { latencies.push_back(s); });

  pg_->Stop();
  WriteBatch wb;
  wb.PutDelta(Delta(ws, 1, 2, "while down"));
  wb.PutRecord(ws, B("k"), B("v"));
  Status down = pg->Write(wb);
  EXPECT_FALSE(down.ok());
  EXPECT_TRUE(down.code() == Code::kUnavailable || down.code() == Code::kIOError)
      << down.ToString();
  EXPECT_NE(down.ToString().find("127.0.0.1:" + std::to_string(pg_->port())), std::string::npos)
      << down.ToString();
  EXPECT_EQ(DumpOf(*pg, {ws}), before);
  // Still down: the next call tries to reconnect, and says it cannot.
  Status again = pg->Write(wb);
  EXPECT_EQ(again.code(), Code::kUnavailable) << again.ToString();
  EXPECT_NE(again.message().find("cannot reach PostgreSQL"), std::string::npos) << again.ToString();
  EXPECT_FALSE(pg->Ping().ok());
  EXPECT_FALSE(pg->WorkspaceUsage(ws).ok());
  auto lost = (*listener)->Wait(2'000);
  EXPECT_EQ(lost.status().code(), Code::kUnavailable) << lost.status().ToString();
  EXPECT_EQ((*listener)->Wait(0).status().code(), Code::kUnavailable);

  ASSERT_TRUE(pg_->Start()) << pg_->error();
  ASSERT_OK(pg->Write(wb));
  EXPECT_TRUE(pg->GetDelta(ws, Id(1), 2).value().has_value());
  auto ping = pg->Ping();
  ASSERT_TRUE(ping.ok()) << ping.status().ToString();
  EXPECT_GE(*ping, 0.0);
  EXPECT_FALSE(latencies.empty());
  auto reopened = OpenStore();
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(DumpOf(*reopened, {ws}), DumpOf(*pg, {ws}));
}

TEST_F(PgStoreTest, ARestartBetweenCallsIsRiddenOutByOneRetry) {
  auto pg = OpenStore();
  ASSERT_NE(pg, nullptr);
  const WorkspaceId ws = Id(0x61);
  WriteBatch create;
  create.PutWorkspace(ws, B("w"));
  ASSERT_OK(pg->Write(create));
  ASSERT_TRUE(pg_->Restart()) << pg_->error();
  // The store's connection died while idle; it notices, reconnects and retries by itself.
  WriteBatch wb;
  wb.PutDelta(Delta(ws, 1, 1, "after restart"));
  ASSERT_OK(pg->Write(wb));
  EXPECT_EQ(pg->WorkspaceUsage(ws).value(), (Usage{13, 1}));
}

TEST_F(PgStoreTest, OpenWithoutAServerIsUnavailableAndNamesIt) {
  std::string why;
  const uint16_t port = testing::FreeLoopbackPort(&why);
  ASSERT_NE(port, 0) << why;
  const std::string where = "127.0.0.1:" + std::to_string(port) + "/nowhere";
  auto s = PgStore::Open(
      Options{"postgresql://grove:sekrit-password@127.0.0.1:" + std::to_string(port) + "/nowhere"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kUnavailable) << s.status().ToString();
  EXPECT_NE(s.status().message().find("cannot reach PostgreSQL at " + where), std::string::npos)
      << s.status().ToString();
  EXPECT_EQ(s.status().ToString().find("sekrit"), std::string::npos) << s.status().ToString();

  auto l = Listener::Open(Options{"host=127.0.0.1 port=" + std::to_string(port) + " dbname=x"});
  EXPECT_EQ(l.status().code(), Code::kUnavailable) << l.status().ToString();

  auto bad = PgStore::Open(Options{"postgresql://grove:sekrit-password@[::1"});
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument) << bad.status().ToString();
  EXPECT_EQ(bad.status().ToString().find("sekrit"), std::string::npos) << bad.status().ToString();
}

// --- A blind replica over PgStore --------------------------------------------------------------

TEST_F(PgStoreTest, RelayReplicaReopensFromAnotherStoreWithTheSameDigests) {
  FakeClock clock;
  testing::TestDevice alice("alice", 1, clock);
  testing::TestDevice relay("relay", 2, clock);
  replica::Workspace& ws = alice.Create("warehouse");
  auto item = ws.CreateRecord("item", {{"sku", replica::Value("SKU-1")}});
  ASSERT_TRUE(item.ok()) << item.status().ToString();
  ASSERT_OK(ws.Add(*item, "stock", 5));

  auto pg = OpenStore();
  ASSERT_NE(pg, nullptr);
  auto genesis = ws.Genesis();
  ASSERT_TRUE(genesis.ok());
  auto joined = replica::Workspace::Join(relay.identity, *genesis, *pg, clock, relay.rng);
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
  replica::ApplyReport report = testing::SendMissing(ws, **joined);
  ASSERT_OK(report.store);
  EXPECT_TRUE(report.rejected.empty());
  const replica::Digests digests = (*joined)->digests();
  EXPECT_EQ(digests.version, ws.digests().version);
  EXPECT_GE(digests.deltas, 2u);

  auto other = OpenStore();
  ASSERT_NE(other, nullptr);
  auto reopened = replica::Workspace::Open(relay.identity, ws.id(), *other, clock, relay.rng);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ((*reopened)->digests().version, digests.version);
  EXPECT_EQ((*reopened)->digests().state, digests.state);
  EXPECT_EQ((*reopened)->digests().deltas, digests.deltas);
  EXPECT_EQ(other->WorkspaceUsage(ws.id()).value().deltas, digests.deltas);
}

}  // namespace
}  // namespace grove::pgstore
