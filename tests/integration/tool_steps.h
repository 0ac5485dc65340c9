// Driving tool records (docs/tools.md) through a peer's HTTP API, for the end-to-end scenarios of
// the shipped tools (auctions_test.cc, service_test.cc): transitions, patches, list appends,
// reading fields, lists, computed values and record queries, and waiting for every peer to agree.
//
// Every helper that asks the API returns the whole HttpResponse (or what it read) so the test
// asserts the outcome; none throws. Thread-safety: as ApiClient (any thread, one connection per
// request).
#pragma once

#include <Poco/Dynamic/Var.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "integration/peer_process.h"

namespace grove::integration {

// "/api/v1/workspaces/WS/records/ID".
std::string RecordPath(const std::string& ws, const std::string& id);

// POST .../records/{id}/transitions {"name": name, "fields": inputs}.
HttpResponse Step(const ApiClient& api, const std::string& ws, const std::string& id,
                  const std::string& name, const Poco::JSON::Object& inputs);
HttpResponse Step(const ApiClient& api, const std::string& ws, const std::string& id,
                  const std::string& name);
// PATCH .../records/{id} {"set": set}.
HttpResponse SetFields(const ApiClient& api, const std::string& ws, const std::string& id,
                       const Poco::JSON::Object& set);
// PATCH .../records/{id} {"append": {field: item}}: one entry appended to an add-only list (a
// bid, a comment, a link).
HttpResponse AppendItem(const ApiClient& api, const std::string& ws, const std::string& id,
                        const std::string& field, const Poco::Dynamic::Var& item);

// error.rule of a refusal ("role", "state", "guard", "rights", "rule"); "" when absent.
std::string RuleOf(const HttpResponse& r);
// error.message / error.field; "" when absent.
std::string MessageOf(const HttpResponse& r);
std::string ErrorFieldOf(const HttpResponse& r);

// The record's state; "" when the record cannot be read.
std::string StateOf(const ApiClient& api, const std::string& ws, const std::string& id);
// record["history"] (transition names in stamp order); empty when unreadable.
std::vector<std::string> HistoryOf(const JsonObject& record);
// record["lists"][field] as compact JSON texts, in list order; empty when there is none.
std::vector<std::string> ListJson(const JsonObject& record, const std::string& field);
// record["computed"][field] / record["fields"][field] as compact JSON text; "" when the record
// or the member is absent ("null" when present and null).
std::string ComputedJson(const JsonObject& record, const std::string& field);
std::string FieldJson(const JsonObject& record, const std::string& field);

// {"minor": minor, "currency": currency}, and its compact JSON text as the API writes it.
Poco::JSON::Object Money(int64_t minor, const std::string& currency);
std::string MoneyJson(int64_t minor, const std::string& currency);

// The ids of the records GET .../records?QUERY lists, in its order; nullopt unless 200.
std::optional<std::vector<std::string>> RecordIds(const ApiClient& api, const std::string& ws,
                                                  const std::string& query);

// Wall-clock milliseconds since 1970 (what grove-peer's clock, and so op_time, follows), and
// today's UTC date as YYYY-MM-DD.
int64_t NowMillis();
std::string TodayUtc();

// Polls until every peer's GET of `id` gives the same `what(record)` as `want`; false after
// `timeout`. `seen` gets the last value read from each peer (for the failure message).
bool AllPeersSee(const std::vector<PeerProcess*>& peers, const std::string& ws,
                 const std::string& id, const std::function<std::string(const JsonObject&)>& what,
                 const std::string& want, std::string* seen = nullptr,
                 std::chrono::milliseconds timeout = 20s);
// Polls until every peer reports the same workspace state digest; `seen` as above.
bool DigestsAgree(const std::vector<PeerProcess*>& peers, const std::string& ws,
                  std::string* seen = nullptr, std::chrono::milliseconds timeout = 20s);

// Joined with ", " for failure messages.
std::string Joined(const std::vector<std::string>& items);

}  // namespace grove::integration
