#include "admin/console_api.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <sstream>

#include "admin/console.h"
#include "api/http_util.h"
#include "api/json.h"
#include "audit/audit_log.h"
#include "audit/export.h"
#include "audit/inbox.h"
#include "audit/search.h"

namespace grove::admin {
namespace {

using api::Json;

// ---- Requests ---------------------------------------------------------------------------------

struct Call {
  const HttpRequest& request;
  std::vector<std::string> params;                         // path parameters, decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  std::optional<SessionInfo> session;                      // routes that need one
  std::string token;                                       // the session's token
  bool by_cookie = false;

  std::string actor() const { return "admin:" + session->account; }
  const std::string* Query(std::string_view key) const {
    for (const auto& [k, v] : query) {
      if (k == key) return &v;
    }
    return nullptr;
  }
};

using Handler = HttpReply (*)(Console&, const Call&);

struct Route {
  std::string_view method;
  std::string_view pattern;
  Handler handler;
  bool session;
  std::vector<std::string_view> query;
};

bool Match(std::string_view pattern, const std::vector<std::string_view>& segments,
           std::vector<std::string>& params) {
  const std::vector<std::string_view> want = api::SplitOn(pattern.substr(1), '/');
  if (want.size() != segments.size()) return false;
  std::vector<std::string> found;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i].starts_with('{')) {
      std::optional<std::string> decoded = api::PercentDecode(segments[i], false);
      if (segments[i].empty() || !decoded) return false;
      found.push_back(std::move(*decoded));
    } else if (want[i] != segments[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

// ---- Replies ----------------------------------------------------------------------------------

HttpReply JsonReply(int status, const Json& body) {
  HttpReply reply;
  reply.status = status;
  reply.body = body.Dump();
  return reply;
}

HttpReply NoContent() {
  HttpReply reply;
  reply.status = 204;
  reply.content_type.clear();
  return reply;
}

HttpReply Error(int status, std::string_view code, std::string_view message,
                std::string_view field = {}) {
  return JsonReply(status, api::ErrorJson(code, message, field));
}

HttpReply ErrorFor(const Status& s) {
  return Error(api::HttpStatusFor(s.code()), api::ErrorCodeFor(s.code()), s.message(), s.where());
}

std::string CookieHeader(std::string_view token, uint64_t max_age_s, bool secure) {
  std::string cookie = std::string(kSessionCookie) + "=" + std::string(token) +
                       "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age_s);
  if (secure) cookie += "; Secure";
  return cookie;
}

// ---- Bodies -----------------------------------------------------------------------------------

Result<Json> BodyObject(const Call& call, std::initializer_list<std::string_view> members) {
  Result<Json> body = api::ParseJson(call.request.body);
  if (!body.ok()) {
    return InvalidArgument(body.status().message() + " (at " + body.status().where() + ")", "body");
  }
  if (!body->is_object()) return InvalidArgument("the body must be a JSON object", "body");
  for (const auto& [key, value] : body->members()) {
    if (std::find(members.begin(), members.end(), key) == members.end()) {
      return InvalidArgument("unknown member '" + key + "'", key);
    }
  }
  return body;
}

// Member `key` as a string: InvalidArgument naming it when missing (unless optional) or not one.
Result<std::optional<std::string>> StringMember(const Json& body, std::string_view key,
                                                bool required) {
  const Json* v = body.Find(key);
  if (v == nullptr || (v->is_null() && !required)) {
    if (required) return InvalidArgument(std::string(key) + " is required", std::string(key));
    return std::optional<std::string>();
  }
  if (!v->is_string()) {
    return InvalidArgument(
        std::string(key) + " must be a string, not " + api::Json::TypeName(v->type()),
        std::string(key));
  }
  return std::optional<std::string>(v->text());
}

// ---- JSON of values ---------------------------------------------------------------------------

Json SessionJson(const SessionInfo& s) {
  Json out = Json::Object();
  out.Set("created_ms", s.created_ms);
  out.Set("expires_ms", s.expires_ms);
  out.Set("idle_expires_ms", s.idle_expires_ms);
  return out;
}

Json Nullable(bool present, Json value) { return present ? std::move(value) : Json(); }

Json DeviceJson(const DeviceRecord& d) {
  Json out = Json::Object();
  out.Set("device", identity::DeviceIdText(d.device));
  out.Set("name", d.name);
  out.Set("state", d.revoked ? "revoked" : "enrolled");
  out.Set("card", d.card);
  out.Set("enrolment", d.enrolment);
  out.Set("enrolled_ms", d.enrolled_ms);
  out.Set("enrolled_by", d.enrolled_by);
  out.Set("revoked_ms", Nullable(d.revoked, Json(d.revoked_ms)));
  out.Set("revoked_by", Nullable(d.revoked, Json(d.revoked_by)));
  out.Set("reason", Nullable(d.revoked, Json(d.reason)));
  out.Set("serial", Nullable(d.revoked, Json(d.serial)));
  out.Set("revocation", Nullable(d.revoked, Json(d.revocation)));
  return out;
}

Json LatencyJson(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6f", seconds);
  return Json::Number(text);
}

// ---- Handlers ---------------------------------------------------------------------------------

HttpReply Login(Console& console, const Call& call) {
  Result<Json> body = BodyObject(call, {"name", "password"});
  if (!body.ok()) return ErrorFor(body.status());
  Result<std::optional<std::string>> name = StringMember(*body, "name", true);
  if (!name.ok()) return ErrorFor(name.status());
  Result<std::optional<std::string>> password = StringMember(*body, "password", true);
  if (!password.ok()) return ErrorFor(password.status());
  Result<LoginOutcome> outcome = console.accounts().Login(**name, **password, call.request.remote);
  if (!outcome.ok()) return ErrorFor(outcome.status());
  switch (outcome->kind) {
    case LoginOutcome::Kind::kSignedIn: {
      const SessionInfo& s = outcome->session;
      Json out = Json::Object();
      out.Set("token", outcome->token);
      out.Set("name", s.account);
      out.Set("session", SessionJson(s));
      HttpReply reply = JsonReply(200, out);
      const uint64_t now = s.created_ms;
      reply.headers.emplace_back("Set-Cookie",
                                 CookieHeader(outcome->token, (s.expires_ms - now) / 1000,
                                              console.options().secure_cookie));
      return reply;
    }
    case LoginOutcome::Kind::kRefused:
      return Error(401, "unauthorized", "wrong account name or password");
    case LoginOutcome::Kind::kLocked: {
      Json body_json = api::ErrorJson(
          "account_locked", "too many failed logins: this account is locked until unlocks_ms", "");
      Json error = *body_json.Find("error");
      error.Set("unlocks_ms", outcome->unlocks_ms);
      Json wrapped = Json::Object();
      wrapped.Set("error", std::move(error));
      HttpReply reply = JsonReply(429, wrapped);
      const uint64_t now = console.clock().NowMillis();
      const uint64_t wait_ms = outcome->unlocks_ms > now ? outcome->unlocks_ms - now : 0;
      reply.headers.emplace_back("Retry-After", std::to_string((wait_ms + 999) / 1000));
      return reply;
    }
  }
  return Error(500, "internal", "unknown login outcome");
}

HttpReply Logout(Console& console, const Call& call) {
  if (Status s = console.accounts().Logout(call.token, call.request.remote); !s.ok()) {
    return ErrorFor(s);
  }
  HttpReply reply = NoContent();
  reply.headers.emplace_back("Set-Cookie", CookieHeader("", 0, console.options().secure_cookie));
  return reply;
}

HttpReply Me(Console&, const Call& call) {
  Json out = Json::Object();
  out.Set("name", call.session->account);
  out.Set("session", SessionJson(*call.session));
  out.Set("auth", call.by_cookie ? "cookie" : "bearer");
  return JsonReply(200, out);
}

HttpReply ListPolicies(Console& console, const Call&) {
  Result<std::vector<WorkspacePolicy>> all = console.policies().List();
  if (!all.ok()) return ErrorFor(all.status());
  Json list = Json::Array();
  for (const WorkspacePolicy& p : *all) list.Add(PolicyJson(p));
  Json out = Json::Object();
  out.Set("policies", std::move(list));
  return JsonReply(200, out);
}

HttpReply GetPolicy(Console& console, const Call& call) {
  Result<Hash32> ws = ParseWorkspaceId(call.params[0]);
  if (!ws.ok()) return ErrorFor(ws.status());
  Result<WorkspacePolicy> policy = console.policies().Get(*ws);
  if (!policy.ok()) return ErrorFor(policy.status());
  return JsonReply(200, PolicyJson(*policy));
}

HttpReply PutPolicy(Console& console, const Call& call) {
  Result<Hash32> ws = ParseWorkspaceId(call.params[0]);
  if (!ws.ok()) return ErrorFor(ws.status());
  Result<Json> body = api::ParseJson(call.request.body);
  if (!body.ok()) {
    return Error(400, "invalid_argument",
                 body.status().message() + " (at " + body.status().where() + ")", "body");
  }
  Result<WorkspacePolicy> policy = ParsePolicy(*body, *ws);
  if (!policy.ok()) return ErrorFor(policy.status());
  if (Status s = console.policies().Set(*policy, call.actor()); !s.ok()) return ErrorFor(s);
  Result<WorkspacePolicy> stored = console.policies().Get(*ws);
  if (!stored.ok()) return ErrorFor(stored.status());
  return JsonReply(200, PolicyJson(*stored));
}

// Bytes of deltas stored for all relays sharing the database (the relay schema's counters);
// nullopt when the relay has not made its tables yet.
Result<std::optional<uint64_t>> StoredBytes(Console& console) {
  std::optional<uint64_t> bytes;
  GROVE_RETURN_IF_ERROR(
      console.db().Read("reading the relay's usage", [&](pqxx::transaction_base& txn) {
        bytes.reset();
        if (txn.exec("SELECT to_regclass('usage_workspace') IS NULL")[0][0].as<bool>()) {
          return Status::Ok();
        }
        bytes = static_cast<uint64_t>(
            txn.exec("SELECT coalesce(sum(bytes), 0)::bigint FROM usage_workspace")[0][0]
                .as<int64_t>());
        return Status::Ok();
      }));
  return bytes;
}

HttpReply GetStatus(Console& console, const Call&) {
  Json out = Json::Object();
  if (console.options().relay_status) {
    const RelayStatus s = console.options().relay_status();
    Json relay = Json::Object();
    relay.Set("version", s.version);
    relay.Set("device", s.device);
    relay.Set("card", s.card);
    relay.Set("started_ms", s.started_ms);
    relay.Set("uptime_s", (s.now_ms > s.started_ms ? s.now_ms - s.started_ms : 0) / 1000);
    relay.Set("connections", s.connections);
    relay.Set("workspaces", s.workspaces);
    relay.Set("stored_deltas", s.stored_deltas);
    Json db = Json::Object();
    db.Set("ok", s.database_ok);
    if (s.database_ok) {
      db.Set("latency_seconds", LatencyJson(s.database_latency_seconds));
    } else {
      db.Set("error", s.database_error);
    }
    relay.Set("database", std::move(db));
    Json peers = Json::Array();
    for (const PeerSeen& p : s.peers) {
      Json peer = Json::Object();
      peer.Set("device", p.device);
      peer.Set("name", p.name);
      peer.Set("connected", p.connected);
      peer.Set("last_seen_ms", p.last_seen_ms);
      peer.Set("address", p.address);
      peer.Set("path", p.path);
      peers.Add(std::move(peer));
    }
    out.Set("relay", std::move(relay));
    out.Set("peers", std::move(peers));
  } else {
    out.Set("relay", Json());
    out.Set("peers", Json::Array());
  }
  Result<std::optional<uint64_t>> bytes = StoredBytes(console);
  Json console_db = Json::Object();
  console_db.Set("ok", bytes.ok());
  if (!bytes.ok()) console_db.Set("error", bytes.status().message());
  out.Set("stored_bytes", bytes.ok() && *bytes ? Json(**bytes) : Json());
  out.Set("console_database", std::move(console_db));
  return JsonReply(200, out);
}

HttpReply VerifyAudit(Console& console, const Call&) {
  Result<audit::VerifyReport> report =
      audit::VerifyLog(console.db().url(), console.options().auditor_key);
  if (!report.ok()) return ErrorFor(report.status());
  Json out = Json::Object();
  out.Set("ok", report->ok);
  out.Set("where", report->where);
  out.Set("entries", report->entries);
  out.Set("entries_checked", report->entries_checked);
  out.Set("heads_checked", report->heads_checked);
  out.Set("unsigned_entries", report->unsigned_entries);
  out.Set("bad_seq", report->bad_seq ? Json(*report->bad_seq) : Json());
  out.Set("problem", report->ok ? Json() : Json(report->problem));
  out.Set("auditor_key",
          console.options().auditor_key ? Json(HexEncode(*console.options().auditor_key)) : Json());
  return JsonReply(200, out);
}

// The audit filters of a request (search and export alike). InvalidArgument naming the
// parameter for a value that does not parse.
Result<audit::Query> AuditQuery(const Call& call) {
  audit::Query q;
  if (const std::string* ws = call.Query("workspace"); ws && !ws->empty()) {
    std::optional<Bytes> id = HexDecode(*ws);
    if (!id || id->size() != 32) {
      return InvalidArgument("workspace must be a workspace id (64 hex digits)", "workspace");
    }
    q.workspace = std::move(*id);
  }
  auto text = [&](std::string_view key, std::optional<std::string>& into) {
    if (const std::string* v = call.Query(key); v && !v->empty()) into = *v;
  };
  text("record", q.record);
  text("device", q.device);
  text("user", q.user_name);
  text("op", q.op);
  if (const std::string* kind = call.Query("kind"); kind && !kind->empty()) {
    for (audit::EntryKind k : {audit::EntryKind::kOp, audit::EntryKind::kRejected,
                               audit::EntryKind::kFork, audit::EntryKind::kAdmin}) {
      if (audit::EntryKindName(k) == *kind) q.kind = k;
    }
    if (!q.kind) return InvalidArgument("kind must be op, rejected, fork or admin", "kind");
  }
  for (const auto& [key, into] : {std::pair{"from", &q.from_ms}, std::pair{"to", &q.to_ms}}) {
    if (const std::string* v = call.Query(key); v && !v->empty()) {
      Result<uint64_t> ms = audit::ParseTimestampMs(*v, key);
      if (!ms.ok()) return InvalidArgument(ms.status().message(), key);
      *into = *ms;
    }
  }
  return q;
}

Result<uint64_t> UnsignedQuery(const Call& call, std::string_view key, uint64_t max) {
  const std::string* v = call.Query(key);
  uint64_t n = 0;
  if (v->empty() || v->size() > 19 ||
      !std::all_of(v->begin(), v->end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      (n = std::stoull(*v)) > max) {
    return InvalidArgument(
        std::string(key) + " must be an integer from 0 to " + std::to_string(max),
        std::string(key));
  }
  return n;
}

Json EntryJson(const audit::FoundEntry& found) {
  const audit::Entry& e = found.entry;
  Json out = Json::Object();
  out.Set("seq", e.seq);
  out.Set("kind", std::string(audit::EntryKindName(e.kind)));
  out.Set("workspace", HexEncode(e.workspace));
  out.Set("device", e.device);
  out.Set("user_name", e.user_name);
  out.Set("op", e.op);
  out.Set("record", e.record);
  out.Set("field", e.field);
  out.Set("old_value", e.old_value);
  out.Set("new_value", e.new_value);
  out.Set("hlc", e.hlc);
  out.Set("received_at", audit::FormatTimestampMs(e.received_at_ms));
  out.Set("received_at_ms", e.received_at_ms);
  out.Set("delta_hash", HexEncode(e.delta_hash));
  out.Set("leaf_hash", HexEncode(found.leaf_hash));
  out.Set("pruned", found.pruned);
  return out;
}

HttpReply SearchAudit(Console& console, const Call& call) {
  Result<audit::Query> q = AuditQuery(call);
  if (!q.ok()) return ErrorFor(q.status());
  if (call.Query("after")) {
    Result<uint64_t> after = UnsignedQuery(call, "after", uint64_t{1} << 62);
    if (!after.ok()) return ErrorFor(after.status());
    q->after_seq = *after;
  }
  q->limit = 100;
  if (call.Query("limit")) {
    Result<uint64_t> limit = UnsignedQuery(call, "limit", 1000);
    if (!limit.ok()) return ErrorFor(limit.status());
    if (*limit == 0) return Error(400, "invalid_argument", "limit must be 1 to 1000", "limit");
    q->limit = *limit;
  }
  Result<audit::SearchPage> page = audit::Search(console.db().url(), *q);
  if (!page.ok()) return ErrorFor(page.status());
  Json entries = Json::Array();
  for (const audit::FoundEntry& e : page->entries) entries.Add(EntryJson(e));
  Json out = Json::Object();
  out.Set("entries", std::move(entries));
  out.Set("next_after", page->next_after ? Json(*page->next_after) : Json());
  return JsonReply(200, out);
}

HttpReply ExportAudit(Console& console, const Call& call) {
  const std::string* format = call.Query("format");
  if (!format || (*format != "jsonl" && *format != "csv")) {
    return Error(400, "invalid_argument", "format must be jsonl or csv", "format");
  }
  Result<audit::Query> q = AuditQuery(call);
  if (!q.ok()) return ErrorFor(q.status());
  // An export for e-discovery is itself on the record, before it is handed out.
  Status noted = console.db().Write("recording an audit export", [&](pqxx::transaction_base& txn) {
    return audit::QueueAdminAction(txn,
                                   audit::AdminAction{.at_ms = console.clock().NowMillis(),
                                                      .actor = call.actor(),
                                                      .action = "audit.export",
                                                      .target = *format,
                                                      .detail = call.request.target,
                                                      .workspace = q->workspace.value_or(Bytes{})});
  });
  if (!noted.ok()) return ErrorFor(noted);
  std::ostringstream body;
  Result<audit::ExportSummary> summary = audit::Export(
      console.db().url(), *q,
      *format == "csv" ? audit::ExportFormat::kCsv : audit::ExportFormat::kJsonLines, body);
  if (!summary.ok()) return ErrorFor(summary.status());
  HttpReply reply;
  reply.status = 200;
  reply.content_type = *format == "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson";
  reply.body = std::move(body).str();
  reply.headers.emplace_back("Content-Disposition",
                             "attachment; filename=\"grove-audit." + *format + "\"");
  reply.headers.emplace_back("X-Grove-Entries", std::to_string(summary->entries));
  return reply;
}

HttpReply GetOrg(Console& console, const Call&) {
  Result<std::string> card = console.devices().OrgCard();
  if (!card.ok()) return ErrorFor(card.status());
  Result<crypto::PublicKey> key = org::ParseOrgCard(*card);
  Json out = Json::Object();
  out.Set("org", key.ok() ? org::OrgIdText(org::OrgIdOf(*key)) : "");
  out.Set("card", *card);
  return JsonReply(200, out);
}

HttpReply ListDevices(Console& console, const Call&) {
  Result<std::vector<DeviceRecord>> all = console.devices().List();
  if (!all.ok()) return ErrorFor(all.status());
  Json list = Json::Array();
  for (const DeviceRecord& d : *all) list.Add(DeviceJson(d));
  Json out = Json::Object();
  out.Set("devices", std::move(list));
  return JsonReply(200, out);
}

HttpReply EnrolDevice(Console& console, const Call& call) {
  Result<Json> body = BodyObject(call, {"card", "name"});
  if (!body.ok()) return ErrorFor(body.status());
  Result<std::optional<std::string>> card = StringMember(*body, "card", true);
  if (!card.ok()) return ErrorFor(card.status());
  Result<std::optional<std::string>> name = StringMember(*body, "name", false);
  if (!name.ok()) return ErrorFor(name.status());
  Result<DeviceRecord> d = console.devices().Enrol(**card, *name, call.actor());
  if (!d.ok()) return ErrorFor(d.status());
  return JsonReply(201, DeviceJson(*d));
}

HttpReply RevokeDevice(Console& console, const Call& call) {
  std::optional<identity::DeviceId> device = identity::ParseDeviceId(call.params[0]);
  if (!device) {
    return Error(404, "not_found", "no such device: a device id is 52 base32 characters", "device");
  }
  Result<Json> body = BodyObject(call, {"reason"});
  if (!body.ok()) return ErrorFor(body.status());
  Result<std::optional<std::string>> reason = StringMember(*body, "reason", false);
  if (!reason.ok()) return ErrorFor(reason.status());
  Result<DeviceRecord> d = console.devices().Revoke(*device, reason->value_or(""), call.actor());
  if (!d.ok()) return ErrorFor(d.status());
  return JsonReply(200, DeviceJson(*d));
}

HttpReply ListRevocations(Console& console, const Call&) {
  Result<std::vector<DeviceRecord>> all = console.devices().List();
  if (!all.ok()) return ErrorFor(all.status());
  std::vector<const DeviceRecord*> revoked;
  for (const DeviceRecord& d : *all) {
    if (d.revoked) revoked.push_back(&d);
  }
  std::sort(revoked.begin(), revoked.end(),
            [](const DeviceRecord* a, const DeviceRecord* b) { return a->serial < b->serial; });
  Json list = Json::Array();
  for (const DeviceRecord* d : revoked) list.Add(d->revocation);
  Json out = Json::Object();
  const std::optional<std::string> card = console.OrgCard();
  out.Set("org_card", card ? Json(*card) : Json());
  out.Set("revocations", std::move(list));
  return JsonReply(200, out);
}

const std::vector<Route>& RouteTable() {
  static const std::vector<std::string_view> kAuditFilters = {
      "workspace", "record", "device", "user", "op", "kind", "from", "to"};
  static const std::vector<Route> routes = [] {
    std::vector<std::string_view> entries = kAuditFilters;
    entries.insert(entries.end(), {"after", "limit"});
    std::vector<std::string_view> exports = kAuditFilters;
    exports.insert(exports.begin(), "format");
    return std::vector<Route>{
        {"POST", "/api/v1/admin/login", Login, false, {}},
        {"POST", "/api/v1/admin/logout", Logout, true, {}},
        {"GET", "/api/v1/admin/me", Me, true, {}},
        {"GET", "/api/v1/admin/status", GetStatus, true, {}},
        {"GET", "/api/v1/admin/policies", ListPolicies, true, {}},
        {"GET", "/api/v1/admin/policies/{workspace}", GetPolicy, true, {}},
        {"PUT", "/api/v1/admin/policies/{workspace}", PutPolicy, true, {}},
        {"GET", "/api/v1/admin/audit/verify", VerifyAudit, true, {}},
        {"GET", "/api/v1/admin/audit/entries", SearchAudit, true, entries},
        {"GET", "/api/v1/admin/audit/export", ExportAudit, true, exports},
        {"GET", "/api/v1/admin/org", GetOrg, false, {}},
        {"GET", "/api/v1/admin/devices", ListDevices, true, {}},
        {"POST", "/api/v1/admin/devices", EnrolDevice, true, {}},
        {"POST", "/api/v1/admin/devices/{device}/revoke", RevokeDevice, true, {}},
        {"GET", "/api/v1/admin/revocations", ListRevocations, false, {}},
    };
  }();
  return routes;
}

// The session token of a request: from "Authorization: Bearer", else from the cookie.
std::optional<std::string> TokenOf(const HttpRequest& request, bool& by_cookie,
                                   std::string& problem) {
  by_cookie = false;
  if (const std::string* auth = request.Header("authorization")) {
    constexpr std::string_view kBearer = "Bearer ";
    if (!auth->starts_with(kBearer) || auth->size() == kBearer.size()) {
      problem = "the Authorization header must be \"Bearer TOKEN\"";
      return std::nullopt;
    }
    return auth->substr(kBearer.size());
  }
  for (const auto& [key, value] : request.headers) {
    if (key != "cookie") continue;
    if (std::optional<std::string_view> token = api::CookieValue(value, kSessionCookie)) {
      by_cookie = true;
      return std::string(*token);
    }
  }
  problem = "sign in first: send \"Authorization: Bearer TOKEN\" or the session cookie";
  return std::nullopt;
}

bool ChangesState(std::string_view method) { return method != "GET" && method != "HEAD"; }

}  // namespace

std::vector<ConsoleApi::RouteInfo> ConsoleApi::Routes() {
  std::vector<RouteInfo> out;
  for (const Route& r : RouteTable()) {
    out.push_back(RouteInfo{std::string(r.method), std::string(r.pattern),
                            std::vector<std::string>(r.query.begin(), r.query.end()), r.session});
  }
  return out;
}

HttpReply ConsoleApi::Handle(const HttpRequest& request) {
  HttpReply reply = [&]() -> HttpReply {
    const std::string_view target = request.target;
    const size_t q = target.find('?');
    const std::string_view path = target.substr(0, q);
    if (!path.starts_with('/')) return Error(400, "invalid_argument", "bad request target");
    const std::vector<std::string_view> segments = api::SplitOn(path.substr(1), '/');
    const Route* route = nullptr;
    Call call{request, {}, {}, std::nullopt, {}, false};
    std::string allow;
    for (const Route& r : RouteTable()) {
      std::vector<std::string> params;
      if (!Match(r.pattern, segments, params)) continue;
      if (r.method == request.method) {
        route = &r;
        call.params = std::move(params);
        break;
      }
      allow += (allow.empty() ? "" : ", ") + std::string(r.method);
    }
    if (route == nullptr) {
      if (allow.empty()) return Error(404, "not_found", "no such path");
      HttpReply r = Error(405, "method_not_allowed", "use " + allow);
      r.headers.emplace_back("Allow", allow);
      return r;
    }
    if (q != std::string_view::npos && q + 1 < target.size()) {
      for (std::string_view pair : api::SplitOn(target.substr(q + 1), '&')) {
        if (pair.empty()) continue;
        const size_t eq = pair.find('=');
        std::optional<std::string> key = api::PercentDecode(pair.substr(0, eq), true);
        std::optional<std::string> value = api::PercentDecode(
            eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
        if (!key || !value) return Error(400, "invalid_argument", "bad percent-encoding", "query");
        if (std::find(route->query.begin(), route->query.end(), *key) == route->query.end()) {
          return Error(400, "invalid_argument", "unknown query parameter '" + *key + "'", *key);
        }
        call.query.emplace_back(std::move(*key), std::move(*value));
      }
    }
    if (request.body.size() > kMaxAdminBodyBytes) {
      return Error(413, "payload_too_large", "the body is larger than 1 MiB");
    }
    if (!request.body.empty()) {
      const std::string* type = request.Header("content-type");
      if (type == nullptr || !type->starts_with("application/json")) {
        return Error(415, "unsupported_media_type", "send the body as application/json");
      }
    }
    if (route->session) {
      std::string problem;
      std::optional<std::string> token = TokenOf(request, call.by_cookie, problem);
      if (!token) return Error(401, "unauthorized", problem);
      if (call.by_cookie && ChangesState(request.method)) {
        const std::string* csrf = request.Header(kCsrfHeader);
        if (csrf == nullptr || *csrf != "1") {
          return Error(403, "csrf_header_required",
                       "a request signed in by cookie that changes anything must carry the "
                       "header X-Grove-CSRF: 1");
        }
      }
      Result<Authentication> auth = console_.accounts().Authenticate(*token);
      if (!auth.ok()) return ErrorFor(auth.status());
      if (!auth->session) return Error(401, "unauthorized", auth->problem);
      call.session = std::move(auth->session);
      call.token = std::move(*token);
    }
    return route->handler(console_, call);
  }();
  reply.headers.emplace_back("Cache-Control", "no-store");
  if (reply.status == 401) reply.headers.emplace_back("WWW-Authenticate", "Bearer");
  return reply;
}

}  // namespace grove::admin
