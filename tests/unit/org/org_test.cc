// The organisation CA: enrolments and revocations verify under their CA and under no other, any
// change to their text is caught, the org card round-trips, and org-ca.key is made once (0600)
// and read back as the same key.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/clock.h"
#include "common/random.h"
#include "identity/identity.h"
#include "org/enrolment.h"
#include "org/org_ca.h"
#include "org/org_id.h"
#include "org/policy.h"
#include "org/revocation.h"
#include "support/temp_dir.h"

namespace grove::org {
namespace {

using testing::TempDir;

crypto::SigningKey Key(uint64_t seed) {
  SeededRandom rng(seed);
  return crypto::SigningKey::Generate(rng);
}

identity::Identity Device(const std::string& name, uint64_t seed) {
  SeededRandom rng(seed);
  FakeClock clock;
  return std::move(identity::Identity::Create(name, rng, clock)).value();
}

// The text with the byte at `pos` of its base64url payload changed to another base64url digit.
std::string Tweak(const std::string& text, size_t prefix, size_t pos) {
  std::string out = text;
  char& c = out[prefix + pos];
  c = c == 'A' ? 'B' : 'A';
  return out;
}

TEST(OrgIdTest, CardRoundTripsAndNamesTheKey) {
  const crypto::SigningKey ca = Key(1);
  const std::string card = OrgCardText(ca.public_key());
  EXPECT_TRUE(card.starts_with("grove-org:"));
  Result<crypto::PublicKey> back = ParseOrgCard("  " + card + "\n");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, ca.public_key());
  EXPECT_EQ(OrgIdOf(ca.public_key()), crypto::Sha256(ca.public_key()));
  EXPECT_EQ(OrgIdText(OrgIdOf(ca.public_key())).size(), 52u);
  EXPECT_NE(OrgIdOf(ca.public_key()), OrgIdOf(Key(2).public_key()));

  for (const char* bad : {"grove-card:AAAA", "grove-org:!!!", "grove-org:AAAA", ""}) {
    Result<crypto::PublicKey> r = ParseOrgCard(bad);
    EXPECT_EQ(r.status().code(), Code::kCorruption) << bad;
  }
}

TEST(EnrolmentTest, SignsParsesAndVerifies) {
  const crypto::SigningKey ca = Key(1);
  const identity::Identity laptop = Device("laptop", 7);
  Result<Enrolment> e =
      SignEnrolment(ca, " " + laptop.card().text() + "\n", "Alice's laptop", 1'700'000'000'123);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->device, laptop.device());
  EXPECT_EQ(e->card, laptop.card().text()) << "the card is kept without the pasted whitespace";
  EXPECT_EQ(e->org, OrgIdOf(ca.public_key()));

  const std::string text = EncodeEnrolment(*e);
  EXPECT_TRUE(text.starts_with("grove-enrolment:"));
  Result<Enrolment> back = ParseAndVerifyEnrolment(text, ca.public_key());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, *e);
  EXPECT_EQ(back->name, "Alice's laptop");
  EXPECT_EQ(back->issued_ms, 1'700'000'000'123u);
}

TEST(EnrolmentTest, AnotherCaIsRefused) {
  const crypto::SigningKey ca = Key(1), other = Key(2);
  const identity::Identity laptop = Device("laptop", 7);
  Result<Enrolment> e = SignEnrolment(ca, laptop.card().text(), "laptop", 1);
  ASSERT_TRUE(e.ok());
  Status s = VerifyEnrolment(*e, other.public_key());
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("is for organisation"), std::string::npos) << s.message();

  // Claiming the right org id but signed by another key: the signature gives it away.
  Result<Enrolment> forged = SignEnrolment(other, laptop.card().text(), "laptop", 1);
  ASSERT_TRUE(forged.ok());
  forged->org = OrgIdOf(ca.public_key());
  s = VerifyEnrolment(*forged, ca.public_key());
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), "enrolment signature does not verify");
}

TEST(EnrolmentTest, EveryChangedByteIsCaught) {
  const crypto::SigningKey ca = Key(1);
  const identity::Identity laptop = Device("laptop", 7);
  const std::string text = EncodeEnrolment(*SignEnrolment(ca, laptop.card().text(), "laptop", 5));
  const size_t prefix = kEnrolmentPrefix.size();
  // Every character except the last (which may only carry padding bits).
  for (size_t pos = 0; pos + 1 < text.size() - prefix; ++pos) {
    Result<Enrolment> r = ParseAndVerifyEnrolment(Tweak(text, prefix, pos), ca.public_key());
    EXPECT_FALSE(r.ok()) << "a change at " << pos << " went unnoticed";
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kCorruption);
    }
  }
}

TEST(EnrolmentTest, FieldsAreCheckedWhenSigning) {
  const crypto::SigningKey ca = Key(1);
  const identity::Identity laptop = Device("laptop", 7);
  Result<Enrolment> r = SignEnrolment(ca, "grove-card:nonsense", "laptop", 1);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().where(), "card");
  r = SignEnrolment(ca, laptop.card().text(), "", 1);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().where(), "name");
  r = SignEnrolment(ca, laptop.card().text(), "bad\nname", 1);
  EXPECT_EQ(r.status().where(), "name");
}

TEST(EnrolmentTest, CardOfAnotherDeviceIsRefused) {
  const crypto::SigningKey ca = Key(1);
  const identity::Identity laptop = Device("laptop", 7), phone = Device("phone", 8);
  Result<Enrolment> e = SignEnrolment(ca, laptop.card().text(), "laptop", 1);
  ASSERT_TRUE(e.ok());
  // Re-signed by the CA itself, the mismatch between device and card is still refused.
  e->device = phone.device();
  e->signature = ca.Sign(EnrolmentBody(*e));
  Status s = VerifyEnrolment(*e, ca.public_key());
  EXPECT_EQ(s.message(), "enrolment card is of another device");
}

TEST(EnrolmentTest, MalformedTextIsCorruption) {
  const crypto::SigningKey ca = Key(1);
  const std::string cases[] = {"", "grove-enrolment:", "grove-enrolment:!!", "grove-revocation:AA",
                               "grove-enrolment:" + Base64UrlEncode(Bytes(90, 1))};
  for (const std::string& bad : cases) {
    Result<Enrolment> r = ParseEnrolment(bad);
    EXPECT_EQ(r.status().code(), Code::kCorruption) << bad;
  }
  // Truncated by one byte.
  const identity::Identity laptop = Device("laptop", 7);
  Bytes raw =
      *Base64UrlDecode(EncodeEnrolment(*SignEnrolment(ca, laptop.card().text(), "laptop", 1))
                           .substr(kEnrolmentPrefix.size()));
  raw.pop_back();
  Result<Enrolment> r = ParseAndVerifyEnrolment(
      std::string(kEnrolmentPrefix) + Base64UrlEncode(raw), ca.public_key());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
}

TEST(RevocationTest, SignsParsesAndVerifies) {
  const crypto::SigningKey ca = Key(1);
  const identity::Identity laptop = Device("laptop", 7);
  Result<Revocation> r =
      SignRevocation(ca, laptop.device(), 1'700'000'000'000, "stolen\tlaptop", 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::string text = EncodeRevocation(*r);
  EXPECT_TRUE(text.starts_with("grove-revocation:"));
  Result<Revocation> back = ParseAndVerifyRevocation(text, ca.public_key());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, *r);
  EXPECT_EQ(back->serial, 3u);
  EXPECT_EQ(back->reason, "stolen\tlaptop");
  EXPECT_EQ(back->device, laptop.device());

  Status wrong = VerifyRevocation(*back, Key(2).public_key());
  EXPECT_EQ(wrong.code(), Code::kCorruption);
  EXPECT_NE(wrong.message().find("is for organisation"), std::string::npos);

  const size_t prefix = kRevocationPrefix.size();
  for (size_t pos = 0; pos + 1 < text.size() - prefix; ++pos) {
    EXPECT_FALSE(ParseAndVerifyRevocation(Tweak(text, prefix, pos), ca.public_key()).ok())
        << "a change at " << pos << " went unnoticed";
  }
}

TEST(RevocationTest, ReasonRules) {
  const crypto::SigningKey ca = Key(1);
  const identity::DeviceId device{};
  EXPECT_TRUE(SignRevocation(ca, device, 1, "", 1).ok());
  EXPECT_EQ(SignRevocation(ca, device, 1, std::string(1025, 'x'), 1).status().where(), "reason");
  EXPECT_EQ(SignRevocation(ca, device, 1, "bell\a", 1).status().where(), "reason");
  EXPECT_EQ(SignRevocation(ca, device, 1, "\xff\xfe", 1).status().where(), "reason");
  EXPECT_TRUE(SignRevocation(ca, device, 1, "perdu à Zürich", 1).ok());
}

TEST(PolicyTest, SignsParsesVerifiesAndCatchesEveryChangedByte) {
  const crypto::SigningKey ca = Key(1);
  const identity::Identity auditor = Device("auditor", 7);
  const identity::Identity relay = Device("relay", 8);
  Policy p;
  p.workspace.fill(0xab);
  p.audited = true;
  p.auditor_card = auditor.card().text();
  p.allowed_relays = {relay.device()};
  p.issued_ms = 1234;
  Result<Policy> signed_policy = SignPolicy(ca, p);
  ASSERT_TRUE(signed_policy.ok()) << signed_policy.status().ToString();
  const std::string text = EncodePolicy(*signed_policy);
  ASSERT_TRUE(text.starts_with("grove-policy:"));
  Result<Policy> back = ParseAndVerifyPolicy(text, ca.public_key());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, *signed_policy);
  EXPECT_TRUE(back->AllowsRelay(relay.device()));
  EXPECT_FALSE(back->AllowsRelay(auditor.device()));
  Policy any = *back;
  any.allowed_relays.clear();
  EXPECT_TRUE(any.AllowsRelay(auditor.device()));

  Result<Policy> foreign = ParseAndVerifyPolicy(text, Key(2).public_key());
  EXPECT_NE(foreign.status().message().find("organisation"), std::string::npos);
  const size_t prefix = kPolicyPrefix.size();
  for (size_t pos = 0; pos + 1 < text.size() - prefix; ++pos) {
    EXPECT_FALSE(ParseAndVerifyPolicy(Tweak(text, prefix, pos), ca.public_key()).ok())
        << "a change at " << pos << " went unnoticed";
  }
  p.auditor_card = "grove-card:nonsense";
  EXPECT_EQ(SignPolicy(ca, p).status().where(), "auditor_card");
  p.auditor_card = "";
  p.allowed_relays.assign(kMaxPolicyRelays + 1, relay.device());
  EXPECT_EQ(SignPolicy(ca, p).status().where(), "allowed_relays");
  EXPECT_EQ(ParsePolicy("grove-policy:AAAA").status().code(), Code::kCorruption);
  EXPECT_EQ(ParsePolicy("grove-revocation:AAAA").status().code(), Code::kCorruption);
}

TEST(OrgCaTest, MadeOnceReadBackAndPrivate) {
  TempDir dir("grove_org");
  const std::string folder = dir.File("relay");
  EXPECT_EQ(OrgCa::Load(folder).status().code(), Code::kNotFound);
  SeededRandom rng(9);
  FakeClock clock(1'700'000'000'000);
  Result<OrgCa> made = OrgCa::LoadOrCreate(folder, rng, clock);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(made->created_ms(), 1'700'000'000'000u);
  struct stat st {};
  ASSERT_EQ(stat((folder + "/org-ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // A second LoadOrCreate (another random source) reads the same key instead of making one.
  SeededRandom other(10);
  Result<OrgCa> again = OrgCa::LoadOrCreate(folder, other, clock);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->public_key(), made->public_key());
  EXPECT_EQ(again->card(), made->card());

  // What it signs verifies under its card's key.
  const identity::Identity laptop = Device("laptop", 7);
  Result<Enrolment> e = again->Enrol(laptop.card().text(), "laptop", 2);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(VerifyEnrolment(*e, *ParseOrgCard(made->card())).ok());
  Result<Revocation> r = again->Revoke(laptop.device(), 3, "lost", 1);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(VerifyRevocation(*r, made->public_key()).ok());
}

TEST(OrgCaTest, MalformedKeyFileNamesTheLine) {
  TempDir dir("grove_org");
  const std::string path = dir.File("org-ca.key");
  {
    std::ofstream out(path);
    out << "grove-org-ca-key v1\ncreated_ms: 5\nsign_seed: zz\n";
  }
  Result<OrgCa> r = OrgCa::Load(dir.path());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_EQ(r.status().where(), path + ":3");
  {
    std::ofstream out(path);
    out << "not a key\n";
  }
  EXPECT_EQ(OrgCa::Load(dir.path()).status().where(), path + ":1");
  {
    std::ofstream out(path);
    out << "grove-org-ca-key v1\ncreated_ms: 5\n";
  }
  r = OrgCa::Load(dir.path());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("sign_seed"), std::string::npos);
  // LoadOrCreate never replaces a damaged key with a new one.
  SeededRandom rng(1);
  FakeClock clock;
  EXPECT_EQ(OrgCa::LoadOrCreate(dir.path(), rng, clock).status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace grove::org
