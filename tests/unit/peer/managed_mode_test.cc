// Managed mode on a peer (services/peer/managed_mode.h): what it admits, which revocations it
// keeps (durably, across a restart), and whom it lets an owner invite.
#include "peer/managed_mode.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/clock.h"
#include "common/random.h"
#include "org/org_id.h"
#include "org/policy.h"
#include "support/temp_dir.h"

namespace grove::peer {
namespace {

class ManagedModeTest : public ::testing::Test {
 protected:
  ManagedModeTest()
      : ca_(crypto::SigningKey::Generate(rng_)),
        other_ca_(crypto::SigningKey::Generate(rng_)),
        me_(identity::Identity::Create("me", rng_, clock_).value()),
        peer_(identity::Identity::Create("peer", rng_, clock_).value()),
        stranger_(identity::Identity::Create("stranger", rng_, clock_).value()) {}

  std::string Enrol(const identity::Identity& who, const crypto::SigningKey& ca) {
    auto e = org::SignEnrolment(ca, who.card().text(), who.name(), 1000);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return org::EncodeEnrolment(*e);
  }
  std::string Revoke(const identity::Identity& who, const crypto::SigningKey& ca, uint64_t serial) {
    auto r = org::SignRevocation(ca, who.device(), 2000, "lost laptop", serial);
    EXPECT_TRUE(r.ok());
    return org::EncodeRevocation(*r);
  }
  std::unique_ptr<ManagedMode> Open() {
    auto m =
        ManagedMode::Open(org::OrgCardText(ca_.public_key()), Enrol(me_, ca_), me_, dir_.path());
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(*m) : nullptr;
  }

  SeededRandom rng_{42};
  FakeClock clock_;
  testing::TempDir dir_;
  crypto::SigningKey ca_, other_ca_;
  identity::Identity me_, peer_, stranger_;
};

TEST_F(ManagedModeTest, OpenRefusesAMissingForeignOrOtherDevicesEnrolment) {
  const std::string org = org::OrgCardText(ca_.public_key());
  auto none = ManagedMode::Open(org, "", me_, dir_.path());
  EXPECT_EQ(none.status().where(), "org.enrolment");
  auto foreign = ManagedMode::Open(org, Enrol(me_, other_ca_), me_, dir_.path());
  EXPECT_EQ(foreign.status().where(), "org.enrolment");
  EXPECT_NE(foreign.status().message().find("organisation"), std::string::npos);
  auto theirs = ManagedMode::Open(org, Enrol(peer_, ca_), me_, dir_.path());
  EXPECT_EQ(theirs.status().where(), "org.enrolment");
  EXPECT_NE(theirs.status().message().find("not this one"), std::string::npos);
  auto bad_card = ManagedMode::Open("grove-org:nonsense", Enrol(me_, ca_), me_, dir_.path());
  EXPECT_EQ(bad_card.status().where(), "org.card");
}

TEST_F(ManagedModeTest, AdmitsOnlyDevicesEnrolledByTheSameCaForThemselves) {
  auto m = Open();
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->Admit(peer_.card(), Enrol(peer_, ca_), false).ok());
  Status none = m->Admit(stranger_.card(), "", false);
  EXPECT_EQ(none.code(), Code::kPermissionDenied);
  EXPECT_NE(none.message().find("not enrolled"), std::string::npos);
  EXPECT_EQ(m->Admit(stranger_.card(), Enrol(stranger_, other_ca_), false).code(),
            Code::kPermissionDenied);
  Status borrowed = m->Admit(stranger_.card(), Enrol(peer_, ca_), false);
  EXPECT_NE(borrowed.message().find("another device"), std::string::npos);
  // The pinned relay needs no enrolment.
  EXPECT_TRUE(m->Admit(stranger_.card(), "", true).ok());
}

TEST_F(ManagedModeTest, RevocationsAreKeptDurablyAndRefuseTheDevice) {
  auto m = Open();
  ASSERT_NE(m, nullptr);
  std::vector<std::string> skipped;
  auto fresh = m->Take(
      {Revoke(peer_, ca_, 1), Revoke(stranger_, other_ca_, 1), "hello", Revoke(peer_, ca_, 1)},
      skipped);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  ASSERT_EQ(fresh->revocations.size(), 1u);
  EXPECT_EQ(fresh->revocations[0].device, peer_.device());
  EXPECT_EQ(skipped.size(), 2u);  // another organisation's, and not a revocation
  EXPECT_TRUE(m->Revoked(peer_.device()));
  Status refused = m->Admit(peer_.card(), Enrol(peer_, ca_), false);
  EXPECT_NE(refused.message().find("revoked"), std::string::npos);
  EXPECT_TRUE(m->Take({Revoke(peer_, ca_, 2)}, skipped)->revocations.empty());  // held already

  // A restarted peer still knows, from DATA/revocations.
  m.reset();
  auto again = Open();
  ASSERT_NE(again, nullptr);
  EXPECT_TRUE(again->Revoked(peer_.device()));
  EXPECT_EQ(again->NoticeTexts().size(), 1u);
  // A damaged line (a crash mid-write) is dropped, not fatal.
  std::ofstream(dir_.File("revocations"), std::ios::app) << "grove-revocation:trunc";
  EXPECT_NE(Open(), nullptr);
}

TEST_F(ManagedModeTest, TheNewestPolicyPerWorkspaceIsKeptAcrossARestart) {
  auto m = Open();
  ASSERT_NE(m, nullptr);
  auto policy = [&](uint8_t ws, uint64_t issued, bool audited, const crypto::SigningKey& ca) {
    org::Policy p;
    p.workspace.fill(ws);
    p.audited = audited;
    p.auditor_card = audited ? stranger_.card().text() : "";
    p.allowed_relays = {peer_.device()};
    p.issued_ms = issued;
    return org::EncodePolicy(*org::SignPolicy(ca, p));
  };
  std::vector<std::string> skipped;
  auto fresh = m->Take({policy(1, 20, true, ca_), policy(1, 10, false, ca_),
                        policy(2, 5, false, ca_), policy(3, 5, true, other_ca_)},
                       skipped);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(fresh->policies.size(), 2u);
  EXPECT_EQ(skipped.size(), 1u);  // another organisation's
  Hash32 one{};
  one.fill(1);
  ASSERT_NE(m->PolicyFor(one), nullptr);
  EXPECT_EQ(m->PolicyFor(one)->issued_ms, 20u);
  EXPECT_TRUE(m->PolicyFor(one)->audited);
  EXPECT_TRUE(m->PolicyFor(one)->AllowsRelay(peer_.device()));
  EXPECT_FALSE(m->PolicyFor(one)->AllowsRelay(stranger_.device()));
  // An older statement does not replace a newer one; a newer one does.
  EXPECT_TRUE(m->Take({policy(1, 15, false, ca_)}, skipped)->policies.empty());
  EXPECT_EQ(m->Take({policy(1, 30, false, ca_)}, skipped)->policies.size(), 1u);
  m.reset();
  auto again = Open();
  ASSERT_NE(again, nullptr);
  ASSERT_NE(again->PolicyFor(one), nullptr);
  EXPECT_EQ(again->PolicyFor(one)->issued_ms, 30u);
  EXPECT_FALSE(again->PolicyFor(one)->audited);
  EXPECT_EQ(again->NoticeTexts().size(), 2u);
}

TEST_F(ManagedModeTest, OwnersInviteByEnrolmentNeverByBareCardOrRevokedDevice) {
  auto m = Open();
  ASSERT_NE(m, nullptr);
  auto card = m->CardToInvite(Enrol(peer_, ca_));
  ASSERT_TRUE(card.ok()) << card.status().ToString();
  EXPECT_EQ(card->device, peer_.device());
  auto bare = m->CardToInvite(peer_.card().text());
  EXPECT_EQ(bare.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(bare.status().message().find("enrolment"), std::string::npos);
  EXPECT_EQ(m->CardToInvite(Enrol(peer_, other_ca_)).status().code(), Code::kFailedPrecondition);
  std::vector<std::string> skipped;
  ASSERT_TRUE(m->Take({Revoke(peer_, ca_, 1)}, skipped).ok());
  EXPECT_NE(m->CardToInvite(Enrol(peer_, ca_)).status().message().find("revoked"),
            std::string::npos);
}

}  // namespace
}  // namespace grove::peer
