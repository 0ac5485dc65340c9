// How a record field's Value is written in the API's JSON, both ways.
//
//   Value               JSON
//   null                null
//   int                 integer                              42
//   text                string                               "red"
//   flag                true / false
//   Money               {"minor": <int>, "currency": "EUR"}  {"minor": 1250, "currency": "EUR"}
//   blob                {"blob_base64": "<RFC 4648 base64>"}
//   record reference    {"ref": "<record id text>"}          (responses only, for now)
//
// Requests never carry floating point: a fraction or an exponent is refused, naming the field,
// because money and quantities are integers in minor units. A reference in a request is refused
// for now: its id text names the device by a prefix that only the workspace can resolve, so the
// backend would have to take it as text first (see backend.h); until it does, saying so beats
// storing a string that looks like a reference.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "api/json.h"
#include "common/bytes.h"
#include "common/status.h"
#include "replica/value.h"

namespace grove::api {

Json ValueToJson(const replica::Value& value);

// The Value that `json` stands for in a request. `field` names it in errors ("fields.price"),
// which are InvalidArgument with where = field (or a member of it: "fields.price.currency").
Result<replica::Value> ValueFromJson(const Json& json, const std::string& field);

// ISO 4217 shape: three ASCII capital letters.
bool IsCurrencyCode(std::string_view code);

// Standard base64 with padding, for blobs.
std::string Base64Encode(ByteView data);
std::optional<Bytes> Base64Decode(std::string_view text);

}  // namespace grove::api
