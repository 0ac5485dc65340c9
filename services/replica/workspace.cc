// Workspace: creation, loading, local actions, sealing, sync helpers and reading.
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "replica/workspace_impl.h"

namespace grove::replica {

Bytes MakeSealAad(const WorkspaceId& ws, const DeviceId& author, uint64_t seq);

namespace {

namespace w = grove::wire::v1;

constexpr int kZstdLevel = 3;

void PutU64(Bytes& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

std::optional<uint64_t> GetU64(const std::optional<Bytes>& b) {
  if (!b || b->size() != 8) return std::nullopt;
  uint64_t v = 0;
  for (uint8_t x : *b) v = v << 8 | x;
  return v;
}

Status CheckName(std::string_view name, std::string_view what) {
  if (name.empty() || name.size() > 256) {
    return InvalidArgument(std::string(what) + " must be 1 to 256 bytes", std::string(what));
  }
  return Status::Ok();
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kOwner:
      return "owner";
    case Role::kMember:
      return "member";
    case Role::kAuditor:
      return "auditor";
    case Role::kReadOnly:
      return "read-only";
    case Role::kNone:
      break;
  }
  return "none";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kOwner, Role::kMember, Role::kAuditor, Role::kReadOnly}) {
    if (name == RoleName(r)) return r;
  }
  return std::nullopt;
}

std::string DeviceText(const DeviceId& device) { return identity::DeviceIdText(device); }

Status CheckAgreement(const Digests& mine, const Digests& theirs) {
  if (mine.version != theirs.version || mine.state == theirs.state || mine.unreadable > 0 ||
      theirs.unreadable > 0) {
    return Status::Ok();
  }
  return Internal("replicas hold the same deltas but computed different states (" +
                      HexEncode(mine.state).substr(0, 16) + " vs " +
                      HexEncode(theirs.state).substr(0, 16) + "): a bug, please report it",
                  "version " + HexEncode(mine.version).substr(0, 16));
}

Workspace::Impl::Impl(const identity::Identity& me, store::Store& store, Clock& clock,
                      Random& random, Limits limits)
    : me_(me), store_(store), clock_(clock), random_(random), limits_(limits), hlc_(clock) {
  me_dev_ = DeviceIndex(me.device());
}

Status Workspace::Impl::CheckWritable() const {
  if (!broken_.ok()) return broken_;
  if (!CanWrite(membership_.CurrentRole(me_dev_))) {
    return PermissionDenied(std::string("this device's role (") +
                            RoleName(membership_.CurrentRole(me_dev_)) +
                            ") does not allow writing records");
  }
  return Status::Ok();
}

// --- Creation and loading ----------------------------------------------------------------------

Status Workspace::Impl::InitGenesis(std::string name, const std::vector<tools::Tool>& tools) {
  GROVE_RETURN_IF_ERROR(CheckName(name, "name"));
  std::vector<const tools::Tool*> set;
  for (const tools::Tool& t : tools) set.push_back(&t);
  auto problems = tools::CheckToolSet(set);
  if (!problems.empty()) return InvalidArgument(problems.front().Text(), "tools");
  w::PlainOp genesis;
  w::Genesis* g = genesis.mutable_genesis();
  g->set_name(name);
  g->set_creator_card(ToString(me_.card().encoded));
  for (const tools::Tool& t : tools) {
    g->add_tools(t.name);
    Bytes canonical = tools::Canonical(t);
    g->add_tool_definitions(canonical.data(), canonical.size());
  }
  Bytes nonce(16);
  random_.Fill(nonce);
  g->set_nonce(nonce.data(), nonce.size());
  // The creator's first content key, sealed to itself.
  std::vector<w::PlainOp> plain{genesis};
  plain.push_back(RotationFor({me_dev_}));
  GROVE_ASSIGN_OR_RETURN(Bytes raw, BuildDelta(std::move(plain), {}, true));
  return InitJoin(raw);
}

Status Workspace::Impl::InitJoin(ByteView genesis_bytes) {
  w::Delta delta;
  w::DeltaBody body;
  if (!delta.ParseFromArray(genesis_bytes.data(), static_cast<int>(genesis_bytes.size())) ||
      !body.ParseFromString(delta.body())) {
    return Corruption("genesis delta does not decode");
  }
  if (body.seq() != 1 || !body.workspace().empty() || body.plain_size() == 0 ||
      !body.plain(0).has_genesis()) {
    return Corruption("not a genesis delta");
  }
  id_ = crypto::Sha256(AsBytes(delta.body()));
  name_ = body.plain(0).genesis().name();
  GROVE_RETURN_IF_ERROR(InitTools(body.plain(0).genesis()));
  store::WriteBatch wb;
  wb.PutWorkspace(id_, AsBytes(name_));
  GROVE_RETURN_IF_ERROR(store_.Write(wb));
  Bytes raw(genesis_bytes.begin(), genesis_bytes.end());
  ApplyReport report = Apply(std::span<const Bytes>(&raw, 1));
  if (!report.store.ok()) return report.store;
  if (!report.rejected.empty()) return report.rejected.front().Annotate("genesis delta");
  if (feeds_.empty() || membership_.members().empty()) {
    return Corruption("genesis delta was not accepted");
  }
  return Status::Ok();
}

Status Workspace::Impl::Load(const WorkspaceId& id) {
  id_ = id;
  GROVE_ASSIGN_OR_RETURN(auto workspaces, store_.ListWorkspaces());
  bool found = false;
  for (const auto& [ws, info] : workspaces) {
    if (ws == id) found = true;
  }
  if (!found) return NotFound("workspace " + HexEncode(id) + " is not in this store");

  // The checkpoint this replica is built on, if any: its feeds may start after it.
  GROVE_ASSIGN_OR_RETURN(auto base_id, store_.GetMeta(id, "base"));
  if (base_id) {
    auto cp_id = ToHash32(*base_id);
    if (!cp_id) return Corruption("stored base checkpoint id is malformed");
    GROVE_ASSIGN_OR_RETURN(auto bytes, LoadCheckpoint(*cp_id));
    if (!bytes) return Corruption("the checkpoint this replica is built on is not in the store");
    w::Checkpoint cp;
    w::Delta delta;
    w::DeltaBody body;
    if (!cp.ParseFromArray(bytes->data(), static_cast<int>(bytes->size())) ||
        !delta.ParseFromString(cp.genesis()) || !body.ParseFromString(delta.body()) ||
        body.plain_size() == 0 || !body.plain(0).has_genesis()) {
      return Corruption("stored base checkpoint does not decode");
    }
    name_ = body.plain(0).genesis().name();
    GROVE_RETURN_IF_ERROR(InitTools(body.plain(0).genesis()));
    store::WriteBatch unused;  // nothing is held yet, so nothing is dropped
    GROVE_RETURN_IF_ERROR(UseBase(*cp_id, std::move(*bytes), &unused));
  }

  // Feeds, in (author, seq) order: rebuild the metadata without re-verifying our own store.
  Status inner;
  GROVE_RETURN_IF_ERROR(store_.ForEachDelta(id, [&](const store::DeltaRow& row) {
    w::Delta delta;
    w::DeltaBody body;
    if (!delta.ParseFromArray(row.bytes.data(), static_cast<int>(row.bytes.size())) ||
        !body.ParseFromString(delta.body())) {
      inner = Corruption("stored delta does not decode",
                         HexEncode(row.author) + "/" + std::to_string(row.seq));
      return false;
    }
    uint32_t dev = DeviceIndex(row.author);
    Feed& feed = feeds_[dev];
    if (row.seq == 1 && feed.base > 0 && feed.deltas.empty()) {
      feed = Feed{};  // the whole feed is held: the checkpoint is a barrier only
      current_vv_[dev] = 0;
    }
    if (row.seq != feed.head() + 1) {
      inner = Corruption("stored feed has a gap", Where(dev, row.seq));
      return false;
    }
    if (row.seq == 1 && row.hash == id_ && body.plain_size() > 0 && body.plain(0).has_genesis()) {
      name_ = body.plain(0).genesis().name();
      inner = InitTools(body.plain(0).genesis());
      if (!inner.ok()) return false;
    }
    DeltaMeta m;
    m.hash = row.hash;
    m.hlc = body.hlc();
    m.vv = row.seq > 1 ? feed.head_vv() : std::vector<uint64_t>{};
    for (const w::VersionEntry& e : body.context()) {
      uint32_t d = DeviceIndex(*ToHash32(AsBytes(e.device())));
      if (m.vv.size() <= d) m.vv.resize(d + 1, 0);
      m.vv[d] = e.seq();
    }
    if (m.vv.size() <= dev) m.vv.resize(dev + 1, 0);
    m.vv[dev] = row.seq - 1;
    m.status = static_cast<DeltaStatus>(row.status);
    m.has_sealed = body.has_sealed();
    if (m.has_sealed && body.sealed().key_id().size() == 16) {
      KeyId k;
      std::memcpy(k.data(), body.sealed().key_id().data(), 16);
      m.key = k;
    }
    for (int i = 0; i < body.plain_size(); ++i) {
      auto op = ParsePlainOp(body.plain(i), *this);
      if (!op.ok()) {
        m.malformed = "plain op " + std::to_string(i) + ": " + op.status().message();
        m.plain.clear();
        break;
      }
      m.plain.push_back(std::make_unique<PlainOp>(std::move(op).value()));
    }
    for (const auto& op : m.plain) OpenBoxes(*op);
    NoteAdmissions(dev, row.seq, m);
    hlc_.Observe(m.hlc);
    feed.deltas.push_back(std::move(m));
    current_vv_[dev] = row.seq;
    return true;
  }));
  GROVE_RETURN_IF_ERROR(inner);
  for (uint32_t d = 0; d < devices_.size(); ++d) {
    GROVE_ASSIGN_OR_RETURN(auto forked, store_.GetMeta(id_, "forked:" + HexEncode(devices_[d])));
    if (forked) {
      uint64_t seq = 0;
      for (uint8_t c : *forked) {
        if (c < '0' || c > '9' || seq > UINT64_MAX / 10 - 1) {
          return Corruption("stored fork marker is malformed", "forked:" + HexEncode(devices_[d]));
        }
        seq = seq * 10 + (c - '0');
      }
      feeds_[d].forked_at = seq;
    }
  }

  // Materialized records: a cache of what the feeds imply. One that does not decode is rebuilt
  // from the feeds rather than refused.
  GROVE_RETURN_IF_ERROR(store_.ForEachRecord(id, [&](ByteView key, ByteView state) {
    size_t pos = 32;
    auto n = key.size() > 32 ? GetVarint(key, pos) : std::nullopt;
    if (!n || !table_.Decode(RecordKey{DeviceIndex(*ToHash32(key.first(32))), *n}, state)) {
      problems_.push_back(
          Corruption("stored record does not decode; rebuilding from the feeds", HexEncode(key)));
      rebuild_needed_ = true;
    }
    return true;
  }));
  table_.TakeDirty();

  // Pending local actions (already reflected in the records).
  GROVE_ASSIGN_OR_RETURN(auto pending, store_.LoadPending(id));
  for (auto& [index, bytes] : pending) {
    w::OpBatch batch;
    if (!batch.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return Corruption("stored pending action does not decode");
    }
    OpContext ctx{names_, *this, me_dev_, limits_.max_value_bytes};
    GROVE_ASSIGN_OR_RETURN(auto ops, DecodeOps(batch, UINT64_MAX, limits_.max_ops_per_delta, ctx));
    for (Op& op : ops) pending_.push_back(PendingAction{index, std::move(op)});
    pending_bytes_ += bytes.size();
    next_pending_index_ = index + 1;
  }
  GROVE_ASSIGN_OR_RETURN(auto local, store_.GetMeta(id, "local"));
  if (local && local->size() == 24) {
    auto part = [&](size_t i) {
      return GetU64(Bytes(local->begin() + 8 * i, local->begin() + 8 * i + 8));
    };
    next_pending_index_ = std::max(next_pending_index_, *part(0));
    hlc_.Restore(*part(1));
    next_record_n_ = *part(2);
  }

  // Re-derive every verdict; if the stored ones disagree (an older release, a crash between
  // transactions of a rebuild), recompute the state rather than trust it.
  store::WriteBatch wb;
  RecomputeStatuses(wb);
  for (uint32_t d = 0; d < feeds_.size() && !rebuild_needed_; ++d) {
    for (uint64_t s = feeds_[d].base + 1; s <= feeds_[d].head(); ++s) {
      if (feeds_[d].at(s).status != StatusOf(d, s)) rebuild_needed_ = true;
    }
  }
  // The rules judge ops in their causal past, from a journal kept in memory: replay to fill it.
  if (rules_ && rules_->active()) rebuild_needed_ = true;
  if (rebuild_needed_) {
    GROVE_RETURN_IF_ERROR(RebuildAll(wb));
    PersistDirty(wb);
    GROVE_RETURN_IF_ERROR(store_.Write(wb));
  }
  return Status::Ok();
}

Status Workspace::Impl::InitTools(const w::Genesis& genesis) {
  tools_.assign(genesis.tools().begin(), genesis.tools().end());
  tool_definitions_.clear();
  for (const std::string& bytes : genesis.tool_definitions()) {
    auto tool = tools::ParseCanonical(AsBytes(bytes));
    if (!tool.ok()) return tool.status().Annotate("tool definition in the genesis delta");
    tool_definitions_.push_back(std::move(tool).value());
  }
  rules_ = std::make_unique<Rules>(*this, tool_definitions_);
  return Status::Ok();
}

// --- Local actions -----------------------------------------------------------------------------

// One meta row for the counters every local action advances: next pending index, the HLC, and
// the next record number.
Bytes Workspace::Impl::LocalCounters(uint64_t next_pending) const {
  Bytes v;
  PutU64(v, next_pending);
  PutU64(v, hlc_.last());
  PutU64(v, next_record_n_);
  return v;
}

Status Workspace::Impl::CommitLocal(std::vector<Op> ops) {
  const uint64_t seq = feeds_[me_dev_].head() + 1;
  const uint32_t idx = static_cast<uint32_t>(pending_.size());
  if (rules_ && rules_->active()) {
    // The same check every peer will make when the delta arrives (see rules.h).
    GROVE_RETURN_IF_ERROR(rules_->Check(me_dev_, membership_.CurrentRole(me_dev_),
                                        Past{nullptr, me_dev_, seq}, ops, idx));
  }
  OpContext ctx{names_, *this, me_dev_, limits_.max_value_bytes};
  std::string encoded;
  EncodeOps(ops, ctx).SerializeToString(&encoded);

  for (uint32_t i = 0; i < ops.size(); ++i) {
    ApplyOp(table_, ops[i], Stamp{ops[i].hlc, me_dev_, seq, idx + i});
  }
  store::WriteBatch wb;
  wb.PutPending(id_, next_pending_index_, AsBytes(encoded));
  wb.PutMeta(id_, "local", LocalCounters(next_pending_index_ + 1));
  PersistDirty(wb);
  Status s = store_.Write(wb);
  if (!s.ok()) return Fail(s.Annotate("storing a local action"));
  for (Op& op : ops) pending_.push_back(PendingAction{next_pending_index_, std::move(op)});
  ++next_pending_index_;
  pending_bytes_ += encoded.size();
  if (pending_.size() >= limits_.seal_after_ops || pending_bytes_ >= limits_.seal_after_bytes) {
    return SealWith({}, false);
  }
  return Status::Ok();
}

std::optional<KeyId> Workspace::Impl::ChooseKey() const {
  // The newest key this device holds whose recipients are all still members.
  std::optional<KeyId> best;
  const Stamp* best_stamp = nullptr;
  for (const auto& [id, info] : membership_.keys()) {
    if (!keys_.count(id)) continue;
    bool safe = std::all_of(info.recipients.begin(), info.recipients.end(),
                            [&](uint32_t d) { return membership_.CurrentRole(d) != Role::kNone; });
    if (safe && (!best_stamp || table_.Less(*best_stamp, info.introduced))) {
      best = id;
      best_stamp = &info.introduced;
    }
  }
  return best;
}

w::PlainOp Workspace::Impl::RotationFor(const std::vector<uint32_t>& recipients) {
  crypto::SymmetricKey key = crypto::SymmetricKey::Generate(random_);
  KeyId id;
  random_.Fill(id);
  w::PlainOp op;
  w::KeyRotation* r = op.mutable_rotate_key();
  r->set_key_id(id.data(), id.size());
  for (uint32_t d : recipients) {
    const crypto::PublicKey* agree = nullptr;
    if (d == me_dev_) {
      agree = &me_.card().agree_key;
    } else if (auto it = membership_.members().find(d); it != membership_.members().end()) {
      agree = &it->second.card.agree_key;
    }
    if (!agree) continue;
    auto box = crypto::SealTo(*agree, key.bytes(), random_);
    if (!box.ok()) continue;
    w::SealedKey* s = r->add_sealed();
    s->set_device(devices_[d].data(), 32);
    s->set_box(box->data(), box->size());
  }
  keys_.emplace(id, std::move(key));
  return op;
}

Result<Bytes> Workspace::Impl::BuildDelta(std::vector<w::PlainOp> plain, const std::vector<Op>& ops,
                                          bool genesis) {
  const Feed& feed = feeds_[me_dev_];
  const uint64_t seq = feed.head() + 1;
  w::DeltaBody body;
  body.set_format(1);
  if (!genesis) body.set_workspace(id_.data(), id_.size());
  body.set_author(me_.device().data(), 32);
  body.set_seq(seq);
  if (seq > 1) body.set_prev(feed.head_hash().data(), 32);
  uint64_t max_dep_hlc = seq > 1 ? feed.head_hlc() : 0;
  // Context as changes since this device's previous delta, exactly as receivers rebuild it (also
  // when that delta came back from elsewhere, e.g. after a restore).
  const std::vector<uint64_t>* prev_vv = seq > 1 ? &feed.head_vv() : nullptr;
  for (uint32_t d = 0; d < current_vv_.size(); ++d) {
    uint64_t before = prev_vv && d < prev_vv->size() ? (*prev_vv)[d] : 0;
    if (d == me_dev_ || current_vv_[d] <= before) continue;
    w::VersionEntry* e = body.add_context();
    e->set_device(devices_[d].data(), 32);
    e->set_seq(current_vv_[d]);
    max_dep_hlc = std::max(max_dep_hlc, HlcOf(d, current_vv_[d]));
  }
  // A dependency may carry a timestamp past our clock's drift bound; stay after it regardless.
  uint64_t hlc = std::max(hlc_.Now(), max_dep_hlc + 1);
  if (!ops.empty()) hlc = std::max(hlc, ops.back().hlc);
  hlc_.Observe(hlc);
  body.set_hlc(hlc);

  if (!ops.empty()) {
    std::optional<KeyId> key = ChooseKey();
    std::vector<uint32_t> members;
    for (const auto& [d, info] : membership_.members()) {
      if (membership_.CurrentRole(d) != Role::kNone) members.push_back(d);
    }
    if (!key) {
      plain.push_back(RotationFor(members));
      key = KeyId{};
      std::memcpy(key->data(), plain.back().rotate_key().key_id().data(), 16);
    } else {
      // Members the key has not reached yet (added concurrently) get it now.
      const KeyInfo& info = membership_.keys().at(*key);
      w::PlainOp share;
      share.mutable_share_key()->set_key_id(key->data(), key->size());
      for (uint32_t d : members) {
        if (info.recipients.count(d)) continue;
        auto box = crypto::SealTo(membership_.members().at(d).card.agree_key,
                                  keys_.at(*key).bytes(), random_);
        if (!box.ok()) continue;
        w::SealedKey* s = share.mutable_share_key()->add_sealed();
        s->set_device(devices_[d].data(), 32);
        s->set_box(box->data(), box->size());
      }
      if (share.share_key().sealed_size() > 0) plain.push_back(std::move(share));
    }
    OpContext ctx{names_, *this, me_dev_, limits_.max_value_bytes};
    std::string batch;
    EncodeOps(ops, ctx).SerializeToString(&batch);
    Bytes compressed(ZSTD_compressBound(batch.size()));
    size_t n = ZSTD_compressCCtx(zstd_.compress, compressed.data(), compressed.size(), batch.data(),
                                 batch.size(), kZstdLevel);
    if (ZSTD_isError(n)) return Internal("zstd compression failed");
    compressed.resize(n);
    Bytes nonce(crypto::kNonceSize);
    random_.Fill(nonce);
    GROVE_ASSIGN_OR_RETURN(
        Bytes ciphertext,
        crypto::AeadSeal(keys_.at(*key), nonce, MakeSealAad(id_, me_.device(), seq), compressed));
    w::Sealed* sealed = body.mutable_sealed();
    sealed->set_key_id(key->data(), key->size());
    sealed->set_nonce(nonce.data(), nonce.size());
    sealed->set_codec(1);
    sealed->set_ciphertext(ciphertext.data(), ciphertext.size());
  }
  for (w::PlainOp& op : plain) *body.add_plain() = std::move(op);

  w::Delta delta;
  body.SerializeToString(delta.mutable_body());
  crypto::Signature sig = me_.signing_key().Sign(AsBytes(delta.body()));
  delta.set_signature(sig.data(), sig.size());
  std::string out;
  delta.SerializeToString(&out);
  return ToBytes(out);
}

Status Workspace::Impl::SealWith(std::vector<w::PlainOp> plain, bool force) {
  if (!broken_.ok()) return broken_;
  if (pending_.empty() && plain.empty() && !force) return Status::Ok();
  std::vector<Op> ops;
  ops.reserve(pending_.size());
  for (const PendingAction& p : pending_) ops.push_back(p.op);
  GROVE_ASSIGN_OR_RETURN(Bytes raw, BuildDelta(std::move(plain), ops, false));

  Incoming in;
  w::Delta delta;
  delta.ParseFromArray(raw.data(), static_cast<int>(raw.size()));
  in.body.ParseFromString(delta.body());
  in.hash = crypto::Sha256(AsBytes(delta.body()));
  in.author = me_dev_;
  in.seq = in.body.seq();
  in.raw = std::move(raw);
  in.authenticated = true;

  store::WriteBatch wb;
  ApplyReport report;
  GROVE_RETURN_IF_ERROR(Deliver(in, wb, report, true));
  if (!pending_.empty()) wb.ClearPending(id_, pending_.back().index);
  wb.PutMeta(id_, "local", LocalCounters(next_pending_index_));
  pending_.clear();
  pending_bytes_ = 0;
  if (rebuild_needed_) GROVE_RETURN_IF_ERROR(RebuildAll(wb));
  ApplyReadyDeltas(wb);
  PersistDirty(wb);
  Status s = store_.Write(wb);
  unsaved_.clear();
  if (!s.ok()) return Fail(s.Annotate("storing a sealed delta"));
  return Status::Ok();
}

// --- Sync helpers ------------------------------------------------------------------------------

VersionVector Workspace::Impl::Version() const {
  VersionVector out;
  for (uint32_t d = 0; d < feeds_.size(); ++d) {
    if (feeds_[d].head() == 0) continue;
    out.push_back(VersionEntry{devices_[d], feeds_[d].head(), feeds_[d].head_hash()});
  }
  std::sort(out.begin(), out.end(),
            [](const VersionEntry& a, const VersionEntry& b) { return a.device < b.device; });
  return out;
}

Result<std::vector<Bytes>> Workspace::Impl::DeltasFor(const VersionVector& theirs,
                                                      size_t max_bytes) {
  if (!pending_.empty()) GROVE_RETURN_IF_ERROR(SealWith({}, false));
  std::map<DeviceId, uint64_t> have;
  for (const VersionEntry& e : theirs) have[e.device] = e.seq;
  struct Want {
    uint64_t hlc;
    uint32_t dev;
    uint64_t seq;
  };
  std::vector<Want> wants;
  for (uint32_t d = 0; d < feeds_.size(); ++d) {
    uint64_t from = have.count(devices_[d]) ? have[devices_[d]] : 0;
    if (from < feeds_[d].base) {
      return FailedPrecondition(
          "the deltas before this replica's checkpoint are not held here; "
          "the other replica needs the checkpoint",
          Where(d, from + 1));
    }
    for (uint64_t s = from + 1; s <= feeds_[d].head(); ++s) {
      wants.push_back(Want{feeds_[d].at(s).hlc, d, s});
    }
  }
  // HLC order is a causal order: dependencies go first.
  std::sort(wants.begin(), wants.end(), [](const Want& a, const Want& b) {
    return a.hlc != b.hlc ? a.hlc < b.hlc : a.dev != b.dev ? a.dev < b.dev : a.seq < b.seq;
  });
  std::vector<Bytes> out;
  size_t total = 0;
  for (const Want& want : wants) {
    if (!out.empty() && total >= max_bytes) break;
    GROVE_ASSIGN_OR_RETURN(Bytes raw, RawDelta(want.dev, want.seq));
    total += raw.size();
    out.push_back(std::move(raw));
  }
  return out;
}

// --- Reading -----------------------------------------------------------------------------------

std::optional<RecordKey> Workspace::Impl::KeyOf(const RecordId& id) const {
  auto dev = FindDevice(id.device);
  if (!dev) return std::nullopt;
  return RecordKey{*dev, id.n};
}

RecordView Workspace::Impl::View(RecordKey key, const Record& r) const {
  RecordView v;
  v.id = IdOf(key);
  v.type = names_.Name(r.type);
  v.archived = r.archived;
  for (const auto& [field, reg] : r.fields) {
    const std::string& name = names_.Name(field);
    if (const Entry* e = table_.Winner(reg)) v.fields[name] = e->value;
    auto losers = table_.Losers(reg);
    if (!losers.empty()) {
      auto& c = v.conflicts[name];
      for (const Entry* e : losers) c.push_back(e->value);
    }
  }
  // A field changed by add is a counter: the value last set (an integer; 0 when none) plus
  // every increment, concurrent or not (decision 0003).
  for (const auto& [field, sum] : r.counters) {
    Value& shown = v.fields[names_.Name(field)];
    const int64_t* base = std::get_if<int64_t>(&shown.v);
    shown = Value(
        static_cast<int64_t>(static_cast<uint64_t>(base ? *base : 0) + static_cast<uint64_t>(sum)));
  }
  for (const auto& [field, list] : r.lists) {
    std::vector<const Entry*> sorted;
    for (const Entry& e : list) sorted.push_back(&e);
    std::sort(sorted.begin(), sorted.end(),
              [this](const Entry* a, const Entry* b) { return table_.Less(a->stamp, b->stamp); });
    auto& out = v.lists[names_.Name(field)];
    for (const Entry* e : sorted) out.push_back(e->value);
  }
  if (const Entry* e = table_.Winner(r.state)) v.state = std::get<std::string>(e->value.v);
  std::vector<const Entry*> history;
  for (const Entry& e : r.history) history.push_back(&e);
  std::sort(history.begin(), history.end(),
            [this](const Entry* a, const Entry* b) { return table_.Less(a->stamp, b->stamp); });
  for (const Entry* e : history) v.history.push_back(std::get<std::string>(e->value.v));
  if (rules_ && rules_->Governs(r.type)) {
    v.state = rules_->StateOf(r.type, r);
    v.computed = rules_->Computed(key);
    // Keyed stock counters ("on_hand#Main") are shown per key.
    for (auto it = v.fields.begin(); it != v.fields.end();) {
      size_t hash = it->first.find('#');
      const int64_t* level = std::get_if<int64_t>(&it->second.v);
      if (hash == std::string::npos || !level) {
        ++it;
        continue;
      }
      v.keyed[it->first.substr(0, hash)][it->first.substr(hash + 1)] = *level;
      it = v.fields.erase(it);
    }
  }
  return v;
}

Digests Workspace::Impl::ComputeDigests() const {
  Digests d;
  crypto::Sha256Hasher version;
  for (const VersionEntry& e : Version()) {
    version.Update(e.device);
    Bytes seq;
    PutU64(seq, e.seq);
    version.Update(seq);
    version.Update(e.head);
    d.deltas += e.seq;
  }
  d.version = version.Finish();
  for (uint32_t dev = 0; dev < feeds_.size(); ++dev) {
    const Feed& feed = feeds_[dev];
    for (uint64_t s = feed.base + 1; s <= feed.head(); ++s) {
      // One held under the checkpoint in force keeps the status it had when the checkpoint came
      // (awaiting a key it may have since), but its effect is in the checkpoint: not missing.
      d.unreadable += feed.at(s).status == DeltaStatus::kAwaitingKey && !InBase(dev, s);
    }
  }
  // A trusted checkpoint not held yet: the state is not final, as with a missing key.
  d.unreadable += awaiting_base_.has_value();

  std::vector<std::pair<RecordId, const Record*>> records;
  records.reserve(table_.all().size());
  for (const auto& [key, r] : table_.all()) records.emplace_back(IdOf(key), &r);
  std::sort(records.begin(), records.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  crypto::Sha256Hasher state;
  for (const auto& [id, r] : records) {
    state.Update(id.device);
    Bytes n;
    PutU64(n, id.n);
    state.Update(n);
    state.Update(crypto::Sha256(table_.Encode(*r)));
  }
  d.state = state.Finish();
  return d;
}

// --- Workspace (public) ------------------------------------------------------------------------

Workspace::Workspace(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Workspace::~Workspace() = default;

Result<std::unique_ptr<Workspace>> Workspace::Create(const identity::Identity& me, std::string name,
                                                     std::vector<tools::Tool> tools,
                                                     store::Store& store, Clock& clock,
                                                     Random& random, Limits limits) {
  auto impl = std::make_unique<Impl>(me, store, clock, random, limits);
  GROVE_RETURN_IF_ERROR(impl->InitGenesis(std::move(name), tools));
  return std::unique_ptr<Workspace>(new Workspace(std::move(impl)));
}

Result<std::unique_ptr<Workspace>> Workspace::Join(const identity::Identity& me, ByteView genesis,
                                                   store::Store& store, Clock& clock,
                                                   Random& random, Limits limits) {
  auto impl = std::make_unique<Impl>(me, store, clock, random, limits);
  GROVE_RETURN_IF_ERROR(impl->InitJoin(genesis));
  return std::unique_ptr<Workspace>(new Workspace(std::move(impl)));
}

Result<std::unique_ptr<Workspace>> Workspace::Open(const identity::Identity& me,
                                                   const WorkspaceId& id, store::Store& store,
                                                   Clock& clock, Random& random, Limits limits) {
  auto impl = std::make_unique<Impl>(me, store, clock, random, limits);
  GROVE_RETURN_IF_ERROR(impl->Load(id));
  return std::unique_ptr<Workspace>(new Workspace(std::move(impl)));
}

const WorkspaceId& Workspace::id() const { return impl_->id_; }
const std::string& Workspace::name() const { return impl_->name_; }
const std::vector<std::string>& Workspace::tools() const { return impl_->tools_; }
const std::vector<tools::Tool>& Workspace::tool_definitions() const {
  if (impl_->rules_) return impl_->rules_->CurrentTools();
  return impl_->tool_definitions_;
}
const DeviceId& Workspace::device() const { return impl_->me_.device(); }

Result<RecordId> Workspace::CreateRecord(std::string_view type,
                                         const std::vector<std::pair<std::string, Value>>& fields) {
  GROVE_RETURN_IF_ERROR(impl_->CheckWritable());
  GROVE_RETURN_IF_ERROR(CheckName(type, "type"));
  Op op;
  op.kind = OpKind::kCreate;
  op.name = impl_->names_.Intern(type);
  for (const auto& [field, value] : fields) {
    GROVE_RETURN_IF_ERROR(CheckName(field, "field"));
    op.fields.emplace_back(impl_->names_.Intern(field), value);
  }
  if (impl_->rules_) impl_->rules_->FillDefaults(op.name, op.fields);
  // The counter advances before the commit, which stores it with the action; a create the rules
  // refuse (before anything is written) gives its number back.
  op.record = RecordKey{impl_->me_dev_, impl_->next_record_n_++};
  op.hlc = impl_->hlc_.Now();
  RecordId id = impl_->IdOf(op.record);
  Status s = impl_->CommitLocal(std::move(op));
  if (!s.ok()) {
    if (impl_->broken_.ok()) --impl_->next_record_n_;
    return s;
  }
  return id;
}

Result<Op> Workspace::Impl::ActionOn(const RecordId& record, OpKind kind, std::string_view name,
                                     const char* what) {
  GROVE_RETURN_IF_ERROR(CheckWritable());
  if (what) GROVE_RETURN_IF_ERROR(CheckName(name, what));
  auto key = KeyOf(record);
  const Record* r = key ? table_.Find(*key) : nullptr;
  if (!r || !r->exists) return NotFound("no record " + record.Text(), "id");
  Op op;
  op.kind = kind;
  op.record = *key;
  if (what) op.name = names_.Intern(name);
  op.hlc = hlc_.Now();
  return op;
}

Status Workspace::Set(const RecordId& record, std::string_view field, Value value) {
  GROVE_ASSIGN_OR_RETURN(Op op, impl_->ActionOn(record, OpKind::kSet, field, "field"));
  op.value = std::move(value);
  return impl_->CommitLocal(std::move(op));
}

Status Workspace::Add(const RecordId& record, std::string_view field, int64_t amount) {
  if (amount > kMaxAddAmount || amount < -kMaxAddAmount) {
    return InvalidArgument("amount out of range (|n| <= 2^40)", "amount");
  }
  GROVE_ASSIGN_OR_RETURN(Op op, impl_->ActionOn(record, OpKind::kAdd, field, "field"));
  op.amount = amount;
  return impl_->CommitLocal(std::move(op));
}

Status Workspace::Append(const RecordId& record, std::string_view field, Value item) {
  GROVE_ASSIGN_OR_RETURN(Op op, impl_->ActionOn(record, OpKind::kAppend, field, "field"));
  op.value = std::move(item);
  return impl_->CommitLocal(std::move(op));
}

Status Workspace::Update(const RecordId& record, const Change& change) {
  std::vector<Op> ops;
  for (const auto& [field, value] : change.set) {
    GROVE_ASSIGN_OR_RETURN(Op op, impl_->ActionOn(record, OpKind::kSet, field, "field"));
    op.value = value;
    ops.push_back(std::move(op));
  }
  for (const auto& [field, amount] : change.add) {
    if (amount > kMaxAddAmount || amount < -kMaxAddAmount) {
      return InvalidArgument("amount out of range (|n| <= 2^40)", "add." + field);
    }
    GROVE_ASSIGN_OR_RETURN(Op op, impl_->ActionOn(record, OpKind::kAdd, field, "field"));
    op.amount = amount;
    ops.push_back(std::move(op));
  }
  for (const auto& [field, item] : change.append) {
    GROVE_ASSIGN_OR_RETURN(Op op, impl_->ActionOn(record, OpKind::kAppend, field, "field"));
    op.value = item;
    ops.push_back(std::move(op));
  }
  if (ops.empty()) return InvalidArgument("the change changes nothing");
  return impl_->CommitLocal(std::move(ops));
}

Status Workspace::Transition(const RecordId& record, std::string_view name,
                             const std::vector<std::pair<std::string, Value>>& inputs) {
  GROVE_ASSIGN_OR_RETURN(Op op, impl_->ActionOn(record, OpKind::kTransition, name, "name"));
  Rules* rules = impl_->rules_.get();
  if (!rules || !rules->active() || !rules->Governs(impl_->table_.Find(op.record)->type)) {
    if (!inputs.empty()) return InvalidArgument("only tool transitions take inputs", "fields");
    return impl_->CommitLocal(std::move(op));
  }
  std::vector<std::pair<uint32_t, Value>> interned;
  for (const auto& [field, value] : inputs) {
    GROVE_RETURN_IF_ERROR(CheckName(field, "fields"));
    interned.emplace_back(impl_->names_.Intern(field), value);
  }
  const uint64_t seq = impl_->feeds_[impl_->me_dev_].head() + 1;
  GROVE_ASSIGN_OR_RETURN(
      std::vector<Op> sub,
      rules->PlanTransition(impl_->me_dev_, impl_->membership_.CurrentRole(impl_->me_dev_),
                            Past{nullptr, impl_->me_dev_, seq}, op.record, name, interned, op.hlc));
  // Records created by effects take this device's next numbers (stored with the action).
  const uint64_t first = impl_->next_record_n_;
  for (Op& s : sub) {
    if (s.kind == OpKind::kCreate) s.record = RecordKey{impl_->me_dev_, impl_->next_record_n_++};
  }
  op.effects = static_cast<uint32_t>(sub.size());
  std::vector<Op> ops{std::move(op)};
  for (Op& s : sub) ops.push_back(std::move(s));
  Status committed = impl_->CommitLocal(std::move(ops));
  if (!committed.ok() && impl_->broken_.ok()) impl_->next_record_n_ = first;
  return committed;
}

Status Workspace::Grant(const RecordId& record, std::string_view field, std::string_view key,
                        const DeviceId& to, int64_t amount) {
  if (amount <= 0 || amount > kMaxAddAmount) {
    return InvalidArgument("amount must be 1 to 2^40", "amount");
  }
  GROVE_RETURN_IF_ERROR(CheckName(field, "field"));
  GROVE_ASSIGN_OR_RETURN(Op op, impl_->ActionOn(record, OpKind::kGrant, {}, nullptr));
  op.name = impl_->names_.Intern(Rules::CounterName(field, key));
  op.amount = amount;
  op.to = impl_->DeviceIndex(to);
  return impl_->CommitLocal(std::move(op));
}

Status Workspace::UpgradeTool(const tools::Tool& tool) {
  GROVE_RETURN_IF_ERROR(impl_->CheckWritable());
  if (!impl_->rules_ || !impl_->rules_->active()) {
    return FailedPrecondition("this workspace has no tools to upgrade", "tools");
  }
  GROVE_ASSIGN_OR_RETURN(
      std::vector<Op> ops,
      impl_->rules_->PlanUpgrade(impl_->me_dev_, impl_->membership_.CurrentRole(impl_->me_dev_),
                                 tool, impl_->hlc_.Now()));
  return impl_->CommitLocal(std::move(ops));
}

int64_t Workspace::Rights(const RecordId& record, std::string_view field, std::string_view key,
                          const DeviceId& device) const {
  auto k = impl_->KeyOf(record);
  auto dev = impl_->FindDevice(device);
  if (!k || !dev || !impl_->rules_) return 0;
  return impl_->rules_->RightsOf(*k, impl_->names_.Intern(Rules::CounterName(field, key)), *dev);
}

std::vector<TransitionCheck> Workspace::Transitions(const RecordId& record) const {
  auto k = impl_->KeyOf(record);
  if (!k || !impl_->rules_) return {};
  return impl_->rules_->Transitions(impl_->me_dev_, impl_->membership_.CurrentRole(impl_->me_dev_),
                                    *k);
}

Status Workspace::Archive(const RecordId& record) {
  GROVE_ASSIGN_OR_RETURN(Op op, impl_->ActionOn(record, OpKind::kArchive, {}, nullptr));
  return impl_->CommitLocal(std::move(op));
}

Status Workspace::AddMember(const identity::CardInfo& card, Role role) {
  if (!impl_->broken_.ok()) return impl_->broken_;
  if (impl_->membership_.CurrentRole(impl_->me_dev_) != Role::kOwner) {
    return PermissionDenied("only owners can add members");
  }
  if (role == Role::kNone) return InvalidArgument("role must not be none", "role");
  uint32_t dev = impl_->DeviceIndex(card.device);
  std::vector<w::PlainOp> plain(1);
  w::SetMember* set = plain[0].mutable_set_member();
  set->set_card(ToString(card.encoded));
  set->set_role(static_cast<w::Role>(role));
  set->set_cutoff(impl_->current_vv_[dev]);
  // The new member can read everything written so far: share every key this device holds.
  for (const auto& [key_id, key] : impl_->keys_) {
    auto box = crypto::SealTo(card.agree_key, key.bytes(), impl_->random_);
    if (!box.ok()) return box.status();
    w::PlainOp share;
    share.mutable_share_key()->set_key_id(key_id.data(), key_id.size());
    w::SealedKey* s = share.mutable_share_key()->add_sealed();
    s->set_device(card.device.data(), 32);
    s->set_box(box->data(), box->size());
    if (impl_->membership_.keys().count(key_id)) plain.push_back(std::move(share));
  }
  return impl_->SealWith(std::move(plain), true);
}

Status Workspace::RemoveMember(const DeviceId& device) {
  if (!impl_->broken_.ok()) return impl_->broken_;
  if (impl_->membership_.CurrentRole(impl_->me_dev_) != Role::kOwner) {
    return PermissionDenied("only owners can remove members");
  }
  auto dev = impl_->FindDevice(device);
  if (!dev || impl_->membership_.CurrentRole(*dev) == Role::kNone) {
    return NotFound("device is not a member", "device");
  }
  std::vector<w::PlainOp> plain(1);
  w::RemoveMember* rm = plain[0].mutable_remove_member();
  rm->set_device(device.data(), 32);
  rm->set_cutoff(impl_->current_vv_[*dev]);
  // A fresh key for everyone but the removed device: nothing written after this reaches it.
  std::vector<uint32_t> rest;
  for (const auto& [d, info] : impl_->membership_.members()) {
    if (d != *dev && impl_->membership_.CurrentRole(d) != Role::kNone) rest.push_back(d);
  }
  plain.push_back(impl_->RotationFor(rest));
  return impl_->SealWith(std::move(plain), true);
}

Result<bool> Workspace::Seal() {
  if (impl_->pending_.empty()) return false;
  GROVE_RETURN_IF_ERROR(impl_->SealWith({}, false));
  return true;
}

size_t Workspace::pending_actions() const { return impl_->pending_.size(); }

ApplyReport Workspace::Apply(std::span<const Bytes> deltas) { return impl_->Apply(deltas); }
VersionVector Workspace::Version() const { return impl_->Version(); }
Result<std::vector<Bytes>> Workspace::DeltasFor(const VersionVector& theirs, size_t max_bytes) {
  return impl_->DeltasFor(theirs, max_bytes);
}

Result<Bytes> Workspace::Genesis() const {
  const auto& feeds = impl_->feeds_;
  for (uint32_t d = 0; d < feeds.size(); ++d) {
    if (feeds[d].Holds(1) && feeds[d].at(1).hash == impl_->id_) return impl_->RawDelta(d, 1);
  }
  if (impl_->base_) return impl_->base_->genesis;
  return NotFound("genesis delta not held");
}

std::optional<RecordView> Workspace::Get(const RecordId& record) const {
  auto key = impl_->KeyOf(record);
  const Record* r = key ? impl_->table_.Find(*key) : nullptr;
  if (!r || !r->exists) return std::nullopt;
  return impl_->View(*key, *r);
}

std::vector<RecordView> Workspace::List(std::string_view type, bool include_archived) const {
  std::vector<RecordView> out;
  for (const auto& [key, r] : impl_->table_.all()) {
    if (!r.exists || (r.archived && !include_archived)) continue;
    if (!type.empty() && impl_->names_.Name(r.type) != type) continue;
    out.push_back(impl_->View(key, r));
  }
  std::sort(out.begin(), out.end(),
            [](const RecordView& a, const RecordView& b) { return a.id < b.id; });
  return out;
}

Result<RecordId> Workspace::ResolveRecordId(std::string_view text) const {
  auto parsed = ParseRecordIdText(text);
  if (!parsed) return InvalidArgument("'" + std::string(text) + "' is not a record id", "id");
  for (const DeviceId& d : impl_->devices_) {
    if (std::equal(parsed->device_prefix.begin(), parsed->device_prefix.end(), d.begin())) {
      return RecordId{d, parsed->n};
    }
  }
  return NotFound("no record " + std::string(text), "id");
}

std::vector<MemberView> Workspace::Members() const {
  std::vector<MemberView> out;
  for (const auto& [d, info] : impl_->membership_.members()) {
    Role role = impl_->membership_.CurrentRole(d);
    if (role != Role::kNone) out.push_back(MemberView{impl_->devices_[d], info.card.name, role});
  }
  std::sort(out.begin(), out.end(),
            [](const MemberView& a, const MemberView& b) { return a.device < b.device; });
  return out;
}

Role Workspace::RoleOf(const DeviceId& device) const {
  auto d = impl_->FindDevice(device);
  return d ? impl_->membership_.CurrentRole(*d) : Role::kNone;
}

bool Workspace::HoldsKeys() const {
  for (const auto& [id, info] : impl_->membership_.keys()) {
    if (!impl_->keys_.count(id)) return false;
  }
  return true;
}

std::optional<ContentKeyId> Workspace::CurrentContentKey() const { return impl_->ChooseKey(); }

const crypto::SymmetricKey* Workspace::ContentKey(const ContentKeyId& id) const {
  auto it = impl_->keys_.find(id);
  return it == impl_->keys_.end() ? nullptr : &it->second;
}

Digests Workspace::digests() const { return impl_->ComputeDigests(); }

std::string Workspace::DebugString() const {
  const Impl& im = *impl_;
  std::vector<std::string> lines;
  for (uint32_t d = 0; d < im.feeds_.size(); ++d) {
    for (uint64_t s = im.feeds_[d].base + 1; s <= im.feeds_[d].head(); ++s) {
      const DeltaMeta& m = im.feeds_[d].at(s);
      lines.push_back("delta " + DeviceText(im.devices_[d]).substr(0, 8) + "/" + std::to_string(s) +
                      " status=" + std::to_string(static_cast<int>(m.status)) +
                      " plain=" + std::to_string(m.plain.size()) +
                      (m.malformed.empty() ? "" : " malformed=" + m.malformed));
    }
  }
  for (const auto& [key, r] : im.table_.all()) {
    lines.push_back("record " + im.IdOf(key).Text() + " " + HexEncode(im.table_.Encode(r)));
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}
std::vector<Status> Workspace::problems() const { return impl_->problems_; }

Status Workspace::Rebuild() {
  if (!impl_->broken_.ok()) return impl_->broken_;
  GROVE_RETURN_IF_ERROR(impl_->SealWith({}, false));
  store::WriteBatch wb;
  GROVE_RETURN_IF_ERROR(impl_->RebuildAll(wb));
  impl_->PersistDirty(wb);
  Status s = impl_->store_.Write(wb);
  if (!s.ok()) return impl_->Fail(s);
  return Status::Ok();
}

}  // namespace grove::replica
