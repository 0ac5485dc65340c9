// api::Json and the Value mapping: the strict parser's verdicts and offsets, the writer's output.
#include "api/json.h"

#include <gtest/gtest.h>

#include <limits>

#include "api/value_json.h"

namespace grove::api {
namespace {

std::string ErrorWhere(std::string_view text) {
  Result<Json> json = ParseJson(text);
  EXPECT_FALSE(json.ok()) << text;
  if (json.ok()) return "";
  EXPECT_EQ(json.status().code(), Code::kInvalidArgument);
  return json.status().where();
}

TEST(JsonTest, ParsesAndDumpsInOrder) {
  Result<Json> json = ParseJson(R"( {"b": [1, -2, true, false, null], "a": {"x": "y"}, "c": ""} )");
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ(json->Dump(), R"({"b":[1,-2,true,false,null],"a":{"x":"y"},"c":""})");
  EXPECT_EQ(json->Find("b")->items()[1].integer(), -2);
  EXPECT_EQ(json->Find("zz"), nullptr);
}

TEST(JsonTest, IntegersAreExactAndEverythingElseIsKeptAsText) {
  EXPECT_EQ(ParseJson("9223372036854775807")->integer(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(ParseJson("-9223372036854775808")->integer(), std::numeric_limits<int64_t>::min());
  for (const char* text :
       {"9223372036854775808", "-9223372036854775809", "1.5", "1e3", "-0.0", "2E-2"}) {
    Result<Json> json = ParseJson(text);
    ASSERT_TRUE(json.ok()) << text;
    EXPECT_TRUE(json->is_number()) << text;
    EXPECT_EQ(json->text(), text);
  }
  EXPECT_TRUE(ParseJson("0")->is_int());
  EXPECT_EQ(ErrorWhere("01"), "byte 1");
  EXPECT_EQ(ErrorWhere("-"), "byte 1");
  EXPECT_EQ(ErrorWhere("1."), "byte 2");
  EXPECT_EQ(ErrorWhere("+1"), "byte 0");
}

TEST(JsonTest, StringsDecodeEscapesAndRefuseBadUtf8) {
  Result<Json> json = ParseJson(R"("a\"\\\/\b\f\n\r\t\u00e9\ud83c\udf75")");
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ(json->text(), "a\"\\/\b\f\n\r\t\xC3\xA9\xF0\x9F\x8D\xB5");
  EXPECT_EQ(ErrorWhere(R"("\ud83c")"), "byte 1");
  EXPECT_EQ(ErrorWhere(R"("ab\udf75")"), "byte 3");
  EXPECT_EQ(ErrorWhere(R"("\x")"), "byte 1");
  EXPECT_EQ(ErrorWhere("\"a\nb\""), "byte 2");
  EXPECT_EQ(ErrorWhere("\"\xC0\xAF\""), "byte 1");      // overlong '/'
  EXPECT_EQ(ErrorWhere("\"\xED\xA0\x80\""), "byte 1");  // a surrogate in UTF-8
  EXPECT_EQ(ErrorWhere("\"abc"), "byte 4");
}

TEST(JsonTest, StructureErrorsGiveTheOffset) {
  EXPECT_EQ(ErrorWhere(""), "byte 0");
  EXPECT_EQ(ErrorWhere("   "), "byte 3");
  EXPECT_EQ(ErrorWhere("{\"a\":1,}"), "byte 7");
  EXPECT_EQ(ErrorWhere("[1 2]"), "byte 3");
  EXPECT_EQ(ErrorWhere("{\"a\" 1}"), "byte 5");
  EXPECT_EQ(ErrorWhere("{\"a\":1,\"a\":2}"), "byte 7");
  EXPECT_EQ(ErrorWhere("{} x"), "byte 3");
  EXPECT_EQ(ErrorWhere("tru"), "byte 0");
  EXPECT_EQ(ErrorWhere(std::string(65, '[') + std::string(65, ']')), "byte 64");
  EXPECT_TRUE(ParseJson(std::string(64, '[') + std::string(64, ']')).ok());
}

TEST(JsonTest, DumpEscapesAndRepairsInvalidUtf8) {
  Json json = Json::Object();
  json.Set("k", std::string("q\"\\\n\x01 \xC3\xA9 \xFF"));
  json.Set("n", Json(uint64_t{18446744073709551615u}));
  EXPECT_EQ(json.Dump(),
            "{\"k\":\"q\\\"\\\\\\n\\u0001 \xC3\xA9 \\ufffd\","
            "\"n\":18446744073709551615}");
  json.Set("k", 1);  // replaces in place
  EXPECT_EQ(json.Dump(), R"({"k":1,"n":18446744073709551615})");
}

TEST(ValueJsonTest, RoundTripsEveryKind) {
  replica::Value blob;
  blob.v = Bytes{0xde, 0xad, 0xbe, 0xef, 0x01};
  for (const replica::Value& value :
       {replica::Value(), replica::Value(-7), replica::Value("text"), replica::Value(true),
        replica::Value(replica::Money{-1250, "EUR"}), blob}) {
    const Json json = ValueToJson(value);
    Result<Json> reparsed = ParseJson(json.Dump());
    ASSERT_TRUE(reparsed.ok());
    Result<replica::Value> back = ValueFromJson(*reparsed, "f");
    ASSERT_TRUE(back.ok()) << json.Dump() << ": " << back.status().ToString();
    EXPECT_EQ(*back, value) << json.Dump();
  }
  replica::RecordId id;
  id.n = 9;
  EXPECT_EQ(ValueToJson(replica::Value(id)).Dump(), R"({"ref":")" + id.Text() + R"("})");
}

TEST(ValueJsonTest, Base64) {
  EXPECT_EQ(Base64Encode(ToBytes("")), "");
  EXPECT_EQ(Base64Encode(ToBytes("f")), "Zg==");
  EXPECT_EQ(Base64Encode(ToBytes("fo")), "Zm8=");
  EXPECT_EQ(Base64Encode(ToBytes("foo")), "Zm9v");
  EXPECT_EQ(Base64Encode(ToBytes("foob")), "Zm9vYg==");
  for (const char* text : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    std::optional<Bytes> back = Base64Decode(Base64Encode(ToBytes(text)));
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_EQ(ToString(*back), text);
  }
  EXPECT_FALSE(Base64Decode("Zg=").has_value());
  EXPECT_FALSE(Base64Decode("Zh==").has_value());  // non-zero padding bits
  EXPECT_FALSE(Base64Decode("Z===").has_value());
  EXPECT_FALSE(Base64Decode("Zg==Zg==").has_value());
  EXPECT_FALSE(Base64Decode("Zm9-").has_value());
}

}  // namespace
}  // namespace grove::api
