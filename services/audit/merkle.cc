#include "audit/merkle.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <string>
#include <string_view>

namespace grove::audit {
namespace {

constexpr uint8_t kLeafPrefix = 0x00;
constexpr uint8_t kNodePrefix = 0x01;
constexpr std::string_view kTreeHeadLabel = "grove-sth-v1";

Hash32 EmptyRoot() { return crypto::Sha256({}); }

// The RFC's k for n > 1: the largest power of two strictly less than n.
uint64_t SplitPoint(uint64_t n) {
  assert(n > 1 && "only trees of two or more leaves split");
  return std::bit_floor(n - 1);
}

void PutU64BigEndian(Bytes& out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Tree hashing

Hash32 LeafHash(ByteView entry) {
  crypto::Sha256Hasher hasher;
  const uint8_t prefix = kLeafPrefix;
  hasher.Update(ByteView(&prefix, 1));
  hasher.Update(entry);
  return hasher.Finish();
}

Hash32 NodeHash(const Hash32& left, const Hash32& right) {
  std::array<uint8_t, 1 + 2 * sizeof(Hash32)> buf;
  buf[0] = kNodePrefix;
  std::copy(left.begin(), left.end(), buf.begin() + 1);
  std::copy(right.begin(), right.end(), buf.begin() + 1 + sizeof(Hash32));
  return crypto::Sha256(buf);
}

Hash32 RootOf(std::span<const Hash32> leaf_hashes) {
  if (leaf_hashes.empty()) return EmptyRoot();
  // A stack of perfect subtrees with strictly decreasing heights (the compact range): each leaf
  // merges with equal-height neighbours, so memory stays O(log n).
  struct Node {
    int height;
    Hash32 hash;
  };
  std::vector<Node> stack;
  for (const Hash32& leaf : leaf_hashes) {
    Node node{0, leaf};
    while (!stack.empty() && stack.back().height == node.height) {
      node = Node{node.height + 1, NodeHash(stack.back().hash, node.hash)};
      stack.pop_back();
    }
    stack.push_back(node);
  }
  // MTH puts the smaller, right-hand subtrees deepest: fold from the right.
  Hash32 root = stack.back().hash;
  for (size_t i = stack.size() - 1; i-- > 0;) root = NodeHash(stack[i].hash, root);
  return root;
}

// ---------------------------------------------------------------------------------------------
// MerkleLog

void MerkleLog::Append(const Hash32& leaf_hash) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf_hash);
  // An even count at level h means its last two nodes just completed a block of level h + 1.
  for (size_t h = 0; levels_[h].size() % 2 == 0; ++h) {
    if (levels_.size() == h + 1) levels_.emplace_back();
    const std::vector<Hash32>& level = levels_[h];
    levels_[h + 1].push_back(NodeHash(level[level.size() - 2], level.back()));
  }
}

Hash32 MerkleLog::SubtreeHash(uint64_t begin, uint64_t count) const {
  assert(begin + count <= size() && "subtree beyond the log");
  if (count == 0) return EmptyRoot();
  // The range splits into perfect subtrees, one per set bit of count, largest first; begin's
  // alignment makes each of them a stored node.
  std::array<const Hash32*, 64> parts;
  size_t n = 0;
  uint64_t offset = begin;
  for (int h = std::bit_width(count) - 1; h >= 0; --h) {
    const uint64_t block = uint64_t{1} << h;
    if ((count & block) == 0) continue;
    assert(offset % block == 0 && "subtree start is not aligned");
    parts[n++] = &levels_[h][offset >> h];
    offset += block;
  }
  Hash32 hash = *parts[n - 1];
  for (size_t i = n - 1; i-- > 0;) hash = NodeHash(*parts[i], hash);
  return hash;
}

Hash32 MerkleLog::Root() const { return SubtreeHash(0, size()); }

Result<Hash32> MerkleLog::RootAt(uint64_t tree_size) const {
  if (tree_size > size()) {
    return InvalidArgument(
        "size " + std::to_string(tree_size) + " exceeds the log's " + std::to_string(size()),
        "size");
  }
  return SubtreeHash(0, tree_size);
}

Result<std::vector<Hash32>> MerkleLog::InclusionProof(uint64_t index, uint64_t tree_size) const {
  if (tree_size > size()) {
    return InvalidArgument(
        "tree_size " + std::to_string(tree_size) + " exceeds the log's " + std::to_string(size()),
        "tree_size");
  }
  if (index >= tree_size) {
    return InvalidArgument(
        "index " + std::to_string(index) + " is not below tree_size " + std::to_string(tree_size),
        "index");
  }
  // PATH(m, D[n]) unrolled: walk down from the root, taking the sibling at each split; the RFC
  // lists them from the leaf up, so reverse at the end.
  std::vector<Hash32> proof;
  uint64_t begin = 0;
  uint64_t n = tree_size;
  uint64_t m = index;
  while (n > 1) {
    const uint64_t k = SplitPoint(n);
    if (m < k) {
      proof.push_back(SubtreeHash(begin + k, n - k));
      n = k;
    } else {
      proof.push_back(SubtreeHash(begin, k));
      begin += k;
      m -= k;
      n -= k;
    }
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

Result<std::vector<Hash32>> MerkleLog::ConsistencyProof(uint64_t old_size,
                                                        uint64_t new_size) const {
  if (new_size > size()) {
    return InvalidArgument(
        "new_size " + std::to_string(new_size) + " exceeds the log's " + std::to_string(size()),
        "new_size");
  }
  if (old_size > new_size) {
    return InvalidArgument(
        "old_size " + std::to_string(old_size) + " exceeds new_size " + std::to_string(new_size),
        "old_size");
  }
  std::vector<Hash32> proof;
  if (old_size == 0 || old_size == new_size) return proof;
  // SUBPROOF(m, D[n], b) unrolled. `whole_old_tree` is the RFC's b: true while the subtree that
  // ends at m is still the old tree itself, whose root the verifier already has.
  uint64_t begin = 0;
  uint64_t n = new_size;
  uint64_t m = old_size;
  bool whole_old_tree = true;
  while (m != n) {
    const uint64_t k = SplitPoint(n);
    if (m <= k) {
      proof.push_back(SubtreeHash(begin + k, n - k));
      n = k;
    } else {
      proof.push_back(SubtreeHash(begin, k));
      begin += k;
      m -= k;
      n -= k;
      whole_old_tree = false;
    }
  }
  if (!whole_old_tree) proof.push_back(SubtreeHash(begin, m));
  std::reverse(proof.begin(), proof.end());
  return proof;
}

// ---------------------------------------------------------------------------------------------
// Verifiers: RFC 9162 §2.1.3.2 and §2.1.4.2 step by step (fn, sn, r, fr, sr are its names).

Status VerifyInclusion(const Hash32& leaf_hash, uint64_t index, uint64_t tree_size,
                       std::span<const Hash32> proof, const Hash32& root) {
  if (index >= tree_size) {
    return InvalidArgument(
        "index " + std::to_string(index) + " is not below tree_size " + std::to_string(tree_size),
        "index");
  }
  uint64_t fn = index;
  uint64_t sn = tree_size - 1;
  Hash32 r = leaf_hash;
  for (const Hash32& p : proof) {
    if (sn == 0) return Corruption("inclusion proof is longer than the path to the root");
    if ((fn & 1) != 0 || fn == sn) {
      r = NodeHash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Corruption("inclusion proof is shorter than the path to the root");
  if (r != root) return Corruption("inclusion proof does not lead to the given root");
  return Status::Ok();
}

Status VerifyConsistency(uint64_t old_size, uint64_t new_size, const Hash32& old_root,
                         const Hash32& new_root, std::span<const Hash32> proof) {
  if (old_size > new_size) {
    return InvalidArgument(
        "old_size " + std::to_string(old_size) + " exceeds new_size " + std::to_string(new_size),
        "old_size");
  }
  if (old_size == new_size) {
    if (!proof.empty()) return Corruption("consistency proof between equal sizes is not empty");
    if (old_root != new_root) return Corruption("roots of two trees of the same size differ");
    return Status::Ok();
  }
  if (old_size == 0) {
    if (!proof.empty()) return Corruption("consistency proof from the empty tree is not empty");
    if (old_root != EmptyRoot()) return Corruption("old_root is not the empty tree's root");
    return Status::Ok();
  }
  // 0 < old_size < new_size from here on: the RFC's algorithm.
  if (proof.empty()) return Corruption("consistency proof is empty");
  // Step 2: when old_size is a power of two the old root is a node of the new tree and the
  // proof omits it; start from it instead of from proof[0].
  const bool old_is_perfect = std::has_single_bit(old_size);
  std::span<const Hash32> rest = old_is_perfect ? proof : proof.subspan(1);
  Hash32 fr = old_is_perfect ? old_root : proof[0];
  Hash32 sr = fr;
  uint64_t fn = old_size - 1;
  uint64_t sn = new_size - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  for (const Hash32& c : rest) {
    if (sn == 0) return Corruption("consistency proof is longer than expected");
    if ((fn & 1) != 0 || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Corruption("consistency proof is shorter than expected");
  if (fr != old_root) return Corruption("consistency proof does not lead to old_root");
  if (sr != new_root) return Corruption("consistency proof does not lead to new_root");
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Signed tree heads

Bytes EncodeTreeHead(const TreeHead& head) {
  Bytes out;
  out.reserve(kTreeHeadLabel.size() + 8 + 8 + sizeof(Hash32));
  out.insert(out.end(), kTreeHeadLabel.begin(), kTreeHeadLabel.end());
  PutU64BigEndian(out, head.size);
  PutU64BigEndian(out, head.timestamp_ms);
  out.insert(out.end(), head.root.begin(), head.root.end());
  return out;
}

crypto::Signature SignTreeHead(const TreeHead& head, const crypto::SigningKey& key) {
  return key.Sign(EncodeTreeHead(head));
}

Status VerifyTreeHead(const TreeHead& head, ByteView signature, const crypto::PublicKey& key) {
  if (signature.size() != crypto::kSignatureSize) {
    return Corruption("tree head signature is " + std::to_string(signature.size()) +
                      " bytes, not " + std::to_string(crypto::kSignatureSize));
  }
  if (!crypto::Verify(key, EncodeTreeHead(head), signature)) {
    return Corruption("tree head signature does not verify");
  }
  return Status::Ok();
}

}  // namespace grove::audit
