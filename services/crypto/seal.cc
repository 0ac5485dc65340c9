#include <cstring>

#include "crypto/crypto.h"
#include "crypto/openssl_util.h"

namespace grove::crypto {
namespace {

constexpr char kSealInfo[] = "grove sealed box v1";
// Each box key is derived for one box only, so a fixed nonce never repeats under a key.
constexpr std::array<uint8_t, kNonceSize> kZeroNonce{};

SymmetricKey BoxKey(const SymmetricKey& shared, const PublicKey& ephemeral,
                    const PublicKey& recipient) {
  std::array<uint8_t, 2 * kKeySize> salt;
  std::memcpy(salt.data(), ephemeral.data(), kKeySize);
  std::memcpy(salt.data() + kKeySize, recipient.data(), kKeySize);
  Bytes okm = HkdfSha256(shared.bytes(), salt, AsBytes(kSealInfo), kKeySize);
  SymmetricKey key = SymmetricKey::FromBytes(okm).value();
  SecureWipe(okm.data(), okm.size());
  return key;
}

}  // namespace

Result<Bytes> SealTo(const PublicKey& recipient, ByteView plaintext, Random& rng) {
  const AgreementKey ephemeral = AgreementKey::Generate(rng);
  Result<SymmetricKey> shared = ephemeral.SharedSecret(recipient);
  if (!shared.ok()) {
    return InvalidArgument("cannot seal to this recipient key (small-order point)", "recipient");
  }
  const SymmetricKey key = BoxKey(*shared, ephemeral.public_key(), recipient);
  Bytes box(kSealedBoxOverhead + plaintext.size());
  std::memcpy(box.data(), ephemeral.public_key().data(), kKeySize);
  GROVE_RETURN_IF_ERROR(internal::AeadSealInto(key, kZeroNonce, {}, plaintext,
                                               std::span<uint8_t>(box).subspan(kKeySize)));
  return box;
}

Result<Bytes> OpenSealed(const AgreementKey& me, ByteView box) {
  if (box.size() < kSealedBoxOverhead) return Corruption("sealed box is truncated");
  PublicKey ephemeral;
  std::memcpy(ephemeral.data(), box.data(), kKeySize);
  Result<SymmetricKey> shared = me.SharedSecret(ephemeral);
  if (!shared.ok()) return Corruption("sealed box has an invalid ephemeral key");
  const SymmetricKey key = BoxKey(*shared, ephemeral, me.public_key());
  Bytes plaintext(box.size() - kSealedBoxOverhead);
  GROVE_RETURN_IF_ERROR(
      internal::AeadOpenInto(key, kZeroNonce, {}, box.subspan(kKeySize), plaintext));
  return plaintext;
}

}  // namespace grove::crypto
