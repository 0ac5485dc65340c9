// audit::Search against a real PostgreSQL: each filter, their combination, paging that sees every
// entry once, arguments refused by name; and the text form of times.
#include "audit/search.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/status_assert.h"
#include "unit/audit/audit_test_util.h"

namespace grove::audit {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared fixtures

std::vector<uint64_t> Seqs(const SearchPage& page) {
  std::vector<uint64_t> out;
  for (const FoundEntry& f : page.entries) out.push_back(f.entry.seq);
  return out;
}

class AuditSearchTest : public AuditLogTest {
 protected:
  // Fill()'s 12 entries (workspace 07..07), then 3 of another workspace at seqs 12..14.
  void SetUp() override {
    AuditLogTest::SetUp();
    log_ = Fill();
    ASSERT_NE(log_, nullptr);
    std::vector<Entry> other = Entries(100, 3);
    for (Entry& e : other) e.workspace = Bytes(32, 9);
    ASSERT_OK(log_->Append(other));
  }

  std::vector<uint64_t> Find(Query q) {
    Result<SearchPage> page = Search(url_, q);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    return page.ok() ? Seqs(*page) : std::vector<uint64_t>{999};
  }

  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditSearchTest, EachFilterMatchesExactly) {
  Query q;
  q.workspace = Bytes(32, 9);
  EXPECT_EQ(Find(q), (std::vector<uint64_t>{12, 13, 14}));
  q = Query();
  q.record = "order/5";
  EXPECT_EQ(Find(q), (std::vector<uint64_t>{5}));
  q = Query();
  q.device = "device-1";
  EXPECT_EQ(Find(q), (std::vector<uint64_t>{1, 4, 7, 10, 12}));  // i % 3 == 1 (12: i = 100)
  q = Query();
  q.user_name = "alice";
  EXPECT_EQ(Find(q), (std::vector<uint64_t>{1, 3, 5, 7, 9, 11, 13}));
  q = Query();
  q.kind = EntryKind::kRejected;
  EXPECT_EQ(Find(q), (std::vector<uint64_t>{4, 9}));  // i % 5 == 4
  q = Query();
  q.op = "set";
  EXPECT_EQ(Find(q).size(), 15u);
  q.op = "add";
  EXPECT_TRUE(Find(q).empty());
  // received_at of entry i is base + 1001 i: [entry 3, entry 6) holds 3, 4, 5.
  q = Query();
  q.workspace = Bytes(32, 7);
  q.from_ms = MakeEntry(3).received_at_ms;
  q.to_ms = MakeEntry(6).received_at_ms;
  EXPECT_EQ(Find(q), (std::vector<uint64_t>{3, 4, 5}));
  q.from_ms = *q.from_ms + 1;  // from is inclusive, to exclusive
  EXPECT_EQ(Find(q), (std::vector<uint64_t>{4, 5}));
  // Filters combine with AND.
  q = Query();
  q.device = "device-1";
  q.user_name = "alice";
  q.workspace = Bytes(32, 7);
  EXPECT_EQ(Find(q), (std::vector<uint64_t>{1, 7}));
}

TEST_F(AuditSearchTest, ReturnsTheEntriesAsAppended) {
  Query q;
  q.workspace = Bytes(32, 7);
  Result<SearchPage> page = Search(url_, q);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->entries.size(), 12u);
  for (const FoundEntry& f : page->entries) {
    Entry want = MakeEntry(static_cast<int>(f.entry.seq));
    want.seq = f.entry.seq;
    EXPECT_EQ(f.entry, want) << "seq " << f.entry.seq;
    EXPECT_FALSE(f.pruned);
    EXPECT_EQ(f.leaf_hash, LeafHash(EncodeEntry(want)));
  }
}

TEST_F(AuditSearchTest, ExtremeTimesAreStoredExactly) {
  // Append writes received_at as timestamp text: the first and the last instant it accepts, and
  // text that needs escaping in COPY, come back as given and still verify.
  std::vector<Entry> edge = Entries(200, 3);
  edge[0].received_at_ms = 0;
  edge[1].received_at_ms = 8'000'000'000'000'000;
  edge[2].received_at_ms = 951'782'400'999;  // 2000-02-29, last ms of a second
  edge[2].new_value = "tab\there\nnewline \\x00 back\\slash \\N";
  ASSERT_OK(log_->Append(edge));
  Query q;
  q.after_seq = 14;
  Result<SearchPage> page = Search(url_, q);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->entries.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    Entry want = edge[i];
    want.seq = 15 + i;
    EXPECT_EQ(page->entries[i].entry, want);
  }
  q = Query();
  q.from_ms = 8'000'000'000'000'000;
  EXPECT_EQ(Find(q), (std::vector<uint64_t>{16}));
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditSearchTest, PagesSeeEveryEntryOnce) {
  Query q;
  q.limit = 4;
  std::vector<uint64_t> all;
  int pages = 0;
  for (;;) {
    Result<SearchPage> page = Search(url_, q);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ++pages;
    ASSERT_LE(page->entries.size(), 4u);
    for (uint64_t s : Seqs(*page)) all.push_back(s);
    if (!page->next_after) break;
    EXPECT_EQ(*page->next_after, all.back());
    q.after_seq = page->next_after;
  }
  std::vector<uint64_t> want;
  for (uint64_t s = 0; s < 15; ++s) want.push_back(s);
  EXPECT_EQ(all, want);
  // 15 entries, 4 per page: the fourth page holds 3 and says it is the last.
  EXPECT_EQ(pages, 4);

  // A last page that is exactly full has no next page either.
  q = Query();
  q.limit = 5;
  q.after_seq = 9;
  Result<SearchPage> last = Search(url_, q);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(Seqs(*last), (std::vector<uint64_t>{10, 11, 12, 13, 14}));
  EXPECT_FALSE(last->next_after.has_value());
}

TEST_F(AuditSearchTest, TextIsAParameterNeverSql) {
  Query q;
  q.record = "order/1' OR '1'='1";
  EXPECT_TRUE(Find(q).empty());
  q.record = "order/1\\";
  EXPECT_TRUE(Find(q).empty());
}

TEST_F(AuditSearchTest, BadArgumentsNameTheField) {
  auto where = [&](Query q) {
    Result<SearchPage> page = Search(url_, q);
    EXPECT_EQ(page.status().code(), Code::kInvalidArgument) << page.status().ToString();
    return page.status().where();
  };
  Query q;
  q.limit = 0;
  EXPECT_EQ(where(q), "limit");
  q.limit = kMaxSearchLimit + 1;
  EXPECT_EQ(where(q), "limit");
  q = Query();
  q.workspace = Bytes();
  EXPECT_EQ(where(q), "workspace");
  q = Query();
  q.record = std::string("a\0b", 3);
  EXPECT_EQ(where(q), "record");
  q = Query();
  q.user_name = std::string("\0", 1);
  EXPECT_EQ(where(q), "user_name");
  q = Query();
  q.from_ms = 10;
  q.to_ms = 10;
  EXPECT_EQ(where(q), "to_ms");
  q = Query();
  q.from_ms = 8'000'000'000'000'001;
  EXPECT_EQ(where(q), "from_ms");
  q = Query();
  q.after_seq = uint64_t{1} << 63;
  EXPECT_EQ(where(q), "after_seq");
  // The largest limit is fine.
  q = Query();
  q.limit = kMaxSearchLimit;
  EXPECT_EQ(Find(q).size(), 15u);
}

TEST_F(AuditLogTest, SearchWithoutALogIsNotFound) {
  Result<SearchPage> page = Search(url_, Query());
  EXPECT_EQ(page.status().code(), Code::kNotFound) << page.status().ToString();
}

TEST_F(AuditSearchTest, ReadersRefuseAnOlderSchemaByName) {
  // As if the log had not been migrated to version 2 yet (the writer does that on opening).
  Exec(url_, "DELETE FROM audit_schema_migrations WHERE version = 2");
  Result<SearchPage> page = Search(url_, Query());
  EXPECT_EQ(page.status().code(), Code::kFailedPrecondition) << page.status().ToString();
  EXPECT_NE(page.status().message().find("schema version 1"), std::string::npos);
  EXPECT_EQ(VerifyLog(url_, std::nullopt).status().code(), Code::kFailedPrecondition);
}

TEST(AuditTimestampTest, FormatsUtcMilliseconds) {
  EXPECT_EQ(FormatTimestampMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestampMs(1'700'000'000'123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(FormatTimestampMs(951'782'400'000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(FormatTimestampMs(8'000'000'000'000'000), "255479-11-28T14:13:20.000Z");
}

TEST(AuditTimestampTest, ParsesMillisecondsAndIso8601) {
  struct Case {
    const char* text;
    uint64_t ms;
  };
  for (const Case& c : std::vector<Case>{
           {"1700000000123", 1'700'000'000'123},
           {"0", 0},
           {"2023-11-14T22:13:20.123Z", 1'700'000'000'123},
           {"2023-11-14 22:13:20.123", 1'700'000'000'123},
           {"2023-11-14T22:13:20.1234567Z", 1'700'000'000'123},
           {"2023-11-14T23:13:20.123+01:00", 1'700'000'000'123},
           {"2023-11-14T21:13:20.123-0100", 1'700'000'000'123},
           {"2023-11-14T22:13Z", 1'699'999'980'000},
           {"2023-11-14", 1'699'920'000'000},
           {"2000-02-29", 951'782'400'000},
       }) {
    Result<uint64_t> ms = ParseTimestampMs(c.text);
    ASSERT_TRUE(ms.ok()) << c.text << ": " << ms.status().ToString();
    EXPECT_EQ(*ms, c.ms) << c.text;
  }
  for (const char* bad : {"", "yesterday", "2023-02-29", "2023-13-01", "2023-11-14T24:00Z",
                          "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20Zjunk", "1969-12-31", "-5",
                          "8000000000000001", "2023-11-14T22:13+25:00"}) {
    Result<uint64_t> ms = ParseTimestampMs(bad, "--from");
    EXPECT_EQ(ms.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_EQ(ms.status().where(), "--from") << bad;
  }
}

}  // namespace
}  // namespace grove::audit
