#include "admin/policies.h"

#include <mutex>
#include <set>

namespace grove::admin {
namespace {

constexpr const char* kColumns =
    "workspace, audited, retention_days, legal_hold, allowed_relays::text, updated_ms, updated_by";

pqxx::binarystring Blob(ByteView v) { return pqxx::binarystring(v.data(), v.size()); }

std::optional<Hash32> Read32(const pqxx::field& f) {
  pqxx::binarystring b(f);
  return ToHash32(ByteView(b.data(), b.size()));
}

Result<WorkspacePolicy> ReadPolicy(const pqxx::row& r) {
  WorkspacePolicy p;
  std::optional<Hash32> ws = Read32(r[0]);
  if (!ws) return Corruption("a stored policy's workspace is not 32 bytes");
  p.workspace = *ws;
  p.audited = r[1].as<bool>();
  if (!r[2].is_null()) p.retention_days = static_cast<uint32_t>(r[2].as<int>());
  p.legal_hold = r[3].as<bool>();
  Result<api::Json> relays = api::ParseJson(r[4].as<std::string>());
  if (!relays.ok() || !relays->is_array()) {
    return Corruption("a stored policy's allowed_relays is not a JSON array");
  }
  for (const api::Json& item : relays->items()) {
    if (item.is_string()) p.allowed_relays.push_back(item.text());
  }
  p.stored = true;
  p.updated_ms = static_cast<uint64_t>(r[5].as<int64_t>());
  p.updated_by = r[6].as<std::string>();
  return p;
}

// A relay given by card or device id: its device id and the canonical text to keep.
Result<std::pair<identity::DeviceId, std::string>> ParseRelay(std::string_view text,
                                                              const std::string& field) {
  if (text.starts_with(identity::kCardPrefix)) {
    Result<identity::CardInfo> card = identity::ParseCardText(text);
    if (!card.ok()) return InvalidArgument("not a valid card: " + card.status().message(), field);
    return std::pair{card->device, card->text()};
  }
  std::optional<identity::DeviceId> device = identity::ParseDeviceId(text);
  if (!device) {
    return InvalidArgument("must be a relay's card (\"grove-card:...\") or device id", field);
  }
  return std::pair{*device, identity::DeviceIdText(*device)};
}

api::Json RelaysJson(const std::vector<std::string>& relays) {
  api::Json out = api::Json::Array();
  for (const std::string& r : relays) out.Add(r);
  return out;
}

}  // namespace

std::vector<identity::DeviceId> WorkspacePolicy::AllowedRelayDevices() const {
  std::vector<identity::DeviceId> out;
  for (const std::string& r : allowed_relays) {
    Result<std::pair<identity::DeviceId, std::string>> parsed = ParseRelay(r, "allowed_relays");
    if (parsed.ok()) out.push_back(parsed->first);
  }
  return out;
}

bool WorkspacePolicy::AllowsRelay(const identity::DeviceId& device) const {
  if (allowed_relays.empty()) return true;
  for (const identity::DeviceId& d : AllowedRelayDevices()) {
    if (d == device) return true;
  }
  return false;
}

Result<Hash32> ParseWorkspaceId(std::string_view text) {
  std::optional<Bytes> raw = text.size() == 64 ? HexDecode(text) : std::nullopt;
  std::optional<Hash32> id = raw ? ToHash32(*raw) : std::nullopt;
  if (!id) return InvalidArgument("a workspace id is 64 hex digits", "workspace");
  return *id;
}

Result<WorkspacePolicy> ParsePolicy(const api::Json& body, const Hash32& workspace) {
  if (!body.is_object()) return InvalidArgument("the body must be a JSON object", "body");
  static constexpr std::string_view kMembers[] = {"audited", "retention_days", "legal_hold",
                                                  "allowed_relays"};
  for (const auto& [key, value] : body.members()) {
    if (std::find(std::begin(kMembers), std::end(kMembers), key) == std::end(kMembers)) {
      return InvalidArgument("unknown member '" + key +
                                 "' (a policy has audited, retention_days, legal_hold, "
                                 "allowed_relays)",
                             key);
    }
  }
  for (std::string_view key : kMembers) {
    if (body.Find(key) == nullptr) {
      return InvalidArgument(std::string(key) + " is required (give every member of a policy)",
                             std::string(key));
    }
  }
  WorkspacePolicy p;
  p.workspace = workspace;
  for (const char* key : {"audited", "legal_hold"}) {
    const api::Json& v = *body.Find(key);
    if (!v.is_bool()) {
      return InvalidArgument(
          std::string(key) + " must be true or false, not " + api::Json::TypeName(v.type()), key);
    }
    (std::string_view(key) == "audited" ? p.audited : p.legal_hold) = v.boolean();
  }
  const api::Json& days = *body.Find("retention_days");
  if (!days.is_null()) {
    if (!days.is_int() || days.integer() < 1 || days.integer() > kMaxRetentionDays) {
      return InvalidArgument(
          "retention_days must be null (keep forever) or a whole number of days "
          "from 1 to " +
              std::to_string(kMaxRetentionDays),
          "retention_days");
    }
    p.retention_days = static_cast<uint32_t>(days.integer());
  }
  const api::Json& relays = *body.Find("allowed_relays");
  if (!relays.is_array()) {
    return InvalidArgument("allowed_relays must be an array of relay cards or device ids",
                           "allowed_relays");
  }
  if (relays.items().size() > kMaxAllowedRelays) {
    return InvalidArgument(
        "allowed_relays may name at most " + std::to_string(kMaxAllowedRelays) + " relays",
        "allowed_relays");
  }
  std::set<identity::DeviceId> seen;
  for (size_t i = 0; i < relays.items().size(); ++i) {
    const std::string field = "allowed_relays[" + std::to_string(i) + "]";
    const api::Json& item = relays.items()[i];
    if (!item.is_string()) {
      return InvalidArgument("must be a relay's card or device id, not " +
                                 std::string(api::Json::TypeName(item.type())),
                             field);
    }
    GROVE_ASSIGN_OR_RETURN(auto relay, ParseRelay(item.text(), field));
    if (!seen.insert(relay.first).second) {
      return InvalidArgument("names a relay already in the list", field);
    }
    p.allowed_relays.push_back(std::move(relay.second));
  }
  return p;
}

api::Json PolicyJson(const WorkspacePolicy& p) {
  api::Json out = api::Json::Object();
  out.Set("workspace", HexEncode(p.workspace));
  out.Set("audited", p.audited);
  out.Set("retention_days",
          p.retention_days ? api::Json(static_cast<int64_t>(*p.retention_days)) : api::Json());
  out.Set("legal_hold", p.legal_hold);
  out.Set("allowed_relays", RelaysJson(p.allowed_relays));
  out.Set("stored", p.stored);
  out.Set("updated_ms", p.stored ? api::Json(p.updated_ms) : api::Json());
  out.Set("updated_by", p.stored ? api::Json(p.updated_by) : api::Json());
  return out;
}

Status Policies::Set(const WorkspacePolicy& policy, const std::string& actor) {
  const uint64_t now = clock_.NowMillis();
  WorkspacePolicy stored = policy;
  stored.stored = true;
  stored.updated_ms = now;
  stored.updated_by = actor;
  GROVE_RETURN_IF_ERROR(db_.Write("setting a workspace policy", [&](pqxx::transaction_base& txn) {
    const pqxx::result before = txn.exec_params(
        std::string("SELECT ") + kColumns + " FROM admin_policies WHERE workspace = $1 FOR UPDATE",
        Blob(policy.workspace));
    api::Json previous;
    if (!before.empty()) {
      GROVE_ASSIGN_OR_RETURN(WorkspacePolicy old, ReadPolicy(before[0]));
      previous = PolicyJson(old);
    }
    std::optional<int> days;
    if (policy.retention_days) days = static_cast<int>(*policy.retention_days);
    txn.exec_params(
        "INSERT INTO admin_policies (workspace, audited, retention_days, legal_hold, "
        "allowed_relays, updated_ms, updated_by) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7) "
        "ON CONFLICT (workspace) DO UPDATE SET audited = $2, retention_days = $3, "
        "legal_hold = $4, allowed_relays = $5::jsonb, updated_ms = $6, updated_by = $7",
        Blob(policy.workspace), policy.audited, days, policy.legal_hold,
        RelaysJson(policy.allowed_relays).Dump(), static_cast<int64_t>(now), actor);
    api::Json detail = PolicyJson(stored);
    detail.Set("previous", std::move(previous));
    return QueueAction(txn, now, actor, "policy.set", HexEncode(policy.workspace), detail,
                       Bytes(policy.workspace.begin(), policy.workspace.end()));
  }));
  std::unique_lock<std::shared_mutex> lock(mu_);
  cache_[policy.workspace] = std::move(stored);
  return Status::Ok();
}

Result<WorkspacePolicy> Policies::Get(const Hash32& workspace) {
  WorkspacePolicy out;
  out.workspace = workspace;
  GROVE_RETURN_IF_ERROR(db_.Read("reading a workspace policy", [&](pqxx::transaction_base& txn) {
    const pqxx::result rows = txn.exec_params(
        std::string("SELECT ") + kColumns + " FROM admin_policies WHERE workspace = $1",
        Blob(workspace));
    if (rows.empty()) return Status::Ok();
    GROVE_ASSIGN_OR_RETURN(out, ReadPolicy(rows[0]));
    return Status::Ok();
  }));
  return out;
}

Result<std::vector<WorkspacePolicy>> Policies::List() {
  std::vector<WorkspacePolicy> out;
  GROVE_RETURN_IF_ERROR(db_.Read("listing workspace policies", [&](pqxx::transaction_base& txn) {
    out.clear();
    const pqxx::result rows =
        txn.exec(std::string("SELECT ") + kColumns + " FROM admin_policies ORDER BY workspace");
    for (const pqxx::row& r : rows) {
      GROVE_ASSIGN_OR_RETURN(WorkspacePolicy p, ReadPolicy(r));
      out.push_back(std::move(p));
    }
    return Status::Ok();
  }));
  return out;
}

std::optional<WorkspacePolicy> Policies::Cached(const Hash32& workspace) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = cache_.find(workspace);
  if (it == cache_.end()) return std::nullopt;
  return it->second;
}

std::vector<WorkspacePolicy> Policies::AllCached() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<WorkspacePolicy> out;
  for (const auto& [id, policy] : cache_) out.push_back(policy);
  return out;
}

Status Policies::Reload() {
  GROVE_ASSIGN_OR_RETURN(std::vector<WorkspacePolicy> all, List());
  std::map<Hash32, WorkspacePolicy> fresh;
  for (WorkspacePolicy& p : all) fresh.emplace(p.workspace, std::move(p));
  std::unique_lock<std::shared_mutex> lock(mu_);
  cache_ = std::move(fresh);
  return Status::Ok();
}

}  // namespace grove::admin
