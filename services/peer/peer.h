// grove::peer::Peer — one device's running peer: its workspaces, the TLS mesh, the local API.
//
// Wiring (docs/architecture.md, "The peer"): a single EventLoop thread owns every workspace and
// the SyncNode; the network reactor's thread and the HTTP workers post into it. Local actions
// are durable when the API answers; they are sealed into a delta at once after a quiet spell, or
// at most once per `seal_delay_ms` during a burst, and pushed to connected members at once.
// Outbound connections (configured and learned addresses) are retried with exponential backoff.
//
// Thread-safety: every public method may be called from any thread except the event loop's.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "api/backend.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/status.h"
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "net/network.h"
#include "store/store.h"
#include "sync/sync.h"

namespace grove::logging {
class Logger;
}

namespace grove::peer {

struct PeerOptions {
  std::string data;  // data folder: device.key, api-token, store.db
  net::Endpoint listen{"127.0.0.1", 7400};
  std::vector<net::Endpoint> connect;
  int seal_delay_ms = 200;
  size_t max_frame_bytes = 16 << 20;
  size_t batch_bytes = 1 << 20;
  int reconnect_min_ms = 500;
  int reconnect_max_ms = 30000;
  bool sync_full = false;
  bool discover = true;                         // dial members whose addresses peers share
  uint64_t attachment_max_bytes = 16ull << 30;  // attachments::kDefaultMaxFileBytes
  // The relay to sync every workspace with (decision 0009): its sync address (HOST:PORT) and its
  // card ("grove-card:..."), which pins the relay's key. Both empty: no relay.
  std::string relay_address;
  std::string relay_card;
  // The compliance audit log's PostgreSQL: set, this device is an auditor device and logs every
  // workspace it holds (services/auditor). Empty: it does not.
  std::string audit_db;
  // Managed mode (peer/managed_mode.h): the organisation's card and this device's enrolment.
  // Both empty: the peer belongs to no organisation.
  std::string org_card;
  std::string enrolment;
  int audit_head_interval_ms = 60'000;
  // History (decision 0011; config history.*): an owner claims a checkpoint once this many
  // deltas were made since the one in force (0: only when asked); the deltas under a trusted
  // checkpoint are pruned once every member active within prune_wait_ms acknowledged it, unless
  // keep_full.
  uint64_t checkpoint_every = 10000;
  bool prune = true;
  uint64_t prune_wait_ms = 7ull * 24 * 3600 * 1000;
  bool keep_full = false;
};

class Peer final : public api::Backend {
 public:
  // Loads the device from options.data (grove init made it), opens its store and workspaces,
  // starts the network. NotFound when there is no device; IOError when the address is taken.
  static Result<std::unique_ptr<Peer>> Start(const PeerOptions& options, logging::Logger& log);
  ~Peer() override;

  // Stops the network, seals pending local actions, closes the store. Idempotent.
  void Stop();
  net::Endpoint sync_address() const;
  // Prometheus text exposition of the peer's metrics (docs/operations.md lists them).
  std::string MetricsText();

  // api::Backend
  api::IdentityInfo Identity() override;
  api::StatusInfo Status() override;
  Result<std::string> CreateWorkspace(const std::string& name,
                                      const std::vector<std::string>& tools) override;
  std::vector<api::WorkspaceInfo> ListWorkspaces() override;
  Result<api::WorkspaceInfo> GetWorkspace(const std::string& ws) override;
  grove::Status AddMember(const std::string& ws, const std::string& card,
                          const std::string& role) override;
  grove::Status RemoveMember(const std::string& ws, const std::string& device) override;
  std::vector<api::Invitation> Invitations() override;
  grove::Status AcceptInvitation(const std::string& ws) override;
  Result<std::string> CreateRecord(const std::string& ws, const std::string& type,
                                   const std::map<std::string, api::Value>& fields) override;
  grove::Status PatchRecord(const std::string& ws, const std::string& id,
                            const api::RecordPatch& patch) override;
  Result<api::RecordInfo> GetRecord(const std::string& ws, const std::string& id) override;
  Result<api::RecordPage> QueryRecords(const std::string& ws, const api::RecordQuery& q) override;
  grove::Status RunTransition(const std::string& ws, const std::string& id, const std::string& name,
                              const std::map<std::string, api::Value>& fields) override;
  grove::Status PlaceSealedBid(const std::string& ws, const std::string& id,
                               const replica::Money& amount) override;
  Result<size_t> RevealSealedBids(const std::string& ws, const std::string& id) override;
  grove::Status UpgradeTool(const std::string& ws, const ToolSource& source) override;
  grove::Status GrantRights(const std::string& ws, const std::string& id, const std::string& field,
                            const std::string& key, const std::string& to_device,
                            int64_t amount) override;
  Result<std::vector<api::ToolInfo>> ListTools(const std::string& ws) override;
  Result<api::DigestInfo> Digest(const std::string& ws) override;
  Result<api::CheckpointInfo> ClaimCheckpoint(const std::string& ws) override;
  Result<api::HistoryInfo> History(const std::string& ws) override;
  uint64_t MaxAttachmentBytes() override;
  Result<std::unique_ptr<api::AttachmentUpload>> BeginAttachment(
      const std::string& ws, const std::string& name, const std::string& media_type) override;
  Result<api::AttachmentStatus> GetAttachmentStatus(const std::string& ws,
                                                    const std::string& id) override;
  Result<std::unique_ptr<api::AttachmentDownload>> OpenAttachment(const std::string& ws,
                                                                  const std::string& id,
                                                                  int timeout_ms) override;
  uint64_t CurrentEventSeq() override;
  std::vector<api::Event> WaitEvents(uint64_t after_seq, int timeout_ms) override;

  class Impl;

 private:
  Peer() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace grove::peer
