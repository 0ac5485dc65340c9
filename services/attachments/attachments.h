// grove::attachments — the format of files attached to records
// (docs/decisions/0005-attachments.md).
//
// A file is cut into chunks of `chunk_size` plaintext bytes (1 MiB by default). Each chunk is
// sealed with AES-256-GCM under a key derived from one of the workspace's content keys (an
// epoch key), with a nonce derived from a keyed hash of the plaintext: the same bytes in the
// same workspace and epoch always give the same chunk, so a file added twice is stored once.
// A chunk's id is the SHA-256 of its sealed bytes, so anyone (a relay without the key too) can
// check a chunk against its id. A manifest (size, SHA-256 and chunk list of the plaintext, file
// name, media type) is sealed the same way as a chunk of its own; its id is the attachment id,
// the 32-byte value a record field of kind `attachment` holds.
//
// Sealed chunk layout: format (1 byte, = 1) || kind (1: data, 2: manifest) || content key id
// (16) || nonce (12) || ciphertext || tag (16). The AAD binds the workspace id and this header,
// so a chunk cannot be replayed into another workspace or passed off as a manifest.
//
// Keys: each chunk names the content key it was sealed under, and readers look it up among the
// keys they hold. Members added later are given every older content key (replica AddMember), so
// they read older attachments; a removed member gets no key made after its removal.
//
// Streaming: Writer takes the file in pieces of any size and hands each sealed chunk to a sink
// as soon as it is full; it holds at most one chunk of plaintext. Readers open one chunk at a
// time. Nothing here holds a whole file.
//
// Failure: everything a peer or a store could hand us is checked and reported, never asserted:
// Corruption for bytes that do not match their id or do not authenticate, FailedPrecondition
// when the content key a chunk names is not held, InvalidArgument for a file over the limit or
// an over-long name.
//
// Thread-safety: free functions are pure and may run on any thread. A Writer belongs to one
// thread at a time; its sink is called on that thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/crypto.h"

namespace grove::attachments {

using WorkspaceId = Hash32;
using ChunkId = Hash32;
using KeyId = std::array<uint8_t, 16>;  // a workspace content key's id (replica::ContentKeyId)

constexpr size_t kDefaultChunkSize = 1 << 20;
// The largest sealed chunk a store or peer accepts: a data chunk of the default size with its
// header, or a manifest (about 40 bytes per chunk: 4 MiB is a file of ~100,000 chunks).
constexpr size_t kMaxChunkBytes = 4 << 20;
constexpr size_t kMaxChunkSize = kMaxChunkBytes - 64;
constexpr size_t kMaxNameBytes = 255;
constexpr size_t kHeaderBytes = 2 + 16 + crypto::kNonceSize;
// A manifest's bytes per chunk it lists, at chunk sizes below 2 MiB (id 2 + 32, size 1 + 3,
// entry tag and length 2), and a bound on the rest of it (hash, sizes, the longest name and
// media type, key id, field tags).
constexpr size_t kManifestBytesPerChunk = 40;
constexpr size_t kManifestFixedBytes = 1024;
// The largest file one manifest can list at the default chunk size: 100 GiB (102,400 chunks,
// a manifest of about 4 MB). Peers cap their limit (attachments.max_bytes) here.
constexpr uint64_t kMaxFileBytes = 100ull << 30;
static_assert((kMaxFileBytes / kDefaultChunkSize) * kManifestBytesPerChunk + kManifestFixedBytes <=
                  kMaxChunkSize,
              "a file of kMaxFileBytes must fit one manifest chunk");
// What a peer stores by default: well past 2 GB, well within kMaxFileBytes.
constexpr uint64_t kDefaultMaxFileBytes = 16ull << 30;

enum class ChunkKind : uint8_t { kData = 1, kManifest = 2 };

struct ChunkRef {
  ChunkId id{};
  uint32_t size = 0;  // plaintext bytes of this chunk (at most kMaxChunkSize)
  bool operator==(const ChunkRef&) const = default;
};

// Sizes of whole files are 64-bit everywhere (here, in the wire format and the API); only a
// single chunk's size is 32-bit.
struct Manifest {
  uint64_t size = 0;
  Hash32 sha256{};  // of the whole plaintext
  uint32_t chunk_size = 0;
  std::vector<ChunkRef> chunks;
  std::string name;
  std::string media_type;
  KeyId key_id{};
  bool operator==(const Manifest&) const = default;
};

// Finds a content key this device holds by id; nullptr when it does not hold it.
using KeyLookup = std::function<const crypto::SymmetricKey*(const KeyId&)>;

// Seals `plaintext` as a chunk of `kind` in workspace `ws` under content key `key` (named
// `key_id`). Deterministic: equal inputs give equal bytes. InvalidArgument when plaintext is
// larger than kMaxChunkSize.
Result<Bytes> SealChunk(const WorkspaceId& ws, const KeyId& key_id, const crypto::SymmetricKey& key,
                        ChunkKind kind, ByteView plaintext);

// The id of a sealed chunk: SHA-256 of its bytes.
ChunkId IdOf(ByteView sealed);

// Checks, without any key, that `sealed` is a well-formed chunk whose id is `id`. Corruption
// otherwise (too large, malformed header, hash mismatch). What a receiver runs before storing.
Status VerifyChunk(const ChunkId& id, ByteView sealed);

// The content key a (verified) chunk names. Corruption for a malformed header.
Result<KeyId> KeyOf(ByteView sealed);

// Verifies and opens a chunk of `kind`. Corruption when it does not match `id`, is of another
// kind, or does not authenticate (wrong workspace, altered bytes); FailedPrecondition when the
// content key it names is not held.
Result<Bytes> OpenChunk(const WorkspaceId& ws, const KeyLookup& keys, const ChunkId& id,
                        ByteView sealed, ChunkKind kind);

// Seals `manifest` as a manifest chunk under content key `key`, which must be the key
// manifest.key_id names (the chunk's header names it). Deterministic, as SealChunk. The
// Writer's last step; public so that a manifest can be made without its file (tests of large
// files). InvalidArgument when the manifest is inconsistent (as OpenManifest checks) or lists too
// many chunks for one manifest chunk.
Result<Bytes> SealManifest(const WorkspaceId& ws, const crypto::SymmetricKey& key,
                           const Manifest& manifest);

// Opens a manifest chunk and checks it is consistent (sizes add up, ids are 32 bytes, names
// within limits). Errors as OpenChunk, and Corruption for an inconsistent manifest.
Result<Manifest> OpenManifest(const WorkspaceId& ws, const KeyLookup& keys, const ChunkId& id,
                              ByteView sealed);

// Opens data chunk number `index` of `manifest`. Corruption when it is not the chunk the
// manifest names or its plaintext is not the size the manifest says.
Result<Bytes> OpenDataChunk(const WorkspaceId& ws, const KeyLookup& keys, const Manifest& manifest,
                            size_t index, ByteView sealed);

struct Attachment {
  ChunkId id{};  // of the manifest chunk: the attachment id
  Manifest manifest;
};

// Cuts a file into sealed chunks as it arrives.
class Writer {
 public:
  // Receives each sealed chunk (data chunks in order, the manifest last). A non-OK status stops
  // the writer: every later call returns it.
  using Sink = std::function<Status(const ChunkId& id, ByteView sealed, ChunkKind kind)>;

  struct Options {
    size_t chunk_size = kDefaultChunkSize;      // REQUIRES: 1 <= chunk_size <= kMaxChunkSize
    uint64_t max_bytes = kDefaultMaxFileBytes;  // files larger than this are refused
  };

  // `key` is copied; the Writer may outlive the workspace it came from.
  Writer(const WorkspaceId& ws, const KeyId& key_id, const crypto::SymmetricKey& key,
         Options options, Sink sink);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Takes the next bytes of the file. InvalidArgument ("... larger than the limit of N bytes")
  // once the file passes options.max_bytes; the sink's error if it fails.
  Status Write(ByteView data);
  // Seals the last chunk and the manifest. InvalidArgument for a name or media type over
  // kMaxNameBytes. REQUIRES: called once.
  Result<Attachment> Finish(std::string name, std::string media_type);

  uint64_t size() const { return size_; }

 private:
  Status Flush();

  WorkspaceId ws_;
  KeyId key_id_;
  crypto::SymmetricKey key_;
  Options options_;
  Sink sink_;
  Bytes buffer_;
  crypto::Sha256Hasher hasher_;
  std::vector<ChunkRef> chunks_;
  uint64_t size_ = 0;
  Status failed_;
};

}  // namespace grove::attachments
