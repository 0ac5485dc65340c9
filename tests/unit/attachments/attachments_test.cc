#include "attachments/attachments.h"

#include <gtest/gtest.h>

#include <map>
#include <utility>

#include "common/random.h"

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
