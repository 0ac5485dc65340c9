#include "integration/tool_steps.h"

#include <Poco/JSON/Stringifier.h>

#include <ctime>
#include <sstream>

namespace grove::integration {
std::string RecordPath(const std::string& ws, const std::string& id) {
  return "/api/v1/workspaces/" + ws + "/records/" + id;
}

namespace {

std::string Compact(const Poco::Dynamic::Var& value) {
  std::ostringstream out;
  Poco::JSON::Stringifier::stringify(value, out, 0, -1);
  return out.str();
}

JsonObject ErrorOf(const HttpResponse& r) {
  JsonObject o = r.Object();
  return o && o->has("error") ? o->getObject("error") : nullptr;
}

std::string MemberJson(const JsonObject& record, const char* part, const std::string& field) {
  if (!record) return "";
  JsonObject members = record->getObject(part);
  if (!members || !members->has(field)) return "";
  return Compact(members->get(field));
}

}  // namespace

HttpResponse Step(const ApiClient& api, const std::string& ws, const std::string& id,
                  const std::string& name, const Poco::JSON::Object& inputs) {
  Poco::JSON::Object body;
  body.set("name", name);
  body.set("fields", inputs);
  return api.Request("POST", RecordPath(ws, id) + "/transitions", ToJson(body));
}

HttpResponse Step(const ApiClient& api, const std::string& ws, const std::string& id,
                  const std::string& name) {
  return Step(api, ws, id, name, Poco::JSON::Object());
}

HttpResponse SetFields(const ApiClient& api, const std::string& ws, const std::string& id,
                       const Poco::JSON::Object& set) {
  Poco::JSON::Object body;
  body.set("set", set);
  return api.Request("PATCH", RecordPath(ws, id), ToJson(body));
}

HttpResponse AppendItem(const ApiClient& api, const std::string& ws, const std::string& id,
                        const std::string& field, const Poco::Dynamic::Var& item) {
  Poco::JSON::Object append;
  append.set(field, item);
  Poco::JSON::Object body;
  body.set("append", append);
  return api.Request("PATCH", RecordPath(ws, id), ToJson(body));
}

std::string RuleOf(const HttpResponse& r) {
  JsonObject error = ErrorOf(r);
  return error ? error->optValue<std::string>("rule", "") : "";
}

std::string MessageOf(const HttpResponse& r) {
  JsonObject error = ErrorOf(r);
  return error ? error->optValue<std::string>("message", "") : "";
}

std::string ErrorFieldOf(const HttpResponse& r) {
  JsonObject error = ErrorOf(r);
  return error ? error->optValue<std::string>("field", "") : "";
}

std::string StateOf(const ApiClient& api, const std::string& ws, const std::string& id) {
  JsonObject r = api.GetRecord(ws, id);
  return r ? r->optValue<std::string>("state", "") : "";
}

std::vector<std::string> HistoryOf(const JsonObject& record) {
  std::vector<std::string> out;
  JsonArray history = record ? record->getArray("history") : nullptr;
  if (!history) return out;
  for (size_t i = 0; i < history->size(); ++i) {
    out.push_back(history->get(static_cast<unsigned>(i)).convert<std::string>());
  }
  return out;
}

std::vector<std::string> ListJson(const JsonObject& record, const std::string& field) {
  std::vector<std::string> out;
  JsonObject lists = record ? record->getObject("lists") : nullptr;
  JsonArray items = lists ? lists->getArray(field) : nullptr;
  if (!items) return out;
  for (size_t i = 0; i < items->size(); ++i) {
    out.push_back(Compact(items->get(static_cast<unsigned>(i))));
  }
  return out;
}

std::string ComputedJson(const JsonObject& record, const std::string& field) {
  return MemberJson(record, "computed", field);
}

std::string FieldJson(const JsonObject& record, const std::string& field) {
  return MemberJson(record, "fields", field);
}

Poco::JSON::Object Money(int64_t minor, const std::string& currency) {
  Poco::JSON::Object money;
  money.set("minor", minor);
  money.set("currency", currency);
  return money;
}

std::string MoneyJson(int64_t minor, const std::string& currency) {
  Poco::JSON::Object::Ptr money = new Poco::JSON::Object(Money(minor, currency));
  return Compact(money);
}

std::optional<std::vector<std::string>> RecordIds(const ApiClient& api, const std::string& ws,
                                                  const std::string& query) {
  HttpResponse r = api.Get("/api/v1/workspaces/" + ws + "/records?" + query);
  JsonObject page = r.Object();
  JsonArray records = page ? page->getArray("records") : nullptr;
  if (r.status != 200 || !records) return std::nullopt;
  std::vector<std::string> ids;
  for (size_t i = 0; i < records->size(); ++i) {
    JsonObject record = records->getObject(static_cast<unsigned>(i));
    ids.push_back(record ? record->optValue<std::string>("id", "") : "");
  }
  return ids;
}

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string TodayUtc() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &utc);
  return text;
}

bool AllPeersSee(const std::vector<PeerProcess*>& peers, const std::string& ws,
                 const std::string& id, const std::function<std::string(const JsonObject&)>& what,
                 const std::string& want, std::string* seen, std::chrono::milliseconds timeout) {
  return PollUntil(
      [&] {
        bool all = true;
        std::string views;
        for (PeerProcess* p : peers) {
          const std::string value = what(p->api().GetRecord(ws, id));
          views += p->name() + ": " + value + "; ";
          all = all && value == want;
        }
        if (seen != nullptr) *seen = views;
        return all;
      },
      timeout);
}

bool DigestsAgree(const std::vector<PeerProcess*>& peers, const std::string& ws, std::string* seen,
                  std::chrono::milliseconds timeout) {
  return PollUntil(
      [&] {
        std::optional<DigestInfo> first;
        bool all = true;
        std::string views;
        for (PeerProcess* p : peers) {
          std::optional<DigestInfo> d = p->api().Digest(ws);
          views += p->name() + ": " + (d ? d->ToString() : "no digest") + "; ";
          if (!d) {
            all = false;
          } else if (!first) {
            first = d;
          } else {
            all = all && *d == *first;
          }
        }
        if (seen != nullptr) *seen = views;
        return all;
      },
      timeout);
}

std::string Joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace grove::integration
