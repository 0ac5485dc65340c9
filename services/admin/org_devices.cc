#include "admin/org_devices.h"

#include <algorithm>

namespace grove::admin {
namespace {

constexpr const char* kColumns =
    "device, name, card, enrolment, enrolled_ms, enrolled_by, revoked_ms, revoked_by, reason, "
    "serial, revocation";

pqxx::binarystring Blob(ByteView v) { return pqxx::binarystring(v.data(), v.size()); }

std::optional<Hash32> Read32(const pqxx::field& f) {
  pqxx::binarystring b(f);
  return ToHash32(ByteView(b.data(), b.size()));
}

Result<DeviceRecord> ReadDevice(const pqxx::row& r) {
  DeviceRecord d;
  std::optional<Hash32> device = Read32(r[0]);
  if (!device) return Corruption("a stored device id is not 32 bytes");
  d.device = *device;
  d.name = r[1].as<std::string>();
  d.card = r[2].as<std::string>();
  d.enrolment = r[3].as<std::string>();
  d.enrolled_ms = static_cast<uint64_t>(r[4].as<int64_t>());
  d.enrolled_by = r[5].as<std::string>();
  d.revoked = !r[6].is_null();
  if (d.revoked) {
    d.revoked_ms = static_cast<uint64_t>(r[6].as<int64_t>());
    d.revoked_by = r[7].is_null() ? "" : r[7].as<std::string>();
    d.reason = r[8].is_null() ? "" : r[8].as<std::string>();
    d.serial = r[9].is_null() ? 0 : static_cast<uint64_t>(r[9].as<int64_t>());
    d.revocation = r[10].as<std::string>();
  }
  return d;
}

std::string Short(const identity::DeviceId& device) {
  return identity::DeviceIdText(device).substr(0, 16);
}

}  // namespace

OrgDevices::OrgDevices(AdminDb& db, Clock& clock, Random& rng, std::string data)
    : db_(db), clock_(clock), data_(std::move(data)), rng_(rng) {}

Result<const org::OrgCa*> OrgDevices::Ca() {
  std::lock_guard<std::mutex> lock(ca_mu_);
  if (ca_) return ca_.get();
  std::optional<crypto::PublicKey> recorded;
  auto read_recorded = [&](pqxx::transaction_base& txn) {
    recorded.reset();
    const pqxx::result rows = txn.exec("SELECT public_key FROM org_ca");
    if (!rows.empty()) recorded = Read32(rows[0][0]);
    return Status::Ok();
  };
  GROVE_RETURN_IF_ERROR(db_.Read("reading the organisation CA", read_recorded));
  Result<org::OrgCa> ca = org::OrgCa::Load(data_);
  if (!ca.ok() && ca.status().code() == Code::kNotFound) {
    if (recorded) {
      return FailedPrecondition(
          "the database names organisation " + org::OrgIdText(org::OrgIdOf(*recorded)) +
          " but this relay has no " + std::string(org::kOrgCaKeyFile) + " in " + data_ +
          ": copy it from the relay that made it (relays sharing a database share one CA)");
    }
    ca = org::OrgCa::LoadOrCreate(data_, rng_, clock_);
  }
  if (!ca.ok()) return ca.status().Annotate("organisation CA");
  const crypto::PublicKey key = ca->public_key();
  const uint64_t created_ms = ca->created_ms();
  GROVE_RETURN_IF_ERROR(
      db_.Write("recording the organisation CA", [&](pqxx::transaction_base& txn) {
        txn.exec_params(
            "INSERT INTO org_ca (public_key, created_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            Blob(key), static_cast<int64_t>(created_ms));
        return read_recorded(txn);
      }));
  if (!recorded || *recorded != key) {
    return FailedPrecondition("this relay's " + std::string(org::kOrgCaKeyFile) +
                              " is organisation " + org::OrgIdText(org::OrgIdOf(key)) +
                              ", but the database's is " +
                              (recorded ? org::OrgIdText(org::OrgIdOf(*recorded)) : "unreadable") +
                              ": relays sharing a database must share one org-ca.key");
  }
  ca_ = std::make_unique<org::OrgCa>(std::move(ca).value());
  {
    std::unique_lock<std::shared_mutex> cache_lock(mu_);
    ca_key_ = key;
  }
  return ca_.get();
}

Result<std::string> OrgDevices::OrgCard() {
  GROVE_ASSIGN_OR_RETURN(const org::OrgCa* ca, Ca());
  return ca->card();
}

Result<DeviceRecord> OrgDevices::Enrol(std::string_view card, std::optional<std::string> name,
                                       const std::string& actor) {
  if (card.size() > org::kMaxCardTextBytes) {
    return InvalidArgument("card is too long to be a card", "card");
  }
  Result<identity::CardInfo> info = identity::ParseCardText(card);
  if (!info.ok()) return InvalidArgument("card: " + info.status().message(), "card");
  GROVE_ASSIGN_OR_RETURN(const org::OrgCa* ca, Ca());
  const uint64_t now = clock_.NowMillis();
  GROVE_ASSIGN_OR_RETURN(org::Enrolment e, ca->Enrol(card, name.value_or(info->name), now));
  DeviceRecord d;
  d.device = e.device;
  d.name = e.name;
  d.card = e.card;
  d.enrolment = org::EncodeEnrolment(e);
  d.enrolled_ms = now;
  d.enrolled_by = actor;
  GROVE_RETURN_IF_ERROR(db_.Write("enrolling a device", [&](pqxx::transaction_base& txn) {
    const pqxx::result r = txn.exec_params(
        "INSERT INTO org_devices (device, name, card, enrolment, enrolled_ms, enrolled_by) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (device) DO NOTHING RETURNING device",
        Blob(d.device), d.name, d.card, d.enrolment, static_cast<int64_t>(now), actor);
    if (r.empty()) {
      const pqxx::result old = txn.exec_params(
          "SELECT revoked_ms IS NOT NULL FROM org_devices WHERE device = $1", Blob(d.device));
      if (!old.empty() && old[0][0].as<bool>()) {
        return FailedPrecondition("device " + Short(d.device) +
                                      " was revoked and cannot be enrolled again (the device "
                                      "must make a new key)",
                                  "card");
      }
      return AlreadyExists("device " + Short(d.device) + " is enrolled already", "card");
    }
    api::Json detail = api::Json::Object();
    detail.Set("name", d.name);
    detail.Set("org", org::OrgIdText(e.org));
    return QueueAction(txn, now, actor, "device.enrol", identity::DeviceIdText(d.device), detail);
  }));
  Remember(d);
  return d;
}

Result<DeviceRecord> OrgDevices::Revoke(const identity::DeviceId& device, std::string reason,
                                        const std::string& actor) {
  GROVE_RETURN_IF_ERROR(org::CheckReason(reason));
  GROVE_ASSIGN_OR_RETURN(const org::OrgCa* ca, Ca());
  const uint64_t now = clock_.NowMillis();
  DeviceRecord d;
  GROVE_RETURN_IF_ERROR(db_.Write("revoking a device", [&](pqxx::transaction_base& txn) {
    const pqxx::result rows = txn.exec_params(
        std::string("SELECT ") + kColumns + " FROM org_devices WHERE device = $1 FOR UPDATE",
        Blob(device));
    if (rows.empty()) {
      return NotFound("device " + Short(device) + " is not enrolled", "device");
    }
    GROVE_ASSIGN_OR_RETURN(d, ReadDevice(rows[0]));
    if (d.revoked) {
      return FailedPrecondition("device " + Short(device) + " is revoked already", "device");
    }
    const auto serial = static_cast<uint64_t>(
        txn.exec("SELECT nextval('org_revocation_serial')")[0][0].as<int64_t>());
    GROVE_ASSIGN_OR_RETURN(org::Revocation r, ca->Revoke(device, now, reason, serial));
    d.revoked = true;
    d.revoked_ms = now;
    d.revoked_by = actor;
    d.reason = reason;
    d.serial = serial;
    d.revocation = org::EncodeRevocation(r);
    txn.exec_params(
        "UPDATE org_devices SET revoked_ms = $2, revoked_by = $3, reason = $4, serial = $5, "
        "revocation = $6 WHERE device = $1",
        Blob(device), static_cast<int64_t>(now), actor, reason, static_cast<int64_t>(serial),
        d.revocation);
    api::Json detail = api::Json::Object();
    detail.Set("name", d.name);
    detail.Set("reason", reason);
    detail.Set("serial", serial);
    return QueueAction(txn, now, actor, "device.revoke", identity::DeviceIdText(device), detail);
  }));
  Remember(d);
  return d;
}

Result<std::vector<DeviceRecord>> OrgDevices::List() {
  std::vector<DeviceRecord> out;
  GROVE_RETURN_IF_ERROR(db_.Read("listing devices", [&](pqxx::transaction_base& txn) {
    out.clear();
    const pqxx::result rows = txn.exec(std::string("SELECT ") + kColumns +
                                       " FROM org_devices ORDER BY revoked_ms IS NOT NULL, name, "
                                       "device");
    for (const pqxx::row& r : rows) {
      GROVE_ASSIGN_OR_RETURN(DeviceRecord d, ReadDevice(r));
      out.push_back(std::move(d));
    }
    return Status::Ok();
  }));
  return out;
}

void OrgDevices::Remember(const DeviceRecord& record) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  cache_[record.device] = record;
}

std::vector<std::string> OrgDevices::Revocations() const {
  std::vector<std::pair<uint64_t, std::string>> by_serial;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    for (const auto& [device, d] : cache_) {
      if (d.revoked) by_serial.emplace_back(d.serial, d.revocation);
    }
  }
  std::sort(by_serial.begin(), by_serial.end());
  std::vector<std::string> out;
  out.reserve(by_serial.size());
  for (auto& [serial, text] : by_serial) out.push_back(std::move(text));
  return out;
}

DeviceState OrgDevices::State(const identity::DeviceId& device) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = cache_.find(device);
  if (it == cache_.end()) return DeviceState::kUnknown;
  return it->second.revoked ? DeviceState::kRevoked : DeviceState::kEnrolled;
}

std::optional<std::string> OrgDevices::EnrolmentOf(const identity::DeviceId& device) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = cache_.find(device);
  if (it == cache_.end() || it->second.revoked) return std::nullopt;
  return it->second.enrolment;
}

std::optional<std::string> OrgDevices::SignPolicy(org::Policy policy) {
  std::lock_guard<std::mutex> lock(ca_mu_);
  if (!ca_) return std::nullopt;
  Result<org::Policy> signed_policy = ca_->Sign(std::move(policy));
  if (!signed_policy.ok()) return std::nullopt;
  return org::EncodePolicy(*signed_policy);
}

std::optional<crypto::PublicKey> OrgDevices::CaKey() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return ca_key_;
}

Status OrgDevices::Reload() {
  GROVE_ASSIGN_OR_RETURN(std::vector<DeviceRecord> all, List());
  std::optional<crypto::PublicKey> key;
  GROVE_RETURN_IF_ERROR(db_.Read("reading the organisation CA", [&](pqxx::transaction_base& txn) {
    key.reset();
    const pqxx::result rows = txn.exec("SELECT public_key FROM org_ca");
    if (!rows.empty()) key = Read32(rows[0][0]);
    return Status::Ok();
  }));
  std::map<identity::DeviceId, DeviceRecord> fresh;
  for (DeviceRecord& d : all) fresh.emplace(d.device, std::move(d));
  std::unique_lock<std::shared_mutex> lock(mu_);
  cache_ = std::move(fresh);
  if (key) ca_key_ = key;
  return Status::Ok();
}

}  // namespace grove::admin
