#include "where/json_value.h"

#include <gtest/gtest.h>

namespace eddy::where {
namespace {

std::string Jsonb(std::string_view text) {
  auto value = JsonValue::Parse(text);
  return value ? value->ToString() : "<invalid>";
}

bool Contains(std::string_view a, std::string_view b) {
  auto x = JsonValue::Parse(a);
  auto y = JsonValue::Parse(b);
  EXPECT_TRUE(x && y);
  return x && y && x->Contains(*y);
}

TEST(JsonValueTest, PrintsLikeJsonb) {
  EXPECT_EQ(Jsonb(R"({"bb":1,"a":[1,2.50,1e2],"a":"x"})"), R"({"a": "x", "bb": 1})");
  EXPECT_EQ(Jsonb(R"([1, 2.50, 1e2, -0, 1E-2])"), R"([1, 2.50, 100, 0, 0.01])");
  EXPECT_EQ(Jsonb(R"("tab\there \u00e9 \ud83d\ude00")"),
            "\"tab\\there \xc3\xa9 \xf0\x9f\x98\x80\"");
  EXPECT_EQ(Jsonb("  null "), "null");
  EXPECT_EQ(Jsonb("{\"a\":1,}"), "<invalid>");
  EXPECT_EQ(Jsonb("01"), "<invalid>");
  EXPECT_EQ(Jsonb("\"\\u0000\""), "<invalid>");
  EXPECT_EQ(Jsonb(std::string(5000, '[')), "<invalid>");
}

TEST(JsonValueTest, KeepsSourceTextForJson) {
  auto value = JsonValue::Parse(R"({"b": 1.0,  "a": [1,2]})", true);
  ASSERT_TRUE(value);
  EXPECT_EQ(value->ToString(), R"({"b": 1.0,  "a": [1,2]})");
  EXPECT_EQ(value->Member("a")->ToString(), "[1,2]");
}

TEST(JsonValueTest, ContainmentFollowsJsonb) {
  EXPECT_TRUE(Contains(R"({"a": 1, "b": {"c": [1, 2]}})", R"({"b": {"c": [2]}})"));
  EXPECT_TRUE(Contains(R"({"a": 1})", R"({})"));
  EXPECT_FALSE(Contains(R"({"a": 1})", R"({"a": "1"})"));
  EXPECT_TRUE(Contains(R"([1, [2, 3]])", R"([[3]])"));
  EXPECT_TRUE(Contains(R"([1, 2])", R"(1)"));
  EXPECT_FALSE(Contains(R"({"a": [1, 2]})", R"({"a": 1})"));
  EXPECT_TRUE(Contains(R"("x")", R"("x")"));
  EXPECT_FALSE(Contains(R"([{"a": 1}])", R"({"a": 1})"));
}

TEST(JsonValueTest, KeysAndText) {
  auto value = JsonValue::Parse(R"({"s": "x", "n": null, "arr": ["k"]})");
  ASSERT_TRUE(value);
  EXPECT_TRUE(value->HasKey("s"));
  EXPECT_FALSE(value->HasKey("x"));
  EXPECT_TRUE(value->Member("arr")->HasKey("k"));
  EXPECT_EQ(value->Member("s")->AsText(), "x");
  EXPECT_EQ(value->Member("n")->AsText(), std::nullopt);
  EXPECT_EQ(value->Member("arr")->AsText(), R"(["k"])");
  EXPECT_EQ(CanonicalNumeric("1.5e-3"), "0.0015");
  EXPECT_EQ(CanonicalNumeric("12e1"), "120");
  EXPECT_EQ(CanonicalNumeric("1.23e1"), "12.3");
  EXPECT_EQ(CanonicalNumeric("x"), std::nullopt);
}

}  // namespace
}  // namespace eddy::where
