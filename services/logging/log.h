// Logger: structured logs as JSON lines.
//
// Each call writes one JSON object on one line to a file descriptor (stderr by default):
//
//   log.Info("peer", "connected", {{"remote", "127.0.0.1:7000"}, {"bytes", int64_t{12}}});
//   {"ts":"2023-11-14T22:13:20.000Z","level":"info","component":"peer","msg":"connected",
//    "remote":"127.0.0.1:7000","bytes":12}                                  (one line in reality)
//
// Fields: ts (RFC 3339, UTC, milliseconds, from the injected grove::Clock), level (debug, info,
// warn, error), component, msg, then the caller's fields in order: strings, signed and unsigned
// integers, booleans and doubles (NaN and infinities are written as the strings "NaN", "Infinity"
// and "-Infinity"; JSON has no numbers for them). A field named like one of the four fixed ones
// is written with a "_" in front ("_msg") so that every key of a line is distinct, unless the
// caller repeats a key of its own.
//
// Output is valid JSON and valid UTF-8 whatever bytes the caller passes: '"' and '\' are escaped,
// \n \r \t as such, other control characters (and DEL) as \u00XX, and each ill-formed UTF-8
// sequence is replaced by \ufffd.
//
// Messages below the level threshold are dropped before any formatting. A line is formatted
// outside the lock and written with one write() under the Logger's mutex (more only if the kernel
// takes part of it), so lines from concurrent threads never interleave. Write failures are counted
// (write_errors()) and otherwise ignored: logging never fails the caller.
//
// Thread safety: all methods may be called concurrently. The file descriptor is not owned and must
// stay open while the Logger is used; the Clock, if given, must outlive the Logger and be safe to
// call from every logging thread (SystemClock is; FakeClock only when the test logs from one
// thread at a time).
#pragma once

#include <stdio.h>

#include <atomic>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "common/clock.h"

namespace grove::logging {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn", "error".
const char* LevelName(Level level);
// The Level named by `name` (exactly one of the above), nullopt otherwise.
std::optional<Level> ParseLevel(std::string_view name);

// One key and typed value of a log line. A Field refers to the strings it was built from: build
// fields in the logging call (as in the example above), not ahead of it from temporaries.
class Field {
 public:
  Field(std::string_view key, std::string_view value)
      : key_(key), kind_(Kind::kString), string_(value) {}
  Field(std::string_view key, const std::string& value)
      : key_(key), kind_(Kind::kString), string_(value) {}
  // A null pointer is written as JSON null.
  Field(std::string_view key, const char* value)
      : key_(key), kind_(value ? Kind::kString : Kind::kNull), string_(value ? value : "") {}
  Field(std::string_view key, bool value) : key_(key), kind_(Kind::kBool), bool_(value) {}
  Field(std::string_view key, double value) : key_(key), kind_(Kind::kDouble), double_(value) {}
  template <std::integral T>
  requires(!std::same_as<T, bool>) Field(std::string_view key, T value) : key_(key) {
    if constexpr (std::is_signed_v<T>) {
      kind_ = Kind::kInt;
      int_ = value;
    } else {
      kind_ = Kind::kUint;
      uint_ = value;
    }
  }

 private:
  friend class Logger;
  enum class Kind { kNull, kString, kInt, kUint, kBool, kDouble };

  std::string_view key_;
  Kind kind_ = Kind::kNull;
  std::string_view string_;
  int64_t int_ = 0;
  uint64_t uint_ = 0;
  double double_ = 0;
  bool bool_ = false;
};

class Logger {
 public:
  // Writes to `fd` (not owned). `clock` null: the system clock.
  explicit Logger(int fd = 2, Level level = Level::kInfo, Clock* clock = nullptr);
  // Writes to fileno(file) directly, after flushing what stdio buffered for it.
  explicit Logger(FILE* file, Level level = Level::kInfo, Clock* clock = nullptr);
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  void SetLevel(Level level) { level_.store(level, std::memory_order_relaxed); }
  Level level() const { return level_.load(std::memory_order_relaxed); }
  bool Enabled(Level level) const { return level >= this->level(); }

  void Log(Level level, std::string_view component, std::string_view msg,
           std::initializer_list<Field> fields = {}) {
    if (Enabled(level)) Write(level, component, msg, std::span(fields.begin(), fields.size()));
  }
  void Log(Level level, std::string_view component, std::string_view msg,
           std::span<const Field> fields) {
    if (Enabled(level)) Write(level, component, msg, fields);
  }

  void Debug(std::string_view component, std::string_view msg,
             std::initializer_list<Field> fields = {}) {
    Log(Level::kDebug, component, msg, fields);
  }
  void Info(std::string_view component, std::string_view msg,
            std::initializer_list<Field> fields = {}) {
    Log(Level::kInfo, component, msg, fields);
  }
  void Warn(std::string_view component, std::string_view msg,
            std::initializer_list<Field> fields = {}) {
    Log(Level::kWarn, component, msg, fields);
  }
  void Error(std::string_view component, std::string_view msg,
             std::initializer_list<Field> fields = {}) {
    Log(Level::kError, component, msg, fields);
  }

  // Lines that could not be written in full.
  uint64_t write_errors() const { return write_errors_.load(std::memory_order_relaxed); }

  // The line Log() would write at `now_ms` (with its trailing '\n'), for other sinks and tests.
  static std::string FormatLine(uint64_t now_ms, Level level, std::string_view component,
                                std::string_view msg, std::span<const Field> fields);

 private:
  void Write(Level level, std::string_view component, std::string_view msg,
             std::span<const Field> fields);

  const int fd_;
  Clock* const clock_;
  SystemClock system_clock_;
  std::atomic<Level> level_;
  std::atomic<uint64_t> write_errors_{0};
  std::mutex mu_;  // one line at a time on fd_
};

// Appends `text` as a JSON string literal (quotes included), escaped as described above.
void AppendJsonString(std::string& out, std::string_view text);

// "2023-11-14T22:13:20.000Z" for 1700000000000.
std::string FormatRfc3339Millis(uint64_t unix_ms);

}  // namespace grove::logging
