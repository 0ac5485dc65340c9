// The compliance audit log: `grove audit verify` checks a log in PostgreSQL against its signed
// tree heads (services/audit/audit_log.h).
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "cli/command.h"
#include "identity/identity.h"

namespace grove::cli {
namespace {

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
  if (report->unsigned_entries > 0) {
    std::cout << " (the last " << report->unsigned_entries << " entries are not signed yet)";
  }
  std::cout << "\n";
  return kExitOk;
}

}  // namespace

std::vector<Command> AuditCommands() {
  return {
      {.name = "audit verify",
       .summary = "Check the whole audit log against its signed tree heads; exit 1 naming the "
                  "first bad entry when a row was changed, deleted or reordered.",
       .options = {{"db", "URL", true, "the audit log's PostgreSQL (libpq URI or key=value)"},
                   {"key", "CARD|@FILE", false,
                    "the auditor's card (or a file holding it): heads must be signed by it"}},
       .positionals = {},
       .run = RunAuditVerify},
  };
}

}  // namespace grove::cli
