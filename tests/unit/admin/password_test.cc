// Admin passwords: the rules for a new one, and argon2id hashes that verify the right password
// only, carry their cost, and refuse a tampered or absurd cost.
#include "admin/password.h"

#include <gtest/gtest.h>

#include "common/random.h"

namespace grove::admin {
namespace {

constexpr Argon2Cost kFast{1, 64, 1};

TEST(PasswordTest, RulesForANewPassword) {
  EXPECT_TRUE(CheckNewPassword("correct horse").ok());
  Status s = CheckNewPassword("short pass!");  // 11 characters
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.where(), "password");
  EXPECT_EQ(s.message(), "password must be at least 12 characters long (got 11)");
  // Characters, not bytes: 12 two-byte characters pass, 11 do not.
  EXPECT_TRUE(CheckNewPassword("éééééééééééé").ok());
  EXPECT_FALSE(CheckNewPassword("ééééééééééé").ok());
  EXPECT_FALSE(CheckNewPassword(std::string(1025, 'x')).ok());
  EXPECT_TRUE(CheckNewPassword(std::string(1024, 'x')).ok());
  EXPECT_FALSE(CheckNewPassword(std::string("twelve chars\0x", 14)).ok());
  EXPECT_FALSE(CheckNewPassword("twelve chars\xff").ok());
}

TEST(PasswordTest, HashVerifiesOnlyTheRightPassword) {
  SeededRandom rng(1);
  Result<std::string> hash = HashPassword("correct horse battery", kFast, rng);
  ASSERT_TRUE(hash.ok()) << hash.status().ToString();
  EXPECT_TRUE(hash->starts_with("$argon2id$v=19$m=64,t=1,p=1$")) << *hash;
  EXPECT_EQ(VerifyPassword(*hash, "correct horse battery").value(), true);
  EXPECT_EQ(VerifyPassword(*hash, "correct horse batterY").value(), false);
  EXPECT_EQ(VerifyPassword(*hash, "").value(), false);
  // A fresh salt each time.
  Result<std::string> again = HashPassword("correct horse battery", kFast, rng);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*again, *hash);
  EXPECT_EQ(EncodedCost(*hash), kFast);
}

TEST(PasswordTest, DefaultCostIsTheDocumentedOne) {
  const Argon2Cost cost;
  EXPECT_EQ(cost.passes, 3u);
  EXPECT_EQ(cost.memory_kib, 65536u);
  EXPECT_EQ(cost.lanes, 1u);
  EXPECT_TRUE(CheckArgon2Cost(cost).ok());
}

TEST(PasswordTest, CostLimits) {
  EXPECT_EQ(CheckArgon2Cost({0, 64, 1}).where(), "passes");
  EXPECT_EQ(CheckArgon2Cost({1, 64, 0}).where(), "lanes");
  EXPECT_EQ(CheckArgon2Cost({1, 15, 2}).where(), "memory_kib");
  EXPECT_EQ(CheckArgon2Cost({1, (4u << 20) + 1, 1}).where(), "memory_kib");
  SeededRandom rng(1);
  EXPECT_EQ(HashPassword("correct horse battery", {0, 64, 1}, rng).status().code(),
            Code::kInvalidArgument);
}

TEST(PasswordTest, TamperedOrAbsurdHashesAreRefused) {
  SeededRandom rng(2);
  const std::string hash = *HashPassword("correct horse battery", kFast, rng);
  // A cost no relay should ever spend memory on is not even tried.
  std::string huge = hash;
  huge.replace(huge.find("m=64"), 4, "m=99999999");
  EXPECT_EQ(VerifyPassword(huge, "correct horse battery").status().code(), Code::kCorruption);
  EXPECT_EQ(VerifyPassword("plaintext", "plaintext").status().code(), Code::kCorruption);
  EXPECT_EQ(VerifyPassword("$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "x").status().code(),
            Code::kCorruption);
  // Changing the cost in the text changes the hash computed: it no longer matches.
  std::string other = hash;
  other.replace(other.find("t=1"), 3, "t=2");
  Result<bool> r = VerifyPassword(other, "correct horse battery");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
}

}  // namespace
}  // namespace grove::admin
