// UTF-8 and JSON text helpers shared by logs, metrics, the API and the CLI: whatever bytes come
// in, what goes out is well-formed. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace grove {

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 when there is none; `bad` is
// then the length of the maximal ill-formed prefix to replace with one U+FFFD (at least 1).
// REQUIRES: i < s.size().
size_t Utf8Sequence(std::string_view s, size_t i, size_t& bad);

// `s` with every ill-formed sequence replaced by U+FFFD.
std::string SanitizeUtf8(std::string_view s);

// Appends `text` as a JSON string (with quotes): escapes quotes, backslashes, control characters
// and DEL; ill-formed UTF-8 becomes \ufffd, so the output is valid JSON for any input bytes.
void AppendJsonString(std::string& out, std::string_view text);

}  // namespace grove
