// Runs the real `grove` binary as a child process, as a user or a script would.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "json_value.h"
#include "support/temp_dir.h"

namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// A flat JSON object of strings, enough to check `grove identity --json`; nullopt if the text is
// anything else.
std::optional<std::map<std::string, std::string>> ParseFlatJson(std::string_view text) {
  size_t pos = 0;
  auto skip_space = [&] {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
  };
  auto expect = [&](char c) {
    skip_space();
    if (pos >= text.size() || text[pos] != c) return false;
    ++pos;
    return true;
  };
  auto string = [&]() -> std::optional<std::string> {
    if (!expect('"')) return std::nullopt;
    std::string out;
    while (pos < text.size() && text[pos] != '"') {
      char c = text[pos++];
      if (c == '\\') {
        if (pos >= text.size()) return std::nullopt;
        const char e = text[pos++];
        if (e == 'n')
          c = '\n';
        else if (e == 't')
          c = '\t';
        else if (e == 'r')
          c = '\r';
        else if (e == '"' || e == '\\' || e == '/')
          c = e;
        else
          return std::nullopt;  // \uXXXX is not produced for the names used here
      }
      out += c;
    }
    if (pos >= text.size()) return std::nullopt;
    ++pos;
    return out;
  };
  std::map<std::string, std::string> object;
  if (!expect('{')) return std::nullopt;
  do {
    auto key = string();
    if (!key || !expect(':')) return std::nullopt;
    auto value = string();
    if (!value) return std::nullopt;
    object[*key] = *value;
  } while (expect(','));
  if (!expect('}')) return std::nullopt;
  skip_space();
  if (pos != text.size()) return std::nullopt;
  return object;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path();
    data_ = root_ + "/data";
  }

  grove::testing::TempDir tmp_{"cli_test"};

  // Runs `grove args...` with stdout and stderr captured through files (no pipe deadlocks).
  Outcome Grove(const std::vector<std::string>& args) {
    const std::string out_path = root_ + "/stdout", err_path = root_ + "/stderr";
    std::vector<char*> argv;
    std::string bin = GROVE_BIN;
    argv.push_back(bin.data());
    std::vector<std::string> copies = args;
    for (std::string& a : copies) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
      execv(argv[0], argv.data());
      _exit(127);
    }
    Outcome run;
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status)) << "grove did not exit normally";
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.out = ReadFile(out_path);
    run.err = ReadFile(err_path);
    return run;
  }

  std::string root_;
  std::string data_;
};

TEST_F(CliTest, InitCreatesPrivateFilesAndPrintsIdentity) {
  const Outcome run = Grove({"init", "--data", data_, "--name", "Warehouse tablet"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_NE(run.out.find("device: "), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("card: grove-card:"), std::string::npos) << run.out;
  EXPECT_EQ(ModeOf(data_ + "/device.key"), 0600u);
  EXPECT_EQ(ModeOf(data_ + "/api-token"), 0600u);
  EXPECT_EQ(ModeOf(data_), 0700u);
}

TEST_F(CliTest, SecondInitExitsThreeAndLeavesTheDeviceAlone) {
  ASSERT_EQ(Grove({"init", "--data", data_, "--name", "first"}).exit_code, 0);
  const std::string key_before = ReadFile(data_ + "/device.key");
  const std::string token_before = ReadFile(data_ + "/api-token");
  ASSERT_FALSE(key_before.empty());

  const Outcome again = Grove({"init", "--data", data_, "--name", "second"});
  EXPECT_EQ(again.exit_code, 3);
  EXPECT_EQ(again.err, "grove: " + data_ + "/device.key already exists; refusing to overwrite\n");
  EXPECT_EQ(again.out, "");
  EXPECT_EQ(ReadFile(data_ + "/device.key"), key_before);
  EXPECT_EQ(ReadFile(data_ + "/api-token"), token_before);
}

TEST_F(CliTest, IdentityJsonMatchesInitAndItsCardVerifies) {
  const Outcome init = Grove({"init", "--data", data_, "--name", "Quote \"me\" \\ here"});
  ASSERT_EQ(init.exit_code, 0) << init.err;

  const Outcome json = Grove({"identity", "--data", data_, "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto object = ParseFlatJson(json.out);
  ASSERT_TRUE(object.has_value()) << "not a flat JSON object: " << json.out;
  ASSERT_EQ(object->size(), 3u) << json.out;
  const std::string device = (*object)["device"];
  EXPECT_EQ(device.size(), 52u);
  EXPECT_EQ((*object)["name"], "Quote \"me\" \\ here");
  EXPECT_NE(init.out.find("device: " + device + "\n"), std::string::npos) << "same device as init";
  EXPECT_NE(init.out.find("card: " + (*object)["card"] + "\n"), std::string::npos);

  const Outcome lines = Grove({"identity", "--data", data_});
  ASSERT_EQ(lines.exit_code, 0);
  EXPECT_EQ(lines.out, init.out) << "init prints what identity shows";

  const Outcome verify = Grove({"card", "verify", (*object)["card"]});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_EQ(verify.out, "device: " + device + "\nname: Quote \"me\" \\ here\n");
}

TEST_F(CliTest, CardVerifyRejectsATamperedCard) {
  ASSERT_EQ(Grove({"init", "--data", data_, "--name", "tamper"}).exit_code, 0);
  const Outcome json = Grove({"identity", "--data", data_, "--json"});
  auto object = ParseFlatJson(json.out);
  ASSERT_TRUE(object.has_value());
  std::string card = (*object)["card"];
  // Change one base64url character in the middle of the card (inside a key or the signature).
  char& c = card[card.size() / 2];
  c = c == 'A' ? 'B' : 'A';
  const Outcome verify = Grove({"card", "verify", card});
  EXPECT_EQ(verify.exit_code, 1);
  EXPECT_EQ(verify.out, "");
  EXPECT_TRUE(verify.err.starts_with("grove: card ")) << verify.err;

  const Outcome garbage = Grove({"card", "verify", "hello"});
  EXPECT_EQ(garbage.exit_code, 1);
  EXPECT_NE(garbage.err.find("grove-card:"), std::string::npos) << garbage.err;
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  const Outcome missing = Grove({"init", "--name", "x"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("missing --data DIR"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("usage: grove init --data DIR --name NAME"), std::string::npos);
  EXPECT_FALSE(fs::exists(data_));

  EXPECT_EQ(Grove({"identity"}).exit_code, 2);
  EXPECT_EQ(Grove({"identity", "--data", data_, "--colour"}).exit_code, 2);
  EXPECT_EQ(Grove({"init", "--data"}).exit_code, 2);
  EXPECT_EQ(Grove({"card", "verify"}).exit_code, 2);
  EXPECT_EQ(Grove({"card", "verify", "a", "b"}).exit_code, 2);
  const Outcome unknown = Grove({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("unknown command \"frobnicate\""), std::string::npos) << unknown.err;
  EXPECT_EQ(unknown.out, "");
  EXPECT_EQ(Grove({}).exit_code, 2);
}

TEST_F(CliTest, MissingDeviceExitsFour) {
  const Outcome run = Grove({"identity", "--data", data_});
  EXPECT_EQ(run.exit_code, 4);
  EXPECT_NE(run.err.find("no device in " + data_), std::string::npos) << run.err;
}

TEST_F(CliTest, HelpListsCommandsAndExitCodes) {
  const Outcome help = Grove({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* expected :
       {"grove init --data DIR --name NAME", "grove identity --data DIR [--json]",
        "grove card verify CARD", "grove store info --data DIR [--json]",
        "grove store rebuild --data DIR [--workspace ID] [--json]",
        "grove demo [--dir DIR] [--items N]", "grove tool check FILE...",
        "grove record transition --data DIR [--api HOST:PORT] [--json] WS ID NAME FIELD=VALUE...",
        "[--where FIELD=VALUE]...", "grove ws tools --data DIR",
        "grove checkpoint --data DIR [--api HOST:PORT] [--json] WS",
        "grove history --data DIR [--api HOST:PORT] [--json] WS",
        "0 ok, 1 error, 2 usage, 3 already exists, 4 not found"}) {
    EXPECT_NE(help.out.find(expected), std::string::npos) << expected;
  }
  const Outcome one = Grove({"help", "card", "verify"});
  EXPECT_EQ(one.exit_code, 0);
  EXPECT_TRUE(one.out.starts_with("usage: grove card verify CARD\n")) << one.out;
  EXPECT_EQ(Grove({"init", "--help"}).out, Grove({"help", "init"}).out);
  EXPECT_EQ(Grove({"help", "nope"}).exit_code, 2);
}

// --- grove tool ---------------------------------------------------------------------------------

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

TEST_F(CliTest, ToolCheckReportsEachProblemAtItsFileLineAndColumn) {
  const std::string good = root_ + "/notes.yaml", bad = root_ + "/bad.yaml";
  WriteText(good,
            "tool: notes\nversion: 3\ntitle: Notes\ntypes:\n  note:\n    fields:\n"
            "      text: {type: text}\n");
  WriteText(bad,
            "tool: stock\nversion: 1\ntitle: Stock\ntypes:\n  item:\n    fields:\n"
            "      sku: {type: txt}\n");
  const Outcome ok = Grove({"tool", "check", good});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, good + ": ok (tool notes v3, 1 type)\n");
  EXPECT_EQ(ok.err, "");

  const Outcome both = Grove({"tool", "check", bad, good});
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_TRUE(both.err.starts_with(bad + ":7:19: ")) << both.err;
  EXPECT_NE(both.err.find("txt"), std::string::npos) << both.err;
  EXPECT_EQ(std::count(both.err.begin(), both.err.end(), '\n'), 1) << both.err;
  EXPECT_EQ(both.out, good + ": ok (tool notes v3, 1 type)\n");

  // Checked as one set: a tool that requires another not given is an error of that file.
  const std::string needs = root_ + "/needs.yaml";
  WriteText(needs,
            "tool: extra\nversion: 1\ntitle: Extra\nrequires: [notes]\ntypes:\n  tag:\n"
            "    fields:\n      note: {type: reference, to: note}\n");
  const Outcome alone = Grove({"tool", "check", needs});
  EXPECT_EQ(alone.exit_code, 1);
  EXPECT_TRUE(alone.err.starts_with(needs + ":")) << alone.err;
  EXPECT_EQ(alone.out, "");
  const Outcome together = Grove({"tool", "check", needs, good});
  EXPECT_EQ(together.exit_code, 0) << together.err;
  EXPECT_EQ(together.out,
            needs + ": ok (tool extra v1, 1 type)\n" + good + ": ok (tool notes v3, 1 type)\n");

  const Outcome missing = Grove({"tool", "check", root_ + "/nope.yaml"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_TRUE(missing.err.starts_with(root_ + "/nope.yaml")) << missing.err;
  EXPECT_EQ(Grove({"tool", "check"}).exit_code, 2);
}

TEST_F(CliTest, ToolListNamesTheBuiltInTools) {
  const Outcome list = Grove({"tool", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(list.out.starts_with("name ")) << list.out;
  for (const char* tool : {"\ninventory ", "\npurchasing "}) {
    EXPECT_NE(list.out.find(tool), std::string::npos) << list.out;
  }
  const Outcome json = Grove({"tool", "list", "--json"});
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_NE(json.out.find(R"({"name":"inventory","version":)"), std::string::npos) << json.out;
}

// --- grove demo, grove store -------------------------------------------------------------------

using grove::testing::Json;
using grove::testing::JsonReader;

// Runs one SQL statement on a store file, with `blob` bound to ?1 if given, below the store's API
// (as a failing disk or a stray tool would); returns the rows it changed, -1 on error.
int ExecOnStore(const std::string& path, const std::string& sql,
                const std::optional<std::string>& blob = std::nullopt) {
  sqlite3* db = nullptr;
  int changed = -1;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      (!blob || sqlite3_bind_blob(stmt, 1, blob->data(), static_cast<int>(blob->size()),
                                  SQLITE_TRANSIENT) == SQLITE_OK) &&
      sqlite3_step(stmt) == SQLITE_DONE) {
    changed = sqlite3_changes(db);
  }
  EXPECT_NE(changed, -1) << sql << ": " << sqlite3_errmsg(db);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return changed;
}

// The first column of the first row of a query, as bytes ("" if no row).
std::string QueryStore(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_stmt* stmt = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    const void* data = sqlite3_column_blob(stmt, 0);
    out.assign(static_cast<const char*>(data), sqlite3_column_bytes(stmt, 0));
  } else {
    ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

// Every record row of a store, to see whether a refused repair left it untouched.
std::string AllRecords(const std::string& path) {
  return QueryStore(path,
                    "SELECT group_concat(hex(key) || ':' || hex(state), ',') FROM "
                    "(SELECT key, state FROM records ORDER BY key)");
}

class DemoCliTest : public CliTest {
 protected:
  // Runs the demo into data_ (alice, bob and carol below it) and keeps each device's
  // `store info --json` as it was right after.
  void SetUp() override {
    CliTest::SetUp();
    demo_ = Grove({"demo", "--dir", data_});
    ASSERT_EQ(demo_.exit_code, 0) << demo_.out << demo_.err;
    for (const char* name : {"alice", "bob", "carol"}) {
      const Outcome run = Grove({"store", "info", "--data", Dir(name), "--json"});
      ASSERT_EQ(run.exit_code, 0) << run.err;
      std::optional<Json> json = JsonReader::Parse(run.out);
      ASSERT_TRUE(json.has_value()) << "not JSON: " << run.out;
      ASSERT_EQ((*json)["workspaces"].array.size(), 1u) << run.out;
      info_[name] = (*json)["workspaces"].array[0];
    }
  }

  std::string Dir(const std::string& name) const { return data_ + "/" + name; }
  std::string StoreOf(const std::string& name) const { return Dir(name) + "/store.db"; }
  std::string State16(const std::string& name) { return info_[name]["state"].string.substr(0, 16); }
  std::string Id16() { return info_["alice"]["id"].string.substr(0, 16); }

  Outcome demo_;
  std::map<std::string, Json> info_;
};

TEST_F(DemoCliTest, DemoConvergesAndPrintsTheEqualDigests) {
  EXPECT_EQ(demo_.err, "");
  EXPECT_NE(demo_.out.find(", equal on alice, bob and carol\n"), std::string::npos) << demo_.out;
  EXPECT_NE(demo_.out.find("stock = start + every increment, for all 20 items on all three "
                           "devices: yes"),
            std::string::npos);
  EXPECT_NE(demo_.out.find("carol sees no note"), std::string::npos);
  EXPECT_NE(demo_.out.find("all 12 checks passed\n"), std::string::npos);
  EXPECT_NE(demo_.out.find("grove store info --data " + Dir("alice") + "\n"), std::string::npos);
  EXPECT_NE(demo_.out.find("grove store rebuild --data " + Dir("bob") + "\n"), std::string::npos);
  EXPECT_LE(std::count(demo_.out.begin(), demo_.out.end(), '\n'), 60) << "keep the demo short";
  // Each device's data folder has the documented layout.
  for (const char* name : {"alice", "bob", "carol"}) {
    for (const char* file : {"device.key", "api-token", "store.db"}) {
      EXPECT_TRUE(fs::exists(Dir(name) + "/" + file)) << name << "/" << file;
    }
  }
}

TEST_F(DemoCliTest, StoreInfoShowsWhatTheDemoLeft) {
  const Json& alice = info_["alice"];
  EXPECT_EQ(alice["id"].string.size(), 64u);
  EXPECT_EQ(alice["name"].string, "Demo warehouse");
  EXPECT_EQ(alice["records"].number, 20);
  EXPECT_GT(alice["deltas"].number, 0);
  // Three members joined, but alice removed carol at the end.
  std::map<std::string, std::string> members;
  for (const Json& m : alice["members"].array) {
    EXPECT_EQ(m["device"].string.size(), 52u);
    members[m["name"].string] = m["role"].string;
  }
  EXPECT_EQ(members, (std::map<std::string, std::string>{{"alice", "owner"}, {"bob", "member"}}));
  // bob computed what alice did; carol holds the same deltas but cannot open the last ones.
  EXPECT_EQ(info_["bob"]["state"].string, alice["state"].string);
  EXPECT_EQ(info_["bob"]["version"].string, alice["version"].string);
  EXPECT_EQ(info_["carol"]["version"].string, alice["version"].string);
  EXPECT_NE(info_["carol"]["state"].string, alice["state"].string);
  // No checkpoint in the demo: the whole history is held.
  EXPECT_TRUE(alice["checkpoint"].is_null());
  EXPECT_EQ(alice["stored_deltas"].number, alice["deltas"].number);
  EXPECT_EQ(alice["pruned_deltas"].kind, Json::Kind::kNumber);
  EXPECT_EQ(alice["pruned_deltas"].number, 0);

  const Outcome text = Grove({"store", "info", "--data", Dir("alice")});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(text.out.starts_with("store " + StoreOf("alice") + ": 1 workspace, ")) << text.out;
  EXPECT_NE(text.out.find(" free)\n"), std::string::npos) << text.out;  // compactable space
  EXPECT_NE(text.out.find(Id16() + "  Demo warehouse"), std::string::npos) << text.out;
  // Members come in device id order, which is random here.
  EXPECT_NE(text.out.find("alice (owner)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("bob (member)"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("carol"), std::string::npos) << text.out;
}

TEST_F(DemoCliTest, RebuildOfAHealthyStoreSaysOk) {
  const std::string s = State16("bob");
  const Outcome run = Grove({"store", "rebuild", "--data", Dir("bob")});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, Id16() + "  Demo warehouse  state " + s + "  rebuilt " + s + "  ok\n");
  EXPECT_EQ(run.err, "");

  const Outcome json = Grove(
      {"store", "rebuild", "--data", Dir("bob"), "--json", "--workspace", Id16().substr(0, 6)});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  std::optional<Json> parsed = JsonReader::Parse(json.out);
  ASSERT_TRUE(parsed.has_value()) << json.out;
  ASSERT_EQ((*parsed)["workspaces"].array.size(), 1u);
  const Json& ws = (*parsed)["workspaces"].array[0];
  EXPECT_EQ(ws["result"].string, "ok");
  EXPECT_EQ(ws["state"].string, info_["bob"]["state"].string);
  EXPECT_EQ(ws["rebuilt"].string, info_["bob"]["state"].string);

  std::string other = Id16().substr(0, 4);
  other[0] = other[0] == '0' ? '1' : '0';
  EXPECT_EQ(Grove({"store", "rebuild", "--data", Dir("bob"), "--workspace", other}).exit_code, 4);
  EXPECT_EQ(Grove({"store", "rebuild", "--data", Dir("bob"), "--workspace", "xyz"}).exit_code, 1);
}

TEST_F(CliTest, StoreCommandsWithoutAStoreExitFour) {
  for (const char* command : {"rebuild", "info"}) {
    const Outcome none = Grove({"store", command, "--data", data_});
    EXPECT_EQ(none.exit_code, 4) << command;
    EXPECT_EQ(none.err,
              "grove: no store in " + data_ + " (" + data_ + "/store.db does not exist)\n");
  }
  // A device without a store yet: still not found, and no empty store is made on the way.
  ASSERT_EQ(Grove({"init", "--data", data_, "--name", "lonely"}).exit_code, 0);
  EXPECT_EQ(Grove({"store", "rebuild", "--data", data_}).exit_code, 4);
  EXPECT_FALSE(fs::exists(data_ + "/store.db"));
}

// A record blob is only a cache of what the feeds say: a damaged one is rebuilt from them, and
// the result is the state alice computed (carol cannot open the last deltas, so hers differs).
TEST_F(DemoCliTest, RebuildRecoversADamagedRecordFromTheFeeds) {
  ASSERT_EQ(ExecOnStore(StoreOf("bob"),
                        "UPDATE records SET state = ?1 WHERE rowid = (SELECT min(rowid) FROM "
                        "records)",
                        std::string("\xde\xad\xbe\xef not a record")),
            1);
  const Outcome run = Grove({"store", "rebuild", "--data", Dir("bob")});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(run.out.starts_with(Id16() + "  Demo warehouse  state damaged  rebuilt " +
                                  State16("alice") + "  repaired\n"))
      << run.out;
  EXPECT_NE(run.out.find("rebuilt from the feeds"), std::string::npos) << run.out;

  const Outcome after = Grove({"store", "info", "--data", Dir("bob"), "--json"});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  std::optional<Json> json = JsonReader::Parse(after.out);
  ASSERT_TRUE(json.has_value());
  EXPECT_EQ((*json)["workspaces"].array[0]["state"].string, info_["alice"]["state"].string);
  EXPECT_EQ((*json)["workspaces"].array[0]["records"].number, 20);
  EXPECT_EQ(Grove({"store", "rebuild", "--data", Dir("bob")}).exit_code, 0) << "now healthy";

  // Any opening repairs it, `store info` too: the records are only a cache.
  ASSERT_EQ(ExecOnStore(StoreOf("bob"),
                        "UPDATE records SET state = ?1 WHERE rowid = (SELECT max(rowid) FROM "
                        "records)",
                        std::string("garbage")),
            1);
  const Outcome healed = Grove({"store", "info", "--data", Dir("bob"), "--json"});
  ASSERT_EQ(healed.exit_code, 0) << healed.err;
  json = JsonReader::Parse(healed.out);
  ASSERT_TRUE(json.has_value());
  EXPECT_EQ((*json)["workspaces"].array[0]["state"].string, info_["alice"]["state"].string);
}

// A record that decodes but says the wrong thing (another record's state) is what a bug in the
// incremental apply would leave: the rebuild fixes it but must say so loudly and exit 1.
TEST_F(DemoCliTest, RebuildReportsAStateThatDriftedFromTheFeeds) {
  const std::string other = QueryStore(
      StoreOf("bob"), "SELECT state FROM records WHERE rowid = (SELECT max(rowid) FROM records)");
  ASSERT_FALSE(other.empty());
  ASSERT_EQ(ExecOnStore(StoreOf("bob"),
                        "UPDATE records SET state = ?1 WHERE rowid = (SELECT min(rowid) FROM "
                        "records)",
                        other),
            1);
  const Outcome run = Grove({"store", "rebuild", "--data", Dir("bob")});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.out.find("rebuilt " + State16("alice") + "  MISMATCH\n"), std::string::npos)
      << run.out;
  EXPECT_TRUE(run.err.starts_with("grove: MISMATCH in workspace " + Id16())) << run.err;
  const Outcome again = Grove({"store", "rebuild", "--data", Dir("bob")});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("rebuilt " + State16("alice") + "  ok\n"), std::string::npos);
}

// Damaged feeds cannot be rebuilt from: the command fails, naming the delta, and changes nothing.
TEST_F(DemoCliTest, RebuildRefusesDamagedFeedsAndLeavesTheStoreAlone) {
  const std::string records = AllRecords(StoreOf("bob"));
  ASSERT_EQ(ExecOnStore(StoreOf("bob"),
                        "UPDATE deltas SET bytes = ?1 WHERE rowid = (SELECT max(rowid) FROM "
                        "deltas)",
                        std::string("\xff\xff\xff garbage")),
            1);
  const Outcome run = Grove({"store", "rebuild", "--data", Dir("bob")});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.out.find("FAILED"), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("no rebuild can recover: stored delta does not decode (at "),
            std::string::npos)
      << run.err;
  EXPECT_EQ(AllRecords(StoreOf("bob")), records);
}

}  // namespace
