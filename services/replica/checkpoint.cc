// Checkpoints: making one, starting a replica from one, and the barrier a trusted one sets
// (docs/decisions/0011-checkpoints-settle-history.md).
#include <algorithm>
#include <cstring>
#include <map>

#include <zstd.h>

#include "replica/workspace_impl.h"

namespace grove::replica {
namespace {

namespace w = grove::wire::v1;

constexpr uint32_t kCheckpointFormat = 1;
// Members whose claims of the same checkpoint make it trusted without an owner's.
constexpr size_t kCheckpointQuorum = 2;
// Checkpoints are kept compressed: most of one is record state, which compresses well.
constexpr int kCheckpointZstdLevel = 3;
constexpr uint64_t kMaxCheckpointBytes = 4ull << 30;

Hash32 DeviceOf(const std::string& bytes) {
  Hash32 h{};
  if (bytes.size() == 32) std::memcpy(h.data(), bytes.data(), 32);
  return h;
}

}  // namespace

void Workspace::Impl::PutCheckpoint(store::WriteBatch& wb, const Hash32& id, ByteView bytes) {
  Bytes packed(ZSTD_compressBound(bytes.size()));
  size_t n = ZSTD_compressCCtx(zstd_.compress, packed.data(), packed.size(), bytes.data(),
                               bytes.size(), kCheckpointZstdLevel);
  if (ZSTD_isError(n)) {
    packed.assign(bytes.begin(), bytes.end());  // kept as it is; LoadCheckpoint tells them apart
  } else {
    packed.resize(n);
  }
  wb.PutCheckpoint(id_, id, packed);
}

Result<std::optional<Bytes>> Workspace::Impl::LoadCheckpoint(const Hash32& id) {
  GROVE_ASSIGN_OR_RETURN(auto packed, store_.GetCheckpoint(id_, id));
  if (!packed) return std::optional<Bytes>();
  unsigned long long size = ZSTD_getFrameContentSize(packed->data(), packed->size());
  if (size == ZSTD_CONTENTSIZE_ERROR) {  // stored uncompressed
    if (crypto::Sha256(*packed) != id) {
      return Corruption("stored checkpoint does not match its id", HexEncode(id));
    }
    return packed;
  }
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size > kMaxCheckpointBytes) {
    return Corruption("stored checkpoint has a bad or oversized frame", HexEncode(id));
  }
  Bytes bytes(size);
  size_t got = ZSTD_decompressDCtx(zstd_.decompress, bytes.data(), bytes.size(), packed->data(),
                                   packed->size());
  if (ZSTD_isError(got) || got != size || crypto::Sha256(bytes) != id) {
    return Corruption("stored checkpoint does not match its id", HexEncode(id));
  }
  return std::optional<Bytes>(std::move(bytes));
}

uint64_t Workspace::Impl::HlcOf(uint32_t dev, uint64_t seq) const {
  if (dev >= feeds_.size()) return 0;
  const Feed& feed = feeds_[dev];
  if (feed.Holds(seq)) return feed.at(seq).hlc;
  return seq == feed.base ? feed.base_hlc : 0;
}

void Workspace::Impl::NoteAdmission(uint32_t dev, uint64_t seq, const PlainOp& op) {
  if (op.kind == PlainOp::Kind::kSetMember || op.kind == PlainOp::Kind::kGenesis) {
    admissions_.push_back(Admission{dev, seq, op.target});
  }
}

Result<Bytes> Workspace::Impl::BuildCheckpoint(const std::vector<uint64_t>* at, bool seal) {
  if (!broken_.ok()) return broken_;
  if (seal) {
    GROVE_RETURN_IF_ERROR(SealWith({}, false));
  } else if (!pending_.empty() || rebuild_needed_) {
    return FailedPrecondition("the state here is not settled yet");
  }
  std::vector<uint64_t> v = at ? *at : current_vv_;
  v.resize(feeds_.size(), 0);
  for (uint32_t d = 0; d < feeds_.size(); ++d) {
    const Feed& feed = feeds_[d];
    if (v[d] > feed.head() || (v[d] < feed.base)) {
      return FailedPrecondition("the checkpoint's version is not held here", Where(d, v[d]));
    }
    for (uint64_t s = feed.base + 1; s <= feed.head(); ++s) {
      const DeltaMeta& m = feed.at(s);
      if (m.status == DeltaStatus::kAwaitingKey && !InBase(d, s)) {
        // Its ops are missing from this replica's state, so the checkpoint would be wrong (under
        // the base, the base holds their effect).
        return FailedPrecondition("a delta held here awaits its content key; no checkpoint yet");
      }
      if (s > v[d] && m.has_sealed) {
        // The state here has record changes the checkpoint must not have.
        return FailedPrecondition("records changed after the checkpoint's version", Where(d, s));
      }
    }
  }
  if (awaiting_base_) return FailedPrecondition("the trusted checkpoint is not held here yet");
  w::Checkpoint cp;
  cp.set_format(kCheckpointFormat);
  cp.set_workspace(id_.data(), id_.size());
  if (base_) {
    cp.set_genesis(base_->genesis.data(), base_->genesis.size());
  } else {
    std::optional<uint32_t> creator;
    for (uint32_t d = 0; d < feeds_.size(); ++d) {
      if (feeds_[d].Holds(1) && feeds_[d].at(1).hash == id_) creator = d;
    }
    if (!creator) return Internal("genesis delta not held");
    GROVE_ASSIGN_OR_RETURN(Bytes genesis, RawDelta(*creator, 1));
    cp.set_genesis(genesis.data(), genesis.size());
  }

  // Feeds, by device id.
  std::vector<uint32_t> order;
  for (uint32_t d = 0; d < feeds_.size(); ++d) {
    if (v[d] > 0) order.push_back(d);
  }
  std::sort(order.begin(), order.end(),
            [this](uint32_t a, uint32_t b) { return devices_[a] < devices_[b]; });
  for (uint32_t d : order) {
    const Feed& feed = feeds_[d];
    const bool at_base = v[d] == feed.base;
    w::CheckpointFeed* f = cp.add_feeds();
    f->set_device(devices_[d].data(), 32);
    f->set_seq(v[d]);
    const Hash32& head = at_base ? feed.base_hash : feed.at(v[d]).hash;
    f->set_head(head.data(), 32);
    f->set_hlc(at_base ? feed.base_hlc : feed.at(v[d]).hlc);
    const std::vector<uint64_t>& vv = at_base ? feed.base_vv : feed.at(v[d]).vv;
    for (uint32_t o : order) {
      if (o < vv.size() && vv[o] > 0) {
        w::VersionEntry* e = f->add_context();
        e->set_device(devices_[o].data(), 32);
        e->set_seq(vv[o]);
      }
    }
    f->set_forked_at(feed.forked_at);
  }

  // The plain ops that count: pinned ones of the base, then those of held deltas outside it.
  std::vector<std::pair<Stamp, w::CheckpointPlain>> plain;
  if (base_) {
    for (size_t i = 0; i < base_->plain.size(); ++i) {
      plain.emplace_back(base_->plain[i].stamp, base_->wire_plain[i]);
    }
  }
  for (uint32_t d = 0; d < feeds_.size(); ++d) {
    for (uint64_t s = feeds_[d].base + 1; s <= feeds_[d].head(); ++s) {
      const DeltaMeta& m = feeds_[d].at(s);
      if (s > v[d] || m.plain.empty() || InBase(d, s) || excluded_.count({d, s})) continue;
      if (membership_.refused().count({d, s})) continue;
      GROVE_ASSIGN_OR_RETURN(Bytes raw, RawDelta(d, s));
      w::Delta delta;
      w::DeltaBody body;
      if (!delta.ParseFromArray(raw.data(), static_cast<int>(raw.size())) ||
          !body.ParseFromString(delta.body())) {
        return Corruption("stored delta does not decode", Where(d, s));
      }
      for (int i = 0; i < body.plain_size(); ++i) {
        w::CheckpointPlain p;
        p.set_author(devices_[d].data(), 32);
        p.set_seq(s);
        p.set_hlc(m.hlc);
        p.set_idx(static_cast<uint32_t>(i));
        *p.mutable_op() = body.plain(i);
        plain.emplace_back(Stamp{m.hlc, d, s, static_cast<uint32_t>(i)}, std::move(p));
      }
    }
  }
  std::sort(plain.begin(), plain.end(),
            [this](const auto& a, const auto& b) { return table_.Less(a.first, b.first); });
  for (auto& [stamp, p] : plain) *cp.add_plain() = std::move(p);

  // Records, by (device id, n).
  std::vector<std::pair<RecordId, const Record*>> records;
  for (const auto& [key, r] : table_.all()) records.emplace_back(IdOf(key), &r);
  std::sort(records.begin(), records.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [id, r] : records) {
    w::CheckpointRecord* out = cp.add_records();
    out->set_device(id.device.data(), 32);
    out->set_n(id.n);
    Bytes state = table_.Encode(*r);
    out->set_state(state.data(), state.size());
  }
  if (rules_ && rules_->active()) {
    Bytes summary = rules_->Summarize(v);
    cp.set_rules(summary.data(), summary.size());
  }
  std::string out;
  cp.SerializeToString(&out);
  return ToBytes(out);
}

Status Workspace::Impl::UseBase(const Hash32& id, Bytes bytes, store::WriteBatch* wb) {
  w::Checkpoint cp;
  if (!cp.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Corruption("checkpoint does not decode");
  }
  if (cp.format() != kCheckpointFormat) {
    return InvalidArgument("unsupported checkpoint format " + std::to_string(cp.format()));
  }
  if (cp.workspace().size() != 32 || std::memcmp(cp.workspace().data(), id_.data(), 32) != 0) {
    return InvalidArgument("checkpoint belongs to another workspace");
  }
  Base base;
  base.id = id;
  base.genesis = ToBytes(cp.genesis());
  // Checked first, interned after: a malformed checkpoint changes nothing.
  for (const w::CheckpointFeed& f : cp.feeds()) {
    if (f.device().size() != 32 || f.seq() == 0 || f.head().size() != 32 || f.hlc() == 0) {
      return Corruption("checkpoint feed is malformed");
    }
    for (const w::VersionEntry& e : f.context()) {
      if (e.device().size() != 32) return Corruption("checkpoint feed context is malformed");
    }
  }
  for (const w::CheckpointPlain& p : cp.plain()) {
    if (p.author().size() != 32 || p.seq() == 0) return Corruption("checkpoint op is malformed");
  }
  for (const w::CheckpointRecord& r : cp.records()) {
    if (r.device().size() != 32) return Corruption("checkpoint record is malformed");
  }
  for (const w::CheckpointFeed& f : cp.feeds()) {
    uint32_t d = DeviceIndex(DeviceOf(f.device()));
    if (base.vv.size() <= d) base.vv.resize(d + 1, 0);
    base.vv[d] = f.seq();
  }
  for (const w::CheckpointPlain& p : cp.plain()) {
    auto op = ParsePlainOp(p.op(), *this);
    if (!op.ok()) return op.status().Annotate("checkpoint op");
    uint32_t author = DeviceIndex(DeviceOf(p.author()));
    base.ops.push_back(std::make_unique<PlainOp>(std::move(op).value()));
    base.plain.push_back(PlainEntry{Stamp{p.hlc(), author, p.seq(), p.idx()}, base.ops.back().get(),
                                    /*pinned=*/true});
    base.wire_plain.push_back(p);
  }
  base.vv.resize(devices_.size(), 0);
  if (wb) {
    for (const w::CheckpointFeed& f : cp.feeds()) {
      uint32_t d = DeviceIndex(DeviceOf(f.device()));
      Feed& feed = feeds_[d];
      if (feed.head() >= f.seq()) continue;  // holds it already
      if (!feed.deltas.empty()) wb->DeleteDeltasUpTo(id_, devices_[d], feed.head());
      for (auto it = incoming_.begin(); it != incoming_.end();) {
        it = it->first.first == d && it->first.second <= f.seq() ? incoming_.erase(it) : ++it;
      }
      feed.deltas.clear();
      feed.base = f.seq();
      std::memcpy(feed.base_hash.data(), f.head().data(), 32);
      feed.base_hlc = f.hlc();
      feed.base_vv.assign(devices_.size(), 0);
      for (const w::VersionEntry& e : f.context()) {
        uint32_t o = DeviceIndex(DeviceOf(e.device()));
        if (feed.base_vv.size() <= o) feed.base_vv.resize(o + 1, 0);
        feed.base_vv[o] = e.seq();
      }
      if (feed.base_vv.size() <= d) feed.base_vv.resize(d + 1, 0);
      feed.base_vv[d] = f.seq() - 1;
      feed.forked_at = std::max(feed.forked_at, f.forked_at());
      current_vv_[d] = f.seq();
      hlc_.Observe(f.hlc());
    }
  }
  admissions_.erase(std::remove_if(admissions_.begin(), admissions_.end(),
                                   [&](const Admission& a) {
                                     return a.dev < base.vv.size() && a.seq <= base.vv[a.dev];
                                   }),
                    admissions_.end());
  for (const PlainEntry& e : base.plain) NoteAdmission(e.stamp.dev, e.stamp.seq, *e.op);
  for (const PlainEntry& e : base.plain) OpenBoxes(*e.op);
  base.bytes = std::move(bytes);
  const bool trusted = base_ && base_->id == id && base_->trusted;
  base_ = std::move(base);
  base_->trusted = trusted;
  if (awaiting_base_ == id) awaiting_base_.reset();
  rebuild_needed_ = true;
  return Status::Ok();
}

Status Workspace::Impl::LoadBaseState() {
  w::Checkpoint cp;
  if (!cp.ParseFromArray(base_->bytes.data(), static_cast<int>(base_->bytes.size()))) {
    return Corruption("checkpoint does not decode");
  }
  for (const w::CheckpointRecord& r : cp.records()) {
    RecordKey key{DeviceIndex(DeviceOf(r.device())), r.n()};
    if (!table_.Decode(key, AsBytes(r.state()))) {
      return Corruption("checkpoint record does not decode",
                        RecordId{DeviceOf(r.device()), r.n()}.Text());
    }
  }
  if (rules_ && rules_->active()) {
    GROVE_RETURN_IF_ERROR(rules_->LoadSummary(AsBytes(cp.rules())));
  }
  return Status::Ok();
}

bool Workspace::Impl::ClaimTally::Trusted() const {
  return proposed && (owner || members.size() >= kCheckpointQuorum);
}

std::optional<uint32_t> Workspace::Impl::Proposer() const {
  // The creator's genesis op is the one admission a device makes of itself at its first delta.
  for (const Admission& a : admissions_) {
    if (a.seq == 1 && a.dev == a.target) return a.dev;
  }
  return std::nullopt;
}

std::map<Hash32, Workspace::Impl::ClaimTally> Workspace::Impl::Claims() const {
  // Claims that count: in deltas that are not malformed or forked, by a device that was a member
  // in the claim's own causal past. A later removal does not take a claim back (its cut-off
  // voids the member's deltas, not a trust already given): trust never goes away once given.
  const std::optional<uint32_t> proposer = Proposer();
  std::map<Hash32, ClaimTally> tally;
  auto count = [&](const PlainEntry& e) {
    if (e.op->kind != PlainOp::Kind::kClaim) return;
    if (!e.pinned) {
      const Feed& feed = feeds_[e.stamp.dev];
      if (!feed.at(e.stamp.seq).malformed.empty() ||
          (feed.forked_at && e.stamp.seq >= feed.forked_at)) {
        return;
      }
    }
    // Only what the claiming delta had seen may be claimed.
    const std::vector<uint64_t>* vv = e.pinned ? nullptr : VvOf(e.stamp.dev, e.stamp.seq);
    for (const auto& [d, s] : e.op->version) {
      uint64_t seen = d == e.stamp.dev ? e.stamp.seq - 1 : (vv && d < vv->size() ? (*vv)[d] : 0);
      if (!e.pinned && s > seen) return;
    }
    auto member = membership_.members().find(e.stamp.dev);
    if (member == membership_.members().end()) return;
    const Past past{vv, e.stamp.dev, e.stamp.seq};
    Role role = Role::kNone;
    for (const replica::Grant& g : member->second.grants) {
      if (past.Contains(g.by)) role = g.role;
    }
    if (role == Role::kNone) return;
    ClaimTally& t = tally[e.op->checkpoint];
    t.proposed |= proposer == e.stamp.dev;
    t.version.assign(devices_.size(), 0);
    t.weight = 0;
    for (const auto& [d, s] : e.op->version) {
      if (t.version.size() <= d) t.version.resize(d + 1, 0);
      t.version[d] = s;
      t.weight += s;
    }
    t.owner |= proposer == e.stamp.dev && role == Role::kOwner;
    t.members.insert(e.stamp.dev);
  };
  if (base_) {
    for (const PlainEntry& e : base_->plain) count(e);
  }
  for (uint32_t d = 0; d < feeds_.size(); ++d) {
    for (uint64_t s = feeds_[d].base + 1; s <= feeds_[d].head(); ++s) {
      if (InBase(d, s)) continue;
      const DeltaMeta& m = feeds_[d].at(s);
      for (uint32_t i = 0; i < m.plain.size(); ++i) {
        count(PlainEntry{Stamp{m.hlc, d, s, i}, m.plain[i].get()});
      }
    }
  }
  return tally;
}

bool Workspace::Impl::UpdateBarrier() {
  // A replica of a non-member (a relay) holds no content: no checkpoint to build on. It keeps
  // the whole history, which is what members coming back need of it.
  if (membership_.CurrentRole(me_dev_) == Role::kNone) {
    awaiting_base_.reset();
    return false;
  }
  const std::map<Hash32, ClaimTally> tally = Claims();
  std::optional<std::pair<uint64_t, Hash32>> best;
  for (const auto& [id, t] : tally) {
    if (!t.Trusted()) continue;
    if (!best || std::make_pair(t.weight, id) > *best) best = std::make_pair(t.weight, id);
  }
  if (base_) base_->trusted = best && best->second == base_->id;
  if (!best) {
    // None is trusted (any more: a removal's cut-off can void a claim of the quorum): none is
    // awaited either.
    awaiting_base_.reset();
    return false;
  }
  if (base_ && (base_->id == best->second || best->first <= Weight(base_->vv))) {
    // In force already; or this replica was started from a newer checkpoint, not trusted yet,
    // and cannot go back to an older one.
    awaiting_base_.reset();
    return false;
  }
  auto held = LoadCheckpoint(best->second);
  if (held.ok() && !held->has_value()) {
    // A replica that holds what it settles and nothing else that changes records computes it.
    auto built = BuildCheckpoint(&tally.at(best->second).version, /*seal=*/false);
    if (built.ok() && crypto::Sha256(*built) == best->second) {
      store::WriteBatch wb;
      PutCheckpoint(wb, best->second, *built);
      if (store_.Write(wb).ok()) *held = std::move(built).value();
    }
  }
  if (!held.ok() || !held->has_value()) {
    awaiting_base_ = best->second;
    return false;
  }
  Status s = UseBase(best->second, std::move(**held), nullptr);
  if (!s.ok()) {
    if (problems_.size() < 1000) problems_.push_back(s.Annotate("trusted checkpoint"));
    awaiting_base_ = best->second;
    return false;
  }
  base_->trusted = true;
  return true;
}

Status Workspace::Impl::InitFromCheckpoint(ByteView checkpoint) {
  w::Checkpoint cp;
  if (!cp.ParseFromArray(checkpoint.data(), static_cast<int>(checkpoint.size()))) {
    return Corruption("checkpoint does not decode");
  }
  w::Delta delta;
  w::DeltaBody body;
  if (!delta.ParseFromString(cp.genesis()) || !body.ParseFromString(delta.body()) ||
      body.seq() != 1 || !body.workspace().empty() || body.plain_size() == 0 ||
      !body.plain(0).has_genesis()) {
    return Corruption("checkpoint's genesis delta does not decode");
  }
  id_ = crypto::Sha256(AsBytes(delta.body()));
  name_ = body.plain(0).genesis().name();
  GROVE_RETURN_IF_ERROR(InitTools(body.plain(0).genesis()));
  Bytes bytes(checkpoint.begin(), checkpoint.end());
  const Hash32 cp_id = crypto::Sha256(bytes);
  store::WriteBatch wb;
  GROVE_RETURN_IF_ERROR(UseBase(cp_id, bytes, &wb));
  wb.PutWorkspace(id_, AsBytes(name_));
  PutCheckpoint(wb, cp_id, bytes);
  wb.PutMeta(id_, "base", cp_id);
  RecomputeStatuses(wb);
  GROVE_RETURN_IF_ERROR(RebuildAll(wb));
  PersistDirty(wb);
  GROVE_RETURN_IF_ERROR(store_.Write(wb));
  if (membership_.members().empty()) return Corruption("checkpoint has no members");
  return Status::Ok();
}

// --- Workspace (public) ------------------------------------------------------------------------

Result<std::unique_ptr<Workspace>> Workspace::JoinFromCheckpoint(const identity::Identity& me,
                                                                 ByteView checkpoint,
                                                                 store::Store& store, Clock& clock,
                                                                 Random& random, Limits limits) {
  auto impl = std::make_unique<Impl>(me, store, clock, random, limits);
  GROVE_RETURN_IF_ERROR(impl->InitFromCheckpoint(checkpoint));
  return std::unique_ptr<Workspace>(new Workspace(std::move(impl)));
}

Result<Bytes> Workspace::MakeCheckpoint() {
  GROVE_ASSIGN_OR_RETURN(Bytes bytes, impl_->BuildCheckpoint(nullptr, /*seal=*/true));
  store::WriteBatch wb;
  impl_->PutCheckpoint(wb, crypto::Sha256(bytes), bytes);
  Status s = impl_->store_.Write(wb);
  if (!s.ok()) return impl_->Fail(s.Annotate("storing a checkpoint"));
  return bytes;
}

Result<CheckpointInfo> Workspace::ClaimCheckpoint() {
  Impl& im = *impl_;
  if (!im.broken_.ok()) return im.broken_;
  if (im.membership_.CurrentRole(im.me_dev_) == Role::kNone) {
    return PermissionDenied("only members may claim a checkpoint");
  }
  if (im.Proposer() != im.me_dev_) {
    return FailedPrecondition(
        "only the device that created the workspace proposes checkpoints; other members attest "
        "them (AttestClaims)");
  }
  GROVE_ASSIGN_OR_RETURN(Bytes bytes, MakeCheckpoint());
  CheckpointInfo info;
  info.id = crypto::Sha256(bytes);
  info.version = im.Version();
  info.bytes = bytes.size();
  w::PlainOp op;
  w::CheckpointClaim* claim = op.mutable_claim_checkpoint();
  claim->set_checkpoint(info.id.data(), info.id.size());
  for (const VersionEntry& e : info.version) {
    w::VersionEntry* v = claim->add_version();
    v->set_device(e.device.data(), 32);
    v->set_seq(e.seq);
  }
  GROVE_RETURN_IF_ERROR(im.SealWith({std::move(op)}, true));
  info.trusted = im.base_ && im.base_->id == info.id && im.base_->trusted;
  return info;
}

std::optional<CheckpointInfo> Workspace::Barrier() const {
  const Impl& im = *impl_;
  if (!im.base_) return std::optional<CheckpointInfo>();
  CheckpointInfo info;
  info.id = im.base_->id;
  for (uint32_t d = 0; d < im.base_->vv.size(); ++d) {
    if (im.base_->vv[d] == 0) continue;
    const Feed& feed = im.feeds_[d];
    Hash32 head{};
    if (feed.Holds(im.base_->vv[d])) {
      head = feed.at(im.base_->vv[d]).hash;
    } else if (feed.base == im.base_->vv[d]) {
      head = feed.base_hash;
    }
    info.version.push_back(VersionEntry{im.devices_[d], im.base_->vv[d], head});
  }
  std::sort(info.version.begin(), info.version.end(),
            [](const VersionEntry& a, const VersionEntry& b) { return a.device < b.device; });
  info.bytes = im.base_->bytes.size();
  info.trusted = im.base_->trusted;
  return info;
}

Result<std::optional<CheckpointInfo>> Workspace::AttestClaims() {
  Impl& im = *impl_;
  if (!im.broken_.ok()) return im.broken_;
  if (im.membership_.CurrentRole(im.me_dev_) == Role::kNone) return std::optional<CheckpointInfo>();
  const uint64_t settled = im.base_ ? Impl::Weight(im.base_->vv) : 0;
  std::optional<std::pair<uint64_t, Hash32>> best;
  const auto tally = im.Claims();
  for (const auto& [id, t] : tally) {
    if (!t.proposed || t.Trusted() || t.members.count(im.me_dev_)) continue;
    if (t.weight <= settled) continue;
    if (!best || std::make_pair(t.weight, id) > *best) best = std::make_pair(t.weight, id);
  }
  if (!best) return std::optional<CheckpointInfo>();
  const Impl::ClaimTally& t = tally.at(best->second);
  auto bytes = im.BuildCheckpoint(&t.version, /*seal=*/true);
  if (!bytes.ok()) {
    // Not at that version any more (records changed since), or not there yet: nothing to say.
    if (bytes.status().code() == Code::kFailedPrecondition) return std::optional<CheckpointInfo>();
    return bytes.status();
  }
  if (crypto::Sha256(*bytes) != best->second) {
    if (im.problems_.size() < 1000) {
      im.problems_.push_back(Status(Code::kInternal,
                                    "a member claimed a checkpoint this replica computes "
                                    "differently; not attested",
                                    HexEncode(best->second).substr(0, 16)));
    }
    return std::optional<CheckpointInfo>();
  }
  store::WriteBatch wb;
  im.PutCheckpoint(wb, best->second, *bytes);
  GROVE_RETURN_IF_ERROR(im.store_.Write(wb));
  w::PlainOp op;
  w::CheckpointClaim* claim = op.mutable_claim_checkpoint();
  claim->set_checkpoint(best->second.data(), best->second.size());
  CheckpointInfo info;
  info.id = best->second;
  info.bytes = bytes->size();
  for (uint32_t d = 0; d < t.version.size(); ++d) {
    if (t.version[d] == 0) continue;
    const Feed& feed = im.feeds_[d];
    info.version.push_back(
        VersionEntry{im.devices_[d], t.version[d],
                     t.version[d] == feed.base ? feed.base_hash : feed.at(t.version[d]).hash});
  }
  std::sort(info.version.begin(), info.version.end(),
            [](const VersionEntry& a, const VersionEntry& b) { return a.device < b.device; });
  for (const VersionEntry& e : info.version) {
    w::VersionEntry* v = claim->add_version();
    v->set_device(e.device.data(), 32);
    v->set_seq(e.seq);
  }
  GROVE_RETURN_IF_ERROR(im.SealWith({std::move(op)}, true));
  info.trusted = im.base_ && im.base_->id == info.id && im.base_->trusted;
  return std::optional<CheckpointInfo>(std::move(info));
}

Result<std::optional<Bytes>> Workspace::CheckpointBytes(const Hash32& id) {
  return impl_->LoadCheckpoint(id);
}

std::optional<Hash32> Workspace::MissingCheckpoint() const { return impl_->awaiting_base_; }

Status Workspace::AddCheckpoint(ByteView checkpoint) {
  Impl& im = *impl_;
  if (!im.broken_.ok()) return im.broken_;
  w::Checkpoint cp;
  if (!cp.ParseFromArray(checkpoint.data(), static_cast<int>(checkpoint.size())) ||
      cp.format() != kCheckpointFormat) {
    return Corruption("not a checkpoint");
  }
  if (cp.workspace().size() != 32 || std::memcmp(cp.workspace().data(), im.id_.data(), 32) != 0) {
    return Corruption("checkpoint of another workspace");
  }
  const Hash32 id = crypto::Sha256(checkpoint);
  // Adopted without a trusted claim only by a replica that is behind it (a new member, or one
  // back after the history under it was pruned) and only when it settles more than the base in
  // force: the replica cannot get the deltas under it any more, and the claims that make it
  // trusted come after it.
  uint64_t weight = 0;
  bool behind = false;
  for (const w::CheckpointFeed& f : cp.feeds()) {
    weight += f.seq();
    if (f.device().size() != 32) return Corruption("checkpoint feed is malformed");
    auto dev = im.FindDevice(DeviceOf(f.device()));
    behind |= !dev || im.feeds_[*dev].head() < f.seq();
  }
  const bool awaited = im.awaiting_base_ == id;
  const bool adopt = !awaited && behind && (!im.base_ || weight > Impl::Weight(im.base_->vv));
  store::WriteBatch wb;
  im.PutCheckpoint(wb, id, checkpoint);
  GROVE_RETURN_IF_ERROR(im.store_.Write(wb));
  if (!awaited && !adopt) return Status::Ok();
  wb.Clear();
  GROVE_RETURN_IF_ERROR(im.SealWith({}, false));
  if (adopt) {
    GROVE_RETURN_IF_ERROR(im.UseBase(id, Bytes(checkpoint.begin(), checkpoint.end()), &wb));
    wb.PutMeta(im.id_, "base", id);
  }
  im.RecomputeStatuses(wb);
  if (im.rebuild_needed_) {
    Status s = im.RebuildAll(wb);
    if (!s.ok()) return im.Fail(s);
  }
  im.ApplyReadyDeltas(wb);
  im.PersistDirty(wb);
  Status s = im.store_.Write(wb);
  if (!s.ok()) return im.Fail(s.Annotate("rebuilding on a checkpoint"));
  return Status::Ok();
}

uint64_t Workspace::Impl::Weight(const std::vector<uint64_t>& vv) {
  uint64_t sum = 0;
  for (uint64_t s : vv) sum += s;
  return sum;
}

Result<PruneReport> Workspace::Prune(uint64_t wait_ms) {
  Impl& im = *impl_;
  if (!im.broken_.ok()) return im.broken_;
  PruneReport report;
  if (!im.base_ || !im.base_->trusted) return report;
  const std::vector<uint64_t>& v = im.base_->vv;
  // Members active within wait_ms must have acknowledged V: a delta of theirs whose causal past
  // holds all of V. A member silent for longer catches up from the checkpoint instead.
  const uint64_t now = im.clock_.NowMillis();
  for (const auto& [dev, info] : im.membership_.members()) {
    if (dev == im.me_dev_ || im.membership_.CurrentRole(dev) == Role::kNone) continue;
    const Feed& feed = im.feeds_[dev];
    bool acknowledged = false;
    uint64_t last_seen = 0;
    for (uint64_t s = feed.head(); s > feed.base && !acknowledged; --s) {
      const DeltaMeta& m = feed.at(s);
      last_seen = std::max(last_seen, HlcMillis(m.hlc));
      bool covers = true;
      for (uint32_t d = 0; d < v.size() && covers; ++d) {
        uint64_t seen = d == dev ? s : (d < m.vv.size() ? m.vv[d] : 0);
        covers = seen >= v[d];
      }
      acknowledged = covers;
    }
    if (feed.head() == feed.base) last_seen = HlcMillis(feed.base_hlc);
    for (const replica::Grant& g : info.grants)
      last_seen = std::max(last_seen, HlcMillis(g.by.hlc));
    if (!acknowledged && last_seen + wait_ms > now) report.waiting_for.push_back(im.devices_[dev]);
  }
  if (!report.waiting_for.empty()) return report;
  store::WriteBatch wb;
  for (uint32_t d = 0; d < v.size(); ++d) {
    Feed& feed = im.feeds_[d];
    if (v[d] <= feed.base || !feed.Holds(v[d])) continue;
    const DeltaMeta& last = feed.at(v[d]);
    feed.base_hash = last.hash;
    feed.base_hlc = last.hlc;
    feed.base_vv = last.vv;
    report.deltas += v[d] - feed.base;
    feed.deltas.erase(feed.deltas.begin(),
                      feed.deltas.begin() + static_cast<ptrdiff_t>(v[d] - feed.base));
    feed.base = v[d];
    wb.DeleteDeltasUpTo(im.id_, im.devices_[d], v[d]);
  }
  // Older checkpoints are superseded by the one in force.
  GROVE_ASSIGN_OR_RETURN(auto held, im.store_.ListCheckpoints(im.id_));
  for (const auto& [id, size] : held) {
    if (id != im.base_->id) wb.DeleteCheckpoint(im.id_, id);
  }
  Status s = im.store_.Write(wb);
  if (!s.ok()) return im.Fail(s.Annotate("pruning history"));
  return report;
}

}  // namespace grove::replica
