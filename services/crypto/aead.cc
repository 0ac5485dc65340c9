#include <openssl/err.h>

#include <cassert>
#include <climits>

#include "crypto/crypto.h"
#include "crypto/openssl_util.h"

namespace grove::crypto {
namespace internal {
namespace {

// EVP lengths are ints; feed larger inputs in pieces. `out` is null for AAD.
bool CipherUpdate(EVP_CIPHER_CTX* ctx, uint8_t* out, ByteView in) {
  constexpr size_t kChunk = size_t{1} << 30;
  while (!in.empty()) {
    const size_t n = in.size() < kChunk ? in.size() : kChunk;
    int written = 0;
    if (EVP_CipherUpdate(ctx, out, &written, in.data(), static_cast<int>(n)) != 1 ||
        (out != nullptr && static_cast<size_t>(written) != n)) {
      return false;
    }
    if (out != nullptr) out += n;
    in = in.subspan(n);
  }
  return true;
}

// Starts an AES-256-GCM operation; GCM's default IV length is the 12 bytes we require.
CipherCtxPtr StartGcm(const SymmetricKey& key, ByteView nonce, ByteView aad, bool encrypt) {
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr ||
      EVP_CipherInit_ex2(ctx.get(), Aes256Gcm(), key.bytes().data(), nonce.data(), encrypt ? 1 : 0,
                         nullptr) != 1 ||
      !CipherUpdate(ctx.get(), nullptr, aad)) {
    return nullptr;
  }
  return ctx;
}

Status CheckNonce(ByteView nonce) {
  if (nonce.size() != kNonceSize) return InvalidArgument("AEAD nonce must be 12 bytes", "nonce");
  return Status::Ok();
}

}  // namespace

Status AeadSealInto(const SymmetricKey& key, ByteView nonce, ByteView aad, ByteView plaintext,
                    std::span<uint8_t> out) {
  assert(out.size() == plaintext.size() + kTagSize);
  GROVE_RETURN_IF_ERROR(CheckNonce(nonce));
  CipherCtxPtr ctx = StartGcm(key, nonce, aad, /*encrypt=*/true);
  int final_len = 0;
  uint8_t* tag = out.data() + plaintext.size();
  if (ctx == nullptr || !CipherUpdate(ctx.get(), out.data(), plaintext) ||
      EVP_EncryptFinal_ex(ctx.get(), tag, &final_len) != 1 || final_len != 0 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, tag) != 1) {
    SecureWipe(out.data(), out.size());
    return Internal("AES-256-GCM encryption failed in OpenSSL");
  }
  return Status::Ok();
}

Status AeadOpenInto(const SymmetricKey& key, ByteView nonce, ByteView aad, ByteView sealed,
                    std::span<uint8_t> out) {
  GROVE_RETURN_IF_ERROR(CheckNonce(nonce));
  if (sealed.size() < kTagSize) return Corruption("sealed data is shorter than its 16-byte tag");
  assert(out.size() == sealed.size() - kTagSize);
  const ByteView ciphertext = sealed.first(out.size());
  // OpenSSL's ctrl takes a mutable pointer but only copies the tag.
  void* tag = const_cast<uint8_t*>(sealed.data() + out.size());
  CipherCtxPtr ctx = StartGcm(key, nonce, aad, /*encrypt=*/false);
  if (ctx == nullptr || !CipherUpdate(ctx.get(), out.data(), ciphertext) ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag) != 1) {
    SecureWipe(out.data(), out.size());
    return Internal("AES-256-GCM decryption failed in OpenSSL");
  }
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + out.size(), &final_len) != 1) {
    // The plaintext was written before the tag was checked; none of it may escape.
    SecureWipe(out.data(), out.size());
    ERR_clear_error();
    return Corruption("authentication failed");
  }
  return Status::Ok();
}

}  // namespace internal

Result<Bytes> AeadSeal(const SymmetricKey& key, ByteView nonce, ByteView aad, ByteView plaintext) {
  Bytes out(plaintext.size() + kTagSize);
  GROVE_RETURN_IF_ERROR(internal::AeadSealInto(key, nonce, aad, plaintext, out));
  return out;
}

Result<Bytes> AeadOpen(const SymmetricKey& key, ByteView nonce, ByteView aad, ByteView sealed) {
  Bytes out(sealed.size() < kTagSize ? 0 : sealed.size() - kTagSize);
  GROVE_RETURN_IF_ERROR(internal::AeadOpenInto(key, nonce, aad, sealed, out));
  return out;
}

}  // namespace grove::crypto
