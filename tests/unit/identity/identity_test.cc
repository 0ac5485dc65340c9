#include "identity/identity.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/random.h"
#include "crypto/crypto.h"
#include "grove/v1/wire.pb.h"
#include "support/temp_dir.h"

namespace grove::identity {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

Identity MakeIdentity(std::string name = "Alice's laptop", uint64_t seed = 1) {
  SeededRandom rng(seed);
  FakeClock clock(1'700'000'123'456);
  Result<Identity> id = Identity::Create(std::move(name), rng, clock);
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  return std::move(id).value();
}

// Signs `body` with `key` into a serialized Card, for cards that break one rule at a time.
Bytes SignedCard(const wire::v1::CardBody& body, const crypto::SigningKey& key) {
  wire::v1::Card card;
  body.SerializeToString(card.mutable_body());
  card.set_signature(ToString(key.Sign(AsBytes(card.body()))));
  return ToBytes(card.SerializeAsString());
}

// Flips one bit of the first occurrence of `needle` inside `encoded`.
Bytes FlipInside(const Bytes& encoded, ByteView needle) {
  auto it = std::search(encoded.begin(), encoded.end(), needle.begin(), needle.end());
  EXPECT_NE(it, encoded.end());
  Bytes out = encoded;
  out[static_cast<size_t>(it - encoded.begin())] ^= 0x01;
  return out;
}

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path();
    dir_ = root_ + "/data";
  }

  grove::testing::TempDir tmp_{"identity_test"};

  std::string root_;
  std::string dir_;
};

// ---------------------------------------------------------------------------------------------
// Device ids

TEST(DeviceId, IsSha256OfBothKeysAndTextRoundTrips) {
  const Identity id = MakeIdentity();
  Bytes both(id.card().sign_key.begin(), id.card().sign_key.end());
  both.insert(both.end(), id.card().agree_key.begin(), id.card().agree_key.end());
  EXPECT_EQ(id.device(), crypto::Sha256(both));

  const std::string text = DeviceIdText(id.device());
  EXPECT_EQ(text.size(), 52u);
  EXPECT_EQ(ParseDeviceId(text), id.device());
  std::string upper = text;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(ParseDeviceId(upper), id.device());

  EXPECT_FALSE(ParseDeviceId(text.substr(0, 51)));
  EXPECT_FALSE(ParseDeviceId(text + "a"));
  EXPECT_FALSE(ParseDeviceId(""));
  std::string bad = text;
  bad[10] = '1';  // not in the base32 alphabet
  EXPECT_FALSE(ParseDeviceId(bad));
}

// ---------------------------------------------------------------------------------------------
// Cards

TEST(Card, TextRoundTripGivesSameDevice) {
  const Identity id = MakeIdentity("Zoë — 東京 office");
  const std::string text = id.card().text();
  EXPECT_TRUE(text.starts_with("grove-card:"));

  Result<CardInfo> parsed = ParseCardText("  \n" + text + "\r\n\t");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->device, id.device());
  EXPECT_EQ(parsed->name, "Zoë — 東京 office");
  EXPECT_EQ(parsed->sign_key, id.signing_key().public_key());
  EXPECT_EQ(parsed->agree_key, id.agreement_key().public_key());
  EXPECT_EQ(parsed->created_ms, 1'700'000'123'456u);
  EXPECT_EQ(parsed->encoded, id.card().encoded);
  EXPECT_EQ(parsed->text(), text);
}

TEST(Card, SameSeedAndClockGiveTheSameCardBytes) {
  EXPECT_EQ(MakeIdentity("x", 5).card().encoded, MakeIdentity("x", 5).card().encoded);
  EXPECT_NE(MakeIdentity("x", 5).device(), MakeIdentity("x", 6).device());
}

TEST(Card, TamperedBytesAreRejectedWithAReason) {
  const Identity id = MakeIdentity("Alice's laptop");
  const Bytes& encoded = id.card().encoded;
  wire::v1::Card parsed;
  ASSERT_TRUE(parsed.ParseFromArray(encoded.data(), static_cast<int>(encoded.size())));
  struct Case {
    const char* what;
    Bytes bytes;
  };
  const Case cases[] = {
      {"name", FlipInside(encoded, AsBytes("Alice"))},
      {"sign_key", FlipInside(encoded, id.card().sign_key)},
      {"agree_key", FlipInside(encoded, id.card().agree_key)},
      {"signature", FlipInside(encoded, AsBytes(parsed.signature()))},
  };
  for (const Case& c : cases) {
    Result<CardInfo> r = DecodeCard(c.bytes);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.status().code(), Code::kCorruption) << c.what;
    EXPECT_EQ(r.status().message(), "card signature does not verify") << c.what;
  }
  EXPECT_EQ(DecodeCard(Bytes{0xff, 0xff, 0xff}).status().message(), "card does not decode");
  EXPECT_FALSE(DecodeCard({}).ok());
}

TEST(Card, RuleBreakingCardsAreRejectedEvenWhenSigned) {
  SeededRandom rng(9);
  const crypto::SigningKey key = crypto::SigningKey::Generate(rng);
  const crypto::AgreementKey agree = crypto::AgreementKey::Generate(rng);
  wire::v1::CardBody good;
  good.set_format(1);
  good.set_name("ok");
  good.set_sign_key(ToString(key.public_key()));
  good.set_agree_key(ToString(agree.public_key()));
  ASSERT_TRUE(DecodeCard(SignedCard(good, key)).ok());

  auto expect = [&](const wire::v1::CardBody& body, const std::string& message,
                    const std::string& where) {
    Result<CardInfo> r = DecodeCard(SignedCard(body, key));
    ASSERT_FALSE(r.ok()) << message;
    EXPECT_EQ(r.status().message(), message);
    EXPECT_EQ(r.status().where(), where);
  };
  wire::v1::CardBody b = good;
  b.set_format(2);
  expect(b, "card format 2 is not supported (want 1)", "card.format");
  b = good;
  b.set_sign_key(b.sign_key().substr(0, 31));
  expect(b, "card sign_key must be 32 bytes", "card.sign_key");
  b = good;
  b.clear_agree_key();
  expect(b, "card agree_key must be 32 bytes", "card.agree_key");
  b = good;
  b.set_name(std::string(129, 'n'));
  expect(b, "card name must be at most 128 bytes, not 129", "card.name");
  b = good;
  b.set_name("evil\x1b[2Jname");
  expect(b, "card name must not contain control characters", "card.name");
  b = good;
  b.clear_name();
  expect(b, "card name must not be empty", "card.name");
}

TEST(Card, BadTextIsRejected) {
  const Identity id = MakeIdentity();
  const std::string text = id.card().text();
  EXPECT_EQ(ParseCardText(text.substr(6)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseCardText("grove-card:@@@").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseCardText("").status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(ParseCardText(text.substr(0, text.size() - 4)).ok()) << "truncated card";
}

TEST(Name, Rules) {
  EXPECT_TRUE(CheckName("a").ok());
  EXPECT_TRUE(CheckName(std::string(128, 'a')).ok());
  EXPECT_TRUE(CheckName("Ünïcödé 🌲").ok());
  EXPECT_EQ(CheckName("").code(), Code::kInvalidArgument);
  EXPECT_EQ(CheckName(std::string(129, 'a')).code(), Code::kInvalidArgument);
  EXPECT_FALSE(CheckName("two\nlines").ok());
  EXPECT_FALSE(CheckName("del\x7f").ok());
  EXPECT_FALSE(CheckName("csi \xc2\x9b").ok()) << "C1 control U+009B";
  EXPECT_FALSE(CheckName("bad \xff utf8").ok());
  EXPECT_FALSE(CheckName("truncated \xe6\x9d").ok());
  EXPECT_FALSE(CheckName("overlong \xc0\xaf").ok());
  EXPECT_FALSE(CheckName("surrogate \xed\xa0\x80").ok());

  SeededRandom rng(1);
  FakeClock clock;
  EXPECT_EQ(Identity::Create("", rng, clock).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Identity::Create(std::string(129, 'x'), rng, clock).status().code(),
            Code::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Files

TEST_F(TempDirTest, SaveWritesPrivateFilesAndLoadRestores) {
  const Identity id = MakeIdentity();
  SeededRandom rng(77);
  ASSERT_TRUE(id.Save(dir_, rng).ok());

  EXPECT_EQ(ModeOf(dir_), 0700u);
  EXPECT_EQ(ModeOf(dir_ + "/device.key"), 0600u);
  EXPECT_EQ(ModeOf(dir_ + "/api-token"), 0600u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2)
      << "no temporary files left behind";

  Result<Identity> loaded = Identity::Load(dir_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->device(), id.device());
  EXPECT_EQ(loaded->name(), id.name());
  EXPECT_EQ(loaded->card().encoded, id.card().encoded);
  EXPECT_EQ(loaded->signing_key().seed(), id.signing_key().seed());
  EXPECT_EQ(loaded->agreement_key().secret(), id.agreement_key().secret());

  Result<std::string> token = ReadApiToken(dir_);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(token->size(), 43u);
  EXPECT_EQ(Base64UrlDecode(*token)->size(), 32u);
}

TEST_F(TempDirTest, SaveNeverOverwritesADevice) {
  SeededRandom rng(3);
  ASSERT_TRUE(MakeIdentity("first", 1).Save(dir_, rng).ok());
  const std::string key_before = ReadFile(dir_ + "/device.key");
  const std::string token_before = ReadFile(dir_ + "/api-token");

  Status again = MakeIdentity("second", 2).Save(dir_, rng);
  ASSERT_EQ(again.code(), Code::kAlreadyExists);
  EXPECT_EQ(again.message(), dir_ + "/device.key already exists; refusing to overwrite");
  EXPECT_EQ(ReadFile(dir_ + "/device.key"), key_before);
  EXPECT_EQ(ReadFile(dir_ + "/api-token"), token_before) << "a refused Save changes nothing";
  EXPECT_EQ(Identity::Load(dir_)->name(), "first");
}

TEST_F(TempDirTest, SaveIntoExistingDirAndNestedDir) {
  SeededRandom rng(3);
  fs::create_directories(dir_);
  ASSERT_TRUE(MakeIdentity().Save(dir_, rng).ok());
  const std::string nested = root_ + "/a/b/c";
  ASSERT_TRUE(MakeIdentity().Save(nested, rng).ok());
  EXPECT_EQ(ModeOf(nested), 0700u);
  EXPECT_TRUE(Identity::Load(nested).ok());
}

TEST_F(TempDirTest, LoadMissingIsNotFound) {
  EXPECT_EQ(Identity::Load(dir_).status().code(), Code::kNotFound);
  EXPECT_EQ(ReadApiToken(dir_).status().code(), Code::kNotFound);
}

TEST_F(TempDirTest, MalformedDeviceKeyNamesFileAndLine) {
  SeededRandom rng(3);
  ASSERT_TRUE(MakeIdentity().Save(dir_, rng).ok());
  const std::string path = dir_ + "/device.key";
  const std::string good = ReadFile(path);
  std::vector<std::string> lines;
  std::stringstream ss(good);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 5u);
  ASSERT_EQ(lines[2].rfind("created_ms: ", 0), 0u);

  auto with = [&](size_t index, const std::string& replacement) {
    std::string text;
    for (size_t i = 0; i < lines.size(); ++i) text += (i == index ? replacement : lines[i]) + "\n";
    return text;
  };
  struct Case {
    std::string text;
    std::string where;
    std::string message_part;
  };
  const Case cases[] = {
      {with(0, "grove-device-key v2"), path + ":1", "first line"},
      {with(2, "created_ms: 12x"), path + ":3", "created_ms"},
      {with(2, "created_ms: "), path + ":3", "created_ms"},
      {with(3, "sign_seed: abcd"), path + ":4", "sign_seed must be 64 hex digits"},
      {with(4, "agree_secret " + lines[4].substr(14)), path + ":5", "field: value"},
      {with(1, "colour: green"), path + ":2", "unknown field \"colour\""},
      {with(1, lines[3]), path + ":4", "appears twice"},
      {with(1, ""), path, "no \"name\" field"},
      {with(1, "name: bad\x01name"), path + ":2", "control characters"},
      {"", path + ":1", "first line"},
  };
  for (const Case& c : cases) {
    WriteFile(path, c.text);
    Result<Identity> r = Identity::Load(dir_);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), Code::kCorruption) << c.text;
    EXPECT_EQ(r.status().where(), c.where) << c.text;
    EXPECT_NE(r.status().message().find(c.message_part), std::string::npos)
        << r.status().ToString();
  }

  // Blank lines, CRLF and reordered fields are fine.
  WriteFile(path, lines[0] + "\r\n\n" + lines[4] + "\n" + lines[3] + "\r\n" + lines[2] + "\n" +
                      lines[1] + "\n\n");
  Result<Identity> reordered = Identity::Load(dir_);
  ASSERT_TRUE(reordered.ok()) << reordered.status().ToString();
  EXPECT_EQ(reordered->card().encoded, MakeIdentity().card().encoded);
}

TEST_F(TempDirTest, MalformedApiTokenIsCorruption) {
  SeededRandom rng(3);
  ASSERT_TRUE(MakeIdentity().Save(dir_, rng).ok());
  WriteFile(dir_ + "/api-token", "short\n");
  EXPECT_EQ(ReadApiToken(dir_).status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace grove::identity
