// BrowserSessions on its own: limits that are slow to reach over HTTP.
#include "api/browser_sessions.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "common/clock.h"
#include "common/random.h"

namespace grove::api {
namespace {

using Outcome = BrowserSessions::SignInResult::Outcome;

TEST(BrowserSessionsTest, BeyondTheLimitTheLeastRecentlyUsedSessionIsDropped) {
  FakeClock clock;
  SeededRandom random(1);
  BrowserSessions::Limits limits;
  limits.max_sessions = 3;
  BrowserSessions sessions("token", clock, random, limits);
  std::string ids[4];
  for (int i = 0; i < 3; ++i) {
    clock.Advance(10);
    BrowserSessions::SignInResult r = sessions.SignInWithToken("token");
    ASSERT_EQ(r.outcome, Outcome::kSignedIn);
    ids[i] = r.session.id;
  }
  clock.Advance(10);
  ASSERT_TRUE(sessions.Find(ids[0]).has_value());  // now the first is the most recently used
  clock.Advance(10);
  ids[3] = sessions.SignInWithToken("token").session.id;
  EXPECT_EQ(sessions.session_count(), 3u);
  EXPECT_TRUE(sessions.Find(ids[0]).has_value());
  EXPECT_FALSE(sessions.Find(ids[1]).has_value()) << "least recently used";
  EXPECT_TRUE(sessions.Find(ids[2]).has_value());
  EXPECT_TRUE(sessions.Find(ids[3]).has_value());
}

TEST(BrowserSessionsTest, SecretsAreDistinctAndLinksAreSingleUse) {
  FakeClock clock;
  SeededRandom random(2);
  BrowserSessions sessions("token", clock, random);
  std::set<std::string> seen;
  for (int i = 0; i < 10; ++i) {
    BrowserSessions::SignInResult r = sessions.SignInWithToken("token");
    EXPECT_TRUE(seen.insert(r.session.id).second);
    EXPECT_TRUE(seen.insert(r.session.csrf).second);
  }
  const LoginLinkCode a = sessions.CreateLink();
  const LoginLinkCode b = sessions.CreateLink();
  EXPECT_NE(a.code, b.code);
  EXPECT_EQ(sessions.SignInWithLink(b.code).outcome, Outcome::kSignedIn);
  EXPECT_EQ(sessions.SignInWithLink(b.code).outcome, Outcome::kRefused);
  EXPECT_EQ(sessions.SignInWithLink(a.code).outcome, Outcome::kSignedIn) << "a is still good";
  EXPECT_EQ(sessions.SignInWithLink("").outcome, Outcome::kRefused);
  EXPECT_EQ(sessions.SignInWithToken("").outcome, Outcome::kRefused);
  EXPECT_FALSE(sessions.Find("").has_value());
}

}  // namespace
}  // namespace grove::api
