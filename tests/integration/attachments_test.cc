// Attachments between real grove-peer processes (decision 0005): a file uploaded on one peer
// and referenced from a service case is fetched on demand by another member that got the case
// by sync, byte for byte; an upload over the configured limit is refused with 413; after a
// restart, a fetch takes only the chunks not held. (A file over 2 GiB: attachments_large_test.cc.)
#include <Poco/Base64Decoder.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "common/bytes.h"
#include "identity/identity.h"
#include "integration/peer_process.h"

namespace grove::integration {
namespace {

// POST of a raw body, which the harness's JSON client does not send.
HttpResponse PostRaw(const PeerProcess& p, const std::string& path, const std::string& body) {
  HttpResponse out;
  auto token = identity::ReadApiToken(p.data_dir());
  if (!token.ok()) {
    out.error = token.status().ToString();
    return out;
  }
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", p.api().port());
    session.setTimeout(Poco::Timespan(30, 0));
    Poco::Net::HTTPRequest request("POST", path, Poco::Net::HTTPMessage::HTTP_1_1);
    request.set("Authorization", "Bearer " + *token);
    request.setContentType("application/pdf");
    request.setContentLength64(static_cast<Poco::Int64>(body.size()));
    std::ostream& os = session.sendRequest(request);
    os.write(body.data(), static_cast<std::streamsize>(body.size()));
    os.flush();
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    out.status = response.getStatus();
    std::ostringstream collected;
    Poco::StreamCopier::copyStream(in, collected);
    out.body = collected.str();
  } catch (const Poco::Exception& e) {
    out.error = e.displayText();
  }
  return out;
}

// Bytes that do not repeat within a file (xorshift64): equal chunks would be stored and fetched
// once, which the counts of fetched chunks below must not depend on.
std::string FileOf(size_t n) {
  std::string s(n, '\0');
  uint64_t x = 0x2545f4914f6cdd1dull;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x >> 32);
  }
  return s;
}

// The hex id of the first item of list `field` of a record (lists hold blobs as base64).
std::string FirstListItemHex(const JsonObject& record, const std::string& field) {
  if (!record || !record->has("lists")) return "";
  JsonObject lists = record->getObject("lists");
  if (!lists || !lists->has(field)) return "";
  JsonArray items = lists->getArray(field);
  if (!items || items->size() == 0) return "";
  JsonObject blob = items->getObject(0);
  if (!blob || !blob->has("blob_base64")) return "";
  std::string b64 = blob->getValue<std::string>("blob_base64");
  // Poco's decoder reads standard base64; the API writes it padded or not.
  while (b64.size() % 4 != 0) b64 += '=';
  std::istringstream in(b64);
  Poco::Base64Decoder decoder(in);
  std::string raw((std::istreambuf_iterator<char>(decoder)), std::istreambuf_iterator<char>());
  return HexEncode(AsBytes(raw));
}

TEST(AttachmentsIntegration, CaseAttachmentIsFetchedOnDemandByAnotherMember) {
  PeerProcess a("alice"), c("carol");
  // A config file needs the data folder too (the flags then say it again).
  auto limited = [](const PeerProcess& p) {
    return WithConfig("data: " + p.data_dir() + "\nattachments:\n  max_bytes: 3000000\n");
  };
  a.Start(limited(a));
  StartOptions carol = limited(c);
  carol.connect = {a.sync_address()};
  c.Start(carol);
  const std::string ws =
      ShareWorkspace(a, {&c}, "support", "member", {"inventory", "purchasing", "service"});
  const std::string base = "/api/v1/workspaces/" + ws + "/attachments";

  // Alice uploads 2.5 MB: three chunks.
  const std::string file = FileOf(2'500'000);
  HttpResponse up = PostRaw(a, base + "?name=manual.pdf", file);
  ASSERT_EQ(up.status, 201) << up.Describe();
  JsonObject info = up.Object();
  ASSERT_TRUE(info);
  const std::string id = info->getValue<std::string>("id");
  EXPECT_EQ(id.size(), 64u);
  EXPECT_EQ(info->getValue<int64_t>("size"), 2'500'000);
  EXPECT_EQ(info->getValue<int64_t>("chunks"), 3);
  EXPECT_EQ(info->getValue<std::string>("name"), "manual.pdf");
  EXPECT_EQ(info->getValue<std::string>("media_type"), "application/pdf");
  // The same file again: the same id (content-addressed, stored once).
  HttpResponse again = PostRaw(a, base + "?name=manual.pdf", file);
  ASSERT_EQ(again.status, 201) << again.Describe();
  EXPECT_EQ(again.Object()->getValue<std::string>("id"), id);

  // Over the limit: 413 naming it, nothing stored.
  HttpResponse big = PostRaw(a, base + "?name=big.bin", FileOf(3'000'001));
  EXPECT_EQ(big.status, 413) << big.Describe();
  EXPECT_NE(big.body.find("3000000"), std::string::npos) << big.Describe();

  // The case references the attachment; carol gets the case by sync, not the file.
  const std::string kase =
      a.api().CreateRecord(ws, "case", JsonOf({{"title", "Pump leaks"}, {"customer", "ACME"}}));
  Poco::JSON::Object append;
  append.set("attachments", id);
  Poco::JSON::Object patch;
  patch.set("append", append);
  HttpResponse patched =
      a.api().Request("PATCH", "/api/v1/workspaces/" + ws + "/records/" + kase, ToJson(patch));
  ASSERT_EQ(patched.status, 200) << patched.Describe();
  std::string seen;
  ASSERT_TRUE(PollUntil([&] {
    seen = FirstListItemHex(c.api().GetRecord(ws, kase), "attachments");
    return !seen.empty();
  })) << "the case's attachment did not reach carol";
  EXPECT_EQ(seen, id);
  HttpResponse before = c.api().Get(base + "/" + id + "/status");
  ASSERT_EQ(before.status, 200) << before.Describe();
  EXPECT_EQ(before.Object()->getValue<bool>("manifest"), false) << before.Describe();

  // Carol downloads it with the CLI: fetched from alice on demand, identical bytes.
  const std::string out = c.data_dir() + "/../manual.pdf";
  std::string output;
  const int rc = RunProgram(
      {GROVE_CLI_BIN, "attach", "get", "--data", c.data_dir(), "--api",
       "127.0.0.1:" + std::to_string(c.api().port()), "--out", out, ws.substr(0, 12), id},
      "", &output, 60s);
  ASSERT_EQ(rc, 0) << output;
  const std::string got = ReadFile(out);
  EXPECT_EQ(got.size(), file.size());
  EXPECT_TRUE(got == file) << "the downloaded bytes differ";
  HttpResponse after = c.api().Get(base + "/" + id + "/status");
  ASSERT_EQ(after.status, 200) << after.Describe();
  EXPECT_EQ(after.Object()->getValue<std::string>("state"), "complete") << after.Describe();
  EXPECT_EQ(after.Object()->getValue<int64_t>("chunks_held"), 3);
  EXPECT_EQ(after.Object()->getValue<int64_t>("bytes_held"), 2'500'000);

  // Something no connected member holds: a clear 503, not a hang.
  const std::string unknown(64, 'a');
  HttpResponse missing = c.api().Get(base + "/" + unknown);
  EXPECT_EQ(missing.status, 503) << missing.Describe();
  EXPECT_NE(missing.body.find("no connected member"), std::string::npos) << missing.Describe();

  // With alice gone, carol still serves the file from her own store.
  a.Stop();
  HttpResponse local = c.api().Get(base + "/" + id);
  ASSERT_EQ(local.status, 200) << local.Describe();
  EXPECT_TRUE(local.body == file);
}

// Resuming across a restart of the receiving peer: carol holds the first chunks of a file (here
// because she fetched a shorter file that begins with the same bytes: chunks are
// content-addressed), restarts, and then fetches the whole file: only the missing chunks travel,
// counted by her chunk metric, which starts from zero with the process.
TEST(AttachmentsIntegration, AFetchAfterARestartFetchesOnlyTheChunksNotHeld) {
  PeerProcess a("alice"), c("carol");
  a.Start();
  c.Start(ConnectTo({a.sync_address()}));
  const std::string ws = ShareWorkspace(a, {&c}, "files");
  const std::string base = "/api/v1/workspaces/" + ws + "/attachments";
  constexpr size_t kMiB = 1 << 20;
  const std::string whole = FileOf(24 * kMiB + 5);  // 25 chunks
  const std::string start = whole.substr(0, 10 * kMiB);
  HttpResponse up_whole = PostRaw(a, base + "?name=whole.bin", whole);
  ASSERT_EQ(up_whole.status, 201) << up_whole.Describe();
  HttpResponse up_start = PostRaw(a, base + "?name=start.bin", start);
  ASSERT_EQ(up_start.status, 201) << up_start.Describe();
  const std::string whole_id = up_whole.Object()->getValue<std::string>("id");
  const std::string start_id = up_start.Object()->getValue<std::string>("id");
  ASSERT_EQ(up_whole.Object()->getValue<int64_t>("chunks"), 25);

  HttpResponse got_start = c.api().Get(base + "/" + start_id);
  ASSERT_EQ(got_start.status, 200) << got_start.Describe();
  EXPECT_TRUE(got_start.body == start);
  EXPECT_EQ(MetricValue(c.api().Metrics(), "grove_attachment_chunks_received_total"), 11.0)
      << "the manifest and ten chunks";

  c.Stop();
  c.Restart();
  // The whole file's manifest is not held yet: its status says so.
  HttpResponse before = c.api().Get(base + "/" + whole_id + "/status");
  ASSERT_EQ(before.status, 200) << before.Describe();
  EXPECT_FALSE(before.Object()->getValue<bool>("manifest"));
  // Once carol is connected again (a GET before that is a 503: nobody to ask).
  HttpResponse got;
  ASSERT_TRUE(PollUntil([&] {
    got = c.api().Get(base + "/" + whole_id);
    return got.status == 200;
  })) << got.Describe();
  EXPECT_EQ(got.body.size(), whole.size());
  EXPECT_TRUE(got.body == whole) << "the downloaded bytes differ";
  EXPECT_EQ(MetricValue(c.api().Metrics(), "grove_attachment_chunks_received_total"), 16.0)
      << "the manifest and the 15 chunks not held: the first ten were not fetched again";
  HttpResponse after = c.api().Get(base + "/" + whole_id + "/status");
  ASSERT_EQ(after.status, 200) << after.Describe();
  EXPECT_EQ(after.Object()->getValue<std::string>("state"), "complete");
  EXPECT_EQ(after.Object()->getValue<int64_t>("chunks_held"), 25);
  EXPECT_EQ(after.Object()->getValue<int64_t>("bytes_held"), static_cast<int64_t>(whole.size()));
}

}  // namespace
}  // namespace grove::integration
