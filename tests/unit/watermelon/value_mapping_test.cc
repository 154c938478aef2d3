#include "adapters/watermelon/value_mapping.h"

#include <gtest/gtest.h>

#include "adapters/watermelon/gzip.h"

namespace eddy::watermelon {
namespace {

std::string Render(ValueKind kind, std::optional<std::string_view> text) {
  std::string out;
  AppendJsonValue(kind, text, &out);
  return out;
}

TEST(ValueMappingTest, KindsFollowTheCatalog) {
  EXPECT_EQ(KindOfType("int4", 'N', 'b'), ValueKind::kInteger);
  EXPECT_EQ(KindOfType("int8", 'N', 'b'), ValueKind::kBigInteger);
  EXPECT_EQ(KindOfType("timestamptz", 'D', 'b'), ValueKind::kTimestampTz);
  EXPECT_EQ(KindOfType("jsonb", 'U', 'b'), ValueKind::kJson);
  EXPECT_EQ(KindOfType("_text", 'A', 'b'), ValueKind::kArray);
  EXPECT_EQ(KindOfType("mood", 'E', 'e'), ValueKind::kString);
  EXPECT_EQ(KindOfType("point3", 'C', 'c'), ValueKind::kComposite);
}

TEST(ValueMappingTest, PullRendersWatermelonTypes) {
  EXPECT_EQ(Render(ValueKind::kInteger, "42"), "42");
  EXPECT_EQ(Render(ValueKind::kBool, "t"), "true");
  EXPECT_EQ(Render(ValueKind::kBool, "f"), "false");
  EXPECT_EQ(Render(ValueKind::kString, std::nullopt), "null");
  EXPECT_EQ(Render(ValueKind::kJson, R"({"a": 1})"), R"("{\"a\": 1}")");
  EXPECT_EQ(Render(ValueKind::kTimestampTz, "1704164645678"), "1704164645678");
  EXPECT_EQ(Render(ValueKind::kFloat, "NaN"), "null");
  EXPECT_EQ(Render(ValueKind::kFloat, "1.5e+30"), "1.5e+30");
  // Past 2^53 a JSON number would silently lose digits: a string instead.
  EXPECT_EQ(Render(ValueKind::kBigInteger, "9007199254740991"), "9007199254740991");
  EXPECT_EQ(Render(ValueKind::kBigInteger, "9007199254740993"), "\"9007199254740993\"");
  EXPECT_EQ(Render(ValueKind::kNumeric, "-12.50"), "-12.50");
  EXPECT_EQ(Render(ValueKind::kNumeric, "NaN"), "null");
}

TEST(ValueMappingTest, SelectExpressionsTurnTimesIntoEpochMilliseconds) {
  EXPECT_EQ(SelectExpression(ValueKind::kTimestampTz, "t.x"),
            "CASE WHEN isfinite(t.x) THEN floor(extract(epoch from t.x) * 1000)::int8 END");
  EXPECT_EQ(SelectExpression(ValueKind::kArray, "t.x"), "to_json(t.x)::text");
  EXPECT_EQ(SelectExpression(ValueKind::kString, "t.x"), "t.x::text");
}

TEST(ValueMappingTest, EpochMillisecondsBecomePostgresText) {
  EXPECT_EQ(*EpochMsToText("1704164645678", true, false), "2024-01-02 03:04:05.678000+00");
  EXPECT_EQ(*EpochMsToText("1704164645678", false, false), "2024-01-02 03:04:05.678000");
  EXPECT_EQ(*EpochMsToText("1704164645678", false, true), "2024-01-02");
  EXPECT_EQ(*EpochMsToText("-1", true, false), "1969-12-31 23:59:59.999000+00");
  EXPECT_EQ(*EpochMsToText("0.5", true, false), "1970-01-01 00:00:00.000500+00");
  EXPECT_FALSE(EpochMsToText("1e20", true, false).ok());
  EXPECT_FALSE(EpochMsToText("soon", true, false).ok());
}

TEST(ValueMappingTest, PushParametersSanitizeOrExplain) {
  using K = JsonValue::Kind;
  EXPECT_EQ(*PushParameter(ValueKind::kInteger, {K::kNumber, "5"}), "5");
  EXPECT_EQ(*PushParameter(ValueKind::kInteger, {K::kString, "5"}), "5");
  EXPECT_EQ(*PushParameter(ValueKind::kBool, {K::kNumber, "1"}), "true");
  EXPECT_EQ(*PushParameter(ValueKind::kTimestampTz, {K::kNumber, "0"}),
            "1970-01-01 00:00:00.000000+00");
  EXPECT_EQ(*PushParameter(ValueKind::kTimestampTz, {K::kString, "2024-01-02T03:04:05+02:00"}),
            "2024-01-02T03:04:05+02:00");
  EXPECT_EQ(*PushParameter(ValueKind::kJson, {K::kString, "{\"a\":1}"}), "{\"a\":1}");
  EXPECT_EQ(*PushParameter(ValueKind::kJson, {K::kRaw, "{\"a\":1}"}), "{\"a\":1}");
  EXPECT_EQ(PushParameter(ValueKind::kString, {K::kNull, ""})->has_value(), false);
  auto bad = PushParameter(ValueKind::kInteger, {K::kString, "many"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "expected a number for a integer column, got a string");
  EXPECT_FALSE(PushParameter(ValueKind::kBool, {K::kString, "true"}).ok());
}

TEST(ValueMappingTest, ParameterExpressionsCastBack) {
  EXPECT_EQ(ParameterExpression(ValueKind::kString, "text", 2), "$2::text");
  EXPECT_NE(ParameterExpression(ValueKind::kArray, "text[]", 3).find("jsonb_array_elements_text"),
            std::string::npos);
}

TEST(ValueMappingTest, ArrayLiteralsEscapeQuotesAndBackslashes) {
  EXPECT_EQ(TextArrayLiteral(std::vector<std::string>{"a", "b\"c", "d\\e"}),
            R"({"a","b\"c","d\\e"})");
  EXPECT_EQ(TextArrayLiteral(std::vector<std::optional<std::string>>{"x", std::nullopt}),
            R"({"x",NULL})");
  EXPECT_EQ(TextArrayLiteral(std::vector<std::string>{}), "{}");
}

TEST(ValueMappingTest, GzipRoundTrips) {
  std::string text(100000, 'x');
  auto zipped = Gzip(text);
  ASSERT_TRUE(zipped.ok());
  EXPECT_LT(zipped->size(), 1000u);
  EXPECT_EQ(*Gunzip(*zipped), text);
  EXPECT_FALSE(Gunzip("not gzip").ok());
}

}  // namespace
}  // namespace eddy::watermelon
