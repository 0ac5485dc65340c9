// A small JSON reader for checking `grove ... --json` output in tests: objects, arrays, strings
// (with the escapes the tool writes), integers, true/false/null. Not a general parser: it rejects
// fractions, exponents and \u escapes, none of which the tool prints for these commands.
#pragma once

#include <cctype>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace grove::testing {

struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = Kind::kNull;
  bool boolean = false;
  int64_t number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  // Member `key` of an object; a null Json when absent (so chains fail in the assertion, not here).
  const Json& operator[](const std::string& key) const {
    static const Json kNull;
    auto it = object.find(key);
    return it == object.end() ? kNull : it->second;
  }
  bool is_null() const { return kind == Kind::kNull; }
};

class JsonReader {
 public:
  // The value `text` holds, nullopt if it is not one JSON value (surrounding space allowed).
  static std::optional<Json> Parse(std::string_view text) {
    JsonReader reader(text);
    std::optional<Json> value = reader.Value();
    reader.Space();
    if (!value || reader.pos_ != text.size()) return std::nullopt;
    return value;
  }

 private:
  explicit JsonReader(std::string_view text) : text_(text) {}

  void Space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool Eat(char c) {
    Space();
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  bool Word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  std::optional<std::string> String() {
    if (!Eat('"')) return std::nullopt;
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = text_[pos_++];
      if (c == '\\') {
        if (pos_ >= text_.size()) return std::nullopt;
        const char e = text_[pos_++];
        if (e == 'n') {
          c = '\n';
        } else if (e == 't') {
          c = '\t';
        } else if (e == 'r') {
          c = '\r';
        } else if (e == '"' || e == '\\' || e == '/') {
          c = e;
        } else {
          return std::nullopt;
        }
      }
      out += c;
    }
    if (pos_ >= text_.size()) return std::nullopt;
    ++pos_;
    return out;
  }

  std::optional<Json> Value() {
    Space();
    if (pos_ >= text_.size()) return std::nullopt;
    Json v;
    const char c = text_[pos_];
    if (c == '{') {
      v.kind = Json::Kind::kObject;
      ++pos_;
      if (Eat('}')) return v;
      do {
        auto key = String();
        if (!key || !Eat(':')) return std::nullopt;
        auto member = Value();
        if (!member) return std::nullopt;
        v.object[*key] = std::move(*member);
      } while (Eat(','));
      if (!Eat('}')) return std::nullopt;
    } else if (c == '[') {
      v.kind = Json::Kind::kArray;
      ++pos_;
      if (Eat(']')) return v;
      do {
        auto item = Value();
        if (!item) return std::nullopt;
        v.array.push_back(std::move(*item));
      } while (Eat(','));
      if (!Eat(']')) return std::nullopt;
    } else if (c == '"') {
      auto s = String();
      if (!s) return std::nullopt;
      v.kind = Json::Kind::kString;
      v.string = std::move(*s);
    } else if (Word("true") || Word("false")) {
      v.kind = Json::Kind::kBool;
      v.boolean = c == 't';
    } else if (Word("null")) {
      v.kind = Json::Kind::kNull;
    } else {
      const size_t start = pos_;
      if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      if (pos_ == start || (pos_ == start + 1 && text_[start] == '-')) return std::nullopt;
      v.kind = Json::Kind::kNumber;
      v.number = std::stoll(std::string(text_.substr(start, pos_ - start)));
    }
    return v;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace grove::testing
