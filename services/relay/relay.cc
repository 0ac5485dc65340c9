#include "relay/relay.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/event_loop.h"
#include "common/file_io.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "logging/log.h"
#include "metrics/metrics.h"
#include "pgstore/pg_store.h"
#include "replica/replica.h"
#include "sync/sync.h"

namespace grove::relay {
namespace {

std::string Hex16(const Hash32& h) { return HexEncode(h).substr(0, 16); }

#ifndef GROVE_VERSION
#define GROVE_VERSION "unknown"
#endif

// Peers remembered for the admin console's status; the least recently seen are forgotten first.
constexpr size_t kMaxPeersSeen = 1000;

// The relay's metrics (docs/operations.md). Gauges are set from the event loop once a second.
struct RelayMetrics {
  metrics::Registry registry;
  metrics::Gauge& connections = Gauge("grove_relay_connections", "Peers connected (hello done)");
  metrics::Gauge& workspaces = Gauge("grove_relay_workspaces", "Workspaces the relay holds");
  metrics::Gauge& stored_deltas =
      Gauge("grove_relay_stored_deltas", "Deltas held for members, all workspaces");
  metrics::Gauge& queue_bytes =
      Gauge("grove_relay_queue_bytes", "Bytes queued to peers and not yet sent (queue depth)");
  metrics::Gauge& backlog =
      Gauge("grove_relay_backlog_connections", "Connections with deltas waiting for queue space");
  metrics::Gauge& database_up =
      Gauge("grove_relay_database_up", "1 when the relay can use its PostgreSQL database");
  metrics::Counter& deltas_stored =
      Counter("grove_relay_deltas_stored_total", "Deltas received and stored in PostgreSQL");
  metrics::Counter& deltas_rejected = Counter(
      "grove_relay_deltas_rejected_total", "Deltas refused (bad signature, author not a member)");
  metrics::Counter& frames_refused = Counter(
      "grove_relay_frames_refused_total", "Delta frames refused whole (quota, sender not member)");
  metrics::Counter& forwarded_bytes =
      Counter("grove_relay_forwarded_bytes_total", "Bytes sent to peers (deltas and protocol)");
  metrics::Counter& received_bytes =
      Counter("grove_relay_received_bytes_total", "Bytes received from peers");
  metrics::Counter& notifications = Counter("grove_relay_notifications_total",
                                            "Workspaces another relay stored deltas for (NOTIFY)");
  metrics::Counter& rendezvous =
      Counter("grove_relay_rendezvous_total", "Meetings of two members the relay coordinated");
  metrics::Counter& spliced_bytes =
      Counter("grove_relay_spliced_bytes_total", "Bytes copied between spliced members");
  metrics::Gauge& splices = Gauge("grove_relay_splices", "Member connections spliced now");
  metrics::Counter& database_errors =
      Counter("grove_relay_database_errors_total", "Times the database could not be used");
  metrics::Histogram& database_seconds =
      metrics::UnlabelledHistogram(registry, "grove_relay_database_latency_seconds",
                                   "Time of each PostgreSQL statement or transaction",
                                   metrics::ExponentialBuckets(0.0001, 4, 9));

  metrics::Counter& Counter(const char* name, const char* help) {
    return metrics::UnlabelledCounter(registry, name, help);
  }
  metrics::Gauge& Gauge(const char* name, const char* help) {
    return metrics::UnlabelledGauge(registry, name, help);
  }
  net::Network::Stats last_net{};
};

}  // namespace

// Everything below runs on the event loop unless it says otherwise.
class Relay::Impl final : public net::Handler, public sync::Transport {
 public:
  Impl(const RelayOptions& options, logging::Logger& log) : options_(options), log_(log) {}

  // --- net::Handler: on the network thread; everything goes to the loop. ---------------------
  void OnConnected(const net::PeerInfo& peer) override {
    loop_.Post([this, peer] {
      if (!sync_) {
        network_->Close(peer.id, Unavailable("relay database unavailable: " + db_error_));
        return;
      }
      log_.Debug(
          "relay", "connected",
          {{"connection", static_cast<int64_t>(peer.id)}, {"remote", peer.remote.ToString()}});
      connection_paths_[peer.id] = {peer.remote.ToString(), net::PathName(peer.path)};
      sync_->OnConnected(peer.id, peer.sign_key, peer.outbound, peer.remote.host, peer.remote.port);
    });
  }
  void OnFrame(net::ConnectionId id, Bytes frame) override {
    loop_.Post([this, id, f = std::move(frame)] {
      if (sync_) sync_->OnFrame(id, f);
    });
  }
  void OnClosed(net::ConnectionId id, const grove::Status& reason) override {
    loop_.Post([this, id, reason] {
      log_.Debug("relay", "disconnected",
                 {{"connection", static_cast<int64_t>(id)}, {"reason", reason.ToString()}});
      connection_paths_.erase(id);
      if (sync_) sync_->OnClosed(id);
    });
  }
  void OnDialFailed(uint64_t, const net::Endpoint&, const grove::Status&) override {}

  // --- sync::Transport -----------------------------------------------------------------------
  bool Send(sync::ConnectionId id, Bytes frame) override {
    return network_->Send(id, std::move(frame));
  }
  size_t Queued(sync::ConnectionId id) const override { return network_->QueuedBytes(id); }
  void Close(sync::ConnectionId id, const grove::Status& reason) override {
    log_.Info("relay", "closing connection",
              {{"connection", static_cast<int64_t>(id)}, {"reason", reason.ToString()}});
    network_->Close(id, reason);
  }

  // --- Start and stop ------------------------------------------------------------------------
  grove::Status Start() {
    auto loaded = identity::Identity::Load(options_.data);
    if (!loaded.ok() && loaded.status().code() == Code::kNotFound) {
      // First start: the relay makes its own device.
      GROVE_ASSIGN_OR_RETURN(identity::Identity made,
                             identity::Identity::Create(options_.name, random_, clock_));
      GROVE_RETURN_IF_ERROR(made.Save(options_.data, random_));
      log_.Info("relay", "created the relay's device", {{"data", options_.data}});
      loaded = identity::Identity::Load(options_.data);
    }
    if (!loaded.ok()) return loaded.status();
    identity_ = std::make_unique<identity::Identity>(std::move(loaded).value());
    started_ms_ = clock_.NowMillis();
    GROVE_RETURN_IF_ERROR(WriteFileAtomic(options_.data + "/relay.card",
                                          identity_->card().text() + "\n",
                                          /*replace=*/true, /*mode=*/0644));

    net::Options no;
    no.listen = options_.listen;
    no.max_frame_bytes = options_.max_frame_bytes;
    no.splice = true;  // members that cannot reach each other meet through this relay
    GROVE_ASSIGN_OR_RETURN(network_, net::Network::Start(*identity_, no, *this));
    listening_ = network_->listening();
    SetHealth(false, "connecting to the database", 0);
    loop_.Call([this] {
      ConnectDatabase();
      Tick();
    });
    listener_thread_ = std::thread([this] { ListenLoop(); });
    return grove::Status::Ok();
  }

  void Stop() {
    if (stopped_.exchange(true)) return;
    {
      std::lock_guard<std::mutex> lock(listen_mu_);
      listen_stop_ = true;
    }
    listen_cv_.notify_all();
    if (listener_thread_.joinable()) listener_thread_.join();
    if (network_) network_->Stop();
    loop_.Call([this] {
      if (tick_timer_) loop_.Cancel(tick_timer_);
      if (retry_timer_) loop_.Cancel(retry_timer_);
      sync_.reset();
      store_.reset();
    });
    loop_.Stop();
  }

  // --- The database --------------------------------------------------------------------------
  void ConnectDatabase() {
    retry_timer_ = 0;
    if (stopped_) return;
    pgstore::Options po;
    po.url = options_.db_url;
    po.connect_timeout_s = options_.db_connect_timeout_s;
    auto opened = pgstore::PgStore::Open(po);
    if (opened.ok()) {
      store_ = std::move(opened).value();
      store_->SetLatencyObserver([this](double s) { metrics_.database_seconds.Observe(s); });
      grove::Status loaded = LoadWorkspaces();
      if (loaded.ok()) {
        const bool was_down = db_error_logged_;
        db_error_.clear();
        db_error_logged_ = false;
        metrics_.database_up.Set(1);
        SetHealth(true, "", 0);
        log_.Info("relay", was_down ? "database reachable again" : "database ready",
                  {{"workspaces", static_cast<int64_t>(sync_->Workspaces().size())}});
        return;
      }
      sync_.reset();
      store_.reset();
      opened = loaded;
    }
    DatabaseDown(opened.status());
  }

  // Builds the blind sync node over the store and opens every workspace the database holds.
  grove::Status LoadWorkspaces() {
    sync::Options so;
    so.blind = true;
    so.batch_bytes = options_.batch_bytes;
    so.listen_port = listening_.port;
    so.max_frame_bytes = static_cast<uint32_t>(options_.max_frame_bytes);
    so.admit_peer = [this](const identity::CardInfo& card, const std::string&, bool) {
      if (org_.revoked && org_.revoked(card.device)) {
        return PermissionDenied("device " + identity::DeviceIdText(card.device) +
                                " was revoked by the organisation");
      }
      return grove::Status::Ok();
    };
    sync::Observer observer;
    observer.ready = [this](sync::ConnectionId id, const identity::DeviceId&) {
      if (org_.notices) sync_->SendNotices(org_.notices(), id);
    };
    observer.applied = [this](const sync::WorkspaceId& ws, const replica::ApplyReport& r,
                              sync::ConnectionId from) { OnApplied(ws, r, from); };
    observer.note = [this](sync::ConnectionId conn, const std::string& what) {
      if (what.starts_with("refused deltas")) {
        metrics_.frames_refused.Inc();
        log_.Warn("relay", what, {{"connection", static_cast<int64_t>(conn)}});
      } else if (what.starts_with("closing")) {
        log_.Info("relay", what, {{"connection", static_cast<int64_t>(conn)}});
      } else {
        log_.Debug("relay", what, {{"connection", static_cast<int64_t>(conn)}});
      }
    };
    sync::BlindHooks hooks;
    hooks.open = [this](const sync::WorkspaceId&, ByteView genesis) {
      return replica::Workspace::Join(*identity_, genesis, *store_, clock_, random_);
    };
    hooks.discard = [this](const sync::WorkspaceId& ws) {
      store::WriteBatch wb;
      wb.DeleteWorkspace(ws);
      if (grove::Status s = store_->Write(wb); !s.ok()) PostDatabaseDown(s);
    };
    hooks.rendezvous = [this](const identity::DeviceId& a, const identity::DeviceId& b) {
      return Rendezvous(a, b);
    };
    hooks.admit = [this](const sync::WorkspaceId& ws, const identity::DeviceId& sender,
                         const std::vector<sync::FreshDelta>& fresh) {
      return Admit(ws, sender, fresh);
    };
    sync_ = std::make_unique<sync::SyncNode>(*identity_, *this, so, std::move(observer),
                                             std::move(hooks));
    GROVE_ASSIGN_OR_RETURN(auto workspaces, store_->ListWorkspaces());
    for (const auto& [ws_id, info] : workspaces) {
      auto ws = replica::Workspace::Open(*identity_, ws_id, *store_, clock_, random_);
      if (!ws.ok()) return ws.status().Annotate("opening workspace " + Hex16(ws_id));
      sync_->AddWorkspace(std::move(ws).value());
    }
    return grove::Status::Ok();
  }

  // The database cannot be used: say so, drop every peer (they sync directly meanwhile) and
  // what was loaded, and try again later. Called only outside SyncNode callbacks (see
  // PostDatabaseDown).
  void DatabaseDown(const grove::Status& why) {
    metrics_.database_errors.Inc();
    metrics_.database_up.Set(0);
    db_error_ = why.ToString();
    SetHealth(false, db_error_, 0);
    if (!db_error_logged_) {
      log_.Error("relay", "database unavailable; peers are refused until it is back",
                 {{"error", db_error_}, {"retry_ms", static_cast<int64_t>(options_.db_retry_ms)}});
      db_error_logged_ = true;
    }
    if (sync_) {
      for (const sync::ConnectionView& c : sync_->Connections()) {
        network_->Close(c.id, Unavailable("relay database unavailable"));
      }
    }
    sync_.reset();
    store_.reset();
    if (!stopped_ && !retry_timer_) {
      retry_timer_ = loop_.PostAfter(options_.db_retry_ms, [this] { ConnectDatabase(); });
    }
  }

  // From inside a SyncNode callback the node must not be destroyed: go down on the next turn.
  void PostDatabaseDown(const grove::Status& why) {
    loop_.Post([this, why] {
      if (sync_) DatabaseDown(why);
    });
  }

  grove::Status Admit(const sync::WorkspaceId& ws, const identity::DeviceId& sender,
                      const std::vector<sync::FreshDelta>& fresh) {
    (void)sender;  // quotas count authors: a member passing on others' deltas is not charged
    if (org_.stores && !org_.stores(ws)) {
      return PermissionDenied("the organisation's policy for workspace " + Hex16(ws) +
                              " does not allow this relay to store it");
    }
    uint64_t total = 0;
    std::map<identity::DeviceId, uint64_t> by_author;
    for (const sync::FreshDelta& d : fresh) {
      total += d.bytes->size();
      by_author[d.author] += d.bytes->size();
    }
    if (total == 0) return grove::Status::Ok();
    if (options_.quota_workspace_bytes > 0) {
      auto usage = store_->WorkspaceUsage(ws);
      if (!usage.ok()) {
        PostDatabaseDown(usage.status());
        return Unavailable("relay database unavailable");
      }
      if (usage->bytes + total > options_.quota_workspace_bytes) {
        return ResourceExhausted(
            "the relay's quota for this workspace is full: " + std::to_string(usage->bytes) +
            " of " + std::to_string(options_.quota_workspace_bytes) +
            " bytes stored, these deltas need " + std::to_string(total) + " more");
      }
    }
    if (options_.quota_device_bytes > 0) {
      for (const auto& [author, bytes] : by_author) {
        auto usage = store_->DeviceUsage(author);
        if (!usage.ok()) {
          PostDatabaseDown(usage.status());
          return Unavailable("relay database unavailable");
        }
        if (usage->bytes + bytes > options_.quota_device_bytes) {
          return ResourceExhausted(
              "the relay's quota for device " + identity::DeviceIdText(author).substr(0, 16) +
              " is full: " + std::to_string(usage->bytes) + " of " +
              std::to_string(options_.quota_device_bytes) + " bytes stored, these deltas need " +
              std::to_string(bytes) + " more");
        }
      }
    }
    return grove::Status::Ok();
  }

  // A token for `a` and `b` to meet by (their punch, then this relay's splice), at most one per
  // pair every 10 s so a peer cannot make the relay flood another with punch requests.
  std::string Rendezvous(const identity::DeviceId& a, const identity::DeviceId& b) {
    const uint64_t now = clock_.NowMillis();
    auto key = a < b ? std::pair{a, b} : std::pair{b, a};
    uint64_t& last = rendezvous_at_[key];
    if (last != 0 && now - last < 10'000) return "";
    last = now;
    uint8_t raw[32];
    random_.Fill(raw);
    std::string token = HexEncode(ByteView(raw, sizeof raw));
    // The punch runs first; the splice must still be open after it fails.
    const int ttl_ms = 3000 + 20'000;
    if (grove::Status s = network_->ExpectSplice(token, ttl_ms); !s.ok()) {
      log_.Warn("relay", "cannot expect a splice", {{"error", s.ToString()}});
      return "";
    }
    metrics_.rendezvous.Inc();
    return token;
  }

  void OnApplied(const sync::WorkspaceId& ws, const replica::ApplyReport& r,
                 sync::ConnectionId from) {
    if (!r.store.ok()) {
      log_.Error("relay", "storing deltas failed",
                 {{"workspace", Hex16(ws)}, {"error", r.store.ToString()}});
      PostDatabaseDown(r.store);
      return;
    }
    metrics_.deltas_stored.Inc(r.accepted);
    metrics_.deltas_rejected.Inc(r.rejected.size());
    for (const grove::Status& s : r.rejected) {
      log_.Warn("relay", "delta refused",
                {{"workspace", Hex16(ws)},
                 {"connection", static_cast<int64_t>(from)},
                 {"reason", s.ToString()}});
    }
  }

  // --- Other relays: LISTEN grove_deltas, on its own thread ----------------------------------
  void ListenLoop() {
    std::unique_ptr<pgstore::Listener> listener;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(listen_mu_);
        if (listen_stop_) return;
      }
      if (!listener) {
        pgstore::Options po;
        po.url = options_.db_url;
        po.connect_timeout_s = options_.db_connect_timeout_s;
        auto opened = pgstore::Listener::Open(po);
        if (!opened.ok()) {
          std::unique_lock<std::mutex> lock(listen_mu_);
          listen_cv_.wait_for(lock, std::chrono::milliseconds(options_.db_retry_ms),
                              [this] { return listen_stop_; });
          continue;
        }
        listener = std::move(opened).value();
        // Whatever was notified while nobody listened: look at every workspace once.
        loop_.Post([this] { CatchUpAll(); });
      }
      auto notified = listener->Wait(250);
      if (!notified.ok()) {
        listener.reset();
        continue;
      }
      if (!notified->empty()) {
        metrics_.notifications.Inc(notified->size());
        loop_.Post([this, ids = std::move(notified).value()] {
          for (const sync::WorkspaceId& id : ids) CatchUp(id);
        });
      }
    }
  }

  void CatchUpAll() {
    if (!sync_) return;
    std::vector<sync::WorkspaceId> ids;
    for (replica::Workspace* ws : sync_->Workspaces()) ids.push_back(ws->id());
    auto unloaded = store_->UnloadedWorkspaces();
    if (!unloaded.ok()) return PostDatabaseDown(unloaded.status());
    ids.insert(ids.end(), unloaded->begin(), unloaded->end());
    for (const sync::WorkspaceId& id : ids) CatchUp(id);
  }

  // Takes what another relay stored of `id` since this relay last looked.
  void CatchUp(const sync::WorkspaceId& id) {
    if (!sync_) return;
    replica::Workspace* ws = sync_->Find(id);
    if (ws == nullptr) {
      grove::Status loaded = store_->LoadWorkspace(id);
      if (!loaded.ok()) return PostDatabaseDown(loaded);
      auto opened = replica::Workspace::Open(*identity_, id, *store_, clock_, random_);
      if (!opened.ok()) {
        log_.Warn("relay", "cannot open a workspace another relay stored",
                  {{"workspace", Hex16(id)}, {"error", opened.status().ToString()}});
        return;
      }
      sync_->AddWorkspace(std::move(opened).value());
      return;
    }
    // Writers lock the workspace while inserting, so rows past the last id seen are all new.
    bool changed = false;
    for (;;) {
      auto rows = store_->DeltasAfter(id, store_->LastDeltaId(id), 2000);
      if (!rows.ok()) return PostDatabaseDown(rows.status());
      if (rows->empty()) break;
      std::vector<Bytes> batch;
      batch.reserve(rows->size());
      for (auto& [row_id, row] : *rows) batch.push_back(std::move(row.bytes));
      replica::ApplyReport report = ws->Apply(batch);
      if (!report.store.ok()) return PostDatabaseDown(report.store);
      changed = changed || report.accepted > 0;
      if (rows->size() < 2000) break;
    }
    if (changed) sync_->Push(id);
  }

  // --- Managed mode --------------------------------------------------------------------------
  // New revocations go to every connected peer (peers pass them on); revoked devices are dropped.
  void SpreadOrgNotices() {
    if (org_.notices) {
      std::vector<std::string> fresh;
      for (std::string& n : org_.notices()) {
        if (notices_sent_.insert(n).second) fresh.push_back(std::move(n));
      }
      sync_->SendNotices(fresh);
    }
    if (org_.revoked) {
      for (const sync::ConnectionView& c : sync_->Connections()) {
        if (c.ready && org_.revoked(c.device)) {
          sync_->Disconnect(c.device,
                            PermissionDenied("device " + identity::DeviceIdText(c.device) +
                                             " was revoked by the organisation"));
        }
      }
    }
  }

  // --- Timers --------------------------------------------------------------------------------
  void Tick() {
    tick_timer_ = 0;
    if (stopped_) return;
    if (sync_) sync_->Pump();
    if (++ticks_ % 40 == 0) UpdateGauges();
    tick_timer_ = loop_.PostAfter(25, [this] { Tick(); });
  }

  void UpdateGauges() {
    if (sync_ && store_) {
      auto ping = store_->Ping();
      if (!ping.ok()) return DatabaseDown(ping.status());
      SetHealth(true, "", *ping);
      size_t ready = 0, queued = 0;
      for (const sync::ConnectionView& c : sync_->Connections()) {
        ready += c.ready;
        queued += network_->QueuedBytes(c.id);
      }
      uint64_t deltas = 0;
      auto workspaces = sync_->Workspaces();
      for (replica::Workspace* ws : workspaces) {
        for (const replica::VersionEntry& e : ws->Version()) deltas += e.seq;
      }
      metrics_.connections.Set(static_cast<double>(ready));
      metrics_.queue_bytes.Set(static_cast<double>(queued));
      metrics_.workspaces.Set(static_cast<double>(workspaces.size()));
      metrics_.stored_deltas.Set(static_cast<double>(deltas));
      metrics_.backlog.Set(sync_->HasBacklog() ? 1 : 0);
      UpdateStatus(ready, workspaces.size(), deltas);
      SpreadOrgNotices();
    } else {
      metrics_.connections.Set(0);
      UpdateStatus(0, 0, 0);
    }
    net::Network::Stats now = network_->stats();
    net::Network::Stats& last = metrics_.last_net;
    metrics_.forwarded_bytes.Inc(now.bytes_out - last.bytes_out + now.bytes_spliced -
                                 last.bytes_spliced);
    metrics_.spliced_bytes.Inc(now.bytes_spliced - last.bytes_spliced);
    metrics_.splices.Set(static_cast<double>(now.splices_open));
    metrics_.received_bytes.Inc(now.bytes_in - last.bytes_in);
    last = now;
  }

  // The admin console's view: the counts, and every peer connected now marked as seen now.
  void UpdateStatus(uint64_t connections, uint64_t workspaces, uint64_t deltas) {
    const uint64_t now = clock_.NowMillis();
    for (auto& [device, peer] : peers_seen_) peer.connected = false;
    if (sync_) {
      for (const sync::ConnectionView& c : sync_->Connections()) {
        if (!c.ready) continue;
        admin::PeerSeen& peer = peers_seen_[c.device];
        peer.device = identity::DeviceIdText(c.device);
        peer.name = c.name;
        peer.last_seen_ms = now;
        peer.connected = true;
        if (auto it = connection_paths_.find(c.id); it != connection_paths_.end()) {
          peer.address = it->second.first;
          peer.path = it->second.second;
        }
      }
    }
    std::vector<admin::PeerSeen> peers;
    peers.reserve(peers_seen_.size());
    for (const auto& [device, peer] : peers_seen_) peers.push_back(peer);
    std::sort(peers.begin(), peers.end(), [](const admin::PeerSeen& a, const admin::PeerSeen& b) {
      return a.last_seen_ms != b.last_seen_ms ? a.last_seen_ms > b.last_seen_ms
                                              : a.device < b.device;
    });
    if (peers.size() > kMaxPeersSeen) {
      for (size_t i = kMaxPeersSeen; i < peers.size(); ++i) {
        peers_seen_.erase(*identity::ParseDeviceId(peers[i].device));
      }
      peers.resize(kMaxPeersSeen);
    }
    std::lock_guard<std::mutex> lock(status_mu_);
    status_.connections = connections;
    status_.workspaces = workspaces;
    status_.stored_deltas = deltas;
    status_.peers = std::move(peers);
  }

  admin::RelayStatus status() const {
    admin::RelayStatus s;
    {
      std::lock_guard<std::mutex> lock(status_mu_);
      s = status_;
    }
    const Health h = health();
    s.version = GROVE_VERSION;
    s.device = identity::DeviceIdText(identity_->device());
    s.card = identity_->card().text();
    s.started_ms = started_ms_;
    s.now_ms = clock_.NowMillis();
    s.database_ok = h.database_ok;
    s.database_error = h.database_error;
    s.database_latency_seconds = h.database_latency_seconds;
    return s;
  }

  void SetHealth(bool ok, const std::string& error, double latency) {
    std::lock_guard<std::mutex> lock(health_mu_);
    health_ = Health{ok, error, latency};
  }

  Health health() const {
    std::lock_guard<std::mutex> lock(health_mu_);
    return health_;
  }

  RelayOptions options_;
  logging::Logger& log_;
  mutable SystemClock clock_;  // thread-safe; status() reads it from admin threads
  crypto::SystemRandom random_;
  EventLoop loop_;
  std::unique_ptr<identity::Identity> identity_;
  std::unique_ptr<net::Network> network_;
  net::Endpoint listening_;
  std::unique_ptr<pgstore::PgStore> store_;
  std::unique_ptr<sync::SyncNode> sync_;
  Relay::OrgHooks org_;                 // event loop only
  std::set<std::string> notices_sent_;  // to every connected peer; new peers get all at hello
  RelayMetrics metrics_;
  std::map<std::pair<identity::DeviceId, identity::DeviceId>, uint64_t> rendezvous_at_;
  std::string db_error_ = "not connected yet";
  bool db_error_logged_ = false;
  uint64_t tick_timer_ = 0, retry_timer_ = 0, ticks_ = 0;
  std::atomic<bool> stopped_{false};

  std::thread listener_thread_;
  std::mutex listen_mu_;
  std::condition_variable listen_cv_;
  bool listen_stop_ = false;

  mutable std::mutex health_mu_;
  Health health_;

  // The admin console's status: written by the loop, read by admin HTTP threads.
  uint64_t started_ms_ = 0;  // set before the loop starts
  std::map<net::ConnectionId, std::pair<std::string, std::string>> connection_paths_;  // loop
  std::map<identity::DeviceId, admin::PeerSeen> peers_seen_;                           // loop
  mutable std::mutex status_mu_;
  admin::RelayStatus status_;  // guarded by status_mu_: counts and peers only
};

Result<std::unique_ptr<Relay>> Relay::Start(const RelayOptions& options, logging::Logger& log) {
  std::unique_ptr<Relay> relay(new Relay());
  relay->impl_ = std::make_unique<Impl>(options, log);
  GROVE_RETURN_IF_ERROR(relay->impl_->Start());
  return relay;
}

Relay::~Relay() { Stop(); }
void Relay::Stop() {
  if (impl_) impl_->Stop();
}
net::Endpoint Relay::sync_address() const { return impl_->listening_; }
std::string Relay::card() const { return impl_->identity_->card().text(); }
identity::DeviceId Relay::device() const { return impl_->identity_->device(); }
std::string Relay::MetricsText() { return impl_->metrics_.registry.Exposition(); }
Health Relay::health() const { return impl_->health(); }
admin::RelayStatus Relay::status() const { return impl_->status(); }

void Relay::SetOrgHooks(OrgHooks hooks) {
  impl_->loop_.Call([&] { impl_->org_ = std::move(hooks); });
}

}  // namespace grove::relay
