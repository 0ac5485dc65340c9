#include <openssl/err.h>

#include <cassert>

#include "crypto/crypto.h"
#include "crypto/openssl_util.h"

namespace grove::crypto {

using internal::FatalOpenSsl;

SigningKey::SigningKey(SecretBytes seed, PkeyPtr pkey)
    : seed_(std::move(seed)),
      public_key_(internal::RawPublicOf(pkey.get())),
      pkey_(std::move(pkey)) {}

SigningKey SigningKey::Generate(Random& rng) {
  const SecretBytes seed = SecretBytes::Generate(rng);
  Result<SigningKey> key = FromSeed(seed.bytes());
  if (!key.ok()) FatalOpenSsl("Ed25519 key generation");
  return std::move(key).value();
}

Result<SigningKey> SigningKey::FromSeed(ByteView seed32) {
  if (seed32.size() != kKeySize) return InvalidArgument("Ed25519 seed must be 32 bytes", "seed");
  PkeyPtr pkey = internal::RawPrivateKey(EVP_PKEY_ED25519, seed32);
  if (pkey == nullptr) return Internal("OpenSSL could not load an Ed25519 key");
  return SigningKey(SecretBytes(seed32), std::move(pkey));
}

Signature SigningKey::Sign(ByteView message) const {
  assert(pkey_ != nullptr && "use of a moved-from SigningKey");
  Signature sig;
  size_t len = sig.size();
  internal::MdCtxPtr ctx(EVP_MD_CTX_new());
  // Ed25519 is one-shot (it hashes the message twice), hence no digest and no Update calls.
  if (ctx == nullptr ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey_.get(), nullptr) !=
          1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len, message.data(), message.size()) != 1 ||
      len != sig.size()) {
    FatalOpenSsl("Ed25519 signing");
  }
  return sig;
}

bool Verify(const PublicKey& key, ByteView message, ByteView signature) {
  if (signature.size() != kSignatureSize) return false;
  PkeyPtr pkey = internal::RawPublicKey(EVP_PKEY_ED25519, key);
  internal::MdCtxPtr ctx(EVP_MD_CTX_new());
  const bool ok = pkey != nullptr && ctx != nullptr &&
                  EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey.get(),
                                          nullptr) == 1 &&
                  EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                                   message.size()) == 1;
  // Peers can make verification fail at will; a stale entry on this thread's error queue would
  // otherwise surface in some unrelated later error report.
  if (!ok) ERR_clear_error();
  return ok;
}

}  // namespace grove::crypto
