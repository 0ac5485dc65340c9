// api::Json — the JSON documents of the local HTTP API: a small value type, a strict parser and a
// compact writer, shared by the server (services/api) and the `grove` CLI that calls it.
//
// Why not Poco::JSON: requests must be refused precisely (the byte offset of a syntax error, an
// integer that does not fit 64 bits, a fraction where an integer was meant, a duplicate key) and
// bounded (nesting depth), and the reply must keep the server's member order. Poco's parser turns
// numbers into doubles and reports neither offsets nor duplicates.
//
// Numbers: a literal without fraction or exponent that fits int64 is an integer; any other number
// (1.5, 1e3, 99999999999999999999) is kept as its literal text (type kNumber) so the caller can
// refuse it by name — the API never takes floating point. Strings are UTF-8; the parser rejects
// invalid UTF-8 and decodes \u escapes (surrogate pairs included). Objects keep their members in
// order; the parser rejects a key given twice.
//
// Errors: ParseJson returns InvalidArgument("malformed JSON: ...", "byte N") with N the 0-based
// offset of the first byte it could not accept.
//
// Thread-safety: Json is a plain value; share it read-only, copy it freely.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace grove::api {

class Json {
 public:
  enum class Type : uint8_t { kNull, kBool, kInt, kNumber, kString, kArray, kObject };

  Json() = default;                                                   // null
  Json(std::nullptr_t) {}                                             // NOLINT
  Json(bool b) : type_(Type::kBool), bool_(b) {}                      // NOLINT
  Json(int64_t i) : type_(Type::kInt), int_(i) {}                     // NOLINT
  Json(int i) : type_(Type::kInt), int_(i) {}                         // NOLINT
  Json(uint64_t u);                                                   // NOLINT
  Json(std::string s) : type_(Type::kString), text_(std::move(s)) {}  // NOLINT
  Json(std::string_view s) : type_(Type::kString), text_(s) {}        // NOLINT
  Json(const char* s) : type_(Type::kString), text_(s) {}             // NOLINT

  static Json Array() { return Json(Type::kArray); }
  static Json Object() { return Json(Type::kObject); }
  // A non-integer number, kept exactly as written ("1.5", "1e3").
  static Json Number(std::string literal);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // REQUIRES: the matching type.
  bool boolean() const { return bool_; }
  int64_t integer() const { return int_; }
  // The string, or the literal of a kNumber.
  const std::string& text() const { return text_; }
  const std::vector<Json>& items() const { return items_; }
  const std::vector<std::pair<std::string, Json>>& members() const { return members_; }

  // Member `key` of an object, nullptr when absent (or when this is not an object).
  const Json* Find(std::string_view key) const;
  // Appends to an array. REQUIRES: is_array().
  Json& Add(Json item);
  // Sets member `key` of an object, replacing an existing one in place. REQUIRES: is_object().
  Json& Set(std::string_view key, Json value);

  // Compact text: no spaces, members in order, non-ASCII UTF-8 as is, invalid UTF-8 in strings
  // replaced by U+FFFD so the output is always valid JSON.
  std::string Dump() const;
  void DumpTo(std::string& out) const;

  // A short name of the type for messages: "a string", "an integer", "an object", ...
  static const char* TypeName(Type type);

 private:
  explicit Json(Type type) : type_(type) {}

  Type type_ = Type::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  std::string text_;
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> members_;
};

constexpr int kMaxJsonDepth = 64;

// Parses one JSON value (surrounding whitespace allowed). InvalidArgument with where "byte N".
Result<Json> ParseJson(std::string_view text, int max_depth = kMaxJsonDepth);

// `text` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view text);

}  // namespace grove::api
