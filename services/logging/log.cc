#include "logging/log.h"

#include "common/utf8.h"

#include <errno.h>
#include <unistd.h>

#include <charconv>
#include <cmath>

namespace grove::logging {
namespace {

void AppendKey(std::string& out, std::string_view key) {
  out += ',';
  if (key == "ts" || key == "level" || key == "component" || key == "msg") {
    AppendJsonString(out, "_" + std::string(key));
  } else {
    AppendJsonString(out, key);
  }
  out += ':';
}

void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
  } else if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

template <typename T>
void AppendInteger(std::string& out, T v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void AppendDigits(std::string& out, uint64_t v, int width) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  for (int i = n; i < width; ++i) out += '0';
  while (n > 0) out += buf[--n];
}

}  // namespace

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "unknown";
}

std::optional<Level> ParseLevel(std::string_view name) {
  for (Level level : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (name == LevelName(level)) return level;
  }
  return std::nullopt;
}

void AppendJsonString(std::string& out, std::string_view text) {
  grove::AppendJsonString(out, text);
}

std::string FormatRfc3339Millis(uint64_t unix_ms) {
  const uint64_t millis = unix_ms % 1000;
  const uint64_t secs = unix_ms / 1000;
  const uint64_t sod = secs % 86400;
  // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm), unsigned throughout.
  const uint64_t z = secs / 86400 + 719468;
  const uint64_t era = z / 146097;
  const uint64_t doe = z - era * 146097;
  const uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const uint64_t mp = (5 * doy + 2) / 153;
  const uint64_t day = doy - (153 * mp + 2) / 5 + 1;
  const uint64_t month = mp < 10 ? mp + 3 : mp - 9;
  const uint64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);

  std::string out;
  out.reserve(24);
  AppendDigits(out, year, 4);
  out += '-';
  AppendDigits(out, month, 2);
  out += '-';
  AppendDigits(out, day, 2);
  out += 'T';
  AppendDigits(out, sod / 3600, 2);
  out += ':';
  AppendDigits(out, sod / 60 % 60, 2);
  out += ':';
  AppendDigits(out, sod % 60, 2);
  out += '.';
  AppendDigits(out, millis, 3);
  out += 'Z';
  return out;
}

Logger::Logger(int fd, Level level, Clock* clock)
    : fd_(fd), clock_(clock ? clock : &system_clock_), level_(level) {}

Logger::Logger(FILE* file, Level level, Clock* clock)
    : fd_((fflush(file), fileno(file))), clock_(clock ? clock : &system_clock_), level_(level) {}

std::string Logger::FormatLine(uint64_t now_ms, Level level, std::string_view component,
                               std::string_view msg, std::span<const Field> fields) {
  std::string line;
  line.reserve(96 + msg.size() + 32 * fields.size());
  line += "{\"ts\":\"";
  line += FormatRfc3339Millis(now_ms);
  line += "\",\"level\":\"";
  line += LevelName(level);
  line += "\",\"component\":";
  AppendJsonString(line, component);
  line += ",\"msg\":";
  AppendJsonString(line, msg);
  for (const Field& f : fields) {
    AppendKey(line, f.key_);
    switch (f.kind_) {
      case Field::Kind::kNull:
        line += "null";
        break;
      case Field::Kind::kString:
        AppendJsonString(line, f.string_);
        break;
      case Field::Kind::kInt:
        AppendInteger(line, f.int_);
        break;
      case Field::Kind::kUint:
        AppendInteger(line, f.uint_);
        break;
      case Field::Kind::kBool:
        line += f.bool_ ? "true" : "false";
        break;
      case Field::Kind::kDouble:
        AppendDouble(line, f.double_);
        break;
    }
  }
  line += "}\n";
  return line;
}

void Logger::Write(Level level, std::string_view component, std::string_view msg,
                   std::span<const Field> fields) {
  const std::string line = FormatLine(clock_->NowMillis(), level, component, msg, fields);
  std::lock_guard<std::mutex> lock(mu_);
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    done += static_cast<size_t>(n);
  }
}

}  // namespace grove::logging
