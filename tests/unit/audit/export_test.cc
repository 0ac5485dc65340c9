// audit::Export against a real PostgreSQL, read back the way an outside tool would (a JSON parser,
// an RFC 4180 CSV reader): every covered entry verifies with nothing but the export
// (VerifyExportedEntry), and an entry, proof or head changed after export does not.
#include "audit/export.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "api/json.h"
#include "audit/retention.h"
#include "support/status_assert.h"
#include "unit/audit/audit_test_util.h"

namespace grove::audit {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared fixtures

Hash32 HashHex(const std::string& hex) {
  std::optional<Bytes> b = HexDecode(hex);
  EXPECT_TRUE(b && b->size() == 32) << hex;
  return b && b->size() == 32 ? *ToHash32(*b) : Hash32{};
}

Bytes BytesHex(const std::string& hex) {
  std::optional<Bytes> b = HexDecode(hex);
  EXPECT_TRUE(b.has_value()) << hex;
  return b.value_or(Bytes());
}

std::string Text(const api::Json& obj, const char* key) {
  const api::Json* v = obj.Find(key);
  EXPECT_TRUE(v && v->is_string()) << key;
  return v && v->is_string() ? v->text() : "";
}

uint64_t Int(const api::Json& obj, const char* key) {
  const api::Json* v = obj.Find(key);
  EXPECT_TRUE(v && v->is_int()) << key;
  return v && v->is_int() ? static_cast<uint64_t>(v->integer()) : 0;
}

struct JsonExport {
  api::Json header;
  std::vector<SignedHead> heads;
  std::vector<api::Json> rows;
};

JsonExport ReadJsonLines(const std::string& text) {
  JsonExport out;
  std::istringstream in(text);
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    Result<api::Json> json = api::ParseJson(line);
    EXPECT_TRUE(json.ok()) << json.status().ToString() << ": " << line;
    if (!json.ok()) continue;
    if (first) {
      out.header = *json;
      first = false;
      for (const api::Json& h : out.header.Find("heads")->items()) {
        SignedHead head;
        head.head.size = Int(h, "size");
        head.head.root = HashHex(Text(h, "root"));
        head.head.timestamp_ms = Int(h, "timestamp_ms");
        head.signature = BytesHex(Text(h, "signature"));
        head.key = HashHex(Text(h, "key"));
        out.heads.push_back(head);
      }
    } else {
      out.rows.push_back(*json);
    }
  }
  return out;
}

ExportedEntry FromJson(const api::Json& row) {
  ExportedEntry x;
  Entry& e = x.entry;
  e.seq = Int(row, "seq");
  const std::string kind = Text(row, "kind");
  for (EntryKind k : {EntryKind::kOp, EntryKind::kRejected, EntryKind::kFork, EntryKind::kAdmin}) {
    if (EntryKindName(k) == kind) e.kind = k;
  }
  e.workspace = BytesHex(Text(row, "workspace"));
  e.device = Text(row, "device");
  e.user_name = Text(row, "user_name");
  e.op = Text(row, "op");
  e.record = Text(row, "record");
  e.field = Text(row, "field");
  e.old_value = Text(row, "old_value");
  e.new_value = Text(row, "new_value");
  e.hlc = std::stoull(Text(row, "hlc"));
  e.received_at_ms = Int(row, "received_at_ms");
  e.delta_hash = BytesHex(Text(row, "delta_hash"));
  x.pruned = row.Find("pruned")->boolean();
  x.leaf_hash = HashHex(Text(row, "leaf_hash"));
  if (row.Find("proof")->is_array()) {
    for (const api::Json& h : row.Find("proof")->items()) x.proof.push_back(HashHex(h.text()));
  }
  return x;
}

// RFC 4180: rows end in CRLF; a quoted field may hold commas, CRLF and doubled quotes.
std::vector<std::vector<std::string>> ReadCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    std::string& cell = rows.back().back();
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cell += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().emplace_back();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      ++i;
      rows.emplace_back(1);
    } else {
      if (c == '\r' || c == '\n') ADD_FAILURE() << "bare CR or LF at byte " << i;
      cell += c;
    }
  }
  if (rows.back().size() == 1 && rows.back()[0].empty()) rows.pop_back();
  return rows;
}

class AuditExportTest : public AuditLogTest {
 protected:
  std::string Run(const Query& q, ExportFormat format, ExportSummary* summary = nullptr) {
    std::ostringstream out;
    Result<ExportSummary> s = Export(url_, q, format, out);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (summary && s.ok()) *summary = *s;
    return out.str();
  }
};

TEST_F(AuditExportTest, JsonLinesEntriesVerifyAndChangedOnesDoNot) {
  ASSERT_NE(Fill(), nullptr);  // 12 entries, newest head at size 10
  ExportSummary summary;
  const JsonExport x = ReadJsonLines(Run(Query(), ExportFormat::kJsonLines, &summary));
  EXPECT_EQ(summary.entries, 12u);
  EXPECT_EQ(summary.with_proof, 10u);
  EXPECT_EQ(x.header.Find("grove_audit_export")->integer(), 1);
  ASSERT_EQ(x.heads.size(), 1u);
  const SignedHead& head = x.heads[0];
  EXPECT_EQ(head.head.size, 10u);
  ASSERT_TRUE(summary.head.has_value());
  EXPECT_EQ(summary.head->head, head.head);
  ASSERT_EQ(x.rows.size(), 12u);
  const crypto::PublicKey key = Key(1).public_key();
  for (const api::Json& row : x.rows) {
    const ExportedEntry e = FromJson(row);
    Entry want = MakeEntry(static_cast<int>(e.entry.seq));
    want.seq = e.entry.seq;
    EXPECT_EQ(e.entry, want);
    if (e.entry.seq < 10) {
      EXPECT_EQ(row.Find("head_size")->integer(), 10);
      EXPECT_TRUE(IsOk(VerifyExportedEntry(e, head, key))) << "seq " << e.entry.seq;
    } else {
      EXPECT_TRUE(row.Find("proof")->is_null());
      EXPECT_TRUE(row.Find("head_size")->is_null());
      EXPECT_EQ(VerifyExportedEntry(e, head, key).code(), Code::kFailedPrecondition);
    }
  }

  const ExportedEntry good = FromJson(x.rows[5]);
  ExportedEntry changed = good;
  changed.entry.new_value = "\"v999\"";
  EXPECT_EQ(VerifyExportedEntry(changed, head, key).code(), Code::kCorruption);
  // Changing the leaf hash with the field: the proof no longer leads to the root.
  changed.leaf_hash = LeafHash(EncodeEntry(changed.entry));
  Status s = VerifyExportedEntry(changed, head, key);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("inclusion proof"), std::string::npos) << s.ToString();
  // Another entry's proof, another position, a proof element flipped.
  changed = good;
  changed.proof = FromJson(x.rows[6]).proof;
  EXPECT_FALSE(VerifyExportedEntry(changed, head, key).ok());
  changed = good;
  changed.entry.seq = 4;
  EXPECT_FALSE(VerifyExportedEntry(changed, head, key).ok());
  changed = good;
  changed.proof[0][0] ^= 1;
  EXPECT_FALSE(VerifyExportedEntry(changed, head, key).ok());
  // Claiming it was pruned does not help: a pruned entry carries no content.
  changed = good;
  changed.pruned = true;
  EXPECT_EQ(VerifyExportedEntry(changed, head, key).code(), Code::kCorruption);
  // The head: changed root (its signature breaks), another key than the auditor's.
  SignedHead other_head = head;
  other_head.head.root[0] ^= 1;
  EXPECT_FALSE(VerifyExportedEntry(good, other_head, key).ok());
  EXPECT_EQ(VerifyExportedEntry(good, head, Key(2).public_key()).code(), Code::kCorruption);
  EXPECT_TRUE(IsOk(VerifyExportedEntry(good, head, std::nullopt)));
}

TEST_F(AuditExportTest, CsvRowsCarryTheHeadAndVerify) {
  std::unique_ptr<AuditLog> log = Fill();
  ASSERT_NE(log, nullptr);
  Entry awkward = MakeEntry(12);
  awkward.new_value = "a,\"quoted\"\r\nsecond line, \xc3\xa9";
  awkward.record = "=HYPERLINK(\"x\")";
  ASSERT_OK(log->Append({awkward}));
  clock_.Advance(1000);
  ASSERT_TRUE(log->SignHead().ok());  // size 13: everything covered
  const auto rows = ReadCsv(Run(Query(), ExportFormat::kCsv));
  ASSERT_EQ(rows.size(), 14u);  // header + 13
  const std::vector<std::string> header = {"seq",
                                           "kind",
                                           "workspace",
                                           "device",
                                           "user_name",
                                           "op",
                                           "record",
                                           "field",
                                           "old_value",
                                           "new_value",
                                           "hlc",
                                           "received_at_ms",
                                           "received_at",
                                           "delta_hash",
                                           "pruned",
                                           "leaf_hash",
                                           "head_size",
                                           "head_root",
                                           "head_timestamp_ms",
                                           "head_signature",
                                           "head_key",
                                           "proof"};
  EXPECT_EQ(rows[0], header);
  const crypto::PublicKey key = Key(1).public_key();
  for (size_t i = 1; i < rows.size(); ++i) {
    const std::vector<std::string>& r = rows[i];
    ASSERT_EQ(r.size(), header.size()) << "row " << i;
    ExportedEntry x;
    x.entry.seq = std::stoull(r[0]);
    x.entry.kind = r[1] == "rejected" ? EntryKind::kRejected : EntryKind::kOp;
    x.entry.workspace = BytesHex(r[2]);
    x.entry.device = r[3];
    x.entry.user_name = r[4];
    x.entry.op = r[5];
    x.entry.record = r[6];
    x.entry.field = r[7];
    x.entry.old_value = r[8];
    x.entry.new_value = r[9];
    x.entry.hlc = std::stoull(r[10]);
    x.entry.received_at_ms = std::stoull(r[11]);
    EXPECT_EQ(r[12], FormatTimestampMs(x.entry.received_at_ms));
    x.entry.delta_hash = BytesHex(r[13]);
    x.pruned = r[14] == "true";
    x.leaf_hash = HashHex(r[15]);
    SignedHead head;
    head.head.size = std::stoull(r[16]);
    head.head.root = HashHex(r[17]);
    head.head.timestamp_ms = std::stoull(r[18]);
    head.signature = BytesHex(r[19]);
    head.key = HashHex(r[20]);
    Result<std::vector<Hash32>> proof = ParseProofText(r[21]);
    ASSERT_TRUE(proof.ok()) << r[21];
    x.proof = *proof;
    EXPECT_EQ(head.head.size, 13u);
    EXPECT_TRUE(IsOk(VerifyExportedEntry(x, head, key))) << "row " << i;
    if (x.entry.seq == 12) {
      EXPECT_EQ(x.entry.new_value, awkward.new_value);  // quoting kept every byte
      EXPECT_EQ(x.entry.record, awkward.record);        // written as stored
    }
  }
  EXPECT_EQ(ParseProofText("zz").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseProofText(std::string(64, 'a') + ":").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseProofText(std::string(64, 'a') + ":" + std::string(64, 'b'))->size(), 2u);
}

TEST_F(AuditExportTest, FiltersAndAfterSeqApply) {
  ASSERT_NE(Fill(), nullptr);
  Query q;
  q.user_name = "alice";
  q.after_seq = 4;
  q.limit = 1;  // ignored by export
  const JsonExport x = ReadJsonLines(Run(q, ExportFormat::kJsonLines));
  std::vector<uint64_t> seqs;
  for (const api::Json& r : x.rows) seqs.push_back(Int(r, "seq"));
  EXPECT_EQ(seqs, (std::vector<uint64_t>{5, 7, 9, 11}));
  const api::Json* query = x.header.Find("query");
  ASSERT_NE(query, nullptr);
  EXPECT_EQ(Text(*query, "user_name"), "alice");
  EXPECT_EQ(Int(*query, "after_seq"), 4u);
  EXPECT_EQ(query->Find("record"), nullptr);
  Query bad;
  bad.workspace = Bytes();
  std::ostringstream out;
  EXPECT_EQ(Export(url_, bad, ExportFormat::kCsv, out).status().where(), "workspace");
  EXPECT_TRUE(out.str().empty());
}

TEST_F(AuditExportTest, WithoutHeadsEveryProofIsNull) {
  Result<std::unique_ptr<AuditLog>> log = AuditLog::Open(url_, Key(1), clock_);
  ASSERT_TRUE(log.ok());
  ASSERT_OK((*log)->Append(Entries(0, 3)));
  const JsonExport x = ReadJsonLines(Run(Query(), ExportFormat::kJsonLines));
  EXPECT_TRUE(x.header.Find("heads")->items().empty());
  ASSERT_EQ(x.rows.size(), 3u);
  for (const api::Json& r : x.rows) EXPECT_TRUE(r.Find("proof")->is_null());
  const auto csv = ReadCsv(Run(Query(), ExportFormat::kCsv));
  ASSERT_EQ(csv.size(), 4u);
  for (size_t i = 1; i < csv.size(); ++i) {
    EXPECT_EQ(csv[i][16], "");
    EXPECT_EQ(csv[i][21], "");
  }
}

TEST_F(AuditExportTest, StreamsInPagesAndReportsProgress) {
  Result<std::unique_ptr<AuditLog>> log = AuditLog::Open(url_, Key(1), clock_);
  ASSERT_TRUE(log.ok());
  for (int from = 0; from < 25000; from += 5000) ASSERT_OK((*log)->Append(Entries(from, 5000)));
  ASSERT_TRUE((*log)->SignHead().ok());
  std::vector<uint64_t> reported;
  std::ostringstream out;
  Result<ExportSummary> s = Export(url_, Query(), ExportFormat::kJsonLines, out,
                                   [&](uint64_t n) { reported.push_back(n); });
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->entries, 25000u);
  EXPECT_EQ(s->with_proof, 25000u);
  EXPECT_EQ(reported, (std::vector<uint64_t>{10000, 20000}));
  const JsonExport x = ReadJsonLines(out.str());
  ASSERT_EQ(x.rows.size(), 25000u);
  for (size_t i = 0; i < x.rows.size(); i += 997) {
    EXPECT_EQ(Int(x.rows[i], "seq"), i);
    EXPECT_TRUE(IsOk(VerifyExportedEntry(FromJson(x.rows[i]), x.heads[0], Key(1).public_key())));
  }
}

TEST_F(AuditExportTest, HeadThatDoesNotMatchTheEntriesIsRefused) {
  ASSERT_NE(Fill(), nullptr);
  Exec(url_,
       "UPDATE audit_entries SET leaf_hash = '\\x" + std::string(64, 'c') + "' WHERE seq = 2");
  std::ostringstream out;
  Result<ExportSummary> s = Export(url_, Query(), ExportFormat::kJsonLines, out);
  EXPECT_EQ(s.status().code(), Code::kCorruption) << s.status().ToString();
  EXPECT_TRUE(out.str().empty());  // nothing handed out
}

TEST_F(AuditExportTest, PrunedEntriesExportTheirLeafAndProof) {
  ASSERT_NE(Fill(), nullptr);
  RetentionRule rule;
  rule.workspace = Bytes(32, 7);
  rule.keep_days = 1;
  Result<PruneReport> pruned =
      Prune(url_, rule, MakeEntry(3).received_at_ms + 86'400'000);  // entries 0..2 are due
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  ASSERT_EQ(pruned->pruned, 3u);
  const JsonExport x = ReadJsonLines(Run(Query(), ExportFormat::kJsonLines));
  ASSERT_EQ(x.rows.size(), 12u);
  const ExportedEntry e = FromJson(x.rows[1]);
  EXPECT_TRUE(e.pruned);
  EXPECT_EQ(e.entry.user_name, "");
  EXPECT_EQ(e.entry.received_at_ms, MakeEntry(1).received_at_ms);
  EXPECT_TRUE(IsOk(VerifyExportedEntry(e, x.heads[0], Key(1).public_key())));
  ExportedEntry faked = e;
  faked.entry.user_name = "mallory";
  EXPECT_EQ(VerifyExportedEntry(faked, x.heads[0], Key(1).public_key()).code(), Code::kCorruption);
  EXPECT_FALSE(FromJson(x.rows[3]).pruned);
}

}  // namespace
}  // namespace grove::audit
