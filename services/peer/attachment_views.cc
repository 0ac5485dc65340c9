#include "peer/attachment_views.h"

namespace grove::peer {

Result<attachments::ChunkId> ParseAttachmentId(const std::string& text) {
  auto raw = HexDecode(text);
  std::optional<Hash32> id = raw ? ToHash32(*raw) : std::nullopt;
  if (!id) return InvalidArgument("an attachment id is 64 hex characters", "id");
  return *id;
}

attachments::KeyLookup KeysOf(const replica::Workspace& ws) {
  return [&ws](const attachments::KeyId& key) { return ws.ContentKey(key); };
}

Result<attachments::Manifest> LoadManifest(store::Store& store, const replica::Workspace& ws,
                                           const attachments::ChunkId& id) {
  GROVE_ASSIGN_OR_RETURN(std::optional<Bytes> sealed, store.GetChunk(ws.id(), id));
  if (!sealed) return NotFound("attachment " + HexEncode(id).substr(0, 16) + " is not held here");
  return attachments::OpenManifest(ws.id(), KeysOf(ws), id, *sealed);
}

Result<std::optional<SealedChunk>> TakeChunk(store::Store& store, const replica::Workspace& ws,
                                             const attachments::ChunkId& id) {
  GROVE_ASSIGN_OR_RETURN(std::optional<Bytes> sealed, store.GetChunk(ws.id(), id));
  if (!sealed) return std::optional<SealedChunk>();
  GROVE_ASSIGN_OR_RETURN(attachments::KeyId key_id, attachments::KeyOf(*sealed));
  const crypto::SymmetricKey* key = ws.ContentKey(key_id);
  if (key == nullptr) {
    return FailedPrecondition("the content key of chunk " + HexEncode(id).substr(0, 16) +
                              " is not held by this device");
  }
  return std::optional<SealedChunk>(SealedChunk{std::move(*sealed), key_id, key->Clone()});
}

Result<std::string> OpenTakenChunk(const replica::WorkspaceId& ws,
                                   const attachments::Manifest& manifest, uint64_t index,
                                   const SealedChunk& chunk) {
  auto keys = [&chunk](const attachments::KeyId& key_id) -> const crypto::SymmetricKey* {
    return key_id == chunk.key_id ? &chunk.key : nullptr;
  };
  GROVE_ASSIGN_OR_RETURN(Bytes plain,
                         attachments::OpenDataChunk(ws, keys, manifest, index, chunk.sealed));
  return ToString(plain);
}

api::AttachmentInfo InfoOf(const attachments::ChunkId& id, const attachments::Manifest& manifest) {
  return api::AttachmentInfo{HexEncode(id), manifest.size, manifest.chunks.size(), manifest.name,
                             manifest.media_type};
}

Result<api::AttachmentStatus> StatusOf(store::Store& store, sync::SyncNode& sync,
                                       const replica::Workspace& ws,
                                       const attachments::ChunkId& id) {
  api::AttachmentStatus status;
  status.info.id = HexEncode(id);
  auto manifest = LoadManifest(store, ws, id);
  if (!manifest.ok() && manifest.status().code() != Code::kNotFound) return manifest.status();
  if (!manifest.ok()) {
    GROVE_ASSIGN_OR_RETURN(sync::ChunkState state, sync.StateOf(ws.id(), id));
    status.state = state == sync::ChunkState::kFetching ? "fetching" : "unavailable";
    return status;
  }
  status.manifest = true;
  status.info = InfoOf(id, *manifest);
  bool fetching = false;
  // Positions, not distinct chunks: a file may name one chunk several times (repeated content).
  for (const attachments::ChunkRef& chunk : manifest->chunks) {
    GROVE_ASSIGN_OR_RETURN(sync::ChunkState state, sync.StateOf(ws.id(), chunk.id));
    if (state == sync::ChunkState::kHeld) {
      ++status.chunks_held;
      status.bytes_held += chunk.size;
    }
    if (state == sync::ChunkState::kFetching) fetching = true;
  }
  if (status.chunks_held == manifest->chunks.size()) {
    status.state = "complete";
  } else {
    status.state = fetching ? "fetching" : "unavailable";
  }
  return status;
}

}  // namespace grove::peer
