// FakeBackend: an in-memory api::Backend for tests of the HTTP API and of the CLI over it. It
// keeps workspaces and records in maps, records every call it gets (so a test can check that a
// refused request never reached it), fails the next call on demand, and lets a test push events
// to the event stream and wait until a stream is listening.
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "api/backend.h"

namespace grove::testing {

class FakeBackend : public api::Backend {
 public:
  FakeBackend() {
    identity_ = {.device = std::string(52, 'd'), .name = "Fake", .card = "grove-card:fake"};
  }

  // --- test controls ------------------------------------------------------------------------

  // The next fallible call returns `status` instead of acting.
  void FailNext(grove::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_ = std::move(status);
  }
  // Every call so far, as "Name(arg,arg)".
  std::vector<std::string> calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  void ClearCalls() {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.clear();
  }
  // The last patch PatchRecord received.
  std::optional<api::RecordPatch> last_patch() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_patch_;
  }
  // The fields CreateRecord last received.
  std::map<std::string, api::Value> last_fields() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_fields_;
  }
  void SetStatus(api::StatusInfo status) {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = std::move(status);
  }
  void AddInvitation(api::Invitation invitation) {
    std::lock_guard<std::mutex> lock(mu_);
    invitations_.push_back(std::move(invitation));
  }
  // Stores a workspace as is (id chosen by the test).
  void PutWorkspace(api::WorkspaceInfo ws) {
    std::lock_guard<std::mutex> lock(mu_);
    workspaces_[ws.id] = std::move(ws);
  }
  void SetTools(const std::string& ws, std::vector<api::ToolInfo> tools) {
    std::lock_guard<std::mutex> lock(mu_);
    tools_[ws] = std::move(tools);
  }
  // Transition `name` is refused with `status` from now on.
  void RefuseTransition(const std::string& name, grove::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    refusals_[name] = std::move(status);
  }
  // The query QueryRecords last received.
  std::optional<api::RecordQuery> last_query() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_query_;
  }
  // Calls other than ListTools (a read that requests with values make before converting them).
  std::vector<std::string> calls_except_tools() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const std::string& call : calls_) {
      if (!call.starts_with("ListTools(")) out.push_back(call);
    }
    return out;
  }
  void PutRecord(const std::string& ws, api::RecordInfo record) {
    std::lock_guard<std::mutex> lock(mu_);
    records_[ws][record.id] = std::move(record);
  }

  // Appends an event (seq assigned in order from 1) and wakes the streams.
  uint64_t PushEvent(std::string kind, std::string workspace, std::string id) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t seq = dropped_events_ + events_.size() + 1;
    events_.push_back({.seq = seq,
                       .kind = std::move(kind),
                       .workspace = std::move(workspace),
                       .id = std::move(id)});
    cv_.notify_all();
    return seq;
  }
  // Forgets all but the newest `keep` events, as the peer does past its backlog.
  void TrimEvents(size_t keep) {
    std::lock_guard<std::mutex> lock(mu_);
    while (events_.size() > keep) {
      events_.pop_front();
      ++dropped_events_;
    }
  }
  // Calls of WaitEvents in progress right now.
  int waiting() {
    std::lock_guard<std::mutex> lock(mu_);
    return waiting_;
  }
  // Blocks until at least `n` WaitEvents calls are in progress; false after `timeout`.
  bool AwaitWaiting(int n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return waiting_ >= n; });
  }
  // Blocks until no WaitEvents call is in progress; false after `timeout`.
  bool AwaitNoneWaiting(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return waiting_ == 0; });
  }

  // --- api::Backend ---------------------------------------------------------------------------

  api::IdentityInfo Identity() override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("Identity()");
    return identity_;
  }

  api::StatusInfo Status() override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("Status()");
    api::StatusInfo status = status_;
    for (const auto& [id, ws] : workspaces_) status.workspaces.push_back(ws);
    return status;
  }

  Result<std::string> CreateWorkspace(const std::string& name,
                                      const std::vector<std::string>& tools) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string joined;
    for (const std::string& t : tools) joined += (joined.empty() ? "" : "|") + t;
    calls_.push_back("CreateWorkspace(" + name + "," + joined + ")");
    if (auto failure = TakeFailure()) return *failure;
    // Ids of 64 hex digits, distinct in their first digits so prefixes resolve.
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "%02x", static_cast<unsigned>(workspaces_.size() + 1));
    std::string id = std::string(prefix) + std::string(62, 'a');
    workspaces_[id] = {
        .id = id,
        .name = name,
        .tools = tools,
        .role = "owner",
        .members = {{.device = identity_.device, .name = "Fake", .role = "owner", .online = true}}};
    return id;
  }

  std::vector<api::WorkspaceInfo> ListWorkspaces() override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("ListWorkspaces()");
    std::vector<api::WorkspaceInfo> all;
    for (const auto& [id, ws] : workspaces_) all.push_back(ws);
    return all;
  }

  Result<api::WorkspaceInfo> GetWorkspace(const std::string& ws) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("GetWorkspace(" + ws + ")");
    if (auto failure = TakeFailure()) return *failure;
    auto it = workspaces_.find(ws);
    if (it == workspaces_.end()) return NotFound("no workspace " + ws);
    return it->second;
  }

  grove::Status AddMember(const std::string& ws, const std::string& card,
                          const std::string& role) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("AddMember(" + ws + "," + card + "," + role + ")");
    if (auto failure = TakeFailure()) return *failure;
    auto it = workspaces_.find(ws);
    if (it == workspaces_.end()) return NotFound("no workspace " + ws);
    it->second.members.push_back({.device = "dev-" + card, .name = card, .role = role});
    return grove::Status::Ok();
  }

  grove::Status RemoveMember(const std::string& ws, const std::string& device) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("RemoveMember(" + ws + "," + device + ")");
    if (auto failure = TakeFailure()) return *failure;
    auto it = workspaces_.find(ws);
    if (it == workspaces_.end()) return NotFound("no workspace " + ws);
    auto& members = it->second.members;
    for (auto m = members.begin(); m != members.end(); ++m) {
      if (m->device == device) {
        members.erase(m);
        return grove::Status::Ok();
      }
    }
    return NotFound("no member " + device, "device");
  }

  std::vector<api::Invitation> Invitations() override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("Invitations()");
    return invitations_;
  }

  grove::Status AcceptInvitation(const std::string& ws) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("AcceptInvitation(" + ws + ")");
    if (auto failure = TakeFailure()) return *failure;
    for (auto it = invitations_.begin(); it != invitations_.end(); ++it) {
      if (it->workspace == ws) {
        api::WorkspaceInfo joined;
        joined.id = ws;
        joined.name = it->name;
        joined.role = it->role;
        workspaces_[ws] = std::move(joined);
        invitations_.erase(it);
        return grove::Status::Ok();
      }
    }
    return NotFound("no invitation to " + ws);
  }

  Result<std::string> CreateRecord(const std::string& ws, const std::string& type,
                                   const std::map<std::string, api::Value>& fields) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("CreateRecord(" + ws + "," + type + ")");
    last_fields_ = fields;
    if (auto failure = TakeFailure()) return *failure;
    if (!workspaces_.contains(ws)) return NotFound("no workspace " + ws);
    const std::string id = "mfrggzdfmztwq2lk-" + std::to_string(++next_record_);
    api::RecordInfo record;
    record.id = id;
    record.type = type;
    record.state = "open";
    record.fields = fields;
    record.history = {"created"};
    records_[ws][id] = std::move(record);
    return id;
  }

  grove::Status PatchRecord(const std::string& ws, const std::string& id,
                            const api::RecordPatch& patch) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("PatchRecord(" + ws + "," + id + ")");
    last_patch_ = patch;
    if (auto failure = TakeFailure()) return *failure;
    api::RecordInfo* record = FindRecord(ws, id);
    if (record == nullptr) return NotFound("no record " + id);
    for (const auto& [name, value] : patch.set) record->fields[name] = value;
    for (const auto& [name, delta] : patch.add) {
      api::Value& value = record->fields[name];
      const int64_t* old = std::get_if<int64_t>(&value.v);
      if (!value.is_null() && old == nullptr) {
        return FailedPrecondition(name + " is not a counter", "add." + name);
      }
      value = api::Value((old ? *old : 0) + delta);
    }
    record->history.push_back("patched");
    return grove::Status::Ok();
  }

  Result<api::RecordInfo> GetRecord(const std::string& ws, const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("GetRecord(" + ws + "," + id + ")");
    if (auto failure = TakeFailure()) return *failure;
    api::RecordInfo* record = FindRecord(ws, id);
    if (record == nullptr) return NotFound("no record " + id);
    return *record;
  }

  // Filters by type, state, where (==) and search (any text field, any case), sorts by id only
  // (descending if asked), then pages.
  Result<api::RecordPage> QueryRecords(const std::string& ws, const api::RecordQuery& q) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("QueryRecords(" + ws + "," + q.type + ")");
    last_query_ = q;
    if (auto failure = TakeFailure()) return *failure;
    if (!workspaces_.contains(ws)) return NotFound("no workspace " + ws);
    std::vector<api::RecordInfo> matched;
    for (const auto& [id, record] : records_[ws]) {
      if (!q.type.empty() && record.type != q.type) continue;
      if (!q.state.empty() && record.state != q.state) continue;
      if (record.archived && !q.include_archived) continue;
      bool ok = true;
      for (const auto& [name, value] : q.where) {
        auto it = record.fields.find(name);
        ok = ok && it != record.fields.end() && it->second == value;
      }
      if (!q.search.empty()) {
        bool found = false;
        for (const auto& [name, value] : record.fields) {
          const auto* text = std::get_if<std::string>(&value.v);
          found =
              found || (text != nullptr && Lower(*text).find(Lower(q.search)) != std::string::npos);
        }
        ok = ok && found;
      }
      if (ok) matched.push_back(record);
    }
    if (q.descending) std::reverse(matched.begin(), matched.end());
    api::RecordPage page;
    page.total = matched.size();
    for (size_t i = q.offset; i < matched.size() && i < q.offset + q.limit; ++i) {
      page.records.push_back(matched[i]);
    }
    return page;
  }

  // Moves the record to state `name` and appends `name` to its history; transitions set with
  // RefuseTransition are refused with their status instead.
  grove::Status RunTransition(const std::string& ws, const std::string& id, const std::string& name,
                              const std::map<std::string, api::Value>& fields) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("RunTransition(" + ws + "," + id + "," + name + ")");
    last_fields_ = fields;
    if (auto failure = TakeFailure()) return *failure;
    api::RecordInfo* record = FindRecord(ws, id);
    if (record == nullptr) return NotFound("no record " + id, "id");
    if (auto refusal = refusals_.find(name); refusal != refusals_.end()) return refusal->second;
    for (const auto& [field, value] : fields) record->fields[field] = value;
    record->state = name;
    record->history.push_back(name);
    return grove::Status::Ok();
  }

  grove::Status GrantRights(const std::string& ws, const std::string& id, const std::string& field,
                            const std::string& key, const std::string& to_device,
                            int64_t amount) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("GrantRights(" + ws + "," + id + "," + field + "," + key + "," + to_device +
                     "," + std::to_string(amount) + ")");
    if (auto failure = TakeFailure()) return *failure;
    if (FindRecord(ws, id) == nullptr) return NotFound("no record " + id, "id");
    return grove::Status::Ok();
  }

  // Not fallible on demand (FailNext is for the call a request is about), so a test's failure
  // reaches the call it means even when a handler reads the tools first.
  Result<std::vector<api::ToolInfo>> ListTools(const std::string& ws) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("ListTools(" + ws + ")");
    if (!workspaces_.contains(ws)) return NotFound("no workspace " + ws);
    auto it = tools_.find(ws);
    return it == tools_.end() ? std::vector<api::ToolInfo>{} : it->second;
  }

  Result<api::DigestInfo> Digest(const std::string& ws) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("Digest(" + ws + ")");
    if (auto failure = TakeFailure()) return *failure;
    if (!workspaces_.contains(ws)) return NotFound("no workspace " + ws);
    return api::DigestInfo{
        .version = std::string(64, '1'), .state = std::string(64, '2'), .deltas = 7};
  }

  // A claim makes the workspace's barrier: a trusted checkpoint of 12 deltas of one device.
  Result<api::CheckpointInfo> ClaimCheckpoint(const std::string& ws) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("ClaimCheckpoint(" + ws + ")");
    if (auto failure = TakeFailure()) return *failure;
    if (!workspaces_.contains(ws)) return NotFound("no workspace " + ws);
    api::CheckpointInfo info{.id = std::string(64, 'c'),
                             .version = {{std::string(52, 'd'), 12}},
                             .deltas = 12,
                             .bytes = 2048,
                             .trusted = true};
    checkpoints_[ws] = info;
    return info;
  }

  Result<api::HistoryInfo> History(const std::string& ws) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back("History(" + ws + ")");
    if (auto failure = TakeFailure()) return *failure;
    if (!workspaces_.contains(ws)) return NotFound("no workspace " + ws);
    api::HistoryInfo info;
    if (auto it = checkpoints_.find(ws); it != checkpoints_.end()) info.barrier = it->second;
    info.deltas = 20;
    info.prune = true;
    return info;
  }

  uint64_t CurrentEventSeq() override {
    std::lock_guard<std::mutex> lock(mu_);
    return dropped_events_ + events_.size();
  }

  std::vector<api::Event> WaitEvents(uint64_t after_seq, int timeout_ms) override {
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t after = after_seq;
    ++waiting_;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                 [&] { return dropped_events_ + events_.size() > after; });
    --waiting_;
    cv_.notify_all();
    std::vector<api::Event> out;
    for (const api::Event& event : events_) {
      if (event.seq > after) out.push_back(event);
    }
    return out;
  }

 private:
  static std::string Lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  }
  std::optional<grove::Status> TakeFailure() {
    std::optional<grove::Status> failure = std::move(fail_next_);
    fail_next_.reset();
    return failure;
  }
  api::RecordInfo* FindRecord(const std::string& ws, const std::string& id) {
    auto w = records_.find(ws);
    if (w == records_.end()) return nullptr;
    auto r = w->second.find(id);
    return r == w->second.end() ? nullptr : &r->second;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> calls_;
  std::optional<grove::Status> fail_next_;
  std::optional<api::RecordPatch> last_patch_;
  std::map<std::string, api::Value> last_fields_;
  std::optional<api::RecordQuery> last_query_;
  std::map<std::string, std::vector<api::ToolInfo>> tools_;
  std::map<std::string, grove::Status> refusals_;
  api::IdentityInfo identity_;
  api::StatusInfo status_;
  std::map<std::string, api::WorkspaceInfo> workspaces_;
  std::map<std::string, api::CheckpointInfo> checkpoints_;  // by workspace, once claimed
  std::vector<api::Invitation> invitations_;
  std::map<std::string, std::map<std::string, api::RecordInfo>> records_;
  uint64_t next_record_ = 0;
  std::deque<api::Event> events_;
  uint64_t dropped_events_ = 0;
  int waiting_ = 0;
};

}  // namespace grove::testing
