// Small files in a data folder (keys, cards, tokens, kept notices), written so that a crash
// leaves either the old content or the new one, never half of it, and read whole within a bound.
// Used for secrets: nothing here copies the data it is given, and ReadSmallFile reads into the
// caller's buffer without growing it, so a caller can wipe the one copy.
//
// Thread-safety: plain functions; concurrent writers of one path must coordinate themselves
// (WriteFileAtomic with replace=false lets exactly one of them win).
// Failure: NotFound when a path (or, for EnsureDir, a parent) does not exist, AlreadyExists for
// WriteFileAtomic without replace when the file is there, IOError otherwise; each names the path.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace grove {

// Creates `dir` with mode 0700 (its parents with default modes) unless it already exists as a
// folder.
Status EnsureDir(const std::string& dir);

// Writes `data` to `path` with `mode` through a temporary file in the same folder, fsynced before
// it is moved into place and the folder fsynced after. replace=false: AlreadyExists when `path`
// exists, checked atomically with the move (a file another process wrote meanwhile is kept).
Status WriteFileAtomic(const std::string& path, std::string_view data, bool replace,
                       unsigned mode = 0600);

// Appends `data` to `path` (created with mode 0600) and fsyncs it before returning.
Status AppendDurably(const std::string& path, std::string_view data);

// Reads the whole of `path` into `out`, which holds at most out.capacity() - 1 bytes: reserve
// first. Corruption ("<path> is too large ...") when the file is larger; `out` never reallocates.
Status ReadSmallFile(const std::string& path, std::string& out);

}  // namespace grove
