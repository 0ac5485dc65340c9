// Helpers shared by the Store implementations so that both report the same errors for the same
// semantic failures. Not part of the public interface.
#pragma once

#include <cstdint>
#include <string>

#include "common/bytes.h"
#include "common/status.h"

namespace grove::store::internal {

// First four bytes of an id in hex: enough to tell ids apart in a log line.
inline std::string ShortId(const Hash32& id) { return HexEncode(ByteView(id).first(4)); }

inline std::string DeltaWhere(const Hash32& author, uint64_t seq) {
  return ShortId(author) + "/" + std::to_string(seq);
}

inline Status DeltaConflict(const Hash32& author, uint64_t seq) {
  return Corruption("delta hash differs from the stored delta at the same seq (a fork)",
                    DeltaWhere(author, seq));
}

inline Status DeltaMissing(const Hash32& author, uint64_t seq) {
  return NotFound("no stored delta to set the status of", DeltaWhere(author, seq));
}

inline Status WorkspaceMissing() { return FailedPrecondition("workspace is not stored"); }

}  // namespace grove::store::internal
