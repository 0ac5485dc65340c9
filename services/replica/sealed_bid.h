// Sealed bids (docs/decisions/0007-sealed-bids.md): a bid on an auction lot that stays hidden
// from the other members until the auction closes, while every peer can still check it.
//
// A sealed bid, as appended to a lot's `sealed_bids` list, is text (base64url, unpadded) of
//   commitment (32) || len(box_a) (2, big-endian) || box_a || box_b
// where commitment = SHA-256(kDomain || lot id || bidder device || amount || nonce) (see Commit)
// and box_a / box_b are crypto::SealTo boxes of the *secret* (amount and a 32-byte random nonce)
// to the auctioneer's and to the bidder's own X25519 key. The bidder's own box lets any of its
// devices publish the opening later without keeping a secret outside the replica.
//
// An opening, as appended to a lot's `openings` list, is text (base64url) of
//   commitment (32) || secret
// and *opens* a sealed bid when the commitments are equal and Commit() over the bid's lot, its
// bidder (the device that appended it) and the opening's secret gives that commitment. Anyone
// may check that; only the holders of the boxes' keys can produce it before the bidder or the
// auctioneer publishes it.
//
// secret = amount minor units (8, big-endian two's complement) || len(currency) (1) ||
//          currency (1..16 bytes) || nonce (32)
//
// Pure functions over their arguments (randomness is passed in); thread-safe. Parsers take text
// from peers: anything malformed is nullopt, never a crash.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/random.h"
#include "common/status.h"
#include "crypto/crypto.h"
#include "replica/value.h"

namespace grove::replica::sealed {

// Domain separation of the commitment hash: a commitment never equals another Grove hash.
inline constexpr std::string_view kDomain = "grove sealed bid v1";
inline constexpr size_t kNonceSize = 32;
inline constexpr size_t kMaxCurrency = 16;

struct Opening {
  Hash32 commitment{};
  Money amount;
  std::array<uint8_t, kNonceSize> nonce{};
};

struct Bid {
  Hash32 commitment{};
  Bytes to_auctioneer;  // box_a
  Bytes to_bidder;      // box_b
};

// SHA-256(kDomain || 0x00 || lot device (32) || lot n (8, BE) || bidder (32) || secret).
Hash32 Commit(const RecordId& lot, const DeviceId& bidder, const Money& amount,
              const std::array<uint8_t, kNonceSize>& nonce);

// Whether `opening` opens a bid with that commitment made by `bidder` on `lot`.
bool Verifies(const Opening& opening, const RecordId& lot, const DeviceId& bidder);

// A fresh sealed bid of `amount` by `bidder` on `lot`, boxed to both keys, as text.
// InvalidArgument for a currency of 0 or more than kMaxCurrency bytes or a small-order key.
Result<std::string> Seal(const RecordId& lot, const DeviceId& bidder,
                         const crypto::PublicKey& auctioneer, const crypto::PublicKey& bidder_key,
                         const Money& amount, Random& rng);

// Opens whichever of the bid's boxes `me` can open and checks the secret against the bid's
// commitment. nullopt when neither box opens for `me`, or when what is inside does not match
// the commitment (a bidder who sealed garbage: decision 0007 says how such a bid is handled).
std::optional<Opening> Open(const Bid& bid, const crypto::AgreementKey& me, const RecordId& lot,
                            const DeviceId& bidder);

std::string EncodeBid(const Bid& bid);
std::optional<Bid> ParseBid(std::string_view text);
std::string EncodeOpening(const Opening& opening);
std::optional<Opening> ParseOpening(std::string_view text);

}  // namespace grove::replica::sealed
