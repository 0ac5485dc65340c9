// admin::Console — the relay's admin console (issue 7, docs/admin-api.md): admin accounts and
// sessions (accounts.h), workspace policies (policies.h) and the organisation's devices under
// its CA (org_devices.h), all in the relay's PostgreSQL database, with every change queued to
// the audit log in the transaction that makes it; and the REST API over them (console_api.h),
// which relay::AdminHttp serves on the relay's --admin address under /api/v1/admin/.
//
// What the relay and peer side call (thread-safe, from memory, never blocking on the database):
//   Revocations()   every signed revocation ("grove-revocation:..."), by serial
//   PolicyFor(ws)   the workspace's stored policy, or nullopt (the defaults apply)
//   DeviceStateOf(device), EnrolmentOf(device)   whether the organisation enrolled or revoked it
//   OrgCard()       "grove-org:..." once the CA exists
// These read caches that Refresh() loads from the database and that this process's own changes
// update at once. Refresh() is the only way to see changes made by another relay sharing the
// database; the relay calls it at start and then periodically (grove-relay: every 10 s).
//
// Open does not touch the database, so a relay starts while PostgreSQL is down; requests then
// answer 503 until it is back, and the first one that reaches it applies the admin and audit
// schemas' migrations.
//
// Ownership: Open returns an owning pointer; the clock and the random source are borrowed and
// must outlive it. Thread-safety: every method may be called from any thread at once (the clock
// must be safe to call from several threads).
// Failure: Open returns InvalidArgument for a bad db url (where "db") or argon2 cost; Refresh
// returns the database's error (Unavailable while it cannot be reached).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "admin/accounts.h"
#include "admin/admin_db.h"
#include "admin/http_types.h"
#include "admin/org_devices.h"
#include "admin/policies.h"
#include "admin/relay_status.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "crypto/crypto.h"

namespace grove::admin {

class ConsoleApi;

struct ConsoleOptions {
  std::string data;  // the relay's data folder: org-ca.key lives here
  std::string db_url;
  int db_connect_timeout_s = 5;
  AccountPolicy accounts;
  // The auditor's signing key (from its card): GET .../audit/verify checks tree heads against
  // it. nullopt: every head must be signed by the same key, whichever it is.
  std::optional<crypto::PublicKey> auditor_key;
  // The auditor device's card text: signed policies of audited workspaces name it, and managed
  // owners' peers add it to those workspaces with the auditor role. "": none is named.
  std::string auditor_card;
  // Adds "Secure" to the session cookie: set it when browsers reach the console over HTTPS (a
  // TLS proxy in front of the admin address).
  bool secure_cookie = false;
  // The relay's own status (GET .../status); empty: the status shows no relay part.
  std::function<RelayStatus()> relay_status;
};

class Console {
 public:
  static Result<std::unique_ptr<Console>> Open(ConsoleOptions options, Clock& clock, Random& rng);
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // One admin API request (console_api.h).
  HttpReply Handle(const HttpRequest& request);

  std::vector<std::string> Revocations() const { return devices_->Revocations(); }
  std::optional<WorkspacePolicy> PolicyFor(const Hash32& workspace) const {
    return policies_->Cached(workspace);
  }
  DeviceState DeviceStateOf(const identity::DeviceId& device) const {
    return devices_->State(device);
  }
  std::optional<std::string> EnrolmentOf(const identity::DeviceId& device) const {
    return devices_->EnrolmentOf(device);
  }
  std::optional<std::string> OrgCard() const;
  // Every stored policy as a statement signed by the CA ("grove-policy:...", org/policy.h), for
  // the relay to pass to peers; none until the CA exists. From memory; signing is deterministic,
  // so an unchanged policy gives the same text.
  std::vector<std::string> PolicyStatements();

  // Reloads the caches above from the database.
  Status Refresh();

  // Applies every stored policy's retention to the audit log (audit::Prune, retention.h): the
  // content of a workspace's entries older than its retention_days is removed, keeping their
  // leaf hashes, unless its policy has legal_hold (or an audit hold covers them). Idempotent;
  // the relay runs it hourly. Returns how many entries it pruned; the first database error.
  Result<uint64_t> ApplyRetention();

  const ConsoleOptions& options() const { return options_; }
  AdminDb& db() { return *db_; }
  Accounts& accounts() { return *accounts_; }
  Policies& policies() { return *policies_; }
  OrgDevices& devices() { return *devices_; }
  Clock& clock() { return clock_; }

 private:
  Console(ConsoleOptions options, Clock& clock, std::unique_ptr<AdminDb> db, Random& rng);

  ConsoleOptions options_;
  Clock& clock_;
  std::unique_ptr<AdminDb> db_;
  std::unique_ptr<Accounts> accounts_;
  std::unique_ptr<Policies> policies_;
  std::unique_ptr<OrgDevices> devices_;
  std::unique_ptr<ConsoleApi> api_;
  std::mutex statements_mu_;
  std::map<Hash32, std::pair<uint64_t, std::string>> statements_;  // by workspace: (version, text)
};

}  // namespace grove::admin
