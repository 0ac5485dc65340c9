// Workspace helpers for sealed-bid auctions (docs/decisions/0007-sealed-bids.md): sealing a bid
// to the auctioneer, and publishing the openings this device can make. The rules that every
// peer applies to both live in the auctions tool and the engine functions of rules.cc; these
// helpers only build the values, and each append goes through the same local checks.
#include <algorithm>

#include "replica/sealed_bid.h"
#include "replica/workspace_impl.h"

namespace grove::replica {
namespace {

constexpr std::string_view kSealedBids = "sealed_bids";
constexpr std::string_view kOpenings = "openings";

const std::vector<Entry>* ListOf(const Record& r, uint32_t field) {
  for (const auto& [name, entries] : r.lists) {
    if (name == field) return &entries;
  }
  return nullptr;
}

}  // namespace

Status Workspace::PlaceSealedBid(const RecordId& lot, const Money& amount) {
  Impl& w = *impl_;
  auto key = w.KeyOf(lot);
  const Record* r = key ? w.table_.Find(*key) : nullptr;
  if (!r || !r->exists) return NotFound("no record " + lot.Text(), "id");
  // The auctioneer is the lot's creator; its agreement key comes from its card.
  auto member = w.membership_.members().find(r->created.dev);
  if (member == w.membership_.members().end()) {
    return NotFound("the lot's creator has no card in this workspace to seal the bid to", "id");
  }
  GROVE_ASSIGN_OR_RETURN(std::string text,
                         sealed::Seal(lot, w.me_.device(), member->second.card.agree_key,
                                      w.me_.agreement_key().public_key(), amount, w.random_));
  return Append(lot, kSealedBids, Value(std::move(text)));
}

Result<size_t> Workspace::RevealSealedBids(const RecordId& lot) {
  Impl& w = *impl_;
  auto key = w.KeyOf(lot);
  const Record* r = key ? w.table_.Find(*key) : nullptr;
  if (!r || !r->exists) return NotFound("no record " + lot.Text(), "id");
  const std::vector<Entry>* bids = ListOf(*r, w.names_.Intern(kSealedBids));
  if (!bids) return size_t{0};
  // Copies: each Append below changes the record table.
  const std::vector<Entry> sealed_bids = *bids;
  std::vector<sealed::Opening> published;
  if (const std::vector<Entry>* openings = ListOf(*r, w.names_.Intern(kOpenings))) {
    for (const Entry& e : *openings) {
      const auto* text = std::get_if<std::string>(&e.value.v);
      if (auto o = text ? sealed::ParseOpening(*text) : std::nullopt) published.push_back(*o);
    }
  }
  size_t count = 0;
  for (const Entry& e : sealed_bids) {
    const auto* text = std::get_if<std::string>(&e.value.v);
    auto bid = text ? sealed::ParseBid(*text) : std::nullopt;
    if (!bid) continue;
    const DeviceId& bidder = w.devices_[e.stamp.dev];
    bool open = std::any_of(published.begin(), published.end(), [&](const sealed::Opening& o) {
      return o.commitment == bid->commitment && sealed::Verifies(o, lot, bidder);
    });
    if (open) continue;
    // A box this device cannot open (another bidder's), or whose content does not match the
    // commitment (decision 0007: forfeit at the reveal deadline), is left alone.
    auto opening = sealed::Open(*bid, w.me_.agreement_key(), lot, bidder);
    if (!opening) continue;
    GROVE_RETURN_IF_ERROR(Append(lot, kOpenings, Value(sealed::EncodeOpening(*opening))));
    published.push_back(*opening);
    ++count;
  }
  return count;
}

}  // namespace grove::replica
