#include "admin/console.h"

#include "admin/console_api.h"
#include "audit/retention.h"

namespace grove::admin {

Result<std::unique_ptr<Console>> Console::Open(ConsoleOptions options, Clock& clock, Random& rng) {
  if (Status s = CheckArgon2Cost(options.accounts.cost); !s.ok()) {
    return InvalidArgument(s.message(), "argon2." + s.where());
  }
  if (options.accounts.lockout_failures == 0) {
    return InvalidArgument("lockout_failures must be at least 1", "lockout_failures");
  }
  GROVE_ASSIGN_OR_RETURN(std::unique_ptr<AdminDb> db,
                         AdminDb::Make(options.db_url, options.db_connect_timeout_s));
  return std::unique_ptr<Console>(new Console(std::move(options), clock, std::move(db), rng));
}

Console::Console(ConsoleOptions options, Clock& clock, std::unique_ptr<AdminDb> db, Random& rng)
    : options_(std::move(options)), clock_(clock), db_(std::move(db)) {
  accounts_ = std::make_unique<Accounts>(*db_, clock_, rng, options_.accounts);
  policies_ = std::make_unique<Policies>(*db_, clock_);
  devices_ = std::make_unique<OrgDevices>(*db_, clock_, rng, options_.data);
  api_ = std::make_unique<ConsoleApi>(*this);
}

Console::~Console() = default;

HttpReply Console::Handle(const HttpRequest& request) { return api_->Handle(request); }

std::optional<std::string> Console::OrgCard() const {
  std::optional<crypto::PublicKey> key = devices_->CaKey();
  if (!key) return std::nullopt;
  return org::OrgCardText(*key);
}

Status Console::Refresh() {
  GROVE_RETURN_IF_ERROR(policies_->Reload());
  GROVE_RETURN_IF_ERROR(devices_->Reload());
  // A CA the database names is loaded from the data folder, so policies can be signed.
  if (devices_->CaKey()) GROVE_RETURN_IF_ERROR(devices_->OrgCard().status());
  return Status::Ok();
}

std::vector<std::string> Console::PolicyStatements() {
  std::vector<std::string> out;
  std::lock_guard<std::mutex> lock(statements_mu_);
  for (const WorkspacePolicy& p : policies_->AllCached()) {
    // Signed once per version of a policy: the relay asks every second.
    auto cached = statements_.find(p.workspace);
    if (cached != statements_.end() && cached->second.first == p.updated_ms) {
      out.push_back(cached->second.second);
      continue;
    }
    org::Policy statement;
    statement.workspace = p.workspace;
    statement.audited = p.audited;
    if (p.audited) statement.auditor_card = options_.auditor_card;
    statement.allowed_relays = p.AllowedRelayDevices();
    statement.issued_ms = p.updated_ms;
    if (std::optional<std::string> text = devices_->SignPolicy(std::move(statement))) {
      statements_[p.workspace] = {p.updated_ms, *text};
      out.push_back(std::move(*text));
    }
  }
  return out;
}

Result<uint64_t> Console::ApplyRetention() {
  GROVE_ASSIGN_OR_RETURN(std::vector<WorkspacePolicy> policies, policies_->List());
  uint64_t pruned = 0;
  for (const WorkspacePolicy& p : policies) {
    if (!p.retention_days || p.legal_hold) continue;
    audit::RetentionRule rule;
    rule.workspace.assign(p.workspace.begin(), p.workspace.end());
    rule.keep_days = *p.retention_days;
    GROVE_ASSIGN_OR_RETURN(audit::PruneReport report,
                           audit::Prune(db_->url(), rule, clock_.NowMillis()));
    pruned += report.pruned;
  }
  return pruned;
}

}  // namespace grove::admin
