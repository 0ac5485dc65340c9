#include "api/json.h"

#include "common/utf8.h"

#include <cstdio>
#include <limits>

namespace grove::api {
namespace {

// Length of the valid UTF-8 sequence at s[i], 0 if the bytes there are not one (overlong forms,
// surrogates and code points above U+10FFFF are invalid).
size_t Utf8Length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2, cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

void QuoteTo(std::string_view text, std::string& out) { grove::AppendJsonString(out, text); }

class Parser {
 public:
  Parser(std::string_view text, int max_depth) : text_(text), max_depth_(max_depth) {}

  Result<Json> Document() {
    Json value;
    GROVE_RETURN_IF_ERROR(Value(value, 0));
    Space();
    if (pos_ != text_.size()) return Error("unexpected text after the JSON value");
    return value;
  }

 private:
  Status Error(const std::string& what) const { return ErrorAt(what, pos_); }
  Status ErrorAt(const std::string& what, size_t at) const {
    return InvalidArgument("malformed JSON: " + what + " at byte " + std::to_string(at),
                           "byte " + std::to_string(at));
  }

  void Space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Status Value(Json& out, int depth) {
    Space();
    if (pos_ >= text_.size()) return Error(depth == 0 ? "empty document" : "missing value");
    const char c = text_[pos_];
    if (c == '{' || c == '[') {
      if (depth >= max_depth_) {
        return Error("nesting deeper than " + std::to_string(max_depth_) + " levels");
      }
      return c == '{' ? Object(out, depth) : Array(out, depth);
    }
    if (c == '"') {
      std::string s;
      GROVE_RETURN_IF_ERROR(String(s));
      out = Json(std::move(s));
      return Status::Ok();
    }
    if (Literal("true")) {
      out = Json(true);
      return Status::Ok();
    }
    if (Literal("false")) {
      out = Json(false);
      return Status::Ok();
    }
    if (Literal("null")) {
      out = Json();
      return Status::Ok();
    }
    if (c == '-' || (c >= '0' && c <= '9')) return Number(out);
    return Error("unexpected character '" + std::string(1, c) + "'");
  }

  Status Object(Json& out, int depth) {
    out = Json::Object();
    ++pos_;  // '{'
    Space();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return Status::Ok();
    }
    for (;;) {
      Space();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Error("expected a member name");
      const size_t key_at = pos_;
      std::string key;
      GROVE_RETURN_IF_ERROR(String(key));
      if (out.Find(key) != nullptr) return ErrorAt("member \"" + key + "\" given twice", key_at);
      Space();
      if (pos_ >= text_.size() || text_[pos_] != ':') return Error("expected ':'");
      ++pos_;
      Json member;
      GROVE_RETURN_IF_ERROR(Value(member, depth + 1));
      out.Set(key, std::move(member));
      Space();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return Status::Ok();
      }
      return Error("expected ',' or '}'");
    }
  }

  Status Array(Json& out, int depth) {
    out = Json::Array();
    ++pos_;  // '['
    Space();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return Status::Ok();
    }
    for (;;) {
      Json item;
      GROVE_RETURN_IF_ERROR(Value(item, depth + 1));
      out.Add(std::move(item));
      Space();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return Status::Ok();
      }
      return Error("expected ',' or ']'");
    }
  }

  Status Hex4(uint32_t& out) {
    out = 0;
    for (int k = 0; k < 4; ++k) {
      if (pos_ >= text_.size()) return Error("unterminated \\u escape");
      const char h = text_[pos_];
      uint32_t digit = 0;
      if (h >= '0' && h <= '9') {
        digit = static_cast<uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        digit = static_cast<uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        digit = static_cast<uint32_t>(h - 'A' + 10);
      } else {
        return Error("bad hex digit in \\u escape");
      }
      out = out * 16 + digit;
      ++pos_;
    }
    return Status::Ok();
  }

  Status String(std::string& out) {
    ++pos_;  // opening quote
    for (;;) {
      if (pos_ >= text_.size()) return Error("unterminated string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return Status::Ok();
      }
      if (static_cast<unsigned char>(c) < 0x20) return Error("control character in a string");
      if (static_cast<unsigned char>(c) >= 0x80) {
        const size_t n = Utf8Length(text_, pos_);
        if (n == 0) return Error("invalid UTF-8");
        out.append(text_.substr(pos_, n));
        pos_ += n;
        continue;
      }
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      const size_t escape_at = pos_;
      ++pos_;
      if (pos_ >= text_.size()) return Error("unterminated string");
      const char e = text_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = 0;
          GROVE_RETURN_IF_ERROR(Hex4(cp));
          if (cp >= 0xDC00 && cp <= 0xDFFF) return ErrorAt("lone low surrogate", escape_at);
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (!Literal("\\u")) return ErrorAt("lone high surrogate", escape_at);
            uint32_t low = 0;
            GROVE_RETURN_IF_ERROR(Hex4(low));
            if (low < 0xDC00 || low > 0xDFFF) return ErrorAt("lone high surrogate", escape_at);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return ErrorAt("unknown escape \\" + std::string(1, e), escape_at);
      }
    }
  }

  Status Number(Json& out) {
    const size_t start = pos_;
    const auto digit = [&] {
      return pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9';
    };
    if (text_[pos_] == '-') ++pos_;
    if (!digit()) return Error("expected a digit");
    if (text_[pos_] == '0') {
      ++pos_;
      if (digit()) return Error("leading zero in a number");
    } else {
      while (digit()) ++pos_;
    }
    bool integral = true;
    if (pos_ < text_.size() && text_[pos_] == '.') {
      integral = false;
      ++pos_;
      if (!digit()) return Error("expected a digit after '.'");
      while (digit()) ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digit()) return Error("expected a digit in the exponent");
      while (digit()) ++pos_;
    }
    const std::string_view literal = text_.substr(start, pos_ - start);
    if (integral) {
      // Exact: accumulate as a negative number so INT64_MIN fits; overflow keeps the literal.
      const bool negative = literal[0] == '-';
      int64_t value = 0;
      bool overflow = false;
      for (size_t k = negative ? 1 : 0; k < literal.size(); ++k) {
        const int d = literal[k] - '0';
        if (value < (std::numeric_limits<int64_t>::min() + d) / 10) {
          overflow = true;
          break;
        }
        value = value * 10 - d;
      }
      if (!overflow && !negative && value == std::numeric_limits<int64_t>::min()) overflow = true;
      if (!overflow) {
        out = Json(negative ? value : -value);
        return Status::Ok();
      }
    }
    out = Json::Number(std::string(literal));
    return Status::Ok();
  }

  std::string_view text_;
  int max_depth_;
  size_t pos_ = 0;
};

}  // namespace

Json::Json(uint64_t u) {
  if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    type_ = Type::kInt;
    int_ = static_cast<int64_t>(u);
  } else {
    type_ = Type::kNumber;
    text_ = std::to_string(u);
  }
}

Json Json::Number(std::string literal) {
  Json json(Type::kNumber);
  json.text_ = std::move(literal);
  return json;
}

const Json* Json::Find(std::string_view key) const {
  for (const auto& [name, value] : members_) {
    if (name == key) return &value;
  }
  return nullptr;
}

Json& Json::Add(Json item) {
  items_.push_back(std::move(item));
  return items_.back();
}

Json& Json::Set(std::string_view key, Json value) {
  for (auto& [name, existing] : members_) {
    if (name == key) {
      existing = std::move(value);
      return existing;
    }
  }
  members_.emplace_back(std::string(key), std::move(value));
  return members_.back().second;
}

void Json::DumpTo(std::string& out) const {
  switch (type_) {
    case Type::kNull:
      out += "null";
      return;
    case Type::kBool:
      out += bool_ ? "true" : "false";
      return;
    case Type::kInt:
      out += std::to_string(int_);
      return;
    case Type::kNumber:
      out += text_;
      return;
    case Type::kString:
      QuoteTo(text_, out);
      return;
    case Type::kArray:
      out += '[';
      for (size_t i = 0; i < items_.size(); ++i) {
        if (i > 0) out += ',';
        items_[i].DumpTo(out);
      }
      out += ']';
      return;
    case Type::kObject:
      out += '{';
      for (size_t i = 0; i < members_.size(); ++i) {
        if (i > 0) out += ',';
        QuoteTo(members_[i].first, out);
        out += ':';
        members_[i].second.DumpTo(out);
      }
      out += '}';
      return;
  }
}

std::string Json::Dump() const {
  std::string out;
  DumpTo(out);
  return out;
}

const char* Json::TypeName(Type type) {
  switch (type) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "a boolean";
    case Type::kInt:
      return "an integer";
    case Type::kNumber:
      return "a number that is not a 64-bit integer";
    case Type::kString:
      return "a string";
    case Type::kArray:
      return "an array";
    case Type::kObject:
      return "an object";
  }
  return "unknown";
}

Result<Json> ParseJson(std::string_view text, int max_depth) {
  return Parser(text, max_depth).Document();
}

std::string JsonQuote(std::string_view text) {
  std::string out;
  QuoteTo(text, out);
  return out;
}

}  // namespace grove::api
