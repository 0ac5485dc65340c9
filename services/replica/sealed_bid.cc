#include "replica/sealed_bid.h"

#include <algorithm>

namespace grove::replica::sealed {
namespace {

constexpr size_t kMinSecret = 8 + 1 + 1 + kNonceSize;
constexpr size_t kMaxSecret = 8 + 1 + kMaxCurrency + kNonceSize;

void PutU64(Bytes& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

Bytes Secret(const Money& amount, const std::array<uint8_t, kNonceSize>& nonce) {
  Bytes out;
  PutU64(out, static_cast<uint64_t>(amount.minor));
  out.push_back(static_cast<uint8_t>(amount.currency.size()));
  out.insert(out.end(), amount.currency.begin(), amount.currency.end());
  out.insert(out.end(), nonce.begin(), nonce.end());
  return out;
}

// Parses a whole secret; nullopt unless every byte is accounted for.
std::optional<Opening> ParseSecret(ByteView s) {
  if (s.size() < kMinSecret || s.size() > kMaxSecret) return std::nullopt;
  uint64_t minor = 0;
  for (size_t i = 0; i < 8; ++i) minor = (minor << 8) | s[i];
  const size_t len = s[8];
  if (len == 0 || len > kMaxCurrency || s.size() != 9 + len + kNonceSize) return std::nullopt;
  Opening o;
  o.amount.minor = static_cast<int64_t>(minor);
  o.amount.currency = std::string(AsChars(s.subspan(9, len)));
  std::copy_n(s.begin() + 9 + static_cast<std::ptrdiff_t>(len), kNonceSize, o.nonce.begin());
  return o;
}

bool BoxSizeOk(size_t n) {
  return n >= crypto::kSealedBoxOverhead + kMinSecret &&
         n <= crypto::kSealedBoxOverhead + kMaxSecret;
}

}  // namespace

Hash32 Commit(const RecordId& lot, const DeviceId& bidder, const Money& amount,
              const std::array<uint8_t, kNonceSize>& nonce) {
  Bytes data(kDomain.begin(), kDomain.end());
  data.push_back(0);
  data.insert(data.end(), lot.device.begin(), lot.device.end());
  PutU64(data, lot.n);
  data.insert(data.end(), bidder.begin(), bidder.end());
  Bytes secret = Secret(amount, nonce);
  data.insert(data.end(), secret.begin(), secret.end());
  return crypto::Sha256(data);
}

bool Verifies(const Opening& opening, const RecordId& lot, const DeviceId& bidder) {
  return Commit(lot, bidder, opening.amount, opening.nonce) == opening.commitment;
}

Result<std::string> Seal(const RecordId& lot, const DeviceId& bidder,
                         const crypto::PublicKey& auctioneer, const crypto::PublicKey& bidder_key,
                         const Money& amount, Random& rng) {
  if (amount.currency.empty() || amount.currency.size() > kMaxCurrency) {
    return InvalidArgument("a sealed bid's currency has 1 to 16 bytes", "amount");
  }
  std::array<uint8_t, kNonceSize> nonce{};
  rng.Fill(nonce);
  Bytes secret = Secret(amount, nonce);
  Bid bid;
  bid.commitment = Commit(lot, bidder, amount, nonce);
  GROVE_ASSIGN_OR_RETURN(bid.to_auctioneer, crypto::SealTo(auctioneer, secret, rng));
  GROVE_ASSIGN_OR_RETURN(bid.to_bidder, crypto::SealTo(bidder_key, secret, rng));
  std::fill(secret.begin(), secret.end(), 0);
  return EncodeBid(bid);
}

std::optional<Opening> Open(const Bid& bid, const crypto::AgreementKey& me, const RecordId& lot,
                            const DeviceId& bidder) {
  for (const Bytes* box : {&bid.to_auctioneer, &bid.to_bidder}) {
    auto secret = crypto::OpenSealed(me, *box);
    if (!secret.ok()) continue;
    std::optional<Opening> o = ParseSecret(*secret);
    std::fill(secret->begin(), secret->end(), 0);
    if (!o) continue;
    o->commitment = bid.commitment;
    if (Verifies(*o, lot, bidder)) return o;
  }
  return std::nullopt;
}

std::string EncodeBid(const Bid& bid) {
  Bytes out(bid.commitment.begin(), bid.commitment.end());
  out.push_back(static_cast<uint8_t>(bid.to_auctioneer.size() >> 8));
  out.push_back(static_cast<uint8_t>(bid.to_auctioneer.size()));
  out.insert(out.end(), bid.to_auctioneer.begin(), bid.to_auctioneer.end());
  out.insert(out.end(), bid.to_bidder.begin(), bid.to_bidder.end());
  return Base64UrlEncode(out);
}

std::optional<Bid> ParseBid(std::string_view text) {
  auto raw = Base64UrlDecode(text);
  if (!raw || raw->size() < 34) return std::nullopt;
  const size_t len_a = (size_t{(*raw)[32]} << 8) | (*raw)[33];
  if (raw->size() < 34 + len_a) return std::nullopt;
  const size_t len_b = raw->size() - 34 - len_a;
  if (!BoxSizeOk(len_a) || !BoxSizeOk(len_b)) return std::nullopt;
  Bid bid;
  std::copy_n(raw->begin(), 32, bid.commitment.begin());
  bid.to_auctioneer.assign(raw->begin() + 34,
                           raw->begin() + 34 + static_cast<std::ptrdiff_t>(len_a));
  bid.to_bidder.assign(raw->begin() + 34 + static_cast<std::ptrdiff_t>(len_a), raw->end());
  return bid;
}

std::string EncodeOpening(const Opening& opening) {
  Bytes out(opening.commitment.begin(), opening.commitment.end());
  Bytes secret = Secret(opening.amount, opening.nonce);
  out.insert(out.end(), secret.begin(), secret.end());
  return Base64UrlEncode(out);
}

std::optional<Opening> ParseOpening(std::string_view text) {
  auto raw = Base64UrlDecode(text);
  if (!raw || raw->size() < 32) return std::nullopt;
  std::optional<Opening> o = ParseSecret(ByteView(*raw).subspan(32));
  if (!o) return std::nullopt;
  std::copy_n(raw->begin(), 32, o->commitment.begin());
  return o;
}

}  // namespace grove::replica::sealed
