#include "store/store.h"

#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "support/status_assert.h"
#include "support/temp_dir.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/random.h"
#include "store/compaction.h"

namespace grove::store {
namespace {

namespace fs = std::filesystem;

Hash32 Id(uint8_t fill) {
  Hash32 h;
  h.fill(fill);
  return h;
}

Bytes B(std::string_view s) { return ToBytes(s); }

using TempDir = grove::testing::TempDir;

// Direct SQLite access, to inspect or tamper with a store file behind the store's back.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(
        sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
        SQLITE_OK);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void Exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << sql << ": " << (err ? err : "");
    sqlite3_free(err);
  }

  // The first column of the first row, as text ("" when there is no row).
  std::string Query(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db_);
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      if (text != nullptr) out = reinterpret_cast<const char*>(text);
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::vector<DeltaRow> Deltas(Store& store, const WorkspaceId& ws) {
  std::vector<DeltaRow> out;
  Status s = store.ForEachDelta(ws, [&](const DeltaRow& row) {
    out.push_back(row);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

using RecordList = std::vector<std::pair<std::string, std::string>>;

RecordList Records(Store& store, const WorkspaceId& ws) {
  RecordList out;
  Status s = store.ForEachRecord(ws, [&](ByteView key, ByteView state) {
    out.emplace_back(ToString(key), ToString(state));
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::vector<std::pair<uint64_t, std::string>> Pending(Store& store, const WorkspaceId& ws) {
  auto loaded = store.LoadPending(ws);
  EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
  std::vector<std::pair<uint64_t, std::string>> out;
  if (loaded.ok()) {
    for (const auto& [index, op] : *loaded) out.emplace_back(index, ToString(op));
  }
  return out;
}

std::vector<EvidenceRow> Evidence(Store& store, const WorkspaceId& ws) {
  auto listed = store.ListEvidence(ws);
  EXPECT_TRUE(listed.ok()) << listed.status().ToString();
  return listed.ok() ? *listed : std::vector<EvidenceRow>();
}

// "" for a missing value, so that tests can compare in one line; "<missing>" tells them apart.
std::string Meta(Store& store, const WorkspaceId& ws, std::string_view key) {
  auto got = store.GetMeta(ws, key);
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  if (!got.ok() || !got->has_value()) return "<missing>";
  return ToString(**got);
}

using CheckpointList = std::vector<std::pair<Hash32, uint64_t>>;

CheckpointList Checkpoints(Store& store, const WorkspaceId& ws) {
  auto listed = store.ListCheckpoints(ws);
  EXPECT_TRUE(listed.ok()) << listed.status().ToString();
  return listed.ok() ? *listed : CheckpointList();
}

// "<missing>" when the checkpoint is not held.
std::string CheckpointBytes(Store& store, const WorkspaceId& ws, const Hash32& id) {
  auto got = store.GetCheckpoint(ws, id);
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  if (!got.ok() || !got->has_value()) return "<missing>";
  return ToString(**got);
}

std::vector<std::pair<WorkspaceId, std::string>> Workspaces(Store& store) {
  auto listed = store.ListWorkspaces();
  EXPECT_TRUE(listed.ok()) << listed.status().ToString();
  std::vector<std::pair<WorkspaceId, std::string>> out;
  if (listed.ok()) {
    for (const auto& [id, info] : *listed) out.emplace_back(id, ToString(info));
  }
  return out;
}

DeltaRow Delta(const WorkspaceId& ws, uint8_t author, uint64_t seq, uint8_t hash,
               std::string_view bytes, int32_t status = 0) {
  return DeltaRow{ws, Id(author), seq, Id(hash), B(bytes), status};
}

EvidenceRow Fork(const WorkspaceId& ws, uint64_t seq, std::string_view reason) {
  return EvidenceRow{ws,
                     "fork",
                     Id(0xe1),
                     seq,
                     Id(static_cast<uint8_t>(seq)),
                     B("forked body"),
                     std::string(reason),
                     1'700'000'000'000 + seq};
}

// The rows of one workspace (meta under the given keys), as one string so that "nothing changed"
// is a single comparison with a readable diff.
std::string DumpRows(Store& store, const WorkspaceId& ws,
                     const std::vector<std::string>& meta_keys) {
  std::ostringstream out;
  out << "[" << HexEncode(ws).substr(0, 8) << "]\n";
  for (const DeltaRow& d : Deltas(store, ws)) {
    out << "delta " << HexEncode(d.author).substr(0, 8) << "/" << d.seq << " "
        << HexEncode(d.hash).substr(0, 8) << " " << ToString(d.bytes) << " " << d.status << "\n";
  }
  for (const auto& [key, state] : Records(store, ws))
    out << "record " << key << "=" << state << "\n";
  for (const auto& [index, op] : Pending(store, ws))
    out << "pending " << index << "=" << op << "\n";
  for (const EvidenceRow& e : Evidence(store, ws)) {
    out << "evidence " << e.kind << " " << e.seq << " " << e.reason << "\n";
  }
  for (const std::string& key : meta_keys)
    out << "meta " << key << "=" << Meta(store, ws, key) << "\n";
  for (const auto& [id, size] : Checkpoints(store, ws)) {
    out << "checkpoint " << HexEncode(id).substr(0, 8) << " " << size << " "
        << CheckpointBytes(store, ws, id) << "\n";
  }
  return out.str();
}

// The workspace list plus the rows of the given workspaces.
std::string Dump(Store& store, const std::vector<WorkspaceId>& workspaces,
                 const std::vector<std::string>& meta_keys) {
  std::string out;
  for (const auto& [id, info] : Workspaces(store)) out += "ws " + HexEncode(id) + " " + info + "\n";
  for (const WorkspaceId& ws : workspaces) out += DumpRows(store, ws, meta_keys);
  return out;
}

// One workspace with a row of every kind.
void Fill(WriteBatch& b, const WorkspaceId& ws, std::string_view tag) {
  std::string t(tag);
  b.PutWorkspace(ws, B("info " + t));
  b.PutDelta(Delta(ws, 0xa1, 1, 0x11, "delta " + t));
  b.PutRecord(ws, B("key " + t), B("state " + t));
  b.PutPending(ws, 1, B("op " + t));
  b.PutEvidence(Fork(ws, 4, "reason " + t));
  b.PutMeta(ws, "m", B("meta " + t));
  b.PutCheckpoint(ws, Id(0xcf), B("checkpoint " + t));
}

// ---------------------------------------------------------------------------------------------
// Semantics, run against both implementations.

enum class Impl { kMemory, kSqlite };

class StoreTest : public ::testing::TestWithParam<Impl> {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    store_.reset();
    if (GetParam() == Impl::kMemory) {
      store_ = NewMemoryStore();
      return;
    }
    auto opened = OpenSqliteStore(dir_.File("store.db"), Options{});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(opened).value();
  }

  // SQLite: close and reopen the file, so each test also checks that what it wrote persisted.
  // Memory: nothing to reopen.
  void Reopen() {
    if (GetParam() == Impl::kSqlite) Open();
  }

  Status Write(const WriteBatch& b) { return store_->Write(b); }
  Store& store() { return *store_; }

  const WorkspaceId ws1_ = Id(0x01);
  const WorkspaceId ws2_ = Id(0x02);
  TempDir dir_;
  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(Both, StoreTest, ::testing::Values(Impl::kMemory, Impl::kSqlite),
                         [](const ::testing::TestParamInfo<Impl>& param) {
                           return param.param == Impl::kMemory ? "Memory" : "Sqlite";
                         });

TEST_P(StoreTest, WorkspacesListInIdOrderAndUpsertKeepsTheirRows) {
  WriteBatch b;
  b.PutWorkspace(ws2_, B("two"));
  b.PutWorkspace(ws1_, B(""));
  ASSERT_OK(Write(b));
  Reopen();
  EXPECT_EQ(Workspaces(store()),
            (std::vector<std::pair<WorkspaceId, std::string>>{{ws1_, ""}, {ws2_, "two"}}));

  WriteBatch rows;
  rows.PutDelta(Delta(ws2_, 0xa1, 1, 0x11, "d"));
  rows.PutRecord(ws2_, B("k"), B("v"));
  rows.PutWorkspace(ws2_, B("two v2"));  // an upsert, not delete+insert: must not cascade
  ASSERT_OK(Write(rows));
  Reopen();
  EXPECT_EQ(Workspaces(store())[1].second, "two v2");
  EXPECT_EQ(Deltas(store(), ws2_).size(), 1u);
  EXPECT_EQ(Records(store(), ws2_), (RecordList{{"k", "v"}}));
}

TEST_P(StoreTest, DeltasRoundTripInAuthorThenNumericSeqOrder) {
  const DeltaRow a1 = Delta(ws1_, 0xa0, 1, 0x11, std::string("bin\0ary", 7), 1);
  const DeltaRow a2 = Delta(ws1_, 0xa0, 2, 0x12, "", -3);
  const DeltaRow a10 = Delta(ws1_, 0xa0, 10, 0x13, "ten", 2);
  const DeltaRow b1 = Delta(ws1_, 0xb0, 1, 0x21, "b one", 0);
  WriteBatch b;
  b.PutWorkspace(ws1_, B("w"));
  b.PutWorkspace(ws2_, B("w"));
  for (const DeltaRow& d : {b1, a10, a2, a1}) b.PutDelta(d);
  ASSERT_OK(Write(b));
  Reopen();

  EXPECT_EQ(Deltas(store(), ws1_), (std::vector<DeltaRow>{a1, a2, a10, b1}));
  EXPECT_TRUE(Deltas(store(), ws2_).empty());
  auto got = store().GetDelta(ws1_, Id(0xa0), 2);
  ASSERT_OK(got.status());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, a2);
  for (auto [ws, seq] :
       {std::pair{ws1_, uint64_t{3}}, std::pair{ws2_, uint64_t{2}}, std::pair{ws1_, UINT64_MAX}}) {
    auto missing = store().GetDelta(ws, Id(0xa0), seq);
    ASSERT_OK(missing.status());
    EXPECT_FALSE(missing->has_value()) << seq;
  }
}

TEST_P(StoreTest, ForEachStopsWhenTheCallbackReturnsFalse) {
  WriteBatch b;
  b.PutWorkspace(ws1_, B("w"));
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    b.PutDelta(Delta(ws1_, 0xa1, seq, static_cast<uint8_t>(seq), "d"));
    b.PutRecord(ws1_, B("k" + std::to_string(seq)), B("v"));
  }
  ASSERT_OK(Write(b));

  int deltas = 0;
  ASSERT_OK(store().ForEachDelta(ws1_, [&](const DeltaRow&) { return ++deltas < 2; }));
  EXPECT_EQ(deltas, 2);
  int records = 0;
  ASSERT_OK(store().ForEachRecord(ws1_, [&](ByteView, ByteView) { return ++records < 3; }));
  EXPECT_EQ(records, 3);
  // The early stop must not leave the iteration half-open: a later scan starts afresh.
  EXPECT_EQ(Deltas(store(), ws1_).size(), 5u);
  EXPECT_EQ(Records(store(), ws1_).size(), 5u);
}

TEST_P(StoreTest, PutDeltaWithTheSameHashIsANoOp) {
  WriteBatch first;
  first.PutWorkspace(ws1_, B("w"));
  first.PutDelta(Delta(ws1_, 0xa1, 1, 0x11, "original", 1));
  ASSERT_OK(Write(first));

  WriteBatch again;
  again.PutDelta(Delta(ws1_, 0xa1, 1, 0x11, "other bytes", 9));
  again.PutRecord(ws1_, B("k"), B("v"));
  ASSERT_OK(Write(again));
  Reopen();
  EXPECT_EQ(Deltas(store(), ws1_),
            (std::vector<DeltaRow>{Delta(ws1_, 0xa1, 1, 0x11, "original", 1)}));
  EXPECT_EQ(Records(store(), ws1_), (RecordList{{"k", "v"}})) << "rest of the batch applied";
}

TEST_P(StoreTest, SetDeltaStatusUpdatesAndFailsForAMissingDelta) {
  WriteBatch b;
  b.PutWorkspace(ws1_, B("w"));
  b.PutDelta(Delta(ws1_, 0xa1, 1, 0x11, "d", 1));
  ASSERT_OK(Write(b));

  WriteBatch set;
  set.SetDeltaStatus(ws1_, Id(0xa1), 1, 42);
  ASSERT_OK(Write(set));
  Reopen();
  EXPECT_EQ(Deltas(store(), ws1_)[0].status, 42);

  WriteBatch missing;
  missing.PutMeta(ws1_, "m", B("x"));
  missing.SetDeltaStatus(ws1_, Id(0xa1), 2, 7);
  Status s = Write(missing);
  EXPECT_EQ(s.code(), Code::kNotFound) << s.ToString();
  EXPECT_EQ(Meta(store(), ws1_, "m"), "<missing>");
}

TEST_P(StoreTest, RecordsUpsertDeleteAndIterateInKeyByteOrder) {
  WriteBatch b;
  b.PutWorkspace(ws1_, B("w"));
  for (const std::string& key :
       std::vector<std::string>{"b", "a", "", std::string("a\0", 2), "ab", "\xff", "ab"}) {
    b.PutRecord(ws1_, B(key), B("s:" + key));
  }
  b.PutRecord(ws1_, B("a"), B("a again"));
  b.DeleteRecord(ws1_, B("ab"));
  b.DeleteRecord(ws1_, B("never stored"));
  ASSERT_OK(Write(b));
  Reopen();
  // Unsigned byte order, shorter prefix first: what memcmp-ordered SQLite blobs give.
  EXPECT_EQ(Records(store(), ws1_), (RecordList{{"", "s:"},
                                                {"a", "a again"},
                                                {std::string("a\0", 2), std::string("s:a\0", 4)},
                                                {"b", "s:b"},
                                                {"\xff", "s:\xff"}}));
}

TEST_P(StoreTest, ClearRecordsRemovesOnlyThatWorkspacesRecords) {
  WriteBatch b;
  for (const WorkspaceId& ws : {ws1_, ws2_}) {
    b.PutWorkspace(ws, B("w"));
    b.PutRecord(ws, B("old1"), B("x"));
    b.PutRecord(ws, B("old2"), B("x"));
  }
  ASSERT_OK(Write(b));

  WriteBatch rebuild;
  rebuild.ClearRecords(ws1_);
  rebuild.PutRecord(ws1_, B("new"), B("y"));
  ASSERT_OK(Write(rebuild));
  Reopen();
  EXPECT_EQ(Records(store(), ws1_), (RecordList{{"new", "y"}}));
  EXPECT_EQ(Records(store(), ws2_), (RecordList{{"old1", "x"}, {"old2", "x"}}));
}

TEST_P(StoreTest, PendingLoadsByIndexAndClearsUpToAnIndex) {
  WriteBatch b;
  b.PutWorkspace(ws1_, B("w"));
  b.PutWorkspace(ws2_, B("w"));
  for (uint64_t index : {5, 1, 10, 3}) b.PutPending(ws1_, index, B("op" + std::to_string(index)));
  b.PutPending(ws2_, 1, B("other"));
  ASSERT_OK(Write(b));
  Reopen();
  using P = std::vector<std::pair<uint64_t, std::string>>;
  EXPECT_EQ(Pending(store(), ws1_), (P{{1, "op1"}, {3, "op3"}, {5, "op5"}, {10, "op10"}}));

  WriteBatch clear;
  clear.ClearPending(ws1_, 3);
  clear.PutPending(ws1_, 5, B("op5 replaced"));
  ASSERT_OK(Write(clear));
  Reopen();
  EXPECT_EQ(Pending(store(), ws1_), (P{{5, "op5 replaced"}, {10, "op10"}}));

  WriteBatch all;
  all.ClearPending(ws1_, UINT64_MAX);
  ASSERT_OK(Write(all));
  EXPECT_EQ(Pending(store(), ws1_), P{});
  EXPECT_EQ(Pending(store(), ws2_), (P{{1, "other"}}));
}

TEST_P(StoreTest, EvidenceRoundTripsInWriteOrder) {
  EvidenceRow rejected{ws1_, "rejected", Id(0xe2), 3, Id(0x33), B(""), "", 0};
  WriteBatch b;
  b.PutWorkspace(ws1_, B("w"));
  b.PutWorkspace(ws2_, B("w"));
  b.PutEvidence(Fork(ws1_, 9, "second copy differs"));
  b.PutEvidence(rejected);
  ASSERT_OK(Write(b));
  WriteBatch later;
  later.PutEvidence(Fork(ws1_, 2, "earlier seq, later arrival"));
  ASSERT_OK(Write(later));
  Reopen();
  EXPECT_EQ(Evidence(store(), ws1_),
            (std::vector<EvidenceRow>{Fork(ws1_, 9, "second copy differs"), rejected,
                                      Fork(ws1_, 2, "earlier seq, later arrival")}));
  EXPECT_TRUE(Evidence(store(), ws2_).empty());
}

TEST_P(StoreTest, MetaUpsertsAndIsPerWorkspace) {
  WriteBatch b;
  b.PutWorkspace(ws1_, B("w"));
  b.PutWorkspace(ws2_, B("w"));
  b.PutMeta(ws1_, "counter", B("1"));
  b.PutMeta(ws1_, "hlc", B(""));
  b.PutMeta(ws1_, "counter", B("2"));
  ASSERT_OK(Write(b));
  Reopen();
  EXPECT_EQ(Meta(store(), ws1_, "counter"), "2");
  EXPECT_EQ(Meta(store(), ws1_, "hlc"), "") << "empty value, present";
  EXPECT_EQ(Meta(store(), ws1_, "absent"), "<missing>");
  EXPECT_EQ(Meta(store(), ws2_, "counter"), "<missing>");
}

TEST_P(StoreTest, ChunksAreContentAddressedPerWorkspaceAndGoWithIt) {
  const Hash32 c1 = Id(0xc1), c2 = Id(0xc2);
  WriteBatch b;
  b.PutWorkspace(ws1_, B("w"));
  b.PutWorkspace(ws2_, B("w"));
  b.PutChunk(ws1_, c1, B("sealed one"));
  b.PutChunk(ws1_, c1, B("other bytes"));  // same id: already stored, kept as it was
  b.PutChunk(ws1_, c2, B("sealed two"));
  ASSERT_OK(Write(b));
  Reopen();
  auto got = store().GetChunk(ws1_, c1);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, B("sealed one"));
  EXPECT_TRUE(*store().HasChunk(ws1_, c2));
  EXPECT_FALSE(*store().HasChunk(ws2_, c1)) << "chunks belong to one workspace";
  EXPECT_FALSE(store().GetChunk(ws2_, c1)->has_value());
  EXPECT_FALSE(*store().HasChunk(Id(0x99), c1)) << "unknown workspace: not held, not an error";

  WriteBatch del;
  del.DeleteChunk(ws1_, c2);
  del.DeleteChunk(ws1_, Id(0xee));  // not stored: a no-op
  ASSERT_OK(Write(del));
  EXPECT_FALSE(*store().HasChunk(ws1_, c2));

  WriteBatch orphan;
  orphan.PutChunk(Id(0x77), c1, B("x"));
  EXPECT_EQ(Write(orphan).code(), Code::kFailedPrecondition);

  WriteBatch drop;
  drop.DeleteWorkspace(ws1_);
  ASSERT_OK(Write(drop));
  WriteBatch again;
  again.PutWorkspace(ws1_, B("fresh"));
  ASSERT_OK(Write(again));
  EXPECT_FALSE(*store().HasChunk(ws1_, c1)) << "deleting a workspace deletes its chunks";
}

TEST_P(StoreTest, AFailedBatchStoresNoChunk) {
  WriteBatch b;
  b.PutWorkspace(ws1_, B("w"));
  ASSERT_OK(Write(b));
  WriteBatch failing;
  failing.PutChunk(ws1_, Id(0xc1), B("sealed"));
  failing.PutRecord(Id(0x55), B("k"), B("v"));  // no such workspace: the batch fails
  EXPECT_FALSE(Write(failing).ok());
  Reopen();
  EXPECT_FALSE(*store().HasChunk(ws1_, Id(0xc1)));
}

TEST_P(StoreTest, CheckpointsListInInsertionOrderPerWorkspaceAndGoWithIt) {
  const Hash32 c1 = Id(0xd1), c2 = Id(0xd2), c3 = Id(0xd3), c4 = Id(0xd4);
  WriteBatch b;
  b.PutWorkspace(ws1_, B("w"));
  b.PutWorkspace(ws2_, B("w"));
  // Ids out of byte order, so that id order and insertion order differ.
  b.PutCheckpoint(ws1_, c3, B("third id, first in"));
  b.PutCheckpoint(ws2_, c2, B("other workspace"));
  b.PutCheckpoint(ws1_, c1, B(""));
  b.PutCheckpoint(ws1_, c2, B("second"));
  b.PutCheckpoint(ws1_, c3, B("other bytes"));  // same id: already stored, kept as and where it was
  ASSERT_OK(Write(b));
  Reopen();
  EXPECT_EQ(Checkpoints(store(), ws1_), (CheckpointList{{c3, 18}, {c1, 0}, {c2, 6}}));
  EXPECT_EQ(Checkpoints(store(), ws2_), (CheckpointList{{c2, 15}}));
  EXPECT_EQ(CheckpointBytes(store(), ws1_, c3), "third id, first in");
  EXPECT_EQ(CheckpointBytes(store(), ws1_, c1), "") << "empty bytes, present";
  EXPECT_EQ(CheckpointBytes(store(), ws2_, c2), "other workspace");
  EXPECT_EQ(CheckpointBytes(store(), ws2_, c1), "<missing>")
      << "checkpoints belong to one workspace";
  EXPECT_EQ(CheckpointBytes(store(), Id(0x99), c1), "<missing>") << "unknown workspace: no error";
  EXPECT_TRUE(Checkpoints(store(), Id(0x99)).empty());

  // A superseded checkpoint goes; one put again after its delete is the newest.
  WriteBatch supersede;
  supersede.DeleteCheckpoint(ws1_, c3);
  supersede.DeleteCheckpoint(ws1_, c4);      // not stored: a no-op
  supersede.DeleteCheckpoint(Id(0x99), c1);  // unknown workspace: a no-op
  supersede.PutCheckpoint(ws1_, c3, B("back"));
  ASSERT_OK(Write(supersede));
  Reopen();
  EXPECT_EQ(Checkpoints(store(), ws1_), (CheckpointList{{c1, 0}, {c2, 6}, {c3, 4}}));
  EXPECT_EQ(CheckpointBytes(store(), ws1_, c3), "back");

  // Deleting the newest and then adding one: the new one is still after all the others (SQLite
  // reuses the freed rowid, which must not matter).
  WriteBatch newest;
  newest.DeleteCheckpoint(ws1_, c3);
  ASSERT_OK(Write(newest));
  WriteBatch after;
  after.PutCheckpoint(ws1_, c4, B("four"));
  after.PutCheckpoint(ws2_, c1, B("one"));
  ASSERT_OK(Write(after));
  Reopen();
  EXPECT_EQ(Checkpoints(store(), ws1_), (CheckpointList{{c1, 0}, {c2, 6}, {c4, 4}}));
  EXPECT_EQ(Checkpoints(store(), ws2_), (CheckpointList{{c2, 15}, {c1, 3}}));

  WriteBatch orphan;
  orphan.PutCheckpoint(Id(0x77), c1, B("x"));
  Status s = Write(orphan);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();

  WriteBatch drop;
  drop.DeleteWorkspace(ws1_);
  drop.PutWorkspace(ws1_, B("fresh"));
  ASSERT_OK(Write(drop));
  Reopen();
  EXPECT_TRUE(Checkpoints(store(), ws1_).empty()) << "deleting a workspace deletes its checkpoints";
  EXPECT_EQ(CheckpointBytes(store(), ws1_, c4), "<missing>");
  EXPECT_EQ(Checkpoints(store(), ws2_).size(), 2u);
}

TEST_P(StoreTest, SizeBytesCountsCheckpoints) {
  WriteBatch b;
  b.PutWorkspace(ws1_, B("w"));
  ASSERT_OK(Write(b));
  auto before = store().SizeBytes();
  ASSERT_OK(before.status());
  WriteBatch put;
  put.PutCheckpoint(ws1_, Id(0xd1), Bytes(256 * 1024, 0x5a));
  ASSERT_OK(Write(put));
  auto after = store().SizeBytes();
  ASSERT_OK(after.status());
  EXPECT_GE(*after, *before + 256 * 1024);
  EXPECT_EQ(Checkpoints(store(), ws1_), (CheckpointList{{Id(0xd1), 256 * 1024}}));
}

TEST_P(StoreTest, DeleteDeltasUpToPrunesOneFeedUpToTheSeq) {
  const Hash32 a = Id(0xa1), other = Id(0xa2);
  WriteBatch b;
  b.PutWorkspace(ws1_, B("w"));
  b.PutWorkspace(ws2_, B("w"));
  for (uint64_t seq = 0; seq <= 12; ++seq) {
    b.PutDelta(Delta(ws1_, 0xa1, seq, static_cast<uint8_t>(seq), "a" + std::to_string(seq)));
    b.PutDelta(Delta(ws1_, 0xa2, seq, static_cast<uint8_t>(seq), "o" + std::to_string(seq)));
    b.PutDelta(Delta(ws2_, 0xa1, seq, static_cast<uint8_t>(seq), "w" + std::to_string(seq)));
  }
  // An author whose id sorts right after a's, so a range that overshot the feed would show.
  Hash32 neighbour = a;
  neighbour[31] = 0xa2;
  b.PutDelta(DeltaRow{ws1_, neighbour, 1, Id(0x01), B("neighbour"), 0});
  ASSERT_OK(Write(b));

  const auto seqs = [&](const WorkspaceId& ws, const Hash32& author) {
    std::vector<uint64_t> out;
    for (const DeltaRow& d : Deltas(store(), ws)) {
      if (d.author == author) out.push_back(d.seq);
    }
    return out;
  };
  using Seqs = std::vector<uint64_t>;
  const Seqs all = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

  WriteBatch prune;
  prune.DeleteDeltasUpTo(ws1_, a, 9);           // numerically, not as text: 10, 11 and 12 stay
  prune.DeleteDeltasUpTo(ws1_, Id(0xee), 100);  // no such author: a no-op
  prune.DeleteDeltasUpTo(Id(0x99), a, 100);     // unknown workspace: a no-op
  ASSERT_OK(Write(prune));
  Reopen();
  EXPECT_EQ(seqs(ws1_, a), (Seqs{10, 11, 12}));
  EXPECT_EQ(seqs(ws1_, other), all) << "another author's feed";
  EXPECT_EQ(seqs(ws2_, a), all) << "the same author in another workspace";
  EXPECT_EQ(Deltas(store(), ws1_).size(), 3u + all.size() + 1u) << "the neighbour feed stays";
  EXPECT_FALSE(store().GetDelta(ws1_, a, 9)->has_value());
  ASSERT_TRUE(store().GetDelta(ws1_, a, 10)->has_value());
  EXPECT_EQ(ToString(store().GetDelta(ws1_, a, 10)->value().bytes), "a10");

  WriteBatch again;
  again.DeleteDeltasUpTo(ws1_, a, 9);  // nothing left under it: a no-op
  again.DeleteDeltasUpTo(ws1_, other, 0);
  ASSERT_OK(Write(again));
  EXPECT_EQ(seqs(ws1_, a), (Seqs{10, 11, 12}));
  EXPECT_EQ(seqs(ws1_, other), (Seqs{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));

  // A pruned delta is no longer there to set a status on; put again, it is stored again.
  WriteBatch status;
  status.SetDeltaStatus(ws1_, a, 3, 7);
  EXPECT_EQ(Write(status).code(), Code::kNotFound);
  WriteBatch restore;
  restore.PutDelta(Delta(ws1_, 0xa1, 3, 0x33, "back"));
  ASSERT_OK(Write(restore));
  EXPECT_EQ(seqs(ws1_, a), (Seqs{3, 10, 11, 12}));

  WriteBatch whole;
  whole.DeleteDeltasUpTo(ws1_, a, uint64_t{1} << 62);
  ASSERT_OK(Write(whole));
  Reopen();
  EXPECT_TRUE(seqs(ws1_, a).empty());
  EXPECT_EQ(seqs(ws2_, a), all);
}

// Not a timed assertion (machines vary): prints the time for information.
TEST_P(StoreTest, PruningA100kDeltaFeed) {
  constexpr uint64_t kDeltas = 100'000;
  WriteBatch b;
  b.PutWorkspace(ws1_, B("w"));
  for (uint64_t seq = 1; seq <= kDeltas; ++seq) {
    b.PutDelta(DeltaRow{ws1_, Id(0xa1), seq, Id(static_cast<uint8_t>(seq)), B("delta body"), 0});
  }
  b.PutDelta(Delta(ws1_, 0xa2, 1, 0x21, "other feed"));
  ASSERT_OK(Write(b));
  WriteBatch prune;
  prune.DeleteDeltasUpTo(ws1_, Id(0xa1), kDeltas - 10);
  auto start = std::chrono::steady_clock::now();
  ASSERT_OK(Write(prune));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  std::cout << "[   info   ] " << (GetParam() == Impl::kMemory ? "memory" : "sqlite")
            << ": pruning " << kDeltas - 10 << " deltas of a feed took " << ms << " ms\n";
  const std::vector<DeltaRow> left = Deltas(store(), ws1_);
  ASSERT_EQ(left.size(), 11u);
  EXPECT_EQ(left.front().seq, kDeltas - 9);
  EXPECT_EQ(left[9].seq, kDeltas);
  EXPECT_EQ(left[10].author, Id(0xa2));
}

TEST_P(StoreTest, DeleteWorkspaceRemovesAllItsRowsAndOnlyThose) {
  WriteBatch b;
  Fill(b, ws1_, "one");
  Fill(b, ws2_, "two");
  ASSERT_OK(Write(b));
  const std::string ws2_before = DumpRows(store(), ws2_, {"m"});

  WriteBatch del;
  del.DeleteWorkspace(ws1_);
  del.DeleteWorkspace(Id(0x77));  // never stored: a no-op
  ASSERT_OK(Write(del));
  Reopen();
  EXPECT_EQ(Workspaces(store()),
            (std::vector<std::pair<WorkspaceId, std::string>>{{ws2_, "info two"}}));
  EXPECT_EQ(DumpRows(store(), ws2_, {"m"}), ws2_before);
  // Recreating the workspace must not resurrect rows left behind by the delete.
  WriteBatch again;
  again.PutWorkspace(ws1_, B("fresh"));
  ASSERT_OK(Write(again));
  EXPECT_TRUE(Deltas(store(), ws1_).empty());
  EXPECT_TRUE(Records(store(), ws1_).empty());
  EXPECT_TRUE(Pending(store(), ws1_).empty());
  EXPECT_TRUE(Evidence(store(), ws1_).empty());
  EXPECT_EQ(Meta(store(), ws1_, "m"), "<missing>");
  EXPECT_TRUE(Checkpoints(store(), ws1_).empty());
  EXPECT_EQ(CheckpointBytes(store(), ws1_, Id(0xcf)), "<missing>");
}

TEST_P(StoreTest, ConflictingDeltaFailsTheWholeBatchWithCorruption) {
  WriteBatch setup;
  Fill(setup, ws1_, "before");
  setup.PutDelta(Delta(ws1_, 0xa2, 1, 0x21, "pruned, then restored"));
  setup.PutDelta(Delta(ws1_, 0xa2, 2, 0x22, "pruned, then restored"));
  ASSERT_OK(Write(setup));
  const std::vector<WorkspaceId> all = {ws1_, ws2_};
  const std::string before = Dump(store(), all, {"m", "n"});

  WriteBatch b;
  b.PutWorkspace(ws2_, B("new workspace"));
  b.PutRecord(ws2_, B("k"), B("v"));
  b.PutWorkspace(ws1_, B("info changed"));
  b.PutRecord(ws1_, B("key before"), B("changed"));
  b.PutRecord(ws1_, B("added"), B("x"));
  b.DeleteRecord(ws1_, B("key before"));
  b.PutMeta(ws1_, "m", B("changed"));
  b.PutMeta(ws1_, "n", B("added"));
  b.ClearPending(ws1_, 100);
  b.PutPending(ws1_, 2, B("added"));
  b.PutEvidence(Fork(ws1_, 5, "added"));
  b.SetDeltaStatus(ws1_, Id(0xa1), 1, 99);
  b.PutDelta(Delta(ws1_, 0xa1, 2, 0x22, "new seq"));
  b.ClearRecords(ws1_);
  b.PutCheckpoint(ws1_, Id(0xd1), B("added"));
  b.DeleteCheckpoint(ws1_, Id(0xcf));
  b.PutCheckpoint(ws1_, Id(0xcf), B("put back, now last"));
  b.DeleteDeltasUpTo(ws1_, Id(0xa2), 2);
  b.PutDelta(Delta(ws1_, 0xa1, 1, 0x99, "fork of seq 1"));  // stored seq 1 has hash 0x11
  b.PutRecord(ws1_, B("after"), B("x"));
  Status s = Write(b);
  EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
  EXPECT_EQ(s.where(), HexEncode(Id(0xa1)).substr(0, 8) + "/1");

  EXPECT_EQ(Dump(store(), all, {"m", "n"}), before);
  Reopen();
  EXPECT_EQ(Dump(store(), all, {"m", "n"}), before);

  // The failed batch must leave the store usable (no transaction or statement left open).
  WriteBatch next;
  next.PutRecord(ws1_, B("after failure"), B("ok"));
  ASSERT_OK(Write(next));
  EXPECT_EQ(Records(store(), ws1_).size(), 2u);
}

TEST_P(StoreTest, RowsNeedTheirWorkspaceToBeStored) {
  const WorkspaceId unknown = Id(0x66);
  std::vector<WriteBatch> batches(7);
  batches[0].PutDelta(Delta(unknown, 0xa1, 1, 0x11, "d"));
  batches[1].PutRecord(unknown, B("k"), B("v"));
  batches[2].PutPending(unknown, 1, B("op"));
  batches[3].PutEvidence(Fork(unknown, 1, "r"));
  batches[4].PutMeta(unknown, "m", B("v"));
  batches[5].PutCheckpoint(unknown, Id(0xcf), B("checkpoint"));
  batches[6].PutChunk(unknown, Id(0xc1), B("chunk"));
  for (size_t i = 0; i < batches.size(); ++i) {
    Status s = Write(batches[i]);
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << i << ": " << s.ToString();
  }

  WriteBatch created_first;
  created_first.PutWorkspace(ws1_, B("w"));
  created_first.PutRecord(ws1_, B("k"), B("v"));
  ASSERT_OK(Write(created_first));

  WriteBatch deleted_first;
  deleted_first.DeleteWorkspace(ws1_);
  deleted_first.PutRecord(ws1_, B("k2"), B("v"));
  Status s = Write(deleted_first);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  Reopen();
  EXPECT_EQ(Workspaces(store()).size(), 1u) << "the delete was rolled back with the batch";
  EXPECT_EQ(Records(store(), ws1_), (RecordList{{"k", "v"}}));
}

TEST_P(StoreTest, ValuesAboveInt64MaxFailTheBatch) {
  const uint64_t too_big = uint64_t{1} << 63;
  std::vector<WriteBatch> batches(5);
  for (WriteBatch& b : batches) b.PutWorkspace(ws1_, B("w"));
  batches[0].PutDelta(Delta(ws1_, 0xa1, too_big, 0x11, "d"));
  batches[1].PutPending(ws1_, too_big, B("op"));
  EvidenceRow late = Fork(ws1_, 1, "r");
  late.received_ms = too_big;
  batches[2].PutEvidence(late);
  batches[3].DeleteDeltasUpTo(ws1_, Id(0xa1), too_big);
  batches[4].SetDeltaStatus(ws1_, Id(0xa1), too_big, 1);
  for (size_t i = 0; i < batches.size(); ++i) {
    Status s = Write(batches[i]);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << i << ": " << s.ToString();
  }
  EXPECT_TRUE(Workspaces(store()).empty());
}

TEST_P(StoreTest, EmptyBatchIsOk) {
  WriteBatch b;
  EXPECT_TRUE(b.empty());
  ASSERT_OK(Write(b));
  b.PutWorkspace(ws1_, B("w"));
  b.PutMeta(ws1_, "m", B("v"));
  EXPECT_EQ(b.size(), 2u);
  b.Clear();
  EXPECT_TRUE(b.empty());
  ASSERT_OK(Write(b));
  EXPECT_TRUE(Workspaces(store()).empty());
}

TEST_P(StoreTest, SizeBytesGrowsWithStoredData) {
  auto before = store().SizeBytes();
  ASSERT_OK(before.status());
  WriteBatch b;
  b.PutWorkspace(ws1_, B("w"));
  b.PutDelta(DeltaRow{ws1_, Id(0xa1), 1, Id(0x11), Bytes(256 * 1024, 0x5a), 0});
  ASSERT_OK(Write(b));
  auto after = store().SizeBytes();
  ASSERT_OK(after.status());
  EXPECT_GE(*after, *before + 256 * 1024);
}

TEST_P(StoreTest, CompactAndSpaceReportAStoreWithNothingToGiveBack) {
  WriteBatch b;
  Fill(b, ws1_, "a");
  ASSERT_OK(Write(b));
  auto space = store().Space();
  ASSERT_OK(space.status());
  EXPECT_TRUE(space->compactable);
  EXPECT_EQ(space->file_bytes, *store().SizeBytes());
  auto compacted = store().Compact(uint64_t{8} << 20);
  ASSERT_OK(compacted.status());
  EXPECT_EQ(compacted->pages_freed, 0u);
  EXPECT_EQ(compacted->bytes_freed(), 0u);
  if (GetParam() == Impl::kMemory) {
    EXPECT_EQ(space->free_bytes, 0u);
    EXPECT_EQ(compacted->page_size, 0u);
    EXPECT_EQ(compacted->free_bytes(), 0u);
  }
  EXPECT_EQ(Meta(store(), ws1_, "m"), "meta a");
}

// Not a timed assertion (machines vary): prints the time for information.
TEST_P(StoreTest, BulkWriteOf100kRowsInOneBatch) {
  constexpr int kRows = 100'000;
  WriteBatch b;
  b.PutWorkspace(ws1_, B("w"));
  char key[16];
  for (int i = 0; i < kRows; ++i) {
    std::snprintf(key, sizeof key, "k%07d", i);
    b.PutRecord(ws1_, AsBytes(key), AsBytes("state-8b"));
  }
  auto start = std::chrono::steady_clock::now();
  ASSERT_OK(Write(b));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  std::cout << "[   info   ] " << (GetParam() == Impl::kMemory ? "memory" : "sqlite")
            << ": Write of a " << kRows << "-row batch took " << ms << " ms\n";
  int count = 0;
  ASSERT_OK(store().ForEachRecord(ws1_, [&](ByteView, ByteView) { return ++count, true; }));
  EXPECT_EQ(count, kRows);
}

// ---------------------------------------------------------------------------------------------
// SQLite files: versions, foreign files, damage.

class SqliteFileTest : public ::testing::Test {
 protected:
  TempDir dir_;
  const std::string path_ = dir_.File("store.db");  // after dir_: members initialize in order

  Result<std::unique_ptr<Store>> Open(Options options = {}) {
    return OpenSqliteStore(path_, options);
  }

  void CreateStoreWithData() {
    auto opened = Open();
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    WriteBatch b;
    Fill(b, Id(0x01), "kept");
    for (int i = 0; i < 2000; ++i) {
      b.PutRecord(Id(0x01), B("record " + std::to_string(i)), Bytes(100, 0x42));
    }
    ASSERT_OK((*opened)->Write(b));
  }
};

TEST_F(SqliteFileTest, ReopenKeepsDataAtTheCurrentSchemaVersionInWalMode) {
  CreateStoreWithData();
  EXPECT_GE(CurrentSchemaVersion(), 1);
  {
    RawDb raw(path_);
    EXPECT_EQ(raw.Query("PRAGMA user_version"), std::to_string(CurrentSchemaVersion()));
    EXPECT_EQ(raw.Query("PRAGMA journal_mode"), "wal");
    EXPECT_EQ(raw.Query("PRAGMA integrity_check"), "ok");
  }
  auto reopened = Open();
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(Meta(**reopened, Id(0x01), "m"), "meta kept");
  EXPECT_EQ(Records(**reopened, Id(0x01)).size(), 2001u);
}

TEST_F(SqliteFileTest, AVersionOneStoreMigratesToChunksKeepingItsData) {
  CreateStoreWithData();
  {
    // What a store written by the release before attachments looks like.
    RawDb raw(path_);
    raw.Exec("DROP TABLE checkpoints");
    raw.Exec("DROP TABLE chunks");
    raw.Exec("PRAGMA user_version = 1");
  }
  auto reopened = Open();
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ(RawDb(path_).Query("PRAGMA user_version"), std::to_string(CurrentSchemaVersion()));
  EXPECT_EQ(Meta(**reopened, Id(0x01), "m"), "meta kept");
  WriteBatch b;
  b.PutChunk(Id(0x01), Id(0xc1), B("sealed"));
  ASSERT_OK((*reopened)->Write(b));
  EXPECT_TRUE(*(*reopened)->HasChunk(Id(0x01), Id(0xc1)));
}

TEST_F(SqliteFileTest, AVersionTwoStoreMigratesToCheckpointsKeepingItsData) {
  CreateStoreWithData();
  std::string schema_of_a_new_store;
  {
    // What a store written by the release before checkpoints looks like, with a chunk and deltas
    // of two feeds in it.
    auto opened = Open();
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    WriteBatch b;
    b.PutChunk(Id(0x01), Id(0xc1), B("sealed"));
    for (uint64_t seq = 2; seq <= 5; ++seq) {
      b.PutDelta(Delta(Id(0x01), 0xa1, seq, static_cast<uint8_t>(seq), "d"));
    }
    b.PutDelta(Delta(Id(0x01), 0xa2, 1, 0x21, "other feed"));
    ASSERT_OK((*opened)->Write(b));
    opened->reset();
    RawDb raw(path_);
    schema_of_a_new_store = raw.Query("SELECT group_concat(sql, ';') FROM sqlite_master");
    raw.Exec("DROP TABLE checkpoints");
    raw.Exec("PRAGMA user_version = 2");
  }
  auto reopened = Open();
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  Store& store = **reopened;
  {
    RawDb raw(path_);
    EXPECT_EQ(raw.Query("PRAGMA user_version"), std::to_string(CurrentSchemaVersion()));
    EXPECT_EQ(raw.Query("SELECT group_concat(sql, ';') FROM sqlite_master"), schema_of_a_new_store);
    EXPECT_EQ(raw.Query("PRAGMA integrity_check"), "ok");
  }
  EXPECT_EQ(Meta(store, Id(0x01), "m"), "meta kept");
  EXPECT_EQ(Records(store, Id(0x01)).size(), 2001u);
  EXPECT_EQ(Deltas(store, Id(0x01)).size(), 6u);
  EXPECT_TRUE(*store.HasChunk(Id(0x01), Id(0xc1)));
  EXPECT_TRUE(Checkpoints(store, Id(0x01)).empty());

  WriteBatch b;
  b.PutCheckpoint(Id(0x01), Id(0xd1), B("checkpoint"));
  b.DeleteDeltasUpTo(Id(0x01), Id(0xa1), 4);
  ASSERT_OK(store.Write(b));
  EXPECT_EQ(Checkpoints(store, Id(0x01)), (CheckpointList{{Id(0xd1), 10}}));
  EXPECT_EQ(Deltas(store, Id(0x01)).size(), 2u);
  WriteBatch orphan;
  orphan.PutCheckpoint(Id(0x77), Id(0xd1), B("x"));
  EXPECT_EQ(store.Write(orphan).code(), Code::kFailedPrecondition) << "the foreign key holds";
  WriteBatch drop;
  drop.DeleteWorkspace(Id(0x01));
  ASSERT_OK(store.Write(drop));
  EXPECT_EQ(RawDb(path_).Query("SELECT count(*) FROM checkpoints"), "0") << "and cascades";
}

TEST_F(SqliteFileTest, NewerSchemaVersionIsRefusedNamingBothVersions) {
  CreateStoreWithData();
  RawDb(path_).Exec("PRAGMA user_version = 7");
  auto opened = Open();
  ASSERT_FALSE(opened.ok());
  const Status& s = opened.status();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("store schema version 7 is newer than this grove (knows up to " +
                             std::to_string(CurrentSchemaVersion()) + ")"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(RawDb(path_).Query("PRAGMA user_version"), "7") << "a refused file is not migrated";
}

TEST_F(SqliteFileTest, RandomBytesAreRefusedAsCorruptionAndLeftAlone) {
  Bytes noise(16 * 1024);
  SeededRandom(99).Fill(noise);
  WriteFile(path_, AsChars(noise));
  auto opened = Open();
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kCorruption) << opened.status().ToString();
  EXPECT_NE(opened.status().message().find(path_), std::string::npos);
  EXPECT_NE(opened.status().message().find("not a Grove store"), std::string::npos)
      << opened.status().message();
  EXPECT_EQ(ReadFile(path_), AsChars(noise));
}

TEST_F(SqliteFileTest, OtherSqliteDatabaseIsRefusedAsCorruption) {
  RawDb(path_).Exec("CREATE TABLE contacts (name TEXT)");
  auto opened = Open();
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kCorruption) << opened.status().ToString();
  EXPECT_NE(opened.status().message().find("not a Grove store"), std::string::npos);
  EXPECT_EQ(RawDb(path_).Query("SELECT group_concat(name) FROM sqlite_master"), "contacts");
}

TEST_F(SqliteFileTest, DamagedPagesAreRefusedAsCorruption) {
  CreateStoreWithData();
  std::string file = ReadFile(path_);
  ASSERT_GT(file.size(), 16u * 4096) << "expected a multi-page database";
  // Keep page 1 (header and schema) so the file still looks like ours; garble a b-tree page.
  const size_t page = 4096;
  for (size_t i = 4 * page; i < 5 * page; ++i) file[i] = static_cast<char>(i * 31 + 7);
  WriteFile(path_, file);
  auto opened = Open();
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kCorruption) << opened.status().ToString();
}

TEST_F(SqliteFileTest, EmptyExistingFileBecomesAStore) {
  WriteFile(path_, "");
  auto opened = Open();
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(RawDb(path_).Query("PRAGMA user_version"), std::to_string(CurrentSchemaVersion()));
}

TEST_F(SqliteFileTest, MissingDirectoryIsIOErrorNamingThePath) {
  TempDir dir;
  const std::string path = dir.File("no/such/dir/store.db");
  auto opened = OpenSqliteStore(path, Options{});
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kIOError) << opened.status().ToString();
  EXPECT_NE(opened.status().message().find(path), std::string::npos) << opened.status().message();
}

TEST_F(SqliteFileTest, CreateIfMissingFalseRefusesToCreate) {
  Options options;
  options.create_if_missing = false;
  auto opened = Open(options);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Code::kNotFound) << opened.status().ToString();
  EXPECT_FALSE(fs::exists(path_));

  CreateStoreWithData();
  auto existing = Open(options);
  EXPECT_TRUE(existing.ok()) << existing.status().ToString();
}

TEST_F(SqliteFileTest, SyncFullStoresWork) {
  Options options;
  options.sync_full = true;
  auto opened = Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  WriteBatch b;
  Fill(b, Id(0x01), "full");
  ASSERT_OK((*opened)->Write(b));
  opened = Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(Meta(**opened, Id(0x01), "m"), "meta full");
}

// ---------------------------------------------------------------------------------------------
// Compaction: free pages go back to the file system.

class CompactTest : public SqliteFileTest {
 protected:
  static constexpr uint64_t kMiB = uint64_t{1} << 20;

  // The main file plus its log, as the file system sees them.
  uint64_t OnDisk() {
    std::error_code ec;
    uint64_t size = fs::file_size(path_, ec);
    uint64_t wal = fs::file_size(path_ + "-wal", ec);
    return size + (ec ? 0 : wal);
  }

  // `mib` MiB of deltas and records in ws, written in batches of about 1 MiB.
  static void WriteMiB(Store& store, const WorkspaceId& ws, int mib) {
    WriteBatch b;
    b.PutWorkspace(ws, B("big"));
    ASSERT_OK(store.Write(b));
    for (int i = 0; i < mib; ++i) {
      b.Clear();
      for (int j = 0; j < 128; ++j) {  // 128 x 4 KiB delta + 128 x 4 KiB record = 1 MiB
        const uint64_t n = static_cast<uint64_t>(i) * 128 + static_cast<uint64_t>(j);
        b.PutDelta(DeltaRow{ws, Id(0xa1), n, Id(0x11), Bytes(4096, static_cast<uint8_t>(n)), 0});
        b.PutRecord(ws, B("r" + std::to_string(n)), Bytes(4096, 0x5a));
      }
      ASSERT_OK(store.Write(b));
    }
  }

  // Calls Compact with max_bytes until it frees nothing; checks that no call frees more than that.
  static int CompactFully(Store& store, uint64_t max_bytes) {
    int calls = 0;
    for (;;) {
      auto r = store.Compact(max_bytes);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok() || r->pages_freed == 0) return calls;
      EXPECT_LE(r->bytes_freed(), max_bytes);
      EXPECT_GT(r->page_size, 0u);
      ++calls;
      if (calls > 1000) {
        ADD_FAILURE() << "Compact never finishes";
        return calls;
      }
    }
  }
};

TEST_F(CompactTest, ANewStoreIsIncrementalAutoVacuumFromTheStart) {
  ASSERT_OK(Open().status());
  EXPECT_EQ(RawDb(path_).Query("PRAGMA auto_vacuum"), "2");  // INCREMENTAL
}

TEST_F(CompactTest, DeletedWorkspaceIsGivenBackInBoundedStepsUntilTheFileIsNearlyFresh) {
  auto opened = Open();
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  WriteBatch keep;
  Fill(keep, Id(0x01), "kept");
  ASSERT_OK(store.Write(keep));
  ASSERT_OK(store.Compact(kMiB).status());
  const uint64_t fresh = OnDisk();

  WriteMiB(store, Id(0x02), 20);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  RawDb(path_).Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const uint64_t peak = OnDisk();
  EXPECT_GE(peak, 20 * kMiB);

  WriteBatch drop;
  drop.DeleteWorkspace(Id(0x02));
  ASSERT_OK(store.Write(drop));
  auto space = store.Space();
  ASSERT_OK(space.status());
  EXPECT_TRUE(space->compactable);
  EXPECT_GE(space->free_bytes, 19 * kMiB);

  constexpr uint64_t kStep = 2 * kMiB;
  const int calls = CompactFully(store, kStep);
  EXPECT_GE(calls, static_cast<int>(space->free_bytes / kStep));
  EXPECT_LE(calls, static_cast<int>(space->free_bytes / kStep) + 1);

  auto after = store.Space();
  ASSERT_OK(after.status());
  EXPECT_EQ(after->free_bytes, 0u);
  const uint64_t end = OnDisk();
  EXPECT_EQ(after->file_bytes, end);
  EXPECT_LT(end, peak / 10);
  EXPECT_LE(end, fresh + 64 * 1024) << "fresh " << fresh << ", peak " << peak;
  EXPECT_EQ(Meta(store, Id(0x01), "m"), "meta kept");
  EXPECT_EQ(RawDb(path_).Query("PRAGMA integrity_check"), "ok");
}

TEST_F(CompactTest, PrunedDeltasAreGivenBackAndTheFileShrinks) {
  auto opened = Open();
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  const WorkspaceId ws = Id(0x02);
  const Hash32 author = Id(0xa1);
  constexpr uint64_t kDeltas = 20 * 256;  // 20 MiB of 4 KiB deltas
  WriteBatch b;
  b.PutWorkspace(ws, B("pruned"));
  ASSERT_OK(store.Write(b));
  b.Clear();
  for (uint64_t seq = 1; seq <= kDeltas; ++seq) {
    b.PutDelta(DeltaRow{ws, author, seq, Id(0x11), Bytes(4096, static_cast<uint8_t>(seq)), 0});
    if (seq % 256 == 0) {
      ASSERT_OK(store.Write(b));
      b.Clear();
    }
  }
  RawDb(path_).Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const uint64_t peak = OnDisk();
  EXPECT_GE(peak, 20 * kMiB);

  // A checkpoint replaces the history under it; the newest 10% of the feed stays.
  WriteBatch prune;
  prune.PutCheckpoint(ws, Id(0xd1), Bytes(64 * 1024, 0x42));
  prune.DeleteDeltasUpTo(ws, author, kDeltas - kDeltas / 10);
  ASSERT_OK(store.Write(prune));
  auto space = store.Space();
  ASSERT_OK(space.status());
  EXPECT_TRUE(space->compactable);
  EXPECT_GE(space->free_bytes, 17 * kMiB);

  EXPECT_GE(CompactFully(store, 4 * kMiB), 5);
  auto after = store.Space();
  ASSERT_OK(after.status());
  EXPECT_EQ(after->free_bytes, 0u);
  const uint64_t end = OnDisk();
  EXPECT_EQ(after->file_bytes, end);
  EXPECT_EQ(*store.SizeBytes(), end);
  EXPECT_LT(end, peak / 5) << "peak " << peak;
  EXPECT_GE(end, kDeltas / 10 * 4096) << "the kept deltas are still there";

  const std::vector<DeltaRow> left = Deltas(store, ws);
  ASSERT_EQ(left.size(), kDeltas / 10);
  EXPECT_EQ(left.front().seq, kDeltas - kDeltas / 10 + 1);
  EXPECT_EQ(left.back().bytes, Bytes(4096, static_cast<uint8_t>(kDeltas)));
  EXPECT_EQ(Checkpoints(store, ws), (CheckpointList{{Id(0xd1), 64 * 1024}}));
  EXPECT_EQ(RawDb(path_).Query("PRAGMA integrity_check"), "ok");
}

TEST_F(CompactTest, AMaxBelowOnePageDoesNothing) {
  auto opened = Open();
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  WriteMiB(**opened, Id(0x02), 1);
  WriteBatch drop;
  drop.DeleteWorkspace(Id(0x02));
  ASSERT_OK((*opened)->Write(drop));
  auto r = (*opened)->Compact(100);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->pages_freed, 0u);
  EXPECT_GT(r->free_pages, 0u);
}

TEST_F(CompactTest, AStoreMadeWithoutAutoVacuumIsConvertedAtOpenKeepingItsData) {
  CreateStoreWithData();
  std::string before;
  {
    auto opened = Open();
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    WriteMiB(**opened, Id(0x02), 4);
    before = Dump(**opened, {Id(0x01), Id(0x02)}, {"m"});
  }
  {
    // What a store written before compaction existed looks like.
    RawDb raw(path_);
    raw.Exec("PRAGMA auto_vacuum = NONE");
    raw.Exec("VACUUM");
    ASSERT_EQ(raw.Query("PRAGMA auto_vacuum"), "0");
  }
  auto opened = Open();
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  EXPECT_EQ(RawDb(path_).Query("PRAGMA auto_vacuum"), "2");  // INCREMENTAL
  EXPECT_EQ(Dump(store, {Id(0x01), Id(0x02)}, {"m"}), before);
  EXPECT_EQ(Records(store, Id(0x01)).size(), 2001u);
  EXPECT_EQ(RawDb(path_).Query("PRAGMA integrity_check"), "ok");

  const uint64_t full = OnDisk();
  WriteBatch drop;
  drop.DeleteWorkspace(Id(0x02));
  ASSERT_OK(store.Write(drop));
  auto space = store.Space();
  ASSERT_OK(space.status());
  EXPECT_TRUE(space->compactable);
  EXPECT_GE(space->free_bytes, 3 * kMiB);
  EXPECT_GE(CompactFully(store, 8 * kMiB), 1);
  EXPECT_LT(OnDisk(), full - 3 * kMiB);
  EXPECT_EQ(Meta(store, Id(0x01), "m"), "meta kept");
}

TEST(CompactionBudgetTest, CompactsOnlyWhenFreeSpaceIsAShareAndWorthACall) {
  constexpr uint64_t kMiB = uint64_t{1} << 20;
  // Under 1 MiB free: never, even if it is all of the file.
  EXPECT_EQ(CompactionBudget({.file_bytes = 2 * kMiB, .free_bytes = kMiB}), 0u);
  // Over 1 MiB but not over 25% of the file.
  EXPECT_EQ(CompactionBudget({.file_bytes = 100 * kMiB, .free_bytes = 25 * kMiB}), 0u);
  // Over both: all of it when it is under the per-call bound...
  EXPECT_EQ(CompactionBudget({.file_bytes = 8 * kMiB, .free_bytes = 3 * kMiB}), 3 * kMiB);
  // ...and the bound when it is over.
  EXPECT_EQ(CompactionBudget({.file_bytes = 100 * kMiB, .free_bytes = 60 * kMiB}), 8 * kMiB);
  // A store that cannot compact is not asked to.
  EXPECT_EQ(
      CompactionBudget({.file_bytes = 100 * kMiB, .free_bytes = 60 * kMiB, .compactable = false}),
      0u);
  // The policy's knobs are honoured.
  const CompactionPolicy small{.min_free_bytes = 0, .min_free_percent = 0, .max_bytes_per_call = 7};
  EXPECT_EQ(CompactionBudget({.file_bytes = 100, .free_bytes = 50}, small), 7u);
  EXPECT_EQ(CompactionBudget({.file_bytes = 100, .free_bytes = 0}, small), 0u);
}

// ---------------------------------------------------------------------------------------------
// Crash safety: a writer process is killed with SIGKILL at random points.

constexpr int kRecordsPerBatch = 50;
const WorkspaceId kCrashWs = Id(0xc5);
const Hash32 kCrashAuthor = Id(0xa7);

Hash32 BatchHash(uint64_t n) {
  Hash32 h = Id(0x5a);
  for (int i = 0; i < 8; ++i) h[i] = static_cast<uint8_t>(n >> (8 * i));
  return h;
}

// Zero-padded so that key order is batch order.
std::string RecordKey(uint64_t n, int i) {
  char key[32];
  std::snprintf(key, sizeof key, "b%010llu/r%02d", static_cast<unsigned long long>(n), i);
  return key;
}

std::string RecordState(uint64_t n, int i) {
  return "state of record " + std::to_string(i) + " in batch " + std::to_string(n) +
         std::string(64, '.');
}

Bytes EncodeCounter(uint64_t n) {
  Bytes out;
  PutVarint(out, n);
  return out;
}

WriteBatch CrashBatch(uint64_t n) {
  WriteBatch b;
  b.PutWorkspace(kCrashWs, B("crash test"));
  b.PutDelta(DeltaRow{kCrashWs, kCrashAuthor, n, BatchHash(n), B("delta " + std::to_string(n)), 0});
  for (int i = 0; i < kRecordsPerBatch; ++i) {
    b.PutRecord(kCrashWs, B(RecordKey(n, i)), B(RecordState(n, i)));
  }
  b.PutMeta(kCrashWs, "counter", EncodeCounter(n));
  return b;
}

// 0 when the counter was never written.
Result<uint64_t> ReadCounter(Store& store) {
  GROVE_ASSIGN_OR_RETURN(std::optional<Bytes> value, store.GetMeta(kCrashWs, "counter"));
  if (!value) return uint64_t{0};
  size_t pos = 0;
  std::optional<uint64_t> n = GetVarint(*value, pos);
  if (!n || pos != value->size()) return Corruption("bad counter");
  return *n;
}

// The child: continues the batch sequence from the stored counter and acknowledges each batch
// on ack_fd once Write has returned OK. Runs until killed; never returns into gtest.
[[noreturn]] void CrashWriter(const std::string& path, int ack_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a test runner that died
  alarm(20);                         // backstop should the parent never kill us
  auto opened = OpenSqliteStore(path, Options{});
  if (!opened.ok()) {
    std::fprintf(stderr, "crash writer: %s\n", opened.status().ToString().c_str());
    _exit(2);
  }
  auto counter = ReadCounter(**opened);
  if (!counter.ok()) _exit(3);
  for (uint64_t n = *counter + 1;; ++n) {
    Status s = (*opened)->Write(CrashBatch(n));
    if (!s.ok()) {
      std::fprintf(stderr, "crash writer: batch %llu: %s\n", static_cast<unsigned long long>(n),
                   s.ToString().c_str());
      _exit(4);
    }
    if (write(ack_fd, &n, sizeof n) != static_cast<ssize_t>(sizeof n)) _exit(5);
  }
}

// Collects the writer's acknowledgements (8-byte batch numbers; pipe writes that small are
// atomic, but reads may still split them, hence the buffer).
class Acks {
 public:
  explicit Acks(int fd) : fd_(fd) {}

  // Waits up to timeout_ms for data; false on timeout or end of stream.
  bool ReadSome(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char chunk[4096];
    ssize_t got = read(fd_, chunk, sizeof chunk);
    if (got <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(got));
    while (buffer_.size() >= sizeof(uint64_t)) {
      uint64_t n;
      std::memcpy(&n, buffer_.data(), sizeof n);
      buffer_.erase(0, sizeof n);
      EXPECT_TRUE(last_ == 0 || n == last_ + 1) << "acks out of sequence: " << last_ << ", " << n;
      last_ = n;
      ++count_;
    }
    return true;
  }

  // Reads to end of stream: everything written before the writer died was acknowledged.
  void Drain() {
    while (ReadSome(-1)) {
    }
  }

  uint64_t count() const { return count_; }
  uint64_t last() const { return last_; }

 private:
  int fd_;
  std::string buffer_;
  uint64_t count_ = 0;
  uint64_t last_ = 0;
};

// Forks a writer, lets it acknowledge `wanted` batches (0: kill it while opening or in its first
// batches), waits a further `delay_us` and SIGKILLs it. Returns the last acknowledged batch.
uint64_t RunWriterAndKill(const std::string& path, uint64_t wanted, uint64_t delay_us) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  std::fflush(nullptr);  // do not let the child inherit unflushed output
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    CrashWriter(path, fds[1]);
  }
  EXPECT_GT(pid, 0) << "fork";
  close(fds[1]);
  Acks acks(fds[0]);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (acks.count() < wanted && std::chrono::steady_clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!acks.ReadSome(static_cast<int>(std::max<int64_t>(left.count(), 1)))) break;
  }
  usleep(static_cast<useconds_t>(delay_us));
  kill(pid, SIGKILL);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  acks.Drain();
  close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
      << "the writer stopped on its own (exit status " << WEXITSTATUS(wstatus)
      << "); see its stderr";
  EXPECT_GE(acks.count(), wanted) << "the writer was too slow to acknowledge in 2 s";
  return acks.last();
}

// Every acknowledged batch is fully present, and no batch is partly present: the counter M says
// how many committed, and exactly batches 1..M are there, each complete.
void VerifyAfterCrash(const std::string& path, uint64_t acknowledged) {
  EXPECT_EQ(RawDb(path).Query("PRAGMA integrity_check"), "ok");
  auto opened = OpenSqliteStore(path, Options{});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Store& store = **opened;
  auto counter = ReadCounter(store);
  ASSERT_OK(counter.status());
  const uint64_t committed = *counter;
  EXPECT_GE(committed, acknowledged) << "an acknowledged batch was lost";

  uint64_t seq = 0;
  ASSERT_OK(store.ForEachDelta(kCrashWs, [&](const DeltaRow& row) {
    ++seq;
    EXPECT_EQ(row.seq, seq);
    EXPECT_EQ(row.hash, BatchHash(seq));
    return row.seq == seq;
  }));
  EXPECT_EQ(seq, committed) << "deltas do not match the committed counter";

  uint64_t index = 0;
  ASSERT_OK(store.ForEachRecord(kCrashWs, [&](ByteView key, ByteView state) {
    uint64_t n = index / kRecordsPerBatch + 1;
    int i = static_cast<int>(index % kRecordsPerBatch);
    ++index;
    EXPECT_EQ(AsChars(key), RecordKey(n, i));
    EXPECT_EQ(AsChars(state), RecordState(n, i));
    return AsChars(key) == RecordKey(n, i);
  }));
  EXPECT_EQ(index, committed * kRecordsPerBatch) << "records do not match the committed counter";
}

uint64_t CrashSeed() {
  if (const char* env = std::getenv("SEED")) return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

TEST(StoreCrashTest, KilledWriterLosesNoAcknowledgedBatchAndLeavesNoHalfBatch) {
  const uint64_t seed = CrashSeed();
  std::cout << "[   seed   ] crash test seed " << seed << " (replay the choices with SEED=" << seed
            << ")\n";
  RecordProperty("seed", std::to_string(seed));
  SCOPED_TRACE("SEED=" + std::to_string(seed));
  SeededRandom rng(seed);
  TempDir dir;
  const std::string path = dir.File("crash.db");

  constexpr int kKills = 5;
  uint64_t acknowledged = 0;
  for (int round = 0; round < kKills; ++round) {
    // Sometimes kill before the first acknowledgement: during open, migration or first batch.
    uint64_t wanted = rng.Uniform(4) == 0 ? 0 : 1 + rng.Uniform(150);
    uint64_t delay_us = rng.Uniform(5000);
    uint64_t last = RunWriterAndKill(path, wanted, delay_us);
    acknowledged = std::max(acknowledged, last);
    std::cout << "[   kill   ] round " << round << ": waited for " << wanted << " acks + "
              << delay_us << " us; last acknowledged batch " << last << "\n";
    VerifyAfterCrash(path, acknowledged);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace grove::store
