// The tamper-evidence core of the compliance audit log: an RFC 6962 / RFC 9162 Merkle tree over
// log entries, inclusion and consistency proofs with their verifiers, and signed tree heads.
// A pure library: no database, clock or randomness; storage (PostgreSQL) calls it.
//
// Hashing is exactly RFC 9162 §2.1.1 with SHA-256:
//   LeafHash(entry) = SHA-256(0x00 || entry)     NodeHash(l, r) = SHA-256(0x01 || l || r)
//   MTH({}) = SHA-256(""), MTH({d}) = LeafHash(d), and for n > 1 with k the largest power of two
//   < n: MTH(D[n]) = NodeHash(MTH(D[0:k]), MTH(D[k:n])).
// Proofs are the RFC's PATH and PROOF lists (sibling hashes ordered from the leaf upwards), so
// they interoperate with Certificate Transparency and transparency-dev tooling.
//
// Threading: the free functions are pure and may run on any thread. A MerkleLog is not
// synchronised: its const methods may run concurrently with each other but not with Append.
//
// Failures: nothing throws or aborts on input. Bad arguments to the log (an index or a size it
// does not have) are InvalidArgument naming the argument; a proof or signature that does not
// verify is Corruption with the reason. Verifiers never trust the proof's shape: any length and
// any contents are safe to pass.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/crypto.h"

namespace grove::audit {

// ---------------------------------------------------------------------------------------------
// Tree hashing
// ---------------------------------------------------------------------------------------------

Hash32 LeafHash(ByteView entry);
Hash32 NodeHash(const Hash32& left, const Hash32& right);

// MTH over the given leaf hashes (already LeafHash-ed). O(n).
Hash32 RootOf(std::span<const Hash32> leaf_hashes);

// ---------------------------------------------------------------------------------------------
// The append-only tree
// ---------------------------------------------------------------------------------------------

// An append-only Merkle tree over leaf hashes, held in memory. It keeps every complete (perfect)
// subtree: level 0 is the leaf hashes, level h holds the roots of the aligned 2^h-leaf blocks.
// The last node of each level whose bit is set in size() is the "compact range" (frontier), so
// the root of the whole tree or of any earlier size is O(log n), and each proof element is one
// stored node or a fold of O(log n) of them. Memory: about 2 * 32 bytes per leaf.
// Copyable and movable; see the threading note above.
class MerkleLog {
 public:
  uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }

  // Appends a leaf hash (LeafHash of the entry). O(log n) worst case, O(1) amortised.
  void Append(const Hash32& leaf_hash);

  // MTH of all leaves appended so far; SHA-256("") when empty.
  Hash32 Root() const;

  // MTH of the first `size` leaves. InvalidArgument("...", "size") when size > this->size().
  Result<Hash32> RootAt(uint64_t size) const;

  // The RFC's PATH(index, D[tree_size]): verifies with VerifyInclusion against RootAt(tree_size).
  // InvalidArgument naming "tree_size" when tree_size > size(), "index" when index >= tree_size.
  Result<std::vector<Hash32>> InclusionProof(uint64_t index, uint64_t tree_size) const;

  // The RFC's PROOF(old_size, D[new_size]); empty when old_size is 0 or equals new_size.
  // InvalidArgument naming "new_size" when new_size > size(), "old_size" when old_size >
  // new_size.
  Result<std::vector<Hash32>> ConsistencyProof(uint64_t old_size, uint64_t new_size) const;

 private:
  // MTH(D[begin:begin+count]). REQUIRES: begin + count <= size(), and begin is a multiple of the
  // smallest power of two >= count (true of every subtree the RFC's recursions visit).
  Hash32 SubtreeHash(uint64_t begin, uint64_t count) const;

  // levels_[h][i] = root of leaves [i * 2^h, (i + 1) * 2^h).
  std::vector<std::vector<Hash32>> levels_;
};

// ---------------------------------------------------------------------------------------------
// Verifiers (usable without the log)
// ---------------------------------------------------------------------------------------------

// RFC 9162 §2.1.3.2: OK iff `proof` shows leaf `index` of the tree of `tree_size` leaves with
// root `root` is `leaf_hash`. InvalidArgument("...", "index") when index >= tree_size;
// Corruption("inclusion proof ...") when the proof is too short, too long or the root differs.
// Take tree_size and root from one verified tree head: as in the RFC, the proof's length is
// checked against tree_size, but some sizes share a path shape (index 0 of 5 and of 6 leaves),
// so a root of one size may verify under the other.
Status VerifyInclusion(const Hash32& leaf_hash, uint64_t index, uint64_t tree_size,
                       std::span<const Hash32> proof, const Hash32& root);

// RFC 9162 §2.1.4.2: OK iff `proof` shows the tree of `old_size` leaves with root `old_root` is a
// prefix of the tree of `new_size` leaves with root `new_root`. The RFC's algorithm covers
// 0 < old_size < new_size; the edges are: old_size == new_size needs an empty proof and equal
// roots; old_size == 0 needs an empty proof and old_root == SHA-256("") (the empty tree's root;
// anything else is not a root of a 0-leaf tree). InvalidArgument("...", "old_size") when
// old_size > new_size; otherwise Corruption("consistency proof ...") with the reason.
Status VerifyConsistency(uint64_t old_size, uint64_t new_size, const Hash32& old_root,
                         const Hash32& new_root, std::span<const Hash32> proof);

// ---------------------------------------------------------------------------------------------
// Signed tree heads
// ---------------------------------------------------------------------------------------------

struct TreeHead {
  uint64_t size = 0;
  Hash32 root{};
  uint64_t timestamp_ms = 0;  // Unix time in milliseconds, from the auditor's injected Clock

  bool operator==(const TreeHead&) const = default;
};

// What the auditor signs, 60 bytes:
//   "grove-sth-v1" (12 ASCII bytes, no terminator) || size (u64 big-endian)
//   || timestamp_ms (u64 big-endian) || root (32 bytes)
// The label separates these signatures from any other the same key makes; every field is fixed
// width, so the encoding is unambiguous. A new layout gets a new label.
Bytes EncodeTreeHead(const TreeHead& head);

// Ed25519 over EncodeTreeHead(head). Deterministic.
crypto::Signature SignTreeHead(const TreeHead& head, const crypto::SigningKey& key);

// OK iff `signature` is `key`'s signature over EncodeTreeHead(head); Corruption("tree head
// signature ...") otherwise (including a signature that is not 64 bytes). Says nothing about
// whether `head` is consistent with other heads: use VerifyConsistency for that.
Status VerifyTreeHead(const TreeHead& head, ByteView signature, const crypto::PublicKey& key);

}  // namespace grove::audit
