// How a record field's Value is written in the API's JSON, both ways.
//
//   Value               JSON
//   null                null
//   int                 integer                              42
//   text                string                               "red"
//   flag                true / false
//   Money               {"minor": <int>, "currency": "EUR"}  {"minor": 1250, "currency": "EUR"}
//   blob                {"blob_base64": "<RFC 4648 base64>"}
//   record reference    {"ref": "<record id text>"}
//
// Requests never carry floating point: a fraction or an exponent is refused, naming the field,
// because money and quantities are integers in minor units.
//
// A field of a tool type has a kind (docs/tools.md), and some kinds are written differently:
//
//   kind        request                                   Value              response
//   reference   "<record id text>" or {"ref": "<id>"}     text (the backend  {"ref": "<id>"}
//                                                         resolves it)
//   member      "<device id text>" (52 base32 chars)      blob of 32 bytes   "<device id text>"
//   date        "YYYY-MM-DD"                              text               "YYYY-MM-DD"
//   time        integer milliseconds since 1970 UTC       int                integer
//
// A reference outside a tool's reference field is refused: its id text names the device by a
// prefix that only the workspace can resolve, and only a reference field tells the backend to.
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

// As ValueFromJson, for a field of kind `kind` (a tools::FieldKindName; "" for a field no tool
// declares, which is read as ValueFromJson reads it).
Result<replica::Value> ValueFromJsonAs(const Json& json, const std::string& field,
                                       std::string_view kind);
// As ValueToJson, for a field of kind `kind` ("" for none).
Json ValueToJsonAs(const replica::Value& value, std::string_view kind);

// Whether `json` could be a value of some kind: the checks that need no kind (no floating
// point, well-formed money and blobs, no arrays), so a request can be refused before the
// backend is asked about kinds.
Status CheckValueShape(const Json& json, const std::string& field);

// One or more ASCII decimal digits, nothing else.
bool AllDigits(std::string_view text);
// Decimal digits (AllDigits) to an int64 magnitude; nullopt when it overflows.
std::optional<int64_t> Digits(std::string_view digits);

// "YYYY-MM-DD", a day of the proleptic Gregorian calendar.
bool IsDate(std::string_view text);

// "12.50EUR", "-3 EUR", "7EUR": whole units and up to 2 decimals, then a currency. nullopt when
// `text` is not shaped like money; InvalidArgument when it is but is not exact (3 decimals) or
// out of range.
Result<std::optional<replica::Money>> ParseMoneyText(std::string_view text);

// ISO 4217 shape: three ASCII capital letters.
bool IsCurrencyCode(std::string_view code);

// Standard base64 with padding, for blobs.
std::string Base64Encode(ByteView data);
std::optional<Bytes> Base64Decode(std::string_view text);

}  // namespace grove::api
