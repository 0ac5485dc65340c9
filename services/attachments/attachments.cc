#include "attachments/attachments.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "grove/v1/attachment.pb.h"

namespace grove::attachments {
namespace {

namespace w = grove::wire::v1;

constexpr uint8_t kFormat = 1;
constexpr uint32_t kManifestFormat = 1;
constexpr std::string_view kAadLabel = "grove attachment v1";

// Chunks are sealed under keys derived from the epoch key rather than the epoch key itself:
// deltas use the epoch key with random nonces, and keeping the two uses apart means a nonce
// chosen here can never collide with one chosen there.
crypto::SymmetricKey Derive(const crypto::SymmetricKey& epoch_key, const WorkspaceId& ws,
                            std::string_view label) {
  Bytes raw = crypto::HkdfSha256(epoch_key.bytes(), ws, AsBytes(label), crypto::kKeySize);
  auto key = crypto::SymmetricKey::FromBytes(raw);
  SecureWipe(raw.data(), raw.size());
  return std::move(key).value();  // 32 bytes by construction
}

crypto::SymmetricKey SealKey(const crypto::SymmetricKey& epoch_key, const WorkspaceId& ws) {
  return Derive(epoch_key, ws, "grove attachment key v1");
}

// The nonce is HMAC-SHA256 (as HKDF-Extract, keyed by a secret nonce key) of the plaintext's
// hash and kind: deterministic, so equal chunks dedup, and unpredictable without the key, so
// an outsider cannot confirm a guessed file from its chunk ids. Two different plaintexts share
// a nonce only with a 96-bit collision.
Bytes NonceFor(const crypto::SymmetricKey& nonce_key, ChunkKind kind, ByteView plaintext) {
  const Hash32 digest = crypto::Sha256(plaintext);
  const uint8_t info[] = {'n', 'o', 'n', 'c', 'e', static_cast<uint8_t>(kind)};
  return crypto::HkdfSha256(digest, nonce_key.bytes(), info, crypto::kNonceSize);
}

Bytes Aad(const WorkspaceId& ws, ByteView header) {
  Bytes aad(kAadLabel.begin(), kAadLabel.end());
  aad.insert(aad.end(), ws.begin(), ws.end());
  aad.insert(aad.end(), header.begin(), header.end());
  return aad;
}

Result<Bytes> SealWith(const WorkspaceId& ws, const KeyId& key_id,
                       const crypto::SymmetricKey& seal_key, const crypto::SymmetricKey& nonce_key,
                       ChunkKind kind, ByteView plaintext) {
  if (plaintext.size() > kMaxChunkSize) {
    return InvalidArgument("a chunk holds at most " + std::to_string(kMaxChunkSize) + " bytes");
  }
  Bytes out;
  out.reserve(kHeaderBytes + plaintext.size() + crypto::kTagSize);
  out.push_back(kFormat);
  out.push_back(static_cast<uint8_t>(kind));
  out.insert(out.end(), key_id.begin(), key_id.end());
  const Bytes nonce = NonceFor(nonce_key, kind, plaintext);
  out.insert(out.end(), nonce.begin(), nonce.end());
  GROVE_ASSIGN_OR_RETURN(Bytes sealed, crypto::AeadSeal(seal_key, nonce, Aad(ws, out), plaintext));
  out.insert(out.end(), sealed.begin(), sealed.end());
  return out;
}

Status CheckHeader(ByteView sealed) {
  if (sealed.size() < kHeaderBytes + crypto::kTagSize) return Corruption("chunk is truncated");
  if (sealed.size() > kMaxChunkBytes) {
    return Corruption("chunk is larger than " + std::to_string(kMaxChunkBytes) + " bytes");
  }
  if (sealed[0] != kFormat) {
    return Corruption("unsupported chunk format " + std::to_string(sealed[0]));
  }
  if (sealed[1] != static_cast<uint8_t>(ChunkKind::kData) &&
      sealed[1] != static_cast<uint8_t>(ChunkKind::kManifest)) {
    return Corruption("unknown chunk kind " + std::to_string(sealed[1]));
  }
  return Status::Ok();
}

std::string ShortHex(const Hash32& id) { return HexEncode(ByteView(id).first(8)); }

Status CheckManifest(const Manifest& m) {
  if (m.chunk_size == 0 || m.chunk_size > kMaxChunkSize) {
    return Corruption("manifest: chunk size out of range");
  }
  if (m.name.size() > kMaxNameBytes || m.media_type.size() > kMaxNameBytes) {
    return Corruption("manifest: name or media type too long");
  }
  uint64_t total = 0;
  for (size_t i = 0; i < m.chunks.size(); ++i) {
    const ChunkRef& c = m.chunks[i];
    // Every chunk but the last is full, so a reader can seek by offset.
    const bool last = i + 1 == m.chunks.size();
    if (c.size == 0 || c.size > m.chunk_size || (!last && c.size != m.chunk_size)) {
      return Corruption("manifest: chunk " + std::to_string(i) + " has a bad size");
    }
    total += c.size;
  }
  if (total != m.size) return Corruption("manifest: chunk sizes do not add up to the file size");
  return Status::Ok();
}

}  // namespace

ChunkId IdOf(ByteView sealed) { return crypto::Sha256(sealed); }

Result<Bytes> SealChunk(const WorkspaceId& ws, const KeyId& key_id, const crypto::SymmetricKey& key,
                        ChunkKind kind, ByteView plaintext) {
  return SealWith(ws, key_id, SealKey(key, ws), Derive(key, ws, "grove attachment nonce v1"), kind,
                  plaintext);
}

Status VerifyChunk(const ChunkId& id, ByteView sealed) {
  GROVE_RETURN_IF_ERROR(CheckHeader(sealed));
  if (IdOf(sealed) != id) {
    return Corruption("chunk bytes do not hash to their id " + ShortHex(id));
  }
  return Status::Ok();
}

Result<KeyId> KeyOf(ByteView sealed) {
  GROVE_RETURN_IF_ERROR(CheckHeader(sealed));
  KeyId key_id;
  std::memcpy(key_id.data(), sealed.data() + 2, key_id.size());
  return key_id;
}

Result<Bytes> OpenChunk(const WorkspaceId& ws, const KeyLookup& keys, const ChunkId& id,
                        ByteView sealed, ChunkKind kind) {
  GROVE_RETURN_IF_ERROR(VerifyChunk(id, sealed));
  if (sealed[1] != static_cast<uint8_t>(kind)) {
    return Corruption(std::string("chunk ") + ShortHex(id) + " is not a " +
                      (kind == ChunkKind::kManifest ? "manifest" : "data chunk"));
  }
  GROVE_ASSIGN_OR_RETURN(KeyId key_id, KeyOf(sealed));
  const crypto::SymmetricKey* epoch_key = keys ? keys(key_id) : nullptr;
  if (epoch_key == nullptr) {
    return FailedPrecondition("the content key of chunk " + ShortHex(id) +
                              " is not held by this device");
  }
  const ByteView header = sealed.first(kHeaderBytes);
  const ByteView nonce = header.subspan(2 + key_id.size());
  auto plain = crypto::AeadOpen(SealKey(*epoch_key, ws), nonce, Aad(ws, header),
                                sealed.subspan(kHeaderBytes));
  if (!plain.ok()) {
    return Corruption("chunk " + ShortHex(id) +
                      " does not authenticate (another workspace's, or altered)");
  }
  return plain;
}

Result<Bytes> SealManifest(const WorkspaceId& ws, const crypto::SymmetricKey& key,
                           const Manifest& m) {
  if (Status s = CheckManifest(m); !s.ok()) return InvalidArgument(s.message());
  w::AttachmentManifest pb;
  pb.set_format(kManifestFormat);
  pb.set_size(m.size);
  pb.set_sha256(m.sha256.data(), m.sha256.size());
  pb.set_chunk_size(m.chunk_size);
  for (const ChunkRef& c : m.chunks) {
    w::AttachmentChunk* pc = pb.add_chunks();
    pc->set_id(c.id.data(), c.id.size());
    pc->set_size(c.size);
  }
  pb.set_name(m.name);
  pb.set_media_type(m.media_type);
  pb.set_key_id(m.key_id.data(), m.key_id.size());
  // Protobuf's serialization of one message by one build is deterministic for these field
  // kinds (no maps, no unknown fields), which is what makes equal files give equal manifests.
  const std::string plain = pb.SerializeAsString();
  if (plain.size() > kMaxChunkSize) {
    return InvalidArgument("the file has too many chunks (" + std::to_string(m.chunks.size()) +
                           ") for one manifest");
  }
  return SealChunk(ws, m.key_id, key, ChunkKind::kManifest, AsBytes(plain));
}

Result<Manifest> OpenManifest(const WorkspaceId& ws, const KeyLookup& keys, const ChunkId& id,
                              ByteView sealed) {
  GROVE_ASSIGN_OR_RETURN(Bytes plain, OpenChunk(ws, keys, id, sealed, ChunkKind::kManifest));
  w::AttachmentManifest pb;
  if (!pb.ParseFromArray(plain.data(), static_cast<int>(plain.size()))) {
    return Corruption("manifest does not decode");
  }
  if (pb.format() != kManifestFormat) {
    return Corruption("unsupported manifest format " + std::to_string(pb.format()));
  }
  Manifest m;
  m.size = pb.size();
  auto sha = ToHash32(AsBytes(pb.sha256()));
  if (!sha) return Corruption("manifest: file hash is not 32 bytes");
  m.sha256 = *sha;
  m.chunk_size = pb.chunk_size();
  m.name = pb.name();
  m.media_type = pb.media_type();
  if (pb.key_id().size() != m.key_id.size()) return Corruption("manifest: key id is not 16 bytes");
  std::memcpy(m.key_id.data(), pb.key_id().data(), m.key_id.size());
  m.chunks.reserve(static_cast<size_t>(pb.chunks_size()));
  for (const w::AttachmentChunk& c : pb.chunks()) {
    auto chunk_id = ToHash32(AsBytes(c.id()));
    if (!chunk_id) return Corruption("manifest: a chunk id is not 32 bytes");
    m.chunks.push_back(ChunkRef{*chunk_id, c.size()});
  }
  GROVE_RETURN_IF_ERROR(CheckManifest(m));
  return m;
}

Result<Bytes> OpenDataChunk(const WorkspaceId& ws, const KeyLookup& keys, const Manifest& manifest,
                            size_t index, ByteView sealed) {
  if (index >= manifest.chunks.size()) return InvalidArgument("chunk index out of range");
  const ChunkRef& ref = manifest.chunks[index];
  GROVE_ASSIGN_OR_RETURN(Bytes plain, OpenChunk(ws, keys, ref.id, sealed, ChunkKind::kData));
  if (plain.size() != ref.size) {
    return Corruption("chunk " + std::to_string(index) + " is not the size its manifest says");
  }
  return plain;
}

Writer::Writer(const WorkspaceId& ws, const KeyId& key_id, const crypto::SymmetricKey& key,
               Options options, Sink sink)
    : ws_(ws), key_id_(key_id), key_(key.Clone()), options_(options), sink_(std::move(sink)) {
  assert(options_.chunk_size >= 1 && options_.chunk_size <= kMaxChunkSize &&
         "chunk size out of range");
  buffer_.reserve(options_.chunk_size);
}

Writer::~Writer() {
  if (!buffer_.empty()) SecureWipe(buffer_.data(), buffer_.size());
}

Status Writer::Write(ByteView data) {
  GROVE_RETURN_IF_ERROR(failed_);
  if (data.size() > options_.max_bytes - size_) {
    failed_ = InvalidArgument("the file is larger than the limit of " +
                                  std::to_string(options_.max_bytes) + " bytes per attachment",
                              "body");
    return failed_;
  }
  size_ += data.size();
  hasher_.Update(data);
  while (!data.empty()) {
    const size_t take = std::min(data.size(), options_.chunk_size - buffer_.size());
    buffer_.insert(buffer_.end(), data.begin(), data.begin() + static_cast<ptrdiff_t>(take));
    data = data.subspan(take);
    if (buffer_.size() == options_.chunk_size) GROVE_RETURN_IF_ERROR(Flush());
  }
  return Status::Ok();
}

Status Writer::Flush() {
  if (buffer_.empty()) return Status::Ok();
  auto sealed = SealChunk(ws_, key_id_, key_, ChunkKind::kData, buffer_);
  if (!sealed.ok()) return failed_ = sealed.status();
  const ChunkId id = IdOf(*sealed);
  chunks_.push_back(ChunkRef{id, static_cast<uint32_t>(buffer_.size())});
  SecureWipe(buffer_.data(), buffer_.size());
  buffer_.clear();
  Status s = sink_(id, *sealed, ChunkKind::kData);
  if (!s.ok()) failed_ = s;
  return s;
}

Result<Attachment> Writer::Finish(std::string name, std::string media_type) {
  GROVE_RETURN_IF_ERROR(failed_);
  if (name.size() > kMaxNameBytes) {
    return InvalidArgument("file names are at most " + std::to_string(kMaxNameBytes) + " bytes",
                           "name");
  }
  if (media_type.size() > kMaxNameBytes) {
    return InvalidArgument("media types are at most " + std::to_string(kMaxNameBytes) + " bytes",
                           "media_type");
  }
  GROVE_RETURN_IF_ERROR(Flush());
  Attachment out;
  Manifest& m = out.manifest;
  m.size = size_;
  m.sha256 = hasher_.Finish();
  m.chunk_size = static_cast<uint32_t>(options_.chunk_size);
  m.chunks = std::move(chunks_);
  m.name = std::move(name);
  m.media_type = std::move(media_type);
  m.key_id = key_id_;
  auto sealed = SealManifest(ws_, key_, m);
  if (!sealed.ok()) return failed_ = sealed.status();
  out.id = IdOf(*sealed);
  Status s = sink_(out.id, *sealed, ChunkKind::kManifest);
  if (!s.ok()) return failed_ = s;
  return out;
}

}  // namespace grove::attachments
