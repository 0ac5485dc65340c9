// Forges signed deltas for tests: a member device that skips its own replica's checks and signs
// whatever ops it likes, as a modified or malicious client could. The deltas are well formed,
// correctly encrypted under a content key the device legitimately holds, and validly signed, so
// only the receivers' rules stand between them and the merged state.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "crypto/crypto.h"
#include "grove/v1/wire.pb.h"
#include "identity/identity.h"
#include "replica/replica.h"

namespace grove::testing {

class DeltaForge {
 public:
  // `held`: every delta the forger has seen (it builds on them: causal context, key boxes).
  DeltaForge(const identity::Identity& me, const replica::WorkspaceId& ws) : me_(me), ws_(ws) {}

  // Learns content keys sealed to this device and the newest seq/hash per author.
  void See(const std::vector<Bytes>& deltas) {
    for (const Bytes& raw : deltas) {
      wire::v1::Delta d;
      wire::v1::DeltaBody b;
      if (!d.ParseFromArray(raw.data(), static_cast<int>(raw.size())) ||
          !b.ParseFromString(d.body())) {
        continue;
      }
      auto author = ToHash32(AsBytes(b.author()));
      if (!author) continue;
      uint64_t& seen = context_[*author];
      seen = std::max(seen, b.seq());
      max_hlc_ = std::max(max_hlc_, b.hlc());
      if (*author == me_.device() && b.seq() > seq_) {
        seq_ = b.seq();
        prev_ = crypto::Sha256(AsBytes(d.body()));
      }
      for (const auto& op : b.plain()) {
        const auto& boxes =
            op.has_rotate_key() ? op.rotate_key().sealed() : op.share_key().sealed();
        const std::string& key_id =
            op.has_rotate_key() ? op.rotate_key().key_id() : op.share_key().key_id();
        for (const auto& sealed : boxes) {
          if (sealed.device() != std::string(me_.device().begin(), me_.device().end())) continue;
          auto opened = crypto::OpenSealed(me_.agreement_key(), AsBytes(sealed.box()));
          if (!opened.ok()) continue;
          auto key = crypto::SymmetricKey::FromBytes(*opened);
          if (key.ok()) {
            key_id_ = key_id;
            key_.emplace(std::move(key).value());
          }
        }
      }
    }
  }

  // Signs a delta carrying `batch` (device 0 of the batch must be this device).
  Bytes Forge(wire::v1::OpBatch batch, Random& random) {
    EXPECT_TRUE(key_.has_value()) << "the forger holds no content key";
    wire::v1::DeltaBody body;
    body.set_format(1);
    body.set_workspace(ws_.data(), ws_.size());
    body.set_author(me_.device().data(), me_.device().size());
    body.set_seq(seq_ + 1);
    if (seq_ > 0) body.set_prev(prev_.data(), prev_.size());
    for (const auto& [dev, seq] : context_) {
      if (dev == me_.device() || sent_context_[dev] >= seq) continue;
      auto* e = body.add_context();
      e->set_device(dev.data(), dev.size());
      e->set_seq(seq);
      sent_context_[dev] = seq;
    }
    uint64_t hlc = max_hlc_ + (uint64_t{1} << 16);
    body.set_hlc(hlc);
    batch.set_hlc_base(hlc);
    std::string plain;
    batch.SerializeToString(&plain);
    Bytes aad(ws_.begin(), ws_.end());
    aad.insert(aad.end(), me_.device().begin(), me_.device().end());
    for (int i = 7; i >= 0; --i) aad.push_back(static_cast<uint8_t>((seq_ + 1) >> (8 * i)));
    Bytes nonce(crypto::kNonceSize);
    random.Fill(nonce);
    auto sealed = crypto::AeadSeal(*key_, nonce, aad, AsBytes(plain));
    EXPECT_TRUE(sealed.ok());
    auto* s = body.mutable_sealed();
    s->set_key_id(key_id_);
    s->set_nonce(nonce.data(), nonce.size());
    s->set_codec(0);
    s->set_ciphertext(sealed->data(), sealed->size());
    std::string body_bytes;
    body.SerializeToString(&body_bytes);
    wire::v1::Delta delta;
    auto sig = me_.signing_key().Sign(AsBytes(body_bytes));
    delta.set_body(body_bytes);
    delta.set_signature(sig.data(), sig.size());
    std::string out;
    delta.SerializeToString(&out);
    seq_ += 1;
    prev_ = crypto::Sha256(AsBytes(body_bytes));
    max_hlc_ = hlc;
    context_[me_.device()] = seq_;
    return Bytes(out.begin(), out.end());
  }

 private:
  const identity::Identity& me_;
  replica::WorkspaceId ws_;
  std::map<Hash32, uint64_t> context_;
  std::map<Hash32, uint64_t> sent_context_;
  uint64_t seq_ = 0;
  Hash32 prev_{};
  uint64_t max_hlc_ = 0;
  std::string key_id_;
  std::optional<crypto::SymmetricKey> key_;
};

}  // namespace grove::testing
