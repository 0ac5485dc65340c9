#include "audit/export.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "audit/merkle.h"
#include "audit/rows.h"
#include "common/utf8.h"

namespace grove::audit {

namespace {

using internal::ReadTxn;

constexpr size_t kExportPageRows = 1000;
constexpr size_t kLeafPageRows = 50000;

// The newest head and the tree its proofs come from.
struct Evidence {
  std::optional<SignedHead> head;
  MerkleLog tree;  // leaves [0, head->size)
};

// Loads the leaf hashes under the newest head and checks the head against them, so that every
// proof handed out verifies.
Status LoadEvidence(pqxx::transaction_base& txn, Evidence& ev) {
  std::vector<SignedHead> heads;
  internal::ReadHeads(txn, heads);
  ev = Evidence();
  if (heads.empty() || heads.back().head.size == 0) return Status::Ok();
  SignedHead newest = std::move(heads.back());
  const std::string at = "the newest signed tree head (size " + std::to_string(newest.head.size) +
                         ") of the audit log ";
  if (!VerifyTreeHead(newest.head, newest.signature, newest.key).ok()) {
    return Corruption(at + "has a bad signature; run `grove audit verify`");
  }
  Status bad;
  internal::ForEachPage(
      txn,
      "SELECT seq, leaf_hash FROM audit_entries WHERE seq < $1 AND seq > $2 ORDER BY seq LIMIT $3",
      {std::to_string(newest.head.size)}, kLeafPageRows, [&](const pqxx::row& r) {
        std::optional<Hash32> leaf = internal::Read32(r[1]);
        if (r[0].as<int64_t>() != static_cast<int64_t>(ev.tree.size()) || !leaf) {
          bad = Corruption(at + "does not match the stored entries; run `grove audit verify`");
          return false;
        }
        ev.tree.Append(*leaf);
        return true;
      });
  GROVE_RETURN_IF_ERROR(bad);
  if (ev.tree.size() != newest.head.size || ev.tree.Root() != newest.head.root) {
    return Corruption(at + "does not match the stored entries; run `grove audit verify`");
  }
  ev.head = std::move(newest);
  return Status::Ok();
}

void AppendJson(std::string& out, std::string_view key, std::string_view text, bool first = false) {
  if (!first) out += ',';
  AppendJsonString(out, key);
  out += ':';
  AppendJsonString(out, text);
}

void AppendJsonNumber(std::string& out, std::string_view key, uint64_t v) {
  out += ',';
  AppendJsonString(out, key);
  out += ':';
  out += std::to_string(v);
}

std::string QueryJson(const Query& q) {
  std::string out = "{";
  auto text = [&](std::string_view key, const std::optional<std::string>& v) {
    if (v) AppendJson(out, key, *v, out.size() == 1);
  };
  if (q.workspace) AppendJson(out, "workspace", HexEncode(*q.workspace), true);
  text("record", q.record);
  text("device", q.device);
  text("user_name", q.user_name);
  text("op", q.op);
  if (q.kind) AppendJson(out, "kind", EntryKindName(*q.kind), out.size() == 1);
  auto number = [&](std::string_view key, const std::optional<uint64_t>& v) {
    if (!v) return;
    if (out.size() > 1) out += ',';
    AppendJsonString(out, key);
    out += ':' + std::to_string(*v);
  };
  number("from_ms", q.from_ms);
  number("to_ms", q.to_ms);
  number("after_seq", q.after_seq);
  return out + "}";
}

std::string ProofText(const std::vector<Hash32>& proof) {
  std::string out;
  for (const Hash32& h : proof) {
    if (!out.empty()) out += ':';
    out += HexEncode(h);
  }
  return out;
}

// One format's rows.
class Writer {
 public:
  virtual ~Writer() = default;
  virtual void Header(std::string& out, const Query& q, const std::optional<SignedHead>& head) = 0;
  // proof: nullptr when the entry has none.
  virtual void Row(std::string& out, const FoundEntry& f, const std::optional<SignedHead>& head,
                   const std::vector<Hash32>* proof) = 0;
};

class JsonLinesWriter : public Writer {
 public:
  void Header(std::string& out, const Query& q, const std::optional<SignedHead>& head) override {
    out += "{\"grove_audit_export\":1,\"format\":\"jsonl\",\"binary\":\"hex\",";
    out += "\"leaf\":\"RFC 9162 SHA-256 leaf of grove-audit-entry-v1\",\"query\":";
    out += QueryJson(q);
    out += ",\"heads\":[";
    if (head) {
      out += "{\"size\":" + std::to_string(head->head.size);
      AppendJson(out, "root", HexEncode(head->head.root));
      AppendJsonNumber(out, "timestamp_ms", head->head.timestamp_ms);
      AppendJson(out, "timestamp", FormatTimestampMs(head->head.timestamp_ms));
      AppendJson(out, "signature", HexEncode(head->signature));
      AppendJson(out, "key", HexEncode(head->key));
      out += '}';
    }
    out += "]}\n";
  }

  void Row(std::string& out, const FoundEntry& f, const std::optional<SignedHead>& head,
           const std::vector<Hash32>* proof) override {
    const Entry& e = f.entry;
    out += "{\"seq\":" + std::to_string(e.seq);
    AppendJson(out, "kind", EntryKindName(e.kind));
    AppendJson(out, "workspace", HexEncode(e.workspace));
    AppendJson(out, "device", e.device);
    AppendJson(out, "user_name", e.user_name);
    AppendJson(out, "op", e.op);
    AppendJson(out, "record", e.record);
    AppendJson(out, "field", e.field);
    AppendJson(out, "old_value", e.old_value);
    AppendJson(out, "new_value", e.new_value);
    AppendJson(out, "hlc", std::to_string(e.hlc));
    AppendJsonNumber(out, "received_at_ms", e.received_at_ms);
    AppendJson(out, "received_at", FormatTimestampMs(e.received_at_ms));
    AppendJson(out, "delta_hash", HexEncode(e.delta_hash));
    out += f.pruned ? ",\"pruned\":true" : ",\"pruned\":false";
    AppendJson(out, "leaf_hash", HexEncode(f.leaf_hash));
    if (proof) {
      out += ",\"head_size\":" + std::to_string(head->head.size) + ",\"proof\":[";
      for (size_t i = 0; i < proof->size(); ++i) {
        if (i > 0) out += ',';
        out += '"' + HexEncode((*proof)[i]) + '"';
      }
      out += "]}\n";
    } else {
      out += ",\"head_size\":null,\"proof\":null}\n";
    }
  }
};

class CsvWriter : public Writer {
 public:
  void Header(std::string& out, const Query&, const std::optional<SignedHead>&) override {
    out +=
        "seq,kind,workspace,device,user_name,op,record,field,old_value,new_value,hlc,"
        "received_at_ms,received_at,delta_hash,pruned,leaf_hash,head_size,head_root,"
        "head_timestamp_ms,head_signature,head_key,proof\r\n";
  }

  void Row(std::string& out, const FoundEntry& f, const std::optional<SignedHead>& head,
           const std::vector<Hash32>* proof) override {
    const Entry& e = f.entry;
    out += std::to_string(e.seq) + ',';
    out += EntryKindName(e.kind);
    out += ',' + HexEncode(e.workspace);
    for (const std::string* s :
         {&e.device, &e.user_name, &e.op, &e.record, &e.field, &e.old_value, &e.new_value}) {
      out += ',';
      Cell(out, *s);
    }
    out += ',' + std::to_string(e.hlc) + ',' + std::to_string(e.received_at_ms) + ',' +
           FormatTimestampMs(e.received_at_ms) + ',' + HexEncode(e.delta_hash);
    out += f.pruned ? ",true," : ",false,";
    out += HexEncode(f.leaf_hash);
    if (proof) {
      out += ',' + std::to_string(head->head.size) + ',' + HexEncode(head->head.root) + ',' +
             std::to_string(head->head.timestamp_ms) + ',' + HexEncode(head->signature) + ',' +
             HexEncode(head->key) + ',' + ProofText(*proof);
    } else {
      out += ",,,,,,";
    }
    out += "\r\n";
  }

 private:
  // RFC 4180: quoted when it holds a comma, a quote, CR or LF; quotes doubled.
  static void Cell(std::string& out, const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) {
      out += text;
      return;
    }
    out += '"';
    for (char c : text) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  }
};

}  // namespace

Result<ExportSummary> Export(std::string_view url, const Query& query, ExportFormat format,
                             std::ostream& out, const std::function<void(uint64_t)>& progress) {
  Query q = query;
  q.limit = kDefaultSearchLimit;  // unused; keeps CheckQuery from refusing a caller's 0
  GROVE_RETURN_IF_ERROR(CheckQuery(q));
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<pgsql::Session> session,
                         internal::Connect(url, /*migrate=*/false));
  std::unique_ptr<Writer> writer;
  if (format == ExportFormat::kCsv) {
    writer = std::make_unique<CsvWriter>();
  } else {
    writer = std::make_unique<JsonLinesWriter>();
  }
  const internal::Filter filter = internal::BuildFilter(q);
  std::vector<std::string> params = filter.params;
  params.push_back(std::to_string(q.after_seq ? static_cast<int64_t>(*q.after_seq) : -1));
  const std::string sql = std::string("SELECT ") + internal::kEntryColumns +
                          " FROM audit_entries WHERE " + filter.where + "seq > $" +
                          std::to_string(params.size()) + " AND seq > $" +
                          std::to_string(params.size() + 1) + " ORDER BY seq LIMIT $" +
                          std::to_string(params.size() + 2);
  const std::string where = session->target().where;
  ExportSummary summary;
  bool wrote = false;
  auto body = [&](pqxx::transaction_base& txn) -> Status {
    // What was written cannot be taken back: a second attempt would repeat it.
    if (wrote) return Unavailable("the export was interrupted; start it again");
    GROVE_RETURN_IF_ERROR(internal::CheckSchema(txn, where));
    Evidence ev;
    GROVE_RETURN_IF_ERROR(LoadEvidence(txn, ev));
    summary = ExportSummary();
    summary.head = ev.head;
    std::string buf;
    writer->Header(buf, q, ev.head);
    wrote = true;
    out << buf;
    Status bad;
    internal::ForEachPage(txn, sql, params, kExportPageRows, [&](const pqxx::row& r) {
      const FoundEntry f = internal::ToFound(internal::ReadEntry(r));
      buf.clear();
      if (ev.head && f.entry.seq < ev.head->head.size) {
        Result<std::vector<Hash32>> proof = ev.tree.InclusionProof(f.entry.seq, ev.head->head.size);
        if (!proof.ok()) {
          bad = proof.status();
          return false;
        }
        writer->Row(buf, f, ev.head, &*proof);
        ++summary.with_proof;
      } else {
        writer->Row(buf, f, ev.head, nullptr);
      }
      out << buf;
      if (!out) return false;
      ++summary.entries;
      if (progress && summary.entries % kExportProgressEvery == 0) progress(summary.entries);
      return true;
    });
    GROVE_RETURN_IF_ERROR(bad);
    return Status::Ok();
  };
  GROVE_RETURN_IF_ERROR(session->Transact<ReadTxn>("exporting the audit log", body));
  out.flush();
  if (!out)
    return IOError("writing the export failed after " + std::to_string(summary.entries) +
                   " entries");
  return summary;
}

Status VerifyExportedEntry(const ExportedEntry& row, const SignedHead& head,
                           const std::optional<crypto::PublicKey>& expected_key) {
  const std::string at = "entry " + std::to_string(row.entry.seq) + ": ";
  if (expected_key && head.key != *expected_key) {
    return Corruption(at + "the tree head is signed by another key than the one expected");
  }
  if (!VerifyTreeHead(head.head, head.signature, head.key).ok()) {
    return Corruption(at + "the tree head's signature does not verify");
  }
  if (row.entry.seq >= head.head.size) {
    return FailedPrecondition(at + "not covered by the tree head of size " +
                              std::to_string(head.head.size));
  }
  if (row.pruned) {
    if (!internal::ContentIsEmpty(row.entry)) return Corruption(at + "pruned but has content");
  } else if (LeafHash(EncodeEntry(row.entry)) != row.leaf_hash) {
    return Corruption(at + "the fields do not match the leaf hash");
  }
  if (!VerifyInclusion(row.leaf_hash, row.entry.seq, head.head.size, row.proof, head.head.root)
           .ok()) {
    return Corruption(at + "the inclusion proof does not lead to the tree head's root");
  }
  return Status::Ok();
}

Result<std::vector<Hash32>> ParseProofText(std::string_view text) {
  std::vector<Hash32> proof;
  if (text.empty()) return proof;
  size_t start = 0;
  for (;;) {
    const size_t end = std::min(text.find(':', start), text.size());
    std::optional<Bytes> bytes = HexDecode(text.substr(start, end - start));
    std::optional<Hash32> hash = bytes ? ToHash32(*bytes) : std::nullopt;
    if (!hash) return InvalidArgument("not 32-byte hex hashes joined by ':'", "proof");
    proof.push_back(*hash);
    if (end == text.size()) return proof;
    start = end + 1;
  }
}

}  // namespace grove::audit
