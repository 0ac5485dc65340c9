#include "replica/membership.h"

#include <algorithm>
#include <cstring>

namespace grove::replica {
namespace {

namespace w = grove::wire::v1;

Result<std::vector<std::pair<uint32_t, Bytes>>> ParseBoxes(
    const google::protobuf::RepeatedPtrField<w::SealedKey>& sealed, Causality& devices) {
  std::vector<std::pair<uint32_t, Bytes>> out;
  for (const w::SealedKey& s : sealed) {
    auto device = ToHash32(AsBytes(s.device()));
    if (!device) return InvalidArgument("sealed key recipient is not a 32-byte device id");
    if (s.box().size() < 32 + 32 + 16 || s.box().size() > 256) {
      return InvalidArgument("sealed key box has the wrong size");
    }
    out.emplace_back(devices.DeviceIndex(*device), ToBytes(s.box()));
  }
  return out;
}

Result<KeyId> ParseKeyId(const std::string& bytes) {
  if (bytes.size() != 16) return InvalidArgument("key id must be 16 bytes");
  KeyId id;
  std::memcpy(id.data(), bytes.data(), 16);
  return id;
}

}  // namespace

Result<PlainOp> ParsePlainOp(const w::PlainOp& op, Causality& devices) {
  PlainOp out;
  switch (op.op_case()) {
    case w::PlainOp::kGenesis: {
      out.kind = PlainOp::Kind::kGenesis;
      if (op.genesis().name().empty() || op.genesis().name().size() > 256) {
        return InvalidArgument("workspace name must be 1 to 256 bytes");
      }
      GROVE_ASSIGN_OR_RETURN(out.card, identity::DecodeCard(AsBytes(op.genesis().creator_card())));
      out.target = devices.DeviceIndex(out.card->device);
      out.role = Role::kOwner;
      return out;
    }
    case w::PlainOp::kSetMember: {
      out.kind = PlainOp::Kind::kSetMember;
      auto card = identity::DecodeCard(AsBytes(op.set_member().card()));
      if (!card.ok()) return card.status().Annotate("set_member card");
      out.card = std::move(card).value();
      out.target = devices.DeviceIndex(out.card->device);
      int role = op.set_member().role();
      if (role < 1 || role > 4) return InvalidArgument("set_member role must be 1..4");
      out.role = static_cast<Role>(role);
      out.cutoff = op.set_member().cutoff();
      return out;
    }
    case w::PlainOp::kRemoveMember: {
      out.kind = PlainOp::Kind::kRemoveMember;
      auto device = ToHash32(AsBytes(op.remove_member().device()));
      if (!device) return InvalidArgument("remove_member device must be 32 bytes");
      out.target = devices.DeviceIndex(*device);
      out.cutoff = op.remove_member().cutoff();
      return out;
    }
    case w::PlainOp::kRotateKey: {
      out.kind = PlainOp::Kind::kRotateKey;
      GROVE_ASSIGN_OR_RETURN(out.key, ParseKeyId(op.rotate_key().key_id()));
      GROVE_ASSIGN_OR_RETURN(out.boxes, ParseBoxes(op.rotate_key().sealed(), devices));
      return out;
    }
    case w::PlainOp::kShareKey: {
      out.kind = PlainOp::Kind::kShareKey;
      GROVE_ASSIGN_OR_RETURN(out.key, ParseKeyId(op.share_key().key_id()));
      GROVE_ASSIGN_OR_RETURN(out.boxes, ParseBoxes(op.share_key().sealed(), devices));
      return out;
    }
    case w::PlainOp::kClaimCheckpoint: {
      out.kind = PlainOp::Kind::kClaim;
      const w::CheckpointClaim& c = op.claim_checkpoint();
      auto id = ToHash32(AsBytes(c.checkpoint()));
      if (!id) return InvalidArgument("checkpoint claim: id must be 32 bytes");
      out.checkpoint = *id;
      if (c.version_size() == 0) return InvalidArgument("checkpoint claim: empty version");
      const std::string* prev = nullptr;
      for (const w::VersionEntry& e : c.version()) {
        auto device = ToHash32(AsBytes(e.device()));
        if (!device || e.seq() == 0) {
          return InvalidArgument("checkpoint claim: malformed version entry");
        }
        if (prev && *prev >= e.device()) {
          return InvalidArgument("checkpoint claim: version not sorted by device");
        }
        prev = &e.device();
        out.version.emplace_back(devices.DeviceIndex(*device), e.seq());
      }
      return out;
    }
    case w::PlainOp::OP_NOT_SET:
      break;
  }
  return InvalidArgument("plain op of unknown kind");
}

Role Membership::RoleFor(uint32_t dev, uint64_t seq) const {
  auto it = members_.find(dev);
  if (it == members_.end()) return Role::kNone;
  Role role = Role::kNone;
  for (const Grant& g : it->second.grants) {
    if (g.cutoff < seq) role = g.role;
  }
  return role;
}

void Membership::Evaluate(std::vector<PlainEntry> entries,
                          const std::function<bool(uint32_t, uint64_t)>& excluded,
                          const std::function<bool(const Stamp&, const Stamp&)>& less) {
  members_.clear();
  keys_.clear();
  refused_.clear();
  std::sort(entries.begin(), entries.end(),
            [&](const PlainEntry& a, const PlainEntry& b) { return less(a.stamp, b.stamp); });
  for (const PlainEntry& e : entries) {
    const uint32_t author = e.stamp.dev;
    const uint64_t seq = e.stamp.seq;
    if (!e.pinned && excluded(author, seq)) continue;
    const PlainOp& op = *e.op;
    // A pinned op counted at the checkpoint: it keeps counting.
    const Role role = e.pinned ? Role::kOwner : RoleFor(author, seq);
    auto refuse = [&] { refused_.emplace(author, seq); };
    switch (op.kind) {
      case PlainOp::Kind::kGenesis: {
        // The caller only passes the genesis op of the workspace's own genesis delta.
        MemberInfo& m = members_[op.target];
        m.card = *op.card;
        m.grants.push_back(Grant{0, Role::kOwner, e.stamp});
        break;
      }
      case PlainOp::Kind::kSetMember:
      case PlainOp::Kind::kRemoveMember: {
        if (role != Role::kOwner) {
          refuse();
          break;
        }
        MemberInfo& m = members_[op.target];
        if (op.card) m.card = *op.card;
        Role granted = op.kind == PlainOp::Kind::kSetMember ? op.role : Role::kNone;
        m.grants.push_back(Grant{op.cutoff, granted, e.stamp});
        break;
      }
      case PlainOp::Kind::kRotateKey: {
        if (!CanWrite(role) || keys_.count(op.key)) {
          refuse();
          break;
        }
        KeyInfo& k = keys_[op.key];
        k.introduced = e.stamp;
        for (const auto& [dev, box] : op.boxes) k.recipients.insert(dev);
        break;
      }
      case PlainOp::Kind::kShareKey: {
        auto it = keys_.find(op.key);
        if (!CanWrite(role) || it == keys_.end()) {
          refuse();
          break;
        }
        for (const auto& [dev, box] : op.boxes) it->second.recipients.insert(dev);
        break;
      }
      case PlainOp::Kind::kClaim:
        if (role == Role::kNone) refuse();
        break;
    }
  }
}

}  // namespace grove::replica
