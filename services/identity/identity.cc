#include "identity/identity.h"

#include "grove/v1/wire.pb.h"

namespace grove::identity {

Result<Identity> Identity::Create(std::string name, Random& rng, Clock& clock) {
  GROVE_RETURN_IF_ERROR(CheckName(name));
  crypto::SigningKey sign = crypto::SigningKey::Generate(rng);
  crypto::AgreementKey agree = crypto::AgreementKey::Generate(rng);
  return FromKeys(std::move(name), clock.NowMillis(), std::move(sign), std::move(agree));
}

Result<Identity> Identity::FromKeys(std::string name, uint64_t created_ms, crypto::SigningKey sign,
                                    crypto::AgreementKey agree) {
  wire::v1::CardBody body;
  body.set_format(kCardFormat);
  body.set_name(std::move(name));
  body.set_sign_key(ToString(sign.public_key()));
  body.set_agree_key(ToString(agree.public_key()));
  body.set_created_ms(created_ms);
  wire::v1::Card card;
  // Fields serialize in number order and Ed25519 is deterministic, so the same keys, name and
  // time always give the same card bytes: Load can rebuild the card instead of storing it.
  body.SerializeToString(card.mutable_body());
  const crypto::Signature signature = sign.Sign(AsBytes(card.body()));
  card.set_signature(ToString(signature));
  // Decoding our own card runs every check a peer will run, so a card we hand out is one that
  // peers accept.
  GROVE_ASSIGN_OR_RETURN(CardInfo info, DecodeCard(AsBytes(card.SerializeAsString())));
  return Identity(std::move(sign), std::move(agree), std::move(info));
}

}  // namespace grove::identity
