// The JSON routes: each handler checks its whole request first, then calls the Backend once (or,
// for PATCH, once to change and once to read back), then shapes the reply.
#include <initializer_list>

#include "api/internal.h"
#include "api/value_json.h"

namespace grove::api::internal {
namespace {

// --- request checking ----------------------------------------------------------------------------

bool IsBlank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// The body as a JSON object whose members are all in `allowed`. An empty body is {} when
// `empty_ok`, since a POST that only acts (accept) has nothing to say.
Result<Json> BodyObject(const Request& request, std::initializer_list<std::string_view> allowed,
                        bool empty_ok = false) {
  if (IsBlank(request.body)) {
    if (empty_ok) return Json::Object();
    return InvalidArgument("the request body is empty; a JSON object was expected", "body");
  }
  GROVE_ASSIGN_OR_RETURN(Json body, ParseJson(request.body));
  if (!body.is_object()) {
    return InvalidArgument(
        std::string("the request body must be a JSON object, not ") + Json::TypeName(body.type()),
        "body");
  }
  for (const auto& [key, unused] : body.members()) {
    bool known = false;
    for (std::string_view name : allowed) known = known || name == key;
    if (!known) return InvalidArgument("unknown field \"" + key + "\"", key);
  }
  return body;
}

Status WrongType(const std::string& field, const char* wanted, const Json& got) {
  if (got.is_number() && std::string_view(wanted) == "an integer") {
    // Say why, not just what: the API never takes floating point.
    return InvalidArgument(field + " must be an integer, not " + got.text() +
                               ": money and quantities are integers: use minor units",
                           field);
  }
  return InvalidArgument(field + " must be " + wanted + ", not " + Json::TypeName(got.type()),
                         field);
}

// Member `key` of `object` as a string: `fallback` when absent, if one is given.
Result<std::string> StringMember(const Json& object, const std::string& key,
                                 const char* fallback = nullptr) {
  const Json* member = object.Find(key);
  if (member == nullptr) {
    if (fallback != nullptr) return std::string(fallback);
    return InvalidArgument(key + " is missing", key);
  }
  if (!member->is_string()) return WrongType(key, "a string", *member);
  return member->text();
}

// Member `key` as an object (a map of field names); an empty object when absent.
Result<Json> ObjectMember(const Json& object, const std::string& key) {
  const Json* member = object.Find(key);
  if (member == nullptr) return Json::Object();
  if (!member->is_object()) return WrongType(key, "an object", *member);
  return *member;
}

// The kind-free checks of every value in `fields` (see CheckValueShape), made before the
// backend is asked which kinds the fields have.
Status CheckFieldShapes(const Json& fields, const std::string& prefix) {
  for (const auto& [name, json] : fields.members()) {
    if (name.empty()) return InvalidArgument(prefix + " has an empty field name", prefix);
    GROVE_RETURN_IF_ERROR(CheckValueShape(json, prefix + "." + name));
  }
  return Status::Ok();
}

// The tool type named `type`, or nullptr when no tool of the workspace declares it.
const TypeInfo* FindType(const std::vector<ToolInfo>& tools, std::string_view type) {
  for (const ToolInfo& tool : tools) {
    for (const TypeInfo& t : tool.types) {
      if (t.name == type) return &t;
    }
  }
  return nullptr;
}

// The kind of field `name` of `type`; "" for a free-form field.
std::string_view KindOf(const TypeInfo* type, std::string_view name) {
  const FieldInfo* field = type ? type->FindField(name) : nullptr;
  return field ? std::string_view(field->type) : std::string_view();
}

Result<std::map<std::string, Value>> FieldValues(const Json& fields, const std::string& prefix,
                                                 const TypeInfo* type = nullptr) {
  std::map<std::string, Value> values;
  for (const auto& [name, json] : fields.members()) {
    if (name.empty()) return InvalidArgument(prefix + " has an empty field name", prefix);
    GROVE_ASSIGN_OR_RETURN(Value value,
                           ValueFromJsonAs(json, prefix + "." + name, KindOf(type, name)));
    values.emplace(name, std::move(value));
  }
  return values;
}

const std::string& Param(const Request& request, size_t i) { return request.params.at(i); }

// --- reply shaping -------------------------------------------------------------------------------

Reply Ok(Json body, int status = 200) { return Reply{status, std::move(body)}; }

Json IdJson(const std::string& id) {
  Json json = Json::Object();
  json.Set("id", id);
  return json;
}

Json StringsJson(const std::vector<std::string>& strings) {
  Json json = Json::Array();
  for (const std::string& s : strings) json.Add(s);
  return json;
}

Json ValuesJson(const std::map<std::string, std::vector<Value>>& lists) {
  Json json = Json::Object();
  for (const auto& [name, values] : lists) {
    Json array = Json::Array();
    for (const Value& value : values) array.Add(ValueToJson(value));
    json.Set(name, std::move(array));
  }
  return json;
}

Json MemberJson(const MemberInfo& member) {
  Json json = Json::Object();
  json.Set("device", member.device);
  json.Set("name", member.name);
  json.Set("role", member.role);
  json.Set("online", member.online);
  if (member.path.empty()) {
    json.Set("path", nullptr);
  } else {
    json.Set("path", member.path);
  }
  return json;
}

Json MembersJson(const std::vector<MemberInfo>& members) {
  Json json = Json::Array();
  for (const MemberInfo& member : members) json.Add(MemberJson(member));
  return json;
}

Json WorkspaceJson(const WorkspaceInfo& ws) {
  Json json = Json::Object();
  json.Set("id", ws.id);
  json.Set("name", ws.name);
  json.Set("tools", StringsJson(ws.tools));
  json.Set("role", ws.role);
  json.Set("members", MembersJson(ws.members));
  json.Set("records", ws.records);
  json.Set("deltas", ws.deltas);
  json.Set("pending", ws.pending);
  return json;
}

Json ConnectionJson(const ConnectionInfo& c) {
  Json json = Json::Object();
  json.Set("device", c.device);
  json.Set("name", c.name);
  json.Set("address", c.address);
  json.Set("outbound", c.outbound);
  json.Set("since_ms", c.since_ms);
  json.Set("bytes_in", c.bytes_in);
  json.Set("bytes_out", c.bytes_out);
  json.Set("path", c.path);
  json.Set("relay", c.relay);
  return json;
}

Json TransitionAvailabilityJson(const TransitionAvailability& t) {
  Json json = Json::Object();
  json.Set("name", t.name);
  json.Set("allowed", t.allowed);
  if (!t.allowed) {
    json.Set("reason", t.reason);
    json.Set("code", t.code);
  }
  return json;
}

// A record's JSON; `tools` give its fields' kinds (member fields show as device id text).
Json RecordJson(const RecordInfo& record, const std::vector<ToolInfo>& tools = {}) {
  const TypeInfo* type = FindType(tools, record.type);
  Json json = Json::Object();
  json.Set("id", record.id);
  json.Set("type", record.type);
  json.Set("state", record.state);
  json.Set("archived", record.archived);
  Json fields = Json::Object();
  for (const auto& [name, value] : record.fields) {
    fields.Set(name, ValueToJsonAs(value, KindOf(type, name)));
  }
  json.Set("fields", std::move(fields));
  json.Set("conflicts", ValuesJson(record.conflicts));
  json.Set("lists", ValuesJson(record.lists));
  json.Set("history", StringsJson(record.history));
  Json computed = Json::Object();
  for (const auto& [name, value] : record.computed) {
    computed.Set(name, ValueToJsonAs(value, KindOf(type, name)));
  }
  json.Set("computed", std::move(computed));
  Json keyed = Json::Object();
  for (const auto& [name, levels] : record.keyed) {
    Json by_key = Json::Object();
    for (const auto& [key, level] : levels) by_key.Set(key, level);
    keyed.Set(name, std::move(by_key));
  }
  json.Set("keyed", std::move(keyed));
  Json transitions = Json::Array();
  for (const TransitionAvailability& t : record.transitions) {
    transitions.Add(TransitionAvailabilityJson(t));
  }
  json.Set("transitions", std::move(transitions));
  return json;
}

Json FieldInfoJson(const FieldInfo& f) {
  Json json = Json::Object();
  json.Set("name", f.name);
  json.Set("title", f.title);
  json.Set("type", f.type);
  json.Set("required", f.required);
  json.Set("readonly", f.readonly);
  json.Set("computed", f.computed);
  if (!f.values.empty()) json.Set("values", StringsJson(f.values));
  if (!f.to.empty()) json.Set("to", f.to);
  if (!f.of.empty()) json.Set("of", f.of);
  if (!f.currency.empty()) json.Set("currency", f.currency);
  if (f.keyed) json.Set("keyed", true);
  if (!f.editable_in.empty()) json.Set("editable_in", StringsJson(f.editable_in));
  return json;
}

Json TransitionInfoJson(const TransitionInfo& t) {
  Json json = Json::Object();
  json.Set("name", t.name);
  json.Set("title", t.title);
  json.Set("from", StringsJson(t.from));
  json.Set("to", t.to);
  json.Set("roles", StringsJson(t.roles));
  if (!t.guard.empty()) json.Set("guard", t.guard);
  if (!t.message.empty()) json.Set("message", t.message);
  Json inputs = Json::Array();
  for (const TransitionInput& input : t.inputs) {
    Json in = Json::Object();
    in.Set("name", input.name);
    in.Set("required", input.required);
    inputs.Add(std::move(in));
  }
  json.Set("inputs", std::move(inputs));
  return json;
}

Json ToolJson(const ToolInfo& tool) {
  Json json = Json::Object();
  json.Set("name", tool.name);
  json.Set("version", static_cast<int64_t>(tool.version));
  json.Set("title", tool.title);
  json.Set("hash", tool.hash);
  Json types = Json::Array();
  for (const TypeInfo& type : tool.types) {
    Json t = Json::Object();
    t.Set("name", type.name);
    t.Set("title", type.title);
    Json fields = Json::Array();
    for (const FieldInfo& f : type.fields) fields.Add(FieldInfoJson(f));
    t.Set("fields", std::move(fields));
    t.Set("states", StringsJson(type.states));
    t.Set("initial", type.initial);
    Json transitions = Json::Array();
    for (const TransitionInfo& tr : type.transitions) transitions.Add(TransitionInfoJson(tr));
    t.Set("transitions", std::move(transitions));
    types.Add(std::move(t));
  }
  json.Set("types", std::move(types));
  return json;
}

Json InvitationJson(const Invitation& inv) {
  Json json = Json::Object();
  json.Set("workspace", inv.workspace);
  json.Set("name", inv.name);
  json.Set("from", inv.from);
  json.Set("from_name", inv.from_name);
  json.Set("role", inv.role);
  return json;
}

// --- handlers ------------------------------------------------------------------------------------

Reply GetIdentity(Backend& backend, const Request&) {
  const IdentityInfo id = backend.Identity();
  Json json = Json::Object();
  json.Set("device", id.device);
  json.Set("name", id.name);
  json.Set("card", id.card);
  return Ok(std::move(json));
}

Reply GetStatus(Backend& backend, const Request&) {
  const StatusInfo status = backend.Status();
  Json json = Json::Object();
  json.Set("listen", status.listen);
  json.Set("uptime_ms", status.uptime_ms);
  Json connections = Json::Array();
  for (const ConnectionInfo& c : status.connections) connections.Add(ConnectionJson(c));
  json.Set("connections", std::move(connections));
  Json workspaces = Json::Array();
  for (const WorkspaceInfo& ws : status.workspaces) workspaces.Add(WorkspaceJson(ws));
  json.Set("workspaces", std::move(workspaces));
  Json sync = Json::Object();
  sync.Set("state", status.sync.state);
  sync.Set("pending", status.sync.pending);
  if (status.sync.offline_since_ms) {
    sync.Set("offline_since_ms", *status.sync.offline_since_ms);
  } else {
    sync.Set("offline_since_ms", nullptr);
  }
  json.Set("sync", std::move(sync));
  if (status.relay) {
    Json relay = Json::Object();
    relay.Set("address", status.relay->address);
    relay.Set("device", status.relay->device);
    relay.Set("connected", status.relay->connected);
    Json held = Json::Array();
    for (const RelayWorkspaceInfo& w : status.relay->workspaces) {
      Json entry = Json::Object();
      entry.Set("workspace", w.workspace);
      entry.Set("held_deltas", w.held);
      entry.Set("acked_deltas", w.acked);
      if (!w.refused.empty()) entry.Set("refused", w.refused);
      held.Add(std::move(entry));
    }
    relay.Set("workspaces", std::move(held));
    json.Set("relay", std::move(relay));
  } else {
    json.Set("relay", nullptr);
  }
  if (status.org) {
    Json org = Json::Object();
    org.Set("org", status.org->org);
    org.Set("enrolled_as", status.org->enrolled_as);
    org.Set("revoked", StringsJson(status.org->revoked));
    org.Set("policies", static_cast<uint64_t>(status.org->policies));
    json.Set("org", std::move(org));
  } else {
    json.Set("org", nullptr);
  }
  if (status.audit) {
    Json audit = Json::Object();
    audit.Set("ready", status.audit->ready);
    audit.Set("database_ok", status.audit->database_ok);
    if (!status.audit->error.empty()) audit.Set("error", status.audit->error);
    audit.Set("entries", status.audit->entries);
    audit.Set("in_flight", status.audit->in_flight);
    audit.Set("head_size", status.audit->head_size);
    audit.Set("head_timestamp_ms", status.audit->head_timestamp_ms);
    json.Set("audit", std::move(audit));
  } else {
    json.Set("audit", nullptr);
  }
  return Ok(std::move(json));
}

Reply CreateWorkspace(Backend& backend, const Request& request) {
  Result<Json> body = BodyObject(request, {"name", "tools"});
  if (!body.ok()) return ErrorReply(body.status());
  Result<std::string> name = StringMember(*body, "name");
  if (!name.ok()) return ErrorReply(name.status());
  std::vector<std::string> tools;
  if (const Json* list = body->Find("tools"); list != nullptr) {
    if (!list->is_array()) return ErrorReply(WrongType("tools", "an array of strings", *list));
    for (size_t i = 0; i < list->items().size(); ++i) {
      const Json& tool = list->items()[i];
      if (!tool.is_string()) {
        return ErrorReply(WrongType("tools[" + std::to_string(i) + "]", "a string", tool));
      }
      tools.push_back(tool.text());
    }
  }
  Result<std::string> id = backend.CreateWorkspace(*name, tools);
  if (!id.ok()) return ErrorReply(id.status());
  return Ok(IdJson(*id), 201);
}

Reply ListWorkspaces(Backend& backend, const Request&) {
  Json json = Json::Array();
  for (const WorkspaceInfo& ws : backend.ListWorkspaces()) json.Add(WorkspaceJson(ws));
  return Ok(std::move(json));
}

Reply GetWorkspace(Backend& backend, const Request& request) {
  Result<WorkspaceInfo> ws = backend.GetWorkspace(Param(request, 0));
  if (!ws.ok()) return ErrorReply(ws.status());
  return Ok(WorkspaceJson(*ws));
}

Reply ListMembers(Backend& backend, const Request& request) {
  Result<WorkspaceInfo> ws = backend.GetWorkspace(Param(request, 0));
  if (!ws.ok()) return ErrorReply(ws.status());
  return Ok(MembersJson(ws->members));
}

Reply AddMember(Backend& backend, const Request& request) {
  Result<Json> body = BodyObject(request, {"card", "role"});
  if (!body.ok()) return ErrorReply(body.status());
  Result<std::string> card = StringMember(*body, "card");
  if (!card.ok()) return ErrorReply(card.status());
  Result<std::string> role = StringMember(*body, "role", "member");
  if (!role.ok()) return ErrorReply(role.status());
  if (Status s = backend.AddMember(Param(request, 0), *card, *role); !s.ok()) {
    return ErrorReply(s);
  }
  return Ok(Json::Object(), 201);
}

Reply RemoveMember(Backend& backend, const Request& request) {
  if (Status s = backend.RemoveMember(Param(request, 0), Param(request, 1)); !s.ok()) {
    return ErrorReply(s);
  }
  return Reply{204, std::nullopt};
}

Reply ListInvitations(Backend& backend, const Request&) {
  Json json = Json::Array();
  for (const Invitation& inv : backend.Invitations()) json.Add(InvitationJson(inv));
  return Ok(std::move(json));
}

Reply AcceptInvitation(Backend& backend, const Request& request) {
  Result<Json> body = BodyObject(request, {}, /*empty_ok=*/true);
  if (!body.ok()) return ErrorReply(body.status());
  if (Status s = backend.AcceptInvitation(Param(request, 0)); !s.ok()) return ErrorReply(s);
  return Ok(IdJson(Param(request, 0)));
}

Reply CreateRecord(Backend& backend, const Request& request) {
  Result<Json> body = BodyObject(request, {"type", "fields"});
  if (!body.ok()) return ErrorReply(body.status());
  Result<std::string> type = StringMember(*body, "type");
  if (!type.ok()) return ErrorReply(type.status());
  if (type->empty()) return ErrorReply(InvalidArgument("type must not be empty", "type"));
  Result<Json> fields = ObjectMember(*body, "fields");
  if (!fields.ok()) return ErrorReply(fields.status());
  if (Status s = CheckFieldShapes(*fields, "fields"); !s.ok()) return ErrorReply(s);
  Result<std::vector<ToolInfo>> tools = backend.ListTools(Param(request, 0));
  if (!tools.ok()) return ErrorReply(tools.status());
  Result<std::map<std::string, Value>> values =
      FieldValues(*fields, "fields", FindType(*tools, *type));
  if (!values.ok()) return ErrorReply(values.status());
  Result<std::string> id = backend.CreateRecord(Param(request, 0), *type, *values);
  if (!id.ok()) return ErrorReply(id.status());
  return Ok(IdJson(*id), 201);
}

// The record as it is after a change the backend made, as the change's reply.
Reply ReadBack(Backend& backend, const std::string& ws, const std::string& id,
               const std::vector<ToolInfo>& tools) {
  Result<RecordInfo> record = backend.GetRecord(ws, id);
  if (!record.ok()) {
    // The change was made; only reading it back failed. Not the client's fault, and not 404.
    return ErrorReply(Internal("the record was changed but could not be read back: " +
                               record.status().message()));
  }
  return Ok(RecordJson(*record, tools));
}

Reply PatchRecord(Backend& backend, const Request& request) {
  Result<Json> body = BodyObject(request, {"set", "add", "append"});
  if (!body.ok()) return ErrorReply(body.status());
  Result<Json> set = ObjectMember(*body, "set");
  if (!set.ok()) return ErrorReply(set.status());
  Result<Json> add = ObjectMember(*body, "add");
  if (!add.ok()) return ErrorReply(add.status());
  Result<Json> append = ObjectMember(*body, "append");
  if (!append.ok()) return ErrorReply(append.status());
  if (Status s = CheckFieldShapes(*set, "set"); !s.ok()) return ErrorReply(s);
  if (Status s = CheckFieldShapes(*append, "append"); !s.ok()) return ErrorReply(s);
  RecordPatch patch;
  for (const auto& [name, json] : add->members()) {
    const std::string field = "add." + name;
    if (name.empty()) return ErrorReply(InvalidArgument("add has an empty field name", "add"));
    if (!json.is_int()) return ErrorReply(WrongType(field, "an integer", json));
    patch.add.emplace(name, json.integer());
  }
  if (set->members().empty() && patch.add.empty() && append->members().empty()) {
    return ErrorReply(
        InvalidArgument("the patch changes nothing: give set, add or append", "body"));
  }
  for (const auto& [name, json] : set->members()) {
    if (patch.add.contains(name)) {
      return ErrorReply(InvalidArgument(name + " is both set and added to", "add." + name));
    }
  }
  for (const auto& [name, json] : append->members()) {
    if (name.empty()) {
      return ErrorReply(InvalidArgument("append has an empty field name", "append"));
    }
    if (set->Find(name) != nullptr || patch.add.contains(name)) {
      return ErrorReply(
          InvalidArgument(name + " is appended to and also set or added to", "append." + name));
    }
  }
  const std::string& ws = Param(request, 0);
  const std::string& id = Param(request, 1);
  Result<std::vector<ToolInfo>> tools = backend.ListTools(ws);
  if (!tools.ok()) return ErrorReply(tools.status());
  // Only a tool record's fields have kinds, and only its type says which.
  const TypeInfo* type = nullptr;
  if (!tools->empty() && (!set->members().empty() || !append->members().empty())) {
    Result<RecordInfo> before = backend.GetRecord(ws, id);
    if (!before.ok()) return ErrorReply(before.status());
    type = FindType(*tools, before->type);
  }
  Result<std::map<std::string, Value>> values = FieldValues(*set, "set", type);
  if (!values.ok()) return ErrorReply(values.status());
  patch.set = std::move(*values);
  for (const auto& [name, json] : append->members()) {
    // An item has the list's item kind.
    const FieldInfo* field = type ? type->FindField(name) : nullptr;
    Result<Value> item =
        ValueFromJsonAs(json, "append." + name, field && field->type == "list" ? field->of : "");
    if (!item.ok()) return ErrorReply(item.status());
    patch.append.emplace(name, std::move(item).value());
  }
  if (Status s = backend.PatchRecord(ws, id, patch); !s.ok()) return RefusalReply(s);
  return ReadBack(backend, ws, id, *tools);
}

Reply GetRecord(Backend& backend, const Request& request) {
  Result<RecordInfo> record = backend.GetRecord(Param(request, 0), Param(request, 1));
  if (!record.ok()) return ErrorReply(record.status());
  Result<std::vector<ToolInfo>> tools = backend.ListTools(Param(request, 0));
  if (!tools.ok()) return ErrorReply(tools.status());
  return Ok(RecordJson(*record, *tools));
}

Reply ListRecords(Backend& backend, const Request& request) {
  const std::string& ws = Param(request, 0);
  Result<std::vector<ToolInfo>> tools = backend.ListTools(ws);
  if (!tools.ok()) return ErrorReply(tools.status());
  Result<RecordQuery> query = ParseRecordQuery(request.query, *tools);
  if (!query.ok()) return ErrorReply(query.status());
  Result<RecordPage> page = backend.QueryRecords(ws, *query);
  if (!page.ok()) return ErrorReply(page.status());
  Json list = Json::Array();
  for (const RecordInfo& record : page->records) list.Add(RecordJson(record, *tools));
  Json json = Json::Object();
  json.Set("records", std::move(list));
  json.Set("total", page->total);
  json.Set("offset", static_cast<uint64_t>(query->offset));
  json.Set("limit", static_cast<uint64_t>(query->limit));
  return Ok(std::move(json));
}

Reply RunTransition(Backend& backend, const Request& request) {
  Result<Json> body = BodyObject(request, {"name", "fields"});
  if (!body.ok()) return ErrorReply(body.status());
  Result<std::string> name = StringMember(*body, "name");
  if (!name.ok()) return ErrorReply(name.status());
  if (name->empty()) return ErrorReply(InvalidArgument("name must not be empty", "name"));
  Result<Json> fields = ObjectMember(*body, "fields");
  if (!fields.ok()) return ErrorReply(fields.status());
  if (Status s = CheckFieldShapes(*fields, "fields"); !s.ok()) return ErrorReply(s);
  const std::string& ws = Param(request, 0);
  const std::string& id = Param(request, 1);
  Result<std::vector<ToolInfo>> tools = backend.ListTools(ws);
  if (!tools.ok()) return ErrorReply(tools.status());
  const TypeInfo* type = nullptr;
  if (!tools->empty() && !fields->members().empty()) {
    Result<RecordInfo> before = backend.GetRecord(ws, id);
    if (!before.ok()) return ErrorReply(before.status());
    type = FindType(*tools, before->type);
  }
  Result<std::map<std::string, Value>> values = FieldValues(*fields, "fields", type);
  if (!values.ok()) return ErrorReply(values.status());
  if (Status s = backend.RunTransition(ws, id, *name, *values); !s.ok()) {
    return RefusalReply(s);
  }
  return ReadBack(backend, ws, id, *tools);
}

Reply PlaceSealedBid(Backend& backend, const Request& request) {
  Result<Json> body = BodyObject(request, {"amount"});
  if (!body.ok()) return ErrorReply(body.status());
  const Json* amount_json = body->Find("amount");
  if (amount_json == nullptr) return ErrorReply(InvalidArgument("amount is missing", "amount"));
  Result<Value> amount = ValueFromJsonAs(*amount_json, "amount", "money");
  if (!amount.ok()) return ErrorReply(amount.status());
  const auto* money = std::get_if<replica::Money>(&amount->v);
  if (money == nullptr) {
    return ErrorReply(InvalidArgument("amount must be money: {minor, currency}", "amount"));
  }
  const std::string& ws = Param(request, 0);
  const std::string& id = Param(request, 1);
  if (Status s = backend.PlaceSealedBid(ws, id, *money); !s.ok()) return RefusalReply(s);
  Result<std::vector<ToolInfo>> tools = backend.ListTools(ws);
  if (!tools.ok()) return ErrorReply(tools.status());
  return ReadBack(backend, ws, id, *tools);
}

Reply RevealSealedBids(Backend& backend, const Request& request) {
  Result<Json> body = BodyObject(request, {}, /*empty_ok=*/true);
  if (!body.ok()) return ErrorReply(body.status());
  Result<size_t> published = backend.RevealSealedBids(Param(request, 0), Param(request, 1));
  if (!published.ok()) return RefusalReply(published.status());
  Json json = Json::Object();
  json.Set("published", static_cast<int64_t>(*published));
  return Ok(std::move(json));
}

Reply GrantRights(Backend& backend, const Request& request) {
  Result<Json> body = BodyObject(request, {"field", "key", "to", "amount"});
  if (!body.ok()) return ErrorReply(body.status());
  Result<std::string> field = StringMember(*body, "field");
  if (!field.ok()) return ErrorReply(field.status());
  if (field->empty()) return ErrorReply(InvalidArgument("field must not be empty", "field"));
  Result<std::string> key = StringMember(*body, "key", "");
  if (!key.ok()) return ErrorReply(key.status());
  Result<std::string> to = StringMember(*body, "to");
  if (!to.ok()) return ErrorReply(to.status());
  const Json* amount = body->Find("amount");
  if (amount == nullptr) return ErrorReply(InvalidArgument("amount is missing", "amount"));
  if (!amount->is_int()) return ErrorReply(WrongType("amount", "an integer", *amount));
  if (amount->integer() <= 0) {
    return ErrorReply(InvalidArgument("amount must be positive", "amount"));
  }
  const std::string& ws = Param(request, 0);
  const std::string& id = Param(request, 1);
  if (Status s = backend.GrantRights(ws, id, *field, *key, *to, amount->integer()); !s.ok()) {
    return RefusalReply(s);
  }
  Result<std::vector<ToolInfo>> tools = backend.ListTools(ws);
  return ReadBack(backend, ws, id, tools.ok() ? *tools : std::vector<ToolInfo>{});
}

Reply ListTools(Backend& backend, const Request& request) {
  Result<std::vector<ToolInfo>> tools = backend.ListTools(Param(request, 0));
  if (!tools.ok()) return ErrorReply(tools.status());
  Json json = Json::Array();
  for (const ToolInfo& tool : *tools) json.Add(ToolJson(tool));
  return Ok(std::move(json));
}

Reply UpgradeTool(Backend& backend, const Request& request) {
  Result<Json> body = BodyObject(request, {"builtin", "yaml", "file"});
  if (!body.ok()) return ErrorReply(body.status());
  Backend::ToolSource source;
  for (auto [key, target] : {std::pair{"builtin", &source.builtin}, std::pair{"yaml", &source.yaml},
                             std::pair{"file", &source.file}}) {
    Result<std::string> text = StringMember(*body, key, "");
    if (!text.ok()) return ErrorReply(text.status());
    *target = std::move(text).value();
  }
  if (source.builtin.empty() == source.yaml.empty()) {
    return ErrorReply(
        InvalidArgument("give either builtin (a shipped tool's name) or yaml (the "
                        "new version's file text)",
                        "body"));
  }
  const std::string& ws = Param(request, 0);
  if (Status s = backend.UpgradeTool(ws, source); !s.ok()) return RefusalReply(s);
  return ListTools(backend, request);
}

Reply GetDigest(Backend& backend, const Request& request) {
  Result<DigestInfo> digest = backend.Digest(Param(request, 0));
  if (!digest.ok()) return ErrorReply(digest.status());
  Json json = Json::Object();
  json.Set("version", digest->version);
  json.Set("state", digest->state);
  json.Set("deltas", digest->deltas);
  return Ok(std::move(json));
}

Json CheckpointJson(const CheckpointInfo& info) {
  Json json = Json::Object();
  json.Set("id", info.id);
  Json version = Json::Array();
  for (const auto& [device, seq] : info.version) {
    Json entry = Json::Object();
    entry.Set("device", device);
    entry.Set("seq", seq);
    version.Add(std::move(entry));
  }
  json.Set("version", std::move(version));
  json.Set("deltas", info.deltas);
  json.Set("bytes", info.bytes);
  json.Set("trusted", info.trusted);
  return json;
}

Reply ClaimCheckpoint(Backend& backend, const Request& request) {
  Result<Json> body = BodyObject(request, {}, /*empty_ok=*/true);
  if (!body.ok()) return ErrorReply(body.status());
  Result<CheckpointInfo> claimed = backend.ClaimCheckpoint(Param(request, 0));
  if (!claimed.ok()) return ErrorReply(claimed.status());
  return Ok(CheckpointJson(*claimed), 201);
}

Reply GetHistory(Backend& backend, const Request& request) {
  Result<HistoryInfo> history = backend.History(Param(request, 0));
  if (!history.ok()) return ErrorReply(history.status());
  Json json = Json::Object();
  json.Set("barrier", history->barrier ? CheckpointJson(*history->barrier) : Json());
  json.Set("trusted", history->barrier.has_value() && history->barrier->trusted);
  json.Set("missing", history->missing.empty() ? Json() : Json(history->missing));
  json.Set("deltas", history->deltas);
  json.Set("prune", history->prune);
  return Ok(std::move(json));
}

Reply GetAttachmentStatus(Backend& backend, const Request& request) {
  Result<AttachmentStatus> status =
      backend.GetAttachmentStatus(Param(request, 0), Param(request, 1));
  if (!status.ok()) return ErrorReply(status.status());
  return Ok(AttachmentStatusJson(*status));
}

}  // namespace

Json AttachmentJson(const AttachmentInfo& info) {
  Json json = Json::Object();
  json.Set("id", info.id);
  json.Set("size", info.size);
  json.Set("chunks", info.chunks);
  json.Set("name", info.name);
  json.Set("media_type", info.media_type);
  return json;
}

Json AttachmentStatusJson(const AttachmentStatus& status) {
  Json json = AttachmentJson(status.info);
  json.Set("manifest", status.manifest);
  json.Set("chunks_held", status.chunks_held);
  json.Set("bytes_held", status.bytes_held);
  json.Set("state", status.state);
  return json;
}

const std::vector<Route>& Routes() {
  static const std::vector<Route> routes = {
      {"GET", "/", RouteKind::kApp, nullptr, {}},
      {"GET", "/app/", RouteKind::kApp, nullptr, {}},
      {"GET", "/app/{name}", RouteKind::kApp, nullptr, {}},
      {"GET", "/healthz", RouteKind::kHealth, nullptr, {}},
      {"GET", "/metrics", RouteKind::kMetrics, nullptr, {}},
      {"POST", "/api/v1/sessions", RouteKind::kSignIn, nullptr, {}},
      {"GET", "/api/v1/sessions/current", RouteKind::kSession, nullptr, {}},
      {"DELETE", "/api/v1/sessions/current", RouteKind::kSession, nullptr, {}},
      {"POST", "/api/v1/login-links", RouteKind::kLoginLink, nullptr, {}},
      {"GET", "/api/v1/identity", RouteKind::kJson, GetIdentity, {}},
      {"GET", "/api/v1/status", RouteKind::kJson, GetStatus, {}},
      {"POST", "/api/v1/workspaces", RouteKind::kJson, CreateWorkspace, {}},
      {"GET", "/api/v1/workspaces", RouteKind::kJson, ListWorkspaces, {}},
      {"GET", "/api/v1/workspaces/{ws}", RouteKind::kJson, GetWorkspace, {}},
      {"GET", "/api/v1/workspaces/{ws}/members", RouteKind::kJson, ListMembers, {}},
      {"POST", "/api/v1/workspaces/{ws}/members", RouteKind::kJson, AddMember, {}},
      {"DELETE", "/api/v1/workspaces/{ws}/members/{device}", RouteKind::kJson, RemoveMember, {}},
      {"GET", "/api/v1/invitations", RouteKind::kJson, ListInvitations, {}},
      {"POST", "/api/v1/invitations/{ws}/accept", RouteKind::kJson, AcceptInvitation, {}},
      {"POST", "/api/v1/workspaces/{ws}/records", RouteKind::kJson, CreateRecord, {}},
      {"GET",
       "/api/v1/workspaces/{ws}/records",
       RouteKind::kJson,
       ListRecords,
       {"type", "state", "where.*", "search", "sort", "order", "offset", "limit", "archived",
        "due_before"}},
      {"GET", "/api/v1/workspaces/{ws}/records/{id}", RouteKind::kJson, GetRecord, {}},
      {"PATCH", "/api/v1/workspaces/{ws}/records/{id}", RouteKind::kJson, PatchRecord, {}},
      {"POST",
       "/api/v1/workspaces/{ws}/records/{id}/transitions",
       RouteKind::kJson,
       RunTransition,
       {}},
      {"POST", "/api/v1/workspaces/{ws}/records/{id}/rights", RouteKind::kJson, GrantRights, {}},
      {"POST",
       "/api/v1/workspaces/{ws}/records/{id}/sealed-bids",
       RouteKind::kJson,
       PlaceSealedBid,
       {}},
      {"POST",
       "/api/v1/workspaces/{ws}/records/{id}/openings",
       RouteKind::kJson,
       RevealSealedBids,
       {}},
      {"GET", "/api/v1/workspaces/{ws}/tools", RouteKind::kJson, ListTools, {}},
      {"POST", "/api/v1/workspaces/{ws}/tools", RouteKind::kJson, UpgradeTool, {}},
      {"GET", "/api/v1/workspaces/{ws}/digest", RouteKind::kJson, GetDigest, {}},
      {"POST", "/api/v1/workspaces/{ws}/checkpoints", RouteKind::kJson, ClaimCheckpoint, {}},
      {"GET", "/api/v1/workspaces/{ws}/checkpoints", RouteKind::kJson, GetHistory, {}},
      {"POST",
       "/api/v1/workspaces/{ws}/attachments",
       RouteKind::kUpload,
       nullptr,
       {"name", "type"}},
      {"GET", "/api/v1/workspaces/{ws}/attachments/{id}", RouteKind::kDownload, nullptr, {}},
      {"GET",
       "/api/v1/workspaces/{ws}/attachments/{id}/status",
       RouteKind::kJson,
       GetAttachmentStatus,
       {}},
      {"GET", "/api/v1/events", RouteKind::kEvents, nullptr, {}},
  };
  return routes;
}

Reply RefusalReply(const Status& status) {
  Reply reply = ErrorReply(status);
  const std::string rule = RefusalRule(status);
  if (!rule.empty()) {
    Json error = *reply.body->Find("error");
    error.Set("rule", rule);
    Json json = Json::Object();
    json.Set("error", std::move(error));
    reply.body = std::move(json);
  }
  return reply;
}

Reply ErrorReply(const Status& status) {
  return ErrorReply(HttpStatusFor(status.code()), ErrorCodeFor(status.code()), status.message(),
                    status.where());
}

Reply ErrorReply(int http_status, std::string_view code, std::string_view message,
                 std::string_view field) {
  return Reply{http_status, ErrorJson(code, message, field)};
}

Json EventJson(const Event& event) {
  Json json = Json::Object();
  json.Set("kind", event.kind);
  json.Set("workspace", event.workspace);
  json.Set("id", event.id);
  return json;
}

}  // namespace grove::api::internal
