// The compliance audit log's two figures (issue 7), each against a limit measured in the same
// run on a private PostgreSQL (tests/support/test_postgres.h, fsync on):
//
// audit-ingest: entries/s through AuditLog::Append in batches (canonical encoding, Merkle leaf
//   and tree hashing, COPY, the writer's lock and seq check, one commit per batch) against a
//   plain COPY of the same rows (the same columns and text, leaf hashes computed beforehand)
//   into the same table (same indexes and constraints: a log opened on a fresh database), one
//   commit per batch of the same size. Rounds alternate which goes first; medians compared.
// audit-verify: a log of --entries entries built with Append, a head signed every --head-every;
//   then VerifyLog (which must report ok) against a plain scan: the same columns of the same
//   table read to the client in the same keyset pages (10,000 rows) in one repeatable-read
//   transaction, without decoding or hashing. Rounds alternate; medians compared. VerifyLog's
//   memory: VmHWM reset (/proc/self/clear_refs) before it runs, the growth over the VmRSS before.
//
// One JSON line on stdout; progress on stderr.
#include "bench/audit_bench.h"

#include <malloc.h>

#include <pqxx/pqxx>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "audit/search.h"
#include "bench/bench_util.h"
#include "common/clock.h"
#include "crypto/crypto.h"
#include "support/test_postgres.h"

namespace grove::bench {
namespace {

constexpr double kIngestTarget = 0.5;
constexpr size_t kScanPageRows = 10000;  // as VerifyLog's pages

struct Options {
  bool verify = false;  // audit-verify, else audit-ingest
  uint64_t entries = 0;
  uint64_t batch = 1000;
  uint64_t head_every = 10000;
  int rounds = 3;
};

void Progress(const std::string& what) {
  std::fprintf(stderr, "grove-bench audit: %s\n", what.c_str());
  std::fflush(stderr);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// A plausible op entry: a field of a record set from one value to another on some device.
audit::Entry MakeEntry(uint64_t i) {
  audit::Entry e;
  e.kind = i % 50 == 49 ? audit::EntryKind::kRejected : audit::EntryKind::kOp;
  e.workspace = Bytes(32, static_cast<uint8_t>(i % 4));
  e.device = "device-" + std::to_string(i % 200);
  e.user_name = "user" + std::to_string(i % 50) + "@example.com";
  e.op = "set";
  e.record = "purchase_order/" + std::to_string(i / 10);
  e.field = "quantity";
  e.old_value = "{\"int\":" + std::to_string(i * 7 % 1000) + "}";
  e.new_value = "{\"int\":" + std::to_string(i * 13 % 1000) + "}";
  e.hlc = (uint64_t{1'700'000'000'000} + i) << 16;
  e.received_at_ms = 1'700'000'000'000 + i * 10;
  e.delta_hash = Bytes(32, static_cast<uint8_t>(i));
  return e;
}

crypto::SigningKey AuditorKey() {
  Result<crypto::SigningKey> key = crypto::SigningKey::FromSeed(Bytes(32, 0x42));
  if (!key.ok()) std::abort();  // a fixed 32-byte seed always makes a key
  return std::move(*key);
}

// VmRSS or VmHWM of this process in MB.
double StatusMb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0)
      return std::strtod(line.c_str() + field.size() + 1, nullptr) / 1024;
  }
  return 0;
}

// Returns freed heap memory to the system (building the log freed the writer's tree), then resets
// VmHWM to the current VmRSS (Linux >= 4.0), so the peak that follows is what comes next needs.
void ResetPeakRss() {
  malloc_trim(0);
  std::ofstream("/proc/self/clear_refs") << "5";
}

// --- audit-ingest --------------------------------------------------------------------------------

// Seconds to Append the batches to a fresh log at `url`.
double TimeAppend(const std::string& url, const std::vector<std::vector<audit::Entry>>& batches,
                  std::string& error) {
  FakeClock clock;
  Result<std::unique_ptr<audit::AuditLog>> log = audit::AuditLog::Open(url, AuditorKey(), clock);
  if (!log.ok()) {
    error = log.status().ToString();
    return 0;
  }
  const TimePoint start = Now();
  for (const std::vector<audit::Entry>& batch : batches) {
    Status s = (*log)->Append(batch);
    if (!s.ok()) {
      error = s.ToString();
      return 0;
    }
  }
  return Seconds(start);
}

using Row = std::array<std::string, 14>;

// The rows exactly as Append writes them, leaf hashes included, prepared before the clock runs.
std::vector<Row> RenderRows(const std::vector<audit::Entry>& entries) {
  std::vector<Row> rows;
  rows.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    audit::Entry e = entries[i];
    e.seq = i;
    const Hash32 leaf = audit::LeafHash(audit::EncodeEntry(e));
    rows.push_back({std::to_string(e.seq), std::string(audit::EntryKindName(e.kind)),
                    "\\x" + HexEncode(e.workspace), e.device, e.user_name, e.op, e.record, e.field,
                    e.old_value, e.new_value, std::to_string(e.hlc),
                    audit::FormatTimestampMs(e.received_at_ms), "\\x" + HexEncode(e.delta_hash),
                    "\\x" + HexEncode(leaf)});
  }
  return rows;
}

// Seconds to COPY `rows` in batches into audit_entries of a fresh log at `url`.
double TimeCopy(const std::string& url, const std::vector<Row>& rows, size_t batch,
                std::string& error) {
  FakeClock clock;
  // Opening a log creates the table with the log's indexes and constraints; then it is closed.
  Result<std::unique_ptr<audit::AuditLog>> log = audit::AuditLog::Open(url, AuditorKey(), clock);
  if (!log.ok()) {
    error = log.status().ToString();
    return 0;
  }
  log->reset();
  try {
    pqxx::connection conn(url);
    static const std::vector<std::string> kColumns = {
        "seq",   "kind",      "workspace", "device", "user_name",   "op",         "record",
        "field", "old_value", "new_value", "hlc",    "received_at", "delta_hash", "leaf_hash"};
    const TimePoint start = Now();
    for (size_t i = 0; i < rows.size(); i += batch) {
      pqxx::work txn(conn);
      pqxx::stream_to copy(txn, "audit_entries", kColumns);
      for (size_t j = i; j < std::min(rows.size(), i + batch); ++j) copy << rows[j];
      copy.complete();
      txn.commit();
    }
    return Seconds(start);
  } catch (const std::exception& e) {
    error = e.what();
    return 0;
  }
}

int RunIngest(const Options& o, testing::TestPostgres& pg) {
  std::vector<audit::Entry> entries;
  entries.reserve(o.entries);
  for (uint64_t i = 0; i < o.entries; ++i) entries.push_back(MakeEntry(i));
  std::vector<std::vector<audit::Entry>> batches;
  for (size_t i = 0; i < entries.size(); i += o.batch) {
    batches.emplace_back(entries.begin() + i,
                         entries.begin() + std::min<size_t>(entries.size(), i + o.batch));
  }
  const std::vector<Row> rows = RenderRows(entries);
  std::vector<double> append_rates, copy_rates;
  std::string error;
  for (int r = 0; r < o.rounds && error.empty(); ++r) {
    for (int k = 0; k < 2 && error.empty(); ++k) {
      const bool append = (r + k) % 2 == 0;  // alternate which goes first
      const std::string url = pg.NewDatabase();
      if (url.empty()) {
        error = pg.error();
        break;
      }
      const double s =
          append ? TimeAppend(url, batches, error) : TimeCopy(url, rows, o.batch, error);
      if (!error.empty()) break;
      (append ? append_rates : copy_rates).push_back(static_cast<double>(o.entries) / s);
      Progress("round " + std::to_string(r + 1) + (append ? " Append: " : " COPY: ") +
               Num(static_cast<double>(o.entries) / s) + " entries/s");
    }
  }
  if (!error.empty()) {
    Progress("failed: " + error);
    std::printf("{\"benchmark\":\"audit-ingest\",\"ok\":false}\n");
    return 1;
  }
  const double append = Median(append_rates), copy = Median(copy_rates);
  std::printf(
      "{\"benchmark\":\"audit-ingest\",\"ok\":true,\"entries\":%llu,\"batch\":%llu,\"rounds\":%d,"
      "\"append_entries_per_s\":%s,\"copy_entries_per_s\":%s,\"append_vs_copy\":%s,"
      "\"target\":%s}\n",
      static_cast<unsigned long long>(o.entries), static_cast<unsigned long long>(o.batch),
      o.rounds, Num(append).c_str(), Num(copy).c_str(), Num(append / copy).c_str(),
      Num(kIngestTarget).c_str());
  return 0;
}

// --- audit-verify --------------------------------------------------------------------------------

Status BuildLog(const Options& o, const std::string& url, uint64_t& heads) {
  FakeClock clock;
  clock.Set(1'700'000'000'000);
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<audit::AuditLog> log,
                         audit::AuditLog::Open(url, AuditorKey(), clock));
  std::vector<audit::Entry> chunk;
  for (uint64_t i = 0; i < o.entries; i += o.batch) {
    chunk.clear();
    for (uint64_t j = i; j < std::min(o.entries, i + o.batch); ++j) chunk.push_back(MakeEntry(j));
    GROVE_RETURN_IF_ERROR(log->Append(chunk));
    if (log->size() % o.head_every == 0 || log->size() == o.entries) {
      clock.Advance(1000);
      GROVE_ASSIGN_OR_RETURN(audit::SignedHead head, log->SignHead());
      (void)head;
      ++heads;
    }
    if (log->size() % 100000 == 0) Progress("built " + std::to_string(log->size()) + " entries");
  }
  return Status::Ok();
}

// The plain scan: VerifyLog's columns and pages, every value read to the client, nothing decoded.
double TimeScan(const std::string& url, uint64_t& rows, std::string& error) {
  try {
    pqxx::connection conn(url);
    const TimePoint start = Now();
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(conn);
    int64_t after = std::numeric_limits<int64_t>::min();
    size_t bytes = 0;
    rows = 0;
    for (;;) {
      const pqxx::result page = txn.exec_params(
          "SELECT seq, kind, workspace, device, user_name, op, record, field, old_value, "
          "new_value, hlc, (extract(epoch from received_at) * 1000)::bigint, delta_hash, "
          "leaf_hash, pruned FROM audit_entries WHERE seq > $1 ORDER BY seq LIMIT $2",
          after, static_cast<int64_t>(kScanPageRows));
      for (const pqxx::row& r : page) {
        for (const pqxx::field& f : r) bytes += f.size();
      }
      rows += page.size();
      if (page.size() < kScanPageRows) break;
      after = page[page.size() - 1][0].as<int64_t>();
    }
    txn.commit();
    if (bytes == 0) error = "the scan read nothing";
    return Seconds(start);
  } catch (const std::exception& e) {
    error = e.what();
    return 0;
  }
}

int RunVerify(const Options& o, testing::TestPostgres& pg) {
  const std::string url = pg.NewDatabase();
  uint64_t heads = 0;
  Status built = url.empty() ? IOError(pg.error()) : Status::Ok();
  const TimePoint build_start = Now();
  if (built.ok()) built = BuildLog(o, url, heads);
  const double build_s = Seconds(build_start);
  if (!built.ok()) {
    Progress("building the log failed: " + built.ToString());
    std::printf("{\"benchmark\":\"audit-verify\",\"ok\":false}\n");
    return 1;
  }
  Progress("built " + std::to_string(o.entries) + " entries, " + std::to_string(heads) +
           " heads in " + Num(build_s) + " s");
  std::vector<double> verify_s, scan_s, rss_growth;
  std::string error;
  for (int r = 0; r < o.rounds && error.empty(); ++r) {
    for (int k = 0; k < 2 && error.empty(); ++k) {
      if ((r + k) % 2 == 0) {
        ResetPeakRss();
        const double rss = StatusMb("VmRSS");
        const TimePoint start = Now();
        Result<audit::VerifyReport> report = audit::VerifyLog(url, AuditorKey().public_key());
        const double s = Seconds(start);
        rss_growth.push_back(StatusMb("VmHWM") - rss);
        if (!report.ok()) {
          error = report.status().ToString();
        } else if (!report->ok || report->entries != o.entries || report->heads_checked != heads) {
          error = "the log did not verify: " + report->problem;
        } else {
          verify_s.push_back(s);
          Progress("round " + std::to_string(r + 1) + " VerifyLog: " + Num(s) + " s");
        }
      } else {
        uint64_t rows = 0;
        const double s = TimeScan(url, rows, error);
        if (error.empty() && rows != o.entries) error = "the scan saw " + std::to_string(rows);
        if (error.empty()) {
          scan_s.push_back(s);
          Progress("round " + std::to_string(r + 1) + " plain scan: " + Num(s) + " s");
        }
      }
    }
  }
  if (!error.empty()) {
    Progress("failed: " + error);
    std::printf("{\"benchmark\":\"audit-verify\",\"ok\":false}\n");
    return 1;
  }
  const double per_million = 1e6 / static_cast<double>(o.entries);
  const double verify = Median(verify_s), scan = Median(scan_s);
  std::printf(
      "{\"benchmark\":\"audit-verify\",\"ok\":true,\"entries\":%llu,\"heads\":%llu,"
      "\"rounds\":%d,\"build_s\":%s,\"verify_s_per_million\":%s,\"scan_s_per_million\":%s,"
      "\"verify_vs_scan_time\":%s,\"verify_peak_rss_growth_mb\":%s}\n",
      static_cast<unsigned long long>(o.entries), static_cast<unsigned long long>(heads), o.rounds,
      Num(build_s).c_str(), Num(verify * per_million).c_str(), Num(scan * per_million).c_str(),
      Num(verify / scan).c_str(),
      Num(*std::max_element(rss_growth.begin(), rss_growth.end())).c_str());
  return 0;
}

}  // namespace

int AuditBenchMain(int argc, char** argv) {
  Options o;
  o.verify = std::string(argv[1]) == "audit-verify";
  o.entries = o.verify ? 1'000'000 : 200'000;
  const char* name = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    uint64_t* target = a == "--entries"                  ? &o.entries
                       : a == "--batch"                  ? &o.batch
                       : a == "--head-every" && o.verify ? &o.head_every
                                                         : nullptr;
    if ((target || a == "--rounds") && i + 1 < argc) {
      const long long v = std::strtoll(argv[++i], nullptr, 10);
      if (v <= 0) {
        std::fprintf(stderr, "%s: %s needs a positive number\n", name, a.c_str());
        return 2;
      }
      if (target) {
        *target = static_cast<uint64_t>(v);
      } else {
        o.rounds = static_cast<int>(v);
      }
      continue;
    }
    std::fprintf(stderr,
                 "usage: grove-bench audit-ingest [--entries N] [--batch B] [--rounds R]\n"
                 "       grove-bench audit-verify [--entries N] [--batch B] [--head-every H] "
                 "[--rounds R]\n"
                 "  ingest: N entries (default 200000) in batches of B (default 1000)\n"
                 "  verify: a log of N entries (default 1000000), a head every H (10000)\n");
    return a == "--help" ? 0 : 2;
  }
  if (o.verify && o.head_every % o.batch != 0) {
    std::fprintf(stderr, "%s: --head-every must be a multiple of --batch\n", name);
    return 2;
  }
  Progress("starting a private PostgreSQL");
  testing::TestPostgres pg;
  if (!pg.ok()) {
    Progress(pg.error());
    std::printf("{\"benchmark\":\"%s\",\"ok\":false}\n", name);
    return 1;
  }
  return o.verify ? RunVerify(o, pg) : RunIngest(o, pg);
}

}  // namespace grove::bench
