// Internal to services/crypto: OpenSSL handles as unique_ptrs, algorithm objects fetched once,
// and the shared AES-GCM core that the public AEAD and sealed-box calls write through.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <span>

#include "crypto/crypto.h"

namespace grove::crypto::internal {

// Prints what failed and OpenSSL's error queue, then aborts. For failures that only memory
// exhaustion or a broken OpenSSL can cause, where no caller could do anything sensible.
[[noreturn]] void FatalOpenSsl(const char* what);

// `p`, or FatalOpenSsl(what) when it is null: for fetches and allocations nobody can recover from.
template <typename T>
T* OrDie(T* p, const char* what) {
  if (p == nullptr) FatalOpenSsl(what);
  return p;
}

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, crypto::MdCtxFree>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

// Fetched on first use and kept for the life of the process: an implicit fetch inside every
// EVP call costs a locked lookup in OpenSSL's method store.
const EVP_MD* Sha256Md();
const EVP_CIPHER* Aes256Gcm();

// Parses a 32-byte raw key of `type` (EVP_PKEY_ED25519 or EVP_PKEY_X25519). Null on failure.
PkeyPtr RawPrivateKey(int type, ByteView secret32);
PkeyPtr RawPublicKey(int type, const PublicKey& key);
// The public half of a parsed key; aborts if OpenSSL cannot produce it.
PublicKey RawPublicOf(EVP_PKEY* key);

// AES-256-GCM writing ciphertext || tag into `out`, which must be plaintext.size() + kTagSize
// bytes. Same errors as AeadSeal.
Status AeadSealInto(const SymmetricKey& key, ByteView nonce, ByteView aad, ByteView plaintext,
                    std::span<uint8_t> out);
// Opens `sealed` into `out`, which must be sealed.size() - kTagSize bytes; wipes `out` when
// authentication fails. Same errors as AeadOpen.
Status AeadOpenInto(const SymmetricKey& key, ByteView nonce, ByteView aad, ByteView sealed,
                    std::span<uint8_t> out);

}  // namespace grove::crypto::internal
