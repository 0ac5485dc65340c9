// The receive path: ingest, chain authentication, causal delivery, statuses, rebuild.
#include <google/protobuf/arena.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <iterator>

#include "replica/workspace_impl.h"

namespace grove::replica {
namespace {

namespace w = grove::wire::v1;

constexpr size_t kMaxProblems = 1000;
constexpr size_t kMaxDecompressed = 64 << 20;

Bytes SealAad(const WorkspaceId& ws, const DeviceId& author, uint64_t seq) {
  Bytes aad(ws.begin(), ws.end());
  aad.insert(aad.end(), author.begin(), author.end());
  for (int i = 7; i >= 0; --i) aad.push_back(static_cast<uint8_t>(seq >> (8 * i)));
  return aad;
}

}  // namespace

Bytes MakeSealAad(const WorkspaceId& ws, const DeviceId& author, uint64_t seq) {
  return SealAad(ws, author, seq);
}

std::string Workspace::Impl::Where(uint32_t dev, uint64_t seq) const {
  return DeviceText(devices_[dev]).substr(0, 16) + "/" + std::to_string(seq);
}

void Workspace::Impl::Reject(Status s, ApplyReport& report) {
  if (problems_.size() < kMaxProblems) problems_.push_back(s);
  report.rejected.push_back(std::move(s));
}

const std::vector<uint64_t>* Workspace::Impl::VvOf(uint32_t dev, uint64_t seq) const {
  if (dev == me_dev_ && seq == feeds_[dev].head() + 1) return &current_vv_;
  if (dev >= feeds_.size() || seq == 0 || seq > feeds_[dev].head()) return nullptr;
  const Feed& feed = feeds_[dev];
  if (seq <= feed.base) return seq == feed.base ? &feed.base_vv : nullptr;
  return &feed.at(seq).vv;
}

bool Workspace::Impl::Precedes(const Stamp& a, const Stamp& b) const {
  if (a.dev == b.dev) return a.seq < b.seq || (a.seq == b.seq && a.idx < b.idx);
  const std::vector<uint64_t>* vv = VvOf(b.dev, b.seq);
  return vv && a.dev < vv->size() && (*vv)[a.dev] >= a.seq;
}

uint32_t Workspace::Impl::DeviceIndex(const DeviceId& device) {
  auto [it, fresh] = device_index_.try_emplace(device, static_cast<uint32_t>(devices_.size()));
  if (fresh) {
    devices_.push_back(device);
    feeds_.emplace_back();
    current_vv_.push_back(0);
  }
  return it->second;
}

bool Workspace::Impl::WasMember(const DeviceId& device, const Past& past) const {
  auto dev = FindDevice(device);
  if (!dev) return false;
  auto it = membership_.members().find(*dev);
  if (it == membership_.members().end()) return false;
  Role role = Role::kNone;
  for (const auto& g : it->second.grants) {  // canonical order: the last one in the past counts
    if (past.Contains(g.by)) role = g.role;
  }
  return role != Role::kNone;
}

std::optional<uint32_t> Workspace::Impl::FindDevice(const DeviceId& device) const {
  auto it = device_index_.find(device);
  if (it == device_index_.end()) return std::nullopt;
  return it->second;
}

ApplyReport Workspace::Impl::Apply(std::span<const Bytes> deltas) {
  ApplyReport report;
  if (!broken_.ok()) {
    report.store = broken_;
    return report;
  }
  // Local actions are sealed with the context they were made in, before anything new arrives.
  if (!pending_.empty()) {
    Status s = SealWith({}, false);
    if (!s.ok()) {
      report.store = s;
      return report;
    }
  }
  store::WriteBatch wb;
  for (const Bytes& raw : deltas) Ingest(raw, report, wb);

  // Authenticate each author's run of buffered deltas, then deliver in causal order.
  std::set<uint32_t> authors;
  for (const auto& [key, in] : incoming_) authors.insert(key.first);
  for (uint32_t dev : authors) Authenticate(dev, report);
  bool progress = true;
  while (progress) {
    progress = false;
    for (auto it = incoming_.begin(); it != incoming_.end();) {
      Incoming& in = it->second;
      if (!in.authenticated || in.seq != feeds_[in.author].head() + 1 || !DepsMet(in)) {
        ++it;
        continue;
      }
      Status s = Deliver(in, wb, report, false);
      if (!s.ok()) Reject(s, report);
      it = incoming_.erase(it);
      progress = true;
    }
    if (!progress) {
      // An author whose membership was delivered just now can be authenticated now.
      std::set<uint32_t> waiting;
      for (const auto& [key, in] : incoming_) {
        if (!in.authenticated && membership_.members().count(key.first)) waiting.insert(key.first);
      }
      auto authenticated = [this] {
        size_t n = 0;
        for (const auto& [key, in] : incoming_) n += in.authenticated;
        return n;
      };
      const size_t held = incoming_.size(), before = authenticated();
      for (uint32_t dev : waiting) Authenticate(dev, report);
      // Go round again only if something changed, so this ends.
      progress = incoming_.size() != held || authenticated() != before;
    }
  }
  report.buffered = incoming_.size();

  if (rebuild_needed_) {
    Status s = RebuildAll(wb);
    if (!s.ok()) {
      report.store = Fail(s);
      return report;
    }
    report.rebuilt = true;
  } else {
    ApplyReadyDeltas(wb);
  }
  PersistDirty(wb, &report.changed);
  if (!wb.empty()) {
    Status s = store_.Write(wb);
    if (!s.ok()) report.store = Fail(s.Annotate("storing applied deltas"));
  }
  unsaved_.clear();
  return report;
}

void Workspace::Impl::Ingest(const Bytes& raw, ApplyReport& report, store::WriteBatch& wb) {
  if (raw.size() > limits_.max_delta_bytes) {
    Reject(
        InvalidArgument("delta of " + std::to_string(raw.size()) + " bytes exceeds the limit of " +
                        std::to_string(limits_.max_delta_bytes)),
        report);
    return;
  }
  w::Delta delta;
  Incoming in;
  if (!delta.ParseFromArray(raw.data(), static_cast<int>(raw.size())) ||
      !in.body.ParseFromString(delta.body())) {
    Reject(Corruption("delta does not decode (truncated or not a delta)"), report);
    return;
  }
  const w::DeltaBody& b = in.body;
  auto author = ToHash32(AsBytes(b.author()));
  if (b.format() != 1) {
    Reject(InvalidArgument("unsupported delta format " + std::to_string(b.format())), report);
    return;
  }
  if (!author || b.seq() == 0 || delta.signature().size() != 64) {
    Reject(Corruption("delta header is malformed (author, seq or signature size)"), report);
    return;
  }
  in.hash = crypto::Sha256(AsBytes(delta.body()));
  const bool genesis = b.seq() == 1 && b.workspace().empty() && in.hash == id_;
  if (!genesis &&
      (b.workspace().size() != 32 || std::memcmp(b.workspace().data(), id_.data(), 32) != 0)) {
    Reject(InvalidArgument("delta belongs to another workspace"), report);
    return;
  }
  if ((b.seq() == 1) != b.prev().empty() || (!b.prev().empty() && b.prev().size() != 32)) {
    Reject(Corruption("delta's link to its predecessor is malformed"), report);
    return;
  }
  if (b.hlc() == 0) {
    Reject(Corruption("delta has no timestamp"), report);
    return;
  }
  for (const w::VersionEntry& e : b.context()) {
    if (e.device().size() != 32 || e.seq() == 0) {
      Reject(Corruption("delta's causal context is malformed"), report);
      return;
    }
  }
  in.author = DeviceIndex(*author);
  in.seq = b.seq();
  in.signature = ToBytes(delta.signature());
  in.body_bytes = std::move(*delta.mutable_body());
  in.raw = raw;
  const std::string where = Where(in.author, in.seq);

  Feed& feed = feeds_[in.author];
  const Hash32* held = nullptr;
  if (in.seq <= feed.base) {
    // Under the checkpoint this replica started from: only its last delta's hash is known.
    if (in.seq < feed.base || in.hash == feed.base_hash) {
      ++report.duplicates;
      return;
    }
    held = &feed.base_hash;
  } else if (in.seq <= feed.head()) {
    held = &feed.at(in.seq).hash;
  } else if (auto it = incoming_.find({in.author, in.seq}); it != incoming_.end()) {
    held = &it->second.hash;
  }
  if (held) {
    if (*held == in.hash) {
      ++report.duplicates;
    } else {
      RecordFork(in.author, in.seq, raw, in.hash, wb, report);
    }
    return;
  }
  if (incoming_.size() >= limits_.max_buffered_deltas) {
    Reject(Status(Code::kUnavailable, "too many deltas waiting for their dependencies", where),
           report);
    return;
  }
  incoming_.emplace(std::make_pair(in.author, in.seq), std::move(in));
}

void Workspace::Impl::RecordFork(uint32_t dev, uint64_t seq, const Bytes& raw, const Hash32& hash,
                                 store::WriteBatch& wb, ApplyReport& report) {
  // Only a second *signed* delta is evidence; anything else would let a peer frame a device.
  w::Delta delta;
  delta.ParseFromArray(raw.data(), static_cast<int>(raw.size()));
  const auto* author = feeds_.size() > dev ? &devices_[dev] : nullptr;
  std::optional<identity::CardInfo> card;
  if (auto it = membership_.members().find(dev); it != membership_.members().end()) {
    card = it->second.card;
  }
  if (!author || !card ||
      !crypto::Verify(card->sign_key, AsBytes(delta.body()), AsBytes(delta.signature()))) {
    Reject(Corruption("conflicting delta does not verify; ignored", Where(dev, seq)), report);
    return;
  }
  store::EvidenceRow row;
  row.workspace = id_;
  row.kind = "fork";
  row.author = devices_[dev];
  row.seq = seq;
  row.hash = hash;
  row.bytes = raw;
  row.reason = "device signed two different deltas with seq " + std::to_string(seq);
  row.received_ms = clock_.NowMillis();
  wb.PutEvidence(row);
  ++report.forks;
  if (problems_.size() < kMaxProblems) {
    problems_.push_back(Status(Code::kCorruption, row.reason, Where(dev, seq)));
  }
  Feed& feed = feeds_[dev];
  if (feed.forked_at == 0 || seq < feed.forked_at) {
    feed.forked_at = seq;
    wb.PutMeta(id_, "forked:" + HexEncode(devices_[dev]), ToBytes(std::to_string(seq)));
    RecomputeStatuses(wb);
  }
}

void Workspace::Impl::Authenticate(uint32_t dev, ApplyReport& report) {
  Feed& feed = feeds_[dev];
  std::vector<Incoming*> run;
  Hash32 expect = feed.head() ? feed.head_hash() : Hash32{};
  for (uint64_t s = feed.head() + 1;; ++s) {
    auto it = incoming_.find({dev, s});
    if (it == incoming_.end()) break;
    Incoming& in = it->second;
    bool links = s == 1 ? in.body.prev().empty()
                        : std::memcmp(in.body.prev().data(), expect.data(), 32) == 0;
    if (!links) {
      Reject(Corruption("broken chain: prev does not match the held delta " + Where(dev, s - 1)),
             report);
      incoming_.erase(it);
      break;
    }
    run.push_back(&in);
    expect = in.hash;
  }
  if (run.empty() || run.back()->authenticated) return;

  // The signing key: from the genesis card for the creator's first delta, otherwise from the
  // membership as known; a device never seen as a member cannot be authenticated yet.
  std::optional<crypto::PublicKey> key;
  if (auto it = membership_.members().find(dev); it != membership_.members().end()) {
    key = it->second.card.sign_key;
  } else if (run.front()->seq == 1 && run.front()->hash == id_ &&
             run.front()->body.plain_size() > 0 && run.front()->body.plain(0).has_genesis()) {
    auto card = identity::DecodeCard(AsBytes(run.front()->body.plain(0).genesis().creator_card()));
    if (card.ok() && card->device == devices_[dev]) key = card->sign_key;
  }
  if (!key) {
    // With all its dependencies held, any op making the author a member would be known by now.
    if (DepsMet(*run.front())) {
      Reject(PermissionDenied("author is not a member in the delta's causal past",
                              Where(dev, run.front()->seq)),
             report);
      for (Incoming* in : run) incoming_.erase({dev, in->seq});
    }
    return;  // otherwise wait: its membership may still arrive from another author
  }

  auto verify = [&](const Incoming& in) {
    return crypto::Verify(*key, AsBytes(in.body_bytes), in.signature);
  };
  // One signature authenticates the whole run: each delta's hash is in its successor's signed body.
  if (verify(*run.back())) {
    for (Incoming* in : run) in->authenticated = true;
    return;
  }
  for (size_t i = 0; i < run.size(); ++i) {
    if (run[i]->authenticated) continue;
    if (!verify(*run[i])) {
      Reject(Corruption("signature does not verify", Where(dev, run[i]->seq)), report);
      for (size_t j = i; j < run.size(); ++j) incoming_.erase({dev, run[j]->seq});
      return;
    }
    run[i]->authenticated = true;
  }
}

bool Workspace::Impl::DepsMet(const Incoming& in) const {
  for (const w::VersionEntry& e : in.body.context()) {
    auto dev = FindDevice(*ToHash32(AsBytes(e.device())));
    if (!dev || feeds_[*dev].head() < e.seq()) return false;
  }
  return true;
}

bool Workspace::Impl::HasMembershipInPast(uint32_t dev, const std::vector<uint64_t>& vv) const {
  for (const Admission& a : admissions_) {
    if (a.target == dev && a.dev < vv.size() && vv[a.dev] >= a.seq) return true;
  }
  return false;
}

void Workspace::Impl::NoteAdmissions(uint32_t dev, uint64_t seq, const DeltaMeta& meta) {
  for (const auto& op : meta.plain) {
    if (op->kind == PlainOp::Kind::kSetMember || op->kind == PlainOp::Kind::kGenesis) {
      admissions_.push_back(Admission{dev, seq, op->target});
    }
  }
}

Status Workspace::Impl::Deliver(Incoming& in, store::WriteBatch& wb, ApplyReport& report,
                                bool local) {
  const uint32_t dev = in.author;
  const uint64_t seq = in.seq;
  const std::string where = Where(dev, seq);
  const w::DeltaBody& b = in.body;
  Feed& feed = feeds_[dev];
  const bool genesis = seq == 1 && in.hash == id_;

  // Causal context and timestamps, checked against what this delta depends on.
  std::vector<uint64_t> vv = seq > 1 ? feed.head_vv() : std::vector<uint64_t>{};
  uint64_t max_dep_hlc = seq > 1 ? feed.head_hlc() : 0;
  vv.resize(devices_.size(), 0);
  for (const w::VersionEntry& e : b.context()) {
    uint32_t d = *FindDevice(*ToHash32(AsBytes(e.device())));
    if (d == dev) return Corruption("causal context names the author itself", where);
    if (vv[d] >= e.seq()) return Corruption("causal context goes backwards", where);
    vv[d] = e.seq();
    max_dep_hlc = std::max(max_dep_hlc, HlcOf(d, e.seq()));
  }
  vv[dev] = seq - 1;
  if (b.hlc() <= max_dep_hlc) {
    return Corruption("timestamp is not after the deltas it depends on", where);
  }
  if (!genesis && !HasMembershipInPast(dev, vv)) {
    return PermissionDenied("author is not a member in the delta's causal past", where);
  }

  DeltaMeta meta;
  meta.hash = in.hash;
  meta.hlc = b.hlc();
  meta.vv = std::move(vv);
  meta.has_sealed = b.has_sealed();
  for (int i = 0; i < b.plain_size(); ++i) {
    if (b.plain(i).has_genesis() && !(genesis && i == 0)) {
      meta.malformed = "genesis op outside the workspace's genesis delta";
      break;
    }
    auto op = ParsePlainOp(b.plain(i), *this);
    if (!op.ok()) {
      meta.malformed = "plain op " + std::to_string(i) + ": " + op.status().message();
      break;
    }
    meta.plain.push_back(std::make_unique<PlainOp>(std::move(op).value()));
  }
  if (genesis && (meta.plain.empty() || meta.plain[0]->kind != PlainOp::Kind::kGenesis ||
                  meta.plain[0]->target != dev)) {
    return Corruption("genesis delta does not start with its creator's genesis op", where);
  }
  if (meta.has_sealed) {
    if (b.sealed().key_id().size() != 16 || b.sealed().nonce().size() != crypto::kNonceSize) {
      meta.malformed = "sealed part has a malformed key id or nonce";
    } else {
      KeyId key;
      std::memcpy(key.data(), b.sealed().key_id().data(), 16);
      meta.key = key;
    }
  }
  if (!meta.malformed.empty()) meta.plain.clear();
  const bool has_plain = !meta.plain.empty();
  for (const auto& op : meta.plain) OpenBoxes(*op);

  NoteAdmissions(dev, seq, meta);
  meta.received_ms = clock_.NowMillis();
  feed.deltas.push_back(std::move(meta));
  current_vv_[dev] = seq;
  unsaved_[{dev, seq}] = in.raw;
  hlc_.Observe(b.hlc());

  if (has_plain) RecomputeStatuses(wb);
  DeltaMeta& m = feed.deltas.back();
  m.status = StatusOf(dev, seq);
  if (local) {
    // Its ops were applied as local actions; it is valid by construction (the role was checked).
    m.status = DeltaStatus::kApplied;
  } else if (m.status == DeltaStatus::kApplied) {
    auto ops = OpenOps(dev, seq, b);
    if (!ops.ok()) {
      m.malformed = ops.status().message();
      m.status = DeltaStatus::kInvalid;
    } else {
      ApplyDeltaOps(dev, seq, *ops);
    }
  }
  if (m.status == DeltaStatus::kInvalid) {
    ++report.invalid;
    if (problems_.size() < kMaxProblems) {
      problems_.push_back(Status(Code::kPermissionDenied,
                                 !m.refused.empty()    ? "refused by the tools' rules: " + m.refused
                                 : m.malformed.empty() ? "delta not valid under membership"
                                                       : m.malformed,
                                 where));
    }
  }
  store::DeltaRow row;
  row.workspace = id_;
  row.author = devices_[dev];
  row.seq = seq;
  row.hash = in.hash;
  row.bytes = in.raw;
  row.status = static_cast<int32_t>(m.status);
  wb.PutDelta(row);
  ++report.accepted;
  return Status::Ok();
}

void Workspace::Impl::OpenBoxes(const PlainOp& op) {
  for (const auto& [dev, box] : op.boxes) {
    if (dev != me_dev_ || keys_.count(op.key)) continue;
    auto opened = crypto::OpenSealed(me_.agreement_key(), box);
    if (!opened.ok()) continue;  // not for us after all, or damaged: the key stays unknown
    auto key = crypto::SymmetricKey::FromBytes(*opened);
    if (key.ok()) keys_.emplace(op.key, std::move(key).value());
    statuses_dirty_ = true;
    // A delta judged without the ones this key opens must be judged again (decision 0004). It
    // can depend on them only if its HLC is above theirs.
    if (rules_ && rules_->active()) {
      for (const Feed& feed : feeds_) {
        for (const DeltaMeta& m : feed.deltas) {
          if (m.status == DeltaStatus::kAwaitingKey && m.hlc < max_judged_hlc_) {
            rebuild_needed_ = true;
          }
        }
      }
    }
  }
}

std::vector<PlainEntry> Workspace::Impl::PlainEntries() const {
  std::vector<PlainEntry> out;
  if (base_) out = base_->plain;
  for (uint32_t d = 0; d < feeds_.size(); ++d) {
    for (uint64_t s = feeds_[d].base + 1; s <= feeds_[d].head(); ++s) {
      if (InBase(d, s)) continue;
      const DeltaMeta& m = feeds_[d].at(s);
      for (uint32_t i = 0; i < m.plain.size(); ++i) {
        out.push_back(PlainEntry{Stamp{m.hlc, d, s, i}, m.plain[i].get()});
      }
    }
  }
  return out;
}

DeltaStatus Workspace::Impl::StatusOf(uint32_t dev, uint64_t seq) const {
  const Feed& feed = feeds_[dev];
  const DeltaMeta& m = feed.at(seq);
  if (InBase(dev, seq)) return m.status;  // settled by the checkpoint
  if (!m.malformed.empty() || (feed.forked_at && seq >= feed.forked_at) ||
      excluded_.count({dev, seq})) {
    return DeltaStatus::kInvalid;
  }
  Role role = membership_.RoleFor(dev, seq);
  if (role == Role::kNone || (m.has_sealed && !CanWrite(role))) return DeltaStatus::kInvalid;
  if (m.has_sealed && !keys_.count(*m.key)) return DeltaStatus::kAwaitingKey;
  return DeltaStatus::kApplied;
}

void Workspace::Impl::RecomputeStatuses(store::WriteBatch& wb) {
  // A newly trusted checkpoint changes the pinned ops; evaluate again on it (a barrier only moves
  // to a checkpoint with more deltas under it, so this ends; bounded all the same).
  for (int round = 0; round < 4; ++round) {
    EvaluateStatuses();
    if (!UpdateBarrier()) break;
    wb.PutMeta(id_, "base", base_->id);
  }
}

void Workspace::Impl::EvaluateStatuses() {
  statuses_dirty_ = true;
  auto entries = PlainEntries();
  auto less = [this](const Stamp& a, const Stamp& b) { return table_.Less(a, b); };
  // Excluding refused deltas can change what else is refused; iterate to a fixed point. The
  // excluded set only grows, so this ends, and every peer walks the same steps.
  excluded_.clear();
  for (uint32_t d = 0; d < feeds_.size(); ++d) {
    for (uint64_t s = feeds_[d].base + 1; s <= feeds_[d].head(); ++s) {
      if (InBase(d, s)) continue;
      if (!feeds_[d].at(s).malformed.empty() || (feeds_[d].forked_at && s >= feeds_[d].forked_at)) {
        excluded_.emplace(d, s);
      }
    }
  }
  auto excluded = [this](uint32_t d, uint64_t s) { return excluded_.count({d, s}) > 0; };
  const std::vector<GrantKey> grants_before = GrantKeys();
  for (;;) {
    membership_.Evaluate(entries, excluded, less);
    size_t before = excluded_.size();
    for (const auto& r : membership_.refused()) excluded_.insert(r);
    for (const PlainEntry& e : entries) {
      if (e.pinned) continue;
      Role role = membership_.RoleFor(e.stamp.dev, e.stamp.seq);
      bool owner_op =
          e.op->kind == PlainOp::Kind::kSetMember || e.op->kind == PlainOp::Kind::kRemoveMember;
      bool allowed = e.op->kind == PlainOp::Kind::kGenesis ||
                     (e.op->kind == PlainOp::Kind::kClaim ? role != Role::kNone
                      : owner_op                          ? role == Role::kOwner
                                                          : CanWrite(role));
      if (!allowed) excluded_.emplace(e.stamp.dev, e.stamp.seq);
    }
    if (excluded_.size() == before) break;
  }
  for (uint32_t d = 0; d < feeds_.size(); ++d) {
    for (uint64_t s = feeds_[d].base + 1; s <= feeds_[d].head(); ++s) {
      DeltaMeta& m = feeds_[d].at(s);
      if (InBase(d, s)) continue;
      if (m.status == DeltaStatus::kApplied && StatusOf(d, s) != DeltaStatus::kApplied) {
        rebuild_needed_ = true;  // un-applying is only possible by recomputing
      }
    }
  }
  // A `member` field was judged against the grants in its delta's past: when a grant that a
  // judged delta could have seen appears or goes, judge again.
  if (rules_ && rules_->active() && rules_->checked_members() && !rebuild_needed_) {
    const std::vector<GrantKey> grants_after = GrantKeys();
    std::vector<GrantKey> changed;
    std::set_symmetric_difference(grants_before.begin(), grants_before.end(), grants_after.begin(),
                                  grants_after.end(), std::back_inserter(changed));
    for (const GrantKey& g : changed) {
      bool new_and_later = std::binary_search(grants_after.begin(), grants_after.end(), g) &&
                           std::get<1>(g) > max_judged_hlc_;
      if (!new_and_later) rebuild_needed_ = true;
    }
  }
  // Roles in the past decide what the tools' rules allow: a delta judged under another role
  // than it has now is judged again.
  if (rules_ && rules_->active() && !rebuild_needed_) {
    for (uint32_t d = 0; d < feeds_.size() && !rebuild_needed_; ++d) {
      for (uint64_t s = feeds_[d].base + 1; s <= feeds_[d].head(); ++s) {
        const DeltaMeta& m = feeds_[d].at(s);
        if (m.judged && !InBase(d, s) && m.judged_role != membership_.RoleFor(d, s)) {
          rebuild_needed_ = true;
          break;
        }
      }
    }
  }
}

std::vector<Workspace::Impl::GrantKey> Workspace::Impl::GrantKeys() const {
  std::vector<GrantKey> out;
  for (const auto& [dev, info] : membership_.members()) {
    for (const auto& g : info.grants) {
      out.emplace_back(dev, g.by.hlc, g.by.dev, g.by.seq, g.by.idx, static_cast<int>(g.role));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<Bytes> Workspace::Impl::RawDelta(uint32_t dev, uint64_t seq) {
  if (auto it = unsaved_.find({dev, seq}); it != unsaved_.end()) return it->second;
  auto row = store_.GetDelta(id_, devices_[dev], seq);
  if (!row.ok()) return row.status();
  if (!row->has_value()) return Internal("delta missing from the store", Where(dev, seq));
  return std::move((*row)->bytes);
}

Result<std::vector<Op>> Workspace::Impl::OpenOps(uint32_t dev, uint64_t seq,
                                                 const w::DeltaBody& b) {
  if (!b.has_sealed()) return std::vector<Op>{};
  const w::Sealed& sealed = b.sealed();
  KeyId key_id;
  std::memcpy(key_id.data(), sealed.key_id().data(), 16);
  auto key = keys_.find(key_id);
  if (key == keys_.end()) return FailedPrecondition("content key not held", Where(dev, seq));
  Bytes aad = SealAad(id_, devices_[dev], seq);
  auto plain =
      crypto::AeadOpen(key->second, AsBytes(sealed.nonce()), aad, AsBytes(sealed.ciphertext()));
  if (!plain.ok()) return Corruption("sealed ops do not decrypt", Where(dev, seq));
  Bytes inflated;
  ByteView batch_bytes = *plain;
  if (sealed.codec() == 1) {
    unsigned long long size = ZSTD_getFrameContentSize(plain->data(), plain->size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
        size > kMaxDecompressed) {
      return Corruption("sealed ops: bad or oversized compressed frame", Where(dev, seq));
    }
    inflated.resize(size);
    size_t got = ZSTD_decompressDCtx(zstd_.decompress, inflated.data(), inflated.size(),
                                     plain->data(), plain->size());
    if (ZSTD_isError(got) || got != size) {
      return Corruption("sealed ops do not decompress", Where(dev, seq));
    }
    batch_bytes = inflated;
  } else if (sealed.codec() != 0) {
    return Corruption("unknown codec " + std::to_string(sealed.codec()), Where(dev, seq));
  }
  // On an arena: a batch holds thousands of small messages, each otherwise its own allocation.
  google::protobuf::Arena arena;
  auto* batch = google::protobuf::Arena::CreateMessage<w::OpBatch>(&arena);
  if (!batch->ParseFromArray(batch_bytes.data(), static_cast<int>(batch_bytes.size()))) {
    return Corruption("sealed ops do not decode", Where(dev, seq));
  }
  OpContext ctx{names_, *this, dev, limits_.max_value_bytes};
  auto ops = DecodeOps(*batch, b.hlc(), limits_.max_ops_per_delta, ctx);
  if (!ops.ok()) return Status(ops.status().code(), ops.status().message(), Where(dev, seq));
  return ops;
}

void Workspace::Impl::ApplyDeltaOps(uint32_t dev, uint64_t seq, const std::vector<Op>& ops) {
  DeltaMeta& m = feeds_[dev].at(seq);
  if (rules_ && rules_->active()) {
    // Judged in the delta's causal past, so every peer reaches the same verdict.
    m.judged = true;
    m.judged_role = membership_.RoleFor(dev, seq);
    max_judged_hlc_ = std::max(max_judged_hlc_, m.hlc);
    Status verdict = rules_->Check(dev, m.judged_role, Past{&m.vv, dev, seq, BarrierVv()}, ops);
    if (!verdict.ok()) {
      m.refused = verdict.message();
      m.status = DeltaStatus::kInvalid;
      return;
    }
  } else {
    for (const Op& op : ops) {
      if (op.kind != OpKind::kUpgrade) continue;
      m.refused = "upgrade of a tool in a workspace without tools";
      m.status = DeltaStatus::kInvalid;
      return;
    }
  }
  for (uint32_t i = 0; i < ops.size(); ++i) {
    ApplyOp(table_, ops[i], Stamp{ops[i].hlc, dev, seq, i});
  }
  m.refused.clear();
  m.status = DeltaStatus::kApplied;
}

std::vector<std::pair<uint32_t, uint64_t>> Workspace::Impl::CausalOrder() const {
  // A delta's HLC is above those of the deltas it depends on (checked on delivery), so HLC order
  // puts every delta after its causal past.
  std::vector<std::pair<uint32_t, uint64_t>> order;
  for (uint32_t d = 0; d < feeds_.size(); ++d) {
    for (uint64_t s = feeds_[d].base + 1; s <= feeds_[d].head(); ++s) order.emplace_back(d, s);
  }
  std::sort(order.begin(), order.end(), [this](const auto& a, const auto& b) {
    uint64_t ha = feeds_[a.first].at(a.second).hlc;
    uint64_t hb = feeds_[b.first].at(b.second).hlc;
    if (ha != hb) return ha < hb;
    return a < b;
  });
  return order;
}

void Workspace::Impl::ApplyReadyDeltas(store::WriteBatch& wb) {
  // Deltas that became valid, or whose key arrived: ops commute, so applying them now is the
  // same as having applied them on arrival. Only membership and key changes alter verdicts.
  if (!statuses_dirty_) return;
  statuses_dirty_ = false;
  for (auto [d, s] : CausalOrder()) {
    DeltaMeta& m = feeds_[d].at(s);
    DeltaStatus now = StatusOf(d, s);
    // A rule's verdict changes only with membership, which rebuilds everything.
    if (m.status == now || m.status == DeltaStatus::kApplied || !m.refused.empty()) continue;
    if (now == DeltaStatus::kApplied) {
      auto raw = RawDelta(d, s);
      w::Delta delta;
      w::DeltaBody body;
      if (!raw.ok() || !delta.ParseFromArray(raw->data(), static_cast<int>(raw->size())) ||
          !body.ParseFromString(delta.body())) {
        continue;
      }
      auto ops = OpenOps(d, s, body);
      if (!ops.ok()) {
        m.malformed = ops.status().message();
        now = DeltaStatus::kInvalid;
      } else {
        ApplyDeltaOps(d, s, *ops);
        now = m.status;
      }
    }
    m.status = now;
    wb.SetDeltaStatus(id_, devices_[d], s, static_cast<int32_t>(now));
  }
}

Status Workspace::Impl::RebuildAll(store::WriteBatch& wb) {
  table_.Clear();
  if (rules_) rules_->Clear();
  max_judged_hlc_ = 0;
  rebuild_needed_ = false;
  if (base_) GROVE_RETURN_IF_ERROR(LoadBaseState());
  for (auto [d, s] : CausalOrder()) {
    if (InBase(d, s)) continue;  // the checkpoint holds their effect
    DeltaMeta& m = feeds_[d].at(s);
    m.refused.clear();
    m.judged = false;
    DeltaStatus now = StatusOf(d, s);
    if (now == DeltaStatus::kApplied && m.has_sealed) {
      GROVE_ASSIGN_OR_RETURN(Bytes raw, RawDelta(d, s));
      w::Delta delta;
      w::DeltaBody body;
      if (!delta.ParseFromArray(raw.data(), static_cast<int>(raw.size())) ||
          !body.ParseFromString(delta.body())) {
        return Corruption("stored delta does not decode", Where(d, s));
      }
      auto ops = OpenOps(d, s, body);
      if (ops.ok()) {
        const DeltaStatus stored = m.status;  // written below only if it changes
        ApplyDeltaOps(d, s, *ops);
        now = m.status;
        m.status = stored;
      } else {
        m.malformed = ops.status().message();
        now = DeltaStatus::kInvalid;
      }
    }
    if (m.status != now) wb.SetDeltaStatus(id_, devices_[d], s, static_cast<int32_t>(now));
    m.status = now;
  }
  const uint64_t pending_seq = feeds_[me_dev_].head() + 1;
  for (uint32_t i = 0; i < pending_.size(); ++i) {
    // Accepted when they were made; the peers that receive them judge them again.
    const Stamp stamp{pending_[i].op.hlc, me_dev_, pending_seq, i};
    ApplyOp(table_, pending_[i].op, stamp);
    if (rules_) rules_->Note(pending_[i].op, stamp);
  }
  wb.ClearRecords(id_);
  return Status::Ok();
}

void Workspace::Impl::PersistDirty(store::WriteBatch& wb, std::vector<RecordId>* changed) {
  for (const auto& [key, r] : table_.TakeDirty()) {
    if (changed) changed->push_back(IdOf(key));
    Bytes k(devices_[key.dev].begin(), devices_[key.dev].end());
    PutVarint(k, key.n);
    if (r) {
      wb.PutRecord(id_, std::move(k), table_.Encode(*r));
    } else {
      wb.DeleteRecord(id_, k);
    }
  }
}

Workspace::Impl::ZstdContexts::ZstdContexts()
    : compress(ZSTD_createCCtx()), decompress(ZSTD_createDCtx()) {}
Workspace::Impl::ZstdContexts::~ZstdContexts() {
  ZSTD_freeCCtx(compress);
  ZSTD_freeDCtx(decompress);
}

Status Workspace::Impl::Fail(Status s) {
  broken_ = s;
  return s;
}

}  // namespace grove::replica
