#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "crypto/crypto.h"
#include "crypto/openssl_util.h"

namespace grove::crypto {

using internal::FatalOpenSsl;
using internal::Sha256Md;

Hash32 Sha256(ByteView data) {
  Hash32 out;
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, Sha256Md(), nullptr) != 1 ||
      len != out.size()) {
    FatalOpenSsl("SHA-256");
  }
  return out;
}

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex2(ctx_.get(), Sha256Md(), nullptr) != 1) {
    FatalOpenSsl("SHA-256 init");
  }
}

void Sha256Hasher::Update(ByteView data) {
  if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) FatalOpenSsl("SHA-256 update");
}

Hash32 Sha256Hasher::Finish() {
  Hash32 out;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), out.data(), &len) != 1 || len != out.size() ||
      EVP_DigestInit_ex2(ctx_.get(), Sha256Md(), nullptr) != 1) {
    FatalOpenSsl("SHA-256 final");
  }
  return out;
}

namespace {

struct KdfFree {
  void operator()(EVP_KDF_CTX* ctx) const { EVP_KDF_CTX_free(ctx); }
};

EVP_KDF* Hkdf() {
  static EVP_KDF* const kdf =
      internal::OrDie(EVP_KDF_fetch(nullptr, "HKDF", nullptr), "fetch HKDF");
  return kdf;
}

OSSL_PARAM OctetParam(const char* name, ByteView data) {
  // OpenSSL refuses a null pointer even with size 0 (HKDF then fails), so an empty input still
  // needs a valid address.
  static const uint8_t kEmpty = 0;
  const void* p = data.empty() ? &kEmpty : data.data();
  return OSSL_PARAM_construct_octet_string(name, const_cast<void*>(p), data.size());
}

}  // namespace

Bytes HkdfSha256(ByteView ikm, ByteView salt, ByteView info, size_t length) {
  Bytes out(length);
  if (length == 0) return out;
  std::unique_ptr<EVP_KDF_CTX, KdfFree> ctx(EVP_KDF_CTX_new(Hkdf()));
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OctetParam(OSSL_KDF_PARAM_KEY, ikm),
      OctetParam(OSSL_KDF_PARAM_SALT, salt),
      OctetParam(OSSL_KDF_PARAM_INFO, info),
      OSSL_PARAM_construct_end(),
  };
  if (ctx == nullptr || EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    FatalOpenSsl("HKDF-SHA256 (is length > 8160?)");
  }
  return out;
}

}  // namespace grove::crypto
