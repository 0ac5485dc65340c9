#include "common/bytes.h"

#include <gtest/gtest.h>

#include "common/random.h"
#include "common/status.h"

namespace grove {
namespace {

TEST(Bytes, HexRoundTripAndRejectsGarbage) {
  Bytes data = {0x00, 0x01, 0xab, 0xff};
  EXPECT_EQ(HexEncode(data), "0001abff");
  EXPECT_EQ(HexDecode("0001ABff").value(), data);
  EXPECT_FALSE(HexDecode("abc").has_value());
  EXPECT_FALSE(HexDecode("zz").has_value());
}

TEST(Bytes, Base32AndBase64UrlRoundTripEveryLength) {
  SeededRandom rng(7);
  for (size_t n = 0; n < 70; ++n) {
    Bytes data(n);
    rng.Fill(data);
    auto b32 = Base32Decode(Base32Encode(data));
    ASSERT_TRUE(b32.has_value()) << n;
    EXPECT_EQ(*b32, data);
    auto b64 = Base64UrlDecode(Base64UrlEncode(data));
    ASSERT_TRUE(b64.has_value()) << n;
    EXPECT_EQ(*b64, data);
  }
  EXPECT_EQ(Base32Encode(AsBytes("foobar")), "mzxw6ytboi");
  EXPECT_EQ(Base64UrlEncode(AsBytes("foob")), "Zm9vYg");
  EXPECT_FALSE(Base64UrlDecode("Zm9vYh").has_value()) << "non-zero padding bits must be refused";
  EXPECT_FALSE(Base32Decode("mzxw6ytboi!").has_value());
}

TEST(Bytes, VarintRoundTripAndTruncation) {
  for (uint64_t v : std::initializer_list<uint64_t>{0, 1, 127, 128, 300, 1ull << 35, UINT64_MAX}) {
    Bytes out;
    PutVarint(out, v);
    size_t pos = 0;
    EXPECT_EQ(GetVarint(out, pos), v);
    EXPECT_EQ(pos, out.size());
    if (out.size() > 1) {
      Bytes cut(out.begin(), out.end() - 1);
      pos = 0;
      EXPECT_FALSE(GetVarint(cut, pos).has_value());
    }
  }
  Bytes overlong(11, 0x80);
  size_t pos = 0;
  EXPECT_FALSE(GetVarint(overlong, pos).has_value());
}

TEST(Status, CarriesCodeMessageAndWhere) {
  Status s = InvalidArgument("seq must be 1", "alice/3");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.ToString(), "InvalidArgument: seq must be 1 (at alice/3)");
  EXPECT_EQ(s.Annotate("applying").message(), "applying: seq must be 1");
  Result<int> r = NotFound("no such record");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  Result<int> good = 5;
  EXPECT_TRUE(good.ok());
  EXPECT_EQ(*good, 5);
}

TEST(SeededRandom, SameSeedSameStream) {
  SeededRandom a(42), b(42), c(43);
  uint64_t x = a.NextU64();
  EXPECT_EQ(x, b.NextU64());
  EXPECT_NE(x, c.NextU64());
  for (int i = 0; i < 1000; ++i) EXPECT_LT(a.Uniform(10), 10u);
}

}  // namespace
}  // namespace grove

#include "common/utf8.h"

namespace grove {
namespace {

TEST(Utf8, JsonStringsAreValidForAnyBytes) {
  std::string out;
  AppendJsonString(out, std::string("a\"b\\c\nd\x01\x7f \xC3\xA9 \xFF\xFE end"));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\nd\\u0001\\u007f \xC3\xA9 \\ufffd\\ufffd end\"");
  EXPECT_EQ(SanitizeUtf8("ok \xC3\xA9 \xE2\x82"), "ok \xC3\xA9 \xEF\xBF\xBD");
  size_t bad = 0;
  EXPECT_EQ(Utf8Sequence("\xF0\x9F\x8C\xB3", 0, bad), 4u);  // a tree
  EXPECT_EQ(Utf8Sequence("\xED\xA0\x80", 0, bad), 0u) << "surrogates are ill-formed";
}

}  // namespace
}  // namespace grove
