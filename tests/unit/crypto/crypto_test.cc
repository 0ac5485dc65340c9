#include "crypto/crypto.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/random.h"

namespace grove::crypto {
namespace {

Bytes Hex(std::string_view text) {
  std::optional<Bytes> b = HexDecode(text);
  EXPECT_TRUE(b.has_value()) << text;
  return b.value_or(Bytes{});
}

std::array<uint8_t, 32> Hex32(std::string_view text) {
  std::optional<Hash32> h = ToHash32(Hex(text));
  EXPECT_TRUE(h.has_value()) << text;
  return h.value_or(Hash32{});
}

Bytes Flip(ByteView in, size_t index, uint8_t mask = 0x01) {
  Bytes out(in.begin(), in.end());
  out[index] ^= mask;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Known-answer vectors

TEST(Sha256, KnownAnswerAndIncrementalAgree) {
  EXPECT_EQ(HexEncode(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256({})),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

  Sha256Hasher hasher;
  hasher.Update(AsBytes("a"));
  hasher.Update(AsBytes("bc"));
  EXPECT_EQ(hasher.Finish(), Sha256(AsBytes("abc")));
  // Finish resets: the next message is hashed from scratch, not appended to "abc".
  hasher.Update(AsBytes("abc"));
  EXPECT_EQ(hasher.Finish(), Sha256(AsBytes("abc")));
}

TEST(Hkdf, Rfc5869Vectors) {
  const Bytes ikm(22, 0x0b);
  // RFC 5869 A.1
  EXPECT_EQ(HexEncode(HkdfSha256(ikm, Hex("000102030405060708090a0b0c"),
                                 Hex("f0f1f2f3f4f5f6f7f8f9"), 42)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  // RFC 5869 A.3: empty salt and info.
  EXPECT_EQ(HexEncode(HkdfSha256(ikm, {}, {}, 42)),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
  EXPECT_TRUE(HkdfSha256(ikm, {}, {}, 0).empty());
  EXPECT_EQ(HkdfSha256({}, {}, {}, 32).size(), 32u);
}

TEST(Ed25519, Rfc8032Vector1EmptyMessage) {
  auto key =
      SigningKey::FromSeed(Hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(HexEncode(key->public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const Signature sig = key->Sign({});
  EXPECT_EQ(HexEncode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39"
            "701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  EXPECT_TRUE(Verify(key->public_key(), {}, sig));
}

TEST(Ed25519, Rfc8032Vector2OneByteMessage) {
  auto key =
      SigningKey::FromSeed(Hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"));
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(HexEncode(key->public_key()),
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
  const Bytes message = {0x72};
  const Signature sig = key->Sign(message);
  EXPECT_EQ(HexEncode(sig),
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f36"
            "13d0f11d8c387b2eaeb4302aeeb00d291612bb0c00");
  // The vector's signature, checked by Verify alone (not just our own Sign's output).
  EXPECT_TRUE(Verify(Hex32("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"),
                     message,
                     Hex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e4"
                         "3e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")));
}

TEST(X25519, Rfc7748DiffieHellmanVector) {
  auto alice = AgreementKey::FromSecret(
      Hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  auto bob = AgreementKey::FromSecret(
      Hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
  ASSERT_TRUE(alice.ok() && bob.ok());
  EXPECT_EQ(HexEncode(alice->public_key()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(HexEncode(bob->public_key()),
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  auto ab = alice->SharedSecret(bob->public_key());
  auto ba = bob->SharedSecret(alice->public_key());
  ASSERT_TRUE(ab.ok() && ba.ok());
  EXPECT_EQ(HexEncode(ab->bytes()),
            "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  EXPECT_EQ(ab->bytes(), ba->bytes());
}

TEST(X25519, SmallOrderPeerIsRejected) {
  SeededRandom rng(1);
  const AgreementKey key = AgreementKey::Generate(rng);
  const PublicKey zero{};  // the identity point: every scalar maps it to zero
  auto shared = key.SharedSecret(zero);
  ASSERT_FALSE(shared.ok());
  EXPECT_EQ(shared.status().code(), Code::kCorruption);
  EXPECT_EQ(SealTo(zero, AsBytes("x"), rng).status().code(), Code::kInvalidArgument);
}

TEST(AesGcm, McGrewViegaTestCases13And14And16) {
  auto zero_key = SymmetricKey::FromBytes(Bytes(32, 0));
  ASSERT_TRUE(zero_key.ok());
  const Bytes zero_nonce(12, 0);
  // Test case 13: empty plaintext, so the output is the tag alone.
  auto tc13 = AeadSeal(*zero_key, zero_nonce, {}, {});
  ASSERT_TRUE(tc13.ok());
  EXPECT_EQ(HexEncode(*tc13), "530f8afbc74536b9a963b4f1c4cb738b");
  // Test case 14: one zero block.
  auto tc14 = AeadSeal(*zero_key, zero_nonce, {}, Bytes(16, 0));
  ASSERT_TRUE(tc14.ok());
  EXPECT_EQ(HexEncode(*tc14), "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");

  // Test case 16: AAD and a plaintext that is not a whole number of blocks.
  auto key = SymmetricKey::FromBytes(
      Hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"));
  ASSERT_TRUE(key.ok());
  const Bytes nonce = Hex("cafebabefacedbaddecaf888");
  const Bytes aad = Hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const Bytes plaintext = Hex(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6"
      "b525b16aedf5aa0de657ba637b39");
  const std::string expected =
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056"
      "828838c5f61e6393ba7a0abcc9f662"
      "76fc6ece0f4e1768cddf8853bb2d551b";
  auto sealed = AeadSeal(*key, nonce, aad, plaintext);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(HexEncode(*sealed), expected);
  auto opened = AeadOpen(*key, nonce, aad, Hex(expected));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, plaintext);
}

// ---------------------------------------------------------------------------------------------
// Signatures

TEST(Ed25519, AnyFlippedBitFailsVerification) {
  SeededRandom rng(42);
  const SigningKey key = SigningKey::Generate(rng);
  const Bytes message = ToBytes("transfer 10 units of SKU-7 to site B");
  const Signature sig = key.Sign(message);
  ASSERT_TRUE(Verify(key.public_key(), message, sig));

  for (size_t i : {size_t{0}, message.size() / 2, message.size() - 1}) {
    EXPECT_FALSE(Verify(key.public_key(), Flip(message, i), sig)) << "message byte " << i;
  }
  for (size_t i : {size_t{0}, size_t{31}, size_t{32}, size_t{63}}) {
    EXPECT_FALSE(Verify(key.public_key(), message, Flip(sig, i))) << "signature byte " << i;
  }
  for (size_t i : {size_t{0}, size_t{17}, size_t{31}}) {
    PublicKey other = key.public_key();
    other[i] ^= 0x01;
    EXPECT_FALSE(Verify(other, message, sig)) << "key byte " << i;
  }
  const SigningKey stranger = SigningKey::Generate(rng);
  EXPECT_FALSE(Verify(stranger.public_key(), message, sig));
}

TEST(Ed25519, WrongSizesAreRejectedNotFatal) {
  SeededRandom rng(3);
  const SigningKey key = SigningKey::Generate(rng);
  const Signature sig = key.Sign(AsBytes("m"));
  EXPECT_FALSE(Verify(key.public_key(), AsBytes("m"), ByteView(sig).first(63)));
  Bytes longer(sig.begin(), sig.end());
  longer.push_back(0);
  EXPECT_FALSE(Verify(key.public_key(), AsBytes("m"), longer));
  EXPECT_FALSE(Verify(key.public_key(), AsBytes("m"), {}));

  EXPECT_EQ(SigningKey::FromSeed(Bytes(31)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SigningKey::FromSeed(Bytes(33)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(AgreementKey::FromSecret(Bytes(31)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SymmetricKey::FromBytes(Bytes(16)).status().code(), Code::kInvalidArgument);
}

TEST(Keys, SameSeedGivesSameKeysAndSeedRoundTrips) {
  SeededRandom a(2024), b(2024), c(2025);
  const SigningKey sa = SigningKey::Generate(a), sb = SigningKey::Generate(b),
                   sc = SigningKey::Generate(c);
  const AgreementKey xa = AgreementKey::Generate(a), xb = AgreementKey::Generate(b);
  const SymmetricKey ka = SymmetricKey::Generate(a), kb = SymmetricKey::Generate(b);
  EXPECT_EQ(sa.public_key(), sb.public_key());
  EXPECT_NE(sa.public_key(), sc.public_key());
  EXPECT_EQ(xa.public_key(), xb.public_key());
  EXPECT_EQ(ka.bytes(), kb.bytes());
  // Successive keys from one stream differ: each generator consumes fresh bytes.
  EXPECT_NE(sa.seed(), xa.secret());

  auto restored = SigningKey::FromSeed(sa.seed());
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->public_key(), sa.public_key());
  EXPECT_EQ(restored->Sign(AsBytes("m")), sa.Sign(AsBytes("m")));
  auto restored_x = AgreementKey::FromSecret(xa.secret());
  ASSERT_TRUE(restored_x.ok());
  EXPECT_EQ(restored_x->public_key(), xa.public_key());
}

TEST(Keys, MoveWipesTheSourceAndCloneCopies) {
  SeededRandom rng(5);
  SymmetricKey key = SymmetricKey::Generate(rng);
  const std::array<uint8_t, 32> original = key.bytes();
  SymmetricKey copy = key.Clone();
  EXPECT_EQ(copy.bytes(), original);
  EXPECT_EQ(key.bytes(), original) << "Clone must not disturb the source";
  SymmetricKey moved = std::move(key);
  EXPECT_EQ(moved.bytes(), original);
  EXPECT_EQ(key.bytes(), (std::array<uint8_t, 32>{}));  // NOLINT(bugprone-use-after-move)

  SigningKey signer = SigningKey::Generate(rng);
  const PublicKey pub = signer.public_key();
  SigningKey signer2 = std::move(signer);
  EXPECT_EQ(signer.seed(), (std::array<uint8_t, 32>{}));  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(Verify(pub, AsBytes("m"), signer2.Sign(AsBytes("m"))));
}

TEST(SystemRandom, FillsWithFreshBytes) {
  SystemRandom rng;
  Bytes a(64), b(64);
  rng.Fill(a);
  rng.Fill(b);
  EXPECT_NE(a, b);
  EXPECT_NE(a, Bytes(64, 0));
  const SigningKey k1 = SigningKey::Generate(rng), k2 = SigningKey::Generate(rng);
  EXPECT_NE(k1.public_key(), k2.public_key());
}

// ---------------------------------------------------------------------------------------------
// AEAD

class AeadTest : public ::testing::Test {
 protected:
  SeededRandom rng_{11};
  SymmetricKey key_ = SymmetricKey::Generate(rng_);
  Bytes nonce_ = Bytes(kNonceSize, 0x24);
  Bytes aad_ = ToBytes("workspace|author|seq");
  Bytes plaintext_ = ToBytes("stock level: 41 units at site A");
  Bytes sealed_ = AeadSeal(key_, nonce_, aad_, plaintext_).value();

  void ExpectAuthFailure(const Result<Bytes>& r, const std::string& what) {
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), Code::kCorruption) << what;
  }
};

TEST_F(AeadTest, RoundTripAndLayout) {
  EXPECT_EQ(sealed_.size(), plaintext_.size() + kTagSize);
  EXPECT_NE(Bytes(sealed_.begin(), sealed_.begin() + plaintext_.size()), plaintext_);
  auto opened = AeadOpen(key_, nonce_, aad_, sealed_);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, plaintext_);
}

TEST_F(AeadTest, AnyTamperingFailsAuthentication) {
  ExpectAuthFailure(AeadOpen(key_, nonce_, aad_, Flip(sealed_, 0)), "ciphertext bit");
  ExpectAuthFailure(AeadOpen(key_, nonce_, aad_, Flip(sealed_, sealed_.size() - 1)), "tag bit");
  ExpectAuthFailure(AeadOpen(key_, nonce_, Flip(aad_, 3), sealed_), "aad");
  ExpectAuthFailure(AeadOpen(key_, nonce_, {}, sealed_), "missing aad");
  ExpectAuthFailure(AeadOpen(key_, Flip(nonce_, 11), aad_, sealed_), "nonce");
  const SymmetricKey other = SymmetricKey::Generate(rng_);
  ExpectAuthFailure(AeadOpen(other, nonce_, aad_, sealed_), "wrong key");
  const ByteView all(sealed_);
  ExpectAuthFailure(AeadOpen(key_, nonce_, aad_, all.first(all.size() - 1)), "one byte short");
  ExpectAuthFailure(AeadOpen(key_, nonce_, aad_, all.first(kTagSize)), "tag only");
  ExpectAuthFailure(AeadOpen(key_, nonce_, aad_, all.first(kTagSize - 1)), "shorter than tag");
  ExpectAuthFailure(AeadOpen(key_, nonce_, aad_, {}), "empty");
}

TEST_F(AeadTest, WrongNonceSizeIsInvalidArgument) {
  EXPECT_EQ(AeadSeal(key_, Bytes(11), aad_, plaintext_).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(AeadSeal(key_, Bytes(16), aad_, plaintext_).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(AeadOpen(key_, Bytes(8), aad_, sealed_).status().code(), Code::kInvalidArgument);
}

TEST_F(AeadTest, LargeInputRoundTrips) {
  Bytes big(1 << 20);
  rng_.Fill(big);
  auto sealed = AeadSeal(key_, nonce_, {}, big);
  ASSERT_TRUE(sealed.ok());
  auto opened = AeadOpen(key_, nonce_, {}, *sealed);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, big);
}

// ---------------------------------------------------------------------------------------------
// Sealed box

TEST(SealedBox, RoundTripAndFailures) {
  SeededRandom rng(99);
  const AgreementKey alice = AgreementKey::Generate(rng);
  const AgreementKey mallory = AgreementKey::Generate(rng);
  const Bytes content_key = ToBytes("0123456789abcdef0123456789abcdef");

  auto box = SealTo(alice.public_key(), content_key, rng);
  ASSERT_TRUE(box.ok()) << box.status().ToString();
  ASSERT_EQ(box->size(), kSealedBoxOverhead + content_key.size());

  auto opened = OpenSealed(alice, *box);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, content_key);

  EXPECT_EQ(OpenSealed(mallory, *box).status().code(), Code::kCorruption) << "wrong recipient";
  const ByteView all(*box);
  EXPECT_EQ(OpenSealed(alice, all.first(all.size() - 1)).status().code(), Code::kCorruption);
  EXPECT_EQ(OpenSealed(alice, all.first(kSealedBoxOverhead - 1)).status().code(),
            Code::kCorruption);
  EXPECT_EQ(OpenSealed(alice, {}).status().code(), Code::kCorruption);
  EXPECT_EQ(OpenSealed(alice, Flip(*box, 0)).status().code(), Code::kCorruption) << "ephemeral key";
  EXPECT_EQ(OpenSealed(alice, Flip(*box, 40)).status().code(), Code::kCorruption) << "ciphertext";

  // A fresh ephemeral key per box: sealing the same content twice gives unrelated boxes.
  auto again = SealTo(alice.public_key(), content_key, rng);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(Bytes(again->begin(), again->begin() + kKeySize),
            Bytes(box->begin(), box->begin() + kKeySize));
  EXPECT_NE(*again, *box);
  EXPECT_TRUE(OpenSealed(alice, *again).ok());
}

TEST(SealedBox, EmptyPlaintext) {
  SeededRandom rng(7);
  const AgreementKey bob = AgreementKey::Generate(rng);
  auto box = SealTo(bob.public_key(), {}, rng);
  ASSERT_TRUE(box.ok());
  EXPECT_EQ(box->size(), kSealedBoxOverhead);
  auto opened = OpenSealed(bob, *box);
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE(opened->empty());
}

}  // namespace
}  // namespace grove::crypto
