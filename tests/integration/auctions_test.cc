// The auctions tool (workflows/auctions.yaml) between three real grove-peer processes: an
// auctioneer and two bidders, one of them a workspace owner. Only the lot's creator or an owner
// opens, closes or cancels a lot; its terms freeze when it opens; it cannot be closed before its
// closing time; bids are checked by every peer against the bid's own time and the bids its bidder
// had seen, and every peer computes the same winner.
//
// Time: rules read op_time, the op's HLC in milliseconds, which follows the peers' wall clock.
// A lot closes a few seconds after it is created, and the test waits (bounded) for that moment.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "integration/peer_process.h"
#include "integration/tool_steps.h"

namespace grove::integration {
namespace {

// How long a lot stays open: long enough for bids to cross three peers, short for the test.
constexpr int64_t kWindowMs = 4000;
constexpr int64_t kHourMs = 3600 * 1000;

Poco::JSON::Object LotFields(const std::string& title, const std::string& kind,
                             int64_t reserve_minor, int64_t increment_minor, int64_t opens_at,
                             int64_t closes_at, const std::string& increment_currency = "EUR") {
  Poco::JSON::Object lot = JsonOf({{"title", title}, {"kind", kind}});
  lot.set("reserve", Money(reserve_minor, "EUR"));
  lot.set("min_increment", Money(increment_minor, increment_currency));
  lot.set("opens_at", static_cast<Poco::Int64>(opens_at));
  lot.set("closes_at", static_cast<Poco::Int64>(closes_at));
  return lot;
}

Poco::JSON::Object Reason(const std::string& text) { return JsonOf({{"cancel_reason", text}}); }

std::string Quoted(const std::string& text) { return "\"" + text + "\""; }

std::string State(const JsonObject& r) { return r ? r->optValue<std::string>("state", "") : ""; }

// Runs `name` on the lot until it is allowed or `timeout` passes (the refusals change nothing);
// the last answer.
HttpResponse StepWhenAllowed(const ApiClient& api, const std::string& ws, const std::string& id,
                             const std::string& name, std::chrono::milliseconds timeout) {
  HttpResponse last;
  PollUntil(
      [&] {
        last = Step(api, ws, id, name);
        return last.status == 200;
      },
      timeout, 100ms);
  return last;
}

// The terms and the life cycle of lots: who may change, open, close and cancel them and when,
// seen the same on every peer.
TEST(AuctionsIntegration, OnlyTheAuctioneerOrAnOwnerRunsALotAndNobodyClosesItEarly) {
  PeerProcess owner("owner"), auctioneer("auctioneer"), bidder("bidder");
  owner.Start();
  auctioneer.Start(ConnectTo({owner.sync_address()}));
  bidder.Start(ConnectTo({auctioneer.sync_address()}));
  const std::vector<PeerProcess*> all = {&owner, &auctioneer, &bidder};
  const std::string ws = ShareWorkspace(owner, {&auctioneer, &bidder}, "auctions", "member",
                                        {"inventory", "auctions"});
  const ApiClient& a = auctioneer.api();

  // A forward auction for surplus stock; it will close shortly after it opens.
  const std::string item =
      a.CreateRecord(ws, "item", JsonOf({{"sku", "PUMP-2"}, {"name", "Spare pump"}}));
  const int64_t now = NowMillis();
  Poco::JSON::Object terms =
      LotFields("Surplus pumps", "forward", 10000, 500, now - kHourMs, now + kHourMs);
  terms.set("item", item);
  terms.set("quantity", 4);
  const std::string lot = a.CreateRecord(ws, "lot", terms);
  std::string seen;
  ASSERT_TRUE(AllPeersSee(all, ws, lot, State, "draft", &seen)) << seen;

  // A draft's terms: the auctioneer may change them, a bidder may not (edit guard).
  HttpResponse by_bidder =
      SetFields(bidder.api(), ws, lot, JsonOf({{"description", "cheap, cheap"}}));
  EXPECT_EQ(by_bidder.status, 409) << by_bidder.Describe();
  EXPECT_NE(MessageOf(by_bidder).find("only the lot's creator or an owner changes a lot"),
            std::string::npos)
      << by_bidder.Describe();
  HttpResponse by_auctioneer = SetFields(a, ws, lot, JsonOf({{"description", "4 pumps, boxed"}}));
  EXPECT_EQ(by_auctioneer.status, 200) << by_auctioneer.Describe();

  // Opening: not by a bidder (a guard, so 409, not a role), and not with a close already past
  // or an increment in another currency than the reserve.
  HttpResponse opened_by_bidder = Step(bidder.api(), ws, lot, "open");
  EXPECT_EQ(opened_by_bidder.status, 409) << opened_by_bidder.Describe();
  EXPECT_EQ(RuleOf(opened_by_bidder), "guard") << opened_by_bidder.Describe();
  const std::string stale = a.CreateRecord(
      ws, "lot", LotFields("Old lot", "forward", 10000, 500, now - 2 * kHourMs, now - kHourMs));
  HttpResponse stale_open = Step(a, ws, stale, "open");
  EXPECT_EQ(stale_open.status, 409) << stale_open.Describe();
  EXPECT_EQ(RuleOf(stale_open), "guard") << stale_open.Describe();
  const std::string mixed = a.CreateRecord(
      ws, "lot",
      LotFields("Mixed currencies", "reverse", 10000, 500, now - kHourMs, now + kHourMs, "USD"));
  HttpResponse mixed_open = Step(a, ws, mixed, "open");
  EXPECT_EQ(mixed_open.status, 409) << mixed_open.Describe();
  EXPECT_EQ(RuleOf(mixed_open), "guard") << mixed_open.Describe();

  // The auctioneer moves the close near (still a draft), then opens.
  const int64_t closes_at = NowMillis() + kWindowMs;
  Poco::JSON::Object soon;
  soon.set("closes_at", static_cast<Poco::Int64>(closes_at));
  HttpResponse moved = SetFields(a, ws, lot, soon);
  ASSERT_EQ(moved.status, 200) << moved.Describe();
  HttpResponse opened = Step(a, ws, lot, "open");
  ASSERT_EQ(opened.status, 200) << opened.Describe();
  ASSERT_TRUE(AllPeersSee(all, ws, lot, State, "open", &seen)) << seen;

  // Open: the terms are frozen, even for the auctioneer (editable_in: draft).
  Poco::JSON::Object lower_reserve;
  lower_reserve.set("reserve", Money(5000, "EUR"));
  HttpResponse changed = SetFields(a, ws, lot, lower_reserve);
  EXPECT_EQ(changed.status, 409) << changed.Describe();
  EXPECT_NE(MessageOf(changed).find("can be changed only in draft"), std::string::npos)
      << changed.Describe();
  // Opening twice is refused by state; a bidder cannot cancel or close.
  HttpResponse again = Step(a, ws, lot, "open");
  EXPECT_EQ(again.status, 409) << again.Describe();
  EXPECT_EQ(RuleOf(again), "state") << again.Describe();
  HttpResponse cancelled_by_bidder = Step(bidder.api(), ws, lot, "cancel", Reason("mine now"));
  EXPECT_EQ(cancelled_by_bidder.status, 409) << cancelled_by_bidder.Describe();
  EXPECT_EQ(RuleOf(cancelled_by_bidder), "guard") << cancelled_by_bidder.Describe();

  // Nobody closes early, not even the auctioneer.
  HttpResponse early = Step(a, ws, lot, "close");
  ASSERT_LT(NowMillis(), closes_at)
      << "the test machine is too slow for a " << kWindowMs << " ms window";
  EXPECT_EQ(early.status, 409) << early.Describe();
  EXPECT_EQ(RuleOf(early), "guard") << early.Describe();
  EXPECT_NE(MessageOf(early).find("not before its closing time"), std::string::npos)
      << early.Describe();

  // After the closing time, still not a bidder; the owner (not the lot's creator) may.
  ASSERT_TRUE(PollUntil([&] { return NowMillis() > closes_at + 50; }, 2ms * kWindowMs));
  HttpResponse closed_by_bidder = Step(bidder.api(), ws, lot, "close");
  EXPECT_EQ(closed_by_bidder.status, 409) << closed_by_bidder.Describe();
  EXPECT_EQ(RuleOf(closed_by_bidder), "guard") << closed_by_bidder.Describe();
  HttpResponse closed = StepWhenAllowed(owner.api(), ws, lot, "close", 5s);
  ASSERT_EQ(closed.status, 200) << closed.Describe();
  // Once the auctioneer has the close, closing again is refused by state (before, its own close
  // would be a concurrent one, allowed to the lot's creator).
  ASSERT_TRUE(AllPeersSee(all, ws, lot, State, "closed", &seen)) << seen;
  HttpResponse closed_again = Step(a, ws, lot, "close");
  EXPECT_EQ(closed_again.status, 409) << closed_again.Describe();
  EXPECT_EQ(RuleOf(closed_again), "state") << closed_again.Describe();
  HttpResponse cancel_closed = Step(a, ws, lot, "cancel", Reason("too late"));
  EXPECT_EQ(cancel_closed.status, 409) << cancel_closed.Describe();
  EXPECT_EQ(RuleOf(cancel_closed), "state") << cancel_closed.Describe();

  // Cancelling a draft: a reason is required; a bidder cannot; the owner can.
  HttpResponse no_reason = Step(a, ws, stale, "cancel");
  EXPECT_EQ(no_reason.status, 400) << no_reason.Describe();
  EXPECT_EQ(ErrorFieldOf(no_reason), "fields.cancel_reason") << no_reason.Describe();
  ASSERT_TRUE(AllPeersSee(all, ws, stale, State, "draft", &seen)) << seen;
  HttpResponse stale_by_bidder = Step(bidder.api(), ws, stale, "cancel", Reason("spam"));
  EXPECT_EQ(stale_by_bidder.status, 409) << stale_by_bidder.Describe();
  EXPECT_EQ(RuleOf(stale_by_bidder), "guard") << stale_by_bidder.Describe();
  HttpResponse stale_by_owner = Step(owner.api(), ws, stale, "cancel", Reason("dates wrong"));
  EXPECT_EQ(stale_by_owner.status, 200) << stale_by_owner.Describe();

  // Every peer: the same states, history, terms, and no winner of a lot without bids.
  auto summary = [](const JsonObject& r) {
    if (!r) return std::string("unreadable");
    return State(r) + " [" + Joined(HistoryOf(r)) + "] reserve " + FieldJson(r, "reserve") +
           " description " + FieldJson(r, "description") + " bids " +
           std::to_string(ListJson(r, "bids").size()) + " winner " + ComputedJson(r, "winner") +
           " winning_bid " + ComputedJson(r, "winning_bid");
  };
  const std::string want = "closed [open, close] reserve " + MoneyJson(10000, "EUR") +
                           " description \"4 pumps, boxed\" bids 0 winner null winning_bid null";
  EXPECT_TRUE(AllPeersSee(all, ws, lot, summary, want, &seen)) << seen;
  auto cancelled = [](const JsonObject& r) {
    return State(r) + " " + FieldJson(r, "cancel_reason");
  };
  EXPECT_TRUE(AllPeersSee(all, ws, stale, cancelled, "cancelled \"dates wrong\"", &seen)) << seen;
  EXPECT_TRUE(AllPeersSee(all, ws, mixed, State, "draft", &seen)) << seen;
  EXPECT_TRUE(DigestsAgree(all, ws, &seen)) << seen;
}

// Bids from both bidders reach every peer; a bid that does not beat the best by the minimum
// increment, a bid by the auctioneer, in another currency or after the close is refused; every
// peer computes the same winner, the one the bids imply. A forward and a reverse lot run at once.
TEST(AuctionsIntegration, BidsReachEveryPeerAndEveryPeerComputesTheSameWinner) {
  PeerProcess owner("owner"), auctioneer("auctioneer"), bidder("bidder");
  owner.Start();
  auctioneer.Start(ConnectTo({owner.sync_address()}));
  bidder.Start(ConnectTo({auctioneer.sync_address()}));
  const std::vector<PeerProcess*> all = {&owner, &auctioneer, &bidder};
  const std::string ws = ShareWorkspace(owner, {&auctioneer, &bidder}, "auctions", "member",
                                        {"inventory", "auctions"});
  const ApiClient& a = auctioneer.api();
  const ApiClient& b1 = owner.api();  // the owner bids too: not on its own lot
  const ApiClient& b2 = bidder.api();

  const int64_t now = NowMillis();
  const std::string forward = a.CreateRecord(
      ws, "lot", LotFields("Surplus pumps", "forward", 10000, 500, now, now + kHourMs));
  const std::string reverse =
      a.CreateRecord(ws, "lot", LotFields("Packaging", "reverse", 5000, 100, now, now + kHourMs));
  // A bid on a draft is refused.
  ASSERT_TRUE(AllPeersSee(all, ws, forward, State, "draft"));
  HttpResponse on_draft = AppendItem(b2, ws, forward, "bids", Money(10000, "EUR"));
  EXPECT_EQ(on_draft.status, 409) << on_draft.Describe();
  EXPECT_EQ(RuleOf(on_draft), "state") << on_draft.Describe();  // bids are editable_in: [open]
  // Both close shortly after they open.
  const int64_t closes_at = NowMillis() + kWindowMs;
  for (const std::string& lot : {forward, reverse}) {
    Poco::JSON::Object soon;
    soon.set("closes_at", static_cast<Poco::Int64>(closes_at));
    HttpResponse moved = SetFields(a, ws, lot, soon);
    ASSERT_EQ(moved.status, 200) << moved.Describe();
    HttpResponse opened = Step(a, ws, lot, "open");
    ASSERT_EQ(opened.status, 200) << opened.Describe();
    ASSERT_TRUE(AllPeersSee(all, ws, lot, State, "open"));
  }
  auto bids = [](const JsonObject& r) { return Joined(ListJson(r, "bids")); };
  std::string seen;

  // Forward: 100.00 (the reserve) by the second bidder, seen everywhere before the next bids.
  HttpResponse first = AppendItem(b2, ws, forward, "bids", Money(10000, "EUR"));
  ASSERT_EQ(first.status, 200) << first.Describe();
  ASSERT_TRUE(AllPeersSee(all, ws, forward, bids, MoneyJson(10000, "EUR"), &seen)) << seen;
  // 103.00 does not beat 100.00 by the 5.00 increment; 99.00 is below the reserve anyway.
  for (int64_t minor : {10300, 9900}) {
    HttpResponse low = AppendItem(b1, ws, forward, "bids", Money(minor, "EUR"));
    EXPECT_EQ(low.status, 409) << minor << ": " << low.Describe();
    EXPECT_EQ(RuleOf(low), "guard") << low.Describe();
    EXPECT_NE(MessageOf(low).find("bid refused"), std::string::npos) << low.Describe();
  }
  // Not in the reserve's currency; not by the auctioneer.
  HttpResponse dollars = AppendItem(b1, ws, forward, "bids", Money(20000, "USD"));
  EXPECT_EQ(dollars.status, 409) << dollars.Describe();
  HttpResponse own = AppendItem(a, ws, forward, "bids", Money(20000, "EUR"));
  EXPECT_EQ(own.status, 409) << own.Describe();
  EXPECT_EQ(RuleOf(own), "guard") << own.Describe();
  // Exactly the increment is enough.
  HttpResponse second = AppendItem(b1, ws, forward, "bids", Money(10500, "EUR"));
  ASSERT_EQ(second.status, 200) << second.Describe();
  const std::string two = MoneyJson(10000, "EUR") + ", " + MoneyJson(10500, "EUR");
  ASSERT_TRUE(AllPeersSee(all, ws, forward, bids, two, &seen)) << seen;
  HttpResponse third = AppendItem(b2, ws, forward, "bids", Money(11000, "EUR"));
  ASSERT_EQ(third.status, 200) << third.Describe();

  // Reverse: prices go down; 49.50 does not undercut 50.00 by the 1.00 increment.
  HttpResponse r1 = AppendItem(b2, ws, reverse, "bids", Money(5000, "EUR"));
  ASSERT_EQ(r1.status, 200) << r1.Describe();
  ASSERT_TRUE(AllPeersSee(all, ws, reverse, bids, MoneyJson(5000, "EUR"), &seen)) << seen;
  HttpResponse r_low = AppendItem(b1, ws, reverse, "bids", Money(4950, "EUR"));
  EXPECT_EQ(r_low.status, 409) << r_low.Describe();
  EXPECT_EQ(RuleOf(r_low), "guard") << r_low.Describe();
  HttpResponse r2 = AppendItem(b1, ws, reverse, "bids", Money(4800, "EUR"));
  ASSERT_EQ(r2.status, 200) << r2.Describe();

  const std::string forward_bids = two + ", " + MoneyJson(11000, "EUR");
  const std::string reverse_bids = MoneyJson(5000, "EUR") + ", " + MoneyJson(4800, "EUR");
  ASSERT_TRUE(AllPeersSee(all, ws, forward, bids, forward_bids, &seen)) << seen;
  ASSERT_TRUE(AllPeersSee(all, ws, reverse, bids, reverse_bids, &seen)) << seen;
  // While open: the best bid shows, the winner does not.
  auto best = [](const JsonObject& r) {
    return ComputedJson(r, "best_bid") + " " + ComputedJson(r, "winner");
  };
  EXPECT_TRUE(AllPeersSee(all, ws, forward, best, MoneyJson(11000, "EUR") + " null", &seen))
      << seen;
  ASSERT_LT(NowMillis(), closes_at)
      << "the test machine is too slow for a " << kWindowMs << " ms window";

  // After the closing time every bid is refused, even one that would win, from either bidder.
  ASSERT_TRUE(PollUntil([&] { return NowMillis() > closes_at + 50; }, 2ms * kWindowMs));
  for (const ApiClient* api : {&b1, &b2}) {
    HttpResponse late = AppendItem(*api, ws, forward, "bids", Money(50000, "EUR"));
    EXPECT_EQ(late.status, 409) << late.Describe();
    EXPECT_EQ(RuleOf(late), "guard") << late.Describe();
    HttpResponse late_reverse = AppendItem(*api, ws, reverse, "bids", Money(100, "EUR"));
    EXPECT_EQ(late_reverse.status, 409) << late_reverse.Describe();
  }
  for (const std::string& lot : {forward, reverse}) {
    HttpResponse closed = StepWhenAllowed(a, ws, lot, "close", 5s);
    ASSERT_EQ(closed.status, 200) << closed.Describe();
  }

  // Every peer: the same bids (no late one), and the winner the bids imply.
  auto result = [](const JsonObject& r) {
    return State(r) + " [" + Joined(ListJson(r, "bids")) + "] " + ComputedJson(r, "winner") + " " +
           ComputedJson(r, "winning_bid");
  };
  EXPECT_TRUE(AllPeersSee(all, ws, forward, result,
                          "closed [" + forward_bids + "] " + Quoted(bidder.identity().device) +
                              " " + MoneyJson(11000, "EUR"),
                          &seen))
      << seen;
  EXPECT_TRUE(AllPeersSee(all, ws, reverse, result,
                          "closed [" + reverse_bids + "] " + Quoted(owner.identity().device) + " " +
                              MoneyJson(4800, "EUR"),
                          &seen))
      << seen;
  EXPECT_TRUE(DigestsAgree(all, ws, &seen)) << seen;
}

// Sealed bids through the API: while the lot is open, the other bidder's peer holds no amount of
// a bid (only commitments and boxes); after the close the auctioneer publishes the openings,
// awards the lot, and every peer shows the same winner, the one the amounts imply.
TEST(AuctionsIntegration, SealedBidsStayHiddenUntilTheCloseThenEveryPeerAgreesOnTheWinner) {
  PeerProcess auctioneer("auctioneer"), b1("bidder1"), b2("bidder2");
  auctioneer.Start();
  b1.Start(ConnectTo({auctioneer.sync_address()}));
  b2.Start(ConnectTo({auctioneer.sync_address()}));
  const std::vector<PeerProcess*> all = {&auctioneer, &b1, &b2};
  const std::string ws =
      ShareWorkspace(auctioneer, {&b1, &b2}, "sealed", "member", {"inventory", "auctions"});
  const ApiClient& a = auctioneer.api();
  const int64_t now = NowMillis();
  const int64_t closes_at = now + kWindowMs;
  Poco::JSON::Object terms =
      LotFields("Scrap copper", "forward", 10000, 100, now - 1000, closes_at);
  terms.set("sealed", true);
  terms.set("reveal_until", static_cast<Poco::Int64>(closes_at + kHourMs));
  const std::string lot = a.CreateRecord(ws, "lot", terms);
  ASSERT_EQ(Step(a, ws, lot, "open").status, 200);
  std::string seen;
  ASSERT_TRUE(AllPeersSee(all, ws, lot, State, "open", &seen)) << seen;

  auto bid = [&](PeerProcess& p, int64_t minor) {
    Poco::JSON::Object body;
    body.set("amount", Money(minor, "EUR"));
    return p.api().Request("POST", RecordPath(ws, lot) + "/sealed-bids", ToJson(body));
  };
  HttpResponse own = bid(auctioneer, 99999);
  EXPECT_EQ(own.status, 409) << own.Describe();
  EXPECT_EQ(RuleOf(own), "guard") << own.Describe();
  ASSERT_EQ(bid(b1, 12345).status, 200);
  ASSERT_EQ(bid(b2, 15000).status, 200);
  HttpResponse open_bid = AppendItem(b1.api(), ws, lot, "bids", Money(20000, "EUR"));
  EXPECT_EQ(open_bid.status, 409) << open_bid.Describe();  // a sealed lot takes no open bids

  // What every peer shows of the lot holds neither amount.
  auto sealed_count = [](const JsonObject& r) {
    return std::to_string(ListJson(r, "sealed_bids").size());
  };
  ASSERT_TRUE(AllPeersSee(all, ws, lot, sealed_count, "2", &seen)) << seen;
  for (PeerProcess* p : {&b1, &b2}) {
    HttpResponse r = p->api().Get(RecordPath(ws, lot));
    EXPECT_EQ(r.body.find("12345"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("15000"), std::string::npos) << r.body;
  }
  // Nothing can be opened before the close.
  HttpResponse early = a.Request("POST", RecordPath(ws, lot) + "/openings", std::string("{}"));
  EXPECT_EQ(early.status, 409) << early.Describe();

  ASSERT_TRUE(PollUntil([&] { return NowMillis() > closes_at + 50; }, 2ms * kWindowMs));
  ASSERT_EQ(StepWhenAllowed(a, ws, lot, "close", 5s).status, 200);
  HttpResponse revealed = a.Request("POST", RecordPath(ws, lot) + "/openings", std::string("{}"));
  ASSERT_EQ(revealed.status, 200) << revealed.Describe();
  EXPECT_NE(revealed.body.find("\"published\":2"), std::string::npos) << revealed.Describe();
  ASSERT_EQ(Step(a, ws, lot, "award").status, 200);

  const std::string b2_device = b2.api().Identity().device;
  auto outcome = [](const JsonObject& r) {
    return State(r) + " " + ComputedJson(r, "winner") + " " + ComputedJson(r, "winning_bid");
  };
  const std::string want = "awarded " + Quoted(b2_device) + " " + MoneyJson(15000, "EUR");
  EXPECT_TRUE(AllPeersSee(all, ws, lot, outcome, want, &seen)) << seen;
  EXPECT_TRUE(DigestsAgree(all, ws, &seen)) << seen;
}

}  // namespace
}  // namespace grove::integration
