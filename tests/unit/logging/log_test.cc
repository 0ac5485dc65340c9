#include "logging/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "support/temp_dir.h"

#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/random.h"
#include "strict_json.h"

namespace grove::logging {
namespace {

using grove::testing::StrictJson;
using grove::testing::TempDir;

// A log file in a fresh temp dir, read back line by line.
class LogFile {
 public:
  LogFile() : path_(dir_.File("log.jsonl")) {
    fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    EXPECT_GE(fd_, 0);
  }
  ~LogFile() {
    if (fd_ >= 0) close(fd_);
  }
  int fd() const { return fd_; }

  std::string Contents() const {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Every line, which must end with '\n'.
  std::vector<std::string> Lines() const {
    const std::string all = Contents();
    EXPECT_TRUE(all.empty() || all.back() == '\n') << "last line is not terminated";
    std::vector<std::string> lines;
    std::stringstream ss(all);
    std::string line;
    while (std::getline(ss, line)) lines.push_back(line);
    return lines;
  }

 private:
  TempDir dir_{"log_test"};
  std::string path_;
  int fd_ = -1;
};

StrictJson ParseLine(const std::string& line) {
  std::string error;
  std::optional<StrictJson> v = StrictJson::Parse(line, &error);
  EXPECT_TRUE(v.has_value()) << error << " in: " << line;
  if (!v) return StrictJson{};
  EXPECT_EQ(v->kind, StrictJson::Kind::kObject) << line;
  return *v;
}

std::string StringField(const StrictJson& obj, std::string_view key) {
  const StrictJson* v = obj.Find(key);
  if (v == nullptr || v->kind != StrictJson::Kind::kString) {
    ADD_FAILURE() << "no string field '" << key << "'";
    return "";
  }
  return v->string;
}

TEST(LogTest, WritesOneJsonObjectPerLineWithTheFixedFieldsFirst) {
  LogFile file;
  FakeClock clock(1'700'000'000'123);
  Logger log(file.fd(), Level::kDebug, &clock);
  log.Info("peer", "connected",
           {{"remote", "127.0.0.1:7000"}, {"device", "abc"}, {"bytes", int64_t{12}}});
  clock.Advance(1000);
  log.Warn("sync", "slow peer");

  EXPECT_EQ(file.Contents(),
            "{\"ts\":\"2023-11-14T22:13:20.123Z\",\"level\":\"info\",\"component\":\"peer\","
            "\"msg\":\"connected\",\"remote\":\"127.0.0.1:7000\",\"device\":\"abc\",\"bytes\":12}\n"
            "{\"ts\":\"2023-11-14T22:13:21.123Z\",\"level\":\"warn\",\"component\":\"sync\","
            "\"msg\":\"slow peer\"}\n");
  std::vector<std::string> lines = file.Lines();
  ASSERT_EQ(lines.size(), 2u);
  const StrictJson first = ParseLine(lines[0]);
  EXPECT_EQ(StringField(first, "ts"), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(StringField(first, "level"), "info");
  EXPECT_EQ(StringField(first, "component"), "peer");
  EXPECT_EQ(StringField(first, "msg"), "connected");
  EXPECT_EQ(StringField(first, "remote"), "127.0.0.1:7000");
  ASSERT_NE(first.Find("bytes"), nullptr);
  EXPECT_EQ(first.Find("bytes")->number, "12");
}

TEST(LogTest, TypedValues) {
  const std::string name = "bob";
  const std::string_view view = "view";
  const char* null_text = nullptr;
  const Field fields[] = {
      {"neg", -5},
      {"i64min", std::numeric_limits<int64_t>::min()},
      {"u64max", std::numeric_limits<uint64_t>::max()},
      {"u8", uint8_t{7}},
      {"yes", true},
      {"no", false},
      {"ratio", 0.25},
      {"big", 1e300},
      {"nan", std::numeric_limits<double>::quiet_NaN()},
      {"inf", std::numeric_limits<double>::infinity()},
      {"ninf", -std::numeric_limits<double>::infinity()},
      {"name", name},
      {"view", view},
      {"null", null_text},
      {"msg", "a field named like a fixed one"},
      {"ts", 1},
  };
  const std::string line = Logger::FormatLine(0, Level::kError, "c", "m", fields);
  EXPECT_EQ(line,
            "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"error\",\"component\":\"c\","
            "\"msg\":\"m\",\"neg\":-5,\"i64min\":-9223372036854775808,"
            "\"u64max\":18446744073709551615,\"u8\":7,\"yes\":true,\"no\":false,\"ratio\":0.25,"
            "\"big\":1e+300,\"nan\":\"NaN\",\"inf\":\"Infinity\",\"ninf\":\"-Infinity\","
            "\"name\":\"bob\",\"view\":\"view\",\"null\":null,"
            "\"_msg\":\"a field named like a fixed one\",\"_ts\":1}\n");
  const StrictJson obj = ParseLine(line.substr(0, line.size() - 1));
  // Every key distinct.
  std::map<std::string, int> seen;
  for (const auto& [k, v] : obj.object) EXPECT_EQ(++seen[k], 1) << k;
}

TEST(LogTest, EscapesQuotesNewlinesAndControlBytes) {
  std::string out;
  AppendJsonString(out, "say \"hi\"\\ \n\r\t\b\f\x01\x1f\x7f end");
  EXPECT_EQ(out, "\"say \\\"hi\\\"\\\\ \\n\\r\\t\\u0008\\u000c\\u0001\\u001f\\u007f end\"");

  out.clear();
  AppendJsonString(out, std::string_view("nul\0byte", 8));
  EXPECT_EQ(out, "\"nul\\u0000byte\"");

  // Well-formed UTF-8 passes through unchanged.
  out.clear();
  AppendJsonString(out, "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x8C\xB2");
  EXPECT_EQ(out, "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x8C\xB2\"");
}

TEST(LogTest, ReplacesIllFormedUtf8) {
  struct Case {
    std::string in;
    std::string out;
  };
  const std::vector<Case> cases = {
      {"\x80", "\\ufffd"},                                   // lone continuation byte
      {"a\xC3", "a\\ufffd"},                                 // truncated at the end
      {"\xC3(", "\\ufffd("},                                 // truncated before ASCII
      {"\xC0\x80", "\\ufffd\\ufffd"},                        // overlong NUL
      {"\xE0\x80\x80", "\\ufffd\\ufffd\\ufffd"},             // overlong 3-byte
      {"\xED\xA0\x80", "\\ufffd\\ufffd\\ufffd"},             // UTF-16 surrogate
      {"\xF4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},  // above U+10FFFF
      {"\xF5\x80", "\\ufffd\\ufffd"},                        // never a lead byte
      {"\xE2\x82", "\\ufffd"},                               // one maximal subpart
      {"\xF0\x9F\x8C", "\\ufffd"},                           // one maximal subpart
      {"\xFF\xFE\xFD", "\\ufffd\\ufffd\\ufffd"},
  };
  for (const Case& c : cases) {
    std::string out;
    AppendJsonString(out, c.in);
    EXPECT_EQ(out, "\"" + c.out + "\"") << ::testing::PrintToString(c.in);
  }
}

TEST(LogTest, AnyBytesGiveValidJsonThatRoundTripsValidText) {
  SeededRandom random(42);
  for (int i = 0; i < 2000; ++i) {
    std::string text(random.Uniform(40), '\0');
    for (char& c : text) {
      // Bias towards interesting bytes: controls, quotes, backslashes and high bytes.
      const uint64_t pick = random.Uniform(4);
      c = static_cast<char>(pick == 0   ? random.Uniform(0x20)
                            : pick == 1 ? "\"\\/\x7f"[random.Uniform(4)]
                            : pick == 2 ? 0x80 + random.Uniform(0x80)
                                        : random.Uniform(0x80));
    }
    const Field fields[] = {{text, text}};
    const std::string line = Logger::FormatLine(0, Level::kInfo, text, text, fields);
    ASSERT_EQ(line.back(), '\n');
    ASSERT_EQ(line.find('\n'), line.size() - 1);
    std::string error;
    std::optional<StrictJson> obj = StrictJson::Parse(line, &error);
    ASSERT_TRUE(obj.has_value()) << error << ": " << ::testing::PrintToString(text);
    // The decoded message equals the input whenever the input was valid UTF-8, i.e. whenever
    // it needed no replacement.
    std::string escaped;
    AppendJsonString(escaped, text);
    if (escaped.find("\\ufffd") == std::string::npos) {
      EXPECT_EQ(StringField(*obj, "msg"), text);
    }
  }
}

TEST(LogTest, LevelThreshold) {
  LogFile file;
  FakeClock clock;
  Logger log(file.fd(), Level::kWarn, &clock);
  EXPECT_FALSE(log.Enabled(Level::kInfo));
  EXPECT_TRUE(log.Enabled(Level::kError));
  log.Debug("c", "debug");
  log.Info("c", "info");
  log.Warn("c", "warn");
  log.Error("c", "error");
  log.SetLevel(Level::kDebug);
  log.Debug("c", "debug2");
  log.SetLevel(Level::kError);
  log.Warn("c", "warn2");
  log.Log(Level::kError, "c", "error2");

  std::vector<std::string> msgs;
  for (const std::string& line : file.Lines()) msgs.push_back(StringField(ParseLine(line), "msg"));
  EXPECT_EQ(msgs, (std::vector<std::string>{"warn", "error", "debug2", "error2"}));
}

TEST(LogTest, LevelNames) {
  for (Level level : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    EXPECT_EQ(ParseLevel(LevelName(level)), level);
  }
  EXPECT_EQ(ParseLevel("warning"), std::nullopt);
  EXPECT_EQ(ParseLevel("INFO"), std::nullopt);
  EXPECT_EQ(ParseLevel(""), std::nullopt);
}

TEST(LogTest, Rfc3339Timestamps) {
  EXPECT_EQ(FormatRfc3339Millis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Millis(951'782'400'007), "2000-02-29T00:00:00.007Z");
  EXPECT_EQ(FormatRfc3339Millis(1'709'251'199'999), "2024-02-29T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339Millis(1'700'000'000'123), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(FormatRfc3339Millis(253'402'300'799'999), "9999-12-31T23:59:59.999Z");
}

TEST(LogTest, WriteFailuresAreCountedNotThrown) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[1]);  // writing to fds[1] now fails with EBADF
  Logger log(fds[1]);
  log.Error("c", "lost");
  EXPECT_EQ(log.write_errors(), 1u);
  close(fds[0]);
}

TEST(LogTest, FileStarConstructorWritesToTheFile) {
  TempDir dir("log_test");
  const std::string path = dir.File("log.jsonl");
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("before\n", f);  // buffered by stdio: must land before the log line
  {
    FakeClock clock(0);
    Logger log(f, Level::kInfo, &clock);
    log.Info("c", "m");
  }
  fclose(f);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(),
            "before\n{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"info\","
            "\"component\":\"c\",\"msg\":\"m\"}\n");
}

TEST(LogTest, ConcurrentWritersProduceWholeLines) {
  // A pipe: a write() of more than PIPE_BUF bytes to it is not atomic, so only the Logger's own
  // locking keeps these long lines whole.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string all;
  std::thread reader([&all, fd = fds[0]] {
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
  });

  constexpr int kThreads = 4;
  constexpr int kLines = 500;
  const auto payload_of = [](int t) {
    return std::string(static_cast<size_t>(5000 + 3000 * t), static_cast<char>('a' + t));
  };
  uint64_t write_errors = 0;
  {
    Logger log(fds[1], Level::kInfo);  // the system clock: safe from every thread
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&log, &payload_of, t] {
        const std::string payload = payload_of(t);
        for (int i = 0; i < kLines; ++i) {
          log.Info("worker", "tick", {{"thread", t}, {"i", i}, {"payload", payload}});
        }
      });
    }
    for (auto& th : threads) th.join();
    write_errors = log.write_errors();
  }
  close(fds[1]);
  reader.join();
  close(fds[0]);
  EXPECT_EQ(write_errors, 0u);

  ASSERT_FALSE(all.empty());
  ASSERT_EQ(all.back(), '\n');
  std::vector<int> next(kThreads, 0);
  size_t lines = 0;
  for (size_t start = 0; start < all.size();) {
    const size_t end = all.find('\n', start);
    const std::string line = all.substr(start, end - start);
    start = end + 1;
    ++lines;
    const StrictJson obj = ParseLine(line);
    const StrictJson* thread = obj.Find("thread");
    const StrictJson* i = obj.Find("i");
    ASSERT_TRUE(thread && i) << line.substr(0, 200);
    const int t = std::stoi(thread->number);
    ASSERT_TRUE(t >= 0 && t < kThreads);
    EXPECT_EQ(std::stoi(i->number), next[t]++) << "lines of one thread stay in order";
    EXPECT_EQ(StringField(obj, "payload"), payload_of(t));
  }
  EXPECT_EQ(lines, size_t{kThreads} * kLines);
}

}  // namespace
}  // namespace grove::logging
