#include "replica/op_codec.h"

#include <unordered_map>

namespace grove::replica {
namespace {

namespace w = grove::wire::v1;

bool ValidCurrency(const std::string& c) {
  if (c.size() != 3) return false;
  for (char ch : c) {
    if (ch < 'A' || ch > 'Z') return false;
  }
  return true;
}

// Builds the interning tables of one batch as ops are encoded.
class BatchTables {
 public:
  BatchTables(w::OpBatch& batch, const OpContext& ctx) : batch_(batch), ctx_(ctx) {
    Device(ctx.author);
  }
  uint32_t String(uint32_t name) {
    auto [it, fresh] = strings_.try_emplace(name, static_cast<uint32_t>(strings_.size()));
    if (fresh) batch_.add_strings(ctx_.names.Name(name));
    return it->second;
  }
  uint32_t Device(uint32_t dev) {
    auto [it, fresh] = devices_.try_emplace(dev, static_cast<uint32_t>(devices_.size()));
    if (fresh) {
      const DeviceId& id = ctx_.devices.Device(dev);
      batch_.add_devices(id.data(), id.size());
    }
    return it->second;
  }

 private:
  w::OpBatch& batch_;
  const OpContext& ctx_;
  std::unordered_map<uint32_t, uint32_t> strings_;
  std::unordered_map<uint32_t, uint32_t> devices_;
};

void EncodeValueTo(const Value& v, w::Value& out, BatchTables& tables, Causality& devices) {
  switch (v.v.index()) {
    case 0:
      break;
    case 1:
      out.set_int_(std::get<int64_t>(v.v));
      break;
    case 2:
      out.set_text(std::get<std::string>(v.v));
      break;
    case 3: {
      const Money& m = std::get<Money>(v.v);
      out.mutable_money()->set_minor(m.minor);
      out.mutable_money()->set_currency(m.currency);
      break;
    }
    case 4:
      out.set_flag(std::get<bool>(v.v));
      break;
    case 5: {
      const Bytes& b = std::get<Bytes>(v.v);
      out.set_blob(b.data(), b.size());
      break;
    }
    case 6: {
      const RecordId& r = std::get<RecordId>(v.v);
      out.mutable_ref()->set_device(tables.Device(devices.DeviceIndex(r.device)));
      out.mutable_ref()->set_n(r.n);
      break;
    }
  }
}

}  // namespace

w::OpBatch EncodeOps(const std::vector<Op>& ops, const OpContext& ctx) {
  w::OpBatch batch;
  BatchTables tables(batch, ctx);
  uint64_t base = ops.empty() ? 0 : ops.front().hlc;
  batch.set_hlc_base(base);
  uint64_t prev = base;
  batch.mutable_ops()->Reserve(static_cast<int>(ops.size()));
  for (const Op& op : ops) {
    w::Op* out = batch.add_ops();
    out->set_kind(static_cast<w::OpKind>(op.kind));
    out->set_hlc_step(op.hlc - prev);
    prev = op.hlc;
    uint32_t dev = tables.Device(op.record.dev);
    if (dev != 0) out->mutable_record()->set_device(dev);
    out->mutable_record()->set_n(op.record.n);
    switch (op.kind) {
      case OpKind::kCreate:
        out->set_name(tables.String(op.name));
        for (const auto& [field, value] : op.fields) {
          w::FieldValue* fv = out->add_fields();
          fv->set_field(tables.String(field));
          EncodeValueTo(value, *fv->mutable_value(), tables, ctx.devices);
        }
        break;
      case OpKind::kSet:
      case OpKind::kAppend:
        out->set_field(tables.String(op.name));
        EncodeValueTo(op.value, *out->mutable_value(), tables, ctx.devices);
        break;
      case OpKind::kAdd:
        out->set_field(tables.String(op.name));
        out->set_amount(op.amount);
        break;
      case OpKind::kTransition:
        out->set_name(tables.String(op.name));
        if (op.effects) out->set_effects(op.effects);
        break;
      case OpKind::kArchive:
        break;
      case OpKind::kGrant:
        out->set_field(tables.String(op.name));
        out->set_amount(op.amount);
        out->set_to_device(tables.Device(op.to));
        break;
      case OpKind::kUpgrade:
        out->set_name(tables.String(op.name));
        EncodeValueTo(op.value, *out->mutable_value(), tables, ctx.devices);
        if (op.effects) out->set_effects(op.effects);
        break;
    }
  }
  return batch;
}

Result<std::vector<Op>> DecodeOps(const w::OpBatch& batch, uint64_t delta_hlc, size_t max_ops,
                                  const OpContext& ctx) {
  if (static_cast<size_t>(batch.ops_size()) > max_ops) {
    return InvalidArgument("delta has " + std::to_string(batch.ops_size()) + " ops; the limit is " +
                           std::to_string(max_ops));
  }
  std::vector<uint32_t> names(static_cast<size_t>(batch.strings_size()));
  for (int i = 0; i < batch.strings_size(); ++i) {
    if (batch.strings(i).empty() || batch.strings(i).size() > 256) {
      return InvalidArgument("name " + std::to_string(i) + " is empty or longer than 256 bytes");
    }
    names[static_cast<size_t>(i)] = ctx.names.Intern(batch.strings(i));
  }
  std::vector<uint32_t> devs(static_cast<size_t>(batch.devices_size()));
  for (int i = 0; i < batch.devices_size(); ++i) {
    auto id = ToHash32(AsBytes(batch.devices(i)));
    if (!id) return InvalidArgument("device " + std::to_string(i) + " is not 32 bytes");
    devs[static_cast<size_t>(i)] = ctx.devices.DeviceIndex(*id);
  }
  if (devs.empty() || devs[0] != ctx.author) {
    return InvalidArgument("device 0 of the op batch must be the delta's author");
  }

  std::vector<Op> ops;
  ops.reserve(static_cast<size_t>(batch.ops_size()));
  uint64_t hlc = batch.hlc_base();
  for (int i = 0; i < batch.ops_size(); ++i) {
    const w::Op& in = batch.ops(i);
    auto fail = [i](const std::string& what) {
      return InvalidArgument("op " + std::to_string(i) + ": " + what);
    };
    auto name_at = [&](uint32_t index, uint32_t& out) {
      if (index >= names.size()) return false;
      out = names[index];
      return true;
    };
    auto value_of = [&](const w::Value& v, Value& out) -> Status {
      switch (v.kind_case()) {
        case w::Value::KIND_NOT_SET:
          out = Value();
          break;
        case w::Value::kInt:
          out = Value(static_cast<int64_t>(v.int_()));
          break;
        case w::Value::kText:
          if (v.text().size() > ctx.max_value_bytes) return fail("text value too large");
          out = Value(v.text());
          break;
        case w::Value::kMoney:
          if (!ValidCurrency(v.money().currency())) {
            return fail("currency must be three capital letters, got '" + v.money().currency() +
                        "'");
          }
          out = Value(Money{v.money().minor(), v.money().currency()});
          break;
        case w::Value::kFlag:
          out = Value(v.flag());
          break;
        case w::Value::kBlob:
          if (v.blob().size() > ctx.max_value_bytes) return fail("blob value too large");
          out.v = ToBytes(v.blob());
          break;
        case w::Value::kRef:
          if (v.ref().device() >= devs.size()) return fail("reference device out of range");
          out = Value(RecordId{ctx.devices.Device(devs[v.ref().device()]), v.ref().n()});
          break;
      }
      return Status::Ok();
    };

    if (in.hlc_step() > delta_hlc - hlc) return fail("timestamp is after the delta's");
    hlc += in.hlc_step();
    Op op;
    op.hlc = hlc;
    if (in.record().device() >= devs.size()) return fail("record device out of range");
    if (in.record().n() >= kMaxRecordN) return fail("record number out of range");
    op.record = RecordKey{devs[in.record().device()], in.record().n()};
    switch (in.kind()) {
      case w::CREATE:
        op.kind = OpKind::kCreate;
        if (in.record().device() != 0) return fail("a device can only create its own records");
        if (!name_at(in.name(), op.name)) return fail("type index out of range");
        for (const w::FieldValue& fv : in.fields()) {
          uint32_t field;
          if (!name_at(fv.field(), field)) return fail("field index out of range");
          Value v;
          GROVE_RETURN_IF_ERROR(value_of(fv.value(), v));
          op.fields.emplace_back(field, std::move(v));
        }
        break;
      case w::SET:
      case w::APPEND:
        op.kind = in.kind() == w::SET ? OpKind::kSet : OpKind::kAppend;
        if (!name_at(in.field(), op.name)) return fail("field index out of range");
        GROVE_RETURN_IF_ERROR(value_of(in.value(), op.value));
        break;
      case w::ADD:
        op.kind = OpKind::kAdd;
        if (!name_at(in.field(), op.name)) return fail("field index out of range");
        if (in.amount() > kMaxAddAmount || in.amount() < -kMaxAddAmount) {
          return fail("add amount out of range");
        }
        op.amount = in.amount();
        break;
      case w::TRANSITION:
        op.kind = OpKind::kTransition;
        if (!name_at(in.name(), op.name)) return fail("transition name index out of range");
        if (in.effects() >= static_cast<uint32_t>(batch.ops_size() - i)) {
          return fail("transition counts more sub-ops than follow it");
        }
        op.effects = in.effects();
        break;
      case w::GRANT:
        op.kind = OpKind::kGrant;
        if (!name_at(in.field(), op.name)) return fail("field index out of range");
        if (in.amount() <= 0 || in.amount() > kMaxAddAmount)
          return fail("grant amount out of range");
        if (in.to_device() >= devs.size()) return fail("grant device out of range");
        op.amount = in.amount();
        op.to = devs[in.to_device()];
        break;
      case w::ARCHIVE:
        op.kind = OpKind::kArchive;
        break;
      case w::UPGRADE:
        op.kind = OpKind::kUpgrade;
        if (in.record().device() != 0 || in.record().n() != 0) {
          return fail("an upgrade names no record");
        }
        if (!name_at(in.name(), op.name)) return fail("tool name index out of range");
        GROVE_RETURN_IF_ERROR(value_of(in.value(), op.value));
        if (!std::holds_alternative<Bytes>(op.value.v)) {
          return fail("an upgrade carries the tool's canonical bytes");
        }
        if (in.effects() >= static_cast<uint32_t>(batch.ops_size() - i)) {
          return fail("upgrade counts more sub-ops than follow it");
        }
        op.effects = in.effects();
        break;
      default:
        return fail("unknown op kind " + std::to_string(static_cast<int>(in.kind())));
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

void ApplyOp(RecordTable& table, const Op& op, const Stamp& stamp) {
  switch (op.kind) {
    case OpKind::kCreate:
      table.Create(op.record, op.name, stamp);
      for (const auto& [field, value] : op.fields) table.Set(op.record, field, value, stamp);
      break;
    case OpKind::kSet:
      table.Set(op.record, op.name, op.value, stamp);
      break;
    case OpKind::kAdd:
      table.Add(op.record, op.name, op.amount);
      break;
    case OpKind::kAppend:
      table.Append(op.record, op.name, op.value, stamp);
      break;
    case OpKind::kTransition:
      table.Transition(op.record, op.name, stamp);
      break;
    case OpKind::kArchive:
      table.Archive(op.record);
      break;
    case OpKind::kGrant:
      break;  // rights live in the rules' journal, not in the merged record
    case OpKind::kUpgrade:
      break;  // tool versions live in the rules
  }
}

}  // namespace grove::replica
