// How the peer reads attachments (decision 0005) for the API, apart from the event loop plumbing
// of peer.cc: parsing ids, opening manifests and chunks from the store with the workspace's
// keys, and summing up what is held.
//
// Called on the peer's event loop: the Workspace, Store and SyncNode belong to it.
#pragma once

#include <optional>
#include <string>

#include "api/backend.h"
#include "attachments/attachments.h"
#include "common/status.h"
#include "replica/replica.h"
#include "store/store.h"
#include "sync/sync.h"

namespace grove::peer {

// An attachment id given as 64 hex characters. InvalidArgument (where "id") otherwise.
Result<attachments::ChunkId> ParseAttachmentId(const std::string& text);

// The content keys the workspace holds, by id. The lookup refers to `ws`: use it while `ws` lives.
attachments::KeyLookup KeysOf(const replica::Workspace& ws);

// The attachment's manifest from the store: NotFound when it is not held, otherwise as
// attachments::OpenManifest.
Result<attachments::Manifest> LoadManifest(store::Store& store, const replica::Workspace& ws,
                                           const attachments::ChunkId& id);

// A held chunk's sealed bytes and a copy of the content key it names, taken on the event loop so
// that checking and opening it (hashing and decrypting a MiB) can run on the HTTP worker.
struct SealedChunk {
  Bytes sealed;
  attachments::KeyId key_id;
  crypto::SymmetricKey key;
};

// Chunk `id` of `ws` as a SealedChunk; nullopt when it is not held. FailedPrecondition when the
// content key it names is not held; Corruption for a malformed header.
Result<std::optional<SealedChunk>> TakeChunk(store::Store& store, const replica::Workspace& ws,
                                             const attachments::ChunkId& id);

// The plaintext of data chunk `index` of `manifest` from `chunk` (any thread): as
// attachments::OpenDataChunk.
Result<std::string> OpenTakenChunk(const replica::WorkspaceId& ws,
                                   const attachments::Manifest& manifest, uint64_t index,
                                   const SealedChunk& chunk);

api::AttachmentInfo InfoOf(const attachments::ChunkId& id, const attachments::Manifest& manifest);

// How much of the attachment is held (chunks and bytes), and whether the rest is being fetched.
// Data chunks count once the manifest is held; before that the state is the manifest's. Looks
// up every chunk: O(chunks) store reads, for a status asked now and then, not for polling.
Result<api::AttachmentStatus> StatusOf(store::Store& store, sync::SyncNode& sync,
                                       const replica::Workspace& ws,
                                       const attachments::ChunkId& id);

}  // namespace grove::peer
