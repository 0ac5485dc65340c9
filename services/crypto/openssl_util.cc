#include "crypto/openssl_util.h"

#include <openssl/err.h>
#include <openssl/rand.h>

#include <climits>
#include <cstdio>
#include <cstdlib>

namespace grove::crypto {
namespace internal {

void FatalOpenSsl(const char* what) {
  std::fprintf(stderr, "grove: fatal: %s failed in OpenSSL\n", what);
  ERR_print_errors_fp(stderr);
  std::abort();
}

const EVP_MD* Sha256Md() {
  static const EVP_MD* const md = OrDie(EVP_MD_fetch(nullptr, "SHA256", nullptr), "fetch SHA256");
  return md;
}

const EVP_CIPHER* Aes256Gcm() {
  static const EVP_CIPHER* const cipher =
      OrDie(EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr), "fetch AES-256-GCM");
  return cipher;
}

PkeyPtr RawPrivateKey(int type, ByteView secret32) {
  return PkeyPtr(EVP_PKEY_new_raw_private_key(type, nullptr, secret32.data(), secret32.size()));
}

PkeyPtr RawPublicKey(int type, const PublicKey& key) {
  return PkeyPtr(EVP_PKEY_new_raw_public_key(type, nullptr, key.data(), key.size()));
}

PublicKey RawPublicOf(EVP_PKEY* key) {
  PublicKey out;
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key, out.data(), &len) != 1 || len != out.size()) {
    FatalOpenSsl("reading a raw public key");
  }
  return out;
}

}  // namespace internal

void PkeyFree::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
void MdCtxFree::operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }

void SystemRandom::Fill(std::span<uint8_t> out) {
  // RAND_bytes takes an int length; a failure means the CSPRNG cannot be trusted at all.
  while (!out.empty()) {
    const size_t n = out.size() < INT_MAX ? out.size() : INT_MAX;
    if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) internal::FatalOpenSsl("RAND_bytes");
    out = out.subspan(n);
  }
}

}  // namespace grove::crypto
