#include "peer/peer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>

#include <set>
#include <thread>

#include "attachments/attachments.h"
#include "auditor/auditor.h"
#include "logging/log.h"
#include "metrics/metrics.h"
#include "org/enrolment.h"
#include "org/org_id.h"
#include "org/policy.h"
#include "org/revocation.h"
#include "peer/attachment_views.h"
#include "peer/managed_mode.h"
#include "peer/record_views.h"
#include "replica/replica.h"
#include "store/compaction.h"
#include "tools/tool.h"

namespace grove::peer {
namespace {

std::string Hex16(const Hash32& h) { return HexEncode(h).substr(0, 16); }

// A stable key for a dial target.
std::string TargetKey(const net::Endpoint& ep) { return ep.ToString(); }

// The peer's metrics. Children are looked up once here, so updates on hot paths are atomics; the
// gauges are set from the event loop once a second, so a scrape never waits for the loop.
struct PeerMetrics {
  metrics::Registry registry;
  metrics::Counter& deltas_received =
      Counter("grove_deltas_received_total", "Deltas received from peers and stored");
  metrics::Counter& deltas_rejected = Counter(
      "grove_deltas_rejected_total", "Deltas refused at the door (bad signature, not a member...)");
  metrics::Counter& deltas_invalid = Counter(
      "grove_deltas_invalid_total", "Deltas stored as evidence but not applied (decision 0001)");
  metrics::Counter& forks = Counter("grove_forks_total", "Fork evidence received");
  metrics::Counter& deltas_sent = Counter("grove_deltas_sent_total", "Deltas sent to peers");
  metrics::Counter& local_actions = Counter("grove_local_actions_total", "Local actions made");
  metrics::Counter& chunks_received =
      Counter("grove_attachment_chunks_received_total", "Attachment chunks fetched and stored");
  metrics::Counter& chunks_rejected = Counter("grove_attachment_chunks_rejected_total",
                                              "Attachment chunks received that fail their id");
  metrics::Counter& bytes_in = Counter("grove_sync_received_bytes_total", "Bytes received");
  metrics::Counter& bytes_out = Counter("grove_sync_sent_bytes_total", "Bytes sent");
  metrics::Counter& frames_in = Counter("grove_sync_received_frames_total", "Frames received");
  metrics::Counter& frames_out = Counter("grove_sync_sent_frames_total", "Frames sent");
  metrics::Counter& handshakes_failed =
      Counter("grove_sync_handshakes_failed_total", "TLS handshakes that failed");
  metrics::Counter& dial_failures = Counter("grove_sync_dial_failures_total", "Failed dials");
  metrics::Gauge& connections = Gauge("grove_sync_connections", "Connections with hello done");
  metrics::Gauge& workspaces = Gauge("grove_workspaces", "Workspaces held");
  metrics::Gauge& pending = Gauge("grove_pending_local_actions", "Local actions not yet sealed");
  metrics::Gauge& backlog = Gauge("grove_sync_backlog_connections",
                                  "Connections with deltas waiting for queue space (sync lag)");
  metrics::Gauge& store_bytes = Gauge("grove_store_bytes", "Size of the store on disk");
  metrics::Gauge& store_free_bytes =
      Gauge("grove_store_free_bytes", "Bytes of the store on disk that hold no data (compactable)");
  metrics::Counter& store_compactions =
      Counter("grove_store_compactions_total", "Store compactions that gave space back");
  metrics::Counter& store_compacted_bytes =
      Counter("grove_store_compacted_bytes_total", "Bytes the store gave back to the file system");
  // History (decision 0011).
  metrics::Counter& checkpoints =
      Counter("grove_history_checkpoints_total", "Checkpoints this device claimed or attested");
  metrics::Counter& checkpoints_received = Counter("grove_history_checkpoints_received_total",
                                                   "Checkpoints received from peers and taken");
  metrics::Counter& checkpoints_rejected =
      Counter("grove_history_checkpoints_rejected_total",
              "Checkpoints received that failed their id or that the replica refused");
  metrics::Counter& checkpoints_sent =
      Counter("grove_history_checkpoints_sent_total", "Checkpoints sent to peers");
  metrics::Counter& pruned_deltas =
      Counter("grove_history_pruned_deltas_total", "Deltas deleted under trusted checkpoints");
  metrics::Gauge& base_deltas =
      Gauge("grove_history_base_deltas",
            "Deltas under the checkpoints the workspaces' states are built on, summed");
  // An auditor device's log (services/auditor); 0 on other devices.
  metrics::Gauge& audit_entries = Gauge("grove_audit_entries", "Entries in the audit log");
  metrics::Gauge& audit_in_flight =
      Gauge("grove_audit_in_flight_entries", "Audit entries collected and not yet committed");
  metrics::Gauge& audit_database_up =
      Gauge("grove_audit_database_up", "1 when the audit log's database is usable");
  metrics::Histogram& apply_seconds = metrics::UnlabelledHistogram(
      registry, "grove_apply_duration_seconds", "Time to verify, decrypt, apply and store a batch",
      metrics::ExponentialBuckets(0.0001, 4, 9));

  metrics::Counter& Counter(const char* name, const char* help) {
    return metrics::UnlabelledCounter(registry, name, help);
  }
  metrics::Gauge& Gauge(const char* name, const char* help) {
    return metrics::UnlabelledGauge(registry, name, help);
  }
  net::Network::Stats last_net{};
  uint64_t last_deltas_sent = 0;
  uint64_t last_checkpoints_sent = 0;
};

uint64_t DeltasOf(const replica::VersionVector& version) {
  uint64_t n = 0;
  for (const replica::VersionEntry& e : version) n += e.seq;
  return n;
}

}  // namespace

// Everything below runs on the event loop unless it says otherwise.
class Peer::Impl final : public net::Handler, public sync::Transport {
 public:
  Impl(Peer& owner, const PeerOptions& options, logging::Logger& log)
      : owner_(owner), options_(options), log_(log) {}

  // --- net::Handler: called on the network thread; hand everything to the loop. ---------------
  void OnConnected(const net::PeerInfo& peer) override {
    loop_.Post([this, peer] {
      if (!sync_) return;
      // An outbound connection's id is the id its dial returned.
      for (auto& [key, t] : targets_) {
        if (peer.outbound && t.dial_id == peer.id) {
          t.connection = peer.id;
          t.connected_ms = clock_.NowMillis();
        }
      }
      traversals_.erase(peer.id);
      paths_[peer.id] = net::PathName(peer.path);
      connected_at_[peer.id] = clock_.NowMillis();
      log_.Info("sync", "connected",
                {{"connection", static_cast<int64_t>(peer.id)},
                 {"remote", peer.remote.ToString()},
                 {"direction", peer.outbound ? "out" : "in"},
                 {"path", net::PathName(peer.path)}});
      // A spliced connection's socket leads to the relay: its port says nothing of the peer.
      const bool spliced = peer.path == net::PeerInfo::Path::kSpliced;
      sync_->OnConnected(peer.id, peer.sign_key, peer.outbound, peer.remote.host,
                         spliced ? 0 : peer.remote.port);
      Emit("sync", "", "");
      MeasureSync();
    });
  }
  void OnFrame(net::ConnectionId id, Bytes frame) override {
    loop_.Post([this, id, f = std::move(frame)] {
      if (!sync_) return;
      applied_in_frame_ = false;
      auto start = std::chrono::steady_clock::now();
      sync_->OnFrame(id, f);
      if (applied_in_frame_) {
        metrics_.apply_seconds.Observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
    });
  }
  void OnClosed(net::ConnectionId id, const grove::Status& reason) override {
    loop_.Post([this, id, reason] {
      if (!sync_) return;
      log_.Info("sync", "disconnected",
                {{"connection", static_cast<int64_t>(id)}, {"reason", reason.ToString()}});
      sync_->OnClosed(id);
      paths_.erase(id);
      connected_at_.erase(id);
      for (auto& [key, t] : targets_) {
        if (t.connection == id) {
          t.connection = 0;
          // Only a connection that lasted resets the backoff: one the remote closes at once
          // (refused, misconfigured) must not be redialled at the minimum delay forever.
          if (clock_.NowMillis() - t.connected_ms > 10'000)
            t.backoff_ms = options_.reconnect_min_ms;
          ScheduleDial(key);
        }
      }
      Emit("sync", "", "");
      MeasureSync();
    });
  }
  void OnDialFailed(uint64_t dial_id, const net::Endpoint& to,
                    const grove::Status& reason) override {
    loop_.Post([this, dial_id, to, reason] {
      metrics_.dial_failures.Inc();
      if (auto t = traversals_.find(dial_id); t != traversals_.end()) {
        sync::PunchRequest request = t->second;
        traversals_.erase(t);
        return TraversalFailed(request, to, reason);
      }
      for (auto& [key, t] : targets_) {
        if (t.dial_id != dial_id) continue;
        log_.Debug("sync", "dial failed",
                   {{"remote", to.ToString()},
                    {"reason", reason.ToString()},
                    {"retry_ms", static_cast<int64_t>(t.backoff_ms)}});
        ScheduleDial(key);
        return;
      }
    });
  }

  // --- sync::Transport -----------------------------------------------------------------------
  bool Send(sync::ConnectionId id, Bytes frame) override {
    return network_->Send(id, std::move(frame));
  }
  size_t Queued(sync::ConnectionId id) const override { return network_->QueuedBytes(id); }
  void Close(sync::ConnectionId id, const grove::Status& reason) override {
    log_.Warn("sync", "closing connection",
              {{"connection", static_cast<int64_t>(id)}, {"reason", reason.ToString()}});
    network_->Close(id, reason);
  }

  // --- Start and stop ------------------------------------------------------------------------
  grove::Status Start() {
    GROVE_ASSIGN_OR_RETURN(identity::Identity me, identity::Identity::Load(options_.data));
    identity_ = std::make_unique<identity::Identity>(std::move(me));
    store::Options store_options;
    store_options.sync_full = options_.sync_full;
    GROVE_ASSIGN_OR_RETURN(store_,
                           store::OpenSqliteStore(options_.data + "/store.db", store_options));
    start_ms_ = clock_.NowMillis();
    offline_since_ms_ = start_ms_;
    sync_info_.offline_since_ms = start_ms_;
    if (!options_.relay_address.empty()) {
      GROVE_ASSIGN_OR_RETURN(net::Endpoint at, net::ParseEndpoint(options_.relay_address));
      auto card = identity::ParseCardText(options_.relay_card);
      if (!card.ok()) return card.status().Annotate("the relay's card");
      relay_ = RelayTarget{at, std::move(card).value()};
    }
    if (!options_.org_card.empty()) {
      GROVE_ASSIGN_OR_RETURN(managed_, ManagedMode::Open(options_.org_card, options_.enrolment,
                                                         *identity_, options_.data));
    }
    if (!options_.audit_db.empty()) {
      auditor::Options ao;
      ao.db_url = options_.audit_db;
      ao.head_interval_ms = options_.audit_head_interval_ms;
      GROVE_ASSIGN_OR_RETURN(crypto::SigningKey key,
                             crypto::SigningKey::FromSeed(identity_->signing_key().seed()));
      auto started = auditor::Auditor::Start(ao, std::move(key), clock_, log_);
      if (!started.ok()) return started.status().Annotate("audit.db");
      auditor_ = std::move(started).value();
    }

    // The SyncNode and workspaces are built on the loop: they belong to it.
    grove::Status opened = loop_.Call([this]() -> grove::Status {
      sync::Options so;
      if (relay_) so.relays.insert(relay_->card.device);
      so.batch_bytes = options_.batch_bytes;
      so.listen_port = options_.listen.port;
      so.max_frame_bytes = static_cast<uint32_t>(options_.max_frame_bytes);
      if (managed_) {
        so.credential = managed_->credential();
        so.admit_peer = [this](const identity::CardInfo& card, const std::string& credential,
                               bool relay) { return managed_->Admit(card, credential, relay); };
        so.store_on_relay = [this](const sync::WorkspaceId& ws, const identity::DeviceId& relay) {
          const org::Policy* policy = managed_->PolicyFor(ws);
          return !policy || policy->AllowsRelay(relay);
        };
      }
      sync::Observer observer;
      observer.applied = [this](const sync::WorkspaceId& ws, const replica::ApplyReport& r,
                                sync::ConnectionId from) { OnApplied(ws, r, from); };
      observer.invited = [this](const sync::Invitation& inv) {
        log_.Info(
            "sync", "invitation",
            {{"workspace", Hex16(inv.workspace)}, {"name", inv.name}, {"from", inv.from_name}});
        Emit("invitation", HexEncode(inv.workspace), "");
      };
      observer.note = [this](sync::ConnectionId conn, const std::string& what) {
        // Closing reasons and refusals matter to operators; the rest is chatter.
        if (what.starts_with("closing") || what.starts_with("relay refused") ||
            what.starts_with("refused checkpoint") || what.starts_with("cannot send checkpoint") ||
            what.find("larger than") != std::string::npos ||
            what.find("that this node pruned") != std::string::npos) {
          log_.Warn("sync", what, {{"connection", static_cast<int64_t>(conn)}});
        } else if (what.starts_with("sending checkpoint") || what.starts_with("sent checkpoint") ||
                   what.starts_with("asking")) {
          log_.Info("sync", what, {{"connection", static_cast<int64_t>(conn)}});
        } else {
          log_.Debug("sync", what, {{"connection", static_cast<int64_t>(conn)}});
        }
      };
      observer.punch = [this](const sync::PunchRequest& request, sync::ConnectionId) {
        OnPunch(request);
      };
      observer.ready = [this](sync::ConnectionId id, const identity::DeviceId&) {
        if (managed_) sync_->SendNotices(managed_->NoticeTexts(), id);
      };
      observer.notices = [this](sync::ConnectionId from, const std::vector<std::string>& items) {
        OnNotices(from, items);
      };
      observer.chunks = [this](const sync::WorkspaceId& ws, size_t stored, size_t corrupted,
                               sync::ConnectionId from) {
        metrics_.chunks_received.Inc(stored);
        metrics_.chunks_rejected.Inc(corrupted);
        if (stored > 0) {
          std::lock_guard<std::mutex> lock(chunks_mu_);
          ++chunks_arrived_;
          chunks_cv_.notify_all();
        }
        if (corrupted > 0) {
          log_.Warn("sync", "chunks rejected: they do not match their ids",
                    {{"workspace", Hex16(ws)},
                     {"connection", static_cast<int64_t>(from)},
                     {"count", static_cast<int64_t>(corrupted)}});
        }
      };
      observer.checkpoint = [this](const sync::WorkspaceId& ws, const Hash32& id,
                                   uint64_t packed_bytes, const grove::Status& outcome,
                                   sync::ConnectionId from) {
        OnCheckpoint(ws, id, packed_bytes, outcome, from);
      };
      sync_ = std::make_unique<sync::SyncNode>(*identity_, *this, so, std::move(observer));
      sync_->SetChunkStore(store_.get());
      GROVE_ASSIGN_OR_RETURN(auto workspaces, store_->ListWorkspaces());
      for (const auto& [ws_id, info] : workspaces) {
        auto ws = replica::Workspace::Open(*identity_, ws_id, *store_, clock_, random_);
        if (!ws.ok()) return ws.status().Annotate("opening workspace " + Hex16(ws_id));
        // Actions left unsealed by a crash or kill go out now.
        if ((*ws)->pending_actions() > 0) (void)(*ws)->Seal();
        sync_->AddWorkspace(std::move(ws).value());
      }
      // Revocations that arrived while a workspace could not yet be changed (or before a crash
      // between keeping a revocation and applying it) are applied now; applying is idempotent.
      if (managed_) {
        for (const org::Revocation& r : managed_->revocations()) ApplyRevocation(r);
        for (const auto& [ws, policy] : managed_->policies()) ApplyPolicy(policy);
      }
      return grove::Status::Ok();
    });
    GROVE_RETURN_IF_ERROR(opened);

    net::Options no;
    no.listen = options_.listen;
    no.max_frame_bytes = options_.max_frame_bytes;
    // With a relay, outbound connections to it leave from the listen port (see Dial).
    no.reuse_port = relay_.has_value();
    // Started on the loop, so that network_ is set before the loop runs the first connection
    // event the network thread posts (an early inbound connection used to find it null).
    return loop_.Call([this, &no]() -> grove::Status {
      auto network = net::Network::Start(*identity_, no, *this);
      if (!network.ok()) return network.status();
      network_ = std::move(network).value();
      listening_ = network_->listening();
      for (const net::Endpoint& ep : options_.connect) AddTarget(ep, std::nullopt);
      if (relay_) AddTarget(relay_->endpoint, relay_->card.sign_key, /*relay=*/true);
      Tick();
      return grove::Status::Ok();
    });
  }

  void Stop() {
    if (stopped_.exchange(true)) return;
    if (network_) network_->Stop();
    loop_.Call([this] {
      if (sync_) {
        for (replica::Workspace* ws : sync_->Workspaces()) (void)ws->Seal();
      }
      for (auto& [id, timer] : seal_timers_) loop_.Cancel(timer);
      if (tick_timer_) loop_.Cancel(tick_timer_);
      CollectAudit();
      sync_.reset();
    });
    loop_.Stop();
    if (auditor_) auditor_->Stop();
    {
      std::lock_guard<std::mutex> lock(events_mu_);
      events_stopped_ = true;
    }
    events_cv_.notify_all();
  }

  // --- Connections ---------------------------------------------------------------------------
  struct RelayTarget {
    net::Endpoint endpoint;
    identity::CardInfo card;
  };
  std::optional<RelayTarget> relay_;

  api::RelayInfo RelayStatus() {
    api::RelayInfo info;
    info.address = relay_->endpoint.ToString();
    info.device = identity::DeviceIdText(relay_->card.device);
    for (const sync::ConnectionView& c : sync_->Connections()) {
      if (!c.ready || !c.relay) continue;
      info.connected = true;
      for (replica::Workspace* ws : sync_->Workspaces()) {
        api::RelayWorkspaceInfo w;
        w.workspace = HexEncode(ws->id());
        auto acked = c.acked.find(ws->id());
        for (const replica::VersionEntry& e : ws->Version()) {
          w.held += e.seq;
          if (acked == c.acked.end()) continue;
          auto seq = acked->second.find(e.device);
          if (seq != acked->second.end()) w.acked += std::min(seq->second, e.seq);
        }
        if (auto r = c.refused.find(ws->id()); r != c.refused.end()) w.refused = r->second;
        info.workspaces.push_back(std::move(w));
      }
    }
    return info;
  }

  struct Target {
    net::Endpoint endpoint;
    std::optional<crypto::PublicKey> key;
    int backoff_ms = 0;
    uint64_t dial_id = 0;
    uint64_t timer = 0;
    sync::ConnectionId connection = 0;
    uint64_t connected_ms = 0;
    bool relay = false;                        // the configured relay: dialled from the listen port
    std::optional<identity::DeviceId> device;  // for learned addresses: whose it is
    uint64_t dial_started_ms = 0;
  };
  // Punch and splice dials in flight, by dial id.
  std::map<uint64_t, sync::PunchRequest> traversals_;
  std::map<identity::DeviceId, uint64_t> rendezvous_asked_;
  std::map<sync::ConnectionId, std::string> paths_;      // "direct", "punched", "spliced"
  std::map<sync::ConnectionId, uint64_t> connected_at_;  // wall-clock ms

  void AddTarget(const net::Endpoint& ep, std::optional<crypto::PublicKey> key, bool relay = false,
                 std::optional<identity::DeviceId> device = std::nullopt) {
    std::string k = TargetKey(ep);
    if (targets_.count(k)) return;
    Target& t = targets_[k];
    t.endpoint = ep;
    t.key = key;
    t.relay = relay;
    t.device = device;
    t.backoff_ms = options_.reconnect_min_ms;
    Dial(k);
  }

  void Dial(const std::string& key) {
    Target& t = targets_[key];
    t.timer = 0;
    if (stopped_) return;
    if (t.device && sync_->ConnectedTo(*t.device)) {
      // Reached another way (a punch, a splice, its own dial): look again later, without
      // knocking on an address that may well be a NAT's.
      ScheduleDial(key);
      return;
    }
    net::DialOptions dial;
    dial.expected = t.key;
    // The relay sees where this device's listen port maps to (its NAT's mapping), which is
    // where fellow members will punch.
    dial.from_listen_port = t.relay;
    t.dial_id = network_->Dial(t.endpoint, dial);
    t.dial_started_ms = clock_.NowMillis();
  }

  // --- NAT traversal (decision 0008): a relay's Punch, then its splice if the punch fails. ---
  void OnPunch(const sync::PunchRequest& request) {
    if (stopped_ || !relay_ || sync_->ConnectedTo(request.device)) return;
    auto at = net::ParseEndpoint(request.endpoint);
    if (!at.ok()) return;
    net::DialOptions dial;
    dial.expected = request.sign_key;
    dial.punch_ms = static_cast<int>(request.punch_ms);
    dial.tls_server = request.tls_server;
    log_.Info("sync", "punching",
              {{"device", identity::DeviceIdText(request.device).substr(0, 16)},
               {"to", request.endpoint}});
    traversals_[network_->Dial(*at, dial)] = request;
  }

  void TraversalFailed(sync::PunchRequest request, const net::Endpoint& to,
                       const grove::Status& reason) {
    if (request.token.empty() || stopped_ || !relay_) {
      log_.Warn("sync", "could not reach a member directly or through the relay",
                {{"device", identity::DeviceIdText(request.device).substr(0, 16)},
                 {"reason", reason.ToString()}});
      return;
    }
    log_.Info("sync", "punch failed; asking the relay to splice",
              {{"device", identity::DeviceIdText(request.device).substr(0, 16)},
               {"to", to.ToString()},
               {"reason", reason.ToString()}});
    net::DialOptions dial;
    dial.expected = request.sign_key;
    dial.splice_token = request.token;
    dial.tls_server = request.tls_server;
    request.token.clear();  // one splice attempt per punch
    traversals_[network_->Dial(relay_->endpoint, dial)] = request;
  }

  // Members the relay knows and this device cannot reach directly: ask the relay to bring
  // them together, at most every 20 s per member.
  void AskRendezvous() {
    const uint64_t now = clock_.NowMillis();
    for (const sync::KnownAddress& a : sync_->Addresses()) {
      if (sync_->ConnectedTo(a.device)) continue;
      auto target = targets_.find(a.endpoint);
      // A dial that failed, or one still unanswered after 3 s: behind a NAT that drops
      // unsolicited packets it would only time out, 10 s on.
      const bool direct_failed = target != targets_.end() &&
                                 (target->second.backoff_ms > options_.reconnect_min_ms ||
                                  (target->second.connection == 0 && target->second.timer == 0 &&
                                   now - target->second.dial_started_ms > 3000));
      uint64_t& last = rendezvous_asked_[a.device];
      if (!direct_failed || now - last < 20'000) continue;
      if (sync_->RequestRendezvous(a.device)) last = now;
    }
  }

  void ScheduleDial(const std::string& key) {
    Target& t = targets_[key];
    if (t.timer || stopped_) return;
    int delay = t.backoff_ms;
    t.backoff_ms = std::min(t.backoff_ms * 2, options_.reconnect_max_ms);
    t.timer = loop_.PostAfter(delay, [this, key] { Dial(key); });
  }

  // Every 25 ms: continue sends held back by full queues; every 2 s: dial members whose address
  // peers told us and that we are not connected to, and tend the workspaces' history
  // (TendHistory); every 10 s: give the store's free space back to the file system when there
  // is enough of it (store/compaction.h).
  void Tick() {
    if (!sync_ || stopped_) return;
    sync_->Pump();
    if (audit_due_ || (auditor_ && ticks_ % 40 == 0)) CollectAudit();
    if (++ticks_ % 40 == 0) UpdateGauges();
    if (ticks_ % 4 == 0) MeasureSync();
    if (ticks_ % 40 == 0) sync_->RetryRefused(clock_.NowMillis());
    if (ticks_ % 400 == 0) CompactStore();
    if (ticks_ % 80 == 40) TendHistory();
    if (options_.discover && ticks_ % 80 == 0) {
      for (const sync::KnownAddress& a : sync_->Addresses()) {
        if (sync_->ConnectedTo(a.device)) continue;
        auto ep = net::ParseEndpoint(a.endpoint);
        if (ep.ok()) AddTarget(*ep, a.sign_key, /*relay=*/false, a.device);
      }
      if (relay_) AskRendezvous();
    }
    tick_timer_ = loop_.PostAfter(25, [this] { Tick(); });
  }

  // --- Managed mode --------------------------------------------------------------------------
  void OnNotices(sync::ConnectionId from, const std::vector<std::string>& items) {
    if (!managed_) return;
    std::vector<std::string> skipped;
    Result<ManagedMode::Taken> fresh = managed_->Take(items, skipped);
    for (const std::string& why : skipped) {
      log_.Warn("org", "notice skipped",
                {{"connection", static_cast<int64_t>(from)}, {"why", why}});
    }
    if (!fresh.ok()) {
      // Not kept, so not applied: the relay sends it again at the next connection.
      log_.Error("org", "cannot keep the organisation's notices",
                 {{"error", fresh.status().ToString()}});
      return;
    }
    std::vector<std::string> texts;
    for (const org::Revocation& r : fresh->revocations) {
      ApplyRevocation(r);
      texts.push_back(org::EncodeRevocation(r));
    }
    for (const org::Policy& p : fresh->policies) {
      ApplyPolicy(p);
      texts.push_back(org::EncodePolicy(p));
    }
    // Gossip: whoever this peer talks to learns it too.
    sync_->SendNotices(texts, 0, from);
  }

  // Stops talking to the revoked device and removes it, with a new epoch, from every workspace
  // this device owns.
  void ApplyRevocation(const org::Revocation& r) {
    const std::string device = identity::DeviceIdText(r.device);
    log_.Info(
        "org", "device revoked by the organisation",
        {{"device", device}, {"reason", r.reason}, {"serial", static_cast<int64_t>(r.serial)}});
    sync_->Disconnect(r.device,
                      PermissionDenied("device " + device + " was revoked by the organisation"));
    for (replica::Workspace* ws : sync_->Workspaces()) {
      if (ws->RoleOf(identity_->device()) != replica::Role::kOwner) continue;
      if (ws->RoleOf(r.device) == replica::Role::kNone) continue;
      grove::Status s = ws->RemoveMember(r.device);
      if (!s.ok()) {
        log_.Error("org", "cannot remove a revoked device",
                   {{"workspace", Hex16(ws->id())}, {"device", device}, {"error", s.ToString()}});
        continue;
      }
      log_.Info("org", "revoked device removed from workspace",
                {{"workspace", Hex16(ws->id())}, {"device", device}});
      sync_->Push(ws->id());
      Emit("workspace", HexEncode(ws->id()), "");
    }
  }

  // An audited workspace this device owns gets the policy's auditor device, with the auditor
  // role. (Relays a policy does not allow are kept out by sync::Options::store_on_relay.)
  void ApplyPolicy(const org::Policy& policy) {
    replica::Workspace* ws = sync_->Find(policy.workspace);
    if (!ws || !policy.audited || policy.auditor_card.empty()) return;
    if (ws->RoleOf(identity_->device()) != replica::Role::kOwner) return;
    auto card = identity::ParseCardText(policy.auditor_card);
    if (!card.ok() || managed_->Revoked(card->device)) return;
    const replica::Role role = ws->RoleOf(card->device);
    if (role == replica::Role::kAuditor) return;
    const std::string auditor = identity::DeviceIdText(card->device);
    if (role != replica::Role::kNone) {
      log_.Warn("org", "the policy's auditor is a member with another role; left as it is",
                {{"workspace", Hex16(ws->id())}, {"device", auditor}});
      return;
    }
    grove::Status s = ws->AddMember(*card, replica::Role::kAuditor);
    if (!s.ok()) {
      log_.Error("org", "cannot add the policy's auditor",
                 {{"workspace", Hex16(ws->id())}, {"device", auditor}, {"error", s.ToString()}});
      return;
    }
    log_.Info("org", "auditor added to an audited workspace",
              {{"workspace", Hex16(ws->id())}, {"device", auditor}});
    sync_->Push(ws->id());
    Emit("workspace", HexEncode(ws->id()), "");
  }

  // Hands what the workspaces decided to the auditor (a bounded amount per tick, so the loop
  // stays responsive while a backlog is logged).
  void CollectAudit() {
    audit_due_ = false;
    if (!auditor_ || !sync_) return;
    for (replica::Workspace* ws : sync_->Workspaces()) {
      if (auditor_->Collect(*ws, *store_)) audit_due_ = true;
    }
  }

  // One bounded step (at most 8 MiB): a large backlog of free space is given back over several
  // ticks, so the loop is never held for long. A failure (disk, another process holding the
  // store) leaves the space for the next try; the store itself is unharmed.
  void CompactStore() {
    auto space = store_->Space();
    if (!space.ok()) return;  // tried again at the next round
    const uint64_t budget = store::CompactionBudget(*space);
    if (budget == 0) return;
    auto done = store_->Compact(budget);
    if (!done.ok()) {
      log_.Warn("store", "compaction failed", {{"error", done.status().ToString()}});
      return;
    }
    if (done->pages_freed == 0) return;
    metrics_.store_compactions.Inc();
    metrics_.store_compacted_bytes.Inc(done->bytes_freed());
  }

  // --- History (decision 0011) ---------------------------------------------------------------
  // TendHistory's memory per workspace: the deltas and base when claims were last looked at;
  // the checkpoint pruned under, and the last one tried and when.
  struct HistoryState {
    uint64_t seen_deltas = UINT64_MAX;
    Hash32 seen_base{};
    Hash32 pruned{};
    Hash32 tried{};
    uint64_t tried_ms = 0;
  };

  // Per workspace: an owner claims a checkpoint once checkpoint_every deltas were made since the
  // one in force; every member attests other members' claims it computes alike; the deltas
  // under the trusted checkpoint are pruned once Prune allows it (not on a keep_full peer), and
  // the store then gives the space back. Claims and attestations are looked at again only when
  // the workspace moved (new deltas, another base): nothing else can change their outcome.
  void TendHistory() {
    bool pruned = false;
    for (replica::Workspace* ws : sync_->Workspaces()) {
      const replica::Role role = ws->RoleOf(identity_->device());
      if (role == replica::Role::kNone) continue;
      HistoryState& state = history_[ws->id()];
      std::optional<replica::CheckpointInfo> barrier = ws->Barrier();
      const uint64_t held = DeltasOf(ws->Version());
      const uint64_t base = barrier ? DeltasOf(barrier->version) : 0;
      const Hash32 base_id = barrier ? barrier->id : Hash32{};
      if (held != state.seen_deltas || base_id != state.seen_base) {
        if (ClaimOrAttest(*ws, role, held > base ? held - base : 0)) {
          sync_->Push(ws->id());
          Emit("workspace", HexEncode(ws->id()), "");
        }
        barrier = ws->Barrier();
        state.seen_deltas = DeltasOf(ws->Version());
        state.seen_base = barrier ? barrier->id : Hash32{};
      }
      // An auditor device keeps everything: what it has not logged yet must stay.
      if (options_.prune && !options_.keep_full && !auditor_) pruned |= PruneHistory(*ws, state);
    }
    if (pruned) CompactStore();
  }

  // Claims a checkpoint when `since` deltas were made since the one in force (the replica
  // refuses unless this device proposes checkpoints: the workspace's creator, decision 0011),
  // and attests the proposer's claim. Whether it signed anything.
  bool ClaimOrAttest(replica::Workspace& ws, replica::Role role, uint64_t since) {
    bool signed_one = false;
    if (role != replica::Role::kNone && options_.checkpoint_every > 0 &&
        since >= options_.checkpoint_every && !ws.MissingCheckpoint()) {
      Result<replica::CheckpointInfo> claim = ws.ClaimCheckpoint();
      if (claim.ok()) {
        LogCheckpoint("checkpoint claimed", ws, *claim);
        signed_one = true;
      } else if (claim.status().code() == Code::kFailedPrecondition) {
        log_.Debug("history", "no checkpoint yet",
                   {{"workspace", Hex16(ws.id())}, {"why", claim.status().ToString()}});
      } else {
        log_.Warn("history", "claiming a checkpoint failed",
                  {{"workspace", Hex16(ws.id())}, {"error", claim.status().ToString()}});
      }
    }
    Result<std::optional<replica::CheckpointInfo>> attested = ws.AttestClaims();
    if (!attested.ok()) {
      log_.Warn("history", "attesting a checkpoint failed",
                {{"workspace", Hex16(ws.id())}, {"error", attested.status().ToString()}});
    } else if (attested->has_value()) {
      LogCheckpoint("checkpoint attested", ws, **attested);
      signed_one = true;
    }
    return signed_one;
  }

  void LogCheckpoint(const char* what, replica::Workspace& ws, const replica::CheckpointInfo& cp) {
    metrics_.checkpoints.Inc();
    log_.Info("history", what,
              {{"workspace", Hex16(ws.id())},
               {"checkpoint", Hex16(cp.id)},
               {"deltas", static_cast<int64_t>(DeltasOf(cp.version))},
               {"bytes", static_cast<int64_t>(cp.bytes)},
               {"trusted", cp.trusted}});
  }

  // Prunes under the trusted checkpoint in force, once per checkpoint; a checkpoint whose
  // pruning waits for members is tried again every 30 s. Whether deltas were deleted.
  bool PruneHistory(replica::Workspace& ws, HistoryState& state) {
    const std::optional<replica::CheckpointInfo> barrier = ws.Barrier();
    if (!barrier || !barrier->trusted) return false;
    const uint64_t now = clock_.NowMillis();
    if (state.pruned == barrier->id) return false;
    if (state.tried == barrier->id && now - state.tried_ms < 30'000) return false;
    state.tried = barrier->id;
    state.tried_ms = now;
    Result<replica::PruneReport> report = ws.Prune(options_.prune_wait_ms);
    if (!report.ok()) {
      log_.Warn("history", "pruning failed",
                {{"workspace", Hex16(ws.id())}, {"error", report.status().ToString()}});
      return false;
    }
    if (!report->waiting_for.empty()) {
      log_.Debug("history", "pruning waits for members to acknowledge the checkpoint",
                 {{"workspace", Hex16(ws.id())},
                  {"checkpoint", Hex16(barrier->id)},
                  {"members", static_cast<int64_t>(report->waiting_for.size())}});
      return false;
    }
    state.pruned = barrier->id;
    if (report->deltas == 0) return false;
    metrics_.pruned_deltas.Inc(report->deltas);
    log_.Info("history", "history pruned",
              {{"workspace", Hex16(ws.id())},
               {"checkpoint", Hex16(barrier->id)},
               {"deltas", static_cast<int64_t>(report->deltas)}});
    return true;
  }

  void OnCheckpoint(const sync::WorkspaceId& ws_id, const Hash32& id, uint64_t packed_bytes,
                    const grove::Status& outcome, sync::ConnectionId from) {
    if (!outcome.ok()) {
      metrics_.checkpoints_rejected.Inc();
      log_.Warn("sync", "checkpoint refused",
                {{"workspace", Hex16(ws_id)},
                 {"checkpoint", Hex16(id)},
                 {"connection", static_cast<int64_t>(from)},
                 {"reason", outcome.ToString()}});
      return;
    }
    metrics_.checkpoints_received.Inc();
    replica::Workspace* ws = sync_->Find(ws_id);
    const std::optional<replica::CheckpointInfo> barrier =
        ws ? ws->Barrier() : std::optional<replica::CheckpointInfo>();
    log_.Info("sync", "checkpoint received",
              {{"workspace", Hex16(ws_id)},
               {"checkpoint", Hex16(id)},
               {"bytes", static_cast<int64_t>(packed_bytes)},
               {"connection", static_cast<int64_t>(from)},
               {"built_on", barrier && barrier->id == id},
               {"deltas", static_cast<int64_t>(barrier ? DeltasOf(barrier->version) : 0)}});
    // The state may have moved as a whole: listeners reload.
    Emit("workspace", HexEncode(ws_id), "");
  }

  void UpdateGauges() {
    if (auditor_) {
      const auditor::State a = auditor_->state();
      metrics_.audit_entries.Set(static_cast<double>(a.entries));
      metrics_.audit_in_flight.Set(static_cast<double>(a.in_flight));
      metrics_.audit_database_up.Set(a.db_ok ? 1 : 0);
    }
    size_t ready = 0;
    for (const sync::ConnectionView& c : sync_->Connections()) ready += c.ready;
    metrics_.connections.Set(static_cast<double>(ready));
    size_t pending = 0;
    uint64_t base = 0;
    auto workspaces = sync_->Workspaces();
    for (replica::Workspace* ws : workspaces) {
      pending += ws->pending_actions();
      if (std::optional<replica::CheckpointInfo> barrier = ws->Barrier()) {
        base += DeltasOf(barrier->version);
      }
    }
    metrics_.base_deltas.Set(static_cast<double>(base));
    metrics_.workspaces.Set(static_cast<double>(workspaces.size()));
    metrics_.pending.Set(static_cast<double>(pending));
    metrics_.backlog.Set(sync_->HasBacklog() ? 1 : 0);
    if (auto space = store_->Space(); space.ok()) {
      metrics_.store_bytes.Set(static_cast<double>(space->file_bytes));
      metrics_.store_free_bytes.Set(static_cast<double>(space->free_bytes));
    }
    // The reactor counts totals; counters move by the difference since the last look.
    net::Network::Stats now = network_->stats();
    net::Network::Stats& last = metrics_.last_net;
    metrics_.bytes_in.Inc(now.bytes_in - last.bytes_in);
    metrics_.bytes_out.Inc(now.bytes_out - last.bytes_out);
    metrics_.frames_in.Inc(now.frames_in - last.frames_in);
    metrics_.frames_out.Inc(now.frames_out - last.frames_out);
    metrics_.handshakes_failed.Inc(now.handshakes_failed - last.handshakes_failed);
    last = now;
    metrics_.deltas_sent.Inc(sync_->deltas_sent() - metrics_.last_deltas_sent);
    metrics_.last_deltas_sent = sync_->deltas_sent();
    metrics_.checkpoints_sent.Inc(sync_->checkpoints_sent() - metrics_.last_checkpoints_sent);
    metrics_.last_checkpoints_sent = sync_->checkpoints_sent();
  }

  // --- Changes -------------------------------------------------------------------------------
  void OnApplied(const sync::WorkspaceId& ws, const replica::ApplyReport& r,
                 sync::ConnectionId from) {
    applied_in_frame_ = true;
    if (auditor_) audit_due_ = true;
    metrics_.deltas_received.Inc(r.accepted);
    metrics_.deltas_invalid.Inc(r.invalid);
    metrics_.deltas_rejected.Inc(r.rejected.size());
    metrics_.forks.Inc(r.forks);
    for (const grove::Status& s : r.rejected) {
      log_.Warn("sync", "delta rejected",
                {{"workspace", Hex16(ws)},
                 {"connection", static_cast<int64_t>(from)},
                 {"reason", s.ToString()}});
    }
    if (r.forks > 0) {
      log_.Error("sync", "fork evidence: a device signed two different deltas with one seq",
                 {{"workspace", Hex16(ws)}});
    }
    if (!r.store.ok()) {
      log_.Error("store", "applying deltas failed", {{"reason", r.store.ToString()}});
    }
    size_t n = 0;
    for (const replica::RecordId& id : r.changed) {
      if (++n > 500) {
        Emit("workspace", HexEncode(ws), "");
        break;
      }
      Emit("record", HexEncode(ws), id.Text());
    }
  }

  void AfterLocalAction(replica::Workspace& ws, const std::string& record) {
    metrics_.local_actions.Inc();
    if (!record.empty()) Emit("record", HexEncode(ws.id()), record);
    const replica::WorkspaceId id = ws.id();
    if (seal_timers_.count(id)) return;
    // A throttle, not a fixed delay: the first action after a quiet spell goes out at once (live
    // push stays fast), while a burst is sealed at most once per seal_delay_ms, so a busy user
    // or a script ships a few large deltas instead of thousands of small ones.
    const uint64_t now = clock_.NowMillis();
    const uint64_t last = last_seal_ms_[id];
    const int64_t wait =
        now - last >= static_cast<uint64_t>(options_.seal_delay_ms)
            ? 0
            : static_cast<int64_t>(options_.seal_delay_ms) - static_cast<int64_t>(now - last);
    seal_timers_[id] = loop_.PostAfter(wait, [this, id] {
      seal_timers_.erase(id);
      last_seal_ms_[id] = clock_.NowMillis();
      if (replica::Workspace* w = sync_ ? sync_->Find(id) : nullptr) {
        auto sealed = w->Seal();
        if (!sealed.ok()) {
          log_.Error("store", "sealing failed", {{"reason", sealed.status().ToString()}});
        }
        sync_->Push(id);
      }
    });
  }

  // Called from any thread.
  void Emit(const std::string& kind, const std::string& ws, const std::string& id) {
    {
      std::lock_guard<std::mutex> lock(events_mu_);
      events_.push_back(api::Event{++event_seq_, kind, ws, id});
      if (events_.size() > 10000) events_.pop_front();
    }
    events_cv_.notify_all();
  }

  // --- Lookups -------------------------------------------------------------------------------
  Result<replica::Workspace*> FindWorkspace(const std::string& text) {
    if (text.size() < 8 || text.size() > 64) {
      return grove::Status(Code::kInvalidArgument, "workspace id must be 8 to 64 hex characters",
                           "workspace");
    }
    replica::Workspace* found = nullptr;
    for (replica::Workspace* ws : sync_->Workspaces()) {
      if (HexEncode(ws->id()).starts_with(text)) {
        if (found) return InvalidArgument("workspace id prefix is ambiguous", "workspace");
        found = ws;
      }
    }
    if (!found) return NotFound("no workspace " + text, "workspace");
    return found;
  }

  api::WorkspaceInfo Info(replica::Workspace& ws) {
    api::WorkspaceInfo info;
    info.id = HexEncode(ws.id());
    info.name = ws.name();
    info.tools = ws.tools();
    info.role = replica::RoleName(ws.RoleOf(identity_->device()));
    const std::map<identity::DeviceId, std::string> online = OnlinePaths();
    for (const replica::MemberView& m : ws.Members()) {
      api::MemberInfo member{identity::DeviceIdText(m.device), m.name, replica::RoleName(m.role)};
      if (m.device == identity_->device()) {
        member.online = true;
      } else if (auto path = online.find(m.device); path != online.end()) {
        member.online = true;
        member.path = path->second;
      }
      info.members.push_back(std::move(member));
    }
    info.records = ws.List("", false).size();
    info.deltas = ws.digests().deltas;
    info.pending = ws.pending_actions();
    return info;
  }

  // The devices this peer has a ready connection with (relays aside), each with the path of its
  // best connection: direct before punched before spliced.
  std::map<identity::DeviceId, std::string> OnlinePaths() {
    auto rank = [](const std::string& path) {
      return path == "direct" ? 0 : path == "punched" ? 1 : 2;
    };
    std::map<identity::DeviceId, std::string> online;
    for (const sync::ConnectionView& c : sync_->Connections()) {
      if (!c.ready || c.relay) continue;
      auto known = paths_.find(c.id);
      const std::string path = known != paths_.end() ? known->second : "direct";
      auto [it, inserted] = online.emplace(c.device, path);
      if (!inserted && rank(path) < rank(it->second)) it->second = path;
    }
    return online;
  }

  // The sync badge's state (api::SyncInfo): offline with no ready connection (peer or relay),
  // since the last one went or since start; else syncing while deltas are known to be missing on
  // either side (sync::SyncNode::Progress) or local actions wait to be sealed, pending being
  // their sum; else up to date. A change of state or count is a "sync" event.
  void MeasureSync() {
    if (!sync_) return;
    const sync::SyncProgress progress = sync_->Progress();
    api::SyncInfo info;
    if (progress.ready == 0) {
      if (online_) offline_since_ms_ = clock_.NowMillis();
      online_ = false;
      info.state = "offline";
      info.offline_since_ms = offline_since_ms_;
    } else {
      online_ = true;
      uint64_t unsealed = 0;
      for (replica::Workspace* ws : sync_->Workspaces()) unsealed += ws->pending_actions();
      info.pending = progress.missing_here + progress.to_send + unsealed;
      info.state = info.pending > 0 ? "syncing" : "up_to_date";
    }
    const bool changed = info.state != sync_info_.state || info.pending != sync_info_.pending;
    sync_info_ = info;
    if (changed) Emit("sync", "", "");
  }

  static api::RecordInfo RecordOut(const replica::RecordView& v) {
    api::RecordInfo r;
    r.id = v.id.Text();
    r.type = v.type;
    r.state = v.state;
    r.archived = v.archived;
    r.fields = v.fields;
    r.conflicts = v.conflicts;
    r.lists = v.lists;
    r.history = v.history;
    r.computed = v.computed;
    r.keyed = v.keyed;
    return r;
  }

  // The built-in tools named, for a new workspace. InvalidArgument names an unknown one and
  // lists those there are.
  static Result<std::vector<tools::Tool>> LoadTools(const std::vector<std::string>& names) {
    std::vector<tools::Tool> out;
    for (size_t i = 0; i < names.size(); ++i) {
      Result<tools::Tool> tool = tools::LoadBuiltin(names[i]);
      if (!tool.ok()) {
        if (tool.status().code() != Code::kNotFound) return tool.status();
        std::string known;
        for (const std::string& n : tools::BuiltinNames()) known += (known.empty() ? "" : ", ") + n;
        return grove::Status(Code::kInvalidArgument,
                             "unknown tool \"" + names[i] + "\"; the tools are: " + known,
                             "tools[" + std::to_string(i) + "]");
      }
      out.push_back(std::move(tool).value());
    }
    return out;
  }

  // --- Attachment uploads (decision 0005) ------------------------------------------------------
  // Stores one sealed chunk of upload `session`, durably, before the upload goes on.
  grove::Status StoreUploadedChunk(uint64_t session, const replica::WorkspaceId& ws,
                                   const Hash32& id, ByteView sealed) {
    if (!sync_ || !sync_->Find(ws)) return grove::Status(Code::kUnavailable, "the peer stopped");
    const std::pair<replica::WorkspaceId, Hash32> key{ws, id};
    // Another upload uses this chunk now: abandoning that one must not take it away.
    for (auto& [other, fresh] : upload_fresh_) {
      if (other != session) fresh.erase(key);
    }
    GROVE_ASSIGN_OR_RETURN(bool held, store_->HasChunk(ws, id));
    if (held) return grove::Status::Ok();  // dedup: same content, same chunk
    store::WriteBatch wb;
    wb.PutChunk(ws, id, sealed);
    GROVE_RETURN_IF_ERROR(store_->Write(wb));
    upload_fresh_[session].insert(key);
    return grove::Status::Ok();
  }

  // --- Attachment downloads ------------------------------------------------------------------
  uint64_t ChunksArrived() {
    std::lock_guard<std::mutex> lock(chunks_mu_);
    return chunks_arrived_;
  }
  // Waits until chunks arrive after `seen` (a ChunksArrived() value), at most `timeout`.
  void WaitForChunks(uint64_t seen, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(chunks_mu_);
    chunks_cv_.wait_for(lock, timeout, [&] { return chunks_arrived_ != seen; });
  }

  // Data chunks `from`, `from` + 1, ... of `manifest` that are held, up to the first that is not
  // or about `max_bytes` of them (at least one when the first is held): a download takes what
  // has arrived in one visit to the loop, which is busy storing what arrives meanwhile. With
  // `ask`, a first chunk not held is asked for again (a no-op while a member has the request; a
  // new attempt once every member lacked it).
  Result<std::vector<SealedChunk>> DownloadChunks(const replica::WorkspaceId& ws_id,
                                                  const attachments::Manifest& manifest,
                                                  uint64_t from, size_t max_bytes, bool ask) {
    if (!sync_) return grove::Status(Code::kUnavailable, "the peer stopped");
    replica::Workspace* ws = sync_->Find(ws_id);
    if (ws == nullptr) return FailedPrecondition("the workspace is no longer held here");
    std::vector<SealedChunk> out;
    size_t bytes = 0;
    for (uint64_t i = from; i < manifest.chunks.size() && (out.empty() || bytes < max_bytes); ++i) {
      GROVE_ASSIGN_OR_RETURN(std::optional<SealedChunk> chunk,
                             TakeChunk(*store_, *ws, manifest.chunks[i].id));
      if (!chunk) break;
      bytes += chunk->sealed.size();
      out.push_back(std::move(*chunk));
    }
    if (out.empty() && ask && from < manifest.chunks.size()) {
      sync_->FetchChunks(ws_id, {manifest.chunks[from].id});
    }
    return out;
  }

  // Removes what an abandoned upload stored and nothing else uses, so a refused upload leaves
  // nothing behind.
  void AbandonUpload(uint64_t session) {
    auto it = upload_fresh_.find(session);
    if (it == upload_fresh_.end()) return;
    store::WriteBatch wb;
    for (const auto& [ws, id] : it->second) wb.DeleteChunk(ws, id);
    upload_fresh_.erase(it);
    if (grove::Status s = store_->Write(wb); !s.ok()) {
      log_.Warn("store", "removing an abandoned upload failed", {{"reason", s.ToString()}});
    }
  }

  Peer& owner_;
  PeerOptions options_;
  logging::Logger& log_;
  SystemClock clock_;
  crypto::SystemRandom random_;
  std::unique_ptr<identity::Identity> identity_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<sync::SyncNode> sync_;
  std::unique_ptr<net::Network> network_;
  net::Endpoint listening_;
  uint64_t start_ms_ = 0;
  // The sync badge (MeasureSync): last measured, whether a connection was up then, and since
  // when none has been.
  api::SyncInfo sync_info_;
  bool online_ = false;
  uint64_t offline_since_ms_ = 0;
  std::map<std::string, Target> targets_;
  std::map<replica::WorkspaceId, uint64_t> seal_timers_;
  std::map<replica::WorkspaceId, uint64_t> last_seal_ms_;
  std::map<replica::WorkspaceId, HistoryState> history_;
  uint64_t tick_timer_ = 0;
  std::unique_ptr<auditor::Auditor> auditor_;
  std::unique_ptr<ManagedMode> managed_;  // set when the peer belongs to an organisation
  bool audit_due_ = false;                // the auditor may have something to collect
  uint64_t ticks_ = 0;
  std::atomic<bool> stopped_{false};
  PeerMetrics metrics_;
  bool applied_in_frame_ = false;
  // Uploads in progress: the chunks each stored that were not held before and that no other
  // upload has used since.
  std::map<uint64_t, std::set<std::pair<replica::WorkspaceId, Hash32>>> upload_fresh_;
  uint64_t next_upload_ = 1;

  // Bumped whenever fetched chunks are stored: downloads waiting for one wake at once.
  std::mutex chunks_mu_;
  std::condition_variable chunks_cv_;
  uint64_t chunks_arrived_ = 0;

  std::mutex events_mu_;
  std::condition_variable events_cv_;
  std::deque<api::Event> events_;
  uint64_t event_seq_ = 0;
  bool events_stopped_ = false;

  // Last: destroyed first, so no task runs on a half-destroyed Impl.
  EventLoop loop_;
};

namespace {

// One upload: sealing runs on the HTTP worker that feeds it; each chunk is stored on the loop
// before the next piece is taken.
class PeerUpload final : public api::AttachmentUpload {
 public:
  PeerUpload(Peer::Impl& impl, uint64_t session, const replica::WorkspaceId& ws,
             const replica::ContentKeyId& key_id, const crypto::SymmetricKey& key,
             uint64_t max_bytes, std::string name, std::string media_type)
      : impl_(impl),
        session_(session),
        name_(std::move(name)),
        media_type_(std::move(media_type)),
        writer_(
            ws, key_id, key,
            attachments::Writer::Options{attachments::kDefaultChunkSize, max_bytes},
            [this, ws](const attachments::ChunkId& id, ByteView sealed, attachments::ChunkKind) {
              return impl_.loop_.Call(
                  [&] { return impl_.StoreUploadedChunk(session_, ws, id, sealed); });
            }) {}

  ~PeerUpload() override {
    try {
      impl_.loop_.Call([this] {
        if (finished_) {
          impl_.upload_fresh_.erase(session_);
        } else {
          impl_.AbandonUpload(session_);
        }
      });
    } catch (const std::exception&) {
      // The loop has stopped (the peer is shutting down) and dropped the task: nothing is left
      // to tidy in memory, and abandoned chunks stay as unreferenced rows (decision 0005).
    }
  }

  grove::Status Write(std::string_view data) override { return writer_.Write(AsBytes(data)); }

  Result<api::AttachmentInfo> Finish() override {
    GROVE_ASSIGN_OR_RETURN(attachments::Attachment a, writer_.Finish(name_, media_type_));
    finished_ = true;
    return InfoOf(a.id, a.manifest);
  }

 private:
  Peer::Impl& impl_;
  const uint64_t session_;
  std::string name_;
  std::string media_type_;
  attachments::Writer writer_;
  bool finished_ = false;
};

// One download: waits for each chunk on the loop (polling, so the loop stays free to receive
// it), then checks and decrypts it on the HTTP worker that reads it.
class PeerDownload final : public api::AttachmentDownload {
 public:
  PeerDownload(Peer::Impl& impl, const replica::WorkspaceId& ws, const attachments::ChunkId& id,
               attachments::Manifest manifest)
      : impl_(impl), ws_(ws), manifest_(std::move(manifest)), info_(InfoOf(id, manifest_)) {}

  const api::AttachmentInfo& info() const override { return info_; }

  Result<std::optional<std::string>> ReadChunk(uint64_t index, int wait_ms) override {
    if (index >= manifest_.chunks.size()) return InvalidArgument("chunk index out of range");
    if (!ahead_.empty() && ahead_index_ != index) ahead_.clear();  // not read in order
    if (ahead_.empty()) {
      GROVE_ASSIGN_OR_RETURN(bool arrived, ReadAhead(index, wait_ms));
      if (!arrived) return std::optional<std::string>();
    }
    SealedChunk chunk = std::move(ahead_.front());
    ahead_.pop_front();
    ++ahead_index_;
    GROVE_ASSIGN_OR_RETURN(std::string plain, OpenTakenChunk(ws_, manifest_, index, chunk));
    return std::optional<std::string>(std::move(plain));
  }

 private:
  // Sealed bytes taken from the store per visit to the loop: the chunks held from the one asked
  // for on, up to this much (what a download holds at most, beside one chunk of plaintext).
  static constexpr size_t kReadAheadBytes = 8 << 20;

  // Fills ahead_ from chunk `index` on, waiting up to wait_ms for that chunk to arrive; false
  // when it did not.
  Result<bool> ReadAhead(uint64_t index, int wait_ms) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::milliseconds(wait_ms);
    for (;;) {
      // A chunk every member lacked is asked again now and then (they may have it since).
      const bool ask = Clock::now() >= next_ask_;
      if (ask) next_ask_ = Clock::now() + std::chrono::seconds(1);
      const uint64_t seen = impl_.ChunksArrived();  // before looking: no arrival is missed
      GROVE_ASSIGN_OR_RETURN(std::vector<SealedChunk> held, impl_.loop_.Call([&] {
        return impl_.DownloadChunks(ws_, manifest_, index, kReadAheadBytes, ask);
      }));
      if (!held.empty()) {
        ahead_.assign(std::make_move_iterator(held.begin()), std::make_move_iterator(held.end()));
        ahead_index_ = index;
        return true;
      }
      const auto now = Clock::now();
      if (now >= deadline) return false;
      // Some chunk arriving wakes this at once; the bound lets it ask again now and then.
      impl_.WaitForChunks(
          seen, std::min<std::chrono::milliseconds>(
                    std::chrono::milliseconds(250),
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now)));
    }
  }

  Peer::Impl& impl_;
  const replica::WorkspaceId ws_;
  const attachments::Manifest manifest_;
  const api::AttachmentInfo info_;
  std::deque<SealedChunk> ahead_;  // chunks ahead_index_, ahead_index_ + 1, ...
  uint64_t ahead_index_ = 0;
  std::chrono::steady_clock::time_point next_ask_ =
      std::chrono::steady_clock::now() + std::chrono::seconds(1);
};

}  // namespace

Result<std::unique_ptr<Peer>> Peer::Start(const PeerOptions& options, logging::Logger& log) {
  std::unique_ptr<Peer> peer(new Peer());
  peer->impl_ = std::make_unique<Impl>(*peer, options, log);
  grove::Status s = peer->impl_->Start();
  if (!s.ok()) {
    peer->impl_->Stop();
    return s;
  }
  return peer;
}

Peer::~Peer() { Stop(); }
void Peer::Stop() {
  if (impl_) impl_->Stop();
}
net::Endpoint Peer::sync_address() const { return impl_->listening_; }

api::IdentityInfo Peer::Identity() {
  const identity::Identity& me = *impl_->identity_;
  return api::IdentityInfo{identity::DeviceIdText(me.device()), me.name(), me.card().text()};
}

api::StatusInfo Peer::Status() {
  return impl_->loop_.Call([this] {
    api::StatusInfo s;
    s.listen = impl_->listening_.ToString();
    s.uptime_ms = impl_->clock_.NowMillis() - impl_->start_ms_;
    for (const sync::ConnectionView& c : impl_->sync_->Connections()) {
      api::ConnectionInfo info;
      info.device = c.ready ? identity::DeviceIdText(c.device) : "";
      info.name = c.name;
      info.address = c.host;
      info.outbound = c.outbound;
      info.bytes_in = c.bytes_in;
      info.bytes_out = c.bytes_out;
      auto path = impl_->paths_.find(c.id);
      if (path != impl_->paths_.end()) info.path = path->second;
      auto at = impl_->connected_at_.find(c.id);
      if (at != impl_->connected_at_.end()) info.since_ms = at->second;
      info.relay = c.relay;
      s.connections.push_back(std::move(info));
    }
    for (replica::Workspace* ws : impl_->sync_->Workspaces()) {
      s.workspaces.push_back(impl_->Info(*ws));
    }
    impl_->MeasureSync();
    s.sync = impl_->sync_info_;
    if (impl_->relay_) s.relay = impl_->RelayStatus();
    if (impl_->managed_) {
      api::OrgInfo org;
      org.org = org::OrgIdText(impl_->managed_->org());
      org.enrolled_as = impl_->managed_->enrolment().name;
      for (const org::Revocation& r : impl_->managed_->revocations()) {
        org.revoked.push_back(identity::DeviceIdText(r.device));
      }
      org.policies = impl_->managed_->policies().size();
      s.org = std::move(org);
    }
    if (impl_->auditor_) {
      const auditor::State a = impl_->auditor_->state();
      s.audit = api::AuditInfo{.ready = a.ready,
                               .database_ok = a.db_ok,
                               .error = a.error,
                               .entries = a.entries,
                               .in_flight = a.in_flight,
                               .head_size = a.head_size,
                               .head_timestamp_ms = a.head_timestamp_ms};
    }
    return s;
  });
}

Result<std::string> Peer::CreateWorkspace(const std::string& name,
                                          const std::vector<std::string>& tools) {
  return impl_->loop_.Call([&]() -> Result<std::string> {
    GROVE_ASSIGN_OR_RETURN(std::vector<tools::Tool> definitions, Impl::LoadTools(tools));
    auto ws = replica::Workspace::Create(*impl_->identity_, name, std::move(definitions),
                                         *impl_->store_, impl_->clock_, impl_->random_);
    if (!ws.ok()) return ws.status();
    std::string id = HexEncode((*ws)->id());
    impl_->sync_->AddWorkspace(std::move(ws).value());
    impl_->Emit("workspace", id, "");
    std::string tool_names;
    for (const std::string& t : tools) tool_names += (tool_names.empty() ? "" : ",") + t;
    impl_->log_.Info("peer", "workspace created",
                     {{"workspace", id.substr(0, 16)}, {"name", name}, {"tools", tool_names}});
    return id;
  });
}

std::vector<api::WorkspaceInfo> Peer::ListWorkspaces() {
  return impl_->loop_.Call([this] {
    std::vector<api::WorkspaceInfo> out;
    for (replica::Workspace* ws : impl_->sync_->Workspaces()) out.push_back(impl_->Info(*ws));
    return out;
  });
}

Result<api::WorkspaceInfo> Peer::GetWorkspace(const std::string& text) {
  return impl_->loop_.Call([&]() -> Result<api::WorkspaceInfo> {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    return impl_->Info(*ws);
  });
}

grove::Status Peer::AddMember(const std::string& text, const std::string& card_text,
                              const std::string& role_text) {
  return impl_->loop_.Call([&]() -> grove::Status {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    Result<identity::CardInfo> card = Corruption("no card");
    if (impl_->managed_) {
      card = impl_->managed_->CardToInvite(card_text);
      if (!card.ok()) return card.status();
    } else if (card_text.find(org::kEnrolmentPrefix) != std::string::npos) {
      // An enrolment carries the device's card; outside managed mode nothing vouches for it.
      Result<org::Enrolment> e = org::ParseEnrolment(card_text);
      if (!e.ok()) return grove::Status(Code::kInvalidArgument, e.status().message(), "card");
      card = identity::ParseCardText(e->card);
    } else {
      card = identity::ParseCardText(card_text);
    }
    if (!card.ok()) return grove::Status(Code::kInvalidArgument, card.status().message(), "card");
    auto role = replica::ParseRole(role_text);
    if (!role) {
      return grove::Status(Code::kInvalidArgument,
                           "role must be owner, member, auditor or read-only", "role");
    }
    GROVE_RETURN_IF_ERROR(ws->AddMember(*card, *role));
    impl_->sync_->Push(ws->id());
    impl_->Emit("workspace", HexEncode(ws->id()), "");
    return grove::Status::Ok();
  });
}

grove::Status Peer::RemoveMember(const std::string& text, const std::string& device_text) {
  return impl_->loop_.Call([&]() -> grove::Status {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    auto device = identity::ParseDeviceId(device_text);
    if (!device) return grove::Status(Code::kInvalidArgument, "not a device id", "device");
    GROVE_RETURN_IF_ERROR(ws->RemoveMember(*device));
    impl_->sync_->Push(ws->id());
    impl_->Emit("workspace", HexEncode(ws->id()), "");
    return grove::Status::Ok();
  });
}

std::vector<api::Invitation> Peer::Invitations() {
  return impl_->loop_.Call([this] {
    std::vector<api::Invitation> out;
    for (const auto& [id, inv] : impl_->sync_->invitations()) {
      out.push_back(api::Invitation{HexEncode(id), inv.name, identity::DeviceIdText(inv.from),
                                    inv.from_name, replica::RoleName(inv.role)});
    }
    return out;
  });
}

grove::Status Peer::AcceptInvitation(const std::string& text) {
  return impl_->loop_.Call([&]() -> grove::Status {
    auto id = HexDecode(text);
    if (!id || id->size() != 32) {
      return grove::Status(Code::kInvalidArgument, "workspace id must be 64 hex characters",
                           "workspace");
    }
    Hash32 ws_id = *ToHash32(*id);
    if (impl_->sync_->Find(ws_id)) return grove::Status::Ok();  // accepted already
    auto inv = impl_->sync_->TakeInvitation(ws_id);
    if (!inv) return NotFound("no invitation to workspace " + text.substr(0, 16), "workspace");
    auto ws = replica::Workspace::Join(*impl_->identity_, inv->genesis, *impl_->store_,
                                       impl_->clock_, impl_->random_);
    if (!ws.ok()) return ws.status();
    impl_->sync_->AddWorkspace(std::move(ws).value());
    impl_->Emit("workspace", text, "");
    impl_->log_.Info("peer", "invitation accepted", {{"workspace", text.substr(0, 16)}});
    return grove::Status::Ok();
  });
}

Result<std::string> Peer::CreateRecord(const std::string& text, const std::string& type,
                                       const std::map<std::string, api::Value>& fields) {
  return impl_->loop_.Call([&]() -> Result<std::string> {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    std::map<std::string, replica::Value> values = fields;
    GROVE_RETURN_IF_ERROR(ResolveReferences(*ws, type, "fields", values));
    std::vector<std::pair<std::string, replica::Value>> list(values.begin(), values.end());
    auto id = ws->CreateRecord(type, list);
    if (!id.ok()) return id.status();
    impl_->AfterLocalAction(*ws, id->Text());
    return id->Text();
  });
}

grove::Status Peer::PatchRecord(const std::string& text, const std::string& id_text,
                                const api::RecordPatch& patch) {
  return impl_->loop_.Call([&]() -> grove::Status {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    GROVE_ASSIGN_OR_RETURN(replica::RecordId id, ws->ResolveRecordId(id_text));
    std::optional<replica::RecordView> view = ws->Get(id);
    if (!view) return NotFound("no record " + id_text, "id");
    std::map<std::string, replica::Value> set = patch.set;
    GROVE_RETURN_IF_ERROR(ResolveReferences(*ws, view->type, "set", set));
    std::map<std::string, replica::Value> append = patch.append;
    GROVE_RETURN_IF_ERROR(ResolveReferences(*ws, view->type, "append", append));
    // Check everything before changing anything: a refused patch changes nothing.
    for (const auto& [field, value] : patch.set) {
      if (field.empty() || field.size() > 256) {
        return grove::Status(Code::kInvalidArgument, "field names are 1 to 256 bytes",
                             "set." + field);
      }
    }
    for (const auto& [field, amount] : patch.add) {
      if (field.empty() || field.size() > 256) {
        return grove::Status(Code::kInvalidArgument, "field names are 1 to 256 bytes",
                             "add." + field);
      }
      if (amount > (int64_t{1} << 40) || amount < -(int64_t{1} << 40)) {
        return grove::Status(Code::kInvalidArgument, "amount out of range (|n| <= 2^40)",
                             "add." + field);
      }
    }
    for (const auto& [field, value] : patch.append) {
      if (field.empty() || field.size() > 256) {
        return grove::Status(Code::kInvalidArgument, "field names are 1 to 256 bytes",
                             "append." + field);
      }
    }
    // One action: a refusal of any part changes nothing.
    replica::Workspace::Change change;
    change.set.assign(set.begin(), set.end());
    change.add.assign(patch.add.begin(), patch.add.end());
    change.append.assign(append.begin(), append.end());
    GROVE_RETURN_IF_ERROR(ws->Update(id, change));
    impl_->AfterLocalAction(*ws, id.Text());
    return grove::Status::Ok();
  });
}

Result<api::RecordInfo> Peer::GetRecord(const std::string& text, const std::string& id_text) {
  return impl_->loop_.Call([&]() -> Result<api::RecordInfo> {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    GROVE_ASSIGN_OR_RETURN(replica::RecordId id, ws->ResolveRecordId(id_text));
    auto view = ws->Get(id);
    if (!view) return NotFound("no record " + id_text, "id");
    api::RecordInfo info = Impl::RecordOut(*view);
    info.transitions = Availability(ws->Transitions(id));
    return info;
  });
}

Result<api::RecordPage> Peer::QueryRecords(const std::string& text, const api::RecordQuery& q) {
  return impl_->loop_.Call([&]() -> Result<api::RecordPage> {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    const std::vector<replica::RecordView> all = ws->List(q.type, q.include_archived);
    api::RecordPage page;
    for (const replica::RecordView* v : SelectRecords(all, q, page.total)) {
      page.records.push_back(Impl::RecordOut(*v));
    }
    return page;
  });
}

grove::Status Peer::RunTransition(const std::string& text, const std::string& id_text,
                                  const std::string& name,
                                  const std::map<std::string, api::Value>& fields) {
  return impl_->loop_.Call([&]() -> grove::Status {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    GROVE_ASSIGN_OR_RETURN(replica::RecordId id, ws->ResolveRecordId(id_text));
    std::optional<replica::RecordView> view = ws->Get(id);
    if (!view) return NotFound("no record " + id_text, "id");
    std::map<std::string, replica::Value> inputs = fields;
    GROVE_RETURN_IF_ERROR(ResolveReferences(*ws, view->type, "fields", inputs));
    GROVE_RETURN_IF_ERROR(ws->Transition(
        id, name,
        std::vector<std::pair<std::string, replica::Value>>(inputs.begin(), inputs.end())));
    impl_->AfterLocalAction(*ws, id.Text());
    // Effects may have changed or created other records: tell listeners to reload.
    for (const tools::Tool& tool : ws->tool_definitions()) {
      const tools::Type* type = tool.FindType(view->type);
      const tools::Transition* t = type ? type->FindTransition(name) : nullptr;
      if (t != nullptr && !t->effects.empty()) impl_->Emit("workspace", HexEncode(ws->id()), "");
    }
    return grove::Status::Ok();
  });
}

grove::Status Peer::GrantRights(const std::string& text, const std::string& id_text,
                                const std::string& field, const std::string& key,
                                const std::string& to_device, int64_t amount) {
  return impl_->loop_.Call([&]() -> grove::Status {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    GROVE_ASSIGN_OR_RETURN(replica::RecordId id, ws->ResolveRecordId(id_text));
    if (!ws->Get(id)) return NotFound("no record " + id_text, "id");
    auto to = identity::ParseDeviceId(to_device);
    if (!to) return grove::Status(Code::kInvalidArgument, "to must be a device id", "to");
    GROVE_RETURN_IF_ERROR(ws->Grant(id, field, key, *to, amount));
    impl_->AfterLocalAction(*ws, id.Text());
    return grove::Status::Ok();
  });
}

grove::Status Peer::PlaceSealedBid(const std::string& text, const std::string& id_text,
                                   const replica::Money& amount) {
  return impl_->loop_.Call([&]() -> grove::Status {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    GROVE_ASSIGN_OR_RETURN(replica::RecordId id, ws->ResolveRecordId(id_text));
    GROVE_RETURN_IF_ERROR(ws->PlaceSealedBid(id, amount));
    impl_->AfterLocalAction(*ws, id.Text());
    return grove::Status::Ok();
  });
}

Result<size_t> Peer::RevealSealedBids(const std::string& text, const std::string& id_text) {
  return impl_->loop_.Call([&]() -> Result<size_t> {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    GROVE_ASSIGN_OR_RETURN(replica::RecordId id, ws->ResolveRecordId(id_text));
    Result<size_t> published = ws->RevealSealedBids(id);
    // Openings published before a refusal are kept (each is its own action), so only a reveal
    // that published none for sure changed nothing.
    if (!published.ok() || *published > 0) impl_->AfterLocalAction(*ws, id.Text());
    return published;
  });
}

grove::Status Peer::UpgradeTool(const std::string& text, const ToolSource& source) {
  // Parsed off the event loop: a tool file is small, but parsing needs no replica.
  tools::Tool tool;
  if (!source.builtin.empty()) {
    GROVE_ASSIGN_OR_RETURN(tool, tools::LoadBuiltin(source.builtin));
  } else {
    tools::ParseResult parsed =
        tools::ParseTool(source.yaml, source.file.empty() ? "tool.yaml" : source.file);
    if (!parsed.tool) {
      std::string message = "the tool file has errors:";
      for (const tools::Diagnostic& d : parsed.diagnostics) message += "\n" + d.Text();
      return InvalidArgument(message, "yaml");
    }
    tool = std::move(*parsed.tool);
  }
  return impl_->loop_.Call([&]() -> grove::Status {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    GROVE_RETURN_IF_ERROR(ws->UpgradeTool(tool));
    impl_->AfterLocalAction(*ws, "");
    impl_->Emit("workspace", HexEncode(ws->id()), "");  // records may have migrated
    return grove::Status::Ok();
  });
}

Result<std::vector<api::ToolInfo>> Peer::ListTools(const std::string& text) {
  return impl_->loop_.Call([&]() -> Result<std::vector<api::ToolInfo>> {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    std::vector<api::ToolInfo> out;
    for (const tools::Tool& tool : ws->tool_definitions()) out.push_back(ToolInfoOf(tool));
    return out;
  });
}

Result<api::DigestInfo> Peer::Digest(const std::string& text) {
  return impl_->loop_.Call([&]() -> Result<api::DigestInfo> {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    // Pending local actions are sealed first, so the digest covers everything acknowledged.
    (void)ws->Seal();
    replica::Digests d = ws->digests();
    return api::DigestInfo{HexEncode(d.version), HexEncode(d.state), d.deltas};
  });
}

namespace {

api::CheckpointInfo CheckpointOut(const replica::CheckpointInfo& cp) {
  api::CheckpointInfo out;
  out.id = HexEncode(cp.id);
  for (const replica::VersionEntry& e : cp.version) {
    out.version.emplace_back(identity::DeviceIdText(e.device), e.seq);
  }
  out.deltas = DeltasOf(cp.version);
  out.bytes = cp.bytes;
  out.trusted = cp.trusted;
  return out;
}

}  // namespace

Result<api::CheckpointInfo> Peer::ClaimCheckpoint(const std::string& text) {
  return impl_->loop_.Call([&]() -> Result<api::CheckpointInfo> {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    GROVE_ASSIGN_OR_RETURN(replica::CheckpointInfo cp, ws->ClaimCheckpoint());
    impl_->LogCheckpoint("checkpoint claimed", *ws, cp);
    impl_->sync_->Push(ws->id());
    impl_->Emit("workspace", HexEncode(ws->id()), "");
    return CheckpointOut(cp);
  });
}

Result<api::HistoryInfo> Peer::History(const std::string& text) {
  return impl_->loop_.Call([&]() -> Result<api::HistoryInfo> {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    api::HistoryInfo info;
    if (std::optional<replica::CheckpointInfo> barrier = ws->Barrier()) {
      info.barrier = CheckpointOut(*barrier);
    }
    if (std::optional<Hash32> missing = ws->MissingCheckpoint()) info.missing = HexEncode(*missing);
    info.deltas = DeltasOf(ws->Version());
    info.prune = impl_->options_.prune && !impl_->options_.keep_full && !impl_->auditor_;
    return info;
  });
}

uint64_t Peer::MaxAttachmentBytes() { return impl_->options_.attachment_max_bytes; }

Result<std::unique_ptr<api::AttachmentUpload>> Peer::BeginAttachment(
    const std::string& text, const std::string& name, const std::string& media_type) {
  if (name.size() > attachments::kMaxNameBytes) {
    return grove::Status(Code::kInvalidArgument, "file names are at most 255 bytes", "name");
  }
  if (media_type.size() > attachments::kMaxNameBytes) {
    return grove::Status(Code::kInvalidArgument, "media types are at most 255 bytes", "type");
  }
  return impl_->loop_.Call([&]() -> Result<std::unique_ptr<api::AttachmentUpload>> {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    if (!replica::CanWrite(ws->RoleOf(impl_->identity_->device()))) {
      return PermissionDenied("this device's role may not add attachments to the workspace");
    }
    std::optional<replica::ContentKeyId> key_id = ws->CurrentContentKey();
    const crypto::SymmetricKey* key = key_id ? ws->ContentKey(*key_id) : nullptr;
    if (key == nullptr) {
      return FailedPrecondition("this device holds no content key of the workspace yet");
    }
    const uint64_t session = impl_->next_upload_++;
    impl_->upload_fresh_[session];
    return std::unique_ptr<api::AttachmentUpload>(
        new PeerUpload(*impl_, session, ws->id(), *key_id, *key,
                       impl_->options_.attachment_max_bytes, name, media_type));
  });
}

Result<api::AttachmentStatus> Peer::GetAttachmentStatus(const std::string& text,
                                                        const std::string& id_text) {
  return impl_->loop_.Call([&]() -> Result<api::AttachmentStatus> {
    GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
    GROVE_ASSIGN_OR_RETURN(attachments::ChunkId id, ParseAttachmentId(id_text));
    return StatusOf(*impl_->store_, *impl_->sync_, *ws, id);
  });
}

// Polls the loop rather than waiting on it: the loop must stay free to receive the chunks. The
// manifest is opened once; after that only the first chunk is looked at.
Result<std::unique_ptr<api::AttachmentDownload>> Peer::OpenAttachment(const std::string& text,
                                                                      const std::string& id_text,
                                                                      int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  struct Opened {
    replica::WorkspaceId ws{};
    attachments::ChunkId id{};
    attachments::Manifest manifest;
  };
  std::optional<Opened> opened;
  bool asked_manifest = false;
  for (;;) {
    bool ready = false, look_again = false;
    // Set when the download cannot start: how much is held, and whether anyone is left to ask.
    std::optional<api::AttachmentStatus> stuck;
    bool unavailable = false;
    const uint64_t seen = impl_->ChunksArrived();
    grove::Status step = impl_->loop_.Call([&]() -> grove::Status {
      GROVE_ASSIGN_OR_RETURN(replica::Workspace * ws, impl_->FindWorkspace(text));
      GROVE_ASSIGN_OR_RETURN(attachments::ChunkId id, ParseAttachmentId(id_text));
      if (!opened) {
        auto manifest = LoadManifest(*impl_->store_, *ws, id);
        if (!manifest.ok() && manifest.status().code() != Code::kNotFound) {
          return manifest.status();
        }
        if (manifest.ok()) {
          // Every missing chunk, in file order: the download reads them in that order.
          std::vector<Hash32> ids;
          ids.reserve(manifest->chunks.size());
          for (const attachments::ChunkRef& c : manifest->chunks) ids.push_back(c.id);
          impl_->sync_->FetchChunks(ws->id(), ids);
          opened = Opened{ws->id(), id, std::move(manifest).value()};
        } else if (!asked_manifest) {
          impl_->sync_->FetchChunks(ws->id(), {id});
          asked_manifest = true;
        }
      }
      if (opened && opened->manifest.chunks.empty()) {
        ready = true;
        return grove::Status::Ok();
      }
      const Hash32& next = opened ? opened->manifest.chunks[0].id : id;
      GROVE_ASSIGN_OR_RETURN(sync::ChunkState state, impl_->sync_->StateOf(ws->id(), next));
      if (state == sync::ChunkState::kHeld) {
        ready = opened.has_value();
        look_again = !ready;  // the manifest arrived since it was looked for
        return grove::Status::Ok();
      }
      unavailable = state == sync::ChunkState::kUnavailable;
      if (unavailable || Clock::now() >= deadline) {
        GROVE_ASSIGN_OR_RETURN(api::AttachmentStatus status,
                               StatusOf(*impl_->store_, *impl_->sync_, *ws, id));
        stuck = std::move(status);
      }
      return grove::Status::Ok();
    });
    if (!step.ok()) return step;
    if (ready) break;
    if (stuck) {
      const std::string held = stuck->manifest ? std::to_string(stuck->chunks_held) + " of " +
                                                     std::to_string(stuck->info.chunks) +
                                                     " chunks are held here"
                                               : "its manifest is not held here";
      const std::string what = "attachment " + id_text.substr(0, 16);
      if (unavailable) {
        return grove::Status(Code::kUnavailable,
                             what + " cannot be fetched: " + held +
                                 ", and no connected member of the workspace has the rest");
      }
      return grove::Status(Code::kUnavailable, what + " is still being fetched: " + held +
                                                   " (see its /status; fetching goes on)");
    }
    if (look_again) continue;
    // Woken by arrivals; the bound catches members answering that they lack it.
    impl_->WaitForChunks(seen, std::chrono::milliseconds(50));
  }
  return std::unique_ptr<api::AttachmentDownload>(
      new PeerDownload(*impl_, opened->ws, opened->id, std::move(opened->manifest)));
}

uint64_t Peer::CurrentEventSeq() {
  std::lock_guard<std::mutex> lock(impl_->events_mu_);
  return impl_->event_seq_;
}

std::vector<api::Event> Peer::WaitEvents(uint64_t after_seq, int timeout_ms) {
  Impl& im = *impl_;
  std::unique_lock<std::mutex> lock(im.events_mu_);
  im.events_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                         [&] { return im.events_stopped_ || im.event_seq_ > after_seq; });
  std::vector<api::Event> out;
  for (const api::Event& e : im.events_) {
    if (e.seq > after_seq) out.push_back(e);
  }
  return out;
}

std::string Peer::MetricsText() { return impl_->metrics_.registry.Exposition(); }

}  // namespace grove::peer
