// Workspace::DecidedAfter: what an auditor device reads of the deltas this replica decided. It
// reads the verdicts the merge reached (it never judges), and decrypts and names the ops of
// each delta again from the store, so it costs nothing until an auditor asks.
#include <algorithm>

#include "replica/workspace_impl.h"

namespace grove::replica {
namespace {

namespace w = wire::v1;

std::string_view OpName(OpKind kind) {
  switch (kind) {
    case OpKind::kCreate:
      return "create";
    case OpKind::kSet:
      return "set";
    case OpKind::kAdd:
      return "add";
    case OpKind::kAppend:
      return "append";
    case OpKind::kTransition:
      return "transition";
    case OpKind::kArchive:
      return "archive";
    case OpKind::kGrant:
      return "grant";
    case OpKind::kUpgrade:
      return "upgrade";
  }
  return "op";
}

// Why a delta was stored as evidence instead of applied, as StatusOf and the rules decided it.
std::string InvalidReason(const Workspace::Impl& im, uint32_t dev, uint64_t seq) {
  const Feed& feed = im.feeds_[dev];
  const DeltaMeta& m = feed.at(seq);
  if (!m.malformed.empty()) return m.malformed;
  if (feed.forked_at && seq >= feed.forked_at) return "its author forked its feed";
  if (!m.refused.empty()) return "refused by the tools' rules: " + m.refused;
  if (im.membership_.refused().count({dev, seq}))
    return "a membership op its author had no role for";
  const Role role = im.membership_.RoleFor(dev, seq);
  if (role == Role::kNone) return "its author was not a member in its causal past";
  if (m.has_sealed && !CanWrite(role)) {
    return std::string("its author's role (") + RoleName(role) + ") may not write";
  }
  if (im.excluded_.count({dev, seq})) return "it depends on a forked delta";
  return "not valid under membership";
}

}  // namespace

Result<std::vector<AuditedDelta>> Workspace::DecidedAfter(const std::map<DeviceId, uint64_t>& done,
                                                          size_t max_ops) {
  Impl& im = *impl_;
  if (!im.broken_.ok()) return im.broken_;
  struct Due {
    uint64_t hlc;
    uint32_t dev;
    uint64_t seq;
  };
  std::vector<Due> due;
  for (uint32_t d = 0; d < im.feeds_.size(); ++d) {
    auto it = done.find(im.devices_[d]);
    // A replica started from a checkpoint holds nothing before it to audit.
    const uint64_t from = std::max(it == done.end() ? 1 : it->second + 1, im.feeds_[d].base + 1);
    for (uint64_t s = from; s <= im.feeds_[d].head(); ++s) {
      const DeltaMeta& m = im.feeds_[d].at(s);
      if (m.status == DeltaStatus::kAwaitingKey) break;
      due.push_back(Due{m.hlc, d, s});
    }
  }
  // A delta's HLC is above those of its causal past, its author's earlier deltas included.
  std::sort(due.begin(), due.end(), [](const Due& a, const Due& b) {
    return std::tie(a.hlc, a.dev, a.seq) < std::tie(b.hlc, b.dev, b.seq);
  });

  std::vector<AuditedDelta> out;
  size_t ops = 0;
  for (const Due& d : due) {
    if (!out.empty() && ops >= max_ops) break;
    const DeltaMeta& m = im.feeds_[d.dev].at(d.seq);
    AuditedDelta a;
    a.author = im.devices_[d.dev];
    a.seq = d.seq;
    a.hash = m.hash;
    a.hlc = m.hlc;
    a.received_ms = m.received_ms;
    a.applied = m.status == DeltaStatus::kApplied;
    if (!a.applied) a.reason = InvalidReason(im, d.dev, d.seq);
    for (const auto& p : m.plain) {
      AuditedOp op;
      switch (p->kind) {
        case PlainOp::Kind::kGenesis:
          op.op = "workspace.create";
          op.field = DeviceText(im.devices_[p->target]);
          break;
        case PlainOp::Kind::kSetMember:
          op.op = "member.set";
          op.field = DeviceText(im.devices_[p->target]);
          op.detail = std::string(RoleName(p->role)) + (p->card ? " " + p->card->name : "");
          break;
        case PlainOp::Kind::kRemoveMember:
          op.op = "member.remove";
          op.field = DeviceText(im.devices_[p->target]);
          break;
        case PlainOp::Kind::kRotateKey:
          op.op = "key.rotate";
          break;
        case PlainOp::Kind::kShareKey:
          continue;  // key boxes for members: no business content
        case PlainOp::Kind::kClaim:
          op.op = "checkpoint.claim";
          op.detail = HexEncode(p->checkpoint);
          break;
      }
      a.ops.push_back(std::move(op));
    }
    if (m.has_sealed && m.key && im.keys_.count(*m.key)) {
      GROVE_ASSIGN_OR_RETURN(Bytes raw, im.RawDelta(d.dev, d.seq));
      w::Delta delta;
      w::DeltaBody body;
      Result<std::vector<Op>> decoded = Corruption("stored delta does not decode");
      if (delta.ParseFromArray(raw.data(), static_cast<int>(raw.size())) &&
          body.ParseFromString(delta.body())) {
        decoded = im.OpenOps(d.dev, d.seq, body);
      }
      if (decoded.ok()) {
        uint32_t effects_left = 0;
        for (const Op& o : *decoded) {
          AuditedOp op;
          op.op = OpName(o.kind);
          op.effect = effects_left > 0;
          if (effects_left > 0) --effects_left;
          op.record = im.IdOf(o.record);
          const std::string& name = im.names_.Name(o.name);
          if (o.kind == OpKind::kCreate) {
            op.type = name;
            for (const auto& [field, value] : o.fields) {
              op.fields.emplace_back(im.names_.Name(field), value);
            }
          } else {
            op.field = name;
          }
          op.value = o.value;
          op.amount = o.amount;
          if (o.kind == OpKind::kGrant) op.detail = DeviceText(im.devices_[o.to]);
          if (o.kind == OpKind::kUpgrade) {
            op.record.reset();
            op.value = Value();  // the tool's canonical bytes: its hash is in the delta
          }
          if (o.kind == OpKind::kTransition || o.kind == OpKind::kUpgrade) {
            effects_left = o.effects;
          }
          a.ops.push_back(std::move(op));
        }
      } else if (a.applied) {
        return decoded.status();  // applied, so it decoded when it was applied
      }
    }
    ops += std::max<size_t>(1, a.ops.size());
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace grove::replica
