#include "auditor/auditor.h"

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "api/json.h"
#include "api/value_json.h"
#include "audit/audit_log.h"
#include "common/utf8.h"
#include "logging/log.h"
#include "pgsql/session.h"

namespace grove::auditor {
namespace {

using audit::AuditLog;
using audit::Entry;
using audit::EntryKind;

constexpr char kSep = '\x1f';  // between the parts of a value-cache key

struct Batch {
  std::vector<Entry> entries;
  std::vector<AuditLog::Cursor> cursors;
};

std::string FeedCursor(const std::string& ws_hex, const replica::DeviceId& author) {
  return "feed/" + ws_hex + "/" + HexEncode(author);
}
std::string ForkCursor(const std::string& ws_hex) { return "forks/" + ws_hex; }

// A cursor's position; nullopt for anything but a decimal number (a row edited by hand).
std::optional<uint64_t> Position(const std::string& text) {
  uint64_t n = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

std::string JsonText(const replica::Value& v) { return SanitizeUtf8(api::ValueToJson(v).Dump()); }
std::string JsonString(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

// What the writer thread and the event loop share.
struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Batch> queue;
  bool stop = false;
  bool done = false;  // the writer thread has finished
  State state;
  bool loaded = false;
  std::map<std::string, std::string> cursors;      // as loaded: name -> position
  std::map<std::string, std::string> last_values;  // as loaded: cache key -> new_value
};

// The newest value the log recorded per (workspace, record, field), for old_value.
Status LoadLastValues(std::string_view url, std::map<std::string, std::string>& out) {
  GROVE_ASSIGN_OR_RETURN(pgsql::Target target, pgsql::ParseTarget(url, 5, "grove-auditor"));
  pgsql::Session session(std::move(target));
  using ReadTxn = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;
  return session.Transact<ReadTxn>(
      "reading the audit log's last values", [&](pqxx::transaction_base& txn) -> Status {
        out.clear();
        const pqxx::result rows = txn.exec(
            "SELECT DISTINCT ON (workspace, record, field) workspace, record, field, new_value "
            "FROM audit_entries WHERE kind = 'op' AND field <> '' "
            "ORDER BY workspace, record, field, seq DESC");
        for (const pqxx::row& r : rows) {
          pqxx::binarystring ws(r[0]);
          out.emplace(HexEncode(ByteView(ws.data(), ws.size())) + kSep + r[1].as<std::string>() +
                          kSep + r[2].as<std::string>(),
                      r[3].as<std::string>());
        }
        return Status::Ok();
      });
}

void Writer(std::shared_ptr<Shared> shared, Options options, crypto::SigningKey key, Clock& clock,
            logging::Logger& log) {
  std::unique_ptr<AuditLog> audit_log;
  uint64_t last_head_ms = 0;
  uint64_t last_drain_ms = 0;
  auto fail = [&](const Status& s) {
    std::unique_lock lock(shared->mu);
    if (shared->state.db_ok || shared->state.error != s.ToString()) {
      log.Warn("audit", "audit database failed; the log waits and retries (the mesh does not)",
               {{"error", s.ToString()}});
    }
    shared->state.db_ok = false;
    shared->state.error = s.ToString();
    shared->cv.wait_for(lock, std::chrono::milliseconds(options.retry_ms),
                        [&] { return shared->stop; });
  };
  auto ok = [&] {
    std::lock_guard lock(shared->mu);
    if (!shared->state.db_ok && shared->state.ready) log.Info("audit", "audit database back");
    shared->state.db_ok = true;
    shared->state.error.clear();
    shared->state.entries = audit_log->size();
  };
  auto sign = [&] {
    Result<audit::SignedHead> head = audit_log->SignHead();
    if (!head.ok()) return fail(head.status());
    last_head_ms = clock.NowMillis();
    std::lock_guard lock(shared->mu);
    shared->state.head_size = head->head.size;
    shared->state.head_timestamp_ms = head->head.timestamp_ms;
  };

  for (;;) {
    {
      std::lock_guard lock(shared->mu);
      if (shared->stop && (shared->queue.empty() || !shared->state.db_ok)) break;
    }
    if (!audit_log) {
      Result<crypto::SigningKey> copy = crypto::SigningKey::FromSeed(key.seed());
      if (!copy.ok()) break;  // cannot happen: the seed is 32 bytes
      Result<std::unique_ptr<AuditLog>> opened =
          AuditLog::Open(options.db_url, std::move(*copy), clock);
      if (!opened.ok()) {
        fail(opened.status());
        continue;
      }
      Result<std::map<std::string, std::string>> cursors = (*opened)->Cursors();
      std::map<std::string, std::string> values;
      Status s = cursors.ok() ? LoadLastValues(options.db_url, values) : cursors.status();
      if (!s.ok()) {
        fail(s);
        continue;
      }
      audit_log = std::move(*opened);
      Result<std::vector<audit::SignedHead>> heads = audit_log->Heads();
      std::lock_guard lock(shared->mu);
      shared->cursors = std::move(*cursors);
      shared->last_values = std::move(values);
      shared->loaded = true;
      shared->state.ready = true;
      shared->state.db_ok = true;
      shared->state.error.clear();
      shared->state.entries = audit_log->size();
      if (heads.ok() && !heads->empty()) {
        shared->state.head_size = heads->back().head.size;
        shared->state.head_timestamp_ms = heads->back().head.timestamp_ms;
      }
      log.Info("audit", "audit log open",
               {{"entries", static_cast<int64_t>(audit_log->size())},
                {"cursors", static_cast<int64_t>(shared->cursors.size())}});
      continue;
    }
    const Batch* batch = nullptr;
    {
      std::unique_lock lock(shared->mu);
      shared->cv.wait_for(lock, std::chrono::milliseconds(200),
                          [&] { return shared->stop || !shared->queue.empty(); });
      if (!shared->queue.empty()) batch = &shared->queue.front();  // only this thread pops
    }
    if (batch) {
      Status s = audit_log->Append(batch->entries, batch->cursors);
      if (!s.ok()) {
        fail(s);
        continue;
      }
      std::lock_guard lock(shared->mu);
      shared->state.appended += batch->entries.size();
      shared->state.in_flight -= batch->entries.size();
      shared->queue.pop_front();
    }
    const uint64_t now = clock.NowMillis();
    if (now - last_drain_ms >= 1000 || now < last_drain_ms) {
      Result<size_t> moved = audit_log->DrainInbox();
      if (!moved.ok()) {
        fail(moved.status());
        continue;
      }
      last_drain_ms = now;
      std::lock_guard lock(shared->mu);
      shared->state.appended += *moved;
    }
    ok();
    uint64_t head_size;
    {
      std::lock_guard lock(shared->mu);
      head_size = shared->state.head_size;
    }
    if (audit_log->size() > head_size &&
        (now - last_head_ms >= static_cast<uint64_t>(options.head_interval_ms) ||
         now < last_head_ms)) {
      sign();
    }
  }
  if (audit_log) {
    std::unique_lock lock(shared->mu);
    const bool sign_last = shared->state.db_ok && audit_log->size() > shared->state.head_size;
    lock.unlock();
    if (sign_last) sign();
  }
  std::lock_guard lock(shared->mu);
  shared->done = true;
  shared->cv.notify_all();
}

}  // namespace

class Auditor::Impl {
 public:
  Impl(Options options, Clock& clock, logging::Logger& log)
      : options_(std::move(options)), clock_(clock), log_(log) {}

  bool Collect(replica::Workspace& ws, store::Store& store) {
    {
      std::lock_guard lock(shared_->mu);
      if (!shared_->loaded) return false;
      if (!taken_over_) {
        db_cursors_ = std::move(shared_->cursors);
        values_ = std::move(shared_->last_values);
        taken_over_ = true;
      }
      if (shared_->state.in_flight >= options_.max_in_flight) return false;
    }
    const std::string ws_hex = HexEncode(ws.id());
    auto [feeds, fresh] = done_.try_emplace(ws.id());
    if (fresh) {
      const std::string prefix = "feed/" + ws_hex + "/";
      for (auto it = db_cursors_.lower_bound(prefix);
           it != db_cursors_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        auto author = HexDecode(it->first.substr(prefix.size()));
        std::optional<uint64_t> seq = Position(it->second);
        if (!author || author->size() != 32 || !seq) {
          log_.Warn("audit", "ignoring a malformed cursor; its feed is logged from the start",
                    {{"cursor", it->first}, {"position", it->second}});
          continue;
        }
        replica::DeviceId id{};
        std::copy(author->begin(), author->end(), id.begin());
        feeds->second[id] = *seq;
      }
      auto forks = db_cursors_.find(ForkCursor(ws_hex));
      forks_done_[ws.id()] = forks == db_cursors_.end() ? 0 : Position(forks->second).value_or(0);
    }
    Batch batch;
    Result<std::vector<replica::AuditedDelta>> due =
        ws.DecidedAfter(feeds->second, options_.batch_ops);
    if (!due.ok()) {
      if (failing_.insert(ws.id()).second) {
        log_.Error("audit", "cannot read what a workspace decided; its log stops here",
                   {{"workspace", ws_hex}, {"error", due.status().ToString()}});
      }
      return false;
    }
    failing_.erase(ws.id());
    std::map<replica::DeviceId, std::string> names;
    for (const replica::MemberView& m : ws.Members()) names[m.device] = m.name;
    std::map<replica::DeviceId, uint64_t> advanced;  // one cursor per author and batch
    for (const replica::AuditedDelta& d : *due) {
      AddDelta(ws, ws_hex, d, names, batch.entries);
      feeds->second[d.author] = d.seq;
      advanced[d.author] = d.seq;
    }
    for (const auto& [author, seq] : advanced) {
      batch.cursors.push_back({FeedCursor(ws_hex, author), std::to_string(seq)});
    }
    AddForks(ws, ws_hex, store, batch);
    if (batch.cursors.empty()) return false;
    const bool more = due->size() > 0 && batch.entries.size() >= options_.batch_ops;
    std::lock_guard lock(shared_->mu);
    shared_->state.in_flight += batch.entries.size();
    shared_->queue.push_back(std::move(batch));
    shared_->cv.notify_all();
    return more;
  }

  void AddDelta(replica::Workspace& ws, const std::string& ws_hex, const replica::AuditedDelta& d,
                const std::map<replica::DeviceId, std::string>& names, std::vector<Entry>& out) {
    Entry base;
    base.kind = d.applied ? EntryKind::kOp : EntryKind::kRejected;
    base.workspace.assign(ws.id().begin(), ws.id().end());
    base.device = replica::DeviceText(d.author);
    auto name = names.find(d.author);
    base.user_name = name == names.end() ? "" : SanitizeUtf8(name->second);
    base.hlc = d.hlc;
    base.received_at_ms = d.received_ms ? d.received_ms : clock_.NowMillis();
    base.delta_hash.assign(d.hash.begin(), d.hash.end());
    if (!d.applied) {
      Entry e = base;
      e.op = "delta";
      e.new_value = JsonString(d.reason);
      out.push_back(std::move(e));
    }
    for (const replica::AuditedOp& op : d.ops) {
      Entry e = base;
      e.op = op.op;
      e.record = op.record ? op.record->Text() : "";
      auto put = [&](std::string field, std::string value, bool keeps_old) {
        Entry x = e;
        x.field = SanitizeUtf8(field);
        std::string& last = values_[ws_hex + kSep + x.record + kSep + x.field];
        if (keeps_old) x.old_value = last;
        x.new_value = std::move(value);
        if (d.applied && keeps_old) last = x.new_value;
        out.push_back(std::move(x));
      };
      if (op.op == "create") {
        e.new_value = JsonString(op.type);
        out.push_back(e);
        for (const auto& [field, value] : op.fields) put(field, JsonText(value), true);
      } else if (op.op == "set") {
        put(op.field, JsonText(op.value), true);
      } else if (op.op == "add") {
        const std::string field =
            op.value.is_null() ? op.field : op.field + "[" + op.value.DebugString() + "]";
        const std::string& last = values_[ws_hex + kSep + e.record + kSep + field];
        int64_t total = 0;
        try {
          total = last.empty() ? 0 : std::stoll(last);
        } catch (const std::exception&) {  // not a number: the counter restarts from 0
        }
        put(field, std::to_string(total + op.amount), true);
      } else if (op.op == "append") {
        put(op.field, JsonText(op.value), false);
      } else if (op.op == "transition") {
        put("@state", JsonString(op.field), true);
      } else if (op.op == "grant") {
        const std::string field =
            op.value.is_null() ? op.field : op.field + "[" + op.value.DebugString() + "]";
        put(field,
            "{\"to\":" + JsonString(op.detail) + ",\"amount\":" + std::to_string(op.amount) + "}",
            false);
      } else if (op.op == "archive") {
        put("@archived", "true", true);
      } else {  // upgrade, membership, key rotation
        e.field = SanitizeUtf8(op.field);
        e.new_value = op.detail.empty() ? "" : JsonString(op.detail);
        out.push_back(std::move(e));
      }
    }
  }

  void AddForks(replica::Workspace& ws, const std::string& ws_hex, store::Store& store,
                Batch& batch) {
    uint64_t& done = forks_done_[ws.id()];
    Result<std::vector<store::EvidenceRow>> evidence = store.ListEvidence(ws.id());
    if (!evidence.ok()) return;
    uint64_t forks = 0;
    for (const store::EvidenceRow& row : *evidence) {
      if (row.kind != "fork" || ++forks <= done) continue;
      Entry e;
      e.kind = EntryKind::kFork;
      e.workspace.assign(ws.id().begin(), ws.id().end());
      e.device = replica::DeviceText(row.author);
      e.op = "fork";
      e.field = "seq " + std::to_string(row.seq);
      e.new_value = JsonString(row.reason);
      e.received_at_ms = row.received_ms;
      e.delta_hash.assign(row.hash.begin(), row.hash.end());
      batch.entries.push_back(std::move(e));
    }
    if (forks > done) {
      done = forks;
      batch.cursors.push_back({ForkCursor(ws_hex), std::to_string(forks)});
    }
  }

  Options options_;
  Clock& clock_;
  logging::Logger& log_;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  std::thread writer_;
  // Event-loop state.
  bool taken_over_ = false;
  std::map<std::string, std::string> db_cursors_;
  std::map<std::string, std::string> values_;
  std::map<replica::WorkspaceId, std::map<replica::DeviceId, uint64_t>> done_;
  std::map<replica::WorkspaceId, uint64_t> forks_done_;
  std::set<replica::WorkspaceId> failing_;  // reported once each
};

Auditor::Auditor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Auditor::~Auditor() { Stop(); }

Result<std::unique_ptr<Auditor>> Auditor::Start(Options options, crypto::SigningKey key,
                                                Clock& clock, logging::Logger& log) {
  GROVE_RETURN_IF_ERROR(pgsql::ParseTarget(options.db_url, 5, "grove-auditor").status());
  if (options.batch_ops == 0 || options.max_in_flight == 0 || options.retry_ms <= 0) {
    return InvalidArgument("batch_ops, max_in_flight and retry_ms must be positive", "audit");
  }
  auto impl = std::make_unique<Impl>(options, clock, log);
  impl->writer_ = std::thread(Writer, impl->shared_, std::move(options), std::move(key),
                              std::ref(clock), std::ref(log));
  return std::unique_ptr<Auditor>(new Auditor(std::move(impl)));
}

bool Auditor::Collect(replica::Workspace& ws, store::Store& store) {
  return impl_->Collect(ws, store);
}

State Auditor::state() const {
  std::lock_guard lock(impl_->shared_->mu);
  return impl_->shared_->state;
}

void Auditor::Stop() {
  if (!impl_->writer_.joinable()) return;
  std::unique_lock lock(impl_->shared_->mu);
  impl_->shared_->stop = true;
  impl_->shared_->cv.notify_all();
  // A database that hangs (rather than fails) would hold the writer in a call: leave it behind
  // rather than hang the peer's shutdown; what it had not committed is collected again next time.
  const bool done =
      impl_->shared_->cv.wait_for(lock, std::chrono::milliseconds(impl_->options_.retry_ms + 5'000),
                                  [&] { return impl_->shared_->done; });
  lock.unlock();
  if (done) {
    impl_->writer_.join();
  } else {
    impl_->writer_.detach();
  }
}

}  // namespace grove::auditor
