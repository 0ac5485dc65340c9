#include "config/relay_config.h"

#include <gtest/gtest.h>

#include "support/temp_dir.h"

#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

namespace grove::config {
namespace {

const char kMinimal[] = "data: /var/lib/grove-relay\ndb: postgresql://grove@db/grove\n";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses `yaml` as "relay.yaml" and expects an InvalidArgument at `where` whose message contains
// every one of `parts`.
void ExpectError(const std::string& yaml, const std::string& where,
                 std::initializer_list<std::string> parts) {
  SCOPED_TRACE("yaml:\n" + yaml.substr(0, 300));
  Result<RelayConfig> r = ParseRelayConfig(yaml, "relay.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
  EXPECT_EQ(r.status().where(), where) << r.status().ToString();
  for (const std::string& part : parts) {
    EXPECT_NE(r.status().message().find(part), std::string::npos)
        << "missing '" << part << "' in: " << r.status().message();
  }
}

// As ExpectError after the minimal file (data and db on lines 1 and 2).
void ExpectErrorAfterMinimal(const std::string& rest, const std::string& where,
                             std::initializer_list<std::string> parts) {
  ExpectError(kMinimal + rest, where, parts);
}

TEST(RelayConfigTest, DefaultsWhenOnlyDataAndDbAreGiven) {
  Result<RelayConfig> r = ParseRelayConfig(kMinimal, "relay.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  RelayConfig expected;
  expected.data = "/var/lib/grove-relay";
  expected.db = "postgresql://grove@db/grove";
  EXPECT_EQ(*r, expected);
  EXPECT_EQ(r->name, "relay");
  EXPECT_EQ(r->listen, "127.0.0.1:7500");
  EXPECT_EQ(r->admin, "127.0.0.1:7501");
  EXPECT_EQ(r->log_level, "info");
  EXPECT_EQ(r->log_format, "json");
  EXPECT_EQ(r->max_frame_bytes, 16777216u);
  EXPECT_EQ(r->batch_bytes, 1048576u);
  EXPECT_EQ(r->db_retry_ms, 1000u);
  EXPECT_EQ(r->db_connect_timeout_s, 5u);
  EXPECT_EQ(r->quota_workspace_bytes, 1073741824u);
  EXPECT_EQ(r->quota_device_bytes, 268435456u);
}

TEST(RelayConfigTest, FullFile) {
  const std::string yaml =
      "# a relay\n"
      "data: \"/srv/grove relay\"\n"
      "name: \"relay one\"\n"
      "listen: 0.0.0.0:7500\n"
      "admin: \"[::1]:9501\"\n"
      "db: host=db.internal port=5432 dbname=grove user=grove password='s3 cret'\n"
      "log:\n"
      "  level: warn\n"
      "  format: json\n"
      "sync:\n"
      "  max_frame_bytes: 4294967295\n"
      "  batch_bytes: 65536\n"
      "database:\n"
      "  retry_ms: 250\n"
      "  connect_timeout_s: 86400\n"
      "quotas:\n"
      "  workspace_bytes: 0\n"
      "  device_bytes: 9223372036854775807\n";
  Result<RelayConfig> r = ParseRelayConfig(yaml, "relay.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data, "/srv/grove relay");
  EXPECT_EQ(r->name, "relay one");
  EXPECT_EQ(r->listen, "0.0.0.0:7500");
  EXPECT_EQ(r->admin, "[::1]:9501");
  EXPECT_EQ(r->db, "host=db.internal port=5432 dbname=grove user=grove password='s3 cret'");
  EXPECT_EQ(r->log_level, "warn");
  EXPECT_EQ(r->log_format, "json");
  EXPECT_EQ(r->max_frame_bytes, 4294967295u);
  EXPECT_EQ(r->batch_bytes, 65536u);
  EXPECT_EQ(r->db_retry_ms, 250u);
  EXPECT_EQ(r->db_connect_timeout_s, 86400u);
  EXPECT_EQ(r->quota_workspace_bytes, 0u);
  EXPECT_EQ(r->quota_device_bytes, 9223372036854775807u);
}

TEST(RelayConfigTest, FlowStyleAndEmptySections) {
  Result<RelayConfig> r = ParseRelayConfig(
      "{data: d, db: 'postgres://u:p@h/db', log: {level: debug}, sync:, database: {retry_ms: 5},"
      " quotas: {}}",
      "relay.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->db, "postgres://u:p@h/db");
  EXPECT_EQ(r->log_level, "debug");
  EXPECT_EQ(r->db_retry_ms, 5u);
  EXPECT_EQ(r->max_frame_bytes, 16777216u);
  EXPECT_EQ(r->quota_workspace_bytes, 1073741824u);
}

TEST(RelayConfigTest, UnknownKeys) {
  ExpectErrorAfterMinimal("quota: {}\n", "relay.yaml:3:1",
                          {"unknown key 'quota', did you mean 'quotas'?",
                           "(known: data, name, listen, admin, db, log, sync, database, quotas, "
                           "console)"});
  ExpectErrorAfterMinimal("admn: a:1\n", "relay.yaml:3:1", {"did you mean 'admin'?"});
  ExpectErrorAfterMinimal("databse:\n  retry_ms: 5\n", "relay.yaml:3:1",
                          {"unknown key 'databse', did you mean 'database'?"});
  ExpectErrorAfterMinimal("database:\n  retrys_ms: 5\n", "relay.yaml:4:3",
                          {"unknown key 'database.retrys_ms', did you mean 'database.retry_ms'?",
                           "(known in database: retry_ms, connect_timeout_s)"});
  ExpectErrorAfterMinimal(
      "quotas: {device_byte: 1}\n", "relay.yaml:3:10",
      {"did you mean 'quotas.device_bytes'?", "(known in quotas: workspace_bytes, device_bytes)"});
  // The peer's keys are not the relay's.
  ExpectErrorAfterMinimal(
      "sync:\n  seal_delay_ms: 5\n", "relay.yaml:4:3",
      {"unknown key 'sync.seal_delay_ms'", "(known in sync: max_frame_bytes, batch_bytes)"});
  ExpectErrorAfterMinimal("api: a:1\n", "relay.yaml:3:1", {"unknown key 'api'"});
  ExpectErrorAfterMinimal("connect: [a:1]\n", "relay.yaml:3:1", {"unknown key 'connect'"});
  ExpectErrorAfterMinimal("log:\n  colour: yes\n", "relay.yaml:4:3",
                          {"unknown key 'log.colour'", "(known in log: level, format)"});
  ExpectErrorAfterMinimal("retry_ms: 5\n", "relay.yaml:3:1", {"unknown key 'retry_ms'"});
  ExpectError("DB: x\n", "relay.yaml:1:1", {"unknown key 'DB'"});
}

TEST(RelayConfigTest, DuplicateKeys) {
  ExpectErrorAfterMinimal("db: host=other\n", "relay.yaml:3:1",
                          {"key 'db' is given twice (first at relay.yaml:2:1)"});
  ExpectErrorAfterMinimal("quotas:\n  device_bytes: 1\n  device_bytes: 2\n", "relay.yaml:5:3",
                          {"key 'quotas.device_bytes' is given twice (first at relay.yaml:4:3)"});
  ExpectErrorAfterMinimal("database: {}\ndatabase: {}\n", "relay.yaml:4:1",
                          {"key 'database' is given twice (first at relay.yaml:3:1)"});
}

TEST(RelayConfigTest, IllTypedValues) {
  ExpectErrorAfterMinimal("database:\n  retry_ms: soon\n", "relay.yaml:4:13",
                          {"database.retry_ms must be a positive integer, got 'soon'"});
  ExpectErrorAfterMinimal("database:\n  retry_ms: 0\n", "relay.yaml:4:13",
                          {"database.retry_ms must be a positive integer, got '0'"});
  ExpectErrorAfterMinimal("database:\n  retry_ms: 2147483648\n", "relay.yaml:4:13",
                          {"database.retry_ms must be at most 2147483647"});
  ExpectErrorAfterMinimal("database:\n  connect_timeout_s: 0\n", "relay.yaml:4:22",
                          {"database.connect_timeout_s must be a positive integer, got '0'"});
  ExpectErrorAfterMinimal("database:\n  connect_timeout_s: 86401\n", "relay.yaml:4:22",
                          {"database.connect_timeout_s must be at most 86400, got '86401'"});
  ExpectErrorAfterMinimal("database:\n  connect_timeout_s: \"5\"\n", "relay.yaml:4:22",
                          {"the quoted string \"5\""});
  ExpectErrorAfterMinimal("quotas:\n  workspace_bytes: -1\n", "relay.yaml:4:20",
                          {"quotas.workspace_bytes must be a non-negative integer, got '-1'"});
  ExpectErrorAfterMinimal("quotas:\n  workspace_bytes: 1GiB\n", "relay.yaml:4:20", {"got '1GiB'"});
  ExpectErrorAfterMinimal("quotas:\n  device_bytes: 9223372036854775808\n", "relay.yaml:4:17",
                          {"quotas.device_bytes must be at most 9223372036854775807"});
  ExpectErrorAfterMinimal("quotas:\n  device_bytes: [1]\n", "relay.yaml:4:17",
                          {"quotas.device_bytes must be a non-negative integer, got a list"});
  ExpectErrorAfterMinimal("quotas:\n  device_bytes:\n", "relay.yaml:4:3",
                          {"quotas.device_bytes must be a non-negative integer, got nothing"});
  ExpectErrorAfterMinimal("sync:\n  max_frame_bytes: 0\n", "relay.yaml:4:20",
                          {"sync.max_frame_bytes must be a positive integer, got '0'"});
  ExpectErrorAfterMinimal("sync:\n  max_frame_bytes: 4294967296\n", "relay.yaml:4:20",
                          {"must be at most 4294967295"});
  ExpectErrorAfterMinimal("sync:\n  batch_bytes: 1.5\n", "relay.yaml:4:16",
                          {"sync.batch_bytes must be a positive integer, got '1.5'"});
  ExpectErrorAfterMinimal("log:\n  level: verbose\n", "relay.yaml:4:10",
                          {"log.level must be one of debug, info, warn, error, got 'verbose'"});
  ExpectErrorAfterMinimal("log:\n  format: text\n", "relay.yaml:4:11",
                          {"log.format must be json (the only format for now), got 'text'"});
  ExpectErrorAfterMinimal("quotas: 5\n", "relay.yaml:3:9",
                          {"quotas must be a mapping of keys, got '5'"});
  ExpectErrorAfterMinimal("database: [a]\n", "relay.yaml:3:11",
                          {"database must be a mapping of keys, got a list"});

  ExpectErrorAfterMinimal("name: ''\n", "relay.yaml:3:7",
                          {"name must be a device name (1 to 128 bytes, no control characters), "
                           "got the quoted string \"\""});
  ExpectErrorAfterMinimal("name: \"a\\tb\"\n", "relay.yaml:3:7", {"name must be a device name"});
  ExpectErrorAfterMinimal("name: " + std::string(129, 'n') + "\n", "relay.yaml:3:7",
                          {"name must be a device name"});
  ExpectErrorAfterMinimal("name: [a]\n", "relay.yaml:3:7", {"name must be a device name", "list"});
  Result<RelayConfig> longest =
      ParseRelayConfig(kMinimal + ("name: " + std::string(128, 'n') + "\n"), "relay.yaml");
  EXPECT_TRUE(longest.ok()) << longest.status().ToString();
  Result<RelayConfig> unicode = ParseRelayConfig(kMinimal + std::string("name: Relais é\n"), "r");
  ASSERT_TRUE(unicode.ok()) << unicode.status().ToString();
  EXPECT_EQ(unicode->name, "Relais é");

  ExpectError("data: ''\ndb: host=h\n", "relay.yaml:1:7", {"data must be a path"});
  ExpectError("data: [a]\ndb: host=h\n", "relay.yaml:1:7", {"data must be a path, got a list"});
}

TEST(RelayConfigTest, Addresses) {
  ExpectErrorAfterMinimal("listen: 0.0.0.0:0\n", "relay.yaml:3:9",
                          {"listen must be HOST:PORT, got '0.0.0.0:0'", "port 0 is not in"});
  ExpectErrorAfterMinimal("admin: 7501\n", "relay.yaml:3:8",
                          {"admin must be HOST:PORT, got '7501': missing ':PORT'"});
  ExpectErrorAfterMinimal("admin: [\"::1\"]\n", "relay.yaml:3:8",
                          {"admin must be HOST:PORT, got a list", "quote an IPv6 address"});
  ExpectErrorAfterMinimal("listen: '::1:7500'\n", "relay.yaml:3:9",
                          {"IPv6 address must be in brackets"});
}

TEST(RelayConfigTest, DbShapes) {
  for (const char* good : {
           "postgresql://",
           "postgresql://localhost",
           "postgresql://grove:s3cret@db.internal:5432/grove?sslmode=require",
           "postgres://u@[::1]:5432/db",
           "postgresql:///grove?host=/var/run/postgresql",
           "host=db dbname=grove",
           "host = db  dbname= grove user =grove",
           "dbname=grove password='it\\'s spaced'",
           "password=a\\ b host=x",
           "host=",
           "application_name=grove-relay options='-c statement_timeout=5s'",
       }) {
    RelayConfig c;
    Status s = ApplyRelayOverride(c, "db", good);
    EXPECT_TRUE(s.ok()) << good << ": " << s.ToString();
    EXPECT_EQ(c.db, good);
  }

  struct Bad {
    const char* db;
    const char* problem;
  };
  for (const Bad& bad : std::initializer_list<Bad>{
           {"", "got an empty string"},
           {"mysql://root:s3cret@h/db", "a URI with the scheme 'mysql'"},
           {"PostgreSQL://u:s3cret@h/db", "a URI with the scheme 'PostgreSQL'"},
           {"postgresql://u:s3cret@h/db name", "a URI with a space"},
           {"postgresq//u:s3cret@h/db", "text that is not a key=value pair at byte 1"},
           {"s3cret", "a key without '=' at byte 1"},
           {"host=h s3cret", "a key without '=' at byte 8"},
           {"host=h password='s3cret", "an unterminated quoted value at byte 17"},
           {"host=h\npassword=s3cret", "control characters"},
           {"=s3cret", "text that is not a key=value pair at byte 1"},
       }) {
    SCOPED_TRACE(bad.db);
    RelayConfig c;
    Status s = ApplyRelayOverride(c, "db", bad.db);
    ASSERT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_EQ(s.where(), "--db");
    EXPECT_NE(s.message().find("db must be a PostgreSQL URL"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(bad.problem), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("the value is not repeated"), std::string::npos) << s.message();
    EXPECT_EQ(s.ToString().find("s3cret"), std::string::npos) << "leaks: " << s.ToString();
    EXPECT_EQ(c, RelayConfig{});
  }

  // In the file: the position of the value, and no password either.
  Result<RelayConfig> r = ParseRelayConfig("data: d\ndb: mysql://root:s3cret@h/db\n", "relay.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().where(), "relay.yaml:2:5");
  EXPECT_EQ(r.status().ToString().find("s3cret"), std::string::npos) << r.status().ToString();
  ExpectError("data: d\ndb:\n", "relay.yaml:2:1", {"db must be a PostgreSQL URL", "got nothing"});
  ExpectError("data: d\ndb: [postgresql://u:s3cret@h]\n", "relay.yaml:2:5",
              {"db must be a PostgreSQL URL", "got a list"});
}

TEST(RelayConfigTest, MissingDataOrDbNamesTheFile) {
  ExpectError("db: host=h\n", "relay.yaml",
              {"missing required key 'data' (the relay's data folder)"});
  ExpectError("data: d\n", "relay.yaml", {"missing required key 'db' (the PostgreSQL URL)"});
  ExpectError("", "relay.yaml", {"missing required key 'data'"});
  ExpectError("listen: 0.0.0.0:7500\n", "relay.yaml", {"missing required key 'data'"});
  ExpectError("data: d\nsync: {}\n", "relay.yaml", {"missing required key 'db'"});
}

TEST(RelayConfigTest, CrossKeyRules) {
  ExpectErrorAfterMinimal("sync:\n  max_frame_bytes: 1000\n  batch_bytes: 2000\n",
                          "relay.yaml:5:16",
                          {"sync.batch_bytes (2000) must not exceed sync.max_frame_bytes (1000)"});
  // Only the batch given: the blame goes to it.
  ExpectErrorAfterMinimal("sync:\n  batch_bytes: 16777217\n", "relay.yaml:4:16",
                          {"sync.batch_bytes (16777217) must not exceed"});
  // A default batch follows a smaller frame limit.
  Result<RelayConfig> r =
      ParseRelayConfig(kMinimal + std::string("sync: {max_frame_bytes: 65536}\n"), "relay.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->batch_bytes, 32768u);
}

TEST(RelayConfigTest, ConsoleKeys) {
  Result<RelayConfig> r = ParseRelayConfig(
      kMinimal + std::string("console:\n  session_idle_s: 600\n  lockout_failures: 3\n"
                             "  argon2_memory_kib: 19456\n  auditor_card: \"grove-card:x\"\n"
                             "  secure_cookie: true\n"),
      "relay.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->session_idle_s, 600u);
  EXPECT_EQ(r->session_max_s, 86400u);
  EXPECT_EQ(r->lockout_failures, 3u);
  EXPECT_EQ(r->argon2_memory_kib, 19456u);
  EXPECT_EQ(r->auditor_card, "grove-card:x");
  EXPECT_TRUE(r->secure_cookie);

  ExpectErrorAfterMinimal("console:\n  session_idle_s: 59\n", "relay.yaml:4:19",
                          {"console.session_idle_s must be at least 60"});
  ExpectErrorAfterMinimal("console:\n  lockout_failures: 0\n", "relay.yaml:4:21",
                          {"console.lockout_failures must be a positive integer, got '0'"});
  ExpectErrorAfterMinimal("console:\n  argon2_memory_kib: 4194305\n", "relay.yaml:4:22",
                          {"console.argon2_memory_kib must be at most 4194304"});
  ExpectErrorAfterMinimal("console:\n  auditor_card: alice\n", "relay.yaml:4:17",
                          {"console.auditor_card must be a card"});
  ExpectErrorAfterMinimal("console:\n  secure_cookie: maybe\n", "relay.yaml:4:18",
                          {"console.secure_cookie"});
  ExpectErrorAfterMinimal("console:\n  sesion_idle_s: 600\n", "relay.yaml:4:3",
                          {"did you mean 'console.session_idle_s'?"});
  // 8 KiB per lane at least.
  ExpectErrorAfterMinimal("console:\n  argon2_lanes: 4\n  argon2_memory_kib: 16\n",
                          "relay.yaml:5:22",
                          {"console.argon2_memory_kib (16) must be at least 8 per lane"});
  RelayConfig c = *ParseRelayConfig(kMinimal, "relay.yaml");
  ASSERT_TRUE(ApplyRelayOverride(c, "console.argon2_memory_kib", "8").ok());
  ASSERT_TRUE(ApplyRelayOverride(c, "console.argon2_lanes", "2").ok());
  EXPECT_EQ(ValidateRelayConfig(c).where(), "console.argon2_memory_kib");
}

TEST(RelayConfigTest, MalformedYaml) {
  ExpectError("data: d\ndb: [a\n", "relay.yaml:3:1", {"malformed YAML"});
  ExpectError("- data\n", "relay.yaml:1:1", {"must be a mapping of keys, got a list"});
  ExpectError(std::string(kMinimal) + "---\ndata: b\n", "relay.yaml:4:1", {"2 YAML documents"});
  ExpectError("data: d\n\tdb: x\n", "relay.yaml:2:1", {"malformed YAML"});
}

TEST(RelayConfigTest, LoadFromFile) {
  testing::TempDir dir("relay_config_test");
  const std::string path = dir.File("relay.yaml");
  {
    std::ofstream out(path);
    out << kMinimal << "quotas:\n  device_bytes: lots\n";
  }
  Result<RelayConfig> bad = LoadRelayConfig(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().where(), path + ":4:17");
  {
    std::ofstream out(path);
    out << kMinimal << "listen: 0.0.0.0:7500\n";
  }
  Result<RelayConfig> good = LoadRelayConfig(path);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->listen, "0.0.0.0:7500");

  Result<RelayConfig> missing = LoadRelayConfig(dir.File("nope.yaml"));
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(LoadRelayConfig(dir.path()).status().code(), Code::kIOError);
  {
    std::ofstream out(dir.File("huge.yaml"));
    out << kMinimal << std::string(2 << 20, '#') << "\n";
  }
  EXPECT_EQ(LoadRelayConfig(dir.File("huge.yaml")).status().code(), Code::kInvalidArgument);
}

TEST(RelayConfigTest, Overrides) {
  Result<RelayConfig> r = ParseRelayConfig(kMinimal, "relay.yaml");
  ASSERT_TRUE(r.ok());
  RelayConfig c = *r;
  const std::pair<const char*, const char*> every[] = {
      {"data", "/flag"},
      {"name", "edge relay"},
      {"listen", "0.0.0.0:17500"},
      {"admin", "[::1]:17501"},
      {"db", "host=flag dbname=grove"},
      {"log.level", "error"},
      {"log.format", "json"},
      {"sync.max_frame_bytes", "2000000"},
      {"sync.batch_bytes", "100000"},
      {"database.retry_ms", "30"},
      {"database.connect_timeout_s", "60"},
      {"quotas.workspace_bytes", "0"},
      {"quotas.device_bytes", "12345"},
      {"console.session_idle_s", "600"},
      {"console.session_max_s", "7200"},
      {"console.lockout_failures", "3"},
      {"console.lockout_s", "60"},
      {"console.argon2_passes", "2"},
      {"console.argon2_memory_kib", "19456"},
      {"console.argon2_lanes", "2"},
      {"console.auditor_card", "grove-card:abc"},
      {"console.secure_cookie", "true"},
  };
  ASSERT_EQ(std::size(every), RelayConfigKeys().size());
  for (const auto& [key, value] : every) {
    Status s = ApplyRelayOverride(c, key, value);
    EXPECT_TRUE(s.ok()) << key << ": " << s.ToString();
  }
  EXPECT_EQ(c.data, "/flag");
  EXPECT_EQ(c.name, "edge relay");
  EXPECT_EQ(c.listen, "0.0.0.0:17500");
  EXPECT_EQ(c.admin, "[::1]:17501");
  EXPECT_EQ(c.db, "host=flag dbname=grove");
  EXPECT_EQ(c.log_level, "error");
  EXPECT_EQ(c.max_frame_bytes, 2000000u);
  EXPECT_EQ(c.batch_bytes, 100000u);
  EXPECT_EQ(c.db_retry_ms, 30u);
  EXPECT_EQ(c.db_connect_timeout_s, 60u);
  EXPECT_EQ(c.quota_workspace_bytes, 0u);
  EXPECT_EQ(c.quota_device_bytes, 12345u);
  EXPECT_EQ(c.session_idle_s, 600u);
  EXPECT_EQ(c.session_max_s, 7200u);
  EXPECT_EQ(c.lockout_failures, 3u);
  EXPECT_EQ(c.lockout_s, 60u);
  EXPECT_EQ(c.argon2_passes, 2u);
  EXPECT_EQ(c.argon2_memory_kib, 19456u);
  EXPECT_EQ(c.argon2_lanes, 2u);
  EXPECT_EQ(c.auditor_card, "grove-card:abc");
  EXPECT_TRUE(c.secure_cookie);
  EXPECT_TRUE(ValidateRelayConfig(c).ok());

  const RelayConfig before = c;
  Status s = ApplyRelayOverride(c, "listen", "nowhere");
  EXPECT_EQ(s.where(), "--listen");
  EXPECT_NE(s.message().find("listen must be HOST:PORT, got 'nowhere'"), std::string::npos);
  s = ApplyRelayOverride(c, "quotas.device_bytes", "-1");
  EXPECT_EQ(s.where(), "--quotas.device_bytes");
  s = ApplyRelayOverride(c, "db", "postgresql://u:s3cret@h/d b");
  EXPECT_EQ(s.where(), "--db");
  EXPECT_EQ(s.message().find("s3cret"), std::string::npos);
  s = ApplyRelayOverride(c, "quota", "1");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.where(), "--quota");
  EXPECT_NE(s.message().find("unknown key 'quota' (known: data, name, listen, admin, db, "
                             "log.level, log.format, sync.max_frame_bytes"),
            std::string::npos)
      << s.message();
  s = ApplyRelayOverride(c, "database", "x");  // a section, not a key
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(c, before) << "failed overrides change nothing";
}

TEST(RelayConfigTest, ValidateAfterOverrides) {
  RelayConfig c;
  Status s = ValidateRelayConfig(c);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.where(), "data");
  ASSERT_TRUE(ApplyRelayOverride(c, "data", "/d").ok());
  s = ValidateRelayConfig(c);
  EXPECT_EQ(s.where(), "db");
  EXPECT_NE(s.message().find("the PostgreSQL URL is required"), std::string::npos);
  ASSERT_TRUE(ApplyRelayOverride(c, "db", "postgresql://h/db").ok());
  EXPECT_TRUE(ValidateRelayConfig(c).ok());
  ASSERT_TRUE(ApplyRelayOverride(c, "sync.batch_bytes", "20000000").ok());
  EXPECT_EQ(ValidateRelayConfig(c).where(), "sync.batch_bytes");
  ASSERT_TRUE(ApplyRelayOverride(c, "sync.max_frame_bytes", "20000000").ok());
  EXPECT_TRUE(ValidateRelayConfig(c).ok());
}

TEST(RelayConfigTest, RedactDbUrl) {
  const std::pair<const char*, const char*> cases[] = {
      {"postgresql://grove:s3cret@db:5432/grove", "postgresql://grove:***@db:5432/grove"},
      {"postgres://grove:s3cret@db/grove?sslmode=require",
       "postgres://grove:***@db/grove?sslmode=require"},
      {"postgresql://grove@db/grove", "postgresql://grove@db/grove"},
      {"postgresql://db:5432/grove", "postgresql://db:5432/grove"},
      {"postgresql://[::1]:5432/grove", "postgresql://[::1]:5432/grove"},
      {"postgresql://:s3cret@db/grove", "postgresql://:***@db/grove"},
      // A raw '@' or '/' in the password: still covered.
      {"postgresql://u:s3@c/ret@db/grove", "postgresql://u:***@db/grove"},
      {"postgresql://u@db/grove?password=s3cret&sslmode=require",
       "postgresql://u@db/grove?password=***&sslmode=require"},
      {"postgresql://u@db/grove?sslmode=verify-full&sslpassword=s3cret",
       "postgresql://u@db/grove?sslmode=verify-full&sslpassword=***"},
      {"postgresql://u@db/grove?pass%77ord=s3cret", "postgresql://u@db/grove?pass%77ord=***"},
      {"postgresql://u@db/grove?application_name=a@b",
       "postgresql://u@db/grove?application_name=a@b"},
      {"host=db password=s3cret dbname=grove", "host=db password=*** dbname=grove"},
      {"host=db password = 's3 cret' dbname=grove", "host=db password = *** dbname=grove"},
      {"password='it\\'s s3cret'", "password=***"},
      {"password=s3\\ cret user=u", "password=*** user=u"},
      {"sslpassword=s3cret", "sslpassword=***"},
      {"host=db dbname=grove", "host=db dbname=grove"},
      {"passfile=/etc/pgpass", "passfile=/etc/pgpass"},
      // Only known harmless parameters show their values: a misspelled password is hidden too.
      {"host=db pasword=s3cret", "host=db pasword=***"},
      {"host=dbpassword=s3cret", "host=***"},  // a missing space
      {"host= password=s3cret", "host= ***"},
      {"options='-c statement_timeout=5s' host=db", "options='-c statement_timeout=5s' host=db"},
      {"host=db port=5432 dbname=grove user=grove sslmode=verify-full sslrootcert=/etc/ca.pem",
       "host=db port=5432 dbname=grove user=grove sslmode=verify-full sslrootcert=/etc/ca.pem"},
      {"postgresql://u@db/grove?sslmode=require&passwd=s3cret",
       "postgresql://u@db/grove?sslmode=require&passwd=***"},
      {"postgresql://u@db/grove?sslmode=require&passwords3cret",
       "postgresql://u@db/grove?sslmode=require&***"},
      // What does not parse is hidden from where it stops.
      {"host=db password='s3cret", "host=db password=***"},
      {"host=db s3cret", "host=db ***"},
      {"mysql://root:s3cret@h/db", "***"},
      {"", ""},
  };
  for (const auto& [db, redacted] : cases) {
    EXPECT_EQ(RedactDbUrl(db), redacted) << db;
    EXPECT_EQ(RedactDbUrl(db).find("s3"), std::string::npos) << db;
  }
}

// The part of docs/configuration.md from `heading` to the next "## " heading.
std::string Section(const std::string& docs, const std::string& heading) {
  const size_t begin = docs.find("\n## " + heading + "\n");
  if (begin == std::string::npos) return "";
  const size_t end = docs.find("\n## ", begin + 1);
  return docs.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

TEST(RelayConfigTest, ExampleFileParsesToTheDefaults) {
  const std::string path = std::string(GROVE_SOURCE_DIR) + "/deploy/relay.example.yaml";
  Result<RelayConfig> r = LoadRelayConfig(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  RelayConfig expected;
  expected.data = r->data;
  expected.db = r->db;
  EXPECT_EQ(*r, expected) << "deploy/relay.example.yaml should show every default";
}

TEST(RelayConfigTest, EveryKeyIsDocumented) {
  const std::string docs = ReadFile(std::string(GROVE_SOURCE_DIR) + "/docs/configuration.md");
  const std::string relay = Section(docs, "Relay (grove-relay)");
  const std::string example =
      ReadFile(std::string(GROVE_SOURCE_DIR) + "/deploy/relay.example.yaml");
  ASSERT_FALSE(relay.empty()) << "docs/configuration.md has no '## Relay (grove-relay)' section";
  ASSERT_FALSE(example.empty());
  EXPECT_EQ(RelayConfigKeys(), (std::vector<std::string>{"data",
                                                         "name",
                                                         "listen",
                                                         "admin",
                                                         "db",
                                                         "log.level",
                                                         "log.format",
                                                         "sync.max_frame_bytes",
                                                         "sync.batch_bytes",
                                                         "database.retry_ms",
                                                         "database.connect_timeout_s",
                                                         "quotas.workspace_bytes",
                                                         "quotas.device_bytes",
                                                         "console.session_idle_s",
                                                         "console.session_max_s",
                                                         "console.lockout_failures",
                                                         "console.lockout_s",
                                                         "console.argon2_passes",
                                                         "console.argon2_memory_kib",
                                                         "console.argon2_lanes",
                                                         "console.auditor_card",
                                                         "console.secure_cookie"}));
  for (const std::string& key : RelayConfigKeys()) {
    EXPECT_NE(relay.find("| `" + key + "` |"), std::string::npos)
        << key << " has no row in the relay section of docs/configuration.md";
    const std::string leaf = key.substr(key.find('.') + 1);  // npos + 1 == 0: the whole key
    EXPECT_NE(example.find("\n" + std::string(key.find('.') == std::string::npos ? "" : "  ") +
                           leaf + ":"),
              std::string::npos)
        << key << " is not shown in deploy/relay.example.yaml";
  }
}

}  // namespace
}  // namespace grove::config
