#include "attachments/attachments.h"

#include <gtest/gtest.h>

#include <map>
#include <utility>

#include "common/random.h"
#include "grove/v1/attachment.pb.h"

namespace grove::attachments {
namespace {

struct Stored {
  std::map<ChunkId, Bytes> chunks;
  std::vector<ChunkKind> kinds;
};

class AttachmentsTest : public ::testing::Test {
 protected:
  AttachmentsTest() {
    ws_.fill(7);
    key_id_.fill(1);
    Bytes raw(32, 0x42);
    key_ = std::make_unique<crypto::SymmetricKey>(crypto::SymmetricKey::FromBytes(raw).value());
  }

  KeyLookup Keys() const {
    return [this](const KeyId& id) -> const crypto::SymmetricKey* {
      return id == key_id_ ? key_.get() : nullptr;
    };
  }

  Writer MakeWriter(Stored& out, Writer::Options options = {}) {
    return Writer(ws_, key_id_, *key_, options,
                  [&out](const ChunkId& id, ByteView sealed, ChunkKind kind) {
                    EXPECT_EQ(IdOf(sealed), id);
                    out.chunks[id] = Bytes(sealed.begin(), sealed.end());
                    out.kinds.push_back(kind);
                    return Status::Ok();
                  });
  }

  static Bytes Pattern(size_t n, uint8_t seed) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 31 + seed + (i >> 9));
    return b;
  }

  // Writes `data` in pieces of `piece` bytes.
  Attachment Put(Stored& out, const Bytes& data, size_t piece, Writer::Options options = {}) {
    Writer writer = MakeWriter(out, options);
    for (size_t i = 0; i < data.size(); i += piece) {
      EXPECT_TRUE(writer.Write(ByteView(data).subspan(i, std::min(piece, data.size() - i))).ok());
    }
    auto a = writer.Finish("report.pdf", "application/pdf");
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.value();
  }

  // Reads a whole attachment back through the manifest.
  Result<Bytes> Get(const Stored& in, const ChunkId& id) {
    auto it = in.chunks.find(id);
    if (it == in.chunks.end()) return NotFound("manifest");
    GROVE_ASSIGN_OR_RETURN(Manifest m, OpenManifest(ws_, Keys(), id, it->second));
    Bytes out;
    for (size_t i = 0; i < m.chunks.size(); ++i) {
      auto c = in.chunks.find(m.chunks[i].id);
      if (c == in.chunks.end()) return NotFound("chunk");
      GROVE_ASSIGN_OR_RETURN(Bytes plain, OpenDataChunk(ws_, Keys(), m, i, c->second));
      out.insert(out.end(), plain.begin(), plain.end());
    }
    if (crypto::Sha256(out) != m.sha256) return Corruption("file hash");
    return out;
  }

  WorkspaceId ws_{};
  KeyId key_id_{};
  std::unique_ptr<crypto::SymmetricKey> key_;
};

TEST_F(AttachmentsTest, RoundTripsAcrossChunkBoundariesWrittenInOddPieces) {
  Writer::Options options;
  options.chunk_size = 1000;
  const Bytes data = Pattern(3500, 3);
  Stored stored;
  Attachment a = Put(stored, data, 333, options);
  EXPECT_EQ(a.manifest.size, 3500u);
  ASSERT_EQ(a.manifest.chunks.size(), 4u);
  EXPECT_EQ(a.manifest.chunks[3].size, 500u);
  EXPECT_EQ(a.manifest.name, "report.pdf");
  EXPECT_EQ(a.manifest.media_type, "application/pdf");
  EXPECT_EQ(a.manifest.key_id, key_id_);
  EXPECT_EQ(stored.chunks.size(), 5u);
  EXPECT_EQ(stored.kinds.back(), ChunkKind::kManifest) << "the manifest goes last";
  auto back = Get(stored, a.id);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, data);
  auto m = OpenManifest(ws_, Keys(), a.id, stored.chunks[a.id]);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->chunks, a.manifest.chunks);
  EXPECT_EQ(m->sha256, crypto::Sha256(data));
  EXPECT_EQ(*m, a.manifest);
  auto resealed = SealManifest(ws_, *key_, a.manifest);
  ASSERT_TRUE(resealed.ok()) << resealed.status().ToString();
  EXPECT_EQ(IdOf(*resealed), a.id) << "the writer's manifest is SealManifest's";
}

TEST_F(AttachmentsTest, EmptyFileHasAManifestAndNoDataChunks) {
  Stored stored;
  Attachment a = Put(stored, {}, 1);
  EXPECT_EQ(a.manifest.chunks.size(), 0u);
  auto back = Get(stored, a.id);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->empty());
}

TEST_F(AttachmentsTest, SameFileTwiceDedupsAndNoPlaintextShowsInChunks) {
  Writer::Options options;
  options.chunk_size = 4096;
  const Bytes data = Pattern(10000, 9);
  Stored first, second;
  Attachment a = Put(first, data, 4096, options);
  Attachment b = Put(second, data, 777, options);
  EXPECT_EQ(a.id, b.id) << "same bytes, name and key: the same attachment id";
  EXPECT_EQ(first.chunks, second.chunks);
  // A chunk of plaintext must not appear in the sealed bytes.
  const Bytes& sealed = first.chunks.at(a.manifest.chunks[0].id);
  auto hit = std::search(sealed.begin(), sealed.end(), data.begin(), data.begin() + 64);
  EXPECT_EQ(hit, sealed.end());
  // Another workspace with the same key: different chunks (the AAD and derived keys differ).
  WorkspaceId other = ws_;
  other[0] ^= 1;
  auto c =
      SealChunk(other, key_id_, *key_, ChunkKind::kData, ByteView(data).first(options.chunk_size));
  ASSERT_TRUE(c.ok());
  EXPECT_NE(IdOf(*c), a.manifest.chunks[0].id);
}

TEST_F(AttachmentsTest, TamperedChunkIsDetectedWithoutTheKeyAndWithIt) {
  Writer::Options options;
  options.chunk_size = 1000;
  Stored stored;
  Attachment a = Put(stored, Pattern(2500, 1), 2500, options);
  const ChunkId id = a.manifest.chunks[1].id;
  Bytes bad = stored.chunks.at(id);
  bad[bad.size() / 2] ^= 0x01;
  // A relay, without the key, sees the id mismatch.
  Status v = VerifyChunk(id, bad);
  EXPECT_EQ(v.code(), Code::kCorruption) << v.ToString();
  // A reader refuses it too.
  auto opened = OpenDataChunk(ws_, Keys(), a.manifest, 1, bad);
  EXPECT_EQ(opened.status().code(), Code::kCorruption);
  // A chunk re-hashed under its altered bytes verifies by id but does not authenticate.
  auto forged = OpenChunk(ws_, Keys(), IdOf(bad), bad, ChunkKind::kData);
  EXPECT_EQ(forged.status().code(), Code::kCorruption);
  EXPECT_NE(forged.status().message().find("authenticate"), std::string::npos);
  // The swapped-in chunk of another position is not what the manifest names.
  auto swapped =
      OpenDataChunk(ws_, Keys(), a.manifest, 1, stored.chunks.at(a.manifest.chunks[0].id));
  EXPECT_EQ(swapped.status().code(), Code::kCorruption);
  // Truncated and oversized inputs are refused, not asserted on.
  EXPECT_FALSE(VerifyChunk(id, ByteView(bad).first(5)).ok());
  EXPECT_FALSE(VerifyChunk(id, Bytes(kMaxChunkBytes + 1, 1)).ok());
}

TEST_F(AttachmentsTest, WrongWorkspaceOrKeyIsRefused) {
  Stored stored;
  Attachment a = Put(stored, Pattern(100, 2), 100);
  const Bytes& manifest = stored.chunks.at(a.id);
  // The key is not held: FailedPrecondition, naming the key.
  KeyLookup none = [](const KeyId&) -> const crypto::SymmetricKey* { return nullptr; };
  EXPECT_EQ(OpenManifest(ws_, none, a.id, manifest).status().code(), Code::kFailedPrecondition);
  // A different key under the same id (another workspace's): does not authenticate.
  auto other_key = crypto::SymmetricKey::FromBytes(Bytes(32, 0x43)).value();
  KeyLookup wrong = [&](const KeyId&) -> const crypto::SymmetricKey* { return &other_key; };
  EXPECT_EQ(OpenManifest(ws_, wrong, a.id, manifest).status().code(), Code::kCorruption);
  // The right key, but opened as another workspace's.
  WorkspaceId other = ws_;
  other[31] ^= 0x80;
  EXPECT_EQ(OpenManifest(other, Keys(), a.id, manifest).status().code(), Code::kCorruption);
  // A data chunk is not a manifest.
  const Bytes& data = stored.chunks.at(a.manifest.chunks[0].id);
  EXPECT_EQ(OpenManifest(ws_, Keys(), a.manifest.chunks[0].id, data).status().code(),
            Code::kCorruption);
}

TEST_F(AttachmentsTest, OverTheLimitIsRefusedAndStopsTheWriter) {
  Writer::Options options;
  options.chunk_size = 100;
  options.max_bytes = 250;
  Stored stored;
  Writer writer = MakeWriter(stored, options);
  EXPECT_TRUE(writer.Write(Pattern(200, 1)).ok());
  Status s = writer.Write(Pattern(51, 1));
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("250 bytes"), std::string::npos) << s.message();
  EXPECT_FALSE(writer.Finish("x", "").ok());
  for (ChunkKind k : stored.kinds) EXPECT_EQ(k, ChunkKind::kData) << "no manifest was written";
}

// A manifest without a file behind it: `full` chunks of the default size and a last one of
// `tail` bytes (none when 0), with distinct made-up ids.
Manifest Synthetic(size_t full, uint32_t tail, const KeyId& key_id) {
  Manifest m;
  m.chunk_size = kDefaultChunkSize;
  const size_t n = full + (tail > 0 ? 1 : 0);
  m.chunks.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    ChunkRef c;
    for (size_t b = 0; b < 8; ++b) c.id[b] = static_cast<uint8_t>(i >> (8 * b));
    c.id[31] = 0xc5;
    c.size = i < full ? kDefaultChunkSize : tail;
    m.chunks.push_back(c);
  }
  m.size = static_cast<uint64_t>(full) * kDefaultChunkSize + tail;
  m.sha256 = crypto::Sha256(AsBytes(std::string_view("not the real file")));
  m.name = "disk image.raw";
  m.media_type = "application/octet-stream";
  m.key_id = key_id;
  return m;
}

// Sizes past 32 bits, without writing 4 GiB: a file of 4 GiB + 1 MiB + 7 bytes.
TEST_F(AttachmentsTest, AManifestOfAFileOverFourGiBRoundTripsWithItsSixtyFourBitSize) {
  const Manifest m = Synthetic(4097, 7, key_id_);
  ASSERT_GT(m.size, 1ull << 32);
  auto sealed = SealManifest(ws_, *key_, m);
  ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
  auto back = OpenManifest(ws_, Keys(), IdOf(*sealed), *sealed);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->size, 4097ull * (1 << 20) + 7);
  EXPECT_EQ(*back, m);
  // Deterministic, as every chunk: the same manifest is the same attachment.
  EXPECT_EQ(*SealManifest(ws_, *key_, m), *sealed);

  // The size cut to 32 bits (what a 32-bit field would carry) does not add up to the chunks: not
  // sealed, and refused when a manifest claiming it is opened.
  Manifest cut = m;
  cut.size = static_cast<uint32_t>(m.size);
  EXPECT_EQ(SealManifest(ws_, *key_, cut).status().code(), Code::kInvalidArgument);
  grove::wire::v1::AttachmentManifest pb;
  pb.set_format(1);
  pb.set_size(cut.size);
  pb.set_sha256(m.sha256.data(), m.sha256.size());
  pb.set_chunk_size(m.chunk_size);
  for (const ChunkRef& c : m.chunks) {
    auto* pc = pb.add_chunks();
    pc->set_id(c.id.data(), c.id.size());
    pc->set_size(c.size);
  }
  pb.set_key_id(key_id_.data(), key_id_.size());
  auto forged =
      SealChunk(ws_, key_id_, *key_, ChunkKind::kManifest, AsBytes(pb.SerializeAsString()));
  ASSERT_TRUE(forged.ok());
  auto refused = OpenManifest(ws_, Keys(), IdOf(*forged), *forged);
  EXPECT_EQ(refused.status().code(), Code::kCorruption);
  EXPECT_NE(refused.status().message().find("do not add up"), std::string::npos)
      << refused.status().ToString();
  // A chunk short of full before the last is refused too: readers seek by offset.
  Manifest gap = m;
  gap.chunks[4096].size -= 1;
  gap.size -= 1;
  EXPECT_EQ(SealManifest(ws_, *key_, gap).status().code(), Code::kInvalidArgument);
}

// A peer accepts files up to kMaxFileBytes (100 GiB): their manifest must be one chunk.
TEST_F(AttachmentsTest, TheLargestFileAPeerAcceptsFitsOneManifestChunk) {
  Manifest m = Synthetic(kMaxFileBytes / kDefaultChunkSize, 0, key_id_);
  m.name.assign(kMaxNameBytes, 'n');
  m.media_type.assign(kMaxNameBytes, 't');
  EXPECT_EQ(m.size, kMaxFileBytes);
  auto sealed = SealManifest(ws_, *key_, m);
  ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
  EXPECT_LE(sealed->size(), kMaxChunkBytes);
  EXPECT_TRUE(VerifyChunk(IdOf(*sealed), *sealed).ok()) << "a size any peer stores and serves";
  auto back = OpenManifest(ws_, Keys(), IdOf(*sealed), *sealed);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->chunks.size(), 102400u);
  EXPECT_EQ(back->size, 100ull << 30);
  // Well past it, the manifest would not fit one chunk: refused, saying why.
  Manifest over = Synthetic(kMaxFileBytes / kDefaultChunkSize * 11 / 10, 0, key_id_);
  auto too_many = SealManifest(ws_, *key_, over);
  EXPECT_EQ(too_many.status().code(), Code::kInvalidArgument);
  EXPECT_NE(too_many.status().message().find("too many chunks"), std::string::npos)
      << too_many.status().ToString();
}

TEST_F(AttachmentsTest, SinkFailureStopsTheWriter) {
  Writer::Options options;
  options.chunk_size = 10;
  int calls = 0;
  Writer writer(ws_, key_id_, *key_, options, [&](const ChunkId&, ByteView, ChunkKind) {
    ++calls;
    return IOError("disk full");
  });
  EXPECT_EQ(writer.Write(Pattern(25, 0)).code(), Code::kIOError);
  EXPECT_EQ(writer.Write(Pattern(5, 0)).code(), Code::kIOError);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace grove::attachments
