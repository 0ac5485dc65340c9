// The bytes of workflows/*.yaml, compiled in by embed_workflows.cmake (a generated .cc).
// Internal to services/tools; constant data, safe from any thread.
#pragma once

#include <cstddef>

namespace grove::tools::internal {

struct BuiltinFile {
  const char* name;  // "inventory" for workflows/inventory.yaml
  const unsigned char* data;
  size_t size;
};

// kBuiltinFileCount entries, sorted by name.
extern const BuiltinFile kBuiltinFiles[];
extern const size_t kBuiltinFileCount;

}  // namespace grove::tools::internal
