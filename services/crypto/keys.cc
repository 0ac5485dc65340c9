#include <openssl/err.h>

#include <cassert>
#include <cstring>

#include "crypto/crypto.h"
#include "crypto/openssl_util.h"

namespace grove::crypto {

using internal::FatalOpenSsl;

SecretBytes::SecretBytes(ByteView bytes32) {
  assert(bytes32.size() == bytes_.size());
  std::memcpy(bytes_.data(), bytes32.data(), bytes_.size());
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : bytes_(other.bytes_) {
  SecureWipe(other.bytes_.data(), other.bytes_.size());
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    bytes_ = other.bytes_;
    SecureWipe(other.bytes_.data(), other.bytes_.size());
  }
  return *this;
}

SecretBytes::~SecretBytes() { SecureWipe(bytes_.data(), bytes_.size()); }

SecretBytes SecretBytes::Generate(Random& rng) {
  SecretBytes secret;
  rng.Fill(secret.bytes_);
  return secret;
}

// ---------------------------------------------------------------------------------------------

SymmetricKey SymmetricKey::Generate(Random& rng) {
  return SymmetricKey(SecretBytes::Generate(rng));
}

Result<SymmetricKey> SymmetricKey::FromBytes(ByteView key32) {
  if (key32.size() != kKeySize) return InvalidArgument("symmetric key must be 32 bytes", "key");
  return SymmetricKey(SecretBytes(key32));
}

SymmetricKey SymmetricKey::Clone() const { return SymmetricKey(SecretBytes(bytes())); }

// ---------------------------------------------------------------------------------------------

AgreementKey::AgreementKey(SecretBytes secret, PkeyPtr pkey)
    : secret_(std::move(secret)),
      public_key_(internal::RawPublicOf(pkey.get())),
      pkey_(std::move(pkey)) {}

AgreementKey AgreementKey::Generate(Random& rng) {
  const SecretBytes secret = SecretBytes::Generate(rng);
  Result<AgreementKey> key = FromSecret(secret.bytes());
  if (!key.ok()) FatalOpenSsl("X25519 key generation");
  return std::move(key).value();
}

Result<AgreementKey> AgreementKey::FromSecret(ByteView secret32) {
  if (secret32.size() != kKeySize) {
    return InvalidArgument("X25519 secret must be 32 bytes", "secret");
  }
  PkeyPtr pkey = internal::RawPrivateKey(EVP_PKEY_X25519, secret32);
  if (pkey == nullptr) return Internal("OpenSSL could not load an X25519 key");
  return AgreementKey(SecretBytes(secret32), std::move(pkey));
}

Result<SymmetricKey> AgreementKey::SharedSecret(const PublicKey& peer) const {
  assert(pkey_ != nullptr && "use of a moved-from AgreementKey");
  PkeyPtr peer_key = internal::RawPublicKey(EVP_PKEY_X25519, peer);
  internal::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_.get(), nullptr));
  if (peer_key == nullptr || ctx == nullptr) return Internal("OpenSSL could not load X25519 keys");
  std::array<uint8_t, 32> out;
  size_t len = out.size();
  // OpenSSL itself refuses an all-zero result (a small-order peer point), so a derive failure
  // here means the peer's key, not our own state.
  const bool ok = EVP_PKEY_derive_init(ctx.get()) == 1 &&
                  EVP_PKEY_derive_set_peer(ctx.get(), peer_key.get()) == 1 &&
                  EVP_PKEY_derive(ctx.get(), out.data(), &len) == 1 && len == out.size();
  const std::array<uint8_t, 32> zero{};
  if (!ok || out == zero) {
    ERR_clear_error();
    SecureWipe(out.data(), out.size());
    return Corruption("X25519 with this peer key gives no shared secret (small-order point)",
                      "peer");
  }
  SymmetricKey key = SymmetricKey::FromBytes(out).value();
  SecureWipe(out.data(), out.size());
  return key;
}

}  // namespace grove::crypto
