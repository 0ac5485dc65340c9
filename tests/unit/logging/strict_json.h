// A strict RFC 8259 JSON reader for checking log lines: rejects anything a lenient parser might let
// through (raw control characters or ill-formed UTF-8 in strings, lone surrogates, leading zeros,
// trailing commas, trailing content). Objects keep their members in order, duplicates included.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace grove::testing {

struct StrictJson {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = Kind::kNull;
  bool boolean = false;
  std::string number;  // the number's text
  std::string string;  // decoded, UTF-8
  std::vector<StrictJson> array;
  std::vector<std::pair<std::string, StrictJson>> object;

  // The first member named `key`, nullptr when absent or not an object.
  const StrictJson* Find(std::string_view key) const {
    for (const auto& [k, v] : object) {
      if (k == key) return &v;
    }
    return nullptr;
  }

  // The value in `text`, or nullopt with `error` set.
  static std::optional<StrictJson> Parse(std::string_view text, std::string* error = nullptr) {
    Reader r{text, 0, {}};
    std::optional<StrictJson> v = r.Value(0);
    if (v) {
      r.Space();
      if (r.pos != text.size()) v = r.Fail("trailing content");
    }
    if (!v && error) *error = r.error + " at byte " + std::to_string(r.pos);
    return v;
  }

 private:
  struct Reader {
    std::string_view text;
    size_t pos = 0;
    std::string error;

    std::nullopt_t Fail(std::string why) {
      if (error.empty()) error = std::move(why);
      return std::nullopt;
    }
    bool AtEnd() const { return pos >= text.size(); }
    unsigned char Peek() const { return AtEnd() ? 0 : static_cast<unsigned char>(text[pos]); }
    void Space() {
      while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r')) {
        ++pos;
      }
    }
    bool Literal(std::string_view word) {
      if (text.substr(pos, word.size()) != word) return false;
      pos += word.size();
      return true;
    }

    std::optional<StrictJson> Value(int depth) {
      if (depth > 64) return Fail("too deep");
      Space();
      StrictJson v;
      const unsigned char c = Peek();
      if (c == '{') {
        ++pos;
        v.kind = Kind::kObject;
        Space();
        if (Peek() == '}') {
          ++pos;
          return v;
        }
        while (true) {
          Space();
          if (Peek() != '"') return Fail("expected a member name");
          std::optional<std::string> key = String();
          if (!key) return std::nullopt;
          Space();
          if (Peek() != ':') return Fail("expected ':'");
          ++pos;
          std::optional<StrictJson> member = Value(depth + 1);
          if (!member) return std::nullopt;
          v.object.emplace_back(std::move(*key), std::move(*member));
          Space();
          if (Peek() == ',') {
            ++pos;
            continue;
          }
          if (Peek() == '}') {
            ++pos;
            return v;
          }
          return Fail("expected ',' or '}'");
        }
      }
      if (c == '[') {
        ++pos;
        v.kind = Kind::kArray;
        Space();
        if (Peek() == ']') {
          ++pos;
          return v;
        }
        while (true) {
          std::optional<StrictJson> element = Value(depth + 1);
          if (!element) return std::nullopt;
          v.array.push_back(std::move(*element));
          Space();
          if (Peek() == ',') {
            ++pos;
            continue;
          }
          if (Peek() == ']') {
            ++pos;
            return v;
          }
          return Fail("expected ',' or ']'");
        }
      }
      if (c == '"') {
        std::optional<std::string> s = String();
        if (!s) return std::nullopt;
        v.kind = Kind::kString;
        v.string = std::move(*s);
        return v;
      }
      if (Literal("true")) {
        v.kind = Kind::kBool;
        v.boolean = true;
        return v;
      }
      if (Literal("false")) {
        v.kind = Kind::kBool;
        return v;
      }
      if (Literal("null")) return v;
      if (c == '-' || (c >= '0' && c <= '9')) return Number();
      return Fail("unexpected character");
    }

    std::optional<StrictJson> Number() {
      const size_t start = pos;
      auto digits = [&] {
        size_t n = 0;
        while (Peek() >= '0' && Peek() <= '9') ++pos, ++n;
        return n;
      };
      if (Peek() == '-') ++pos;
      if (Peek() == '0') {
        ++pos;
      } else if (digits() == 0) {
        return Fail("bad number");
      }
      if (Peek() == '.') {
        ++pos;
        if (digits() == 0) return Fail("bad fraction");
      }
      if (Peek() == 'e' || Peek() == 'E') {
        ++pos;
        if (Peek() == '+' || Peek() == '-') ++pos;
        if (digits() == 0) return Fail("bad exponent");
      }
      StrictJson v;
      v.kind = Kind::kNumber;
      v.number = std::string(text.substr(start, pos - start));
      return v;
    }

    static void PutUtf8(std::string& out, uint32_t cp) {
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

    std::optional<uint32_t> Hex4() {
      if (pos + 4 > text.size()) return std::nullopt;
      uint32_t v = 0;
      for (int i = 0; i < 4; ++i) {
        const char h = text[pos++];
        v <<= 4;
        if (h >= '0' && h <= '9') {
          v |= h - '0';
        } else if (h >= 'a' && h <= 'f') {
          v |= h - 'a' + 10;
        } else if (h >= 'A' && h <= 'F') {
          v |= h - 'A' + 10;
        } else {
          return std::nullopt;
        }
      }
      return v;
    }

    // Decodes one UTF-8 scalar value (strictly: shortest form, no surrogates, <= U+10FFFF).
    std::optional<uint32_t> Utf8() {
      const unsigned char c = Peek();
      int extra = 0;
      uint32_t cp = 0;
      if (c >= 0xC0 && c < 0xE0) {
        extra = 1;
        cp = c & 0x1F;
      } else if (c >= 0xE0 && c < 0xF0) {
        extra = 2;
        cp = c & 0x0F;
      } else if (c >= 0xF0 && c < 0xF8) {
        extra = 3;
        cp = c & 0x07;
      } else {
        return std::nullopt;
      }
      ++pos;
      for (int i = 0; i < extra; ++i) {
        if ((Peek() & 0xC0) != 0x80) return std::nullopt;
        cp = (cp << 6) | (Peek() & 0x3F);
        ++pos;
      }
      static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
      if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return std::nullopt;
      }
      return cp;
    }

    std::optional<std::string> String() {
      ++pos;  // the opening quote
      std::string out;
      while (true) {
        if (AtEnd()) return Fail("unterminated string");
        const unsigned char c = Peek();
        if (c == '"') {
          ++pos;
          return out;
        }
        if (c < 0x20) return Fail("raw control character in a string");
        if (c >= 0x80) {
          std::optional<uint32_t> cp = Utf8();
          if (!cp) return Fail("ill-formed UTF-8 in a string");
          PutUtf8(out, *cp);
          continue;
        }
        ++pos;
        if (c != '\\') {
          out += static_cast<char>(c);
          continue;
        }
        const char e = static_cast<char>(Peek());
        ++pos;
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
            std::optional<uint32_t> u = Hex4();
            if (!u) return Fail("bad \\u escape");
            uint32_t cp = *u;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return Fail("lone low surrogate");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (!Literal("\\u")) return Fail("lone high surrogate");
              std::optional<uint32_t> low = Hex4();
              if (!low || *low < 0xDC00 || *low > 0xDFFF) return Fail("bad low surrogate");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (*low - 0xDC00);
            }
            PutUtf8(out, cp);
            break;
          }
          default:
            return Fail("bad escape");
        }
      }
    }
  };
};

}  // namespace grove::testing
