// A device's data folder: the one layout shared by the `grove` tool and the grove-peer daemon.
//
//   DIR/device.key   the device's secret keys (format in identity/identity.h), made by `grove init`
//   DIR/api-token    the bearer token of the local HTTP API, made by `grove init`
//   DIR/store.db     the SQLite store (store/store.h) holding every workspace of this device;
//                    while it is open SQLite keeps store.db-wal and store.db-shm beside it
//
// One store per device, not one per workspace: the peer runs all its workspaces from one event
// loop, and one file is one thing to back up or inspect. Workspaces in it are told apart by id.
// The store is created by whoever first needs it (the peer, `grove demo`); commands that only
// inspect or repair never create one, so a mistyped --data fails instead of making an empty store.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "store/store.h"

namespace grove::cli {

constexpr std::string_view kStoreFile = "store.db";

std::string StorePath(const std::string& dir);

// Opens DIR/store.db without creating it. NotFound naming the path when there is none; otherwise
// the store's own errors (Corruption for a file that is not a Grove store, ...).
Result<std::unique_ptr<store::Store>> OpenDeviceStore(const std::string& dir);
// Opens DIR/store.db, creating it (and nothing else) if missing.
Result<std::unique_ptr<store::Store>> CreateDeviceStore(const std::string& dir);

// The workspaces of `store` (id, info), all of them or, when `id_prefix` is given, the one whose
// lowercase hex id starts with it. NotFound when none matches, InvalidArgument when the prefix is
// not hex or matches several.
Result<std::vector<std::pair<Hash32, Bytes>>> SelectWorkspaces(store::Store& store,
                                                               const std::string* id_prefix);

// The first 16 hex digits: enough to tell workspaces and digests apart by eye, short enough for
// a table. JSON output carries the full 64.
std::string ShortHex(const Hash32& hash);

// "18.3 KiB": sizes for people.
std::string HumanBytes(uint64_t bytes);

}  // namespace grove::cli
