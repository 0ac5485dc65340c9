// The compliance audit log in PostgreSQL (services/audit): `grove audit verify` checks a log
// against its signed tree heads (audit_log.h); `audit search` and `audit export` find and export
// entries with proofs (search.h, export.h); `audit prune` and `audit hold ...` apply retention
// and legal holds (retention.h). docs/audit.md describes the formats.
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "audit/export.h"
#include "audit/retention.h"
#include "audit/search.h"
#include "cli/command.h"
#include "cli/table.h"
#include "common/clock.h"
#include "common/utf8.h"
#include "identity/identity.h"

namespace grove::cli {
namespace {

constexpr size_t kCellWidth = 40;  // longer values are cut in tables (export has them whole)

// --key CARD or --key @FILE (a file holding the card): the auditor's signing key.
Result<crypto::PublicKey> ReadAuditorKey(const std::string& value) {
  std::string text = value;
  if (!value.empty() && value[0] == '@') {
    std::ifstream in(value.substr(1));
    if (!in) return NotFound("cannot read " + value.substr(1), "--key");
    std::ostringstream all;
    all << in.rdbuf();
    text = all.str();
  }
  GROVE_ASSIGN_OR_RETURN(identity::CardInfo card, identity::ParseCardText(text));
  return card.sign_key;
}

int RunAuditVerify(const Args& args) {
  std::optional<crypto::PublicKey> key;
  if (const std::string* k = args.Get("key")) {
    Result<crypto::PublicKey> parsed = ReadAuditorKey(*k);
    if (!parsed.ok()) return ReportError(parsed.status());
    key = *parsed;
  }
  Result<audit::VerifyReport> report = audit::VerifyLog(*args.Get("db"), key);
  if (!report.ok()) return ReportError(report.status());
  if (!report->ok) {
    std::cout << "audit log at " << report->where << ": " << report->entries << " entries, "
              << report->entries_checked << " checked, " << report->heads_checked
              << " signed tree heads verified before the failure\n";
    return ReportError(Corruption("audit log does not verify: " + report->problem));
  }
  std::cout << "audit log at " << report->where << " verifies: " << report->entries << " entries, "
            << report->heads_checked << " signed tree heads";
  if (report->entries_pruned > 0) {
    std::cout << "; " << report->entries_pruned
              << " pruned entries checked by their leaf hash only";
  }
  if (report->unsigned_entries > 0) {
    std::cout << " (the last " << report->unsigned_entries << " entries are not signed yet)";
  }
  std::cout << "\n";
  return kExitOk;
}

// --- search and export --------------------------------------------------------------------------

Result<Bytes> ParseWorkspace(const std::string& hex) {
  std::optional<Bytes> bytes = HexDecode(hex);
  if (!bytes || bytes->empty()) return InvalidArgument("not a hex workspace id", "--workspace");
  return *bytes;
}

Result<uint64_t> ParseCount(const std::string& text, const char* option) {
  uint64_t v = 0;
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != text.npos) {
    return InvalidArgument("not a whole number", option);
  }
  for (char c : text) v = v * 10 + static_cast<uint64_t>(c - '0');
  return v;
}

// The filters shared by search and export.
Result<audit::Query> ParseQuery(const Args& args) {
  audit::Query q;
  if (const std::string* w = args.Get("workspace")) {
    GROVE_ASSIGN_OR_RETURN(q.workspace, ParseWorkspace(*w));
  }
  auto text = [&](const char* name, std::optional<std::string>& into) {
    if (const std::string* v = args.Get(name)) into = *v;
  };
  text("record", q.record);
  text("device", q.device);
  text("user", q.user_name);
  text("op", q.op);
  if (const std::string* k = args.Get("kind")) {
    for (audit::EntryKind kind : {audit::EntryKind::kOp, audit::EntryKind::kRejected,
                                  audit::EntryKind::kFork, audit::EntryKind::kAdmin}) {
      if (audit::EntryKindName(kind) == *k) q.kind = kind;
    }
    if (!q.kind) return InvalidArgument("not one of op, rejected, fork, admin", "--kind");
  }
  if (const std::string* t = args.Get("from")) {
    GROVE_ASSIGN_OR_RETURN(q.from_ms, audit::ParseTimestampMs(*t, "--from"));
  }
  if (const std::string* t = args.Get("to")) {
    GROVE_ASSIGN_OR_RETURN(q.to_ms, audit::ParseTimestampMs(*t, "--to"));
  }
  if (const std::string* a = args.Get("after")) {
    GROVE_ASSIGN_OR_RETURN(q.after_seq, ParseCount(*a, "--after"));
  }
  return q;
}

// One table cell: control characters shown escaped (a value must not break the table's rows),
// cut to kCellWidth bytes.
std::string Cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += '?';
    } else {
      out += c;
    }
  }
  if (out.size() > kCellWidth) out = SanitizeUtf8(out.substr(0, kCellWidth - 3)) + "...";
  return out;
}

int RunAuditSearch(const Args& args) {
  Result<audit::Query> q = ParseQuery(args);
  if (!q.ok()) return ReportError(q.status());
  if (const std::string* l = args.Get("limit")) {
    Result<uint64_t> limit = ParseCount(*l, "--limit");
    if (!limit.ok()) return ReportError(limit.status());
    q->limit = static_cast<size_t>(*limit);
  }
  Result<audit::SearchPage> page = audit::Search(*args.Get("db"), *q);
  if (!page.ok()) {
    Status s = page.status();
    if (s.where() == "limit") s = InvalidArgument(s.message(), "--limit");
    return ReportError(s);
  }
  if (page->entries.empty()) {
    std::cout << "no matching entries\n";
    return kExitOk;
  }
  Table table("rllllllll");
  table.Row({"SEQ", "RECEIVED", "KIND", "WORKSPACE", "DEVICE", "USER", "OP", "RECORD",
             "FIELD: OLD -> NEW"});
  for (const audit::FoundEntry& f : page->entries) {
    const audit::Entry& e = f.entry;
    std::string change = e.field.empty() ? "" : e.field + ": ";
    change += e.old_value + " -> " + e.new_value;
    table.Row({std::to_string(e.seq), audit::FormatTimestampMs(e.received_at_ms),
               std::string(audit::EntryKindName(e.kind)), HexEncode(e.workspace).substr(0, 16),
               Cell(e.device), Cell(e.user_name), f.pruned ? "(pruned)" : Cell(e.op),
               Cell(e.record), f.pruned ? "" : Cell(change)});
  }
  std::cout << table.Text();
  if (page->next_after) {
    std::cout << "more entries match: add --after " << *page->next_after << "\n";
  }
  return kExitOk;
}

int RunAuditExport(const Args& args) {
  Result<audit::Query> q = ParseQuery(args);
  if (!q.ok()) return ReportError(q.status());
  const std::string format = args.Get("format") ? *args.Get("format") : "jsonl";
  if (format != "jsonl" && format != "csv") {
    return ReportError(InvalidArgument("not jsonl or csv", "--format"));
  }
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (const std::string* path = args.Get("out")) {
    file.open(*path, std::ios::binary | std::ios::trunc);
    if (!file) return ReportError(IOError("cannot write " + *path, "--out"));
    out = &file;
  }
  auto progress = [](uint64_t n) { std::cerr << "exported " << n << " entries\n"; };
  Result<audit::ExportSummary> summary =
      audit::Export(*args.Get("db"), *q,
                    format == "csv" ? audit::ExportFormat::kCsv : audit::ExportFormat::kJsonLines,
                    *out, progress);
  if (!summary.ok()) return ReportError(summary.status());
  std::cerr << "exported " << summary->entries << " entries, " << summary->with_proof
            << " with an inclusion proof";
  if (summary->head) {
    std::cerr << " against the tree head of size " << summary->head->head.size;
  }
  std::cerr << "\n";
  return kExitOk;
}

// --- retention ----------------------------------------------------------------------------------

int RunAuditPrune(const Args& args) {
  audit::RetentionRule rule;
  Result<Bytes> workspace = ParseWorkspace(*args.Get("workspace"));
  if (!workspace.ok()) return ReportError(workspace.status());
  rule.workspace = *workspace;
  Result<uint64_t> days = ParseCount(*args.Get("keep-days"), "--keep-days");
  if (!days.ok()) return ReportError(days.status());
  if (*days < 1 || *days > audit::kMaxKeepDays) {
    return ReportError(
        InvalidArgument("must be 1.." + std::to_string(audit::kMaxKeepDays), "--keep-days"));
  }
  rule.keep_days = static_cast<uint32_t>(*days);
  SystemClock clock;
  Result<audit::PruneReport> report = audit::Prune(*args.Get("db"), rule, clock.NowMillis());
  if (!report.ok()) return ReportError(report.status());
  std::cout << "pruned " << report->pruned << " entries received before "
            << audit::FormatTimestampMs(report->cutoff_ms) << "; " << report->held
            << " kept by legal holds\n";
  return kExitOk;
}

int RunHoldPlace(const Args& args) {
  audit::Hold hold;
  Result<Bytes> workspace = ParseWorkspace(*args.Get("workspace"));
  if (!workspace.ok()) return ReportError(workspace.status());
  hold.workspace = *workspace;
  if (const std::string* r = args.Get("record")) hold.record = *r;
  hold.reason = *args.Get("reason");
  hold.placed_by = *args.Get("by");
  SystemClock clock;
  hold.placed_at_ms = clock.NowMillis();
  Result<audit::Hold> placed = audit::PlaceHold(*args.Get("db"), hold);
  if (!placed.ok()) return ReportError(placed.status());
  std::cout << "placed hold " << placed->id << "\n";
  return kExitOk;
}

int RunHoldRelease(const Args& args) {
  Result<uint64_t> id = ParseCount(*args.Get("id"), "--id");
  if (!id.ok()) return ReportError(id.status());
  SystemClock clock;
  const Status s = audit::ReleaseHold(*args.Get("db"), *id, *args.Get("by"), clock.NowMillis());
  if (!s.ok()) return ReportError(s);
  std::cout << "released hold " << *id << "\n";
  return kExitOk;
}

int RunHoldList(const Args& args) {
  std::optional<Bytes> workspace;
  if (const std::string* w = args.Get("workspace")) {
    Result<Bytes> parsed = ParseWorkspace(*w);
    if (!parsed.ok()) return ReportError(parsed.status());
    workspace = *parsed;
  }
  Result<std::vector<audit::Hold>> holds =
      audit::ListHolds(*args.Get("db"), workspace, args.Has("all"));
  if (!holds.ok()) return ReportError(holds.status());
  if (holds->empty()) {
    std::cout << "no holds\n";
    return kExitOk;
  }
  Table table("rllllll");
  table.Row({"ID", "WORKSPACE", "RECORD", "PLACED", "BY", "RELEASED", "REASON"});
  for (const audit::Hold& h : *holds) {
    table.Row({std::to_string(h.id), HexEncode(h.workspace), h.record ? Cell(*h.record) : "(all)",
               audit::FormatTimestampMs(h.placed_at_ms), Cell(h.placed_by),
               h.released_at_ms
                   ? audit::FormatTimestampMs(*h.released_at_ms) + " by " + Cell(*h.released_by)
                   : "",
               Cell(h.reason)});
  }
  std::cout << table.Text();
  return kExitOk;
}

const Option kDb = {"db", "URL", true, "the audit log's PostgreSQL (libpq URI or key=value)"};

std::vector<Option> FilterOptions() {
  return {kDb,
          {"workspace", "HEX", false, "only this workspace"},
          {"record", "R", false, "only this record"},
          {"device", "D", false, "only this device"},
          {"user", "U", false, "only this user"},
          {"op", "OP", false, "only this op (set, add, ...; admin actions: device.revoke, ...)"},
          {"kind", "K", false, "only this kind: op, rejected, fork or admin"},
          {"from", "TIME", false, "received at or after TIME (ISO 8601, or Unix ms)"},
          {"to", "TIME", false, "received before TIME (ISO 8601, or Unix ms)"},
          {"after", "SEQ", false, "only entries after seq SEQ (the next page)"}};
}

std::vector<Option> With(std::vector<Option> options, std::vector<Option> more) {
  options.insert(options.end(), more.begin(), more.end());
  return options;
}

}  // namespace

std::vector<Command> AuditCommands() {
  return {
      {.name = "audit verify",
       .summary = "Check the whole audit log against its signed tree heads; exit 1 naming the "
                  "first bad entry when a row was changed, deleted or reordered.",
       .options = {kDb,
                   {"key", "CARD|@FILE", false,
                    "the auditor's card (or a file holding it): heads must be signed by it"}},
       .positionals = {},
       .run = RunAuditVerify},
      {.name = "audit search",
       .summary = "List audit log entries matching the filters, in seq order, a page at a time.",
       .options = With(FilterOptions(),
                       {{"limit", "N", false, "at most N entries (default 100, at most 10000)"}}),
       .positionals = {},
       .run = RunAuditSearch},
      {.name = "audit export",
       .summary = "Write every matching entry with its inclusion proof and the signed tree head "
                  "(JSON Lines or CSV; docs/audit.md).",
       .options =
           With(FilterOptions(), {{"format", "jsonl|csv", false, "the format (default jsonl)"},
                                  {"out", "FILE", false, "write to FILE instead of stdout"}}),
       .positionals = {},
       .run = RunAuditExport},
      {.name = "audit prune",
       .summary = "Remove the content of a workspace's entries older than N days, except what a "
                  "legal hold keeps; rows, leaf hashes and proofs stay.",
       .options = {kDb,
                   {"workspace", "HEX", true, "the workspace"},
                   {"keep-days", "N", true, "keep entries received in the last N days"}},
       .positionals = {},
       .run = RunAuditPrune},
      {.name = "audit hold place",
       .summary = "Place a legal hold on a workspace, or one record of it: prune keeps them.",
       .options = {kDb,
                   {"workspace", "HEX", true, "the workspace"},
                   {"record", "R", false, "only this record (default: the whole workspace)"},
                   {"reason", "TEXT", true, "why, e.g. the matter or case number"},
                   {"by", "NAME", true, "who places it"}},
       .positionals = {},
       .run = RunHoldPlace},
      {.name = "audit hold release",
       .summary = "Release a legal hold (it stays listed with --all).",
       .options = {kDb,
                   {"id", "N", true, "the hold's id (audit hold list)"},
                   {"by", "NAME", true, "who releases it"}},
       .positionals = {},
       .run = RunHoldRelease},
      {.name = "audit hold list",
       .summary = "List the active legal holds.",
       .options = {kDb,
                   {"workspace", "HEX", false, "only this workspace's"},
                   {"all", "", false, "released holds too"}},
       .positionals = {},
       .run = RunHoldList},
  };
}

}  // namespace grove::cli
