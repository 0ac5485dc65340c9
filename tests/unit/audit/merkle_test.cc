#include "audit/merkle.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/random.h"
#include "crypto/crypto.h"

namespace grove::audit {
namespace {

using Proof = std::vector<Hash32>;

Bytes Hex(std::string_view text) {
  std::optional<Bytes> b = HexDecode(text);
  EXPECT_TRUE(b.has_value()) << text;
  return b.value_or(Bytes{});
}

Hash32 Hex32(std::string_view text) {
  std::optional<Hash32> h = ToHash32(Hex(text));
  EXPECT_TRUE(h.has_value()) << text;
  return h.value_or(Hash32{});
}

Proof HexProof(std::initializer_list<std::string_view> texts) {
  Proof proof;
  for (std::string_view t : texts) proof.push_back(Hex32(t));
  return proof;
}

// Randomised tests use GROVE_TEST_SEED when set, else a fixed seed, and print it so a failure
// replays exactly.
uint64_t TestSeed() {
  uint64_t seed = 0x6d65726b6c65;  // "merkle"
  if (const char* env = std::getenv("GROVE_TEST_SEED")) seed = std::strtoull(env, nullptr, 0);
  std::cout << "GROVE_TEST_SEED=" << seed << "\n";
  return seed;
}

// ---------------------------------------------------------------------------------------------
// The naive reference: RFC 6962 §2.1 definitions transcribed literally, recursive, over spans.

using Leaves = std::span<const Hash32>;

uint64_t RefSplit(uint64_t n) {  // largest power of two < n, by counting rather than <bit>
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

Hash32 RefMth(Leaves d) {
  if (d.empty()) return crypto::Sha256({});
  if (d.size() == 1) return d[0];
  const uint64_t k = RefSplit(d.size());
  return NodeHash(RefMth(d.first(k)), RefMth(d.subspan(k)));
}

Proof RefPath(uint64_t m, Leaves d) {
  if (d.size() <= 1) return {};
  const uint64_t k = RefSplit(d.size());
  Proof out;
  if (m < k) {
    out = RefPath(m, d.first(k));
    out.push_back(RefMth(d.subspan(k)));
  } else {
    out = RefPath(m - k, d.subspan(k));
    out.push_back(RefMth(d.first(k)));
  }
  return out;
}

Proof RefSubproof(uint64_t m, Leaves d, bool b) {
  if (m == d.size()) return b ? Proof{} : Proof{RefMth(d)};
  const uint64_t k = RefSplit(d.size());
  Proof out;
  if (m <= k) {
    out = RefSubproof(m, d.first(k), b);
    out.push_back(RefMth(d.subspan(k)));
  } else {
    out = RefSubproof(m - k, d.subspan(k), false);
    out.push_back(RefMth(d.first(k)));
  }
  return out;
}

Proof RefProof(uint64_t m, Leaves d) {
  if (m == 0 || m == d.size()) return {};
  return RefSubproof(m, d, true);
}

// Distinct leaf hashes: each entry starts with its index, then 0..39 random bytes.
std::vector<Hash32> RandomLeaves(Random& rng, size_t count) {
  std::vector<Hash32> leaves;
  for (size_t i = 0; i < count; ++i) {
    Bytes entry(8 + rng.Uniform(40));
    for (int b = 0; b < 8; ++b) entry[b] = static_cast<uint8_t>(i >> (8 * b));
    rng.Fill(std::span<uint8_t>(entry).subspan(8));
    leaves.push_back(LeafHash(entry));
  }
  return leaves;
}

MerkleLog LogOf(Leaves leaves) {
  MerkleLog log;
  for (const Hash32& leaf : leaves) log.Append(leaf);
  return log;
}

Proof FlipBit(const Proof& proof, size_t element, size_t bit) {
  Proof out = proof;
  out[element][(bit / 8) % 32] ^= static_cast<uint8_t>(1u << (bit % 8));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Known answers. Inputs, roots and proofs are the reference tree of
//   google/certificate-transparency cpp/merkletree/merkle_tree_test.cc (kInputs, kSHA256Roots;
//   commit 0e901cacd1388fa16f78b184612f6cd16e5ceec1), and
//   transparency-dev/merkle proof/verify_test.go (leaves, roots, inclusionProofs,
//   consistencyProofs; commit 02194e9afb6c1d95b5381350007963aa70fff472),
// which agree on the roots. Their inclusion vectors number leaves from 1; ours from 0.

std::vector<Hash32> ReferenceLeaves() {
  std::vector<Hash32> leaves;
  for (std::string_view hex : {"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                               "606162636465666768696a6b6c6d6e6f"}) {
    leaves.push_back(LeafHash(Hex(hex)));
  }
  return leaves;
}

const char* const kEmptyRoot = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const char* const kReferenceRoots[8] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

TEST(MerkleKnownAnswer, RootsOfTheReferenceTree) {
  const std::vector<Hash32> leaves = ReferenceLeaves();
  MerkleLog log;
  EXPECT_EQ(HexEncode(log.Root()), kEmptyRoot);
  EXPECT_EQ(HexEncode(RootOf({})), kEmptyRoot);
  for (size_t i = 0; i < leaves.size(); ++i) {
    log.Append(leaves[i]);
    EXPECT_EQ(HexEncode(log.Root()), kReferenceRoots[i]) << "size " << i + 1;
    EXPECT_EQ(HexEncode(RootOf(std::span(leaves).first(i + 1))), kReferenceRoots[i]);
  }
  for (uint64_t s = 1; s <= 8; ++s) {
    Result<Hash32> root = log.RootAt(s);
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(HexEncode(*root), kReferenceRoots[s - 1]);
  }
  EXPECT_EQ(HexEncode(*log.RootAt(0)), kEmptyRoot);
}

TEST(MerkleKnownAnswer, InclusionProofs) {
  const MerkleLog log = LogOf(ReferenceLeaves());
  const std::vector<Hash32> leaves = ReferenceLeaves();
  struct Case {
    uint64_t index, size;
    Proof proof;
  };
  const Case cases[] = {
      {0, 1, {}},
      {0, 8,
       HexProof({"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                 "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                 "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"})},
      {5, 8,
       HexProof({"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                 "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                 "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
      {2, 3, HexProof({"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"})},
      {1, 5,
       HexProof({"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                 "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                 "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"})},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("index " + std::to_string(c.index) + " size " + std::to_string(c.size));
    Result<Proof> proof = log.InclusionProof(c.index, c.size);
    ASSERT_TRUE(proof.ok()) << proof.status().ToString();
    EXPECT_EQ(*proof, c.proof);
    const Hash32 root = Hex32(kReferenceRoots[c.size - 1]);
    EXPECT_TRUE(VerifyInclusion(leaves[c.index], c.index, c.size, c.proof, root).ok());
  }
}

TEST(MerkleKnownAnswer, ConsistencyProofs) {
  const MerkleLog log = LogOf(ReferenceLeaves());
  struct Case {
    uint64_t old_size, new_size;
    Proof proof;
  };
  const Case cases[] = {
      {1, 1, {}},
      {1, 8,
       HexProof({"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                 "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                 "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"})},
      {6, 8,
       HexProof({"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                 "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                 "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
      {2, 5,
       HexProof({"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                 "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"})},
      {6, 7,
       HexProof({"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                 "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                 "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"})},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("sizes " + std::to_string(c.old_size) + " -> " + std::to_string(c.new_size));
    Result<Proof> proof = log.ConsistencyProof(c.old_size, c.new_size);
    ASSERT_TRUE(proof.ok()) << proof.status().ToString();
    EXPECT_EQ(*proof, c.proof);
    EXPECT_TRUE(VerifyConsistency(c.old_size, c.new_size, Hex32(kReferenceRoots[c.old_size - 1]),
                                  Hex32(kReferenceRoots[c.new_size - 1]), c.proof)
                    .ok());
  }
}

// ---------------------------------------------------------------------------------------------
// Every size 0..64 against the reference, with tampering.

constexpr size_t kMaxSize = 64;

class MerkleProperty : public ::testing::Test {
 protected:
  void SetUp() override {
    SeededRandom rng(seed_);
    leaves_ = RandomLeaves(rng, kMaxSize);
    log_ = LogOf(leaves_);
    for (size_t n = 0; n <= kMaxSize; ++n) roots_.push_back(RefMth(Leaves(leaves_).first(n)));
  }

  const uint64_t seed_ = TestSeed();
  std::vector<Hash32> leaves_;
  std::vector<Hash32> roots_;  // roots_[n] = reference MTH of the first n leaves
  MerkleLog log_;
};

TEST_F(MerkleProperty, RootsMatchReferenceAtEverySize) {
  MerkleLog grown;
  for (size_t n = 0; n <= kMaxSize; ++n) {
    SCOPED_TRACE("size " + std::to_string(n));
    EXPECT_EQ(grown.size(), n);
    EXPECT_EQ(grown.Root(), roots_[n]);
    EXPECT_EQ(RootOf(Leaves(leaves_).first(n)), roots_[n]);
    Result<Hash32> at = log_.RootAt(n);
    ASSERT_TRUE(at.ok());
    EXPECT_EQ(*at, roots_[n]);
    if (n < kMaxSize) grown.Append(leaves_[n]);
  }
}

TEST_F(MerkleProperty, InclusionProofsForEveryIndexAndSize) {
  for (uint64_t n = 1; n <= kMaxSize; ++n) {
    for (uint64_t i = 0; i < n; ++i) {
      SCOPED_TRACE("index " + std::to_string(i) + " size " + std::to_string(n));
      Result<Proof> got = log_.InclusionProof(i, n);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      const Proof& proof = *got;
      ASSERT_EQ(proof, RefPath(i, Leaves(leaves_).first(n)));
      ASSERT_TRUE(VerifyInclusion(leaves_[i], i, n, proof, roots_[n]).ok());

      // A flipped bit anywhere in the proof.
      for (size_t e = 0; e < proof.size(); ++e) {
        EXPECT_EQ(
            VerifyInclusion(leaves_[i], i, n, FlipBit(proof, e, e * 37 + i), roots_[n]).code(),
            Code::kCorruption)
            << "element " << e;
      }
      // Another leaf's hash, or this leaf claimed at another index (n itself is out of range).
      for (uint64_t j = 0; j <= n; ++j) {
        if (j == i) continue;
        EXPECT_FALSE(VerifyInclusion(leaves_[i], j, n, proof, roots_[n]).ok()) << "index " << j;
        if (j < n) {
          EXPECT_FALSE(VerifyInclusion(leaves_[j], i, n, proof, roots_[n]).ok()) << "leaf " << j;
        }
      }
      // Any other genuine tree head that still contains index i.
      for (uint64_t m = i + 1; m <= kMaxSize; ++m) {
        if (m == n) continue;
        EXPECT_FALSE(VerifyInclusion(leaves_[i], i, m, proof, roots_[m]).ok()) << "size " << m;
      }
      // A proof with an element dropped, appended or prepended.
      if (!proof.empty()) {
        Proof shorter(proof.begin(), proof.end() - 1);
        EXPECT_FALSE(VerifyInclusion(leaves_[i], i, n, shorter, roots_[n]).ok());
      }
      Proof longer = proof;
      longer.push_back(roots_[n]);
      EXPECT_FALSE(VerifyInclusion(leaves_[i], i, n, longer, roots_[n]).ok());
      longer = proof;
      longer.insert(longer.begin(), leaves_[i]);
      EXPECT_FALSE(VerifyInclusion(leaves_[i], i, n, longer, roots_[n]).ok());
    }
  }
}

TEST_F(MerkleProperty, ConsistencyProofsForEveryPair) {
  for (uint64_t n = 0; n <= kMaxSize; ++n) {
    for (uint64_t m = 0; m <= n; ++m) {
      SCOPED_TRACE("sizes " + std::to_string(m) + " -> " + std::to_string(n));
      Result<Proof> got = log_.ConsistencyProof(m, n);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      const Proof& proof = *got;
      ASSERT_EQ(proof, RefProof(m, Leaves(leaves_).first(n)));
      ASSERT_TRUE(VerifyConsistency(m, n, roots_[m], roots_[n], proof).ok());

      for (size_t e = 0; e < proof.size(); ++e) {
        EXPECT_EQ(
            VerifyConsistency(m, n, roots_[m], roots_[n], FlipBit(proof, e, e * 53 + m + n)).code(),
            Code::kCorruption)
            << "element " << e;
      }
      // Another genuine old tree head with the same proof, or a new one.
      // (Skipping pairs whose own proof is this one: from 0, or to the same size, all are empty.)
      for (uint64_t other = 0; other <= n; ++other) {
        if (other == m || *log_.ConsistencyProof(other, n) == proof) continue;
        EXPECT_FALSE(VerifyConsistency(other, n, roots_[other], roots_[n], proof).ok())
            << "old size " << other;
      }
      for (uint64_t other = m; other <= kMaxSize; ++other) {
        if (other == n || *log_.ConsistencyProof(m, other) == proof) continue;
        EXPECT_FALSE(VerifyConsistency(m, other, roots_[m], roots_[other], proof).ok())
            << "new size " << other;
      }
      if (m != n) {
        EXPECT_FALSE(VerifyConsistency(m, n, roots_[n], roots_[m], proof).ok()) << "swapped";
      }
      if (!proof.empty()) {
        Proof shorter(proof.begin(), proof.end() - 1);
        EXPECT_FALSE(VerifyConsistency(m, n, roots_[m], roots_[n], shorter).ok());
      }
      Proof longer = proof;
      longer.push_back(roots_[n]);
      EXPECT_FALSE(VerifyConsistency(m, n, roots_[m], roots_[n], longer).ok());
      longer = proof;
      longer.insert(longer.begin(), roots_[m]);
      EXPECT_FALSE(VerifyConsistency(m, n, roots_[m], roots_[n], longer).ok());
    }
  }
}

// Rewriting history: swap two leaves and the old tree heads no longer extend to the new one,
// nor do the old proofs fit the new root. A swap entirely after old_size is a legitimate
// different extension, and verifies.
TEST_F(MerkleProperty, ReorderedLeavesAreDetected) {
  SeededRandom rng(seed_ + 1);
  for (uint64_t n = 2; n <= kMaxSize; ++n) {
    const uint64_t a = rng.Uniform(n - 1);
    const uint64_t b = a + 1 + rng.Uniform(n - 1 - a);
    SCOPED_TRACE("size " + std::to_string(n) + " swap " + std::to_string(a) + "," +
                 std::to_string(b));
    std::vector<Hash32> swapped(leaves_.begin(), leaves_.begin() + n);
    std::swap(swapped[a], swapped[b]);
    const MerkleLog forged = LogOf(swapped);
    const Hash32 forged_root = forged.Root();
    ASSERT_NE(forged_root, roots_[n]);

    for (uint64_t i = 0; i < n; ++i) {
      EXPECT_FALSE(VerifyInclusion(leaves_[i], i, n, *log_.InclusionProof(i, n), forged_root).ok())
          << "index " << i;
    }
    for (uint64_t m = 1; m < n; ++m) {
      const Proof forged_proof = *forged.ConsistencyProof(m, n);
      const Status s = VerifyConsistency(m, n, roots_[m], forged_root, forged_proof);
      if (a < m) {
        EXPECT_EQ(s.code(), Code::kCorruption) << "old size " << m;
      } else {
        EXPECT_TRUE(s.ok()) << "old size " << m << ": " << s.ToString();
      }
      EXPECT_FALSE(
          VerifyConsistency(m, n, roots_[m], forged_root, *log_.ConsistencyProof(m, n)).ok());
    }
  }
}

// Deeper trees than 64 leaves: random queries against a log of a few thousand.
TEST(MerkleRandom, ProofsVerifyInALargerLog) {
  const uint64_t seed = TestSeed();
  SeededRandom rng(seed);
  const std::vector<Hash32> leaves = RandomLeaves(rng, 3000);
  MerkleLog log;
  std::vector<Hash32> roots{log.Root()};
  for (const Hash32& leaf : leaves) {
    log.Append(leaf);
    roots.push_back(log.Root());
  }
  for (int sample : {1, 2, 1023, 1024, 1025, 2047, 2048, 3000}) {
    EXPECT_EQ(roots[sample], RefMth(std::span(leaves).first(sample))) << "size " << sample;
  }
  for (int q = 0; q < 300; ++q) {
    const uint64_t n = 1 + rng.Uniform(leaves.size());
    const uint64_t m = rng.Uniform(n + 1);
    const uint64_t i = rng.Uniform(n);
    SCOPED_TRACE("m " + std::to_string(m) + " n " + std::to_string(n) + " i " + std::to_string(i));
    Proof inclusion = *log.InclusionProof(i, n);
    EXPECT_TRUE(VerifyInclusion(leaves[i], i, n, inclusion, roots[n]).ok());
    Proof consistency = *log.ConsistencyProof(m, n);
    EXPECT_TRUE(VerifyConsistency(m, n, roots[m], roots[n], consistency).ok());
    if (!consistency.empty()) {
      EXPECT_FALSE(VerifyConsistency(m, n, roots[m], roots[n], FlipBit(consistency, 0, q)).ok());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Arguments out of range, and edges of the verifiers.

TEST(MerkleArguments, LogRejectsWhatItDoesNotHave) {
  const MerkleLog log = LogOf(ReferenceLeaves());  // 8 leaves
  auto where = [](const Status& s) -> std::string {
    return s.code() == Code::kInvalidArgument ? s.where() : "";
  };
  EXPECT_EQ(where(log.RootAt(9).status()), "size");
  EXPECT_EQ(where(log.InclusionProof(0, 9).status()), "tree_size");
  EXPECT_EQ(where(log.InclusionProof(8, 8).status()), "index");
  EXPECT_EQ(where(log.InclusionProof(0, 0).status()), "index");
  EXPECT_EQ(where(log.ConsistencyProof(0, 9).status()), "new_size");
  EXPECT_EQ(where(log.ConsistencyProof(5, 4).status()), "old_size");
  EXPECT_TRUE(log.ConsistencyProof(0, 8)->empty());
  EXPECT_TRUE(log.ConsistencyProof(8, 8)->empty());
  EXPECT_TRUE(log.ConsistencyProof(0, 0)->empty());

  const MerkleLog empty;
  EXPECT_EQ(where(empty.InclusionProof(0, 0).status()), "index");
  EXPECT_EQ(where(empty.RootAt(1).status()), "size");
}

TEST(MerkleArguments, VerifierEdges) {
  const Hash32 empty = Hex32(kEmptyRoot);
  const Hash32 r1 = Hex32(kReferenceRoots[0]);
  const Hash32 r5 = Hex32(kReferenceRoots[4]);

  Status s = VerifyInclusion(r1, 1, 1, {}, r1);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.where(), "index");
  EXPECT_EQ(VerifyInclusion(r1, 0, 0, {}, empty).code(), Code::kInvalidArgument);
  EXPECT_TRUE(VerifyInclusion(r1, 0, 1, {}, r1).ok());
  EXPECT_EQ(VerifyInclusion(r1, 0, 1, {}, r5).code(), Code::kCorruption);

  s = VerifyConsistency(2, 1, r5, r1, {});
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.where(), "old_size");
  EXPECT_TRUE(VerifyConsistency(0, 0, empty, empty, {}).ok());
  EXPECT_TRUE(VerifyConsistency(0, 5, empty, r5, {}).ok());
  EXPECT_EQ(VerifyConsistency(0, 5, r1, r5, {}).code(), Code::kCorruption);  // not an empty root
  EXPECT_EQ(VerifyConsistency(0, 5, empty, r5, Proof{empty}).code(), Code::kCorruption);
  EXPECT_TRUE(VerifyConsistency(5, 5, r5, r5, {}).ok());
  EXPECT_EQ(VerifyConsistency(5, 5, r1, r5, {}).code(), Code::kCorruption);
  EXPECT_EQ(VerifyConsistency(5, 5, r5, r5, Proof{r5}).code(), Code::kCorruption);
  EXPECT_EQ(VerifyConsistency(1, 5, r1, r5, {}).code(), Code::kCorruption);  // empty proof

  // A valid proof and root of a 2-leaf tree, presented as a 4-leaf tree: the hashes all match,
  // only the RFC's final "sn is 0" check notices the path was too short for the size.
  const std::vector<Hash32> leaves = ReferenceLeaves();
  const Hash32 r2 = Hex32(kReferenceRoots[1]);
  ASSERT_TRUE(VerifyConsistency(1, 2, r1, r2, Proof{leaves[1]}).ok());
  EXPECT_EQ(VerifyConsistency(1, 4, r1, r2, Proof{leaves[1]}).code(), Code::kCorruption);
  ASSERT_TRUE(VerifyInclusion(leaves[0], 0, 2, Proof{leaves[1]}, r2).ok());
  EXPECT_EQ(VerifyInclusion(leaves[0], 0, 4, Proof{leaves[1]}, r2).code(), Code::kCorruption);
}

// Sizes near 2^64 and proofs far longer than any path: rejected, no overflow (sanitizer build).
TEST(MerkleArguments, HugeSizesAndLongProofsAreRejected) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const Hash32 h = Hex32(kReferenceRoots[7]);
  const Proof long_proof(200, h);
  const Proof path_length(64, h);
  EXPECT_EQ(VerifyInclusion(h, max - 1, max, path_length, h).code(), Code::kCorruption);
  EXPECT_EQ(VerifyInclusion(h, 0, max, long_proof, h).code(), Code::kCorruption);
  EXPECT_EQ(VerifyInclusion(h, 3, 8, long_proof, h).code(), Code::kCorruption);
  EXPECT_EQ(VerifyConsistency(max - 1, max, h, h, path_length).code(), Code::kCorruption);
  EXPECT_EQ(VerifyConsistency(1, max, h, h, long_proof).code(), Code::kCorruption);
  EXPECT_EQ(VerifyConsistency(3, 8, h, h, long_proof).code(), Code::kCorruption);
}

// ---------------------------------------------------------------------------------------------
// Signed tree heads

crypto::SigningKey TestKey(uint8_t fill) {
  const Bytes seed(32, fill);
  Result<crypto::SigningKey> key = crypto::SigningKey::FromSeed(seed);
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

TEST(TreeHead, EncodingIsTheDocumentedLayout) {
  TreeHead head;
  head.size = 0x0102030405060708;
  head.timestamp_ms = 0x1112131415161718;
  head.root.fill(0xab);
  std::string root_hex;
  for (int i = 0; i < 32; ++i) root_hex += "ab";
  EXPECT_EQ(
      HexEncode(EncodeTreeHead(head)),
      HexEncode(AsBytes("grove-sth-v1")) + "0102030405060708" + "1112131415161718" + root_hex);
  EXPECT_EQ(EncodeTreeHead(head).size(), 60u);
}

TEST(TreeHead, SignAndVerify) {
  const crypto::SigningKey key = TestKey(7);
  const crypto::SigningKey other = TestKey(8);
  const TreeHead head{8, Hex32(kReferenceRoots[7]), 1700000000123};
  const crypto::Signature sig = SignTreeHead(head, key);
  EXPECT_EQ(sig, SignTreeHead(head, key));  // deterministic
  EXPECT_TRUE(VerifyTreeHead(head, sig, key.public_key()).ok());

  TreeHead changed = head;
  changed.size = 7;
  EXPECT_EQ(VerifyTreeHead(changed, sig, key.public_key()).code(), Code::kCorruption);
  changed = head;
  changed.timestamp_ms += 1;
  EXPECT_EQ(VerifyTreeHead(changed, sig, key.public_key()).code(), Code::kCorruption);
  changed = head;
  changed.root[31] ^= 1;
  EXPECT_EQ(VerifyTreeHead(changed, sig, key.public_key()).code(), Code::kCorruption);

  EXPECT_EQ(VerifyTreeHead(head, sig, other.public_key()).code(), Code::kCorruption);
  crypto::Signature flipped = sig;
  flipped[10] ^= 0x40;
  EXPECT_EQ(VerifyTreeHead(head, flipped, key.public_key()).code(), Code::kCorruption);
  EXPECT_EQ(VerifyTreeHead(head, ByteView(sig).first(63), key.public_key()).code(),
            Code::kCorruption);
  EXPECT_EQ(VerifyTreeHead(head, {}, key.public_key()).code(), Code::kCorruption);
  // A signature over the bare fields, without the label, is not a tree-head signature.
  const Bytes encoded = EncodeTreeHead(head);
  const Bytes unlabelled(encoded.begin() + 12, encoded.end());
  EXPECT_EQ(VerifyTreeHead(head, key.Sign(unlabelled), key.public_key()).code(), Code::kCorruption);
}

}  // namespace
}  // namespace grove::audit
