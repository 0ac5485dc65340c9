// Grove's cryptography, over OpenSSL 3: SHA-256, Ed25519 signatures, X25519 key agreement,
// AES-256-GCM, HKDF-SHA256 and an anonymous sealed box (how content keys reach member devices).
//
// Thread-safety: the free functions may be called from any thread. Keys are immutable once built,
// so their const methods may run on many threads at once. A Sha256Hasher belongs to one thread.
// SystemRandom keeps no state of its own and may be shared.
//
// Failures: input that is the wrong size or does not authenticate is reported as a Status (or
// `false` from Verify) and never aborts; callers may pass anything a peer sent. An OpenSSL failure
// that only memory exhaustion or a broken installation can cause is reported as Internal where
// the call returns a Status, and aborts the process with a message where it cannot (hashing,
// signing, key generation): carrying on with a half-made key or digest would be worse.
//
// Keys are move-only and wipe their secret bytes when destroyed. A moved-from key holds zeros and
// must not be used again (REQUIRES on every method).
#pragma once

#include <openssl/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "common/bytes.h"
#include "common/random.h"
#include "common/status.h"

namespace grove::crypto {

using PublicKey = std::array<uint8_t, 32>;
using Signature = std::array<uint8_t, 64>;

constexpr size_t kKeySize = 32;
constexpr size_t kSignatureSize = 64;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;

// Deleters for the OpenSSL objects that the types below hold. The key classes keep their parsed
// key so that signing and agreement do not re-derive the public key (a scalar multiplication) on
// every call.
struct PkeyFree {
  void operator()(EVP_PKEY* key) const;
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// ---------------------------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------------------------

Hash32 Sha256(ByteView data);

// Incremental SHA-256 for data that arrives in pieces. Finish() returns the digest and resets the
// hasher, so one object can hash many messages in turn. Move-only; one thread at a time.
class Sha256Hasher {
 public:
  Sha256Hasher();
  Sha256Hasher(Sha256Hasher&&) noexcept = default;
  Sha256Hasher& operator=(Sha256Hasher&&) noexcept = default;

  void Update(ByteView data);
  Hash32 Finish();

 private:
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx_;
};

// HKDF (RFC 5869) with SHA-256. Empty salt means the RFC's default (zeros); empty info is allowed.
// REQUIRES: length <= 255 * 32. Returns `length` bytes; the caller should wipe them when secret.
Bytes HkdfSha256(ByteView ikm, ByteView salt, ByteView info, size_t length);

// ---------------------------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------------------------

// The production Random: OpenSSL's CSPRNG (RAND_bytes). If the CSPRNG fails, Fill aborts the
// process with a message rather than hand out predictable bytes.
class SystemRandom final : public Random {
 public:
  void Fill(std::span<uint8_t> out) override;
};

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

// 32 secret bytes that wipe themselves on destruction and when moved from. The building block of
// the key classes below; not copyable, so a secret is never duplicated by accident.
class SecretBytes {
 public:
  SecretBytes() = default;                 // all zeros
  explicit SecretBytes(ByteView bytes32);  // REQUIRES: bytes32.size() == 32
  // 32 bytes from `rng`, written in place so the secret never passes through a temporary.
  static SecretBytes Generate(Random& rng);
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  const std::array<uint8_t, 32>& bytes() const { return bytes_; }

 private:
  std::array<uint8_t, 32> bytes_{};
};

// A 32-byte symmetric key (AES-256-GCM content keys, HKDF outputs, raw X25519 outputs).
// Move-only; Clone() makes the rare deliberate copy visible.
class SymmetricKey {
 public:
  static SymmetricKey Generate(Random& rng);
  // InvalidArgument unless key32 is exactly 32 bytes.
  static Result<SymmetricKey> FromBytes(ByteView key32);

  const std::array<uint8_t, 32>& bytes() const { return key_.bytes(); }
  SymmetricKey Clone() const;

 private:
  explicit SymmetricKey(SecretBytes key) : key_(std::move(key)) {}
  SecretBytes key_;
};

// An Ed25519 signing key. Generate() draws the 32-byte seed from `rng`, so a SeededRandom gives
// the same key every run (simulation); production passes SystemRandom.
class SigningKey {
 public:
  static SigningKey Generate(Random& rng);
  // InvalidArgument unless seed32 is exactly 32 bytes.
  static Result<SigningKey> FromSeed(ByteView seed32);

  const PublicKey& public_key() const { return public_key_; }
  // The private seed, for persisting the key. Treat the returned bytes as secret.
  const std::array<uint8_t, 32>& seed() const { return seed_.bytes(); }
  // Deterministic (RFC 8032): the same key and message always give the same signature.
  Signature Sign(ByteView message) const;

 private:
  SigningKey(SecretBytes seed, PkeyPtr pkey);
  SecretBytes seed_;
  PublicKey public_key_{};
  PkeyPtr pkey_;
};

// True only if `signature` is a valid Ed25519 signature by `key` over `message`. False on any
// failure, including a signature that is not 64 bytes or a key that is not a curve point.
bool Verify(const PublicKey& key, ByteView message, ByteView signature);

// An X25519 key-agreement key.
class AgreementKey {
 public:
  static AgreementKey Generate(Random& rng);
  // InvalidArgument unless secret32 is exactly 32 bytes.
  static Result<AgreementKey> FromSecret(ByteView secret32);

  const PublicKey& public_key() const { return public_key_; }
  // The private scalar, for persisting the key. Treat the returned bytes as secret.
  const std::array<uint8_t, 32>& secret() const { return secret_.bytes(); }

  // The raw X25519 output with `peer`. Corruption when `peer` is a small-order point (the output
  // would be all zeros and known to everyone). The raw output is not uniformly random: derive
  // keys from it with HkdfSha256 rather than using it as an AEAD key directly.
  Result<SymmetricKey> SharedSecret(const PublicKey& peer) const;

 private:
  AgreementKey(SecretBytes secret, PkeyPtr pkey);
  SecretBytes secret_;
  PublicKey public_key_{};
  PkeyPtr pkey_;
};

// ---------------------------------------------------------------------------------------------
// Authenticated encryption
// ---------------------------------------------------------------------------------------------

// AES-256-GCM. Returns ciphertext || 16-byte tag. InvalidArgument unless nonce is 12 bytes.
// REQUIRES: a nonce is never used twice with the same key (GCM loses all security if it is).
Result<Bytes> AeadSeal(const SymmetricKey& key, ByteView nonce, ByteView aad, ByteView plaintext);

// Reverses AeadSeal. InvalidArgument unless nonce is 12 bytes; Corruption("authentication
// failed") when key, nonce, aad, ciphertext or tag do not match, or `sealed` is shorter than a
// tag. Never returns partial plaintext.
Result<Bytes> AeadOpen(const SymmetricKey& key, ByteView nonce, ByteView aad, ByteView sealed);

// Anonymous sealed box to an X25519 public key: a fresh ephemeral key from `rng`, X25519 with the
// recipient, HKDF-SHA256 (salt = eph_pub || recipient, info = "grove sealed box v1") to an
// AES-256-GCM key used once, so with the zero nonce and empty AAD.
// Output = eph_pub (32) || ciphertext || tag (16). InvalidArgument when `recipient` is a
// small-order point.
Result<Bytes> SealTo(const PublicKey& recipient, ByteView plaintext, Random& rng);

constexpr size_t kSealedBoxOverhead = kKeySize + kTagSize;

// Opens a box made by SealTo for `me`. Corruption when the box is truncated, was sealed to
// another key, or was altered.
Result<Bytes> OpenSealed(const AgreementKey& me, ByteView box);

}  // namespace grove::crypto
