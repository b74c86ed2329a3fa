// The header JSON parser: RFC 8259 grammar, escapes and UTF-8, limits, and
// accessors whose errors name the path of the value.
#include <gtest/gtest.h>

#include <clocale>
#include <string>

#include "common/error.h"
#include "format/json.h"

namespace qasr {
namespace {

std::string error_of(const std::string& text) {
  try {
    Json::parse(text);
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

TEST(Json, ParsesValues) {
  const Json j = Json::parse(R"( {"a": [1, -2.5e3, true, false, null], "b": {"c": "x"}, "": 0} )");
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), 3u);
  EXPECT_EQ(j["a"].size(), 5u);
  EXPECT_EQ(j["a"][0].as_int(), 1);
  EXPECT_EQ(j["a"][1].as_double(), -2500.0);
  EXPECT_TRUE(j["a"][2].as_bool());
  EXPECT_FALSE(j["a"][3].as_bool());
  EXPECT_TRUE(j["a"][4].is_null());
  EXPECT_EQ(j["b"]["c"].as_string(), "x");
  EXPECT_EQ(j[""].as_int(), 0);
  EXPECT_EQ(j["b"]["c"].path(), "$.b.c");
  EXPECT_EQ(j["a"][1].path(), "$.a[1]");
}

TEST(Json, IntegersAreExact) {
  const Json j = Json::parse("[9223372036854775807, -9223372036854775808, 9007199254740993, 1e3, 2.0, 1.5, 1e300]");
  EXPECT_EQ(j[0].as_int(), INT64_MAX);
  EXPECT_EQ(j[1].as_int(), INT64_MIN);
  EXPECT_EQ(j[2].as_int(), 9007199254740993);  // not representable as a double
  EXPECT_TRUE(j[2].is_int_literal());
  EXPECT_EQ(j[3].as_int(), 1000);
  EXPECT_FALSE(j[3].is_int_literal());
  EXPECT_EQ(j[4].as_int(), 2);
  EXPECT_THROW(j[5].as_int(), InvalidInput);
  EXPECT_THROW(j[6].as_int(), InvalidInput);
  // beyond int64 the literal is kept as a double only
  const Json big = Json::parse("18446744073709551616");
  EXPECT_FALSE(big.is_int_literal());
  EXPECT_EQ(big.as_double(), 18446744073709551616.0);
  EXPECT_THROW(big.as_int(), InvalidInput);
}

TEST(Json, StringEscapesAndUtf8) {
  const Json j = Json::parse(R"(["\"\\\/\b\f\n\r\t", "\u0041\u00e9\u65e5", "\ud83d\ude00", "\u0000x"])");
  EXPECT_EQ(j[0].as_string(), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(j[1].as_string(), "A\xc3\xa9\xe6\x97\xa5");
  EXPECT_EQ(j[2].as_string(), "\xf0\x9f\x98\x80");
  EXPECT_EQ(j[3].as_string(), std::string("\0x", 2));
  EXPECT_EQ(Json::parse("\"\xf0\x9f\x98\x80 \xe6\x97\xa5\"").as_string(), "\xf0\x9f\x98\x80 \xe6\x97\xa5");
}

TEST(Json, RejectsMalformedText) {
  const char* bad[] = {
      "", "   ", "01", "1.", ".5", "+1", "1e", "1e+", "-", "--1", "NaN", "Infinity", "-Infinity", "1e999", "tru",
      "nul", "[1,]", "[,1]", "{\"a\":1,}", "{'a':1}", "{\"a\" 1}", "{\"a\":}", "{1:2}", "[1] [2]", "\"abc",
      "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\ud800x\"",
      "\"\x01\"", "\"\t\"", "\"\x80\"", "\"\xc0\xaf\"", "\"\xc1\xbf\"", "\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"",
      "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"", "\"\xe6\x97\"", "\"\xff\"", "{\"a\":1,\"a\":2}", "[1 2]",
      "\xef\xbb\xbf{}",  // byte-order mark
  };
  for (const char* text : bad) {
    const std::string msg = error_of(text);
    EXPECT_NE(msg.find("JSON: "), std::string::npos) << "accepted: " << text;
  }
  EXPECT_NE(error_of("{\"a\":1,\"a\":2}").find("duplicate key .a"), std::string::npos);
  EXPECT_NE(error_of("[1, x]").find("at byte 4"), std::string::npos);
}

TEST(Json, Limits) {
  std::string deep(64, '[');
  deep += std::string(64, ']');
  EXPECT_NO_THROW(Json::parse(deep));
  std::string deeper(65, '[');
  deeper += std::string(65, ']');
  EXPECT_NE(error_of(deeper).find("nesting deeper than 64"), std::string::npos);
  // A deep document fails fast instead of exhausting the stack.
  EXPECT_NE(error_of(std::string(1000000, '[')).find("nesting"), std::string::npos);
  std::string many = "[";
  for (int i = 0; i < (1 << 20); ++i) many += "0,";
  many += "0]";
  EXPECT_NE(error_of(many).find("more than 1048576 values"), std::string::npos);
  EXPECT_NE(error_of(std::string(101, '1')).find("longer than 100"), std::string::npos);
}

TEST(Json, AccessorErrorsNameThePath) {
  const Json j = Json::parse(R"({"model": {"blocks": [{"heads": "four"}], "d": 1.5}, "v": [1, "x"]})");
  auto message = [](auto fn) {
    try {
      fn();
    } catch (const InvalidInput& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message([&] { j["model"]["blocks"][0]["heads"].as_int(); }),
            "$.model.blocks[0].heads must be an integer, got a string");
  EXPECT_EQ(message([&] { j["model"]["missing"]; }), "$.model.missing is missing");
  EXPECT_NE(message([&] { j["model"]["blocks"][3]; }).find("$.model.blocks has 1 elements"), std::string::npos);
  EXPECT_NE(message([&] { j["model"]["d"].as_int(); }).find("$.model.d must be an integer"), std::string::npos);
  EXPECT_NE(message([&] { j["v"].int_array(); }).find("$.v[1] must be an integer"), std::string::npos);
  EXPECT_NE(message([&] { j["v"]["k"]; }).find("$.v must be an object"), std::string::npos);
  EXPECT_NE(message([&] { j.as_array(); }).find("$ must be an array"), std::string::npos);
  EXPECT_EQ(j["model"].int_or("absent", 7), 7);
  EXPECT_EQ(j["model"].double_or("d", 0.0), 1.5);
  EXPECT_EQ(j["model"].string_or("absent", "def"), "def");
  EXPECT_TRUE(j["model"].bool_or("absent", true));
  EXPECT_THROW(j["model"].int_or("d", 0), InvalidInput);
  EXPECT_EQ(j.get("nope"), nullptr);
  EXPECT_TRUE(j.has("v"));
  EXPECT_EQ(Json::parse("[1.5, -2]").float_array(), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_THROW(Json::parse("[1e300]").float_array(), InvalidInput);
  EXPECT_EQ(Json::parse("[\"a\", \"b\"]").string_array(), (std::vector<std::string>{"a", "b"}));
  const Json odd = Json::parse(R"({"a b": {"c": 1}})");
  EXPECT_EQ(odd["a b"]["c"].path(), "$[\"a b\"].c");
}

TEST(Json, NumbersIgnoreTheLocale) {
  const char* names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"};
  const char* set = nullptr;
  for (const char* n : names) {
    if ((set = std::setlocale(LC_ALL, n))) break;
  }
  if (!set) GTEST_SKIP() << "no locale with a decimal comma installed";
  const double v = Json::parse("0.5").as_double();
  std::setlocale(LC_ALL, "C");
  EXPECT_EQ(v, 0.5);
}

}  // namespace
}  // namespace qasr
