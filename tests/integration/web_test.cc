// The web app's side of real grove-peer processes: the files they serve, the sync state they
// report for the app's badge (and its events), and who of a workspace's members is online.
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <istream>
#include <random>
#include <string>

#include "integration/peer_process.h"

namespace grove::integration {
namespace {

using Clock = std::chrono::system_clock;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

Poco::JSON::Object::Ptr SyncOf(const PeerProcess& p) {
  JsonObject status = p.api().Status();
  return status ? status->getObject("sync") : nullptr;
}

std::string StateOf(const PeerProcess& p) {
  Poco::JSON::Object::Ptr sync = SyncOf(p);
  return sync ? sync->getValue<std::string>("state") : "<no sync>";
}

// The member `device` of `ws` as `p` lists it.
Poco::JSON::Object::Ptr MemberOf(const PeerProcess& p, const std::string& ws,
                                 const std::string& device) {
  const HttpResponse members = p.api().Get("/api/v1/workspaces/" + ws + "/members");
  JsonArray list = members.Array();
  if (!list) return nullptr;
  for (size_t i = 0; i < list->size(); ++i) {
    Poco::JSON::Object::Ptr m = list->getObject(static_cast<unsigned>(i));
    if (m->getValue<std::string>("device") == device) return m;
  }
  return nullptr;
}

// Text that zstd cannot shrink much: a delta carrying it stays about this large.
std::string Incompressible(size_t size) {
  std::mt19937 rng(7);
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
  std::string text(size, ' ');
  for (char& c : text) c = alphabet[rng() % alphabet.size()];
  return text;
}

TEST(WebIntegration, SyncStateAndMembersFollowTheConnections) {
  PeerProcess a("alice"), b("bob");
  const int64_t before_start = NowMs();
  a.Start();
  Poco::JSON::Object::Ptr alone = SyncOf(a);
  ASSERT_TRUE(alone);
  EXPECT_EQ(alone->getValue<std::string>("state"), "offline");
  EXPECT_EQ(alone->getValue<int64_t>("pending"), 0);
  ASSERT_FALSE(alone->isNull("offline_since_ms")) << "offline since start";
  EXPECT_GE(alone->getValue<int64_t>("offline_since_ms"), before_start);
  EXPECT_LE(alone->getValue<int64_t>("offline_since_ms"), NowMs());

  // Bob accepts frames of at most 64 KiB, so a larger delta can never reach him: alice knows
  // she has something bob lacks, and bob knows alice has something he lacks.
  StartOptions small_frames = ConnectTo({a.sync_address()});
  small_frames.extra_args = {"--sync.max_frame_bytes", "65536"};
  b.Start(small_frames);
  const std::string ws = ShareWorkspace(a, {&b}, "badge");
  ASSERT_TRUE(PollUntil([&] { return StateOf(a) == "up_to_date" && StateOf(b) == "up_to_date"; }))
      << "alice " << StateOf(a) << ", bob " << StateOf(b);
  EXPECT_TRUE(SyncOf(a)->isNull("offline_since_ms"));
  EXPECT_EQ(SyncOf(a)->getValue<int64_t>("pending"), 0);

  Poco::JSON::Object::Ptr self = MemberOf(a, ws, a.identity().device);
  ASSERT_TRUE(self);
  EXPECT_TRUE(self->getValue<bool>("online"));
  EXPECT_TRUE(self->isNull("path"));
  Poco::JSON::Object::Ptr bob = MemberOf(a, ws, b.identity().device);
  ASSERT_TRUE(bob);
  EXPECT_TRUE(bob->getValue<bool>("online"));
  EXPECT_EQ(bob->getValue<std::string>("path"), "direct");

  // A change of the sync state is an event, without any connection coming or going.
  Poco::Net::HTTPClientSession stream("127.0.0.1", a.api().port());
  stream.setTimeout(Poco::Timespan(15, 0));
  Poco::Net::HTTPRequest events("GET", "/api/v1/events", Poco::Net::HTTPMessage::HTTP_1_1);
  events.set("Authorization", "Bearer " + ReadFile(a.data_dir() + "/api-token").substr(0, 43));
  stream.sendRequest(events);
  Poco::Net::HTTPResponse opened;
  std::istream& in = stream.receiveResponse(opened);
  ASSERT_EQ(opened.getStatus(), 200);

  a.api().CreateRecord(ws, "note", JsonOf({{"text", Incompressible(300'000)}}));
  std::string line;
  bool sync_event = false;
  while (!sync_event && std::getline(in, line)) sync_event = line == "event: sync";
  EXPECT_TRUE(sync_event) << "no sync event after the state changed";

  ASSERT_TRUE(PollUntil([&] { return StateOf(a) == "syncing"; })) << StateOf(a);
  EXPECT_GE(SyncOf(a)->getValue<int64_t>("pending"), 1) << "the delta bob cannot take";
  // Bob learns what alice holds from her Have when they (re)connect: then he knows he lacks it.
  EXPECT_EQ(b.Stop(), 0);
  b.Restart();
  ASSERT_TRUE(PollUntil([&] { return StateOf(a) == "syncing" && StateOf(b) == "syncing"; }))
      << "alice " << StateOf(a) << ", bob " << StateOf(b);
  EXPECT_GE(SyncOf(b)->getValue<int64_t>("pending"), 1) << "the delta alice has";

  const int64_t before_kill = NowMs();
  b.Kill();
  ASSERT_TRUE(PollUntil([&] { return StateOf(a) == "offline"; })) << StateOf(a);
  Poco::JSON::Object::Ptr gone = SyncOf(a);
  EXPECT_GE(gone->getValue<int64_t>("offline_since_ms"), before_kill) << "since the last went";
  EXPECT_LE(gone->getValue<int64_t>("offline_since_ms"), NowMs());
  bob = MemberOf(a, ws, b.identity().device);
  ASSERT_TRUE(bob);
  EXPECT_FALSE(bob->getValue<bool>("online"));
  EXPECT_TRUE(bob->isNull("path"));
}

TEST(WebIntegration, ThePeerServesItsAppAndAFolderInstead) {
  PeerProcess a("alice");
  a.Start();
  const HttpResponse index = a.api().Get("/app/");
  ASSERT_EQ(index.status, 200) << index.Describe();
  EXPECT_NE(index.body.find("<html"), std::string::npos) << index.body;
  EXPECT_EQ(a.api().Get("/app/no-such-file.js").status, 404);
  EXPECT_EQ(a.Stop(), 0);

  const std::string folder = a.data_dir() + "/../web";
  std::filesystem::create_directories(folder);
  WriteFile(folder + "/index.html", "<p>from the folder</p>");
  PeerProcess b("bob");
  StartOptions options;
  options.extra_args = {"--api.web_dir", folder};
  b.Start(options);
  const HttpResponse dev = b.api().Get("/app/");
  ASSERT_EQ(dev.status, 200) << dev.Describe();
  EXPECT_EQ(dev.body, "<p>from the folder</p>");
  WriteFile(folder + "/index.html", "<p>edited</p>");
  EXPECT_EQ(b.api().Get("/app/").body, "<p>edited</p>");
}

}  // namespace
}  // namespace grove::integration
