#include "config/peer_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "support/temp_dir.h"

#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

namespace grove::config {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses `yaml` as "peer.yaml" and expects an InvalidArgument at `where` whose message contains
// every one of `parts`.
void ExpectError(const std::string& yaml, const std::string& where,
                 std::initializer_list<std::string> parts, Code code = Code::kInvalidArgument) {
  SCOPED_TRACE("yaml:\n" + yaml.substr(0, 300));
  Result<PeerConfig> r = ParsePeerConfig(yaml, "peer.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_EQ(r.status().where(), where) << r.status().ToString();
  for (const std::string& part : parts) {
    EXPECT_NE(r.status().message().find(part), std::string::npos)
        << "missing '" << part << "' in: " << r.status().message();
  }
}

TEST(PeerConfigTest, DefaultsWhenOnlyDataIsGiven) {
  Result<PeerConfig> r = ParsePeerConfig("data: /var/lib/grove\n", "peer.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  PeerConfig expected;
  expected.data = "/var/lib/grove";
  EXPECT_EQ(*r, expected);
  EXPECT_EQ(r->listen, "127.0.0.1:7400");
  EXPECT_EQ(r->api, "127.0.0.1:7401");
  EXPECT_TRUE(r->connect.empty());
  EXPECT_EQ(r->log_level, "info");
  EXPECT_EQ(r->log_format, "json");
  EXPECT_EQ(r->seal_delay_ms, 200u);
  EXPECT_EQ(r->max_frame_bytes, 16777216u);
  EXPECT_EQ(r->batch_bytes, 1048576u);
  EXPECT_EQ(r->reconnect_min_ms, 500u);
  EXPECT_EQ(r->reconnect_max_ms, 30000u);
  EXPECT_FALSE(r->store_sync_full);
  EXPECT_EQ(r->attachment_max_bytes, 16ull << 30) << "files over 2 GB by default";
}

// Sizes past 32 bits; the top is the largest file one manifest lists (100 GiB).
TEST(PeerConfigTest, AttachmentLimitIsSixtyFourBitAndCappedAtWhatAManifestLists) {
  Result<PeerConfig> r =
      ParsePeerConfig("data: d\nattachments:\n  max_bytes: 107374182400\n", "peer.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->attachment_max_bytes, kMaxAttachmentBytes);
  r = ParsePeerConfig("data: d\nattachments:\n  max_bytes: 4294967297\n", "peer.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->attachment_max_bytes, (1ull << 32) + 1);
  ExpectError("data: d\nattachments:\n  max_bytes: 107374182401\n", "peer.yaml:3:14",
              {"attachments.max_bytes must be at most 107374182400, got '107374182401'"});
}

TEST(PeerConfigTest, ApiIsAnAddressOrASectionWithTheWebFolder) {
  Result<PeerConfig> scalar = ParsePeerConfig("data: d\napi: 127.0.0.1:9001\n", "peer.yaml");
  ASSERT_TRUE(scalar.ok()) << scalar.status().ToString();
  EXPECT_EQ(scalar->api, "127.0.0.1:9001");
  EXPECT_EQ(scalar->api_web_dir, "");
  Result<PeerConfig> section = ParsePeerConfig(
      "data: d\napi:\n  address: 127.0.0.1:9002\n  web_dir: /src/web/dist\n", "peer.yaml");
  ASSERT_TRUE(section.ok()) << section.status().ToString();
  EXPECT_EQ(section->api, "127.0.0.1:9002");
  EXPECT_EQ(section->api_web_dir, "/src/web/dist");
  Result<PeerConfig> dir_only = ParsePeerConfig("data: d\napi: { web_dir: w }\n", "peer.yaml");
  ASSERT_TRUE(dir_only.ok()) << dir_only.status().ToString();
  EXPECT_EQ(dir_only->api, "127.0.0.1:7401");
  EXPECT_EQ(dir_only->api_web_dir, "w");
  ExpectError("data: d\napi:\n  web_folder: w\n", "peer.yaml:3:3",
              {"unknown key 'api.web_folder'", "(known in api: address, web_dir)"});
  ExpectError("data: d\napi:\n  address: nowhere\n", "peer.yaml:3:12",
              {"api.address must be HOST:PORT"});
  ExpectError("data: d\napi: [ 1, 2 ]\n", "peer.yaml:2:6", {"api must be a mapping"});

  PeerConfig c;
  ASSERT_TRUE(ApplyOverride(c, "api.web_dir", "/tmp/app").ok());
  EXPECT_EQ(c.api_web_dir, "/tmp/app");
  ASSERT_TRUE(ApplyOverride(c, "api", "127.0.0.1:9003").ok());
  EXPECT_EQ(c.api, "127.0.0.1:9003");
}

TEST(PeerConfigTest, FullFile) {
  const std::string yaml =
      "# a peer\n"
      "data: \"/srv/grove data\"\n"
      "listen: 0.0.0.0:7400\n"
      "api: localhost:8401\n"
      "connect:\n"
      "  - 10.0.0.5:7400\n"
      "  - \"[2001:db8::5]:7400\"\n"
      "  - peer-2.example.org:7000\n"
      "log:\n"
      "  level: debug\n"
      "  format: json\n"
      "sync:\n"
      "  seal_delay_ms: 0\n"
      "  max_frame_bytes: 4294967295\n"
      "  batch_bytes: 65536\n"
      "  reconnect_min_ms: 100\n"
      "  reconnect_max_ms: 100\n"
      "store:\n"
      "  sync_full: true\n";
  Result<PeerConfig> r = ParsePeerConfig(yaml, "peer.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data, "/srv/grove data");
  EXPECT_EQ(r->listen, "0.0.0.0:7400");
  EXPECT_EQ(r->api, "localhost:8401");
  EXPECT_EQ(r->connect, (std::vector<std::string>{"10.0.0.5:7400", "[2001:db8::5]:7400",
                                                  "peer-2.example.org:7000"}));
  EXPECT_EQ(r->log_level, "debug");
  EXPECT_EQ(r->log_format, "json");
  EXPECT_EQ(r->seal_delay_ms, 0u);
  EXPECT_EQ(r->max_frame_bytes, 4294967295u);
  EXPECT_EQ(r->batch_bytes, 65536u);
  EXPECT_EQ(r->reconnect_min_ms, 100u);
  EXPECT_EQ(r->reconnect_max_ms, 100u);
  EXPECT_TRUE(r->store_sync_full);
}

TEST(PeerConfigTest, FlowStyleAndEmptySections) {
  Result<PeerConfig> r = ParsePeerConfig(
      "{data: d, connect: [\"a:1\", b:2], log: {level: warn}, sync:, store: {sync_full: FALSE}}",
      "peer.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->connect, (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ(r->log_level, "warn");
  EXPECT_EQ(r->seal_delay_ms, 200u);
  EXPECT_FALSE(r->store_sync_full);
}

TEST(PeerConfigTest, UnknownKeys) {
  ExpectError("data: d\nsink: x\n", "peer.yaml:2:1",
              {"unknown key 'sink'",
               "(known: data, listen, api, connect, log, sync, store, attachments, relay, audit, "
               "org, history)"});
  ExpectError("data: d\nsync:\n  seal_dely: 5\n", "peer.yaml:3:3",
              {"unknown key 'sync.seal_dely'", "did you mean 'sync.seal_delay_ms'?",
               "known in sync: seal_delay_ms, max_frame_bytes, batch_bytes, reconnect_min_ms, "
               "reconnect_max_ms"});
  ExpectError("data: d\nlog:\n    level: info\n    colour: yes\n", "peer.yaml:4:5",
              {"unknown key 'log.colour'", "(known in log: level, format)"});
  ExpectError("data: d\nstore: {sync_full: true, path: x}\n", "peer.yaml:2:26",
              {"unknown key 'store.path'"});
  ExpectError("data: d\nlistn: 1.2.3.4:5\n", "peer.yaml:2:1", {"did you mean 'listen'?"});
  // Keys are case-sensitive; a nested key at the top level is unknown there.
  ExpectError("Data: d\n", "peer.yaml:1:1", {"unknown key 'Data'", "did you mean 'data'?"});
  ExpectError("data: d\nseal_delay_ms: 5\n", "peer.yaml:2:1", {"unknown key 'seal_delay_ms'"});
  ExpectError("data: d\n[a]: 1\n", "peer.yaml:2:1", {"keys must be names, got a list"});
}

TEST(PeerConfigTest, DuplicateKeys) {
  ExpectError("data: d\nlisten: a:1\nlisten: b:2\n", "peer.yaml:3:1",
              {"key 'listen' is given twice (first at peer.yaml:2:1)"});
  ExpectError("data: d\nsync:\n  batch_bytes: 1\n  batch_bytes: 2\n", "peer.yaml:4:3",
              {"key 'sync.batch_bytes' is given twice (first at peer.yaml:3:3)"});
}

TEST(PeerConfigTest, IllTypedValues) {
  ExpectError("data: d\nsync:\n  seal_delay_ms: soon\n", "peer.yaml:3:18",
              {"sync.seal_delay_ms must be a non-negative integer, got 'soon'"});
  ExpectError("data: d\nsync:\n  seal_delay_ms: -5\n", "peer.yaml:3:18",
              {"sync.seal_delay_ms must be a non-negative integer, got '-5'"});
  ExpectError("data: d\nsync:\n  seal_delay_ms: 1.5\n", "peer.yaml:3:18", {"got '1.5'"});
  ExpectError("data: d\nsync:\n  seal_delay_ms: 0x10\n", "peer.yaml:3:18", {"got '0x10'"});
  ExpectError("data: d\nsync:\n  seal_delay_ms: \"200\"\n", "peer.yaml:3:18",
              {"must be a non-negative integer", "the quoted string \"200\""});
  ExpectError("data: d\nsync:\n  seal_delay_ms: [1]\n", "peer.yaml:3:18",
              {"sync.seal_delay_ms must be a non-negative integer, got a list"});
  ExpectError("data: d\nsync:\n  seal_delay_ms:\n", "peer.yaml:3:3",
              {"sync.seal_delay_ms must be a non-negative integer, got nothing"});
  ExpectError("data: d\nsync:\n  seal_delay_ms: 2147483648\n", "peer.yaml:3:18",
              {"sync.seal_delay_ms must be at most 2147483647, got '2147483648'"});
  ExpectError("data: d\nsync:\n  max_frame_bytes: 99999999999999999999999\n", "peer.yaml:3:20",
              {"must be at most 4294967295"});
  ExpectError("data: d\nsync:\n  max_frame_bytes: 0\n", "peer.yaml:3:20",
              {"sync.max_frame_bytes must be a positive integer, got '0'"});
  ExpectError("data: d\nsync:\n  reconnect_min_ms: 0\n", "peer.yaml:3:21",
              {"sync.reconnect_min_ms must be a positive integer, got '0'"});
  ExpectError("data: d\nstore:\n  sync_full: yes\n", "peer.yaml:3:14",
              {"store.sync_full must be true or false, got 'yes'"});
  ExpectError("data: d\nstore:\n  sync_full: 'true'\n", "peer.yaml:3:14",
              {"store.sync_full must be true or false, got the quoted string \"true\""});
  ExpectError("data: d\nlog:\n  level: verbose\n", "peer.yaml:3:10",
              {"log.level must be one of debug, info, warn, error, got 'verbose'"});
  ExpectError("data: d\nlog:\n  format: text\n", "peer.yaml:3:11",
              {"log.format must be json (the only format for now), got 'text'"});
  ExpectError("data: d\nsync: fast\n", "peer.yaml:2:7",
              {"sync must be a mapping of keys, got 'fast'"});
  ExpectError("data: d\nlog: [info]\n", "peer.yaml:2:6",
              {"log must be a mapping of keys, got a list"});
  ExpectError("data: [a, b]\n", "peer.yaml:1:7", {"data must be a path, got a list"});
  ExpectError("data: ''\n", "peer.yaml:1:7", {"data must be a path"});
  ExpectError("data:\n", "peer.yaml:1:1", {"data must be a path, got nothing"});
}

TEST(PeerConfigTest, Addresses) {
  ExpectError("data: d\nlisten: 0.0.0.0:0\n", "peer.yaml:2:9",
              {"listen must be HOST:PORT, got '0.0.0.0:0'", "port 0 is not in 1..65535"});
  ExpectError("data: d\nlisten: 0.0.0.0:65536\n", "peer.yaml:2:9", {"port 65536 is not in"});
  ExpectError("data: d\nlisten: 0.0.0.0:http\n", "peer.yaml:2:9", {"port 'http' is not a number"});
  ExpectError("data: d\nlisten: 0.0.0.0\n", "peer.yaml:2:9", {"missing ':PORT'"});
  ExpectError("data: d\nlisten: '0.0.0.0:'\n", "peer.yaml:2:9", {"missing port"});
  ExpectError("data: d\napi: :7401\n", "peer.yaml:2:6",
              {"api must be HOST:PORT, got ':7401'", "empty host"});
  ExpectError("data: d\napi: 7401\n", "peer.yaml:2:6", {"missing ':PORT'"});
  ExpectError("data: d\napi: 300.1.1.1:7401\n", "peer.yaml:2:6", {"not an IPv4 address"});
  ExpectError("data: d\napi: 'bad host:7401'\n", "peer.yaml:2:6",
              {"'bad host' is not a host name or IP address"});
  ExpectError("data: d\napi: '::1:7401'\n", "peer.yaml:2:6", {"IPv6 address must be in brackets"});
  ExpectError("data: d\napi: '[::1]'\n", "peer.yaml:2:6", {"missing ':PORT' after ']'"});
  ExpectError("data: d\napi: '[::1:7401'\n", "peer.yaml:2:6", {"missing ']'"});
  ExpectError("data: d\napi: '[]:7401'\n", "peer.yaml:2:6", {"empty host"});
  ExpectError("data: d\napi: '[zz::1]:7401'\n", "peer.yaml:2:6", {"is not an IPv6 address"});
  // Unquoted, [::1]:7400 is a YAML list followed by junk: yaml-cpp's own error and position.
  ExpectError("data: d\nlisten: [::1]:7400\n", "peer.yaml:2:14", {"malformed YAML"});
  ExpectError("data: d\nlisten: [\"::1\"]\n", "peer.yaml:2:9",
              {"listen must be HOST:PORT, got a list", "quote an IPv6 address"});

  ExpectError("data: d\nconnect:\n  - a:1\n  - 'b'\n", "peer.yaml:4:5",
              {"connect must be HOST:PORT, got 'b': missing ':PORT'"});
  ExpectError("data: d\nconnect: [a:1, \"c:0\"]\n", "peer.yaml:2:16", {"port 0 is not in"});
  ExpectError("data: d\nconnect: [a:1, a:1]\n", "peer.yaml:2:16",
              {"connect lists 'a:1' twice (first at peer.yaml:2:11)"});
  ExpectError("data: d\nconnect: 10.0.0.5:7400\n", "peer.yaml:2:10",
              {"connect must be a list of HOST:PORT, got '10.0.0.5:7400'"});
  ExpectError("data: d\nconnect: [[a:1]]\n", "peer.yaml:2:11",
              {"connect entries must be HOST:PORT, got a list"});

  for (const char* good :
       {"localhost:1", "127.0.0.1:65535", "[::]:7400", "[::1]:7400", "[fe80::1%eth0]:7400",
        "[::ffff:10.0.0.1]:80", "my_host.local:07400", "host-1.example.org:443"}) {
    EXPECT_TRUE(CheckHostPort(good).ok()) << good << ": " << CheckHostPort(good).ToString();
  }
}

TEST(PeerConfigTest, CrossKeyRules) {
  ExpectError("data: d\nsync:\n  reconnect_min_ms: 5000\n  reconnect_max_ms: 1000\n",
              "peer.yaml:3:21",
              {"sync.reconnect_min_ms (5000) must not exceed sync.reconnect_max_ms (1000)"});
  // Only the max given: the blame goes to the value that is in the file.
  ExpectError("data: d\nsync:\n  reconnect_max_ms: 100\n", "peer.yaml:3:21",
              {"sync.reconnect_min_ms (500) must not exceed sync.reconnect_max_ms (100)"});
  // An explicit batch above the frame limit is refused; a default one follows the limit.
  ExpectError("data: d\nsync:\n  max_frame_bytes: 1000\n  batch_bytes: 2000\n", "peer.yaml:4:16",
              {"sync.batch_bytes (2000) must not exceed sync.max_frame_bytes (1000)"});
}

TEST(PeerConfigTest, MissingDataNamesTheFile) {
  ExpectError("listen: 0.0.0.0:7400\n", "peer.yaml", {"missing required key 'data'"});
  ExpectError("", "peer.yaml", {"missing required key 'data'"});
  ExpectError("# only a comment\n", "peer.yaml", {"missing required key 'data'"});
}

TEST(PeerConfigTest, MalformedYaml) {
  ExpectError("data: d\nlisten: [a\n", "peer.yaml:3:1", {"malformed YAML"});
  ExpectError("data: a: b\n", "peer.yaml:1:8", {"malformed YAML: illegal map value"});
  ExpectError("data: d\n\tlisten: a:1\n", "peer.yaml:2:1", {"malformed YAML"});
  ExpectError("data: *nowhere\n", "peer.yaml:1:7", {"malformed YAML", "anchor"});
  ExpectError("data: \"bad \\q escape\"\n", "peer.yaml:1:14", {"malformed YAML"});
  ExpectError("- data\n", "peer.yaml:1:1", {"must be a mapping of keys, got a list"});
  ExpectError("just words\n", "peer.yaml:1:1", {"must be a mapping of keys, got 'just words'"});
  ExpectError("data: a\n---\ndata: b\n", "peer.yaml:3:1", {"2 YAML documents"});
  // Deep nesting is refused by yaml-cpp's depth guard, not by a stack overflow.
  ExpectError("data: d\nsync: " + std::string(5000, '[') + std::string(5000, ']') + "\n",
              "peer.yaml:2:10007", {"malformed YAML"});
}

TEST(PeerConfigTest, LoadFromFile) {
  testing::TempDir dir("config_test");
  const std::string path = dir.File("peer.yaml");
  {
    std::ofstream out(path);
    out << "data: /d\nsync:\n  seal_delay_ms: soon\n";
  }
  Result<PeerConfig> bad = LoadPeerConfig(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().where(), path + ":3:18");
  {
    std::ofstream out(path);
    out << "data: /d\nlisten: 0.0.0.0:7400\n";
  }
  Result<PeerConfig> good = LoadPeerConfig(path);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->listen, "0.0.0.0:7400");

  Result<PeerConfig> missing = LoadPeerConfig(dir.File("nope.yaml"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find(dir.File("nope.yaml")), std::string::npos);

  Result<PeerConfig> directory = LoadPeerConfig(dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().code(), Code::kIOError);

  {
    std::ofstream out(dir.File("huge.yaml"));
    out << "data: /d\n" << std::string(2 << 20, '#') << "\n";
  }
  EXPECT_EQ(LoadPeerConfig(dir.File("huge.yaml")).status().code(), Code::kInvalidArgument);
}

TEST(PeerConfigTest, Overrides) {
  Result<PeerConfig> r =
      ParsePeerConfig("data: /file\nlisten: 0.0.0.0:7400\nconnect: [a:1]\n", "peer.yaml");
  ASSERT_TRUE(r.ok());
  PeerConfig c = *r;
  ASSERT_TRUE(ApplyOverride(c, "data", "/flag").ok());
  ASSERT_TRUE(ApplyOverride(c, "listen", "127.0.0.1:9000").ok());
  ASSERT_TRUE(ApplyOverride(c, "api", "[::1]:9001").ok());
  ASSERT_TRUE(ApplyOverride(c, "connect", "b:2").ok());
  ASSERT_TRUE(ApplyOverride(c, "connect", "a:1").ok());  // already listed: kept once
  ASSERT_TRUE(ApplyOverride(c, "log.level", "error").ok());
  ASSERT_TRUE(ApplyOverride(c, "sync.seal_delay_ms", "10").ok());
  ASSERT_TRUE(ApplyOverride(c, "store.sync_full", "true").ok());
  EXPECT_EQ(c.data, "/flag");
  EXPECT_EQ(c.listen, "127.0.0.1:9000");
  EXPECT_EQ(c.api, "[::1]:9001");
  EXPECT_EQ(c.connect, (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ(c.log_level, "error");
  EXPECT_EQ(c.seal_delay_ms, 10u);
  EXPECT_TRUE(c.store_sync_full);

  const PeerConfig before = c;
  Status s = ApplyOverride(c, "listen", "nowhere");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.where(), "--listen");
  EXPECT_NE(s.message().find("listen must be HOST:PORT, got 'nowhere'"), std::string::npos);
  s = ApplyOverride(c, "connect", "x:99999");
  EXPECT_EQ(s.where(), "--connect");
  s = ApplyOverride(c, "data", "");
  EXPECT_EQ(s.where(), "--data");
  s = ApplyOverride(c, "sync.seal_delay_ms", "soon");
  EXPECT_NE(s.message().find("must be a non-negative integer, got 'soon'"), std::string::npos);
  s = ApplyOverride(c, "verbose", "1");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("unknown key 'verbose'"), std::string::npos);
  s = ApplyOverride(c, "log", "info");  // a section, not a key
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(c, before) << "failed overrides change nothing";

  // Replacing the file's peers is the caller's choice.
  c.connect.clear();
  ASSERT_TRUE(ApplyOverride(c, "connect", "z:9").ok());
  EXPECT_EQ(c.connect, (std::vector<std::string>{"z:9"}));
}

TEST(PeerConfigTest, ValidateAfterOverrides) {
  PeerConfig c;
  Status s = ValidatePeerConfig(c);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.where(), "data");
  ASSERT_TRUE(ApplyOverride(c, "data", "/d").ok());
  EXPECT_TRUE(ValidatePeerConfig(c).ok());
  ASSERT_TRUE(ApplyOverride(c, "sync.reconnect_min_ms", "60000").ok());  // not checked yet
  EXPECT_EQ(ValidatePeerConfig(c).where(), "sync.reconnect_min_ms");
  ASSERT_TRUE(ApplyOverride(c, "sync.reconnect_max_ms", "120000").ok());
  EXPECT_TRUE(ValidatePeerConfig(c).ok());
  ASSERT_TRUE(ApplyOverride(c, "sync.batch_bytes", "20000000").ok());
  EXPECT_EQ(ValidatePeerConfig(c).where(), "sync.batch_bytes");
}

TEST(PeerConfigTest, DefaultBatchFollowsASmallerFrameLimit) {
  PeerConfig c;
  ASSERT_TRUE(ApplyOverride(c, "data", "/d").ok());
  ASSERT_TRUE(ApplyOverride(c, "sync.max_frame_bytes", "65536").ok());
  EXPECT_TRUE(ValidatePeerConfig(c).ok());
  EXPECT_EQ(c.batch_bytes, 32768u);
}

const char kCard[] = "grove-card:CgVyZWxheRIg";  // the shape only: the peer decodes it

TEST(PeerConfigTest, RelayKeys) {
  Result<PeerConfig> r = ParsePeerConfig(
      "data: d\nrelay:\n  address: relay.example.org:7500\n  card: " + std::string(kCard) + "\n",
      "peer.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->relay_address, "relay.example.org:7500");
  EXPECT_EQ(r->relay_card, kCard);

  r = ParsePeerConfig(
      "data: d\nrelay: {address: \"[2001:db8::7]:7500\", card: \"" + std::string(kCard) + "\"}\n",
      "peer.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->relay_address, "[2001:db8::7]:7500");

  // Empty strings (the example file's) and an empty section mean no relay.
  r = ParsePeerConfig("data: d\nrelay:\n  address: \"\"\n  card: ''\n", "peer.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->relay_address.empty());
  EXPECT_TRUE(r->relay_card.empty());
  r = ParsePeerConfig("data: d\nrelay:\n", "peer.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  PeerConfig expected;
  expected.data = "d";
  EXPECT_EQ(*r, expected);
}

TEST(PeerConfigTest, RelayErrors) {
  ExpectError("data: d\nrelay:\n  address: relay.example.org\n  card: grove-card:x\n",
              "peer.yaml:3:12",
              {"relay.address must be HOST:PORT, got 'relay.example.org': missing ':PORT'"});
  ExpectError("data: d\nrelay:\n  address: r:7500\n  card: grove:x\n", "peer.yaml:4:9",
              {"relay.card must be a card (one line starting with 'grove-card:'), got 'grove:x'"});
  ExpectError("data: d\nrelay:\n  address: r:7500\n  card: |\n    grove-card:ab\n    cd\n",
              "peer.yaml:4:9", {"relay.card must be a card", "got several lines"});
  ExpectError("data: d\nrelay:\n  address: r:7500\n  card: [grove-card:x]\n", "peer.yaml:4:9",
              {"relay.card must be a card (one line starting with 'grove-card:'), got a list"});
  ExpectError("data: d\nrelay:\n  card:\n", "peer.yaml:3:3", {"relay.card must be", "got nothing"});
  ExpectError("data: d\nrelay: r:7500\n", "peer.yaml:2:8",
              {"relay must be a mapping of keys, got 'r:7500'"});
  ExpectError("data: d\nrelay:\n  adress: r:7500\n", "peer.yaml:3:3",
              {"unknown key 'relay.adress', did you mean 'relay.address'?",
               "(known in relay: address, card)"});
  ExpectError("data: d\nrelay:\n  address: r:1\n  address: r:2\n", "peer.yaml:4:3",
              {"key 'relay.address' is given twice (first at peer.yaml:3:3)"});
}

TEST(PeerConfigTest, ManagedModeNeedsCardAndEnrolment) {
  ExpectError("data: d\norg:\n  card: grove-org:abc\n", "peer.yaml:3:9",
              {"org.enrolment is required with org.card"});
  ExpectError("data: d\norg:\n  enrolment: grove-enrolment:abc\n", "peer.yaml:3:14",
              {"org.card is required with org.enrolment"});
  ExpectError("data: d\norg:\n  card: grove-card:abc\n  enrolment: grove-enrolment:x\n",
              "peer.yaml:3:9",
              {"org.card must be an org card (grove-org:...), got 'grove-card:abc'"});
  Result<PeerConfig> ok = ParsePeerConfig(
      "data: d\norg:\n  card: grove-org:a\n  enrolment: grove-enrolment:b\n", "peer.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->org_card, "grove-org:a");
  EXPECT_EQ(ok->org_enrolment, "grove-enrolment:b");
}

TEST(PeerConfigTest, RelayNeedsAddressAndCard) {
  // The address alone: the blame is the missing card's, shown at the address.
  ExpectError("data: d\nrelay:\n  address: r:7500\n", "peer.yaml:3:12",
              {"relay.card is required with relay.address: the card pins the relay's key "
               "(grove-relay prints it at start and writes it to DATA/relay.card)"});
  ExpectError("data: d\nrelay:\n  address: r:7500\n  card: ''\n", "peer.yaml:4:9",
              {"relay.card is required with relay.address"});
  ExpectError("data: d\nrelay:\n  card: " + std::string(kCard) + "\n", "peer.yaml:3:9",
              {"relay.address is required with relay.card"});

  PeerConfig c;
  ASSERT_TRUE(ApplyOverride(c, "data", "/d").ok());
  ASSERT_TRUE(ApplyOverride(c, "relay.address", "127.0.0.1:7500").ok());
  Status s = ValidatePeerConfig(c);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.where(), "relay.card");
  ASSERT_TRUE(ApplyOverride(c, "relay.card", kCard).ok());
  EXPECT_TRUE(ValidatePeerConfig(c).ok());
  EXPECT_EQ(c.relay_address, "127.0.0.1:7500");
  EXPECT_EQ(c.relay_card, kCard);
  // The command line can turn the file's relay off.
  ASSERT_TRUE(ApplyOverride(c, "relay.address", "").ok());
  EXPECT_EQ(ValidatePeerConfig(c).where(), "relay.address");
  ASSERT_TRUE(ApplyOverride(c, "relay.card", "").ok());
  EXPECT_TRUE(ValidatePeerConfig(c).ok());

  const PeerConfig before = c;
  s = ApplyOverride(c, "relay.address", "r");
  EXPECT_EQ(s.where(), "--relay.address");
  s = ApplyOverride(c, "relay.card", "grove-card:a\nb");
  EXPECT_EQ(s.where(), "--relay.card");
  EXPECT_NE(s.message().find("several lines"), std::string::npos) << s.message();
  s = ApplyOverride(c, "relay.card", "card:xyz");
  EXPECT_NE(s.message().find("got 'card:xyz'"), std::string::npos) << s.message();
  EXPECT_EQ(c, before);
}

TEST(PeerConfigTest, HistoryKeys) {
  Result<PeerConfig> defaults = ParsePeerConfig("data: d\n", "peer.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->history_checkpoint_every, 10000u);
  EXPECT_TRUE(defaults->history_prune);
  EXPECT_EQ(defaults->history_prune_wait_ms, 7ull * 24 * 3600 * 1000);
  EXPECT_FALSE(defaults->history_keep_full);

  Result<PeerConfig> r = ParsePeerConfig(
      "data: d\nhistory:\n  checkpoint_every: 0\n  prune: false\n  prune_wait: 36h\n"
      "  keep_full: true\n",
      "peer.yaml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->history_checkpoint_every, 0u);
  EXPECT_FALSE(r->history_prune);
  EXPECT_EQ(r->history_prune_wait_ms, 36ull * 3600 * 1000);
  EXPECT_TRUE(r->history_keep_full);
  for (const auto& [text, ms] : std::initializer_list<std::pair<const char*, uint64_t>>{
           {"0", 0}, {"250ms", 250}, {"90s", 90'000}, {"15m", 900'000}, {"2d", 172'800'000}}) {
    PeerConfig c;
    ASSERT_TRUE(ApplyOverride(c, "history.prune_wait", text).ok()) << text;
    EXPECT_EQ(c.history_prune_wait_ms, ms) << text;
  }

  ExpectError("data: d\nhistory:\n  prune_wait: soon\n", "peer.yaml:3:15",
              {"history.prune_wait must be a duration (a number and a unit: 500ms, 30s, 15m, "
               "12h, 7d), got 'soon'"});
  ExpectError("data: d\nhistory:\n  prune_wait: 7\n", "peer.yaml:3:15", {"got '7'"});
  ExpectError("data: d\nhistory:\n  prune_wait: 7 d\n", "peer.yaml:3:15", {"got '7 d'"});
  ExpectError("data: d\nhistory:\n  prune_wait: \"7d\"\n", "peer.yaml:3:15",
              {"the quoted string \"7d\""});
  ExpectError("data: d\nhistory:\n  prune_wait: 4000d\n", "peer.yaml:3:15",
              {"history.prune_wait must be at most 3650d, got '4000d'"});
  ExpectError("data: d\nhistory:\n  checkpoint_every: many\n", "peer.yaml:3:21",
              {"history.checkpoint_every must be a non-negative integer, got 'many'"});
  ExpectError("data: d\nhistory:\n  prune: sometimes\n", "peer.yaml:3:10",
              {"history.prune must be true or false, got 'sometimes'"});
  ExpectError("data: d\nhistory:\n  keep_all: true\n", "peer.yaml:3:3",
              {"unknown key 'history.keep_all'", "keep_full"});
  PeerConfig c;
  Status s = ApplyOverride(c, "history.keep_full", "yes");
  EXPECT_EQ(s.where(), "--history.keep_full");
}

TEST(PeerConfigTest, ExampleFileParsesToTheDefaults) {
  const std::string path = std::string(GROVE_SOURCE_DIR) + "/deploy/peer.example.yaml";
  Result<PeerConfig> r = LoadPeerConfig(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  PeerConfig expected;
  expected.data = r->data;
  EXPECT_EQ(*r, expected) << "deploy/peer.example.yaml should show every default";
}

TEST(PeerConfigTest, EveryKeyIsDocumented) {
  const std::string docs = ReadFile(std::string(GROVE_SOURCE_DIR) + "/docs/configuration.md");
  const std::string example = ReadFile(std::string(GROVE_SOURCE_DIR) + "/deploy/peer.example.yaml");
  ASSERT_FALSE(docs.empty());
  ASSERT_FALSE(example.empty());
  EXPECT_EQ(PeerConfigKeys().size(), 26u);
  for (const std::string& key : PeerConfigKeys()) {
    EXPECT_NE(docs.find("| `" + key + "` |"), std::string::npos)
        << key << " has no row in docs/configuration.md";
    const std::string leaf = key.substr(key.find('.') + 1);  // npos + 1 == 0: the whole key
    EXPECT_NE(example.find("\n" + std::string(key.find('.') == std::string::npos ? "" : "  ") +
                           leaf + ":"),
              std::string::npos)
        << key << " is not shown in deploy/peer.example.yaml";
  }
}

}  // namespace
}  // namespace grove::config
