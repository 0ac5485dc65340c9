// Runs the real `grove` binary as a child process, as a user or a script would.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
    std::string templ = (fs::path(::testing::TempDir()) / "cli_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    root_ = templ;
    data_ = root_ + "/data";
  }
  void TearDown() override { fs::remove_all(root_); }

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
        "grove card verify CARD", "0 ok, 1 error, 2 usage, 3 already exists, 4 not found"}) {
    EXPECT_NE(help.out.find(expected), std::string::npos) << expected;
  }
  const Outcome one = Grove({"help", "card", "verify"});
  EXPECT_EQ(one.exit_code, 0);
  EXPECT_TRUE(one.out.starts_with("usage: grove card verify CARD\n")) << one.out;
  EXPECT_EQ(Grove({"init", "--help"}).out, Grove({"help", "init"}).out);
  EXPECT_EQ(Grove({"help", "nope"}).exit_code, 2);
}

}  // namespace
